// tests/store/reports_test.cc: the spam-report lifecycle: report with a sealed copy that
// survives the user's expunge, metadata-only listing, audited analyst views and decisions,
// retention purge.
#include "store/reports.h"

#include <gtest/gtest.h>

#include "common/bytes.h"
#include "store/audit.h"
#include "store/env.h"
#include "tests/store/mail_fixture.h"

namespace tsubame::store {
namespace {

using testing::MailTest;

class ReportsTest : public MailTest {
 protected:
  Report report_of(uint64_t user, const DeliveredCopy& c, ReportKind kind) {
    Report r;
    r.reporter = user;
    r.mailbox_id = c.mailbox_id;
    r.uid = c.uid;
    r.kind = kind;
    r.reason = "unsolicited offer";
    auto raw = store().read_message(user, c.mailbox_id, c.uid);
    EXPECT_TRUE(raw.is_ok()) << testing::err(raw);
    r.content = raw.is_ok() ? *raw : "";
    return r;
  }
};

TEST_F(ReportsTest, LifecycleAndCopySurvivesExpunge) {
  auto c = deliver_one(alice, "CHEAP-PILLS-7731");
  Reports reports(store());
  auto id = reports.add_report(report_of(alice, c, ReportKind::kSpam));
  ASSERT_TRUE(id.is_ok()) << testing::err(id);

  // The user expunges the message; the quarantine copy stays.
  ASSERT_TRUE(store().store_flags(c.mailbox_id, {c.uid}, FlagMode::kAdd, kDeleted, {}).is_ok());
  ASSERT_TRUE(store().expunge(c.mailbox_id).is_ok());
  EXPECT_FALSE(store().get_message(c.mailbox_id, c.uid).is_ok());

  auto meta = reports.get(*id);
  ASSERT_TRUE(meta.is_ok());
  EXPECT_EQ(meta->reporter, alice);
  EXPECT_EQ(meta->mailbox_id, c.mailbox_id);
  EXPECT_EQ(meta->uid, c.uid);
  EXPECT_EQ(meta->kind, ReportKind::kSpam);
  EXPECT_EQ(meta->status, ReportStatus::kOpen);
  EXPECT_EQ(meta->reason, "unsolicited offer");
  EXPECT_TRUE(meta->content.empty());  // metadata only without an audited view
  EXPECT_GT(meta->size, 0u);

  auto seen = reports.view(*id, "analyst1");
  ASSERT_TRUE(seen.is_ok()) << testing::err(seen);
  EXPECT_NE(seen->content.find("CHEAP-PILLS-7731"), std::string::npos);
  EXPECT_EQ(seen->size, seen->content.size());

  ASSERT_TRUE(reports.decide(*id, ReportStatus::kConfirmed, "analyst1").is_ok());
  auto decided = reports.get(*id);
  EXPECT_EQ(decided->status, ReportStatus::kConfirmed);
  EXPECT_EQ(decided->decided_by, "analyst1");
  EXPECT_GT(decided->decided_at_ms, 0);
  // The content is unchanged by the decision.
  EXPECT_NE(reports.view(*id, "analyst2")->content.find("CHEAP-PILLS-7731"), std::string::npos);

  // Every view and the decision are in the audit log.
  AuditFilter f;
  f.action_prefix = "report.";
  auto audit = AuditLog(store()).list(f);
  ASSERT_TRUE(audit.is_ok());
  ASSERT_EQ(audit->size(), 3u);
  EXPECT_EQ((*audit)[0].action, "report.view");
  EXPECT_EQ((*audit)[0].actor, "analyst2");
  EXPECT_EQ((*audit)[1].action, "report.decide");
  EXPECT_EQ((*audit)[2].action, "report.view");
  EXPECT_EQ((*audit)[2].target, "report:" + std::to_string(*id));
  EXPECT_TRUE(AuditLog(store()).verify()->ok);
}

TEST_F(ReportsTest, ContentIsSealed) {
  auto c = deliver_one(alice, "PLAINTEXT-MARKER-4471");
  Reports reports(store());
  auto id = reports.add_report(report_of(alice, c, ReportKind::kSpam));
  ASSERT_TRUE(id.is_ok());
  std::string raw;
  ASSERT_TRUE(store().env().read([&](const Txn& t) -> Status {
    std::string_view v;
    TSUBAME_TRY(t.get(Db::kReports, be64(*id), &v));
    raw.assign(v);
    return Status::ok();
  }).is_ok());
  EXPECT_EQ(raw.find("PLAINTEXT-MARKER-4471"), std::string::npos);
  EXPECT_EQ(raw.find("unsolicited offer"), std::string::npos);
}

TEST_F(ReportsTest, ListFiltersNewestFirst) {
  Reports reports(store());
  auto c1 = deliver_one(alice, "m1");
  auto c2 = deliver_one(bob, "m2");
  auto c3 = deliver_one(bob, "m3");
  auto r1 = reports.add_report(report_of(alice, c1, ReportKind::kSpam));
  auto r2 = reports.add_report(report_of(bob, c2, ReportKind::kNotSpam));
  auto r3 = reports.add_report(report_of(bob, c3, ReportKind::kSpam));
  ASSERT_TRUE(r1.is_ok() && r2.is_ok() && r3.is_ok());
  ASSERT_TRUE(reports.decide(*r3, ReportStatus::kFalseReport, "analyst").is_ok());

  auto all = reports.list();
  ASSERT_EQ(all->size(), 3u);
  EXPECT_EQ((*all)[0].id, *r3);
  EXPECT_EQ((*all)[2].id, *r1);
  for (auto& r : *all) EXPECT_TRUE(r.content.empty());

  ReportFilter f;
  f.status = ReportStatus::kOpen;
  EXPECT_EQ(reports.list(f)->size(), 2u);
  f = {};
  f.kind = ReportKind::kNotSpam;
  ASSERT_EQ(reports.list(f)->size(), 1u);
  EXPECT_EQ((*reports.list(f))[0].id, *r2);
  f = {};
  f.reporter = bob;
  EXPECT_EQ(reports.list(f)->size(), 2u);
  f = {};
  f.status = ReportStatus::kFalseReport;
  ASSERT_EQ(reports.list(f)->size(), 1u);
  EXPECT_EQ((*reports.list(f))[0].decided_by, "analyst");
  f = {};
  f.limit = 1;
  EXPECT_EQ(reports.list(f)->size(), 1u);
}

TEST_F(ReportsTest, DecisionsAreValidatedAndRevisable) {
  Reports reports(store());
  auto c = deliver_one(alice, "m");
  auto id = reports.add_report(report_of(alice, c, ReportKind::kSpam));
  ASSERT_TRUE(id.is_ok());
  EXPECT_EQ(reports.decide(*id, ReportStatus::kOpen, "a").code(), Code::kInvalidArgument);
  EXPECT_EQ(reports.decide(*id, ReportStatus::kConfirmed, "").code(), Code::kInvalidArgument);
  EXPECT_EQ(reports.decide(*id + 100, ReportStatus::kConfirmed, "a").code(), Code::kNotFound);
  ASSERT_TRUE(reports.decide(*id, ReportStatus::kConfirmed, "a").is_ok());
  ASSERT_TRUE(reports.decide(*id, ReportStatus::kFalseReport, "b").is_ok());
  EXPECT_EQ(reports.get(*id)->status, ReportStatus::kFalseReport);
  EXPECT_EQ(reports.get(*id)->decided_by, "b");
  EXPECT_EQ(reports.view(*id, "").status().code(), Code::kInvalidArgument);
  EXPECT_EQ(reports.view(*id + 100, "a").status().code(), Code::kNotFound);
}

TEST_F(ReportsTest, RefusesBadReports) {
  Reports reports(store());
  Report r;
  r.reporter = alice;
  EXPECT_EQ(reports.add_report(r).status().code(), Code::kInvalidArgument);  // no copy
  r.content = "x";
  r.reporter = 0;
  EXPECT_EQ(reports.add_report(r).status().code(), Code::kInvalidArgument);
  r.reporter = alice;
  r.reason = std::string(kMaxReportReason + 1, 'r');
  EXPECT_EQ(reports.add_report(r).status().code(), Code::kInvalidArgument);
  r.reason.clear();
  r.content = std::string(kMaxReportMessage + 1, 'm');
  EXPECT_EQ(reports.add_report(r).status().code(), Code::kFull);
  EXPECT_TRUE(reports.list()->empty());
}

TEST_F(ReportsTest, AddInCallerTransactionIsAtomic) {
  Reports reports(store());
  Report r;
  r.reporter = alice;
  r.content = "Subject: x\r\n\r\ny\r\n";
  Status s = store().env().write([&](Txn& txn) -> Status {
    auto id = reports.add_report(txn, r);
    if (!id.is_ok()) return id.status();
    return Status::unavailable("the move to Junk failed");
  });
  EXPECT_EQ(s.code(), Code::kUnavailable);
  EXPECT_TRUE(reports.list()->empty());
}

TEST_F(ReportsTest, PurgeOlderThanIsAudited) {
  Reports reports(store());
  auto c = deliver_one(alice, "m");
  Report old = report_of(alice, c, ReportKind::kSpam);
  old.time_ms = 1000;
  Report fresh = report_of(alice, c, ReportKind::kSpam);
  fresh.time_ms = 5000;
  auto a = reports.add_report(old);
  auto b = reports.add_report(fresh);
  ASSERT_TRUE(a.is_ok() && b.is_ok());
  auto n = reports.purge_older_than(3000, "retention");
  ASSERT_TRUE(n.is_ok());
  EXPECT_EQ(*n, 1u);
  EXPECT_EQ(reports.get(*a).status().code(), Code::kNotFound);
  EXPECT_TRUE(reports.get(*b).is_ok());
  AuditFilter f;
  f.action_prefix = "report.purge";
  auto audit = AuditLog(store()).list(f);
  ASSERT_EQ(audit->size(), 1u);
  EXPECT_NE((*audit)[0].details.find("count=1"), std::string::npos);
  EXPECT_EQ(*reports.purge_older_than(3000, "retention"), 0u);
  EXPECT_EQ(AuditLog(store()).list(f)->size(), 1u);  // nothing purged, nothing logged
}

}  // namespace
}  // namespace tsubame::store
