// tests/store/audit_test.cc: the hash-chained audit log: append, list, and tamper detection by
// editing, removing and reordering raw records through the LMDB environment.
#include "store/audit.h"

#include <gtest/gtest.h>
#include <sys/wait.h>
#include <unistd.h>

#include <thread>

#include "common/bytes.h"
#include "store/env.h"
#include "store/store.h"
#include "tests/store/test_util.h"

namespace tsubame::store {
namespace {

using testing::TempStore;

void fill(Store& s, int n) {
  AuditLog log(s);
  for (int i = 1; i <= n; i++) {
    AuditEntry e;
    e.actor = "postmaster";
    e.action = i % 2 ? "account.lock" : "queue.release";
    e.target = "user" + std::to_string(i) + "@example.com";
    e.details = "secret-detail-" + std::to_string(i);
    e.time_ms = 1000 * i;
    auto r = log.append(e);
    ASSERT_TRUE(r.is_ok()) << r.status().to_string();
    EXPECT_EQ(*r, uint64_t(i));
  }
}

std::string raw_get(Store& s, uint64_t seq) {
  std::string out;
  EXPECT_TRUE(s.env().read([&](const Txn& t) -> Status {
    std::string_view v;
    TSUBAME_TRY(t.get(Db::kAudit, be64(seq), &v));
    out.assign(v);
    return Status::ok();
  }).is_ok());
  return out;
}

void raw_put(Store& s, uint64_t seq, const std::string& v) {
  ASSERT_TRUE(s.env().write([&](Txn& t) { return t.put(Db::kAudit, be64(seq), v); }).is_ok());
}

void raw_del(Store& s, uint64_t seq) {
  ASSERT_TRUE(s.env().write([&](Txn& t) { return t.del(Db::kAudit, be64(seq)); }).is_ok());
}

AuditVerify verify(Store& s) {
  auto v = AuditLog(s).verify();
  EXPECT_TRUE(v.is_ok()) << v.status().to_string();
  return v.is_ok() ? *v : AuditVerify{};
}

TEST(Audit, AdministrativeChangesCommitWithTheirRecordOrNotAtAll) {
  TempStore t;
  AuditLog log(*t);
  AuditEntry e;
  e.actor = "cli:root";
  e.action = "domain.add";
  e.target = "corp.test";
  ASSERT_TRUE(t->add_domain("corp.test", &e));
  // A refused change leaves no record: the record is in the change's transaction.
  EXPECT_EQ(t->add_domain("corp.test", &e).status().code(), Code::kExists);
  AuditEntry u = e;
  u.action = "user.add";
  u.target = "ann@corp.test";
  auto user = t->add_user("ann@corp.test", "$argon2id$x", 0, &u);
  ASSERT_TRUE(user);
  AuditEntry d = e;
  d.action = "user.disable";
  d.target = "ann@corp.test";
  ASSERT_TRUE(t->set_disabled(user->id, true, &d).is_ok());
  AuditEntry q = e;
  q.action = "user.quota";
  ASSERT_TRUE(t->set_quota(user->id, 1 << 20, &q).is_ok());
  EXPECT_EQ(t->set_quota(user->id + 100, 1, &q).code(), Code::kNotFound);
  AuditEntry r = e;
  r.action = "domain.remove";
  EXPECT_EQ(t->remove_domain("corp.test", &r).code(), Code::kExists);  // still has a user
  auto all = log.list();
  ASSERT_TRUE(all);
  ASSERT_EQ(all->size(), 4u);
  EXPECT_EQ((*all)[0].action, "user.quota");
  EXPECT_EQ((*all)[1].action, "user.disable");
  EXPECT_EQ((*all)[2].action, "user.add");
  EXPECT_EQ((*all)[3].action, "domain.add");
  auto v = log.verify();
  ASSERT_TRUE(v);
  EXPECT_TRUE(v->ok) << v->reason;
  EXPECT_EQ(v->records, 4u);
}

TEST(Audit, EmptyLogVerifies) {
  TempStore t;
  auto v = verify(*t);
  EXPECT_TRUE(v.ok);
  EXPECT_EQ(v.records, 0u);
  EXPECT_EQ(AuditLog(*t).head()->seq, 0u);
}

TEST(Audit, AppendListNewestFirstAndFilters) {
  TempStore t;
  fill(*t, 6);
  AuditLog log(*t);
  auto all = log.list();
  ASSERT_TRUE(all.is_ok());
  ASSERT_EQ(all->size(), 6u);
  EXPECT_EQ((*all)[0].seq, 6u);
  EXPECT_EQ((*all)[5].seq, 1u);
  EXPECT_EQ((*all)[5].actor, "postmaster");
  EXPECT_EQ((*all)[5].target, "user1@example.com");
  EXPECT_EQ((*all)[5].details, "secret-detail-1");
  EXPECT_EQ((*all)[5].time_ms, 1000);

  AuditFilter f;
  f.action_prefix = "queue.";
  auto q = log.list(f);
  ASSERT_EQ(q->size(), 3u);
  for (auto& r : *q) EXPECT_EQ(r.action, "queue.release");

  f = {};
  f.target = "user3@example.com";
  ASSERT_EQ(log.list(f)->size(), 1u);
  EXPECT_EQ((*log.list(f))[0].seq, 3u);

  f = {};
  f.since_ms = 2000;
  f.until_ms = 4000;
  auto range = log.list(f);
  ASSERT_EQ(range->size(), 2u);
  EXPECT_EQ((*range)[0].seq, 3u);
  EXPECT_EQ((*range)[1].seq, 2u);

  f = {};
  f.limit = 2;
  EXPECT_EQ(log.list(f)->size(), 2u);
  EXPECT_TRUE(verify(*t).ok);
  EXPECT_EQ(verify(*t).records, 6u);
  EXPECT_EQ(log.head()->seq, 6u);
}

TEST(Audit, PersonalFieldsAreSealed) {
  TempStore t;
  fill(*t, 2);
  std::string raw = raw_get(*t, 1);
  EXPECT_EQ(raw.find("secret-detail-1"), std::string::npos);
  EXPECT_EQ(raw.find("user1@example.com"), std::string::npos);
  EXPECT_EQ(raw.find("postmaster"), std::string::npos);
  EXPECT_NE(raw.find("account.lock"), std::string::npos);  // the action stays filterable
}

TEST(Audit, SurvivesReopen) {
  TempStore t;
  fill(*t, 3);
  t.close();
  t.open();
  fill(*t, 0);
  AuditEntry e;
  e.action = "store.reopen";
  EXPECT_EQ(*AuditLog(*t).append(e), 4u);
  EXPECT_TRUE(verify(*t).ok);
}

TEST(Audit, AppendInCallerTransactionCommitsTogether) {
  TempStore t;
  AuditLog log(*t);
  AuditEntry e;
  e.action = "test.change";
  // Committed: the change and the record.
  ASSERT_TRUE(t->env().write([&](Txn& txn) -> Status {
    TSUBAME_TRY(txn.put(Db::kMeta, "test:value", "1"));
    auto r = log.append(txn, e);
    return r.status();
  }).is_ok());
  // Aborted: neither the change nor the record.
  Status s = t->env().write([&](Txn& txn) -> Status {
    TSUBAME_TRY(txn.put(Db::kMeta, "test:value", "2"));
    auto r = log.append(txn, e);
    if (!r.is_ok()) return r.status();
    return Status::invalid("caller fails after appending");
  });
  EXPECT_EQ(s.code(), Code::kInvalidArgument);
  EXPECT_EQ(log.head()->seq, 1u);
  EXPECT_EQ(log.list()->size(), 1u);
  EXPECT_TRUE(verify(*t).ok);
}

TEST(Audit, RefusesEmptyActionAndOversizeFields) {
  TempStore t;
  AuditLog log(*t);
  EXPECT_EQ(log.append(AuditEntry{}).status().code(), Code::kInvalidArgument);
  AuditEntry e;
  e.action = "x";
  e.details = std::string(kMaxAuditDetails + 1, 'a');
  EXPECT_EQ(log.append(e).status().code(), Code::kInvalidArgument);
  e.details = std::string(kMaxAuditDetails, 'a');  // at the limit: accepted
  EXPECT_TRUE(log.append(e).is_ok());
  e.details.clear();
  for (std::string* f : {&e.actor, &e.action, &e.target}) {
    std::string keep = *f;
    *f = std::string(kMaxAuditField + 1, 'x');
    EXPECT_EQ(log.append(e).status().code(), Code::kInvalidArgument);
    *f = keep;
  }
  EXPECT_EQ(log.head()->seq, 1u);
}

TEST(Audit, DetectsEditedRecord) {
  TempStore t;
  fill(*t, 5);
  std::string v = raw_get(*t, 3);
  v[v.size() / 2] ^= 0x01;  // a bit inside the sealed fields
  raw_put(*t, 3, v);
  auto r = verify(*t);
  EXPECT_FALSE(r.ok);
  EXPECT_EQ(r.bad_seq, 3u);
  EXPECT_NE(r.reason.find("changed"), std::string::npos) << r.reason;
}

TEST(Audit, DetectsEditedTimestamp) {
  TempStore t;
  fill(*t, 4);
  // Replace record 2 with a re-encoded copy whose time differs: same layout, new time.
  std::string v = raw_get(*t, 2);
  std::string v4 = raw_get(*t, 4);
  // Byte 9 starts the zig-zag time varint; record 2 and 4 times have the same length.
  ASSERT_EQ(v[9 + 1] != v4[9 + 1] || v[9] != v4[9], true);
  v[9] = v4[9];
  v[10] = v4[10];
  raw_put(*t, 2, v);
  auto r = verify(*t);
  EXPECT_FALSE(r.ok);
  EXPECT_EQ(r.bad_seq, 2u);
}

TEST(Audit, DetectsRemovedRecord) {
  TempStore t;
  fill(*t, 5);
  raw_del(*t, 3);
  auto r = verify(*t);
  EXPECT_FALSE(r.ok);
  EXPECT_EQ(r.bad_seq, 3u);
  EXPECT_NE(r.reason.find("removed"), std::string::npos) << r.reason;
}

TEST(Audit, DetectsRemovedFirstRecord) {
  TempStore t;
  fill(*t, 3);
  raw_del(*t, 1);
  auto r = verify(*t);
  EXPECT_FALSE(r.ok);
  EXPECT_EQ(r.bad_seq, 1u);
}

TEST(Audit, DetectsRemovedAndRenumberedRecord) {
  // Remove record 3 and move 4 and 5 down to close the gap.
  TempStore t;
  fill(*t, 5);
  std::string v4 = raw_get(*t, 4), v5 = raw_get(*t, 5);
  raw_put(*t, 3, v4);
  raw_put(*t, 4, v5);
  raw_del(*t, 5);
  auto r = verify(*t);
  EXPECT_FALSE(r.ok);
  EXPECT_EQ(r.bad_seq, 3u);
}

TEST(Audit, DetectsReorderedRecords) {
  TempStore t;
  fill(*t, 5);
  std::string v2 = raw_get(*t, 2), v3 = raw_get(*t, 3);
  raw_put(*t, 2, v3);
  raw_put(*t, 3, v2);
  auto r = verify(*t);
  EXPECT_FALSE(r.ok);
  EXPECT_EQ(r.bad_seq, 2u);
  EXPECT_NE(r.reason.find("reordered"), std::string::npos) << r.reason;
}

TEST(Audit, DetectsReorderWithRewrittenSequenceFields) {
  // Swap records 2 and 3 and also rewrite the seq inside each value to match its key.
  TempStore t;
  fill(*t, 4);
  std::string v2 = raw_get(*t, 2), v3 = raw_get(*t, 3);
  std::string n2 = v3, n3 = v2;
  n2.replace(1, 8, be64(2));
  n3.replace(1, 8, be64(3));
  raw_put(*t, 2, n2);
  raw_put(*t, 3, n3);
  auto r = verify(*t);
  EXPECT_FALSE(r.ok);
  EXPECT_EQ(r.bad_seq, 2u);
}

TEST(Audit, DetectsTruncatedTail) {
  TempStore t;
  fill(*t, 5);
  raw_del(*t, 5);
  raw_del(*t, 4);
  auto r = verify(*t);
  EXPECT_FALSE(r.ok);
  EXPECT_EQ(r.bad_seq, 4u);
  EXPECT_NE(r.reason.find("tail"), std::string::npos) << r.reason;
}

TEST(Audit, DetectsRecordAppendedOutsideTheLog) {
  TempStore t;
  fill(*t, 3);
  raw_put(*t, 4, raw_get(*t, 3));
  auto r = verify(*t);
  EXPECT_FALSE(r.ok);
  EXPECT_EQ(r.bad_seq, 4u);
}

TEST(Audit, DetectsEveryRecordRemoved) {
  TempStore t;
  fill(*t, 2);
  raw_del(*t, 1);
  raw_del(*t, 2);
  auto r = verify(*t);
  EXPECT_FALSE(r.ok);
  EXPECT_EQ(r.bad_seq, 1u);
}

TEST(Audit, ConcurrentThreadsAndProcessesKeepOneChain) {
  // LMDB serialises writers across threads and processes, so the chain never forks.
  TempStore t;
  Options opts = t.options();
  t.close();
  constexpr int kProcs = 3, kThreads = 2, kEach = 20;
  std::vector<pid_t> kids;
  for (int p = 0; p < kProcs; p++) {
    pid_t pid = fork();
    ASSERT_GE(pid, 0);
    if (pid == 0) {
      auto s = Store::open(opts);
      if (!s.is_ok()) _exit(2);
      std::vector<std::thread> th;
      bool ok = true;
      for (int i = 0; i < kThreads; i++)
        th.emplace_back([&, i] {
          AuditLog log(**s);
          for (int j = 0; j < kEach; j++) {
            AuditEntry e;
            e.actor = "proc" + std::to_string(p) + "/" + std::to_string(i);
            e.action = "test.concurrent";
            if (!log.append(e).is_ok()) ok = false;
          }
        });
      for (auto& x : th) x.join();
      _exit(ok ? 0 : 3);
    }
    kids.push_back(pid);
  }
  for (pid_t k : kids) {
    int status = 0;
    ASSERT_EQ(waitpid(k, &status, 0), k);
    EXPECT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0) << status;
  }
  t.open();
  auto v = verify(*t);
  EXPECT_TRUE(v.ok) << v.reason;
  EXPECT_EQ(v.records, uint64_t(kProcs * kThreads * kEach));
  EXPECT_EQ(AuditLog(*t).head()->seq, uint64_t(kProcs * kThreads * kEach));
}

}  // namespace
}  // namespace tsubame::store
