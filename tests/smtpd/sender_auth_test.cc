// tests/smtpd/sender_auth_test.cc: when smtpd checks SPF (skip networks, AUTH, the switch)
// and the Received-SPF field it writes (smtpd/sender_auth.h). The check against a real DNS
// server is tests/smtpd/spf/dns_test.cc and, through the daemon, smtpd_spf_test.py.
#include "smtpd/sender_auth.h"

#include <gtest/gtest.h>

#include <sstream>

namespace tsubame::smtp {
namespace {

SpfSettings settings(std::vector<std::string> skip) {
  SpfSettings s;
  auto nets = parse_spf_networks(skip);
  EXPECT_TRUE(nets.is_ok()) << nets.status().to_string();
  if (nets.is_ok()) s.skip = *nets;
  return s;
}

Envelope envelope(std::string ip, std::string auth_user = "") {
  Envelope e;
  e.client_ip = std::move(ip);
  e.auth_user = std::move(auth_user);
  e.mail_from = "alice@b.example";
  e.helo = "mail.b.example";
  return e;
}

TEST(SpfNetworksTest, ParsesAddressesAndCidrsAndRefusesTheRest) {
  auto n = parse_spf_networks({"127.0.0.0/8, ::1", "10.1.2.3 2001:db8::/32", ""});
  ASSERT_TRUE(n.is_ok()) << n.status().to_string();
  ASSERT_EQ(n->size(), 4u);
  EXPECT_EQ((*n)[0].prefix_bits, 8u);
  EXPECT_EQ((*n)[1].prefix_bits, 128u) << "an address alone is the whole address";
  EXPECT_EQ((*n)[2].prefix_bits, 32u);
  EXPECT_EQ((*n)[3].prefix_bits, 32u);
  for (const char* bad : {"127.0.0.0/33", "::/129", "10.0.0.0/", "10.0.0.0/x", "host.example", "10.0.0",
                          "300.1.1.1", "10.0.0.0/8/8", "/8"}) {
    auto r = parse_spf_networks({bad});
    ASSERT_FALSE(r.is_ok()) << bad;
    EXPECT_NE(r.status().message().find(bad), std::string::npos) << r.status().to_string();
  }
}

TEST(SpfAppliesTest, OutsideClientsWithoutAuthOnly) {
  SpfSettings s = settings({"127.0.0.0/8", "::1", "10.20.0.0/16"});
  EXPECT_TRUE(spf_applies(s, envelope("192.0.2.9")));
  EXPECT_TRUE(spf_applies(s, envelope("2001:db8::9")));
  EXPECT_TRUE(spf_applies(s, envelope("10.21.0.1")));
  EXPECT_FALSE(spf_applies(s, envelope("127.0.0.1")));
  EXPECT_FALSE(spf_applies(s, envelope("127.255.1.2")));
  EXPECT_FALSE(spf_applies(s, envelope("::1")));
  EXPECT_FALSE(spf_applies(s, envelope("10.20.99.1")));
  EXPECT_FALSE(spf_applies(s, envelope("::ffff:10.20.0.7"))) << "IPv4-mapped is IPv4";
  EXPECT_FALSE(spf_applies(s, envelope("192.0.2.9", "kim@ours.example"))) << "authenticated";
  EXPECT_FALSE(spf_applies(s, envelope("not-an-ip")));
  EXPECT_FALSE(spf_applies(s, envelope("")));
  SpfSettings off = s;
  off.enabled = false;
  EXPECT_FALSE(spf_applies(off, envelope("192.0.2.9")));
  SpfSettings everyone = settings({});
  EXPECT_TRUE(spf_applies(everyone, envelope("127.0.0.1")));
}

spf::Outcome outcome(spf::Result result, std::string identity = "mailfrom", std::string domain = "b.example") {
  spf::Outcome o;
  o.result = result;
  o.domain = std::move(domain);
  o.identity = std::move(identity);
  return o;
}

std::vector<std::string> lines_of(const std::string& h) {
  std::vector<std::string> out;
  size_t i = 0;
  while (i < h.size()) {
    size_t e = h.find("\r\n", i);
    EXPECT_NE(e, std::string::npos) << "ends in CRLF";
    if (e == std::string::npos) break;
    out.push_back(h.substr(i, e - i));
    i = e + 2;
  }
  return out;
}

// The field as one line: each continuation's leading tab read as one space (RFC 5322 §2.2.3).
std::string unfold(const std::string& h) {
  std::string out;
  for (const std::string& l : lines_of(h)) {
    if (!l.empty() && l[0] == '\t') {
      out += ' ';
      out.append(l, 1, std::string::npos);
    } else {
      out += l;
    }
  }
  return out;
}

TEST(ReceivedSpfTest, NamesResultClientEnvelopeAndTerm) {
  spf::Outcome o = outcome(spf::Result::kFail);
  o.mechanism = "-all";
  std::string h = received_spf_header(o, envelope("192.0.2.9"), "mx.ours.example");
  for (const std::string& l : lines_of(h)) EXPECT_LE(l.size(), 78u) << l;
  const std::string unfolded = unfold(h);
  ASSERT_EQ(unfolded.rfind("Received-SPF: fail (mx.ours.example: domain of alice@b.example does not designate "
                           "192.0.2.9 as permitted sender)",
                           0),
            0u)
      << h;
  for (const char* part : {"client-ip=\"192.0.2.9\";", "envelope-from=\"alice@b.example\";",
                           "helo=\"mail.b.example\";", "receiver=\"mx.ours.example\";", "identity=mailfrom;",
                           "mechanism=\"-all\""})
    EXPECT_NE(unfolded.find(part), std::string::npos) << part << "\n" << unfolded;
  EXPECT_NE(unfolded.back(), ';');
}

TEST(ReceivedSpfTest, EachResultHasItsComment) {
  const std::pair<spf::Result, const char*> cases[] = {
      {spf::Result::kPass, "pass (r: domain of alice@b.example designates 192.0.2.9 as permitted sender)"},
      {spf::Result::kSoftFail, "softfail (r: domain of transitioning alice@b.example does not designate"},
      {spf::Result::kNeutral, "neutral (r: 192.0.2.9 is neither permitted nor denied by domain of alice@b.example)"},
      {spf::Result::kNone, "none (r: domain of alice@b.example does not provide an SPF record)"},
      {spf::Result::kTempError, "temperror (r: error in processing during lookup of alice@b.example)"},
      {spf::Result::kPermError, "permerror (r: error in processing during lookup of alice@b.example)"},
  };
  for (const auto& [result, want] : cases) {
    std::string h = received_spf_header(outcome(result), envelope("192.0.2.9"), "r");
    const std::string unfolded = unfold(h);
    EXPECT_NE(unfolded.find(want), std::string::npos) << unfolded;
  }
}

TEST(ReceivedSpfTest, BounceNamesThePostmasterOfItsHelo) {
  spf::Outcome o = outcome(spf::Result::kPass, "helo", "mail.b.example");
  Envelope e = envelope("192.0.2.9");
  e.mail_from.clear();
  std::string h = received_spf_header(o, e, "r");
  EXPECT_NE(h.find("domain of postmaster@mail.b.example designates"), std::string::npos) << h;
  EXPECT_NE(h.find("identity=helo"), std::string::npos) << h;
  EXPECT_NE(h.find("envelope-from=\"\""), std::string::npos) << h;
}

TEST(ReceivedSpfTest, HostileValuesCannotAddFieldsOrBreakTheSyntax) {
  spf::Outcome o = outcome(spf::Result::kPermError);
  o.problem = "bad record \"v=spf1 ip4:300.1.1.1\"\r\nX-Injected: yes";
  Envelope e = envelope("192.0.2.9");
  e.helo = "evil\r\nX-Tsubame-Verdict: deliver (\"quoted\\) \xff" + std::string(2000, 'h');
  std::string h = received_spf_header(o, e, "mx.ours.example");
  for (const std::string& l : lines_of(h)) {
    EXPECT_LE(l.size(), 998u);
    EXPECT_TRUE(l.rfind("Received-SPF:", 0) == 0 || l[0] == '\t') << "a continuation line: " << l.substr(0, 40);
    for (char c : l) EXPECT_TRUE(c == '\t' || (c >= 0x20 && c < 0x7f)) << int(static_cast<unsigned char>(c));
  }
  EXPECT_EQ(h.find("\r\nX-"), std::string::npos) << "no field of its own";
  EXPECT_NE(h.find("helo=\"evilX-Tsubame-Verdict: deliver (\\\"quoted\\\\) hhh"), std::string::npos)
      << "quotes and backslashes escaped: " << h.substr(0, 300);
  EXPECT_NE(h.find("problem=\"bad record \\\"v=spf1 ip4:300.1.1.1\\\"X-Injected: yes\""), std::string::npos) << h;
}

}  // namespace
}  // namespace tsubame::smtp
