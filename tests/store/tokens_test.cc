// tests/store/tokens_test.cc: classifier token counts (learn, unlearn, clamping, totals, scopes).
#include "store/tokens.h"

#include <gtest/gtest.h>

#include <thread>
#include <vector>

#include "store/store.h"
#include "tests/store/test_util.h"

namespace tsubame::store {
namespace {

using testing::TempStore;

std::vector<TokenCounts> counts(Store& s, uint32_t scope, std::vector<uint64_t> hashes) {
  std::vector<TokenCounts> out;
  Status st = token_counts(s, scope, hashes, out);
  EXPECT_TRUE(st.is_ok()) << st.to_string();
  return out;
}

TEST(Tokens, UnknownTokensAreZero) {
  TempStore t;
  auto c = counts(*t, 0, {1, 2, 3});
  ASSERT_EQ(c.size(), 3u);
  for (auto& x : c) {
    EXPECT_EQ(x.spam, 0u);
    EXPECT_EQ(x.ham, 0u);
  }
  auto tot = token_totals(*t, 0);
  ASSERT_TRUE(tot.is_ok());
  EXPECT_EQ(tot->spam, 0u);
  EXPECT_EQ(tot->ham, 0u);
}

TEST(Tokens, LearnCountsTokensAndTotals) {
  TempStore t;
  std::vector<uint64_t> m1 = {10, 20, 30};
  std::vector<uint64_t> m2 = {20, 40};
  ASSERT_TRUE(token_learn(*t, 0, m1, true, +1).is_ok());
  ASSERT_TRUE(token_learn(*t, 0, m2, true, +1).is_ok());
  ASSERT_TRUE(token_learn(*t, 0, m2, false, +1).is_ok());
  auto c = counts(*t, 0, {10, 20, 30, 40, 50});
  EXPECT_EQ(c[0].spam, 1u);
  EXPECT_EQ(c[0].ham, 0u);
  EXPECT_EQ(c[1].spam, 2u);
  EXPECT_EQ(c[1].ham, 1u);
  EXPECT_EQ(c[3].spam, 1u);
  EXPECT_EQ(c[3].ham, 1u);
  EXPECT_EQ(c[4].spam, 0u);
  auto tot = token_totals(*t, 0);
  ASSERT_TRUE(tot.is_ok());
  EXPECT_EQ(tot->spam, 2u);
  EXPECT_EQ(tot->ham, 1u);
}

TEST(Tokens, DuplicateHashesInOneMessageCountOnce) {
  TempStore t;
  std::vector<uint64_t> m = {7, 7, 7, 8};
  ASSERT_TRUE(token_learn(*t, 0, m, true, +1).is_ok());
  auto c = counts(*t, 0, {7, 8});
  EXPECT_EQ(c[0].spam, 1u);
  EXPECT_EQ(c[1].spam, 1u);
}

TEST(Tokens, UnlearnUndoesLearn) {
  TempStore t;
  std::vector<uint64_t> m = {1, 2};
  ASSERT_TRUE(token_learn(*t, 0, m, true, +1).is_ok());
  ASSERT_TRUE(token_learn(*t, 0, m, true, +1).is_ok());
  ASSERT_TRUE(token_learn(*t, 0, m, true, -1).is_ok());
  auto c = counts(*t, 0, {1, 2});
  EXPECT_EQ(c[0].spam, 1u);
  EXPECT_EQ(c[1].spam, 1u);
  EXPECT_EQ(token_totals(*t, 0)->spam, 1u);
  // Retrain as ham: unlearn spam, learn ham (what a "not spam" report does).
  ASSERT_TRUE(token_learn(*t, 0, m, true, -1).is_ok());
  ASSERT_TRUE(token_learn(*t, 0, m, false, +1).is_ok());
  c = counts(*t, 0, {1, 2});
  EXPECT_EQ(c[0].spam, 0u);
  EXPECT_EQ(c[0].ham, 1u);
  EXPECT_EQ(token_totals(*t, 0)->spam, 0u);
  EXPECT_EQ(token_totals(*t, 0)->ham, 1u);
}

TEST(Tokens, CountsNeverGoBelowZero) {
  TempStore t;
  std::vector<uint64_t> m = {5, 6};
  ASSERT_TRUE(token_learn(*t, 0, m, false, +1).is_ok());
  ASSERT_TRUE(token_learn(*t, 0, m, true, -1).is_ok());   // never learned as spam
  ASSERT_TRUE(token_learn(*t, 0, m, false, -3).is_ok());  // more than learned
  auto c = counts(*t, 0, {5, 6});
  EXPECT_EQ(c[0].spam, 0u);
  EXPECT_EQ(c[0].ham, 0u);
  EXPECT_EQ(c[1].ham, 0u);
  auto tot = token_totals(*t, 0);
  EXPECT_EQ(tot->spam, 0u);
  EXPECT_EQ(tot->ham, 0u);
  // Learning again after clamping starts from zero, not from a negative debt.
  ASSERT_TRUE(token_learn(*t, 0, m, false, +1).is_ok());
  EXPECT_EQ(counts(*t, 0, {5})[0].ham, 1u);
  EXPECT_EQ(token_totals(*t, 0)->ham, 1u);
}

TEST(Tokens, ZeroDeltaIsRefused) {
  TempStore t;
  std::vector<uint64_t> m = {1};
  EXPECT_EQ(token_learn(*t, 0, m, true, 0).code(), Code::kInvalidArgument);
}

TEST(Tokens, ScopesAreSeparate) {
  TempStore t;
  std::vector<uint64_t> m = {100, 200};
  ASSERT_TRUE(token_learn(*t, 0, m, true, +1).is_ok());
  ASSERT_TRUE(token_learn(*t, 7, m, false, +1).is_ok());
  ASSERT_TRUE(token_learn(*t, 7, m, false, +1).is_ok());
  auto g = counts(*t, 0, {100, 200});
  auto d = counts(*t, 7, {100, 200});
  auto other = counts(*t, 8, {100, 200});
  EXPECT_EQ(g[0].spam, 1u);
  EXPECT_EQ(g[0].ham, 0u);
  EXPECT_EQ(d[0].spam, 0u);
  EXPECT_EQ(d[0].ham, 2u);
  EXPECT_EQ(other[1].ham, 0u);
  EXPECT_EQ(token_totals(*t, 0)->spam, 1u);
  EXPECT_EQ(token_totals(*t, 7)->ham, 2u);
  EXPECT_EQ(token_totals(*t, 8)->ham, 0u);
}

TEST(Tokens, LargeHashesAndScopeBoundaries) {
  // A hash of all ones in scope 1 must not be confused with scope 2's totals record.
  TempStore t;
  std::vector<uint64_t> m = {UINT64_MAX, 0};
  ASSERT_TRUE(token_learn(*t, 1, m, true, +1).is_ok());
  EXPECT_EQ(counts(*t, 1, {UINT64_MAX})[0].spam, 1u);
  EXPECT_EQ(counts(*t, 1, {0})[0].spam, 1u);
  EXPECT_EQ(token_totals(*t, 2)->spam, 0u);
  EXPECT_EQ(token_totals(*t, 1)->spam, 1u);
}

TEST(Tokens, ScopeReadVisitsEveryTokenOfOneScopeWithItsTotals) {
  TempStore t;
  std::vector<uint64_t> spam = {5, 0xffffffffffffffffull, 7};
  std::vector<uint64_t> ham = {7, 9};
  ASSERT_TRUE(token_learn(*t, 3, spam, true, +1).is_ok());
  ASSERT_TRUE(token_learn(*t, 3, ham, false, +1).is_ok());
  std::vector<uint64_t> other = {1, 2};
  ASSERT_TRUE(token_learn(*t, 4, other, true, +1).is_ok());  // the next scope: not visited
  ASSERT_TRUE(token_learn(*t, 2, other, true, +1).is_ok());  // the one before: not visited
  TokenCounts totals;
  std::vector<std::pair<uint64_t, TokenCounts>> seen;
  auto all = token_scope_read(*t, 3, 100, &totals, [&](uint64_t h, const TokenCounts& c) { seen.push_back({h, c}); });
  ASSERT_TRUE(all.is_ok()) << all.status().to_string();
  EXPECT_TRUE(*all);
  EXPECT_EQ(totals.spam, 1u);
  EXPECT_EQ(totals.ham, 1u);
  EXPECT_EQ(totals.updates, 2u);
  ASSERT_EQ(seen.size(), 4u);  // 5, 7, 9, 2^64-1 in hash order
  EXPECT_EQ(seen[0].first, 5u);
  EXPECT_EQ(seen[1].first, 7u);
  EXPECT_EQ(seen[1].second.spam, 1u);
  EXPECT_EQ(seen[1].second.ham, 1u);
  EXPECT_EQ(seen[2].first, 9u);
  EXPECT_EQ(seen[3].first, 0xffffffffffffffffull);
  // Every visited count equals what token_counts reads.
  for (const auto& [h, c] : seen) {
    auto one = counts(*t, 3, {h});
    EXPECT_EQ(one[0].spam, c.spam);
    EXPECT_EQ(one[0].ham, c.ham);
  }
}

TEST(Tokens, ScopeReadSaysWhenTheScopeHoldsMoreThanAsked) {
  TempStore t;
  std::vector<uint64_t> m = {1, 2, 3};
  ASSERT_TRUE(token_learn(*t, 0, m, true, +1).is_ok());
  TokenCounts totals;
  size_t n = 0;
  auto part = token_scope_read(*t, 0, 2, &totals, [&](uint64_t, const TokenCounts&) { ++n; });
  ASSERT_TRUE(part.is_ok());
  EXPECT_FALSE(*part);
  EXPECT_EQ(n, 2u);
  n = 0;
  auto exact = token_scope_read(*t, 0, 3, &totals, [&](uint64_t, const TokenCounts&) { ++n; });
  ASSERT_TRUE(exact.is_ok());
  EXPECT_TRUE(*exact);
  EXPECT_EQ(n, 3u);
  // An empty scope: complete, nothing visited, zero totals.
  n = 0;
  auto empty = token_scope_read(*t, 9, 10, &totals, [&](uint64_t, const TokenCounts&) { ++n; });
  ASSERT_TRUE(empty.is_ok());
  EXPECT_TRUE(*empty);
  EXPECT_EQ(n, 0u);
  EXPECT_EQ(totals.spam, 0u);
  EXPECT_EQ(totals.updates, 0u);
}

TEST(Tokens, SurvivesReopen) {
  TempStore t;
  std::vector<uint64_t> m = {42};
  ASSERT_TRUE(token_learn(*t, 3, m, true, +1).is_ok());
  t.close();
  t.open();
  EXPECT_EQ(counts(*t, 3, {42})[0].spam, 1u);
  EXPECT_EQ(token_totals(*t, 3)->spam, 1u);
}

TEST(Tokens, ConcurrentLearnersLoseNothing) {
  TempStore t;
  constexpr int kThreads = 4, kPerThread = 25;
  std::vector<std::thread> threads;
  for (int i = 0; i < kThreads; i++) {
    threads.emplace_back([&] {
      std::vector<uint64_t> m = {1, 2, 3};
      for (int j = 0; j < kPerThread; j++) EXPECT_TRUE(token_learn(*t, 0, m, true, +1).is_ok());
    });
  }
  for (auto& th : threads) th.join();
  EXPECT_EQ(counts(*t, 0, {2})[0].spam, uint64_t(kThreads * kPerThread));
  EXPECT_EQ(token_totals(*t, 0)->spam, uint64_t(kThreads * kPerThread));
}

}  // namespace
}  // namespace tsubame::store
