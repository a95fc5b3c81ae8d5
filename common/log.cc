#include "common/log.h"

#include <spdlog/sinks/basic_file_sink.h>
#include <spdlog/sinks/stdout_color_sinks.h>
#include <spdlog/sinks/null_sink.h>
#include <unistd.h>

#include <filesystem>
#include <memory>
#include <mutex>

#include "common/config.h"

namespace tsubame::log {
namespace {

std::mutex g_mu;
std::shared_ptr<spdlog::logger> g_sys;
std::shared_ptr<spdlog::logger> g_mail;

std::shared_ptr<spdlog::logger> default_sys() {
  auto l = std::make_shared<spdlog::logger>("tsubame", std::make_shared<spdlog::sinks::stderr_color_sink_mt>());
  l->set_pattern("%Y-%m-%dT%H:%M:%S.%eZ %^%l%$ %v", spdlog::pattern_time_type::utc);
  return l;
}

}  // namespace

Status init(const Settings& s) {
  std::lock_guard lk(g_mu);
  std::shared_ptr<spdlog::logger> sys;
  if (s.console) {
    sys = std::make_shared<spdlog::logger>(s.program, std::make_shared<spdlog::sinks::stderr_color_sink_mt>());
  } else {
    sys = std::make_shared<spdlog::logger>(s.program, std::make_shared<spdlog::sinks::null_sink_mt>());
  }
  sys->set_pattern("%Y-%m-%dT%H:%M:%S.%eZ " + s.program + "[%P] %^%l%$: %v", spdlog::pattern_time_type::utc);
  auto level = spdlog::level::from_str(s.level);
  sys->set_level(level);
  sys->flush_on(spdlog::level::warn);
  std::shared_ptr<spdlog::logger> mail;
  if (!s.mail_log_file.empty()) {
    std::error_code ec;
    std::filesystem::create_directories(std::filesystem::path(s.mail_log_file).parent_path(), ec);
    try {
      mail = std::make_shared<spdlog::logger>(
          "mail", std::make_shared<spdlog::sinks::basic_file_sink_mt>(s.mail_log_file, false));
    } catch (const spdlog::spdlog_ex& e) {
      return Status::io_error(std::string("mail log ") + s.mail_log_file + ": " + e.what());
    }
    mail->set_pattern("%Y-%m-%dT%H:%M:%S.%eZ " + s.program + "[%P]: %v", spdlog::pattern_time_type::utc);
    mail->flush_on(spdlog::level::info);
  }
  g_sys = std::move(sys);
  g_mail = std::move(mail);
  return Status::ok();
}

Status init_from_config(const std::string& program, const Config& config) {
  Settings s;
  s.program = program;
  s.level = config.str("log.level");
  s.console = config.boolean("log.console");
  s.mail_log_file = config.str("log.mail_log");
  return init(s);
}

spdlog::logger& sys() {
  std::lock_guard lk(g_mu);
  if (!g_sys) g_sys = default_sys();
  return *g_sys;
}

void mail(std::string_view queue_id, std::string_view text) {
  std::shared_ptr<spdlog::logger> m;
  {
    std::lock_guard lk(g_mu);
    m = g_mail;
  }
  if (m) m->info("{}: {}", queue_id, text);
  sys().debug("{}: {}", queue_id, text);
}

void flush() {
  std::lock_guard lk(g_mu);
  if (g_sys) g_sys->flush();
  if (g_mail) g_mail->flush();
}

}  // namespace tsubame::log
