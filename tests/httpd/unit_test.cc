// tests/httpd/unit_test.cc: socket-free tests of tsubame-httpd's parts: session tokens
// (format, lookup, expiry, revocation, bounds), webhook URLs and signatures, the bounded
// webhook queue, https delivery (verified against a CA file; refused when untrusted), and the Prometheus rendering of httpd's counters and metric files.
#include <arpa/inet.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <openssl/ssl.h>
#include <sys/socket.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <mutex>
#include <thread>

#include "common/bytes.h"
#include "common/tls.h"
#include "tools/httpd/limits.h"
#include "tools/httpd/metrics.h"
#include "tools/httpd/sessions.h"
#include "common/webhook.h"

namespace tsubame::httpd {
namespace {

Session alice() {
  Session s;
  s.user_id = 7;
  s.address = "alice@example.com";
  return s;
}

TEST(HttpdSessions, TokenIs256RandomBitsInHex) {
  SessionTable t(60000);
  std::string a = t.create(alice(), 1000), b = t.create(alice(), 1000);
  EXPECT_EQ(a.size(), kTokenBytes * 2);
  EXPECT_NE(a, b);
  EXPECT_TRUE(from_hex(a).has_value());
}

TEST(HttpdSessions, LookupFindsOnlyLiveExactTokens) {
  SessionTable t(60000);
  std::string tok = t.create(alice(), 1000);
  auto s = t.lookup(tok, 2000);
  ASSERT_TRUE(s.has_value());
  EXPECT_EQ(s->user_id, 7u);
  EXPECT_EQ(s->expires_ms, 61000);
  std::string forged = tok;
  forged[10] = forged[10] == 'a' ? 'b' : 'a';
  EXPECT_FALSE(t.lookup(forged, 2000));
  EXPECT_FALSE(t.lookup(tok.substr(1), 2000));
  EXPECT_FALSE(t.lookup("", 2000));
  std::string upper = tok;
  for (auto& c : upper) c = static_cast<char>(toupper(c));
  if (upper != tok) {
    EXPECT_FALSE(t.lookup(upper, 2000));
  }
}

TEST(HttpdSessions, ExpiredTokenIsRefusedAndErased) {
  SessionTable t(60000);
  std::string tok = t.create(alice(), 1000);
  EXPECT_TRUE(t.lookup(tok, 60999));
  EXPECT_FALSE(t.lookup(tok, 61000));
  EXPECT_EQ(t.size(), 0u);
}

TEST(HttpdSessions, RevokeAndRevokeUser) {
  SessionTable t(60000);
  std::string a = t.create(alice(), 1000), b = t.create(alice(), 1000);
  Session bob = alice();
  bob.user_id = 8;
  std::string c = t.create(bob, 1000);
  EXPECT_TRUE(t.revoke(a));
  EXPECT_FALSE(t.revoke(a));
  EXPECT_FALSE(t.lookup(a, 1000));
  EXPECT_EQ(t.revoke_user(7), 1u);
  EXPECT_FALSE(t.lookup(b, 1000));
  EXPECT_TRUE(t.lookup(c, 1000));
}

TEST(HttpdSessions, PerUserLimitEvictsTheOldest) {
  SessionTable t(600000);
  std::string first = t.create(alice(), 1000);
  for (size_t i = 1; i < kMaxSessionsPerUser; ++i) t.create(alice(), 1000 + int64_t(i));
  EXPECT_TRUE(t.lookup(first, 5000));
  std::string newest = t.create(alice(), 9000);
  EXPECT_FALSE(t.lookup(first, 9000)) << "the oldest session goes when the limit is reached";
  EXPECT_TRUE(t.lookup(newest, 9000));
  EXPECT_EQ(t.size(), kMaxSessionsPerUser);
}

TEST(HttpdWebhookUrl, ParsesHttpAndHttps) {
  auto u = webhook::parse_url("http://127.0.0.1:8080/hooks/x?y=1");
  ASSERT_TRUE(u.is_ok());
  EXPECT_FALSE(u->tls);
  EXPECT_EQ(u->host, "127.0.0.1");
  EXPECT_EQ(u->port, 8080);
  EXPECT_EQ(u->path, "/hooks/x?y=1");
  EXPECT_EQ(u->host_header, "127.0.0.1:8080");
  auto s = webhook::parse_url("https://chat.example.com");
  ASSERT_TRUE(s.is_ok());
  EXPECT_TRUE(s->tls);
  EXPECT_EQ(s->port, 443);
  EXPECT_EQ(s->path, "/");
  auto v6 = webhook::parse_url("http://[::1]:9000/h");
  ASSERT_TRUE(v6.is_ok());
  EXPECT_EQ(v6->host, "::1");
  EXPECT_EQ(v6->port, 9000);
}

TEST(HttpdWebhookUrl, RefusesMalformed) {
  for (const char* bad : {"ftp://x/", "http://", "http://:80/", "http://h:0/", "http://h:70000/",
                          "http://h:8x/", "http://u@h/", "http://h/a b", "http://[::1/", "h/x"})
    EXPECT_FALSE(webhook::parse_url(bad).is_ok()) << bad;
}

TEST(HttpdWebhookSignature, IsHmacSha256OverTimestampDotBody) {
  // Python: hmac.new(b'0123456789abcdef-secret', b'1700000000.{"a":1}', sha256).hexdigest()
  EXPECT_EQ(webhook::signature("0123456789abcdef-secret", 1700000000, "{\"a\":1}"),
            "sha256=6948a2dc6985c92d09b9edade5c97dce2ba201452d91a72e4a20d35abe4d3420");
  EXPECT_NE(webhook::signature("0123456789abcdef-secret", 1700000001, "{\"a\":1}"),
            webhook::signature("0123456789abcdef-secret", 1700000000, "{\"a\":1}"));
}

TEST(HttpdWebhookSender, DisabledWithoutUrls) {
  auto s = webhook::Sender::start({});
  ASSERT_TRUE(s.is_ok());
  EXPECT_FALSE((*s)->enabled());
  EXPECT_FALSE((*s)->publish(webhook::EventType::kSpamReported, {{"x", 1}}));
}

TEST(HttpdWebhookSender, RefusesUrlsWithoutSecret) {
  webhook::Options o;
  o.urls = {"http://127.0.0.1:9/"};
  EXPECT_FALSE(webhook::Sender::start(o).is_ok());
}

TEST(HttpdWebhookSender, FullQueueDropsAndCounts) {
  webhook::Options o;
  o.urls = {"http://127.0.0.1:9/"};  // discard port: connection refused, retried later
  o.secret = "0123456789abcdef-secret";
  o.queue_capacity = 3;
  o.backoff_base_ms = 60000;          // failed deliveries stay queued for the test's duration
  auto s = webhook::Sender::start(o);
  ASSERT_TRUE(s.is_ok());
  int accepted = 0;
  for (int i = 0; i < 10; ++i) accepted += (*s)->publish(webhook::EventType::kAccountLocked, {{"i", i}}) ? 1 : 0;
  EXPECT_LE(accepted, 4);  // capacity 3, plus at most one taken out by the sender thread
  EXPECT_GE((*s)->stats().dropped, 6u);
}

TEST(HttpdMetrics, RendersCountersAndCumulativeHistogram) {
  Metrics m;
  m.observe(200, 2'000'000);    // 2 ms
  m.observe(404, 300'000'000);  // 300 ms
  m.login_locked++;
  std::string t = m.render_own();
  EXPECT_NE(t.find("tsubame_httpd_requests_total{code=\"2xx\"} 1"), std::string::npos);
  EXPECT_NE(t.find("tsubame_httpd_requests_total{code=\"4xx\"} 1"), std::string::npos);
  EXPECT_NE(t.find("tsubame_httpd_request_duration_seconds_bucket{le=\"0.005\"} 1"), std::string::npos);
  EXPECT_NE(t.find("tsubame_httpd_request_duration_seconds_bucket{le=\"0.5\"} 2"), std::string::npos);
  EXPECT_NE(t.find("tsubame_httpd_request_duration_seconds_bucket{le=\"+Inf\"} 2"), std::string::npos);
  EXPECT_NE(t.find("tsubame_httpd_logins_total{result=\"locked\"} 1"), std::string::npos);
}

TEST(HttpdMetrics, TextfilesKeepSamplesAndSkipJunk) {
  auto dir = std::filesystem::temp_directory_path() / ("httpd-metrics-" + to_hex(random_bytes(6)));
  std::filesystem::create_directories(dir);
  {
    std::ofstream(dir / "smtpd.prom") << "# TYPE tsubame_filter_scan_seconds histogram\n"
                                         "tsubame_filter_scan_seconds_bucket{le=\"0.01\"} 3\n"
                                         "<script>junk\n\n";
    std::ofstream(dir / "ignored.txt") << "not_a_prom_file 1\n";
  }
  std::string t = render_textfiles(dir.string());
  EXPECT_NE(t.find("tsubame_filter_scan_seconds_bucket{le=\"0.01\"} 3\n"), std::string::npos);
  EXPECT_EQ(t.find("<script>"), std::string::npos);
  EXPECT_EQ(t.find("not_a_prom_file"), std::string::npos);
  EXPECT_EQ(render_textfiles((dir / "missing").string()), "");
  std::filesystem::remove_all(dir);
}

}  // namespace
}  // namespace tsubame::httpd

