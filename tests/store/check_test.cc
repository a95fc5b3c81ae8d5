// tests/store/check_test.cc: check() finds nothing in a healthy store and reports each kind
// of damage: a wrong refcount, a missing blob, wrong mailbox counters, a lost MODSEQ index
// entry, UIDNEXT not above a UID, wrong used bytes, a malformed record, a stale index entry.
#include <gtest/gtest.h>

#include <functional>

#include "store/env.h"
#include "store/mail_records.h"
#include "tests/store/mail_fixture.h"

namespace tsubame::store {
namespace {

using testing::err;
using testing::MailTest;

class Check : public MailTest {
 protected:
  void SetUp() override {
    MailTest::SetUp();
    auto r = store().deliver({testing::incoming("a", "aaa", {testing::to(alice), testing::to(bob)}),
                              testing::incoming("b", "bbb", {testing::to(alice)})});
    ASSERT_TRUE(r.is_ok()) << err(r);
    blob = r->at(0).blob_id;
    inbox = r->at(0).copies[0].mailbox_id;
    uid = r->at(0).copies[0].uid;
    expect_consistent();
  }
  // Applies a raw change, then expects check() to report a problem containing `what`.
  void damage(const std::function<Status(Txn&)>& fn, const std::string& what) {
    Status s = store().env().write(fn);
    ASSERT_TRUE(s.is_ok()) << s.to_string();
    auto c = store().check();
    ASSERT_TRUE(c.is_ok()) << err(c);
    bool found = false;
    for (const auto& p : c->problems) found |= p.find(what) != std::string::npos;
    EXPECT_TRUE(found) << "no problem mentioning '" << what << "' among " << c->problems.size();
  }
  uint64_t blob = 0, inbox = 0;
  uint32_t uid = 0;
};

TEST_F(Check, HealthyStoreCounts) {
  auto c = store().check();
  ASSERT_TRUE(c.is_ok());
  EXPECT_EQ(c->domains, 1u);
  EXPECT_EQ(c->users, 3u);
  EXPECT_EQ(c->mailboxes, 15u);
  EXPECT_EQ(c->messages, 3u);
  EXPECT_EQ(c->blobs, 2u);
  EXPECT_TRUE(c->problems.empty());
}

TEST_F(Check, WrongRefcount) {
  damage([&](Txn& t) {
    rec::BlobHeader h{5, domain.id, 10};
    return t.put(Db::kBlobs, be64(blob), rec::encode(h));
  }, "refcount");
}

TEST_F(Check, MissingBlob) {
  damage([&](Txn& t) {
    TSUBAME_TRY(t.del(Db::kBlobs, be64(blob)));
    return t.del(Db::kBlobs, rec::blob_content_key(blob));
  }, "missing");
}

TEST_F(Check, WrongCounters) {
  damage([&](Txn& t) -> Status {
    auto v = t.get_copy(Db::kMailboxes, be64(inbox));
    if (!v.is_ok() || !*v) return Status::internal("no mailbox");
    auto row = rec::decode_mailbox(**v);
    if (!row.is_ok()) return row.status();
    row->unseen += 1;
    return t.put(Db::kMailboxes, be64(inbox), rec::encode(*row));
  }, "counters");
}

TEST_F(Check, UidnextNotAboveUids) {
  damage([&](Txn& t) -> Status {
    auto v = t.get_copy(Db::kMailboxes, be64(inbox));
    if (!v.is_ok() || !*v) return Status::internal("no mailbox");
    auto row = rec::decode_mailbox(**v);
    if (!row.is_ok()) return row.status();
    row->uidnext = 1;
    return t.put(Db::kMailboxes, be64(inbox), rec::encode(*row));
  }, "UIDNEXT");
}

TEST_F(Check, LostModseqEntry) {
  damage([&](Txn& t) -> Status {
    auto m = t.get_copy(Db::kMessages, rec::key64_32(inbox, uid));
    if (!m.is_ok() || !*m) return Status::internal("no message");
    auto msg = rec::decode_message(rec::key64_32(inbox, uid), **m);
    if (!msg.is_ok()) return msg.status();
    return t.del(Db::kModseq, rec::key64_64(inbox, msg->modseq));
  }, "modseq index");
}

TEST_F(Check, WrongUsedBytes) {
  damage([&](Txn& t) -> Status {
    auto v = t.get_copy(Db::kUsers, be64(alice));
    if (!v.is_ok() || !*v) return Status::internal("no user");
    auto row = rec::decode_user(**v);
    if (!row.is_ok()) return row.status();
    row->used_bytes = 1;
    return t.put(Db::kUsers, be64(alice), rec::encode(*row));
  }, "used_bytes");
}

TEST_F(Check, MalformedRecord) {
  damage([&](Txn& t) { return t.put(Db::kMessages, rec::key64_32(inbox, uid), "\x01garbage"); }, "malformed");
}

TEST_F(Check, StaleIndexEntry) {
  damage([&](Txn& t) { return t.put(Db::kMailboxIndex, be64(alice) + std::string(16, 'x'), be64(987654)); },
         "mailbox_index");
}

}  // namespace
}  // namespace tsubame::store
