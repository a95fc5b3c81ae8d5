// tests/filter/traits8_disguise_test.cc: the shipped conf/rules/78-disguise.rules on messages
// we write ourselves. Spam in disguise: each scored id fires on a message whose disguise
// fails (a reply with no thread that greets "Dear Friend", a newsletter's free trial to
// "Dear Sir/Madam", a shipment notice with "reply with REMOVE in the subject", a list post
// with a bulk mailer's removal instructions or an "opted in" claim, a letter that greets the
// reader by an address or a domain, a "Hello" with a newsletter's unsubscribe line) and
// stays quiet on the nearest
// legitimate message (a reply inside its thread, a newsletter that knows the reader's name,
// a shop's order confirmation, a list post with the list's own footer, "Dear J.Smith,",
// a forward that keeps its letter's greeting, a quoted greeting). The raw-body helpers are
// checked on a plain alternative that the body text leaves out. Helpers never appear in a
// verdict. A failure names the rule and prints the verdict.
#include <gtest/gtest.h>

#include <string>

#include "filter/filter.h"

#include "tests/filter/default_rules_fixture.h"

namespace tsubame::filter {
namespace {

class Traits8DisguiseTest : public testing::DefaultRulesTest {
 protected:
  static Verdict scan(const std::string& raw) { return filter_->scan(raw, {}, {}); }
};

// Every id of 78-disguise.rules that can appear in a verdict (helpers cannot).
const char* const kAllIds[] = {
    "GREET_BY_ADDRESS", "DISGUISE_STRANGER", "DISGUISE_OPTOUT", "LIST_POST_OPTOUT", "DISGUISE_PERSONAL_BULK",
};

void expect_quiet(const Verdict& v, const std::string& what) { testing::expect_quiet(v, kAllIds, what); }

// A plain-text letter with extra header lines (each ending in CRLF) after the standard ones.
std::string letter_with(const std::string& extra_headers, const std::string& body, const std::string& subject) {
  return "From: Sender <sender@partner.example>\r\nTo: bob@ours.example\r\n"
         "Date: Mon, 6 Jan 2025 10:00:00 +0900\r\nMessage-ID: <20250106.8@partner.example>\r\n" +
         extra_headers + "MIME-Version: 1.0\r\nSubject: " + subject +
         "\r\nContent-Type: text/plain; charset=utf-8\r\nContent-Transfer-Encoding: 8bit\r\n\r\n" + body + "\r\n";
}

// One scored id: the disguised spam that must fire it, and the nearest legitimate message
// (plain letters) that must fire nothing of this file.
using Case = testing::LetterCase;

const Case kCases[] = {
    {"DISGUISE_STRANGER",
     "Dear Friend,\nA recent survey says the Internet will soon reach half a billion people. Start your own e-mail business today!",
     "Re: Your bank account",
     "Dear Anna,\nthe statement you asked about is attached; the transfer went out on Friday.",
     "Re: Your bank account"},
    {"DISGUISE_STRANGER",
     "Dear Sir/Madam,\nYou and your associates can have a FREE TRIAL SUBSCRIPTION to our news service.",
     "Daily News - FREE Trial",
     "Dear Anna,\nthank you for subscribing. Your first issue arrives on Monday.",
     "Weekly newsletter"},
    {"DISGUISE_STRANGER",
     "Dear Sir,\nWe are seeking a reliable foreign partner for a transfer of funds.",
     "Seeking your cooperation",
     "Dear Sir,\nplease find our quarterly report attached, as agreed with your office.",
     "Quarterly report"},
    {"DISGUISE_OPTOUT",
     "Congratulations! You've been selected to receive a free bottle of perfume.\nTo be taken off, reply to this email with REMOVE in the\nsubject line.",
     "Your Shipment Status",
     "Your order #10422 has shipped and will arrive on Thursday. Track it in your account.\nTo unsubscribe from our marketing e-mails, change your preferences.",
     "Your order confirmation"},
    {"DISGUISE_OPTOUT",
     "Please forgive the intrusion, this is a one time test. If you receive more, send an email with remove as subject.",
     "Testing a system, please delete",
     "Please delete the draft in the shared folder; the final version is in the project space.",
     "Please delete the old draft"},
    {"GREET_BY_ADDRESS",
     "Dear bob@ours.example,\nYou have been selected for our preferred member programme.",
     "Preferred members",
     "Dear J.Smith,\nthe minutes of Tuesday's meeting are attached.",
     "Minutes"},
    {"GREET_BY_ADDRESS",
     "Dear ours-example.com,\nMy name is Andy, the business development manager of a personals site. We would like to partner with you.",
     "Our offer",
     "Hi Mr.Brown,\nthe site example.com is back up since this morning.",
     "Site back up"},
    {"DISGUISE_PERSONAL_BULK",
     "Are you tired of spending a fortune on printer cartridges?\nTo unsubscribe from this mailing, click here.",
     "Hello",
     "Are you free for lunch on Friday? The new place near the station is open.",
     "Hello"},
};

TEST_F(Traits8DisguiseTest, EachRuleFiresOnItsDisguise) {
  testing::expect_each_fires(*filter_, kCases);
}

TEST_F(Traits8DisguiseTest, NearestLegitimateMessageIsQuiet) {
  testing::expect_each_legit_quiet(*filter_, kCases, kAllIds);
}

// A real reply carries its thread (RFC 5322 §3.6.4 In-Reply-To and References): a formal
// correspondent's "Dear Sir" and a quoted removal line in it are no disguise.
TEST_F(Traits8DisguiseTest, ReplyInsideItsThreadIsQuiet) {
  const std::string thread = "In-Reply-To: <1@ours.example>\r\nReferences: <1@ours.example>\r\n";
  expect_quiet(scan(letter_with(thread, "Dear Sir,\nthank you for your letter; the invoice is corrected.", "Re: Invoice 2291")),
               "threaded reply greeting Dear Sir");
  Verdict v = scan(letter_with(thread, "Dear Friend,\nthis is what the spam said.", "Re: Your bank account"));
  EXPECT_FALSE(v.has("DISGUISE_STRANGER")) << v.to_text();
}

// A forward keeps the greeting of the letter it forwards: "Fw:" is no reply.
TEST_F(Traits8DisguiseTest, ForwardKeepsItsLettersGreeting) {
  Verdict v = scan(testing::text_letter("Look at this one.\n\n-----Original Message-----\nDear Friend,\nwe are pleased to offer ...",
                                        "Fw: Your bank account"));
  EXPECT_FALSE(v.has("DISGUISE_STRANGER")) << v.to_text();
}

// Spam to a list's address: the list's tag and List-Id (RFC 2919), and the sender's own
// removal instructions; a member's post with the list's footer is quiet, and so is a
// newsletter sent through list software (List-Id, no subject tag).
TEST_F(Traits8DisguiseTest, ListPostWithRemovalInstructions) {
  const std::string list = "List-Id: Irish Linux Users' Group <ilug.linux.ie>\r\n";
  Verdict v = scan(letter_with(list, "Earn extra income from home!\nTo be removed from our list, reply with remove in the subject.",
                               "[ILUG] Extra income"));
  EXPECT_TRUE(v.has("LIST_POST_OPTOUT")) << v.to_text();
  expect_quiet(scan(letter_with(list,
                                "Has anyone got the new kernel running on a ThinkPad?\n--\nIrish Linux Users' Group: ilug@linux.ie\n"
                                "List maintainer: listmaster@linux.ie. To unsubscribe, visit the list page.",
                                "[ILUG] Kernel on a ThinkPad")),
               "list post with the list's footer");
  // A post that tells the list its readers opted in to a publisher is no member's post; a
  // list's footer says "subscribed".
  Verdict opted = scan(letter_with(list,
                                   "1) Lose 20 lbs in 3 weeks!\nYou are receiving this email because you have opted-in to receive "
                                   "email from our publisher.",
                                   "[ILUG-Social] Lose 20 lbs"));
  EXPECT_TRUE(opted.has("LIST_POST_OPTOUT")) << opted.to_text();
  expect_quiet(scan(letter_with(list,
                                "Pub meet on Friday at eight.\n--\nYou received this message because you are subscribed to the "
                                "social list.",
                                "[ILUG-Social] Pub meet")),
               "list post with a subscribed footer");
  Verdict news = scan(letter_with("List-Id: Shop news <news.shop.example>\r\n",
                                  "Autumn prices inside.\nTo be removed from our list, click the link below.", "Autumn prices"));
  EXPECT_FALSE(news.has("LIST_POST_OPTOUT")) << news.to_text();
}

// The body text leaves out the plain alternative beside HTML; the raw-body helpers read it.
TEST_F(Traits8DisguiseTest, PlainAlternativeBesideHtmlIsRead) {
  const std::string raw =
      "From: Advertising <ads@shop.example>\r\nTo: bob@ours.example\r\nDate: Mon, 6 Jan 2025 10:00:00 +0900\r\n"
      "Message-ID: <20250106.9@shop.example>\r\nMIME-Version: 1.0\r\nSubject: May I have a moment of your time\r\n"
      "Content-Type: multipart/alternative; boundary=\"b1\"\r\n\r\n"
      "--b1\r\nContent-Type: text/plain; charset=us-ascii\r\n\r\n"
      "Dear Sir/Madam\r\n\r\nOur online store offers 1500 products.\r\n"
      "To be taken off, reply with the word remove in the subject area.\r\n"
      "--b1\r\nContent-Type: text/html; charset=us-ascii\r\n\r\n"
      "<html><body><a href=\"http://shop.example/\"><img src=\"http://shop.example/a.jpg\"></a></body></html>\r\n"
      "--b1--\r\n";
  Verdict v = scan(raw);
  EXPECT_TRUE(v.has("DISGUISE_STRANGER")) << v.to_text();
  EXPECT_TRUE(v.has("DISGUISE_OPTOUT")) << v.to_text();
}

// A quoted greeting ("> Dear Friend,") in a reply with no thread headers is the letter being
// answered, not the reply's own greeting.
TEST_F(Traits8DisguiseTest, QuotedGreetingIsNotTheRepliesOwn) {
  Verdict v = scan(testing::text_letter("Is this a scam?\n\n> Dear Friend,\n> I am the son of the late minister.", "Re: Hello"));
  EXPECT_FALSE(v.has("DISGUISE_STRANGER")) << v.to_text();
}

// Helpers feed the metas and never appear in a verdict.
TEST_F(Traits8DisguiseTest, HelpersNeverAppear) {
  Verdict v = scan(testing::text_letter("Dear Friend,\nTo be removed reply with remove in the subject.", "Re: Your account"));
  EXPECT_TRUE(v.has("DISGUISE_STRANGER")) << v.to_text();
  for (const auto& c : v.contributions) EXPECT_NE(c.id.rfind("__", 0), 0u) << c.id;
}

}  // namespace
}  // namespace tsubame::filter
