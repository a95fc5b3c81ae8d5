// tests/store/settings_test.cc: per-domain security settings: defaults, validation and
// normalisation of each type, overrides and resets, audit records, unknown domains and keys.
#include "store/settings.h"

#include <gtest/gtest.h>

#include "store/audit.h"
#include "store/store.h"
#include "tests/store/test_util.h"

namespace tsubame::store {
namespace {

using testing::TempStore;

size_t audit_count(Store& s, const std::string& action) {
  AuditFilter f;
  f.action_prefix = action;
  auto l = AuditLog(s).list(f);
  return l.is_ok() ? l->size() : 0;
}

TEST(Settings, DefaultsUntilSet) {
  TempStore t;
  auto d = t->add_domain("example.com");
  ASSERT_TRUE(d.is_ok());
  auto all = domain_settings(*t, d->id);
  ASSERT_TRUE(all.is_ok());
  EXPECT_EQ(all->size(), setting_defs().size());
  EXPECT_EQ((*all)["lockout_failures"], "5");
  EXPECT_EQ(*domain_setting_int(*t, d->id, "password_min_length"), 10);
  EXPECT_TRUE(*domain_setting_bool(*t, d->id, "tls_required"));
  EXPECT_TRUE(domain_overrides(*t, d->id)->empty());
}

TEST(Settings, NormalisesEachType) {
  EXPECT_EQ(*normalize_setting("lockout_duration", "15m"), "900");
  EXPECT_EQ(*normalize_setting("retention_deleted_users", "30d"), "2592000");
  EXPECT_EQ(*normalize_setting("tls_required", "On"), "yes");
  EXPECT_EQ(*normalize_setting("tls_required", "false"), "no");
  EXPECT_EQ(*normalize_setting("junk_threshold", "4.50"), "4.5");
  EXPECT_EQ(*normalize_setting("classifier_needs_rule", "No"), "no");
  EXPECT_EQ(*normalize_setting("auth_mechanisms", " plain,Scram-Sha-256 ,PLAIN"), "PLAIN,SCRAM-SHA-256");
  EXPECT_EQ(*normalize_setting("blocked_extensions", ".EXE, js ,exe"), "exe,js");
  EXPECT_EQ(*normalize_setting("blocked_extensions", ""), "");
}

TEST(Settings, RefusesBadValuesAndKeys) {
  EXPECT_EQ(normalize_setting("no_such_key", "1").status().code(), Code::kInvalidArgument);
  EXPECT_FALSE(normalize_setting("lockout_failures", "0").is_ok());      // below the minimum
  EXPECT_FALSE(normalize_setting("lockout_failures", "1001").is_ok());   // above the maximum
  EXPECT_FALSE(normalize_setting("lockout_failures", "5x").is_ok());
  EXPECT_FALSE(normalize_setting("password_min_length", "7").is_ok());
  EXPECT_FALSE(normalize_setting("password_min_classes", "5").is_ok());
  EXPECT_FALSE(normalize_setting("lockout_window", "soon").is_ok());
  EXPECT_FALSE(normalize_setting("tls_required", "maybe").is_ok());
  EXPECT_FALSE(normalize_setting("junk_threshold", "-1").is_ok());
  EXPECT_FALSE(normalize_setting("junk_threshold", "nan").is_ok());
  EXPECT_FALSE(normalize_setting("auth_mechanisms", "CRAM-MD5").is_ok());
  EXPECT_FALSE(normalize_setting("auth_mechanisms", " , ").is_ok());    // none left
  EXPECT_FALSE(normalize_setting("blocked_extensions", "ex e").is_ok());
  EXPECT_FALSE(normalize_setting("support_access_max_hours", "169").is_ok());
  EXPECT_FALSE(normalize_setting("tls_required", std::string(kMaxSettingValue + 1, 'y')).is_ok());
}

TEST(Settings, SetOverrideResetAndAudit) {
  TempStore t;
  auto d = t->add_domain("example.com");
  auto e = t->add_domain("example.org");
  ASSERT_TRUE(d.is_ok() && e.is_ok());
  ASSERT_TRUE(set_domain_setting(*t, d->id, "lockout_duration", "1h", "cli:test").is_ok());
  EXPECT_EQ(*domain_setting_int(*t, d->id, "lockout_duration"), 3600);
  EXPECT_EQ(*domain_setting_int(*t, e->id, "lockout_duration"), 900);  // other domain untouched
  EXPECT_EQ(audit_count(*t, "security.set"), 1u);

  // A bad value changes nothing and writes no audit record.
  EXPECT_EQ(set_domain_setting(*t, d->id, "lockout_duration", "never", "cli:test").code(),
            Code::kInvalidArgument);
  EXPECT_EQ(*domain_setting_int(*t, d->id, "lockout_duration"), 3600);
  EXPECT_EQ(audit_count(*t, "security.set"), 1u);
  EXPECT_EQ(set_domain_setting(*t, 999, "tls_required", "no", "cli:test").code(), Code::kNotFound);

  ASSERT_TRUE(set_domain_setting(*t, d->id, "blocked_extensions", "exe,scr", "cli:test").is_ok());
  auto list = domain_setting_list(*t, d->id, "blocked_extensions");
  ASSERT_TRUE(list.is_ok());
  EXPECT_EQ(*list, (std::vector<std::string>{"exe", "scr"}));
  EXPECT_EQ(domain_overrides(*t, d->id)->size(), 2u);

  ASSERT_TRUE(set_domain_setting(*t, d->id, "lockout_duration", "default", "cli:test").is_ok());
  EXPECT_EQ(*domain_setting_int(*t, d->id, "lockout_duration"), 900);
  EXPECT_EQ(domain_overrides(*t, d->id)->count("lockout_duration"), 0u);

  ASSERT_TRUE(clear_domain_settings(*t, d->id).is_ok());
  EXPECT_TRUE(domain_overrides(*t, d->id)->empty());
  EXPECT_TRUE(AuditLog(*t).verify()->ok);
}

TEST(Settings, PersistAcrossReopen) {
  TempStore t;
  auto d = t->add_domain("example.com");
  ASSERT_TRUE(d.is_ok());
  ASSERT_TRUE(set_domain_setting(*t, d->id, "junk_threshold", "7.25", "cli:test").is_ok());
  t.close();
  t.open();
  EXPECT_DOUBLE_EQ(*domain_setting_number(*t, d->id, "junk_threshold"), 7.25);
}

}  // namespace
}  // namespace tsubame::store
