// tests/filter/traits4_rules_test.cc: the shipped conf/rules/68-traits4.rules on messages we
// write ourselves: every rule fires on the trait it describes (an X-Priority that no named
// mail program wrote, HTML with a script that opens a window or runs on load, a picture cut
// into numbered slices, and the meta for one of them with another sign of a program) and
// stays quiet on the nearest legitimate form (Outlook, Exchange Online and Thunderbird
// setting a priority, the labelled "3 (Normal)" form, a script mentioned in a plain-text
// message, a newsletter whose images are numbered 1, 2, 3, two slices only, one sign alone).
// A failure names the rule and prints the verdict.
#include <gtest/gtest.h>

#include <string>

#include "filter/filter.h"

#include "tests/filter/default_rules_fixture.h"

namespace tsubame::filter {
namespace {

// A plain-text message with the given extra header lines and body.
std::string message(const std::string& extra_headers,
                    const std::string& body = "See you on Tuesday.\r\nAlice\r\n") {
  return "From: Alice <alice@partner.example>\r\nTo: bob@ours.example\r\n"
         "Date: Mon, 6 Jan 2025 10:00:00 +0900\r\nMessage-ID: <20250106.7@partner.example>\r\n"
         "Subject: Notes\r\nMIME-Version: 1.0\r\nContent-Type: text/plain; charset=us-ascii\r\n" +
         extra_headers + "\r\n" + body;
}

// An HTML-only message with the given markup (a whole document, or the inside of <body>).
std::string html_message(const std::string& html, const std::string& encoding = "7bit") {
  const bool whole = html.rfind("<html", 0) == 0;
  return "From: Shop <news@shop.example>\r\nTo: bob@ours.example\r\n"
         "Date: Mon, 6 Jan 2025 10:00:00 +0900\r\nMessage-ID: <20250106.8@shop.example>\r\n"
         "Subject: Offer\r\nMIME-Version: 1.0\r\nContent-Type: text/html; charset=us-ascii\r\n"
         "Content-Transfer-Encoding: " + encoding + "\r\n\r\n" +
         (whole ? html : "<html><body>" + html + "</body></html>") + "\r\n";
}

class Traits4RulesTest : public testing::DefaultRulesTest {
 protected:
  static Verdict scan(const std::string& raw) { return filter_->scan(raw, {}, {}); }
};

const char* const kAllTraits4[] = {"XPRIORITY_NO_MAILER", "HTML_SCRIPT_ON_OPEN",
                                   "HTML_SLICED_IMAGE", "MADE_BY_PROGRAM_SEVERAL"};

TEST_F(Traits4RulesTest, OrdinaryMessagesHitNoTrait) {
  for (const std::string& raw : {
           message(""),
           message("X-Mailer: Microsoft Outlook 16.0\r\nX-Priority: 3\r\n"),
           html_message("<p>New arrivals</p><img src=\"https://cdn.shop.example/hero.jpg\">"
                        "<a href=\"https://shop.example/new\">Shop now</a>"),
       }) {
    Verdict v = scan(raw);
    testing::expect_quiet(v, kAllTraits4);
  }
}

// ---- XPRIORITY_NO_MAILER ----

TEST_F(Traits4RulesTest, XPriorityWithoutAMailer) {
  // A bulk program or library filling in its default priority and naming nothing.
  EXPECT_TRUE(scan(message("X-Priority: 3\r\n")).has("XPRIORITY_NO_MAILER"));
  EXPECT_TRUE(scan(message("X-Priority: 1\r\n")).has("XPRIORITY_NO_MAILER"));
  EXPECT_TRUE(scan(message("X-Priority:   3  \r\nX-Library: Indy 8.0.25\r\n"))
                  .has("XPRIORITY_NO_MAILER"));
  // One trait alone stays far below the junk threshold.
  EXPECT_EQ(scan(message("X-Priority: 3\r\n")).action, Action::kDeliver);
}

TEST_F(Traits4RulesTest, XPriorityFromANamedMailerIsQuiet) {
  for (const std::string& headers : {
           // Desktop mailers name themselves.
           std::string("X-Priority: 3\r\nX-Mailer: Microsoft Outlook Express 6.00.2800.1106\r\n"),
           std::string("X-Priority: 1\r\nUser-Agent: Mozilla Thunderbird\r\n"),
           // Exchange Online drops X-Mailer but writes Importance beside X-Priority.
           std::string("X-Priority: 1\r\nImportance: high\r\n"),
           std::string("X-Priority: 1\r\nX-MSMail-Priority: High\r\n"),
           // The labelled form ("3 (Normal)") is not the bare default this rule is about.
           std::string("X-Priority: 3 (Normal)\r\n"),
           // A value that is not a priority digit.
           std::string("X-Priority: 7\r\n"),
       }) {
    Verdict v = scan(message(headers));
    EXPECT_FALSE(v.has("XPRIORITY_NO_MAILER")) << headers << "\n" << v.to_text();
  }
}

// ---- HTML_SCRIPT_ON_OPEN ----

TEST_F(Traits4RulesTest, ScriptThatOpensAWindowOrRunsOnLoad) {
  EXPECT_TRUE(scan(html_message("<html><head><script>window.open(\"http://pop.example\");"
                                "</script></head><body><p>Hello</p></body></html>"))
                  .has("HTML_SCRIPT_ON_OPEN"));
  EXPECT_TRUE(scan(html_message("<html><BODY bgcolor=\"#ffffff\" onLoad=\"go()\"><p>Hi</p>"
                                "</BODY></html>"))
                  .has("HTML_SCRIPT_ON_OPEN"));
  // Quoted-printable writes the attribute's '=' as =3D.
  EXPECT_TRUE(scan(html_message("<html><body onload=3D\"go()\"><p>Hi</p></body></html>",
                                "quoted-printable"))
                  .has("HTML_SCRIPT_ON_OPEN"));
  EXPECT_TRUE(scan(html_message("<a href=\"#\" onclick=\"window.open ('http://x.example')\">"
                                "more</a>"))
                  .has("HTML_SCRIPT_ON_OPEN"));
}

TEST_F(Traits4RulesTest, ScriptWordsWithoutTheActAreQuiet) {
  // A developer writing about the call in prose has no parenthesis after it.
  Verdict v = scan(message("", "Use window.open only for the login pop-up.\r\n"));
  EXPECT_FALSE(v.has("HTML_SCRIPT_ON_OPEN")) << v.to_text();
  // An onload on an image is not the body's, and a <body> without onload is ordinary.
  v = scan(html_message("<html><body class=\"onload\"><img src=\"a.png\" onload=\"x()\">"
                        "</body></html>"));
  EXPECT_FALSE(v.has("HTML_SCRIPT_ON_OPEN")) << v.to_text();
}

// ---- HTML_SLICED_IMAGE ----

std::string slices(const std::string& a, const std::string& b, const std::string& c) {
  return "<table><tr><td><img src=\"http://img.example/ad/" + a + "\"></td></tr><tr><td>"
         "<a href=\"http://offer.example/go\"><img src=\"http://img.example/ad/" + b +
         "\"></a></td></tr><tr><td><img src=\"http://img.example/ad/" + c +
         "\"></td></tr></table>";
}

TEST_F(Traits4RulesTest, PictureCutIntoNumberedSlices) {
  EXPECT_TRUE(scan(html_message(slices("mailv07a_01.gif", "mailv07a_02.gif", "mailv07a_03.jpg")))
                  .has("HTML_SLICED_IMAGE"));
  // Fireworks names slices by row and column: three rows, or a two-by-two grid.
  EXPECT_TRUE(scan(html_message(slices("ad_r1_c1.gif", "ad_r2_c1.gif", "ad_r3_c1.gif")))
                  .has("HTML_SLICED_IMAGE"));
  EXPECT_TRUE(scan(html_message(slices("ad_r1_c1.gif", "ad_r1_c2.gif", "ad_r2_c1.gif") +
                                "<img src=\"http://img.example/ad/ad_r2_c2.gif\">"))
                  .has("HTML_SLICED_IMAGE"));
  // Quoted-printable: src=3D"...".
  std::string qp = slices("x_01.gif", "x_02.gif", "x_03.gif");
  for (size_t at = qp.find("src=\""); at != std::string::npos; at = qp.find("src=\"", at + 6))
    qp.replace(at, 5, "src=3D\"");
  EXPECT_TRUE(scan(html_message(qp, "quoted-printable")).has("HTML_SLICED_IMAGE"));
}

TEST_F(Traits4RulesTest, OtherNumberedImagesAreQuiet) {
  for (const std::string& html : {
           // A newsletter's one-digit title images (one of A's ham).
           slices("title_1.gif", "title_2.gif", "title_3.gif"),
           // Two slices are not a cut-up picture.
           slices("banner_01.gif", "banner_02.gif", "logo.gif"),
           // Numbers not behind an underscore, and PNG (not what the editors wrote).
           slices("photo01.jpg", "photo02.jpg", "photo03.jpg"),
           slices("x_01.png", "x_02.png", "x_03.png"),
       }) {
    Verdict v = scan(html_message(html));
    EXPECT_FALSE(v.has("HTML_SLICED_IMAGE")) << html << "\n" << v.to_text();
  }
}

// ---- MADE_BY_PROGRAM_SEVERAL ----

TEST_F(Traits4RulesTest, TraitOfThisRoundWithAnotherProgramSign) {
  // A bare X-Priority and a Date without a zone (65-traits' DATE_NO_ZONE).
  std::string raw = message("X-Priority: 3\r\n");
  raw.replace(raw.find("10:00:00 +0900"), 14, "10:00:00");
  Verdict v = scan(raw);
  EXPECT_TRUE(v.has("XPRIORITY_NO_MAILER")) << v.to_text();
  EXPECT_TRUE(v.has("MADE_BY_PROGRAM_SEVERAL")) << v.to_text();
  // A pop-up script and a sliced picture: two of this round's traits.
  v = scan(html_message("<script>window.open('http://pop.example')</script>" +
                        slices("a_01.gif", "a_02.gif", "a_03.gif")));
  EXPECT_TRUE(v.has("MADE_BY_PROGRAM_SEVERAL")) << v.to_text();
}

TEST_F(Traits4RulesTest, OneSignOrOlderSignsAloneAreNotSeveral) {
  // One trait of this round alone.
  Verdict v = scan(message("X-Priority: 3\r\n"));
  EXPECT_FALSE(v.has("MADE_BY_PROGRAM_SEVERAL")) << v.to_text();
  // The Indy library writes both the bare X-Priority and X-Library: one program, one sign.
  v = scan(message("X-Priority: 3\r\nX-Library: Indy 8.0.25\r\n"));
  EXPECT_FALSE(v.has("MADE_BY_PROGRAM_SEVERAL")) << v.to_text();
  // Older signs without one of this round's traits are FORGERY_SEVERAL's business.
  std::string raw = message("X-Mailer: Microsoft Outlook Express 6.00.2800.1106\r\n");
  raw.replace(raw.find("10:00:00 +0900"), 14, "10:00:00");
  v = scan(raw);
  EXPECT_FALSE(v.has("MADE_BY_PROGRAM_SEVERAL")) << v.to_text();
}

}  // namespace
}  // namespace tsubame::filter
