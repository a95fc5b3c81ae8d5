// tests/filter/filter_test.cc: the facade end to end on raw messages with the shipped rule
// set (conf/rules): rule hits per family, computed checks, policy actions, the classifier
// contribution (real LMDB store), and the fault path (deliver, never spam).
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <filesystem>
#include <random>
#include <regex>
#include <stdexcept>

#include "common/bytes.h"
#include "common/config.h"
#include "filter/filter.h"
#include "store/replies.h"
#include "store/store.h"
#include "store/tokens.h"

#include "tests/filter/default_rules_fixture.h"

namespace tsubame::filter {
namespace {

namespace fs = std::filesystem;
const std::string& kRules = testing::kDefaultRules;

std::string msg(const std::string& headers, const std::string& body) {
  return headers + "\r\n" + body;
}

const std::string kGoodHeaders =
    "From: Alice <alice@partner.example>\r\n"
    "To: bob@ours.example\r\n"
    "Date: Mon, 6 Jan 2025 10:00:00 +0900\r\n"
    "Message-ID: <20250106.1@partner.example>\r\n"
    "MIME-Version: 1.0\r\n";

class FilterTest : public testing::DefaultRulesTest {
 protected:
  Verdict scan(const std::string& raw, const SmtpEnvelope& env = {}, const Policy& p = {}) {
    return filter_->scan(raw, env, p);
  }
};

TEST_F(FilterTest, CleanMessageIsDelivered) {
  Verdict v = scan(msg(kGoodHeaders + "Subject: Meeting notes\r\nContent-Type: text/plain\r\n",
                       "Hi Bob,\r\nthe notes from Tuesday are below.\r\nAlice\r\n"));
  EXPECT_EQ(v.action, Action::kDeliver) << v.to_text();
  EXPECT_FALSE(v.fault);
  EXPECT_LT(v.score, 1.0) << v.to_text();
}

TEST_F(FilterTest, PhishingWithIpLinkAndMismatchedLinkText) {
  std::string html =
      "<html><body><p>Dear customer,</p><p>Your account has been suspended. Please verify your "
      "account within 24 hours:</p>"
      "<a href=\"http://192.0.2.44/secure/login\">https://www.bank.example/login</a>"
      "</body></html>";
  Verdict v = scan(msg(kGoodHeaders + "Subject: Account suspended - verify now\r\n"
                                      "Content-Type: text/html; charset=utf-8\r\n",
                       html));
  for (const char* id : {"URL_IP_LITERAL", "LINK_TEXT_HOST_MISMATCH", "PHISH_ACCOUNT_SUSPENDED",
                         "PHISH_VERIFY_ACCOUNT", "PHISH_COMBO"})
    EXPECT_TRUE(v.has(id)) << id << "\n" << v.to_text();
  EXPECT_TRUE(v.action == Action::kJunk || v.action == Action::kReject) << v.to_text();
  EXPECT_GE(v.score, DomainPolicy{}.junk_threshold);
  EXPECT_EQ(v.find("PHISH_COMBO")->kind, ContributionKind::kMeta);
}

TEST_F(FilterTest, ObfuscatedWords) {
  Verdict v = scan(msg(kGoodHeaders + "Subject: V1AGRA for you\r\nContent-Type: text/plain; charset=utf-8\r\n",
                       "Get v i a g r a today. Also c.i.a.l.i.s. "
                       "Fr\xE2\x80\x8B" "ee sh\xE2\x80\x8B" "ipping.\r\n"));
  EXPECT_TRUE(v.has("OBFU_SPACED_DRUG")) << v.to_text();
  EXPECT_TRUE(v.has("OBFU_SPACED_DRUG_SUBJ")) << v.to_text();
  EXPECT_TRUE(v.has("OBFU_ZERO_WIDTH_IN_WORD")) << v.to_text();
  EXPECT_NE(v.action, Action::kDeliver) << v.to_text();
}

TEST_F(FilterTest, ShortenerAndPunycodeUrls) {
  Verdict v = scan(msg(kGoodHeaders + "Subject: hi\r\nContent-Type: text/plain\r\n",
                       "see https://bit.ly/3xYz and http://xn--pypal-4ve.example/login\r\n"));
  EXPECT_TRUE(v.has("URL_SHORTENER")) << v.to_text();
  EXPECT_TRUE(v.has("URL_PUNYCODE")) << v.to_text();
}

TEST_F(FilterTest, MissingAndMalformedHeaders) {
  Verdict v = scan("To: bob@ours.example\r\nSubject: hello\r\n\r\nbody\r\n");
  EXPECT_TRUE(v.has("MISSING_MESSAGE_ID")) << v.to_text();
  EXPECT_TRUE(v.has("MISSING_DATE")) << v.to_text();
  EXPECT_TRUE(v.has("MISSING_FROM")) << v.to_text();
  EXPECT_TRUE(v.has("HEADERS_MISSING_TWO")) << v.to_text();
  Verdict w = scan("From: a@b.example\r\nDate: yesterday-ish\r\nMessage-ID: no-brackets\r\n"
                   "Subject: x\r\n\r\nbody\r\n");
  EXPECT_TRUE(w.has("MALFORMED_DATE")) << w.to_text();
  EXPECT_TRUE(w.has("MALFORMED_MESSAGE_ID")) << w.to_text();
  EXPECT_FALSE(w.has("MISSING_FROM"));
}

TEST_F(FilterTest, FakeReplyUsesHelperRulesWithoutShowingThem) {
  Verdict v = scan(msg(kGoodHeaders + "Subject: Re: your order\r\n", "hello\r\n"));
  EXPECT_TRUE(v.has("FAKE_REPLY")) << v.to_text();
  for (const auto& c : v.contributions) EXPECT_FALSE(c.id.starts_with("__")) << c.id;
  Verdict r = scan(msg(kGoodHeaders + "Subject: Re: your order\r\nIn-Reply-To: <x@y.example>\r\n",
                       "hello\r\n"));
  EXPECT_FALSE(r.has("FAKE_REPLY")) << r.to_text();
}

TEST_F(FilterTest, JapaneseSpam) {
  // Subject: 未承諾広告 出会い, RFC 2047 base64 UTF-8.
  std::string subject = "=?UTF-8?B?" + base64_encode("未承諾広告※ 今夜会える人妻") + "?=";
  Verdict v = scan(msg(kGoodHeaders + "Subject: " + subject +
                           "\r\nContent-Type: text/plain; charset=utf-8\r\n"
                           "Content-Transfer-Encoding: 8bit\r\n",
                       "完全無料の出会い系サイトです。副業で高収入！\r\n"));
  for (const char* id : {"JA_UNSOLICITED_AD_LABEL", "JA_DATING_SUBJ", "JA_DATING",
                         "JA_MONEY_SIDE_JOB", "JA_FREE_OFFER", "JA_SPAM_SEVERAL"})
    EXPECT_TRUE(v.has(id)) << id << "\n" << v.to_text();
  EXPECT_NE(v.action, Action::kDeliver);
}

TEST_F(FilterTest, JapanesePhishing) {
  std::string subject = "=?UTF-8?B?" + base64_encode("【重要】Amazonアカウントの停止について") + "?=";
  Verdict v = scan(msg(kGoodHeaders + "Subject: " + subject +
                           "\r\nContent-Type: text/plain; charset=utf-8\r\n",
                       "お客様のアカウントが一時的に停止されました。24時間以内に本人確認を"
                       "お願いします。 http://198.51.100.7/amazon/login\r\n"));
  for (const char* id : {"JA_PHISH_SUBJ", "JA_ACCOUNT_SUSPENDED", "JA_VERIFY_IDENTITY",
                         "JA_URGENT_DEADLINE", "URL_IP_LITERAL", "PHISH_COMBO"})
    EXPECT_TRUE(v.has(id)) << id << "\n" << v.to_text();
  EXPECT_NE(v.action, Action::kDeliver);
}

std::string with_attachment(const std::string& name, const std::string& type,
                            const std::string& content) {
  return msg(kGoodHeaders + "Subject: Invoice\r\n"
                            "Content-Type: multipart/mixed; boundary=\"b1\"\r\n",
             "--b1\r\nContent-Type: text/plain\r\n\r\nPlease see the invoice.\r\n"
             "--b1\r\nContent-Type: " + type + "; name=\"" + name + "\"\r\n"
             "Content-Disposition: attachment; filename=\"" + name + "\"\r\n"
             "Content-Transfer-Encoding: base64\r\n\r\n" + base64_encode(content) + "\r\n--b1--\r\n");
}

TEST_F(FilterTest, DoubleExtensionAttachmentIsScoredAndQuarantined) {
  std::string pe = "MZ" + std::string(200, '\0') + "This program cannot be run in DOS mode";
  Verdict v = scan(with_attachment("invoice.pdf.exe", "application/octet-stream", pe));
  EXPECT_TRUE(v.has("ATT_DOUBLE_EXTENSION")) << v.to_text();
  EXPECT_TRUE(v.has("ATT_EXECUTABLE_NAME")) << v.to_text();
  EXPECT_TRUE(v.has("ATT_TYPE_EXECUTABLE")) << v.to_text();
  EXPECT_TRUE(v.has("POLICY_BLOCKED_ATTACHMENT")) << v.to_text();
  EXPECT_EQ(v.action, Action::kQuarantine);

  Verdict pdf = scan(with_attachment("invoice.pdf", "application/pdf", "%PDF-1.7\n%...\n"));
  EXPECT_FALSE(pdf.has("ATT_DOUBLE_EXTENSION"));
  EXPECT_EQ(pdf.action, Action::kDeliver) << pdf.to_text();
}

TEST_F(FilterTest, OutboundCardNumberIsHeld) {
  SmtpEnvelope env;
  env.authenticated = true;
  env.mail_from = "alice@partner.example";
  std::string raw = msg(kGoodHeaders + "Subject: details\r\nContent-Type: text/plain\r\n",
                        "card 4111 1111 1111 1111 exp 01/30\r\n");
  Verdict v = scan(raw, env);
  EXPECT_EQ(v.action, Action::kHold) << v.to_text();
  EXPECT_TRUE(v.has("POLICY_DLP"));
  env.authenticated = false;
  EXPECT_EQ(scan(raw, env).action, Action::kDeliver);
}

TEST_F(FilterTest, AllowListNeedsAnUnforgedSender) {
  Policy p;
  p.domain.allow.entries = {"partner.example"};
  p.domain.trusted_hosts = {"mx.ours.example"};
  p.domain.junk_threshold = 0.5;
  std::string raw = msg(kGoodHeaders +
                            "Received: from out.partner.example (out.partner.example [192.0.2.1]) "
                            "by mx.ours.example with ESMTP; Mon, 6 Jan 2025 10:00:01 +0900\r\n"
                            "Subject: Re: order\r\n",
                        "click here to buy now\r\n");
  SmtpEnvelope env;
  env.mail_from = "bounce@partner.example";
  Verdict v = scan(raw, env, p);
  EXPECT_EQ(v.action, Action::kDeliver) << v.to_text();
  EXPECT_TRUE(v.has("POLICY_ALLOWLIST")) << v.to_text();
  env.mail_from = "x@spammer.example";
  Verdict f = scan(raw, env, p);
  EXPECT_EQ(f.action, Action::kJunk) << f.to_text();
  EXPECT_TRUE(f.has("FROM_ENVELOPE_MISMATCH"));
}

TEST_F(FilterTest, MalformedMessageStillGetsAVerdict) {
  Verdict v = scan("Subject: \xff\xfe junk\r\nContent-Type: multipart/mixed; boundary=zz\r\n\r\n"
                   "--zz\r\nContent-Transfer-Encoding: base64\r\n\r\n!!!notbase64!!!\r\n");
  EXPECT_FALSE(v.fault) << v.fault_note;
  EXPECT_TRUE(v.has("MIME_MALFORMED")) << v.to_text();
}

TEST_F(FilterTest, VerdictJsonListsContributions) {
  Verdict v = scan("To: bob@ours.example\r\n\r\nx\r\n");
  std::string j = v.to_json();
  EXPECT_NE(j.find("\"MISSING_FROM\""), std::string::npos) << j;
  EXPECT_NE(j.find("\"action\""), std::string::npos);
}

// ---- fault path ----

TEST(FilterFaultTest, ExceptionInsideTheFilterDeliversUnscored) {
  for (const char* stage : {"parse", "rules", "classifier", "policy"}) {
    FilterOptions o;
    o.rules = kRules;
    o.cache_dir = testing::kDefaultRulesCache;
    std::string s = stage;
    o.stage_hook = [s](std::string_view at) {
      if (at == s) throw std::runtime_error("injected fault at " + s);
    };
    auto f = Filter::open(o);
    ASSERT_TRUE(f);
    // A message the rules would score high: the fault must not score it.
    Verdict v = f.value()->scan("To: x@ours.example\r\nSubject: V1AGRA\r\n\r\nv i a g r a\r\n",
                                {}, {});
    EXPECT_EQ(v.action, Action::kDeliver) << stage;
    EXPECT_TRUE(v.fault) << stage;
    EXPECT_DOUBLE_EQ(v.score, 0) << stage;
    EXPECT_TRUE(v.contributions.empty()) << stage;
    EXPECT_NE(v.fault_note.find("injected fault at " + s), std::string::npos) << v.fault_note;
    EXPECT_NE(v.to_json().find("\"fault\":true"), std::string::npos);
  }
}

TEST(FilterFaultTest, BadRulesFailOpenNotScan) {
  auto f = Filter::open({std::string(TSUBAME_SOURCE_DIR) + "/tests/filter/fixtures/rules/bad_pattern",
                         {}, nullptr, {}, {}, {}});
  ASSERT_FALSE(f);
  EXPECT_NE(f.status().message().find("bad.rules:6: rule BAD_BACKREF"), std::string::npos);
}

// ---- classifier through the facade ----

// The facade with a classifier over a real LMDB store in a temp dir (min_learned 2).
class FilterClassifierTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = fs::temp_directory_path() / ("tsubame-filter-" + to_hex(random_bytes(8)));
    fs::create_directories(dir_);
    store::Options so;
    so.data_dir = (dir_ / "data").string();
    so.key_file = (dir_ / "key").string();
    so.create = true;
    auto st = store::Store::open(so);
    ASSERT_TRUE(st) << st.status().to_string();
    store_ = std::move(st.value());
    FilterOptions o;
    o.rules = kRules;
    o.cache_dir = testing::kDefaultRulesCache;
    o.store = store_.get();
    o.classifier.min_learned = 2;
    auto f = Filter::open(o);
    ASSERT_TRUE(f) << f.status().to_string();
    filter_ = std::move(f.value());
  }
  void TearDown() override {
    filter_.reset();
    store_.reset();
    std::error_code ec;
    fs::remove_all(dir_, ec);
  }
  fs::path dir_;
  std::unique_ptr<store::Store> store_;
  std::unique_ptr<Filter> filter_;
};

