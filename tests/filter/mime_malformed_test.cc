// tests/filter/mime_malformed_test.cc: hostile and broken input still parses to something,
// with the right anomaly flags: broken boundaries, bad base64, truncated messages, 8-bit
// junk in headers, header syntax errors, NUL bytes; our codecs agree with mimetic's
// encoders; and a bounded fuzz run over mutated fixtures never crashes or hangs.
#include <gtest/gtest.h>

#include <mimetic/codec/base64.h>
#include <mimetic/codec/code.h>
#include <mimetic/codec/qp.h>

#include <iterator>
#include <random>

#include "common/bytes.h"
#include "filter/charset.h"
#include "filter/mime.h"
#include "mime_test_util.h"

namespace tsubame::filter {
namespace {

using testing::check_offsets;
using testing::read_fixture;
using testing::to_crlf;

ParsedMessage parse_ok(std::string_view raw, const MimeLimits& lim = {}) {
  auto r = parse_message(raw, lim);
  EXPECT_TRUE(r.is_ok()) << r.status().to_string();
  if (!r.is_ok()) return {};
  check_offsets(raw, r->summary.body);
  return std::move(r.value());
}

TEST(MimeMalformed, MultipartWithoutBoundaryParamIsReadAsText) {
  ParsedMessage pm = parse_ok("Content-Type: multipart/mixed\r\n\r\n--x\r\nhidden text\r\n--x--\r\n");
  EXPECT_TRUE(pm.anomalies.has(Anomaly::kBrokenBoundary));
  EXPECT_EQ(pm.summary.body.type, "text");
  EXPECT_TRUE(pm.summary.body.children.empty());
  EXPECT_NE(pm.body_text.find("hidden text"), std::string::npos);
}

TEST(MimeMalformed, BoundaryNeverFoundIsReadAsText) {
  ParsedMessage pm = parse_ok(
      "Content-Type: multipart/mixed; boundary=\"abc\"\r\n\r\n--abd\r\nContent-Type: text/plain\r\n\r\n"
      "buy now\r\n--abd--\r\n");
  EXPECT_TRUE(pm.anomalies.has(Anomaly::kBrokenBoundary));
  EXPECT_NE(pm.body_text.find("buy now"), std::string::npos);
}

TEST(MimeMalformed, MissingCloseDelimiterKeepsLastPart) {
  ParsedMessage pm = parse_ok(
      "Content-Type: multipart/mixed; boundary=b\r\n\r\n--b\r\n\r\nfirst\r\n--b\r\n"
      "Content-Type: text/html\r\n\r\n<p>second</p>");
  EXPECT_TRUE(pm.anomalies.has(Anomaly::kMissingCloseBoundary));
  EXPECT_TRUE(pm.anomalies.has(Anomaly::kTruncated));
  ASSERT_EQ(pm.summary.body.children.size(), 2u);
  EXPECT_EQ(pm.body_text, "first\nsecond");
}

TEST(MimeMalformed, BoundaryPrefixIsNotADelimiter) {
  // The inner boundary extends the outer one: "--outer-x" must not end outer parts.
  ParsedMessage pm = parse_ok(
      "Content-Type: multipart/mixed; boundary=outer\r\n\r\n--outer\r\n"
      "Content-Type: multipart/alternative; boundary=outer-x\r\n\r\n"
      "--outer-x\r\nContent-Type: text/plain\r\n\r\none\r\n--outer-x--\r\n"
      "--outer\r\nContent-Type: text/plain\r\n\r\ntwo\r\n--outer--\r\n");
  EXPECT_FALSE(pm.anomalies.any()) << ::testing::PrintToString(pm.anomalies.names());
  ASSERT_EQ(pm.summary.body.children.size(), 2u);
  EXPECT_EQ(pm.summary.body.children[0].children.size(), 1u);
  EXPECT_EQ(pm.body_text, "one\ntwo");
}

TEST(MimeMalformed, TransportPaddingAfterDelimiterIsAccepted) {
  ParsedMessage pm = parse_ok(
      "Content-Type: multipart/mixed; boundary=b\r\n\r\n--b  \t\r\n\r\nx\r\n--b-- \r\n");
  EXPECT_FALSE(pm.anomalies.has(Anomaly::kMissingCloseBoundary));
  EXPECT_EQ(pm.body_text, "x");
}

TEST(MimeMalformed, EmptyMultipartHasNoChildrenInSummary) {
  ParsedMessage pm = parse_ok("Content-Type: multipart/mixed; boundary=b\r\n\r\n--b--\r\n");
  EXPECT_TRUE(pm.anomalies.has(Anomaly::kBrokenBoundary));
  EXPECT_FALSE(pm.summary.body.is_multipart());  // IMAP needs >= 1 child; shown as text
}

TEST(MimeMalformed, BadBase64IsDecodedAsFarAsPossibleAndFlagged) {
  std::string msg =
      "Content-Type: multipart/mixed; boundary=b\r\n\r\n--b\r\n"
      "Content-Type: application/octet-stream; name=a.bin\r\nContent-Transfer-Encoding: base64\r\n\r\n"
      "TV*qQ!AA\r\nA=AAA\r\n--b--\r\n";
  ParsedMessage pm = parse_ok(msg);
  EXPECT_TRUE(pm.anomalies.has(Anomaly::kBadBase64));
  ASSERT_EQ(pm.attachments.size(), 1u);
  EXPECT_EQ(pm.attachments[0].sniffed, FileType::kPe);  // "MZ" still recovered
  bool bad = false;
  decode_base64("QQ", &bad);
  EXPECT_FALSE(bad);
  decode_base64("QUJD\r\nR", &bad);  // a lone trailing sextet
  EXPECT_TRUE(bad);
}

TEST(MimeMalformed, BadQuotedPrintableIsFlagged) {
  ParsedMessage pm = parse_ok(
      "Content-Type: text/plain\r\nContent-Transfer-Encoding: quoted-printable\r\n\r\n50% off =G1 now\r\n");
  EXPECT_TRUE(pm.anomalies.has(Anomaly::kBadQuotedPrintable));
  EXPECT_EQ(pm.body_text, "50% off =G1 now\n");
}

TEST(MimeMalformed, TruncatedMessages) {
  // Header without end, cut mid-line.
  ParsedMessage a = parse_ok("From: a@b.example\r\nSubject: hel");
  EXPECT_TRUE(a.anomalies.has(Anomaly::kTruncated));
  EXPECT_EQ(a.subject, "hel");
  EXPECT_EQ(a.summary.body.body_offset, a.raw.size());
  // Cut in the middle of a base64 attachment.
  std::string full = to_crlf(read_fixture("mixed.eml"));
  for (size_t cut : {full.size() / 3, full.size() / 2, full.size() - 40, size_t{20}, size_t{0}}) {
    ParsedMessage t = parse_ok(full.substr(0, cut));
    if (cut > 0) {
      EXPECT_TRUE(t.anomalies.has(Anomaly::kTruncated) || t.anomalies.has(Anomaly::kBrokenBoundary))
          << cut;
    }
  }
  // A header-only message ending with CRLF is legal, not truncated.
  ParsedMessage h = parse_ok("Subject: only\r\n");
  EXPECT_FALSE(h.anomalies.has(Anomaly::kTruncated));
  EXPECT_EQ(h.subject, "only");
}

TEST(MimeMalformed, EightBitJunkInHeaders) {
  ParsedMessage pm = parse_ok("Subject: \xFF\xFE junk \x80\r\nFrom: \xC0\xC1 <x@y.example>\r\n\r\nbody\r\n");
  EXPECT_TRUE(pm.anomalies.has(Anomaly::kHeader8Bit));
  EXPECT_TRUE(is_valid_utf8(pm.subject));
  EXPECT_TRUE(is_valid_utf8(pm.from->display_name));
  EXPECT_EQ(pm.from->address, "x@y.example");
  ParsedMessage u = parse_ok("Subject: 日本語\r\n\r\nbody\r\n");  // RFC 6532
  EXPECT_TRUE(u.anomalies.has(Anomaly::kHeaderUtf8));
  EXPECT_FALSE(u.anomalies.has(Anomaly::kHeader8Bit));
  EXPECT_EQ(u.subject, "日本語");
}

TEST(MimeMalformed, HeaderSyntaxAndDuplicates) {
  ParsedMessage pm = parse_ok(
      "From a@b Sat Jan  1 00:00:00 2000\r\nSubject: one\r\nSubject: two\r\nno colon here\r\n"
      " orphan? no, continuation of Subject\r\n\r\nbody");
  EXPECT_TRUE(pm.anomalies.has(Anomaly::kHeaderSyntax));
  EXPECT_TRUE(pm.anomalies.has(Anomaly::kDuplicateHeader));
  EXPECT_EQ(pm.subject, "one");
  EXPECT_EQ(pm.body_text, "body");
}

TEST(MimeMalformed, MessageWithoutHeaderIsAllBody) {
  ParsedMessage pm = parse_ok("hello, this is not a header\r\nsecond line\r\n");
  EXPECT_TRUE(pm.anomalies.has(Anomaly::kHeaderSyntax));
  EXPECT_TRUE(pm.headers.empty());
  EXPECT_EQ(pm.summary.body.body_offset, 0u);
  EXPECT_EQ(pm.body_text, "hello, this is not a header\nsecond line\n");
}

TEST(MimeMalformed, PartWithoutBlankLineStartsBodyImmediately) {
  ParsedMessage pm = parse_ok(
      "Content-Type: multipart/mixed; boundary=b\r\n\r\n--b\r\nthis is body text\r\n--b--\r\n");
  EXPECT_TRUE(pm.anomalies.has(Anomaly::kHeaderSyntax));
  EXPECT_EQ(pm.body_text, "this is body text");
  const BodyPart& p = pm.summary.body.children.at(0);
  EXPECT_EQ(p.header_offset, p.body_offset);
}

// A bulk mailer folded its encoded Subject with empty lines between the words: strictly the
// header ends at the first one, and Content-Type, the boundary and the base64 would become
// text. The parser reads on (kHeaderSplit) only when every empty line is followed by a folded
// continuation and the lines after it carry the MIME fields the header before lacks.
TEST(MimeMalformed, StrayEmptyLinesInsideTheHeaderAreReadPast) {
  const std::string raw =
      "From: sender <s@bulk.example>\r\n"
      "Subject: =?UTF-8?B?5bGV6KeI5Lya?=\r\n"
      "\r\n"
      " =?UTF-8?B?6YCa55+l?=\r\n"
      "\r\n"
      " =?UTF-8?B?5Y+C6KeC?=\r\n"
      "To: someone@ours.example\r\n"
      "Content-Type: multipart/mixed;\r\n"
      " boundary=\"=_b\"\r\n"
      "MIME-Version: 1.0\r\n"
      "\r\n"
      "preamble\r\n"
      "--=_b\r\n"
      "Content-Type: text/plain; charset=utf-8\r\n"
      "\r\n"
      "the real text\r\n"
      "--=_b--\r\n";
  ParsedMessage pm = parse_ok(raw);
  EXPECT_TRUE(pm.anomalies.has(Anomaly::kHeaderSplit));
  EXPECT_EQ(pm.summary.body.type, "multipart");
  ASSERT_EQ(pm.summary.body.children.size(), 1u);
  EXPECT_EQ(pm.body_text, "the real text");
  EXPECT_EQ(pm.subject, "展览会通知参观");  // RFC 2047 §6.2: adjacent words joined
  EXPECT_EQ(pm.header_end, raw.find("\r\n\r\npreamble") + 4);
}

TEST(MimeMalformed, AnEmptyLineFollowedByBodyTextEndsTheHeader) {
  // A forwarded header quoted at the top of a body does not start with white space.
  ParsedMessage fwd = parse_ok(
      "From: a@x.example\r\nSubject: fwd\r\n\r\nFrom: b@y.example\r\n"
      "Content-Type: text/html\r\n\r\n<b>hi</b>\r\n");
  EXPECT_FALSE(fwd.anomalies.has(Anomaly::kHeaderSplit));
  EXPECT_EQ(fwd.summary.body.subtype, "plain");
  EXPECT_NE(fwd.body_text.find("Content-Type: text/html"), std::string::npos);
  // An indented first body line without MIME fields after it is body text.
  ParsedMessage indented = parse_ok(
      "From: a@x.example\r\nSubject: poem\r\n\r\n   Roses: red\r\nViolets: blue\r\n\r\nend\r\n");
  EXPECT_FALSE(indented.anomalies.has(Anomaly::kHeaderSplit));
  EXPECT_NE(indented.body_text.find("Roses: red"), std::string::npos);
  // A message whose header already has its Content-Type keeps the strict reading.
  ParsedMessage typed = parse_ok(
      "From: a@x.example\r\nContent-Type: text/plain\r\n\r\n x\r\nContent-Type: text/html\r\n\r\n<i>y</i>\r\n");
  EXPECT_FALSE(typed.anomalies.has(Anomaly::kHeaderSplit));
  EXPECT_NE(typed.body_text.find("<i>y</i>"), std::string::npos);
  // A continuation run longer than kMimeMaxResumedHeaderLines is not looked through.
  std::string runaway = "From: a@x.example\r\n\r\n";
  for (size_t i = 0; i < kMimeMaxResumedHeaderLines + 1; ++i) runaway += " w\r\n";
  runaway += "Content-Type: text/html\r\n\r\n<i>z</i>\r\n";
  ParsedMessage r = parse_ok(runaway);
  EXPECT_FALSE(r.anomalies.has(Anomaly::kHeaderSplit));
  EXPECT_NE(r.body_text.find("<i>z</i>"), std::string::npos);
}

TEST(MimeMalformed, NulBytesBareLfLongLinesUnknownEncoding) {
  std::string msg = "Subject: a\nX-Long: " + std::string(2000, 'x') +
                    "\nContent-Transfer-Encoding: x-uuencode\n\nnul\0here\n";
  msg[msg.size() - 6] = '\0';
  ParsedMessage pm = parse_ok(std::string_view(msg.data(), msg.size()));
  EXPECT_TRUE(pm.anomalies.has(Anomaly::kNulByte));
  EXPECT_TRUE(pm.anomalies.has(Anomaly::kBareLf));
  EXPECT_TRUE(pm.anomalies.has(Anomaly::kLongLine));
  EXPECT_TRUE(pm.anomalies.has(Anomaly::kUnknownEncoding));
}

TEST(MimeMalformed, Base64EncodedMessageRfc822IsParsedButOpaqueToImap) {
  std::string inner = "Subject: inner\r\nContent-Type: text/plain\r\n\r\nsecret payload\r\n";
  std::string msg = "Content-Type: multipart/mixed; boundary=b\r\n\r\n--b\r\n"
                    "Content-Type: message/rfc822\r\nContent-Transfer-Encoding: base64\r\n\r\n" +
                    base64_encode(inner) + "\r\n--b--\r\n";
  ParsedMessage pm = parse_ok(msg);
  EXPECT_TRUE(pm.anomalies.has(Anomaly::kEncodedMessage));
  ASSERT_EQ(pm.nested.size(), 1u);
  EXPECT_EQ(pm.nested[0].headers.subject, "inner");
  EXPECT_NE(pm.body_text.find("secret payload"), std::string::npos);
  EXPECT_EQ(pm.summary.body.children.at(0).type, "application");
}

TEST(MimeMalformed, DecodedAttachmentFromEncodedMessageIsNotFound) {
  std::string inner = "Content-Type: application/zip; name=a.zip\r\nContent-Transfer-Encoding: base64\r\n\r\nUEsDBA==\r\n";
  std::string msg = "Content-Type: message/rfc822\r\nContent-Transfer-Encoding: base64\r\n\r\n" + base64_encode(inner);
  ParsedMessage pm = parse_ok(msg);
  ASSERT_EQ(pm.attachments.size(), 1u);
  EXPECT_TRUE(pm.attachments[0].from_encoded_message);
  EXPECT_EQ(pm.attachments[0].sniffed, FileType::kZip);
  EXPECT_EQ(pm.decoded(pm.attachments[0]).status().code(), Code::kNotFound);
}

TEST(MimeMalformed, HostileHeadersFinish) {
  // Thousands of encoded-word starts with no terminator, in many fields: each search moves
  // forward only, so this is linear (a quadratic scan would run for minutes and hit the
  // ctest timeout).
  std::string junk;
  while (junk.size() < 60'000) junk += "=?a?B?xx ";
  std::string raw;
  for (int i = 0; i < 200; ++i) raw += "Subject: " + junk + "\r\n";
  raw += "\r\nbody";
  ParsedMessage pm = parse_ok(raw);
  EXPECT_TRUE(pm.subject.starts_with("=?a?B?xx"));
  EXPECT_EQ(pm.body_text, "body");
  // Deeply nested comments and quotes in address fields.
  std::string addr = "From: " + std::string(50'000, '(') + "x@y" + std::string(50'000, '"') + "\r\n\r\n";
  EXPECT_TRUE(parse_message(addr).is_ok());
}

// ---- our codecs against mimetic's encoders -----------------------------------------

TEST(MimeCodecs, AgreeWithMimeticEncoders) {
  std::mt19937 rng(7);
  for (int round = 0; round < 200; ++round) {
    std::string data(rng() % 3000, '\0');
    for (auto& c : data) c = static_cast<char>(rng() % (round % 2 ? 256 : 128));
    std::string b64;
    mimetic::Base64::Encoder be;
    mimetic::encode(data.begin(), data.end(), be, std::back_inserter(b64));
    bool bad = true;
    EXPECT_EQ(decode_base64(b64, &bad), data) << round;
    EXPECT_FALSE(bad);
    std::string qp;
    mimetic::QP::Encoder qe(true);  // binary mode: line breaks encoded too
    mimetic::encode(data.begin(), data.end(), qe, std::back_inserter(qp));
    EXPECT_EQ(decode_quoted_printable(qp, &bad), data) << round;
    EXPECT_FALSE(bad) << round;
  }
}

// ---- fuzz-ish: random mutations of the fixtures never crash or hang -----------------

std::string mutate(std::string s, std::mt19937& rng) {
  static const std::string kTokens[] = {"--outer", "--inner--", "--", "\r\n", "\n\n", "=?utf-8?B?",
                                        "?=", "Content-Type: multipart/mixed; boundary=outer\r\n",
                                        "Content-Transfer-Encoding: base64\r\n", "=", "<a href=",
                                        "&#x", "\xFF", std::string(1, '\0'), ";", "\"", "*0*="};
  int n = 1 + static_cast<int>(rng() % 8);
  for (int i = 0; i < n && !s.empty(); ++i) {
    size_t pos = rng() % s.size();
    switch (rng() % 5) {
      case 0: s[pos] = static_cast<char>(rng()); break;
      case 1: s.erase(pos, rng() % 64); break;
      case 2: s.insert(pos, kTokens[rng() % std::size(kTokens)]); break;
      case 3: s.insert(pos, s.substr(rng() % s.size(), rng() % 200)); break;
      case 4: s.resize(pos); break;
    }
  }
  return s;
}

TEST(MimeFuzz, MutatedFixturesAlwaysParse) {
  std::vector<std::string> seeds = {read_fixture("mixed.eml"), to_crlf(read_fixture("nested.eml")),
                                    read_fixture("japanese.eml"),
                                    "Content-Type: text/html\r\n\r\n<a href='x'>y</a><script>z</script>&amp;",
                                    // every MIME field the parser reads, for the mutator to break
                                    "From: \"A (b)\" <a@b.example>, G: c@d.example;\r\nReturn-Path: <>\r\n"
                                    "Date: Mon, 1 Jan 2024 00:00:00 +0000\r\nReferences: <a@b> <c@d>\r\n"
                                    "Content-Type: multipart/digest; boundary=d\r\n\r\n--d\r\n"
                                    "Content-Language: en, ja\r\nContent-ID: <x>\r\nContent-Location: y\r\n"
                                    "Content-Disposition: attachment; filename*0*=utf-8''%E6%97; filename*1*=%A5.txt\r\n"
                                    "Content-Type: message/rfc822\r\nContent-Transfer-Encoding: base64\r\n\r\n"
                                    "U3ViamVjdDogaQ0KDQpoaQ==\r\n--d\r\n\r\nSubject: =?ISO-2022-JP?B?GyRCJDMbKEI=?=\r\n\r\n"
                                    "<p style=display:none>x</p>\r\n--d--\r\n"};
  std::mt19937 rng(20261122);
  MimeLimits small;
  small.max_depth = 6;
  small.max_parts = 40;
  for (int i = 0; i < 3000; ++i) {
    std::string m = mutate(seeds[static_cast<size_t>(i) % seeds.size()], rng);
    auto r = parse_message(m, i % 2 ? small : MimeLimits{});
    ASSERT_TRUE(r.is_ok()) << i;
    ASSERT_TRUE(is_valid_utf8(r->body_text)) << i;
    ASSERT_TRUE(is_valid_utf8(r->subject)) << i;
    for (const auto& a : r->attachments) ASSERT_TRUE(is_valid_utf8(a.filename)) << i;
    check_offsets(m, r->summary.body, true, false);
    // Whatever we produce, the store can keep and read back.
    auto back = decode_summary(encode_summary(r->summary));
    ASSERT_TRUE(back.is_ok()) << i;
    if (::testing::Test::HasFatalFailure()) return;
  }
}

}  // namespace
}  // namespace tsubame::filter
