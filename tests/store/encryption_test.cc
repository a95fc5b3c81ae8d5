// tests/store/encryption_test.cc: encryption at rest. The raw data.mdb holds no plaintext of
// a stored message (body, subject, sender), of personal metadata (address, password hash,
// folder name); sealed values are bound to their place (a value moved to another record does
// not open); the blob header names the key that sealed it.
#include <gtest/gtest.h>

#include <fstream>

#include "store/env.h"
#include "store/mail_records.h"
#include "tests/store/mail_fixture.h"

namespace tsubame::store {
namespace {

using testing::err;
using testing::TempStore;
using testing::test_hash;
using testing::slurp;


TEST(Encryption, NoPlaintextInTheDataFile) {
  TempStore ts;
  const std::string body = "BodyMarker-quarterly-figures-7f3a91";
  const std::string subject = "SubjectMarker-merger-plans-c0ffee";
  const std::string sender = "sendermarker.ceo@partner.example";
  const std::string address = "recipientmarker@example.com";
  const std::string folder = "FolderMarker-Lawsuit-2026";
  const std::string keyword = "KeywordMarker";
  const std::string hash = test_hash("hunter2");
  ASSERT_TRUE(ts->add_domain("example.com").is_ok());
  auto u = ts->add_user(address, hash);
  ASSERT_TRUE(u.is_ok()) << err(u);
  ASSERT_TRUE(ts->create_mailbox(u->id, folder).is_ok());
  IncomingMessage m = testing::incoming(subject, body, {testing::to(u->id, folder)}, sender);
  m.targets[0].keywords = {keyword};
  auto r = ts->deliver({m});
  ASSERT_TRUE(r.is_ok()) << err(r);
  // Readable through the API...
  auto raw = ts->read_message(u->id, r->at(0).copies[0].mailbox_id, r->at(0).copies[0].uid);
  ASSERT_TRUE(raw.is_ok());
  ASSERT_NE(raw->find(body), std::string::npos);
  ts.close();

  // ... but not in the file.
  std::string file = slurp(ts.options().data_dir + "/data.mdb");
  ASSERT_FALSE(file.empty());
  // The scan works: the domain name is stored in the clear by design.
  EXPECT_NE(file.find("example.com"), std::string::npos);
  for (const std::string& secret : {body, subject, sender, std::string("sendermarker"), std::string("partner.example"),
                                    address, std::string("recipientmarker"), hash, hash.substr(hash.rfind('$')),
                                    folder, std::string("FolderMarker")})
    EXPECT_EQ(file.find(secret), std::string::npos) << "plaintext found: " << secret;
  // Keywords are flags, documented as stored in the clear (store/README.md).
  EXPECT_NE(file.find(keyword), std::string::npos);
}

TEST(Encryption, SealedValuesAreBoundToTheirPlace) {
  TempStore ts;
  ASSERT_TRUE(ts->add_domain("example.com").is_ok());
  auto u = ts->add_user("a@example.com", "h");
  ASSERT_TRUE(u.is_ok());
  auto r = ts->deliver({testing::incoming("one", "first", {testing::to(u->id)}),
                        testing::incoming("two", "second", {testing::to(u->id)})});
  ASSERT_TRUE(r.is_ok());
  uint64_t b1 = r->at(0).blob_id, b2 = r->at(1).blob_id;
  // Swap the sealed contents of the two blobs: each now sits at the other's key.
  Status s = ts->env().write([&](Txn& t) -> Status {
    auto c1 = t.get_copy(Db::kBlobs, rec::blob_content_key(b1));
    auto c2 = t.get_copy(Db::kBlobs, rec::blob_content_key(b2));
    if (!c1.is_ok() || !c2.is_ok() || !*c1 || !*c2) return Status::internal("blob content missing");
    TSUBAME_TRY(t.put(Db::kBlobs, rec::blob_content_key(b1), **c2));
    return t.put(Db::kBlobs, rec::blob_content_key(b2), **c1);
  });
  ASSERT_TRUE(s.is_ok()) << s.to_string();
  auto read = ts->read_message(u->id, r->at(0).copies[0].mailbox_id, r->at(0).copies[0].uid);
  EXPECT_EQ(read.status().code(), Code::kCorruption);
  auto c = ts->check();
  ASSERT_TRUE(c.is_ok());
  EXPECT_GE(c->problems.size(), 2u);
}

TEST(Encryption, BlobHeaderNamesTheSealingDomain) {
  TempStore ts;
  auto d1 = ts->add_domain("one.example");
  auto d2 = ts->add_domain("two.example");
  ASSERT_TRUE(d1.is_ok() && d2.is_ok());
  auto a = ts->add_user("a@one.example", "h");
  auto b = ts->add_user("b@two.example", "h");
  ASSERT_TRUE(a.is_ok() && b.is_ok());
  // One blob for recipients in two domains: sealed with the first target's domain key, and
  // readable by both.
  auto r = ts->deliver({testing::incoming("x", "cross-domain", {testing::to(b->id), testing::to(a->id)})});
  ASSERT_TRUE(r.is_ok());
  Status s = ts->env().read([&](const Txn& t) -> Status {
    std::string_view v;
    TSUBAME_TRY(t.get(Db::kBlobs, be64(r->at(0).blob_id), &v));
    auto h = rec::decode_blob(v);
    if (!h.is_ok()) return h.status();
    EXPECT_EQ(h->key_domain, d2->id);
    EXPECT_EQ(h->refcount, 2u);
    return Status::ok();
  });
  ASSERT_TRUE(s.is_ok()) << s.to_string();
  for (const auto& c : r->at(0).copies) {
    auto raw = ts->read_message(c.user_id, c.mailbox_id, c.uid);
    ASSERT_TRUE(raw.is_ok()) << err(raw);
    EXPECT_NE(raw->find("cross-domain"), std::string::npos);
  }
}

}  // namespace
}  // namespace tsubame::store
