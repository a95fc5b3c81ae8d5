// tests/filter/mime_body_scope_test.cc: what body_text (the rules' `body` scope and the
// classifier's body) reads beyond the preferred alternative: a non-preferred alternative whose
// words are not already there, and a text part sent inline with a file name when the message
// has little other text (filter/README.md, "What the body scope reads"). Each limit in
// mime_limits.h that bounds them is tested at its edge. Messages are written here.
#include <gtest/gtest.h>

#include <cctype>
#include <string>

#include "common/bytes.h"
#include "filter/mime.h"
#include "filter/mime_limits.h"

namespace tsubame::filter {
namespace {

constexpr std::string_view kHead =
    "From: Sender <sender@example.com>\r\nTo: reader@example.org\r\nSubject: hello\r\n"
    "Date: Mon, 23 Nov 2026 09:00:00 +0000\r\nMIME-Version: 1.0\r\n";

ParsedMessage parse(const std::string& raw) {
  auto r = parse_message(raw);
  EXPECT_TRUE(r.is_ok()) << r.status().to_string();
  return r.is_ok() ? std::move(r.value()) : ParsedMessage{};
}

// multipart/alternative with the given parts, each "Content-Type line(s)\r\n\r\nbody".
std::string alternative(std::initializer_list<std::string> parts) {
  std::string m = std::string(kHead) + "Content-Type: multipart/alternative; boundary=\"alt\"\r\n\r\n";
  for (const auto& p : parts) m += "--alt\r\n" + p + "\r\n";
  return m + "--alt--\r\n";
}

std::string plain(const std::string& body) { return "Content-Type: text/plain; charset=us-ascii\r\n\r\n" + body; }
std::string html(const std::string& body) { return "Content-Type: text/html; charset=us-ascii\r\n\r\n" + body; }

constexpr std::string_view kLetter =
    "Dear Sir/Madam\r\nOur online store offers quality products in fifteen categories. "
    "Enter the coupon number during checkout to receive your discount. To be removed from "
    "our mailing list, reply with the word remove in the subject.\r\n";
constexpr std::string_view kPicture =
    "<html><body><a href=\"http://store.example/\"><img src=\"http://store.example/c.gif\"></a></body></html>";

bool contains(std::string_view hay, std::string_view needle) { return hay.find(needle) != std::string_view::npos; }

// ---- the non-preferred alternative ---------------------------------------------------

TEST(AlternativeText, PlainLetterBesideAPictureJoinsBodyText) {
  ParsedMessage m = parse(alternative({plain(std::string(kLetter)), html(std::string(kPicture))}));
  ASSERT_EQ(m.text_parts.size(), 2u);
  EXPECT_TRUE(m.text_parts[0].in_body_text);  // joined: its words are not in the HTML
  EXPECT_TRUE(contains(m.body_text, "reply with the word remove in the subject")) << m.body_text;
  EXPECT_TRUE(contains(m.body_text, "Dear Sir/Madam"));
}

TEST(AlternativeText, DerivedAlternativeIsNotReadTwice) {
  // The usual case: the mail program wrote the plain part from the HTML, same words.
  std::string page = "<html><body><p>" + std::string(kLetter) + "</p></body></html>";
  ParsedMessage m = parse(alternative({plain(std::string(kLetter)), html(page)}));
  ASSERT_EQ(m.text_parts.size(), 2u);
  EXPECT_FALSE(m.text_parts[0].in_body_text);
  EXPECT_EQ(m.body_text, m.text_parts[1].text);
  // Reworded in places (line breaks, a signature added): still mostly the same words.
  std::string reworded = std::string(kLetter) + "\r\n-- \r\nStore team, visit us soon\r\n";
  ParsedMessage m2 = parse(alternative({plain(reworded), html(page)}));
  EXPECT_FALSE(m2.text_parts[0].in_body_text);
  EXPECT_EQ(m2.body_text, m2.text_parts[1].text);
}

TEST(AlternativeText, PreferredPlainBesideNovelHtml) {
  // text/plain preferred (last), the HTML with other words joins as rendered text.
  std::string page = "<html><body><p>" + std::string(kLetter) + "</p></body></html>";
  ParsedMessage m = parse(alternative({html(page), plain("See the attached page, thanks.")}));
  ASSERT_EQ(m.text_parts.size(), 2u);
  EXPECT_TRUE(m.text_parts[0].in_body_text);
  EXPECT_TRUE(m.body_text.starts_with("See the attached page, thanks.\n"));
  EXPECT_TRUE(contains(m.body_text, "fifteen categories"));
  EXPECT_FALSE(contains(m.body_text, "<p>"));
}

TEST(AlternativeText, ShortStubIsNotJoined) {
  // A newsletter's "cannot show HTML" stub: fewer than kMimeAltMinWords words of 4+ letters.
  ParsedMessage m = parse(alternative(
      {plain("This message is in HTML. Your mail program cannot show it."), html(std::string(kPicture))}));
  EXPECT_FALSE(m.text_parts[0].in_body_text);
  EXPECT_FALSE(contains(m.body_text, "cannot show"));
}

// Distinct words of 4+ letters.
const char* const kWords[] = {"alpha", "bravo", "charlie", "delta", "echo", "foxtrot",
                              "golf", "hotel", "india", "juliet", "kilo", "lima"};

std::string words(size_t from, size_t to) {
  std::string s;
  for (size_t i = from; i < to; ++i) s += std::string(kWords[i]) + " ";
  return s;
}

TEST(AlternativeText, MinimumWordCountLimit) {
  static_assert(kMimeAltMinWords == 10);
  // kMimeAltMinWords - 1 novel words: not joined; kMimeAltMinWords: joined.
  ParsedMessage nine = parse(alternative({plain(words(0, 9) + "42 x y"), plain("ok")}));
  EXPECT_FALSE(nine.text_parts[0].in_body_text);
  EXPECT_EQ(nine.body_text, "ok");
  ParsedMessage ten = parse(alternative({plain(words(0, 10)), plain("ok")}));
  EXPECT_TRUE(ten.text_parts[0].in_body_text);
  EXPECT_EQ(ten.body_text, "ok\n" + words(0, 10));
  // Words repeated count once; short words and digits not at all.
  ParsedMessage rep = parse(alternative({plain(words(0, 9) + words(0, 9) + "abc 12345 x-y"), plain("ok")}));
  EXPECT_FALSE(rep.text_parts[0].in_body_text);
}

TEST(AlternativeText, KnownShareLimit) {
  static_assert(kMimeAltKnownPercent == 25);
  // Three of twelve words in the preferred text: 25% known, not joined. Two: 17%, joined.
  ParsedMessage quarter = parse(alternative({plain(words(0, 12)), plain(words(0, 3))}));
  EXPECT_FALSE(quarter.text_parts[0].in_body_text);
  ParsedMessage less = parse(alternative({plain(words(0, 12)), plain(words(0, 2))}));
  EXPECT_TRUE(less.text_parts[0].in_body_text);
  // A part rewritten by hand beside its HTML (half its words the same) is not joined.
  ParsedMessage half = parse(alternative({plain(words(0, 12)), plain(words(0, 6))}));
  EXPECT_FALSE(half.text_parts[0].in_body_text);
  // Case does not matter (ASCII lower-cased).
  std::string upper = words(0, 3);
  for (auto& c : upper) c = static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
  ParsedMessage cased = parse(alternative({plain(words(0, 12)), plain(upper)}));
  EXPECT_FALSE(cased.text_parts[0].in_body_text);
}

TEST(AlternativeText, SampleBytesLimit) {
  // Words after the first kMimeAltSampleBytes of the alternative are not counted: five words,
  // padding to that size, then five more is too few words to judge; with the last five
  // inside the sample it is ten, joined.
  auto pad = [](size_t n) { return std::string(n, '.'); };
  // The alternative has words 0..4, then 5..9 past the edge; the preferred text has 0..1.
  std::string at_edge = words(0, 5) + pad(kMimeAltSampleBytes - words(0, 5).size()) + words(5, 10);
  ParsedMessage out = parse(alternative({plain(at_edge), plain(words(0, 2))}));
  EXPECT_FALSE(out.text_parts[0].in_body_text);  // only 5 words read: under kMimeAltMinWords
  std::string inside = words(0, 5) + pad(kMimeAltSampleBytes - words(0, 5).size() - words(5, 10).size()) + words(5, 10);
  ParsedMessage in = parse(alternative({plain(inside), plain(words(0, 2))}));
  EXPECT_TRUE(in.text_parts[0].in_body_text);
}

TEST(AlternativeText, PreferredBytesLimit) {
  // The preferred text is read for its first kMimeAltPreferredBytes: words past it are not
  // known, so an alternative with those words joins.
  std::string filler(kMimeAltPreferredBytes, '-');
  ParsedMessage past = parse(alternative({plain(words(0, 10)), plain(filler + " " + words(0, 10))}));
  EXPECT_TRUE(past.text_parts[0].in_body_text);
  std::string inside(kMimeAltPreferredBytes - words(0, 10).size() - 1, '-');
  ParsedMessage in = parse(alternative({plain(words(0, 10)), plain(inside + " " + words(0, 10))}));
  EXPECT_FALSE(in.text_parts[0].in_body_text);
}

TEST(AlternativeText, TwoAlternativesWithTheSameNewWordsJoinOnce) {
  std::string page = "<html><body><p>" + std::string(kLetter) + "</p></body></html>";
  ParsedMessage m = parse(alternative({plain(std::string(kLetter)), html(page), html(std::string(kPicture))}));
  ASSERT_EQ(m.text_parts.size(), 3u);
  EXPECT_TRUE(m.text_parts[0].in_body_text);
  EXPECT_FALSE(m.text_parts[1].in_body_text);  // its words came with the first
  EXPECT_TRUE(m.text_parts[2].in_body_text);    // the preferred picture
  size_t first = m.body_text.find("fifteen categories");
  ASSERT_NE(first, std::string::npos);
  EXPECT_EQ(m.body_text.find("fifteen categories", first + 1), std::string::npos);  // once
}

TEST(AlternativeText, JoinedTextKeepsDocumentOrderInAMixedMessage) {
  std::string m = std::string(kHead) + "Content-Type: multipart/mixed; boundary=\"mix\"\r\n\r\n"
                  "--mix\r\nContent-Type: multipart/alternative; boundary=\"alt\"\r\n\r\n"
                  "--alt\r\n" + plain(words(0, 10)) + "\r\n--alt\r\n" + plain("first") + "\r\n--alt--\r\n"
                  "--mix\r\n" + plain("last") + "\r\n--mix--\r\n";
  ParsedMessage pm = parse(m);
  EXPECT_EQ(pm.body_text, "first\n" + words(0, 10) + "\nlast");
}

TEST(AlternativeText, NestedInANonPreferredBranchIsJudgedByTheOuterAlternative) {
  // multipart/alternative( multipart/alternative(plain letter, html letter), html picture ):
  // the inner branch is the preferred one (a multipart counts), so nothing is hidden by the
  // outer; inside it the plain letter duplicates the HTML letter and stays out.
  std::string page = "<html><body><p>" + std::string(kLetter) + "</p></body></html>";
  std::string m = std::string(kHead) + "Content-Type: multipart/alternative; boundary=\"out\"\r\n\r\n"
                  "--out\r\n" + html(std::string(kPicture)) + "\r\n"
                  "--out\r\nContent-Type: multipart/alternative; boundary=\"in\"\r\n\r\n"
                  "--in\r\n" + plain(std::string(kLetter)) + "\r\n--in\r\n" + html(page) + "\r\n--in--\r\n"
                  "--out--\r\n";
  ParsedMessage pm = parse(m);
  ASSERT_EQ(pm.text_parts.size(), 3u);
  EXPECT_FALSE(pm.text_parts[1].in_body_text);
  EXPECT_TRUE(pm.text_parts[2].in_body_text);
  EXPECT_EQ(pm.body_text, pm.text_parts[2].text);
}

TEST(AlternativeText, BodyTextCapStillHolds) {
  MimeLimits lim;
  lim.max_text_bytes = 100;
  auto r = parse_message(alternative({plain(std::string(kLetter)), plain("short preferred text")}), lim);
  ASSERT_TRUE(r.is_ok());
  EXPECT_LE(r->body_text.size(), 100u);
  EXPECT_TRUE(r->anomalies.has(Anomaly::kLimitText));
}

// ---- text parts sent inline with a file name -------------------------------------------

std::string single_inline(std::string_view type, std::string_view disposition, const std::string& body) {
  return std::string(kHead) + "Content-Type: " + std::string(type) + "; charset=us-ascii\r\n" +
         "Content-Disposition: " + std::string(disposition) + "\r\n\r\n" + body;
}

constexpr std::string_view kInlinePage =
    "<html><body><p>Dear Friend,</p><p>You can start your own business today and earn cash "
    "from home.</p><a href=\"http://cash.example/\">Start now</a></body></html>\r\n";

TEST(InlineText, SingleInlineHtmlWithFileNameIsBodyText) {
  ParsedMessage m = parse(single_inline("text/html", "inline; filename=\"filename.html\"", std::string(kInlinePage)));
  EXPECT_TRUE(contains(m.body_text, "Dear Friend,")) << m.body_text;
  EXPECT_TRUE(contains(m.body_text, "start your own business"));
  EXPECT_FALSE(contains(m.body_text, "<p>"));
  ASSERT_EQ(m.text_parts.size(), 1u);
  EXPECT_TRUE(m.text_parts[0].html);
  EXPECT_TRUE(contains(m.text_parts[0].source, "<a href"));  // the html scope reads it too
  EXPECT_TRUE(m.text_parts[0].in_body_text);
  ASSERT_EQ(m.attachments.size(), 1u);  // still listed as what it was sent as
  EXPECT_EQ(m.attachments[0].filename, "filename.html");
  bool link = false;
  for (const auto& l : m.links) link |= l.href == "http://cash.example/";
  EXPECT_TRUE(link);
}

TEST(InlineText, InlinePlainWithFileNameIsBodyText) {
  ParsedMessage m = parse(single_inline("text/plain", "inline; filename=letter.txt", "Dear Friend, earn cash today.\r\n"));
  EXPECT_EQ(m.body_text, "Dear Friend, earn cash today.\n");
}

TEST(InlineText, AttachedFileIsNotBodyText) {
  // Content-Disposition: attachment is a file the reader opens, never the letter.
  ParsedMessage m = parse(single_inline("text/html", "attachment; filename=\"page.html\"", std::string(kInlinePage)));
  EXPECT_EQ(m.body_text, "");
  EXPECT_TRUE(m.text_parts.empty());
  // No disposition, only a name: left as it was (an attachment).
  std::string named = std::string(kHead) + "Content-Type: text/html; name=\"page.html\"\r\n\r\n" + std::string(kInlinePage);
  EXPECT_EQ(parse(named).body_text, "");
  // Another text type inline with a name (a CSV table) is not read either.
  EXPECT_EQ(parse(single_inline("text/csv", "inline; filename=t.csv", "a,b,c\r\n1,2,3\r\n")).body_text, "");
}

std::string letter_with_inline_patch(const std::string& letter) {
  return std::string(kHead) + "Content-Type: multipart/mixed; boundary=\"mix\"\r\n\r\n--mix\r\n" +
         plain(letter) + "\r\n--mix\r\nContent-Type: text/plain; charset=us-ascii\r\n"
         "Content-Disposition: inline; filename=\"fix.patch\"\r\n\r\n"
         "--- a/x.c\r\n+++ b/x.c\r\n@@ -1 +1 @@\r\n-int x;\r\n+long x;\r\n\r\n--mix--\r\n";
}

TEST(InlineText, OtherBodyTextLimit) {
  static_assert(kMimeInlineMaxOtherText == 200);
  // A letter of kMimeInlineMaxOtherText non-space bytes: the inline patch stays out.
  std::string letter(kMimeInlineMaxOtherText, 'a');
  letter.insert(100, "  \r\n ");  // spaces do not count
  ParsedMessage m = parse(letter_with_inline_patch(letter));
  EXPECT_FALSE(contains(m.body_text, "long x;"));
  EXPECT_EQ(m.text_parts.size(), 1u);
  // One byte less: the message has too little text of its own, the patch is read.
  std::string shorter(kMimeInlineMaxOtherText - 1, 'a');
  ParsedMessage s = parse(letter_with_inline_patch(shorter));
  EXPECT_TRUE(contains(s.body_text, "+long x;")) << s.body_text;
  EXPECT_TRUE(s.body_text.starts_with(shorter));  // after the letter
}

TEST(InlineText, SizeLimit) {
  static_assert(kMimeInlineMaxBytes == 256 * 1024);
  std::string at(kMimeInlineMaxBytes - 2, 'x');
  ParsedMessage in = parse(single_inline("text/plain", "inline; filename=a.txt", at + "\r\n"));
  EXPECT_EQ(in.body_text.size(), kMimeInlineMaxBytes - 1);  // CRLF became LF
  ParsedMessage over = parse(single_inline("text/plain", "inline; filename=a.txt", at + "x\r\n"));
  EXPECT_EQ(over.body_text, "");
}

TEST(InlineText, PartCountLimit) {
  static_assert(kMimeInlineMaxParts == 4);
  std::string m = std::string(kHead) + "Content-Type: multipart/mixed; boundary=\"mix\"\r\n\r\n";
  for (size_t i = 0; i <= kMimeInlineMaxParts; ++i)
    m += "--mix\r\nContent-Type: text/plain\r\nContent-Disposition: inline; filename=p" + std::to_string(i) +
         ".txt\r\n\r\npart" + std::to_string(i) + "\r\n";
  m += "--mix--\r\n";
  ParsedMessage pm = parse(m);
  EXPECT_EQ(pm.body_text, "part0\npart1\npart2\npart3");
  EXPECT_EQ(pm.attachments.size(), kMimeInlineMaxParts + 1);
}

TEST(InlineText, InlineHtmlInsideEncodedMessageIsRead) {
  // Inside a base64 message/rfc822 (offsets not in the raw message) the part is still read.
  std::string inner = "Subject: inner\r\nContent-Type: text/html\r\nContent-Disposition: inline; filename=x.html\r\n\r\n"
                      "<p>Dear Friend, inside</p>\r\n";
  std::string m = std::string(kHead) + "Content-Type: message/rfc822\r\nContent-Transfer-Encoding: base64\r\n\r\n" +
                  base64_encode(inner) + "\r\n";
  ParsedMessage pm = parse(m);
  EXPECT_TRUE(contains(pm.body_text, "Dear Friend, inside")) << pm.body_text;
  ASSERT_EQ(pm.text_parts.size(), 1u);
  EXPECT_EQ(pm.text_parts[0].body_offset, 0u);
}

}  // namespace
}  // namespace tsubame::filter
