// filter/meta.cc: parser and evaluator of meta-rule expressions (grammar in meta.h).
//
// A recursive-descent parser bounded by kMaxMetaDepth and kMaxMetaLength, so a hostile or
// broken rule file fails with a message instead of exhausting the stack.
#include "filter/meta.h"

#include <algorithm>
#include <cctype>
#include <set>

namespace tsubame::filter {

enum class MetaOp { kRule, kCount, kInt, kNot, kAnd, kOr, kAdd, kGe, kGt, kLe, kLt, kEq, kNe };

struct MetaNode {
  MetaOp op = MetaOp::kInt;
  int64_t value = 0;                  // kInt
  std::string name;                   // kRule
  int index = -1;                     // kRule after resolve
  std::vector<std::string> patterns;  // kCount
  std::vector<uint32_t> matched;      // kCount after resolve
  std::unique_ptr<MetaNode> a, b;
};

namespace {

class Parser {
 public:
  Parser(std::string_view text, std::vector<std::string>& names, std::vector<std::string>& pats)
      : s_(text), names_(names), patterns_(pats) {}

  Result<std::unique_ptr<MetaNode>> parse() {
    auto n = parse_or(0);
    if (!n) return n.status();
    skip_ws();
    if (pos_ != s_.size()) return fail("unexpected '" + std::string(1, s_[pos_]) + "'");
    return std::move(n.value());
  }

 private:
  using NodeResult = Result<std::unique_ptr<MetaNode>>;

  Status fail(const std::string& why) const {
    return Status::invalid("meta expression column " + std::to_string(pos_ + 1) + ": " + why);
  }
  void skip_ws() {
    while (pos_ < s_.size() && (s_[pos_] == ' ' || s_[pos_] == '\t')) ++pos_;
  }
  bool eat(std::string_view tok) {
    skip_ws();
    if (s_.substr(pos_, tok.size()) == tok) {
      pos_ += tok.size();
      return true;
    }
    return false;
  }
  static bool is_id_char(char c, bool glob) {
    return std::isalnum(static_cast<unsigned char>(c)) || c == '_' || c == '.' ||
           (glob && c == '*');
  }
  std::string ident(bool glob) {
    skip_ws();
    size_t start = pos_;
    while (pos_ < s_.size() && is_id_char(s_[pos_], glob)) ++pos_;
    return std::string(s_.substr(start, pos_ - start));
  }
  static std::unique_ptr<MetaNode> binary(MetaOp op, std::unique_ptr<MetaNode> a,
                                          std::unique_ptr<MetaNode> b) {
    auto n = std::make_unique<MetaNode>();
    n->op = op;
    n->a = std::move(a);
    n->b = std::move(b);
    return n;
  }

  NodeResult parse_or(int depth) {
    if (depth > kMaxMetaDepth) return fail("nested too deeply");
    auto left = parse_and(depth + 1);
    if (!left) return left;
    auto node = std::move(left.value());
    while (eat("||")) {
      auto right = parse_and(depth + 1);
      if (!right) return right;
      node = binary(MetaOp::kOr, std::move(node), std::move(right.value()));
    }
    return node;
  }
  NodeResult parse_and(int depth) {
    auto left = parse_not(depth + 1);
    if (!left) return left;
    auto node = std::move(left.value());
    while (eat("&&")) {
      auto right = parse_not(depth + 1);
      if (!right) return right;
      node = binary(MetaOp::kAnd, std::move(node), std::move(right.value()));
    }
    return node;
  }
  NodeResult parse_not(int depth) {
    if (depth > kMaxMetaDepth) return fail("nested too deeply");
    skip_ws();
    if (pos_ < s_.size() && s_[pos_] == '!' && s_.substr(pos_, 2) != "!=") {
      ++pos_;
      auto inner = parse_not(depth + 1);
      if (!inner) return inner;
      return binary(MetaOp::kNot, std::move(inner.value()), nullptr);
    }
    return parse_cmp(depth + 1);
  }
  NodeResult parse_cmp(int depth) {
    auto left = parse_sum(depth + 1);
    if (!left) return left;
    static const std::pair<std::string_view, MetaOp> kOps[] = {
        {">=", MetaOp::kGe}, {"<=", MetaOp::kLe}, {"==", MetaOp::kEq},
        {"!=", MetaOp::kNe}, {">", MetaOp::kGt},  {"<", MetaOp::kLt}};
    for (const auto& [tok, op] : kOps) {
      if (eat(tok)) {
        auto right = parse_sum(depth + 1);
        if (!right) return right;
        return binary(op, std::move(left.value()), std::move(right.value()));
      }
    }
    return left;
  }
  NodeResult parse_sum(int depth) {
    auto left = parse_primary(depth + 1);
    if (!left) return left;
    auto node = std::move(left.value());
    while (eat("+")) {
      auto right = parse_primary(depth + 1);
      if (!right) return right;
      node = binary(MetaOp::kAdd, std::move(node), std::move(right.value()));
    }
    return node;
  }
  NodeResult parse_primary(int depth) {
    if (depth > kMaxMetaDepth) return fail("nested too deeply");
    skip_ws();
    if (pos_ >= s_.size()) return fail("expression ends early");
    if (eat("(")) {
      auto inner = parse_or(depth + 1);
      if (!inner) return inner;
      if (!eat(")")) return fail("missing ')'");
      return inner;
    }
    if (std::isdigit(static_cast<unsigned char>(s_[pos_]))) {
      int64_t v = 0;
      while (pos_ < s_.size() && std::isdigit(static_cast<unsigned char>(s_[pos_]))) {
        if (v > 1000000) return fail("integer too large");
        v = v * 10 + (s_[pos_++] - '0');
      }
      auto n = std::make_unique<MetaNode>();
      n->op = MetaOp::kInt;
      n->value = v;
      return n;
    }
    size_t save = pos_;
    std::string id = ident(false);
    if (id.empty()) return fail("expected a rule id, count(...), a number or '('");
    if (id == "count" && eat("(")) {
      auto n = std::make_unique<MetaNode>();
      n->op = MetaOp::kCount;
      do {
        std::string p = ident(true);
        if (p.empty()) return fail("expected a rule id pattern in count()");
        patterns_.push_back(p);
        n->patterns.push_back(std::move(p));
      } while (eat(","));
      if (!eat(")")) return fail("missing ')' after count(");
      return n;
    }
    (void)save;
    auto n = std::make_unique<MetaNode>();
    n->op = MetaOp::kRule;
    names_.push_back(id);
    n->name = std::move(id);
    return n;
  }

