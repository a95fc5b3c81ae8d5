// tests/smtpd/spf/dns_test.cc: ResolverDns against a real DNS server (Debian's dnsmasq on a
// free loopback port, records given on its command line): TXT/A/AAAA/MX/PTR answers, CNAME
// chains, NXDOMAIN / no data / failure mapping, and whole SPF checks through it. Also the
// pure parts: answer parsing on hand-built messages, reverse names, server addresses.
#include <gtest/gtest.h>

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <optional>
#include <random>
#include <string>
#include <thread>
#include <vector>

#include "smtpd/spf/dns.h"
#include "smtpd/spf/spf.h"

namespace tsubame::smtp::spf {
namespace {

// ---- hand-built DNS messages (RFC 1035 §4.1) ------------------------------------

struct Rr {
  std::string owner;
  int type;
  std::vector<unsigned char> rdata;
};

void put16(std::vector<unsigned char>& b, unsigned v) {
  b.push_back(static_cast<unsigned char>(v >> 8));
  b.push_back(static_cast<unsigned char>(v & 0xff));
}

std::vector<unsigned char> wire_name(const std::string& name) {
  std::vector<unsigned char> out;
  size_t start = 0;
  while (start < name.size()) {
    size_t dot = name.find('.', start);
    if (dot == std::string::npos) dot = name.size();
    out.push_back(static_cast<unsigned char>(dot - start));
    out.insert(out.end(), name.begin() + long(start), name.begin() + long(dot));
    start = dot + 1;
  }
  out.push_back(0);
  return out;
}

std::vector<unsigned char> message(int rcode, const std::string& qname, int qtype, const std::vector<Rr>& answers) {
  std::vector<unsigned char> b;
  put16(b, 0x1234);
  put16(b, 0x8180 | unsigned(rcode));  // response, RD, RA
  put16(b, 1);
  put16(b, unsigned(answers.size()));
  put16(b, 0);
  put16(b, 0);
  auto q = wire_name(qname);
  b.insert(b.end(), q.begin(), q.end());
  put16(b, unsigned(qtype));
  put16(b, 1);
  for (const Rr& rr : answers) {
    auto o = wire_name(rr.owner);
    b.insert(b.end(), o.begin(), o.end());
    put16(b, unsigned(rr.type));
    put16(b, 1);
    put16(b, 0);
    put16(b, 300);
    put16(b, unsigned(rr.rdata.size()));
    b.insert(b.end(), rr.rdata.begin(), rr.rdata.end());
  }
  return b;
}

std::vector<unsigned char> txt_rdata(const std::vector<std::string>& strings) {
  std::vector<unsigned char> out;
  for (const auto& s : strings) {
    out.push_back(static_cast<unsigned char>(s.size()));
    out.insert(out.end(), s.begin(), s.end());
  }
  return out;
}

constexpr int kA = 1, kCname = 5, kPtr = 12, kMx = 15, kTxt = 16, kAaaa = 28;

TEST(SpfDnsParse, TxtAfterACnameWithSeveralStrings) {
  auto m = message(0, "alias.example", kTxt,
                   {{"alias.example", kCname, wire_name("real.example")},
                    {"real.example", kTxt, txt_rdata({"v=spf1 ip4:192.0.2.0/2", "4 -all"})},
                    {"real.example", kTxt, txt_rdata({"other"})}});
  TxtAnswer a = parse_txt_answer(m.data(), m.size());
  ASSERT_EQ(a.status, DnsStatus::kOk);
  ASSERT_EQ(a.records.size(), 2u);
  EXPECT_EQ(a.records[0], "v=spf1 ip4:192.0.2.0/24 -all");
  EXPECT_EQ(a.records[1], "other");
}

TEST(SpfDnsParse, StatusMapping) {
  auto nx = message(3, "nope.example", kTxt, {});
  EXPECT_EQ(parse_txt_answer(nx.data(), nx.size()).status, DnsStatus::kNxDomain);
  auto servfail = message(2, "x.example", kTxt, {});
  EXPECT_EQ(parse_txt_answer(servfail.data(), servfail.size()).status, DnsStatus::kTempFail);
  auto cname_only = message(0, "alias.example", kTxt, {{"alias.example", kCname, wire_name("real.example")}});
  EXPECT_EQ(parse_txt_answer(cname_only.data(), cname_only.size()).status, DnsStatus::kNoData);
  auto empty = message(0, "x.example", kA, {});
  EXPECT_EQ(parse_addr_answer(empty.data(), empty.size(), false).status, DnsStatus::kNoData);
}

TEST(SpfDnsParse, MalformedIsTempFail) {
  auto bad_len = message(0, "x.example", kTxt, {{"x.example", kTxt, {5, 'a', 'b'}}});  // says 5, has 2
  EXPECT_EQ(parse_txt_answer(bad_len.data(), bad_len.size()).status, DnsStatus::kTempFail);
  auto short_a = message(0, "x.example", kA, {{"x.example", kA, {192, 0, 2}}});
  EXPECT_EQ(parse_addr_answer(short_a.data(), short_a.size(), false).status, DnsStatus::kTempFail);
  auto good = message(0, "x.example", kTxt, {{"x.example", kTxt, txt_rdata({"hello"})}});
  for (size_t cut = 0; cut < good.size(); ++cut)
    EXPECT_EQ(parse_txt_answer(good.data(), cut).status, DnsStatus::kTempFail) << cut;
  EXPECT_EQ(parse_txt_answer(good.data(), good.size()).status, DnsStatus::kOk);
}

// Random bytes and single-byte mutations of good answers: the parsers answer, never crash.
TEST(SpfDnsParse, GarbageNeverCrashes) {
  std::mt19937 rng(1035);
  std::vector<unsigned char> mx = {0, 10};
  auto n = wire_name("mx.example");
  mx.insert(mx.end(), n.begin(), n.end());
  const std::vector<std::vector<unsigned char>> seeds = {
      message(0, "x.example", kTxt, {{"x.example", kTxt, txt_rdata({"v=spf1 -all", "more"})}}),
      message(0, "x.example", kMx, {{"x.example", kMx, mx}}),
      message(0, "x.example", kA, {{"x.example", kCname, wire_name("y.example")}, {"y.example", kA, {1, 2, 3, 4}}}),
  };
  size_t ok = 0;
  for (int round = 0; round < 20000; ++round) {
    std::vector<unsigned char> m;
    if (round % 4 == 0) {
      m.resize(rng() % 300);
      for (auto& b : m) b = static_cast<unsigned char>(rng());
    } else {
      m = seeds[size_t(round) % seeds.size()];
      m[rng() % m.size()] = static_cast<unsigned char>(rng());
    }
    TxtAnswer t = parse_txt_answer(m.data(), m.size());
    AddrAnswer a = parse_addr_answer(m.data(), m.size(), round % 2 == 0);
    NameAnswer x = parse_name_answer(m.data(), m.size(), round % 3 == 0 ? kPtr : kMx);
    EXPECT_TRUE(t.status != DnsStatus::kOk || !t.records.empty());
    EXPECT_TRUE(x.status != DnsStatus::kOk || !x.names.empty());
    ok += a.status == DnsStatus::kOk;
  }
  EXPECT_GT(ok, 0u);  // some mutations leave a usable answer
}

TEST(SpfDnsParse, AddressesMxAndPtr) {
  auto a = message(0, "h.example", kA, {{"h.example", kA, {192, 0, 2, 1}}, {"h.example", kA, {192, 0, 2, 2}}});
  AddrAnswer aa = parse_addr_answer(a.data(), a.size(), false);
  ASSERT_EQ(aa.status, DnsStatus::kOk);
  ASSERT_EQ(aa.addrs.size(), 2u);
  EXPECT_EQ(aa.addrs[1].to_string(), "192.0.2.2");
  std::vector<unsigned char> v6(16, 0);
  v6[0] = 0x20, v6[1] = 0x01, v6[2] = 0x0d, v6[3] = 0xb8, v6[15] = 1;
  auto aaaa = message(0, "h.example", kAaaa, {{"h.example", kAaaa, v6}});
  EXPECT_EQ(parse_addr_answer(aaaa.data(), aaaa.size(), true).addrs.at(0).to_string(), "2001:db8::1");
  // An A record in an AAAA answer is not taken.
  EXPECT_EQ(parse_addr_answer(a.data(), a.size(), true).status, DnsStatus::kNoData);

  std::vector<unsigned char> mx1 = {0, 10};
  auto n1 = wire_name("MX1.Example");
  mx1.insert(mx1.end(), n1.begin(), n1.end());
  std::vector<unsigned char> mx2 = {0, 20, 0xc0, 0x0c};  // compressed: the question's name
  auto mx = message(0, "example", kMx, {{"example", kMx, mx1}, {"example", kMx, mx2}});
  NameAnswer mxa = parse_name_answer(mx.data(), mx.size(), kMx);
  ASSERT_EQ(mxa.status, DnsStatus::kOk);
  EXPECT_EQ(mxa.names, (std::vector<std::string>{"mx1.example", "example"}));
  auto null_mx = message(0, "example", kMx, {{"example", kMx, {0, 0, 0}}});
  EXPECT_EQ(parse_name_answer(null_mx.data(), null_mx.size(), kMx).names, std::vector<std::string>{""});
  auto ptr = message(0, "1.2.0.192.in-addr.arpa", kPtr,
                     {{"1.2.0.192.in-addr.arpa", kPtr, wire_name("mail.example")}});
  EXPECT_EQ(parse_name_answer(ptr.data(), ptr.size(), kPtr).names, std::vector<std::string>{"mail.example"});
}

TEST(SpfDnsParse, ReverseNames) {
  EXPECT_EQ(reverse_name(*Ip::parse("192.0.2.1")), "1.2.0.192.in-addr.arpa");
  EXPECT_EQ(reverse_name(*Ip::parse("2001:db8::567:89ab")),
            "b.a.9.8.7.6.5.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.8.b.d.0.1.0.0.2.ip6.arpa");  // RFC 3596 §2.5
  EXPECT_EQ(reverse_name(*Ip::parse("::ffff:192.0.2.1")), "1.2.0.192.in-addr.arpa");
}

TEST(SpfDnsParse, ServerAddresses) {
  auto a = parse_server_address("192.0.2.53");
  ASSERT_TRUE(a.is_ok());
  EXPECT_EQ(a->ip.to_string(), "192.0.2.53");
  EXPECT_EQ(a->port, 53);
  auto b = parse_server_address("127.0.0.1:5353");
  ASSERT_TRUE(b.is_ok());
  EXPECT_EQ(b->port, 5353);
  auto c = parse_server_address("[::1]:5300");
  ASSERT_TRUE(c.is_ok());
  EXPECT_EQ(c->ip.to_string(), "::1");
  EXPECT_EQ(c->port, 5300);
  auto d = parse_server_address("2001:db8::53");
  ASSERT_TRUE(d.is_ok());
  EXPECT_EQ(d->port, 53);
  for (const char* bad : {"", "dns.example", "192.0.2.53:", "192.0.2.53:0", "192.0.2.53:65536", "192.0.2.53:x",
                          "[::1", "[::1]:", "[::1]5300", "[192.0.2.1]x", "::1:5300:"})
    EXPECT_FALSE(parse_server_address(bad).is_ok()) << bad;
}

TEST(SpfDnsParse, UnusableServerAnswersTempFail) {
  ResolverOptions opts;
  opts.server = "dns.example";
  ResolverDns dns(opts);
  EXPECT_FALSE(dns.status().is_ok());
  EXPECT_EQ(dns.txt("example.com").status, DnsStatus::kTempFail);
  EXPECT_EQ(dns.a("example.com").status, DnsStatus::kTempFail);
  EXPECT_EQ(dns.queries(), 0u);
  Request req{"192.0.2.1", "foo@example.com", "h.example", "", 0};
  EXPECT_EQ(check(dns, req).result, Result::kTempError);
}

// ---- a real server: dnsmasq on loopback -----------------------------------------

std::optional<std::string> find_dnsmasq() {
  for (const char* p : {"/usr/sbin/dnsmasq", "/usr/bin/dnsmasq", "/sbin/dnsmasq", "/usr/local/sbin/dnsmasq"})
    if (access(p, X_OK) == 0) return std::string(p);
  return std::nullopt;
}

// A port free for both UDP and TCP on 127.0.0.1 (and on ::1 when `v6`), or 0.
uint16_t free_port(bool v6) {
  int s = socket(AF_INET, SOCK_DGRAM, 0);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  socklen_t len = sizeof a;
  if (s < 0 || bind(s, reinterpret_cast<sockaddr*>(&a), sizeof a) != 0 ||
      getsockname(s, reinterpret_cast<sockaddr*>(&a), &len) != 0) {
    if (s >= 0) close(s);
    return 0;
  }
  close(s);
  uint16_t port = ntohs(a.sin_port);
  int t = socket(AF_INET, SOCK_STREAM, 0);
  bool ok = t >= 0 && bind(t, reinterpret_cast<sockaddr*>(&a), sizeof a) == 0;
  if (t >= 0) close(t);
  if (ok && v6) {
    int u = socket(AF_INET6, SOCK_DGRAM, 0);
    sockaddr_in6 b{};
    b.sin6_family = AF_INET6;
    b.sin6_addr = in6addr_loopback;
    b.sin6_port = htons(port);
    ok = u >= 0 && bind(u, reinterpret_cast<sockaddr*>(&b), sizeof b) == 0;
    if (u >= 0) close(u);
  }
  return ok ? port : 0;
}

bool ipv6_loopback() {
  int u = socket(AF_INET6, SOCK_DGRAM, 0);
  if (u < 0) return false;
  sockaddr_in6 b{};
  b.sin6_family = AF_INET6;
  b.sin6_addr = in6addr_loopback;
  bool ok = bind(u, reinterpret_cast<sockaddr*>(&b), sizeof b) == 0;
  close(u);
  return ok;
}

class SpfDnsServer : public ::testing::Test {
 public:
  static ResolverOptions options() {
    ResolverOptions o;
    o.server = server();
    o.timeout_seconds = 1;
    o.attempts = 2;
    return o;
  }

