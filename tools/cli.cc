#include "tools/cli.h"

#include <pwd.h>
#include <unistd.h>

#include <algorithm>
#include <cstdio>
#include <iostream>

#include "common/bytes.h"
#include "common/crypto.h"
#include "store/audit.h"
#include "store/settings.h"

namespace tsubame::cli {
namespace {
int g_exit = kOk;
}

int exit_code(const Status& s) {
  switch (s.code()) {
    case Code::kOk: return kOk;
    case Code::kNotFound: return kNotFound;
    case Code::kExists: return kConflict;
    case Code::kInvalidArgument: return kUsage;
    case Code::kPermissionDenied:
    case Code::kLocked: return kRefused;
    case Code::kCorruption: return kIntegrity;
    default: return kFailed;
  }
}

int fail(const std::string& context, const Status& s) {
  std::cerr << "tsubame: " << context << ": " << s.to_string() << "\n";
  return exit_code(s);
}

Result<const Config*> Context::config() {
  if (!config_) {
    std::string path = config_path;
    if (path.empty()) {
      const char* env = getenv("TSUBAME_CONFIG");
      path = env && *env ? env : "/etc/tsubame/tsubame.conf";
    }
    auto c = Config::load(path);
    if (!c.is_ok()) return c.status();
    config_ = std::make_unique<Config>(std::move(c.value()));
  }
  return config_.get();
}

Result<store::Store*> Context::store() {
  if (!store_) {
    auto c = config();
    if (!c.is_ok()) return c.status();
    store::Options o;
    o.data_dir = (*c)->str("general.data_dir");
    o.key_file = (*c)->str("general.key_file");
    o.map_size = uint64_t((*c)->integer("store.map_size"));
    o.max_map_size = uint64_t((*c)->integer("store.max_map_size"));
    auto s = store::Store::open(o);
    if (!s.is_ok()) return s.status();
    store_ = std::move(s.value());
  }
  return store_.get();
}

void set_action(CLI::App* cmd, std::function<int()> fn) {
  cmd->callback([fn = std::move(fn)] { g_exit = fn(); });
}

int last_exit() { return g_exit; }

store::AuditEntry audit_entry(const std::string& action, const std::string& target,
                              const std::string& details) {
  const passwd* pw = getpwuid(getuid());
  store::AuditEntry e;
  e.actor = std::string("cli:") + (pw ? pw->pw_name : std::to_string(getuid()));
  e.action = action;
  e.target = target;
  e.details = details;
  return e;
}

Status audit(store::Store& st, const std::string& action, const std::string& target,
             const std::string& details) {
  auto r = store::AuditLog(st).append(audit_entry(action, target, details));
  if (!r.is_ok()) {
    std::cerr << "tsubame: warning: the change was made but its audit record failed: "
              << r.status().to_string() << "\n";
    return r.status();
  }
  return Status::ok();
}

Result<std::string> read_password_stdin() {
  std::string line;
  if (!std::getline(std::cin, line)) return Status::invalid("no password on standard input");
  if (!line.empty() && line.back() == '\r') line.pop_back();
  if (line.empty()) return Status::invalid("empty password");
  return line;
}

Result<std::string> hash_password(const Config& config, const std::string& password) {
  return crypto::hash_password(password, crypto::password_params(config));
}

Status check_password_policy(const Config& config, store::Store* st, const std::string& address,
                             const std::string& password) {
  size_t min = size_t(config.integer("security.password_min_length"));
  int64_t classes_needed = 1;
  bool forbid_login = true;
  if (st) {
    auto dom = st->find_domain(to_lower(address.substr(address.rfind('@') + 1)));
    if (!dom.is_ok()) return dom.status();
    auto len = store::domain_setting_int(*st, dom->id, "password_min_length");
    auto cls = store::domain_setting_int(*st, dom->id, "password_min_classes");
    auto login = store::domain_setting_bool(*st, dom->id, "password_forbid_login");
    if (!len.is_ok()) return len.status();
    if (!cls.is_ok()) return cls.status();
    if (!login.is_ok()) return login.status();
    min = std::max(min, size_t(*len));
    classes_needed = *cls;
    forbid_login = *login;
  }
  if (password.size() < min)
    return Status::invalid("password too short (at least " + std::to_string(min) + " characters)");
  bool lower = false, upper = false, digit = false, other = false;
  for (unsigned char c : password) {
    if (c >= 'a' && c <= 'z') lower = true;
    else if (c >= 'A' && c <= 'Z') upper = true;
    else if (c >= '0' && c <= '9') digit = true;
    else other = true;  // punctuation, space, any non-ASCII letter
  }
  int classes = int(lower) + int(upper) + int(digit) + int(other);
  if (classes < classes_needed)
    return Status::invalid("password needs characters from at least " + std::to_string(classes_needed) +
                           " classes (lower case, upper case, digits, other); it has " + std::to_string(classes));
  std::string local = to_lower(address.substr(0, address.find('@')));
  if (forbid_login && local.size() >= 3 && to_lower(password).find(local) != std::string::npos)
    return Status::invalid("password must not contain the login name");
  return Status::ok();
}

bool guessable_local_part(const std::string& local_in) {
  static const char* const kGuessed[] = {
      "admin", "administrator", "root", "test", "tester", "testing", "info", "user", "guest",
      "postmaster", "webmaster", "hostmaster", "abuse", "support", "sales", "office", "mail",
      "contact", "noreply", "no-reply", "security", "sysadmin", "operator", "backup", "demo1"};
  std::string local = to_lower(local_in);
  for (const char* g : kGuessed)
    if (local == g) return true;
  // user1, test2, admin01 ...: a guessed word followed by digits.
  for (const char* stem : {"user", "test", "admin", "guest"}) {
    std::string s = stem;
    if (local.size() > s.size() && local.compare(0, s.size(), s) == 0 &&
        std::all_of(local.begin() + long(s.size()), local.end(), [](char c) { return c >= '0' && c <= '9'; }))
      return true;
  }
  return false;
}

Result<std::string> normalize_domain(const std::string& domain) {
  std::string d = to_lower(trim(domain));
  if (!d.empty() && d.back() == '.') d.pop_back();
  if (d.empty() || d.size() > 253) return Status::invalid("malformed domain '" + domain + "'");
  for (auto label : split(d, '.')) {
    if (label.empty() || label.size() > 63 || label.front() == '-' || label.back() == '-')
      return Status::invalid("malformed domain '" + domain + "'");
    for (char c : label)
      if (!((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-'))
        return Status::invalid("malformed domain '" + domain + "'");
  }
  if (d.find('.') == std::string::npos) return Status::invalid("domain '" + domain + "' needs a dot");
  return d;
}

Result<std::string> normalize_address(const std::string& address) {
  size_t at = address.rfind('@');
  if (at == std::string::npos || at == 0) return Status::invalid("malformed address '" + address + "'");
  std::string local = address.substr(0, at);
  if (local.size() > 64 || local.front() == '.' || local.back() == '.' || local.find("..") != std::string::npos)
    return Status::invalid("malformed address '" + address + "'");
  static const std::string atext = "!#$%&'*+-/=?^_`{|}~.";
  for (char c : local)
    if (!(isalnum(uint8_t(c)) || atext.find(c) != std::string::npos))
      return Status::invalid("malformed address '" + address + "'");
  auto d = normalize_domain(address.substr(at + 1));
  if (!d.is_ok()) return Status::invalid("malformed address '" + address + "'");
  return local + "@" + *d;
}

}  // namespace tsubame::cli
