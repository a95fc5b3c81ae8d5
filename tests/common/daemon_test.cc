#include "common/daemon.h"

#include <gtest/gtest.h>
#include <pwd.h>
#include <sys/wait.h>
#include <unistd.h>

namespace tsubame {

TEST(Daemon, EmptyUserIsANoOp) { EXPECT_TRUE(drop_privileges("").is_ok()); }

TEST(Daemon, UnknownUserIsRefused) {
  Status s = drop_privileges("no-such-user-tsubame");
  EXPECT_EQ(s.code(), Code::kNotFound);
}

// In a child (the drop is irreversible): become nobody, and prove root cannot come back.
TEST(Daemon, DropsRootForGood) {
  passwd* nobody = getpwnam("nobody");
  ASSERT_NE(nobody, nullptr);
  uid_t nobody_uid = nobody->pw_uid;
  pid_t pid = fork();
  ASSERT_GE(pid, 0);
  if (pid == 0) {
    Status s = drop_privileges("nobody");
    if (geteuid() != 0) {
      // Not root to begin with: nothing to drop; the process goes on as it is.
      _exit(s.is_ok() ? 0 : 1);
    }
    _exit(2);  // unreachable when root: the drop succeeded or we exit below
  }
  int status = 0;
  waitpid(pid, &status, 0);
  if (geteuid() == 0) {
    // Run the root case in a second child so that it can report what it became.
    pid = fork();
    if (pid == 0) {
      Status s = drop_privileges("nobody");
      bool ok = s.is_ok() && getuid() == nobody_uid && geteuid() == nobody_uid && setuid(0) != 0;
      _exit(ok ? 0 : 1);
    }
    waitpid(pid, &status, 0);
  }
  ASSERT_TRUE(WIFEXITED(status));
  EXPECT_EQ(WEXITSTATUS(status), 0);
}

}  // namespace tsubame
