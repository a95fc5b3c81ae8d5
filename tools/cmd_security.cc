// tools/cmd_security.cc: `tsubame security show DOMAIN`, `tsubame security set DOMAIN KEY VALUE`
// (store/settings.h): lockout threshold and duration, TLS requirement, AUTH mechanisms, spam
// thresholds, blocked attachment extensions, password policy, retention periods.
// A bad key or value is refused (exit 2) and nothing changes; every change is audit-logged.
#include <nlohmann/json.hpp>

#include <iomanip>
#include <iostream>

#include "store/settings.h"
#include "tools/cli.h"
#include "tools/util.h"

namespace tsubame::cli {

void register_security(CLI::App& app, Context& ctx) {
  auto* cmd = app.add_subcommand("security", "Per-domain security settings");
  cmd->require_subcommand(1);

  auto domain = std::make_shared<std::string>();
  auto* show = cmd->add_subcommand("show", "Show every setting of a domain (set or default)");
  show->add_option("DOMAIN", *domain, "Domain name")->required();
  show->add_flag("--json", ctx.json, "JSON output");
  set_action(show, [&ctx, domain] {
    auto d = normalize_domain(*domain);
    if (!d.is_ok()) return fail("security show", d.status());
    auto st = ctx.store();
    if (!st.is_ok()) return fail("store", st.status());
    auto dom = (*st)->find_domain(*d);
    if (!dom.is_ok()) return fail("security show " + *d, dom.status());
    auto all = store::domain_settings(**st, dom->id);
    auto set = store::domain_overrides(**st, dom->id);
    if (!all.is_ok()) return fail("security show", all.status());
    if (!set.is_ok()) return fail("security show", set.status());
    if (ctx.json) {
      nlohmann::json j = nlohmann::json::object();
      for (const auto& def : store::setting_defs())
        j[def.key] = {{"value", (*all)[def.key]}, {"default", set->count(def.key) == 0},
                      {"description", def.description}};
      std::cout << nlohmann::json{{"domain", *d}, {"settings", j}}.dump() << "\n";
    } else {
      for (const auto& def : store::setting_defs())
        std::cout << std::left << std::setw(26) << def.key << std::setw(24) << (*all)[def.key]
                  << (set->count(def.key) ? "" : "(default) ") << def.description << "\n";
    }
    return int(kOk);
  });

  auto sdomain = std::make_shared<std::string>();
  auto key = std::make_shared<std::string>();
  auto value = std::make_shared<std::string>();
  auto* set = cmd->add_subcommand("set", "Set one setting of a domain (VALUE \"default\" resets it)");
  set->add_option("DOMAIN", *sdomain, "Domain name")->required();
  set->add_option("KEY", *key, "Setting name (see `security show`)")->required();
  set->add_option("VALUE", *value, "New value (durations like 15m, 30d; yes/no; comma lists)")->required();
  set_action(set, [&ctx, sdomain, key, value] {
    auto d = normalize_domain(*sdomain);
    if (!d.is_ok()) return fail("security set", d.status());
    if (!store::find_setting_def(*key)) return fail("security set", Status::invalid("unknown setting '" + *key + "'"));
    auto st = ctx.store();
    if (!st.is_ok()) return fail("store", st.status());
    auto dom = (*st)->find_domain(*d);
    if (!dom.is_ok()) return fail("security set " + *d, dom.status());
    Status s = store::set_domain_setting(**st, dom->id, *key, *value, cli_actor());
    if (!s.is_ok()) return fail("security set " + *d + " " + *key, s);
    auto now = store::domain_setting(**st, dom->id, *key);
    std::cout << *d << ": " << *key << " = " << (now.is_ok() ? *now : *value) << "\n";
    return int(kOk);
  });
}

}  // namespace tsubame::cli
