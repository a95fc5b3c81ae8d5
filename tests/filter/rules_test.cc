// tests/filter/rules_test.cc: the rule file format, its loader's errors (file:line) and
// limits, meta-rule expressions, and the default rule set under conf/rules.
#include <gtest/gtest.h>
#include <hs/hs.h>

#include <string>

#include "filter/engine.h"
#include "filter/meta.h"
#include "filter/rules.h"

namespace tsubame::filter {
namespace {

const std::string kFixtures = std::string(TSUBAME_SOURCE_DIR) + "/tests/filter/fixtures/rules";

Result<RuleDefs> load(const std::string& text, const std::string& file = "t.rules") {
  return load_rule_sources({{file, text}});
}

bool has_line(const std::string& message, const std::string& needle) {
  return message.find(needle) != std::string::npos;
}

TEST(RulesTest, ParsesRuleWithAllAttributes) {
  auto defs = load(
      "# comment\n"
      "rule URL_IP\n"
      "  scope    url\n"
      "  match    /^https?:\\/\\/[0-9.]+\\//is\n"
      "  score    2.5\n"
      "  describe Link to an IP address\n");
  ASSERT_TRUE(defs) << defs.status().to_string();
  ASSERT_EQ(defs->rules.size(), 1u);
  const Rule& r = defs->rules[0];
  EXPECT_EQ(r.id, "URL_IP");
  EXPECT_EQ(r.scope.kind, ScopeKind::kUrl);
  EXPECT_EQ(r.pattern, "^https?:\\/\\/[0-9.]+\\/");
  EXPECT_EQ(r.flags, "is");
  EXPECT_EQ(r.hs_flags, unsigned(HS_FLAG_CASELESS | HS_FLAG_DOTALL));
  EXPECT_DOUBLE_EQ(r.score, 2.5);
  EXPECT_EQ(r.description, "Link to an IP address");
  EXPECT_EQ(r.where(), "t.rules:2");
  EXPECT_EQ(defs->content_hash.size(), 64u);
}

TEST(RulesTest, PatternKeepsInnerSlashesAndCrlfLines) {
  auto defs = load("rule A\r\n  scope body\r\n  match /a/b/c/m\r\n  score -1\r\n");
  ASSERT_TRUE(defs) << defs.status().to_string();
  EXPECT_EQ(defs->rules[0].pattern, "a/b/c");
  EXPECT_EQ(defs->rules[0].hs_flags, unsigned(HS_FLAG_MULTILINE));
  EXPECT_DOUBLE_EQ(defs->rules[0].score, -1);
}

TEST(RulesTest, EveryScopeParses) {
  struct Case {
    const char* text;
    ScopeKind kind;
    const char* key;
  } cases[] = {
      {"header:List-Unsubscribe", ScopeKind::kHeader, "header:list-unsubscribe"},
      {"subject", ScopeKind::kSubject, "subject"},
      {"from", ScopeKind::kFrom, "from"},
      {"body", ScopeKind::kBody, "body"},
      {"rawbody", ScopeKind::kRawBody, "rawbody"},
      {"html", ScopeKind::kHtml, "html"},
      {"url", ScopeKind::kUrl, "url"},
      {"attachment-name", ScopeKind::kAttachmentName, "attachment-name"},
      {"attachment-type", ScopeKind::kAttachmentType, "attachment-type"},
      {"check:missing-date", ScopeKind::kCheck, "check:missing-date"},
  };
  for (const auto& c : cases) {
    auto s = parse_scope(c.text);
    ASSERT_TRUE(s) << c.text;
    EXPECT_EQ(s->kind, c.kind) << c.text;
    EXPECT_EQ(s->key(), c.key);
  }
  EXPECT_FALSE(parse_scope("header:"));
  EXPECT_FALSE(parse_scope("header:Bad Name"));
  EXPECT_FALSE(parse_scope("check:no-such-check"));
  EXPECT_FALSE(parse_scope("bodies"));
}

TEST(RulesTest, FlagsMapToHyperscan) {
  EXPECT_EQ(parse_flags("").value(), 0u);
  EXPECT_EQ(parse_flags("i").value(), unsigned(HS_FLAG_CASELESS));
  EXPECT_EQ(parse_flags("s").value(), unsigned(HS_FLAG_DOTALL));
  EXPECT_EQ(parse_flags("m").value(), unsigned(HS_FLAG_MULTILINE));
  EXPECT_EQ(parse_flags("u").value(), unsigned(HS_FLAG_UTF8));
  EXPECT_EQ(parse_flags("up").value(), unsigned(HS_FLAG_UTF8 | HS_FLAG_UCP));
  EXPECT_FALSE(parse_flags("p"));  // UCP without UTF-8 is meaningless
  EXPECT_FALSE(parse_flags("x"));
}

TEST(RulesTest, CheckScopeTakesNoMatchAndPatternScopeNeedsOne) {
  auto a = load("rule A\n  scope check:missing-date\n  match /x/\n");
  ASSERT_FALSE(a);
  EXPECT_TRUE(has_line(a.status().message(), "t.rules:1: rule A: a check: scope takes no match"));
  auto b = load("rule B\n  scope body\n");
  ASSERT_FALSE(b);
  EXPECT_TRUE(has_line(b.status().message(), "t.rules:1: rule B has no match"));
  auto c = load("rule C\n  scope check:missing-date\n  score 1\n");
  EXPECT_TRUE(c) << c.status().to_string();
}

TEST(RulesTest, LoaderReportsEveryErrorWithFileAndLine) {
  auto sources = read_rule_sources(kFixtures + "/bad_syntax");
  ASSERT_TRUE(sources);
  auto defs = load_rule_sources(sources.value());
  ASSERT_FALSE(defs);
  const std::string m = defs.status().message();
  const std::string f = kFixtures + "/bad_syntax/bad.rules";
  EXPECT_TRUE(has_line(m, f + ":2: bad rule id 'lower_case_id'")) << m;
  EXPECT_TRUE(has_line(m, f + ":3: attribute outside a rule block")) << m;
  EXPECT_TRUE(has_line(m, f + ":6: rule NO_SCOPE has no scope")) << m;
  EXPECT_TRUE(has_line(m, f + ":10: unknown scope 'elsewhere'")) << m;
  EXPECT_TRUE(has_line(m, f + ":15: unknown flag 'q'")) << m;
  EXPECT_TRUE(has_line(m, f + ":20: bad score 'lots'")) << m;
  EXPECT_TRUE(has_line(m, f + ":22: meta BAD_META: meta expression")) << m;
  EXPECT_TRUE(has_line(m, f + ":29: duplicate id DUP (first at " + f + ":25)")) << m;
}

TEST(RulesTest, UnknownAttributeAndDuplicates) {
  auto d = load("rule A\n  scope body\n  match /x/\n  colour red\n  score 1\n  score 2\n");
  ASSERT_FALSE(d);
  EXPECT_TRUE(has_line(d.status().message(), "t.rules:4: unknown attribute 'colour'"));
  EXPECT_TRUE(has_line(d.status().message(), "t.rules:6: duplicate score"));
}

TEST(RulesTest, MetaNamesUnknownRule) {
  auto d = load("rule A\n  scope body\n  match /x/\nmeta M = A && NOPE\n");
  ASSERT_FALSE(d);
  EXPECT_TRUE(has_line(d.status().message(), "t.rules:4: meta M: meta expression names unknown rule NOPE"))
      << d.status().message();
}

TEST(RulesTest, MetaCycleIsRejected) {
  auto d = load(
      "rule A\n  scope body\n  match /x/\n"
      "meta M1 = A && M2\n"
      "meta M2 = M1\n");
  ASSERT_FALSE(d);
  EXPECT_TRUE(has_line(d.status().message(), "depends on itself")) << d.status().message();
}

TEST(RulesTest, MetaCountDoesNotCountItself) {
  auto d = load(
      "rule PH_A\n  scope body\n  match /a/\n"
      "rule PH_B\n  scope body\n  match /b/\n"
      "meta PH_ALL = count(PH_*) >= 2\n");
  ASSERT_TRUE(d) << d.status().to_string();
  EXPECT_EQ(d->metas[0].expr.dependencies(), (std::vector<uint32_t>{0, 1}));
}

TEST(RulesTest, MetaOrderPutsDependenciesFirst) {
  auto d = load(
      "rule A\n  scope body\n  match /a/\n"
      "meta LATE = EARLY || A\n"
      "meta EARLY = A\n");
  ASSERT_TRUE(d) << d.status().to_string();
  ASSERT_EQ(d->meta_order.size(), 2u);
  EXPECT_EQ(d->metas[d->meta_order[0]].id, "EARLY");
  EXPECT_EQ(d->metas[d->meta_order[1]].id, "LATE");
}

TEST(RulesTest, LimitRuleIdLength) {
  std::string ok(kMaxRuleIdLength, 'A'), bad(kMaxRuleIdLength + 1, 'A');
  EXPECT_TRUE(load("rule " + ok + "\n  scope body\n  match /x/\n"));
  auto d = load("rule " + bad + "\n  scope body\n  match /x/\n");
  ASSERT_FALSE(d);
  EXPECT_TRUE(has_line(d.status().message(), "t.rules:1: bad rule id"));
}

TEST(RulesTest, LimitPatternLength) {
  std::string ok(kMaxPatternLength, 'a'), bad(kMaxPatternLength + 1, 'a');
  EXPECT_TRUE(load("rule A\n  scope body\n  match /" + ok + "/\n"));
  auto d = load("rule A\n  scope body\n  match /" + bad + "/\n");
  ASSERT_FALSE(d);
  EXPECT_TRUE(has_line(d.status().message(), "t.rules:3: pattern longer than"));
}

TEST(RulesTest, LimitRuleFileBytes) {
  std::string big = "# " + std::string(kMaxRuleFileBytes, 'x') + "\n";
  auto d = load(big, "big.rules");
  ASSERT_FALSE(d);
  EXPECT_TRUE(has_line(d.status().message(), "big.rules:0: file larger than"));
}

TEST(RulesTest, LimitRuleCount) {
  std::string text;
  for (size_t i = 0; i <= kMaxRules; ++i)
    text += "rule R" + std::to_string(i) + "\n  scope check:missing-date\n";
  auto d = load(text);
  ASSERT_FALSE(d);
  EXPECT_TRUE(has_line(d.status().message(), "more than " + std::to_string(kMaxRules)));
}

TEST(RulesTest, ContentHashFollowsContent) {
  auto a = load("rule A\n  scope body\n  match /x/\n");
  auto b = load("rule A\n  scope body\n  match /y/\n");
  auto c = load("rule A\n  scope body\n  match /x/\n");
  ASSERT_TRUE(a && b && c);
  EXPECT_NE(a->content_hash, b->content_hash);
  EXPECT_EQ(a->content_hash, c->content_hash);
}

TEST(RulesTest, MissingPathIsNotFound) {
  auto d = load_rule_path("/nonexistent/rules");
  ASSERT_FALSE(d);
  EXPECT_EQ(d.status().code(), Code::kNotFound);
}

// ---- meta expressions ----

TEST(MetaTest, GrammarAndEvaluation) {
  std::vector<std::string> ids = {"A", "B", "BULK_1", "BULK_2", "BULK_3"};
  auto lookup = [&](std::string_view id) {
    for (size_t i = 0; i < ids.size(); ++i)
      if (ids[i] == id) return static_cast<int>(i);
    return -1;
  };
  struct Case {
    const char* expr;
    std::vector<uint8_t> hits;
    int64_t want;
  } cases[] = {
      {"A && B", {1, 1, 0, 0, 0}, 1},
      {"A && B", {1, 0, 0, 0, 0}, 0},
      {"A || B", {0, 1, 0, 0, 0}, 1},
      {"!A", {0, 0, 0, 0, 0}, 1},
      {"!A", {1, 0, 0, 0, 0}, 0},
      {"(A && !B) || count(BULK_*) >= 2", {0, 0, 1, 1, 0}, 1},
      {"(A && !B) || count(BULK_*) >= 2", {0, 0, 1, 0, 0}, 0},
      {"count(BULK_*)", {0, 0, 1, 1, 1}, 3},
      {"count(A, B, BULK_3)", {1, 1, 0, 0, 1}, 3},
      {"A + B + BULK_1 > 1", {1, 0, 1, 0, 0}, 1},
      {"A + B == 0", {0, 0, 0, 0, 0}, 1},
      {"A != B", {1, 0, 0, 0, 0}, 1},
      {"count(BULK_*) <= 1", {0, 0, 1, 1, 0}, 0},
      {"count(BULK_*) < 3", {0, 0, 1, 1, 0}, 1},
  };
  for (const auto& c : cases) {
    auto e = parse_meta(c.expr);
    ASSERT_TRUE(e) << c.expr << ": " << e.status().to_string();
    ASSERT_TRUE(e->resolve(lookup, ids)) << c.expr;
    EXPECT_EQ(e->evaluate(c.hits), c.want) << c.expr;
  }
}

TEST(MetaTest, SyntaxErrorsNameTheColumn) {
  for (const char* bad : {"", "A &&", "(A", "A B", "count(", "count()", "A >= ", "&& A"}) {
    auto e = parse_meta(bad);
    ASSERT_FALSE(e) << bad;
    EXPECT_TRUE(has_line(e.status().message(), "column")) << bad;
  }
}

TEST(MetaTest, LimitDepthAndLength) {
  std::string deep(kMaxMetaDepth + 5, '(');
  deep += "A";
  deep += std::string(kMaxMetaDepth + 5, ')');
  auto e = parse_meta(deep);
  ASSERT_FALSE(e);
  EXPECT_TRUE(has_line(e.status().message(), "nested too deeply"));
  std::string shallow = "((((A))))";
  EXPECT_TRUE(parse_meta(shallow));
  std::string longexpr = "A";
  while (longexpr.size() <= kMaxMetaLength) longexpr += " || A";
  EXPECT_FALSE(parse_meta(longexpr));
}

TEST(MetaTest, GlobMatch) {
  EXPECT_TRUE(glob_match("BULK_*", "BULK_A"));
  EXPECT_TRUE(glob_match("BULK_*", "BULK_"));
  EXPECT_FALSE(glob_match("BULK_*", "XBULK_A"));
  EXPECT_TRUE(glob_match("*_URL*", "SHORT_URL_X"));
  EXPECT_TRUE(glob_match("A", "A"));
  EXPECT_FALSE(glob_match("A", "AB"));
  EXPECT_TRUE(glob_match("*", ""));
}

// ---- the shipped default rule set ----

TEST(DefaultRulesTest, LoadsAndCompiles) {
  auto defs = load_rule_path(std::string(TSUBAME_SOURCE_DIR) + "/conf/rules");
  ASSERT_TRUE(defs) << defs.status().message();
  EXPECT_GT(defs->rules.size(), 60u);
  EXPECT_GT(defs->metas.size(), 5u);
  for (const auto& r : defs->rules)
    EXPECT_FALSE(r.description.empty()) << r.where() << " " << r.id << " has no description";
  auto set = build_rule_set(std::move(defs.value()), "");
  ASSERT_TRUE(set) << set.status().message();
  EXPECT_GT(set.value()->database_count(), 5u);
}

}  // namespace
}  // namespace tsubame::filter
