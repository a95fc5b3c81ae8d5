// tests/store/batch_test.cc: Store::write_batch (group commit for imapd): outcomes equal to
// the single calls run in order, one failing request (quota, validation, ownership, a
// partly done COPY) rolled back alone while the others commit, the batch limit, and the
// kFlagsDeferred durability mode (flag-only batches only; sync(); data still there after
// reopening).
#include <gtest/gtest.h>

#include "tests/store/mail_fixture.h"

namespace tsubame::store {
namespace {

using testing::err;
using testing::MailTest;
using testing::raw_message;
using testing::summary_for;

class Batch : public MailTest {
 protected:
  AppendRequest append_req(uint64_t user, const std::string& mailbox, const std::string& subject,
                           uint32_t flags = 0) {
    AppendRequest a;
    a.user_id = user;
    a.mailbox_id = box(user, mailbox).id;
    a.raw = raw_message(subject, "text " + subject);
    a.summary = summary_for(subject, "s@x.example", a.raw.size());
    a.flags = flags;
    a.internal_date = 1600000000;
    return a;
  }
  StoreFlagsRequest flags_req(uint64_t mailbox, std::vector<uint32_t> uids, FlagMode mode,
                              uint32_t flags, std::optional<uint64_t> since = std::nullopt) {
    StoreFlagsRequest f;
    f.mailbox_id = mailbox;
    f.uids = std::move(uids);
    f.mode = mode;
    f.flags = flags;
    f.unchanged_since = since;
    return f;
  }
};

TEST_F(Batch, OutcomesAreThoseOfTheCallsInOrder) {
  uint64_t inbox = box(alice, "INBOX").id, trash = box(alice, "Trash").id;
  std::vector<WriteRequest> b;
  b.push_back(append_req(alice, "INBOX", "one"));
  b.push_back(append_req(bob, "INBOX", "bob-one"));
  b.push_back(append_req(alice, "INBOX", "two", kSeen));
  // Requests see what earlier requests of the same batch did.
  b.push_back(flags_req(inbox, {1, 2}, FlagMode::kAdd, kDeleted));
  b.push_back(CopyRequest{alice, inbox, {1}, trash, false});
  b.push_back(ExpungeRequest{inbox, std::vector<uint32_t>{2}});
  auto out = store().write_batch(b);
  ASSERT_EQ(out.size(), b.size());
  for (const auto& o : out) {
    EXPECT_TRUE(o.status.is_ok()) << err(o.status);
    EXPECT_TRUE(o.durable);
  }
  EXPECT_EQ(out[0].appended.uid, 1u);
  EXPECT_EQ(out[1].appended.uid, 1u);
  EXPECT_EQ(out[1].appended.user_id, bob);
  EXPECT_EQ(out[2].appended.uid, 2u);
  EXPECT_GT(out[2].appended.modseq, out[0].appended.modseq);
  ASSERT_EQ(out[3].flags.changed.size(), 2u);
  EXPECT_EQ(out[3].flags.changed[0].flags, uint32_t(kDeleted));
  EXPECT_EQ(out[3].flags.changed[1].flags, uint32_t(kDeleted | kSeen));
  EXPECT_GT(out[3].flags.changed[1].modseq, out[3].flags.changed[0].modseq);
  EXPECT_EQ(out[4].mapping.source_uids, std::vector<uint32_t>{1});
  EXPECT_EQ(out[4].mapping.dest_uids, std::vector<uint32_t>{1});
  EXPECT_EQ(out[4].mapping.dest_uidvalidity, box(alice, "Trash").uidvalidity);
  ASSERT_EQ(out[5].expunged.size(), 1u);
  EXPECT_EQ(out[5].expunged[0].uid, 2u);
  Mailbox in = box(alice, "INBOX");
  EXPECT_EQ(in.messages, 1u);
  EXPECT_EQ(in.deleted, 1u);
  EXPECT_EQ(in.highest_modseq, out[5].expunged[0].modseq);
  EXPECT_EQ(box(alice, "Trash").messages, 1u);
  expect_consistent();
}

TEST_F(Batch, OneFailingRequestDoesNotFailTheOthers) {
  uint64_t inbox = box(alice, "INBOX").id;
  std::string raw = raw_message("bob-x", "text bob-x");
  ASSERT_TRUE(store().set_quota(bob, raw.size() + 1).is_ok());
  std::vector<WriteRequest> b;
  b.push_back(append_req(alice, "INBOX", "a1"));
  b.push_back(append_req(bob, "INBOX", "bob-x"));
  b.push_back(append_req(bob, "INBOX", "bob-x"));   // over quota now: Full
  auto bad_flags = append_req(alice, "INBOX", "bad");
  bad_flags.flags = 1u << 20;                        // unknown flag bit: InvalidArgument
  b.push_back(bad_flags);
  auto not_owned = append_req(alice, "INBOX", "stolen");
  not_owned.user_id = carol;                         // carol does not own alice's INBOX
  b.push_back(not_owned);
  auto bad_kw = flags_req(inbox, {1}, FlagMode::kAdd, 0);
  bad_kw.keywords = {"bad(keyword"};
  b.push_back(bad_kw);
  b.push_back(append_req(alice, "INBOX", "a2"));
  auto out = store().write_batch(b);
  ASSERT_EQ(out.size(), b.size());
  EXPECT_TRUE(out[0].status.is_ok()) << err(out[0].status);
  EXPECT_TRUE(out[1].status.is_ok()) << err(out[1].status);
  EXPECT_EQ(out[2].status.code(), Code::kFull) << err(out[2].status);
  EXPECT_EQ(out[3].status.code(), Code::kInvalidArgument);
  EXPECT_FALSE(out[4].status.is_ok());
  EXPECT_EQ(out[5].status.code(), Code::kInvalidArgument);
  EXPECT_TRUE(out[6].status.is_ok()) << err(out[6].status);
  EXPECT_EQ(out[6].appended.uid, 2u);  // the failed ones took no UID
  EXPECT_EQ(box(alice, "INBOX").messages, 2u);
  EXPECT_EQ(box(bob, "INBOX").messages, 1u);
  EXPECT_EQ(box(carol, "INBOX").messages, 0u);
  auto u = store().get_user(bob);
  ASSERT_TRUE(u.is_ok());
  EXPECT_EQ(u->used_bytes, raw.size());
  expect_consistent();
}

TEST_F(Batch, APartlyDoneRequestIsRolledBackAlone) {
  // A COPY of two messages whose second copy exceeds the quota: the first copy (already
  // written inside the request's nested transaction) must vanish with it.
  std::string raw = raw_message("m", "text m");
  ASSERT_TRUE(store().write_batch({append_req(alice, "INBOX", "m"), append_req(alice, "INBOX", "m")})
                  .at(1).status.is_ok());
  uint64_t inbox = box(alice, "INBOX").id, trash = box(alice, "Trash").id;
  ASSERT_TRUE(store().set_quota(alice, 3 * raw.size()).is_ok());
  std::vector<WriteRequest> b;
  b.push_back(CopyRequest{alice, inbox, {1, 2}, trash, false});
  b.push_back(flags_req(inbox, {1}, FlagMode::kAdd, kFlagged));
  auto out = store().write_batch(b);
  EXPECT_EQ(out[0].status.code(), Code::kFull) << err(out[0].status);
  EXPECT_TRUE(out[1].status.is_ok()) << err(out[1].status);
  ASSERT_EQ(out[1].flags.changed.size(), 1u);
  Mailbox t = box(alice, "Trash");
  EXPECT_EQ(t.messages, 0u);
  EXPECT_EQ(t.uidnext, 1u);  // the rolled-back copy used no UID
  auto u = store().get_user(alice);
  ASSERT_TRUE(u.is_ok());
  EXPECT_EQ(u->used_bytes, 2 * raw.size());
  expect_consistent();
}

TEST_F(Batch, UnchangedSinceFailuresAreReportedPerRequest) {
  ASSERT_TRUE(store().write_batch({append_req(alice, "INBOX", "x"), append_req(alice, "INBOX", "y")})
                  .at(0).status.is_ok());
  Mailbox in = box(alice, "INBOX");
  uint64_t before = in.highest_modseq;
  std::vector<WriteRequest> b;
  b.push_back(flags_req(in.id, {1}, FlagMode::kAdd, kSeen));
  b.push_back(flags_req(in.id, {1, 2}, FlagMode::kAdd, kFlagged, before));  // 1 changed since
  auto out = store().write_batch(b);
  ASSERT_TRUE(out[1].status.is_ok());
  EXPECT_EQ(out[1].flags.failed, std::vector<uint32_t>{1});
  ASSERT_EQ(out[1].flags.changed.size(), 1u);
  EXPECT_EQ(out[1].flags.changed[0].uid, 2u);
}

TEST_F(Batch, BatchLimit) {
  std::vector<WriteRequest> b(kMaxBatchMessages + 1, WriteRequest{ExpungeRequest{box(alice, "INBOX").id}});
  auto out = store().write_batch(b);
  ASSERT_EQ(out.size(), b.size());
  for (const auto& o : out) EXPECT_EQ(o.status.code(), Code::kInvalidArgument);
  b.resize(kMaxBatchMessages);
  out = store().write_batch(b);
  for (const auto& o : out) EXPECT_TRUE(o.status.is_ok()) << err(o.status);
}

TEST_F(Batch, FlagsDeferredOnlyForFlagOnlyBatches) {
  ASSERT_TRUE(store().write_batch({append_req(alice, "INBOX", "x")}).at(0).status.is_ok());
  uint64_t inbox = box(alice, "INBOX").id;
  auto flags_only = store().write_batch({flags_req(inbox, {1}, FlagMode::kAdd, kFlagged)},
                                        BatchSync::kFlagsDeferred);
  ASSERT_TRUE(flags_only[0].status.is_ok());
  EXPECT_FALSE(flags_only[0].durable);
  // A batch with a message in it is always fully durable.
  auto mixed = store().write_batch({flags_req(inbox, {1}, FlagMode::kAdd, kSeen),
                                    append_req(alice, "INBOX", "y")},
                                   BatchSync::kFlagsDeferred);
  EXPECT_TRUE(mixed[0].durable);
  EXPECT_TRUE(mixed[1].durable);
  ASSERT_TRUE(store().write_batch({flags_req(inbox, {2}, FlagMode::kAdd, kAnswered)},
                                  BatchSync::kFlagsDeferred)[0].status.is_ok());
  EXPECT_TRUE(store().sync().is_ok());
  ts.close();
  ts.open();
  auto m1 = store().get_message(inbox, 1), m2 = store().get_message(inbox, 2);
  ASSERT_TRUE(m1.is_ok() && m2.is_ok());
  EXPECT_EQ(m1->flags, uint32_t(kFlagged | kSeen));
  EXPECT_EQ(m2->flags, uint32_t(kAnswered));
  expect_consistent();
}

}  // namespace
}  // namespace tsubame::store
