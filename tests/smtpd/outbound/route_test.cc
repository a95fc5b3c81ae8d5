// tests/smtpd/outbound/route_test.cc: host:port parsing, the transport map, MX answers
// (hand-built DNS messages), MX ordering (RFC 5321 §5.1), null MX (RFC 7505), backoff.
#include <gtest/gtest.h>

#include <cstdio>
#include <fstream>
#include <string>

#include "common/config.h"
#include "smtpd/outbound/route.h"
#include "smtpd/outbound/runner.h"

namespace tsubame::smtp::outbound {
namespace {

TEST(HostPort, Forms) {
  auto a = parse_host_port("Mail.Example.COM");
  ASSERT_TRUE(a.is_ok());
  EXPECT_EQ(a->host, "mail.example.com");
  EXPECT_EQ(a->port, 25);
  auto b = parse_host_port("127.0.0.1:2525");
  ASSERT_TRUE(b.is_ok());
  EXPECT_EQ(b->host, "127.0.0.1");
  EXPECT_EQ(b->port, 2525);
  auto c = parse_host_port("[::1]:587");
  ASSERT_TRUE(c.is_ok());
  EXPECT_EQ(c->host, "::1");
  EXPECT_EQ(c->port, 587);
  EXPECT_EQ(c->to_string(), "[::1]:587");
  EXPECT_FALSE(parse_host_port("host:0").is_ok());
  EXPECT_FALSE(parse_host_port("host:65536").is_ok());
  EXPECT_FALSE(parse_host_port("host:x").is_ok());
  EXPECT_FALSE(parse_host_port("[::1").is_ok());
  EXPECT_FALSE(parse_host_port("bad host").is_ok());
  EXPECT_FALSE(parse_host_port("").is_ok());
}

TEST(TransportMap, ExactParentWildcardAndComments) {
  auto m = TransportMap::parse(
      "# comment\n"
      "example.net   mx.internal:2525\n"
      ".corp.example [10.0.0.5]   # subdomains\n"
      "\n"
      "*             smarthost.example:587\n",
      "transport");
  ASSERT_TRUE(m.is_ok()) << m.status().to_string();
  EXPECT_EQ(m->size(), 3u);
  EXPECT_EQ(m->find("EXAMPLE.NET")->to_string(), "mx.internal:2525");
  EXPECT_EQ(m->find("a.b.corp.example")->to_string(), "10.0.0.5:25");
  EXPECT_EQ(m->find("corp.example")->to_string(), "smarthost.example:587");  // ".x" is subdomains only
  EXPECT_EQ(m->find("other.org")->to_string(), "smarthost.example:587");
  auto n = TransportMap::parse("example.net relay:25\n", "t");
  ASSERT_TRUE(n.is_ok());
  EXPECT_FALSE(n->find("example.org").has_value());
}

TEST(TransportMap, ErrorsNameTheLine) {
  auto a = TransportMap::parse("ok.example h:25\nbroken\n", "tm");
  ASSERT_FALSE(a.is_ok());
  EXPECT_NE(a.status().message().find("tm:2:"), std::string::npos) << a.status().message();
  EXPECT_FALSE(TransportMap::parse("a.example h:25 extra\n", "tm").is_ok());
  EXPECT_FALSE(TransportMap::parse("a.example h:25\na.example i:25\n", "tm").is_ok());
  EXPECT_FALSE(TransportMap::parse("a.example h:99999\n", "tm").is_ok());
}

TEST(TransportMap, LimitsAreEnforced) {
  std::string text;
  for (size_t i = 0; i <= kMaxTransportMapEntries; ++i) text += "d" + std::to_string(i) + ".example h\n";
  auto m = TransportMap::parse(text, "tm");
  ASSERT_FALSE(m.is_ok());
  EXPECT_EQ(m.status().code(), Code::kFull);

  std::string path = ::testing::TempDir() + "/big_transport";
  {
    std::ofstream out(path);
    out << std::string(kMaxTransportMapBytes + 1, '#');
  }
  auto big = TransportMap::load(path);
  ASSERT_FALSE(big.is_ok());
  EXPECT_EQ(big.status().code(), Code::kFull);
  std::remove(path.c_str());
  EXPECT_EQ(TransportMap::load("/nonexistent/transport").status().code(), Code::kNotFound);
}

// A DNS response (RFC 1035 §4.1) for "example.com MX" with the given records.
std::string dns_answer(int rcode, const std::vector<std::pair<uint16_t, std::string>>& mx) {
  std::string m;
  auto u16 = [&](uint16_t v) { m += char(v >> 8); m += char(v & 0xFF); };
  auto name = [&](const std::string& n) {
    size_t start = 0;
    while (start < n.size()) {
      size_t dot = n.find('.', start);
      if (dot == std::string::npos) dot = n.size();
      m += char(dot - start);
      m += n.substr(start, dot - start);
      start = dot + 1;
    }
    m += '\0';
  };
  u16(0x1234);
  u16(uint16_t(0x8180 | rcode));
  u16(1);
  u16(uint16_t(mx.size()));
  u16(0);
  u16(0);
  name("example.com");
  u16(15);
  u16(1);
  for (auto& [pref, host] : mx) {
    u16(0xC00C);  // pointer to the question name
    u16(15);
    u16(1);
    u16(0);
    u16(300);
    std::string rdata;
    std::swap(m, rdata);
    u16(pref);
    name(host);
    std::swap(m, rdata);
    u16(uint16_t(rdata.size()));
    m += rdata;
  }
  return m;
}

MxAnswer parse(const std::string& msg) {
  return parse_mx_answer(reinterpret_cast<const unsigned char*>(msg.data()), msg.size());
}

TEST(MxAnswer, RecordsParsed) {
  auto a = parse(dns_answer(0, {{20, "mx2.example.com"}, {10, "MX1.example.com"}}));
  ASSERT_EQ(a.status, MxStatus::kOk) << a.error;
  ASSERT_EQ(a.records.size(), 2u);
  EXPECT_EQ(a.records[0].preference, 20);
  EXPECT_EQ(a.records[1].host, "mx1.example.com");
}

TEST(MxAnswer, NoRecordsNxDomainServfailGarbage) {
  EXPECT_EQ(parse(dns_answer(0, {})).status, MxStatus::kNoRecords);
  EXPECT_EQ(parse(dns_answer(3, {})).status, MxStatus::kNxDomain);
  EXPECT_EQ(parse(dns_answer(2, {})).status, MxStatus::kTempFail);
  EXPECT_EQ(parse("garbage").status, MxStatus::kTempFail);
  std::string truncated = dns_answer(0, {{10, "mx.example.com"}});
  truncated.resize(truncated.size() - 4);
  EXPECT_EQ(parse(truncated).status, MxStatus::kTempFail);
}

TEST(MxAnswer, NullMxIsPermanent) {
  // RFC 7505 §3: one MX, preference 0, exchange "." (the root: an empty name).
  auto a = parse(dns_answer(0, {{0, ""}}));
  EXPECT_EQ(a.status, MxStatus::kNullMx);
  std::mt19937 rng(1);
  Route r = route_from_mx("example.com", a, rng);
  EXPECT_EQ(r.kind, Route::Kind::kPermanent);
  EXPECT_EQ(r.enhanced, "5.1.10");
}

TEST(MxOrder, ByPreferenceEqualOnesShuffledNullIgnoredCapped) {
  std::mt19937 rng(42);
  auto hosts = order_mx({{20, "c"}, {10, "a"}, {10, "b"}, {0, ""}, {30, "a"}}, rng);
  ASSERT_EQ(hosts.size(), 3u);
  EXPECT_TRUE((hosts[0] == "a" && hosts[1] == "b") || (hosts[0] == "b" && hosts[1] == "a"));
  EXPECT_EQ(hosts[2], "c");
  // Both orders of the equal-preference pair occur (RFC 5321 §5.1 load spreading).
  bool ab = false, ba = false;
  for (int i = 0; i < 64; ++i) {
    auto h = order_mx({{10, "a"}, {10, "b"}}, rng);
    (h[0] == "a" ? ab : ba) = true;
  }
  EXPECT_TRUE(ab && ba);
  std::vector<MxRecord> many;
  for (int i = 0; i < 50; ++i) many.push_back({uint16_t(i), "mx" + std::to_string(i)});
  EXPECT_EQ(order_mx(many, rng).size(), kMaxMxHosts);
}

TEST(MxOrder, OwnHostAndLessPreferredAreDropped) {
  std::mt19937 rng(7);
  // RFC 5321 §5.1: we are preference 20; 20 and above go, 10 stays.
  auto hosts = order_mx({{10, "primary"}, {20, "Me.Example."}, {30, "backup"}}, rng, "me.example");
  ASSERT_EQ(hosts.size(), 1u);
  EXPECT_EQ(hosts[0], "primary");
  MxAnswer only_me;
  only_me.status = MxStatus::kOk;
  only_me.records = {{10, "me.example"}};
  Route r = route_from_mx("example.org", only_me, rng, "me.example");
  EXPECT_EQ(r.kind, Route::Kind::kPermanent);
  EXPECT_EQ(r.enhanced, "5.4.6");
}

TEST(Route, FromMxAnswers) {
  std::mt19937 rng(1);
  MxAnswer none;
  none.status = MxStatus::kNoRecords;
  Route implicit = route_from_mx("example.org", none, rng);
  ASSERT_EQ(implicit.hosts.size(), 1u);
  EXPECT_EQ(implicit.hosts[0].host, "example.org");  // RFC 5321 §5.1 implicit MX
  MxAnswer nx;
  nx.status = MxStatus::kNxDomain;
  EXPECT_EQ(route_from_mx("x", nx, rng).kind, Route::Kind::kPermanent);
  MxAnswer tf;
  tf.status = MxStatus::kTempFail;
  Route t = route_from_mx("x", tf, rng);
  EXPECT_EQ(t.kind, Route::Kind::kTemporary);
  EXPECT_EQ(t.enhanced[0], '4');
}

TEST(Route, DomainOf) {
  EXPECT_EQ(domain_of("Bob@Example.COM"), "example.com");
  EXPECT_EQ(domain_of("\"a@b\"@c.example"), "c.example");
  EXPECT_EQ(domain_of("nodomain"), "");
}

TEST(Options, FromConfig) {
  auto c = Config::parse("[general]\nhostname = mx.example.org\n[smtpd]\nrelay_host = smart.example:2525\n"
                         "queue_lifetime = 2d\n", "/tmp/t.conf");
  ASSERT_TRUE(c.is_ok()) << c.status().to_string();
  auto o = options_from_config(*c);
  ASSERT_TRUE(o.is_ok()) << o.status().to_string();
  EXPECT_EQ(o->hostname, "mx.example.org");
  EXPECT_EQ(o->relay_host, "smart.example:2525");
  EXPECT_EQ(o->queue_lifetime_s, 2 * 86400);
  EXPECT_NE(o->tls, nullptr);  // opportunistic STARTTLS on by default
}

TEST(Retry, ExponentialBackoffCapped) {
  EXPECT_EQ(retry_delay_s(1), 5 * 60);
  EXPECT_EQ(retry_delay_s(2), 10 * 60);
  EXPECT_EQ(retry_delay_s(3), 20 * 60);
  EXPECT_EQ(retry_delay_s(6), 160 * 60);
  EXPECT_EQ(retry_delay_s(7), kRetryMaxS);
  EXPECT_EQ(retry_delay_s(1000), kRetryMaxS);
  EXPECT_EQ(kRetryMaxS, 4 * 3600);
}

}  // namespace
}  // namespace tsubame::smtp::outbound
