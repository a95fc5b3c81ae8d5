// tests/smtpd/domain_policy_test.cc: the per-domain authentication policy both daemons
// enforce (store/settings.h auth_policy_for_login, domain_lockout), on a real store in a
// temporary directory. The daemons' behaviour is tested end to end in
// smtpd_domain_security_test.py and tests/imapd/imapd_domain_security_test.py.
#include <gtest/gtest.h>
#include <stdlib.h>

#include <filesystem>
#include <memory>
#include <string>

#include "store/settings.h"
#include "store/store.h"

namespace tsubame::store {
namespace {

class DomainPolicyTest : public ::testing::Test {
 protected:
  void SetUp() override {
    char tmpl[] = "/tmp/tsubame-domain-policy-XXXXXX";
    ASSERT_NE(mkdtemp(tmpl), nullptr);
    dir_ = tmpl;
    Options o;
    o.data_dir = dir_ + "/data";
    o.key_file = dir_ + "/master.key";
    o.create = true;
    auto s = Store::open(o);
    ASSERT_TRUE(s.is_ok()) << s.status().to_string();
    store_ = std::move(s.value());
    auto a = store_->add_domain("a.example");
    auto b = store_->add_domain("b.example");
    ASSERT_TRUE(a.is_ok() && b.is_ok());
    a_ = a->id;
    b_ = b->id;
  }
  void TearDown() override {
    store_.reset();
    std::error_code ec;
    std::filesystem::remove_all(dir_, ec);
  }
  void set(uint32_t domain, const char* key, const char* value) {
    Status s = set_domain_setting(*store_, domain, key, value, "test");
    ASSERT_TRUE(s.is_ok()) << s.to_string();
  }

  std::string dir_;
  std::unique_ptr<Store> store_;
  uint32_t a_ = 0, b_ = 0;
  LockoutSettings site_{3, 60'000, 120'000};  // the daemon's security.lockout_*
};

TEST_F(DomainPolicyTest, DefaultsRequireTlsAllowPlainAndLoginAndKeepTheSiteLockout) {
  auto p = auth_policy_for_login(*store_, "ann@a.example", site_);
  ASSERT_TRUE(p.is_ok()) << p.status().to_string();
  EXPECT_EQ(p->domain_id, a_);
  EXPECT_TRUE(p->tls_required);
  EXPECT_TRUE(p->allows("PLAIN"));
  EXPECT_TRUE(p->allows("login"));
  EXPECT_FALSE(p->allows("SCRAM-SHA-256"));
  EXPECT_EQ(p->lockout.max_failures, 3u);
  EXPECT_EQ(p->lockout.window_ms, 60'000);
  EXPECT_EQ(p->lockout.lock_ms, 120'000);
}

TEST_F(DomainPolicyTest, OverridesApplyToTheirDomainOnlyAndAtOnce) {
  set(b_, "tls_required", "no");
  set(b_, "auth_mechanisms", "PLAIN");
  set(b_, "lockout_failures", "2");
  set(b_, "lockout_duration", "1h");
  auto a = auth_policy_for_login(*store_, "ann@a.example", site_);
  auto b = auth_policy_for_login(*store_, "bob@B.Example", site_);  // domain part any case
  ASSERT_TRUE(a.is_ok() && b.is_ok());
  EXPECT_TRUE(a->tls_required);
  EXPECT_TRUE(a->allows("LOGIN"));
  EXPECT_EQ(a->lockout.max_failures, 3u);
  EXPECT_EQ(b->domain_id, b_);
  EXPECT_FALSE(b->tls_required);
  EXPECT_TRUE(b->allows("PLAIN"));
  EXPECT_FALSE(b->allows("LOGIN"));
  EXPECT_EQ(b->lockout.max_failures, 2u);
  EXPECT_EQ(b->lockout.window_ms, 60'000);    // not set: the site's
  EXPECT_EQ(b->lockout.lock_ms, 3'600'000);
  auto l = domain_lockout(*store_, b_, site_);
  ASSERT_TRUE(l.is_ok());
  EXPECT_EQ(l->max_failures, 2u);
  set(b_, "lockout_failures", "default");  // back to the site's value
  auto again = auth_policy_for_login(*store_, "bob@b.example", site_);
  ASSERT_TRUE(again.is_ok());
  EXPECT_EQ(again->lockout.max_failures, 3u);
}

TEST_F(DomainPolicyTest, TheAnswerDependsOnTheDomainPartOnly) {
  set(b_, "tls_required", "no");
  // No user exists in b.example: the policy is the domain's all the same (no user oracle).
  auto known_domain = auth_policy_for_login(*store_, "nobody@b.example", site_);
  ASSERT_TRUE(known_domain.is_ok());
  EXPECT_FALSE(known_domain->tls_required);
  // Not our domain, or no domain at all: the table's defaults.
  for (const char* login : {"x@elsewhere.example", "no-at-sign", ""}) {
    auto p = auth_policy_for_login(*store_, login, site_);
    ASSERT_TRUE(p.is_ok()) << login;
    EXPECT_EQ(p->domain_id, 0u) << login;
    EXPECT_TRUE(p->tls_required) << login;
    EXPECT_TRUE(p->allows("PLAIN")) << login;
    EXPECT_EQ(p->lockout.max_failures, 3u) << login;
  }
}

}  // namespace
}  // namespace tsubame::store
