// filter/rules.h: the rule file format (conf/rules/*.rules) and its loader.
//
// A rule file is UTF-8 text made of blocks; '#' starts a comment line; blank lines are
// ignored. Each block opens with `rule ID` or `meta ID = EXPRESSION` at column 0 and is
// followed by indented attribute lines:
//
//   rule URL_IP_LITERAL
//     scope    url
//     match    /^[a-z][a-z0-9+.-]*:\/\/\[?[0-9]{1,3}(\.[0-9]{1,3}){3}/i
//     score    2.5
//     describe Link to a bare IP address instead of a host name
//
//   meta PHISH_COMBO = (URL_IP_LITERAL && PHRASE_VERIFY) || count(BULK_*) >= 2
//     score    3.0
//     describe An IP link together with account-verification wording
//
// Attributes: `scope` (rules only, required), `match /EXPR/FLAGS` (rules with a pattern
// scope, required), `score` (a decimal, may be negative, default 0), `describe` (free
// text, default empty). Ids are [A-Z0-9_]+ and unique across all loaded files; ids that
// start with "__" are helpers: they feed meta rules and never appear in a verdict.
//
// Scopes: header:NAME (each value of that header, unfolded and decoded), subject, from
// (the decoded From header), body (decoded text of every text part, HTML turned to text),
// rawbody (the message body as received, undecoded), html (each text/html part's markup,
// transfer encoding undone, in UTF-8), url (each link), attachment-name,
// attachment-type (each attachment's declared and sniffed types, lower case), and
// check:NAME, a test computed in C++ (see kCheckNames) that has no `match` line.
//
// The pattern is everything between the first and the last '/' of the match line, so
// slashes inside need no escaping. Flags: i caseless, s dot matches newline, m multi-line
// anchors, u UTF-8 pattern and input, p Unicode classes (\w, \d ... with u).
//
// Failure: load functions return InvalidArgument whose message lists every problem found,
// one per line, as "file:line: reason". A rule set that fails to load is never used.
#pragma once

#include <cstdint>
#include <filesystem>
#include <string>
#include <string_view>
#include <vector>

#include "common/result.h"
#include "filter/meta.h"

