// tests/filter/checks7_test.cc: round 7's computed check on messages we write ourselves:
// received_stamp() (the topmost Received stamp that parses, at most kReceivedStampMaxFields
// read), check:date-future at both edges of its window (kDateFutureMinSeconds,
// kDateFutureMaxSeconds), the same instant written in another zone, a message delivered
// late, and the shipped rule DATE_FUTURE (conf/rules/77-computed.rules): it fires on a
// letter dated hours ahead, the letter alone is still delivered, and the nearest legitimate
// letters (a clock minutes fast, a Tokyo sender read in New York, a letter queued for days)
// stay quiet. A failure names the case and prints the verdict.
#include <gtest/gtest.h>

#include <algorithm>
#include <cstdint>
#include <cstdio>
#include <ctime>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "filter/filter.h"
#include "filter/mime.h"
#include "filter/rules.h"

#include "tests/filter/default_rules_fixture.h"

namespace tsubame::filter {
namespace {

// 2025-01-06 10:00:00 UTC, a Monday: the time our side stamps every letter below.
constexpr int64_t kStamped = 1736157600;

// t as an RFC 5322 §3.3 date-time in UTC ("Mon, 06 Jan 2025 10:00:00 +0000").
std::string rfc_date(int64_t t) {
  std::time_t tt = static_cast<std::time_t>(t);
  std::tm tm{};
  gmtime_r(&tt, &tm);
  static const char* kDays[] = {"Sun", "Mon", "Tue", "Wed", "Thu", "Fri", "Sat"};
  static const char* kMonths[] = {"Jan", "Feb", "Mar", "Apr", "May", "Jun",
                                  "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"};
  char buf[64];
  std::snprintf(buf, sizeof buf, "%s, %02d %s %04d %02d:%02d:%02d +0000", kDays[tm.tm_wday], tm.tm_mday,
                kMonths[tm.tm_mon], tm.tm_year + 1900, tm.tm_hour, tm.tm_min, tm.tm_sec);
  return buf;
}

// Our MX's trace line, stamped at t (RFC 5321 §4.4), as smtpd writes it.
std::string our_received(int64_t t) {
  return "Received: from mail.partner.example (mail.partner.example [192.0.2.10])\r\n"
         "\tby mx.ours.example (Tsubame) with ESMTPS id 4711\r\n"
         "\tfor <bob@ours.example>; " +
         rfc_date(t) + "\r\n";
}

// A plain letter: the trace lines, then a Date field with the value `date`.
std::string letter(const std::string& trace, const std::string& date) {
  return trace +
         "From: Ann Example <ann@partner.example>\r\n"
         "To: Bob Example <bob@ours.example>\r\n"
         "Subject: Meeting on Tuesday\r\n"
         "Date: " +
         date +
         "\r\n"
         "Message-ID: <20250106100000.4711@partner.example>\r\n"
         "MIME-Version: 1.0\r\n"
         "Content-Type: text/plain; charset=utf-8\r\n"
         "\r\n"
         "Hello Bob,\r\n\r\nsee you at the meeting on Tuesday.\r\n\r\nAnn\r\n";
}

// A letter our side stamped at kStamped whose Date is `ahead` seconds later (negative:
// earlier), written in UTC.
std::string dated(int64_t ahead) { return letter(our_received(kStamped), rfc_date(kStamped + ahead)); }

ParsedMessage parse(const std::string& raw) {
  auto m = parse_message(raw);
  EXPECT_TRUE(m) << m.status().message();
  return m ? std::move(m.value()) : ParsedMessage{};
}

bool future(const std::string& raw) { return date_future(parse(raw)); }

TEST(Checks7Test, DateFutureIsACheckName) {
  EXPECT_NE(std::find(std::begin(kCheckNames), std::end(kCheckNames), "date-future"), std::end(kCheckNames));
  EXPECT_TRUE(parse_scope("check:date-future"));
}

TEST(Checks7Test, ReceivedStampIsTheTopmostThatParses) {
  EXPECT_EQ(received_stamp(parse(dated(0))), std::optional<int64_t>(kStamped));
  // The topmost (newest) trace line wins over an older one below it.
  EXPECT_EQ(received_stamp(parse(letter(our_received(kStamped) + our_received(kStamped - 3600), rfc_date(kStamped)))),
            std::optional<int64_t>(kStamped));
  // A line without a stamp, and one whose stamp does not parse, are passed over.
  std::string odd = "Received: by relay.example (local delivery)\r\n"
                    "Received: from x by y; yesterday at noon\r\n";
  EXPECT_EQ(received_stamp(parse(letter(odd + our_received(kStamped - 60), rfc_date(kStamped)))),
            std::optional<int64_t>(kStamped - 60));
  // No trace line at all (a message submitted on this host): no stamp.
  EXPECT_EQ(received_stamp(parse(letter("", rfc_date(kStamped)))), std::nullopt);
}

TEST(Checks7Test, ReceivedStampReadsAtMostTheLimit) {
  std::string unstamped;
  for (size_t i = 0; i + 1 < kReceivedStampMaxFields; ++i) unstamped += "Received: by hop" + std::to_string(i) + ".example\r\n";
  // The last field read carries the first stamp: found.
  EXPECT_EQ(received_stamp(parse(letter(unstamped + our_received(kStamped), rfc_date(kStamped)))),
            std::optional<int64_t>(kStamped));
  // One field further down: not read.
  EXPECT_EQ(received_stamp(parse(letter(unstamped + "Received: by one-more.example\r\n" + our_received(kStamped),
                                        rfc_date(kStamped)))),
            std::nullopt);
}

TEST(Checks7Test, DateFutureWindowEdges) {
  EXPECT_FALSE(future(dated(kDateFutureMinSeconds)));        // exactly 6 hours ahead: quiet
  EXPECT_TRUE(future(dated(kDateFutureMinSeconds + 1)));
  EXPECT_TRUE(future(dated(10 * 3600)));
  EXPECT_TRUE(future(dated(kDateFutureMaxSeconds)));         // exactly a week ahead: fires
  EXPECT_FALSE(future(dated(kDateFutureMaxSeconds + 1)));    // a clock set to a wrong month
  EXPECT_FALSE(future(dated(int64_t{3} * 365 * 24 * 3600)));  // ... or a wrong year
}

TEST(Checks7Test, DateFutureQuietOnOrdinaryDates) {
  EXPECT_FALSE(future(dated(0)));
  EXPECT_FALSE(future(dated(-45)));           // sent a minute before it arrived
  EXPECT_FALSE(future(dated(4 * 60)));        // a sender's clock four minutes fast
  EXPECT_FALSE(future(dated(-3 * 24 * 3600)));  // queued three days on a relay, then delivered
  // The same instant in Tokyo's zone reads nine hours "later" on its face: quiet.
  EXPECT_FALSE(future(letter(our_received(kStamped), "Mon, 06 Jan 2025 19:00:00 +0900")));
  // The instant written in an impossible zone is nineteen hours ahead: fires.
  EXPECT_TRUE(future(letter(our_received(kStamped), "Mon, 06 Jan 2025 10:00:00 -1900")));
  // No Date, a Date that does not parse, or no trace line: nothing to compare.
  EXPECT_FALSE(future(letter(our_received(kStamped), "next Tuesday")));
  EXPECT_FALSE(future(letter("", rfc_date(kStamped + 10 * 3600))));
}

TEST(Checks7Test, ComputeChecksNamesDateFuture) {
  auto names = [](const std::string& raw) { return compute_checks(parse(raw), {}); };
  auto has = [](const std::vector<std::string>& c) { return std::find(c.begin(), c.end(), "date-future") != c.end(); };
  EXPECT_TRUE(has(names(dated(12 * 3600))));
  EXPECT_FALSE(has(names(dated(60))));
  EXPECT_TRUE(testing::check_fires(dated(12 * 3600), "date-future"));
}

class Checks7RulesTest : public testing::DefaultRulesTest {
 protected:
  static Verdict scan(const std::string& raw) { return filter_->scan(raw, {}, {}); }
};

TEST_F(Checks7RulesTest, DateFutureFiresAndAloneIsDelivered) {
  Verdict v = scan(dated(9 * 3600));
  EXPECT_TRUE(v.has("DATE_FUTURE")) << v.to_text();
  EXPECT_EQ(v.action, Action::kDeliver) << v.to_text();
  // A forged trail below our line does not matter: our own stamp is the topmost.
  Verdict forged = scan(letter(our_received(kStamped) + "Received: from [10.0.0.1] by mail.bigisp.example; " +
                                   rfc_date(kStamped + 9 * 3600) + "\r\n",
                               rfc_date(kStamped + 9 * 3600)));
  EXPECT_TRUE(forged.has("DATE_FUTURE")) << forged.to_text();
}

TEST_F(Checks7RulesTest, DateFutureQuietOnNearestLegitimate) {
  const std::vector<std::string> ids = {"DATE_FUTURE"};
  testing::expect_quiet(scan(dated(3 * 60)), ids, "a clock three minutes fast");
  testing::expect_quiet(scan(letter(our_received(kStamped), "Mon, 6 Jan 2025 19:00:05 +0900 (JST)")), ids,
                        "a Tokyo sender read by our side in UTC");
  testing::expect_quiet(scan(letter(our_received(kStamped), "Mon, 6 Jan 2025 05:00:00 -0500 (EST)")), ids,
                        "a New York sender");
  testing::expect_quiet(scan(dated(-2 * 24 * 3600)), ids, "a letter queued two days on a relay");
}

}  // namespace
}  // namespace tsubame::filter
