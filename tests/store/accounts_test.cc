// tests/store/accounts_test.cc: login history order and sealing, failed-login lockout (N
// failures within the window lock; success resets; the lock expires; reset is audit-logged).
#include "store/accounts.h"

#include <gtest/gtest.h>

#include "common/bytes.h"
#include "store/audit.h"
#include "store/env.h"
#include "store/store.h"
#include "tests/store/test_util.h"

namespace tsubame::store {
namespace {

using testing::TempStore;

constexpr int64_t kT0 = 1'700'000'000'000;
constexpr int64_t kMin = 60'000;

LoginEvent ev(uint64_t user, LoginResult r, int64_t t, std::string ip = "192.0.2.7") {
  LoginEvent e;
  e.login = "alice@example.com";
  e.user_id = user;
  e.source_ip = std::move(ip);
  e.client_id = "Thunderbird 115";
  e.protocol = LoginProtocol::kImap;
  e.result = r;
  e.time_ms = t;
  return e;
}

LoginOutcome rec(Accounts& a, const LoginEvent& e) {
  auto r = a.record_login(e);
  EXPECT_TRUE(r.is_ok()) << r.status().to_string();
  return r.is_ok() ? *r : LoginOutcome{};
}

TEST(Accounts, HistoryIsNewestFirstPerUserAndGlobal) {
  TempStore t;
  Accounts a(*t);
  rec(a, ev(1, LoginResult::kSuccess, kT0 + 1));
  rec(a, ev(2, LoginResult::kBadPassword, kT0 + 2, "198.51.100.1"));
  rec(a, ev(1, LoginResult::kBadPassword, kT0 + 3));
  rec(a, ev(0, LoginResult::kUnknownUser, kT0 + 4));
  rec(a, ev(1, LoginResult::kSuccess, kT0 + 5));

  auto h = a.history(1);
  ASSERT_TRUE(h.is_ok());
  ASSERT_EQ(h->size(), 3u);
  EXPECT_EQ((*h)[0].event.time_ms, kT0 + 5);
  EXPECT_EQ((*h)[1].event.time_ms, kT0 + 3);
  EXPECT_EQ((*h)[1].event.result, LoginResult::kBadPassword);
  EXPECT_EQ((*h)[2].event.time_ms, kT0 + 1);
  EXPECT_EQ((*h)[2].event.source_ip, "192.0.2.7");
  EXPECT_EQ((*h)[2].event.client_id, "Thunderbird 115");
  EXPECT_EQ((*h)[2].event.protocol, LoginProtocol::kImap);
  EXPECT_GT((*h)[0].seq, (*h)[2].seq);

  auto before = a.history(1, 10, kT0 + 5);
  ASSERT_EQ(before->size(), 2u);
  EXPECT_EQ((*before)[0].event.time_ms, kT0 + 3);
  EXPECT_EQ(a.history(1, 1)->size(), 1u);

  auto unknown = a.history(0);
  ASSERT_EQ(unknown->size(), 1u);
  EXPECT_EQ((*unknown)[0].event.result, LoginResult::kUnknownUser);

  auto all = a.recent();
  ASSERT_TRUE(all.is_ok());
  ASSERT_EQ(all->size(), 5u);
  for (size_t i = 0; i < all->size(); i++) EXPECT_EQ((*all)[i].event.time_ms, kT0 + 5 - int64_t(i));
  EXPECT_EQ((*all)[3].event.user_id, 2u);
  EXPECT_EQ((*all)[3].event.source_ip, "198.51.100.1");
}

TEST(Accounts, HistoryIsSealed) {
  TempStore t;
  Accounts a(*t);
  rec(a, ev(1, LoginResult::kSuccess, kT0, "203.0.113.99"));
  bool plain = false;
  ASSERT_TRUE(t->env().read([&](const Txn& txn) {
    return txn.scan(Db::kLogins, "", "", [&](std::string_view, std::string_view v) {
      if (v.find("203.0.113.99") != std::string_view::npos ||
          v.find("alice@example.com") != std::string_view::npos)
        plain = true;
      return true;
    });
  }).is_ok());
  EXPECT_FALSE(plain);
}

TEST(Accounts, LocksAfterMaxFailuresWithinWindow) {
  TempStore t;
  Accounts a(*t);  // defaults: 5 failures / 15 min -> 15 min
  for (int i = 1; i <= 4; i++) {
    auto o = rec(a, ev(7, LoginResult::kBadPassword, kT0 + i * kMin));
    EXPECT_EQ(o.failures, uint32_t(i));
    EXPECT_FALSE(o.locked);
  }
  EXPECT_FALSE(*a.is_locked(7, kT0 + 4 * kMin));
  auto o = rec(a, ev(7, LoginResult::kBadPassword, kT0 + 5 * kMin));
  EXPECT_TRUE(o.locked);
  EXPECT_TRUE(o.newly_locked);
  EXPECT_EQ(o.locked_until_ms, kT0 + 20 * kMin);
  EXPECT_TRUE(*a.is_locked(7, kT0 + 5 * kMin));
  EXPECT_TRUE(*a.is_locked(7, kT0 + 20 * kMin - 1));
  EXPECT_FALSE(*a.is_locked(7, kT0 + 20 * kMin));  // expires by itself
  EXPECT_FALSE(*a.is_locked(8, kT0 + 5 * kMin));   // other users unaffected

  // The lock is audit-logged.
  AuditFilter f;
  f.action_prefix = "account.lock";
  auto audit = AuditLog(*t).list(f);
  ASSERT_TRUE(audit.is_ok());
  ASSERT_EQ(audit->size(), 1u);
  EXPECT_EQ((*audit)[0].target, "user:7");
  EXPECT_NE((*audit)[0].details.find("192.0.2.7"), std::string::npos);
}

TEST(Accounts, FailuresOutsideTheWindowDoNotAccumulate) {
  TempStore t;
  Accounts a(*t);
  for (int i = 0; i < 4; i++) rec(a, ev(7, LoginResult::kBadPassword, kT0 + i * kMin));
  // 16 minutes after the first failure: the window restarts.
  auto o = rec(a, ev(7, LoginResult::kBadPassword, kT0 + 16 * kMin));
  EXPECT_EQ(o.failures, 1u);
  EXPECT_FALSE(o.locked);
}

TEST(Accounts, SuccessResetsTheCounter) {
  TempStore t;
  Accounts a(*t);
  for (int i = 0; i < 4; i++) rec(a, ev(7, LoginResult::kBadPassword, kT0 + i));
  rec(a, ev(7, LoginResult::kSuccess, kT0 + 10));
  EXPECT_EQ(a.lockout_state(7)->failures, 0u);
  for (int i = 0; i < 4; i++) {
    auto o = rec(a, ev(7, LoginResult::kBadPassword, kT0 + 20 + i));
    EXPECT_FALSE(o.locked);
  }
  EXPECT_TRUE(rec(a, ev(7, LoginResult::kBadPassword, kT0 + 30)).locked);
}

TEST(Accounts, AttemptsDuringLockDoNotExtendIt) {
  TempStore t;
  Accounts a(*t);
  for (int i = 0; i < 5; i++) rec(a, ev(7, LoginResult::kBadPassword, kT0 + i));
  int64_t until = a.lockout_state(7)->locked_until_ms;
  auto o = rec(a, ev(7, LoginResult::kLocked, kT0 + kMin));
  EXPECT_TRUE(o.locked);
  o = rec(a, ev(7, LoginResult::kBadPassword, kT0 + 2 * kMin));
  EXPECT_TRUE(o.locked);
  EXPECT_FALSE(o.newly_locked);
  EXPECT_EQ(a.lockout_state(7)->locked_until_ms, until);
  // A success does not lift an active lock either.
  rec(a, ev(7, LoginResult::kSuccess, kT0 + 3 * kMin));
  EXPECT_TRUE(*a.is_locked(7, kT0 + 3 * kMin));
  // After expiry the user has a fresh window of 5 attempts.
  for (int i = 0; i < 4; i++)
    EXPECT_FALSE(rec(a, ev(7, LoginResult::kBadPassword, until + i)).locked);
}

TEST(Accounts, ResetLockoutUnlocksAndIsAudited) {
  TempStore t;
  Accounts a(*t);
  for (int i = 0; i < 5; i++) rec(a, ev(7, LoginResult::kBadPassword, kT0 + i));
  ASSERT_TRUE(*a.is_locked(7, kT0 + 10));
  ASSERT_TRUE(a.reset_lockout(7, "postmaster").is_ok());
  EXPECT_FALSE(*a.is_locked(7, kT0 + 10));
  EXPECT_EQ(a.lockout_state(7)->failures, 0u);
  AuditFilter f;
  f.action_prefix = "account.unlock";
  auto audit = AuditLog(*t).list(f);
  ASSERT_EQ(audit->size(), 1u);
  EXPECT_EQ((*audit)[0].actor, "postmaster");
  EXPECT_EQ((*audit)[0].target, "user:7");
  // Resetting an unlocked account is a no-op (no audit noise).
  ASSERT_TRUE(a.reset_lockout(7, "postmaster").is_ok());
  EXPECT_EQ(AuditLog(*t).list(f)->size(), 1u);
  EXPECT_TRUE(AuditLog(*t).verify()->ok);
}

TEST(Accounts, CustomSettings) {
  TempStore t;
  LockoutSettings s;
  s.max_failures = 2;
  s.window_ms = kMin;
  s.lock_ms = 5 * kMin;
  Accounts a(*t, s);
  EXPECT_FALSE(rec(a, ev(3, LoginResult::kBadPassword, kT0)).locked);
  auto o = rec(a, ev(3, LoginResult::kBadPassword, kT0 + 1));
  EXPECT_TRUE(o.locked);
  EXPECT_EQ(o.locked_until_ms, kT0 + 1 + 5 * kMin);
}

TEST(Accounts, UnknownUsersNeverLock) {
  TempStore t;
  Accounts a(*t);
  for (int i = 0; i < 10; i++) EXPECT_FALSE(rec(a, ev(0, LoginResult::kUnknownUser, kT0 + i)).locked);
  EXPECT_FALSE(*a.is_locked(0, kT0 + 10));
}

TEST(Accounts, RefusesOversizeFields) {
  TempStore t;
  Accounts a(*t);
  auto e = ev(1, LoginResult::kSuccess, kT0);
  e.client_id = std::string(kMaxLoginField + 1, 'x');
  EXPECT_EQ(a.record_login(e).status().code(), Code::kInvalidArgument);
  EXPECT_TRUE(a.history(1)->empty());
}

TEST(Accounts, PurgeOlderThanRemovesHistoryAndIndex) {
  TempStore t;
  Accounts a(*t);
  for (int i = 0; i < 6; i++) rec(a, ev(1 + i % 2, LoginResult::kSuccess, kT0 + i));
  auto n = a.purge_older_than(kT0 + 3);
  ASSERT_TRUE(n.is_ok());
  EXPECT_EQ(*n, 3u);
  EXPECT_EQ(a.recent()->size(), 3u);
  EXPECT_EQ(a.history(1)->size(), 1u);  // kT0+4
  EXPECT_EQ(a.history(2)->size(), 2u);  // kT0+3, kT0+5
  EXPECT_EQ(a.recent()->back().event.time_ms, kT0 + 3);
}

}  // namespace
}  // namespace tsubame::store
