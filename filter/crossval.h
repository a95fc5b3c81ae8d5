// filter/crossval.h: cross-validation of the whole filter on a labelled corpus, in memory.
//
// The tuning harness behind `tsubame filter eval --folds` (filter/README.md, "How the
// defaults were chosen"). Each message is parsed and scanned by the rules once
// (prepare_message); then, per fold, an in-memory classifier is trained on the fold's
// training messages with exactly the tokens the store-backed classifier would see, each
// test message gets its BAYES contribution from those counts, and decide() applies the
// policy. Nothing is written to a store, so a fold never sees its test messages.
// How the training messages are learned is a TrainingRegime: every message once (what
// `filter learn` does) or train-until-no-errors (TONE), measured and not taken
// (filter/README.md).
//
// Folds (standard_folds): within each class, messages in file-name order (the corpus
// numbers files in arrival order) are split by position: even -> odd, odd -> even, older
// half -> newer half, newer half -> older half. The time folds stand in for a held-out set
// of newer mail.
//
// fit_weights() fits a logistic regression (L2-regularised, Newton iterations) of the
// out-of-fold label on the rule hits and the classifier's output, so rule scores can be set
// from data rather than by hand; the result is advice printed by the tool, never applied
// behind the operator's back.
//
// A hashed logistic regression over the same tokens (HashedLogReg, ModelOptions) can stand
// in for, or be averaged with, the counts: an experiment of the harness, not the product.
//
// Pure computation over values; no failure modes beyond the filter's own (a filter fault
// on a message is counted, and the message counts as delivered).
#pragma once

#include <cstdint>
#include <string>
#include <unordered_map>
#include <vector>

#include "filter/classifier.h"
#include "filter/filter.h"
#include "filter/policy.h"

namespace tsubame::filter {

struct CorpusMessage {
  std::string name;               // file path, for reports
  bool spam = false;
  Analysis analysis;              // rules and checks, no BAYES yet
  std::vector<uint64_t> tokens;   // classifier tokens (tokenize_message)
  std::string sender_key;         // its sender for the sender memory (sender_key()), "" for none
  std::string sender_domain_key;  // and its domain key (sender_domain_key()), "" for none
  SenderTokens sender_tokens;     // sender_tokens() under the harness's params: what is learned
  uint64_t bytes = 0;
  // Who sent it, for sender_folds: the list's id when it came through a mailing list
  // ("list:ilug.linux.ie"), else the From domain's registered domain ("from:netscape.com");
  // "" when neither is known.
  std::string sender;
};

// Parses and analyses one message with a filter opened without a store (no classifier);
// params decide which sender-memory tokens it has (sender_tokens()).
CorpusMessage prepare_message(const Filter& rules_only, std::string name, std::string_view raw,
                              bool spam, const ClassifierParams& params = {}, const MimeLimits& limits = {});

struct Fold {
  std::string name;
  std::vector<size_t> train, test;  // indices into the corpus
};
// The four folds described above, over a corpus whose messages of each class are in
// file-name order.
std::vector<Fold> standard_folds(const std::vector<CorpusMessage>& corpus);

// Two folds shaped like a held-out set of newer mail for the same users: spam split by time
// (older half -> newer half, and back), ham interleaved (even -> odd, and back), since spam
// drifts while a deployment's ham keeps coming from the same lists, people and newsletters.
// Split B has that shape (newer spam; newer ham of the same lists, and hard-ham siblings of
// A's); `tsubame filter eval --folds --fold-set drift` uses these instead of the four.
std::vector<Fold> drift_folds(const std::vector<CorpusMessage>& corpus);

// Two folds in which no spam campaign is on both sides: spam messages whose token sets
// (CorpusMessage::tokens without the rule:ID tokens, so that the grouping does not change
// with the rule set) have a Jaccard similarity of at least `similarity` are linked, the
// connected groups ("campaigns") are dealt, largest first, to the side with fewer spam so far
// (group two-fold), and ham is interleaved (even -> odd, and back) as in drift_folds. The time
// folds still let a campaign that runs across the split's date teach the test half; a
// held-out set of newer mail (split B) is mostly campaigns the training set never saw, and
// this is the harsher stand-in for it. `tsubame filter eval --folds --fold-set campaign`.
inline constexpr double kCampaignSimilarity = 0.3;
struct CampaignFolds {
  std::vector<Fold> folds;
  size_t campaigns = 0;          // groups of spam (singletons included)
  size_t largest = 0;            // spam in the largest group
  size_t singletons = 0;         // spam like no other spam
};
CampaignFolds campaign_folds(const std::vector<CorpusMessage>& corpus, double similarity = kCampaignSimilarity);
// Two folds in which no ham sender is on both sides: ham is grouped by CorpusMessage::sender
// (a list, or the From domain's organisation; ham with no sender stands alone) and the groups
// are dealt, largest first, to the side with fewer ham so far; spam is split by time as in
// drift_folds (older half -> newer half, and back). Every tested ham then comes from a list,
// newsletter or company the counts never saw: the first letter of a new supplier, a
// newsletter subscribed to yesterday. `tsubame filter eval --folds --fold-set sender`.
struct SenderFolds {
  std::vector<Fold> folds;
  size_t senders = 0;   // ham groups (ham with no sender counted one each)
  size_t largest = 0;   // ham in the largest group
};
SenderFolds sender_folds(const std::vector<CorpusMessage>& corpus);

// |a ∩ b| / |a ∪ b| of two sorted, duplicate-free token lists (1 when both are empty).
double jaccard(const std::vector<uint64_t>& a, const std::vector<uint64_t>& b);

// Token counts in memory, the same sums store/tokens.h keeps.
class MemoryTokenCounts {
 public:
  void learn(const std::vector<uint64_t>& tokens, bool spam);
  // Counts one more token for a message already counted by learn() (the sender memory's).
  void learn_token(uint64_t token, bool spam);
  TokenStat count(uint64_t token) const;
  TokenStat totals() const { return totals_; }
  void lookup(const std::vector<uint64_t>& tokens, std::vector<TokenStat>& out) const;

