// tools/cmd_domain.cc: `tsubame domain add|list|remove`. A domain is removed only when it
// has no users and no aliases left; its security settings go with it.
#include <nlohmann/json.hpp>

#include <iostream>

#include "store/aliases.h"
#include "store/settings.h"
#include "tools/cli.h"

namespace tsubame::cli {

void register_domain(CLI::App& app, Context& ctx) {
  auto* cmd = app.add_subcommand("domain", "Manage mail domains");
  cmd->require_subcommand(1);

  auto name = std::make_shared<std::string>();
  auto* add = cmd->add_subcommand("add", "Add a domain this server receives mail for");
  add->add_option("NAME", *name, "Domain name, e.g. example.com")->required();
  set_action(add, [&ctx, name] {
    auto d = normalize_domain(*name);
    if (!d.is_ok()) return fail("domain add", d.status());
    auto st = ctx.store();
    if (!st.is_ok()) return fail("store", st.status());
    auto entry = audit_entry("domain.add", *d);
    auto r = (*st)->add_domain(*d, &entry);
    if (!r.is_ok()) return fail("domain add " + *d, r.status());
    std::cout << "added domain " << r->name << "\n";
    return int(kOk);
  });

  auto* list = cmd->add_subcommand("list", "List domains");
  list->add_flag("--json", ctx.json, "JSON output");
  set_action(list, [&ctx] {
    auto st = ctx.store();
    if (!st.is_ok()) return fail("store", st.status());
    auto r = (*st)->list_domains();
    if (!r.is_ok()) return fail("domain list", r.status());
    if (ctx.json) {
      nlohmann::json out = nlohmann::json::array();
      for (auto& d : *r) out.push_back({{"id", d.id}, {"name", d.name}, {"created", d.created}});
      std::cout << out.dump() << "\n";
    } else {
      for (auto& d : *r) std::cout << d.name << "\n";
    }
    return int(kOk);
  });

  auto rname = std::make_shared<std::string>();
  auto* remove = cmd->add_subcommand("remove", "Remove a domain that has no users left");
  remove->add_option("NAME", *rname, "Domain name")->required();
  set_action(remove, [&ctx, rname] {
    auto d = normalize_domain(*rname);
    if (!d.is_ok()) return fail("domain remove", d.status());
    auto st = ctx.store();
    if (!st.is_ok()) return fail("store", st.status());
    auto dom = (*st)->find_domain(*d);
    if (!dom.is_ok()) return fail("domain remove " + *d, dom.status());
    auto aliases = store::list_aliases(**st, dom->id);
    if (!aliases.is_ok()) return fail("domain remove " + *d, aliases.status());
    if (!aliases->empty())
      return fail("domain remove " + *d, Status::exists("the domain still has " + std::to_string(aliases->size()) +
                                                        " alias(es); remove them first"));
    auto entry = audit_entry("domain.remove", *d);
    Status s = (*st)->remove_domain(*d, &entry);
    if (!s.is_ok()) return fail("domain remove " + *d, s);
    (void)store::clear_domain_settings(**st, dom->id);
    std::cout << "removed domain " << *d << "\n";
    return int(kOk);
  });
}

}  // namespace tsubame::cli
