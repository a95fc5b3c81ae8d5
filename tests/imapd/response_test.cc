// tests/imapd/response_test.cc: response encoding against the examples of RFC 9051
// (§7.5.2, §8) and the quoting rules of §4.3 / §9.
#include "imapd/response.h"

#include <gtest/gtest.h>

#include "imapd/parser.h"

namespace tsubame::imap {
namespace {

std::string str(std::string_view s, bool utf8 = false) {
  std::string out;
  append_string(out, s, EncodeOptions{utf8});
  return out;
}
std::string astr(std::string_view s, bool utf8 = false) {
  std::string out;
  append_astring(out, s, EncodeOptions{utf8});
  return out;
}

TEST(ResponseQuoting, StringChoosesQuotedOrLiteral) {
  EXPECT_EQ(str("hello"), "\"hello\"");
  EXPECT_EQ(str(""), "\"\"");
  EXPECT_EQ(str("say \"hi\" \\ bye"), R"("say \"hi\" \\ bye")");
  EXPECT_EQ(str("two\r\nlines"), "{10}\r\ntwo\r\nlines");
  EXPECT_EQ(str("caf\xc3\xa9"), "{5}\r\ncaf\xc3\xa9");       // 8-bit: literal in IMAP4rev1
  EXPECT_EQ(str("caf\xc3\xa9", true), "\"caf\xc3\xa9\"");    // UTF-8 quoted in IMAP4rev2
  EXPECT_EQ(str("bad\xff", true), "{4}\r\nbad\xff");         // not UTF-8: literal anyway
  std::string longs(kMaxQuotedLength + 1, 'x');
  EXPECT_EQ(str(longs), "{" + std::to_string(longs.size()) + "}\r\n" + longs);
  EXPECT_EQ(str(std::string(kMaxQuotedLength, 'x')).front(), '"');
}

TEST(ResponseQuoting, AstringPrefersAtoms) {
  EXPECT_EQ(astr("INBOX"), "INBOX");
  EXPECT_EQ(astr("Sent]"), "Sent]");
  EXPECT_EQ(astr("Sent Items"), "\"Sent Items\"");
  EXPECT_EQ(astr(""), "\"\"");
  EXPECT_EQ(astr("NIL"), "\"NIL\"");
  EXPECT_EQ(astr("nil"), "\"nil\"");
  EXPECT_EQ(astr("a*b"), "\"a*b\"");
  EXPECT_EQ(astr("a%b"), "\"a%b\"");
  EXPECT_EQ(astr("(x)"), "\"(x)\"");
  EXPECT_EQ(astr("{5}"), "\"{5}\"");
}

TEST(ResponseQuoting, NstringNil) {
  std::string out;
  append_nstring(out, std::nullopt);
  out += ' ';
  append_nstring(out, std::string("x"));
  EXPECT_EQ(out, "NIL \"x\"");
}

TEST(ResponseQuoting, EncodedStringsParseBack) {
  // Whatever we encode, our parser (which follows the same ABNF) reads back unchanged.
  for (std::string s : {std::string("plain"), std::string("with space"), std::string(""),
                        std::string("q\"uo\\te"), std::string("cr\r\nlf"), std::string("NIL"),
                        std::string("caf\xc3\xa9"), std::string(2000, 'z'),
                        std::string("a]b"), std::string("{3}")}) {
    for (bool utf8 : {false, true}) {
      std::string cmd = "t LOGIN " + astr(s, utf8) + " " + astr(s, utf8) + "\r\n";
      Parser p;
      p.feed(cmd);
      std::optional<Command> c;
      while (auto ev = p.next()) {
        if (auto* cc = std::get_if<Command>(&*ev)) c = *cc;
        if (auto* e = std::get_if<ParseError>(&*ev)) ADD_FAILURE() << e->text << " for " << s;
      }
      ASSERT_TRUE(c) << s;
      EXPECT_EQ(c->as<LoginArgs>().user, s);
      EXPECT_EQ(c->as<LoginArgs>().password, s);
    }
  }
}

TEST(ResponseMailbox, ModifiedUtf7OrUtf8) {
  std::string out;
  append_mailbox(out, "Entw\xc3\xbcrfe");
  EXPECT_EQ(out, "Entw&APw-rfe");
  out.clear();
  append_mailbox(out, "Entw\xc3\xbcrfe", EncodeOptions{true});
  EXPECT_EQ(out, "\"Entw\xc3\xbcrfe\"");
  out.clear();
  append_mailbox(out, "Tom & Jerry");
  EXPECT_EQ(out, "\"Tom &- Jerry\"");
  out.clear();
  append_mailbox(out, "~peter/mail/\xe5\x8f\xb0\xe5\x8c\x97/\xe6\x97\xa5\xe6\x9c\xac\xe8\xaa\x9e");
  EXPECT_EQ(out, "~peter/mail/&U,BTFw-/&ZeVnLIqe-");  // RFC 3501 §5.1.3
}

TEST(ResponseMisc, FlagListDateTimeSequenceSet) {
  std::string out;
  append_flag_list(out, {"\\Seen", "\\Answered", "$Junk"});
  EXPECT_EQ(out, "(\\Seen \\Answered $Junk)");
  out.clear();
  append_flag_list(out, {});
  EXPECT_EQ(out, "()");
  // RFC 9051 §8: INTERNALDATE "17-Jul-1996 02:44:25 -0700"
  EXPECT_EQ(format_date_time(837596665, -420), "\"17-Jul-1996 02:44:25 -0700\"");
  EXPECT_EQ(format_date_time(837596665, 0), "\"17-Jul-1996 09:44:25 +0000\"");
  EXPECT_EQ(format_date_time(1704067200 + 4 * 86400, 330), "\" 5-Jan-2024 05:30:00 +0530\"");
  EXPECT_EQ(format_date_time(0), "\" 1-Jan-1970 00:00:00 +0000\"");
  EXPECT_EQ(format_sequence_set({1, 2, 3, 5, 7, 8}), "1:3,5,7:8");
  EXPECT_EQ(format_sequence_set({42}), "42");
  EXPECT_EQ(format_sequence_set({}), "");
  EXPECT_EQ(format_sequence_set({4294967294u, 4294967295u}), "4294967294:4294967295");
}

TEST(ResponseLines, TaggedUntaggedContinuation) {
  EXPECT_EQ(tagged("a1", "OK", "READ-WRITE", "SELECT completed"),
            "a1 OK [READ-WRITE] SELECT completed\r\n");
  EXPECT_EQ(tagged("a2", "BAD", "", "Unknown command"), "a2 BAD Unknown command\r\n");
  EXPECT_EQ(untagged("3 EXISTS"), "* 3 EXISTS\r\n");
  EXPECT_EQ(continuation("Ready"), "+ Ready\r\n");
}

// ---- RFC 9051 §8 sample FETCH ----

MailAddress addr(std::optional<std::string> name, std::string mbox, std::string host) {
  return MailAddress{std::move(name), std::nullopt, std::move(mbox), std::move(host)};
}

TEST(ResponseEnvelope, Rfc9051Example) {
  Envelope e;
  e.date = "Wed, 17 Jul 1996 02:23:25 -0700 (PDT)";
  e.subject = "IMAP4rev2 WG mtg summary and minutes";
  e.from = {addr("Terry Gray", "gray", "cac.washington.edu")};
  // Sender and Reply-To absent: the server repeats From (RFC 9051 §7.5.2).
  e.to = {addr(std::nullopt, "imap", "cac.washington.edu")};
  e.cc = {addr(std::nullopt, "minutes", "CNRI.Reston.VA.US"),
          addr("John Klensin", "KLENSIN", "MIT.EDU")};
  e.message_id = "<B27397-0100000@cac.washington.edu>";
  std::string out;
  append_envelope(out, e);
  EXPECT_EQ(out,
            "(\"Wed, 17 Jul 1996 02:23:25 -0700 (PDT)\" \"IMAP4rev2 WG mtg summary and minutes\" "
            "((\"Terry Gray\" NIL \"gray\" \"cac.washington.edu\")) "
            "((\"Terry Gray\" NIL \"gray\" \"cac.washington.edu\")) "
            "((\"Terry Gray\" NIL \"gray\" \"cac.washington.edu\")) "
            "((NIL NIL \"imap\" \"cac.washington.edu\")) "
            "((NIL NIL \"minutes\" \"CNRI.Reston.VA.US\")"
            "(\"John Klensin\" NIL \"KLENSIN\" \"MIT.EDU\")) NIL NIL "
            "\"<B27397-0100000@cac.washington.edu>\")");
}

TEST(ResponseEnvelope, EmptyEnvelopeAndGroups) {
  std::string out;
  append_envelope(out, Envelope{});
  EXPECT_EQ(out, "(NIL NIL NIL NIL NIL NIL NIL NIL NIL NIL)");
  // RFC 9051 §7.5.2 group syntax: start (NIL NIL "group" NIL), end (NIL NIL NIL NIL).
  Envelope e;
  e.from = {addr(std::nullopt, "a", "b")};
  e.sender = {addr(std::nullopt, "s", "b")};
  e.to = {MailAddress{std::nullopt, std::nullopt, "undisclosed-recipients", std::nullopt},
          MailAddress{}};
  out.clear();
  append_envelope(out, e);
  EXPECT_EQ(out,
            "(NIL NIL ((NIL NIL \"a\" \"b\")) ((NIL NIL \"s\" \"b\")) ((NIL NIL \"a\" \"b\")) "
            "((NIL NIL \"undisclosed-recipients\" NIL)(NIL NIL NIL NIL)) NIL NIL NIL NIL)");
}

TEST(ResponseEnvelope, RawSubjectWithCrlfBecomesLiteral) {
  Envelope e;
  e.subject = "folded\r\n subject";
  std::string out;
  append_envelope(out, e);
  EXPECT_EQ(out, "(NIL {16}\r\nfolded\r\n subject NIL NIL NIL NIL NIL NIL NIL NIL)");
}

BodyPart text_plain(uint64_t size, uint64_t lines) {
  BodyPart p;
  p.type = "TEXT";
  p.subtype = "PLAIN";
  p.params = {{"CHARSET", "US-ASCII"}};
  p.encoding = "7BIT";
  p.size = size;
  p.lines = lines;
  return p;
}

TEST(ResponseBody, Rfc9051SinglePart) {
  // RFC 9051 §8: BODY ("TEXT" "PLAIN" ("CHARSET" "US-ASCII") NIL NIL "7BIT" 3028 92)
  BodyPart p = text_plain(3028, 92);
  std::string out;
  append_body_structure(out, p, false);
  EXPECT_EQ(out, "(\"TEXT\" \"PLAIN\" (\"CHARSET\" \"US-ASCII\") NIL NIL \"7BIT\" 3028 92)");
  out.clear();
  append_body_structure(out, p, true);
  EXPECT_EQ(out, "(\"TEXT\" \"PLAIN\" (\"CHARSET\" \"US-ASCII\") NIL NIL \"7BIT\" 3028 92 "
                 "NIL NIL NIL NIL)");
}

TEST(ResponseBody, Rfc9051Multipart) {
  // RFC 9051 §7.5.2 BODYSTRUCTURE example (non-extensible form).
  BodyPart mp;
  mp.type = "MULTIPART";
  mp.subtype = "MIXED";
  mp.params = {{"BOUNDARY", "xyz"}};
  BodyPart a = text_plain(1152, 23);
  BodyPart b = text_plain(4554, 73);
  b.params.push_back({"NAME", "cc.diff"});
  b.id = "<960723163407.20117h@cac.washington.edu>";
  b.description = "Compiler diff";
  b.encoding = "BASE64";
  mp.children = {a, b};
  std::string out;
  append_body_structure(out, mp, false);
  EXPECT_EQ(out,
            "((\"TEXT\" \"PLAIN\" (\"CHARSET\" \"US-ASCII\") NIL NIL \"7BIT\" 1152 23)"
            "(\"TEXT\" \"PLAIN\" (\"CHARSET\" \"US-ASCII\" \"NAME\" \"cc.diff\") "
            "\"<960723163407.20117h@cac.washington.edu>\" \"Compiler diff\" \"BASE64\" 4554 73)"
            " \"MIXED\")");
  out.clear();
  append_body_structure(out, mp, true);
  EXPECT_EQ(out,
            "((\"TEXT\" \"PLAIN\" (\"CHARSET\" \"US-ASCII\") NIL NIL \"7BIT\" 1152 23 NIL NIL "
            "NIL NIL)"
            "(\"TEXT\" \"PLAIN\" (\"CHARSET\" \"US-ASCII\" \"NAME\" \"cc.diff\") "
            "\"<960723163407.20117h@cac.washington.edu>\" \"Compiler diff\" \"BASE64\" 4554 73 "
            "NIL NIL NIL NIL)"
            " \"MIXED\" (\"BOUNDARY\" \"xyz\") NIL NIL NIL)");
}

TEST(ResponseBody, ExtensionDataAttachment) {
  BodyPart p;
  p.type = "APPLICATION";
  p.subtype = "PDF";
  p.params = {{"NAME", "r.pdf"}};
  p.encoding = "BASE64";
  p.size = 4096;
  p.lines = 55;  // not sent for a non-text part
  p.md5 = "Q2hlY2sgSW50ZWdyaXR5IQ==";
  p.disposition = "attachment";
  p.disposition_params = {{"filename", "r.pdf"}};
  p.language = {"en", "de"};
  p.location = "http://example.com/r.pdf";
  std::string out;
  append_body_structure(out, p, true);
  EXPECT_EQ(out,
            "(\"APPLICATION\" \"PDF\" (\"NAME\" \"r.pdf\") NIL NIL \"BASE64\" 4096 "
            "\"Q2hlY2sgSW50ZWdyaXR5IQ==\" (\"attachment\" (\"filename\" \"r.pdf\")) "
            "(\"en\" \"de\") \"http://example.com/r.pdf\")");
  p.language = {"en"};
  p.params.clear();
  out.clear();
  append_body_structure(out, p, true);
  EXPECT_EQ(out,
            "(\"APPLICATION\" \"PDF\" NIL NIL NIL \"BASE64\" 4096 "
            "\"Q2hlY2sgSW50ZWdyaXR5IQ==\" (\"attachment\" (\"filename\" \"r.pdf\")) "
            "\"en\" \"http://example.com/r.pdf\")");
  out.clear();
  append_body_structure(out, p, false);
  EXPECT_EQ(out, "(\"APPLICATION\" \"PDF\" NIL NIL NIL \"BASE64\" 4096)");
}

TEST(ResponseBody, MessageRfc822) {
  BodyPart m;
  m.type = "MESSAGE";
  m.subtype = "RFC822";
  m.encoding = "7BIT";
  m.size = 300;
  m.lines = 12;
  Envelope inner;
  inner.subject = "inner";
  m.envelope = inner;
  m.children = {text_plain(100, 4)};
  std::string out;
  append_body_structure(out, m, false);
  EXPECT_EQ(out,
            "(\"MESSAGE\" \"RFC822\" NIL NIL NIL \"7BIT\" 300 "
            "(NIL \"inner\" NIL NIL NIL NIL NIL NIL NIL NIL) "
            "(\"TEXT\" \"PLAIN\" (\"CHARSET\" \"US-ASCII\") NIL NIL \"7BIT\" 100 4) 12)");
  out.clear();
  append_body_structure(out, m, true);
  EXPECT_EQ(out,
            "(\"MESSAGE\" \"RFC822\" NIL NIL NIL \"7BIT\" 300 "
            "(NIL \"inner\" NIL NIL NIL NIL NIL NIL NIL NIL) "
            "(\"TEXT\" \"PLAIN\" (\"CHARSET\" \"US-ASCII\") NIL NIL \"7BIT\" 100 4 NIL NIL NIL "
            "NIL) 12 NIL NIL NIL NIL)");
}

TEST(ResponseBody, SummaryFromStoreRoundTrip) {
  // The renderer takes exactly what the store keeps: encode/decode a summary and render it.
  MessageSummary s;
  s.envelope.subject = "x";
  s.body = text_plain(10, 1);
  auto d = decode_summary(encode_summary(s));
  ASSERT_TRUE(d);
  std::string a, b;
  append_body_structure(a, s.body, true);
  append_body_structure(b, d->body, true);
  EXPECT_EQ(a, b);
}

}  // namespace
}  // namespace tsubame::imap
