#include "common/config.h"

#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <sstream>

#include "common/bytes.h"

namespace tsubame {
namespace {

using T = ConfigType;
constexpr int64_t kGiB = 1ll << 30;

// The schema: every key a Tsubame program reads. Keep sorted by section; conf/tsubame.conf is
// checked against this table by tests/common/config_test.cc.
const std::vector<ConfigKey> kSchema = {
  // [general]
  {"general.hostname", T::kString, "localhost", "Name this server uses in greetings, Received headers and bounces."},
  {"general.data_dir", T::kPath, "data", "LMDB data directory (created by `tsubame init`)."},
  {"general.key_file", T::kPath, "master.key", "Master key file: 32 bytes, mode 0600, kept OUTSIDE data_dir."},
  {"general.run_dir", T::kPath, "run", "Directory for unix sockets and pid files."},
  {"general.user", T::kString, "", "Unprivileged user the daemons switch to after binding (empty: stay as started)."},
  {"general.rules_dir", T::kPath, "rules", "Directory of filter rule files (*.rules)."},
  {"general.cache_dir", T::kPath, "cache", "Directory for compiled rule databases."},
  // [log]
  {"log.level", T::kString, "info", "Console log level.", 0, 0, {"trace", "debug", "info", "warn", "error"}},
  {"log.console", T::kBool, "yes", "Write readable log lines to standard error."},
  {"log.mail_log", T::kPath, "log/mail.log", "Mail log: one line per message event, with its queue id (empty: off)."},
  // [tls]
  {"tls.cert_file", T::kPath, "tls/cert.pem", "PEM certificate chain for all TLS listeners."},
  {"tls.key_file", T::kPath, "tls/key.pem", "PEM private key for tls.cert_file."},
  {"tls.min_version", T::kString, "1.2", "Lowest TLS version accepted.", 0, 0, {"1.2", "1.3"}},
  // [store]
  {"store.map_size", T::kSize, "256M", "Initial LMDB map size; the map doubles when full.", 1 << 20, 1ll << 46},
  {"store.max_map_size", T::kSize, "64G", "Largest the LMDB map may grow to.", 1 << 20, 1ll << 46},
  // [security]
  {"security.password_min_length", T::kInt, "10", "Minimum password length.", 4, 1024},
  {"security.kdf_memory", T::kSize, "64M", "Argon2id memory cost per password hash.", 8 << 10, 4 * kGiB},
  {"security.kdf_passes", T::kInt, "3", "Argon2id time cost (passes).", 1, 100},
  {"security.lockout_failures", T::kInt, "5", "Failed logins within the window that lock an account.", 1, 1000},
  {"security.lockout_window", T::kDuration, "15m", "Window over which failures are counted.", 1, 86400 * 30},
  {"security.lockout_duration", T::kDuration, "15m", "How long a locked account stays locked.", 1, 86400 * 30},
  {"security.allow_plaintext_auth", T::kBool, "no", "Allow SMTP AUTH / IMAP LOGIN without TLS (never on the Internet); a domain whose tls_required setting is yes (the default) still refuses it."},
  // [smtpd]
  {"smtpd.listen_mx", T::kEndpoint, "127.0.0.1:2525", "MX listener (port 25 in production); empty disables it."},
  {"smtpd.listen_submission", T::kEndpoint, "127.0.0.1:2587", "Submission listener, STARTTLS before AUTH (587)."},
  {"smtpd.listen_submissions", T::kEndpoint, "127.0.0.1:2465", "Submission over implicit TLS (465)."},
  {"smtpd.max_message_size", T::kSize, "25M", "Largest message accepted (SIZE), checked while data streams in.", 1024, 2 * kGiB},
  {"smtpd.max_recipients", T::kInt, "100", "Recipients per message.", 1, 100000},
  {"smtpd.max_errors", T::kInt, "10", "Errors per session before 421 and disconnect.", 1, 1000},
  {"smtpd.max_connections_per_ip", T::kInt, "20", "Concurrent connections from one IP address.", 1, 100000},
  {"smtpd.max_new_connections_per_minute", T::kInt, "120", "New connections per IP address per minute.", 1, 1000000},
  {"smtpd.max_connections", T::kInt, "2000", "Concurrent connections in all.", 1, 1000000},
  {"smtpd.command_timeout", T::kDuration, "5m", "Idle time allowed while waiting for a command.", 1, 3600},
  {"smtpd.data_timeout", T::kDuration, "10m", "Time allowed between data chunks.", 1, 3600},
  {"smtpd.soft_error_limit", T::kInt, "5", "From this many errors on, each error reply is delayed by smtpd.error_delay.", 1, 1000},
  {"smtpd.error_delay", T::kDuration, "1s", "Delay added to error replies past smtpd.soft_error_limit.", 0, 60},
  {"smtpd.max_auth_failures", T::kInt, "3", "Failed AUTH attempts per session before 421 and disconnect.", 1, 100},
  {"smtpd.auth_failure_delay", T::kDuration, "2s", "Delay before answering a failed AUTH.", 0, 60},
  {"smtpd.tls_handshake_timeout", T::kDuration, "60s", "Time allowed for a TLS handshake (STARTTLS and port 465).", 1, 600},
  {"smtpd.greeting_delay", T::kDuration, "0", "Pause before the greeting to catch clients that talk first (0: off).", 0, 60},
  {"smtpd.bare_lf", T::kString, "refuse", "A message with a bare LF or CR: refuse (550 5.6.0) or normalise to CRLF.", 0, 0, {"refuse", "normalize"}},
  {"smtpd.sender_must_match_login", T::kBool, "yes", "An authenticated sender's MAIL FROM must be one of their addresses."},
  {"smtpd.relay_host", T::kString, "", "Send all outbound mail through this host[:port] instead of MX lookups."},
  {"smtpd.transport_map", T::kPath, "", "Per-domain routes: a file of 'domain host[:port]' lines ('.example.com' = subdomains, '*' = all); empty: none."},
  {"smtpd.queue_scan_interval", T::kDuration, "1m", "How often the outbound queue runner looks for due mail.", 1, 3600},
  {"smtpd.spf", T::kBool, "yes", "Check SPF (RFC 7208) of mail from outside: the envelope sender's domain, or the HELO name for a bounce. The result goes into a Received-SPF header and to the filter (rules SPF_FAIL, SPF_SOFTFAIL, SPF_FAIL_FROM_DOMAIN; filter/README.md). Authenticated submissions are never checked."},
  {"smtpd.spf_skip_networks", T::kList, "127.0.0.0/8, ::1", "Clients (addresses or CIDR networks, comma-separated) whose mail is not checked for SPF: local relays and content filters. Empty: check every client."},
  {"smtpd.spf_timeout", T::kDuration, "20s", "Time allowed for one SPF check's DNS lookups (RFC 7208 section 4.6.4); past it the result is temperror.", 1, 300},
  {"smtpd.dns_server", T::kString, "", "DNS server for smtpd's SPF lookups, IP or IP:port ([v6]:port); empty: the system's (/etc/resolv.conf)."},
  {"smtpd.queue_lifetime", T::kDuration, "5d", "How long outbound mail is retried before it bounces.", 60, 86400 * 30},
  // [imapd]
  {"imapd.listen_imap", T::kEndpoint, "127.0.0.1:2143", "IMAP listener with STARTTLS (143); empty disables it."},
  {"imapd.listen_imaps", T::kEndpoint, "127.0.0.1:2993", "IMAP over implicit TLS (993)."},
  {"imapd.max_literal_size", T::kSize, "64M", "Largest literal (APPEND) accepted after login.", 1024, 2 * kGiB},
  {"imapd.idle_timeout", T::kDuration, "30m", "Idle time before an authenticated session is closed (RFC 9051 §5.4: at least 30m).", 60, 86400},
  {"imapd.max_connections_per_ip", T::kInt, "50", "Concurrent connections from one IP address.", 1, 100000},
  {"imapd.max_connections", T::kInt, "5000", "Concurrent connections in all.", 1, 1000000},
  {"imapd.flag_sync", T::kString, "journal", "Durability of flag changes (STORE): journal = answered once written to a journal in the data directory (imapd-flags.journal) and applied with a sync right after (a crash of imapd loses nothing; a system crash may lose the last moments of flag changes, never corrupt the store); deferred = answered once the data pages are synced, the commit record synced with the next commit or within 20 ms; full = both synced before the reply. Messages are always fully synced before their reply.", 0, 0, {"journal", "deferred", "full"}},
  // [httpd]
  {"httpd.listen", T::kEndpoint, "127.0.0.1:8443", "HTTPS API and web UI listener; empty disables it."},
  {"httpd.session_lifetime", T::kDuration, "8h", "Lifetime of a web session token.", 60, 86400 * 30},
  {"httpd.webhook_urls", T::kList, "", "URLs that receive signed JSON events (comma-separated)."},
  {"httpd.webhook_ca_file", T::kPath, "", "CA file to verify https webhook receivers; empty: the system trust store."},
  {"httpd.webhook_secret_file", T::kPath, "", "File with the HMAC-SHA256 key that signs webhook events."},
  // [filter]
  {"filter.junk_threshold", T::kInt, "5", "Default score at or above which mail goes to Junk.", -1000, 1000},
  {"filter.reject_threshold", T::kInt, "15", "Default score at or above which mail is rejected.", -1000, 1000},
  {"filter.sender_memory", T::kBool, "yes", "Mail from a sender (From address, or a From domain not on the shared list, with its first network) learned as ham and never as spam loses 2 points after one ham, up to 4; a reply to a message a user here sent loses up to 4 as well, and mail from an address a user here wrote to (its envelope in the same domain) up to 2, not more than 4 in all (no = none of them)."},
  {"filter.shared_mail_domains", T::kList, "", "Shared mailbox providers (free mail, ISPs) besides the built-in list, comma-separated: the sender memory never trusts such a domain's addresses as a group."},
  {"filter.classifier_needs_rule", T::kBool, "yes", "The classifier's points count toward Junk, quarantine and reject only when a rule of score 0.5 or more agrees (no = the classifier alone may file mail as spam)."},
  {"filter.max_scan_size", T::kSize, "10M", "Bytes of a message the filter scans; the rest is passed unscanned.", 1024, kGiB},
};

bool parse_bool(std::string_view v, bool& out) {
  std::string s = to_lower(v);
  if (s == "yes" || s == "true" || s == "on" || s == "1") return out = true, true;
  if (s == "no" || s == "false" || s == "off" || s == "0") return out = false, true;
  return false;
}

Result<int64_t> parse_number_with_suffix(std::string_view text, const char* suffixes,
                                         const int64_t* multipliers, const char* what) {
  text = trim(text);
  if (text.empty()) return Status::invalid(std::string("empty ") + what);
  int64_t mult = 1;
  char last = text.back();
  if (!(last >= '0' && last <= '9')) {
    const std::string_view units(suffixes);
    if (units.empty()) return Status::invalid("not a number: " + std::string(text));
    // A find in the view, not strchr: strchr also finds the terminator, and a value ending
    // in a NUL octet read multipliers[5], past the table (found by tests/fuzz).
    size_t unit = units.find(last >= 'a' && last <= 'z' ? static_cast<char>(last - 32) : last);
    if (unit == std::string_view::npos)
      return Status::invalid(std::string("unknown unit '") + last + "' in " + what);
    mult = multipliers[unit];
    text.remove_suffix(1);
  }
  if (text.empty() || text.size() > 15) return Status::invalid(std::string("bad ") + what);
  int64_t n = 0;
  for (char c : text) {
    if (c < '0' || c > '9') return Status::invalid(std::string("not a number: ") + std::string(text));
    n = n * 10 + (c - '0');
  }
  if (n > INT64_MAX / mult) return Status::invalid(std::string(what) + " too large");
  return n * mult;
}

std::string resolve_path(const std::string& value, const std::string& base) {
  if (value.empty() || value[0] == '/') return value;
  return (std::filesystem::path(base) / value).lexically_normal().string();
}

const ConfigKey* find_key(std::string_view name) {
  for (auto& k : kSchema)
    if (name == k.name) return &k;
  return nullptr;
}

// Validates one value; on success fills the normalised text and number.
Status validate(const ConfigKey& k, std::string_view value, const std::string& base,
                std::string& text, int64_t& number) {
  text = std::string(value);
  number = 0;
  switch (k.type) {
    case T::kString:
      if (!k.choices.empty()) {
        for (auto* c : k.choices)
          if (value == c) return Status::ok();
        std::string allowed;
        for (auto* c : k.choices) allowed += std::string(allowed.empty() ? "" : ", ") + c;
        return Status::invalid("must be one of: " + allowed);
      }
      return Status::ok();
    case T::kPath:
      text = resolve_path(text, base);
      return Status::ok();
    case T::kList:
      return Status::ok();
    case T::kBool: {
      bool b;
      if (!parse_bool(value, b)) return Status::invalid("expected yes or no");
      text = b ? "yes" : "no";
      number = b;
      return Status::ok();
    }
    case T::kEndpoint: {
      auto e = parse_endpoint(value);
      if (!e.is_ok()) return e.status();
      return Status::ok();
    }
    case T::kInt:
    case T::kSize:
    case T::kDuration: {
      Result<int64_t> n = k.type == T::kSize       ? parse_size(value)
                          : k.type == T::kDuration ? parse_duration(value)
                                                   : parse_number_with_suffix(value, "", nullptr, "integer");
      if (!n.is_ok()) {
        // allow a leading minus for plain integers
        if (k.type == T::kInt && !value.empty() && value[0] == '-') {
          auto m = parse_number_with_suffix(value.substr(1), "", nullptr, "integer");
          if (m.is_ok()) n = -*m;
        }
        if (!n.is_ok()) return n.status();
      }
      if (*n < k.min || *n > k.max)
        return Status::invalid("out of range (" + std::to_string(k.min) + " to " + std::to_string(k.max) + ")");
      number = *n;
      return Status::ok();
    }
  }
  return Status::internal("unknown type");
}

}  // namespace

const std::vector<ConfigKey>& config_schema() { return kSchema; }

std::string Endpoint::to_string() const {
  if (!enabled()) return "";
  if (host.find(':') != std::string::npos) return "[" + host + "]:" + std::to_string(port);
  return host + ":" + std::to_string(port);
}

Result<Endpoint> parse_endpoint(std::string_view text) {
  text = trim(text);
  Endpoint e;
  if (text.empty()) return e;
  size_t colon;
  if (text[0] == '[') {
    size_t close = text.find(']');
    if (close == std::string_view::npos || close + 1 >= text.size() || text[close + 1] != ':')
      return Status::invalid("expected [address]:port");
    e.host = std::string(text.substr(1, close - 1));
    colon = close + 1;
  } else {
    colon = text.rfind(':');
    if (colon == std::string_view::npos) return Status::invalid("expected host:port");
    e.host = std::string(text.substr(0, colon));
    if (e.host.find(':') != std::string::npos) return Status::invalid("IPv6 addresses need [brackets]");
  }
  std::string_view port = text.substr(colon + 1);
  if (port.empty() || port.size() > 5) return Status::invalid("bad port");
  int p = 0;
  for (char c : port) {
    if (c < '0' || c > '9') return Status::invalid("bad port");
    p = p * 10 + (c - '0');
  }
  if (p < 1 || p > 65535) return Status::invalid("port out of range (1 to 65535)");
  if (e.host.empty()) return Status::invalid("missing host");
  e.port = uint16_t(p);
  return e;
}

Result<int64_t> parse_size(std::string_view text) {
  static const int64_t mult[] = {1, 1ll << 10, 1ll << 20, 1ll << 30, 1ll << 40};
  return parse_number_with_suffix(text, "BKMGT", mult, "size");
}

Result<int64_t> parse_duration(std::string_view text) {
  static const int64_t mult[] = {1, 60, 3600, 86400, 604800};
  return parse_number_with_suffix(text, "SMHDW", mult, "duration");
}

Config Config::defaults(const std::string& base_dir) {
  Config c;
  c.path_ = "(defaults)";
  for (auto& k : kSchema) {
    std::string text;
    int64_t n;
    Status s = validate(k, k.default_value, base_dir, text, n);
    if (!s.is_ok()) {
      fprintf(stderr, "config schema: bad default for %s: %s\n", k.name, s.to_string().c_str());
      abort();
    }
    c.raw_[k.name] = text;
    c.numbers_[k.name] = n;
  }
  return c;
}

Result<Config> Config::load(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return Status::not_found("cannot read config file " + path);
  std::stringstream ss;
  ss << in.rdbuf();
  return parse(ss.str(), path);
}

Result<Config> Config::parse(std::string_view text, const std::string& path) {
  std::string abs = std::filesystem::absolute(path).lexically_normal().string();
  std::string base = std::filesystem::path(abs).parent_path().string();
  Config c = defaults(base);
  c.path_ = abs;
  std::map<std::string, int> seen;
  std::string section;
  int lineno = 0;
  auto err = [&](const std::string& why) { return Status::invalid(path + ":" + std::to_string(lineno) + ": " + why); };
  for (std::string_view line : split(text, '\n')) {
    lineno++;
    line = trim(line);
    if (line.empty() || line[0] == '#' || line[0] == ';') continue;
    if (line[0] == '[') {
      if (line.back() != ']') return err("malformed section header");
      section = std::string(trim(line.substr(1, line.size() - 2)));
      bool known = false;
      for (auto& k : kSchema)
        if (std::string_view(k.name).substr(0, section.size() + 1) == section + ".") known = true;
      if (!known) return err("unknown section [" + section + "]");
      continue;
    }
    size_t eq = line.find('=');
    if (eq == std::string_view::npos) return err("expected key = value");
    std::string key(trim(line.substr(0, eq)));
    std::string_view value = trim(line.substr(eq + 1));
    if (section.empty()) return err(key + ": key outside a [section]");
    std::string full = section + "." + key;
    const ConfigKey* k = find_key(full);
    if (!k) return err(full + ": unknown key");
    if (seen.count(full)) return err(full + ": duplicate key (first set on line " + std::to_string(seen[full]) + ")");
    seen[full] = lineno;
    if (value.size() >= 2 && value.front() == '"' && value.back() == '"') value = value.substr(1, value.size() - 2);
    std::string normal;
    int64_t n;
    Status s = validate(*k, value, base, normal, n);
    if (!s.is_ok()) return err(full + ": " + s.message());
    c.raw_[full] = normal;
    c.numbers_[full] = n;
  }
  return c;
}

const ConfigKey& Config::key_or_die(std::string_view name, std::initializer_list<ConfigType> types) const {
  const ConfigKey* k = find_key(name);
  bool type_ok = false;
  if (k)
    for (auto t : types) type_ok |= (k->type == t);
  if (!k || !type_ok) {
    fprintf(stderr, "config: programming error: key %.*s %s\n", int(name.size()), name.data(),
            k ? "read with the wrong type" : "is not in the schema");
    abort();
  }
  return *k;
}

const std::string& Config::str(std::string_view key) const {
  key_or_die(key, {T::kString, T::kPath});
  return raw_.find(key)->second;
}
int64_t Config::integer(std::string_view key) const {
  key_or_die(key, {T::kInt, T::kSize, T::kDuration});
  return numbers_.find(key)->second;
}
bool Config::boolean(std::string_view key) const {
  key_or_die(key, {T::kBool});
  return numbers_.find(key)->second != 0;
}
std::vector<std::string> Config::list(std::string_view key) const {
  key_or_die(key, {T::kList});
  std::vector<std::string> out;
  for (auto part : split(raw_.find(key)->second, ','))
    if (!trim(part).empty()) out.emplace_back(trim(part));
  return out;
}
Endpoint Config::endpoint(std::string_view key) const {
  key_or_die(key, {T::kEndpoint});
  return parse_endpoint(raw_.find(key)->second).value();
}

std::string Config::render_default_file(const std::map<std::string, std::string>& overrides) {
  std::string out =
      "# Tsubame configuration. Every key is listed with its default and what it means.\n"
      "# Relative paths are resolved against the directory of this file.\n"
      "# Sizes take K, M, G suffixes; durations s, m, h, d, w; booleans yes/no.\n";
  std::string section;
  for (auto& k : kSchema) {
    std::string_view name(k.name);
    std::string sec(name.substr(0, name.find('.')));
    if (sec != section) {
      section = sec;
      out += "\n[" + section + "]\n";
    }
    std::string key(name.substr(name.find('.') + 1));
    out += "# " + std::string(k.description);
    if (!k.choices.empty()) {
      out += " One of:";
      for (auto* c : k.choices) out += std::string(" ") + c;
      out += ".";
    }
    out += " Default: " + std::string(*k.default_value ? k.default_value : "(empty)") + "\n";
    auto it = overrides.find(k.name);
    out += key + " = " + (it != overrides.end() ? it->second : std::string(k.default_value)) + "\n";
  }
  return out;
}

}  // namespace tsubame
