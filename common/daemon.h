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

namespace tsubame {

// Loads the config file and starts logging for `program` ("tsubame-smtpd"). On failure
// prints "<program>: <why>" on stderr and returns the error.
Result<Config> load_daemon_config(const std::string& program, const std::string& config_path);

// Runs `base` until SIGTERM or SIGINT arrives; then calls `on_stop` (on the loop), which must
// make the loop end (e.g. a graceful server shutdown). Returns when the loop has ended.
void run_until_signal(event_base* base, const std::function<void()>& on_stop);

// Switches the process to `user` (its primary group and supplementary groups) and verifies
// that root cannot be regained. An empty user is a no-op. Not started as root: there is no
// root to drop, so the process goes on as it is (ok, with a warning if it is not `user`).
Status drop_privileges(const std::string& user);

}  // namespace tsubame
