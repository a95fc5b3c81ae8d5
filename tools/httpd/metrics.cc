// tools/httpd/metrics.cc: httpd's own counters and the textfile collector (see metrics.h).
// Failure: unreadable or oversized metric files are skipped with a comment line.
#include "tools/httpd/metrics.h"

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <vector>

#include "tools/httpd/limits.h"

namespace tsubame::httpd {

void Metrics::observe(int status, uint64_t duration_ns) {
  size_t cls = static_cast<size_t>(status / 100);
  if (cls < requests_by_class.size()) requests_by_class[cls]++;
  double seconds = static_cast<double>(duration_ns) / 1e9;
  for (size_t i = 0; i < kLatencyBuckets.size(); ++i)
    if (seconds <= kLatencyBuckets[i]) latency_buckets[i]++;  // cumulative buckets
  latency_count++;
  latency_sum_us += duration_ns / 1000;
}

std::string Metrics::render_own() const {
  std::ostringstream o;
  o << "# HELP tsubame_httpd_connections_open TLS connections open now.\n"
       "# TYPE tsubame_httpd_connections_open gauge\n"
    << "tsubame_httpd_connections_open " << connections_open << "\n"
    << "# HELP tsubame_httpd_connections_total TLS connections accepted.\n"
       "# TYPE tsubame_httpd_connections_total counter\n"
    << "tsubame_httpd_connections_total " << connections_total << "\n"
    << "# HELP tsubame_httpd_connections_refused_total Connections refused by the per-IP or total limit.\n"
       "# TYPE tsubame_httpd_connections_refused_total counter\n"
    << "tsubame_httpd_connections_refused_total " << connections_refused << "\n"
    << "# HELP tsubame_httpd_requests_total HTTP requests answered, by status class.\n"
       "# TYPE tsubame_httpd_requests_total counter\n";
  for (size_t c = 1; c < requests_by_class.size(); ++c)
    o << "tsubame_httpd_requests_total{code=\"" << c << "xx\"} " << requests_by_class[c] << "\n";
  o << "# HELP tsubame_httpd_request_duration_seconds Time to answer a request.\n"
       "# TYPE tsubame_httpd_request_duration_seconds histogram\n";
  for (size_t i = 0; i < kLatencyBuckets.size(); ++i)
    o << "tsubame_httpd_request_duration_seconds_bucket{le=\"" << kLatencyBuckets[i] << "\"} "
      << latency_buckets[i] << "\n";
  o << "tsubame_httpd_request_duration_seconds_bucket{le=\"+Inf\"} " << latency_count << "\n"
    << "tsubame_httpd_request_duration_seconds_sum " << static_cast<double>(latency_sum_us) / 1e6 << "\n"
    << "tsubame_httpd_request_duration_seconds_count " << latency_count << "\n"
    << "# HELP tsubame_httpd_logins_total Web logins by result.\n"
       "# TYPE tsubame_httpd_logins_total counter\n"
    << "tsubame_httpd_logins_total{result=\"success\"} " << login_success << "\n"
    << "tsubame_httpd_logins_total{result=\"failed\"} " << login_failed << "\n"
    << "tsubame_httpd_logins_total{result=\"locked\"} " << login_locked << "\n"
    << "# HELP tsubame_httpd_reports_total Spam / not-spam reports filed through the web API.\n"
       "# TYPE tsubame_httpd_reports_total counter\n"
    << "tsubame_httpd_reports_total{kind=\"spam\"} " << reports_spam << "\n"
    << "tsubame_httpd_reports_total{kind=\"not-spam\"} " << reports_ham << "\n"
    << "# HELP tsubame_httpd_decisions_total Quarantine decisions made through the web API.\n"
       "# TYPE tsubame_httpd_decisions_total counter\n"
    << "tsubame_httpd_decisions_total " << decisions << "\n";
  return o.str();
}

namespace {
bool is_sample_or_comment(const std::string& line) {
  if (line.empty()) return false;
  if (line[0] == '#') return true;
  char c = line[0];
  if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_' || c == ':')) return false;
  return line.find(' ') != std::string::npos;
}
}  // namespace

std::string render_textfiles(const std::string& dir) {
  namespace fs = std::filesystem;
  std::error_code ec;
  if (dir.empty() || !fs::is_directory(dir, ec)) return {};
  std::vector<fs::path> files;
  for (auto& e : fs::directory_iterator(dir, ec))
    if (e.path().extension() == ".prom" && e.is_regular_file(ec)) files.push_back(e.path());
  std::sort(files.begin(), files.end());
  std::string out;
  for (auto& f : files) {
    auto size = fs::file_size(f, ec);
    if (ec || size > kMaxTextfileMetricsBytes) {
      out += "# skipped " + f.filename().string() + ": unreadable or larger than the limit\n";
      continue;
    }
    std::ifstream in(f);
    std::string line;
    while (std::getline(in, line))
      if (is_sample_or_comment(line)) out += line + "\n";
  }
  return out;
}

}  // namespace tsubame::httpd
