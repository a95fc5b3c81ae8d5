// common/daemon.h: what every Tsubame daemon does at start-up.
//
// A daemon starts as root only to bind privileged ports and read its keys, then calls
// drop_privileges(general.user) (architecture: Processes). Files it opened before the drop
// (the LMDB environment, the mail log, listening sockets) stay usable; nothing opened after
// can use root's rights.
#pragma once

#include <functional>
#include <string>

#include "common/config.h"
#include "common/result.h"

struct event_base;
namespace CLI {
class App;
}

namespace tsubame {

// Loads the config file and starts logging for `program` ("tsubame-smtpd"). On failure
// prints "<program>: <why>" on stderr and returns the error.
Result<Config> load_daemon_config(const std::string& program, const std::string& config_path);

// Runs `base` until SIGTERM or SIGINT arrives; then calls `on_stop` (on the loop), which must
// make the loop end (e.g. a graceful server shutdown). Returns when the loop has ended.
void run_until_signal(event_base* base, const std::function<void()>& on_stop);

// main() of a daemon: parses --config FILE (and whatever `add_options` registers), calls
// run(config_path), and turns an exception escaping it into "<program>: fatal: ..." and
// exit code 1. Usage errors print CLI11's message and its exit code. SIGHUP is ignored from
// the start (a daemon that reloads on it installs its own handler on the event loop).
int daemon_main(int argc, char** argv, const std::string& program, const std::string& description,
                const std::function<int(const std::string& config_path)>& run,
                const std::function<void(CLI::App&)>& add_options = {});

// Switches the process to `user` (its primary group and supplementary groups) and verifies
// that root cannot be regained. An empty user is a no-op. Not started as root: there is no
// root to drop, so the process goes on as it is (ok, with a warning if it is not `user`).
Status drop_privileges(const std::string& user);

}  // namespace tsubame