TEST_F(FilterClassifierTest, BayesContributionAbstainsThenScores) {
  Filter& filter = *filter_;
  std::string spam = msg(kGoodHeaders + "Subject: lottery prize\r\n", "claim your lottery prize money today\r\n");
  std::string ham = msg(kGoodHeaders + "Subject: budget review\r\n", "the quarterly budget review is attached\r\n");

  Verdict a = filter.scan(spam, {}, {});
  ASSERT_TRUE(a.has("BAYES"));
  EXPECT_EQ(a.find("BAYES")->score, 0);
  bool noted = false;
  for (const auto& n : a.notes) noted = noted || n.find("abstains") != std::string::npos;
  EXPECT_TRUE(noted) << a.to_text();

  for (int i = 0; i < 2; ++i) {
    ASSERT_TRUE(filter.learn(spam, true, 0));
    ASSERT_TRUE(filter.learn(ham, false, 0));
  }
  Verdict b = filter.scan(spam, {}, {});
  ASSERT_TRUE(b.has("BAYES"));
  EXPECT_GT(b.find("BAYES")->score, 1.0) << b.to_text();
  EXPECT_EQ(b.find("BAYES")->kind, ContributionKind::kClassifier);
  Verdict c = filter.scan(ham, {}, {});
  EXPECT_LT(c.find("BAYES")->score, 0) << c.to_text();

  // The rules a learned message hit are classifier tokens too ("rule:ID"), learned with
  // the words and named by --explain; a helper rule gives none.
  ASSERT_TRUE(b.has("FRAUD_LOTTERY")) << b.to_text();
  std::vector<uint64_t> rule_token = {token_hash("x", "rule:FRAUD_LOTTERY")};
  std::vector<store::TokenCounts> counts;
  ASSERT_TRUE(store::token_counts(*store_, 0, rule_token, counts));
  ASSERT_EQ(counts.size(), 1u);
  EXPECT_EQ(counts[0].spam, 2u);
  EXPECT_EQ(counts[0].ham, 0u);
  // --explain comes from the same pass as the verdict: the same verdict as scan(), and
  // the tokens it weighed.
  Filter::Explained why = filter.scan_explained(spam, {}, {}, 100);
  EXPECT_EQ(why.verdict.to_text(), b.to_text());
  ASSERT_FALSE(why.tokens.empty());
  EXPECT_LE(why.tokens.size(), 100u);
  EXPECT_TRUE(std::any_of(why.tokens.begin(), why.tokens.end(),
                          [](const auto& t) { return t.name == "rule:FRAUD_LOTTERY"; }));
  EXPECT_TRUE(filter.scan_explained(spam, {}, {}, 0).tokens.empty());  // not asked, not looked up
  // Unlearning takes the rule tokens back off with the words.
  for (int i = 0; i < 2; ++i) ASSERT_TRUE(filter.learn(spam, true, 0, -1));
  ASSERT_TRUE(store::token_counts(*store_, 0, rule_token, counts));
  EXPECT_EQ(counts[0].spam + counts[0].ham, 0u);
}

