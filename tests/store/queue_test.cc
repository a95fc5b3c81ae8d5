// tests/store/queue_test.cc: the outbound queue: enqueue (alone and inside a caller's
// transaction), due/retry scheduling, per-recipient status, hold/release/remove with audit.
#include "store/queue.h"

#include <gtest/gtest.h>

#include "common/bytes.h"
#include "store/audit.h"
#include "store/env.h"
#include "store/store.h"
#include "store/trace.h"
#include "tests/store/test_util.h"

namespace tsubame::store {
namespace {

using testing::TempStore;

QueueEntry entry(std::vector<std::string> rcpts, int64_t created = 0) {
  QueueEntry e;
  e.sender = "alice@corp.test";
  for (auto& r : rcpts) {
    QueueRecipient q;
    q.address = r;
    q.notify = "FAILURE,DELAY";
    q.orcpt = "rfc822;" + r;
    e.recipients.push_back(q);
  }
  e.envid = "ENV-1";
  e.ret = "HDRS";
  e.content = "From: alice@corp.test\r\nSubject: quarterly numbers\r\n\r\nconfidential body\r\n";
  e.created_ms = created;
  return e;
}

TEST(Queue, EnqueueAndGetRoundTrip) {
  TempStore t;
  OutboundQueue q(*t);
  auto e = entry({"bob@remote.test", "carol@other.test"});
  ASSERT_TRUE(q.enqueue(e).is_ok());
  EXPECT_EQ(e.id.size(), kQueueIdLength);
  EXPECT_GT(e.created_ms, 0);
  EXPECT_EQ(e.next_attempt_ms, e.created_ms);
  EXPECT_EQ(e.size, e.content.size());
  auto g = q.get(e.id);
  ASSERT_TRUE(g.is_ok()) << g.status().to_string();
  EXPECT_EQ(g->sender, "alice@corp.test");
  ASSERT_EQ(g->recipients.size(), 2u);
  EXPECT_EQ(g->recipients[1].address, "carol@other.test");
  EXPECT_EQ(g->recipients[1].status, RecipientStatus::kPending);
  EXPECT_EQ(g->recipients[0].notify, "FAILURE,DELAY");
  EXPECT_EQ(g->recipients[0].orcpt, "rfc822;bob@remote.test");
  EXPECT_EQ(g->envid, "ENV-1");
  EXPECT_EQ(g->ret, "HDRS");
  EXPECT_EQ(g->content, e.content);
  EXPECT_TRUE(q.get(e.id, false)->content.empty());
  EXPECT_EQ(q.get("NOSUCHID").status().code(), Code::kNotFound);
}

TEST(Queue, ContentAndAddressesAreSealed) {
  TempStore t;
  OutboundQueue q(*t);
  auto e = entry({"bob@remote.test"});
  ASSERT_TRUE(q.enqueue(e).is_ok());
  std::string raw;
  ASSERT_TRUE(t->env().read([&](const Txn& txn) -> Status {
    std::string_view v;
    TSUBAME_TRY(txn.get(Db::kQueue, e.id, &v));
    raw.assign(v);
    return Status::ok();
  }).is_ok());
  EXPECT_EQ(raw.find("confidential"), std::string::npos);
  EXPECT_EQ(raw.find("remote.test"), std::string::npos);
  EXPECT_EQ(raw.find("alice"), std::string::npos);
}

TEST(Queue, EnqueueInCallerTransactionIsAtomic) {
  TempStore t;
  OutboundQueue q(*t);
  auto e = entry({"bob@remote.test"});
  Status s = t->env().write([&](Txn& txn) -> Status {
    TSUBAME_TRY(q.enqueue(txn, e));
    return Status::io_error("the local delivery of the same message failed");
  });
  EXPECT_EQ(s.code(), Code::kIOError);
  EXPECT_TRUE(q.list()->empty());
  auto e2 = entry({"bob@remote.test"});
  ASSERT_TRUE(t->env().write([&](Txn& txn) { return q.enqueue(txn, e2); }).is_ok());
  EXPECT_EQ(q.list()->size(), 1u);
}

TEST(Queue, DueRetryAndPerRecipientStatus) {
  TempStore t;
  OutboundQueue q(*t);
  int64_t now = unix_now_ms();
  auto a = entry({"bob@remote.test", "carol@other.test"});
  a.next_attempt_ms = now - 1000;
  auto b = entry({"dave@later.test"});
  b.next_attempt_ms = now + 60'000;
  ASSERT_TRUE(q.enqueue(a).is_ok());
  ASSERT_TRUE(q.enqueue(b).is_ok());

  auto due = q.due(now);
  ASSERT_TRUE(due.is_ok());
  ASSERT_EQ(due->size(), 1u);
  EXPECT_EQ((*due)[0].id, a.id);
  EXPECT_TRUE((*due)[0].content.empty());  // the runner fetches content when it sends

  // First attempt: bob delivered, carol deferred for 5 minutes.
  QueueEntry u = (*due)[0];
  u.recipients[0].status = RecipientStatus::kDelivered;
  u.recipients[0].remote_host = "mx1.remote.test";
  u.recipients[1].last_error = "451 4.3.0 try again later";
  u.attempts = 1;
  u.next_attempt_ms = now + 5 * 60'000;
  ASSERT_TRUE(q.update(u).is_ok());
  EXPECT_TRUE(q.due(now)->empty());
  auto later = q.due(now + 2 * 60'000);
  ASSERT_EQ(later->size(), 1u);  // b is due at +1 min, a only at +5 min
  EXPECT_EQ((*later)[0].id, b.id);
  later = q.due(now + 10 * 60'000);
  ASSERT_EQ(later->size(), 2u);
  EXPECT_EQ((*later)[0].id, b.id);
  EXPECT_EQ((*later)[1].id, a.id);
  auto g = q.get(a.id);
  EXPECT_EQ(g->attempts, 1u);
  EXPECT_EQ(g->recipients[0].status, RecipientStatus::kDelivered);
  EXPECT_EQ(g->recipients[0].remote_host, "mx1.remote.test");
  EXPECT_EQ(g->recipients[1].status, RecipientStatus::kPending);
  EXPECT_EQ(g->recipients[1].last_error, "451 4.3.0 try again later");
  EXPECT_EQ(g->content, a.content);  // update leaves the content alone

  // Final: carol fails permanently; the runner removes the entry (no audit record).
  u = *g;
  u.recipients[1].status = RecipientStatus::kFailed;
  u.recipients[1].last_error = "550 5.1.1 no such user";
  u.attempts = 2;
  ASSERT_TRUE(q.update(u).is_ok());
  EXPECT_EQ(q.get(a.id)->recipients[1].status, RecipientStatus::kFailed);
  ASSERT_TRUE(q.remove(a.id).is_ok());
  EXPECT_EQ(q.get(a.id).status().code(), Code::kNotFound);
  EXPECT_EQ(q.update(u).code(), Code::kNotFound);
  EXPECT_EQ(q.remove(a.id).code(), Code::kNotFound);
  EXPECT_EQ(AuditLog(*t).head()->seq, 0u);
  EXPECT_EQ(q.due(now + 10 * 60'000, 10)->size(), 1u);
  EXPECT_EQ(q.due(now + 10 * 60'000, 0)->size(), 0u);
}

TEST(Queue, HeldEntriesAreNeverDueUntilReleased) {
  TempStore t;
  OutboundQueue q(*t);
  int64_t now = unix_now_ms();
  auto e = entry({"bob@remote.test"});
  e.held = true;
  e.hold_reason = "outbound data-loss rules";
  e.hold_rules = {"DLP_IBAN", "DLP_CARD"};
  ASSERT_TRUE(q.enqueue(e).is_ok());
  EXPECT_TRUE(q.due(now + 86'400'000)->empty());
  QueueFilter held;
  held.held_only = true;
  auto l = q.list(held);
  ASSERT_EQ(l->size(), 1u);
  EXPECT_EQ((*l)[0].hold_reason, "outbound data-loss rules");
  EXPECT_EQ((*l)[0].hold_rules, (std::vector<std::string>{"DLP_IBAN", "DLP_CARD"}));

  // update() from a runner that read the entry before the hold never clears the hold.
  QueueEntry stale = *q.get(e.id, false);
  stale.held = false;
  stale.attempts = 3;
  ASSERT_TRUE(q.update(stale).is_ok());
  EXPECT_TRUE(q.get(e.id)->held);

  ASSERT_TRUE(q.release(e.id, "postmaster").is_ok());
  EXPECT_FALSE(q.get(e.id)->held);
  EXPECT_TRUE(q.get(e.id)->hold_rules.empty());
  EXPECT_EQ(q.due(unix_now_ms())->size(), 1u);
  EXPECT_TRUE(q.list(held)->empty());
  EXPECT_EQ(q.release(e.id, "postmaster").code(), Code::kInvalidArgument);  // not held

  auto audit = AuditLog(*t).list();
  ASSERT_EQ(audit->size(), 2u);
  EXPECT_EQ((*audit)[1].action, "queue.hold");
  EXPECT_EQ((*audit)[1].actor, "policy");
  EXPECT_NE((*audit)[1].details.find("DLP_IBAN"), std::string::npos);
  EXPECT_EQ((*audit)[0].action, "queue.release");
  EXPECT_EQ((*audit)[0].actor, "postmaster");
  EXPECT_EQ((*audit)[0].target, "queue:" + e.id);
}

TEST(Queue, PostmasterHoldAndRemoveAreAudited) {
  TempStore t;
  OutboundQueue q(*t);
  auto e = entry({"bob@remote.test"});
  ASSERT_TRUE(q.enqueue(e).is_ok());
  ASSERT_TRUE(q.hold(e.id, "suspicious volume", {}, "postmaster").is_ok());
  EXPECT_TRUE(q.due(unix_now_ms() + 1000)->empty());
  ASSERT_TRUE(q.remove(e.id, "postmaster").is_ok());
  EXPECT_TRUE(q.list()->empty());
  auto audit = AuditLog(*t).list();
  ASSERT_EQ(audit->size(), 2u);
  EXPECT_EQ((*audit)[0].action, "queue.remove");
  EXPECT_EQ((*audit)[1].action, "queue.hold");
  EXPECT_EQ(q.hold("NOSUCH", "x", {}, "postmaster").code(), Code::kNotFound);
}

TEST(Queue, FlushMovesOnlyNextAttemptsAndIsAudited) {
  TempStore t;
  OutboundQueue q(*t);
  auto waiting = entry({"bob@remote.test", "carol@other.test"});
  auto held = entry({"dave@remote.test"});
  auto due_now = entry({"erin@remote.test"});
  ASSERT_TRUE(q.enqueue(waiting).is_ok());
  ASSERT_TRUE(q.enqueue(held).is_ok());
  ASSERT_TRUE(q.enqueue(due_now).is_ok());
  ASSERT_TRUE(q.hold(held.id, "dlp", {}, "policy").is_ok());
  int64_t now = unix_now_ms();
  // The runner tried `waiting`: bob delivered, carol deferred for an hour.
  auto w = q.get(waiting.id, false).value();
  w.recipients[0].status = RecipientStatus::kDelivered;
  w.recipients[1].last_error = "451 4.7.1 greylisted";
  w.attempts = 1;
  w.next_attempt_ms = now + 3600 * 1000;
  ASSERT_TRUE(q.update(w).is_ok());
  auto h = q.get(held.id, false).value();
  h.next_attempt_ms = now + 3600 * 1000;
  ASSERT_TRUE(q.update(h).is_ok());

  auto n = q.flush(now, "postmaster");
  ASSERT_TRUE(n.is_ok()) << n.status().to_string();
  EXPECT_EQ(*n, 1u);  // `held` stays held, `due_now` was already due
  auto after = q.get(waiting.id, false).value();
  EXPECT_EQ(after.next_attempt_ms, now);
  EXPECT_EQ(after.recipients[0].status, RecipientStatus::kDelivered);  // never re-sent
  EXPECT_EQ(after.recipients[1].last_error, "451 4.7.1 greylisted");
  EXPECT_EQ(after.attempts, 1u);
  EXPECT_EQ(q.get(held.id, false)->next_attempt_ms, now + 3600 * 1000);
  EXPECT_TRUE(q.get(held.id, false)->held);
  auto audit = AuditLog(*t).list();
  ASSERT_FALSE(audit->empty());
  EXPECT_EQ((*audit)[0].action, "queue.flush");
  EXPECT_EQ((*audit)[0].target, "queue");
  EXPECT_EQ((*audit)[0].actor, "postmaster");
  EXPECT_NE((*audit)[0].details.find("entries=1"), std::string::npos);
  EXPECT_EQ(*q.flush(now, "postmaster"), 0u);  // nothing left to move
}

TEST(Queue, ListIsOldestFirst) {
  TempStore t;
  OutboundQueue q(*t);
  std::vector<std::string> ids;
  for (int i = 0; i < 3; i++) {
    auto e = entry({"r" + std::to_string(i) + "@remote.test"});
    ASSERT_TRUE(q.enqueue(e).is_ok());
    ids.push_back(e.id);
  }
  auto l = q.list();
  ASSERT_EQ(l->size(), 3u);
  for (int i = 0; i < 3; i++) EXPECT_EQ((*l)[i].id, ids[i]);
  QueueFilter f;
  f.limit = 2;
  EXPECT_EQ(q.list(f)->size(), 2u);
}

TEST(Queue, RefusesBadEntries) {
  TempStore t;
  OutboundQueue q(*t);
  QueueEntry none = entry({});
  EXPECT_EQ(q.enqueue(none).code(), Code::kInvalidArgument);
  std::vector<std::string> many(kMaxQueueRecipients + 1, "x@y.test");
  auto big = entry(many);
  EXPECT_EQ(q.enqueue(big).code(), Code::kInvalidArgument);
  auto empty_rcpt = entry({""});
  EXPECT_EQ(q.enqueue(empty_rcpt).code(), Code::kInvalidArgument);
  auto long_err = entry({"x@y.test"});
  long_err.sender = std::string(kMaxQueueText + 1, 'a');
  EXPECT_EQ(q.enqueue(long_err).code(), Code::kInvalidArgument);
  auto huge = entry({"x@y.test"});
  huge.content = std::string(kMaxQueueMessage + 1, 'm');
  EXPECT_EQ(q.enqueue(huge).code(), Code::kFull);
  auto long_id = entry({"x@y.test"});
  long_id.id = std::string(kMaxTraceQueueId + 1, 'Q');
  EXPECT_EQ(q.enqueue(long_id).code(), Code::kInvalidArgument);
  EXPECT_TRUE(q.list()->empty());
}

TEST(Queue, DuplicateIdIsRefused) {
  TempStore t;
  OutboundQueue q(*t);
  auto a = entry({"x@y.test"});
  a.id = "FIXEDID";
  ASSERT_TRUE(q.enqueue(a).is_ok());
  auto b = entry({"x@y.test"});
  b.id = "FIXEDID";
  EXPECT_EQ(q.enqueue(b).code(), Code::kExists);
}

TEST(Queue, SurvivesReopen) {
  TempStore t;
  std::string id;
  {
    OutboundQueue q(*t);
    auto e = entry({"bob@remote.test"});
    ASSERT_TRUE(q.enqueue(e).is_ok());
    id = e.id;
  }
  t.close();
  t.open();
  OutboundQueue q(*t);
  auto g = q.get(id);
  ASSERT_TRUE(g.is_ok());
  EXPECT_EQ(g->recipients[0].address, "bob@remote.test");
}

}  // namespace
}  // namespace tsubame::store
