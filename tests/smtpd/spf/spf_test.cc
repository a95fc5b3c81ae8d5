// tests/smtpd/spf/spf_test.cc: the RFC 7208 evaluator against a DNS table of our own:
// record selection (§4.4-4.5), initial processing (§4.3), the syntax that must be refused
// (§4.6, §5, §6, §7.1), every mechanism and qualifier, include/redirect/exp, macros (§7.4's
// examples), the processing limits (§4.6.4) and that no input makes it crash or loop.
#include <gtest/gtest.h>

#include <algorithm>
#include <map>
#include <random>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "smtpd/spf/spf.h"

namespace tsubame::smtp::spf {
namespace {

// A zone in a map. A name with no entry at all is NXDOMAIN; a name with some records but none
// of the asked type is no data; fail("A", name) makes that query a temporary failure. Every
// query is logged as "TYPE name" (PTR as "PTR <address>").
class TableDns : public Dns {
 public:
  TableDns& txt(const std::string& name, const std::string& record) {
    zone_[key(name)].txt.push_back(record);
    return *this;
  }
  TableDns& a(const std::string& name, const std::string& ip) {
    zone_[key(name)].a.push_back(*Ip::parse_v4(ip));
    return *this;
  }
  TableDns& aaaa(const std::string& name, const std::string& ip) {
    zone_[key(name)].aaaa.push_back(*Ip::parse_v6(ip));
    return *this;
  }
  TableDns& mx(const std::string& name, const std::string& exchange) {
    zone_[key(name)].mx.push_back(exchange);
    return *this;
  }
  TableDns& ptr(const std::string& ip, const std::string& name) {
    ptr_[Ip::parse(ip)->to_string()].push_back(name);
    return *this;
  }
  TableDns& fail(const std::string& type, const std::string& name) {
    fail_.insert(type + " " + key(name));
    return *this;
  }
  TableDns& delay(std::chrono::milliseconds d) {
    delay_ = d;
    return *this;
  }

  TxtAnswer txt(const std::string& name) override { return answer<TxtAnswer>("TXT", name, &Entry::txt); }
  AddrAnswer a(const std::string& name) override { return answer<AddrAnswer>("A", name, &Entry::a); }
  AddrAnswer aaaa(const std::string& name) override { return answer<AddrAnswer>("AAAA", name, &Entry::aaaa); }
  NameAnswer mx(const std::string& name) override { return answer<NameAnswer>("MX", name, &Entry::mx); }
  NameAnswer ptr(const Ip& ip) override {
    log.push_back("PTR " + ip.to_string());
    NameAnswer out;
    if (fail_.count("PTR " + ip.to_string())) return out;
    auto it = ptr_.find(ip.to_string());
    if (it == ptr_.end()) {
      out.status = DnsStatus::kNxDomain;
      return out;
    }
    out.status = DnsStatus::kOk;
    out.names = it->second;
    return out;
  }

  size_t count(const std::string& type) const {
    return size_t(std::count_if(log.begin(), log.end(), [&](const std::string& q) { return q.rfind(type + " ", 0) == 0; }));
  }
  bool asked(const std::string& query) const { return std::find(log.begin(), log.end(), query) != log.end(); }

  std::vector<std::string> log;

 private:
  struct Entry {
    std::vector<std::string> txt;
    std::vector<Ip> a, aaaa;
    std::vector<std::string> mx;
  };
  static std::string key(std::string name) {
    for (char& c : name) c = char(std::tolower(static_cast<unsigned char>(c)));
    if (!name.empty() && name.back() == '.') name.pop_back();
    return name;
  }
  template <typename Answer, typename Field>
  Answer answer(const std::string& type, const std::string& name, Field field) {
    log.push_back(type + " " + name);
    if (delay_.count() > 0) std::this_thread::sleep_for(delay_);
    Answer out;
    if (fail_.count(type + " " + key(name))) return out;
    auto it = zone_.find(key(name));
    if (it == zone_.end()) {
      out.status = DnsStatus::kNxDomain;
      return out;
    }
    const auto& values = it->second.*field;
    out.status = values.empty() ? DnsStatus::kNoData : DnsStatus::kOk;
    if constexpr (std::is_same_v<Answer, TxtAnswer>) out.records = values;
    else if constexpr (std::is_same_v<Answer, AddrAnswer>) out.addrs = values;
    else out.names = values;
    return out;
  }