// ---- sender memory (session 10) ----

TEST(FilterPartsTest, OriginNetworkIsTheOldestPublicHop) {
  auto net = [](std::vector<std::string> received) { return origin_network(received); };
  // Newest first, as ParsedMessage::received keeps them: the oldest public hop wins.
  EXPECT_EQ(net({"from mx.partner.example (mx.partner.example [198.51.100.7]) by mx.ours.example "
                 "with ESMTP id 1; Mon, 6 Jan 2025 10:00:02 +0900",
                 "from pc12 (pc12.partner.example [203.0.113.45]) by mx.partner.example with SMTP; "
                 "Mon, 6 Jan 2025 10:00:01 +0900",
                 "from localhost (localhost [127.0.0.1]) by pc12 with ESMTP; Mon, 6 Jan 2025 10:00:00 +0900"}),
            "203.0/16");
  // Private, loopback, link-local and shared addresses are skipped; a host name that starts
  // with digits is not an address; the TCP-info address (last) beats the HELO literal.
  EXPECT_EQ(net({"from [192.0.2.1] (helo=[10.0.0.1]) by mx.ours.example; Mon, 6 Jan 2025 10:00:00 +0000",
                 "from 10.1.2.3.dsl.example (HELO [10.1.2.3]) ([172.16.0.9]) by relay.example; x",
                 "from a (b [169.254.1.1]) by c; x", "from a (b [100.64.0.1]) by c; x"}),
            "192.0/16");
  EXPECT_EQ(net({"from helo.example ([1.2.3.4]) ([198.18.5.6]) by mx.example; x"}), "198.18/16");
  // qmail's "(a.b.c.d)" and a port after the address.
  EXPECT_EQ(net({"from unknown (HELO box) (203.0.113.9) by mx.example with SMTP; x"}), "203.0/16");
  EXPECT_EQ(net({"from box (203.0.113.9:40112) by mx.example; x"}), "203.0/16");
  // IPv6: global unicast only, its /32.
  EXPECT_EQ(net({"from a (a.example [IPv6:2001:db8:1:2::5]) by mx.example; x"}), "2001:db8/32");
  EXPECT_EQ(net({"from a (a.example [IPv6:fe80::1]) by mx.example; x"}), "");
  // An address after " by " is the receiving host's, not the sender's; no from-clause, nothing.
  EXPECT_EQ(net({"from a.example by mx.example ([198.51.100.2]); x"}), "");
  EXPECT_EQ(net({"by mx.example (Postfix, from userid 1000) id 4; x", "(qmail 1234 invoked by uid 0); x"}), "");
  EXPECT_EQ(net({}), "");
  // Only the newest kOriginMaxReceived fields are read.
  std::vector<std::string> long_trail(kOriginMaxReceived, "from a (a [10.0.0.1]) by b; x");
  long_trail.push_back("from a (a [198.51.100.1]) by b; x");
  EXPECT_EQ(net(long_trail), "");
  long_trail[kOriginMaxReceived - 1] = "from a (a [198.51.100.1]) by b; x";
  EXPECT_EQ(net(long_trail), "198.51/16");
}

TEST(FilterPartsTest, OriginNetworkOnAnyBytesIsEmptyOrANetwork) {
  // Random Received values built from the pieces the parser looks for: whatever it finds is
  // "" or a network in one of the two shapes, never anything else.
  const std::string pieces[] = {"from ", " by ", "(", ")", "[", "]", "IPv6:", ":", ".", " ", "for ", ";",
                                "1", "22", "203", "255", "256", "10", "2001", "db8", "fe80", "::", "a", "\xff",
                                std::string(1, '\0')};
  const std::regex shape(R"(^(|[0-9]{1,3}\.[0-9]{1,3}/16|[0-9a-f]{1,4}:[0-9a-f]{1,4}/32)$)");
  std::mt19937 rng(20261123);
  int found = 0;
  for (int i = 0; i < 5000; ++i) {
    std::vector<std::string> received(1 + rng() % 3);
    for (auto& r : received)
      for (int k = 0, n = static_cast<int>(rng() % 40); k < n; ++k) r += pieces[rng() % std::size(pieces)];
    std::string net = origin_network(received);
    ASSERT_TRUE(std::regex_match(net, shape)) << net;
    found += !net.empty();
  }
  EXPECT_GT(found, 0) << "the pieces make addresses now and then";
}

TEST(FilterPartsTest, ClassifierInputNamesTheSender) {
  auto parsed = parse_message(msg("Received: from pc (pc.partner.example [203.0.113.45]) by mx.ours.example; "
                                  "Mon, 6 Jan 2025 10:00:00 +0900\r\n" + kGoodHeaders + "Subject: hi\r\n",
                                  "hello\r\n"),
                              MimeLimits{});
  ASSERT_TRUE(parsed);
  EXPECT_EQ(build_classifier_input(*parsed).sender, "alice@partner.example|203.0/16");
  EXPECT_EQ(build_classifier_input(*parsed).sender_domain, "@partner.example|203.0/16");
  auto nofrom = parse_message("Subject: hi\r\n\r\nhello\r\n", MimeLimits{});
  ASSERT_TRUE(nofrom);
  EXPECT_EQ(build_classifier_input(*nofrom).sender, "");
  EXPECT_EQ(build_classifier_input(*nofrom).sender_domain, "");
  // Without a public origin network the address is still a sender, the domain is not.
  auto local = parse_message(msg(kGoodHeaders + "Subject: hi\r\n", "hello\r\n"), MimeLimits{});
  ASSERT_TRUE(local);
  EXPECT_EQ(build_classifier_input(*local).sender, "alice@partner.example|");
  EXPECT_EQ(build_classifier_input(*local).sender_domain, "");
}

TEST(FilterPartsTest, FilterOptionsAddTheConfiguredSharedMailDomains) {
  auto c = Config::parse("[general]\nrules_dir = /r\ncache_dir = /c\n[filter]\n"
                         "shared_mail_domains = isp.example, @Mail.Example.JP\n",
                         "t.conf");
  ASSERT_TRUE(c.is_ok()) << c.status().to_string();
  FilterOptions o = filter_options(*c);
  EXPECT_EQ(o.rules, "/r");
  EXPECT_EQ(o.cache_dir, "/c");
  const auto& list = o.classifier.shared_mail_domains;
  EXPECT_TRUE(shared_mail_domain("isp.example", list));
  EXPECT_TRUE(shared_mail_domain("mail.example.jp", list));
  EXPECT_TRUE(shared_mail_domain("gmail.com", list)) << "added to the built-in list, not instead of it";
  EXPECT_EQ(filter_options(Config::defaults()).classifier.shared_mail_domains, ClassifierParams{}.shared_mail_domains);
}

