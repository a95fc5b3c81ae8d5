#include "common/daemon.h"

#include <grp.h>
#include <pwd.h>
#include <unistd.h>

#include <cerrno>
#include <csignal>
#include <cstring>
#include <iostream>
#include <vector>

#include <event2/event.h>

#include <CLI/CLI.hpp>

#include "common/log.h"

namespace tsubame {

Result<Config> load_daemon_config(const std::string& program, const std::string& config_path) {
  auto cfg = Config::load(config_path);
  if (!cfg.is_ok()) {
    std::cerr << program << ": " << cfg.status().to_string() << "\n";
    return cfg.status();
  }
  if (Status s = log::init_from_config(program, *cfg); !s.is_ok()) {
    std::cerr << program << ": " << s.to_string() << "\n";
    return s;
  }
  return cfg;
}

int daemon_main(int argc, char** argv, const std::string& program, const std::string& description,
                const std::function<int(const std::string&)>& run,
                const std::function<void(CLI::App&)>& add_options) {
  CLI::App app{program + ": " + description};
  std::string config_path;
  app.add_option("--config", config_path, "Configuration file")->required();
  if (add_options) add_options(app);
  CLI11_PARSE(app, argc, argv);
  // SIGHUP (logrotate, a closed terminal, a postmaster's reload) never stops a daemon: it is
  // ignored from the first instruction, and a daemon that reloads something on it (smtpd: the
  // rule set) installs its handler on the event loop later.
  std::signal(SIGHUP, SIG_IGN);
  try {
    return run(config_path);
  } catch (const std::exception& e) {
    std::cerr << program << ": fatal: " << e.what() << "\n";
    return 1;
  }
}

void run_until_signal(event_base* base, const std::function<void()>& on_stop) {
  auto cb = [](evutil_socket_t, short, void* arg) { (*static_cast<const std::function<void()>*>(arg))(); };
  void* arg = const_cast<std::function<void()>*>(&on_stop);
  event* sigterm = evsignal_new(base, SIGTERM, cb, arg);
  event* sigint = evsignal_new(base, SIGINT, cb, arg);
  evsignal_add(sigterm, nullptr);
  evsignal_add(sigint, nullptr);
  event_base_dispatch(base);
  event_free(sigterm);
  event_free(sigint);
}

Status drop_privileges(const std::string& user) {
  if (user.empty()) return Status::ok();
  std::vector<char> buf(16384);
  passwd pw{};
  passwd* found = nullptr;
  if (getpwnam_r(user.c_str(), &pw, buf.data(), buf.size(), &found) != 0 || !found)
    return Status::not_found("general.user: no such user '" + user + "'");
  if (geteuid() != 0) {
    if (geteuid() != pw.pw_uid)
      log::sys().warn("general.user is {} but the process was not started as root: staying uid {}", user, getuid());
    return Status::ok();
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
