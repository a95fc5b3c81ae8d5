// common/log.h: logging for every Tsubame program, on spdlog.
//
// Two streams:
// - the console log (stderr): readable lines for the operator, level from log.level;
// - the mail log (log.mail_log): one line per message event, always carrying the queue id,
//   in the shape postmasters grep for:
//     2026-11-22T04:50:00.123Z tsubame-smtpd[812]: 7Q2J4K9A: from=<a@b>, size=4312, nrcpt=2
// Never log message bodies, passwords, keys or session tokens (architecture: privacy).
// init() may be called once per process; before it, log calls go to a default stderr logger.
// All functions are thread-safe.
#pragma once

#include <spdlog/spdlog.h>

#include <string>
#include <string_view>

#include "common/result.h"

namespace tsubame {
class Config;
}

namespace tsubame::log {

struct Settings {
  std::string program = "tsubame";   // shown in every line
  std::string level = "info";
  bool console = true;
  std::string mail_log_file;         // empty: no mail log
};

Status init(const Settings& settings);
Status init_from_config(const std::string& program, const Config& config);

// The console logger: log::sys().info("listening on {}", ep)
spdlog::logger& sys();
// One mail-log line: "<queue id>: <text>". Also echoed to the console at debug level.
void mail(std::string_view queue_id, std::string_view text);
void flush();

}  // namespace tsubame::log
