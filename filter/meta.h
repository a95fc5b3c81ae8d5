// filter/meta.h: meta rules, boolean expressions over the hits of other rules.
//
//   meta PHISH_COMBO = (URL_IP && PHRASE_VERIFY) || count(BULK_*) >= 2
//
// Grammar (whitespace free between tokens):
//   expr    := or
//   or      := and ( "||" and )*
//   and     := not ( "&&" not )*
//   not     := "!" not | cmp
//   cmp     := sum ( ( ">=" | ">" | "<=" | "<" | "==" | "!=" ) sum )?
//   sum     := primary ( "+" primary )*
//   primary := "(" expr ")" | "count" "(" pattern ( "," pattern )* ")" | ID | INTEGER
//   pattern := ID, where "*" matches any run of characters (BULK_*)
// Every node evaluates to an integer: a rule id is 1 when that rule hit and 0 otherwise,
// count(...) is the number of distinct rules matching any pattern that hit, && || ! treat
// non-zero as true and yield 0 or 1. A meta rule fires when its expression is non-zero.
//
// Failure: parse_meta returns InvalidArgument with the column and reason; resolve() returns
// InvalidArgument naming an unknown id (a count() pattern that matches nothing is allowed).
// A parsed expression is immutable and safe to evaluate from many threads at once.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "common/result.h"

namespace tsubame::filter {

// Upper bound on the nesting depth of one meta expression (parser recursion).
inline constexpr int kMaxMetaDepth = 64;
// Upper bound on the length of one meta expression, in bytes.
inline constexpr size_t kMaxMetaLength = 4096;

struct MetaNode;

class MetaExpr {
 public:
  MetaExpr();
  ~MetaExpr();
  MetaExpr(MetaExpr&&) noexcept;
  MetaExpr& operator=(MetaExpr&&) noexcept;

  // The ids and count() patterns the expression names, in order of appearance.
  const std::vector<std::string>& names() const { return names_; }
  const std::vector<std::string>& patterns() const { return patterns_; }

  // Binds every name to an index in the caller's hit table: lookup returns the index of a
  // rule id or -1; all_ids lists every rule id (index = position) for count() patterns.
  // A count() pattern never matches self_index (the meta rule holding the expression), so
  // "meta PHISH_MANY = count(PHISH_*) >= 3" does not count itself.
  Status resolve(const std::function<int(std::string_view)>& lookup,
                 const std::vector<std::string>& all_ids, int self_index = -1);

  // The rule indexes this expression depends on (after resolve), without duplicates.
  std::vector<uint32_t> dependencies() const;

  // Evaluates against hits (indexed like all_ids; non-zero = hit). Requires resolve().
  int64_t evaluate(const std::vector<uint8_t>& hits) const;

 private:
  friend Result<MetaExpr> parse_meta(std::string_view text);
  std::unique_ptr<MetaNode> root_;
  std::vector<std::string> names_;
  std::vector<std::string> patterns_;
};

Result<MetaExpr> parse_meta(std::string_view text);

// Glob match where '*' stands for any run of characters (possibly empty).
bool glob_match(std::string_view pattern, std::string_view name);

}  // namespace tsubame::filter
