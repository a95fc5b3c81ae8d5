// tests/imapd/search_cache_test.cc: SEARCH's folded-text cache (imapd/search_cache.h):
// folding gives the same answers as text_contains(), the LRU bound (kSearchCacheBytes),
// entries over an eighth of the bound are not kept, and the key includes the user.
#include "imapd/search_cache.h"

#include <gtest/gtest.h>

namespace tsubame::imap {
namespace {

std::shared_ptr<const FoldedText> text_of(std::string body) {
  SearchText t;
  t.headers = {{"Subject", "Caf\xC3\x89 MEETING"}, {"From", "Bob <bob@example.org>"}};
  t.body = std::move(body);
  return std::make_shared<const FoldedText>(fold_search_text(t));
}

TEST(SearchCache, FoldedTextAnswersLikeTextContains) {
  SearchText t;
  t.headers = {{"Subject", "Caf\xC3\x89 MEETING \xD0\x9F\xD1\x80\xD0\xB8"}, {"To", "ＡＢＣ"}};
  t.body = "Stra\xC3\x9F" "e in M\xC3\x9CNCHEN \xFF\xFE invalid";
  FoldedText f = fold_search_text(t);
  for (std::string needle : {"caf\xC3\xA9", "meeting", "\xD0\xBF\xD1\x80\xD0\xB8", "ａｂｃ",
                             "m\xC3\xBCnchen", "\xFF\xFE", "", "absent", "subject: caf"}) {
    std::string n = fold_case(needle);
    EXPECT_EQ(f.headers[0].value.find(n) != std::string::npos,
              text_contains(t.headers[0].second, needle)) << needle;
    EXPECT_EQ(f.headers[1].value.find(n) != std::string::npos,
              text_contains(t.headers[1].second, needle)) << needle;
    EXPECT_EQ(f.headers[0].line.find(n) != std::string::npos,
              text_contains(t.headers[0].first + ": " + t.headers[0].second, needle)) << needle;
    EXPECT_EQ(f.body.find(n) != std::string::npos, text_contains(t.body, needle)) << needle;
  }
  EXPECT_EQ(f.headers[0].name, "Subject");
}

TEST(SearchCache, KeyIncludesTheUser) {
  SearchCache c;
  c.put(1, 42, text_of("alice's text"));
  EXPECT_NE(c.get(1, 42), nullptr);
  EXPECT_EQ(c.get(2, 42), nullptr);  // same blob, another user: never served
  EXPECT_EQ(c.get(1, 43), nullptr);
  SearchCacheStats s = c.stats();
  EXPECT_EQ(s.hits, 1u);
  EXPECT_EQ(s.misses, 2u);
  EXPECT_EQ(s.entries, 1u);
}

TEST(SearchCache, LeastRecentlyUsedGoesFirstWithinTheBound) {
  size_t one = text_of(std::string(1000, 'a'))->bytes();
  SearchCache c(8 * one);  // room for eight entries (each exactly an eighth)
  for (uint64_t b = 1; b <= 8; ++b) c.put(7, b, text_of(std::string(1000, 'a')));
  ASSERT_NE(c.get(7, 1), nullptr);  // 1 is now the most recently used
  c.put(7, 9, text_of(std::string(1000, 'a')));
  EXPECT_EQ(c.get(7, 2), nullptr);  // the least recently used went
  for (uint64_t b : {1, 3, 8, 9}) EXPECT_NE(c.get(7, b), nullptr) << b;
  EXPECT_LE(c.stats().bytes, 8 * one);
  EXPECT_EQ(c.stats().entries, 8u);
}

TEST(SearchCache, LargeTextIsNotKept) {
  SearchCache c(8 * 1024);
  c.put(1, 1, text_of(std::string(1100, 'x')));  // above an eighth of 8 KiB
  EXPECT_EQ(c.get(1, 1), nullptr);
  EXPECT_EQ(c.stats().bytes, 0u);
  c.put(1, 2, text_of(std::string(100, 'x')));
  EXPECT_NE(c.get(1, 2), nullptr);
}

TEST(SearchCache, DefaultBoundIsTheNamedLimit) {
  SearchCache c;
  size_t big = kSearchCacheBytes / 8;  // just above an eighth with the overheads
  c.put(1, 1, text_of(std::string(big, 'x')));
  EXPECT_EQ(c.get(1, 1), nullptr);
  c.put(1, 2, text_of(std::string(big / 2, 'x')));
  EXPECT_NE(c.get(1, 2), nullptr);
}

}  // namespace
}  // namespace tsubame::imap
