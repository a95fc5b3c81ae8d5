// tools/cmd_alias.cc: `tsubame alias add|remove|list` (store/aliases.h).
// Changes are audit-logged by the store; a list shows addresses, so it is logged ("alias.view").
#include <nlohmann/json.hpp>

#include <iostream>

#include "common/bytes.h"
#include "store/aliases.h"
#include "tools/cli.h"
#include "tools/util.h"

namespace tsubame::cli {

void register_alias(CLI::App& app, Context& ctx) {
  auto* cmd = app.add_subcommand("alias", "Address aliases (alias@domain delivers to other addresses)");
  cmd->require_subcommand(1);

  auto alias = std::make_shared<std::string>();
  auto targets = std::make_shared<std::vector<std::string>>();
  auto* add = cmd->add_subcommand("add", "Add an alias for one or more target addresses");
  add->add_option("ALIAS", *alias, "alias@domain (a local domain)")->required();
  add->add_option("TARGET", *targets, "Target addresses")->required();
  set_action(add, [&ctx, alias, targets] {
    auto a = normalize_address(*alias);
    if (!a.is_ok()) return fail("alias add", a.status());
    store::Alias al;
    al.address = *a;
    for (const auto& t : *targets) {
      auto n = normalize_address(t);
      if (!n.is_ok()) return fail("alias add", n.status());
      al.targets.push_back(*n);
    }
    auto st = ctx.store();
    if (!st.is_ok()) return fail("store", st.status());
    Status s = store::add_alias(**st, al, cli_actor());
    if (!s.is_ok()) return fail("alias add " + *a, s);
    std::cout << "added alias " << *a << "\n";
    return int(kOk);
  });

  auto ralias = std::make_shared<std::string>();
  auto* remove = cmd->add_subcommand("remove", "Remove an alias");
  remove->add_option("ALIAS", *ralias, "alias@domain")->required();
  set_action(remove, [&ctx, ralias] {
    auto a = normalize_address(*ralias);
    if (!a.is_ok()) return fail("alias remove", a.status());
    auto st = ctx.store();
    if (!st.is_ok()) return fail("store", st.status());
    Status s = store::remove_alias(**st, *a, cli_actor());
    if (!s.is_ok()) return fail("alias remove " + *a, s);
    std::cout << "removed alias " << *a << "\n";
    return int(kOk);
  });

  auto domain = std::make_shared<std::string>();
  auto* list = cmd->add_subcommand("list", "List aliases");
  list->add_option("--domain", *domain, "Only this domain's aliases");
  list->add_flag("--json", ctx.json, "JSON output");
  set_action(list, [&ctx, domain] {
    auto st = ctx.store();
    if (!st.is_ok()) return fail("store", st.status());
    std::optional<uint32_t> did;
    if (!domain->empty()) {
      auto d = (*st)->find_domain(to_lower(*domain));
      if (!d.is_ok()) return fail("alias list", d.status());
      did = d->id;
    }
    auto r = store::list_aliases(**st, did);
    if (!r.is_ok()) return fail("alias list", r.status());
    if (Status s = audit(**st, "alias.view", domain->empty() ? "all" : to_lower(*domain)); !s.is_ok())
      return fail("alias list", s);
    if (ctx.json) {
      nlohmann::json out = nlohmann::json::array();
      for (const auto& a : *r) out.push_back({{"alias", a.address}, {"targets", a.targets}, {"created_ms", a.created_ms}});
      std::cout << out.dump() << "\n";
    } else {
      for (const auto& a : *r) {
        std::cout << a.address << " ->";
        for (const auto& t : a.targets) std::cout << " " << t;
        std::cout << "\n";
      }
    }
    return int(kOk);
  });
}

}  // namespace tsubame::cli
