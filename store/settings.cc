// store/settings.cc: per-domain security settings (see settings.h). Db::kSettings holds
// be32 domain id | key -> normalised value; absent keys read as the default.
#include "store/settings.h"

#include <algorithm>
#include <cmath>
#include <cstdlib>
#include <optional>

#include "common/bytes.h"
#include "common/config.h"
#include "store/audit.h"
#include "store/env.h"
#include "store/store.h"

namespace tsubame::store {
namespace {

constexpr int64_t kDay = 24 * 3600;

std::string setting_key(uint32_t domain_id, std::string_view key) {
  std::string k = be32(domain_id);
  k.append(key);
  return k;
}

Result<std::string> normalize_list(std::string_view value, bool upper) {
  std::vector<std::string> items;
  for (auto part : split(value, ',')) {
    std::string item(trim(part));
    if (item.empty()) continue;
    if (upper) {
      for (char& c : item) c = char(toupper(uint8_t(c)));
    } else {
      item = to_lower(item);
      if (item.front() == '.') item.erase(0, 1);
    }
    for (char c : item)
      if (!(isalnum(uint8_t(c)) || c == '-' || c == '_'))
        return Status::invalid("bad list item '" + item + "'");
    if (std::find(items.begin(), items.end(), item) == items.end()) items.push_back(item);
  }
  std::string out;
  for (auto& i : items) out += (out.empty() ? "" : ",") + i;
  return out;
}

}  // namespace

const std::vector<SettingDef>& setting_defs() {
  static const std::vector<SettingDef> defs = {
      {"password_min_length", SettingType::kInt, "10", 8, 1024, "minimum password length"},
      {"password_min_classes", SettingType::kInt, "2", 1, 4,
       "character classes a password needs (lower, upper, digit, other)"},
      {"password_forbid_login", SettingType::kBool, "yes", 0, 0, "a password may not contain the login name"},
      {"lockout_failures", SettingType::kInt, "5", 1, 1000, "failed logins within the window that lock an account"},
      {"lockout_window", SettingType::kDuration, "900", 1, 30 * kDay, "window over which failures count"},
      {"lockout_duration", SettingType::kDuration, "900", 1, 30 * kDay, "how long a locked account stays locked"},
      {"tls_required", SettingType::kBool, "yes", 0, 0, "AUTH and LOGIN only over TLS"},
      {"auth_mechanisms", SettingType::kMechanisms, "PLAIN,LOGIN", 0, 0, "SASL mechanisms allowed"},
      {"junk_threshold", SettingType::kNumber, "5", 0, 0, "spam score at or above which mail goes to Junk"},
      {"reject_threshold", SettingType::kNumber, "15", 0, 0, "spam score at or above which mail is rejected"},
      {"classifier_needs_rule", SettingType::kBool, "yes", 0, 0,
       "the classifier's points count toward Junk only when a rule of score 0.5 or more agrees"},
      {"sender_memory", SettingType::kBool, "yes", 0, 0,
       "mail from a sender learned as ham and never as spam loses 2 to 4 points"},
      {"blocked_extensions", SettingType::kExtensions, "", 0, 0,
       "attachment extensions to quarantine (empty: the filter's built-in list)"},
      {"retention_deleted_users", SettingType::kDuration, "2592000", 0, 3650 * kDay,
       "time between `user delete` and the purge of the user's data"},
      {"retention_reports", SettingType::kDuration, "7776000", 0, 3650 * kDay, "how long quarantine reports are kept"},
      {"retention_trace", SettingType::kDuration, "15552000", 0, 3650 * kDay, "how long message trace is kept"},
      {"support_access_max_hours", SettingType::kInt, "24", 1, 168,
       "longest support access grant to a mailbox of this domain, in hours"},
      {"retention_logins", SettingType::kDuration, "31536000", 0, 3650 * kDay, "how long login history is kept"},
  };
  return defs;
}

const SettingDef* find_setting_def(std::string_view key) {
  for (const auto& d : setting_defs())
    if (key == d.key) return &d;
  return nullptr;
}

Result<std::string> normalize_setting(std::string_view key, std::string_view value) {
  const SettingDef* def = find_setting_def(key);
  if (!def) return Status::invalid("unknown setting '" + std::string(key) + "'");
  if (value.size() > kMaxSettingValue) return Status::invalid(std::string(key) + ": value too long");
  std::string v(trim(value));
  std::string what = std::string(key) + ": ";
  switch (def->type) {
    case SettingType::kInt:
    case SettingType::kDuration: {
      int64_t n = 0;
      if (def->type == SettingType::kDuration) {
        auto d = parse_duration(v);
        if (!d.is_ok()) return Status::invalid(what + "not a duration: '" + v + "'");
        n = *d;
      } else {
        char* end = nullptr;
        long long x = std::strtoll(v.c_str(), &end, 10);
        if (v.empty() || *end) return Status::invalid(what + "not a number: '" + v + "'");
        n = x;
      }
      if (n < def->min || n > def->max)
        return Status::invalid(what + "must be between " + std::to_string(def->min) + " and " +
                               std::to_string(def->max));
      return std::to_string(n);
    }
    case SettingType::kBool: {
      std::string l = to_lower(v);
      if (l == "yes" || l == "true" || l == "on" || l == "1") return std::string("yes");
      if (l == "no" || l == "false" || l == "off" || l == "0") return std::string("no");
      return Status::invalid(what + "expected yes or no");
    }
    case SettingType::kNumber: {
      char* end = nullptr;
      double d = std::strtod(v.c_str(), &end);
      if (v.empty() || *end || !std::isfinite(d) || d < 0 || d > 1000)
        return Status::invalid(what + "expected a number from 0 to 1000");
      std::string s = std::to_string(d);
      s.erase(s.find_last_not_of('0') + 1);
      if (s.back() == '.') s.pop_back();
      return s;
    }
    case SettingType::kMechanisms: {
      auto l = normalize_list(v, true);
      if (!l.is_ok()) return Status::invalid(what + l.status().message());
      if (l->empty()) return Status::invalid(what + "at least one mechanism is needed");
      for (auto m : split(*l, ',')) {
        bool known = false;
        for (const char* k : kKnownMechanisms) known |= (m == k);
        if (!known) return Status::invalid(what + "unknown mechanism '" + std::string(m) + "'");
      }
      return *l;
    }
    case SettingType::kExtensions: {
      auto l = normalize_list(v, false);
      if (!l.is_ok()) return Status::invalid(what + l.status().message());
      return *l;
    }
  }
  return Status::internal("unreachable");
}

Result<std::map<std::string, std::string>> domain_overrides(Store& store, uint32_t domain_id) {
  auto dom = store.get_domain(domain_id);
  if (!dom.is_ok()) return dom.status();
  std::map<std::string, std::string> out;
  std::string prefix = be32(domain_id);
  Status s = store.env().read([&](const Txn& t) {
    return t.scan(Db::kSettings, prefix, prefix, [&](std::string_view k, std::string_view v) {
      out.emplace(std::string(k.substr(4)), std::string(v));
      return true;
    });
  });
  if (!s.is_ok()) return s;
  return out;
}

Result<std::map<std::string, std::string>> domain_settings(Store& store, uint32_t domain_id) {
  auto o = domain_overrides(store, domain_id);
  if (!o.is_ok()) return o.status();
  std::map<std::string, std::string> out;
  for (const auto& d : setting_defs()) {
    auto it = o->find(d.key);
    out[d.key] = it == o->end() ? d.default_value : it->second;
  }
  return out;
}

Result<std::string> domain_setting(Store& store, uint32_t domain_id, std::string_view key) {
  const SettingDef* def = find_setting_def(key);
  if (!def) return Status::invalid("unknown setting '" + std::string(key) + "'");
  std::string value = def->default_value;
  Status s = store.env().read([&](const Txn& t) {
    std::string_view v;
    Status g = t.get(Db::kSettings, setting_key(domain_id, key), &v);
    if (g.is_ok()) value = std::string(v);
    return g.code() == Code::kNotFound ? Status::ok() : g;
  });
  if (!s.is_ok()) return s;
  return value;
}

Result<int64_t> domain_setting_int(Store& store, uint32_t domain_id, std::string_view key) {
  auto v = domain_setting(store, domain_id, key);
  if (!v.is_ok()) return v.status();
  return int64_t(std::strtoll(v->c_str(), nullptr, 10));
}

Result<double> domain_setting_number(Store& store, uint32_t domain_id, std::string_view key) {
  auto v = domain_setting(store, domain_id, key);
  if (!v.is_ok()) return v.status();
  return std::strtod(v->c_str(), nullptr);
}

Result<bool> domain_setting_bool(Store& store, uint32_t domain_id, std::string_view key) {
  auto v = domain_setting(store, domain_id, key);
  if (!v.is_ok()) return v.status();
  return *v == "yes";
}

Result<std::vector<std::string>> domain_setting_list(Store& store, uint32_t domain_id,
                                                     std::string_view key) {
  auto v = domain_setting(store, domain_id, key);
  if (!v.is_ok()) return v.status();
  std::vector<std::string> out;
  for (auto p : split(*v, ','))
    if (!p.empty()) out.emplace_back(p);
  return out;
}

Status set_domain_setting(Store& store, uint32_t domain_id, std::string_view key,
                          std::string_view value, std::string_view actor) {
  auto dom = store.get_domain(domain_id);
  if (!dom.is_ok()) return dom.status();
  bool reset = trim(value) == "default";
  std::string norm;
  if (reset) {
    if (!find_setting_def(key)) return Status::invalid("unknown setting '" + std::string(key) + "'");
  } else {
    auto n = normalize_setting(key, value);
    if (!n.is_ok()) return n.status();
    norm = *n;
  }
  return store.env().write([&](Txn& t) -> Status {
    std::string k = setting_key(domain_id, key);
    if (reset) {
      Status d = t.del(Db::kSettings, k);
      if (!d.is_ok() && d.code() != Code::kNotFound) return d;
    } else {
      TSUBAME_TRY(t.put(Db::kSettings, k, norm));
    }
    AuditEntry e;
    e.actor = std::string(actor);
    e.action = "security.set";
    e.target = dom->name;
    e.details = std::string(key) + "=" + (reset ? std::string("default") : norm);
    auto a = AuditLog(store).append(t, e);
    return a.status();
  });
}

namespace {

void apply_lockout_overrides(const std::map<std::string, std::string>& o, LockoutSettings& l) {
  auto num = [&](const char* key) -> std::optional<int64_t> {
    auto it = o.find(key);
    if (it == o.end()) return std::nullopt;
    return int64_t(std::strtoll(it->second.c_str(), nullptr, 10));
  };
  if (auto v = num("lockout_failures")) l.max_failures = uint32_t(*v);
  if (auto v = num("lockout_window")) l.window_ms = *v * 1000;
  if (auto v = num("lockout_duration")) l.lock_ms = *v * 1000;
}

}  // namespace

bool AuthPolicy::allows(std::string_view mechanism) const {
  for (const std::string& m : mechanisms)
    if (iequals(m, mechanism)) return true;
  return false;
}

Result<AuthPolicy> auth_policy_for_login(Store& store, std::string_view login,
                                         const LockoutSettings& fallback) {
  AuthPolicy p;
  p.lockout = fallback;
  std::map<std::string, std::string> o;
  size_t at = login.rfind('@');
  if (at != std::string_view::npos) {
    auto dom = store.find_domain(to_lower(login.substr(at + 1)));
    if (dom.is_ok()) {
      auto ov = domain_overrides(store, dom->id);
      if (!ov.is_ok()) return ov.status();
      p.domain_id = dom->id;
      o = std::move(*ov);
    } else if (dom.status().code() != Code::kNotFound) {
      return dom.status();
    }
  }
  auto value = [&](const char* key) {
    auto it = o.find(key);
    return it != o.end() ? it->second : std::string(find_setting_def(key)->default_value);
  };
  p.tls_required = value("tls_required") == "yes";
  const std::string mechanisms = value("auth_mechanisms");  // split() gives views into it
  for (auto m : split(mechanisms, ','))
    if (!m.empty()) p.mechanisms.emplace_back(m);
  apply_lockout_overrides(o, p.lockout);
  return p;
}

Result<LockoutSettings> domain_lockout(Store& store, uint32_t domain_id,
                                       const LockoutSettings& fallback) {
  auto o = domain_overrides(store, domain_id);
  if (!o.is_ok()) return o.status();
  LockoutSettings l = fallback;
  apply_lockout_overrides(*o, l);
  return l;
}

Status clear_domain_settings(Store& store, uint32_t domain_id) {
  return store.env().write([&](Txn& t) -> Status {
    auto r = t.del_prefix(Db::kSettings, be32(domain_id));
    return r.status();
  });
}

}  // namespace tsubame::store
