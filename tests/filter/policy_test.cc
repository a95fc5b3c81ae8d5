// tests/filter/policy_test.cc: every policy action, the allow-list forgery check, sender
// lists, attachment blocking, and the data-loss checks (Luhn, My Number check digit).
#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

#include "filter/policy.h"
#include "filter/verdict.h"

namespace tsubame::filter {
namespace {

// ---- Luhn and My Number ----

TEST(DlpTest, Luhn) {
  EXPECT_TRUE(luhn_valid("79927398713"));       // the textbook example
  EXPECT_FALSE(luhn_valid("79927398710"));
  EXPECT_TRUE(luhn_valid("4111111111111111"));  // Visa test number
  EXPECT_FALSE(luhn_valid("4111111111111112"));
  EXPECT_TRUE(luhn_valid("378282246310005"));   // Amex test number
  EXPECT_TRUE(luhn_valid("3530111333300000"));  // JCB test number
  EXPECT_FALSE(luhn_valid(""));
  EXPECT_FALSE(luhn_valid("4111-1111"));
}

TEST(DlpTest, MyNumberCheckDigit) {
  // 1 2 3 4 5 6 7 8 9 0 1: sum of P*Q = 212, 212 mod 11 = 3, check digit 11 - 3 = 8.
  EXPECT_TRUE(my_number_valid("123456789018"));
  for (char d = '0'; d <= '9'; ++d) {
    if (d == '8') continue;
    EXPECT_FALSE(my_number_valid(std::string("12345678901") + d)) << d;
  }
  // Remainder 0 or 1 gives check digit 0: 00000000000 -> sum 0 -> 0.
  EXPECT_TRUE(my_number_valid("000000000000"));
  // 10000000000x: P11 = 1, Q11 = 6, sum 6, 11 - 6 = 5.
  EXPECT_TRUE(my_number_valid("100000000005"));
  EXPECT_FALSE(my_number_valid("12345678901"));   // 11 digits
  EXPECT_FALSE(my_number_valid("1234567890180"));  // 13 digits
}

TEST(DlpTest, CardPrefixes) {
  EXPECT_TRUE(card_prefix_known("4111111111111111"));
  EXPECT_TRUE(card_prefix_known("5555555555554444"));
  EXPECT_TRUE(card_prefix_known("378282246310005"));
  EXPECT_TRUE(card_prefix_known("3530111333300000"));
  EXPECT_FALSE(card_prefix_known("1234567812345670"));  // Luhn-valid, no issuer
  EXPECT_FALSE(card_prefix_known("411111111111"));      // too short
}

TEST(DlpTest, FindsNumbersInText) {
  DlpOptions opt;
  auto m = find_sensitive_numbers("card: 4111 1111 1111 1111, exp 12/29", opt);
  ASSERT_EQ(m.size(), 1u);
  EXPECT_EQ(m[0].kind, "payment-card");
  EXPECT_EQ(m[0].masked, "************1111");

  m = find_sensitive_numbers("マイナンバー：１２３４－５６７８－９０１８です", opt);
  ASSERT_EQ(m.size(), 1u) << "full-width digits and hyphens";
  EXPECT_EQ(m[0].kind, "my-number");
  EXPECT_EQ(m[0].masked, "********9018");

  m = find_sensitive_numbers("My Number 1234 5678 9018 and card 5555-5555-5555-4444", opt);
  ASSERT_EQ(m.size(), 2u);

  // Not matches: Luhn-invalid, wrong check digit, glued to letters, phone numbers.
  EXPECT_TRUE(find_sensitive_numbers("4111 1111 1111 1112", opt).empty());
  EXPECT_TRUE(find_sensitive_numbers("ref 123456789012", opt).empty());
  EXPECT_TRUE(find_sensitive_numbers("order INV4111111111111111", opt).empty());
  EXPECT_TRUE(find_sensitive_numbers("call 03-1234-5678 or 090-1234-5678", opt).empty());

  DlpOptions off = opt;
  off.payment_cards = false;
  EXPECT_TRUE(find_sensitive_numbers("4111111111111111", off).empty());
  off.enabled = false;
  EXPECT_TRUE(find_sensitive_numbers("123456789018", off).empty());
}

// ---- sender lists and forgery ----

TEST(SenderListTest, AddressDomainAndSubdomainEntries) {
  SenderList l{{"boss@Partner.example", "vendor.example", ".group.example"}};
  EXPECT_NE(l.match("BOSS@partner.example"), nullptr);
  EXPECT_EQ(l.match("other@partner.example"), nullptr);
  EXPECT_NE(l.match("anyone@vendor.example"), nullptr);
  EXPECT_EQ(l.match("anyone@sub.vendor.example"), nullptr);
  EXPECT_NE(l.match("a@group.example"), nullptr);
  EXPECT_NE(l.match("a@mail.group.example"), nullptr);
  EXPECT_EQ(l.match("a@evilgroup.example"), nullptr);
  EXPECT_EQ(l.match(""), nullptr);
}

TEST(ForgeryTest, ReceivedParsing) {
  const char* r = "from mail.partner.example (mx1.partner.example [192.0.2.1]) by mx.ours.example "
                  "(Tsubame) with ESMTPS id 1; Mon, 1 Jan 2024 00:00:00 +0000";
  EXPECT_EQ(received_from_host(r), "mx1.partner.example");  // TCP-info beats HELO
  EXPECT_EQ(received_by_host(r), "mx.ours.example");
  EXPECT_EQ(received_from_host("from helo.example ([192.0.2.1]) by x"), "helo.example");
  EXPECT_EQ(received_from_host("by only.example"), "");
  EXPECT_TRUE(host_in_domain("mx1.partner.example", "partner.example"));
  EXPECT_TRUE(host_in_domain("Partner.Example", "partner.example"));
  EXPECT_FALSE(host_in_domain("evilpartner.example", "partner.example"));
}

TEST(ForgeryTest, AllowNeedsMatchingDomainsAndHandoffHost) {
  std::vector<std::string> trusted = {"mx.ours.example", "filter.ours.example"};
  SenderEvidence e;
  e.from_address = "boss@partner.example";
  e.envelope_sender = "bounce@partner.example";
  e.received = {
      "from mx.ours.example (mx.ours.example [10.0.0.1]) by filter.ours.example; date",
      "from out.partner.example (out.partner.example [192.0.2.7]) by mx.ours.example; date",
      "from forged.example by out.partner.example; date"};
  std::string why;
  EXPECT_TRUE(sender_not_forged(e, trusted, &why)) << why;

  SenderEvidence wrong_env = e;
  wrong_env.envelope_sender = "x@elsewhere.example";
  EXPECT_FALSE(sender_not_forged(wrong_env, trusted, &why));
  EXPECT_NE(why.find("differs"), std::string::npos);

  SenderEvidence wrong_hop = e;
  wrong_hop.received[1] = "from bot.evil.example (bot.evil.example [198.51.100.9]) by mx.ours.example";
  EXPECT_FALSE(sender_not_forged(wrong_hop, trusted, &why));

  SenderEvidence untrusted = e;  // the handoff line was not written by us
  untrusted.received = {"from out.partner.example by mx.attacker.example"};
  EXPECT_FALSE(sender_not_forged(untrusted, trusted, &why));

  SenderEvidence direct = e;  // the connecting client itself is in the domain
  direct.received.clear();
  direct.client_host = "out.partner.example";
  EXPECT_TRUE(sender_not_forged(direct, trusted, &why));

  SenderEvidence authed = wrong_hop;
  authed.authenticated = true;
  EXPECT_TRUE(sender_not_forged(authed, trusted, &why));
}

TEST(ForgeryTest, SpfPassForAnAlignedEnvelopeIsEnough) {
  std::vector<std::string> trusted = {"mx.ours.example"};
  SenderEvidence e;
  e.from_address = "boss@partner.example";
  e.envelope_sender = "bounce@mail.partner.example";
  e.received = {"from bot.evil.example (bot.evil.example [198.51.100.9]) by mx.ours.example"};
  std::string why;
  EXPECT_FALSE(sender_not_forged(e, trusted, &why)) << "no SPF: the handoff host decides";
  e.spf_pass = true;
  EXPECT_TRUE(sender_not_forged(e, trusted, &why)) << why;
  EXPECT_NE(why.find("SPF"), std::string::npos) << why;
  // SPF passed a domain that is not the From header's: the From is still unproven.
  e.envelope_sender = "bounce@bulk.example";
  EXPECT_FALSE(sender_not_forged(e, trusted, &why));
  EXPECT_NE(why.find("differs"), std::string::npos) << why;
}

// ---- decide: each action ----

Analysis analysis_with_score(double score) {
  Analysis a;
  a.verdict.add({"SOME_RULE", score, "a rule", "", ContributionKind::kRule});
  a.size = 1000;
  a.sender.from_address = "someone@sender.example";
  a.sender.envelope_sender = "someone@sender.example";
  return a;
}

TEST(PolicyTest, ThresholdsGiveDeliverJunkQuarantineReject) {
  Policy p;
  p.domain.junk_threshold = 5;
  p.domain.quarantine_threshold = 10;
  p.domain.reject_threshold = 15;
  EXPECT_EQ(decide(analysis_with_score(4.9), p).action, Action::kDeliver);
  EXPECT_EQ(decide(analysis_with_score(5), p).action, Action::kJunk);
  EXPECT_EQ(decide(analysis_with_score(10), p).action, Action::kQuarantine);
  Verdict v = decide(analysis_with_score(15), p);
  EXPECT_EQ(v.action, Action::kReject);
  EXPECT_EQ(v.reason, "score 15.00 >= reject threshold 15.00");
  EXPECT_DOUBLE_EQ(v.score, 15);
}

// The classifier's points count toward an action only when a rule of score >= 0.5 agrees.
Analysis analysis_with_classifier(double classifier, std::vector<std::pair<std::string, double>> rules) {
  Analysis a = analysis_with_score(0);
  a.verdict = Verdict{};
  for (auto& [id, score] : rules) a.verdict.add({id, score, "a rule", "", ContributionKind::kRule});
  a.verdict.add({"BAYES", classifier, "Statistical token classifier", "p=1", ContributionKind::kClassifier});
  return a;
}

TEST(PolicyTest, ClassifierAloneDoesNotFileMailAsSpam) {
  Policy p;  // junk 5, reject 15, classifier_needs_rule on by default
  ASSERT_TRUE(p.domain.classifier_needs_rule);
  // The classifier at p = 1 with only bulk-mail markers (each below 0.5): delivered, and the
  // verdict says why, with the full score kept.
  Verdict v = decide(analysis_with_classifier(6.5, {{"BULK_UNSUB_TEXT", 0.3}, {"SPAM_CLICK_HERE", 0.3}}), p);
  EXPECT_EQ(v.action, Action::kDeliver);
  EXPECT_DOUBLE_EQ(v.score, 7.1);
  ASSERT_TRUE(v.has("POLICY_CLASSIFIER_ALONE"));
  EXPECT_EQ(v.find("POLICY_CLASSIFIER_ALONE")->detail, "the full score would have meant junk");
  EXPECT_EQ(v.reason, "score 0.60 (7.10 with the classifier, which no rule of score >= 0.50 corroborates) < junk threshold 5.00");
  // One rule of 0.5 is corroboration: the classifier's points count.
  v = decide(analysis_with_classifier(6.5, {{"BULK_UNSUB_TEXT", 0.3}, {"OFFER_NO_COST", 0.5}}), p);
  EXPECT_EQ(v.action, Action::kJunk);
  EXPECT_FALSE(v.has("POLICY_CLASSIFIER_ALONE"));
  EXPECT_EQ(v.reason, "score 7.30 >= junk threshold 5.00");
  // A meta counts as a rule.
  Analysis meta = analysis_with_classifier(6.5, {});
  meta.verdict.add({"BULK_SEVERAL", 1.0, "a meta", "", ContributionKind::kMeta});
  EXPECT_EQ(decide(meta, p).action, Action::kJunk);
  // Rules that reach a threshold by themselves decide as before.
  EXPECT_EQ(decide(analysis_with_classifier(6.5, {{"A", 0.4}, {"B", 0.4}, {"C", 0.4}, {"D", 0.4}, {"E", 0.4},
                                                  {"F", 0.4}, {"G", 0.4}, {"H", 0.4}, {"I", 0.4}, {"J", 0.4},
                                                  {"K", 0.4}, {"L", 0.4}, {"M", 0.4}}),
                   p).action,
            Action::kJunk);
  // A classifier that says ham is not set aside: it still takes points off.
  v = decide(analysis_with_classifier(-2.0, {{"A", 6.0}}), p);
  EXPECT_EQ(v.action, Action::kDeliver);
  EXPECT_EQ(v.reason, "score 4.00 < junk threshold 5.00");
  // Below the junk threshold anyway: delivered, and no policy note (nothing was changed).
  v = decide(analysis_with_classifier(3.0, {{"BULK_UNSUB_TEXT", 0.3}}), p);
  EXPECT_EQ(v.action, Action::kDeliver);
  EXPECT_FALSE(v.has("POLICY_CLASSIFIER_ALONE"));
  // Turned off (filter.classifier_needs_rule = no, or the domain's setting): as before.
  p.domain.classifier_needs_rule = false;
  v = decide(analysis_with_classifier(6.5, {{"BULK_UNSUB_TEXT", 0.3}, {"SPAM_CLICK_HERE", 0.3}}), p);
  EXPECT_EQ(v.action, Action::kJunk);
  EXPECT_EQ(v.reason, "score 7.10 >= junk threshold 5.00");
}

TEST(PolicyTest, SenderMemoryCountsUnlessTurnedOff) {
  Policy p;
  ASSERT_TRUE(p.domain.sender_memory);
  Analysis a = analysis_with_classifier(3.0, {{"OFFER_NO_COST", 3.0}});
  a.verdict.add({std::string(kSenderKnownId), -4.0, "Sender learned as ham before, never as spam",
                 "From address via 203.0/16: learned 9 ham, 0 spam", ContributionKind::kClassifier});
  Verdict v = decide(a, p);
  EXPECT_EQ(v.action, Action::kDeliver);
  EXPECT_DOUBLE_EQ(v.score, 2.0);
  EXPECT_TRUE(v.has(kSenderKnownId));
  // Off (filter.sender_memory = no, or the domain's setting): the contribution and its points go.
  p.domain.sender_memory = false;
  v = decide(a, p);
  EXPECT_EQ(v.action, Action::kJunk);
  EXPECT_DOUBLE_EQ(v.score, 6.0);
  EXPECT_FALSE(v.has(kSenderKnownId));
  EXPECT_EQ(v.reason, "score 6.00 >= junk threshold 5.00");
}

TEST(PolicyTest, ThresholdScoreSetsAsideOnlyUncorroboratedSpamPoints) {
  DomainPolicy d;
  bool aside = true;
  EXPECT_DOUBLE_EQ(threshold_score(analysis_with_classifier(6.5, {{"X", 0.49}}).verdict, d, &aside), 0.49);
  EXPECT_TRUE(aside);
  EXPECT_DOUBLE_EQ(threshold_score(analysis_with_classifier(6.5, {{"X", kCorroboratingRuleScore}}).verdict, d, &aside),
                   6.5 + kCorroboratingRuleScore);
  EXPECT_FALSE(aside);
  EXPECT_DOUBLE_EQ(threshold_score(analysis_with_classifier(-1.0, {}).verdict, d, &aside), -1.0);
  EXPECT_FALSE(aside);
  d.classifier_needs_rule = false;
  EXPECT_DOUBLE_EQ(threshold_score(analysis_with_classifier(6.5, {}).verdict, d, &aside), 6.5);
  EXPECT_FALSE(aside);
}

TEST(PolicyTest, MaxSizeRejects) {
  Policy p;
  p.domain.max_message_bytes = 999;
  Verdict v = decide(analysis_with_score(0), p);
  EXPECT_EQ(v.action, Action::kReject);
  EXPECT_TRUE(v.has("POLICY_MAX_SIZE"));
  p.domain.max_message_bytes = 1000;
  EXPECT_EQ(decide(analysis_with_score(0), p).action, Action::kDeliver);
}

TEST(PolicyTest, DlpHoldsOnlyAuthenticatedSenders) {
  Policy p;
  Analysis a = analysis_with_score(0);
  a.dlp = {{"payment-card", "************1111"}};
  EXPECT_EQ(decide(a, p).action, Action::kDeliver);  // inbound: not our data to guard
  a.sender.authenticated = true;
  Verdict v = decide(a, p);
  EXPECT_EQ(v.action, Action::kHold);
  ASSERT_TRUE(v.has("POLICY_DLP"));
  EXPECT_NE(v.find("POLICY_DLP")->detail.find("************1111"), std::string::npos);
  p.domain.dlp.min_matches = 2;
  EXPECT_EQ(decide(a, p).action, Action::kDeliver);
  p.domain.dlp.min_matches = 1;
  p.domain.dlp.payment_cards = false;  // only My Number guarded: a card passes
  EXPECT_EQ(decide(a, p).action, Action::kDeliver);
  a.dlp.push_back({"my-number", "********9018"});
  EXPECT_EQ(decide(a, p).action, Action::kHold);
  p.domain.dlp.enabled = false;
  EXPECT_EQ(decide(a, p).action, Action::kDeliver);
}

TEST(PolicyTest, BlockListsUserThenDomain) {
  Policy p;
  p.domain.block.entries = {"sender.example"};
  Verdict v = decide(analysis_with_score(-50), p);
  EXPECT_EQ(v.action, Action::kReject);
  EXPECT_NE(v.reason.find("domain's block list"), std::string::npos);
  p.domain.block.entries.clear();
  p.user = UserPolicy{};
  p.user->block.entries = {"someone@sender.example"};
  p.domain.block_action = Action::kJunk;
  v = decide(analysis_with_score(0), p);
  EXPECT_EQ(v.action, Action::kJunk);
  EXPECT_NE(v.reason.find("user's block list"), std::string::npos);
}

TEST(PolicyTest, BlockedAttachmentsQuarantine) {
  Policy p;
  Analysis a = analysis_with_score(0);
  a.attachments = {{"report.pdf", "application/pdf", "pdf", false}};
  EXPECT_EQ(decide(a, p).action, Action::kDeliver);
  a.attachments.push_back({"invoice.pdf.exe", "application/octet-stream", "pe", true});
  Verdict v = decide(a, p);
  EXPECT_EQ(v.action, Action::kQuarantine);
  EXPECT_NE(v.find("POLICY_BLOCKED_ATTACHMENT")->detail.find("invoice.pdf.exe"), std::string::npos);
  // Each reason on its own.
  DomainPolicy d;
  EXPECT_EQ(attachment_block_reason({"a.JS", "text/plain", "text", false}, d), "extension .js");
  EXPECT_EQ(attachment_block_reason({"a.exe.", "", "", false}, d), "extension .exe");
  EXPECT_EQ(attachment_block_reason({"a.bin", "application/x-msdownload", "unknown", false}, d),
            "declared type application/x-msdownload");
  EXPECT_EQ(attachment_block_reason({"a.txt", "text/plain", "pe", true}, d),
            "executable content (pe)");
  // An Internet shortcut to a web page is a link; one to anything else is executable content.
  EXPECT_EQ(attachment_block_reason({"Page.url", "application/octet-stream", "web_shortcut", false}, d), "");
  EXPECT_EQ(attachment_block_reason({"Page.url", "application/octet-stream", "internet_shortcut", true}, d),
            "extension .url");
  EXPECT_EQ(attachment_block_reason({"page.txt", "text/plain", "internet_shortcut", true}, d),
            "executable content (internet_shortcut)");
  EXPECT_EQ(attachment_block_reason({"Page.url", "text/plain", "text", false}, d), "extension .url");
  d.block_executable_content = false;
  EXPECT_EQ(attachment_block_reason({"a.txt", "text/plain", "pe", true}, d), "");
  d.blocked_types.push_back("pe");
  EXPECT_EQ(attachment_block_reason({"a.txt", "text/plain", "pe", true}, d), "content type pe");
}

TEST(PolicyTest, AllowListHonouredOnlyWhenNotForged) {
  Policy p;
  p.domain.allow.entries = {"sender.example"};
  p.domain.trusted_hosts = {"mx.ours.example"};
  Analysis a = analysis_with_score(30);
  a.sender.received = {"from out.sender.example (out.sender.example [192.0.2.3]) by mx.ours.example"};
  Verdict v = decide(a, p);
  EXPECT_EQ(v.action, Action::kDeliver);
  EXPECT_TRUE(v.has("POLICY_ALLOWLIST"));

  Analysis forged = a;
  forged.sender.received = {"from bot.evil.example (bot.evil.example [198.51.100.2]) by mx.ours.example"};
  v = decide(forged, p);
  EXPECT_EQ(v.action, Action::kReject);  // score 30 stands
  ASSERT_EQ(v.notes.size(), 1u);
  EXPECT_NE(v.notes[0].find("ignored"), std::string::npos);

  // A blocked attachment is not waved through by an allow entry.
  a.attachments = {{"x.scr", "application/octet-stream", "pe", true}};
  EXPECT_EQ(decide(a, p).action, Action::kQuarantine);
}

TEST(PolicyTest, FaultDeliversWithoutScore) {
  Policy p;
  Analysis a;
  a.verdict.fault = true;
  a.verdict.fault_note = "hs_scan failed";
  Verdict v = decide(a, p);
  EXPECT_EQ(v.action, Action::kDeliver);
  EXPECT_TRUE(v.fault);
  EXPECT_DOUBLE_EQ(v.score, 0);
}

TEST(VerdictTest, JsonCarriesEveryContribution) {
  Verdict v;
  v.add({"URL_IP_LITERAL", 2.5, "Link to an IP", "", ContributionKind::kRule});
  v.add({"BAYES", 3.25, "Statistical token classifier", "p=0.99", ContributionKind::kClassifier});
  v.action = Action::kJunk;
  v.reason = "score 5.75 >= junk threshold 5.00";
  v.notes.push_back("note \xff bad utf-8");
  auto j = nlohmann::json::parse(v.to_json());
  EXPECT_EQ(j["action"], "junk");
  EXPECT_DOUBLE_EQ(j["score"].get<double>(), 5.75);
  ASSERT_EQ(j["contributions"].size(), 2u);
  EXPECT_EQ(j["contributions"][0]["id"], "URL_IP_LITERAL");
  EXPECT_EQ(j["contributions"][1]["kind"], "classifier");
  EXPECT_EQ(j["contributions"][1]["detail"], "p=0.99");
  EXPECT_EQ(j["fault"], false);
  EXPECT_EQ(j["notes"].size(), 1u);
  EXPECT_NE(v.to_text().find("BAYES"), std::string::npos);
  for (Action a : {Action::kDeliver, Action::kJunk, Action::kQuarantine, Action::kReject, Action::kHold})
    EXPECT_FALSE(action_name(a).empty());
}

}  // namespace
}  // namespace tsubame::filter
