// tools/cmd_purge.cc: `tsubame purge`: runs what retention says is due.
//
//   1 users deleted with `user delete` whose retention_deleted_users has passed
//     (store/purge.h: mailboxes, blobs by refcount, login history, trace of that user, the
//     user record; classifier tokens are not separable, see purge.h)
//   2 quarantine reports older than the shortest retention_reports of any domain
//   3 message trace older than the shortest retention_trace
//   4 login history older than the shortest retention_logins
//   5 sent Message-IDs and correspondents past their expiry (store/replies.h: kept for the
//     reply and correspondent memories)
// The shortest period wins because the report, trace and login databases are store-wide.
// Each step is audit-logged. --dry-run lists what is due and changes nothing.
#include <nlohmann/json.hpp>

#include <algorithm>
#include <iostream>

#include "common/bytes.h"
#include "store/accounts.h"
#include "store/purge.h"
#include "store/replies.h"
#include "store/reports.h"
#include "store/settings.h"
#include "store/trace.h"
#include "tools/cli.h"
#include "tools/util.h"

namespace tsubame::cli {

void register_purge(CLI::App& app, Context& ctx) {
  auto dry = std::make_shared<bool>(false);
  auto* cmd = app.add_subcommand("purge", "Purge deleted users, old reports, trace and login history (retention)");
  cmd->add_flag("--dry-run", *dry, "Show what is due; change nothing");
  cmd->add_flag("--json", ctx.json, "JSON output");
  set_action(cmd, [&ctx, dry] {
    auto st = ctx.store();
    if (!st.is_ok()) return fail("store", st.status());
    int64_t now = unix_now_ms();
    // The shortest retention of every domain, per store-wide database.
    auto domains = (*st)->list_domains();
    if (!domains.is_ok()) return fail("purge", domains.status());
    int64_t reports_s = INT64_MAX, trace_s = INT64_MAX, logins_s = INT64_MAX;
    for (const auto& d : *domains) {
      auto r = store::domain_setting_int(**st, d.id, "retention_reports");
      auto t = store::domain_setting_int(**st, d.id, "retention_trace");
      auto l = store::domain_setting_int(**st, d.id, "retention_logins");
      if (!r.is_ok() || !t.is_ok() || !l.is_ok()) return fail("purge: settings", r.is_ok() ? (t.is_ok() ? l.status() : t.status()) : r.status());
      reports_s = std::min(reports_s, *r);
      trace_s = std::min(trace_s, *t);
      logins_s = std::min(logins_s, *l);
    }
    auto entries = store::list_purges(**st);
    if (!entries.is_ok()) return fail("purge", entries.status());
    // Due when the purge's own due time has come, or when the domain's CURRENT retention has
    // passed since the deletion (a shortened retention applies to earlier deletions too).
    std::vector<store::PurgeEntry> due;
    for (const auto& p : *entries) {
      int64_t when = p.due_ms;
      if (auto u = (*st)->get_user(p.user_id); u.is_ok()) {
        auto ret = store::domain_setting_int(**st, u->domain_id, "retention_deleted_users");
        if (ret.is_ok()) when = std::min(when, p.requested_ms + *ret * 1000);
      }
      if (when <= now) due.push_back(p);
    }
    nlohmann::json j{{"users", nlohmann::json::array()}};
    if (*dry) {
      for (const auto& p : due) {
        auto u = (*st)->get_user(p.user_id);
        j["users"].push_back(u.is_ok() ? u->address : std::to_string(p.user_id));
      }
      if (ctx.json) {
        std::cout << j.dump() << "\n";
      } else {
        for (const auto& u : j["users"]) std::cout << "due: " << u.get<std::string>() << "\n";
        std::cout << j["users"].size() << " user(s) due for purge\n";
      }
      return int(kOk);
    }
    std::vector<store::PurgeOutcome> users;
    for (const auto& p : due) {
      auto o = store::purge_user(**st, p.user_id, cli_actor());
      if (!o.is_ok()) return fail("purge: user " + std::to_string(p.user_id), o.status());
      users.push_back(*o);
    }
    for (const auto& o : users)
      j["users"].push_back({{"address", o.address}, {"mailboxes", o.mailboxes}, {"messages", o.messages},
                            {"logins", o.logins}, {"trace_records", o.trace_records}});
    uint64_t reports = 0, trace = 0, logins = 0, sent = 0, correspondents = 0;
    if (reports_s != INT64_MAX) {
      auto r = store::Reports(**st).purge_older_than(now - reports_s * 1000, cli_actor());
      if (!r.is_ok()) return fail("purge: reports", r.status());
      reports = *r;
      auto t = store::Trace(**st).prune_older_than(now - trace_s * 1000);
      if (!t.is_ok()) return fail("purge: trace", t.status());
      trace = *t;
      auto l = store::Accounts(**st).purge_older_than(now - logins_s * 1000);
      if (!l.is_ok()) return fail("purge: logins", l.status());
      logins = *l;
    }
    auto s = store::purge_sent(**st, now);
    if (!s.is_ok()) return fail("purge: sent Message-IDs", s.status());
    sent = *s;
    auto c = store::purge_correspondents(**st, now);
    if (!c.is_ok()) return fail("purge: correspondents", c.status());
    correspondents = *c;
    if (reports_s != INT64_MAX || sent > 0 || correspondents > 0)
      (void)audit(**st, "retention.purge", "store",
                  "trace=" + std::to_string(trace) + " logins=" + std::to_string(logins) +
                      " reports=" + std::to_string(reports) + " sent_ids=" + std::to_string(sent) +
                      " correspondents=" + std::to_string(correspondents));
    j["reports"] = reports;
    j["trace_records"] = trace;
    j["login_records"] = logins;
    j["sent_message_ids"] = sent;
    j["correspondents"] = correspondents;
    if (ctx.json) {
      std::cout << j.dump() << "\n";
    } else {
      for (const auto& o : users)
        std::cout << "purged " << o.address << ": " << o.mailboxes << " mailboxes, " << o.messages << " messages, "
                  << o.logins << " logins, " << o.trace_records << " trace records\n";
      std::cout << users.size() << " user(s) purged; " << reports << " report(s), " << trace << " trace record(s), "
                << logins << " login record(s), " << sent << " sent Message-ID(s), " << correspondents
                << " correspondent(s) past retention removed\n";
    }
    return int(kOk);
  });
}

}  // namespace tsubame::cli
