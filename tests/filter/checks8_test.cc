// tests/filter/checks8_test.cc: round 8's computed check on messages we write ourselves:
// named_mail_program() (the program X-Mailer, else User-Agent, names; whole words, at most
// kMailerNameMaxBytes read), message_id_shape() (the fingerprints of Microsoft's mail library,
// The Bat! and Eudora, random letters from kMessageIdLettersMin, nothing past
// kMessageIdShapeMaxBytes), check:mailer-forged on each contradiction and quiet on each
// agreement and on ids a relay or a mail service wrote; boundary_filetime() and
// message_id_filetime() (the Windows FILETIME in Microsoft's boundaries and ids),
// check:filetime-stale at both edges of kFiletimeStaleSeconds, in a nested multipart, not
// in an attached message, and within kFiletimeMaxBoundaries; and the shipped rules
// MAILER_FORGED and FILETIME_STALE (conf/rules/80-computed2.rules): each fires on its trait,
// the letter alone is still delivered, and the nearest legitimate letters stay quiet. A
// failure names the case and prints the verdict.
#include <gtest/gtest.h>

#include <algorithm>
#include <cctype>
#include <cstdint>
#include <cstdio>
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

// Message-IDs as each writer writes them.
const std::string kOutlookId = "<000801c2b53f$5d1b3a20$0200a8c0@pc17>";
const std::string kBatId = "<1736157600.20250106100000@partner.example>";
const std::string kEudoraId = "<5.1.0.14.2.20250106100000.00a1b2c3@partner.example>";
const std::string kLettersId = "<vewaeurtngep@partner.example>";
const std::string kMozillaId = "<3D5E2A0B.4050405@partner.example>";
const std::string kUuidId = "<8F2C5B4A-1D3E-4F60-9A7B-2C1D0E9F8A76@partner.example>";
const std::string kSendmailId = "<202501061000.h06A0Bx12345@relay.partner.example>";  // added by a relay
const std::string kEximId = "<E1tUkqz-0004gj-00@relay.partner.example>";
const std::string kServiceId = "<DM6PR11MB4123A1B2C3D4E5F6A7B8C9D0E1F2A3B4@DM6PR11MB4123.namprd11.prod.outlook.com>";
const std::string kImoId = "<ILEHJNJFPDLMDEKNIAKCOEDCCAAA.ann@partner.example>";  // Outlook 2000 IMO

// A plain letter with `fields` (whole header lines, CRLF-terminated) and Message-ID `id`.
std::string letter(const std::string& fields, const std::string& id) {
  return "From: Ann Example <ann@partner.example>\r\n"
         "To: Bob Example <bob@ours.example>\r\n"
         "Subject: Minutes of Tuesday's meeting\r\n"
         "Date: Mon, 06 Jan 2025 10:00:00 +0000\r\n"
         "Message-ID: " +
         id + "\r\n" + fields +
         "MIME-Version: 1.0\r\n"
         "Content-Type: text/plain; charset=utf-8\r\n"
         "\r\n"
         "Hello Bob,\r\n\r\nthe minutes of Tuesday's meeting are below; the next one is on the 14th.\r\n\r\nAnn\r\n";
}
std::string mailer(const std::string& name) { return "X-Mailer: " + name + "\r\n"; }
std::string agent(const std::string& name) { return "User-Agent: " + name + "\r\n"; }

const std::string kBat = mailer("The Bat! (v10.5.2) Professional");
const std::string kEudora = mailer("QUALCOMM Windows Eudora Version 7.1.0.9");
const std::string kOutlookExpress = mailer("Microsoft Outlook Express 6.00.2900.5931") +
                                    "X-MimeOLE: Produced By Microsoft MimeOLE V6.00.2900.6157\r\n";
const std::string kOutlook = mailer("Microsoft Outlook 16.0");
const std::string kThunderbird =
    agent("Mozilla/5.0 (Windows NT 10.0; Win64; x64; rv:128.0) Gecko/20100101 Thunderbird/128.6.0");

ParsedMessage parse(const std::string& raw) {
  auto m = parse_message(raw);
  EXPECT_TRUE(m) << m.status().message();
  return m ? std::move(m.value()) : ParsedMessage{};
}

MailProgram program(const std::string& fields) { return named_mail_program(parse(letter(fields, kUuidId))); }
bool forged(const std::string& fields, const std::string& id) { return mailer_forged(parse(letter(fields, id))); }

