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
  uint64_t bytes = 0;
};

// Parses and analyses one message with a filter opened without a store (no classifier).
CorpusMessage prepare_message(const Filter& rules_only, std::string name, std::string_view raw,
                              bool spam, const MimeLimits& limits = {});

struct Fold {
  std::string name;
  std::vector<size_t> train, test;  // indices into the corpus
};
// The four folds described above, over a corpus whose messages of each class are in
// file-name order.
std::vector<Fold> standard_folds(const std::vector<CorpusMessage>& corpus);

// Token counts in memory, the same sums store/tokens.h keeps.
class MemoryTokenCounts {
 public:
  void learn(const std::vector<uint64_t>& tokens, bool spam);
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

struct OutOfFoldResult {
  size_t message = 0;  // index into the corpus
  std::string fold;
  Verdict verdict;
  double probability = 0.5;  // classifier's probability (0.5 if it abstained)
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
};

CrossValidation cross_validate(const std::vector<CorpusMessage>& corpus, const std::vector<Fold>& folds,
                               const ClassifierParams& params, const Policy& policy,
                               const TrainingRegime& regime = {});

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