TEST_F(FilterClassifierTest, SenderMemoryTakesPointsOffForAKnownSender) {
  Filter& filter = *filter_;
  auto via = [](const std::string& ip) {
    return "Received: from out (out.example [" + ip + "]) by mx.ours.example; Mon, 6 Jan 2025 10:00:00 +0900\r\n";
  };
  const std::string newsletter =
      "From: Deals <news@shop.example>\r\nTo: bob@ours.example\r\nDate: Mon, 6 Jan 2025 10:00:00 +0900\r\n"
      "Message-ID: <n1@shop.example>\r\nMIME-Version: 1.0\r\nSubject: This week's offers\r\n";
  std::string spam = msg(via("198.51.100.9") + kGoodHeaders + "Subject: lottery prize\r\n",
                         "claim your lottery prize money today\r\n");
  std::string issue = msg(via("203.0.113.20") + newsletter, "Our offers this week: garden chairs, 20% off\r\n");
  std::string other = msg(kGoodHeaders + "Subject: budget review\r\n", "the quarterly budget review is attached\r\n");
  for (int i = 0; i < 2; ++i) ASSERT_TRUE(filter.learn(spam, true, 0));
  ASSERT_TRUE(filter.learn(other, false, 0));
  Verdict unknown = filter.scan(issue, {}, {});
  EXPECT_FALSE(unknown.has(std::string(kSenderKnownId))) << "abstaining (1 ham < 2)\n" << unknown.to_text();
  ASSERT_TRUE(filter.learn(issue, false, 0));  // one "not junk": the classifier speaks, the sender is known
  Verdict known = filter.scan(issue, {}, {});
  ASSERT_TRUE(known.has(std::string(kSenderKnownId))) << known.to_text();
  const Contribution* c = known.find(std::string(kSenderKnownId));
  EXPECT_DOUBLE_EQ(c->score, -2.0);
  EXPECT_EQ(c->kind, ContributionKind::kClassifier);
  EXPECT_NE(c->detail.find("203.0/16"), std::string::npos) << c->detail;
  EXPECT_NE(c->detail.find("learned 1 ham, 0 spam"), std::string::npos) << c->detail;
  ASSERT_TRUE(filter.learn(issue, false, 0));
  EXPECT_DOUBLE_EQ(filter.scan(issue, {}, {}).find(std::string(kSenderKnownId))->score, -2.0 * std::log2(3.0));
  EXPECT_EQ(c->detail.find("news@shop.example"), std::string::npos) << "the detail names no address";
  // The same From sent from another network is not the known sender.
  std::string forged = msg(via("198.51.100.77") + newsletter, "Our offers this week: garden chairs, 20% off\r\n");
  EXPECT_FALSE(filter.scan(forged, {}, {}).has(std::string(kSenderKnownId)));
  // A report of spam from the sender ends the exemption.
  ASSERT_TRUE(filter.learn(issue, true, 0));
  EXPECT_FALSE(filter.scan(issue, {}, {}).has(std::string(kSenderKnownId)));
}

TEST_F(FilterClassifierTest, DomainMemoryKnowsANewsletterWithANewAddressInEveryCopy) {
  Filter& filter = *filter_;
  auto copy = [](int n, const std::string& ip) {
    std::string id = std::to_string(n);
    return msg("Received: from mta3.mailer.example (mta3.mailer.example [" + ip + "]) by mx.ours.example; "
               "Mon, 6 Jan 2025 10:00:00 +0900\r\n"
               "From: Tech News <online#3." + id + "55-a8yagb" + id + ".1@newsletter.news.example>\r\n"
               "To: bob@ours.example\r\nDate: Mon, 6 Jan 2025 10:00:00 +0900\r\nMessage-ID: <n" + id +
                   "@news.example>\r\nMIME-Version: 1.0\r\nSubject: Tech news, issue " + id + "\r\n",
               "This week in tech: compilers, chips and a new phone\r\n");
  };
  std::string spam = msg("Received: from pc (pc.example [198.51.100.9]) by mx.ours.example; "
                         "Mon, 6 Jan 2025 10:00:00 +0900\r\n" + kGoodHeaders + "Subject: lottery prize\r\n",
                         "claim your lottery prize money today\r\n");
  for (int i = 0; i < 2; ++i) ASSERT_TRUE(filter.learn(spam, true, 0));
  ASSERT_TRUE(filter.learn(copy(1, "206.16.1.162"), false, 0));
  ASSERT_TRUE(filter.learn(copy(2, "206.16.1.160"), false, 0));
  Verdict third = filter.scan(copy(3, "206.16.7.1"), {}, {});
  const Contribution* c = third.find(std::string(kSenderKnownId));
  ASSERT_NE(c, nullptr) << third.to_text();
  EXPECT_DOUBLE_EQ(c->score, -2.0 * std::log2(3.0));
  EXPECT_NE(c->detail.find("From domain newsletter.news.example via 206.16/16: learned 2 ham, 0 spam"),
            std::string::npos)
      << c->detail;
  EXPECT_EQ(c->detail.find("a8yagb"), std::string::npos) << "the detail names no address";
  // The domain's mail from another network is not vouched for.
  EXPECT_FALSE(filter.scan(copy(4, "198.51.100.77"), {}, {}).has(std::string(kSenderKnownId)));
}

// ---- reply memory (session 11) ----

TEST(FilterPartsTest, ReferencedMessageIdsAreTheParentFirstThenTheThreadNewestFirst) {
  auto ids = [](const std::string& headers) {
    auto m = parse_message(headers + "From: a@b.example\r\nSubject: Re: x\r\n\r\nbody\r\n", MimeLimits{});
    EXPECT_TRUE(m);
    return referenced_message_ids(*m);
  };
  EXPECT_EQ(ids(""), std::vector<std::string>{});
  EXPECT_EQ(ids("In-Reply-To: <p@x.example>\r\nReferences: <r1@x.example>\r\n <r2@x.example> <p@x.example>\r\n"),
            (std::vector<std::string>{"p@x.example", "r2@x.example", "r1@x.example"}));
  EXPECT_EQ(ids("In-Reply-To: Your message of Monday <m@x.example> (Ann)\r\n"), std::vector<std::string>{"m@x.example"});
  EXPECT_EQ(ids("References: <> <unclosed@x.example\r\n"), std::vector<std::string>{});
  EXPECT_EQ(ids("In-Reply-To: <junk <m@x.example>> >\r\n"), std::vector<std::string>{"m@x.example"})
      << "an id runs from the '<' nearest its '>'";
  std::string many = "References:";
  for (size_t i = 0; i < store::kMaxReplyLookups + 10; ++i) many += " <r" + std::to_string(i) + "@x.example>";
  auto capped = ids(many + "\r\n");
  ASSERT_EQ(capped.size(), store::kMaxReplyLookups);
  EXPECT_EQ(capped.front(), "r" + std::to_string(store::kMaxReplyLookups + 9) + "@x.example") << "newest first";
}

TEST(FilterPartsTest, ReferencedMessageIdsOnAnyBytesAreBoundedAndBare) {
  // Random In-Reply-To and References values built from the pieces the parser looks for:
  // every id it returns is non-empty, bracket-free, at most kMaxMessageIdBytes, and there are
  // at most kMaxReplyLookups of them, all different.
  const std::string pieces[] = {"<", ">", "@", "x", "id.1", " ", "\t", "(", ")", "\xff", std::string(1, '\0'),
                                std::string(store::kMaxMessageIdBytes, 'a')};
  std::mt19937 rng(20261123);
  size_t found = 0;
  for (int i = 0; i < 2000; ++i) {
    std::string headers;
    for (const char* name : {"In-Reply-To: ", "References: "}) {
      std::string value;
      for (int k = 0, n = static_cast<int>(rng() % 60); k < n; ++k) value += pieces[rng() % std::size(pieces)];
      for (char& c : value)
        if (c == '\r' || c == '\n') c = ' ';
      headers += name + value + "\r\n";
    }
    auto m = parse_message(headers + "Subject: x\r\n\r\nbody\r\n", MimeLimits{});
    ASSERT_TRUE(m);
    std::vector<std::string> ids = referenced_message_ids(*m);
    ASSERT_LE(ids.size(), store::kMaxReplyLookups);
    for (size_t a = 0; a < ids.size(); ++a) {
      ASSERT_FALSE(ids[a].empty());
      ASSERT_LE(ids[a].size(), store::kMaxMessageIdBytes);
      ASSERT_EQ(ids[a].find_first_of("<>"), std::string::npos) << ids[a];
      for (size_t b = a + 1; b < ids.size(); ++b) ASSERT_NE(ids[a], ids[b]);
    }
    found += ids.size();
  }
  EXPECT_GT(found, 0u) << "the pieces make ids now and then";
}

