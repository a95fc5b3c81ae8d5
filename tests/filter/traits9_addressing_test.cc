// tests/filter/traits9_addressing_test.cc: the shipped conf/rules/81-addressing.rules on
// messages we write ourselves. How bulk mail addresses a reader it does not know and what it
// asks the reader to send back: each scored id fires on a message with the trait (a greeting
// to a kind of reader, "Hi Job Seeker"; an answer by keyword, "type Send Info in the subject";
// replies to a free-mail box; where the address was found beside a pitch; a list's name in
// To with a second such trait) and stays quiet on the nearest legitimate message (a
// newsletter's "Dear Readers", a list server's "subscribe in the subject", replies to the
// sender's own domain, a stranger's genuine question that says where it found the address,
// a letter to a named recipient). Helpers never appear in a verdict. A failure names the
// rule and prints the verdict.
#include <gtest/gtest.h>

#include <string>

#include "filter/filter.h"

#include "tests/filter/default_rules_fixture.h"

namespace tsubame::filter {
namespace {

class Traits9AddressingTest : public testing::DefaultRulesTest {
 protected:
  static Verdict scan(const std::string& raw) { return filter_->scan(raw, {}, {}); }
};

// Every id of 81-addressing.rules that can appear in a verdict (helpers cannot).
const char* const kAllIds[] = {
    "GREET_READER_KIND", "RESPOND_BY_KEYWORD", "REPLYTO_FREEMAIL_MORE", "HARVEST_WITH_PITCH", "ADDRESSED_IN_BULK",
};

void expect_quiet(const Verdict& v, const std::string& what) { testing::expect_quiet(v, kAllIds, what); }

// A plain-text letter with the given To and extra header lines (each ending in CRLF).
std::string letter_to(const std::string& to, const std::string& extra_headers, const std::string& body,
                      const std::string& subject) {
  return "From: Sender <sender@partner.example>\r\nTo: " + to +
         "\r\nDate: Mon, 6 Jan 2025 10:00:00 +0900\r\nMessage-ID: <20250106.9@partner.example>\r\n" + extra_headers +
         "MIME-Version: 1.0\r\nSubject: " + subject +
         "\r\nContent-Type: text/plain; charset=utf-8\r\nContent-Transfer-Encoding: 8bit\r\n\r\n" + body + "\r\n";
}

// One scored id of the body: the bulk letter that must fire it, and the nearest legitimate
// letter that must fire nothing of this file.
using Case = testing::LetterCase;

const Case kCases[] = {
    {"GREET_READER_KIND",
     "Hi Job Seeker,\nWhen you create a FREE account you have access to the tools for finding your next job.",
     "Advance your career",
     "Dear Readers,\nthis issue covers the new tax rules for small companies and our spring events.",
     "Newsletter, April"},
    {"GREET_READER_KIND",
     "Dear Homeowner,\nRates have never been lower. Refinance today and save hundreds every month.",
     "Lower your payment",
     "Dear Anna,\nthe survey of the house is done; the roof needs new tiles on the north side.",
     "Survey of the house"},
    {"GREET_READER_KIND",
     "DEAR OPPORTUNITY SEEKERS:\nWe are hiring typists to work from home. No experience needed.",
     "Work from home",
     "Dear Customer,\nyour order #4471 has shipped and will arrive on Thursday.",
     "Your order has shipped"},
    {"RESPOND_BY_KEYWORD",
     "To receive this free, life-changing information, simply click Reply, type \"Send Info\" in the subject box and hit Send.",
     "Free information",
     "To join the list, send a message with the word subscribe in the subject to users-request@lists.example.",
     "List instructions"},
    {"RESPOND_BY_KEYWORD",
     "Simply reply with the following in the Subject field -\nREMOVE -- Please remove me.\nFAX -- Please fax more information.",
     "Debt collection services",
     "Please fax the signed contract to our office; I will call you when it arrives.",
     "Contract"},
    {"RESPOND_BY_KEYWORD",
     "You and your associates can have a free trial of our news service. To subscribe, just reply to this e-mail.",
     "News service",
     "Thank you for subscribing. If you did not ask for this, just ignore this e-mail.",
     "Welcome"},
    {"HARVEST_WITH_PITCH",
     "Dear Sir/Madam,\nI got this email id from your website. Our organisation holds the annual exhibition; book your stand now.",
     "Exhibition 2003",
     "Hello,\nI found your address on your web page. Does version 2.1 of your library build on ARM?",
     "Question about your library"},
};

TEST_F(Traits9AddressingTest, EachRuleFiresOnItsTrait) {
  testing::expect_each_fires(*filter_, kCases);
}

TEST_F(Traits9AddressingTest, NearestLegitimateMessageIsQuiet) {
  testing::expect_each_legit_quiet(*filter_, kCases, kAllIds);
}

// A quoted line is not the letter's own greeting: the greeting must open a line.
TEST_F(Traits9AddressingTest, GreetingMustOpenALine) {
  Verdict v = scan(testing::text_letter("Is this real? They wrote to me as a \"Dear Homeowner, rates are low\".", "Odd mail"));
  EXPECT_FALSE(v.has("GREET_READER_KIND")) << v.to_text();
}

// Replies to a free-mail box the older rule does not list; replies to the sender's own
// domain (RFC 5322 §3.6.2 Reply-To) are no sign.
TEST_F(Traits9AddressingTest, ReplyToFreeMail) {
  Verdict v = scan(letter_to("bob@ours.example", "Reply-To: letmego@bk.ru\r\n", "I have been looking for a man like you.",
                             "Hello"));
  EXPECT_TRUE(v.has("REPLYTO_FREEMAIL_MORE")) << v.to_text();
  Verdict uk = scan(letter_to("bob@ours.example", "Reply-To: offers@yahoo.co.uk\r\n", "Cheap cartons of cigarettes.", "Offer"));
  EXPECT_TRUE(uk.has("REPLYTO_FREEMAIL_MORE")) << uk.to_text();
  expect_quiet(scan(letter_to("bob@ours.example", "Reply-To: support@partner.example\r\n",
                              "The meeting moved to Thursday at ten.", "Meeting")),
               "Reply-To at the sender's own domain");
  // A host under a provider's name is not the provider: "mail.company.example".
  expect_quiet(scan(letter_to("bob@ours.example", "Reply-To: office@mail.company.example\r\n",
                              "The meeting moved to Thursday at ten.", "Meeting")),
               "Reply-To at a host named mail.");
}

// A list's name in To together with a second way of addressing a stranger; a named
// recipient with the same letter's wording is quiet.
TEST_F(Traits9AddressingTest, ListNameInToWithASecondTrait) {
  Verdict v = scan(letter_to("List Member <bob@ours.example>", "",
                             "Hi Job Seeker,\nPost up to three resumes with our tools.", "Find a job"));
  EXPECT_TRUE(v.has("ADDRESSED_IN_BULK")) << v.to_text();
  EXPECT_TRUE(v.has("GREET_READER_KIND")) << v.to_text();
  Verdict one = scan(letter_to("List Member <bob@ours.example>", "", "Our autumn programme is out.", "Programme"));
  EXPECT_FALSE(one.has("ADDRESSED_IN_BULK")) << one.to_text();
  expect_quiet(scan(letter_to("Bob Smith <bob@ours.example>", "", "Dear Bob,\nour autumn programme is out.", "Programme")),
               "named recipient");
}

// Helpers feed the metas and never appear in a verdict.
TEST_F(Traits9AddressingTest, HelpersNeverAppear) {
  Verdict v = scan(letter_to("Inbox <0927@ours.example>", "",
                             "Dear Sir/Madam,\nI got this email id from your website. Book your stand at our exhibition now.",
                             "Exhibition 2003"));
  EXPECT_TRUE(v.has("HARVEST_WITH_PITCH")) << v.to_text();
  EXPECT_TRUE(v.has("ADDRESSED_IN_BULK")) << v.to_text();
  for (const auto& c : v.contributions) EXPECT_NE(c.id.rfind("__", 0), 0u) << c.id;
}

}  // namespace
}  // namespace tsubame::filter
