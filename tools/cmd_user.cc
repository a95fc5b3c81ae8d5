// tools/cmd_user.cc: `tsubame user add|list|show|disable|enable|delete|undelete|passwd|quota`.
//
// Passwords come from standard input only (never the command line, which other local users
// can read) and pass the domain's password policy (tools/cli.h). Guessable user ids (admin,
// root, test, info, user1 ...) are refused unless --force. `delete` disables the user at
// once and schedules the purge of their data after the domain's retention_deleted_users
// (store/purge.h); `tsubame purge` runs the purges that are due. `show` displays personal
// data, so it is audit-logged ("user.view"); every change is audit-logged.
#include <nlohmann/json.hpp>

#include <iostream>

#include "common/bytes.h"
#include "common/config.h"
#include "store/accounts.h"
#include "store/purge.h"
#include "store/settings.h"
#include "tools/cli.h"
#include "tools/util.h"

namespace tsubame::cli {
namespace {

// Normalises ADDRESS, opens the store and finds the user.
struct Target {
  store::Store* st = nullptr;
  store::User user;
};
Result<Target> find_target(Context& ctx, const std::string& address) {
  auto a = normalize_address(address);
  if (!a.is_ok()) return a.status();
  auto st = ctx.store();
  if (!st.is_ok()) return st.status();
  auto u = (*st)->find_user(*a);
  if (!u.is_ok()) return u.status();
  return Target{*st, *u};
}

}  // namespace

void register_user(CLI::App& app, Context& ctx) {
  auto* cmd = app.add_subcommand("user", "Manage mail users");
  cmd->require_subcommand(1);

  auto address = std::make_shared<std::string>();
  auto quota = std::make_shared<std::string>("0");
  auto stdin_pw = std::make_shared<bool>(false);
  auto force = std::make_shared<bool>(false);
  auto* add = cmd->add_subcommand("add", "Add a user (the domain must exist; password on standard input)");
  add->add_option("ADDRESS", *address, "local@domain")->required();
  add->add_flag("--password-stdin", *stdin_pw, "Read the password from standard input")->required();
  add->add_option("--quota", *quota, "Mailbox quota, e.g. 2G (0 = unlimited)")->capture_default_str();
  add->add_flag("--force", *force, "Allow a guessable user id (admin, test, info, user1 ...)");
  set_action(add, [&ctx, address, quota, force, stdin_pw] {
    auto a = normalize_address(*address);
    if (!a.is_ok()) return fail("user add", a.status());
    auto q = parse_size(*quota);
    if (!q.is_ok()) return fail("user add: --quota", q.status());
    if (!*force && guessable_local_part(a->substr(0, a->rfind('@'))))
      return fail("user add", Status::denied("'" + a->substr(0, a->rfind('@')) +
                                             "' is a guessable user id that attackers try first; "
                                             "choose another or pass --force"));
    auto cfg = ctx.config();
    if (!cfg.is_ok()) return fail("config", cfg.status());
    auto pw = read_password_stdin();
    if (!pw.is_ok()) return fail("user add", pw.status());
    auto st = ctx.store();
    if (!st.is_ok()) return fail("store", st.status());
    if (Status s = check_password_policy(**cfg, *st, *a, *pw); !s.is_ok()) return fail("user add", s);
    auto hash = hash_password(**cfg, *pw);
    if (!hash.is_ok()) return fail("user add", hash.status());
    auto entry = audit_entry("user.add", *a, "quota=" + std::to_string(uint64_t(*q)) + (*force ? " forced" : ""));
    auto u = (*st)->add_user(*a, *hash, uint64_t(*q), &entry);
    if (!u.is_ok()) return fail("user add " + *a, u.status());
    std::cout << "added user " << u->address << "\n";
    return int(kOk);
  });

  auto domain = std::make_shared<std::string>();
  auto* list = cmd->add_subcommand("list", "List users");
  list->add_option("--domain", *domain, "Only users of this domain");
  list->add_flag("--json", ctx.json, "JSON output");
  set_action(list, [&ctx, domain] {
    auto st = ctx.store();
    if (!st.is_ok()) return fail("store", st.status());
    std::optional<uint32_t> did;
    if (!domain->empty()) {
      auto d = (*st)->find_domain(to_lower(*domain));
      if (!d.is_ok()) return fail("user list", d.status());
      did = d->id;
    }
    auto r = (*st)->list_users(did);
    if (!r.is_ok()) return fail("user list", r.status());
    if (ctx.json) {
      nlohmann::json out = nlohmann::json::array();
      for (auto& u : *r)
        out.push_back({{"id", u.id}, {"address", u.address}, {"disabled", u.disabled},
                       {"quota_bytes", u.quota_bytes}, {"used_bytes", u.used_bytes}, {"created", u.created}});
      std::cout << out.dump() << "\n";
    } else {
      for (auto& u : *r) std::cout << u.address << (u.disabled ? "  (disabled)" : "") << "\n";
    }
    return int(kOk);
  });

  auto saddr = std::make_shared<std::string>();
  auto* show = cmd->add_subcommand("show", "Show a user: state, quota, mailboxes, lockout, scheduled purge");
  show->add_option("ADDRESS", *saddr, "local@domain")->required();
  show->add_flag("--json", ctx.json, "JSON output");
  set_action(show, [&ctx, saddr] {
    auto t = find_target(ctx, *saddr);
    if (!t.is_ok()) return fail("user show " + *saddr, t.status());
    auto& [st, u] = *t;
    auto boxes = st->list_mailboxes(u.id);
    if (!boxes.is_ok()) return fail("user show", boxes.status());
    auto lock = store::Accounts(*st).lockout_state(u.id);
    auto purges = store::list_purges(*st);
    int64_t purge_due = 0;
    if (purges.is_ok())
      for (const auto& p : *purges)
        if (p.user_id == u.id) purge_due = p.due_ms;
    if (Status s = audit(*st, "user.view", u.address); !s.is_ok()) return fail("user show", s);
    bool locked = lock.is_ok() && lock->locked_until_ms > unix_now_ms();
    if (ctx.json) {
      nlohmann::json mb = nlohmann::json::array();
      for (const auto& m : *boxes)
        mb.push_back({{"name", m.name}, {"special_use", store::special_use_name(m.special)},
                      {"messages", m.messages}, {"unseen", m.unseen}, {"size", m.size}});
      nlohmann::json j{{"id", u.id}, {"address", u.address}, {"disabled", u.disabled},
                       {"quota_bytes", u.quota_bytes}, {"used_bytes", u.used_bytes}, {"created", u.created},
                       {"locked", locked}, {"failures", lock.is_ok() ? lock->failures : 0},
                       {"locked_until_ms", lock.is_ok() ? lock->locked_until_ms : 0},
                       {"purge_due_ms", purge_due}, {"mailboxes", mb}};
      std::cout << j.dump() << "\n";
    } else {
      std::cout << "address    " << u.address << "\n"
                << "state      " << (u.disabled ? "disabled" : "enabled") << (locked ? ", locked" : "") << "\n"
                << "quota      " << (u.quota_bytes ? std::to_string(u.quota_bytes) : "unlimited") << " (used "
                << u.used_bytes << ")\n"
                << "created    " << format_time_ms(u.created * 1000) << "\n";
      if (purge_due) std::cout << "purge due  " << format_time_ms(purge_due) << "\n";
      for (const auto& m : *boxes)
        std::cout << "  " << m.name << "  " << m.messages << " messages, " << m.unseen << " unseen, " << m.size
                  << " bytes\n";
    }
    return int(kOk);
  });

  for (bool disable : {true, false}) {
    auto a = std::make_shared<std::string>();
    auto* c = cmd->add_subcommand(disable ? "disable" : "enable",
                                  disable ? "Disable a user (no logins; mail is still received)" : "Enable a user again");
    c->add_option("ADDRESS", *a, "local@domain")->required();
    set_action(c, [&ctx, a, disable] {
      std::string what = disable ? "user disable" : "user enable";
      auto t = find_target(ctx, *a);
      if (!t.is_ok()) return fail(what + " " + *a, t.status());
      auto& [st, u] = *t;
      if (!disable) {
        auto purges = store::list_purges(*st);
        if (purges.is_ok())
          for (const auto& p : *purges)
            if (p.user_id == u.id)
              return fail(what, Status::denied(u.address + " is deleted and awaiting purge; `user undelete` first"));
      }
      auto entry = audit_entry(disable ? "user.disable" : "user.enable", u.address);
      Status s = st->set_disabled(u.id, disable, &entry);
      if (!s.is_ok()) return fail(what, s);
      std::cout << (disable ? "disabled " : "enabled ") << u.address << "\n";
      return int(kOk);
    });
  }

  auto daddr = std::make_shared<std::string>();
  auto now = std::make_shared<bool>(false);
  auto* del = cmd->add_subcommand(
      "delete", "Disable a user now and purge their data after the domain's retention_deleted_users");
  del->add_option("ADDRESS", *daddr, "local@domain")->required();
  del->add_flag("--purge-now", *now, "Purge at once instead of after the retention period");
  set_action(del, [&ctx, daddr, now] {
    auto t = find_target(ctx, *daddr);
    if (!t.is_ok()) return fail("user delete " + *daddr, t.status());
    auto& [st, u] = *t;
    auto retention = store::domain_setting_int(*st, u.domain_id, "retention_deleted_users");
    if (!retention.is_ok()) return fail("user delete", retention.status());
    int64_t due = *now ? unix_now_ms() : unix_now_ms() + *retention * 1000;
    Status s = store::schedule_user_purge(*st, u.id, due, cli_actor());
    if (!s.is_ok() && !(*now && s.code() == Code::kExists)) return fail("user delete " + u.address, s);
    if (*now) {
      auto r = store::purge_user(*st, u.id, cli_actor());
      if (!r.is_ok()) return fail("user delete: purge", r.status());
      std::cout << "deleted and purged " << u.address << " (" << r->messages << " messages)\n";
      return int(kOk);
    }
    std::cout << "disabled " << u.address << "; its data will be purged after " << format_time_ms(due)
              << " by `tsubame purge`\n";
    return int(kOk);
  });

  auto uaddr = std::make_shared<std::string>();
  auto* undel = cmd->add_subcommand("undelete", "Cancel a scheduled purge (the user stays disabled)");
  undel->add_option("ADDRESS", *uaddr, "local@domain")->required();
  set_action(undel, [&ctx, uaddr] {
    auto t = find_target(ctx, *uaddr);
    if (!t.is_ok()) return fail("user undelete " + *uaddr, t.status());
    Status s = store::cancel_user_purge(*t->st, t->user.id, cli_actor());
    if (!s.is_ok()) return fail("user undelete", s);
    std::cout << "purge of " << t->user.address << " cancelled; it stays disabled\n";
    return int(kOk);
  });

  auto paddr = std::make_shared<std::string>();
  auto pstdin = std::make_shared<bool>(false);
  auto* passwd = cmd->add_subcommand("passwd", "Set a user's password (read from standard input)");
  passwd->add_option("ADDRESS", *paddr, "local@domain")->required();
  passwd->add_flag("--password-stdin", *pstdin, "Read the password from standard input")->required();
  set_action(passwd, [&ctx, paddr, pstdin] {
    auto cfg = ctx.config();
    if (!cfg.is_ok()) return fail("config", cfg.status());
    auto t = find_target(ctx, *paddr);
    if (!t.is_ok()) return fail("user passwd " + *paddr, t.status());
    auto pw = read_password_stdin();
    if (!pw.is_ok()) return fail("user passwd", pw.status());
    if (Status s = check_password_policy(**cfg, t->st, t->user.address, *pw); !s.is_ok())
      return fail("user passwd", s);
    auto hash = hash_password(**cfg, *pw);
    if (!hash.is_ok()) return fail("user passwd", hash.status());
    auto entry = audit_entry("user.passwd", t->user.address);
    Status s = t->st->set_password_hash(t->user.id, *hash, &entry);
    if (!s.is_ok()) return fail("user passwd", s);
    std::cout << "password changed for " << t->user.address << "\n";
    return int(kOk);
  });

  auto qaddr = std::make_shared<std::string>();
  auto qsize = std::make_shared<std::string>();
  auto* q = cmd->add_subcommand("quota", "Set a user's quota (0 = unlimited)");
  q->add_option("ADDRESS", *qaddr, "local@domain")->required();
  q->add_option("SIZE", *qsize, "e.g. 2G, 500M, 0")->required();
  set_action(q, [&ctx, qaddr, qsize] {
    auto size = parse_size(*qsize);
    if (!size.is_ok()) return fail("user quota", size.status());
    auto t = find_target(ctx, *qaddr);
    if (!t.is_ok()) return fail("user quota " + *qaddr, t.status());
    auto entry = audit_entry("user.quota", t->user.address, "quota=" + std::to_string(*size));
    Status s = t->st->set_quota(t->user.id, uint64_t(*size), &entry);
    if (!s.is_ok()) return fail("user quota", s);
    std::cout << "quota of " << t->user.address << " set to " << *size << " bytes\n";
    return int(kOk);
  });
}

}  // namespace tsubame::cli