 protected:
  static void SetUpTestSuite() {
    auto bin = find_dnsmasq();
    if (!bin) {
      skip_ = "dnsmasq is not installed (Debian package dnsmasq-base; tools/install-deps adds it)";
      return;
    }
    v6_ = ipv6_loopback();
    for (int attempt = 0; attempt < 5 && pid_ <= 0; ++attempt) {
      port_ = free_port(v6_);
      if (port_ == 0) continue;
      if (!start(*bin)) continue;
      if (wait_ready()) break;
      stop();
    }
    if (pid_ <= 0) skip_ = "dnsmasq did not start; see " + log_path();
  }
  static void TearDownTestSuite() { stop(); }

  void SetUp() override {
    if (!skip_.empty()) GTEST_SKIP() << skip_;
  }

  static std::string log_path() { return ::testing::TempDir() + "spf_dns_test_dnsmasq.log"; }
  static std::string server() { return "127.0.0.1:" + std::to_string(port_); }
  static bool start(const std::string& bin) {
    std::vector<std::string> args = {
        bin,
        "--no-daemon",
        "--port=" + std::to_string(port_),
        std::string("--listen-address=127.0.0.1") + (v6_ ? ",::1" : ""),
        "--bind-interfaces",
        "--no-resolv",
        "--no-hosts",
        "--conf-file=/dev/null",
        "--pid-file=",
        // Only local data: unknown names in these zones are NXDOMAIN, other names REFUSED.
        "--local=/spf.test/",
        "--local=/in-addr.arpa/",
        "--local=/ip6.arpa/",
        // One TXT RR of two character-strings (split inside a term: no spaces to trim).
        "--txt-record=spf.test,v=spf1 ip4:192.0.2.0/2,4 mx -all",
        "--txt-record=spf.test,google-site-verification=abc",
        "--txt-record=fail.spf.test,v=spf1 mx:spf.test -all",
        "--txt-record=two.spf.test,v=spf1 -all",
        "--txt-record=two.spf.test,v=spf1 +all",
        "--host-record=mail.spf.test,192.0.2.10,2001:db8::10",
        "--host-record=mx2.spf.test,198.51.100.20",
        "--mx-host=spf.test,mail.spf.test,10",
        "--mx-host=spf.test,mx2.spf.test,20",
        "--ptr-record=7.113.0.203.in-addr.arpa,ptr.spf.test",
        "--cname=alias.spf.test,mail.spf.test",
    };
    pid_t pid = fork();
    if (pid < 0) return false;
    if (pid == 0) {
      int fd = open(log_path().c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
      if (fd >= 0) {
        dup2(fd, 1);
        dup2(fd, 2);
      }
      std::vector<char*> argv;
      for (auto& a : args) argv.push_back(a.data());
      argv.push_back(nullptr);
      execv(argv[0], argv.data());
      _exit(127);
    }
    pid_ = pid;
    return true;
  }

  static bool wait_ready() {
    auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(10);
    while (std::chrono::steady_clock::now() < deadline) {
      int status = 0;
      if (waitpid(pid_, &status, WNOHANG) == pid_) {
        pid_ = -1;
        return false;
      }
      ResolverOptions o = options();
      o.attempts = 1;
      ResolverDns dns(o);
      if (dns.txt("spf.test").status == DnsStatus::kOk) return true;
      std::this_thread::sleep_for(std::chrono::milliseconds(50));
    }
    return false;
  }

  static void stop() {
    if (pid_ <= 0) return;
    kill(pid_, SIGTERM);
    int status = 0;
    waitpid(pid_, &status, 0);
    pid_ = -1;
  }

  static inline pid_t pid_ = -1;
  static inline uint16_t port_ = 0;
  static inline bool v6_ = false;
  static inline std::string skip_;
};

TEST_F(SpfDnsServer, TxtRecordsJoinTheirStrings) {
  ResolverDns dns(options());
  ASSERT_TRUE(dns.status().is_ok()) << dns.status().to_string();
  TxtAnswer t = dns.txt("spf.test");
  ASSERT_EQ(t.status, DnsStatus::kOk);
  ASSERT_EQ(t.records.size(), 2u);
  std::sort(t.records.begin(), t.records.end());
  EXPECT_EQ(t.records[0], "google-site-verification=abc");
  EXPECT_EQ(t.records[1], "v=spf1 ip4:192.0.2.0/24 mx -all");
  EXPECT_EQ(dns.txt("SPF.Test.").status, DnsStatus::kOk);  // case and a trailing dot
  EXPECT_EQ(dns.queries(), 2u);
}

TEST_F(SpfDnsServer, AddressesAndCnameChains) {
  ResolverDns dns(options());
  AddrAnswer a = dns.a("mail.spf.test");
  ASSERT_EQ(a.status, DnsStatus::kOk);
  ASSERT_EQ(a.addrs.size(), 1u);
  EXPECT_EQ(a.addrs[0].to_string(), "192.0.2.10");
  AddrAnswer aaaa = dns.aaaa("mail.spf.test");
  ASSERT_EQ(aaaa.status, DnsStatus::kOk);
  EXPECT_EQ(aaaa.addrs.at(0).to_string(), "2001:db8::10");
  AddrAnswer via = dns.a("alias.spf.test");
  ASSERT_EQ(via.status, DnsStatus::kOk);
  EXPECT_EQ(via.addrs.at(0).to_string(), "192.0.2.10");
}

TEST_F(SpfDnsServer, NxDomainNoDataAndFailure) {
  ResolverDns dns(options());
  EXPECT_EQ(dns.a("nope.spf.test").status, DnsStatus::kNxDomain);
  EXPECT_EQ(dns.txt("nope.spf.test").status, DnsStatus::kNxDomain);
  EXPECT_EQ(dns.txt("mail.spf.test").status, DnsStatus::kNoData);
  EXPECT_EQ(dns.aaaa("mx2.spf.test").status, DnsStatus::kNoData);
  EXPECT_EQ(dns.a("spf.test").status, DnsStatus::kNoData);
  EXPECT_EQ(dns.txt("alias.spf.test").status, DnsStatus::kNoData);  // a CNAME, no TXT behind it
  EXPECT_EQ(dns.a("elsewhere.invalid").status, DnsStatus::kTempFail);  // REFUSED: not ours
}

TEST_F(SpfDnsServer, MxAndPtr) {
  ResolverDns dns(options());
  NameAnswer mx = dns.mx("spf.test");
  ASSERT_EQ(mx.status, DnsStatus::kOk);
  std::sort(mx.names.begin(), mx.names.end());
  EXPECT_EQ(mx.names, (std::vector<std::string>{"mail.spf.test", "mx2.spf.test"}));
  EXPECT_EQ(dns.mx("nope.spf.test").status, DnsStatus::kNxDomain);
  NameAnswer p4 = dns.ptr(*Ip::parse("192.0.2.10"));
  ASSERT_EQ(p4.status, DnsStatus::kOk);
  EXPECT_EQ(p4.names, std::vector<std::string>{"mail.spf.test"});
  NameAnswer p6 = dns.ptr(*Ip::parse("2001:db8::10"));
  ASSERT_EQ(p6.status, DnsStatus::kOk);
  EXPECT_EQ(p6.names, std::vector<std::string>{"mail.spf.test"});
  EXPECT_EQ(dns.ptr(*Ip::parse("203.0.113.7")).names, std::vector<std::string>{"ptr.spf.test"});
  EXPECT_EQ(dns.ptr(*Ip::parse("192.0.2.99")).status, DnsStatus::kNxDomain);
}

TEST_F(SpfDnsServer, ServerThatDoesNotAnswerIsTempFail) {
  ResolverOptions o;
  o.server = "127.0.0.1:" + std::to_string(free_port(false));  // nothing listens there
  o.timeout_seconds = 1;
  o.attempts = 1;
  ResolverDns dns(o);
  ASSERT_TRUE(dns.status().is_ok());
  auto start = std::chrono::steady_clock::now();
  EXPECT_EQ(dns.txt("spf.test").status, DnsStatus::kTempFail);
  EXPECT_LT(std::chrono::steady_clock::now() - start, std::chrono::seconds(5));
}

TEST_F(SpfDnsServer, Ipv6ServerAddress) {
  if (!v6_) GTEST_SKIP() << "no IPv6 loopback here";
  ResolverOptions o = options();
  o.server = "[::1]:" + std::to_string(port_);
  ResolverDns dns(o);
  ASSERT_TRUE(dns.status().is_ok());
  EXPECT_EQ(dns.txt("spf.test").status, DnsStatus::kOk);
  EXPECT_EQ(dns.a("mail.spf.test").addrs.size(), 1u);
}

Outcome check_through(const std::string& ip, const std::string& mail_from) {
  ResolverDns dns(SpfDnsServer::options());
  Request req;
  req.ip = ip;
  req.mail_from = mail_from;
  req.helo = "client.example";
  req.receiver = "mx.ours.example";
  return check(dns, req);
}

TEST_F(SpfDnsServer, WholeChecksPassAndFail) {
  Outcome pass = check_through("192.0.2.5", "alice@spf.test");
  EXPECT_EQ(pass.result, Result::kPass) << pass.problem;
  EXPECT_EQ(pass.mechanism, "ip4:192.0.2.0/24");
  Outcome via_mx = check_through("198.51.100.20", "alice@spf.test");
  EXPECT_EQ(via_mx.result, Result::kPass) << via_mx.problem;
  EXPECT_EQ(via_mx.mechanism, "mx");
  Outcome fail = check_through("203.0.113.9", "alice@spf.test");
  EXPECT_EQ(fail.result, Result::kFail) << fail.problem;
  EXPECT_EQ(fail.mechanism, "-all");
  EXPECT_EQ(check_through("2001:db8::10", "bob@fail.spf.test").result, Result::kPass);
  EXPECT_EQ(check_through("2001:db8::11", "bob@fail.spf.test").result, Result::kFail);
  EXPECT_EQ(check_through("192.0.2.5", "bob@nope.spf.test").result, Result::kNone);
  EXPECT_EQ(check_through("192.0.2.5", "bob@two.spf.test").result, Result::kPermError);
}

}  // namespace
}  // namespace tsubame::smtp::spf
