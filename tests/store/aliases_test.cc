// tests/store/aliases_test.cc: address aliases: add, find (case-insensitive), list per domain,
// remove, refusals (unknown domain, a user's address, duplicates, no targets, self), sealing.
#include "store/aliases.h"

#include <gtest/gtest.h>

#include "store/audit.h"
#include "store/store.h"
#include "tests/store/test_util.h"

namespace tsubame::store {
namespace {

using testing::TempStore;

Alias alias(const std::string& address, std::vector<std::string> targets) {
  Alias a;
  a.address = address;
  a.targets = std::move(targets);
  return a;
}

TEST(Aliases, AddFindListRemove) {
  TempStore t;
  auto d = t->add_domain("example.com");
  auto e = t->add_domain("example.org");
  ASSERT_TRUE(d.is_ok() && e.is_ok());
  ASSERT_TRUE(add_alias(*t, alias("Sales@example.com", {"ann@example.com", "bob@partner.example"}), "cli:t").is_ok());
  ASSERT_TRUE(add_alias(*t, alias("info@example.org", {"ann@example.com"}), "cli:t").is_ok());
  auto f = find_alias(*t, "SALES@EXAMPLE.COM");
  ASSERT_TRUE(f.is_ok()) << f.status().to_string();
  EXPECT_EQ(f->address, "Sales@example.com");
  EXPECT_EQ(f->targets, (std::vector<std::string>{"ann@example.com", "bob@partner.example"}));
  EXPECT_EQ(f->domain_id, d->id);
  EXPECT_GT(f->created_ms, 0);
  EXPECT_EQ(list_aliases(*t)->size(), 2u);
  auto only = list_aliases(*t, e->id);
  ASSERT_TRUE(only.is_ok());
  ASSERT_EQ(only->size(), 1u);
  EXPECT_EQ((*only)[0].address, "info@example.org");

  ASSERT_TRUE(remove_alias(*t, "sales@example.com", "cli:t").is_ok());
  EXPECT_EQ(find_alias(*t, "sales@example.com").status().code(), Code::kNotFound);
  EXPECT_EQ(remove_alias(*t, "sales@example.com", "cli:t").code(), Code::kNotFound);
  AuditFilter af;
  af.action_prefix = "alias.";
  EXPECT_EQ(AuditLog(*t).list(af)->size(), 3u);
}

TEST(Aliases, Refusals) {
  TempStore t;
  ASSERT_TRUE(t->add_domain("example.com").is_ok());
  ASSERT_TRUE(t->add_user("ann@example.com", "$argon2id$x").is_ok());
  EXPECT_EQ(add_alias(*t, alias("x@nosuch.example", {"ann@example.com"}), "t").code(), Code::kNotFound);
  EXPECT_EQ(add_alias(*t, alias("ANN@example.com", {"bob@example.net"}), "t").code(), Code::kExists);
  EXPECT_EQ(add_alias(*t, alias("empty@example.com", {}), "t").code(), Code::kInvalidArgument);
  EXPECT_EQ(add_alias(*t, alias("loop@example.com", {"Loop@example.com"}), "t").code(), Code::kInvalidArgument);
  std::vector<std::string> many(kMaxAliasTargets + 1, "x@example.net");
  EXPECT_EQ(add_alias(*t, alias("many@example.com", many), "t").code(), Code::kInvalidArgument);
  ASSERT_TRUE(add_alias(*t, alias("a@example.com", {"ann@example.com"}), "t").is_ok());
  EXPECT_EQ(add_alias(*t, alias("A@EXAMPLE.COM", {"ann@example.com"}), "t").code(), Code::kExists);
  EXPECT_EQ(list_aliases(*t)->size(), 1u);
}

TEST(Aliases, AddressesAreSealedOnDisk) {
  TempStore t;
  ASSERT_TRUE(t->add_domain("example.com").is_ok());
  ASSERT_TRUE(add_alias(*t, alias("secret-alias-zq@example.com", {"hidden-target-zq@example.net"}), "t").is_ok());
  t.close();
  const std::string file = testing::slurp(t.dir() + "/data/data.mdb");
  ASSERT_FALSE(file.empty());
  EXPECT_EQ(file.find("secret-alias-zq"), std::string::npos);
  EXPECT_EQ(file.find("hidden-target-zq"), std::string::npos);
  t.open();
  EXPECT_TRUE(find_alias(*t, "secret-alias-zq@example.com").is_ok());
}

}  // namespace
}  // namespace tsubame::store