TEST(Checks8Test, MailerForgedIsACheckName) {
  EXPECT_NE(std::find(std::begin(kCheckNames), std::end(kCheckNames), "mailer-forged"), std::end(kCheckNames));
  EXPECT_TRUE(parse_scope("check:mailer-forged"));
}

TEST(Checks8Test, NamedMailProgram) {
  EXPECT_EQ(program(kOutlookExpress), MailProgram::kMicrosoft);
  EXPECT_EQ(program(kOutlook), MailProgram::kMicrosoft);
  EXPECT_EQ(program(mailer("Microsoft Outlook IMO, Build 9.0.2416 (9.0.2911.0)")), MailProgram::kMicrosoft);
  EXPECT_EQ(program(agent("Microsoft-MacOutlook/16.92.25010516")), MailProgram::kMicrosoft);
  EXPECT_EQ(program(mailer("Windows Live Mail 16.4.3528.331")), MailProgram::kMicrosoft);
  EXPECT_EQ(program(kBat), MailProgram::kTheBat);
  EXPECT_EQ(program(kEudora), MailProgram::kEudora);  // "Windows" in it names no Microsoft program
  EXPECT_EQ(program(kThunderbird), MailProgram::kOther);
  EXPECT_EQ(program(mailer("Apple Mail (2.3826.300.87.4.3)")), MailProgram::kOther);
  EXPECT_EQ(program(agent("Mutt/2.2.13 (2024-03-09)")), MailProgram::kOther);
  EXPECT_EQ(program(mailer("pegasus mail for windows (4.80)")), MailProgram::kOther);  // case does not matter
  // Names not in the table, names inside a longer word, and no field at all: none.
  EXPECT_EQ(program(mailer("PHPMailer 6.9.1 (https://github.com/PHPMailer/PHPMailer)")), MailProgram::kNone);
  EXPECT_EQ(program(mailer("Pineapple Mailer 2.0")), MailProgram::kNone);
  EXPECT_EQ(program(mailer("Operations Desk Notifier")), MailProgram::kNone);
  EXPECT_EQ(program(""), MailProgram::kNone);
  // X-Mailer is read first; when it names nothing known, User-Agent is read.
  EXPECT_EQ(program(mailer("Acme Ticketing 3.1") + kThunderbird), MailProgram::kOther);
  EXPECT_EQ(program(kBat + kThunderbird), MailProgram::kTheBat);
}

TEST(Checks8Test, NamedMailProgramReadsAtMostTheLimit) {
  std::string pad(kMailerNameMaxBytes - std::string("Eudora").size(), 'x');
  pad[pad.size() - 1] = ' ';
  // The name ends on the last byte read: found. One byte further: not read.
  EXPECT_EQ(program(mailer(pad + "Eudora")), MailProgram::kEudora);
  EXPECT_EQ(program(mailer(pad + " Eudora")), MailProgram::kNone);
}

TEST(Checks8Test, MessageIdShapes) {
  EXPECT_EQ(message_id_shape(kOutlookId), MessageIdShape::kMicrosoft);
  EXPECT_EQ(message_id_shape("<000001DB5F3A$5D1B3A20$0200A8C0@PC17>"), MessageIdShape::kMicrosoft);  // capitals
  EXPECT_EQ(message_id_shape(" " + kBatId + " "), MessageIdShape::kTheBat);
  EXPECT_EQ(message_id_shape("<123456.20250106100000@a.example>"), MessageIdShape::kTheBat);  // six digits
  EXPECT_EQ(message_id_shape(kEudoraId), MessageIdShape::kEudora);
  EXPECT_EQ(message_id_shape("<5.1.0.14.20020822123456.0302c123@a.example>"), MessageIdShape::kEudora);
  EXPECT_EQ(message_id_shape("<6.2.5.6.2.1.20250106100000.02a1b2c3@a.example>"), MessageIdShape::kEudora);
  EXPECT_EQ(message_id_shape(kLettersId), MessageIdShape::kLetters);
  // Near misses: one hex digit short, a Bat! time one digit long, an Eudora id without its
  // hex tail, five letters, capitals (Outlook 2000 writes letters A-P and the user), digits.
  EXPECT_EQ(message_id_shape("<000801c2b53$5d1b3a20$0200a8c0@pc17>"), MessageIdShape::kOther);
  EXPECT_EQ(message_id_shape("<1736157600.202501061000001@a.example>"), MessageIdShape::kOther);
  EXPECT_EQ(message_id_shape("<12345.20250106100000@a.example>"), MessageIdShape::kOther);
  EXPECT_EQ(message_id_shape("<5.1.0.14.2.20250106100000@a.example>"), MessageIdShape::kOther);
  EXPECT_EQ(message_id_shape("<abcde@a.example>"), MessageIdShape::kOther);
  EXPECT_EQ(message_id_shape("<abcdef@a.example>"), MessageIdShape::kLetters);
  EXPECT_EQ(message_id_shape(kImoId), MessageIdShape::kOther);
  EXPECT_EQ(message_id_shape("<JKEMLFJNJEHGHKOIBNJNIEGJCAAA@a.example>"), MessageIdShape::kOther);
  // What relays, services and the other programs write.
  for (const std::string& id : {kMozillaId, kUuidId, kSendmailId, kEximId, kServiceId})
    EXPECT_EQ(message_id_shape(id), MessageIdShape::kOther) << id;
  // Not an id at all.
  for (const std::string& id : {std::string(), std::string("<>"), std::string("<@a.example>"),
                                std::string("vewaeurtngep@a.example"), std::string("<vewaeurtngep>")})
    EXPECT_EQ(message_id_shape(id), MessageIdShape::kOther) << id;
}

