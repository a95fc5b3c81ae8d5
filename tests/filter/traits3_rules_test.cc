// tests/filter/traits3_rules_test.cc: the shipped conf/rules/67-traits3.rules and the two
// checks it added (check:exclaim-lines, check:list-address-in-link in filter.cc) on messages
// we write ourselves: every rule and meta fires on the trait it describes (a text of
// exclaimed lines, removal through a free-mail address, "allow 48 hours for removal",
// claims of complying with a law, admissions of where the address was found, mail to a
// list's own address that links elsewhere with that address, a drop-down form, a random tag
// as the last line, and the meta for two opt-out signs) and stays quiet on the nearest
// legitimate form (one "Thanks!", a quoted pitch, an unsubscribe link on the sender's own
// domain, a confidentiality footer, a newsletter with List-Id addressed to its subscriber, a
// bill cited in a policy newsletter, "I found your address on your website", a signature).
// The checks' limits (kExclaimLines*, kTextStatsMaxBytes, kMaxListAddressLinks) are tested
// at their edges. A failure names the rule and prints the verdict.
#include <gtest/gtest.h>

#include <algorithm>
#include <string>
#include <vector>

#include "filter/filter.h"
#include "filter/mime.h"

#include "tests/filter/default_rules_fixture.h"

namespace tsubame::filter {
namespace {

// A plain-text message with the given extra header lines and body.
std::string message(const std::string& body, const std::string& extra_headers = "",
                    const std::string& to = "bob@ours.example") {
  return "From: Alice <alice@partner.example>\r\nTo: " + to +
         "\r\nDate: Mon, 6 Jan 2025 10:00:00 +0900\r\nMessage-ID: <20250106.3@partner.example>"
         "\r\nSubject: Notes\r\nMIME-Version: 1.0\r\nContent-Type: text/plain; charset=us-ascii\r\n" +
         extra_headers + "\r\n" + body;
}

// An HTML-only message with the given body markup.
std::string html_message(const std::string& html) {
  return "From: Shop <news@shop.example>\r\nTo: bob@ours.example\r\n"
         "Date: Mon, 6 Jan 2025 10:00:00 +0900\r\nMessage-ID: <20250106.4@shop.example>\r\n"
         "Subject: Offer\r\nMIME-Version: 1.0\r\nContent-Type: text/html; charset=us-ascii\r\n\r\n"
         "<html><body>" + html + "</body></html>\r\n";
}

using testing::check_fires;

// `exclaimed` lines ending in '!' followed by `plain` ordinary lines.
std::string lines(size_t exclaimed, size_t plain) {
  std::string t;
  for (size_t i = 0; i < exclaimed; ++i) t += "Order today and save big!\r\n";
  for (size_t i = 0; i < plain; ++i) t += "The meeting moved to the second floor.\r\n";
  return t;
}

class Traits3RulesTest : public testing::DefaultRulesTest {
 protected:
  static Verdict scan(const std::string& raw) { return filter_->scan(raw, {}, {}); }
};

const char* const kAllTraits3[] = {
    "EXCLAIM_LINES",        "OPTOUT_FREEMAIL",   "REMOVAL_DELAY",       "LAW_COMPLIANCE_CLAIM",
    "HARVEST_ADMISSION",    "OPTOUT_SEVERAL",    "LIST_ADDRESS_IN_LINK", "HTML_FORM_OPTIONS",
    "LAST_LINE_RANDOM_TAG",
};

TEST_F(Traits3RulesTest, OrdinaryMessagesHitNoTrait) {
  const std::string newsletter =
      "From: Shop <news@shop.example>\r\nTo: bob@ours.example\r\n"
      "Date: Mon, 6 Jan 2025 10:00:00 +0900\r\nMessage-ID: <20250106.5@shop.example>\r\n"
      "Subject: January news\r\nList-Id: Shop news <news.shop.example>\r\n"
      "List-Unsubscribe: <https://esp.example/u?e=bob%40ours.example>\r\n"
      "List-Unsubscribe-Post: List-Unsubscribe=One-Click\r\nMIME-Version: 1.0\r\n"
      "Content-Type: text/plain; charset=us-ascii\r\n\r\n"
      "New arrivals this week. Thanks for reading!\r\n"
      "Unsubscribe: https://esp.example/u?e=bob@ours.example\r\n"
      "Please allow a moment for the page to load.\r\n";
  for (const std::string& raw : {
           message("Hello Bob,\r\nsee you on Tuesday. Thanks!\r\nAlice\r\n"),
           message("Thanks, I got your email on Monday from the airport.\r\n\r\nAlice Smith\r\n"),
           newsletter,
       }) {
    Verdict v = scan(raw);
    testing::expect_quiet(v, kAllTraits3);
  }
}

// ---- check:exclaim-lines and EXCLAIM_LINES ----

TEST(TextStatsTest, CountsUnquotedNonBlankLines) {
  TextStats st = text_stats("Great news!\n\n  > Buy now!\n   \nSee you.\r\nWow!  \n");
  EXPECT_EQ(st.lines, 3u);  // the quoted and the blank lines are left out
  EXPECT_EQ(st.exclaim_lines, 2u);
  EXPECT_EQ(text_stats("").lines, 0u);
}

TEST(TextStatsTest, ReadsAtMostTheByteLimit) {
  std::string filler;
  while (filler.size() < kTextStatsMaxBytes) filler += "An ordinary line of the report.\n";
  TextStats st = text_stats(filler + lines(10, 0));
  EXPECT_EQ(st.exclaim_lines, 0u);
  EXPECT_EQ(text_stats(lines(10, 0) + filler).exclaim_lines, 10u);
}

TEST(ExclaimLinesCheckTest, FiresAtTheCountAndShareLimits) {
  static_assert(kExclaimLinesMin == 5 && kExclaimLinesPercent == 15, "edges below assume these");
  // 5 of 33 lines is 15.2%, 5 of 34 is 14.7%.
  EXPECT_TRUE(check_fires(message(lines(kExclaimLinesMin, 28)), "exclaim-lines"));
  EXPECT_FALSE(check_fires(message(lines(kExclaimLinesMin, 29)), "exclaim-lines"));
  // Four exclaimed lines are not enough however short the text.
  EXPECT_FALSE(check_fires(message(lines(kExclaimLinesMin - 1, 0)), "exclaim-lines"));
  // A reply that quotes an exclaiming pitch does not exclaim itself.
  std::string quoted = "What is this?\r\n";
  for (int i = 0; i < 10; ++i) quoted += "> Order today and save big!\r\n";
  EXPECT_FALSE(check_fires(message(quoted), "exclaim-lines"));
  // HTML is read as rendered text: block elements make lines.
  std::string html;
  for (int i = 0; i < 6; ++i) html += "<p>Act now!</p>";
  EXPECT_TRUE(check_fires(html_message(html + "<p>Best regards</p>"), "exclaim-lines"));
}

TEST_F(Traits3RulesTest, ExclaimLinesRule) {
  EXPECT_TRUE(scan(message(lines(6, 4))).has("EXCLAIM_LINES"));
  EXPECT_FALSE(scan(message(lines(1, 4))).has("EXCLAIM_LINES"));
}

// ---- check:list-address-in-link and LIST_ADDRESS_IN_LINK ----

std::string list_message(const std::string& list_id, const std::string& to,
                         const std::string& body) {
  return message(body,
                 "Sender: ilug-admin@linux.ie\r\nList-Id: Irish Linux Users' Group <" + list_id +
                     ">\r\nPrecedence: bulk\r\n",
                 to);
}

TEST(ListAddressInLinkCheckTest, ListAddressInAnotherHostsLink) {
  const std::string link = "Leave this list: http://www.offers.example/trim/?ilug@linux.ie%7C17\r\n";
  EXPECT_TRUE(check_fires(list_message("ilug.linux.ie", "ilug@linux.ie", link),
                          "list-address-in-link"));
  // Percent-encoded, in another case, as an HTML anchor, or with the list in Cc.
  EXPECT_TRUE(check_fires(list_message("ilug.linux.ie", "<ILUG@Linux.ie>",
                                       "http://u.offers.example/r?e=ilug%40linux.ie\r\n"),
                          "list-address-in-link"));
  EXPECT_TRUE(check_fires(
      message("Hi", "List-Id: <ilug.linux.ie>\r\nCc: ilug@linux.ie\r\n") +
          "\r\nhttp://www.offers.example/x/ilug@linux.ie\r\n",
      "list-address-in-link"));
}

TEST(ListAddressInLinkCheckTest, QuietOnTheNearestLegitimateForms) {
  struct Case {
    const char* why;
    std::string raw;
  };
  const Case cases[] = {
      {"the list's own footer links live on the list's host",
       list_message("ilug.linux.ie", "ilug@linux.ie",
                    "http://www.linux.ie/mailman/options/ilug?email=ilug@linux.ie\r\n")},
      {"a newsletter with a List-Id is addressed to its subscriber, whose address its links carry",
       list_message("news.shop.example", "bob@ours.example",
                    "https://esp.example/u?e=bob@ours.example\r\n")},
      {"the list's address in another host's link, but the message is not from the list",
       message("http://www.offers.example/trim/?ilug@linux.ie\r\n", "", "ilug@linux.ie")},
      {"sent to the list, a link elsewhere without the list's address",
       list_message("ilug.linux.ie", "ilug@linux.ie", "See http://www.kernel.example/patch?id=17\r\n")},
      {"a List-Id without a host part names no address",
       list_message("ilug", "ilug@linux.ie", "http://www.offers.example/trim/?ilug@linux.ie\r\n")},
  };
  for (const Case& c : cases) EXPECT_FALSE(check_fires(c.raw, "list-address-in-link")) << c.why;
}

TEST(ListAddressInLinkCheckTest, LooksAtTheFirstLinksOnly) {
  auto body = [](size_t before) {
    std::string b;
    for (size_t i = 0; i < before; ++i) b += "http://www.kernel.example/p" + std::to_string(i) + "\r\n";
    return b + "http://www.offers.example/trim/?ilug@linux.ie\r\n";
  };
  EXPECT_TRUE(check_fires(list_message("ilug.linux.ie", "ilug@linux.ie",
                                       body(kMaxListAddressLinks - 1)),
                          "list-address-in-link"));
  EXPECT_FALSE(check_fires(list_message("ilug.linux.ie", "ilug@linux.ie", body(kMaxListAddressLinks)),
                           "list-address-in-link"));
}

TEST_F(Traits3RulesTest, ListAddressInLinkRule) {
  Verdict v = scan(list_message("ilug.linux.ie", "ilug@linux.ie",
                                "1) Slim down\r\nhttp://www.offers.example/trim/?ilug@linux.ie\r\n"));
  EXPECT_TRUE(v.has("LIST_ADDRESS_IN_LINK")) << v.to_text();
  EXPECT_EQ(v.action, Action::kDeliver) << "one trait stays under the junk threshold\n" << v.to_text();
}

// ---- the opt-out apparatus ----

TEST_F(Traits3RulesTest, OptOutThroughAFreeMailAddress) {
  for (const char* body : {
           "To be removed please send 'remove' to lhjr55@yahoo.com\r\n",
           "Removal mailto:no_degree_xyz@excite.com\r\n",
           "To unsubscribe write to offers2025@gmail.com\r\n",
       }) {
    Verdict v = scan(message(body));
    EXPECT_TRUE(v.has("OPTOUT_FREEMAIL")) << body << "\n" << v.to_text();
  }
  Verdict mailto = scan(html_message(
      "<a href=\"mailto:stockbuyer@netzero.net?subject=REMOVE\">click here to be removed</a>"));
  EXPECT_TRUE(mailto.has("OPTOUT_FREEMAIL")) << mailto.to_text();
  // The same link written out in a plain-text part (the removal word after the address, so
  // only the mailto: form can see it).
  Verdict text_mailto = scan(message("Questions? mailto:deals4u@hotmail.com?subject=unsubscribe\r\n"));
  EXPECT_TRUE(text_mailto.has("OPTOUT_FREEMAIL")) << text_mailto.to_text();
  // Unsubscribing on the sender's own domain, and a free-mail user's confidentiality footer.
  for (const char* body : {
           "To unsubscribe write to news-unsubscribe@shop.example\r\n",
           "If you are not the intended recipient, delete this message and tell me at "
           "alice.smith@gmail.com\r\n",
       }) {
    Verdict v = scan(message(body));
    EXPECT_FALSE(v.has("OPTOUT_FREEMAIL")) << body << "\n" << v.to_text();
  }
}

TEST_F(Traits3RulesTest, RemovalDelay) {
  for (const char* body : {"Please allow 48-72 hours for removal.\r\n",
                           "ALL removes HONORED. Please allow 7 days to be removed.\r\n",
                           "Please allow up to 72 hours to take effect.\r\n"}) {
    EXPECT_TRUE(scan(message(body)).has("REMOVAL_DELAY")) << body;
  }
  EXPECT_FALSE(scan(message("Please allow 2 days for shipping.\r\n")).has("REMOVAL_DELAY"));
}

TEST_F(Traits3RulesTest, LawComplianceClaim) {
  for (const char* body : {
           "This message is sent in compliance with the proposed Federal legislation for "
           "commercial e-mail.\r\n",
           "Under Bill S.1618 Title III passed by the 105th US Congress this mail cannot be "
           "considered spam.\r\n",
           "This E-mail is not SPAM under the Federal Regulatory laws of the United States.\r\n",
       }) {
    EXPECT_TRUE(scan(message(body)).has("LAW_COMPLIANCE_CLAIM")) << body;
  }
  // A policy newsletter cites bills; a contract mentions compliance without a mailing.
  for (const char* body : {"H.R. 3684 passed the House under Title III.\r\n",
                           "The contractor shall act in compliance with all applicable laws.\r\n"}) {
    EXPECT_FALSE(scan(message(body)).has("LAW_COMPLIANCE_CLAIM")) << body;
  }
}

TEST_F(Traits3RulesTest, HarvestAdmission) {
  for (const char* body : {"I got your contact through the internet and decided to write.\r\n",
                           "I got your address from South African Information exchange.\r\n",
                           "I received your email from an email list you may have joined.\r\n"}) {
    EXPECT_TRUE(scan(message(body)).has("HARVEST_ADMISSION")) << body;
  }
  for (const char* body : {"I found your email address on your website and have a question.\r\n",
                           "I got your email address from Sarah, who met you in Osaka.\r\n",
                           "Thanks, I got your email on Monday.\r\n"}) {
    EXPECT_FALSE(scan(message(body)).has("HARVEST_ADMISSION")) << body;
  }
}

TEST_F(Traits3RulesTest, OptOutSeveralNeedsTwoSigns) {
  Verdict one = scan(message("Please allow 48 hours for removal.\r\n"));
  EXPECT_TRUE(one.has("REMOVAL_DELAY"));
  EXPECT_FALSE(one.has("OPTOUT_SEVERAL")) << one.to_text();
  Verdict two = scan(message(
      "You opted in to our partners' offers.\r\nPlease allow 48 hours for removal.\r\n"));
  EXPECT_TRUE(two.has("OPTOUT_SEVERAL")) << two.to_text();
  EXPECT_FALSE(two.has("__OPTED_IN_CLAIM")) << "helpers never appear in a verdict";
  // "You opted in" alone is what today's newsletters say: no score.
  Verdict opted = scan(message("You opted in to receive this newsletter.\r\n"));
  EXPECT_EQ(opted.score, scan(message("You asked to receive this newsletter.\r\n")).score)
      << opted.to_text();
}

// ---- how the mail was made ----

TEST_F(Traits3RulesTest, HtmlFormWithADropDownList) {
  auto form = [](int options) {
    std::string h = "<form action=\"http://quote.example/q\"><select name=\"state\">";
    for (int i = 0; i < options; ++i) h += "<option>State " + std::to_string(i) + "</option>\r\n";
    return h + "</select><input type=\"submit\"></form>";
  };
  EXPECT_TRUE(scan(html_message(form(50))).has("HTML_FORM_OPTIONS"));
  EXPECT_TRUE(scan(html_message(form(10))).has("HTML_FORM_OPTIONS"));
  EXPECT_FALSE(scan(html_message(form(9))).has("HTML_FORM_OPTIONS"));
}

TEST_F(Traits3RulesTest, RandomTagAsTheLastLine) {
  for (const char* tail : {"xay2158961y\r\n", "cvstceuyxxkxgnxskjnc\r\n", "  ab12cd34  \r\n\r\n"}) {
    Verdict v = scan(message(std::string("Visit our website today.\r\n") + tail));
    EXPECT_TRUE(v.has("LAST_LINE_RANDOM_TAG")) << tail << v.to_text();
  }
  for (const char* tail : {"Sincerely\r\n", "Alice Smith\r\n", "alice\r\n", "2025\r\n",
                           "see you, cvstceuyxxkxgnxskjnc\r\n", "Cvstceuyxxkxgnxskjnc\r\n"}) {
    Verdict v = scan(message(std::string("Visit our website today.\r\n") + tail));
    EXPECT_FALSE(v.has("LAST_LINE_RANDOM_TAG")) << tail << v.to_text();
  }
  // Only the last line counts.
  EXPECT_FALSE(scan(message("xay2158961y\r\nSee you on Tuesday.\r\n")).has("LAST_LINE_RANDOM_TAG"));
}

}  // namespace
}  // namespace tsubame::filter
