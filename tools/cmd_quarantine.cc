// tools/cmd_quarantine.cc: `tsubame quarantine list|show|attachments|decide|export`, the
// analyst's view of REPORTED messages only.
//
//   user reports (web page "Report spam", IMAP MOVE to Junk / $Junk) ──▶ store/reports.h copy
//        │
//   quarantine list ─────── metadata only ─────────────────── audit "quarantine.list"
//   quarantine show ID ──── Reports::view (content) ───────── audit "report.view" (store, same txn)
//   quarantine attachments ID [--save N FILE] ── view + filter/mime.h decode ── "report.view"
//                                                             (+ "report.attachment.save")
//   quarantine decide ID spam|ham ── view ─▶ classifier learn (unlearn a previous decision's
//        training first) ─▶ Reports::decide ─────────────── audit "report.decide" (store)
//     [--add-rule sender|url-host|subject]: before the training, a rule derived from the
//        report is appended to rules_dir/80-reported.rules and the whole set compiled (else
//        the file is put back, exit 1); a failed decision also puts it back ── audit
//        "filter.rule.add" (cmd_quarantine_rule.h)
//   quarantine export ID FILE ── view ─▶ ARF (RFC 5965) file ─ audit "report.export"
//
// Every command takes a REPORT id and reads content only through Reports::view(): there is no
// option that names a mailbox or a message, so no code path here can open a message that no
// user reported. Training is idempotent per report: what a report was trained as follows from
// (kind, status), so a repeated decision changes nothing and a revised one moves the counts.
#include <nlohmann/json.hpp>

#include <ctime>
#include <iostream>
#include <optional>

#include "common/bytes.h"
#include "filter/filter.h"
#include "filter/mime.h"
#include "store/reports.h"
#include "tools/cli.h"
#include "tools/cmd_quarantine_rule.h"
#include "tools/util.h"
#ifdef TSUBAME_CLI_WEBHOOKS
#include "common/webhook.h"
#endif

