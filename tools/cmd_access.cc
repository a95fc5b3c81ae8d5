// tools/cmd_access.cc: support access to one user's mailbox (store/grants.h).
//
//   access grant USER --ticket T --agent A --hours H   request (H <= the domain's
//                                                      support_access_max_hours)
//   access approve ID --approver B                     B must not be A (four eyes)
//   access revoke ID | access list [USER]
//   access read USER MAILBOX UID --grant ID            prints the message only while the grant
//                                                      is approved and unexpired; every read
//                                                      (and every refusal) is audit-logged
// A grant expires by itself: nothing runs at expiry, every access after it is refused.
#include <nlohmann/json.hpp>

#include <iostream>

#include "common/bytes.h"
#include "store/grants.h"
#include "store/settings.h"
#include "tools/cli.h"
#include "tools/util.h"

namespace tsubame::cli {
namespace {

nlohmann::json grant_json(const store::Grant& g, const std::string& user) {
  return {{"id", g.id},
          {"user", user},
          {"agent", g.agent},
          {"reason", g.reason},
          {"status", store::grant_status_name(g.status)},
          {"approved_by", g.approved_by},
          {"requested_ms", g.requested_ms},
          {"approved_ms", g.approved_ms},
          {"duration_ms", g.duration_ms},
          {"expires_ms", g.expires_ms},
          {"active", g.active(unix_now_ms())}};
}

Result<uint64_t> parse_id(const std::string& s) {
  if (s.empty() || s.size() > 19 || s.find_first_not_of("0123456789") != std::string::npos)
    return Status::invalid("bad id '" + s + "'");
  return uint64_t(std::stoull(s));
}

}  // namespace

void register_access(CLI::App& app, Context& ctx) {
  auto* cmd = app.add_subcommand("access", "Time-limited, approved support access to one user's mailbox");
  cmd->require_subcommand(1);

  struct Opts {
    std::string user, ticket, agent, reason, approver, id, mailbox;
    double hours = 0;
    uint32_t uid = 0;
  };

  auto g = std::make_shared<Opts>();
  auto* grant = cmd->add_subcommand("grant", "Request access to USER's mailbox for a support ticket");
  grant->add_option("USER", g->user, "local@domain")->required();
  grant->add_option("--ticket", g->ticket, "Support ticket id")->required();
  grant->add_option("--agent", g->agent, "Who will read (the support agent)")->required();
  grant->add_option("--hours", g->hours, "How long after approval (at most the domain's support_access_max_hours)")
      ->required();
  grant->add_option("--reason", g->reason, "What the access is for");
  grant->add_flag("--json", ctx.json, "JSON output");
  set_action(grant, [&ctx, g] {
    auto a = normalize_address(g->user);
    if (!a.is_ok()) return fail("access grant", a.status());
    if (trim(g->ticket).empty() || trim(g->agent).empty())
      return fail("access grant", Status::invalid("--ticket and --agent must not be empty"));
    if (!(g->hours > 0)) return fail("access grant", Status::invalid("--hours must be positive"));
    auto st = ctx.store();
    if (!st.is_ok()) return fail("store", st.status());
    auto u = (*st)->find_user(*a);
    if (!u.is_ok()) return fail("access grant " + *a, u.status());
    auto max = store::domain_setting_int(**st, u->domain_id, "support_access_max_hours");
    if (!max.is_ok()) return fail("access grant", max.status());
    if (g->hours > double(*max))
      return fail("access grant", Status::denied("at most " + std::to_string(*max) +
                                                 " hours for this domain (security setting support_access_max_hours)"));
    std::string reason = "ticket " + std::string(trim(g->ticket)) + (g->reason.empty() ? "" : ": " + g->reason);
    auto id = store::Grants(**st).request(u->id, trim(g->agent), reason, int64_t(g->hours * 3600 * 1000));
    if (!id.is_ok()) return fail("access grant", id.status());
    if (ctx.json)
      std::cout << nlohmann::json{{"id", *id}, {"status", "requested"}}.dump() << "\n";
    else
      std::cout << "grant " << *id << " requested for " << u->address << "; it needs approval by someone other than "
                << trim(g->agent) << " (tsubame access approve " << *id << " --approver NAME)\n";
    return int(kOk);
  });

  auto ap = std::make_shared<Opts>();
  auto* approve = cmd->add_subcommand("approve", "Approve a requested grant (not by its own agent)");
  approve->add_option("ID", ap->id, "Grant id")->required();
  approve->add_option("--approver", ap->approver, "Who approves (must differ from the agent)")->required();
  set_action(approve, [&ctx, ap] {
    auto id = parse_id(ap->id);
    if (!id.is_ok()) return fail("access approve", id.status());
    if (trim(ap->approver).empty()) return fail("access approve", Status::invalid("--approver must not be empty"));
    auto st = ctx.store();
    if (!st.is_ok()) return fail("store", st.status());
    store::Grants grants(**st);
    Status s = grants.approve(*id, trim(ap->approver));
    if (!s.is_ok()) return fail("access approve " + ap->id, s);
    auto gr = grants.get(*id);
    std::cout << "grant " << *id << " approved"
              << (gr.is_ok() ? "; it expires " + format_time_ms(gr->expires_ms) : std::string()) << "\n";
    return int(kOk);
  });

  auto rv = std::make_shared<Opts>();
  auto* revoke = cmd->add_subcommand("revoke", "Revoke a grant now");
  revoke->add_option("ID", rv->id, "Grant id")->required();
  set_action(revoke, [&ctx, rv] {
    auto id = parse_id(rv->id);
    if (!id.is_ok()) return fail("access revoke", id.status());
    auto st = ctx.store();
    if (!st.is_ok()) return fail("store", st.status());
    Status s = store::Grants(**st).revoke(*id, cli_actor());
    if (!s.is_ok()) return fail("access revoke " + rv->id, s);
    std::cout << "grant " << *id << " revoked\n";
    return int(kOk);
  });

  auto ls = std::make_shared<Opts>();
  auto* list = cmd->add_subcommand("list", "List grants (of one user, or all)");
  list->add_option("USER", ls->user, "local@domain");
  list->add_flag("--json", ctx.json, "JSON output");
  set_action(list, [&ctx, ls] {
    auto st = ctx.store();
    if (!st.is_ok()) return fail("store", st.status());
    uint64_t uid = 0;
    if (!ls->user.empty()) {
      auto a = normalize_address(ls->user);
      if (!a.is_ok()) return fail("access list", a.status());
      auto u = (*st)->find_user(*a);
      if (!u.is_ok()) return fail("access list " + *a, u.status());
      uid = u->id;
    }
    auto r = store::Grants(**st).list(uid);
    if (!r.is_ok()) return fail("access list", r.status());
    nlohmann::json out = nlohmann::json::array();
    for (const auto& gr : *r) {
      auto u = (*st)->get_user(gr.user_id);
      std::string who = u.is_ok() ? u->address : "user:" + std::to_string(gr.user_id);
      if (ctx.json) {
        out.push_back(grant_json(gr, who));
        continue;
      }
      std::cout << gr.id << "  " << who << "  agent " << gr.agent << "  " << store::grant_status_name(gr.status);
      if (gr.status == store::GrantStatus::kApproved)
        std::cout << " by " << gr.approved_by << (gr.active(unix_now_ms()) ? ", expires " : ", expired ")
                  << format_time_ms(gr.expires_ms);
      std::cout << "  " << gr.reason << "\n";
    }
    if (ctx.json) std::cout << out.dump() << "\n";
    return int(kOk);
  });

  auto rd = std::make_shared<Opts>();
  auto* read = cmd->add_subcommand("read", "Print one message of USER under a live grant (audit-logged)");
  read->add_option("USER", rd->user, "local@domain")->required();
  read->add_option("MAILBOX", rd->mailbox, "Mailbox name, e.g. INBOX")->required();
  read->add_option("UID", rd->uid, "Message UID")->required();
  read->add_option("--grant", rd->id, "The approved grant this read is made under")->required();
  set_action(read, [&ctx, rd] {
    auto gid = parse_id(rd->id);
    if (!gid.is_ok()) return fail("access read", gid.status());
    auto a = normalize_address(rd->user);
    if (!a.is_ok()) return fail("access read", a.status());
    auto st = ctx.store();
    if (!st.is_ok()) return fail("store", st.status());
    auto u = (*st)->find_user(*a);
    if (!u.is_ok()) return fail("access read " + *a, u.status());
    store::Grants grants(**st);
    auto gr = grants.get(*gid);
    if (!gr.is_ok()) return fail("access read: grant " + rd->id, gr.status());
    if (gr->user_id != u->id)
      return fail("access read", Status::denied("grant " + rd->id + " is not for " + u->address));
    std::string what = "read " + rd->mailbox + "/" + std::to_string(rd->uid) + " grant=" + rd->id;
    if (!gr->active(unix_now_ms())) {
      (void)audit(**st, "grant.denied", u->address, what + " (grant " + store::grant_status_name(gr->status) +
                                                        (gr->expires_ms ? ", expires_ms=" + std::to_string(gr->expires_ms) : "") + ")");
      return fail("access read", Status::denied("grant " + rd->id + " is not live (" +
                                                store::grant_status_name(gr->status) +
                                                (gr->status == store::GrantStatus::kApproved ? ", expired" : "") + ")"));
    }
    // Grants::access() checks the grant is live for this agent and audits the read (or the
    // refusal) in the same transaction; nothing is read before it says yes.
    Status s = grants.access(u->id, gr->agent, what);
    if (!s.is_ok()) return fail("access read", s);
    auto box = (*st)->find_mailbox(u->id, rd->mailbox);
    if (!box.is_ok()) return fail("access read " + rd->mailbox, box.status());
    auto raw = (*st)->read_message(u->id, box->id, rd->uid);
    if (!raw.is_ok()) return fail("access read", raw.status());
    std::cout << *raw;
    return int(kOk);
  });
}

}  // namespace tsubame::cli
