#include "tools/cli.h"

#include <unistd.h>

#include <cstdio>
#include <iostream>

#include "common/bytes.h"
#include "common/crypto.h"

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

Result<std::string> read_password_stdin() {
  std::string line;
  if (!std::getline(std::cin, line)) return Status::invalid("no password on standard input");
  if (!line.empty() && line.back() == '\r') line.pop_back();
  if (line.empty()) return Status::invalid("empty password");
  return line;
}

Result<std::string> hash_password(const Config& config, const std::string& password) {
  crypto::PasswordParams p;
  p.m_cost_kib = uint32_t(config.integer("security.kdf_memory") / 1024);
  p.t_cost = uint32_t(config.integer("security.kdf_passes"));
  return crypto::hash_password(password, p);
}

Status check_password_policy(const Config& config, const std::string& address, const std::string& password) {
  auto min = size_t(config.integer("security.password_min_length"));
  if (password.size() < min)
    return Status::invalid("password too short (at least " + std::to_string(min) + " characters)");
  std::string local = to_lower(address.substr(0, address.find('@')));
  if (local.size() >= 3 && to_lower(password).find(local) != std::string::npos)
    return Status::invalid("password must not contain the login name");
  return Status::ok();
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
