// tests/smtpd/limiter_test.cc: accept-time connection limits (smtp::ConnectionLimiter) and
// the small helpers of the glue (queue ids, dates).
#include <gtest/gtest.h>

#include "smtpd/limits.h"
#include "smtpd/server.h"

namespace tsubame::smtp {
namespace {

TEST(ConnectionLimiter, ConcurrentPerIp) {
  Options o;
  o.max_connections_per_ip = 2;
  ConnectionLimiter l(o);
  EXPECT_EQ(l.admit("192.0.2.1", 100), "");
  EXPECT_EQ(l.admit("192.0.2.1", 100), "");
  EXPECT_EQ(l.admit("192.0.2.1", 100), "Error: too many connections from your address");
  EXPECT_EQ(l.admit("192.0.2.2", 100), "");  // another address is not affected
  l.release("192.0.2.1");
  EXPECT_EQ(l.admit("192.0.2.1", 100), "");
  EXPECT_EQ(l.total(), 3u);
}

TEST(ConnectionLimiter, NewConnectionsPerMinute) {
  Options o;
  o.max_new_connections_per_ip_per_minute = 3;
  ConnectionLimiter l(o);
  for (int i = 0; i < 3; ++i) {
    EXPECT_EQ(l.admit("192.0.2.1", 1000), "");
    l.release("192.0.2.1");
  }
  EXPECT_EQ(l.admit("192.0.2.1", 1030),
            "Error: too many new connections from your address; try again later");
  // A new minute opens a new window.
  EXPECT_EQ(l.admit("192.0.2.1", 1060), "");
}

TEST(ConnectionLimiter, Total) {
  Options o;
  o.max_connections = 2;
  ConnectionLimiter l(o);
  EXPECT_EQ(l.admit("192.0.2.1", 1), "");
  EXPECT_EQ(l.admit("192.0.2.2", 1), "");
  EXPECT_EQ(l.admit("192.0.2.3", 1), "Error: too many connections");
  l.release("192.0.2.2");
  EXPECT_EQ(l.admit("192.0.2.3", 1), "");
  l.release("198.51.100.9");  // never admitted: ignored
  EXPECT_EQ(l.total(), 2u);
}

TEST(ConnectionLimiter, DefaultsAreSane) {
  EXPECT_GT(kDefaultMaxConnections, kDefaultMaxConnectionsPerIp);
  EXPECT_GE(kDefaultMaxNewConnectionsPerIpPerMinute, kDefaultMaxConnectionsPerIp);
}

TEST(GlueHelpers, QueueIdsAndDates) {
  std::string a = new_queue_id(), b = new_queue_id();
  EXPECT_EQ(a.size(), 12u);
  EXPECT_NE(a, b);
  for (char c : a) EXPECT_TRUE((c >= '0' && c <= '9') || (c >= 'A' && c <= 'Z')) << a;
  std::string d = rfc5322_date_now();
  // "Sun, 22 Nov 2026 04:00:00 +0000"
  ASSERT_EQ(d.size(), 31u) << d;
  EXPECT_EQ(d.substr(3, 2), ", ");
  EXPECT_EQ(d.substr(25), " +0000");
}

}  // namespace
}  // namespace tsubame::smtp