TEST(Checks8Test, MessageIdShapeReadsAtMostTheLimit) {
  std::string at_limit(kMessageIdShapeMaxBytes, 'q');
  EXPECT_EQ(message_id_shape("<" + at_limit + "@a.example>"), MessageIdShape::kLetters);
  EXPECT_EQ(message_id_shape("<" + at_limit + "q@a.example>"), MessageIdShape::kOther);
  // More dot-separated fields than any shape has.
  EXPECT_EQ(message_id_shape("<5.1.0.14.2.7.9.20250106100000.00a1b2c3@a.example>"), MessageIdShape::kOther);
}

TEST(Checks8Test, MailerForgedOnEachContradiction) {
  EXPECT_TRUE(forged(kBat, kOutlookId));
  EXPECT_TRUE(forged(kEudora, kOutlookId));
  EXPECT_TRUE(forged(kThunderbird, kOutlookId));
  EXPECT_TRUE(forged(kOutlookExpress, kBatId));
  EXPECT_TRUE(forged(kOutlook, kEudoraId));
  EXPECT_TRUE(forged(kEudora, kBatId));
  EXPECT_TRUE(forged(kBat, kEudoraId));
  EXPECT_TRUE(forged(kOutlookExpress, kLettersId));
  EXPECT_TRUE(forged(kThunderbird, kLettersId));
}

TEST(Checks8Test, MailerForgedQuietOnAgreementAndOnRelayIds) {
  EXPECT_FALSE(forged(kOutlookExpress, kOutlookId));
  EXPECT_FALSE(forged(kOutlook, kOutlookId));
  EXPECT_FALSE(forged(kBat, kBatId));
  EXPECT_FALSE(forged(kEudora, kEudoraId));
  EXPECT_FALSE(forged(kThunderbird, kMozillaId));
  EXPECT_FALSE(forged(kThunderbird, kUuidId));
  EXPECT_FALSE(forged(mailer("Microsoft Outlook IMO, Build 9.0.2416 (9.0.2911.0)"), kImoId));
  // The program wrote no id and a relay added its own, or a mail service rewrote it.
  for (const std::string& id : {kSendmailId, kEximId, kServiceId}) {
    EXPECT_FALSE(forged(kOutlookExpress, id)) << id;
    EXPECT_FALSE(forged(kBat, id)) << id;
    EXPECT_FALSE(forged(kThunderbird, id)) << id;
  }
  // No program named (an Outlook-shaped id alone is MSGID_OE_FORGED's business, 65-traits),
  // or a name outside the table, or no Message-ID: nothing to contradict.
  EXPECT_FALSE(forged("", kOutlookId));
  EXPECT_FALSE(forged("", kLettersId));
  EXPECT_FALSE(forged(mailer("Acme Ticketing 3.1"), kLettersId));
  std::string no_id = letter(kBat, kOutlookId);
  no_id.erase(no_id.find("Message-ID:"), std::string("Message-ID: " + kOutlookId + "\r\n").size());
  EXPECT_FALSE(mailer_forged(parse(no_id)));
}

