// tools/main.cc: the `tsubame` postmaster CLI (see tools/README.md and `tsubame --help`).
#include <iostream>

#include "tools/cli.h"

int main(int argc, char** argv) {
  using namespace tsubame::cli;
  CLI::App app{"tsubame: postmaster tools for the Tsubame mail server"};
  app.name("tsubame");
  app.require_subcommand(1);
  Context ctx;
  app.add_option("-c,--config", ctx.config_path,
                 "Configuration file (default: $TSUBAME_CONFIG or /etc/tsubame/tsubame.conf)");
  register_init(app, ctx);
  register_config(app, ctx);
  register_domain(app, ctx);
  register_user(app, ctx);
  register_alias(app, ctx);
  register_security(app, ctx);
  register_filter(app, ctx);
  register_audit(app, ctx);
  register_logins(app, ctx);
  register_lockout(app, ctx);
  register_backup(app, ctx);
  register_restore(app, ctx);
  register_trace(app, ctx);
  register_stats(app, ctx);
  register_queue(app, ctx);
  register_access(app, ctx);
  register_purge(app, ctx);
  register_quarantine(app, ctx);
  try {
    app.parse(argc, argv);
  } catch (const CLI::CallForHelp& e) {
    return app.exit(e);
  } catch (const CLI::CallForAllHelp& e) {
    return app.exit(e);
  } catch (const CLI::ParseError& e) {
    app.exit(e);  // prints the message and usage
    return kUsage;
  }
  return last_exit();
}
