// common/daemon.h: what every Tsubame daemon does at start-up.
//
// A daemon starts as root only to bind privileged ports and read its keys, then calls
// drop_privileges(general.user) (architecture: Processes). Files it opened before the drop
// (the LMDB environment, the mail log, listening sockets) stay usable; nothing opened after
// can use root's rights.
#pragma once

#include <string>

#include "common/result.h"

namespace tsubame {

// Switches the process to `user` (its primary group and supplementary groups) and verifies
// that root cannot be regained. An empty user is a no-op. Running as non-root: ok if already
// that user, else PermissionDenied.
Status drop_privileges(const std::string& user);

}  // namespace tsubame