TEST(Checks8Test, ComputeChecksNamesMailerForged) {
  auto names = [](const std::string& raw) { return compute_checks(parse(raw), {}); };
  auto has = [](const std::vector<std::string>& c) {
    return std::find(c.begin(), c.end(), "mailer-forged") != c.end();
  };
  EXPECT_TRUE(has(names(letter(kBat, kOutlookId))));
  EXPECT_FALSE(has(names(letter(kBat, kBatId))));
  EXPECT_TRUE(testing::check_fires(letter(kEudora, kOutlookId), "mailer-forged"));
}

// ---- check:filetime-stale

// 2025-01-06 10:00:00 UTC as a FILETIME: 0x01DB6021_BF771000 (133806312000000000).
constexpr int64_t kSent = 1736157600;
constexpr uint64_t kSentFiletime = 133806312000000000ULL;

// FILETIME of `t` unix seconds, as the high and low halves Microsoft writes (upper case).
std::string filetime_hex(int64_t t, const char* sep) {
  uint64_t ft = kSentFiletime + static_cast<uint64_t>((t - kSent) * 10000000);
  char buf[32];
  std::snprintf(buf, sizeof buf, "%08X%s%08X", static_cast<unsigned>(ft >> 32), sep,
                static_cast<unsigned>(ft & 0xffffffffu));
  return buf;
}
std::string outlook_boundary(int64_t t) { return "----=_NextPart_000_0019_" + filetime_hex(t, "."); }
std::string outlook_id(int64_t t) {
  std::string h = filetime_hex(t, "$");
  for (char& c : h) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return "<0008" + h + "$0200a8c0@pc17>";
}

// A multipart/alternative letter dated kSent (UTC) whose boundary is `boundary` and whose
// Message-ID is `id`; `inner`, when set, is the boundary of a nested multipart/related.
std::string multipart(const std::string& boundary, const std::string& id, const std::string& inner = "") {
  std::string part = "Content-Type: text/plain; charset=utf-8\r\n\r\nHello Bob,\r\n\r\nthe minutes are attached.\r\n";
  std::string body = inner.empty()
                         ? part
                         : "Content-Type: multipart/related; boundary=\"" + inner + "\"\r\n\r\n--" + inner + "\r\n" +
                               part + "--" + inner + "--\r\n";
  return "From: Ann Example <ann@partner.example>\r\n"
         "To: Bob Example <bob@ours.example>\r\n"
         "Subject: Minutes of Tuesday's meeting\r\n"
         "Date: Mon, 06 Jan 2025 10:00:00 +0000\r\n"
         "Message-ID: " +
         id + "\r\n" + kOutlookExpress +
         "MIME-Version: 1.0\r\n"
         "Content-Type: multipart/alternative; boundary=\"" +
         boundary + "\"\r\n\r\n--" + boundary + "\r\n" + body + "--" + boundary + "--\r\n";
}
bool stale(const std::string& raw) { return filetime_stale(parse(raw)); }

TEST(Checks8Test, FiletimeStaleIsACheckName) {
  EXPECT_NE(std::find(std::begin(kCheckNames), std::end(kCheckNames), "filetime-stale"), std::end(kCheckNames));
  EXPECT_TRUE(parse_scope("check:filetime-stale"));
}

TEST(Checks8Test, BoundaryFiletime) {
  EXPECT_EQ(boundary_filetime("----=_NextPart_000_0019_01DB6021.BF771000"), std::optional<int64_t>(kSent));
  EXPECT_EQ(boundary_filetime(outlook_boundary(kSent - 3600)), std::optional<int64_t>(kSent - 3600));
  // Exchange and Outlook 97 write no counter; some counters have six digits; a low half
  // may have lost its leading zeros.
  EXPECT_EQ(boundary_filetime("----_=_NextPart_001_01DB6021.BF771000"), std::optional<int64_t>(kSent));
  EXPECT_EQ(boundary_filetime("----=_NextPart_000_01BC2B74.89D1CCC0"), std::optional<int64_t>(857793318));
  EXPECT_EQ(boundary_filetime("----=_NextPart_000_3257B2_01DB6021.BF771000"), std::optional<int64_t>(kSent));
  EXPECT_TRUE(boundary_filetime("----=_NextPart_000_0019_01C24E1D.A7A420"));
  // Random digits (the high half not 01...), letters, other shapes, other programs: none.
  for (const char* b : {"----=_NextPart_000_00B2_83B03D1E.C6530E24", "----=_NextPart_QXVROEFEFX",
                        "----_NextPart_3402248108", "----=_NextPart_000_0019_01DB6021.BF771",
                        "----=_NextPart_000_0019_01DB6021.BF771000X", "------------000105030303060005010208",
                        "Apple-Mail=_8F2C5B4A-1D3E-4F60-9A7B-2C1D0E9F8A76"})
    EXPECT_FALSE(boundary_filetime(b)) << b;
}

