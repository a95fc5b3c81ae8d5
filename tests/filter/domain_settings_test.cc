// tests/filter/domain_settings_test.cc: filter/domain_settings.h, the one place that turns a
// domain's settings into its filter policy, on a real LMDB store in a temporary directory:
// the filter keys against the settings table, each key applied, keys not set keeping the
// base, a malformed stored value (written around `security set` with a raw store write)
// giving Corruption and leaving the policy alone, an unknown domain id, the [filter] base
// from the configuration. The daemon and CLI ends are tested in
// tests/smtpd/smtpd_domain_security_test.py and tests/tools/test_cli.py.
#include "filter/domain_settings.h"

#include <gtest/gtest.h>
#include <stdlib.h>

#include <algorithm>
#include <filesystem>
#include <map>
#include <memory>
#include <set>
#include <string>
#include <vector>

#include "common/bytes.h"
#include "common/config.h"
#include "store/env.h"
#include "store/settings.h"
#include "store/store.h"

namespace tsubame::filter {
namespace {

// Keys of the settings table that other modules read (never the filter policy). A new key in
// store::setting_defs() must be added here or to domain_filter_keys(): this test fails until
// someone decides which.
const std::set<std::string> kOtherModulesKeys = {
    // passwords (store/accounts.h, `tsubame user passwd`)
    "password_min_length", "password_min_classes", "password_forbid_login",
    // authentication (store::auth_policy_for_login, smtpd and imapd)
    "lockout_failures", "lockout_window", "lockout_duration", "tls_required", "auth_mechanisms",
    // retention (store/purge.h) and support access (store/grants.h)
    "retention_deleted_users", "retention_reports", "retention_trace", "retention_logins",
    "support_access_max_hours"};

class DomainSettingsTest : public ::testing::Test {
 protected:
  void SetUp() override {
    char tmpl[] = "/tmp/tsubame-filter-domain-settings-XXXXXX";
    ASSERT_NE(mkdtemp(tmpl), nullptr);
    dir_ = tmpl;
    store::Options o;
    o.data_dir = dir_ + "/data";
    o.key_file = dir_ + "/master.key";
    o.create = true;
    auto s = store::Store::open(o);
    ASSERT_TRUE(s.is_ok()) << s.status().to_string();
    store_ = std::move(s.value());
    auto a = store_->add_domain("a.example");
    auto b = store_->add_domain("b.example");
    ASSERT_TRUE(a.is_ok() && b.is_ok());
    a_ = a->id;
    b_ = b->id;
    // A base unlike DomainPolicy's defaults, so "kept the base" is not "kept the default".
    base_.junk_threshold = 7;
    base_.reject_threshold = 21;
    base_.classifier_needs_rule = false;
    base_.quarantine_threshold = 12;
    base_.max_message_bytes = 1234567;
    base_.blocked_extensions = {"exe", "scr"};
  }
  void TearDown() override {
    store_.reset();
    std::error_code ec;
    std::filesystem::remove_all(dir_, ec);
  }
  // Through the validation `tsubame security set` uses.
  void set(uint32_t domain, const char* key, const char* value) {
    Status s = store::set_domain_setting(*store_, domain, key, value, "test");
    ASSERT_TRUE(s.is_ok()) << s.to_string();
  }
  // Around it: the raw write a bad migration or a hand edit would make.
  void set_raw(uint32_t domain, const std::string& key, const std::string& value) {
    Status s = store_->env().write(
        [&](store::Txn& t) { return t.put(store::Db::kSettings, be32(domain) + key, value); });
    ASSERT_TRUE(s.is_ok()) << s.to_string();
  }
  DomainPolicy applied(uint32_t domain) {
    DomainPolicy p = base_;
    Status s = apply_domain_settings(*store_, domain, p);
    EXPECT_TRUE(s.is_ok()) << s.to_string();
    return p;
  }
  // Every field apply_domain_settings may change, equal to the base's.
  static void expect_same_filter_fields(const DomainPolicy& got, const DomainPolicy& want) {
    EXPECT_EQ(got.junk_threshold, want.junk_threshold);
    EXPECT_EQ(got.reject_threshold, want.reject_threshold);
    EXPECT_EQ(got.classifier_needs_rule, want.classifier_needs_rule);
    EXPECT_EQ(got.sender_memory, want.sender_memory);
    EXPECT_EQ(got.blocked_extensions, want.blocked_extensions);
    EXPECT_EQ(got.quarantine_threshold, want.quarantine_threshold);
    EXPECT_EQ(got.max_message_bytes, want.max_message_bytes);
    EXPECT_EQ(got.blocked_types, want.blocked_types);
  }

