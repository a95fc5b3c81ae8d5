// tools/cli.h: shared plumbing of the `tsubame` postmaster CLI.
//
// Each command group lives in its own file (tools/cmd_*.cc) and registers its subcommands
// on the CLI11 app through a register_* function. A command's callback returns an exit code:
//   0 ok, 1 failed, 2 usage error, 3 not found, 4 already exists / conflict,
//   5 refused (permission, locked, policy), 6 integrity failure (corruption, verification).
// Errors are printed as one line "tsubame: <what>: <why>" on stderr; --json output goes to
// stdout only on success.
#pragma once

#include <CLI/CLI.hpp>

#include <functional>
#include <memory>
#include <string>

#include "common/config.h"
#include "common/result.h"
#include "store/audit.h"
#include "store/store.h"

namespace tsubame::cli {

enum Exit : int { kOk = 0, kFailed = 1, kUsage = 2, kNotFound = 3, kConflict = 4, kRefused = 5, kIntegrity = 6 };

int exit_code(const Status& s);
// Prints "tsubame: <context>: <status>" and returns the matching exit code.
int fail(const std::string& context, const Status& s);

// Global options and lazily opened resources, shared by every command.
struct Context {
  std::string config_path;   // --config, $TSUBAME_CONFIG, or /etc/tsubame/tsubame.conf
  bool json = false;         // --json where a command supports it

  Result<const Config*> config();
  Result<store::Store*> store();

 private:
  std::unique_ptr<Config> config_;
  std::unique_ptr<store::Store> store_;
};

// Runs `fn` as a subcommand callback; its return value becomes the process exit code.
void set_action(CLI::App* cmd, std::function<int()> fn);

// Appends an audit record for a postmaster action (actor "cli:<unix user>"). A failure to
// audit is reported (and returned) so the caller can say the change was made but not logged.
Status audit(store::Store& st, const std::string& action, const std::string& target,
             const std::string& details = "");
// The same record, for a store call that appends it in the change's own transaction
// (store::Store::add_domain, add_user, set_disabled ...): change and record commit together.
store::AuditEntry audit_entry(const std::string& action, const std::string& target,
                              const std::string& details = "");

// Reads a password from standard input (one line, trailing newline removed).
Result<std::string> read_password_stdin();
// Hashes a password with the configured Argon2id cost.
Result<std::string> hash_password(const Config& config, const std::string& password);
// Checks the password policy: the config's minimum length, then the user's domain's settings
// (store/settings.h: password_min_length, password_min_classes, password_forbid_login);
// InvalidArgument with the reason on refusal. With st == nullptr only the config applies.
Status check_password_policy(const Config& config, store::Store* st, const std::string& address,
                             const std::string& password);
// Local parts that are guessed in attacks (admin, root, test, info, user1 ...); refused for
// new users unless --force.
bool guessable_local_part(const std::string& local);
// Validates "local@domain" (RFC 5321 §4.1.2 dot-atom local part, LDH domain); lower-cases the domain.
Result<std::string> normalize_address(const std::string& address);
Result<std::string> normalize_domain(const std::string& domain);

// The exit code of the command that ran (set_action stores it).
int last_exit();

void register_init(CLI::App& app, Context& ctx);
void register_config(CLI::App& app, Context& ctx);
void register_domain(CLI::App& app, Context& ctx);
void register_user(CLI::App& app, Context& ctx);
void register_alias(CLI::App& app, Context& ctx);
void register_security(CLI::App& app, Context& ctx);
void register_filter(CLI::App& app, Context& ctx);
void register_audit(CLI::App& app, Context& ctx);
void register_logins(CLI::App& app, Context& ctx);
void register_lockout(CLI::App& app, Context& ctx);
void register_backup(CLI::App& app, Context& ctx);
void register_restore(CLI::App& app, Context& ctx);
void register_trace(CLI::App& app, Context& ctx);
void register_stats(CLI::App& app, Context& ctx);
void register_queue(CLI::App& app, Context& ctx);
void register_access(CLI::App& app, Context& ctx);
void register_purge(CLI::App& app, Context& ctx);
void register_quarantine(CLI::App& app, Context& ctx);

}  // namespace tsubame::cli