TEST(Checks8Test, MessageIdFiletime) {
  EXPECT_EQ(message_id_filetime(outlook_id(kSent)), std::optional<int64_t>(kSent));
  EXPECT_EQ(message_id_filetime("<000801db6021$bf771000$0200a8c0@pc17>"), std::optional<int64_t>(kSent));
  EXPECT_FALSE(message_id_filetime("<00085d1b3a20$4a2e1800$0200a8c0@pc17>"));  // random high half
  EXPECT_FALSE(message_id_filetime(kBatId));
  EXPECT_FALSE(message_id_filetime(kUuidId));
}

TEST(Checks8Test, FiletimeStaleWindowEdges) {
  const std::string id = kUuidId;  // only the boundary speaks
  EXPECT_FALSE(stale(multipart(outlook_boundary(kSent), id)));
  EXPECT_FALSE(stale(multipart(outlook_boundary(kSent - 9 * 3600), id)));  // local time, nine hours west
  EXPECT_FALSE(stale(multipart(outlook_boundary(kSent - kFiletimeStaleSeconds), id)));
  EXPECT_TRUE(stale(multipart(outlook_boundary(kSent - kFiletimeStaleSeconds - 1), id)));
  EXPECT_FALSE(stale(multipart(outlook_boundary(kSent + kFiletimeStaleSeconds), id)));
  EXPECT_TRUE(stale(multipart(outlook_boundary(kSent + kFiletimeStaleSeconds + 1), id)));
  EXPECT_TRUE(stale(multipart("----=_NextPart_000_01BC2B74.89D1CCC0", id)));  // 1997 under a 2025 Date
  // The Message-ID the same way, under a boundary of no FILETIME.
  const std::string plain_boundary = "------------000105030303060005010208";
  EXPECT_FALSE(stale(multipart(plain_boundary, outlook_id(kSent + 3600))));
  EXPECT_TRUE(stale(multipart(plain_boundary, outlook_id(kSent - kFiletimeStaleSeconds - 1))));
  // A nested multipart's boundary counts.
  EXPECT_TRUE(stale(multipart(plain_boundary, id, outlook_boundary(kSent - 400 * 24 * 3600))));
  EXPECT_FALSE(stale(multipart(plain_boundary, id, outlook_boundary(kSent))));
  // No Date, or one that does not parse: nothing to compare.
  std::string undated = multipart(outlook_boundary(kSent - 400 * 24 * 3600), id);
  undated.replace(undated.find("Mon, 06 Jan 2025 10:00:00 +0000"), 31, "next Tuesday");
  EXPECT_FALSE(stale(undated));
}

TEST(Checks8Test, FiletimeStaleNotInAnAttachedMessage) {
  // A letter forwarding a year-old Outlook message as an attachment: the attachment's
  // boundary is its own Date's business.
  std::string old_boundary = outlook_boundary(kSent - 365 * 24 * 3600);
  std::string raw = "From: Ann Example <ann@partner.example>\r\nTo: Bob Example <bob@ours.example>\r\n"
                    "Subject: Fw: last year's offer\r\nDate: Mon, 06 Jan 2025 10:00:00 +0000\r\n"
                    "Message-ID: " + outlook_id(kSent) + "\r\nMIME-Version: 1.0\r\n"
                    "Content-Type: multipart/mixed; boundary=\"outer\"\r\n\r\n"
                    "--outer\r\nContent-Type: text/plain\r\n\r\nSee below.\r\n"
                    "--outer\r\nContent-Type: message/rfc822\r\n\r\n"
                    "From: Carl <carl@vendor.example>\r\nDate: Sat, 06 Jan 2024 10:00:00 +0000\r\n"
                    "Subject: Offer\r\nMIME-Version: 1.0\r\n"
                    "Content-Type: multipart/alternative; boundary=\"" + old_boundary + "\"\r\n\r\n"
                    "--" + old_boundary + "\r\nContent-Type: text/plain\r\n\r\nOur offer.\r\n"
                    "--" + old_boundary + "--\r\n"
                    "--outer--\r\n";
  EXPECT_FALSE(stale(raw));
}

