// tests/store/deliver_test.cc: batched delivery (group commit): single-instance blobs with
// reference counts, target mailboxes created on demand, all-or-nothing batches, limits.
#include <gtest/gtest.h>

#include <set>
#include <thread>

#include "store/env.h"
#include "store/queue.h"
#include "tests/store/mail_fixture.h"

namespace tsubame::store {
namespace {

using testing::err;
using testing::incoming;
using testing::MailTest;
using testing::to;

using Deliver = MailTest;

TEST_F(Deliver, OneBlobForManyRecipientsFreedWithLastReference) {
  auto r = store().deliver({incoming("shared", "one body for three", {to(alice), to(bob), to(carol)})});
  ASSERT_TRUE(r.is_ok()) << err(r);
  ASSERT_EQ(r->size(), 1u);
  const DeliveryResult& d = (*r)[0];
  ASSERT_EQ(d.copies.size(), 3u);
  EXPECT_EQ(d.copies[0].user_id, alice);
  EXPECT_EQ(d.copies[2].user_id, carol);
  auto c = store().check();
  ASSERT_TRUE(c.is_ok());
  EXPECT_EQ(c->blobs, 1u);
  EXPECT_EQ(c->messages, 3u);
  for (const auto& cp : d.copies) EXPECT_EQ(store().get_message(cp.mailbox_id, cp.uid)->blob_id, d.blob_id);

  // Expunge from two users: the third still reads it.
  for (size_t i = 0; i < 2; i++) {
    const auto& cp = d.copies[i];
    ASSERT_TRUE(store().store_flags(cp.mailbox_id, {cp.uid}, FlagMode::kAdd, kDeleted, {}).is_ok());
    ASSERT_EQ(store().expunge(cp.mailbox_id)->size(), 1u);
  }
  expect_consistent();
  EXPECT_EQ(store().check()->blobs, 1u);
  auto raw = store().read_message(carol, d.copies[2].mailbox_id, d.copies[2].uid);
  ASSERT_TRUE(raw.is_ok()) << err(raw);
  EXPECT_NE(raw->find("one body for three"), std::string::npos);
  EXPECT_EQ(store().read_summary(carol, d.copies[2].mailbox_id, d.copies[2].uid)->envelope.subject, "shared");
  EXPECT_EQ(store().read_message(alice, d.copies[0].mailbox_id, d.copies[0].uid).status().code(),
            Code::kNotFound);

  // Expunge the last reference: the blob and its summary are gone.
  const auto& last = d.copies[2];
  ASSERT_TRUE(store().store_flags(last.mailbox_id, {last.uid}, FlagMode::kAdd, kDeleted, {}).is_ok());
  ASSERT_EQ(store().expunge(last.mailbox_id)->size(), 1u);
  auto after = store().check();
  ASSERT_TRUE(after.is_ok());
  EXPECT_EQ(after->blobs, 0u);
  EXPECT_EQ(after->messages, 0u);
  EXPECT_TRUE(after->problems.empty());
}

TEST_F(Deliver, CopyAndMoveShareTheBlob) {
  auto d = deliver_one(alice, "copied");
  Mailbox in = box(alice, "INBOX");
  ASSERT_TRUE(store().copy_messages(alice, in.id, {d.uid}, box(alice, "Trash").id).is_ok());
  ASSERT_TRUE(store().move_messages(alice, in.id, {d.uid}, box(alice, "Junk").id).is_ok());
  auto c = store().check();
  ASSERT_TRUE(c.is_ok());
  EXPECT_EQ(c->blobs, 1u);
  EXPECT_EQ(c->messages, 2u);
  EXPECT_TRUE(c->problems.empty());
  ASSERT_TRUE(store().delete_mailbox(alice, "Trash").is_ok());
  EXPECT_EQ(store().check()->blobs, 1u);
  ASSERT_TRUE(store().delete_mailbox(alice, "Junk").is_ok());
  EXPECT_EQ(store().check()->blobs, 0u);
  expect_consistent();
}

TEST_F(Deliver, BatchOfManyMessagesInOneCall) {
  std::vector<IncomingMessage> batch;
  for (int i = 0; i < 64; i++)
    batch.push_back(incoming("batch-" + std::to_string(i), "b", {to(i % 2 ? alice : bob)}));
  auto r = store().deliver(batch);
  ASSERT_TRUE(r.is_ok()) << err(r);
  ASSERT_EQ(r->size(), 64u);
  EXPECT_EQ(box(alice, "INBOX").messages, 32u);
  EXPECT_EQ(box(bob, "INBOX").messages, 32u);
  // UIDs within a mailbox follow batch order.
  EXPECT_EQ((*r)[1].copies[0].uid, 1u);
  EXPECT_EQ((*r)[3].copies[0].uid, 2u);
  EXPECT_NE(store().read_message(alice, (*r)[63].copies[0].mailbox_id, (*r)[63].copies[0].uid)->find("batch-63"),
            std::string::npos);
  expect_consistent();
}

TEST_F(Deliver, AlsoRunsInTheDeliveryTransaction) {
  // smtpd enqueues a message's remote copies through `also`: they commit with the local
  // copies, and a failure of either leaves neither.
  OutboundQueue q(store());
  QueueEntry e;
  e.sender = "alice@corp.test";
  QueueRecipient r;
  r.address = "carol@remote.test";
  e.recipients.push_back(r);
  e.content = "Subject: both\r\n\r\nbody\r\n";
  auto ok = store().deliver({incoming("both", "b", {to(alice)})},
                            [&](Txn& txn) { return q.enqueue(txn, e); });
  ASSERT_TRUE(ok.is_ok()) << err(ok);
  EXPECT_EQ(box(alice, "INBOX").messages, 1u);
  EXPECT_EQ(q.list()->size(), 1u);
  // `also` fails: the local copy is not stored either.
  auto bad = store().deliver({incoming("neither", "b", {to(alice)})},
                             [](Txn&) { return Status::io_error("disk on fire"); });
  EXPECT_FALSE(bad.is_ok());
  EXPECT_EQ(box(alice, "INBOX").messages, 1u);
  // A local copy that cannot be stored (deleted user) takes the queue entry down with it.
  QueueEntry e2 = e;
  e2.id.clear();
  auto gone = store().deliver({incoming("ghost", "b", {to(alice), to(999999)})},
                              [&](Txn& txn) { return q.enqueue(txn, e2); });
  EXPECT_FALSE(gone.is_ok());
  EXPECT_EQ(q.list()->size(), 1u);
  expect_consistent();
}

TEST_F(Deliver, CreatesTargetMailboxWithSpecialUse) {
  auto r = store().deliver({incoming("spam", "buy now", {to(alice, "Junk", kSeen), to(bob, "Lists/Rust")})});
  ASSERT_TRUE(r.is_ok()) << err(r);
  ASSERT_TRUE(store().delete_mailbox(carol, "Junk").is_ok());
  ASSERT_TRUE(store().deliver({incoming("spam2", "buy", {to(carol, "Junk")})}).is_ok());
  Mailbox junk = box(carol, "Junk");
  EXPECT_EQ(junk.special, SpecialUse::kJunk);
  EXPECT_EQ(junk.messages, 1u);
  EXPECT_TRUE(store().find_mailbox(bob, "Lists").is_ok());
  EXPECT_EQ(box(bob, "Lists/Rust").messages, 1u);
  EXPECT_EQ(box(alice, "Junk").unseen, 0u);
  expect_consistent();
}

TEST_F(Deliver, TargetFlagsAndKeywords) {
  DeliveryTarget t = to(alice, "INBOX", kFlagged);
  t.keywords = {"$Junk"};
  auto r = store().deliver({incoming("k", "v", {t})});
  ASSERT_TRUE(r.is_ok());
  auto m = store().get_message(r->at(0).copies[0].mailbox_id, r->at(0).copies[0].uid);
  ASSERT_TRUE(m.is_ok());
  EXPECT_EQ(m->flags, uint32_t(kFlagged));
  EXPECT_EQ(m->keywords, std::vector<std::string>{"$Junk"});
  EXPECT_EQ(m->internal_date, 1700000000);
}

TEST_F(Deliver, FailedBatchStoresNothing) {
  ASSERT_TRUE(store().set_quota(carol, 100).is_ok());
  std::vector<IncomingMessage> batch = {
      incoming("ok-1", "fine", {to(alice)}),
      incoming("too-big-for-carol", std::string(500, 'x'), {to(bob), to(carol)}),
  };
  auto r = store().deliver(batch);
  EXPECT_EQ(r.status().code(), Code::kFull);
  EXPECT_EQ(box(alice, "INBOX").messages, 0u);
  EXPECT_EQ(box(bob, "INBOX").messages, 0u);
  EXPECT_EQ(store().get_user(bob)->used_bytes, 0u);
  auto c = store().check();
  ASSERT_TRUE(c.is_ok());
  EXPECT_EQ(c->blobs, 0u);
  // An unknown user fails the batch the same way.
  batch[1].targets = {to(bob), to(424242)};
  EXPECT_EQ(store().deliver(batch).status().code(), Code::kNotFound);
  EXPECT_EQ(box(alice, "INBOX").messages, 0u);
  // Without the bad target the same batch goes through.
  batch[1].targets = {to(bob)};
  EXPECT_TRUE(store().deliver(batch).is_ok());
  EXPECT_EQ(box(alice, "INBOX").messages, 1u);
  expect_consistent();
}

TEST_F(Deliver, Limits) {
  EXPECT_TRUE(store().deliver({})->empty());
  EXPECT_EQ(store().deliver({incoming("none", "x", {})}).status().code(), Code::kInvalidArgument);
  IncomingMessage big = incoming("big", "x", {to(alice)});
  big.raw.assign(kMaxMessageBytes + 1, 'x');
  EXPECT_EQ(store().deliver({big}).status().code(), Code::kInvalidArgument);
  std::vector<IncomingMessage> batch(kMaxBatchMessages + 1, incoming("b", "x", {to(alice)}));
  EXPECT_EQ(store().deliver(batch).status().code(), Code::kInvalidArgument);
  batch.resize(kMaxBatchMessages);
  EXPECT_TRUE(store().deliver(batch).is_ok());
  IncomingMessage many = incoming("many", "x", {});
  many.targets.assign(kMaxTargetsPerMessage + 1, to(bob));
  EXPECT_EQ(store().deliver({many}).status().code(), Code::kInvalidArgument);
  many.targets.pop_back();
  auto r = store().deliver({many});
  ASSERT_TRUE(r.is_ok()) << err(r);
  EXPECT_EQ(box(bob, "INBOX").messages, kMaxTargetsPerMessage);
  EXPECT_EQ(store().deliver({incoming("bad", "x", {to(alice, "a//b")})}).status().code(), Code::kInvalidArgument);
  EXPECT_EQ(store().deliver({incoming("bad", "x", {to(alice, "INBOX", 1u << 20)})}).status().code(),
            Code::kInvalidArgument);
  expect_consistent();
}

TEST_F(Deliver, ConcurrentThreadsDeliverReadAndFlag) {
  // Store methods are thread-safe: writers are serialised, readers see snapshots.
  constexpr int kThreads = 4, kPerThread = 25;
  std::vector<std::vector<DeliveredCopy>> got(kThreads);
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; t++)
    threads.emplace_back([&, t] {
      for (int i = 0; i < kPerThread; i++) {
        std::string subject = "t" + std::to_string(t) + "-" + std::to_string(i);
        auto r = store().deliver({incoming(subject, subject, {to(alice), to(t % 2 ? bob : carol)})});
        if (!r.is_ok()) {
          ADD_FAILURE() << err(r);
          return;
        }
        got[t].push_back(r->at(0).copies[0]);
        auto raw = store().read_message(alice, r->at(0).copies[0].mailbox_id, r->at(0).copies[0].uid);
        if (!raw.is_ok() || raw->find(subject) == std::string::npos) ADD_FAILURE() << "read back " << subject;
        if (i % 5 == 0)
          (void)store().store_flags(r->at(0).copies[0].mailbox_id, {r->at(0).copies[0].uid}, FlagMode::kAdd,
                                    kSeen, {});
      }
    });
  for (auto& th : threads) th.join();
  std::set<uint32_t> uids;
  for (const auto& v : got)
    for (const auto& c : v) uids.insert(c.uid);
  EXPECT_EQ(uids.size(), size_t(kThreads * kPerThread));
  Mailbox in = box(alice, "INBOX");
  EXPECT_EQ(in.messages, uint32_t(kThreads * kPerThread));
  EXPECT_EQ(in.unseen, uint32_t(kThreads * kPerThread - kThreads * (kPerThread / 5)));
  expect_consistent();
}

TEST_F(Deliver, SurvivesReopen) {
  auto d = deliver_one(bob, "durable");
  ts.close();
  ts.open();
  auto raw = store().read_message(bob, d.mailbox_id, d.uid);
  ASSERT_TRUE(raw.is_ok()) << err(raw);
  EXPECT_NE(raw->find("durable"), std::string::npos);
  expect_consistent();
}

}  // namespace
}  // namespace tsubame::store
