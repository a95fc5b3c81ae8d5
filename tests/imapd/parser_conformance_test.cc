// tests/imapd/parser_conformance_test.cc: the parser and response rules found in the RFC
// conformance sweep of issue 5, on strings (no socket): a command already malformed before a
// literal announcement is refused before "+", NUL only in literal8, control characters in
// mailbox names, the pre-login literal limit for APPEND, and response text / BODYSTRUCTURE
// edge cases. The same rules are exercised end to end by imapd_conformance_test.py.
#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "imapd/parser.h"
#include "imapd/response.h"

namespace tsubame::imap {
namespace {

using namespace std::string_literals;

ParserOptions authed() {
  ParserOptions o;
  o.authenticated = true;
  return o;
}

std::vector<ParseEvent> run(std::string_view input, ParserOptions o = authed()) {
  Parser p(o);
  p.feed(input);
  std::vector<ParseEvent> out;
  while (auto ev = p.next()) out.push_back(std::move(*ev));
  return out;
}

const ParseError* error_of(const ParseEvent& ev) { return std::get_if<ParseError>(&ev); }

// ---- RFC 9051 §4.3 / §7.5: "+" only when the server is ready for the literal ----

TEST(ParserPrefix, AppendWithInvalidDateTimeIsRefusedBeforeContinuation) {
  // 31 February does not exist; the client must not be asked for the message.
  auto evs = run("a1 APPEND INBOX (\\Seen) \"31-Feb-2024 10:00:00 +0000\" {3}\r\n");
  ASSERT_EQ(evs.size(), 1u);
  const ParseError* e = error_of(evs[0]);
  ASSERT_NE(e, nullptr) << "a continuation request was sent";
  EXPECT_EQ(e->tag, "a1");
  EXPECT_EQ(e->kind, ParseError::Kind::kBad);
  EXPECT_NE(e->text.find("date-time"), std::string::npos) << e->text;
}

TEST(ParserPrefix, NextLineAfterRefusedSyncLiteralIsANewCommand) {
  auto evs = run("a1 APPEND INBOX \"1-Feb-2024 10:00:00 +0000\" {3}\r\na2 NOOP\r\n");
  ASSERT_EQ(evs.size(), 2u);
  ASSERT_NE(error_of(evs[0]), nullptr);
  ASSERT_TRUE(std::holds_alternative<Command>(evs[1]));
  EXPECT_EQ(std::get<Command>(evs[1]).tag, "a2");
}

TEST(ParserPrefix, RefusedNonSyncLiteralIsDiscarded) {
  auto evs = run("a1 APPEND INBOX (\\Recent) {3+}\r\nabc\r\na2 NOOP\r\n");
  ASSERT_EQ(evs.size(), 2u);
  ASSERT_NE(error_of(evs[0]), nullptr);
  EXPECT_EQ(error_of(evs[0])->tag, "a1");
  ASSERT_TRUE(std::holds_alternative<Command>(evs[1]));
  EXPECT_EQ(std::get<Command>(evs[1]).kind, CommandKind::kNoop);
}

TEST(ParserPrefix, LiteralWhereNoneMayStandIsRefused) {
  // FETCH items are never strings: "{3}" cannot be a fetch attribute.
  auto evs = run("a1 FETCH 1 {3}\r\n");
  ASSERT_EQ(evs.size(), 1u);
  ASSERT_NE(error_of(evs[0]), nullptr);
  EXPECT_EQ(error_of(evs[0])->tag, "a1");
  auto evs2 = run("a2 UNKNOWNCMD {3}\r\n");
  ASSERT_EQ(evs2.size(), 1u);
  ASSERT_NE(error_of(evs2[0]), nullptr);
}

TEST(ParserPrefix, ValidPrefixesStillGetContinuation) {
  for (const char* line :
       {"a1 LOGIN {5}\r\n", "a1 APPEND INBOX (\\Seen) \" 1-Feb-2024 10:00:00 +0100\" {3}\r\n",
        "a1 APPEND {5}\r\n", "a1 SEARCH SUBJECT {3}\r\n",
        "a1 FETCH 1 BODY[HEADER.FIELDS ({4}\r\n", "a1 ID ({4}\r\n", "a1 LIST {0}\r\n"}) {
    auto evs = run(line);
    ASSERT_EQ(evs.size(), 1u) << line;
    EXPECT_TRUE(std::holds_alternative<ContinuationRequest>(evs[0])) << line;
  }
}

TEST(ParserPrefix, ByteSplitsGiveTheSameEvents) {
  const std::string input =
      "a1 APPEND INBOX \"31-Feb-2024 10:00:00 +0000\" {3}\r\n"
      "a2 APPEND INBOX (\\Seen) {3}\r\nabc\r\na3 NOOP\r\n";
  auto whole = run(input);
  Parser p(authed());
  std::vector<ParseEvent> split;
  for (char ch : input) {
    p.feed(std::string_view(&ch, 1));
    while (auto ev = p.next()) split.push_back(std::move(*ev));
  }
  ASSERT_EQ(whole.size(), 4u);  // BAD a1, "+" for a2, APPEND a2, NOOP a3
  EXPECT_NE(error_of(whole[0]), nullptr);
  EXPECT_TRUE(std::holds_alternative<ContinuationRequest>(whole[1]));
  EXPECT_TRUE(std::holds_alternative<Command>(whole[2]));
  EXPECT_TRUE(std::holds_alternative<Command>(whole[3]));
  EXPECT_EQ(whole, split);
}

TEST(ParserPrefix, CheckRestoresThePartialCommand) {
  FramedCommand f;
  f.lines = {"a LOGIN {3}"};
  EXPECT_FALSE(check_command_prefix(f, authed()).has_value());
  EXPECT_EQ(f.lines.size(), 1u);
  EXPECT_TRUE(f.literals.empty());
  FramedCommand g;
  g.lines = {"a NOOP {3}"};
  auto e = check_command_prefix(g, authed());
  ASSERT_TRUE(e.has_value());
  EXPECT_EQ(e->tag, "a");
  EXPECT_EQ(g.lines.size(), 1u);
}

// ---- RFC 9051 §9: CHAR8 excludes NUL; only literal8 carries it ----

TEST(ParserLiteral, NulInLiteralIsBad) {
  auto evs = run("a1 LOGIN {3}\r\na\0b x\r\n"s);
  ASSERT_EQ(evs.size(), 2u);
  EXPECT_TRUE(std::holds_alternative<ContinuationRequest>(evs[0]));
  ASSERT_NE(error_of(evs[1]), nullptr);
  EXPECT_NE(error_of(evs[1])->text.find("NUL"), std::string::npos);
  auto app = run("a2 APPEND INBOX {3+}\r\na\0b\r\n"s);
  ASSERT_EQ(app.size(), 1u);
  ASSERT_NE(error_of(app[0]), nullptr);
}

TEST(ParserLiteral, NulInLiteral8IsAccepted) {
  auto evs = run("a1 APPEND INBOX ~{3+}\r\na\0b\r\n"s);
  ASSERT_EQ(evs.size(), 1u);
  ASSERT_TRUE(std::holds_alternative<Command>(evs[0]));
  const auto& a = std::get<Command>(evs[0]).as<AppendArgs>();
  EXPECT_TRUE(a.binary);
  EXPECT_EQ(a.message, "a\0b"s);
}

// ---- RFC 9051 §5.1, RFC 6855 §3: no control characters in mailbox names ----

TEST(ParserMailbox, ControlCharactersAreRefused) {
  ParserOptions utf8 = authed();
  utf8.utf8_mailboxes = true;
  for (std::string name : {"\"a\x01z\"", "\"a\x7fz\"", "\"a\xc2\x85z\"", "\"a\xe2\x80\xa8z\"",
                           "\"a\xe2\x80\xa9z\""}) {
    auto evs = run("a1 CREATE " + name + "\r\n", utf8);
    ASSERT_EQ(evs.size(), 1u) << name;
    EXPECT_NE(error_of(evs[0]), nullptr) << name;
  }
  // The same code points in modified UTF-7 (U+0085 is "&AIU-", U+2028 is "&ICg-").
  for (std::string name : {"a&AIU-z", "a&ICg-z"}) {
    auto evs = run("a1 CREATE " + name + "\r\n");
    ASSERT_EQ(evs.size(), 1u) << name;
    EXPECT_NE(error_of(evs[0]), nullptr) << name;
  }
  auto fine = run("a1 CREATE \"Caf\xc3\xa9\"\r\n", utf8);
  ASSERT_EQ(fine.size(), 1u);
  EXPECT_TRUE(std::holds_alternative<Command>(fine[0]));
}

// ---- limits: APPENDLIMIT applies only after login ----

TEST(ParserLimits, AppendBeforeLoginUsesThePreAuthLiteralLimit) {
  ParserOptions pre;  // not authenticated
  auto evs = run("a1 APPEND INBOX {" + std::to_string(kMaxLiteralSizePreAuth + 1) + "}\r\n", pre);
  ASSERT_EQ(evs.size(), 1u);
  const ParseError* e = error_of(evs[0]);
  ASSERT_NE(e, nullptr) << "a continuation was offered before login";
  EXPECT_EQ(e->kind, ParseError::Kind::kBad);
  EXPECT_EQ(e->code, "TOOBIG");
  // After login the same size is an ordinary message.
  auto ok = run("a1 APPEND INBOX {" + std::to_string(kMaxLiteralSizePreAuth + 1) + "}\r\n");
  ASSERT_EQ(ok.size(), 1u);
  EXPECT_TRUE(std::holds_alternative<ContinuationRequest>(ok[0]));
}

// ---- responses ----

TEST(ResponseText, TaggedTextIsNeverEmptyNorMultiLine) {
  EXPECT_EQ(tagged("a1", "OK", "", ""), "a1 OK ok\r\n");
  EXPECT_EQ(tagged("a1", "NO", "TRYCREATE", ""), "a1 NO [TRYCREATE] no\r\n");
  EXPECT_EQ(tagged("a1", "BAD", "", "bad\r\nname"), "a1 BAD bad  name\r\n");
  // A reason starting with "[" is not a response code.
  EXPECT_EQ(tagged("a1", "BAD", "", "[x] y"), "a1 BAD - [x] y\r\n");
  EXPECT_EQ(tagged("a1", "OK", "READ-WRITE", "[x]"), "a1 OK [READ-WRITE] [x]\r\n");
}

TEST(ResponseDate, YearHasFourDigits) {
  EXPECT_EQ(format_date_time(0), "\" 1-Jan-1970 00:00:00 +0000\"");
  EXPECT_EQ(format_date_time(253402300799 + 86400 * 400), "\"31-Dec-9999 23:59:59 +0000\"");
  EXPECT_EQ(format_date_time(-62135596800 - 86400), "\" 1-Jan-0001 00:00:00 +0000\"");
}

TEST(ResponseBody, MessageRfc822WithoutParsedChildStillHasEnvelopeBodyLines) {
  BodyPart p;
  p.type = "message";
  p.subtype = "rfc822";
  p.size = 0;
  p.lines = 0;
  std::string out;
  append_body_structure(out, p, false);
  EXPECT_EQ(out,
            "(\"message\" \"rfc822\" NIL NIL NIL \"7BIT\" 0 "
            "(NIL NIL NIL NIL NIL NIL NIL NIL NIL NIL) "
            "(\"text\" \"plain\" (\"charset\" \"us-ascii\") NIL NIL \"7BIT\" 0 0) 0)");
}

TEST(ResponseBody, MultipartWithoutPartsHasOneEmptyBody) {
  BodyPart p;
  p.type = "multipart";
  p.subtype = "mixed";
  std::string out;
  append_body_structure(out, p, false);
  EXPECT_EQ(out, "((\"text\" \"plain\" (\"charset\" \"us-ascii\") NIL NIL \"7BIT\" 0 0) \"mixed\")");
}

TEST(ResponseLiteral, NulNeverTravelsInALiteral) {
  std::string out;
  append_literal(out, "a\0b"s);
  EXPECT_EQ(out, "{3}\r\na\x80" "b");
  out.clear();
  append_string(out, "x\0"s);
  EXPECT_EQ(out, "{2}\r\nx\x80");
}

}  // namespace
}  // namespace tsubame::imap
