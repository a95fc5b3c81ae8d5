// tests/store/messages_test.cc: APPEND, list/get/read, flags (STORE, UNCHANGEDSINCE), counters,
// COPY, MOVE, EXPUNGE / UID EXPUNGE, CONDSTORE/QRESYNC queries, reported state, quota, and the
// UID/MODSEQ invariants across restarts.
#include <gtest/gtest.h>

#include "tests/store/mail_fixture.h"

namespace tsubame::store {
namespace {

using testing::err;
using testing::MailTest;
using testing::raw_message;
using testing::summary_for;

class Messages : public MailTest {
 protected:
  DeliveredCopy append(uint64_t user, const std::string& mailbox, const std::string& subject,
                       uint32_t flags = 0, std::vector<std::string> kw = {}) {
    std::string raw = raw_message(subject, "text " + subject);
    auto r = store().append(user, box(user, mailbox).id, raw, summary_for(subject, "s@x.example", raw.size()),
                            flags, kw, 1600000000);
    EXPECT_TRUE(r.is_ok()) << err(r);
    return r.is_ok() ? *r : DeliveredCopy{};
  }
};

TEST_F(Messages, AppendListGetRead) {
  auto a = append(alice, "Drafts", "draft-1", kDraft | kSeen, {"$Forwarded"});
  EXPECT_EQ(a.uid, 1u);
  EXPECT_EQ(a.user_id, alice);
  auto b = append(alice, "Drafts", "draft-2");
  EXPECT_EQ(b.uid, 2u);
  EXPECT_GT(b.modseq, a.modseq);
  Mailbox d = box(alice, "Drafts");
  EXPECT_EQ(d.messages, 2u);
  EXPECT_EQ(d.unseen, 1u);
  EXPECT_EQ(d.uidnext, 3u);
  EXPECT_EQ(d.highest_modseq, b.modseq);
  auto list = store().list_messages(d.id);
  ASSERT_TRUE(list.is_ok());
  ASSERT_EQ(list->size(), 2u);
  EXPECT_EQ((*list)[0].flags, uint32_t(kDraft | kSeen));
  EXPECT_EQ((*list)[0].keywords, std::vector<std::string>{"$Forwarded"});
  EXPECT_EQ((*list)[0].internal_date, 1600000000);
  auto range = store().list_messages(d.id, 2, 2);
  ASSERT_TRUE(range.is_ok());
  ASSERT_EQ(range->size(), 1u);
  EXPECT_EQ((*range)[0].uid, 2u);
  EXPECT_TRUE(store().list_messages(d.id, 3, 10)->empty());
  auto g = store().get_message(d.id, 1);
  ASSERT_TRUE(g.is_ok());
  EXPECT_EQ(g->size, raw_message("draft-1", "text draft-1").size());
  EXPECT_EQ(store().get_message(d.id, 7).status().code(), Code::kNotFound);
  auto raw = store().read_message(alice, d.id, 1);
  ASSERT_TRUE(raw.is_ok()) << err(raw);
  EXPECT_EQ(*raw, raw_message("draft-1", "text draft-1"));
  auto sum = store().read_summary(alice, d.id, 2);
  ASSERT_TRUE(sum.is_ok()) << err(sum);
  EXPECT_EQ(sum->envelope.subject, "draft-2");
  // Another user cannot read it, even knowing the ids.
  EXPECT_EQ(store().read_message(bob, d.id, 1).status().code(), Code::kNotFound);
  EXPECT_EQ(store().read_summary(bob, d.id, 1).status().code(), Code::kNotFound);
  EXPECT_EQ(store().append(bob, d.id, "x", MessageSummary{}, 0, {}, 0).status().code(), Code::kNotFound);
  expect_consistent();
}

TEST_F(Messages, AppendValidation) {
  Mailbox in = box(alice, "INBOX");
  EXPECT_EQ(store().append(alice, in.id, "x", {}, 1u << 9, {}, 0).status().code(), Code::kInvalidArgument);
  EXPECT_EQ(store().append(alice, in.id, "x", {}, 0, {"bad word"}, 0).status().code(), Code::kInvalidArgument);
  EXPECT_EQ(store().append(alice, in.id, "x", {}, 0, {"a(b"}, 0).status().code(), Code::kInvalidArgument);
  EXPECT_EQ(store().append(alice, in.id, "x", {}, 0, {std::string(kMaxKeywordBytes + 1, 'k')}, 0).status().code(),
            Code::kInvalidArgument);
  EXPECT_TRUE(store().append(alice, in.id, "x", {}, 0, {std::string(kMaxKeywordBytes, 'k')}, 0).is_ok());
  std::vector<std::string> many;
  for (size_t i = 0; i <= kMaxKeywordsPerMessage; i++) many.push_back("k" + std::to_string(i));
  EXPECT_EQ(store().append(alice, in.id, "x", {}, 0, many, 0).status().code(), Code::kInvalidArgument);
  many.pop_back();
  EXPECT_TRUE(store().append(alice, in.id, "x", {}, 0, many, 0).is_ok());
  std::string big(kMaxMessageBytes + 1, 'x');
  EXPECT_EQ(store().append(alice, in.id, big, {}, 0, {}, 0).status().code(), Code::kInvalidArgument);
  // Keywords are sorted and case-insensitively unique.
  auto c = store().append(alice, in.id, "x", {}, 0, {"b", "A", "a", "$x"}, 0);
  ASSERT_TRUE(c.is_ok());
  EXPECT_EQ(store().get_message(in.id, c->uid)->keywords, (std::vector<std::string>{"$x", "A", "b"}));
  // internal_date 0 means now.
  EXPECT_GT(store().get_message(in.id, c->uid)->internal_date, 1700000000);
}

TEST_F(Messages, StoreFlagsModesAndCounters) {
  for (int i = 0; i < 3; i++) deliver_one(alice, "m" + std::to_string(i));
  Mailbox in = box(alice, "INBOX");
  EXPECT_EQ(in.unseen, 3u);
  auto r = store().store_flags(in.id, {1, 2}, FlagMode::kAdd, kSeen | kFlagged, {"$Label1"});
  ASSERT_TRUE(r.is_ok()) << err(r);
  ASSERT_EQ(r->changed.size(), 2u);
  EXPECT_EQ(r->changed[0].flags, uint32_t(kSeen | kFlagged));
  EXPECT_EQ(r->changed[0].keywords, std::vector<std::string>{"$Label1"});
  EXPECT_GT(r->changed[1].modseq, r->changed[0].modseq);
  EXPECT_GT(r->changed[0].modseq, in.highest_modseq);
  in = box(alice, "INBOX");
  EXPECT_EQ(in.unseen, 1u);
  EXPECT_EQ(in.highest_modseq, r->changed[1].modseq);
  // Adding what is there changes nothing and takes no MODSEQ.
  auto same = store().store_flags(in.id, {1}, FlagMode::kAdd, kSeen, {});
  ASSERT_TRUE(same.is_ok());
  EXPECT_TRUE(same->changed.empty());
  EXPECT_EQ(box(alice, "INBOX").highest_modseq, in.highest_modseq);
  // Remove.
  auto rm = store().store_flags(in.id, {1}, FlagMode::kRemove, kFlagged, {"$LABEL1"});
  ASSERT_TRUE(rm.is_ok());
  ASSERT_EQ(rm->changed.size(), 1u);
  EXPECT_EQ(rm->changed[0].flags, uint32_t(kSeen));
  EXPECT_TRUE(rm->changed[0].keywords.empty());
  // Replace, with a missing UID ignored.
  auto rep = store().store_flags(in.id, {3, 99}, FlagMode::kReplace, kDeleted, {"x"});
  ASSERT_TRUE(rep.is_ok());
  ASSERT_EQ(rep->changed.size(), 1u);
  EXPECT_EQ(rep->changed[0].uid, 3u);
  in = box(alice, "INBOX");
  EXPECT_EQ(in.deleted, 1u);
  EXPECT_EQ(in.unseen, 1u);
  EXPECT_EQ(store().store_flags(in.id, {1}, FlagMode::kAdd, 1u << 12, {}).status().code(),
            Code::kInvalidArgument);
  EXPECT_EQ(store().store_flags(424242, {1}, FlagMode::kAdd, kSeen, {}).status().code(), Code::kNotFound);
  expect_consistent();
}

TEST_F(Messages, UnchangedSince) {
  deliver_one(alice, "a");
  deliver_one(alice, "b");
  Mailbox in = box(alice, "INBOX");
  uint64_t before = in.highest_modseq;
  ASSERT_TRUE(store().store_flags(in.id, {2}, FlagMode::kAdd, kFlagged, {}).is_ok());
  // RFC 7162 §3.1.3: message 2 changed after `before`, so it fails; message 1 is stored.
  auto r = store().store_flags(in.id, {1, 2}, FlagMode::kAdd, kSeen, {}, before);
  ASSERT_TRUE(r.is_ok());
  EXPECT_EQ(r->failed, std::vector<uint32_t>{2});
  ASSERT_EQ(r->changed.size(), 1u);
  EXPECT_EQ(r->changed[0].uid, 1u);
  EXPECT_FALSE(store().get_message(in.id, 2)->flags & kSeen);
}

TEST_F(Messages, ChangedSinceAndVanishedSince) {
  for (int i = 0; i < 4; i++) deliver_one(alice, "m" + std::to_string(i));
  Mailbox in = box(alice, "INBOX");
  uint64_t mark = in.highest_modseq;
  EXPECT_TRUE(store().changed_since(in.id, mark)->empty());
  auto all = store().changed_since(in.id, 0);
  ASSERT_TRUE(all.is_ok());
  EXPECT_EQ(all->size(), 4u);
  ASSERT_TRUE(store().store_flags(in.id, {2}, FlagMode::kAdd, kSeen, {}).is_ok());
  ASSERT_TRUE(store().store_flags(in.id, {3, 4}, FlagMode::kAdd, kDeleted, {}).is_ok());
  auto ex = store().expunge(in.id, std::vector<uint32_t>{4});
  ASSERT_TRUE(ex.is_ok());
  ASSERT_EQ(ex->size(), 1u);
  EXPECT_EQ((*ex)[0].uid, 4u);
  auto ch = store().changed_since(in.id, mark);
  ASSERT_TRUE(ch.is_ok());
  ASSERT_EQ(ch->size(), 2u);
  EXPECT_EQ((*ch)[0].uid, 2u);
  EXPECT_EQ((*ch)[1].uid, 3u);
  auto v = store().vanished_since(in.id, mark);
  ASSERT_TRUE(v.is_ok());
  ASSERT_EQ(v->size(), 1u);
  EXPECT_EQ((*v)[0].uid, 4u);
  EXPECT_EQ((*v)[0].modseq, box(alice, "INBOX").highest_modseq);
  EXPECT_TRUE(store().vanished_since(in.id, (*v)[0].modseq)->empty());
  EXPECT_EQ(store().changed_since(999999, 0).status().code(), Code::kNotFound);
  EXPECT_EQ(store().vanished_since(999999, 0).status().code(), Code::kNotFound);
  expect_consistent();
}

TEST_F(Messages, ExpungeOnlyDeleted) {
  for (int i = 0; i < 5; i++) deliver_one(alice, "m" + std::to_string(i));
  Mailbox in = box(alice, "INBOX");
  uint64_t used = store().get_user(alice)->used_bytes;
  ASSERT_TRUE(store().store_flags(in.id, {1, 3, 5}, FlagMode::kAdd, kDeleted, {}).is_ok());
  // UID EXPUNGE 1:3 leaves 5 (RFC 4315 §2.1).
  auto e = store().expunge(in.id, std::vector<uint32_t>{1, 2, 3});
  ASSERT_TRUE(e.is_ok());
  ASSERT_EQ(e->size(), 2u);
  EXPECT_EQ((*e)[0].uid, 1u);
  EXPECT_EQ((*e)[1].uid, 3u);
  EXPECT_LT((*e)[0].modseq, (*e)[1].modseq);
  auto rest = store().expunge(in.id);
  ASSERT_TRUE(rest.is_ok());
  ASSERT_EQ(rest->size(), 1u);
  EXPECT_EQ((*rest)[0].uid, 5u);
  in = box(alice, "INBOX");
  EXPECT_EQ(in.messages, 2u);
  EXPECT_EQ(in.deleted, 0u);
  EXPECT_EQ(store().get_message(in.id, 1).status().code(), Code::kNotFound);
  EXPECT_TRUE(store().get_message(in.id, 2).is_ok());
  EXPECT_LT(store().get_user(alice)->used_bytes, used);
  EXPECT_TRUE(store().expunge(in.id)->empty());
  expect_consistent();
}

TEST_F(Messages, CopyAndMove) {
  deliver_one(alice, "one");
  deliver_one(alice, "two", "INBOX", kSeen);
  deliver_one(alice, "three");
  Mailbox in = box(alice, "INBOX");
  Mailbox trash = box(alice, "Trash");
  uint64_t used = store().get_user(alice)->used_bytes;
  auto c = store().copy_messages(alice, in.id, {3, 1, 42}, trash.id);
  ASSERT_TRUE(c.is_ok()) << err(c);
  EXPECT_EQ(c->dest_uidvalidity, trash.uidvalidity);
  EXPECT_EQ(c->source_uids, (std::vector<uint32_t>{1, 3}));
  EXPECT_EQ(c->dest_uids, (std::vector<uint32_t>{1, 2}));
  EXPECT_GT(store().get_user(alice)->used_bytes, used);
  EXPECT_EQ(box(alice, "INBOX").messages, 3u);
  EXPECT_NE(store().read_message(alice, trash.id, 2)->find("three"), std::string::npos);

  auto m = store().move_messages(alice, in.id, {2}, trash.id);
  ASSERT_TRUE(m.is_ok()) << err(m);
  EXPECT_EQ(m->dest_uids, std::vector<uint32_t>{3});
  EXPECT_EQ(store().get_message(in.id, 2).status().code(), Code::kNotFound);
  auto moved = store().get_message(trash.id, 3);
  ASSERT_TRUE(moved.is_ok());
  EXPECT_EQ(moved->flags, uint32_t(kSeen));
  auto v = store().vanished_since(in.id, in.highest_modseq);
  ASSERT_TRUE(v.is_ok());
  EXPECT_EQ(v->size(), 1u);
  EXPECT_EQ(box(alice, "Trash").messages, 3u);
  EXPECT_EQ(box(alice, "Trash").unseen, 2u);
  // Another user's mailbox is neither source nor destination.
  EXPECT_EQ(store().copy_messages(bob, in.id, {1}, box(bob, "INBOX").id).status().code(), Code::kNotFound);
  EXPECT_EQ(store().move_messages(alice, in.id, {1}, box(bob, "INBOX").id).status().code(), Code::kNotFound);
  expect_consistent();
}

TEST_F(Messages, QuotaOnAppendCopyAndDeliver) {
  std::string raw = raw_message("q", std::string(1000, 'q'));
  ASSERT_TRUE(store().set_quota(alice, 2 * raw.size() + 10).is_ok());
  Mailbox in = box(alice, "INBOX");
  ASSERT_TRUE(store().append(alice, in.id, raw, {}, 0, {}, 0).is_ok());
  ASSERT_TRUE(store().append(alice, in.id, raw, {}, 0, {}, 0).is_ok());
  EXPECT_EQ(store().append(alice, in.id, raw, {}, 0, {}, 0).status().code(), Code::kFull);
  EXPECT_EQ(store().copy_messages(alice, in.id, {1}, box(alice, "Trash").id).status().code(), Code::kFull);
  EXPECT_EQ(store().deliver({testing::incoming("q", std::string(1000, 'q'), {testing::to(alice)})}).status().code(),
            Code::kFull);
  // A move does not change the total: allowed at the limit.
  EXPECT_TRUE(store().move_messages(alice, in.id, {1}, box(alice, "Trash").id).is_ok());
  EXPECT_EQ(store().get_user(alice)->used_bytes, 2 * raw.size());
  // Expunging makes room.
  Mailbox trash = box(alice, "Trash");
  ASSERT_TRUE(store().store_flags(trash.id, {1}, FlagMode::kAdd, kDeleted, {}).is_ok());
  ASSERT_TRUE(store().expunge(trash.id).is_ok());
  EXPECT_TRUE(store().append(alice, in.id, raw, {}, 0, {}, 0).is_ok());
  expect_consistent();
}

TEST_F(Messages, UidsNeverReusedAcrossRestartExpungeAndDelete) {
  deliver_one(alice, "1");
  deliver_one(alice, "2");
  Mailbox in = box(alice, "INBOX");
  ASSERT_TRUE(store().store_flags(in.id, {2}, FlagMode::kAdd, kDeleted, {}).is_ok());
  ASSERT_TRUE(store().expunge(in.id).is_ok());
  ts.close();
  ts.open();
  auto d = deliver_one(alice, "3");
  EXPECT_EQ(d.uid, 3u);  // 2 was expunged, never handed out again
  Mailbox after = box(alice, "INBOX");
  EXPECT_EQ(after.uidvalidity, in.uidvalidity);
  EXPECT_EQ(after.uidnext, 4u);
  EXPECT_GT(after.highest_modseq, in.highest_modseq);
  // Delete + recreate: a new UIDVALIDITY, so the restarted UIDs are different names.
  ASSERT_TRUE(store().create_mailbox(alice, "Box").is_ok());
  deliver_one(alice, "x", "Box");
  Mailbox b1 = box(alice, "Box");
  ASSERT_TRUE(store().delete_mailbox(alice, "Box").is_ok());
  ts.close();
  ts.open();
  auto b2 = store().create_mailbox(alice, "Box");
  ASSERT_TRUE(b2.is_ok());
  EXPECT_GT(b2->uidvalidity, b1.uidvalidity);
  EXPECT_NE(b2->id, b1.id);
  expect_consistent();
}

TEST_F(Messages, ModseqGrowsWithEveryChange) {
  Mailbox in = box(alice, "INBOX");
  uint64_t last = in.highest_modseq;
  auto step = [&](const char* what) {
    uint64_t now = box(alice, "INBOX").highest_modseq;
    EXPECT_GT(now, last) << what;
    last = now;
  };
  deliver_one(alice, "a");
  step("deliver");
  ASSERT_TRUE(store().append(alice, in.id, "x", {}, 0, {}, 0).is_ok());
  step("append");
  ASSERT_TRUE(store().store_flags(in.id, {1}, FlagMode::kAdd, kSeen, {}).is_ok());
  step("flags");
  ASSERT_TRUE(store().store_flags(in.id, {1}, FlagMode::kAdd, 0, {"kw"}).is_ok());
  step("keyword");
  ASSERT_TRUE(store().copy_messages(alice, box(alice, "Trash").id, {}, in.id).is_ok());
  ASSERT_TRUE(store().copy_messages(alice, in.id, {1}, in.id).is_ok());
  step("copy into");
  ASSERT_TRUE(store().store_flags(in.id, {2}, FlagMode::kAdd, kDeleted, {}).is_ok());
  step("delete flag");
  ASSERT_TRUE(store().expunge(in.id).is_ok());
  step("expunge");
  ASSERT_TRUE(store().move_messages(alice, in.id, {1}, box(alice, "Trash").id).is_ok());
  step("move out");
  ts.close();
  ts.open();
  EXPECT_EQ(box(alice, "INBOX").highest_modseq, last);
  deliver_one(alice, "after restart");
  step("deliver after restart");
}

TEST_F(Messages, SetReported) {
  deliver_one(alice, "spam?");
  Mailbox in = box(alice, "INBOX");
  uint64_t ms = in.highest_modseq;
  ASSERT_TRUE(store().set_reported(in.id, 1, Reported::kSpam).is_ok());
  EXPECT_EQ(store().get_message(in.id, 1)->reported, Reported::kSpam);
  EXPECT_EQ(box(alice, "INBOX").highest_modseq, ms);  // not an IMAP-visible change
  ASSERT_TRUE(store().set_reported(in.id, 1, Reported::kHam).is_ok());
  EXPECT_EQ(store().get_message(in.id, 1)->reported, Reported::kHam);
  EXPECT_EQ(store().set_reported(in.id, 9, Reported::kHam).code(), Code::kNotFound);
}

}  // namespace
}  // namespace tsubame::store
