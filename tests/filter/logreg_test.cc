// tests/filter/logreg_test.cc: the hashed logistic regression of the tuning harness
// (filter/crossval.h, HashedLogReg): it learns a separable toy set, its probabilities stay in
// [0, 1] whatever the input, training is deterministic per seed, class weights balance an
// unequal set, and the hash-size limits hold. Tokens are real token hashes (token_hash), as
// the model indexes weights by the hash's top bits.
#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "filter/classifier.h"
#include "filter/crossval.h"

namespace tsubame::filter {
namespace {

std::vector<uint64_t> tokens_of(const std::vector<std::string>& words) {
  std::vector<uint64_t> out;
  for (const auto& w : words) out.push_back(token_hash("", w));
  return out;
}

// Spam carries "prize" or "winner" words, ham "meeting" or "schedule" words; both share
// filler words, so only the class words separate them.
struct ToySet {
  std::vector<std::vector<uint64_t>> messages;
  std::vector<bool> spam;
  std::vector<const std::vector<uint64_t>*> pointers() const {
    std::vector<const std::vector<uint64_t>*> p;
    for (const auto& m : messages) p.push_back(&m);
    return p;
  }
};

ToySet toy_set(int n_spam, int n_ham) {
  ToySet s;
  for (int i = 0; i < n_spam; ++i) {
    s.messages.push_back(tokens_of({i % 2 ? "prize" : "winner", "cash", "the", "and", "w" + std::to_string(i)}));
    s.spam.push_back(true);
  }
  for (int i = 0; i < n_ham; ++i) {
    s.messages.push_back(tokens_of({i % 2 ? "meeting" : "schedule", "notes", "the", "and", "w" + std::to_string(i)}));
    s.spam.push_back(false);
  }
  return s;
}

TEST(HashedLogReg, LearnsASeparableSet) {
  ToySet s = toy_set(20, 20);
  LogRegParams params;
  params.epochs = 20;  // 40 messages: a few more passes than the harness's default
  HashedLogReg lr(params);
  lr.train(s.pointers(), s.spam);
  EXPECT_EQ(lr.trained_spam(), 20u);
  EXPECT_EQ(lr.trained_ham(), 20u);
  for (size_t k = 0; k < s.messages.size(); ++k) {
    double p = lr.probability(s.messages[k]);
    EXPECT_GE(p, 0.0);
    EXPECT_LE(p, 1.0);
    if (s.spam[k]) EXPECT_GT(p, 0.9) << k;
    else EXPECT_LT(p, 0.1) << k;
  }
  // Unseen messages with the class words and new filler generalise.
  EXPECT_GT(lr.probability(tokens_of({"prize", "cash", "unseen1"})), 0.5);
  EXPECT_LT(lr.probability(tokens_of({"schedule", "notes", "unseen2"})), 0.5);
  // Log-odds and probability agree.
  auto m = tokens_of({"winner", "cash"});
  EXPECT_GT(lr.log_odds(m), 0.0);
}

TEST(HashedLogReg, ProbabilitiesStayInUnitIntervalForAnyInput) {
  HashedLogReg untrained(LogRegParams{});
  EXPECT_DOUBLE_EQ(untrained.probability(tokens_of({"anything"})), 0.5);  // no weights: no opinion
  EXPECT_DOUBLE_EQ(untrained.probability({}), 0.5);

  // Strong training (large rate, many epochs, no penalty, no length scaling) pushes the
  // weights far; the log-odds are clamped, so probabilities stay finite and in [0, 1].
  LogRegParams hard;
  hard.learning_rate = 50;
  hard.epochs = 50;
  hard.l2 = 0;
  hard.length_norm = false;
  ToySet s = toy_set(10, 10);
  HashedLogReg lr(hard);
  lr.train(s.pointers(), s.spam);
  std::vector<uint64_t> many;
  for (int i = 0; i < 5000; ++i) many.push_back(token_hash("", i % 2 ? "prize" : "winner"));
  for (const auto& m : {many, tokens_of({"meeting", "schedule", "notes"}), std::vector<uint64_t>{}}) {
    double p = lr.probability(m);
    EXPECT_GE(p, 0.0);
    EXPECT_LE(p, 1.0);
    EXPECT_LE(std::abs(lr.log_odds(m)), 40.0);
  }
  EXPECT_GT(lr.probability(many), 0.99);
}

TEST(HashedLogReg, DeterministicForASeedAndRetrainsFromZero) {
  ToySet s = toy_set(15, 25);
  LogRegParams p;
  HashedLogReg a(p), b(p);
  a.train(s.pointers(), s.spam);
  b.train(s.pointers(), s.spam);
  auto m = tokens_of({"prize", "notes", "the"});
  EXPECT_DOUBLE_EQ(a.probability(m), b.probability(m));
  // Training again starts over rather than adding to the old weights.
  double once = a.probability(m);
  a.train(s.pointers(), s.spam);
  EXPECT_DOUBLE_EQ(a.probability(m), once);
  // Empty training leaves no opinion.
  a.train({}, {});
  EXPECT_DOUBLE_EQ(a.probability(m), 0.5);
  EXPECT_EQ(a.trained_spam() + a.trained_ham(), 0u);
}

TEST(HashedLogReg, ClassWeightsBalanceAnUnequalSet) {
  // 4 spam against 60 ham: a message with only shared filler words leans ham without class
  // weights (the bias learns the ham majority) and sits nearer the middle with them.
  ToySet s = toy_set(4, 60);
  LogRegParams bal, raw;
  raw.balance = false;
  HashedLogReg with(bal), without(raw);
  with.train(s.pointers(), s.spam);
  without.train(s.pointers(), s.spam);
  auto filler = tokens_of({"the", "and"});
  EXPECT_LT(without.probability(filler), 0.5);
  EXPECT_GT(with.probability(filler), without.probability(filler));
  // Both still separate the classes.
  EXPECT_GT(with.probability(s.messages[0]), 0.5);
  EXPECT_GT(without.probability(s.messages[0]), with.probability(s.messages[10]));
  EXPECT_LT(with.probability(s.messages[10]), 0.5);
}

TEST(HashedLogReg, HashBitsAreClampedToTheLimits) {
  static_assert(kMinLogRegHashBits < kMaxLogRegHashBits);
  static_assert(kMaxLogRegHashBits <= 24);  // 2^24 weights plus sums: 128 MiB of floats
  ToySet s = toy_set(6, 6);
  for (unsigned bits : {0u, 1u, kMinLogRegHashBits, kMaxLogRegHashBits + 40}) {
    LogRegParams p;
    p.hash_bits = bits;  // out of range: clamped, never a 2^0 or 2^64 table
    HashedLogReg lr(p);
    lr.train(s.pointers(), s.spam);
    EXPECT_GT(lr.probability(s.messages[0]), 0.5) << bits;
    EXPECT_LT(lr.probability(s.messages[6]), 0.5) << bits;
  }
}

}  // namespace
}  // namespace tsubame::filter
