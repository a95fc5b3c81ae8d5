// tools/cmd_user.cc: `tsubame user add|list`.
#include <nlohmann/json.hpp>

#include <iostream>

#include "common/bytes.h"

#include "tools/cli.h"

namespace tsubame::cli {

void register_user(CLI::App& app, Context& ctx) {
  auto* cmd = app.add_subcommand("user", "Manage mail users");
  cmd->require_subcommand(1);

  auto address = std::make_shared<std::string>();
  auto quota = std::make_shared<std::string>("0");
  auto stdin_pw = std::make_shared<bool>(false);
  auto* add = cmd->add_subcommand("add", "Add a user (the domain must exist)");
  add->add_option("ADDRESS", *address, "local@domain")->required();
  add->add_flag("--password-stdin", *stdin_pw, "Read the password from standard input")->required();
  add->add_option("--quota", *quota, "Mailbox quota, e.g. 2G (0 = unlimited)")->capture_default_str();
  set_action(add, [&ctx, address, quota] {
    auto a = normalize_address(*address);
    if (!a.is_ok()) return fail("user add", a.status());
    auto q = parse_size(*quota);
    if (!q.is_ok()) return fail("user add: --quota", q.status());
    auto cfg = ctx.config();
    if (!cfg.is_ok()) return fail("config", cfg.status());
    auto pw = read_password_stdin();
    if (!pw.is_ok()) return fail("user add", pw.status());
    if (Status s = check_password_policy(**cfg, *a, *pw); !s.is_ok()) return fail("user add", s);
    auto st = ctx.store();
    if (!st.is_ok()) return fail("store", st.status());
    auto hash = hash_password(**cfg, *pw);
    if (!hash.is_ok()) return fail("user add", hash.status());
    auto u = (*st)->add_user(*a, *hash, uint64_t(*q));
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
}

}  // namespace tsubame::cli
