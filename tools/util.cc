// tools/util.cc: see util.h.
#include "tools/util.h"

#include <fcntl.h>
#include <pwd.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <ctime>
#include <filesystem>
#include <fstream>
#include <sstream>

#include "common/bytes.h"
#include "common/config.h"

namespace fs = std::filesystem;

namespace tsubame::cli {

Result<std::string> read_file(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) {
    if (!fs::exists(path)) return Status::not_found("no such file: " + path);
    return Status::io_error("cannot read " + path + ": " + std::strerror(errno));
  }
  std::ostringstream ss;
  ss << in.rdbuf();
  if (in.bad()) return Status::io_error("read " + path);
  return ss.str();
}

Status write_new_file(const std::string& path, const std::string& data) {
  int fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
  if (fd < 0) {
    if (errno == EEXIST) return Status::exists(path + " already exists");
    return Status::io_error("create " + path + ": " + std::strerror(errno));
  }
  size_t off = 0;
  while (off < data.size()) {
    ssize_t n = ::write(fd, data.data() + off, data.size() - off);
    if (n < 0) {
      if (errno == EINTR) continue;
      ::close(fd);
      return Status::io_error("write " + path + ": " + std::strerror(errno));
    }
    off += size_t(n);
  }
  if (::fsync(fd) != 0 || ::close(fd) != 0) return Status::io_error("close " + path);
  return Status::ok();
}

Result<std::vector<std::string>> collect_files(const std::vector<std::string>& paths) {
  std::vector<std::string> out;
  for (const auto& p : paths) {
    std::error_code ec;
    if (fs::is_directory(p, ec)) {
      std::vector<std::string> files;
      for (fs::recursive_directory_iterator it(p, ec), end; !ec && it != end; it.increment(ec))
        if (it->is_regular_file()) files.push_back(it->path().string());
      if (ec) return Status::io_error("read directory " + p + ": " + ec.message());
      std::sort(files.begin(), files.end());
      out.insert(out.end(), files.begin(), files.end());
    } else if (fs::is_regular_file(p, ec)) {
      out.push_back(p);
    } else {
      return Status::not_found("no such file or directory: " + p);
    }
  }
  return out;
}

Result<int64_t> parse_time_ms(const std::string& text) {
  if (text.empty()) return Status::invalid("empty time");
  if (std::all_of(text.begin(), text.end(), [](char c) { return c >= '0' && c <= '9'; }))
    return int64_t(std::stoll(text)) * 1000;
  std::tm tm{};
  const char* end = strptime(text.c_str(), "%Y-%m-%dT%H:%M:%S", &tm);
  if (end && (*end == 0 || ((*end == 'Z' || *end == 'z') && end[1] == 0))) return int64_t(timegm(&tm)) * 1000;
  tm = std::tm{};
  end = strptime(text.c_str(), "%Y-%m-%d", &tm);
  if (end && *end == 0) return int64_t(timegm(&tm)) * 1000;
  auto d = parse_duration(text);
  if (d.is_ok()) return unix_now_ms() - *d * 1000;
  return Status::invalid("bad time '" + text + "' (unix seconds, YYYY-MM-DD, YYYY-MM-DDTHH:MM:SSZ, or 24h/7d ago)");
}

std::string format_time_ms(int64_t ms) {
  time_t t = time_t(ms / 1000);
  std::tm tm{};
  gmtime_r(&t, &tm);
  char buf[32];
  strftime(buf, sizeof buf, "%Y-%m-%dT%H:%M:%SZ", &tm);
  return buf;
}

std::string format_date_ms(int64_t ms) { return format_time_ms(ms).substr(0, 10); }

std::string cli_actor() {
  const passwd* pw = getpwuid(getuid());
  return std::string("cli:") + (pw ? pw->pw_name : std::to_string(getuid()));
}

}  // namespace tsubame::cli
