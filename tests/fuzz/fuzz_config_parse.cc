// tests/fuzz/fuzz_config_parse.cc: libFuzzer target for the configuration parser
// (common/config.h).
//
// Feeds: the input bytes as the text of /etc/tsubame/fuzz.conf to Config::parse(); on
// success every key of the schema is read back with its typed accessor (str, integer,
// boolean, list, endpoint), as the daemons read them at start.
// Asserts (__builtin_trap on violation): a failure is InvalidArgument whose message names
// the file ("/etc/tsubame/fuzz.conf:LINE: ..."); a success yields, for every key, a value
// its accessor returns without aborting: integers within the key's [min, max], a kPath
// absolute, a kString with choices one of them.
#include <algorithm>
#include <cstdint>
#include <string>
#include <string_view>

#include "common/config.h"
#include "tests/fuzz/fuzz_util.h"

using tsubame::fuzz::require;

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::string_view text(reinterpret_cast<const char*>(data), size);
  const std::string path = "/etc/tsubame/fuzz.conf";
  auto r = tsubame::Config::parse(text, path);
  if (!r.is_ok()) {
    const tsubame::Status st = r.status();
    require(st.code() == tsubame::Code::kInvalidArgument, "a config failure that is not InvalidArgument");
    require(st.message().starts_with(path + ":"), "a config error that does not name the file");
    return 0;
  }
  const tsubame::Config& c = *r;
  for (const auto& k : tsubame::config_schema()) {
    switch (k.type) {
      case tsubame::ConfigType::kString: {
        const std::string& v = c.str(k.name);
        if (!k.choices.empty())
          require(std::any_of(k.choices.begin(), k.choices.end(), [&](const char* ch) { return v == ch; }),
                  "a string value outside its choices");
        break;
      }
      case tsubame::ConfigType::kPath: {
        const std::string& v = c.str(k.name);
        require(v.empty() || v.front() == '/', "a path that is not absolute");
        break;
      }
      case tsubame::ConfigType::kInt:
      case tsubame::ConfigType::kSize:
      case tsubame::ConfigType::kDuration: {
        int64_t v = c.integer(k.name);
        require(v >= k.min && v <= k.max, "a number outside its bounds");
        break;
      }
      case tsubame::ConfigType::kBool:
        (void)c.boolean(k.name);
        break;
      case tsubame::ConfigType::kList:
        (void)c.list(k.name);
        break;
      case tsubame::ConfigType::kEndpoint:
        (void)c.endpoint(k.name);
        break;
    }
  }
  return 0;
}
