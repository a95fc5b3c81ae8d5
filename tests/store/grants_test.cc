// tests/store/grants_test.cc: support access grants: four-eyes approval, audited access,
// expiry by itself, revocation, validation.
#include "store/grants.h"

#include <gtest/gtest.h>

#include "store/audit.h"
#include "store/store.h"
#include "tests/store/test_util.h"

namespace tsubame::store {
namespace {

using testing::TempStore;

constexpr int64_t kT0 = 1'700'000'000'000;
constexpr int64_t kHour = 3'600'000;

size_t audit_count(Store& s, const std::string& action) {
  AuditFilter f;
  f.action_prefix = action;
  auto l = AuditLog(s).list(f);
  return l.is_ok() ? l->size() : 0;
}

TEST(Grants, RequestApproveAccessExpire) {
  TempStore t;
  Grants g(*t);
  auto id = g.request(42, "support-ann", "case 1234: lost folder", 2 * kHour, kT0);
  ASSERT_TRUE(id.is_ok()) << id.status().to_string();
  // Not yet approved: denied, and the denial is audited.
  EXPECT_EQ(g.access(42, "support-ann", "list mailboxes", kT0 + 1).code(), Code::kPermissionDenied);
  EXPECT_EQ(audit_count(*t, "grant.denied"), 1u);

  EXPECT_EQ(g.approve(*id, "support-ann", kT0 + 2).code(), Code::kPermissionDenied);  // four eyes
  ASSERT_TRUE(g.approve(*id, "lead-bob", kT0 + 10).is_ok());
  auto got = g.get(*id);
  ASSERT_TRUE(got.is_ok());
  EXPECT_EQ(got->status, GrantStatus::kApproved);
  EXPECT_EQ(got->approved_by, "lead-bob");
  EXPECT_EQ(got->expires_ms, kT0 + 10 + 2 * kHour);
  EXPECT_EQ(got->reason, "case 1234: lost folder");

  ASSERT_TRUE(g.access(42, "support-ann", "read INBOX uid 7", kT0 + kHour).is_ok());
  auto acc = AuditLog(*t).list([] {
    AuditFilter f;
    f.action_prefix = "grant.access";
    return f;
  }());
  ASSERT_EQ(acc->size(), 1u);
  EXPECT_EQ((*acc)[0].actor, "support-ann");
  EXPECT_EQ((*acc)[0].target, "user:42");
  EXPECT_NE((*acc)[0].details.find("read INBOX uid 7"), std::string::npos);

  // Other agents and other users are not covered.
  EXPECT_EQ(g.access(42, "support-carl", "x", kT0 + kHour).code(), Code::kPermissionDenied);
  EXPECT_EQ(g.access(43, "support-ann", "x", kT0 + kHour).code(), Code::kPermissionDenied);
  // It expires by itself.
  EXPECT_EQ(g.access(42, "support-ann", "x", kT0 + 10 + 2 * kHour).code(), Code::kPermissionDenied);
  EXPECT_TRUE(AuditLog(*t).verify()->ok);
}

TEST(Grants, RevokeEndsAccess) {
  TempStore t;
  Grants g(*t);
  auto id = g.request(5, "agent", "case", kHour, kT0);
  ASSERT_TRUE(g.approve(*id, "approver", kT0).is_ok());
  ASSERT_TRUE(g.access(5, "agent", "x", kT0 + 1).is_ok());
  ASSERT_TRUE(g.revoke(*id, "approver").is_ok());
  EXPECT_EQ(g.access(5, "agent", "x", kT0 + 2).code(), Code::kPermissionDenied);
  EXPECT_EQ(g.approve(*id, "approver", kT0 + 3).code(), Code::kInvalidArgument);
  EXPECT_EQ(audit_count(*t, "grant.revoke"), 1u);
}

TEST(Grants, ValidatesRequests) {
  TempStore t;
  Grants g(*t);
  EXPECT_EQ(g.request(0, "a", "r", kHour).status().code(), Code::kInvalidArgument);
  EXPECT_EQ(g.request(1, "", "r", kHour).status().code(), Code::kInvalidArgument);
  EXPECT_EQ(g.request(1, "a", "", kHour).status().code(), Code::kInvalidArgument);
  EXPECT_EQ(g.request(1, "a", "r", 0).status().code(), Code::kInvalidArgument);
  EXPECT_EQ(g.request(1, "a", "r", kMaxGrantDurationMs + 1).status().code(), Code::kInvalidArgument);
  EXPECT_EQ(g.request(1, std::string(kMaxGrantText + 1, 'a'), "r", kHour).status().code(),
            Code::kInvalidArgument);
  EXPECT_EQ(g.request(1, "a", std::string(kMaxGrantText + 1, 'r'), kHour).status().code(),
            Code::kInvalidArgument);
  EXPECT_TRUE(g.request(1, "a", "r", kMaxGrantDurationMs).is_ok());  // at the limit
  EXPECT_EQ(g.approve(99, "b").code(), Code::kNotFound);
  EXPECT_EQ(g.list()->size(), 1u);
}

TEST(Grants, ListNewestFirstPerUser) {
  TempStore t;
  Grants g(*t);
  auto a = g.request(1, "agent", "c1", kHour, kT0);
  auto b = g.request(2, "agent", "c2", kHour, kT0);
  auto c = g.request(1, "agent", "c3", kHour, kT0);
  ASSERT_TRUE(a.is_ok() && b.is_ok() && c.is_ok());
  auto all = g.list();
  ASSERT_EQ(all->size(), 3u);
  EXPECT_EQ((*all)[0].id, *c);
  auto u1 = g.list(1);
  ASSERT_EQ(u1->size(), 2u);
  EXPECT_EQ((*u1)[1].id, *a);
  EXPECT_EQ(audit_count(*t, "grant.request"), 3u);
}

}  // namespace
}  // namespace tsubame::store