namespace tsubame::cli {
namespace {

enum class Trained { kNone, kSpam, kHam };

// What a report in this state has taught the classifier.
Trained trained_as(store::ReportKind kind, store::ReportStatus status) {
  if (status == store::ReportStatus::kOpen) return Trained::kNone;
  bool spam_report = kind == store::ReportKind::kSpam;
  bool confirmed = status == store::ReportStatus::kConfirmed;
  return spam_report == confirmed ? Trained::kSpam : Trained::kHam;
}

Result<uint64_t> parse_report_id(const std::string& s) {
  if (s.empty() || s.size() > 19 || s.find_first_not_of("0123456789") != std::string::npos)
    return Status::invalid("bad report id '" + s + "'");
  return uint64_t(std::stoull(s));
}

nlohmann::json report_json(store::Store& st, const store::Report& r) {
  auto u = st.get_user(r.reporter);
  return {{"id", r.id},
          {"reporter", u.is_ok() ? u->address : "user:" + std::to_string(r.reporter)},
          {"kind", store::report_kind_name(r.kind)},
          {"reason", r.reason},
          {"time_ms", r.time_ms},
          {"time", format_time_ms(r.time_ms)},
          {"status", store::report_status_name(r.status)},
          {"decided_by", r.decided_by},
          {"decided_at_ms", r.decided_at_ms},
          {"size", r.size}};
}

// RFC 5322 §3.3 date-time, in UTC.
std::string rfc5322_date(int64_t ms) {
  time_t t = time_t(ms / 1000);
  std::tm tm{};
  gmtime_r(&t, &tm);
  char buf[64];
  strftime(buf, sizeof buf, "%a, %d %b %Y %H:%M:%S +0000", &tm);
  return buf;
}

std::string mailbox_text(const filter::Mailbox& m) {
  return m.display_name.empty() ? m.address : m.display_name + " <" + m.address + ">";
}

// A MIME boundary that does not occur in the message (RFC 2046 §5.1.1).
std::string boundary_for(const std::string& content) {
  for (;;) {
    std::string b = "=_tsubame_arf_" + to_hex(random_bytes(12));
    if (content.find(b) == std::string::npos) return b;
  }
}

// RFC 5965 §2: multipart/report; report-type=feedback-report with a human-readable part, the
// machine-readable message/feedback-report part (§3.1 required fields: Feedback-Type,
// User-Agent, Version) and the original message as message/rfc822 (§2 item d).
std::string build_arf(const store::Report& r, const std::string& hostname, const filter::ParsedMessage& msg) {
  std::string b = boundary_for(r.content);
  std::string date = rfc5322_date(r.time_ms);
  bool spam = r.kind == store::ReportKind::kSpam;
  std::string out;
  out += "From: postmaster@" + hostname + "\r\n";
  out += "Subject: " + std::string(spam ? "Abuse report" : "Not-spam report") + " (report " + std::to_string(r.id) + ")\r\n";
  out += "Date: " + date + "\r\n";
  out += "Message-ID: <arf." + std::to_string(r.id) + "." + to_hex(random_bytes(6)) + "@" + hostname + ">\r\n";
  out += "MIME-Version: 1.0\r\n";
  out += "Content-Type: multipart/report; report-type=feedback-report;\r\n\tboundary=\"" + b + "\"\r\n\r\n";
  out += "This is a multi-part message in MIME format (RFC 5965 feedback report).\r\n\r\n";
  out += "--" + b + "\r\n";
  out += "Content-Type: text/plain; charset=utf-8\r\nContent-Transfer-Encoding: 8bit\r\n\r\n";
  out += std::string("A user of ") + hostname + " reported the attached message as " +
         (spam ? "spam" : "not spam") + " on " + date + ".\r\n";
  if (msg.from) out += "Its From: " + msg.from->address + "\r\n";
  out += "\r\n--" + b + "\r\n";
  out += "Content-Type: message/feedback-report\r\n\r\n";
  out += std::string("Feedback-Type: ") + (spam ? "abuse" : "not-spam") + "\r\n";  // RFC 6430 §2: not-spam
  out += "User-Agent: tsubame/0.1\r\n";
  out += "Version: 1\r\n";
  out += "Reporting-MTA: dns; " + hostname + "\r\n";
  if (msg.return_path && !msg.return_path->address.empty())
    out += "Original-Mail-From: <" + msg.return_path->address + ">\r\n";
  if (msg.from && !msg.from->domain.empty()) out += "Reported-Domain: " + msg.from->domain + "\r\n";
  out += "Arrival-Date: " + (msg.date ? msg.date->raw : date) + "\r\n";
  out += "Incidents: 1\r\n";
  out += "\r\n--" + b + "\r\n";
  out += "Content-Type: message/rfc822\r\nContent-Disposition: inline\r\n\r\n";
  out += r.content;
  if (r.content.size() < 2 || r.content.compare(r.content.size() - 2, 2, "\r\n") != 0) out += "\r\n";
  out += "--" + b + "--\r\n";
  return out;
}

struct Opts {
  std::string id, status, verdict, file, save_file, analyst, add_rule;
  int save_index = 0;
  bool raw = false;
  double rule_score = kDefaultReportedRuleScore;
};

// Publishes "quarantine.decided" to the configured webhooks (metadata only) and waits a
// little for delivery: the CLI exits right after. Never fails the command: the decision is
// made and recorded either way; a problem is reported on stderr.
void publish_decision(const Config& config, store::Store& st, const store::Report& r, store::ReportStatus status,
                      const std::string& verdict) {
#ifdef TSUBAME_CLI_WEBHOOKS
  auto opts = webhook::options_from_config(config, "cli");
  if (!opts.is_ok()) {
    std::cerr << "tsubame: warning: webhooks: " << opts.status().to_string() << "\n";
    return;
  }
  if (opts->urls.empty()) return;
  auto sender = webhook::Sender::start(std::move(*opts));
  if (!sender.is_ok()) {
    std::cerr << "tsubame: warning: webhooks: " << sender.status().to_string() << "\n";
    return;
  }
  auto reporter = st.get_user(r.reporter);
  (*sender)->publish(webhook::EventType::kQuarantineDecided,
                     {{"report_id", r.id},
                      {"reporter", reporter.is_ok() ? reporter->address : std::string()},
                      {"kind", store::report_kind_name(r.kind)},
                      {"decision", verdict},
                      {"status", store::report_status_name(status)},
                      {"decided_by", cli_actor()}});
  if (!(*sender)->flush(10'000)) std::cerr << "tsubame: warning: webhooks: delivery still pending at exit\n";
#else
  (void)config, (void)st, (void)r, (void)status, (void)verdict;
#endif
}

// Reads a report's content through the audit-logged view.
Result<store::Report> view_report(store::Store& st, const std::string& id, const std::string& analyst) {
  auto rid = parse_report_id(id);
  if (!rid.is_ok()) return rid.status();
  return store::Reports(st).view(*rid, analyst.empty() ? cli_actor() : analyst);
}

}  // namespace

void register_quarantine(CLI::App& app, Context& ctx) {
  auto* cmd = app.add_subcommand("quarantine", "Review messages users reported (and only those)");
  cmd->require_subcommand(1);

  auto lo = std::make_shared<Opts>();
  auto* list = cmd->add_subcommand("list", "List reports (metadata only)");
  list->add_option("--status", lo->status, "open, confirmed or false-report");
  list->add_flag("--json", ctx.json, "JSON output");
  set_action(list, [&ctx, lo] {
    store::ReportFilter f;
    if (!lo->status.empty()) {
      if (lo->status == "open") f.status = store::ReportStatus::kOpen;
      else if (lo->status == "confirmed") f.status = store::ReportStatus::kConfirmed;
      else if (lo->status == "false-report") f.status = store::ReportStatus::kFalseReport;
      else return fail("quarantine list --status", Status::invalid("expected open, confirmed or false-report"));
    }
    auto st = ctx.store();
    if (!st.is_ok()) return fail("store", st.status());
    auto r = store::Reports(**st).list(f);
    if (!r.is_ok()) return fail("quarantine list", r.status());
    if (Status s = audit(**st, "quarantine.list", "quarantine", "reports=" + std::to_string(r->size())); !s.is_ok())
      return fail("quarantine list", s);
    nlohmann::json out = nlohmann::json::array();
    for (const auto& rep : *r) {
      auto j = report_json(**st, rep);
      if (ctx.json) {
        out.push_back(j);
        continue;
      }
      std::cout << rep.id << "  " << j["time"].get<std::string>() << "  " << j["kind"].get<std::string>() << "  "
                << j["status"].get<std::string>() << "  by " << j["reporter"].get<std::string>() << "  " << rep.size
                << "B" << (rep.reason.empty() ? "" : "  " + rep.reason) << "\n";
    }
    if (ctx.json) std::cout << out.dump() << "\n";
    return int(kOk);
  });

  auto so = std::make_shared<Opts>();
  auto* show = cmd->add_subcommand("show", "Show a reported message (audit-logged)");
  show->add_option("ID", so->id, "Report id")->required();
  show->add_flag("--raw", so->raw, "Print the message exactly as stored");
  show->add_flag("--json", ctx.json, "JSON output");
  set_action(show, [&ctx, so] {
    auto st = ctx.store();
    if (!st.is_ok()) return fail("store", st.status());
    auto r = view_report(**st, so->id, "");
    if (!r.is_ok()) return fail("quarantine show " + so->id, r.status());
    if (so->raw) {
      std::cout << r->content;
      return int(kOk);
    }
    auto msg = filter::parse_message(r->content);
    if (!msg.is_ok()) return fail("quarantine show: parse", msg.status());
    nlohmann::json atts = nlohmann::json::array();
    for (size_t i = 0; i < msg->attachments.size(); i++) {
      const auto& a = msg->attachments[i];
      atts.push_back({{"index", i + 1}, {"part", a.part_id}, {"filename", a.filename}, {"type", a.declared_type},
                      {"sniffed", std::string(filter::file_type_name(a.sniffed))}, {"size", a.decoded_size}});
    }
    if (ctx.json) {
      auto j = report_json(**st, *r);
      j["from"] = msg->from ? mailbox_text(*msg->from) : "";
      j["subject"] = msg->subject;
      j["date"] = msg->date ? msg->date->raw : "";
      j["message_id"] = msg->message_id.value_or("");
      j["text"] = msg->body_text;
      j["attachments"] = atts;
      nlohmann::json links = nlohmann::json::array();
      for (const auto& lk : msg->links) links.push_back({{"href", lk.href}, {"text", lk.text}});
      j["links"] = links;
      std::cout << j.dump() << "\n";
      return int(kOk);
    }
    auto meta = report_json(**st, *r);
    std::cout << "report     " << r->id << " (" << meta["kind"].get<std::string>() << ", "
              << meta["status"].get<std::string>() << ") by " << meta["reporter"].get<std::string>() << " at "
              << meta["time"].get<std::string>() << "\n";
    if (!r->reason.empty()) std::cout << "reason     " << r->reason << "\n";
    for (const auto& h : msg->headers)
      if (iequals(h.name, "From") || iequals(h.name, "To") || iequals(h.name, "Subject") || iequals(h.name, "Date") ||
          iequals(h.name, "Message-ID") || iequals(h.name, "Reply-To") || iequals(h.name, "Return-Path"))
        std::cout << h.name << ": " << h.value << "\n";
    for (const auto& lk : msg->links) std::cout << "link: " << lk.href << (lk.text.empty() ? "" : "  [" + lk.text + "]") << "\n";
    for (const auto& a : atts)
      std::cout << "attachment " << a["index"] << ": " << a["filename"].get<std::string>() << " ("
                << a["type"].get<std::string>() << ", sniffed " << a["sniffed"].get<std::string>() << ", "
                << a["size"] << " bytes)\n";
    std::cout << "\n" << msg->body_text << "\n";
    return int(kOk);
  });

  auto at = std::make_shared<Opts>();
  auto* atts = cmd->add_subcommand("attachments", "List a reported message's attachments; save one decoded");
  atts->add_option("ID", at->id, "Report id")->required();
  atts->add_option("--save", at->save_index, "Save attachment number N (see the list) ...");
  atts->add_option("--to", at->save_file, "... to this new file");
  atts->add_flag("--json", ctx.json, "JSON output");
  set_action(atts, [&ctx, at] {
    if ((at->save_index != 0) != !at->save_file.empty())
      return fail("quarantine attachments", Status::invalid("--save N and --to FILE go together"));
    auto st = ctx.store();
    if (!st.is_ok()) return fail("store", st.status());
    auto r = view_report(**st, at->id, "");
    if (!r.is_ok()) return fail("quarantine attachments " + at->id, r.status());
    auto msg = filter::parse_message(r->content);
    if (!msg.is_ok()) return fail("quarantine attachments: parse", msg.status());
    if (at->save_index) {
      if (at->save_index < 1 || size_t(at->save_index) > msg->attachments.size())
        return fail("quarantine attachments", Status::not_found("no attachment " + std::to_string(at->save_index)));
      const auto& a = msg->attachments[size_t(at->save_index - 1)];
      auto bytes = msg->decoded(a);
      if (!bytes.is_ok()) return fail("quarantine attachments: decode", bytes.status());
      if (Status w = write_new_file(at->save_file, *bytes); !w.is_ok()) return fail("quarantine attachments", w);
      (void)audit(**st, "report.attachment.save", "report:" + std::to_string(r->id),
                  "attachment=" + std::to_string(at->save_index) + " file=" + at->save_file);
      std::cout << "saved attachment " << at->save_index << " (" << a.filename << ", " << bytes->size()
                << " bytes) to " << at->save_file << "\n";
      return int(kOk);
    }
    nlohmann::json out = nlohmann::json::array();
    for (size_t i = 0; i < msg->attachments.size(); i++) {
      const auto& a = msg->attachments[i];
      out.push_back({{"index", i + 1}, {"part", a.part_id}, {"filename", a.filename}, {"type", a.declared_type},
                     {"sniffed", std::string(filter::file_type_name(a.sniffed))},
                     {"executable", filter::file_type_is_executable(a.sniffed)}, {"size", a.decoded_size}});
      if (!ctx.json)
        std::cout << i + 1 << "  " << a.filename << "  " << a.declared_type << "  sniffed "
                  << filter::file_type_name(a.sniffed) << "  " << a.decoded_size << " bytes\n";
    }
    if (ctx.json) std::cout << out.dump() << "\n";
    return int(kOk);
  });

  auto d = std::make_shared<Opts>();
  auto* decide = cmd->add_subcommand("decide", "Decide a report: spam or ham; trains the classifier accordingly");
  decide->add_option("ID", d->id, "Report id")->required();
  decide->add_option("VERDICT", d->verdict, "spam or ham")->required()->check(CLI::IsMember({"spam", "ham"}));
  decide->add_option("--add-rule", d->add_rule,
                     "With spam: also add a filter rule derived from the message (sender: its From address, "
                     "url-host: its link hosts, subject: its Subject) to rules_dir/80-reported.rules")
      ->check(CLI::IsMember({"sender", "url-host", "subject"}));
  decide->add_option("--rule-score", d->rule_score, "Score of the added rule")
      ->check(CLI::Range(-100.0, 100.0))
      ->capture_default_str();
  set_action(decide, [&ctx, d] {
    if (!d->add_rule.empty() && d->verdict != "spam")
      return fail("quarantine decide", Status::invalid("--add-rule goes with a spam decision"));
    auto st = ctx.store();
    if (!st.is_ok()) return fail("store", st.status());
    auto cfg = ctx.config();
    if (!cfg.is_ok()) return fail("config", cfg.status());
    auto r = view_report(**st, d->id, "");
    if (!r.is_ok()) return fail("quarantine decide " + d->id, r.status());
    bool spam = d->verdict == "spam";
    // --add-rule: derived and compiled before anything else changes (cmd_quarantine_rule.h).
    RuleFileChange rule_change;
    std::optional<ReportedRule> rule;
    if (!d->add_rule.empty()) {
      auto msg = filter::parse_message(r->content);
      if (!msg.is_ok()) return fail("quarantine decide: parse", msg.status());
      auto derived = derive_reported_rule(*msg, r->id, d->add_rule, d->rule_score, cli_actor(),
                                          format_time_ms(unix_now_ms()));
      if (!derived.is_ok()) return fail("quarantine decide --add-rule " + d->add_rule, derived.status());
      rule = std::move(*derived);
      Status a = rule_change.apply((*cfg)->str("general.rules_dir"), *rule);
      if (!a.is_ok()) {
        std::cerr << "tsubame: quarantine decide --add-rule: " << a.message() << "\n";
        return int(kFailed);
      }
    }
    bool agrees = spam == (r->kind == store::ReportKind::kSpam);
    store::ReportStatus status = agrees ? store::ReportStatus::kConfirmed : store::ReportStatus::kFalseReport;
    Trained before = trained_as(r->kind, r->status), after = spam ? Trained::kSpam : Trained::kHam;
    uint32_t domain_id = 0;
    if (auto u = (*st)->get_user(r->reporter); u.is_ok()) domain_id = u->domain_id;
    std::unique_ptr<filter::Filter> f;
    if (before != after) {
      filter::FilterOptions o = filter::filter_options(**cfg);
      o.store = *st;
      auto fo = filter::Filter::open(std::move(o));
      if (!fo.is_ok()) {
        (void)rule_change.rollback();
        return fail("quarantine decide: filter", fo.status());
      }
      f = std::move(*fo);
      if (before != Trained::kNone) {
        Status u = f->learn(r->content, before == Trained::kSpam, domain_id, -1);
        if (!u.is_ok()) {
          (void)rule_change.rollback();
          return fail("quarantine decide: unlearn", u);
        }
      }
      Status l = f->learn(r->content, spam, domain_id, +1);
      if (!l.is_ok()) {
        (void)rule_change.rollback();
        return fail("quarantine decide: learn", l);
      }
    }
    Status s = store::Reports(**st).decide(r->id, status, cli_actor());
    if (!s.is_ok()) {
      if (f) {  // undo the training so counts match the recorded decision
        (void)f->learn(r->content, spam, domain_id, -1);
        if (before != Trained::kNone) (void)f->learn(r->content, before == Trained::kSpam, domain_id, +1);
      }
      (void)rule_change.rollback();
      return fail("quarantine decide", s);
    }
    if (rule_change.added()) {
      // No rule change without its audit record: a failed audit puts the file back.
      Status au = audit(**st, "filter.rule.add", "report:" + std::to_string(r->id),
                        "rule=" + rule->id + " kind=" + rule->kind + " file=" + rule_change.path().string());
      if (!au.is_ok()) {
        (void)rule_change.rollback();
        return fail("quarantine decide --add-rule: audit (rule not added; the decision stands)", au);
      }
    }
    publish_decision(**cfg, **st, *r, status, d->verdict);
    std::cout << "report " << r->id << ": " << store::report_status_name(status) << "; "
              << (before == after ? "classifier already trained as " + d->verdict
                                  : "classifier trained as " + d->verdict)
              << "\n";
    if (rule) {
      std::cout << "rule " << rule->id << " (" << rule->kind << ": ";
      for (size_t i = 0; i < rule->values.size(); ++i) std::cout << (i ? ", " : "") << rule->values[i];
      if (rule_change.added())
        std::cout << ") added to " << rule_change.path().string()
                  << "; the rule set compiles. tsubame-smtpd uses it after a SIGHUP (kill -HUP "
                     "<tsubame-smtpd pid>) or a restart\n";
      else
        std::cout << ") is already in " << rule_change.path().string() << "\n";
    }
    return int(kOk);
  });

  auto e = std::make_shared<Opts>();
  auto* exp = cmd->add_subcommand("export", "Write a report as an ARF message (RFC 5965) for a third party");
  exp->add_option("ID", e->id, "Report id")->required();
  exp->add_option("FILE", e->file, "New file to write")->required();
  set_action(exp, [&ctx, e] {
    auto st = ctx.store();
    if (!st.is_ok()) return fail("store", st.status());
    auto cfg = ctx.config();
    if (!cfg.is_ok()) return fail("config", cfg.status());
    auto r = view_report(**st, e->id, "");
    if (!r.is_ok()) return fail("quarantine export " + e->id, r.status());
    auto msg = filter::parse_message(r->content);
    if (!msg.is_ok()) return fail("quarantine export: parse", msg.status());
    std::string arf = build_arf(*r, (*cfg)->str("general.hostname"), *msg);
    if (Status w = write_new_file(e->file, arf); !w.is_ok()) return fail("quarantine export", w);
    (void)audit(**st, "report.export", "report:" + std::to_string(r->id), "file=" + e->file);
    std::cout << "wrote ARF report " << r->id << " to " << e->file << "\n";
    return int(kOk);
  });
}

}  // namespace tsubame::cli
