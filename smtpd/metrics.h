// smtpd/metrics.h: smtpd's Prometheus metrics.
//
// Counters are process-wide atomics (updated from the filter workers and the loop without
// locks). main.cc renders them every few seconds into run_dir/metrics/smtpd.prom, written
// atomically (temp file + rename); tsubame-httpd serves every *.prom file of that directory
// on /metrics, so one scrape shows the whole installation.
//
//   tsubame_smtpd_connections_open            gauge
//   tsubame_smtpd_messages_total{verdict=...}  counter: deliver, junk, quarantine, reject, hold, unscanned
//   tsubame_filter_scan_seconds               histogram of one message's parse + scan + policy
#pragma once

#include <array>
#include <atomic>
#include <cstdint>
#include <string>
#include <string_view>

#include "common/result.h"

namespace tsubame::smtp {

class Metrics {
 public:
  static constexpr std::array<double, 11> kScanBuckets = {0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025,
                                                          0.05,   0.1,   0.25,   0.5,   1.0};
  static constexpr std::array<const char*, 6> kVerdicts = {"deliver", "junk", "quarantine",
                                                           "reject",  "hold", "unscanned"};

  static Metrics& get();

  void observe_scan(double seconds);
  // An action name from filter::action_name(), or "unscanned" (filter fault or no filter).
  void count_verdict(std::string_view verdict);
  std::string render(size_t connections_open) const;

 private:
  std::array<std::atomic<uint64_t>, kScanBuckets.size() + 1> buckets_{};  // last = +Inf
  std::atomic<uint64_t> scan_count_{0};
  std::atomic<uint64_t> scan_sum_us_{0};
  std::array<std::atomic<uint64_t>, kVerdicts.size()> verdicts_{};
};

// Writes `text` to `path` atomically (path.tmp, fsync-free, rename), creating its directory.
Status write_metrics_file(const std::string& path, const std::string& text);

}  // namespace tsubame::smtp
