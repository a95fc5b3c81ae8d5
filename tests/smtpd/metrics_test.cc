// tests/smtpd/metrics_test.cc: smtpd's Prometheus text (smtpd/metrics.h).
#include "smtpd/metrics.h"

#include <gtest/gtest.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <sstream>

namespace tsubame::smtp {

TEST(Metrics, HistogramIsCumulativeAndCountsVerdicts) {
  Metrics& m = Metrics::get();
  std::string before = m.render(0);
  m.observe_scan(0.0004);   // first bucket
  m.observe_scan(0.02);     // le 0.025
  m.observe_scan(5.0);      // only +Inf
  m.count_verdict("junk");
  m.count_verdict("no-such-verdict");  // ignored
  std::string text = m.render(3);
  EXPECT_NE(text.find("tsubame_smtpd_connections_open 3\n"), std::string::npos);
  EXPECT_NE(text.find("# TYPE tsubame_filter_scan_seconds histogram"), std::string::npos);
  // Buckets are cumulative: le=0.0005 <= le=0.025 <= +Inf == count.
  auto value = [&](const std::string& series) {
    size_t p = text.find(series + " ");
    EXPECT_NE(p, std::string::npos) << series;
    return std::stoull(text.substr(p + series.size() + 1));
  };
  uint64_t b1 = value("tsubame_filter_scan_seconds_bucket{le=\"0.0005\"}");
  uint64_t b25 = value("tsubame_filter_scan_seconds_bucket{le=\"0.025\"}");
  uint64_t inf = value("tsubame_filter_scan_seconds_bucket{le=\"+Inf\"}");
  EXPECT_GE(b1, 1u);
  EXPECT_GE(b25, b1 + 1);
  EXPECT_EQ(inf, value("tsubame_filter_scan_seconds_count"));
  EXPECT_GE(inf, b25 + 1);
  EXPECT_GE(value("tsubame_smtpd_messages_total{verdict=\"junk\"}"), 1u);
  EXPECT_NE(text, before);
}

TEST(Metrics, FileIsWrittenWholeAndReplaced) {
  char tmpl[] = "/tmp/tsubame-metrics-XXXXXX";
  std::string dir = mkdtemp(tmpl);
  std::string path = dir + "/metrics/smtpd.prom";
  ASSERT_TRUE(write_metrics_file(path, "a 1\n").is_ok());
  ASSERT_TRUE(write_metrics_file(path, "a 2\n").is_ok());
  std::ifstream in(path);
  std::stringstream ss;
  ss << in.rdbuf();
  EXPECT_EQ(ss.str(), "a 2\n");
  EXPECT_FALSE(std::filesystem::exists(path + ".tmp"));
  EXPECT_FALSE(write_metrics_file("/proc/no/such/dir/x.prom", "a 1\n").is_ok());
  std::filesystem::remove_all(dir);
}

}  // namespace tsubame::smtp
