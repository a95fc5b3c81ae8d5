// tests/store/domains_test.cc: domains (add, find, list, remove) and their limits.
#include <gtest/gtest.h>

#include "tests/store/mail_fixture.h"

namespace tsubame::store {
namespace {

using testing::TempStore;
using testing::err;

TEST(Domains, AddFindGetList) {
  TempStore ts;
  auto a = ts->add_domain("Example.COM");
  ASSERT_TRUE(a.is_ok()) << err(a);
  EXPECT_EQ(a->name, "example.com");
  EXPECT_GT(a->id, 0u);
  EXPECT_GT(a->created, 0);
  auto b = ts->add_domain("other.example");
  ASSERT_TRUE(b.is_ok());
  EXPECT_NE(a->id, b->id);

  auto f = ts->find_domain("EXAMPLE.com");
  ASSERT_TRUE(f.is_ok()) << err(f);
  EXPECT_EQ(f->id, a->id);
  auto g = ts->get_domain(b->id);
  ASSERT_TRUE(g.is_ok());
  EXPECT_EQ(g->name, "other.example");
  auto l = ts->list_domains();
  ASSERT_TRUE(l.is_ok());
  ASSERT_EQ(l->size(), 2u);
  EXPECT_EQ((*l)[0].name, "example.com");
  EXPECT_EQ((*l)[1].name, "other.example");

  EXPECT_EQ(ts->find_domain("missing.example").status().code(), Code::kNotFound);
  EXPECT_EQ(ts->get_domain(999).status().code(), Code::kNotFound);
}

TEST(Domains, DuplicateRefused) {
  TempStore ts;
  ASSERT_TRUE(ts->add_domain("example.com").is_ok());
  EXPECT_EQ(ts->add_domain("EXAMPLE.com").status().code(), Code::kExists);
}

TEST(Domains, BadNamesRefused) {
  TempStore ts;
  for (const char* bad : {"", "a..b", "-a.example", "a-.example", "a b.example", "a_b.example", ".example",
                          "example."})
    EXPECT_EQ(ts->add_domain(bad).status().code(), Code::kInvalidArgument) << bad;
  std::string label63(63, 'a'), label64(64, 'a');
  EXPECT_TRUE(ts->add_domain(label63 + ".example").is_ok());
  EXPECT_EQ(ts->add_domain(label64 + ".example").status().code(), Code::kInvalidArgument);
}

TEST(Domains, NameLengthLimit) {
  TempStore ts;
  // kMaxDomainNameBytes = 253: labels of 49 + dots.
  std::string name;
  while (name.size() + 50 <= kMaxDomainNameBytes) name += std::string(49, 'a') + ".";
  name += std::string(kMaxDomainNameBytes - name.size(), 'b');
  ASSERT_EQ(name.size(), kMaxDomainNameBytes);
  EXPECT_TRUE(ts->add_domain(name).is_ok()) << err(ts->add_domain(name));
  EXPECT_EQ(ts->add_domain(name + "c").status().code(), Code::kInvalidArgument);
}

TEST(Domains, RemoveRefusedWhileUsersExist) {
  TempStore ts;
  ASSERT_TRUE(ts->add_domain("example.com").is_ok());
  ASSERT_TRUE(ts->add_user("alice@example.com", "hash").is_ok());
  EXPECT_EQ(ts->remove_domain("example.com").code(), Code::kExists);
  ASSERT_TRUE(ts->add_domain("empty.example").is_ok());
  EXPECT_TRUE(ts->remove_domain("Empty.Example").is_ok());
  EXPECT_EQ(ts->find_domain("empty.example").status().code(), Code::kNotFound);
  EXPECT_EQ(ts->remove_domain("empty.example").code(), Code::kNotFound);
  // Ids are never reused.
  auto again = ts->add_domain("empty.example");
  ASSERT_TRUE(again.is_ok());
  EXPECT_EQ(again->id, 3u);
}

TEST(Domains, SurviveReopen) {
  TempStore ts;
  auto a = ts->add_domain("example.com");
  ASSERT_TRUE(a.is_ok());
  ts.close();
  ts.open();
  auto f = ts->find_domain("example.com");
  ASSERT_TRUE(f.is_ok());
  EXPECT_EQ(f->id, a->id);
}

}  // namespace
}  // namespace tsubame::store