TEST(FilterPartsTest, ReplyContributionTakesWhatTheSenderMemoryLeft) {
  EXPECT_DOUBLE_EQ(reply_contribution(0).score, -kMemoryMaxPoints);
  EXPECT_DOUBLE_EQ(reply_contribution(-2.0).score, -2.0);
  EXPECT_DOUBLE_EQ(reply_contribution(-4.0).score, 0.0);
  EXPECT_EQ(reply_contribution(0).id, kReplyToSentId);
  EXPECT_EQ(reply_contribution(0).kind, ContributionKind::kClassifier);
}

TEST_F(FilterClassifierTest, ReplyToAMessageSentFromHereTakesPointsOff) {
  Filter& filter = *filter_;
  ASSERT_TRUE(store::remember_submission(*store_, "<quote-7731@ours.example>", {}, unix_now_ms()).is_ok());
  auto reply = [](const std::string& threading) {
    return msg(kGoodHeaders + threading + "Subject: Re: your quote\r\n",
               "Thanks, we accept the quote. To be removed from our list reply with remove in the subject\r\n");
  };
  // The classifier has learned nothing (it abstains): the reply memory speaks anyway.
  Verdict known = filter.scan(reply("In-Reply-To: <quote-7731@ours.example>\r\n"), {}, {});
  const Contribution* c = known.find(std::string(kReplyToSentId));
  ASSERT_NE(c, nullptr) << known.to_text();
  EXPECT_DOUBLE_EQ(c->score, -kMemoryMaxPoints);
  Verdict thread = filter.scan(reply("References: <quote-7731@ours.example> <x@partner.example>\r\n"), {}, {});
  EXPECT_TRUE(thread.has(std::string(kReplyToSentId))) << "found in References too";
  Verdict stranger = filter.scan(reply("In-Reply-To: <guess-1@ours.example>\r\n"), {}, {});
  EXPECT_FALSE(stranger.has(std::string(kReplyToSentId)));
  EXPECT_DOUBLE_EQ(known.score, stranger.score - kMemoryMaxPoints);
  // filter.sender_memory = no (or the domain's setting) drops it with the sender memory.
  Analysis an = filter.analyse(reply("In-Reply-To: <quote-7731@ours.example>\r\n"), {});
  Policy off;
  off.domain.sender_memory = false;
  Verdict judged = decide(an, off);
  EXPECT_FALSE(judged.has(std::string(kReplyToSentId)));
  EXPECT_DOUBLE_EQ(judged.score, stranger.score);
}

// ---- correspondent memory (session 12) ----

TEST(FilterPartsTest, CorrespondentContributionTakesAtMostItsShareOfWhatIsLeft) {
  EXPECT_DOUBLE_EQ(correspondent_contribution(0).score, -kCorrespondentMaxPoints);
  EXPECT_DOUBLE_EQ(correspondent_contribution(-1.0).score, -kCorrespondentMaxPoints);
  EXPECT_DOUBLE_EQ(correspondent_contribution(-3.0).score, -(kMemoryMaxPoints - 3.0));
  EXPECT_DOUBLE_EQ(correspondent_contribution(-kMemoryMaxPoints).score, 0.0);
  EXPECT_EQ(correspondent_contribution(0).id, kCorrespondentKnownId);
  EXPECT_EQ(correspondent_contribution(0).kind, ContributionKind::kClassifier);
  EXPECT_LT(kCorrespondentMaxPoints, kMemoryMaxPoints) << "an address is easier to forge than an id to guess";
}

TEST(FilterPartsTest, CorrespondentNeedsAnEnvelopeAlignedWithFrom) {
  auto eligible = [](const std::string& from, const std::string& mail_from) {
    auto m = parse_message(from + "Subject: x\r\n\r\nbody\r\n", MimeLimits{});
    EXPECT_TRUE(m);
    SmtpEnvelope env;
    env.mail_from = mail_from;
    return correspondent_eligible(*m, env);
  };
  const std::string from = "From: Buyer <buyer@customer.example>\r\n";
  EXPECT_TRUE(eligible(from, "buyer@customer.example"));
  EXPECT_TRUE(eligible(from, "bounce-77@mail.customer.example")) << "a subdomain of the From domain";
  EXPECT_TRUE(eligible("From: buyer@eu.customer.example\r\n", "buyer@customer.example")) << "or its parent";
  EXPECT_TRUE(eligible("From: buyer@CUSTOMER.example\r\n", "Buyer@customer.EXAMPLE"));
  EXPECT_FALSE(eligible(from, "buyer@customer.example.evil.example"));
  EXPECT_FALSE(eligible(from, "mailer@bulk.example"));
  EXPECT_FALSE(eligible(from, "")) << "the null path (a bounce)";
  EXPECT_FALSE(eligible(from, "no-domain"));
  EXPECT_FALSE(eligible("", "buyer@customer.example")) << "no From";
}

TEST_F(FilterClassifierTest, MailFromAnAddressWrittenToTakesPointsOff) {
  Filter& filter = *filter_;
  const std::vector<std::string> rcpts = {"buyer@customer.example"};
  ASSERT_TRUE(store::remember_submission(*store_, "<quote-88@ours.example>", rcpts, unix_now_ms()).is_ok());
  auto mail = [](const std::string& from, const std::string& threading = "") {
    return msg("From: " + from + "\r\nTo: bob@ours.example\r\nDate: Mon, 6 Jan 2025 10:00:00 +0900\r\n"
               "Message-ID: <20250106.9@customer.example>\r\nMIME-Version: 1.0\r\n" + threading +
               "Subject: Order\r\n",
               "We would like to order. To be removed from our list reply with remove in the subject\r\n");
  };
  auto envelope = [](const std::string& mail_from) {
    SmtpEnvelope env;
    env.mail_from = mail_from;
    return env;
  };
  // The classifier has learned nothing (it abstains): the memory speaks anyway.
  Verdict known = filter.scan(mail("Buyer <Buyer@customer.example>"), envelope("buyer@customer.example"), {});
  const Contribution* c = known.find(kCorrespondentKnownId);
  ASSERT_NE(c, nullptr) << known.to_text();
  EXPECT_DOUBLE_EQ(c->score, -kCorrespondentMaxPoints);
  EXPECT_EQ(c->detail.find("buyer"), std::string::npos) << "the detail names no address";
  Verdict stranger = filter.scan(mail("Ceo <ceo@customer.example>"), envelope("ceo@customer.example"), {});
  EXPECT_FALSE(stranger.has(kCorrespondentKnownId));
  EXPECT_DOUBLE_EQ(known.score, stranger.score - kCorrespondentMaxPoints);
  // The same From with an envelope of another domain, the null path, or none (filter scan
  // without --mail-from) is not vouched for.
  for (const char* mf : {"buyer@bulk-sender.example", ""})
    EXPECT_FALSE(filter.scan(mail("buyer@customer.example"), envelope(mf), {}).has(kCorrespondentKnownId)) << mf;
  // With the reply memory the two share kMemoryMaxPoints.
  Verdict reply = filter.scan(mail("buyer@customer.example", "In-Reply-To: <quote-88@ours.example>\r\n"),
                              envelope("buyer@customer.example"), {});
  ASSERT_TRUE(reply.has(kReplyToSentId)) << reply.to_text();
  EXPECT_DOUBLE_EQ(reply.find(kReplyToSentId)->score + reply.find(kCorrespondentKnownId)->score, -kMemoryMaxPoints);
  // filter.sender_memory = no (or the domain's setting) drops it with the other memories.
  Analysis an = filter.analyse(mail("buyer@customer.example"), envelope("buyer@customer.example"));
  Policy off;
  off.domain.sender_memory = false;
  Verdict judged = decide(an, off);
  EXPECT_FALSE(judged.has(kCorrespondentKnownId));
  EXPECT_DOUBLE_EQ(judged.score, stranger.score);
}

// ---- SPF (session 13): smtpd's result as the filter reads it ----

TEST(FilterPartsTest, SpfResultNamesRoundTrip) {
  for (SpfResult r : {SpfResult::kNone, SpfResult::kNeutral, SpfResult::kPass, SpfResult::kFail,
                      SpfResult::kSoftFail, SpfResult::kTempError, SpfResult::kPermError}) {
    auto back = parse_spf_result(spf_result_name(r));
    ASSERT_TRUE(back.has_value()) << spf_result_name(r);
    EXPECT_EQ(*back, r);
  }
  EXPECT_EQ(parse_spf_result("SoftFail"), SpfResult::kSoftFail);
  EXPECT_EQ(spf_result_name(SpfResult::kNotChecked), "");
  EXPECT_FALSE(parse_spf_result(""));
  EXPECT_FALSE(parse_spf_result("passed"));
}