  std::map<std::string, Entry> zone_;
  std::map<std::string, std::vector<std::string>> ptr_;
  std::set<std::string> fail_;
  std::chrono::milliseconds delay_{0};
};

// prefix + i + suffix, appended piecewise (gcc 12's -Wrestrict misfires on "x" + string&&).
std::string numbered(std::string_view prefix, int i, std::string_view suffix = "") {
  std::string out(prefix);
  out.append(std::to_string(i)).append(suffix);
  return out;
}

Outcome run(TableDns& dns, const std::string& ip, const std::string& mail_from,
            const std::string& helo = "mail.example.org", const Limits& limits = {}) {
  Request req;
  req.ip = ip;
  req.mail_from = mail_from;
  req.helo = helo;
  req.receiver = "mx.receiver.example";
  req.timestamp = 1700000000;
  return check(dns, req, limits);
}

// One record at example.com, checked for foo@example.com from `ip`.
Outcome one(const std::string& record, const std::string& ip = "192.0.2.1") {
  TableDns dns;
  dns.txt("example.com", record);
  return run(dns, ip, "foo@example.com");
}

// ---- results and record selection (§2.6, §4.4, §4.5) -------------------------------

TEST(SpfResult, NamesAreRfc7208s) {
  EXPECT_EQ(result_name(Result::kNone), "none");
  EXPECT_EQ(result_name(Result::kNeutral), "neutral");
  EXPECT_EQ(result_name(Result::kPass), "pass");
  EXPECT_EQ(result_name(Result::kFail), "fail");
  EXPECT_EQ(result_name(Result::kSoftFail), "softfail");
  EXPECT_EQ(result_name(Result::kTempError), "temperror");
  EXPECT_EQ(result_name(Result::kPermError), "permerror");
}

TEST(SpfRecord, EachQualifierGivesItsResult) {
  struct Case {
    const char* record;
    Result result;
    const char* mechanism;
  } cases[] = {
      {"v=spf1 ip4:192.0.2.1 -all", Result::kPass, "ip4:192.0.2.1"},
      {"v=spf1 +ip4:192.0.2.1 -all", Result::kPass, "+ip4:192.0.2.1"},
      {"v=spf1 -ip4:192.0.2.1 +all", Result::kFail, "-ip4:192.0.2.1"},
      {"v=spf1 ~ip4:192.0.2.1 +all", Result::kSoftFail, "~ip4:192.0.2.1"},
      {"v=spf1 ?ip4:192.0.2.1 +all", Result::kNeutral, "?ip4:192.0.2.1"},
      {"v=spf1 -all", Result::kFail, "-all"},
      {"v=spf1 ~all", Result::kSoftFail, "~all"},
      {"v=spf1 ?all", Result::kNeutral, "?all"},
      {"v=spf1 all -all", Result::kPass, "all"},  // the first match decides
  };
  for (const auto& c : cases) {
    Outcome o = one(c.record);
    EXPECT_EQ(o.result, c.result) << c.record;
    EXPECT_EQ(o.mechanism, c.mechanism) << c.record;
    EXPECT_EQ(o.identity, "mailfrom");
    EXPECT_EQ(o.domain, "example.com");
  }
}

TEST(SpfRecord, NoMatchAndNoRedirectIsNeutralDefault) {
  Outcome o = one("v=spf1 ip4:198.51.100.0/24");
  EXPECT_EQ(o.result, Result::kNeutral);
  EXPECT_EQ(o.mechanism, "default");
  EXPECT_EQ(one("v=spf1").result, Result::kNeutral);
  EXPECT_EQ(one("v=spf1   ").result, Result::kNeutral);
}

TEST(SpfRecord, NoRecordIsNone) {
  TableDns dns;  // example.com does not exist
  Outcome o = run(dns, "192.0.2.1", "foo@example.com");
  EXPECT_EQ(o.result, Result::kNone);
  EXPECT_TRUE(o.problem.empty());
  dns.a("example.net", "192.0.2.1");  // exists, no TXT: no data
  EXPECT_EQ(run(dns, "192.0.2.1", "foo@example.net").result, Result::kNone);
  dns.txt("example.org", "google-site-verification=abc").txt("example.org", "v=spf10 -all");
  EXPECT_EQ(run(dns, "192.0.2.1", "foo@example.org").result, Result::kNone);
  dns.txt("joined.example", "v=spf1mx");  // "v=spf1" must end at a space (§4.5)
  EXPECT_EQ(run(dns, "192.0.2.1", "foo@joined.example").result, Result::kNone);
}

TEST(SpfRecord, OtherTxtRecordsAreIgnoredEvenWithNonAscii) {
  TableDns dns;
  dns.txt("example.com", "v=spf1 -all").txt("example.com", "\x96\xef garbage").txt("example.com", "v=DKIM1; p=x");
  EXPECT_EQ(run(dns, "192.0.2.1", "foo@example.com").result, Result::kFail);
}

TEST(SpfRecord, TwoSpfRecordsArePermerrorEvenWhenEqual) {
  TableDns dns;
  dns.txt("example.com", "v=spf1 -all").txt("example.com", "V=SPF1 +all");
  Outcome o = run(dns, "192.0.2.1", "foo@example.com");
  EXPECT_EQ(o.result, Result::kPermError);
  EXPECT_NE(o.problem.find("2 v=spf1 records"), std::string::npos) << o.problem;
  TableDns same;
  same.txt("example.com", "v=spf1 -all").txt("example.com", "v=spf1 -all");
  EXPECT_EQ(run(same, "192.0.2.1", "foo@example.com").result, Result::kPermError);
}

TEST(SpfRecord, VersionAndMechanismsAreCaseInsensitive) {
  EXPECT_EQ(one("V=SpF1 ~ALL").result, Result::kSoftFail);
  EXPECT_EQ(one("v=SPF1 IP4:192.0.2.1 -All").result, Result::kPass);
  EXPECT_EQ(one("v=spf1 -IP4:192.0.2.0/24 +all").result, Result::kFail);
  TableDns dns;
  dns.txt("example.com", "v=spf1 A:Mail.Example.COM Exists:X.Example.com -ALL").a("mail.example.com", "192.0.2.1");
  EXPECT_EQ(run(dns, "192.0.2.1", "foo@example.com").result, Result::kPass);
}

TEST(SpfRecord, TxtTempFailIsTemperror) {
  TableDns dns;
  dns.txt("example.com", "v=spf1 -all").fail("TXT", "example.com");
  Outcome o = run(dns, "192.0.2.1", "foo@example.com");
  EXPECT_EQ(o.result, Result::kTempError);
  EXPECT_NE(o.problem.find("example.com"), std::string::npos);
}

TEST(SpfRecord, NonAsciiInTheSpfRecordIsPermerror) {
  EXPECT_EQ(one("v=spf1 a:\xef\xbb\xbfgarbage.example.net -all").result, Result::kPermError);
  EXPECT_EQ(one("v=spf1 ip4:192.0.2.1 \x96" "all").result, Result::kPermError);
  EXPECT_EQ(one("v=spf1 ip4:192.0.2.1\t-all").result, Result::kPermError);  // only SP separates
}

TEST(SpfRecord, OverlongRecordIsPermerror) {
  std::string record = "v=spf1";
  while (record.size() <= kMaxRecordBytes) record += " ip4:192.0.2.1";
  EXPECT_EQ(one(record).result, Result::kPermError);
}

// ---- §4.3 initial processing, §2.4 null path --------------------------------------

TEST(SpfInitial, MalformedDomainsAreNoneWithoutAnyLookup) {
  const char* senders[] = {
      "foo@[192.0.2.1]",
      "foo@localhost",
      "foo@A...example.com",
      "foo@.example.com",
      "lyme.eater@A123456789012345678901234567890123456789012345678901234567890123.example.com",  // 64
      "foo@192.0.2.1",
      "foo@exa mple.com",
      "foo@",
      "user",  // no '@': the whole is the domain, a single label
  };
  for (const char* s : senders) {
    TableDns dns;
    dns.txt("localhost", "v=spf1 -all").txt("example.com", "v=spf1 -all");
    Outcome o = run(dns, "192.0.2.1", s);
    EXPECT_EQ(o.result, Result::kNone) << s;
    EXPECT_TRUE(dns.log.empty()) << s;
  }
  std::string long_domain;
  while (long_domain.size() < 250) long_domain += "abcdefghi.";
  long_domain += "comx";  // 254 octets
  ASSERT_EQ(long_domain.size(), 254u);
  TableDns dns;
  EXPECT_EQ(run(dns, "192.0.2.1", "foo@" + long_domain).result, Result::kNone);
  EXPECT_TRUE(dns.log.empty());
}

TEST(SpfInitial, SixtyThreeOctetLabelIsFine) {
  const std::string label = "A12345678901234567890123456789012345678901234567890123456789012";
  ASSERT_EQ(label.size(), 63u);
  TableDns dns;
  dns.txt(label + ".example.com", "v=spf1 -all");
  EXPECT_EQ(run(dns, "192.0.2.1", "lyme.eater@" + label + ".example.com").result, Result::kFail);
}

TEST(SpfInitial, NullPathChecksPostmasterAtHelo) {
  TableDns dns;
  dns.txt("mail.example.com", "v=spf1 exists:%{l}.%{o}.%{s}.check.example.net -all");
  dns.txt("example.com", "v=spf1 +all");  // not the domain checked
  Outcome o = run(dns, "192.0.2.1", "", "mail.example.com");
  EXPECT_EQ(o.result, Result::kFail);
  EXPECT_EQ(o.identity, "helo");
  EXPECT_EQ(o.domain, "mail.example.com");
  EXPECT_TRUE(dns.asked("A postmaster.mail.example.com.postmaster@mail.example.com.check.example.net"));
  EXPECT_FALSE(dns.asked("TXT example.com"));
}

TEST(SpfInitial, NullPathWithABadHeloIsNone) {
  TableDns dns;
  EXPECT_EQ(run(dns, "192.0.2.1", "", "A2345678").result, Result::kNone);
  EXPECT_EQ(run(dns, "192.0.2.1", "", "[192.0.2.1]").result, Result::kNone);
  EXPECT_TRUE(dns.log.empty());
}

TEST(SpfInitial, MissingLocalPartIsPostmaster) {
  TableDns dns;
  dns.txt("example.net", "v=spf1 exists:%{l}.l.example.org -all");
  dns.a("postmaster.l.example.org", "127.0.0.2");
  EXPECT_EQ(run(dns, "192.0.2.1", "@example.net").result, Result::kPass);
  EXPECT_EQ(run(dns, "192.0.2.1", "example.net").result, Result::kPass);  // no '@' at all
  EXPECT_EQ(run(dns, "192.0.2.1", "bob@example.net").result, Result::kFail);
}

TEST(SpfInitial, TrailingDotAndCaseOfTheDomain) {
  TableDns dns;
  dns.txt("example.com", "v=spf1 -all");
  Outcome o = run(dns, "192.0.2.1", "foo@Example.COM.");
  EXPECT_EQ(o.result, Result::kFail);
  EXPECT_EQ(o.domain, "example.com");
}

TEST(SpfInitial, UnparsableClientIpIsNoneWithAProblem) {
  TableDns dns;
  dns.txt("example.com", "v=spf1 -all");
  Outcome o = run(dns, "192.0.2", "foo@example.com");
  EXPECT_EQ(o.result, Result::kNone);
  EXPECT_FALSE(o.problem.empty());
  EXPECT_TRUE(dns.log.empty());
}

TEST(SpfInitial, OverlongRequestFieldIsNone) {
  TableDns dns;
  dns.txt("example.com", "v=spf1 +all");
  EXPECT_EQ(run(dns, "192.0.2.1", std::string(600, 'a') + "@example.com").result, Result::kNone);
  EXPECT_EQ(run(dns, "192.0.2.1", "a@example.com", std::string(600, 'h')).result, Result::kNone);
  EXPECT_TRUE(dns.log.empty());
}

// ---- syntax (§4.6: any error anywhere is permerror before anything is evaluated) -----

TEST(SpfSyntax, ErrorsAnywhereArePermerrorBeforeEvaluation) {
  const char* records[] = {
      "v=spf1 ip4:192.0.2.1 -all moo",            // unknown mechanism after a match
      "v=spf1 moo.cow/far_out=man:dog/cat -all",  // '=' must follow the name directly
      "v=spf1 moo.cow:far_out=man:dog/cat -all",
      "v=spf1 ip4:192.0.2.1 redirect:other.example.com",
      "v=spf1 1up=foo",
      "v=spf1 =all",
      "v=spf1 +",
      "v=spf1 -all.",
      "v=spf1 -all:foobar",
      "v=spf1 -all/8",
      "v=spf1 ptr/0 -all",
      "v=spf1 ptr:",
      "v=spf1 a:",
      "v=spf1 mx: -all",
      "v=spf1 include:",
      "v=spf1 include +all",
      "v=spf1 include:ip5.example.com/24 -all",
      "v=spf1 exists",
      "v=spf1 exists:",
      "v=spf1 exists:mail.example.com/24",
      "v=spf1 ip4",
      "v=spf1 ip4:192.0.2",
      "v=spf1 ip4:192.0.2.1:8080",
      "v=spf1 ip4:192.0.2.1//32",
      "v=spf1 ip4:192.0.2.1/33",
      "v=spf1 ip4:192.0.2.1/032",
      "v=spf1 ip4:192.0.02.1",
      "v=spf1 ip4:256.0.2.1",
      "v=spf1 -all ip6",
      "v=spf1 ip6::CAFE::BABE",
      "v=spf1 ip6:::1.1.1.1/129",
      "v=spf1 ip6:::1.1.1.1//33",
      "v=spf1 a/33 -all",
      "v=spf1 a//129 -all",
      "v=spf1 a/24/64 -all",
      "v=spf1 mx/33 -all",
      "v=spf1 a:museum",
      "v=spf1 a:museum.",
      "v=spf1 a:abc.123",
      "v=spf1 a:example.-com",
      "v=spf1 a:example.com:8080",
      "v=spf1 a:111.222.33.44",
      "v=spf1 a:%{d}.",
      "v=spf1 exp= -all",
      "v=spf1 exp=-all",
      "v=spf1 ?all redirect=",
      "v=spf1 redirect=-all ?all",
      "v=spf1 redirect=a.example.com -all redirect=a.example.com",
      "v=spf1 exp=a.example.com -all exp=b.example.com",
      "v=spf1 -all foo=%abc",
      "v=spf1 -exists:%(ir).sbl.example.com ?all",
      "v=spf1 exists:foo%.sbl.example.com ?all",
      "v=spf1 exists:foo%{ir.sbl.example.com ?all",
      "v=spf1 a:%{a}.example.com -all",
      "v=spf1 a:%{d0}.example.com -all",
      "v=spf1 a:%{c}.example.com -all",  // c, r, t only in explanations (§7.2)
      "v=spf1 -all exp=%{r}.example.com",
      "v=spf1 a:%",
  };
  for (const char* r : records) {
    TableDns dns;
    dns.txt("example.com", r);
    Outcome o = run(dns, "192.0.2.1", "foo@example.com");
    EXPECT_EQ(o.result, Result::kPermError) << r;
    EXPECT_FALSE(o.problem.empty()) << r;
    EXPECT_EQ(dns.log.size(), 1u) << r << ": evaluated before the whole record was checked";
  }
}

TEST(SpfSyntax, ValidOddities) {
  struct Case {
    const char* record;
    Result result;
  } cases[] = {
      {"v=spf1 moo.cow-far_out=man:dog/cat ip4:192.0.2.1 -all", Result::kPass},  // unknown modifier
      {"v=spf1 default=pass", Result::kNeutral},
      {"v=spf1 default=+", Result::kNeutral},
      {"v=spf1 x=1 x=2 x= ip4:192.0.2.1", Result::kPass},  // unknown modifiers may repeat
      {"v=spf1 a=b -all", Result::kFail},
      {"v=spf1   ip4:192.0.2.1    -all   ", Result::kPass},
      {"v=spf1 ip4:192.0.2.1/32 -all", Result::kPass},
      {"v=spf1 ip4:0.0.0.0/0 -all", Result::kPass},
      {"v=spf1 REDIRECT=other.example.net", Result::kFail},
  };
  for (const auto& c : cases) {
    TableDns dns;
    dns.txt("example.com", c.record).txt("other.example.net", "v=spf1 -all");
    EXPECT_EQ(run(dns, "192.0.2.1", "foo@example.com").result, c.result) << c.record;
  }
}

TEST(SpfSyntax, DomainSpecAllowsAnyVisibleCharacterBeforeTheTopLabel) {
  TableDns dns;
  dns.txt("example.com", "v=spf1 a:foo:bar/baz.example.com a:foo.example.xn--zckzah -all");
  dns.a("foo:bar/baz.example.com", "192.0.2.1").a("foo.example.xn--zckzah", "192.0.2.2");
  EXPECT_EQ(run(dns, "192.0.2.1", "foo@example.com").result, Result::kPass);
  EXPECT_EQ(run(dns, "192.0.2.2", "foo@example.com").result, Result::kPass);
  EXPECT_EQ(run(dns, "::ffff:192.0.2.1", "foo@example.com").result, Result::kPass);
}

// ---- ip4 / ip6 (§5.6) ------------------------------------------------------------

TEST(SpfIp, CidrEdges) {
  struct Case {
    const char* record;
    const char* ip;
    Result result;
  } cases[] = {
      {"v=spf1 ip4:192.0.2.0/24 -all", "192.0.2.0", Result::kPass},
      {"v=spf1 ip4:192.0.2.0/24 -all", "192.0.2.255", Result::kPass},
      {"v=spf1 ip4:192.0.2.0/24 -all", "192.0.3.0", Result::kFail},
      {"v=spf1 ip4:192.0.2.0/24 -all", "192.0.1.255", Result::kFail},
      {"v=spf1 ip4:192.0.2.77/24 -all", "192.0.2.1", Result::kPass},  // host bits ignored
      {"v=spf1 ip4:192.0.2.128/25 -all", "192.0.2.127", Result::kFail},
      {"v=spf1 ip4:192.0.2.128/25 -all", "192.0.2.128", Result::kPass},
      {"v=spf1 ip4:192.0.2.2/31 -all", "192.0.2.3", Result::kPass},
      {"v=spf1 ip4:192.0.2.2/31 -all", "192.0.2.4", Result::kFail},
      {"v=spf1 ip4:192.0.2.1/32 -all", "192.0.2.1", Result::kPass},
      {"v=spf1 ip4:192.0.2.1 -all", "192.0.2.2", Result::kFail},
      {"v=spf1 ip4:128.0.0.0/1 -all", "255.1.1.1", Result::kPass},
      {"v=spf1 ip4:128.0.0.0/1 -all", "127.255.255.255", Result::kFail},
      {"v=spf1 ip4:1.1.1.1/0 -all", "203.0.113.9", Result::kPass},
      {"v=spf1 ip4:0.0.0.0/0 -all", "2001:db8::1", Result::kFail},  // ip4 never matches IPv6
      {"v=spf1 ip6:::/0", "192.0.2.1", Result::kNeutral},           // ip6 never matches IPv4
      {"v=spf1 ip6:::1.1.1.1/0 -all", "DEAF:BABE::CAB:FEE", Result::kPass},
      {"v=spf1 ip6:CAFE:BABE:8000::/33 -all", "CAFE:BABE:8000::", Result::kPass},
      {"v=spf1 ip6:CAFE:BABE:8000::/33 -all", "cafe:babe:ffff::1", Result::kPass},
      {"v=spf1 ip6:CAFE:BABE:8000::/33 -all", "cafe:babe:7fff::1", Result::kFail},
      {"v=spf1 ip6:2001:db8::/63 -all", "2001:db8:0:1:ffff::1", Result::kPass},
      {"v=spf1 ip6:2001:db8::/63 -all", "2001:db8:0:2::1", Result::kFail},
      {"v=spf1 ip6:2001:db8::1 -all", "2001:db8::1", Result::kPass},
      {"v=spf1 ip6:2001:db8::1/128 -all", "2001:db8::2", Result::kFail},
      {"v=spf1 ip6:::1.1.1.1/0", "::FFFF:1.2.3.4", Result::kNeutral},  // mapped is IPv4
      {"v=spf1 -ip4:1.2.3.4 ip6:::FFFF:1.2.3.4", "::FFFF:1.2.3.4", Result::kFail},
  };
  for (const auto& c : cases) EXPECT_EQ(one(c.record, c.ip).result, c.result) << c.record << " for " << c.ip;
}

TEST(SpfIp, ParseAndMatch) {
  ASSERT_TRUE(Ip::parse("192.0.2.1"));
  EXPECT_TRUE(Ip::parse("192.0.2.1")->is_v4());
  EXPECT_EQ(Ip::parse("::ffff:192.0.2.1")->to_string(), "192.0.2.1");
  EXPECT_TRUE(Ip::parse("::ffff:192.0.2.1")->is_v4());
  EXPECT_FALSE(Ip::parse_v6("::ffff:192.0.2.1")->is_v4());  // the strict form keeps it IPv6
  EXPECT_EQ(Ip::parse("2001:DB8::CB01")->to_string(), "2001:db8::cb01");
  for (const char* bad : {"", "1.2.3", "1.2.3.4.5", "01.2.3.4", "256.1.1.1", "1.2.3.4 ", " 1.2.3.4", "1..3.4",
                          "::g", "1:2:3:4:5:6:7:8:9", "fe80::1%eth0", "1.2.3.4/24", "[::1]"})
    EXPECT_FALSE(Ip::parse(bad)) << bad;
  Ip a = *Ip::parse("192.0.2.130");
  EXPECT_TRUE(a.in_network(*Ip::parse("192.0.2.128"), 25));
  EXPECT_FALSE(a.in_network(*Ip::parse("192.0.2.0"), 25));
  EXPECT_TRUE(a.in_network(*Ip::parse("10.0.0.0"), 0));
  EXPECT_TRUE(a.in_network(a, 200));  // longer than the address: the whole address
  EXPECT_FALSE(a.in_network(*Ip::parse("::"), 0));
}

// ---- a / mx (§5.3, §5.4) --------------------------------------------------------

TEST(SpfA, DefaultDomainTargetAndDualCidr) {
  TableDns dns;
  dns.txt("example.com", "v=spf1 a -all").a("example.com", "192.0.2.10").aaaa("example.com", "2001:db8::10");
  dns.txt("e2.example.com", "v=spf1 a:host.example.net/24//64 -all");
  dns.a("host.example.net", "198.51.100.1").aaaa("host.example.net", "2001:db8:1:2:3::1");
  EXPECT_EQ(run(dns, "192.0.2.10", "foo@example.com").result, Result::kPass);
  EXPECT_EQ(run(dns, "192.0.2.11", "foo@example.com").result, Result::kFail);
  EXPECT_EQ(run(dns, "2001:db8::10", "foo@example.com").result, Result::kPass);
  EXPECT_EQ(run(dns, "198.51.100.200", "foo@e2.example.com").result, Result::kPass);
  EXPECT_EQ(run(dns, "198.51.101.1", "foo@e2.example.com").result, Result::kFail);
  EXPECT_EQ(run(dns, "2001:db8:1:2:ffff::9", "foo@e2.example.com").result, Result::kPass);
  EXPECT_EQ(run(dns, "2001:db8:1:3::1", "foo@e2.example.com").result, Result::kFail);
}

TEST(SpfA, AskesTheClientsFamilyOnly) {
  TableDns dns;
  dns.txt("example.com", "v=spf1 a -all").a("example.com", "192.0.2.10");
  run(dns, "2001:db8::10", "foo@example.com");
  EXPECT_TRUE(dns.asked("AAAA example.com"));
  EXPECT_FALSE(dns.asked("A example.com"));
  dns.log.clear();
  EXPECT_EQ(run(dns, "::ffff:192.0.2.10", "foo@example.com").result, Result::kPass);  // mapped: A
  EXPECT_TRUE(dns.asked("A example.com"));
  EXPECT_FALSE(dns.asked("AAAA example.com"));
}

TEST(SpfA, CidrOnlyOneFamilyAndNoAddressesNoMatch) {
  TableDns dns;
  dns.txt("e8.example.com", "v=spf1 a//64 -all").a("e8.example.com", "192.0.2.5").aaaa("e8.example.com", "2001:db8:1234::dead:beef");
  EXPECT_EQ(run(dns, "192.0.2.4", "foo@e8.example.com").result, Result::kFail);  // v4 default /32
  EXPECT_EQ(run(dns, "2001:db8:1234::cafe:babe", "foo@e8.example.com").result, Result::kPass);
  dns.txt("e1.example.com", "v=spf1 a/0 -all");  // no A at all: /0 cannot help
  EXPECT_EQ(run(dns, "192.0.2.4", "foo@e1.example.com").result, Result::kFail);
  dns.txt("e2.example.com", "v=spf1 a/0 -all").aaaa("e2.example.com", "1234::2");
  EXPECT_EQ(run(dns, "1234::1", "foo@e2.example.com").result, Result::kFail);  // /0 is IPv4's
}

TEST(SpfA, ManyAddressesAreNotLimited) {
  TableDns dns;
  dns.txt("example.com", "v=spf1 a -all");
  for (int i = 1; i <= 30; ++i) dns.a("example.com", numbered("192.0.2.", i));
  EXPECT_EQ(run(dns, "192.0.2.30", "foo@example.com").result, Result::kPass);
}

TEST(SpfMx, MatchesAnExchangesAddress) {
  TableDns dns;
  dns.txt("example.com", "v=spf1 mx -all");
  dns.mx("example.com", "mx1.example.com").mx("example.com", "mx2.example.net.");
  dns.a("mx1.example.com", "192.0.2.1").a("mx2.example.net", "198.51.100.2").aaaa("mx2.example.net", "2001:db8::2");
  Outcome o = run(dns, "198.51.100.2", "foo@example.com");
  EXPECT_EQ(o.result, Result::kPass);
  EXPECT_EQ(o.mechanism, "mx");
  EXPECT_EQ(run(dns, "2001:db8::2", "foo@example.com").result, Result::kPass);
  EXPECT_EQ(run(dns, "203.0.113.1", "foo@example.com").result, Result::kFail);
}

TEST(SpfMx, ExplicitDomainAndCidr) {
  TableDns dns;
  dns.txt("example.com", "v=spf1 mx:other.example/24 -all");
  dns.mx("other.example", "mx.other.example").a("mx.other.example", "198.51.100.1");
  EXPECT_EQ(run(dns, "198.51.100.99", "foo@example.com").result, Result::kPass);
  EXPECT_EQ(run(dns, "198.51.101.1", "foo@example.com").result, Result::kFail);
}

TEST(SpfMx, NoImplicitMxAndNullMx) {
  TableDns dns;
  dns.txt("e4.example.com", "v=spf1 mx").a("e4.example.com", "192.0.2.1");  // no MX: no implicit MX
  EXPECT_EQ(run(dns, "192.0.2.1", "foo@e4.example.com").result, Result::kNeutral);
  dns.txt("mail.example.com", "v=spf1 mx").a("mail.example.com", "192.0.2.1").mx("mail.example.com", "");
  EXPECT_EQ(run(dns, "192.0.2.1", "", "mail.example.com").result, Result::kNeutral);  // RFC 7505
}

TEST(SpfMx, MoreThanTenExchangesIsPermerror) {
  TableDns dns;
  dns.txt("e4.example.com", "v=spf1 mx -all");
  dns.txt("e5.example.com", "v=spf1 mx -all");
  for (int i = 0; i < 11; ++i) dns.mx("e4.example.com", numbered("mx", i, ".example.com"));
  for (int i = 0; i < 10; ++i) dns.mx("e5.example.com", numbered("mx", i, ".example.com"));
  dns.a("mx0.example.com", "192.0.2.1").a("mx9.example.com", "192.0.2.9");
  Outcome o = run(dns, "192.0.2.1", "foo@e4.example.com");
  EXPECT_EQ(o.result, Result::kPermError);
  EXPECT_NE(o.problem.find("11 MX records"), std::string::npos) << o.problem;
  EXPECT_EQ(dns.count("A"), 0u);  // refused before any address lookup
  EXPECT_EQ(run(dns, "192.0.2.9", "foo@e5.example.com").result, Result::kPass);  // exactly 10
}

TEST(SpfMx, DnsErrorsAreTemperror) {
  TableDns dns;
  dns.txt("example.com", "v=spf1 mx -all").fail("MX", "example.com");
  EXPECT_EQ(run(dns, "192.0.2.1", "foo@example.com").result, Result::kTempError);
  TableDns dns2;
  dns2.txt("example.com", "v=spf1 mx -all").mx("example.com", "mx.example.com").fail("A", "mx.example.com");
  EXPECT_EQ(run(dns2, "192.0.2.1", "foo@example.com").result, Result::kTempError);
}

// ---- ptr (§5.5) ----------------------------------------------------------------

TEST(SpfPtr, ValidatedNameAtOrUnderTheTargetMatches) {
  TableDns dns;
  dns.txt("example.com", "v=spf1 ptr -all");
  dns.ptr("192.0.2.1", "mail.example.com").a("mail.example.com", "192.0.2.1");
  dns.ptr("192.0.2.2", "mail.example.com");                               // forward A does not confirm
  dns.ptr("192.0.2.3", "notexample.com").a("notexample.com", "192.0.2.3");  // not a subdomain
  dns.ptr("192.0.2.4", "example.com").a("example.com", "192.0.2.4");       // the target itself
  EXPECT_EQ(run(dns, "192.0.2.1", "foo@example.com").result, Result::kPass);
  EXPECT_EQ(run(dns, "192.0.2.2", "foo@example.com").result, Result::kFail);
  EXPECT_EQ(run(dns, "192.0.2.3", "foo@example.com").result, Result::kFail);
  EXPECT_EQ(run(dns, "192.0.2.4", "foo@example.com").result, Result::kPass);
  EXPECT_EQ(run(dns, "192.0.2.5", "foo@example.com").result, Result::kFail);  // no PTR at all
}

TEST(SpfPtr, ExplicitTargetAndIpv6) {
  TableDns dns;
  dns.txt("e2.example.com", "v=spf1 ptr:example.com -all");
  dns.ptr("cafe:babe::1", "e3.example.com").aaaa("e3.example.com", "cafe:babe::1").a("e3.example.com", "192.0.2.9");
  EXPECT_EQ(run(dns, "CAFE:BABE::1", "foo@e2.example.com").result, Result::kPass);
  EXPECT_TRUE(dns.asked("AAAA e3.example.com"));
  EXPECT_FALSE(dns.asked("A e3.example.com"));
}

TEST(SpfPtr, DnsErrorIsNoMatchNotTemperror) {
  TableDns dns;
  dns.txt("example.com", "v=spf1 ptr -all").fail("PTR", "192.0.2.1");
  EXPECT_EQ(run(dns, "192.0.2.1", "foo@example.com").result, Result::kFail);
  TableDns dns2;
  dns2.txt("example.com", "v=spf1 ptr ?all").ptr("192.0.2.1", "a.example.com").ptr("192.0.2.1", "b.example.com");
  dns2.fail("A", "a.example.com").a("b.example.com", "192.0.2.1");  // the erroring name is skipped
  EXPECT_EQ(run(dns2, "192.0.2.1", "foo@example.com").result, Result::kPass);
}

TEST(SpfPtr, OnlyTheFirstTenNamesAreConsidered) {
  TableDns dns;
  dns.txt("example.com", "v=spf1 ptr -all");
  for (int i = 0; i < 10; ++i) dns.ptr("192.0.2.1", numbered("h", i, ".example.com"));
  dns.ptr("192.0.2.1", "good.example.com").a("good.example.com", "192.0.2.1");  // the 11th
  Outcome o = run(dns, "192.0.2.1", "foo@example.com");
  EXPECT_EQ(o.result, Result::kFail);  // not a permerror: the client controls its PTR records
  EXPECT_FALSE(dns.asked("A good.example.com"));
  EXPECT_LE(dns.count("A"), 10u);
}

// ---- exists (§5.7) ---------------------------------------------------------------

TEST(SpfExists, AnyARecordMatchesWhateverTheFamily) {
  TableDns dns;
  dns.txt("example.com", "v=spf1 exists:%{ir}.list.example.net -all");
  dns.a("1.2.0.192.list.example.net", "127.0.0.2");
  dns.aaaa("only6.example.net", "cafe:babe::4");
  EXPECT_EQ(run(dns, "192.0.2.1", "foo@example.com").result, Result::kPass);
  EXPECT_EQ(run(dns, "192.0.2.9", "foo@example.com").result, Result::kFail);
  dns.txt("e5.example.com", "v=spf1 exists:only6.example.net -all");
  EXPECT_EQ(run(dns, "cafe:babe::3", "foo@e5.example.com").result, Result::kFail);  // A, not AAAA
  dns.txt("e4.example.com", "v=spf1 exists:1.2.0.192.list.example.net -all");
  EXPECT_EQ(run(dns, "cafe:babe::3", "foo@e4.example.com").result, Result::kPass);
  dns.txt("e6.example.com", "v=spf1 exists:err.example.net -all").fail("A", "err.example.net");
  EXPECT_EQ(run(dns, "192.0.2.1", "foo@e6.example.com").result, Result::kTempError);
}

// ---- include (§5.2) -----------------------------------------------------------

TEST(SpfInclude, ResultMappingTable) {
  struct Case {
    const char* included;  // "" = the included domain has no record
    bool temp_fail;
    Result expected;
  } cases[] = {
      {"v=spf1 ip4:192.0.2.1 -all", false, Result::kPass},  // pass: match ▶ outer "+"
      {"v=spf1 -all", false, Result::kSoftFail},            // fail: no match ▶ ~all
      {"v=spf1 ~all", false, Result::kSoftFail},
      {"v=spf1 ?all", false, Result::kSoftFail},
      {"v=spf1", false, Result::kSoftFail},                 // neutral default
      {"v=spf1 moo", false, Result::kPermError},            // permerror passes through
      {"", false, Result::kPermError},                      // none ▶ permerror
      {"v=spf1 +all", true, Result::kTempError},            // temperror passes through
  };
  for (const auto& c : cases) {
    TableDns dns;
    dns.txt("example.com", "v=spf1 include:inc.example.net ~all");
    if (*c.included) dns.txt("inc.example.net", c.included);
    if (c.temp_fail) dns.fail("TXT", "inc.example.net");
    Outcome o = run(dns, "192.0.2.1", "foo@example.com");
    EXPECT_EQ(o.result, c.expected) << c.included;
    if (c.expected == Result::kPass) {
      EXPECT_EQ(o.mechanism, "include:inc.example.net");
    }
  }
}

TEST(SpfInclude, OuterQualifierApplies) {
  TableDns dns;
  dns.txt("example.com", "v=spf1 -include:inc.example.net +all").txt("inc.example.net", "v=spf1 +all");
  EXPECT_EQ(run(dns, "192.0.2.1", "foo@example.com").result, Result::kFail);
}

TEST(SpfInclude, IncludedDomainIsTheNewDomainForMacros) {
  TableDns dns;
  dns.txt("example.com", "v=spf1 include:inc.example.net -all");
  dns.txt("inc.example.net", "v=spf1 exists:%{d}.%{o}.x.example.org");
  dns.a("inc.example.net.example.com.x.example.org", "127.0.0.2");
  EXPECT_EQ(run(dns, "192.0.2.1", "foo@example.com").result, Result::kPass);
}

TEST(SpfInclude, LoopEndsByTheTermLimit) {
  TableDns dns;
  dns.txt("e2.example.com", "v=spf1 include:e3.example.com").txt("e3.example.com", "v=spf1 include:e2.example.com");
  Outcome o = run(dns, "192.0.2.1", "foo@e2.example.com");
  EXPECT_EQ(o.result, Result::kPermError);
  EXPECT_NE(o.problem.find("DNS-querying terms"), std::string::npos) << o.problem;
  EXPECT_LE(dns.log.size(), 12u);
  TableDns self;
  self.txt("example.com", "v=spf1 include:example.com -all");
  EXPECT_EQ(run(self, "192.0.2.1", "foo@example.com").result, Result::kPermError);
}

TEST(SpfInclude, NestingIsBoundedWhateverTheLimits) {
  TableDns dns;
  dns.txt("example.com", "v=spf1 include:example.com -all");
  Limits generous;
  generous.max_dns_terms = 100000;
  generous.max_lookups = 100000;
  Outcome o = run(dns, "192.0.2.1", "foo@example.com", "mail.example.org", generous);
  EXPECT_EQ(o.result, Result::kPermError);
  EXPECT_NE(o.problem.find("nested too deeply"), std::string::npos) << o.problem;
  EXPECT_LE(dns.log.size(), size_t(kMaxDepth) + 2);
}

// ---- redirect (§6.1) ------------------------------------------------------------

TEST(SpfRedirect, UsedWhenNothingMatched) {
  TableDns dns;
  dns.txt("example.com", "v=spf1 redirect=_spf.example.net ip4:198.51.100.1");  // position does not matter
  dns.txt("_spf.example.net", "v=spf1 ip4:192.0.2.0/24 -all");
  EXPECT_EQ(run(dns, "198.51.100.1", "foo@example.com").result, Result::kPass);
  EXPECT_FALSE(dns.asked("TXT _spf.example.net"));
  Outcome o = run(dns, "192.0.2.7", "foo@example.com");
  EXPECT_EQ(o.result, Result::kPass);
  EXPECT_EQ(o.mechanism, "ip4:192.0.2.0/24");
  EXPECT_EQ(o.domain, "example.com");
  EXPECT_EQ(run(dns, "203.0.113.1", "foo@example.com").result, Result::kFail);
}

TEST(SpfRedirect, IgnoredWhenAllIsPresent) {
  TableDns dns;
  dns.txt("t5.example.com", "v=spf1 redirect=t5.example.com ~all");
  EXPECT_EQ(run(dns, "192.0.2.1", "foo@t5.example.com").result, Result::kSoftFail);
  EXPECT_EQ(dns.log.size(), 1u);
}

TEST(SpfRedirect, TargetWithoutRecordIsPermerror) {
  TableDns dns;
  dns.txt("example.com", "v=spf1 redirect=erehwon.example.com");  // NXDOMAIN
  dns.txt("e2.example.com", "v=spf1 redirect=notspf.example.com").txt("notspf.example.com", "hello");
  Outcome o = run(dns, "192.0.2.1", "foo@example.com");
  EXPECT_EQ(o.result, Result::kPermError);
  EXPECT_NE(o.problem.find("no SPF record"), std::string::npos) << o.problem;
  EXPECT_EQ(run(dns, "192.0.2.1", "foo@e2.example.com").result, Result::kPermError);
}

TEST(SpfRedirect, LoopIsPermerror) {
  TableDns dns;
  dns.txt("e1.example.com", "v=spf1 ip4:1.1.1.1 redirect=e1.example.com");
  EXPECT_EQ(run(dns, "192.0.2.1", "foo@e1.example.com").result, Result::kPermError);
  EXPECT_EQ(run(dns, "1.1.1.1", "foo@e1.example.com").result, Result::kPass);
}

TEST(SpfRedirect, MacroTargetUsesTheCurrentDomain) {
  TableDns dns;
  dns.txt("example.com", "v=spf1 redirect=%{d}.d.spf.example.com.");
  dns.txt("example.com.d.spf.example.com", "v=spf1 redirect=a.spf.example.com");
  dns.txt("a.spf.example.com", "v=spf1 include:o.spf.example.com. ~all");
  dns.txt("o.spf.example.com", "v=spf1 ip4:192.168.218.40");
  EXPECT_EQ(run(dns, "192.168.218.40", "test@example.com").result, Result::kPass);
  EXPECT_EQ(run(dns, "192.168.218.41", "test@example.com").result, Result::kSoftFail);
}

// ---- exp (§6.2) -----------------------------------------------------------------

TEST(SpfExp, ExplanationOnFailOnly) {
  TableDns dns;
  dns.txt("example.com", "v=spf1 ?ip4:192.0.2.9 -all exp=explain._spf.%{d}");
  dns.txt("explain._spf.example.com", "%{i} is not one of %{d}'s designated mail servers.");
  Outcome o = run(dns, "192.0.2.1", "foo@example.com");
  EXPECT_EQ(o.result, Result::kFail);
  EXPECT_EQ(o.explanation, "192.0.2.1 is not one of example.com's designated mail servers.");
  dns.log.clear();
  Outcome n = run(dns, "192.0.2.9", "foo@example.com");
  EXPECT_EQ(n.result, Result::kNeutral);
  EXPECT_TRUE(n.explanation.empty());
  EXPECT_FALSE(dns.asked("TXT explain._spf.example.com"));
}

TEST(SpfExp, ExplanationOnlyMacros) {
  TableDns dns;
  dns.txt("example.com", "v=spf1 -all exp=msg.example.com");
  dns.txt("msg.example.com", "%{c} via %{r} at %{t}: %{L} %% %_ %-");
  Outcome o = run(dns, "2001:db8::cb01", "jack&jill=up@example.com");
  EXPECT_EQ(o.explanation, "2001:db8::cb01 via mx.receiver.example at 1700000000: jack%26jill%3Dup %   %20");
}

TEST(SpfExp, TroubleMeansNoExplanationNotAnError) {
  struct Case {
    std::vector<std::string> texts;
    bool temp_fail;
  } cases[] = {
      {{}, false},                                    // NXDOMAIN
      {{"one", "two"}, false},                        // more than one record
      {{"The %{x}-files."}, false},                   // bad macro
      {{"\xef\xbb\xbf" "Explanation"}, false},        // not ASCII
      {{"fine"}, true},                               // DNS error
  };
  for (const auto& c : cases) {
    TableDns dns;
    dns.txt("example.com", "v=spf1 -all exp=msg.example.com");
    for (const auto& t : c.texts) dns.txt("msg.example.com", t);
    if (c.temp_fail) dns.fail("TXT", "msg.example.com");
    Outcome o = run(dns, "192.0.2.1", "foo@example.com");
    EXPECT_EQ(o.result, Result::kFail);
    EXPECT_TRUE(o.explanation.empty()) << o.explanation;
    EXPECT_TRUE(o.problem.empty());
  }
}

TEST(SpfExp, IncludeIgnoresTheIncludedExpAndRedirectReplacesIt) {
  TableDns dns;
  dns.txt("e7.example.com", "v=spf1 include:e3.example.com -all exp=exp3.example.com");
  dns.txt("e3.example.com", "v=spf1 exp=exp1.example.com redirect=e4.example.com");
  dns.txt("e4.example.com", "v=spf1 -all exp=exp2.example.com");
  dns.txt("exp1.example.com", "No-see-um").txt("exp2.example.com", "See me.").txt("exp3.example.com", "Correct!");
  EXPECT_EQ(run(dns, "192.0.2.1", "foo@e7.example.com").explanation, "Correct!");
  EXPECT_EQ(run(dns, "192.0.2.1", "foo@e3.example.com").explanation, "See me.");
  dns.txt("e1.example.com", "v=spf1 exp=exp1.example.com redirect=e2.example.com");
  dns.txt("e2.example.com", "v=spf1 -all");
  Outcome o = run(dns, "192.0.2.1", "foo@e1.example.com");
  EXPECT_EQ(o.result, Result::kFail);
  EXPECT_TRUE(o.explanation.empty());
}

TEST(SpfExp, ExpLookupIsNotAVoidLookup) {
  TableDns dns;
  dns.txt("e23.example.com", "v=spf1 a:erehwon.example.com a:foobar.com exp=nxdomain.com -all");
  EXPECT_EQ(run(dns, "192.0.2.1", "foo@e23.example.com").result, Result::kFail);
  EXPECT_TRUE(dns.asked("TXT nxdomain.com"));
}

TEST(SpfExp, LongExplanationIsCut) {
  TableDns dns;
  dns.txt("example.com", "v=spf1 -all exp=msg.example.com").txt("msg.example.com", std::string(2000, 'x'));
  EXPECT_EQ(run(dns, "192.0.2.1", "foo@example.com").explanation.size(), kMaxExplanation);
}

// ---- macros (§7) ----------------------------------------------------------------

MacroVars rfc_vars(const std::string& ip) {
  MacroVars v;
  v.sender = "strong-bad@email.example.com";
  v.local_part = "strong-bad";
  v.sender_domain = "email.example.com";
  v.domain = "email.example.com";
  v.helo = "mx.example.org";
  v.ip = *Ip::parse(ip);
  v.ptr_name = "mx.example.org";
  return v;
}

std::string expand(const std::string& text, const MacroVars& v, MacroUse use = MacroUse::kDomainSpec) {
  auto out = expand_macros(text, v, use);
  return out ? *out : "<error>";
}

// RFC 7208 §7.4, every example, exactly.
TEST(SpfMacro, Rfc7208Section74Examples) {
  MacroVars v = rfc_vars("192.0.2.3");
  EXPECT_EQ(expand("%{s}", v), "strong-bad@email.example.com");
  EXPECT_EQ(expand("%{o}", v), "email.example.com");
  EXPECT_EQ(expand("%{d}", v), "email.example.com");
  EXPECT_EQ(expand("%{d4}", v), "email.example.com");
  EXPECT_EQ(expand("%{d3}", v), "email.example.com");
  EXPECT_EQ(expand("%{d2}", v), "example.com");
  EXPECT_EQ(expand("%{d1}", v), "com");
  EXPECT_EQ(expand("%{dr}", v), "com.example.email");
  EXPECT_EQ(expand("%{d2r}", v), "example.email");
  EXPECT_EQ(expand("%{l}", v), "strong-bad");
  EXPECT_EQ(expand("%{l-}", v), "strong.bad");
  EXPECT_EQ(expand("%{lr}", v), "strong-bad");
  EXPECT_EQ(expand("%{lr-}", v), "bad.strong");
  EXPECT_EQ(expand("%{l1r-}", v), "strong");
  EXPECT_EQ(expand("%{ir}.%{v}._spf.%{d2}", v), "3.2.0.192.in-addr._spf.example.com");
  EXPECT_EQ(expand("%{lr-}.lp._spf.%{d2}", v), "bad.strong.lp._spf.example.com");
  EXPECT_EQ(expand("%{lr-}.lp.%{ir}.%{v}._spf.%{d2}", v), "bad.strong.lp.3.2.0.192.in-addr._spf.example.com");
  EXPECT_EQ(expand("%{ir}.%{v}.%{l1r-}.lp._spf.%{d2}", v), "3.2.0.192.in-addr.strong.lp._spf.example.com");
  EXPECT_EQ(expand("%{d2}.trusted-domains.example.net", v), "example.com.trusted-domains.example.net");
  MacroVars v6 = rfc_vars("2001:db8::cb01");
  EXPECT_EQ(expand("%{ir}.%{v}._spf.%{d2}", v6),
            "1.0.b.c.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.8.b.d.0.1.0.0.2.ip6._spf.example.com");
}

TEST(SpfMacro, LettersEscapesAndDelimiters) {
  MacroVars v = rfc_vars("192.0.2.3");
  EXPECT_EQ(expand("%{i}", v), "192.0.2.3");
  EXPECT_EQ(expand("%{h}", v), "mx.example.org");
  EXPECT_EQ(expand("%{p}", v), "mx.example.org");
  EXPECT_EQ(expand("%{v}", v), "in-addr");
  EXPECT_EQ(expand("%{i}", rfc_vars("2001:db8::cb01")),
            "2.0.0.1.0.d.b.8.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.c.b.0.1");
  EXPECT_EQ(expand("%{v}", rfc_vars("2001:db8::cb01")), "ip6");
  EXPECT_EQ(expand("%{c}", rfc_vars("2001:db8::cb01"), MacroUse::kExplanation), "2001:db8::cb01");
  EXPECT_EQ(expand("%%%_%-", v), "% %20");
  EXPECT_EQ(expand("%{S}", v), "strong-bad%40email.example.com");
  EXPECT_EQ(expand("%{d99}", v), "email.example.com");
  v.local_part = "foo-bar+zip+quux";
  EXPECT_EQ(expand("%{l2r+-}", v), "bar.foo");
  EXPECT_EQ(expand("%{l=,/_}", v), "foo-bar+zip+quux");
  v.local_part = "philip-gladstone-test";
  EXPECT_EQ(expand("%{l2r-}", v), "gladstone.philip");
  MacroVars no_r = v;
  EXPECT_EQ(expand("%{r}", no_r, MacroUse::kExplanation), "unknown");
}

TEST(SpfMacro, SyntaxErrors) {
  MacroVars v = rfc_vars("192.0.2.3");
  for (const char* bad : {"%", "%x", "%{", "%{s", "%{s1", "%{s1r", "%{s0}", "%{q}", "%{}", "%{s}}%", "%(ir)",
                          "%{sr.x}", "a b", "%{c}", "%{r}", "%{t}", "%{T}"})
    EXPECT_FALSE(expand_macros(bad, v, MacroUse::kDomainSpec)) << bad;
  EXPECT_TRUE(expand_macros("%{c} %{r} %{t}", v, MacroUse::kExplanation));
  EXPECT_TRUE(expand_macros("%{s99999999999999999999999999999}", v, MacroUse::kDomainSpec));  // saturates
  EXPECT_FALSE(expand_macros(std::string(kMaxExpansionBytes + 1, 'x'), v, MacroUse::kDomainSpec));
}

TEST(SpfMacro, MacroMadnessInADomain) {
  TableDns dns;
  dns.txt("e1a.example.com", "v=spf1 a:macro%%percent%_%_space%-url-space.example.com -all");
  dns.a("macro%percent  space%20url-space.example.com", "1.2.3.4");
  EXPECT_EQ(run(dns, "1.2.3.4", "test@e1a.example.com").result, Result::kPass);
}

TEST(SpfMacro, LongExpansionIsTruncatedFromTheLeft) {
  TableDns dns;
  dns.txt("somewhat.long.exp.example.com",
          "v=spf1 -all exp=foobar.%{o}.%{o}.%{o}.%{o}.%{o}.%{o}.%{o}.%{o}.example.com");
  std::string target;
  for (int i = 0; i < 8; ++i) target += "somewhat.long.exp.example.com.";
  target += "example.com";
  ASSERT_LE(target.size(), 253u);
  dns.txt(target, "Congratulations!  That was tricky.");
  Outcome o = run(dns, "192.168.218.40", "test@somewhat.long.exp.example.com");
  EXPECT_EQ(o.result, Result::kFail);
  EXPECT_EQ(o.explanation, "Congratulations!  That was tricky.");
}

TEST(SpfMacro, TargetThatIsNoDomainNameDoesNotMatch) {
  TableDns dns;
  dns.txt("t12.example.com", "v=spf1 a:%{H}.bar -all");  // "%25" x 22: a 66-octet label
  dns.txt("t10.example.com", "v=spf1 a:mail.example...com -all");
  Outcome o = run(dns, "1.2.3.4", "foo@t12.example.com", "%%%%%%%%%%%%%%%%%%%%%%");
  EXPECT_EQ(o.result, Result::kFail);
  EXPECT_EQ(run(dns, "1.2.3.4", "foo@t10.example.com").result, Result::kFail);
  EXPECT_EQ(dns.count("A"), 0u);
}

TEST(SpfMacro, HeloMacroWithALiteralHelo) {
  TableDns dns;
  dns.txt("e9.example.com", "v=spf1 a:%{H} -all");
  dns.a("msgbas2x.cos.example.com", "192.168.218.40");
  EXPECT_EQ(run(dns, "192.168.218.40", "test@e9.example.com", "msgbas2x.cos.example.com").result, Result::kPass);
  EXPECT_EQ(run(dns, "192.168.218.40", "test@e9.example.com", "[192.168.218.40]").result, Result::kFail);
  EXPECT_EQ(run(dns, "192.168.218.40", "test@e9.example.com", "JUMPIN' JUPITER").result, Result::kFail);
}

TEST(SpfMacro, PIsTheValidatedNameOrUnknown) {
  TableDns dns;
  dns.txt("e6.example.com", "v=spf1 -all exp=e6msg.example.com").txt("e6msg.example.com", "connect from %{p}");
  dns.ptr("192.168.218.41", "mx.example.com").a("mx.example.com", "192.168.218.41");
  dns.ptr("192.168.218.40", "mx.example.com");  // does not validate
  EXPECT_EQ(run(dns, "192.168.218.41", "test@e6.example.com").explanation, "connect from mx.example.com");
  EXPECT_EQ(run(dns, "192.168.218.40", "test@e6.example.com").explanation, "connect from unknown");
  EXPECT_EQ(run(dns, "192.168.218.49", "test@e6.example.com").explanation, "connect from unknown");
  // A subdomain of <domain> is preferred among several validated names.
  dns.txt("e7.example.com", "v=spf1 exists:%{p}.should.example.com ~all");
  dns.ptr("192.168.218.42", "mx.example.com").ptr("192.168.218.42", "mx.e7.example.com");
  dns.a("mx.example.com", "192.168.218.42").a("mx.e7.example.com", "192.168.218.42");
  dns.a("mx.e7.example.com.should.example.com", "127.0.0.2");
  EXPECT_EQ(run(dns, "192.168.218.42", "test@e7.example.com").result, Result::kPass);
}

// ---- limits (§4.6.4) ------------------------------------------------------------

TableDns include_chain(int includes) {
  TableDns dns;
  std::string record = "v=spf1";
  for (int i = 1; i <= includes; ++i) {
    record += numbered(" include:i", i, ".example.net");
    dns.txt(numbered("i", i, ".example.net"), "v=spf1 -all");
  }
  dns.txt("example.com", record + " ip4:192.0.2.1 -all");
  return dns;
}

TEST(SpfLimits, TenDnsTermsAreFineElevenArePermerror) {
  TableDns ten = include_chain(10);
  EXPECT_EQ(run(ten, "192.0.2.1", "foo@example.com").result, Result::kPass);
  TableDns eleven = include_chain(11);
  Outcome o = run(eleven, "192.0.2.1", "foo@example.com");
  EXPECT_EQ(o.result, Result::kPermError);
  EXPECT_NE(o.problem.find("more than 10 DNS-querying terms"), std::string::npos) << o.problem;
  EXPECT_FALSE(eleven.asked("TXT i11.example.net"));
}

TEST(SpfLimits, EveryQueryingMechanismCounts) {
  TableDns dns;
  dns.txt("e6.example.com", "v=spf1 a mx a mx a mx a mx a ptr ip4:1.2.3.4 -all");
  dns.a("e6.example.com", "1.2.3.8").mx("e6.example.com", "e6.example.com");
  dns.txt("e7.example.com", "v=spf1 a mx a mx a mx a mx a ptr a ip4:1.2.3.4 -all");
  dns.a("e7.example.com", "1.2.3.20");
  EXPECT_EQ(run(dns, "1.2.3.4", "foo@e6.example.com").result, Result::kPass);  // exactly 10
  EXPECT_EQ(run(dns, "1.2.3.4", "foo@e7.example.com").result, Result::kPermError);
  dns.txt("e8.example.com", "v=spf1 a include:inc.example.com ip4:1.2.3.4 mx -all").a("e8.example.com", "1.2.3.4");
  dns.txt("inc.example.com", "v=spf1 a a a a a a a a").a("inc.example.com", "1.2.3.10");
  EXPECT_EQ(run(dns, "1.2.3.4", "foo@e8.example.com").result, Result::kPass);  // 10, then a match
  dns.txt("e9.example.com", "v=spf1 a include:inc.example.com a ip4:1.2.3.4 -all").a("e9.example.com", "1.2.3.21");
  EXPECT_EQ(run(dns, "1.2.3.4", "foo@e9.example.com").result, Result::kPermError);  // 11th before ip4
}

TEST(SpfLimits, TermsAreCountedOnlyWhenEvaluated) {
  std::string record = "v=spf1 ip4:192.0.2.1";
  for (int i = 0; i < 20; ++i) record += numbered(" a:h", i, ".example.net");
  TableDns dns;
  dns.txt("example.com", record);
  EXPECT_EQ(run(dns, "192.0.2.1", "foo@example.com").result, Result::kPass);
  EXPECT_EQ(dns.log.size(), 1u);
}

TEST(SpfLimits, VoidLookups) {
  TableDns dns;
  dns.txt("e12.example.com", "v=spf1 a:err.example.com a:err1.example.com ?all");
  dns.txt("e11.example.com", "v=spf1 a:err.example.com a:err1.example.com a:err2.example.com ?all");
  dns.txt("mxv.example.com", "v=spf1 mx:nomx.example.com exists:no1.example.com exists:no2.example.com ?all");
  dns.a("nomx.example.com", "192.0.2.99");  // exists, no MX: no data
  EXPECT_EQ(run(dns, "1.2.3.4", "foo@e12.example.com").result, Result::kNeutral);
  Outcome o = run(dns, "1.2.3.4", "foo@e11.example.com");
  EXPECT_EQ(o.result, Result::kPermError);
  EXPECT_NE(o.problem.find("void"), std::string::npos) << o.problem;
  EXPECT_EQ(run(dns, "1.2.3.4", "foo@mxv.example.com").result, Result::kPermError);
  Limits three;
  three.max_void_lookups = 3;
  EXPECT_EQ(run(dns, "1.2.3.4", "foo@e11.example.com", "mail.example.org", three).result, Result::kNeutral);
}

TEST(SpfLimits, LoweredLimits) {
  TableDns dns = include_chain(3);
  Limits two;
  two.max_dns_terms = 2;
  EXPECT_EQ(run(dns, "192.0.2.1", "foo@example.com", "h.example", two).result, Result::kPermError);
  TableDns mx;
  mx.txt("example.com", "v=spf1 mx -all").mx("example.com", "a.example.com").mx("example.com", "b.example.com");
  mx.a("b.example.com", "192.0.2.1");
  Limits one_mx;
  one_mx.max_mx_names = 1;
  EXPECT_EQ(run(mx, "192.0.2.1", "foo@example.com", "h.example", one_mx).result, Result::kPermError);
  EXPECT_EQ(run(mx, "192.0.2.1", "foo@example.com").result, Result::kPass);
  TableDns ptr;
  ptr.txt("example.com", "v=spf1 ptr -all").ptr("192.0.2.1", "a.example.com").ptr("192.0.2.1", "b.example.com");
  ptr.a("b.example.com", "192.0.2.1");
  Limits one_ptr;
  one_ptr.max_ptr_names = 1;
  EXPECT_EQ(run(ptr, "192.0.2.1", "foo@example.com", "h.example", one_ptr).result, Result::kFail);
  EXPECT_EQ(run(ptr, "192.0.2.1", "foo@example.com").result, Result::kPass);
}

TEST(SpfLimits, TotalQueriesAreBounded) {
  TableDns dns;
  dns.txt("example.com", "v=spf1 mx -all");
  for (int i = 0; i < 10; ++i) dns.mx("example.com", numbered("mx", i, ".example.com"));
  dns.a("mx9.example.com", "192.0.2.1");
  Limits small;
  small.max_lookups = 5;
  Outcome o = run(dns, "192.0.2.1", "foo@example.com", "h.example", small);
  EXPECT_EQ(o.result, Result::kPermError);
  EXPECT_NE(o.problem.find("more than 5 DNS queries"), std::string::npos) << o.problem;
  EXPECT_EQ(dns.log.size(), 5u);
  EXPECT_EQ(run(dns, "192.0.2.1", "foo@example.com").result, Result::kPass);
}

TEST(SpfLimits, SlowDnsEndsInTemperror) {
  TableDns dns;
  dns.txt("example.com", "v=spf1 a:a1.example.com a:a2.example.com a:a3.example.com a:a4.example.com -all");
  dns.a("a1.example.com", "198.51.100.1").a("a2.example.com", "198.51.100.2").a("a3.example.com", "198.51.100.3");
  dns.a("a4.example.com", "192.0.2.1");
  dns.delay(std::chrono::milliseconds(30));
  Limits quick;
  quick.max_time = std::chrono::milliseconds(50);
  Outcome o = run(dns, "192.0.2.1", "foo@example.com", "h.example", quick);
  EXPECT_EQ(o.result, Result::kTempError);
  EXPECT_NE(o.problem.find("longer than"), std::string::npos) << o.problem;
  EXPECT_LT(dns.log.size(), 5u);
}

// ---- robustness ------------------------------------------------------------------

// Records made of random pieces of SPF syntax, against a zone where every name answers
// with more of the same: every check ends, within the query bound, with some result.
TEST(SpfRobust, RandomRecordsNeverCrashOrRunAway) {
  const std::vector<std::string> pieces = {
      "v=spf1", " ", "  ", "+", "-", "~", "?", "all", "a", "mx", "ptr", "include:", "exists:", "ip4:",
      "ip6:", "redirect=", "exp=", "x=", ":", "/", "//", "24", "0", "128", "33", "192.0.2.1", "::1",
      "%{d}", "%{i}", "%{ir}", "%{l}", "%{p}", "%{h}", "%{S}", "%{d2r}", "%", "%%", "%_", "%-", "{", "}",
      ".", "..", "example.com", "r.example.net", "loop.example.com", "\x80", "=", "v=spf1 ", "-all"};
  std::mt19937 rng(7208);
  std::set<Result> seen;
  for (int round = 0; round < 3000; ++round) {
    TableDns dns;
    auto gen = [&] {
      std::string r = round % 3 ? "v=spf1 " : "";
      int n = int(rng() % 14);
      for (int i = 0; i < n; ++i) r += pieces[rng() % pieces.size()];
      return r;
    };
    dns.txt("example.com", gen()).txt("r.example.net", gen()).txt("loop.example.com", "v=spf1 include:example.com");
    dns.a("example.com", "192.0.2.1").mx("example.com", "r.example.net").a("r.example.net", "192.0.2.2");
    dns.ptr("192.0.2.1", "example.com").ptr("192.0.2.1", "r.example.net");
    Outcome o = run(dns, round % 2 ? "192.0.2.1" : "2001:db8::1", "foo@example.com");
    ASSERT_LE(dns.log.size(), size_t(Limits{}.max_lookups)) << dns.log.front();
    EXPECT_FALSE(result_name(o.result).empty());
    EXPECT_LE(o.explanation.size(), kMaxExplanation);
    seen.insert(o.result);
  }
  // The soup reaches the interesting paths, not only the syntax errors.
  for (Result r : {Result::kNone, Result::kNeutral, Result::kPass, Result::kFail, Result::kPermError})
    EXPECT_TRUE(seen.count(r)) << result_name(r);
}

}  // namespace
}  // namespace tsubame::smtp::spf
