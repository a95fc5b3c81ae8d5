// store/settings.h: per-domain security settings (lockout, TLS, AUTH mechanisms, spam
// thresholds, attachment policy, password policy, retention periods).
//
// Settings are a fixed, typed table (setting_defs()); a domain stores only the keys it sets
// (Db::kSettings, be32 domain id | key -> normalised value), every other key reads as the
// table's default. Values are validated and normalised before they are stored (durations in
// seconds, booleans "yes"/"no", lists lower- or upper-cased, comma-separated, unique).
// Every change is audit-logged ("security.set") in the same transaction as the write.
//
// Settings are policy, not personal data, so they are not sealed.
// Thread-safety: any thread. Failure: errors are Status values (InvalidArgument for an
// unknown key or a bad value, NotFound for an unknown domain); a failed call changes nothing.
#pragma once

#include <cstdint>
#include <map>
#include <string>
#include <string_view>
#include <vector>

#include "common/result.h"
#include "store/accounts.h"

namespace tsubame::store {

class Store;

enum class SettingType : uint8_t { kInt, kDuration, kBool, kNumber, kMechanisms, kExtensions };

struct SettingDef {
  const char* key;
  SettingType type;
  const char* default_value;  // normalised form
  int64_t min = 0, max = 0;   // for kInt (and kDuration, in seconds)
  const char* description;
};

inline constexpr size_t kMaxSettingValue = 4096;
// SASL mechanisms a domain may allow (RFC 4616 PLAIN, RFC 7677 SCRAM-SHA-256, ...).
inline constexpr const char* kKnownMechanisms[] = {"PLAIN", "LOGIN", "SCRAM-SHA-1", "SCRAM-SHA-256",
                                                   "OAUTHBEARER", "XOAUTH2"};

const std::vector<SettingDef>& setting_defs();
const SettingDef* find_setting_def(std::string_view key);  // nullptr if unknown

// Validates and normalises a value ("15m" -> "900", "Yes" -> "yes", ".EXE, js" -> "exe,js").
Result<std::string> normalize_setting(std::string_view key, std::string_view value);

// Every key of the table: the domain's value or the default.
Result<std::map<std::string, std::string>> domain_settings(Store& store, uint32_t domain_id);
// Only the keys the domain has set.
Result<std::map<std::string, std::string>> domain_overrides(Store& store, uint32_t domain_id);
Result<std::string> domain_setting(Store& store, uint32_t domain_id, std::string_view key);
Result<int64_t> domain_setting_int(Store& store, uint32_t domain_id, std::string_view key);
Result<double> domain_setting_number(Store& store, uint32_t domain_id, std::string_view key);
Result<bool> domain_setting_bool(Store& store, uint32_t domain_id, std::string_view key);
Result<std::vector<std::string>> domain_setting_list(Store& store, uint32_t domain_id,
                                                     std::string_view key);

// Stores a validated value (or, with value "default", removes the override). Audit-logged.
Status set_domain_setting(Store& store, uint32_t domain_id, std::string_view key,
                          std::string_view value, std::string_view actor);

// Drops every setting of a domain (when the domain is removed). Not audit-logged by itself.
Status clear_domain_settings(Store& store, uint32_t domain_id);

// ---- read helpers for the daemons (smtpd and imapd enforce the same rule) ----

// The authentication policy for one login id: the settings of the domain after its last
// '@' (tls_required, auth_mechanisms, lockout_*). A login whose domain is not ours, or that
// has no '@', gets the table's defaults, so the answer depends on the domain part only and
// never on whether the user exists. The lockout_* keys a domain did not set come from
// `fallback` (the daemon's security.lockout_* configuration): a domain override refines
// the site-wide value. Read fresh on every call (one LMDB read transaction; no cache), so
// `tsubame security set` takes effect at the next login.
struct AuthPolicy {
  uint32_t domain_id = 0;                // 0: not one of our domains (defaults apply)
  bool tls_required = true;
  std::vector<std::string> mechanisms;   // upper case (settings' normalised form)
  LockoutSettings lockout;
  // Is this SASL mechanism (any case) allowed? (RFC 4422 §3.1 mechanism names)
  bool allows(std::string_view mechanism) const;
};
Result<AuthPolicy> auth_policy_for_login(Store& store, std::string_view login,
                                         const LockoutSettings& fallback);
// Only the lockout part, for a known domain id (overrides, else `fallback`).
Result<LockoutSettings> domain_lockout(Store& store, uint32_t domain_id,
                                       const LockoutSettings& fallback);

}  // namespace tsubame::store
