// tests/store/mailboxes_test.cc: mailboxes: create (with superior levels), find (INBOX in any
// case), ownership, rename (children; INBOX semantics of RFC 9051 §6.3.6), delete (INBOX
// refused, messages freed, new UIDVALIDITY when recreated), subscribe, and the name limits.
#include <gtest/gtest.h>

#include "tests/store/mail_fixture.h"

namespace tsubame::store {
namespace {

using testing::err;
using testing::incoming;
using testing::MailTest;
using testing::to;

using Mailboxes = MailTest;

std::vector<std::string> names(Store& s, uint64_t user) {
  std::vector<std::string> out;
  auto l = s.list_mailboxes(user);
  EXPECT_TRUE(l.is_ok()) << err(l);
  if (l.is_ok())
    for (const auto& m : *l) out.push_back(m.name);
  return out;
}

TEST_F(Mailboxes, CreateMakesSuperiorLevels) {
  auto m = store().create_mailbox(alice, "Work/Projects/2026", SpecialUse::kArchive);
  ASSERT_TRUE(m.is_ok()) << err(m);
  EXPECT_EQ(m->name, "Work/Projects/2026");
  EXPECT_EQ(m->special, SpecialUse::kArchive);
  EXPECT_FALSE(m->subscribed);
  EXPECT_EQ(m->uidnext, 1u);
  EXPECT_EQ(m->highest_modseq, 1u);
  EXPECT_EQ(names(store(), alice),
            (std::vector<std::string>{"INBOX", "Drafts", "Junk", "Sent", "Trash", "Work", "Work/Projects",
                                      "Work/Projects/2026"}));
  EXPECT_EQ(store().create_mailbox(alice, "Work").status().code(), Code::kExists);
  // Other users are not affected.
  EXPECT_EQ(names(store(), bob).size(), 5u);
  EXPECT_EQ(store().find_mailbox(bob, "Work").status().code(), Code::kNotFound);
  EXPECT_EQ(store().create_mailbox(9999, "X").status().code(), Code::kNotFound);
}

TEST_F(Mailboxes, InboxIsCaseInsensitiveOtherNamesAreNot) {
  auto a = store().find_mailbox(alice, "inbox");
  auto b = store().find_mailbox(alice, "InBoX");
  ASSERT_TRUE(a.is_ok() && b.is_ok());
  EXPECT_EQ(a->id, b->id);
  EXPECT_EQ(a->name, "INBOX");
  EXPECT_EQ(store().create_mailbox(alice, "Inbox").status().code(), Code::kExists);
  auto child = store().create_mailbox(alice, "inbox/Lists");
  ASSERT_TRUE(child.is_ok());
  EXPECT_EQ(child->name, "INBOX/Lists");
  ASSERT_TRUE(store().create_mailbox(alice, "work").is_ok());
  ASSERT_TRUE(store().create_mailbox(alice, "Work").is_ok());
  EXPECT_NE(box(alice, "work").id, box(alice, "Work").id);
}

TEST_F(Mailboxes, GetChecksOwner) {
  Mailbox inbox = box(alice, "INBOX");
  auto g = store().get_mailbox(alice, inbox.id);
  ASSERT_TRUE(g.is_ok());
  EXPECT_EQ(g->name, "INBOX");
  EXPECT_EQ(store().get_mailbox(bob, inbox.id).status().code(), Code::kNotFound);
  EXPECT_EQ(store().list_mailboxes(9999).status().code(), Code::kNotFound);
}

TEST_F(Mailboxes, IdsAndUidvalidityUnique) {
  std::set<uint64_t> ids;
  std::set<uint32_t> validity;
  for (uint64_t u : {alice, bob, carol}) {
    auto list = store().list_mailboxes(u);
    ASSERT_TRUE(list.is_ok());
    for (const auto& m : *list) {
      ids.insert(m.id);
      validity.insert(m.uidvalidity);
    }
  }
  EXPECT_EQ(ids.size(), 15u);
  EXPECT_EQ(validity.size(), 15u);
}

TEST_F(Mailboxes, RenameMovesChildrenAndKeepsUids) {
  ASSERT_TRUE(store().create_mailbox(alice, "A/B/C").is_ok());
  Mailbox a = box(alice, "A");
  auto d = deliver_one(alice, "in-a-b", "A/B");
  Mailbox ab = box(alice, "A/B");
  ASSERT_TRUE(store().rename_mailbox(alice, "A", "Z/Y").is_ok());
  EXPECT_EQ(names(store(), alice),
            (std::vector<std::string>{"INBOX", "Drafts", "Junk", "Sent", "Trash", "Z", "Z/Y", "Z/Y/B", "Z/Y/B/C"}));
  Mailbox zyb = box(alice, "Z/Y/B");
  EXPECT_EQ(zyb.id, ab.id);
  EXPECT_EQ(zyb.uidvalidity, ab.uidvalidity);
  EXPECT_EQ(box(alice, "Z/Y").id, a.id);
  auto r = store().read_message(alice, zyb.id, d.uid);
  ASSERT_TRUE(r.is_ok()) << err(r);
  EXPECT_NE(r->find("in-a-b"), std::string::npos);
  EXPECT_EQ(store().find_mailbox(alice, "A").status().code(), Code::kNotFound);
  // The old name can be created again and gets a new UIDVALIDITY.
  auto again = store().create_mailbox(alice, "A/B");
  ASSERT_TRUE(again.is_ok());
  EXPECT_NE(again->uidvalidity, ab.uidvalidity);
  expect_consistent();
}

TEST_F(Mailboxes, RenameErrors) {
  ASSERT_TRUE(store().create_mailbox(alice, "A").is_ok());
  EXPECT_EQ(store().rename_mailbox(alice, "Nope", "X").code(), Code::kNotFound);
  EXPECT_EQ(store().rename_mailbox(alice, "A", "Sent").code(), Code::kExists);
  EXPECT_EQ(store().rename_mailbox(alice, "A", "inbox").code(), Code::kExists);
  EXPECT_EQ(store().rename_mailbox(alice, "A", "A/Sub").code(), Code::kInvalidArgument);
  EXPECT_EQ(store().rename_mailbox(bob, "A", "B").code(), Code::kNotFound);
  EXPECT_TRUE(box(alice, "A").id != 0);
}

TEST_F(Mailboxes, RenameInboxMovesMessagesAndLeavesItEmpty) {
  ASSERT_TRUE(store().create_mailbox(alice, "INBOX/Child").is_ok());
  auto d1 = deliver_one(alice, "first");
  auto d2 = deliver_one(alice, "second", "INBOX", kSeen);
  Mailbox inbox = box(alice, "INBOX");
  ASSERT_TRUE(store().rename_mailbox(alice, "INBOX", "Old/Inbox").is_ok());
  Mailbox after = box(alice, "INBOX");
  EXPECT_EQ(after.id, inbox.id);
  EXPECT_EQ(after.uidvalidity, inbox.uidvalidity);
  EXPECT_EQ(after.messages, 0u);
  EXPECT_EQ(after.uidnext, inbox.uidnext);  // UIDs are not reused
  auto vanished = store().vanished_since(inbox.id, inbox.highest_modseq);
  ASSERT_TRUE(vanished.is_ok());
  EXPECT_EQ(vanished->size(), 2u);
  Mailbox old = box(alice, "Old/Inbox");
  EXPECT_EQ(old.messages, 2u);
  EXPECT_EQ(old.unseen, 1u);
  auto msgs = store().list_messages(old.id);
  ASSERT_TRUE(msgs.is_ok());
  ASSERT_EQ(msgs->size(), 2u);
  EXPECT_NE(store().read_message(alice, old.id, (*msgs)[0].uid)->find("first"), std::string::npos);
  EXPECT_NE(store().read_message(alice, old.id, (*msgs)[1].uid)->find("second"), std::string::npos);
  // INBOX's children stay where they are.
  EXPECT_TRUE(store().find_mailbox(alice, "INBOX/Child").is_ok());
  EXPECT_EQ(store().get_user(alice)->used_bytes, old.size);
  // New mail goes to the (same) INBOX with a fresh UID.
  auto d3 = deliver_one(alice, "third");
  EXPECT_GT(d3.uid, d2.uid);
  EXPECT_GT(d2.uid, d1.uid);
  expect_consistent();
}

TEST_F(Mailboxes, DeleteFreesMessagesAndRecreateGetsNewUidvalidity) {
  ASSERT_TRUE(store().create_mailbox(alice, "Tmp/Sub").is_ok());
  Mailbox tmp = box(alice, "Tmp");
  deliver_one(alice, "one", "Tmp");
  deliver_one(alice, "two", "Tmp");
  EXPECT_GT(store().get_user(alice)->used_bytes, 0u);
  ASSERT_TRUE(store().delete_mailbox(alice, "Tmp").is_ok());
  EXPECT_EQ(store().find_mailbox(alice, "Tmp").status().code(), Code::kNotFound);
  EXPECT_TRUE(store().find_mailbox(alice, "Tmp/Sub").is_ok());  // inferiors stay
  EXPECT_EQ(store().get_user(alice)->used_bytes, 0u);
  EXPECT_EQ(store().list_messages(tmp.id).status().code(), Code::kNotFound);
  auto c = store().check();
  ASSERT_TRUE(c.is_ok());
  EXPECT_EQ(c->blobs, 0u);
  auto again = store().create_mailbox(alice, "Tmp");
  ASSERT_TRUE(again.is_ok());
  EXPECT_NE(again->id, tmp.id);
  EXPECT_GT(again->uidvalidity, tmp.uidvalidity);
  expect_consistent();
}

TEST_F(Mailboxes, DeleteLargeMailboxKeepsNeighbours) {
  // Enough entries that the mailbox's modseq/expunged ranges span many LMDB pages.
  ASSERT_TRUE(store().create_mailbox(alice, "Big").is_ok());
  ASSERT_TRUE(store().create_mailbox(alice, "After").is_ok());
  Mailbox before = box(alice, "Trash"), big = box(alice, "Big"), after = box(alice, "After");
  for (const std::string name : {"Trash", "After", "Big", "Big"}) {
    std::vector<IncomingMessage> batch;
    for (int i = 0; i < 1000; i++) batch.push_back(incoming("m", "x", {to(alice, name)}));
    ASSERT_TRUE(store().deliver(batch).is_ok());
  }
  for (const Mailbox& m : {before, big, after}) {
    auto all = store().list_messages(m.id);
    ASSERT_TRUE(all.is_ok());
    std::vector<uint32_t> uids;
    for (const auto& msg : *all) uids.push_back(msg.uid);
    std::vector<uint32_t> some(uids.begin(), uids.begin() + uids.size() / 2);
    ASSERT_TRUE(store().store_flags(m.id, some, FlagMode::kAdd, kDeleted, {}).is_ok());
    ASSERT_EQ(store().expunge(m.id)->size(), some.size());
  }
  ASSERT_TRUE(store().delete_mailbox(alice, "Big").is_ok());
  EXPECT_EQ(store().vanished_since(before.id, 0)->size(), 500u);
  EXPECT_EQ(store().vanished_since(after.id, 0)->size(), 500u);
  EXPECT_EQ(store().changed_since(before.id, 0)->size(), 500u);
  EXPECT_EQ(store().changed_since(after.id, 0)->size(), 500u);
  EXPECT_EQ(store().vanished_since(big.id, 0).status().code(), Code::kNotFound);
  auto c = store().check();
  ASSERT_TRUE(c.is_ok());
  EXPECT_EQ(c->messages, 1000u);
  EXPECT_EQ(c->blobs, 1000u);
  for (const auto& p : c->problems) ADD_FAILURE() << p;
}

TEST_F(Mailboxes, DeleteInboxRefused) {
  EXPECT_EQ(store().delete_mailbox(alice, "inbox").code(), Code::kPermissionDenied);
  EXPECT_EQ(store().delete_mailbox(alice, "Nope").code(), Code::kNotFound);
  EXPECT_TRUE(store().find_mailbox(alice, "INBOX").is_ok());
}

TEST_F(Mailboxes, Subscribe) {
  ASSERT_TRUE(store().create_mailbox(alice, "Lists").is_ok());
  EXPECT_FALSE(box(alice, "Lists").subscribed);
  ASSERT_TRUE(store().set_subscribed(alice, "Lists", true).is_ok());
  EXPECT_TRUE(box(alice, "Lists").subscribed);
  ASSERT_TRUE(store().set_subscribed(alice, "Lists", false).is_ok());
  EXPECT_FALSE(box(alice, "Lists").subscribed);
  // UNSUBSCRIBE of a name that is neither a mailbox nor subscribed.
  EXPECT_EQ(store().set_subscribed(alice, "Nope", false).code(), Code::kNotFound);
}

// RFC 9051 §6.3.7: names without a mailbox can be subscribed, and deleting a mailbox does not
// remove its subscription.
TEST_F(Mailboxes, SubscriptionsOutliveAndPrecedeTheirMailboxes) {
  ASSERT_TRUE(store().set_subscribed(alice, "Later/Box", true).is_ok());
  ASSERT_TRUE(store().set_subscribed(alice, "Later/Box", true).is_ok());  // idempotent
  EXPECT_EQ(*store().orphan_subscriptions(alice), std::vector<std::string>{"Later/Box"});
  EXPECT_TRUE(store().orphan_subscriptions(bob)->empty());  // per user
  // Creating it makes it a subscribed mailbox (its parent is not subscribed).
  ASSERT_TRUE(store().create_mailbox(alice, "Later/Box").is_ok());
  EXPECT_TRUE(box(alice, "Later/Box").subscribed);
  EXPECT_FALSE(box(alice, "Later").subscribed);
  EXPECT_TRUE(store().orphan_subscriptions(alice)->empty());
  // Deleting it keeps the name subscribed; deleting an unsubscribed one leaves nothing.
  ASSERT_TRUE(store().delete_mailbox(alice, "Later/Box").is_ok());
  ASSERT_TRUE(store().delete_mailbox(alice, "Later").is_ok());
  EXPECT_EQ(*store().orphan_subscriptions(alice), std::vector<std::string>{"Later/Box"});
  // A rename onto a subscribed name subscribes the renamed mailbox.
  ASSERT_TRUE(store().create_mailbox(alice, "Elsewhere").is_ok());
  ASSERT_TRUE(store().rename_mailbox(alice, "Elsewhere", "Later/Box").is_ok());
  EXPECT_TRUE(box(alice, "Later/Box").subscribed);
  EXPECT_TRUE(store().orphan_subscriptions(alice)->empty());
  // UNSUBSCRIBE of a name without a mailbox removes it.
  ASSERT_TRUE(store().set_subscribed(alice, "Gone", true).is_ok());
  ASSERT_TRUE(store().set_subscribed(alice, "Gone", false).is_ok());
  EXPECT_TRUE(store().orphan_subscriptions(alice)->empty());
  EXPECT_EQ(store().set_subscribed(alice, "Gone", false).code(), Code::kNotFound);
  EXPECT_EQ(store().set_subscribed(alice, "bad*name", true).code(), Code::kInvalidArgument);
  EXPECT_TRUE(store().check()->problems.empty());
}

TEST_F(Mailboxes, NameLimits) {
  for (const char* bad : {"", "/a", "a/", "a//b", "a*", "a%b", "a\tb", "\xff\xfe"})
    EXPECT_EQ(store().create_mailbox(alice, bad).status().code(), Code::kInvalidArgument) << bad;
  EXPECT_TRUE(store().create_mailbox(alice, "Entwürfe ✓").is_ok());
  std::string longest(kMaxMailboxNameBytes, 'n');
  EXPECT_TRUE(store().create_mailbox(alice, longest).is_ok());
  EXPECT_EQ(store().create_mailbox(alice, longest + "n").status().code(), Code::kInvalidArgument);
  std::string deep = "d";
  for (size_t i = 1; i < kMaxMailboxDepth; i++) deep += "/d";
  EXPECT_TRUE(store().create_mailbox(alice, deep).is_ok()) << err(store().create_mailbox(alice, deep));
  EXPECT_EQ(store().create_mailbox(alice, deep + "/d").status().code(), Code::kInvalidArgument);
  expect_consistent();
}

TEST_F(Mailboxes, MailboxCountLimitIsFull) {
  // One delivery creates the mailboxes (one transaction, so the test stays fast).
  IncomingMessage m = incoming("many", "body", {});
  for (size_t i = 5; i < kMaxMailboxesPerUser; i++) m.targets.push_back(to(bob, "F" + std::to_string(i)));
  auto r = store().deliver({m});
  ASSERT_TRUE(r.is_ok()) << err(r);
  EXPECT_EQ(store().list_mailboxes(bob)->size(), kMaxMailboxesPerUser);
  EXPECT_EQ(store().create_mailbox(bob, "OneMore").status().code(), Code::kFull);
  EXPECT_EQ(store().deliver({incoming("x", "y", {to(bob, "OneMore")})}).status().code(), Code::kFull);
  expect_consistent();
}

}  // namespace
}  // namespace tsubame::store
