// tests/store/users_test.cc: users (add with default mailboxes, find, list, password, disable,
// quota) and their limits.
#include <gtest/gtest.h>

#include "tests/store/mail_fixture.h"

namespace tsubame::store {
namespace {

using testing::TempStore;
using testing::err;

class Users : public ::testing::Test {
 protected:
  void SetUp() override {
    ASSERT_TRUE(ts->add_domain("example.com").is_ok());
    ASSERT_TRUE(ts->add_domain("other.example").is_ok());
  }
  TempStore ts;
};

TEST_F(Users, AddCreatesDefaultMailboxes) {
  auto u = ts->add_user("Alice@Example.COM", "$argon2id$x", 1000);
  ASSERT_TRUE(u.is_ok()) << err(u);
  EXPECT_EQ(u->address, "Alice@example.com");
  EXPECT_EQ(u->password_hash, "$argon2id$x");
  EXPECT_EQ(u->quota_bytes, 1000u);
  EXPECT_EQ(u->used_bytes, 0u);
  EXPECT_FALSE(u->disabled);
  EXPECT_GT(u->created, 0);
  auto boxes = ts->list_mailboxes(u->id);
  ASSERT_TRUE(boxes.is_ok()) << err(boxes);
  ASSERT_EQ(boxes->size(), 5u);
  EXPECT_EQ((*boxes)[0].name, "INBOX");
  std::map<std::string, SpecialUse> got;
  for (const auto& b : *boxes) {
    got[b.name] = b.special;
    EXPECT_TRUE(b.subscribed);
    EXPECT_EQ(b.uidnext, 1u);
    EXPECT_GT(b.uidvalidity, 0u);
  }
  EXPECT_EQ(got["Sent"], SpecialUse::kSent);
  EXPECT_EQ(got["Drafts"], SpecialUse::kDrafts);
  EXPECT_EQ(got["Trash"], SpecialUse::kTrash);
  EXPECT_EQ(got["Junk"], SpecialUse::kJunk);
  EXPECT_EQ(got["INBOX"], SpecialUse::kNone);
  EXPECT_STREQ(special_use_name(SpecialUse::kJunk), "\\Junk");
  EXPECT_STREQ(special_use_name(SpecialUse::kNone), "");
}

TEST_F(Users, FindIsCaseInsensitive) {
  auto u = ts->add_user("alice@example.com", "h");
  ASSERT_TRUE(u.is_ok());
  for (const char* a : {"alice@example.com", "alice@EXAMPLE.COM", "ALICE@example.com"}) {
    auto f = ts->find_user(a);
    ASSERT_TRUE(f.is_ok()) << a << ": " << err(f);
    EXPECT_EQ(f->id, u->id);
  }
  EXPECT_EQ(ts->find_user("bob@example.com").status().code(), Code::kNotFound);
  EXPECT_EQ(ts->add_user("ALICE@example.com", "h").status().code(), Code::kExists);
  auto g = ts->get_user(u->id);
  ASSERT_TRUE(g.is_ok());
  EXPECT_EQ(g->address, "alice@example.com");
  EXPECT_EQ(ts->get_user(12345).status().code(), Code::kNotFound);
}

TEST_F(Users, UnknownDomainAndBadAddressRefused) {
  EXPECT_EQ(ts->add_user("a@nowhere.example", "h").status().code(), Code::kNotFound);
  for (const char* bad : {"", "@example.com", "a@", "noat", "a b@example.com", "a@bad_domain"})
    EXPECT_EQ(ts->add_user(bad, "h").status().code(), Code::kInvalidArgument) << bad;
}

TEST_F(Users, AddressLimits) {
  std::string local64(kMaxLocalPartBytes, 'l');
  EXPECT_TRUE(ts->add_user(local64 + "@example.com", "h").is_ok());
  EXPECT_EQ(ts->add_user(local64 + "x@example.com", "h").status().code(), Code::kInvalidArgument);
  // kMaxAddressBytes: a long (registered) domain pushes the address over.
  std::string dom = std::string(63, 'a') + "." + std::string(63, 'b') + "." + std::string(63, 'c') + "." +
                    std::string(59, 'd');  // 251 bytes
  ASSERT_TRUE(ts->add_domain(dom).is_ok());
  EXPECT_EQ(ts->add_user(std::string(10, 'x') + "@" + dom, "h").status().code(), Code::kInvalidArgument);
  EXPECT_EQ(ts->add_user("x@" + dom, std::string(kMaxPasswordHashBytes + 1, 'h')).status().code(),
            Code::kInvalidArgument);
  EXPECT_TRUE(ts->add_user("x@" + dom, std::string(kMaxPasswordHashBytes, 'h')).is_ok());
}

TEST_F(Users, ListByDomain) {
  ASSERT_TRUE(ts->add_user("b@example.com", "h").is_ok());
  ASSERT_TRUE(ts->add_user("a@example.com", "h").is_ok());
  ASSERT_TRUE(ts->add_user("c@other.example", "h").is_ok());
  auto all = ts->list_users();
  ASSERT_TRUE(all.is_ok());
  ASSERT_EQ(all->size(), 3u);
  EXPECT_EQ((*all)[0].address, "a@example.com");
  auto d = ts->find_domain("other.example");
  ASSERT_TRUE(d.is_ok());
  auto some = ts->list_users(d->id);
  ASSERT_TRUE(some.is_ok());
  ASSERT_EQ(some->size(), 1u);
  EXPECT_EQ((*some)[0].address, "c@other.example");
}

TEST_F(Users, PasswordDisabledQuotaPersist) {
  auto u = ts->add_user("alice@example.com", "old");
  ASSERT_TRUE(u.is_ok());
  ASSERT_TRUE(ts->set_password_hash(u->id, "new").is_ok());
  ASSERT_TRUE(ts->set_disabled(u->id, true).is_ok());
  ASSERT_TRUE(ts->set_quota(u->id, 4242).is_ok());
  ts.close();
  ts.open();
  auto g = ts->find_user("alice@example.com");
  ASSERT_TRUE(g.is_ok()) << err(g);
  EXPECT_EQ(g->password_hash, "new");
  EXPECT_TRUE(g->disabled);
  EXPECT_EQ(g->quota_bytes, 4242u);
  ASSERT_TRUE(ts->set_disabled(u->id, false).is_ok());
  EXPECT_FALSE(ts->get_user(u->id)->disabled);
  EXPECT_EQ(ts->set_quota(999, 1).code(), Code::kNotFound);
  EXPECT_EQ(ts->set_password_hash(999, "x").code(), Code::kNotFound);
  EXPECT_EQ(ts->set_disabled(999, true).code(), Code::kNotFound);
  EXPECT_EQ(ts->set_password_hash(u->id, std::string(kMaxPasswordHashBytes + 1, 'h')).code(),
            Code::kInvalidArgument);
}

TEST_F(Users, IdsUnique) {
  auto a = ts->add_user("a@example.com", "h");
  auto b = ts->add_user("b@example.com", "h");
  ASSERT_TRUE(a.is_ok() && b.is_ok());
  EXPECT_NE(a->id, b->id);
}

}  // namespace
}  // namespace tsubame::store
