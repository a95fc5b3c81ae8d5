#include "smtpd/metrics.h"

#include <cstdio>
#include <filesystem>
#include <fstream>
#include <sstream>

namespace tsubame::smtp {

Metrics& Metrics::get() {
  static Metrics m;
  return m;
}

void Metrics::observe_scan(double seconds) {
  size_t i = 0;
  while (i < kScanBuckets.size() && seconds > kScanBuckets[i]) i++;
  buckets_[i].fetch_add(1, std::memory_order_relaxed);
  scan_count_.fetch_add(1, std::memory_order_relaxed);
  scan_sum_us_.fetch_add(uint64_t(seconds * 1e6), std::memory_order_relaxed);
}

void Metrics::count_verdict(std::string_view verdict) {
  for (size_t i = 0; i < kVerdicts.size(); i++)
    if (verdict == kVerdicts[i]) {
      verdicts_[i].fetch_add(1, std::memory_order_relaxed);
      return;
    }
}

std::string Metrics::render(size_t connections_open) const {
  std::ostringstream o;
  o << "# HELP tsubame_smtpd_connections_open SMTP connections open now.\n"
       "# TYPE tsubame_smtpd_connections_open gauge\n"
    << "tsubame_smtpd_connections_open " << connections_open << "\n";
  o << "# HELP tsubame_smtpd_messages_total Messages received, by filter verdict.\n"
       "# TYPE tsubame_smtpd_messages_total counter\n";
  for (size_t i = 0; i < kVerdicts.size(); i++)
    o << "tsubame_smtpd_messages_total{verdict=\"" << kVerdicts[i] << "\"} "
      << verdicts_[i].load(std::memory_order_relaxed) << "\n";
  o << "# HELP tsubame_filter_scan_seconds Time to parse, scan and decide one message.\n"
       "# TYPE tsubame_filter_scan_seconds histogram\n";
  uint64_t cumulative = 0;
  for (size_t i = 0; i <= kScanBuckets.size(); i++) {
    cumulative += buckets_[i].load(std::memory_order_relaxed);
    char le[32];
    if (i < kScanBuckets.size()) snprintf(le, sizeof le, "%g", kScanBuckets[i]);
    else snprintf(le, sizeof le, "+Inf");
    o << "tsubame_filter_scan_seconds_bucket{le=\"" << le << "\"} " << cumulative << "\n";
  }
  char sum[32];
  snprintf(sum, sizeof sum, "%.6f", double(scan_sum_us_.load(std::memory_order_relaxed)) / 1e6);
  o << "tsubame_filter_scan_seconds_sum " << sum << "\n"
    << "tsubame_filter_scan_seconds_count " << scan_count_.load(std::memory_order_relaxed) << "\n";
  return o.str();
}

Status write_metrics_file(const std::string& path, const std::string& text) {
  std::error_code ec;
  std::filesystem::create_directories(std::filesystem::path(path).parent_path(), ec);
  std::string tmp = path + ".tmp";
  {
    std::ofstream out(tmp, std::ios::binary | std::ios::trunc);
    out << text;
    if (!out) return Status::io_error("cannot write " + tmp);
  }
  std::filesystem::rename(tmp, path, ec);
  if (ec) return Status::io_error("rename " + tmp + ": " + ec.message());
  return Status::ok();
}

}  // namespace tsubame::smtp
