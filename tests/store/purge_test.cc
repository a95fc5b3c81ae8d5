// tests/store/purge_test.cc: user deletion and purge: the user is disabled at once; the purge
// removes mailboxes, messages and (by refcount) blobs, login history, lockout, the user's trace
// records and the user record; a blob shared with another user survives; check() stays clean;
// due-time handling; the address can be reused; everything is audit-logged.
#include "store/purge.h"

#include <gtest/gtest.h>

#include "store/accounts.h"
#include "store/audit.h"
#include "store/trace.h"
#include "tests/store/mail_fixture.h"

namespace tsubame::store {
namespace {

using testing::incoming;
using testing::TempStore;
using testing::to;

size_t audit_count(Store& s, const std::string& action) {
  AuditFilter f;
  f.action_prefix = action;
  auto l = AuditLog(s).list(f);
  return l.is_ok() ? l->size() : 0;
}

struct Fixture {
  TempStore t;
  User ann, bob;
  Fixture() {
    EXPECT_TRUE(t->add_domain("example.com").is_ok());
    ann = *t->add_user("ann@example.com", "$argon2id$x");
    bob = *t->add_user("bob@example.com", "$argon2id$x");
  }
};

TEST(Purge, ScheduleDisablesAtOnce) {
  Fixture f;
  ASSERT_TRUE(schedule_user_purge(*f.t, f.ann.id, 1'000, "cli:t").is_ok());
  EXPECT_TRUE(f.t->get_user(f.ann.id)->disabled);
  auto l = list_purges(*f.t);
  ASSERT_TRUE(l.is_ok());
  ASSERT_EQ(l->size(), 1u);
  EXPECT_EQ((*l)[0].user_id, f.ann.id);
  EXPECT_EQ((*l)[0].due_ms, 1'000);
  EXPECT_EQ((*l)[0].requested_by, "cli:t");
  EXPECT_EQ(schedule_user_purge(*f.t, f.ann.id, 2'000, "cli:t").code(), Code::kExists);
  EXPECT_EQ(schedule_user_purge(*f.t, 999, 2'000, "cli:t").code(), Code::kNotFound);
  EXPECT_EQ(audit_count(*f.t, "user.delete"), 1u);
  ASSERT_TRUE(cancel_user_purge(*f.t, f.ann.id, "cli:t").is_ok());
  EXPECT_TRUE(list_purges(*f.t)->empty());
  EXPECT_TRUE(f.t->get_user(f.ann.id)->disabled);  // stays disabled
  EXPECT_EQ(cancel_user_purge(*f.t, f.ann.id, "cli:t").code(), Code::kNotFound);
}

TEST(Purge, OnlyDuePurgesRun) {
  Fixture f;
  ASSERT_TRUE(schedule_user_purge(*f.t, f.ann.id, 5'000, "cli:t").is_ok());
  auto none = run_due_purges(*f.t, 4'999, "cli:t");
  ASSERT_TRUE(none.is_ok());
  EXPECT_TRUE(none->empty());
  EXPECT_TRUE(f.t->get_user(f.ann.id).is_ok());
  auto done = run_due_purges(*f.t, 5'000, "cli:t");
  ASSERT_TRUE(done.is_ok());
  ASSERT_EQ(done->size(), 1u);
  EXPECT_EQ((*done)[0].address, "ann@example.com");
  EXPECT_EQ(f.t->get_user(f.ann.id).status().code(), Code::kNotFound);
  EXPECT_TRUE(list_purges(*f.t)->empty());
}

TEST(Purge, RemovesMailRecordsAndKeepsSharedBlobs) {
  Fixture f;
  Store& s = *f.t;
  // One message to both users (one blob, two references), two to ann alone, one in a folder.
  ASSERT_TRUE(s.deliver({incoming("shared", "for both", {to(f.ann.id), to(f.bob.id)})}).is_ok());
  ASSERT_TRUE(s.deliver({incoming("mine1", "ann only", {to(f.ann.id)}),
                         incoming("mine2", "ann junk", {to(f.ann.id, "Junk")})}).is_ok());
  ASSERT_TRUE(s.create_mailbox(f.ann.id, "Projects").is_ok());
  ASSERT_TRUE(s.create_mailbox(f.ann.id, "Projects/Old").is_ok());
  ASSERT_TRUE(s.deliver({incoming("deep", "in a subfolder", {to(f.ann.id, "Projects/Old")})}).is_ok());
  LoginEvent ev;
  ev.login = "ann@example.com";
  ev.user_id = f.ann.id;
  ev.source_ip = "192.0.2.1";
  ev.result = LoginResult::kBadPassword;
  ASSERT_TRUE(Accounts(s).record_login(ev).is_ok());
  TraceRecord tr;
  tr.queue_id = "QANN";
  tr.sender = "x@remote.example";
  tr.recipients = {"ann@example.com"};
  tr.status = TraceStatus::kDelivered;
  ASSERT_TRUE(Trace(s).add(tr).is_ok());
  tr.queue_id = "QBOB";
  tr.recipients = {"bob@example.com"};
  ASSERT_TRUE(Trace(s).add(tr).is_ok());
  auto before = s.check();
  ASSERT_TRUE(before.is_ok());
  EXPECT_EQ(before->blobs, 4u);
  EXPECT_TRUE(before->problems.empty());

  auto out = purge_user(s, f.ann.id, "cli:t");
  ASSERT_TRUE(out.is_ok()) << out.status().to_string();
  EXPECT_EQ(out->messages, 4u);
  EXPECT_EQ(out->logins, 1u);
  EXPECT_EQ(out->trace_records, 1u);

  auto after = s.check();
  ASSERT_TRUE(after.is_ok());
  for (const auto& p : after->problems) ADD_FAILURE() << p;
  EXPECT_EQ(after->blobs, 1u);  // the shared one, still referenced by bob
  EXPECT_EQ(after->messages, 1u);
  EXPECT_EQ(after->users, 1u);
  auto inbox = s.find_mailbox(f.bob.id, "INBOX");
  ASSERT_TRUE(inbox.is_ok());
  EXPECT_TRUE(s.read_message(f.bob.id, inbox->id, 1).is_ok());
  EXPECT_EQ(s.find_user("ann@example.com").status().code(), Code::kNotFound);
  EXPECT_TRUE(Accounts(s).history(f.ann.id)->empty());
  EXPECT_TRUE(Trace(s).by_queue_id("QANN")->empty());
  EXPECT_EQ(Trace(s).by_queue_id("QBOB")->size(), 1u);
  EXPECT_EQ(audit_count(s, "user.purge"), 1u);
  EXPECT_TRUE(AuditLog(s).verify()->ok);

  // The address is free again; the new user starts empty.
  auto again = s.add_user("ann@example.com", "$argon2id$y");
  ASSERT_TRUE(again.is_ok());
  EXPECT_NE(again->id, f.ann.id);
  auto boxes = s.list_mailboxes(again->id);  // a named Result: the loop reads into it
  ASSERT_TRUE(boxes.is_ok());
  for (const auto& m : *boxes) EXPECT_EQ(m.messages, 0u);

  // Purging bob frees the last blob.
  ASSERT_TRUE(purge_user(s, f.bob.id, "cli:t").is_ok());
  EXPECT_EQ(s.check()->blobs, 0u);
  EXPECT_TRUE(s.check()->problems.empty());
  EXPECT_EQ(purge_user(s, f.bob.id, "cli:t").status().code(), Code::kNotFound);
}

}  // namespace
}  // namespace tsubame::store