TEST_F(FilterTest, SpfFailScoresAndForgedFromDomainMore) {
  const std::string raw = msg(kGoodHeaders + "Subject: Invoice\r\n", "Please find the invoice below.\r\n");
  auto env = [](const std::string& mail_from, SpfResult spf, bool helo = false) {
    SmtpEnvelope e;
    e.mail_from = mail_from;
    e.spf = spf;
    e.spf_helo = helo;
    return e;
  };
  Verdict unchecked = scan(raw, env("bounce@partner.example", SpfResult::kNotChecked));
  for (const char* id : {"SPF_FAIL", "SPF_SOFTFAIL", "SPF_FAIL_FROM_DOMAIN"}) EXPECT_FALSE(unchecked.has(id)) << id;
  for (SpfResult r : {SpfResult::kPass, SpfResult::kNone, SpfResult::kNeutral, SpfResult::kTempError,
                      SpfResult::kPermError}) {
    Verdict v = scan(raw, env("bounce@partner.example", r));
    EXPECT_DOUBLE_EQ(v.score, unchecked.score) << spf_result_name(r) << v.to_text();
  }
  // The From domain itself (alice@partner.example; the envelope in a subdomain) fails.
  Verdict forged = scan(raw, env("bounce@mail.partner.example", SpfResult::kFail));
  ASSERT_TRUE(forged.has("SPF_FAIL")) << forged.to_text();
  ASSERT_TRUE(forged.has("SPF_FAIL_FROM_DOMAIN")) << forged.to_text();
  EXPECT_DOUBLE_EQ(forged.score, unchecked.score + 3.5) << forged.to_text();
  EXPECT_EQ(forged.action, Action::kDeliver) << "a forged From alone is not Junk: forwarding breaks SPF";
  // Another domain of the envelope fails: the From is not the one shown as forged.
  Verdict other = scan(raw, env("list@bulk.example", SpfResult::kFail));
  EXPECT_TRUE(other.has("SPF_FAIL"));
  EXPECT_FALSE(other.has("SPF_FAIL_FROM_DOMAIN"));
  // A bounce's HELO name failed: SPF_FAIL, but the From was not what was checked.
  Verdict bounce = scan(raw, env("", SpfResult::kFail, /*helo=*/true));
  EXPECT_TRUE(bounce.has("SPF_FAIL"));
  EXPECT_FALSE(bounce.has("SPF_FAIL_FROM_DOMAIN"));
  Verdict soft = scan(raw, env("bounce@partner.example", SpfResult::kSoftFail));
  EXPECT_TRUE(soft.has("SPF_SOFTFAIL"));
  EXPECT_DOUBLE_EQ(soft.score, unchecked.score + 0.5);
  // With a lure on top, the forged From goes to Junk.
  Verdict phish = scan(msg(kGoodHeaders + "Subject: Account suspended - verify now\r\n",
                           "Your account has been suspended. Please verify your account and password "
                           "within 24 hours or it will be closed.\r\n"),
                       env("alice@partner.example", SpfResult::kFail));
  EXPECT_EQ(phish.action, Action::kJunk) << phish.to_text();
}

TEST(FilterPartsTest, CorrespondentWithSpfPassMayTakeTheWholeBudget) {
  EXPECT_DOUBLE_EQ(correspondent_contribution(0, /*spf_pass=*/true).score, -kCorrespondentSpfPassMaxPoints);
  EXPECT_DOUBLE_EQ(correspondent_contribution(-3.0, true).score, -(kMemoryMaxPoints - 3.0));
  EXPECT_GT(kCorrespondentSpfPassMaxPoints, kCorrespondentMaxPoints);
  EXPECT_LE(kCorrespondentSpfPassMaxPoints, kMemoryMaxPoints);
  EXPECT_NE(correspondent_contribution(0, true).detail.find("SPF"), std::string::npos);
  // SPF fail or softfail for the envelope sender: not eligible, however aligned.
  auto m = parse_message("From: buyer@customer.example\r\nSubject: x\r\n\r\nbody\r\n", MimeLimits{});
  ASSERT_TRUE(m);
  SmtpEnvelope env;
  env.mail_from = "buyer@customer.example";
  EXPECT_TRUE(correspondent_eligible(*m, env));
  for (SpfResult r : {SpfResult::kFail, SpfResult::kSoftFail}) {
    env.spf = r;
    EXPECT_FALSE(correspondent_eligible(*m, env)) << spf_result_name(r);
  }
  for (SpfResult r : {SpfResult::kPass, SpfResult::kNeutral, SpfResult::kNone, SpfResult::kTempError}) {
    env.spf = r;
    EXPECT_TRUE(correspondent_eligible(*m, env)) << spf_result_name(r);
  }
}

TEST_F(FilterClassifierTest, CorrespondentWithSpfPassTakesMorePoints) {
  const std::vector<std::string> rcpts = {"buyer@customer.example"};
  ASSERT_TRUE(store::remember_submission(*store_, "", rcpts, unix_now_ms()).is_ok());
  const std::string raw = msg("From: buyer@customer.example\r\nTo: bob@ours.example\r\n"
                              "Date: Mon, 6 Jan 2025 10:00:00 +0900\r\nMessage-ID: <x.1@customer.example>\r\n"
                              "Subject: Order\r\n",
                              "One more question about the desks.\r\n");
  SmtpEnvelope env;
  env.mail_from = "buyer@customer.example";
  Verdict plain = filter_->scan(raw, env, {});
  ASSERT_TRUE(plain.has(kCorrespondentKnownId)) << plain.to_text();
  EXPECT_DOUBLE_EQ(plain.find(kCorrespondentKnownId)->score, -kCorrespondentMaxPoints);
  env.spf = SpfResult::kPass;
  Verdict passed = filter_->scan(raw, env, {});
  ASSERT_TRUE(passed.has(kCorrespondentKnownId)) << passed.to_text();
  EXPECT_DOUBLE_EQ(passed.find(kCorrespondentKnownId)->score, -kCorrespondentSpfPassMaxPoints);
  env.spf = SpfResult::kFail;
  Verdict failed = filter_->scan(raw, env, {});
  EXPECT_FALSE(failed.has(kCorrespondentKnownId)) << failed.to_text();
  EXPECT_TRUE(failed.has("SPF_FAIL_FROM_DOMAIN")) << failed.to_text();
}

// ---- building blocks ----

TEST(FilterPartsTest, RuleTokensComeFromTheVerdictsRulesAndMetas) {
  Verdict v;
  v.add({"URL_IP_LITERAL", 3.0, "", "", ContributionKind::kRule});
  v.add({"PHISH_COMBO", 3.0, "", "", ContributionKind::kMeta});
  v.add({"BAYES", 8.0, "", "", ContributionKind::kClassifier});
  v.add({"POLICY_BLOCKED_ATTACHMENT", 0, "", "", ContributionKind::kPolicy});
  ClassifierInput in;
  add_rule_tokens(v, in);
  EXPECT_EQ(in.extras, (std::vector<std::string>{"rule:URL_IP_LITERAL", "rule:PHISH_COMBO"}));
}

TEST(FilterPartsTest, UrlHostAndBaseDomain) {
  EXPECT_EQ(url_host("https://user@Host.Example:8080/x?y"), "host.example");
  EXPECT_EQ(url_host("http://[2001:db8::1]/"), "[2001:db8::1]");
  EXPECT_EQ(url_host("www.example.com/path"), "www.example.com");
  EXPECT_EQ(url_host("mailto:a@b.example"), "");
  EXPECT_EQ(base_domain("a.b.example.com"), "example.com");
  EXPECT_EQ(base_domain("www.shop.example.co.jp"), "example.co.jp");
  EXPECT_EQ(base_domain("example.com"), "example.com");
  EXPECT_EQ(host_in_text("Log in at www.PayPal.com now"), "www.paypal.com");
  EXPECT_EQ(host_in_text("https://bank.example/login"), "bank.example");
  EXPECT_EQ(host_in_text("Click here"), "");
  EXPECT_EQ(host_in_text("see invoice.pdf"), "");
}

