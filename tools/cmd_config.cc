// tools/cmd_config.cc: `tsubame config defaults|check`.
#include <iostream>

#include "tools/cli.h"

namespace tsubame::cli {

void register_config(CLI::App& app, Context& ctx) {
  auto* cmd = app.add_subcommand("config", "Show or check the configuration");
  cmd->require_subcommand(1);
  auto* defaults = cmd->add_subcommand("defaults", "Print the documented default configuration file");
  set_action(defaults, [] {
    std::cout << Config::render_default_file({});
    return int(kOk);
  });
  auto* check = cmd->add_subcommand("check", "Validate the configuration file (file:line: key: why)");
  set_action(check, [&ctx] {
    auto c = ctx.config();
    if (!c.is_ok()) return fail("config", c.status());
    std::cout << (*c)->path() << ": ok\n";
    return int(kOk);
  });
}

}  // namespace tsubame::cli
