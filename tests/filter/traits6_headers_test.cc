// tests/filter/traits6_headers_test.cc: the shipped conf/rules/73-header-fields.rules on
// messages we write ourselves: every rule fires on the header trait it describes (MIME content
// without MIME-Version, junk after "1.0", the X-Precedence-Ref keyboard run, hand-made Dates,
// "Undisclosed.Recipients" as a mailbox, bare <address> lists with no program named,
// recipients at three consumer providers, subjects padded or glued to a per-copy tag, the
// meta for two such signs), stays below the junk threshold alone, and stays quiet on the
// nearest legitimate message (the same field as Outlook, Gmail, Apple Mail, Thunderbird,
// a phone, a sending service, a mailing list or an old notice script writes it). A failure
// names the rule and prints the verdict.
#include <gtest/gtest.h>

#include <cctype>
#include <string>
#include <utility>
#include <vector>

#include "filter/filter.h"

#include "tests/filter/default_rules_fixture.h"

namespace tsubame::filter {
namespace {

using Fields = std::vector<std::pair<std::string, std::string>>;

// A plain UTF-8 letter: the default fields below with `changes` applied in order (a field
// of the same name, compared case-insensitively, is replaced; an empty value removes it; a
// new name is appended), then the body.
std::string letter(const Fields& changes, const std::string& body =
                                              "Hello Bob,\r\n\r\n"
                                              "see you at the meeting on "
                                              "Tuesday.\r\n\r\nAnn\r\n") {
  Fields f = {
      {"From", "Ann Example <ann@partner.example>"},
      {"To", "Bob Example <bob@ours.example>"},
      {"Subject", "Meeting on Tuesday"},
      {"Date", "Mon, 6 Jan 2025 10:00:00 +0900"},
      {"Message-ID", "<20250106100000.4711@partner.example>"},
      {"MIME-Version", "1.0"},
      {"Content-Type", "text/plain; charset=utf-8"},
      {"Content-Transfer-Encoding", "8bit"},
  };
  auto same = [](const std::string& a, const std::string& b) {
    if (a.size() != b.size()) return false;
    for (size_t i = 0; i < a.size(); ++i)
      if (std::tolower(static_cast<unsigned char>(a[i])) !=
          std::tolower(static_cast<unsigned char>(b[i])))
        return false;
    return true;
  };
  for (const auto& [name, value] : changes) {
    bool found = false;
    for (auto it = f.begin(); it != f.end(); ++it) {
      if (!same(it->first, name)) continue;
      found = true;
      if (value.empty()) {
        f.erase(it);
      } else {
        it->second = value;
      }
      break;
    }
    if (!found && !value.empty()) f.emplace_back(name, value);
  }
  std::string raw;
  for (const auto& [name, value] : f) raw += name + ": " + value + "\r\n";
  return raw + "\r\n" + body;
}

const std::string kHtmlBody =
    "<html><body><p>Hello Bob,</p><p>see you at the meeting on Tuesday.</p></body></html>\r\n";

class Traits6HeadersTest : public testing::DefaultRulesTest {
 protected:
  static Verdict scan(const std::string& raw) { return filter_->scan(raw, {}, {}); }
};

// Every id of 73-header-fields.rules that can appear in a verdict (helpers cannot).
const char* const kAllHeaderTraits[] = {
    "MIME_VERSION_MISSING", "MIME_VERSION_JUNK",      "XPRECEDENCE_REF",
    "DATE_HANDMADE",        "TO_UNDISCLOSED_MAILBOX", "RCPT_BARE_LIST_NO_MAILER",
    "RCPT_FREEMAIL_MIX",    "SUBJ_GLUED_NUMBER",      "HEADER_TRAITS_SEVERAL",
    "HEADER_NAME_CASE"};

void expect_quiet(const Verdict& v, const std::string& what) { testing::expect_quiet(v, kAllHeaderTraits, what); }

// One trait alone: the rule fires, the meta does not, and the message is still delivered.
void expect_alone(const Verdict& v, const char* id, const std::string& what) {
  EXPECT_TRUE(v.has(id)) << id << " on: " << what << "\n" << v.to_text();
  EXPECT_FALSE(v.has("HEADER_TRAITS_SEVERAL")) << what << "\n" << v.to_text();
  EXPECT_EQ(v.action, Action::kDeliver) << what << "\n" << v.to_text();
}

TEST_F(Traits6HeadersTest, TodaysMailProgramsAndServicesAreQuiet) {
  // Outlook 16 through Exchange Online: no X-Mailer, Thread-Index, several named recipients.
  expect_quiet(scan(letter({{"From", "Ann Example <ann@partner.example>"},
                            {"To",
                             "Bob Example <bob@ours.example>, Carol Example "
                             "<carol@ours.example>, <dave@ours.example>"},
                            {"Thread-Topic", "Meeting on Tuesday"},
                            {"Thread-Index", "AQHbYf3k2d8x9Q=="},
                            {"Date", "Mon, 6 Jan 2025 01:00:00 +0000"},
                            {"Content-Type", "text/plain; charset=\"us-ascii\""}})),
               "Outlook via Exchange");
  // Outlook for Windows over IMAP: X-Mailer and a bare <address> list.
  expect_quiet(scan(letter({{"To", "<bob@ours.example>, <carol@ours.example>, <dave@ours.example>"},
                            {"X-Mailer", "Microsoft Outlook 16.0"},
                            {"Thread-Index", "AdtgE5v0kVqgq2e9T0aV0mYc3t3x2w=="}})),
               "Outlook 16 over IMAP");
  // Entourage / Outlook for Mac: the bare list with its User-Agent (A's one such ham).
  expect_quiet(scan(letter({{"To", "<bob@ours.example>, <carol@ours.example>, <dave@ours.example>"},
                            {"User-Agent", "Microsoft-MacOutlook/16.80.23121017"}})),
               "Outlook for Mac");
  // Gmail: bare addresses without brackets, friends at three providers only in the meta's
  // weak rule; here two providers.
  expect_quiet(
      scan(letter({{"From", "Ann Example <ann.example@gmail.com>"},
                   {"To", "bob.example@gmail.com, carol.example@yahoo.com"},
                   {"Message-ID", "<CAJx7v=abc123@mail.gmail.com>"},
                   {"Content-Type", "multipart/alternative; boundary=\"000000000000a1b2c3\""}},
                  "--000000000000a1b2c3\r\nContent-Type: text/plain; charset=\"UTF-8\"\r\n\r\n"
                  "Hello\r\n--000000000000a1b2c3--\r\n")),
      "Gmail");
  // Apple Mail and iPhone: the version comment after 1.0.
  expect_quiet(scan(letter({{"MIME-Version", "1.0 (Mac OS X Mail 16.0 \\(3774.300.61.1.2\\))"},
                            {"X-Mailer", "Apple Mail (2.3774.300.61.1.2)"}})),
               "Apple Mail");
  expect_quiet(scan(letter({{"MIME-Version", "1.0 (1.0)"}, {"X-Mailer", "iPhone Mail (21F90)"}})),
               "iPhone");
  // Thunderbird, with a zone comment and a folded Subject.
  expect_quiet(scan(letter({{"User-Agent", "Mozilla Thunderbird"},
                            {"Date", "Tue, 17 Sep 2024 09:15:32 -0400 (EDT)"},
                            {"Subject",
                             "Minutes of the board meeting held on Tuesday, 17 September,\r\n"
                             " with the budget for 2025"}})),
               "Thunderbird");
  // A sending service's newsletter: HTML, List-Unsubscribe, a campaign id in X- fields.
  expect_quiet(scan(letter({{"From", "Example Shop <news@mail.shop.example>"},
                            {"Subject", "Our winter sale starts today! 30% off everything"},
                            {"Content-Type", "text/html; charset=utf-8"},
                            {"List-Unsubscribe", "<https://mail.shop.example/u/abc>"},
                            {"X-Campaign-Id", "2025-01-winter"}},
                           kHtmlBody)),
               "newsletter");
  // A receipt with an order number, a ticket subject, a version number.
  expect_quiet(scan(letter({{"Subject", "Your order #112-5540123-4471 has shipped"}})), "receipt");
  expect_quiet(scan(letter({{"Subject", "[Ticket #48213] Printer on 3rd floor"}})), "ticket");
  expect_quiet(scan(letter({{"Subject", "KVim 6.1.141"}})), "version");
  expect_quiet(scan(letter({{"Subject", "Happy New Year! 2026"}})), "greeting with a year");
  expect_quiet(scan(letter({{"Subject", "Re: https://bugs.example.org/index.php?57277"}})),
               "link in subject");
  // A mailing list: To is the list, the MTA's empty group for hidden recipients.
  expect_quiet(scan(letter({{"To", "undisclosed-recipients:;"}})), "undisclosed group");
  expect_quiet(scan(letter({{"To", "Users list <users@lists.example.org>"},
                            {"List-Id", "<users.lists.example.org>"}})),
               "mailing list");
}

TEST_F(Traits6HeadersTest, MimeContentWithoutMimeVersion) {
  expect_alone(scan(letter({{"MIME-Version", ""}, {"Content-Type", "text/html"}}, kHtmlBody)),
               "MIME_VERSION_MISSING", "text/html without MIME-Version");
  expect_alone(
      scan(letter({{"MIME-Version", ""}, {"Content-Type", "text/plain; charset=\"GB2312\""}})),
      "MIME_VERSION_MISSING", "GB2312 without MIME-Version");
  expect_alone(scan(letter({{"MIME-Version", ""},
                            {"Content-Type", "multipart/alternative; boundary=\"b1\""}},
                           "--b1\r\nContent-Type: text/plain\r\n\r\nHello\r\n--b1--\r\n")),
               "MIME_VERSION_MISSING", "multipart without MIME-Version");
  // Nearest legitimate: the same with MIME-Version, and an old notice script's US-ASCII text.
  expect_quiet(scan(letter({{"Content-Type", "text/html; charset=utf-8"}}, kHtmlBody)),
               "HTML with MIME-Version");
  expect_quiet(
      scan(letter({{"MIME-Version", ""}, {"Content-Type", "text/plain; charset=us-ascii"}})),
      "US-ASCII text without MIME-Version");
  expect_quiet(
      scan(letter({{"MIME-Version", ""}, {"Content-Type", ""}, {"Content-Transfer-Encoding", ""}})),
      "no MIME at all");
}

TEST_F(Traits6HeadersTest, MimeVersionWithJunk) {
  expect_alone(scan(letter({{"MIME-Version", "1.0; Windows-1252"}})), "MIME_VERSION_JUNK",
               "1.0; Windows-1252");
  expect_quiet(scan(letter({{"MIME-Version", "1.0 (generated by tm-edit 1.8)"}})),
               "a comment after 1.0");
}

TEST_F(Traits6HeadersTest, KeyboardRunInXPrecedenceRef) {
  expect_alone(scan(letter({{"X-Precedence-Ref", "l2340567"}})), "XPRECEDENCE_REF", "l2340567");
  expect_alone(scan(letter({{"X-Precedence-Ref", "1234056789zxcvbnmlkjhgfq"}})), "XPRECEDENCE_REF",
               "digits run");
  expect_quiet(scan(letter({{"Precedence", "list"}})), "Precedence: list");
}

TEST_F(Traits6HeadersTest, HandMadeDates) {
  for (const char* d :
       {"Fri, 30 Aug 02 21:48:08 Eastern Daylight Time",
        "Sat, 21 Sep 2002 05:01:06 Greenwich Standard Time", "Tue, 17 Sep 2002 11:59:30 +-0500",
        "Sun, 25 Aug 2002 19:21:44 01800", "21 Sep 02 05:01:06 -0400"})
    expect_alone(scan(letter({{"Date", d}})), "DATE_HANDMADE", d);
  for (const char* d : {"Tue, 17 Sep 2002 09:15:32 -0400 (EDT)", "Tue, 17 Sep 2002 09:15:32 PST",
                        "17 Sep 2024 09:15:32 +0000", "Mon, 6 Jan 2025 10:00 +0900",
                        "Wed, 02 Jan 2002 13:55:00 GMT"})
    expect_quiet(scan(letter({{"Date", d}})), d);
}

TEST_F(Traits6HeadersTest, UndisclosedRecipientsAsAMailbox) {
  expect_alone(scan(letter({{"To", "<Undisclosed.Recipients@mx.ours.example>"}})),
               "TO_UNDISCLOSED_MAILBOX", "<Undisclosed.Recipients@...>");
  expect_alone(scan(letter({{"To", "Undisclosed.Recipients"}})), "TO_UNDISCLOSED_MAILBOX",
               "unqualified");
  expect_quiet(scan(letter({{"To", "undisclosed-recipients: ;"}})), "the empty group");
}

TEST_F(Traits6HeadersTest, BareAddressListWithNoProgram) {
  const std::string list = "<a.one@isp1.example>, <bkim@isp2.example>,\r\n <cwalsh@isp3.example>";
  expect_alone(scan(letter({{"To", list}})), "RCPT_BARE_LIST_NO_MAILER", "To list");
  expect_alone(scan(letter({{"To", "<bob@ours.example>"}, {"Cc", list}})),
               "RCPT_BARE_LIST_NO_MAILER", "Cc list");
  // Two bare addresses, or names, or no brackets: quiet.
  expect_quiet(scan(letter({{"To", "<bob@ours.example>, <carol@ours.example>"}})), "two");
  expect_quiet(scan(letter({{"To", "bob@ours.example, carol@ours.example, dave@ours.example"}})),
               "no brackets");
  expect_quiet(scan(letter({{"To",
                             "Bob <bob@ours.example>, Carol <carol@ours.example>, "
                             "Dave <dave@ours.example>"}})),
               "with names");
}

TEST_F(Traits6HeadersTest, RecipientsAtThreeConsumerProviders) {
  expect_alone(scan(letter({{"To", "Bob <bob@ours.example>"},
                            {"Cc",
                             "Jo Smith <jsmith77@yahoo.com>, Kay <kay.d@hotmail.com>, "
                             "Lee <leeroy@aol.com>"}})),
               "RCPT_FREEMAIL_MIX", "Yahoo, Hotmail, AOL");
  expect_quiet(scan(letter({{"To", "Jo Smith <jsmith77@yahoo.com>, Kay <kay.d@gmail.com>"}})),
               "two providers");
  expect_quiet(
      scan(letter({{"To", "Jo <jo@gmail.com>, Kay <kay@gmail.com>, Lee <lee@gmail.com>"}})),
      "one provider");
}

TEST_F(Traits6HeadersTest, SubjectGluedToATag) {
  for (const char* s : {"Let me know what you think!32482", "Rates Hit 35 year Low 4.75% ...12304"})
    expect_alone(scan(letter({{"Subject", s}})), "SUBJ_GLUED_NUMBER", s);
}

// The short padding is a helper (45-offers' OFFER_SUBJ_ID_TAG scores padding already): it
// counts only in HEADER_TRAITS_SEVERAL, with another header trait.
TEST_F(Traits6HeadersTest, SubjectPaddedBeforeATagCountsInTheMeta) {
  for (const char* s :
       {"Have You Dreamed Of Your Own Home Based Business?       eIExvv",
        "Find the right lender for you      AFPE", "Super charge your desktop today!     17639"}) {
    Verdict v = scan(letter({{"Subject", s}, {"X-Precedence-Ref", "l2340567"}}));
    EXPECT_TRUE(v.has("XPRECEDENCE_REF")) << s << "\n" << v.to_text();
    EXPECT_TRUE(v.has("HEADER_TRAITS_SEVERAL")) << s << "\n" << v.to_text();
  }
  // A double space, and a subject folded with an 8-space indent that goes on with a word:
  // with the same second trait, the meta stays quiet.
  for (const char* s : {"Quarterly report  draft for review",
                        "deleting duplicate spam before training?  good idea\r\n        orbad?"}) {
    Verdict v = scan(letter({{"Subject", s}, {"X-Precedence-Ref", "l2340567"}}));
    EXPECT_TRUE(v.has("XPRECEDENCE_REF")) << s << "\n" << v.to_text();
    EXPECT_FALSE(v.has("HEADER_TRAITS_SEVERAL")) << s << "\n" << v.to_text();
  }
}

TEST_F(Traits6HeadersTest, TwoHeaderTraitsTogether) {
  Verdict v = scan(letter({{"MIME-Version", ""},
                           {"Content-Type", "text/html"},
                           {"Date", "Fri, 30 Aug 02 21:48:08 Eastern Daylight Time"}},
                          kHtmlBody));
  EXPECT_TRUE(v.has("MIME_VERSION_MISSING")) << v.to_text();
  EXPECT_TRUE(v.has("DATE_HANDMADE")) << v.to_text();
  EXPECT_TRUE(v.has("HEADER_TRAITS_SEVERAL")) << v.to_text();
  // With a trait of another round (a Date zone that does not exist, 66-traits2).
  Verdict w = scan(letter({{"To", "<Undisclosed.Recipients@mx.ours.example>"},
                           {"Date", "Mon, 6 Jan 2025 10:00:00 -1900"}}));
  EXPECT_TRUE(w.has("DATE_IMPOSSIBLE_ZONE")) << w.to_text();
  EXPECT_TRUE(w.has("HEADER_TRAITS_SEVERAL")) << w.to_text();
}

}  // namespace
}  // namespace tsubame::filter