  std::string_view s_;
  size_t pos_ = 0;
  std::vector<std::string>& names_;
  std::vector<std::string>& patterns_;
};

Status resolve_node(MetaNode* n, const std::function<int(std::string_view)>& lookup,
                    const std::vector<std::string>& all_ids, int self) {
  if (n == nullptr) return Status::ok();
  if (n->op == MetaOp::kRule) {
    n->index = lookup(n->name);
    if (n->index < 0) return Status::invalid("meta expression names unknown rule " + n->name);
  } else if (n->op == MetaOp::kCount) {
    n->matched.clear();
    for (uint32_t i = 0; i < all_ids.size(); ++i) {
      if (static_cast<int>(i) == self) continue;
      for (const auto& p : n->patterns) {
        if (glob_match(p, all_ids[i])) {
          n->matched.push_back(i);
          break;
        }
      }
    }
  }
  TSUBAME_TRY(resolve_node(n->a.get(), lookup, all_ids, self));
  return resolve_node(n->b.get(), lookup, all_ids, self);
}

void collect(const MetaNode* n, std::set<uint32_t>& out) {
  if (n == nullptr) return;
  if (n->op == MetaOp::kRule && n->index >= 0) out.insert(static_cast<uint32_t>(n->index));
  if (n->op == MetaOp::kCount) out.insert(n->matched.begin(), n->matched.end());
  collect(n->a.get(), out);
  collect(n->b.get(), out);
}

int64_t eval(const MetaNode* n, const std::vector<uint8_t>& hits) {
  switch (n->op) {
    case MetaOp::kInt: return n->value;
    case MetaOp::kRule:
      return (n->index >= 0 && static_cast<size_t>(n->index) < hits.size() && hits[n->index])
                 ? 1 : 0;
    case MetaOp::kCount: {
      int64_t c = 0;
      for (uint32_t i : n->matched) c += (i < hits.size() && hits[i]) ? 1 : 0;
      return c;
    }
    case MetaOp::kNot: return eval(n->a.get(), hits) == 0 ? 1 : 0;
    case MetaOp::kAnd: return (eval(n->a.get(), hits) != 0 && eval(n->b.get(), hits) != 0);
    case MetaOp::kOr: return (eval(n->a.get(), hits) != 0 || eval(n->b.get(), hits) != 0);
    case MetaOp::kAdd: return eval(n->a.get(), hits) + eval(n->b.get(), hits);
    case MetaOp::kGe: return eval(n->a.get(), hits) >= eval(n->b.get(), hits);
    case MetaOp::kGt: return eval(n->a.get(), hits) > eval(n->b.get(), hits);
    case MetaOp::kLe: return eval(n->a.get(), hits) <= eval(n->b.get(), hits);
    case MetaOp::kLt: return eval(n->a.get(), hits) < eval(n->b.get(), hits);
    case MetaOp::kEq: return eval(n->a.get(), hits) == eval(n->b.get(), hits);
    case MetaOp::kNe: return eval(n->a.get(), hits) != eval(n->b.get(), hits);
  }
  return 0;
}

}  // namespace

MetaExpr::MetaExpr() = default;
MetaExpr::~MetaExpr() = default;
MetaExpr::MetaExpr(MetaExpr&&) noexcept = default;
MetaExpr& MetaExpr::operator=(MetaExpr&&) noexcept = default;

Status MetaExpr::resolve(const std::function<int(std::string_view)>& lookup,
                         const std::vector<std::string>& all_ids, int self_index) {
  return resolve_node(root_.get(), lookup, all_ids, self_index);
}

std::vector<uint32_t> MetaExpr::dependencies() const {
  std::set<uint32_t> out;
  collect(root_.get(), out);
  return {out.begin(), out.end()};
}

int64_t MetaExpr::evaluate(const std::vector<uint8_t>& hits) const {
  return root_ ? eval(root_.get(), hits) : 0;
}

Result<MetaExpr> parse_meta(std::string_view text) {
  if (text.size() > kMaxMetaLength) return Status::invalid("meta expression too long");
  MetaExpr e;
  Parser p(text, e.names_, e.patterns_);
  auto root = p.parse();
  if (!root) return root.status();
  e.root_ = std::move(root.value());
  return e;
}

bool glob_match(std::string_view pattern, std::string_view name) {
  // Iterative matcher with single-star backtracking: linear in practice, no recursion.
  size_t p = 0, n = 0, star = std::string_view::npos, mark = 0;
  while (n < name.size()) {
    if (p < pattern.size() && pattern[p] == '*') {
      star = p++;
      mark = n;
    } else if (p < pattern.size() && pattern[p] == name[n]) {
      ++p;
      ++n;
    } else if (star != std::string_view::npos) {
      p = star + 1;
      n = ++mark;
    } else {
      return false;
    }
  }
  while (p < pattern.size() && pattern[p] == '*') ++p;
  return p == pattern.size();
}

}  // namespace tsubame::filter
