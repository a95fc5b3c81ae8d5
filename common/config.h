// common/config.h: the one configuration file every Tsubame program reads.
//
// Format (conf/tsubame.conf documents every key with its default):
//     # comment
//     [section]
//     key = value
// Every key is declared once in the schema (common/config.cc: kSchema) with its type, default,
// bounds and a one-line description. Loading refuses, with "file:line: key: why", an unknown
// section or key, a duplicate key, a malformed line, and a value of the wrong type or out of
// range. Relative paths are resolved against the config file's directory.
//
// Values are read with typed accessors by full name ("smtpd.max_message_size"); asking for a
// key that is not in the schema, or with the wrong type, is a programming error and aborts.
// A loaded Config is immutable and safe to share between threads.
#pragma once

#include <cstdint>
#include <map>
#include <string>
#include <string_view>
#include <vector>

#include "common/result.h"

namespace tsubame {

enum class ConfigType { kString, kPath, kInt, kSize, kDuration, kBool, kList, kEndpoint };

struct ConfigKey {
  const char* name;         // "section.key"
  ConfigType type;
  const char* default_value;
  const char* description;
  int64_t min = 0;          // for kInt, kSize, kDuration (seconds)
  int64_t max = INT64_MAX;
  std::vector<const char*> choices = {};  // for kString: allowed values, empty = any
};

const std::vector<ConfigKey>& config_schema();

// A listening address "host:port" ("[v6]:port" for IPv6). Empty = disabled.
struct Endpoint {
  std::string host;
  uint16_t port = 0;
  bool enabled() const { return port != 0; }
  std::string to_string() const;
};
Result<Endpoint> parse_endpoint(std::string_view text);
Result<int64_t> parse_size(std::string_view text);      // "10M", "512K", "4096", "1G"
Result<int64_t> parse_duration(std::string_view text);  // seconds: "30", "30s", "5m", "2h", "7d"

class Config {
 public:
  // Loads and validates a file. Keys missing from it take their defaults.
  static Result<Config> load(const std::string& path);
  // Validates text as if it were the file `path` (for tests and `tsubame init`).
  static Result<Config> parse(std::string_view text, const std::string& path);
  // Every key at its default (relative paths against `base_dir`).
  static Config defaults(const std::string& base_dir = ".");

  const std::string& str(std::string_view key) const;       // kString, kPath (absolute)
  int64_t integer(std::string_view key) const;              // kInt, kSize (bytes), kDuration (s)
  bool boolean(std::string_view key) const;
  std::vector<std::string> list(std::string_view key) const;
  Endpoint endpoint(std::string_view key) const;
  const std::string& path() const { return path_; }

  // The whole file as it would be written with these values (used by `tsubame init`).
  static std::string render_default_file(const std::map<std::string, std::string>& overrides);

 private:
  const ConfigKey& key_or_die(std::string_view key, std::initializer_list<ConfigType> types) const;
  std::string path_;
  std::map<std::string, std::string, std::less<>> raw_;     // normalised text value
  std::map<std::string, int64_t, std::less<>> numbers_;
};

}  // namespace tsubame
