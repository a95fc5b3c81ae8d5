// tools/cmd_quarantine_rule.h: `tsubame quarantine decide ID spam --add-rule KIND`, a filter
// rule derived from a reported message, written to the local rule file of the configured
// rules directory (general.rules_dir/80-reported.rules).
//
//   report content ─ parse ─▶ derive_reported_rule(KIND) ─▶ RuleFileChange::apply
//        (sender: From address; url-host: link hosts; subject: the decoded Subject)
//            │ append the block (atomic rename), then load + compile the WHOLE rule set
//            │ (filter::load_rule_path + build_rule_set, what `tsubame filter compile` runs)
//            ├─ does not compile ─▶ rollback(): the file as it was (or no file) ─▶ exit 1
//            └─ compiles ─▶ caller decides the report; its failure also rolls the file back
//
// The daemons do not watch the directory: tsubame-smtpd reloads the rule set on SIGHUP
// (or at a restart); the CLI says so after adding a rule.
// Failure: Status values (InvalidArgument for an unknown KIND, NotFound when the message has
// nothing to derive the rule from, IOError for the file); nothing throws.
#pragma once

#include <cstdint>
#include <filesystem>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "common/result.h"
#include "filter/mime.h"

namespace tsubame::cli {

inline constexpr const char* kReportedRulesFile = "80-reported.rules";
// At most this many link hosts go into one url-host rule.
inline constexpr size_t kMaxReportedHosts = 10;
// Derived values longer than this are refused (a rule is one line; patterns are capped).
inline constexpr size_t kMaxReportedValue = 512;
// The score a derived rule gets unless --rule-score says otherwise: the default junk
// threshold, so that a match alone puts a message in Junk.
inline constexpr double kDefaultReportedRuleScore = 5.0;

// The KINDs `--add-rule` accepts.
inline constexpr const char* kReportedRuleKinds[] = {"sender", "url-host", "subject"};

struct ReportedRule {
  std::string id;                  // REPORTED_<KIND>_<report id>, e.g. REPORTED_SENDER_7
  std::string kind;                // sender, url-host, subject
  std::vector<std::string> values; // what it matches (the address, the hosts, the subject)
  std::string block;               // the rule block as written to the file
};

// Every byte outside [A-Za-z0-9] as \xHH: the value matches literally in Hyperscan, whatever
// its bytes (punctuation, spaces, UTF-8), and the match line stays one line.
std::string hyperscan_literal(std::string_view value);

Result<ReportedRule> derive_reported_rule(const filter::ParsedMessage& msg, uint64_t report_id,
                                          std::string_view kind, double score,
                                          std::string_view actor, std::string_view when);

// One change to the reported-rules file that can be undone.
class RuleFileChange {
 public:
  // Appends `rule` to rules_dir/80-reported.rules unless a rule with its id is there already
  // (then nothing changes: added() is false), and checks that the whole rule set still
  // loads and compiles; if not, the file is put back and the returned status carries the
  // loader's / compiler's "file:line: reason" lines.
  Status apply(const std::filesystem::path& rules_dir, const ReportedRule& rule);
  // Puts the file back as it was before apply() (removes it if apply() created it).
  Status rollback();
  bool added() const { return added_; }
  const std::filesystem::path& path() const { return path_; }

 private:
  std::filesystem::path path_;
  std::optional<std::string> before_;  // nullopt: the file did not exist
  bool added_ = false;
};

}  // namespace tsubame::cli