namespace tsubame::filter {

// ---- limits of the rule loader (each tested in tests/filter/rules_test.cc) ----
inline constexpr size_t kMaxRuleFileBytes = 4 * 1024 * 1024;  // one .rules file
inline constexpr size_t kMaxRules = 20000;                    // rules + metas, all files
inline constexpr size_t kMaxRuleIdLength = 64;
inline constexpr size_t kMaxPatternLength = 8192;

enum class ScopeKind : uint8_t {
  kHeader, kSubject, kFrom, kBody, kRawBody, kUrl, kAttachmentName, kAttachmentType, kCheck,
  kHtml,
};

// The names that `check:NAME` may use; each is computed in C++ by the filter facade.
//   link-host-mismatch   an HTML link whose visible text names a host other than its href,
//                        the link not a click tracker (click_tracker_href)
//   missing-message-id   no Message-ID header          (RFC 5322 §3.6.4 says SHOULD)
//   missing-date         no Date header                (RFC 5322 §3.6 requires one)
//   missing-from         no From header                (RFC 5322 §3.6 requires one)
//   malformed-message-id Message-ID not of the form <left@right> (RFC 5322 §3.6.4)
//   malformed-date       Date that does not parse as RFC 5322 §3.3 date-time
//   from-domain-mismatch From header domain differs from the envelope sender domain
//   mime-anomaly         the MIME parser flagged the message as malformed
//   html-only-base64     the only readable text is HTML sent base64-encoded (no text/plain
//                        part): mail programs send HTML as 7bit or quoted-printable
//   html-little-text     HTML with no text/plain part, a link, and fewer than
//                        kLittleTextBytes (filter.h) of visible text: an image or a link
//                        instead of a message
//   exclaim-lines        many lines of the text end in '!' (kExclaimLines*, filter.h)
//   list-address-in-link mail to a list's own address (the one its List-Id names) links
//                        to another host with that address in the link (a harvested list)
//   header-name-case     a standard field's name cased at random ("MiME-Version"), which no
//                        mail program writes (filter.h header_name_case_forged)
//   date-future          Date more than kDateFutureMinSeconds (6 h) and at most
//                        kDateFutureMaxSeconds (7 days) after the stamp of the topmost
//                        Received field that parses (filter.h date_future)
//   mailer-forged        X-Mailer / User-Agent names a mail program and the Message-ID has
//                        another program's shape, or random letters (filter.h mailer_forged)
//   filetime-stale       the Windows FILETIME in a Microsoft-style boundary or Message-ID is
//                        more than kFiletimeStaleSeconds (30 days) from the Date
//                        (filter.h filetime_stale)
//   spf-fail             smtpd's SPF check (smtpd/spf) of the envelope sender's domain, or of
//                        the HELO name for the null reverse-path, ended in fail (RFC 7208
//                        §2.6.4: the domain says the client may not send for it)
//   spf-softfail         ... ended in softfail (§2.6.5: probably not authorised)
//   spf-fail-from-domain spf-fail for the envelope sender's domain (not the HELO name), and
//                        the From header's domain has the same base domain
inline constexpr std::string_view kCheckNames[] = {
    "link-host-mismatch",   "missing-message-id", "missing-date",         "missing-from",
    "malformed-message-id", "malformed-date",     "from-domain-mismatch", "mime-anomaly",
    "html-only-base64",     "html-little-text",   "exclaim-lines",        "list-address-in-link",
    "header-name-case",     "date-future",        "mailer-forged",        "filetime-stale",
    "spf-fail",             "spf-softfail",       "spf-fail-from-domain",
};

struct Scope {
  ScopeKind kind = ScopeKind::kBody;
  std::string name;  // header name (lower case) for kHeader, check name for kCheck
  // The canonical text form: "header:list-unsubscribe", "body", "check:missing-date".
  std::string key() const;
  bool operator==(const Scope&) const = default;
};

Result<Scope> parse_scope(std::string_view text);

// Hyperscan flags from the letters of a match line (i s m u p); InvalidArgument on others.
Result<unsigned> parse_flags(std::string_view letters);

struct Rule {
  std::string id;
  Scope scope;
  std::string pattern;  // empty for check: scopes
  std::string flags;    // the letters as written
  unsigned hs_flags = 0;
  double score = 0;
  std::string description;
  std::string file;  // where the rule was defined, for error messages
  int line = 0;
  bool helper() const { return id.size() >= 2 && id[0] == '_' && id[1] == '_'; }
  std::string where() const { return file + ":" + std::to_string(line); }
};

struct MetaRule {
  std::string id;
  std::string expression;  // as written
  MetaExpr expr;           // parsed and resolved
  double score = 0;
  std::string description;
  std::string file;
  int line = 0;
  bool helper() const { return id.size() >= 2 && id[0] == '_' && id[1] == '_'; }
  std::string where() const { return file + ":" + std::to_string(line); }
};

// Everything the rule files say, validated: ids unique, scopes and flags known, meta
// expressions parsed, resolved and acyclic. Hit tables index rules first, then metas:
// index i < rules.size() is rules[i], otherwise metas[i - rules.size()].
struct RuleDefs {
  std::vector<Rule> rules;
  std::vector<MetaRule> metas;
  std::vector<uint32_t> meta_order;  // indexes into metas, dependencies first
  std::string content_hash;          // SHA-256 (hex) over file names and contents
  size_t size() const { return rules.size() + metas.size(); }
  const std::string& id_at(size_t i) const;
  double score_at(size_t i) const;
  const std::string& description_at(size_t i) const;
  bool helper_at(size_t i) const;
  int index_of(std::string_view id) const;  // -1 when unknown
};

struct RuleSource {
  std::string file;  // name used in messages (path as given)
  std::string text;
};

// Parses one file's text into rules and metas (not yet cross-checked). Appends problems
// to errors as "file:line: reason".
void parse_rule_text(const RuleSource& src, RuleDefs& out, std::vector<std::string>& errors);

// Parses and cross-checks several sources (ids unique, metas resolved, no cycles).
Result<RuleDefs> load_rule_sources(const std::vector<RuleSource>& sources);

// Reads every *.rules file of a directory (sorted by name), or one file, and loads them.
Result<RuleDefs> load_rule_path(const std::filesystem::path& path);

// Reads the rule files (sorted by name) of a path without parsing them.
Result<std::vector<RuleSource>> read_rule_sources(const std::filesystem::path& path);

}  // namespace tsubame::filter
