// tests/filter/mime_limits_test.cc: every limit in filter/mime_limits.h is hit by a test:
// the parse still succeeds, stops the bounded work, and sets the matching kLimit* flag.
#include <gtest/gtest.h>

#include "common/bytes.h"
#include "filter/charset.h"
#include "filter/mime.h"
#include "mime_test_util.h"

namespace tsubame::filter {
namespace {

using testing::check_offsets;

ParsedMessage parse_ok(std::string_view raw, const MimeLimits& lim = {}) {
  auto r = parse_message(raw, lim);
  EXPECT_TRUE(r.is_ok()) << r.status().to_string();
  if (!r.is_ok()) return {};
  check_offsets(raw, r->summary.body);
  return std::move(r.value());
}

std::string nested_multiparts(int levels) {
  std::string head, tail;
  for (int i = 0; i < levels; ++i) {
    std::string b = "b" + std::to_string(i);
    head += "Content-Type: multipart/mixed; boundary=" + b + "\r\n\r\n--" + b + "\r\n";
    tail = "\r\n--" + b + "--\r\n" + tail;
  }
  return head + "Content-Type: text/plain\r\n\r\ndeep text" + tail;
}

TEST(MimeLimits, DefaultsAreTheNamedConstants) {
  MimeLimits d;
  EXPECT_EQ(d.max_depth, kMimeMaxDepth);
  EXPECT_EQ(d.max_parts, kMimeMaxParts);
  EXPECT_EQ(d.max_decoded_total, kMimeMaxDecodedTotal);
  EXPECT_EQ(d.max_text_bytes, kMimeMaxTextBytes);
  EXPECT_EQ(d.max_headers, kMimeMaxHeaders);
  EXPECT_EQ(d.max_header_bytes, kMimeMaxHeaderBytes);
  EXPECT_EQ(d.max_links, kMimeMaxLinks);
  EXPECT_EQ(d.max_html_bytes, kMimeMaxHtmlBytes);
  EXPECT_EQ(d.max_addresses, kMimeMaxAddresses);
  EXPECT_LT(kMimeMaxDepth, 64u);  // common/message_summary.cc decodes at most 64 levels
}

TEST(MimeLimits, NestingWithinTheLimitIsParsed) {
  ParsedMessage pm = parse_ok(nested_multiparts(static_cast<int>(kMimeMaxDepth) - 1));
  EXPECT_FALSE(pm.anomalies.has(Anomaly::kLimitDepth));
  EXPECT_EQ(pm.body_text, "deep text");
}

TEST(MimeLimits, DeepNestingBeyondTheLimitStopsAndFlags) {
  std::string raw = nested_multiparts(static_cast<int>(kMimeMaxDepth) + 50);
  ParsedMessage pm = parse_ok(raw);
  EXPECT_TRUE(pm.anomalies.has(Anomaly::kLimitDepth));
  EXPECT_LE(pm.max_depth_seen, kMimeMaxDepth);
  EXPECT_EQ(pm.body_text.find("deep text"), std::string::npos);
  // The store can still encode and decode the summary (bounded depth).
  EXPECT_TRUE(decode_summary(encode_summary(pm.summary)).is_ok());
}

TEST(MimeLimits, DeepMessageRfc822Nesting) {
  std::string raw = "Subject: leaf\r\n\r\nleaf text\r\n";
  for (int i = 0; i < 100; ++i) raw = "Subject: level\r\nContent-Type: message/rfc822\r\n\r\n" + raw;
  ParsedMessage pm = parse_ok(raw);
  EXPECT_TRUE(pm.anomalies.has(Anomaly::kLimitDepth));
  EXPECT_LE(pm.nested.size(), static_cast<size_t>(kMimeMaxDepth));
}

TEST(MimeLimits, ManyPartsBeyondTheLimit) {
  std::string raw = "Content-Type: multipart/mixed; boundary=p\r\n\r\n";
  for (uint32_t i = 0; i < kMimeMaxParts + 100; ++i)
    raw += "--p\r\nContent-Type: application/octet-stream; name=f" + std::to_string(i) + ".bin\r\n\r\nx\r\n";
  raw += "--p--\r\n";
  ParsedMessage pm = parse_ok(raw);
  EXPECT_TRUE(pm.anomalies.has(Anomaly::kLimitParts));
  EXPECT_LE(pm.part_count, kMimeMaxParts);
  EXPECT_LT(pm.attachments.size(), static_cast<size_t>(kMimeMaxParts));
  EXPECT_EQ(pm.summary.body.children.size() + 1, pm.part_count);
}

TEST(MimeLimits, HugeDecodedSizeStopsAtTheCap) {
  // A zip-bomb-like message: many parts each decoding to a lot. With a 1 MiB cap the
  // parser stops decoding there and flags it.
  MimeLimits lim;
  lim.max_decoded_total = 1 << 20;
  std::string chunk = base64_encode(std::string(300 * 1024, 'A'));
  std::string raw = "Content-Type: multipart/mixed; boundary=z\r\n\r\n";
  for (int i = 0; i < 8; ++i)
    raw += "--z\r\nContent-Type: application/octet-stream; name=z" + std::to_string(i) +
           "\r\nContent-Transfer-Encoding: base64\r\n\r\n" + chunk + "\r\n";
  raw += "--z--\r\n";
  ParsedMessage pm = parse_ok(raw, lim);
  EXPECT_TRUE(pm.anomalies.has(Anomaly::kLimitDecodedSize));
  EXPECT_EQ(pm.decoded_total, lim.max_decoded_total);
  ASSERT_EQ(pm.attachments.size(), 8u);
  EXPECT_EQ(pm.attachments[0].decoded_size, 300u * 1024);
  EXPECT_FALSE(pm.attachments[0].decode_capped);
  EXPECT_TRUE(pm.attachments[3].decode_capped);
  EXPECT_EQ(pm.attachments[7].decoded_size, 0u);
  // The default cap lets the same message through untouched.
  ParsedMessage full = parse_ok(raw);
  EXPECT_FALSE(full.anomalies.has(Anomaly::kLimitDecodedSize));
  EXPECT_EQ(full.decoded_total, 8u * 300 * 1024);
}

TEST(MimeLimits, TextCap) {
  MimeLimits lim;
  lim.max_text_bytes = 1000;
  std::string body;
  while (body.size() < 5000) body += "日本語テキスト ";
  ParsedMessage pm = parse_ok("Content-Type: text/plain; charset=utf-8\r\n\r\n" + body, lim);
  EXPECT_TRUE(pm.anomalies.has(Anomaly::kLimitText));
  EXPECT_LE(pm.body_text.size(), 1000u);
  EXPECT_TRUE(is_valid_utf8(pm.body_text));  // cut on a character boundary
}

TEST(MimeLimits, HeaderCount) {
  std::string raw;
  for (uint32_t i = 0; i < kMimeMaxHeaders + 10; ++i) raw += "X-H" + std::to_string(i) + ": v\r\n";
  raw += "Subject: after the cap\r\n\r\nbody\r\n";
  ParsedMessage pm = parse_ok(raw);
  EXPECT_TRUE(pm.anomalies.has(Anomaly::kLimitHeaderCount));
  EXPECT_EQ(pm.headers.size(), kMimeMaxHeaders);
  EXPECT_EQ(pm.body_text, "body\n");  // the body is still found
}

TEST(MimeLimits, HeaderBytes) {
  std::string raw = "Subject: " + std::string(kMimeMaxHeaderBytes + 500, 'a') + "\r\n\r\nbody";
  ParsedMessage pm = parse_ok(raw);
  EXPECT_TRUE(pm.anomalies.has(Anomaly::kLimitHeaderBytes));
  EXPECT_TRUE(pm.anomalies.has(Anomaly::kLongLine));
  EXPECT_EQ(pm.header("subject")->raw.size(), kMimeMaxHeaderBytes);
  // Many folded lines count too.
  std::string folded = "Subject: x";
  while (folded.size() < kMimeMaxHeaderBytes + 100) folded += "\r\n word";
  ParsedMessage pf = parse_ok(folded + "\r\n\r\nbody");
  EXPECT_TRUE(pf.anomalies.has(Anomaly::kLimitHeaderBytes));
}

TEST(MimeLimits, LineLengthOver998IsAnAnomalyOnly) {
  ParsedMessage ok = parse_ok("Subject: " + std::string(kMimeMaxLineOctets - 9, 's') + "\r\n\r\nb");
  EXPECT_FALSE(ok.anomalies.has(Anomaly::kLongLine));
  ParsedMessage lng = parse_ok("Subject: " + std::string(kMimeMaxLineOctets, 's') + "\r\n\r\nb");
  EXPECT_TRUE(lng.anomalies.has(Anomaly::kLongLine));
  EXPECT_EQ(lng.subject.size(), kMimeMaxLineOctets);
}

TEST(MimeLimits, Links) {
  MimeLimits lim;
  lim.max_links = 5;
  std::string html = "Content-Type: text/html\r\n\r\n";
  for (int i = 0; i < 20; ++i) html += "<a href=\"http://l" + std::to_string(i) + ".example/\">l</a>";
  ParsedMessage pm = parse_ok(html, lim);
  EXPECT_TRUE(pm.anomalies.has(Anomaly::kLimitLinks));
  EXPECT_EQ(pm.links.size(), 5u);
  std::string text = "Content-Type: text/plain\r\n\r\n";
  for (int i = 0; i < 20; ++i) text += "http://t" + std::to_string(i) + ".example/ ";
  ParsedMessage pt = parse_ok(text, lim);
  EXPECT_TRUE(pt.anomalies.has(Anomaly::kLimitLinks));
  EXPECT_EQ(pt.links.size(), 5u);
}

TEST(MimeLimits, HtmlBytes) {
  MimeLimits lim;
  lim.max_html_bytes = 1000;
  std::string html = "Content-Type: text/html\r\n\r\n<p>start</p>" + std::string(5000, 'x') + "<p>END</p>";
  ParsedMessage pm = parse_ok(html, lim);
  EXPECT_TRUE(pm.anomalies.has(Anomaly::kLimitHtml));
  EXPECT_NE(pm.body_text.find("start"), std::string::npos);
  EXPECT_EQ(pm.body_text.find("END"), std::string::npos);
}

TEST(MimeLimits, Addresses) {
  MimeLimits lim;
  lim.max_addresses = 10;
  std::string to = "To: ";
  for (int i = 0; i < 50; ++i) to += "u" + std::to_string(i) + "@x.example, ";
  ParsedMessage pm = parse_ok(to + "\r\n\r\nb", lim);
  EXPECT_TRUE(pm.anomalies.has(Anomaly::kLimitAddresses));
  EXPECT_EQ(pm.to.size(), 10u);
  EXPECT_EQ(pm.summary.envelope.to.size(), 10u);
}

TEST(MimeLimits, BoundaryLength) {
  std::string b(kMimeMaxBoundaryLength + 1, 'b');
  ParsedMessage pm = parse_ok("Content-Type: multipart/mixed; boundary=" + b + "\r\n\r\n--" + b +
                              "\r\n\r\nx\r\n--" + b + "--\r\n");
  EXPECT_TRUE(pm.anomalies.has(Anomaly::kBrokenBoundary));
  std::string ok(kMimeMaxBoundaryLength, 'b');
  ParsedMessage pk = parse_ok("Content-Type: multipart/mixed; boundary=" + ok + "\r\n\r\n--" + ok +
                              "\r\n\r\nx\r\n--" + ok + "--\r\n");
  EXPECT_FALSE(pk.anomalies.has(Anomaly::kBrokenBoundary));
  EXPECT_EQ(pk.body_text, "x");
}

TEST(MimeLimits, Rfc2231SectionsAndEncodedWords) {
  std::string ct = "Content-Type: application/octet-stream";
  for (uint32_t i = 0; i < kMimeMaxParamSections + 20; ++i) ct += "; name*" + std::to_string(i) + "=a";
  ParsedMessage pm = parse_ok(ct + "\r\n\r\nx");
  ASSERT_EQ(pm.attachments.size(), 1u);
  EXPECT_EQ(pm.attachments[0].filename, std::string(kMimeMaxParamSections, 'a'));
  std::string subj = "Subject:";
  for (uint32_t i = 0; i < kMimeMaxEncodedWords + 10; ++i) subj += " =?utf-8?q?w?=";
  ParsedMessage pw = parse_ok(subj + "\r\n\r\nx");
  EXPECT_EQ(pw.subject.substr(0, kMimeMaxEncodedWords), std::string(kMimeMaxEncodedWords, 'w'));
  EXPECT_NE(pw.subject.find("=?utf-8?q?w?="), std::string::npos);  // the rest left as written
}

TEST(MimeLimits, SniffWindowCoversIso9660) {
  static_assert(kMimeSniffBytes > 0x8001 + 5);
  std::string iso(0x8001 + 5, '\0');
  iso.replace(0x8001, 5, "CD001");
  ParsedMessage pm = parse_ok(
      "Content-Type: application/octet-stream; name=a.img\r\nContent-Transfer-Encoding: base64\r\n\r\n" +
      base64_encode(iso));
  ASSERT_EQ(pm.attachments.size(), 1u);
  EXPECT_EQ(pm.attachments[0].sniffed, FileType::kIso);
}

}  // namespace
}  // namespace tsubame::filter