 private:
  std::unordered_map<uint64_t, TokenStat> counts_;
  TokenStat totals_;
};

// How a fold's training messages become counts.
//   kAll:  every training message is learned once ("train everything", what `filter learn`
//          does today).
//   kTone: train until no errors: passes over the training messages, spam and ham
//          interleaved in arrival order (train_order), learning a message only when the
//          counts learned so far get it wrong or not confidently right: a spam with
//          probability < 1 - margin, a ham with probability > margin (an abstaining
//          classifier, p = 0.5, learns everything, so the first min_learned of each class
//          always count). Stops after a pass that learned nothing, or after max_passes.
enum class Regime { kAll, kTone };
struct TrainingRegime {
  Regime regime = Regime::kAll;
  double margin = 0.1;   // kTone: confident means p >= 1 - margin (spam), p <= margin (ham)
  int max_passes = 5;    // kTone
};

// The training messages of a fold with the two classes interleaved by relative position
// within each class (file-name order), as mail arrives: the k-th of n spam sits at k/n.
std::vector<size_t> train_order(const std::vector<CorpusMessage>& corpus, const std::vector<size_t>& train);

struct TrainingStats {
  size_t learned_spam = 0, learned_ham = 0;
  int passes = 0;
};
// Trains counts on the given messages (in that order) under the regime.
TrainingStats train(const std::vector<CorpusMessage>& corpus, const std::vector<size_t>& order,
                    const TrainingRegime& regime, const ClassifierParams& params, MemoryTokenCounts& counts);

// A discriminative alternative to the token counts, in the harness only (filter/README.md,
// "Logistic regression"): L2-regularised logistic regression over the same token hashes
// (tokenize_message), each hash folded into one of 2^hash_bits weights (the top bits of the
// already mixed 64-bit hash), binary presence scaled by 1/sqrt(tokens in the message) when
// length_norm is set, trained by AdaGrad for `epochs` shuffled passes with class weights
// N / (2 N_class) so that 250 spam weigh as much as 1313 ham. The L2 penalty is applied to
// the weights of a message's tokens at each of its steps (lazy, per example); the bias is
// not penalised. Deterministic for a given seed and training order.
struct LogRegParams {
  unsigned hash_bits = 20;      // 2^hash_bits weights (kMinLogRegHashBits..kMaxLogRegHashBits)
  double l2 = 1e-4;             // per-step penalty on the active weights
  int epochs = 5;
  double learning_rate = 0.2;   // AdaGrad base rate
  bool length_norm = true;      // x = 1/sqrt(n) instead of 1 per present token
  bool balance = true;          // class weights N / (2 N_class)
  uint64_t seed = 1;            // shuffle of each epoch
  int bags = 1;                 // cross_validate: mean probability of this many models, seeds
                                // seed, seed + 1, ... (the shuffle order moves results)
};
inline constexpr unsigned kMinLogRegHashBits = 10;
inline constexpr unsigned kMaxLogRegHashBits = 24;  // 2^24 float weights and AdaGrad sums: 128 MiB

class HashedLogReg {
 public:
  explicit HashedLogReg(const LogRegParams& params);
  // Trains from zero on the given messages (token lists, labels; sizes equal).
  void train(const std::vector<const std::vector<uint64_t>*>& tokens, const std::vector<bool>& spam);
  // The linear score (log-odds of spam) and the probability 1 / (1 + e^-z), in [0, 1].
  double log_odds(const std::vector<uint64_t>& tokens) const;
  double probability(const std::vector<uint64_t>& tokens) const;
  size_t trained_spam() const { return trained_spam_; }
  size_t trained_ham() const { return trained_ham_; }

