// tests/filter/traits9_ham_safety_test.cc: round 9 of the rule traits, the false-positive
// side, on messages we write ourselves against the shipped conf/rules. Each rule narrowed this
// round stays quiet on the legitimate practice that tripped it (a newsletter's click-tracking
// redirector, a web group's style sheet and a preview line, a member asking about working at
// home, a notification list's "log in to be removed", a tagged or VERP sender address, a
// shop's "Buy now" button and dated offer, a webmail post's X-MSMail-Priority) and still fires
// on the spam trait it is for (a link that names one host and goes straight to another, text
// hidden white on white or at size 0, a recruiting pitch, a bulk mailer's removal
// instruction, a generated sender address, "act now", a forged Outlook priority header). Three
// rules lowered under kCorroboratingRuleScore (capitals, the forged priority header, a URL
// shortener) still fire. A failure names the rule and prints the verdict.
#include <gtest/gtest.h>

#include <string>

#include "filter/filter.h"
#include "filter/policy.h"

#include "tests/filter/default_rules_fixture.h"

namespace tsubame::filter {
namespace {

class Traits9HamSafetyTest : public testing::DefaultRulesTest {
 protected:
  static Verdict scan(const std::string& raw) { return filter_->scan(raw, {}, {}); }
};

// The scored ids this round narrowed.
const char* const kNarrowedIds[] = {
    "LINK_TEXT_HOST_MISMATCH", "HTML_HIDDEN_TEXT", "BODY_BUSINESS_OPPORTUNITY", "OFFER_REMOVE_INSTRUCTIONS",
    "FROM_MIXED_DIGITS",       "SPAM_ACT_NOW",     "MSMAIL_PRIORITY_FORGED",
};

// A multipart/alternative newsletter: a short plain part and the given HTML (RFC 2046 §5.1.4).
std::string html_letter(const std::string& html, const std::string& subject,
                        const std::string& from = "Shop News <news@shop.example>") {
  return "From: " + from + "\r\nTo: bob@ours.example\r\nDate: Mon, 6 Jan 2025 10:00:00 +0900\r\n"
         "Message-ID: <20250106.91@shop.example>\r\nMIME-Version: 1.0\r\nSubject: " + subject +
         "\r\nContent-Type: multipart/alternative; boundary=\"b9\"\r\n\r\n"
         "--b9\r\nContent-Type: text/plain; charset=us-ascii\r\n\r\n"
         "This issue is best read in HTML; the links are in the HTML part.\r\n"
         "--b9\r\nContent-Type: text/html; charset=us-ascii\r\n\r\n" + html + "\r\n--b9--\r\n";
}

// A plain-text letter with extra header lines (each ending in CRLF) after the standard ones.
std::string letter_with(const std::string& extra_headers, const std::string& body, const std::string& subject,
                        const std::string& from = "Sender <sender@partner.example>") {
  return "From: " + from + "\r\nTo: bob@ours.example\r\nDate: Mon, 6 Jan 2025 10:00:00 +0900\r\n"
         "Message-ID: <20250106.92@partner.example>\r\n" + extra_headers + "MIME-Version: 1.0\r\nSubject: " + subject +
         "\r\nContent-Type: text/plain; charset=utf-8\r\nContent-Transfer-Encoding: 8bit\r\n\r\n" + body + "\r\n";
}

// The body-text rules: the spam letter fires the id, the nearest legitimate letter fires none
// of the narrowed ids and is delivered.
const testing::LetterCase kCases[] = {
    {"BODY_BUSINESS_OPPORTUNITY",
     "Our company is growing at a tremendous rate. We are looking for individuals who\nwant to work from home. "
     "This is an opportunity to make an excellent income.",
     "Join our team",
     "Hi all, I like this group, there are great suggestions. I'm thinking to work at home\nusing my computer, "
     "but didn't find anything yet. Anybody has updates?",
     "Hi! I'm new here"},
    {"BODY_BUSINESS_OPPORTUNITY",
     "THE ULTIMATE WAY TO WORK FROM HOME. The best money making system of all.", "Be your own boss",
     "I work from home on Fridays, so call my mobile if the printer jams again.", "Friday"},
    {"OFFER_REMOVE_INSTRUCTIONS",
     "Huge savings on ink cartridges this week only.\nClick here to be removed from our subscribers list!",
     "Ink savings",
     "Your account name is 'lrosenman'. If you would like to be removed from this\nlist, please log into the web site "
     "and uncheck cache notifications in your account.",
     "Weekly cache notification"},
    {"OFFER_REMOVE_INSTRUCTIONS",
     "Lowest mortgage rates in years.\nTo be removed from our mailing list, reply with REMOVE in the subject line.",
     "Rates are down",
     "The Tuesday meeting moves to room 4. If you would like to be removed from this distribution, tell me and "
     "I will take you off.",
     "Room change"},
    {"SPAM_ACT_NOW",
     "Only 50 bottles left at this price. Act now, while supplies last!", "Last chance",
     "The autumn catalogue is out. Buy now and pay in January; this offer expires on 13 December 2024.\n"
     "You receive this because you subscribed at shop.example.",
     "Autumn catalogue"},
};

TEST_F(Traits9HamSafetyTest, EachTextRuleFiresOnTheSpamTrait) { testing::expect_each_fires(*filter_, kCases); }

TEST_F(Traits9HamSafetyTest, EachTextRuleQuietOnTheNearestLegitimateLetter) {
  testing::expect_each_legit_quiet(*filter_, kCases, kNarrowedIds);
}

// A link whose text names one host and which goes straight to another is the deception; a
// newsletter's click tracker (a redirector that counts the click and forwards to the host the
// text names) is how subscribed mail builds every link.
TEST_F(Traits9HamSafetyTest, LinkMismatchSparesClickTrackers) {
  Verdict spam = scan(html_letter(
      "<html><body><p>Your statement is ready.</p>"
      "<a href=\"http://statements.account-review.example/view\">www.bank.example</a></body></html>",
      "Your statement", "Bank <service@bank.example>"));
  EXPECT_TRUE(spam.has("LINK_TEXT_HOST_MISMATCH")) << spam.to_text();

  struct Tracked {
    const char* href;
    const char* why;
  };
  const Tracked kTracked[] = {
      {"http://clickthru.mailhouse.example/Click?q=39-7QgMIjI6kxw3FhUCG", "newsletter link through /Click?q="},
      {"http://www.mailhouse.example/mm/Clickthrough/23317062/uBn6/*http://www.shop.example",
       "newsletter link that carries its destination"},
      {"http://emaserver.mailhouse.example/shop/www/r?1000023044.484.5.xzkMw", "newsletter link through /r?id"},
  };
  for (const Tracked& t : kTracked) {
    Verdict v = scan(html_letter(std::string("<html><body><p>Cost price beer and spirits this week.</p><a href=\"") +
                                     t.href + "\">www.shop.example</a></body></html>",
                                 "This week's prices"));
    testing::expect_quiet(v, kNarrowedIds, t.why);
  }

  // Each link is judged alone: a phishing link beside a copied newsletter's tracked link counts.
  Verdict beside = scan(html_letter(
      "<html><body><p>Your statement is ready.</p>"
      "<a href=\"http://clickthru.mailhouse.example/Click?q=39-7QgMIjI6kxw3FhUCG\">www.bank.example</a>"
      "<a href=\"http://statements.account-review.example/view\">www.bank.example</a></body></html>",
      "Your statement", "Bank <service@bank.example>"));
  EXPECT_TRUE(beside.has("LINK_TEXT_HOST_MISMATCH")) << beside.to_text();
}

// Text hidden white on white or at size 0 is the trait; a style sheet that sets a white
// foreground for one class and a white background for another, a 1-pixel spacer cell and a
// newsletter's hidden preview line are layout.
TEST_F(Traits9HamSafetyTest, HiddenTextSparesStyleSheetsSpacersAndPreviewLines) {
  Verdict white = scan(html_letter(
      "<html><body><p>Great prices on printer ink.</p>"
      "<div style=\"color:#ffffff; background-color:#ffffff\">zebra lantern orchid pillow marble</div>"
      "</body></html>",
      "Ink"));
  EXPECT_TRUE(white.has("HTML_HIDDEN_TEXT")) << white.to_text();

  Verdict tiny = scan(html_letter(
      "<html><body><p>Great prices on printer ink.</p>"
      "<span style=\"font-size:0px;\">zebra lantern orchid pillow marble harbour</span></body></html>",
      "Ink"));
  EXPECT_TRUE(tiny.has("HTML_HIDDEN_TEXT")) << tiny.to_text();

  Verdict layout = scan(html_letter(
      "<html><head><style type=\"text/css\">\n"
      ".HeaderLink, A.FooterLink {color:#FFFFFF;}\n.TitleLink {color: #CC6600;}\n"
      ".BgStandard {background-color: #FFFFFF;}\n</style></head><body>"
      "<div style=\"display:none;max-height:0;overflow:hidden\">This week: new garden tools and the autumn "
      "planting guide</div>"
      "<table><tr><td style=\"font-size:1px;line-height:1px\">&nbsp;</td></tr></table>"
      "<p>Hello from the garden club. The autumn planting guide is on our web site.</p></body></html>",
      "Garden club news"));
  testing::expect_quiet(layout, kNarrowedIds, "style sheet, preview line and spacer");
}

// A generated sender address ("jane83kx@") is the trait; a tagged or VERP address whose
// hash happens to mix letters and digits after a separator is a real mail system's.
TEST_F(Traits9HamSafetyTest, MixedDigitsSenderSparesTaggedAddresses) {
  Verdict spam = scan(letter_with("", "See you there.", "Meeting", "Jane <jane83kx@mail.example>"));
  EXPECT_TRUE(spam.has("FROM_MIXED_DIGITS")) << spam.to_text();
  Verdict tagged = scan(letter_with("", "Here is the spam sample I promised.", "spam...",
                                    "kevin lyda <kevin+dated+1038681510.d5d35b@mail.example>"));
  testing::expect_quiet(tagged, kNarrowedIds, "dated tagged address");
}

// X-MSMail-Priority without the Microsoft mailer that writes it is the forgery; SquirrelMail,
// a webmail program, writes the header itself (beside X-Priority), so a list member's post
// from it is no forgery.
TEST_F(Traits9HamSafetyTest, MsmailPrioritySparesSquirrelMail) {
  Verdict forged = scan(letter_with("X-Priority: 3\r\nX-MSMail-Priority: Normal\r\n",
                                    "Please see the attached proposal.", "Proposal"));
  EXPECT_TRUE(forged.has("MSMAIL_PRIORITY_FORGED")) << forged.to_text();
  Verdict webmail = scan(letter_with("X-Priority: 3\r\nX-MSMail-Priority: Normal\r\nX-Mailer: SquirrelMail (version 1.2.7)\r\n",
                                     "Has anyone tried the new release with Postfix?", "New release"));
  testing::expect_quiet(webmail, kNarrowedIds, "SquirrelMail post");
}

// Three rules no pattern can narrow (a headline in capitals, X-MSMail-Priority from list
// software that writes no X-Mailer, a newsletter's shortened link) still fire on their trait
// and count in the metas, but score under kCorroboratingRuleScore, so alone they no longer
// unlock the classifier.
TEST_F(Traits9HamSafetyTest, LoweredRulesStillFireButDoNotCorroborate) {
  Verdict caps = scan(testing::text_letter("ORDER TODAY AND RECEIVE TWO FREE BOTTLES WITH EVERY CASE!", "Today only"));
  ASSERT_TRUE(caps.has("OFFER_CAPS_SHOUTING")) << caps.to_text();
  EXPECT_LT(caps.find("OFFER_CAPS_SHOUTING")->score, kCorroboratingRuleScore) << caps.to_text();
  Verdict forged = scan(letter_with("X-MSMail-Priority: Normal\r\n", "Please see the attached proposal.", "Proposal"));
  ASSERT_TRUE(forged.has("MSMAIL_PRIORITY_FORGED")) << forged.to_text();
  EXPECT_LT(forged.find("MSMAIL_PRIORITY_FORGED")->score, kCorroboratingRuleScore) << forged.to_text();
  // A newsletter's shortened article link is quiet on its own; with account-verification
  // wording the shortener still makes PHISH_COMBO.
  Verdict news = scan(testing::text_letter("Today's column: the airline bail-out, read on at http://tinyurl.com/1usn", "Media notes"));
  ASSERT_TRUE(news.has("URL_SHORTENER")) << news.to_text();
  EXPECT_LT(news.find("URL_SHORTENER")->score, kCorroboratingRuleScore) << news.to_text();
  EXPECT_EQ(news.action, Action::kDeliver) << news.to_text();
  Verdict phish = scan(testing::text_letter("Your account has been suspended. Please verify your account within 24 hours at "
                                            "https://bit.ly/3xYz", "Account suspended"));
  EXPECT_TRUE(phish.has("PHISH_COMBO")) << phish.to_text();
}

}  // namespace
}  // namespace tsubame::filter