TEST(Checks8Test, FiletimeStaleReadsAtMostTheLimit) {
  // kFiletimeMaxBoundaries - 1 nested multiparts with plain boundaries, then the stale one.
  auto nest = [](size_t plain) {
    std::string stale_b = outlook_boundary(kSent - 400 * 24 * 3600);
    std::string body = "Content-Type: multipart/mixed; boundary=\"" + stale_b + "\"\r\n\r\n--" + stale_b +
                       "\r\nContent-Type: text/plain\r\n\r\nx\r\n--" + stale_b + "--\r\n";
    for (size_t i = 0; i < plain; ++i) {
      std::string b = "plain-" + std::to_string(i);
      body = "Content-Type: multipart/mixed; boundary=\"" + b + "\"\r\n\r\n--" + b + "\r\n" + body + "--" + b +
             "--\r\n";
    }
    return "From: Ann Example <ann@partner.example>\r\nTo: bob@ours.example\r\nSubject: x\r\n"
           "Date: Mon, 06 Jan 2025 10:00:00 +0000\r\nMessage-ID: " + kUuidId + "\r\nMIME-Version: 1.0\r\n" + body;
  };
  EXPECT_TRUE(stale(nest(kFiletimeMaxBoundaries - 1)));  // the last multipart read
  EXPECT_FALSE(stale(nest(kFiletimeMaxBoundaries)));     // one further: not read
}

TEST(Checks8Test, ComputeChecksNamesFiletimeStale) {
  EXPECT_TRUE(testing::check_fires(multipart("----=_NextPart_000_01BC2B74.89D1CCC0", kUuidId), "filetime-stale"));
  EXPECT_FALSE(testing::check_fires(multipart(outlook_boundary(kSent), outlook_id(kSent)), "filetime-stale"));
}

class Checks8RulesTest : public testing::DefaultRulesTest {
 protected:
  static Verdict scan(const std::string& raw) { return filter_->scan(raw, {}, {}); }
};

TEST_F(Checks8RulesTest, MailerForgedFiresAndAloneIsDelivered) {
  Verdict v = scan(letter(kBat, kOutlookId));
  EXPECT_TRUE(v.has("MAILER_FORGED")) << v.to_text();
  EXPECT_EQ(v.action, Action::kDeliver) << v.to_text();
  Verdict letters = scan(letter(kOutlookExpress, kLettersId));
  EXPECT_TRUE(letters.has("MAILER_FORGED")) << letters.to_text();
}

TEST_F(Checks8RulesTest, FiletimeStaleFiresAndAloneIsDelivered) {
  Verdict v = scan(multipart("----=_NextPart_000_01BC2B74.89D1CCC0", outlook_id(kSent)));
  EXPECT_TRUE(v.has("FILETIME_STALE")) << v.to_text();
  EXPECT_EQ(v.action, Action::kDeliver) << v.to_text();
}

TEST_F(Checks8RulesTest, FiletimeStaleQuietOnNearestLegitimate) {
  const std::vector<std::string> ids = {"FILETIME_STALE"};
  testing::expect_quiet(scan(multipart(outlook_boundary(kSent), outlook_id(kSent))), ids, "an Outlook letter");
  testing::expect_quiet(scan(multipart(outlook_boundary(kSent + 9 * 3600), outlook_id(kSent))), ids,
                        "an Outlook letter from Tokyo (boundary in local time)");
  testing::expect_quiet(scan(multipart(outlook_boundary(kSent - 20 * 24 * 3600), outlook_id(kSent))), ids,
                        "a draft written twenty days before it was sent");
}

TEST_F(Checks8RulesTest, MailerForgedQuietOnNearestLegitimate) {
  const std::vector<std::string> ids = {"MAILER_FORGED"};
  testing::expect_quiet(scan(letter(kBat, kBatId)), ids, "a The Bat! letter with its own id");
  testing::expect_quiet(scan(letter(kOutlookExpress, kOutlookId)), ids, "an Outlook Express letter");
  testing::expect_quiet(scan(letter(kEudora, kEudoraId)), ids, "a Eudora letter");
  testing::expect_quiet(scan(letter(kThunderbird, kServiceId)), ids,
                        "a Thunderbird letter whose id the sending service rewrote");
  testing::expect_quiet(scan(letter(kOutlookExpress, kSendmailId)), ids,
                        "an Outlook Express letter whose id a relay added");
}

}  // namespace
}  // namespace tsubame::filter