// ---- https webhooks against a local TLS receiver ----
namespace tsubame::httpd {
namespace {

// Accepts one TLS connection, reads one request, answers 200; records the request text.
class TlsReceiver {
 public:
  explicit TlsReceiver(std::shared_ptr<tls::Context> ctx) : ctx_(std::move(ctx)) {
    fd_ = socket(AF_INET, SOCK_STREAM, 0);
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    bind(fd_, reinterpret_cast<sockaddr*>(&a), sizeof a);
    listen(fd_, 4);
    socklen_t len = sizeof a;
    getsockname(fd_, reinterpret_cast<sockaddr*>(&a), &len);
    port_ = ntohs(a.sin_port);
    thread_ = std::thread([this] { serve(); });
  }
  ~TlsReceiver() {
    shutdown(fd_, SHUT_RDWR);
    close(fd_);
    thread_.join();
  }
  uint16_t port() const { return port_; }
  std::string request() {
    std::lock_guard lock(mu_);
    return request_;
  }
  bool handshake_failed() {
    std::lock_guard lock(mu_);
    return handshake_failed_;
  }

 private:
  void serve() {
    int c = accept(fd_, nullptr, nullptr);
    if (c < 0) return;
    timeval tv{10, 0};
    setsockopt(c, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
    SSL* ssl = ctx_->new_ssl();
    SSL_set_fd(ssl, c);
    if (SSL_accept(ssl) != 1) {
      std::lock_guard lock(mu_);
      handshake_failed_ = true;
    } else {
      std::string req;
      char buf[4096];
      for (;;) {
        size_t hdr_end = req.find("\r\n\r\n");
        if (hdr_end != std::string::npos) {
          size_t cl = req.find("Content-Length: ");
          size_t n = cl == std::string::npos ? 0 : std::stoul(req.substr(cl + 16));
          if (req.size() >= hdr_end + 4 + n) break;
        }
        int r = SSL_read(ssl, buf, sizeof buf);
        if (r <= 0) break;
        req.append(buf, static_cast<size_t>(r));
      }
      std::string resp = "HTTP/1.1 200 OK\r\nContent-Length: 0\r\nConnection: close\r\n\r\n";
      SSL_write(ssl, resp.data(), static_cast<int>(resp.size()));
      std::lock_guard lock(mu_);
      request_ = req;
    }
    SSL_free(ssl);
    close(c);
  }
  std::shared_ptr<tls::Context> ctx_;
  int fd_ = -1;
  uint16_t port_ = 0;
  std::thread thread_;
  std::mutex mu_;
  std::string request_;
  bool handshake_failed_ = false;
};

struct TlsFiles {
  std::filesystem::path dir = std::filesystem::temp_directory_path() / ("httpd-tls-" + to_hex(random_bytes(6)));
  std::string cert = (dir / "cert.pem").string(), key = (dir / "key.pem").string();
  TlsFiles() {
    std::filesystem::create_directories(dir);
    EXPECT_TRUE(tls::generate_self_signed(cert, key, {"localhost"}).is_ok());
  }
  ~TlsFiles() { std::filesystem::remove_all(dir); }
};

TEST(HttpdWebhookSender, HttpsDeliveryIsVerifiedAndSigned) {
  TlsFiles files;
  auto server_ctx = tls::Context::server(files.cert, files.key);
  ASSERT_TRUE(server_ctx.is_ok());
  TlsReceiver rx(*server_ctx);
  webhook::Options o;
  o.urls = {"https://localhost:" + std::to_string(rx.port()) + "/hook"};
  o.secret = "0123456789abcdef-secret";
  o.ca_file = files.cert;  // trust the receiver's self-signed certificate
  o.max_attempts = 1;
  auto s = webhook::Sender::start(o);
  ASSERT_TRUE(s.is_ok()) << s.status().to_string();
  ASSERT_TRUE((*s)->publish(webhook::EventType::kQuarantineDecided, {{"report_id", 9}}));
  ASSERT_TRUE((*s)->flush(20000));
  EXPECT_EQ((*s)->stats().delivered, 1u);
  std::string req = rx.request();
  EXPECT_EQ(req.rfind("POST /hook HTTP/1.1\r\n", 0), 0u) << req;
  EXPECT_NE(req.find("X-Tsubame-Event: quarantine.decided\r\n"), std::string::npos);
  size_t ts = req.find("X-Tsubame-Timestamp: "), sig = req.find("X-Tsubame-Signature: ");
  ASSERT_NE(ts, std::string::npos);
  ASSERT_NE(sig, std::string::npos);
  int64_t t = std::stoll(req.substr(ts + 21));
  std::string body = req.substr(req.find("\r\n\r\n") + 4);
  EXPECT_EQ(req.substr(sig + 21, req.find("\r\n", sig) - sig - 21), webhook::signature(o.secret, t, body));
  EXPECT_NE(body.find("\"report_id\":9"), std::string::npos);
}

TEST(HttpdWebhookSender, HttpsToAnUntrustedCertificateIsNotSent) {
  TlsFiles files;
  auto server_ctx = tls::Context::server(files.cert, files.key);
  ASSERT_TRUE(server_ctx.is_ok());
  TlsReceiver rx(*server_ctx);
  webhook::Options o;
  o.urls = {"https://localhost:" + std::to_string(rx.port()) + "/hook"};
  o.secret = "0123456789abcdef-secret";
  o.max_attempts = 1;  // system trust store: the self-signed certificate is refused
  auto s = webhook::Sender::start(o);
  ASSERT_TRUE(s.is_ok());
  ASSERT_TRUE((*s)->publish(webhook::EventType::kQuarantineDecided, {{"report_id", 9}}));
  ASSERT_TRUE((*s)->flush(20000));
  auto st = (*s)->stats();
  EXPECT_EQ(st.delivered, 0u);
  EXPECT_EQ(st.gave_up, 1u);
  EXPECT_EQ(rx.request(), "");
}

}  // namespace
}  // namespace tsubame::httpd