TEST(FilterPartsTest, HtmlScopeGetsEachHtmlPartDecoded) {
  // One HTML part in base64, one in quoted-printable (=3D for '=', a soft line break inside
  // a tag), and a plain part: the html scope gets the two HTML parts' markup with the
  // transfer encoding undone, the raw body keeps the encoded form.
  std::string b64 = base64_encode("<html><body><font color=\"red\">Sale</font></body></html>");
  auto m = parse_message(
      "From: a@shop.example\r\nSubject: s\r\nMIME-Version: 1.0\r\n"
      "Content-Type: multipart/mixed; boundary=\"b\"\r\n\r\n"
      "--b\r\nContent-Type: text/plain\r\n\r\nplain words <font color=\"red\">\r\n"
      "--b\r\nContent-Type: text/html; charset=utf-8\r\nContent-Transfer-Encoding: base64\r\n\r\n" +
      b64 +
      "\r\n--b\r\nContent-Type: text/html\r\nContent-Transfer-Encoding: quoted-printable\r\n\r\n"
      "<p><a href=3D\"http://shop.example/\" tar=\r\nget=3D\"_blank\">Go</a></p>\r\n--b--\r\n");
  ASSERT_TRUE(m);
  ScanInput in = build_scan_input(m.value());
  ASSERT_EQ(in.html.size(), 2u);
  EXPECT_EQ(in.html[0], "<html><body><font color=\"red\">Sale</font></body></html>");
  EXPECT_NE(in.html[1].find("<a href=\"http://shop.example/\" target=\"_blank\">"), std::string_view::npos)
      << in.html[1];
  ASSERT_EQ(in.rawbody.size(), 1u);
  EXPECT_EQ(in.rawbody[0].find("<font color=\"red\">Sale"), std::string_view::npos);  // still base64 there
  EXPECT_NE(in.rawbody[0].find("href=3D"), std::string_view::npos);
}

TEST_F(FilterTest, HtmlRulesSeeThroughTransferEncoding) {
  // HTML_FONT_COLOR_SHOUT reads the html scope: a base64-encoded part cannot hide the markup,
  // and the same markup as text in a plain part is not HTML.
  std::string html = "<html><body><font color=\"#FF0000\" size=\"5\">BIG SALE</font></body></html>";
  Verdict v = scan(msg(kGoodHeaders + "Subject: News\r\nContent-Type: text/html; charset=utf-8\r\n"
                                      "Content-Transfer-Encoding: base64\r\n",
                       base64_encode(html) + "\r\n"));
  EXPECT_TRUE(v.has("HTML_FONT_COLOR_SHOUT")) << v.to_text();
  Verdict plain = scan(msg(kGoodHeaders + "Subject: News\r\nContent-Type: text/plain\r\n", html + "\r\n"));
  EXPECT_FALSE(plain.has("HTML_FONT_COLOR_SHOUT")) << plain.to_text();
}

TEST(FilterPartsTest, HeaderNameCaseForged) {
  auto forged = [](const std::string& fields) {
    auto m = parse_message(fields + "\r\nbody\r\n");
    EXPECT_TRUE(m);
    return m && header_name_case_forged(m.value());
  };
  // What mail programs write: canonical, capitalised words, lower case, capitals.
  EXPECT_FALSE(forged("From: a@b.example\r\nMIME-Version: 1.0\r\nMessage-ID: <x@b.example>\r\n"));
  EXPECT_FALSE(forged("from: a@b.example\r\nMime-Version: 1.0\r\nMessage-Id: <x@b.example>\r\n"
                      "Content-type: text/plain\r\nCONTENT-TRANSFER-ENCODING: 7bit\r\nMIME-version: 1.0\r\n"));
  // Other fields may be cased as their inventors like.
  EXPECT_FALSE(forged("From: a@b.example\r\nX-MimeOLE: Produced By Microsoft MimeOLE\r\n"
                      "X-OriginalArrivalTime: 06 Jan 2025\r\nDKIM-Signature: v=1\r\n"));
  // A capital inside a lower-case word of a standard field's name.
  EXPECT_TRUE(forged("From: a@b.example\r\nMiME-Version: 1.0\r\n"));
  EXPECT_TRUE(forged("SuBject: hello\r\nFrom: a@b.example\r\n"));
  EXPECT_TRUE(forged("From: a@b.example\r\nMessage-iD: <x@b.example>\r\n"));
}

TEST(FilterPartsTest, InlineTextPartIsReadByRulesNotByTheClassifiersBodyTokens) {
  // A letter sent as "Content-Disposition: inline; filename=..." with no other text: the rules'
  // body scope reads it (mime_body_scope_test.cc), the classifier's body tokens leave it out.
  auto m = parse_message(
      "From: A <a@b.example>\r\nSubject: Re: your account\r\nContent-Type: text/html\r\n"
      "Content-Disposition: inline; filename=\"filename.html\"\r\n\r\n"
      "<html><body>Dear Friend, start your own business today.</body></html>\r\n");
  ASSERT_TRUE(m);
  ScanInput scan = build_scan_input(m.value());
  ASSERT_EQ(scan.body.size(), 1u);
  EXPECT_NE(scan.body[0].find("Dear Friend, start your own business"), std::string_view::npos);
  ClassifierInput in = build_classifier_input(m.value());
  EXPECT_EQ(in.body, "");
  // A plain part before it: that text stays in the classifier's body, the inline part does not.
  auto two = parse_message(
      "From: A <a@b.example>\r\nSubject: x\r\nContent-Type: multipart/mixed; boundary=m\r\n\r\n"
      "--m\r\nContent-Type: text/plain\r\n\r\nSee below.\r\n"
      "--m\r\nContent-Type: text/plain\r\nContent-Disposition: inline; filename=a.txt\r\n\r\n"
      "Dear Friend, earn cash.\r\n--m--\r\n");
  ASSERT_TRUE(two);
  EXPECT_EQ(two->body_text, "See below.\nDear Friend, earn cash.");
  EXPECT_EQ(build_classifier_input(two.value()).body, "See below.");
}

TEST(FilterPartsTest, ClassifierInputFromParsedMessage) {
  auto m = parse_message(
      "Received: from relay.isp.example by mx.ours.example\r\nX-Virus-Scanned: by scanner\r\n"
      "From: A <a@shop.example>\r\nX-Mailer: Mass Sender 1.0\r\nX-Spam-Status: Yes\r\n"
      "List-Id: Deals <deals.shop.example>\r\n"
      "Subject: Deals\r\nContent-Type: text/html\r\n\r\n"
      "<html><body><font color=red>Deals</font> <a href=\"http://www.shop.example/x\">go</a></body></html>\r\n");
  ASSERT_TRUE(m);
  ClassifierInput in = build_classifier_input(m.value());
  auto has_extra = [&](const std::string& x) {
    return std::find(in.extras.begin(), in.extras.end(), x) != in.extras.end();
  };
  EXPECT_TRUE(has_extra("hn:x-mailer"));
  EXPECT_FALSE(has_extra("hn:x-spam-status"));  // another filter's verdict is not evidence
  EXPECT_FALSE(has_extra("hn:received"));        // trace fields describe our own side
  EXPECT_FALSE(has_extra("hn:x-virus-scanned"));
  EXPECT_FALSE(has_extra("hn:list-id"));         // a list field gives no token at all...
  EXPECT_TRUE(has_extra("tag:font"));
  EXPECT_TRUE(has_extra("urlhost:shop.example"));
  EXPECT_TRUE(has_extra("fromdomain:shop.example"));
  ASSERT_EQ(in.urls.size(), 1u);
  EXPECT_EQ(in.subject, "Deals");
  bool mailer = false, list_value = false, received_value = false;
  for (const auto& [n, v] : in.headers) {
    mailer = mailer || (n == "x-mailer" && v == "Mass Sender 1.0");
    list_value = list_value || n == "list-id";
    received_value = received_value || n == "received";
  }
  EXPECT_TRUE(mailer);
  EXPECT_FALSE(list_value);      // ...nor by its value
  EXPECT_FALSE(received_value);
}

