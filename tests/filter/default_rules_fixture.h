// tests/filter/default_rules_fixture.h: a test suite over the shipped rule set
// (conf/rules), opened once per suite, as the filter, cross-validation and trait-rule tests
// use it; and check_fires() for the computed check: scopes.
#pragma once

#include <gtest/gtest.h>

#include <algorithm>
#include <span>
#include <string>

#include "filter/filter.h"
#include "filter/mime.h"

namespace tsubame::filter::testing {

inline const std::string kDefaultRules = std::string(TSUBAME_SOURCE_DIR) + "/conf/rules";
// The compiled default rule set is kept in the engine's own cache under the build tree (keyed
// by the rules' hash, checked against the Hyperscan version, the CPU and a checksum, written
// atomically), so the first test process compiles it and the others load it: ctest runs every
// case in its own process, and one compile takes 10-13 s in a Debug build (AVX-512 machines),
// which made the suite 25 minutes on 2 cores. tests/filter/engine_test.cc covers the compile,
// stale and corrupt cache paths themselves.
inline const std::string kDefaultRulesCache = std::string(TSUBAME_BINARY_DIR) + "/test-rule-cache";

class DefaultRulesTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    auto f = Filter::open({kDefaultRules, kDefaultRulesCache, nullptr, {}, {}, {}});
    ASSERT_TRUE(f) << f.status().message();
    filter_ = f.value().release();
  }
  static void TearDownTestSuite() {
    delete filter_;
    filter_ = nullptr;
  }
  static inline Filter* filter_ = nullptr;
};

// A message that must stay clear of a rule file: none of `ids` fired and it is delivered;
// `what` names the case in a failure.
template <class Ids>
void expect_quiet(const Verdict& v, const Ids& ids, const std::string& what = "") {
  for (const auto& id : ids) EXPECT_FALSE(v.has(id)) << id << " on: " << what << "\n" << v.to_text();
  EXPECT_EQ(v.action, Action::kDeliver) << what << "\n" << v.to_text();
}

// A well-formed UTF-8 plain-text letter (From, To, Date, Message-ID, MIME-Version) with the
// given body and subject, as the genre tests write their cases: no header rule fires on it,
// so only what its words say can.
inline std::string text_letter(const std::string& body, const std::string& subject,
                               const std::string& from = "Sender <sender@partner.example>") {
  return "From: " + from + "\r\nTo: bob@ours.example\r\n"
         "Date: Mon, 6 Jan 2025 10:00:00 +0900\r\nMessage-ID: <20250106.7@partner.example>\r\n"
         "MIME-Version: 1.0\r\nSubject: " +
         subject + "\r\nContent-Type: text/plain; charset=utf-8\r\nContent-Transfer-Encoding: 8bit\r\n\r\n" +
         body + "\r\n";
}

// One scored id of a rule file, as the genre tables write it: a spam letter that must fire
// it and the nearest legitimate letter that must fire nothing of the file (both built by
// text_letter()).
struct LetterCase {
  const char* id;
  const char* spam_body;
  const char* spam_subject;
  const char* legit_body;
  const char* legit_subject;
};

// Each case's spam letter fires its id (scanned with the default policy).
inline void expect_each_fires(const Filter& f, std::span<const LetterCase> cases) {
  const SmtpEnvelope env;
  const Policy policy;
  for (const LetterCase& c : cases) {
    Verdict v = f.scan(text_letter(c.spam_body, c.spam_subject), env, policy);
    EXPECT_TRUE(v.has(c.id)) << c.id << " did not fire on: " << c.spam_body << "\n" << v.to_text();
  }
}

// Each case's legitimate letter fires none of `ids` (the file's scored ids) and is delivered.
template <class Ids>
void expect_each_legit_quiet(const Filter& f, std::span<const LetterCase> cases, const Ids& ids) {
  const SmtpEnvelope env;
  const Policy policy;
  for (const LetterCase& c : cases) {
    Verdict v = f.scan(text_letter(c.legit_body, c.legit_subject), env, policy);
    expect_quiet(v, ids, c.legit_body);
  }
}

// Whether the computed check `name` (check:NAME) fires for the raw message.
inline bool check_fires(const std::string& raw, const std::string& name) {
  auto m = parse_message(raw);
  EXPECT_TRUE(m) << m.status().message();
  if (!m) return false;
  auto c = compute_checks(m.value(), {});
  return std::find(c.begin(), c.end(), name) != c.end();
}

}  // namespace tsubame::filter::testing
