// tests/imapd/search_text_test.cc: SEARCH's case folding (imapd/search_text.h) and the
// filter-backed text extractor (imapd/filter_glue.h).
#include "imapd/search_text.h"

#include <gtest/gtest.h>

#include "imapd/filter_glue.h"

namespace tsubame::imap {
namespace {

TEST(SearchText, FoldsAsciiLatin1ExtendedGreekCyrillicFullWidth) {
  EXPECT_EQ(fold_case("HeLLo"), "hello");
  EXPECT_EQ(fold_case("ÀÉÎÕÜÞ"), "àéîõüþ");
  EXPECT_EQ(fold_case("×"), "×");  // not a letter: unchanged
  EXPECT_EQ(fold_case("ŁÓDŹ ŒUVRE Ÿ"), "łódź œuvre ÿ");
  EXPECT_EQ(fold_case("ΑΘΗΝΑ"), "αθηνα");
  EXPECT_EQ(fold_case("МОСКВА ЁЖ"), "москва ёж");
  EXPECT_EQ(fold_case("ＴＯＫＹＯ"), "ｔｏｋｙｏ");
  EXPECT_EQ(fold_case("日本語"), "日本語");
}

TEST(SearchText, InvalidUtf8IsComparedAsBytes) {
  std::string bad = "A\xC3(\xFF\xE2\x82";  // broken sequences
  EXPECT_EQ(fold_case(bad), "a\xC3(\xFF\xE2\x82");
  EXPECT_TRUE(text_contains(bad, "\xFF"));
}

TEST(SearchText, ContainsIsCaseInsensitiveSubstring) {
  EXPECT_TRUE(text_contains("Grüße aus München", "MÜNCHEN"));
  EXPECT_TRUE(text_contains("Ｔｏｋｙｏ Tower", "ＴＯＫＹＯ"));
  EXPECT_TRUE(text_contains("anything", ""));
  EXPECT_FALSE(text_contains("Munchen", "München"));  // no accent stripping
  EXPECT_FALSE(text_contains("", "x"));
}

TEST(SearchText, FilterExtractorDecodesHeadersAndBody) {
  std::string raw =
      "From: =?UTF-8?B?SsO8cmdlbg==?= <j@example.org>\r\n"
      "Subject: =?ISO-2022-JP?B?GyRCRnxLXDhsJE43b0w+GyhC?=\r\n"
      "Content-Type: text/plain; charset=utf-8\r\n"
      "Content-Transfer-Encoding: base64\r\n\r\n"
      "R3LDvMOfZSBhdXMgTcO8bmNoZW4sIFN0cmHDn2U=\r\n";
  auto t = filter_extract_text(raw);
  ASSERT_TRUE(t) << t.status().to_string();
  bool subject = false, from = false;
  for (const auto& [name, value] : t->headers) {
    if (name == "Subject") subject = value == "日本語の件名";
    if (name == "From") from = value.find("Jürgen") != std::string::npos;
  }
  EXPECT_TRUE(subject);
  EXPECT_TRUE(from);
  EXPECT_NE(t->body.find("Grüße aus München"), std::string::npos) << t->body;
}

}  // namespace
}  // namespace tsubame::imap