  std::string dir_;
  std::unique_ptr<store::Store> store_;
  uint32_t a_ = 0, b_ = 0;
  DomainPolicy base_;
};

TEST(DomainFilterKeys, MatchTheSettingsTableAndItsTypes) {
  const std::map<std::string, store::SettingType> want = {
      {"junk_threshold", store::SettingType::kNumber},
      {"reject_threshold", store::SettingType::kNumber},
      {"classifier_needs_rule", store::SettingType::kBool},
      {"sender_memory", store::SettingType::kBool},
      {"blocked_extensions", store::SettingType::kExtensions}};
  auto keys = domain_filter_keys();
  ASSERT_EQ(keys.size(), want.size());
  for (std::string_view k : keys) {
    SCOPED_TRACE(std::string(k));
    ASSERT_TRUE(want.count(std::string(k)));
    const store::SettingDef* def = store::find_setting_def(k);
    ASSERT_NE(def, nullptr) << "a filter key `tsubame security set` does not know";
    EXPECT_EQ(def->type, want.at(std::string(k)));
    EXPECT_FALSE(kOtherModulesKeys.count(std::string(k)));
  }
}

TEST(DomainFilterKeys, EverySettingIsAFilterKeyOrAnotherModules) {
  auto keys = domain_filter_keys();
  for (const store::SettingDef& def : store::setting_defs()) {
    bool filter_key = std::find(keys.begin(), keys.end(), std::string_view(def.key)) != keys.end();
    EXPECT_TRUE(filter_key || kOtherModulesKeys.count(def.key))
        << def.key << ": new setting; apply it in filter/domain_settings.cc or list it in kOtherModulesKeys";
  }
  // No stale names in the list above.
  for (const std::string& k : kOtherModulesKeys) EXPECT_NE(store::find_setting_def(k), nullptr) << k;
}

TEST_F(DomainSettingsTest, NothingSetKeepsTheBase) {
  expect_same_filter_fields(applied(a_), base_);
}

TEST_F(DomainSettingsTest, JunkThreshold) {
  set(a_, "junk_threshold", "3.25");
  DomainPolicy want = base_;
  want.junk_threshold = 3.25;
  expect_same_filter_fields(applied(a_), want);
}

TEST_F(DomainSettingsTest, RejectThreshold) {
  set(a_, "reject_threshold", "40");
  DomainPolicy want = base_;
  want.reject_threshold = 40;
  expect_same_filter_fields(applied(a_), want);
}

TEST_F(DomainSettingsTest, ClassifierNeedsRuleBothWays) {
  set(a_, "classifier_needs_rule", "yes");  // the base says no
  DomainPolicy want = base_;
  want.classifier_needs_rule = true;
  expect_same_filter_fields(applied(a_), want);
  base_.classifier_needs_rule = true;
  set(a_, "classifier_needs_rule", "no");
  want.classifier_needs_rule = false;
  expect_same_filter_fields(applied(a_), want);
}

TEST_F(DomainSettingsTest, SenderMemoryBothWays) {
  set(a_, "sender_memory", "no");  // the base says yes
  DomainPolicy want = base_;
  want.sender_memory = false;
  expect_same_filter_fields(applied(a_), want);
  expect_same_filter_fields(applied(b_), base_);
  base_.sender_memory = false;
  set(a_, "sender_memory", "yes");
  want.sender_memory = true;
  expect_same_filter_fields(applied(a_), want);
}

TEST_F(DomainSettingsTest, BlockedExtensionsReplaceTheBaseList) {
  set(a_, "blocked_extensions", ".ZIP, js");
  DomainPolicy want = base_;
  want.blocked_extensions = {"zip", "js"};
  expect_same_filter_fields(applied(a_), want);
}

TEST_F(DomainSettingsTest, EmptyBlockedExtensionsKeepTheBaseList) {
  set(a_, "blocked_extensions", "");
  ASSERT_EQ(store::domain_overrides(*store_, a_)->count("blocked_extensions"), 1u);  // really set
  expect_same_filter_fields(applied(a_), base_);
}

TEST_F(DomainSettingsTest, AllKeysTogetherAndOnlyForTheirDomain) {
  set(a_, "junk_threshold", "2");
  set(a_, "reject_threshold", "9");
  set(a_, "classifier_needs_rule", "yes");
  set(a_, "blocked_extensions", "iso");
  set(a_, "tls_required", "no");  // not a filter key: no effect on the policy
  DomainPolicy want = base_;
  want.junk_threshold = 2;
  want.reject_threshold = 9;
  want.classifier_needs_rule = true;
  want.blocked_extensions = {"iso"};
  expect_same_filter_fields(applied(a_), want);
  expect_same_filter_fields(applied(b_), base_);
}

TEST_F(DomainSettingsTest, ResetToDefaultGoesBackToTheBase) {
  set(a_, "junk_threshold", "2");
  set(a_, "blocked_extensions", "iso");
  set(a_, "junk_threshold", "default");
  set(a_, "blocked_extensions", "default");
  // The base, not the settings table's default ("5" / built-in list).
  expect_same_filter_fields(applied(a_), base_);
}

TEST_F(DomainSettingsTest, ValidButUnnormalisedStoredValuesAreRead) {
  set_raw(a_, "junk_threshold", " 4.50 ");
  set_raw(a_, "classifier_needs_rule", "On");
  set_raw(a_, "blocked_extensions", ".EXE,Js");
  DomainPolicy want = base_;
  want.junk_threshold = 4.5;
  want.classifier_needs_rule = true;
  want.blocked_extensions = {"exe", "js"};
  expect_same_filter_fields(applied(a_), want);
}

TEST_F(DomainSettingsTest, MalformedStoredValueIsCorruptionAndChangesNothing) {
  struct Case {
    const char* key;
    const char* value;
  };
  const Case cases[] = {
      {"junk_threshold", "garbage"},   // strtod would read 0: every message junk
      {"junk_threshold", "5x"},        // strtod would read 5
      {"junk_threshold", "nan"},
      {"reject_threshold", "-3"},
      {"reject_threshold", "1e9"},     // above 1000
      {"classifier_needs_rule", "maybe"},
      {"blocked_extensions", "e x e"},
  };
  for (const Case& c : cases) {
    SCOPED_TRACE(std::string(c.key) + "=" + c.value);
    ASSERT_NO_FATAL_FAILURE(set(a_, "reject_threshold", "50"));  // a valid key beside the bad one
    ASSERT_NO_FATAL_FAILURE(set_raw(a_, c.key, c.value));
    DomainPolicy p = base_;
    Status s = apply_domain_settings(*store_, a_, p);
    EXPECT_EQ(s.code(), Code::kCorruption) << s.to_string();
    EXPECT_NE(s.message().find(c.key), std::string::npos) << s.message();
    EXPECT_NE(s.message().find("domain " + std::to_string(a_)), std::string::npos) << s.message();
    expect_same_filter_fields(p, base_);  // not even the valid key applied
    ASSERT_NO_FATAL_FAILURE(set(a_, c.key, "default"));
    ASSERT_NO_FATAL_FAILURE(set(a_, "reject_threshold", "default"));
  }
}

TEST_F(DomainSettingsTest, MalformedSettingOfAnotherModuleIsNotTheFiltersConcern) {
  set_raw(a_, "lockout_failures", "lots");
  set(a_, "junk_threshold", "6");
  DomainPolicy want = base_;
  want.junk_threshold = 6;
  expect_same_filter_fields(applied(a_), want);
}

TEST_F(DomainSettingsTest, UnknownDomainIdIsNotFound) {
  DomainPolicy p = base_;
  Status s = apply_domain_settings(*store_, 9999, p);
  EXPECT_EQ(s.code(), Code::kNotFound) << s.to_string();
  expect_same_filter_fields(p, base_);
}

TEST_F(DomainSettingsTest, ReadFreshOnEveryCall) {
  set(a_, "junk_threshold", "3");
  EXPECT_EQ(applied(a_).junk_threshold, 3);
  set(a_, "junk_threshold", "8");
  EXPECT_EQ(applied(a_).junk_threshold, 8);
}

TEST(ConfigPolicy, TakesTheFilterSectionAndDefaultsTheRest) {
  auto c = Config::parse("[filter]\njunk_threshold = 6\nreject_threshold = 30\nclassifier_needs_rule = no\n"
                         "sender_memory = no\n",
                         "t.conf");
  ASSERT_TRUE(c.is_ok()) << c.status().to_string();
  DomainPolicy p = config_policy(*c);
  DomainPolicy d;
  EXPECT_EQ(p.junk_threshold, 6);
  EXPECT_EQ(p.reject_threshold, 30);
  EXPECT_FALSE(p.classifier_needs_rule);
  EXPECT_FALSE(p.sender_memory);
  EXPECT_EQ(p.blocked_extensions, d.blocked_extensions);
  EXPECT_EQ(p.max_message_bytes, d.max_message_bytes);

  DomainPolicy defaults = config_policy(Config::defaults());
  EXPECT_EQ(defaults.junk_threshold, 5);
  EXPECT_EQ(defaults.reject_threshold, 15);
  EXPECT_TRUE(defaults.classifier_needs_rule);
  EXPECT_TRUE(defaults.sender_memory);
}

}  // namespace
}  // namespace tsubame::filter
