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

// Reads a password from standard input (one line, trailing newline removed).
Result<std::string> read_password_stdin();
// Hashes a password with the configured Argon2id cost.
Result<std::string> hash_password(const Config& config, const std::string& password);
// Checks the domain's password policy; the reason on refusal.
Status check_password_policy(const Config& config, const std::string& address, const std::string& password);
// Validates "local@domain" (RFC 5321 §4.1.2 dot-atom local part, LDH domain); lower-cases the domain.
Result<std::string> normalize_address(const std::string& address);
Result<std::string> normalize_domain(const std::string& domain);

void register_init(CLI::App& app, Context& ctx);
void register_config(CLI::App& app, Context& ctx);
void register_domain(CLI::App& app, Context& ctx);
void register_user(CLI::App& app, Context& ctx);

}  // namespace tsubame::cli
