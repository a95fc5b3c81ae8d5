// tools/httpd/metrics.h: counters of tsubame-httpd and the Prometheus text exposition.
//
// /metrics (Prometheus text format 0.0.4) shows three sources:
//   1. what httpd itself knows: connections, requests by status class and a latency
//      histogram, logins by result, reports, decisions, webhook deliveries;
//   2. store counts, cached for kStoreStatsCacheMs: domains, users, mailboxes, messages,
//      outbound queue size (and held), quarantine reports by status, and the last 24 hours of
//      the message trace by direction/status (messages in/out) and by verdict action;
//   3. metric files the other daemons publish: every "<general.run_dir>/metrics/*.prom" is
//      appended as it is (node_exporter's textfile convention), so smtpd can publish its
//      filter scan-time histogram (tsubame_filter_scan_seconds) and counters without a
//      listener of its own. Lines that are not a comment or a sample are skipped.
// Thread-safety: counters are atomics; render_* may run on any thread.
// Failure: a store or file error leaves that part out and is shown as
// tsubame_store_stats_ok 0; /metrics itself still answers.
#pragma once

#include <array>
#include <atomic>
#include <cstdint>
#include <string>

namespace tsubame::httpd {

inline constexpr std::array<double, 10> kLatencyBuckets = {0.005, 0.01, 0.025, 0.05, 0.1,
                                                            0.25,  0.5,  1.0,   2.5,  5.0};

struct Metrics {
  std::atomic<uint64_t> connections_open{0}, connections_total{0}, connections_refused{0};
  std::array<std::atomic<uint64_t>, 6> requests_by_class{};  // index = status / 100
  std::array<std::atomic<uint64_t>, kLatencyBuckets.size()> latency_buckets{};
  std::atomic<uint64_t> latency_count{0}, latency_sum_us{0};
  std::atomic<uint64_t> login_success{0}, login_failed{0}, login_locked{0};
  std::atomic<uint64_t> reports_spam{0}, reports_ham{0}, decisions{0};

  void observe(int status, uint64_t duration_ns);
  // Section 1 in Prometheus text format.
  std::string render_own() const;
};

// Section 3: the *.prom files of `dir` (missing dir: empty).
std::string render_textfiles(const std::string& dir);

}  // namespace tsubame::httpd
