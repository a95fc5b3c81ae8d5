// tools/cmd_audit.cc: `tsubame audit show|verify|head`, `tsubame logins USER`,
// `tsubame lockout reset USER`.
//
// `audit verify` recomputes the hash chain (store/audit.h) and exits 6 naming the first bad
// record when it is broken. `logins` shows a user's login history (personal data: the view
// itself is audit-logged as "logins.view"). `lockout reset` clears a lock (audit-logged by
// store/accounts.h as "account.unlock").
#include <nlohmann/json.hpp>

#include <iostream>

#include "common/bytes.h"
#include "store/accounts.h"
#include "store/audit.h"
#include "tools/cli.h"
#include "tools/util.h"

namespace tsubame::cli {
namespace {

nlohmann::json record_json(const store::AuditRecord& r) {
  return {{"seq", r.seq},       {"time_ms", r.time_ms}, {"time", format_time_ms(r.time_ms)},
          {"actor", r.actor},   {"action", r.action},   {"target", r.target},
          {"details", r.details}};
}

}  // namespace

void register_audit(CLI::App& app, Context& ctx) {
  auto* cmd = app.add_subcommand("audit", "Show and verify the hash-chained audit log");
  cmd->require_subcommand(1);

  struct Opts {
    std::string since, until, action, actor, target;
    size_t limit = 1000;
  };
  auto o = std::make_shared<Opts>();
  auto* show = cmd->add_subcommand("show", "List audit records, newest first");
  show->add_option("--since", o->since, "From this time (unix seconds, YYYY-MM-DD, ISO time, or 24h/7d ago)");
  show->add_option("--until", o->until, "Before this time");
  show->add_option("--action", o->action, "Action or action prefix (e.g. user. or report.view)");
  show->add_option("--actor", o->actor, "Exact actor (e.g. cli:root, smtpd)");
  show->add_option("--target", o->target, "Exact target (an address, report:42 ...)");
  show->add_option("--limit", o->limit, "At most this many records")->capture_default_str();
  show->add_flag("--json", ctx.json, "JSON output");
  set_action(show, [&ctx, o] {
    store::AuditFilter f;
    if (!o->since.empty()) {
      auto t = parse_time_ms(o->since);
      if (!t.is_ok()) return fail("audit show --since", t.status());
      f.since_ms = *t;
    }
    if (!o->until.empty()) {
      auto t = parse_time_ms(o->until);
      if (!t.is_ok()) return fail("audit show --until", t.status());
      f.until_ms = *t;
    }
    f.action_prefix = o->action;
    f.actor = o->actor;
    f.target = o->target;
    f.limit = o->limit;
    auto st = ctx.store();
    if (!st.is_ok()) return fail("store", st.status());
    auto r = store::AuditLog(**st).list(f);
    if (!r.is_ok()) return fail("audit show", r.status());
    if (ctx.json) {
      nlohmann::json out = nlohmann::json::array();
      for (const auto& rec : *r) out.push_back(record_json(rec));
      std::cout << out.dump() << "\n";
    } else {
      for (const auto& rec : *r)
        std::cout << rec.seq << "  " << format_time_ms(rec.time_ms) << "  " << rec.actor << "  " << rec.action
                  << "  " << rec.target << (rec.details.empty() ? "" : "  " + rec.details) << "\n";
    }
    return int(kOk);
  });

  auto* verify = cmd->add_subcommand("verify", "Recompute the hash chain; exit 6 naming the first bad record");
  verify->add_flag("--json", ctx.json, "JSON output");
  set_action(verify, [&ctx] {
    auto st = ctx.store();
    if (!st.is_ok()) return fail("store", st.status());
    auto v = store::AuditLog(**st).verify();
    if (!v.is_ok()) return fail("audit verify", v.status());
    if (ctx.json)
      std::cout << nlohmann::json{{"ok", v->ok}, {"records", v->records}, {"bad_seq", v->bad_seq},
                                  {"reason", v->reason}}.dump()
                << "\n";
    if (!v->ok) {
      std::cerr << "tsubame: audit verify: chain broken at record " << v->bad_seq << ": " << v->reason << "\n";
      return int(kIntegrity);
    }
    if (!ctx.json) std::cout << "audit log ok: " << v->records << " records verified\n";
    return int(kOk);
  });

  auto* head = cmd->add_subcommand("head", "Print the chain head (sequence and MAC) for external anchoring");
  head->add_flag("--json", ctx.json, "JSON output");
  set_action(head, [&ctx] {
    auto st = ctx.store();
    if (!st.is_ok()) return fail("store", st.status());
    auto h = store::AuditLog(**st).head();
    if (!h.is_ok()) return fail("audit head", h.status());
    if (ctx.json)
      std::cout << nlohmann::json{{"seq", h->seq}, {"mac", h->mac_hex}}.dump() << "\n";
    else
      std::cout << h->seq << " " << h->mac_hex << "\n";
    return int(kOk);
  });
}

void register_logins(CLI::App& app, Context& ctx) {
  auto user = std::make_shared<std::string>();
  auto limit = std::make_shared<size_t>(100);
  auto* cmd = app.add_subcommand("logins", "A user's login history (id, source IP, client, time, result)");
  cmd->add_option("USER", *user, "local@domain")->required();
  cmd->add_option("--limit", *limit, "At most this many, newest first")->capture_default_str();
  cmd->add_flag("--json", ctx.json, "JSON output");
  set_action(cmd, [&ctx, user, limit] {
    auto a = normalize_address(*user);
    if (!a.is_ok()) return fail("logins", a.status());
    auto st = ctx.store();
    if (!st.is_ok()) return fail("store", st.status());
    auto u = (*st)->find_user(*a);
    if (!u.is_ok()) return fail("logins " + *a, u.status());
    store::Accounts acc(**st);
    auto h = acc.history(u->id, *limit);
    if (!h.is_ok()) return fail("logins", h.status());
    if (Status s = audit(**st, "logins.view", u->address, "records=" + std::to_string(h->size())); !s.is_ok())
      return fail("logins", s);  // no record of the view, no view
    auto lock = acc.lockout_state(u->id);
    if (ctx.json) {
      nlohmann::json out = nlohmann::json::array();
      for (const auto& r : *h)
        out.push_back({{"time_ms", r.event.time_ms}, {"time", format_time_ms(r.event.time_ms)},
                       {"login", r.event.login}, {"source_ip", r.event.source_ip},
                       {"client_id", r.event.client_id}, {"protocol", store::login_protocol_name(r.event.protocol)},
                       {"result", store::login_result_name(r.event.result)}});
      nlohmann::json j{{"user", u->address}, {"logins", out}};
      if (lock.is_ok())
        j["lockout"] = {{"failures", lock->failures}, {"locked_until_ms", lock->locked_until_ms},
                        {"locked", lock->locked_until_ms > unix_now_ms()}};
      std::cout << j.dump() << "\n";
    } else {
      for (const auto& r : *h)
        std::cout << format_time_ms(r.event.time_ms) << "  " << store::login_protocol_name(r.event.protocol) << "  "
                  << store::login_result_name(r.event.result) << "  " << r.event.source_ip << "  "
                  << r.event.login << (r.event.client_id.empty() ? "" : "  " + r.event.client_id) << "\n";
      if (lock.is_ok() && lock->locked_until_ms > unix_now_ms())
        std::cout << "locked until " << format_time_ms(lock->locked_until_ms) << "\n";
    }
    return int(kOk);
  });
}

void register_lockout(CLI::App& app, Context& ctx) {
  auto* cmd = app.add_subcommand("lockout", "Failed-login lockouts");
  cmd->require_subcommand(1);
  auto user = std::make_shared<std::string>();
  auto* reset = cmd->add_subcommand("reset", "Clear a user's failure counter and lock");
  reset->add_option("USER", *user, "local@domain")->required();
  set_action(reset, [&ctx, user] {
    auto a = normalize_address(*user);
    if (!a.is_ok()) return fail("lockout reset", a.status());
    auto st = ctx.store();
    if (!st.is_ok()) return fail("store", st.status());
    auto u = (*st)->find_user(*a);
    if (!u.is_ok()) return fail("lockout reset " + *a, u.status());
    Status s = store::Accounts(**st).reset_lockout(u->id, cli_actor());
    if (!s.is_ok()) return fail("lockout reset", s);
    std::cout << "lockout cleared for " << u->address << "\n";
    return int(kOk);
  });
}

}  // namespace tsubame::cli