TEST(FilterPartsTest, ClassifierTagTokensReadBase64Html) {
  // "<html><body><center><font size=5>Deals</font></center></body></html>" in base64: the
  // raw body shows no markup, the decoded part does.
  const std::string html = "<html><body><center><font size=5>Deals</font></center></body></html>";
  auto m = parse_message(
      "From: A <a@shop.example>\r\nSubject: Deals\r\nMIME-Version: 1.0\r\n"
      "Content-Type: text/html\r\nContent-Transfer-Encoding: base64\r\n\r\n" +
      base64_encode(html) + "\r\n");
  ASSERT_TRUE(m);
  ASSERT_EQ(m->raw_body().find('<'), std::string_view::npos);
  ClassifierInput in = build_classifier_input(m.value());
  auto has_extra = [&](const std::string& x) {
    return std::find(in.extras.begin(), in.extras.end(), x) != in.extras.end();
  };
  EXPECT_TRUE(has_extra("tag:center"));
  EXPECT_TRUE(has_extra("tag:font"));
  EXPECT_FALSE(has_extra("tag:deals"));  // text between tags is not a tag
  // Each tag name counts once however often it appears.
  EXPECT_EQ(std::count(in.extras.begin(), in.extras.end(), std::string("tag:font")), 1);
}

TEST(FilterPartsTest, ClassifierInputLeavesOutTheListFooter) {
  const std::string head = "From: Poster <p@home.example>\r\nSubject: Question\r\n";
  const std::string body =
      "\r\nHas anyone tried http://tools.home.example/build on Solaris?\r\n"
      "_______________________________________________\r\n"
      "Talk mailing list\r\nhttps://lists.example.net/listinfo/talk\r\n";
  auto m = parse_message(head +
                         "List-Id: Talk <talk.lists.example.net>\r\n"
                         "List-Unsubscribe: <https://lists.example.net/listinfo/talk>\r\n" +
                         body);
  ASSERT_TRUE(m);
  ClassifierInput in = build_classifier_input(m.value());
  EXPECT_EQ(in.body.find("mailing list"), std::string_view::npos);
  EXPECT_NE(in.body.find("Solaris"), std::string_view::npos);
  ASSERT_EQ(in.urls.size(), 1u);  // the post's link stays, the footer's goes
  EXPECT_EQ(in.urls[0], "http://tools.home.example/build");
  EXPECT_EQ(std::find(in.extras.begin(), in.extras.end(), "urlhost:example.net"), in.extras.end());
  // The same text without list fields is a message like any other: nothing left out.
  auto plain = parse_message(head + body);
  ASSERT_TRUE(plain);
  ClassifierInput all = build_classifier_input(plain.value());
  EXPECT_NE(all.body.find("mailing list"), std::string_view::npos);
  EXPECT_EQ(all.urls.size(), 2u);
}

TEST(FilterPartsTest, ListFieldsGiveNoPresenceTokens) {
  auto m = parse_message(
      "From: Poster <p@home.example>\r\nSubject: Question\r\nX-Mailer: Mutt\r\n"
      "List-Id: Talk <talk.lists.example.net>\r\nList-Post: <mailto:talk@lists.example.net>\r\n"
      "Precedence: list\r\nSender: talk-admin@lists.example.net\r\nX-BeenThere: talk@lists.example.net\r\n"
      "X-Mailman-Version: 2.0\r\nErrors-To: talk-admin@lists.example.net\r\nX-Loop: talk\r\n\r\nBody\r\n");
  ASSERT_TRUE(m);
  ClassifierInput in = build_classifier_input(m.value());
  for (const char* gone : {"hn:list-id", "hn:list-post", "hn:precedence", "hn:sender", "hn:x-beenthere",
                           "hn:x-mailman-version", "hn:errors-to", "hn:x-loop"})
    EXPECT_EQ(std::find(in.extras.begin(), in.extras.end(), gone), in.extras.end()) << gone;
  for (const char* kept : {"hn:from", "hn:subject", "hn:x-mailer"})
    EXPECT_NE(std::find(in.extras.begin(), in.extras.end(), kept), in.extras.end()) << kept;
}

TEST(FilterPartsTest, ClassifierInputNamesTheScriptsOfTheText) {
  // Big5 (undeclared charsets are guessed too; here declared): 免費廣告 repeated.
  std::string big5 = "\xa7\x4b\xb6\x4f\xbc\x73\xa7\x69";
  std::string text;
  for (int i = 0; i < 8; ++i) text += big5;
  auto m = parse_message("From: a@b.example\r\nSubject: x\r\nContent-Type: text/plain; charset=big5\r\n\r\n" +
                         text + " http://ad.example/\r\n");
  ASSERT_TRUE(m);
  ClassifierInput in = build_classifier_input(m.value());
  EXPECT_NE(std::find(in.extras.begin(), in.extras.end(), "script:han"), in.extras.end());
  auto en = parse_message("From: a@b.example\r\nSubject: x\r\n\r\nAn ordinary English sentence or two.\r\n");
  ASSERT_TRUE(en);
  ClassifierInput ein = build_classifier_input(en.value());
  EXPECT_EQ(std::count_if(ein.extras.begin(), ein.extras.end(),
                          [](const std::string& x) { return x.starts_with("script:"); }),
            0);
}

TEST(FilterPartsTest, LinkTextHostMismatch) {
  Link l;
  l.source = LinkSource::kHtmlAnchor;
  l.href = "http://evil.example/paypal";
  l.text = "www.paypal.com";
  EXPECT_TRUE(link_text_host_mismatch(l));
  l.href = "https://www.paypal.com/signin";
  EXPECT_FALSE(link_text_host_mismatch(l));
  l.href = "https://click.mail.paypal.com/t/1";  // same base domain: tracking links are fine
  EXPECT_FALSE(link_text_host_mismatch(l));
  l.text = "Read more";
  l.href = "http://evil.example/";
  EXPECT_FALSE(link_text_host_mismatch(l));
  l.text = "Visit PayPal.com today";  // a name in prose, not an address
  EXPECT_FALSE(link_text_host_mismatch(l));
  l.text = "paypal.com";  // no scheme or www.: newsletters link their own name via trackers
  EXPECT_FALSE(link_text_host_mismatch(l));
  l.text = "HTTPS://www.paypal.com/signin";
  EXPECT_TRUE(link_text_host_mismatch(l));
  l.text = "www.paypal.com";
  l.source = LinkSource::kPlainText;
  EXPECT_FALSE(link_text_host_mismatch(l));
}

// Round 9: a click tracker forwards to the host the text names; each link is judged alone.
TEST(FilterPartsTest, LinkTextHostMismatchSparesClickTrackers) {
  Link l;
  l.source = LinkSource::kHtmlAnchor;
  l.text = "www.shop.example";
  for (const char* tracker : {
           "http://clickthru.mailhouse.example/Click?q=39-7QgMIjI6kxw3FhUCG",
           "http://emaserver.mailhouse.example/shop/www/r?1000023044.484.5.xzkMw",
           "http://www.mailhouse.example/mm/Clickthrough/23317062/uBn6/*http://www.shop.example",
           "http://t.esp.example/x/y?u=https%3A%2F%2Fwww.shop.example%2Fsale",
           "http://links.esp.example/track.php/abc?id=7",
           "http://links.esp.example/trk/9f8e",
       }) {
    l.href = tracker;
    EXPECT_FALSE(link_text_host_mismatch(l)) << tracker;
    EXPECT_TRUE(click_tracker_href(tracker, "www.shop.example")) << tracker;
  }
  for (const char* straight : {
           "http://evil.example/login",
           "http://evil.example/click",                              // the last step, no id or query
           "http://evil.example/clicker?x=1",                        // not a click step
           "http://evil.example/login?next=http://www.bank.example",  // the destination is another host
           "http://evil.example/a?ref=https%3A%2F%2Fwww.bank.example",
       }) {
    l.href = straight;
    EXPECT_TRUE(link_text_host_mismatch(l)) << straight;
  }
  // Limits: the ninth written destination is not read, nor a host beyond kClickTrackerScanBytes.
  std::string many = "http://t.esp.example/x";
  for (size_t i = 0; i < kClickTrackerMaxDests; ++i) many += "/http://other" + std::to_string(i) + ".example";
  EXPECT_FALSE(click_tracker_href(many + "/http://www.shop.example", "www.shop.example"));
  EXPECT_TRUE(click_tracker_href("http://t.esp.example/x/http://www.shop.example", "www.shop.example"));
  EXPECT_FALSE(click_tracker_href("http://t.esp.example/" + std::string(kClickTrackerScanBytes, 'a') +
                                      "/http://www.shop.example",
                                  "www.shop.example"));
  EXPECT_FALSE(click_tracker_href("http://evil.example", "www.shop.example"));  // no path at all
  EXPECT_FALSE(click_tracker_href("not a url", "www.shop.example"));
}

}  // namespace
}  // namespace tsubame::filter
