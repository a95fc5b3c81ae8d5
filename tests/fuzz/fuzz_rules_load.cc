// tests/fuzz/fuzz_rules_load.cc: libFuzzer target for the rule-file loader (filter/rules.h).
//
// Feeds: the input bytes as the text of one rule file, "fuzz.rules", to
// load_rule_sources() (parse, ids, scopes, flags, meta expressions resolved and checked
// for cycles; no Hyperscan compile).
// Asserts (__builtin_trap on violation): a failure is InvalidArgument whose message is one
// "fuzz.rules:LINE: reason" per line, LINE a number within the file; a success has ids of
// [A-Z0-9_]+, unique, every rule's and meta's line within the file, meta_order a
// permutation of the metas, and RuleDefs::index_of finds every id at its place.
#include <algorithm>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "filter/rules.h"
#include "tests/fuzz/fuzz_util.h"

namespace {

using tsubame::fuzz::require;
namespace filter = tsubame::filter;

bool valid_id(std::string_view id) {
  if (id.empty()) return false;
  return std::all_of(id.begin(), id.end(),
                     [](char c) { return (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_'; });
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::string text(reinterpret_cast<const char*>(data), size);
  const long lines = static_cast<long>(std::count(text.begin(), text.end(), '\n')) + 1;
  auto r = filter::load_rule_sources({filter::RuleSource{"fuzz.rules", text}});
  if (!r.is_ok()) {
    const tsubame::Status st = r.status();  // a copy: message() refers into it
    require(st.code() == tsubame::Code::kInvalidArgument, "a load failure that is not InvalidArgument");
    std::string_view msg = st.message();
    require(!msg.empty(), "a load failure without a message");
    while (!msg.empty()) {
      size_t eol = msg.find('\n');
      std::string_view line = msg.substr(0, eol);
      msg = eol == std::string_view::npos ? std::string_view() : msg.substr(eol + 1);
      require(line.starts_with("fuzz.rules:"), "an error line not naming the file");
      line.remove_prefix(11);
      size_t digits = 0;
      long n = 0;
      while (digits < line.size() && digits < 9 && line[digits] >= '0' && line[digits] <= '9')
        n = n * 10 + (line[digits++] - '0');
      require(digits > 0 && digits < line.size() && line[digits] == ':', "an error line without file:line:");
      require(n >= 1 && n <= lines, "an error line number outside the file");
    }
    return 0;
  }
  const filter::RuleDefs& d = *r;
  std::vector<std::string> ids;
  for (const auto& rule : d.rules) {
    require(valid_id(rule.id), "a rule id outside [A-Z0-9_]+");
    require(rule.line >= 1 && rule.line <= lines, "a rule's line outside the file");
    ids.push_back(rule.id);
  }
  for (const auto& meta : d.metas) {
    require(valid_id(meta.id), "a meta id outside [A-Z0-9_]+");
    require(meta.line >= 1 && meta.line <= lines, "a meta's line outside the file");
    ids.push_back(meta.id);
  }
  std::vector<std::string> sorted = ids;
  std::sort(sorted.begin(), sorted.end());
  require(std::adjacent_find(sorted.begin(), sorted.end()) == sorted.end(), "a duplicate id");
  for (size_t i = 0; i < ids.size(); ++i) require(d.index_of(ids[i]) == static_cast<int>(i), "index_of misses an id");
  std::vector<uint32_t> order = d.meta_order;
  std::sort(order.begin(), order.end());
  require(order.size() == d.metas.size(), "meta_order is not a permutation of the metas");
  for (size_t i = 0; i < order.size(); ++i) require(order[i] == i, "meta_order is not a permutation of the metas");
  return 0;
}
