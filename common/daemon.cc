#include "common/daemon.h"

#include <grp.h>
#include <pwd.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <vector>

namespace tsubame {

Status drop_privileges(const std::string& user) {
  if (user.empty()) return Status::ok();
  std::vector<char> buf(16384);
  passwd pw{};
  passwd* found = nullptr;
  if (getpwnam_r(user.c_str(), &pw, buf.data(), buf.size(), &found) != 0 || !found)
    return Status::not_found("general.user: no such user '" + user + "'");
  if (geteuid() != 0) {
    if (geteuid() == pw.pw_uid) return Status::ok();
    return Status::denied("cannot switch to user '" + user + "': not started as root");
  }
  if (initgroups(pw.pw_name, pw.pw_gid) != 0)
    return Status::io_error(std::string("initgroups: ") + strerror(errno));
  if (setgid(pw.pw_gid) != 0) return Status::io_error(std::string("setgid: ") + strerror(errno));
  if (setuid(pw.pw_uid) != 0) return Status::io_error(std::string("setuid: ") + strerror(errno));
  // The drop must be permanent: a process that can become root again has dropped nothing.
  if (pw.pw_uid != 0 && (setuid(0) == 0 || seteuid(0) == 0))
    return Status::internal("privileges could be regained after dropping to '" + user + "'");
  return Status::ok();
}

}  // namespace tsubame
