// tests/filter/mime_parse_test.cc: the parse-once structure on well-formed fixtures:
// headers, addresses, dates, text and HTML bodies, links, attachments (RFC 2231 names,
// sniffed types, decoded bytes), nested message/rfc822, and the IMAP summary (ENVELOPE
// fields, BODYSTRUCTURE tree, byte offsets checked by slicing the raw message).
#include <gtest/gtest.h>

#include <algorithm>
#include <thread>

#include "common/bytes.h"
#include "filter/charset.h"
#include "filter/mime.h"
#include "mime_test_util.h"

namespace tsubame::filter {
namespace {

using testing::check_offsets;
using testing::read_fixture;
using testing::slice;
using testing::to_crlf;

class MixedFixture : public ::testing::TestWithParam<bool> {
 protected:
  void SetUp() override {
    raw_ = read_fixture("mixed.eml");
    if (GetParam()) raw_ = to_crlf(raw_);
    auto r = parse_message(raw_);
    ASSERT_TRUE(r.is_ok()) << r.status().to_string();
    pm_ = std::move(r.value());
  }
  std::string raw_;
  ParsedMessage pm_;
};

TEST(TextView, CrBeforeLfGoesOtherCrStays) {
  // The text view ends lines with LF: a CR that precedes an LF goes, a lone CR (old Mac
  // line end, or a stray byte) stays, and so does the first CR of CR CR LF.
  auto r = parse_message("Subject: t\r\n\r\none\r\ntwo\r\r\nthree\rfour\r\n\r\nend\r");
  ASSERT_TRUE(r.is_ok()) << r.status().to_string();
  EXPECT_EQ(r->body_text, "one\ntwo\r\nthree\rfour\n\nend\r");
  auto q = parse_message("Content-Transfer-Encoding: quoted-printable\r\n\r\na=0D=0Ab=0Dc\r\n");
  ASSERT_TRUE(q.is_ok());
  EXPECT_EQ(q->body_text, "a\nb\rc\n");
}

TEST_P(MixedFixture, DecodedHeaders) {
  EXPECT_EQ(pm_.subject, "日本語のテスト report");
  ASSERT_TRUE(pm_.from.has_value());
  EXPECT_EQ(pm_.from->display_name, "Doe, Jane");
  EXPECT_EQ(pm_.from->address, "jane@Example.NET");
  EXPECT_EQ(pm_.from->domain, "example.net");
  EXPECT_EQ(pm_.from->local, "jane");
  ASSERT_EQ(pm_.to.size(), 2u);
  EXPECT_EQ(pm_.to[0].display_name, "Bob");
  EXPECT_EQ(pm_.to[1].address, "carol@example.com");
  EXPECT_TRUE(pm_.cc.empty());  // a group with no members
  ASSERT_EQ(pm_.reply_to.size(), 1u);
  EXPECT_EQ(pm_.reply_to[0].display_name, "Support Téam");
  ASSERT_TRUE(pm_.return_path.has_value());
  EXPECT_EQ(pm_.return_path->address, "bounce@mailer.example.net");
  EXPECT_EQ(pm_.message_id.value(), "<abc123@example.net>");
  ASSERT_TRUE(pm_.date.has_value());
  EXPECT_EQ(pm_.date->unix_seconds.value(), 1795309200 /* 2026-11-22T01:00:00Z */);
  EXPECT_EQ(pm_.date->tz_offset_minutes, 540);
  ASSERT_EQ(pm_.received.size(), 2u);
  EXPECT_TRUE(pm_.received[0].starts_with("from mx.example.net (mx.example.net [192.0.2.1])"));
  EXPECT_EQ(pm_.received[0].find('\n'), std::string::npos);  // unfolded
  const HeaderField* subj = pm_.header("SUBJECT");
  ASSERT_NE(subj, nullptr);
  EXPECT_EQ(subj->raw, "=?utf-8?B?5pel5pys6Kqe44Gu44OG44K544OI?= report");
  EXPECT_EQ(std::string_view(raw_).substr(subj->offset, 8), "Subject:");
  EXPECT_EQ(pm_.headers_named("received").size(), 2u);
  Anomalies expected;
  if (!GetParam()) expected.set(Anomaly::kBareLf);  // the LF-only variant
  EXPECT_EQ(pm_.anomalies, expected) << ::testing::PrintToString(pm_.anomalies.names());
}

TEST_P(MixedFixture, TextHtmlAndLinks) {
  ASSERT_EQ(pm_.text_parts.size(), 2u);
  EXPECT_EQ(pm_.text_parts[0].part_id, "1.1");
  EXPECT_FALSE(pm_.text_parts[0].in_body_text);  // plain alternative of an HTML part
  EXPECT_EQ(pm_.text_parts[1].part_id, "1.2");
  EXPECT_TRUE(pm_.text_parts[1].html);
  EXPECT_TRUE(pm_.text_parts[1].in_body_text);
  EXPECT_EQ(pm_.body_text, "Hello Bob,\nhttps://www.paypal.com/");
  EXPECT_EQ(pm_.text_parts[0].text, "Hello Bob, see https://example.com/report?id=1.");
  // Links from both alternatives; the anchor's text names another host than its href.
  auto it = std::find_if(pm_.links.begin(), pm_.links.end(),
                         [](const Link& l) { return l.source == LinkSource::kHtmlAnchor; });
  ASSERT_NE(it, pm_.links.end());
  EXPECT_EQ(it->href, "http://phish.example/login");
  EXPECT_EQ(it->text, "https://www.paypal.com/");
  EXPECT_EQ(it->part_id, "1.2");
  auto pt = std::find_if(pm_.links.begin(), pm_.links.end(),
                         [](const Link& l) { return l.source == LinkSource::kPlainText; });
  ASSERT_NE(pt, pm_.links.end());
  EXPECT_EQ(pt->href, "https://example.com/report?id=1");  // trailing '.' not part of it
}

TEST_P(MixedFixture, AttachmentWithRfc2231Name) {
  ASSERT_EQ(pm_.attachments.size(), 1u);
  const Attachment& a = pm_.attachments[0];
  EXPECT_EQ(a.part_id, "2");
  EXPECT_EQ(a.filename, "報告.pdf");  // filename* continuation + charset beats name=
  EXPECT_EQ(a.declared_type, "application/pdf");
  EXPECT_EQ(a.disposition, "attachment");
  EXPECT_EQ(a.sniffed, FileType::kPdf);
  EXPECT_EQ(a.transfer_encoding, "base64");
  auto bytes = pm_.decoded(a);
  ASSERT_TRUE(bytes.is_ok());
  EXPECT_TRUE(bytes->starts_with("%PDF-1.4\n"));
  EXPECT_EQ(a.decoded_size, bytes->size());
  EXPECT_EQ(pm_.decoded(a, 4).value(), "%PDF");
  EXPECT_TRUE(pm_.summary.has_attachments);
}

TEST_P(MixedFixture, BodyStructureAndOffsets) {
  const MessageSummary& s = pm_.summary;
  EXPECT_EQ(s.size, raw_.size());
  check_offsets(raw_, s.body);
  const BodyPart& root = s.body;
  EXPECT_EQ(root.type, "multipart");
  EXPECT_EQ(root.subtype, "mixed");
  ASSERT_EQ(root.children.size(), 2u);
  // BODY[HEADER] is [0, body_offset) and ends with the blank line.
  std::string_view header = slice(raw_, 0, root.body_offset);
  EXPECT_TRUE(header.starts_with("Return-Path:"));
  EXPECT_TRUE(header.ends_with(GetParam() ? "boundary=\"outer\"\r\n\r\n" : "boundary=\"outer\"\n\n"));
  EXPECT_EQ(pm_.raw_body(), slice(raw_, root.body_offset, raw_.size()));
  EXPECT_TRUE(pm_.raw_body().starts_with("This is the preamble."));
  EXPECT_EQ(root.body_end, raw_.size());

  const BodyPart& alt = root.children[0];
  EXPECT_EQ(alt.subtype, "alternative");
  ASSERT_EQ(alt.children.size(), 2u);
  const BodyPart& plain = alt.children[0];
  EXPECT_EQ(plain.type, "text");
  EXPECT_EQ(plain.encoding, "quoted-printable");
  ASSERT_FALSE(plain.params.empty());
  EXPECT_EQ(plain.params[0], (std::pair<std::string, std::string>{"charset", "utf-8"}));
  // BODY[1.1]: exactly the QP text, the line break before the delimiter excluded.
  EXPECT_EQ(slice(raw_, plain.body_offset, plain.body_end), "Hello Bob, see https://example.com/report?id=3D1.");
  EXPECT_EQ(plain.lines, 1u);
  // BODY[1.1.MIME]
  std::string_view mime = slice(raw_, plain.header_offset, plain.body_offset);
  EXPECT_TRUE(mime.starts_with("Content-Type: text/plain; charset=utf-8"));
  const BodyPart& html = alt.children[1];
  EXPECT_TRUE(slice(raw_, html.body_offset, html.body_end).starts_with("<html>"));
  EXPECT_TRUE(slice(raw_, html.body_offset, html.body_end).ends_with("</html>"));
  EXPECT_EQ(html.lines, 2u);
  // BODY[1]: the alternative's body runs to the outer delimiter (its epilogue included).
  std::string_view alt_body = slice(raw_, alt.body_offset, alt.body_end);
  EXPECT_TRUE(alt_body.starts_with("--inner"));
  EXPECT_TRUE(alt_body.ends_with("--inner--") || alt_body.ends_with("--inner--\r\n") ||
              alt_body.ends_with("--inner--\n"));

  const BodyPart& pdf = root.children[1];
  EXPECT_EQ(pdf.type, "application");
  EXPECT_EQ(pdf.subtype, "pdf");
  EXPECT_EQ(pdf.disposition.value(), "attachment");
  ASSERT_EQ(pdf.disposition_params.size(), 1u);
  EXPECT_EQ(pdf.disposition_params[0].first, "filename");
  EXPECT_EQ(pdf.disposition_params[0].second, "報告.pdf");  // RFC 2231 joined and decoded
  auto decoded = base64_decode(trim(slice(raw_, pdf.body_offset, pdf.body_end)));
  ASSERT_TRUE(decoded.has_value());
  EXPECT_TRUE(decoded->starts_with("%PDF"));
}

TEST_P(MixedFixture, Envelope) {
  const Envelope& e = pm_.summary.envelope;
  EXPECT_EQ(e.date.value(), "Sun, 22 Nov 2026 10:00:00 +0900");
  EXPECT_EQ(e.subject.value(), "=?utf-8?B?5pel5pys6Kqe44Gu44OG44K544OI?= report");
  ASSERT_EQ(e.from.size(), 1u);
  EXPECT_EQ(e.from[0].name.value(), "Doe, Jane");
  EXPECT_EQ(e.from[0].mailbox.value(), "jane");
  EXPECT_EQ(e.from[0].host.value(), "Example.NET");
  EXPECT_FALSE(e.from[0].adl.has_value());
  ASSERT_EQ(e.sender.size(), 1u);
  EXPECT_EQ(e.sender[0].mailbox.value(), "list");
  EXPECT_FALSE(e.sender[0].name.has_value());
  ASSERT_EQ(e.reply_to.size(), 1u);
  EXPECT_EQ(e.reply_to[0].name.value(), "=?utf-8?q?Support_T=C3=A9am?=");  // raw for IMAP
  ASSERT_EQ(e.to.size(), 2u);
  // Group syntax (RFC 9051 §7.5.2): start marker (host NIL) and end marker (all NIL).
  ASSERT_EQ(e.cc.size(), 2u);
  EXPECT_EQ(e.cc[0].mailbox.value(), "undisclosed-recipients");
  EXPECT_FALSE(e.cc[0].host.has_value());
  EXPECT_EQ(e.cc[1], MailAddress{});
  EXPECT_TRUE(e.bcc.empty());
  EXPECT_EQ(e.in_reply_to.value(), "<prev@example.com>");
  EXPECT_EQ(e.message_id.value(), "<abc123@example.net>");
  EXPECT_EQ(pm_.summary.references, (std::vector<std::string>{"<first@example.com>", "<prev@example.com>"}));
  EXPECT_EQ(pm_.summary.sent_date, 1795309200);
  // The summary survives its own encoding (what the store keeps).
  auto back = decode_summary(encode_summary(pm_.summary));
  ASSERT_TRUE(back.is_ok());
  EXPECT_EQ(back.value(), pm_.summary);
}

INSTANTIATE_TEST_SUITE_P(LfAndCrlf, MixedFixture, ::testing::Values(false, true));

TEST(MimeParse, EnvelopeMissingHeadersAreNil) {
  auto r = parse_message("X-Nothing: here\r\n\r\nbody\r\n");
  ASSERT_TRUE(r.is_ok());
  const Envelope& e = r->summary.envelope;
  EXPECT_FALSE(e.date.has_value());
  EXPECT_FALSE(e.subject.has_value());
  EXPECT_FALSE(e.message_id.has_value());
  EXPECT_FALSE(e.in_reply_to.has_value());
  EXPECT_TRUE(e.from.empty());
  EXPECT_TRUE(e.sender.empty());
  EXPECT_TRUE(e.reply_to.empty());
  EXPECT_TRUE(e.to.empty());
  EXPECT_FALSE(r->has_subject);
  EXPECT_FALSE(r->from.has_value());
  EXPECT_FALSE(r->date.has_value());
  EXPECT_EQ(r->summary.sent_date, 0);
  // RFC 2045 §5.2 default type for the single body part.
  EXPECT_EQ(r->summary.body.type, "text");
  EXPECT_EQ(r->summary.body.subtype, "plain");
  EXPECT_EQ(r->summary.body.params, (Params{{"charset", "us-ascii"}}));
  EXPECT_EQ(r->summary.body.lines, 1u);
  EXPECT_EQ(r->body_text, "body\n");
}

TEST(MimeParse, SenderAndReplyToDefaultToFrom) {
  auto r = parse_message("From: a@b.example\r\nSender:\r\n\r\nx");
  ASSERT_TRUE(r.is_ok());
  ASSERT_EQ(r->summary.envelope.sender.size(), 1u);
  EXPECT_EQ(r->summary.envelope.sender, r->summary.envelope.from);
  EXPECT_EQ(r->summary.envelope.reply_to, r->summary.envelope.from);
}

TEST(MimeParse, AddressListForms) {
  auto v = parse_address_list(
      "\"Q \\\"Uote\\\"\" <q@x.example>, plain@y.example (Comment Name), "
      "<@relay.example:route@z.example>, Team: m1@t.example, M2 <m2@t.example>;, nodomain",
      100);
  ASSERT_EQ(v.size(), 8u);
  EXPECT_EQ(v[0].name.value(), "Q \"Uote\"");
  EXPECT_EQ(v[0].mailbox.value(), "q");
  EXPECT_EQ(v[1].mailbox.value(), "plain");
  EXPECT_EQ(v[1].host.value(), "y.example");
  EXPECT_EQ(v[1].name.value(), "Comment Name");
  EXPECT_EQ(v[2].adl.value(), "@relay.example");
  EXPECT_EQ(v[2].mailbox.value(), "route");
  EXPECT_EQ(v[3].mailbox.value(), "Team");
  EXPECT_FALSE(v[3].host.has_value());
  EXPECT_EQ(v[4].mailbox.value(), "m1");
  EXPECT_EQ(v[5].name.value(), "M2");
  EXPECT_EQ(v[6], MailAddress{});
  EXPECT_EQ(v[7].mailbox.value(), "nodomain");
  EXPECT_EQ(v[7].host.value(), "");  // never NIL outside group markers
}

TEST(MimeParse, Dates) {
  int tz = 0;
  EXPECT_EQ(parse_rfc5322_date("Thu, 1 Jan 1970 00:00:00 +0000").value(), 0);
  EXPECT_EQ(parse_rfc5322_date("1 Jan 1970 09:00:00 +0900", &tz).value(), 0);
  EXPECT_EQ(tz, 540);
  EXPECT_EQ(parse_rfc5322_date("Fri, 21 Nov 97 09:55:06 GMT").value(), 880106106);  // RFC 5322 A.6.2
  EXPECT_EQ(parse_rfc5322_date("Thu, 13 Feb 1969 23:32:54 -0330").value(), -27723426);
  EXPECT_EQ(parse_rfc5322_date("Tue, 1 Jul 2003 10:52:37 (comment) +0200").value(), 1057049557);
  EXPECT_EQ(parse_rfc5322_date("1 Jan 2000 00:00 EST").value(), 946702800);
  EXPECT_FALSE(parse_rfc5322_date("yesterday").has_value());
  EXPECT_FALSE(parse_rfc5322_date("32 Jan 2000 00:00:00 +0000").has_value());
  EXPECT_FALSE(parse_rfc5322_date("").has_value());
}

TEST(MimeParse, ContentFieldRfc2231) {
  ContentField f = parse_content_field(
      "application/x-stuff;\r\n title*0*=us-ascii'en'This%20is%20even%20more%20;\r\n"
      " title*1*=%2A%2A%2Afun%2A%2A%2A%20;\r\n title*2=\"isn't it!\"");  // RFC 2231 §4.1
  EXPECT_EQ(f.value, "application/x-stuff");
  ASSERT_NE(f.param("title"), nullptr);
  EXPECT_EQ(*f.param("title"), "This is even more ***fun*** isn't it!");
  ContentField g = parse_content_field("attachment; filename=\"old.txt\"; filename*=UTF-8''new%E2%82%AC.txt");
  EXPECT_EQ(*g.param("filename"), "new€.txt");
  ContentField h = parse_content_field("Text/HTML (comment); Charset = \"UTF-8\" ; format=flowed");
  EXPECT_EQ(h.value, "text/html");
  EXPECT_EQ(*h.param("charset"), "UTF-8");
  EXPECT_EQ(*h.param("format"), "flowed");
  // Sections out of order are sorted (RFC 2231 §3).
  ContentField k = parse_content_field("a/b; n*1=\"def\"; n*0=\"abc\"");
  EXPECT_EQ(*k.param("n"), "abcdef");
}

TEST(MimeParse, Rfc2047AndRfc2231FileNames) {
  std::string msg =
      "Content-Type: multipart/mixed; boundary=x\r\n\r\n"
      "--x\r\nContent-Type: application/octet-stream; name=\"=?UTF-8?B?6KuL5rGC5pu4Lnhsc3g=?=\"\r\n\r\ndata\r\n"
      "--x\r\nContent-Type: application/octet-stream\r\n"
      "Content-Disposition: attachment; filename*=iso-8859-1''r%E9sum%E9.doc\r\n\r\ndata\r\n"
      "--x\r\nContent-Type: application/octet-stream\r\n"
      "Content-Disposition: attachment; filename*0*=shift_jis''%83e%83X; filename*1*=%83g.exe\r\n\r\nMZ\r\n"
      "--x--\r\n";
  auto r = parse_message(msg);
  ASSERT_TRUE(r.is_ok());
  ASSERT_EQ(r->attachments.size(), 3u);
  EXPECT_EQ(r->attachments[0].filename, "請求書.xlsx");
  EXPECT_EQ(r->attachments[1].filename, "résumé.doc");
  EXPECT_EQ(r->attachments[2].filename, "テスト.exe");
  EXPECT_EQ(r->attachments[2].sniffed, FileType::kPe);
  EXPECT_EQ(r->attachments[2].decoded_size, 2u);
}

TEST(MimeParse, NestedMessageRfc822) {
  std::string raw = to_crlf(read_fixture("nested.eml"));
  auto r = parse_message(raw);
  ASSERT_TRUE(r.is_ok());
  const ParsedMessage& pm = *r;
  EXPECT_EQ(pm.subject, "Fwd: invoice");
  ASSERT_EQ(pm.nested.size(), 1u);
  const NestedMessage& n = pm.nested[0];
  EXPECT_EQ(n.part_id, "2");
  EXPECT_EQ(n.depth, 2u);
  EXPECT_EQ(n.headers.subject, "Facture impayée");
  ASSERT_TRUE(n.headers.from.has_value());
  EXPECT_EQ(n.headers.from->display_name, "François");
  EXPECT_EQ(n.headers.from->domain, "evil.example");
  EXPECT_EQ(std::string_view(raw).substr(n.headers.header("subject")->offset, 8), "Subject:");
  // Text and attachments of the inner message are flattened into the outer lists.
  EXPECT_NE(pm.body_text.find("See the forwarded message."), std::string::npos);
  EXPECT_NE(pm.body_text.find("Votre facture est impayée. Ouvrez la pièce jointe."), std::string::npos);
  ASSERT_EQ(pm.attachments.size(), 2u);
  EXPECT_EQ(pm.attachments[0].part_id, "2.2");
  EXPECT_EQ(pm.attachments[0].filename, "facture.pdf.exe");
  EXPECT_EQ(pm.attachments[0].sniffed, FileType::kPe);
  EXPECT_EQ(pm.attachments[0].depth, 3u);
  EXPECT_EQ(pm.attachments[1].part_id, "2.3");
  EXPECT_EQ(pm.attachments[1].sniffed, FileType::kZip);
  EXPECT_TRUE(pm.decoded(pm.attachments[0]).value().starts_with("MZ"));
  // BODYSTRUCTURE: 2 is message/rfc822 with an envelope and one multipart child.
  check_offsets(raw, pm.summary.body);
  const BodyPart& msg = pm.summary.body.children.at(1);
  EXPECT_TRUE(msg.is_message());
  EXPECT_EQ(msg.envelope->subject.value(), "=?iso-8859-1?q?Facture_impay=E9e?=");
  EXPECT_EQ(msg.envelope->message_id.value(), "<inner1@evil.example>");
  const BodyPart& inner = msg.children.at(0);
  EXPECT_TRUE(inner.is_multipart());
  ASSERT_EQ(inner.children.size(), 3u);
  EXPECT_EQ(slice(raw, inner.children[0].body_offset, inner.children[0].body_end),
            "Votre facture est impay=E9e. Ouvrez la pi=E8ce jointe.");
  std::string_view mb = slice(raw, msg.body_offset, msg.body_end);
  EXPECT_EQ(msg.lines, static_cast<uint64_t>(std::count(mb.begin(), mb.end(), '\n')) + (mb.ends_with('\n') ? 0 : 1));
}

TEST(MimeParse, JapaneseIso2022JpMessage) {
  auto r = parse_message(to_crlf(read_fixture("japanese.eml")));
  ASSERT_TRUE(r.is_ok());
  EXPECT_EQ(r->subject, "【重要】アカウントの確認");
  EXPECT_EQ(r->from->display_name, "サポート");
  EXPECT_EQ(r->body_text,
            "お客様のアカウントが停止されました。\n以下のURLから確認してください。\nhttp://example.jp/verify\n");
  ASSERT_EQ(r->links.size(), 1u);
  EXPECT_EQ(r->links[0].href, "http://example.jp/verify");
  EXPECT_EQ(r->date->tz_offset_minutes, 540);
  EXPECT_FALSE(r->anomalies.any()) << ::testing::PrintToString(r->anomalies.names());
}

TEST(MimeParse, SinglePartSectionIsOne) {
  auto r = parse_message("Content-Type: text/html\r\n\r\n<a href=\"http://x.example/\">here</a>");
  ASSERT_TRUE(r.is_ok());
  ASSERT_EQ(r->text_parts.size(), 1u);
  EXPECT_EQ(r->text_parts[0].part_id, "1");
  ASSERT_EQ(r->links.size(), 1u);
  EXPECT_EQ(r->links[0].text, "here");
  EXPECT_EQ(r->summary.body.lines, 1u);
}

TEST(MimeParse, MessageDigestDefaultsToRfc822) {
  std::string msg =
      "Content-Type: multipart/digest; boundary=d\r\n\r\n--d\r\n\r\nSubject: one\r\n\r\nbody one\r\n"
      "--d--\r\n";
  auto r = parse_message(msg);
  ASSERT_TRUE(r.is_ok());
  ASSERT_EQ(r->nested.size(), 1u);
  EXPECT_EQ(r->nested[0].headers.subject, "one");
  EXPECT_TRUE(r->summary.body.children.at(0).is_message());
  testing::check_offsets(msg, r->summary.body);
}

TEST(MimeParse, SniffedTypes) {
  struct Case {
    std::string bytes;
    FileType t;
  };
  std::string iso(0x8001 + 5, '\0');
  iso.replace(0x8001, 5, "CD001");
  std::string ooxml = std::string("PK\x03\x04", 4) + std::string(26, '\0') + "[Content_Types].xml";
  std::vector<Case> cases = {
      {"MZ\x90", FileType::kPe},
      {"\x7F" "ELF\x02\x01", FileType::kElf},
      {std::string("PK\x03\x04", 4) + "rest", FileType::kZip},
      {ooxml, FileType::kOoxml},
      {"Rar!\x1A\x07\x01", FileType::kRar},
      {"7z\xBC\xAF\x27\x1C", FileType::k7z},
      {"%PDF-1.7", FileType::kPdf},
      {"\xD0\xCF\x11\xE0\xA1\xB1\x1A\xE1", FileType::kOle2},
      {"\x1F\x8B\x08", FileType::kGzip},
      {iso, FileType::kIso},
      {"\x89PNG\r\n\x1A\n", FileType::kPng},
      {"\xFF\xD8\xFF\xE0", FileType::kJpeg},
      {"GIF89a", FileType::kGif},
      {"{\\rtf1", FileType::kRtf},
      {"MSCF\0\0", FileType::kCab},
      {"var s = new ActiveXObject('WScript.Shell'); s.Run('cmd');", FileType::kJavaScript},
      {"Dim o\nSet o = CreateObject(\"WScript.Shell\")\no.Run \"calc\"", FileType::kVbScript},
      {"powershell -EncodedCommand AAAA; Invoke-Expression $x", FileType::kPowerShell},
      {"@echo off\r\ndel *.*", FileType::kBatch},
      {"<!DOCTYPE html><html><body>x</body></html>", FileType::kHtml},
      {"Just a note.\n", FileType::kText},
      {"", FileType::kEmpty},
  };
  for (const auto& c : cases)
    EXPECT_EQ(sniff_file_type(c.bytes), c.t) << file_type_name(c.t);
  EXPECT_TRUE(file_type_is_executable(FileType::kPe));
  EXPECT_TRUE(file_type_is_executable(FileType::kJavaScript));
  EXPECT_FALSE(file_type_is_executable(FileType::kPdf));
  EXPECT_FALSE(file_type_is_executable(FileType::kShellScript));  // needs chmod +x first
}

TEST(MimeParse, InternetShortcutsAreLinksOnlyWhenEveryTargetIsTheWeb) {
  const std::string web =
      "[DEFAULT]\r\nBASEURL=http://www.Example.edu/~a/Page.html\r\n[InternetShortcut]\r\n"
      "URL=http://www.Example.edu/~a/Page.html\r\nModified=E0824ED43364C201DE\r\n";
  EXPECT_EQ(sniff_file_type(web), FileType::kWebShortcut);
  EXPECT_FALSE(file_type_is_executable(FileType::kWebShortcut));
  EXPECT_EQ(shortcut_targets(web), std::vector<std::string>{"http://www.Example.edu/~a/Page.html"});
  for (const char* bad : {
           "[InternetShortcut]\r\nURL=file://203.0.113.9/share/run.exe\r\n",
           "[InternetShortcut]\r\nURL=\\\\203.0.113.9\\share\\x.lnk\r\n",
           "[InternetShortcut]\r\nURL=https://ok.example/\r\nIconFile=\\\\evil.example\\icons\\a.ico\r\n",
           "[InternetShortcut]\r\nURL=C:\\Windows\\System32\\calc.exe\r\n",
           "[InternetShortcut]\r\nURL=search-ms:query=invoice&crumb=location:\\\\evil.example\r\n",
           "[InternetShortcut]\r\nIconIndex=0\r\n",  // no target at all
       }) {
    EXPECT_EQ(sniff_file_type(bad), FileType::kShortcut) << bad;
    EXPECT_TRUE(shortcut_targets(bad).empty()) << bad;
  }
  EXPECT_TRUE(file_type_is_executable(FileType::kShortcut));
  EXPECT_EQ(file_type_name(FileType::kWebShortcut), "web_shortcut");
  EXPECT_EQ(file_type_name(FileType::kShortcut), "internet_shortcut");
  // Attached to a message, a web shortcut's target joins the links the rules scan.
  auto pm = parse_message(
      "From: a@b.example\r\nSubject: link\r\nContent-Type: multipart/mixed; boundary=b\r\n\r\n"
      "--b\r\nContent-Type: text/plain\r\n\r\nsee the attachment\r\n"
      "--b\r\nContent-Type: application/octet-stream; name=\"Page.url\"\r\n"
      "Content-Disposition: attachment; filename=\"Page.url\"\r\n\r\n" + web + "--b--\r\n");
  ASSERT_TRUE(pm);
  ASSERT_EQ(pm->attachments.size(), 1u);
  EXPECT_EQ(pm->attachments[0].sniffed, FileType::kWebShortcut);
  ASSERT_EQ(pm->links.size(), 1u);
  EXPECT_EQ(pm->links[0].href, "http://www.Example.edu/~a/Page.html");
  EXPECT_EQ(pm->links[0].source, LinkSource::kShortcut);
  EXPECT_EQ(pm->links[0].part_id, "2");
}

// Found by tests/fuzz (fuzz_filter_scan): a shortcut's URL= value with 8-bit bytes that are
// not UTF-8 became a link href as it was, breaking the UTF-8 invariant of Link::href that
// the url scope's `u` patterns rely on. It is read as the Windows code page now.
TEST(MimeParse, InternetShortcutTargetsAreUtf8) {
  const std::string latin1 = "[InternetShortcut]\r\nURL=http://caf\xE9.example/men\xFC\r\n";
  EXPECT_EQ(shortcut_targets(latin1), std::vector<std::string>{"http://caf\u00E9.example/men\u00FC"});
  const std::string utf8 = "[InternetShortcut]\r\nURL=http://caf\u00E9.example/\r\n";
  EXPECT_EQ(shortcut_targets(utf8), std::vector<std::string>{"http://caf\u00E9.example/"});  // kept as is
  auto pm = parse_message(
      "From: a@b.example\r\nSubject: link\r\nContent-Type: multipart/mixed; boundary=b\r\n\r\n"
      "--b\r\nContent-Type: application/octet-stream; name=\"a.url\"\r\n\r\n" + latin1 + "--b--\r\n");
  ASSERT_TRUE(pm);
  ASSERT_EQ(pm->links.size(), 1u);
  EXPECT_TRUE(is_valid_utf8(pm->links[0].href)) << pm->links[0].href;
  EXPECT_EQ(pm->links[0].href, "http://caf\u00E9.example/men\u00FC");
}

TEST(MimeParse, Codecs) {
  bool bad = true;
  EXPECT_EQ(decode_base64("aGVs\r\nbG8=", &bad), "hello");
  EXPECT_FALSE(bad);
  EXPECT_EQ(decode_base64("aGVsbG8", &bad), "hello");  // missing padding tolerated
  EXPECT_FALSE(bad);
  EXPECT_EQ(decode_base64("aGVsbG8=", &bad, 3), "hel");
  EXPECT_EQ(decode_quoted_printable("a=3Db=\r\nc  \r\nd", &bad), "a=bc\r\nd");
  EXPECT_FALSE(bad);
  EXPECT_EQ(decode_quoted_printable("100% =ZZ", &bad), "100% =ZZ");
  EXPECT_TRUE(bad);
}

TEST(MimeParse, ReentrantAcrossThreads) {
  // Per-thread iconv descriptors: parsing the same messages on several threads at once
  // gives the single-threaded result.
  std::vector<std::string> msgs = {to_crlf(read_fixture("mixed.eml")), to_crlf(read_fixture("nested.eml")),
                                   to_crlf(read_fixture("japanese.eml"))};
  std::vector<std::string> expected;
  for (const auto& m : msgs) expected.push_back(parse_message(m).value().body_text);
  std::vector<int> mismatches(4, 0);
  std::vector<std::thread> threads;
  for (int t = 0; t < 4; ++t) {
    threads.emplace_back([&, t] {
      for (int i = 0; i < 200; ++i) {
        size_t k = static_cast<size_t>(i + t) % msgs.size();
        auto r = parse_message(msgs[k]);
        if (!r.is_ok() || r->body_text != expected[k]) ++mismatches[static_cast<size_t>(t)];
      }
    });
  }
  for (auto& th : threads) th.join();
  EXPECT_EQ(mismatches, std::vector<int>(4, 0));
}

TEST(MimeParse, DecodedQuotedPrintableAttachment) {
  auto r = parse_message(
      "Content-Type: application/octet-stream; name=a.txt\r\nContent-Transfer-Encoding: quoted-printable\r\n\r\n"
      "line=3D1=\r\n continued\r\nline2\r\n");
  ASSERT_TRUE(r.is_ok());
  ASSERT_EQ(r->attachments.size(), 1u);
  EXPECT_EQ(r->attachments[0].part_id, "1");
  EXPECT_EQ(r->decoded(r->attachments[0]).value(), "line=1 continued\r\nline2\r\n");
  EXPECT_EQ(r->attachments[0].decoded_size, 25u);
  EXPECT_EQ(r->attachments[0].sniffed, FileType::kText);
}

TEST(MimeParse, PlainTextUrls) {
  auto r = parse_message(
      "Content-Type: text/plain; charset=utf-8\r\n\r\n"
      "Go to www.example.com/a, or (https://x.example/p?q=1).\r\n"
      "詳しくはhttp://jp.example/詳細 をご覧ください\r\nmail me@www.not-a-link.example "
      "HTTPS://UPPER.example/ path/www.no.example ftp://files.example/f.zip http://\r\n");
  ASSERT_TRUE(r.is_ok());
  std::vector<std::string> hrefs;
  for (const auto& l : r->links) {
    EXPECT_EQ(l.source, LinkSource::kPlainText);
    EXPECT_EQ(l.part_id, "1");
    hrefs.push_back(l.href);
  }
  EXPECT_EQ(hrefs, (std::vector<std::string>{"www.example.com/a", "https://x.example/p?q=1",
                                             "http://jp.example/", "HTTPS://UPPER.example/",
                                             "ftp://files.example/f.zip"}));
}

TEST(MimeParse, BodyPartExtensionFields) {
  auto r = parse_message(
      "Content-Type: text/plain; charset=utf-8; format=flowed\r\nContent-ID: <c1@x>\r\n"
      "Content-Description: the\r\n  description\r\nContent-MD5: Q2hlY2sgSW50ZWdyaXR5IQ==\r\n"
      "Content-Language: en, ja\r\nContent-Location: http://x.example/a\r\n"
      "Content-Disposition: inline; size=3\r\nContent-Transfer-Encoding: 8bit\r\n\r\nabc");
  ASSERT_TRUE(r.is_ok());
  const BodyPart& b = r->summary.body;
  EXPECT_EQ(b.params, (Params{{"charset", "utf-8"}, {"format", "flowed"}}));
  EXPECT_EQ(b.id.value(), "<c1@x>");
  EXPECT_EQ(b.description.value(), "the  description");
  EXPECT_EQ(b.md5.value(), "Q2hlY2sgSW50ZWdyaXR5IQ==");
  EXPECT_EQ(b.language, (std::vector<std::string>{"en", "ja"}));
  EXPECT_EQ(b.location.value(), "http://x.example/a");
  EXPECT_EQ(b.disposition.value(), "inline");
  EXPECT_EQ(b.disposition_params, (Params{{"size", "3"}}));
  EXPECT_EQ(b.encoding, "8bit");
  EXPECT_EQ(b.size, 3u);
  EXPECT_EQ(b.lines, 1u);
}

TEST(MimeParse, AnomalyNamesAreStableAndUnique) {
  std::vector<std::string_view> seen;
  for (Anomaly a : all_anomalies()) {
    std::string_view n = anomaly_name(a);
    EXPECT_NE(n, "unknown");
    EXPECT_EQ(std::count(seen.begin(), seen.end(), n), 0);
    seen.push_back(n);
  }
  Anomalies x;
  x.set(Anomaly::kBadBase64);
  x.set(Anomaly::kTruncated);
  EXPECT_EQ(x.names(), (std::vector<std::string_view>{"bad_base64", "truncated"}));
}

}  // namespace
}  // namespace tsubame::filter
