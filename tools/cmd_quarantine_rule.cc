// tools/cmd_quarantine_rule.cc: rules derived from reported spam (see cmd_quarantine_rule.h).
// Failure: Status values; a failed apply() leaves the rule file as it was.
#include "tools/cmd_quarantine_rule.h"

#include <unistd.h>

#include <algorithm>
#include <cstdio>
#include <fstream>
#include <sstream>
#include <system_error>

#include "common/bytes.h"
#include "filter/engine.h"
#include "filter/filter.h"
#include "filter/rules.h"

namespace tsubame::cli {
namespace {

namespace fs = std::filesystem;

std::string rule_id(std::string_view kind, uint64_t report_id) {
  std::string id = "REPORTED_";
  for (char c : kind) id += c == '-' ? '_' : char(toupper(uint8_t(c)));
  return id + "_" + std::to_string(report_id);
}

std::string score_text(double score) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%.2f", score);
  return buf;
}

// Header field text for the comment line: one line, printable ASCII.
std::string one_line(std::string_view s) {
  std::string out;
  for (char c : s) out += (uint8_t(c) < 0x20 || uint8_t(c) >= 0x7f) ? '?' : c;
  return out;
}

Result<std::string> read_whole(const fs::path& p) {
  std::ifstream in(p, std::ios::binary);
  if (!in) return Status::io_error("cannot read " + p.string());
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

// Replaces `p` with `data` atomically (a temporary file in the same directory, renamed).
Status write_atomically(const fs::path& p, const std::string& data) {
  fs::path tmp = p;
  tmp += ".tmp-" + std::to_string(getpid());
  {
    std::ofstream out(tmp, std::ios::binary | std::ios::trunc);
    if (!out) return Status::io_error("cannot write " + tmp.string());
    out << data;
    out.flush();
    if (!out) {
      std::error_code ec;
      fs::remove(tmp, ec);
      return Status::io_error("cannot write " + tmp.string());
    }
  }
  std::error_code ec;
  fs::rename(tmp, p, ec);
  if (ec) {
    fs::remove(tmp, ec);
    return Status::io_error("cannot replace " + p.string() + ": " + ec.message());
  }
  return Status::ok();
}

// What `tsubame filter compile` checks: every file loads, every pattern compiles.
Status compile_rule_set(const fs::path& dir) {
  auto defs = filter::load_rule_path(dir);
  if (!defs.is_ok()) return defs.status();
  auto set = filter::build_rule_set(std::move(*defs), {});  // no cache: really compile
  return set.status();
}

}  // namespace

std::string hyperscan_literal(std::string_view value) {
  static const char* kHex = "0123456789abcdef";
  std::string out;
  for (char ch : value) {
    uint8_t c = uint8_t(ch);
    if (isalnum(c)) {
      out += ch;
    } else {
      out += "\\x";
      out += kHex[c >> 4];
      out += kHex[c & 15];
    }
  }
  return out;
}

Result<ReportedRule> derive_reported_rule(const filter::ParsedMessage& msg, uint64_t report_id,
                                          std::string_view kind, double score,
                                          std::string_view actor, std::string_view when) {
  ReportedRule r;
  r.kind = std::string(kind);
  r.id = rule_id(kind, report_id);
  std::string scope, pattern, describe;
  if (kind == "sender") {
    // The From address (what the user saw), bounded so that it does not match inside a
    // longer address. Scope `from` is the decoded From header (display name and address).
    if (!msg.from || msg.from->address.empty())
      return Status::not_found("the reported message has no From address");
    std::string a = to_lower(msg.from->address);
    if (a.size() > kMaxReportedValue) return Status::invalid("the From address is too long for a rule");
    r.values.push_back(a);
    scope = "from";
    pattern = "(^|[^a-z0-9._%+-])" + hyperscan_literal(a) + "($|[^a-z0-9.-])";
    describe = "From address of reported spam (report " + std::to_string(report_id) + ")";
  } else if (kind == "url-host") {
    // Every distinct link host (and its subdomains), at most kMaxReportedHosts.
    for (const filter::Link& l : msg.links) {
      std::string h = to_lower(filter::url_host(l.href));
      if (h.empty() || h.size() > kMaxReportedValue) continue;
      if (std::find(r.values.begin(), r.values.end(), h) != r.values.end()) continue;
      if (r.values.size() == kMaxReportedHosts) break;
      r.values.push_back(h);
    }
    if (r.values.empty()) return Status::not_found("the reported message has no link with a host");
    std::string alt;
    for (const std::string& h : r.values) alt += (alt.empty() ? "" : "|") + hyperscan_literal(h);
    scope = "url";
    pattern = "^[a-z][a-z0-9+.-]*:\\/\\/([^\\/@]*@)?([a-z0-9-]+\\.)*(" + alt + ")([:\\/?#]|$)";
    describe = "Link host of reported spam (report " + std::to_string(report_id) + ")";
  } else if (kind == "subject") {
    if (!msg.has_subject || trim(msg.subject).empty())
      return Status::not_found("the reported message has no Subject");
    std::string s(trim(msg.subject));
    if (s.size() > kMaxReportedValue) return Status::invalid("the Subject is too long for a rule");
    r.values.push_back(s);
    scope = "subject";
    pattern = "^\\s*" + hyperscan_literal(s) + "\\s*$";
    describe = "Subject of reported spam (report " + std::to_string(report_id) + ")";
  } else {
    return Status::invalid("unknown rule kind '" + std::string(kind) + "' (sender, url-host, subject)");
  }
  r.block = "\n# report " + std::to_string(report_id) + ", " + r.kind + ": added " + std::string(when) +
            " by " + one_line(actor) + " (tsubame quarantine decide --add-rule)\n" +
            "rule " + r.id + "\n" +
            "  scope    " + scope + "\n" +
            "  match    /" + pattern + "/i\n" +
            "  score    " + score_text(score) + "\n" +
            "  describe " + describe + "\n";
  return r;
}

Status RuleFileChange::apply(const fs::path& rules_dir, const ReportedRule& rule) {
  std::error_code ec;
  if (!fs::is_directory(rules_dir, ec))
    return Status::not_found("rules directory " + rules_dir.string() + " does not exist");
  path_ = rules_dir / kReportedRulesFile;
  before_.reset();
  added_ = false;
  std::string text;
  if (fs::exists(path_, ec)) {
    auto cur = read_whole(path_);
    if (!cur.is_ok()) return cur.status();
    before_ = *cur;
    text = *cur;
    // Idempotent: the same report's rule of the same kind is there already.
    std::string head = "rule " + rule.id + "\n";
    if (text.rfind(head, 0) == 0 || text.find("\n" + head) != std::string::npos) return Status::ok();
  } else {
    text = "# " + std::string(kReportedRulesFile) +
           ": rules derived from reported spam by `tsubame quarantine decide ID spam --add-rule KIND`.\n"
           "# Format: filter/README.md \"## Rules\". Edit or delete freely; `tsubame filter compile` checks\n"
           "# the set; tsubame-smtpd loads changes on SIGHUP or at a restart.\n";
  }
  if (!text.empty() && text.back() != '\n') text += '\n';
  text += rule.block;
  if (Status w = write_atomically(path_, text); !w.is_ok()) return w;
  added_ = true;
  Status c = compile_rule_set(rules_dir);
  if (!c.is_ok()) {
    Status back = rollback();
    if (!back.is_ok())
      return Status::internal("the rule set does not compile with the new rule, and putting " + path_.string() +
                              " back failed (" + back.to_string() + "):\n" + c.message());
    return Status::invalid("the rule set would not compile with the new rule; nothing changed:\n" + c.message());
  }
  return Status::ok();
}

Status RuleFileChange::rollback() {
  if (!added_) return Status::ok();
  added_ = false;
  if (!before_) {
    std::error_code ec;
    fs::remove(path_, ec);
    if (ec) return Status::io_error("cannot remove " + path_.string() + ": " + ec.message());
    return Status::ok();
  }
  return write_atomically(path_, *before_);
}

}  // namespace tsubame::cli