 private:
  size_t index(uint64_t token) const { return static_cast<size_t>(token >> (64 - params_.hash_bits)); }
  LogRegParams params_;
  std::vector<float> w_, g2_;  // weights and AdaGrad's summed squared gradients
  double bias_ = 0, bias_g2_ = 0;
  size_t trained_spam_ = 0, trained_ham_ = 0;
};

// Which model gives the BAYES contribution in cross_validate().
//   kRobinson: the token counts and combine() (production).
//   kLogReg:   HashedLogReg trained on the fold's training messages (every one; the
//              TrainingRegime applies to the counts only); abstains like the counts while
//              fewer than min_learned of either class were trained.
//   kEnsemble: the mean of the two probabilities (the log-odds model's alone while the
//              counts abstain, and the reverse).
// Either way the probability becomes points through classifier_points() with the same
// ClassifierParams, so rules, policy and junk threshold are unchanged.
enum class Model { kRobinson, kLogReg, kEnsemble };
struct ModelOptions {
  Model model = Model::kRobinson;
  LogRegParams logreg;
  size_t explain = 0;  // keep each result's this many strongest tokens (OutOfFoldResult::strongest)
};

struct OutOfFoldResult {
  size_t message = 0;  // index into the corpus
  std::string fold;
  Verdict verdict;
  double probability = 0.5;  // classifier's probability (0.5 if it abstained)
  // With ModelOptions::explain: the tokens farthest from 0.5 under the fold's counts, with
  // those counts, strongest first (what combine() weighed most); names from named_tokens().
  std::vector<std::pair<uint64_t, TokenStat>> strongest;
  TokenStat totals;          // the fold's learned messages, for reading the counts
};

struct FoldFigures {
  std::string name;
  size_t ham = 0, spam = 0;
  size_t false_positives = 0;  // ham with action junk or worse
  size_t false_negatives = 0;  // spam delivered
  TrainingStats training;      // what the fold's counts learned
};

struct CrossValidation {
  std::vector<FoldFigures> folds;
  std::vector<OutOfFoldResult> results;  // one per test message per fold
  DomainPolicy policy;                   // what decide() judged by (judge_at re-judges with it)
};

CrossValidation cross_validate(const std::vector<CorpusMessage>& corpus, const std::vector<Fold>& folds,
                               const ClassifierParams& params, const Policy& policy,
                               const TrainingRegime& regime = {}, const ModelOptions& model = {});

// The out-of-fold verdicts judged again at another junk threshold: flagged when the score
// the policy judges (threshold_score: without uncorroborated classifier points) reaches it,
// or, for a verdict a policy action decided (a blocked attachment), when that action was
// not deliver. Fold names and sizes as in cv.folds; training stats copied.
std::vector<FoldFigures> judge_at(const std::vector<CorpusMessage>& corpus, const CrossValidation& cv,
                                  double junk_threshold);
// The lowest junk threshold in [from, to] (steps of `step`) whose total false positives over
// all folds are at most max_false_positives; `to` when none is.
double threshold_for_false_positives(const std::vector<CorpusMessage>& corpus, const CrossValidation& cv,
                                     size_t max_false_positives, double from = 3.0, double to = 20.0,
                                     double step = 0.05);

struct FitOptions {
  double l2 = 1.0;           // ridge penalty on every weight except the classifier's
  size_t min_hits = 10;      // out-of-fold results with a hit below which a rule is "rare"
  int iterations = 25;
};
struct FittedWeight {
  std::string id;
  double weight = 0;         // log-odds per hit (for BAYES: per unit of classifier points)
  size_t spam_hits = 0, ham_hits = 0;
  bool rare = false;         // hit too rarely to fit: keep the hand-set score
};
struct Fit {
  double bias = 0;
  std::vector<FittedWeight> weights;
};
// Logistic regression of "is spam" on the out-of-fold rule hits (1/0 each) and the BAYES
// points of every result. Rule weights are constrained to be >= 0; weights[0] is BAYES.
Fit fit_weights(const std::vector<CorpusMessage>& corpus, const CrossValidation& cv,
                const FitOptions& options);

}  // namespace tsubame::filter
