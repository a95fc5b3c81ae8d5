// tests/filter/classifier_test.cc: the tokeniser, the Robinson-Fisher maths, and learning,
// unlearning and abstaining against the real LMDB store (store/tokens.h) in a temp dir.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <filesystem>
#include <set>

#include "common/bytes.h"
#include "filter/classifier.h"
#include "store/store.h"
#include "store/tokens.h"

namespace tsubame::filter {
namespace {

namespace fs = std::filesystem;

std::vector<uint64_t> tokens_of(std::string_view text, std::string_view prefix = "") {
  std::vector<uint64_t> out;
  tokenize_text(text, prefix, out);
  return out;
}
bool contains(const std::vector<uint64_t>& v, uint64_t h) {
  return std::find(v.begin(), v.end(), h) != v.end();
}

TEST(TokenizerTest, WordsAreLowerCasedAndPaired) {
  auto t = tokens_of("Cheap PILLS, cheap!");
  uint64_t cheap = token_hash("", "cheap"), pills = token_hash("", "pills");
  EXPECT_TRUE(contains(t, cheap));
  EXPECT_TRUE(contains(t, pills));
  EXPECT_TRUE(contains(t, pair_hash(cheap, pills)));
  EXPECT_TRUE(contains(t, pair_hash(pills, cheap)));
  EXPECT_FALSE(contains(t, token_hash("", "Cheap")));
  EXPECT_EQ(t.size(), 5u);  // cheap, pills, pair, cheap, pair (duplicates kept until dedupe)
}

TEST(TokenizerTest, PrefixSeparatesSubjectFromBody) {
  EXPECT_NE(token_hash("s", "offer"), token_hash("", "offer"));
  auto t = tokens_of("offer", "s");
  EXPECT_TRUE(contains(t, token_hash("s", "offer")));
  EXPECT_FALSE(contains(t, token_hash("", "offer")));
}

TEST(TokenizerTest, HashIsStable) {
  // Stored counts depend on these values: a change here silently loses all training.
  EXPECT_EQ(token_hash("", "viagra"), token_hash("", "viagra"));
  EXPECT_EQ(to_hex(be64(token_hash("", "viagra"))), to_hex(be64(token_hash("", "viagra"))));
  uint64_t a = token_hash("", "ab"), b = token_hash("a", "b");
  EXPECT_NE(a, b);  // the prefix separator keeps "a"+"b" apart from ""+"ab"
}

TEST(TokenizerTest, JapaneseUsesCharacterBigrams) {
  auto t = tokens_of("無料で当選");
  EXPECT_TRUE(contains(t, token_hash("", "無料")));
  EXPECT_TRUE(contains(t, token_hash("", "料で")));
  EXPECT_TRUE(contains(t, token_hash("", "で当")));
  EXPECT_TRUE(contains(t, token_hash("", "当選")));
  EXPECT_EQ(t.size(), 4u);
  // A lone CJK character between Latin words becomes a unigram.
  auto u = tokens_of("abc 円 def");
  EXPECT_TRUE(contains(u, token_hash("", "円")));
  // Kana and Latin in one run split into a word and bigrams.
  auto m = tokens_of("Amazonアカウント");
  EXPECT_TRUE(contains(m, token_hash("", "amazon")));
  EXPECT_TRUE(contains(m, token_hash("", "アカ")));
}

TEST(TokenizerTest, ZeroWidthCharactersDoNotSplitWords) {
  auto t = tokens_of("v\xE2\x80\x8B" "i\xE2\x80\x8C" "agra");  // v ZWSP i ZWNJ agra
  EXPECT_TRUE(contains(t, token_hash("", "viagra")));
}

TEST(TokenizerTest, LongWordsAndShortWords) {
  auto t = tokens_of("a " + std::string(100, 'x'));
  EXPECT_EQ(t.size(), 1u);  // "a" is too short; the long word becomes one summary token
  EXPECT_TRUE(contains(t, token_hash("", "long:x10")));
}

TEST(TokenizerTest, MessageTokensAreSortedUniqueAndCapped) {
  ClassifierInput in;
  in.subject = "Win win";
  in.body = "win a prize win";
  in.headers = {{"From", "Prize Office <office@prize.example>"}};
  in.extras = {"urlhost:prize.example"};
  auto t = tokenize_message(in);
  EXPECT_TRUE(std::is_sorted(t.begin(), t.end()));
  EXPECT_EQ(std::adjacent_find(t.begin(), t.end()), t.end());
  EXPECT_TRUE(contains(t, token_hash("s", "win")));
  EXPECT_TRUE(contains(t, token_hash("h:from", "office")));
  EXPECT_TRUE(contains(t, token_hash("x", "urlhost:prize.example")));

  std::string many;
  for (int i = 0; i < 30000; ++i) many += "w" + std::to_string(i) + " ";
  ClassifierInput big;
  big.body = many;
  auto capped = tokenize_message(big);
  EXPECT_EQ(capped.size(), kMaxTokensPerMessage);
  // Tens of thousands of hashes take the radix sort (a few take std::sort): still sorted and
  // unique, and the cap keeps the smallest, so a shorter text's smallest hashes are all kept.
  EXPECT_TRUE(std::is_sorted(capped.begin(), capped.end()));
  EXPECT_EQ(std::adjacent_find(capped.begin(), capped.end()), capped.end());
  std::string fewer;
  for (int i = 0; i < 3000; ++i) fewer += "w" + std::to_string(i) + " ";
  ClassifierInput mid;
  mid.body = fewer;
  auto some = tokenize_message(mid);  // below the cap: every hash of the text
  ASSERT_GT(some.size(), 256u);
  EXPECT_TRUE(std::is_sorted(some.begin(), some.end()));
  EXPECT_EQ(std::adjacent_find(some.begin(), some.end()), some.end());
  for (uint64_t h : some) {
    if (h <= capped.back()) {
      EXPECT_TRUE(std::binary_search(capped.begin(), capped.end(), h));
    }
  }
}

TEST(TokenizerTest, LimitTextCap) {
  std::string body(kClassifierTextCap - 8, ' ');
  body += " inside";  // ends exactly at the cap
  body += " beyond";
  auto t = tokens_of(body);
  EXPECT_TRUE(contains(t, token_hash("", "inside")));
  EXPECT_FALSE(contains(t, token_hash("", "beyond")));
}

TEST(TokenizerTest, UrlsAreTokenisedWithTheirOwnPrefix) {
  ClassifierInput in;
  in.urls = {"http://cheap-meds.example/order"};
  auto t = tokenize_message(in);
  EXPECT_TRUE(contains(t, token_hash("u", "meds")));
  EXPECT_TRUE(contains(t, token_hash("u", "order")));
  EXPECT_FALSE(contains(t, token_hash("", "order")));
}

// ---- maths ----

using HeaderList = std::vector<std::pair<std::string_view, std::string_view>>;

TEST(ListFooterTest, ListIdOfTheRfc2919Shape) {
  EXPECT_EQ(list_id("Irish Linux Users' Group <ILUG.linux.ie>"), "ilug.linux.ie");
  EXPECT_EQ(list_id("<a_b.lists.example.net>"), "a_b.lists.example.net");
  for (const char* bad : {"ilug.linux.ie", "<ilug.linux.ie", "<local.list>", "<.linux.ie>",
                          "<ilug>", "<il ug.linux.ie>", "<ilug@linux.ie>"})
    EXPECT_EQ(list_id(bad), "") << bad;
}

TEST(ListFooterTest, HostsComeFromListIdAndListUrls) {
  HeaderList h = {{"List-Id", "Irish Linux Users' Group <ilug.linux.ie>"},
                  {"List-Post", "<mailto:ilug@linux.ie>"},
                  {"List-Unsubscribe", "<https://Lists.Example.NET/mailman/listinfo/x>,\r\n"
                                       " <mailto:x-request@lists.example.net?subject=unsubscribe>"},
                  {"Subject", "not a list field <a@b.example>"}};
  auto hosts = list_hosts(h);
  EXPECT_EQ(hosts, (std::vector<std::string>{"linux.ie", "lists.example.net"}));
  // A List-Id of one label after the list name has no namespace to strip into a host.
  EXPECT_TRUE(list_hosts(HeaderList{{"List-Id", "<local.list>"}}).empty());
  EXPECT_TRUE(list_hosts(HeaderList{{"From", "a@b.example"}}).empty());
  // A header stuffed with addresses gives at most kMaxListHosts hosts.
  std::string many;
  for (int i = 0; i < 100; ++i) many += "<mailto:x@h" + std::to_string(i) + ".example> ";
  EXPECT_EQ(list_hosts(HeaderList{{"List-Help", many}}).size(), kMaxListHosts);
}

TEST(ListFooterTest, FooterFromTheEarliestSeparatorThatNamesTheList) {
  std::vector<std::string> hosts = {"linux.ie"};
  std::string body =
      "Can someone explain what Solaris is?\n\n-- \n"
      "Irish Linux Users' Group: ilug@linux.ie\n"
      "http://www.linux.ie/mailman/listinfo/ilug for (un)subscription information.\n";
  size_t at = list_footer_start(body, hosts);
  ASSERT_LT(at, body.size());
  EXPECT_EQ(body.substr(0, at), "Can someone explain what Solaris is?\n\n");
  // A sponsor block before the list footer goes with it: the earliest qualifying separator.
  std::string sf = "Text of the post.\n"
                   "-------------------------------------------------------\n"
                   "This email is sponsored by: a sponsor\n"
                   "_______________________________________________\n"
                   "Talk mailing list\nhttps://lists.example.net/lists/listinfo/talk\n";
  std::vector<std::string> sfh = {"lists.example.net"};
  EXPECT_EQ(sf.substr(0, list_footer_start(sf, sfh)), "Text of the post.\n");
}

TEST(ListFooterTest, FooterWithoutSeparatorOrBeyondTheWindowStays) {
  std::vector<std::string> hosts = {"freebsd.org"};
  // majordomo's closing paragraph has no separator line: it stays (filter/README.md).
  std::string body = "Still looking for a house?\n\nCall me.\n\n\n"
                     "To Unsubscribe: send mail to majordomo@FreeBSD.org\n"
                     "with \"unsubscribe freebsd-ports\" in the body of the message\n";
  EXPECT_EQ(list_footer_start(body, hosts), body.size());
  // A separator more than kListFooterWindow bytes from the end is the post's own rule line,
  // even when the list's footer follows: the post's text under it is not cut away.
  std::string post = "Deals!\n" + std::string(40, '*') + "\n" +
                     std::string(kListFooterWindow, 'w') + "\nUnsubscribe: leave@freebsd.org\n";
  EXPECT_EQ(list_footer_start(post, hosts), post.size());
}

TEST(ListFooterTest, NoFooterWithoutSeparatorHostOrList) {
  std::vector<std::string> hosts = {"linux.ie"};
  std::string no_sep = "Mail ilug@linux.ie for help.\n";
  EXPECT_EQ(list_footer_start(no_sep, hosts), no_sep.size());
  std::string other = "Body\n-- \nJohn, at example.org\n";
  EXPECT_EQ(list_footer_start(other, hosts), other.size());  // the signature names no list host
  EXPECT_EQ(list_footer_start(other, {}), other.size());
  // Only the last kListFooterWindow bytes are searched: a separator far above is content.
  std::string far = "--\nilug@linux.ie\n" + std::string(kListFooterWindow, 'x') + "\n";
  EXPECT_EQ(list_footer_start(far, hosts), far.size());
  // "-- x" and a short run are not separators.
  std::string not_sep = "Body\n-- x\n----\nilug@linux.ie " + std::string(300, 'x') + "\n";
  EXPECT_EQ(list_footer_start(not_sep, hosts), not_sep.size());
}

TEST(ListFooterTest, SeparatorInsideALineAfterHtml) {
  // A list manager's footer appended after an HTML part's </html> is rendered to text with
  // the page's last words: its separators are runs inside one line.
  std::vector<std::string> hosts = {"lists.example.net"};
  std::string body = "Order now at our shop! " + std::string(30, '-') +
                     " This list is sponsored by: a sponsor " + std::string(47, '_') +
                     " Talk mailing list https://lists.example.net/lists/listinfo/talk";
  EXPECT_EQ(body.substr(0, list_footer_start(body, hosts)), "Order now at our shop! ");
  // A run shorter than kInlineSeparatorRun, or glued to a word, is text.
  std::string short_run = "Prices " + std::string(kInlineSeparatorRun - 1, '=') +
                          " see https://lists.example.net/x";
  EXPECT_EQ(list_footer_start(short_run, hosts), short_run.size());
  std::string glued = "Prices" + std::string(30, '=') + " see https://lists.example.net/x";
  EXPECT_EQ(list_footer_start(glued, hosts), glued.size());
  // An inline run after which no list host is named is not a footer either.
  std::string unnamed = "Prices " + std::string(30, '=') + " see https://shop.example/x";
  EXPECT_EQ(list_footer_start(unnamed, hosts), unnamed.size());
}

TEST(TokenNamesTest, EveryTokenOfTheMessageHasItsReadableName) {
  ClassifierInput in;
  in.subject = "FREE offer";
  in.body = "Click here now. \xe6\x97\xa5\xe6\x9c\xac\xe8\xaa\x9e";  // 日本語
  in.headers = {{"From", "Promo <promo@bulk.example>"}};
  in.urls = {"http://www.bulk.example/win"};
  in.extras = {"hn:x-mailer"};
  std::vector<uint64_t> hashes = tokenize_message(in);
  std::vector<NamedToken> named = named_tokens(in);
  std::vector<uint64_t> named_hashes;
  for (const auto& t : named) named_hashes.push_back(t.hash);
  EXPECT_EQ(named_hashes, hashes);  // the same set, both sorted by hash
  auto name_of = [&](std::string_view token, std::string_view prefix) {
    uint64_t h = token_hash(prefix, token);
    for (const auto& t : named)
      if (t.hash == h) return t.name;
    return std::string("(missing)");
  };
  EXPECT_EQ(name_of("free", "s"), "subject:free");
  EXPECT_EQ(name_of("click", ""), "click");
  EXPECT_EQ(name_of("bulk", "h:from"), "from:bulk");
  EXPECT_EQ(name_of("win", "u"), "url:win");
  EXPECT_EQ(name_of("hn:x-mailer", "x"), "hn:x-mailer");
  EXPECT_EQ(name_of("\xe6\x97\xa5\xe6\x9c\xac", ""), "\xe6\x97\xa5\xe6\x9c\xac");  // a CJK bigram
  // Word pairs are named by their two words.
  uint64_t pair = pair_hash(token_hash("", "click"), token_hash("", "here"));
  auto it = std::find_if(named.begin(), named.end(), [&](const NamedToken& t) { return t.hash == pair; });
  ASSERT_NE(it, named.end());
  EXPECT_EQ(it->name, "click here");
}

TEST(ScriptTokensTest, ScriptsWithARealShareOfTheLetters) {
  using V = std::vector<std::string_view>;
  EXPECT_EQ(text_scripts("Plain English text with enough letters in it to count."), V{});
  // 中国国际电子展览会 in a Chinese sentence.
  EXPECT_EQ(text_scripts("\xe7\xac\xac\xe5\x8d\x81\xe4\xb8\x80\xe5\xb1\x8a\xe4\xb8\xad\xe5\x9b\xbd"
                         "\xe5\x9b\xbd\xe9\x99\x85\xe7\x94\xb5\xe5\xad\x90\xe8\xae\xbe\xe5\xa4\x87"
                         "\xe5\xb1\x95\xe8\xa7\x88\xe4\xbc\x9a\xe5\xb0\x86\xe4\xba\x8e\xe6\xb7\xb1"
                         "\xe5\x9c\xb3\xe4\xb8\xbe\xe8\xa1\x8c http://www.example.cn"),
            V{"han"});
  // Russian: Cyrillic letters only count as Cyrillic.
  EXPECT_EQ(text_scripts("\xd0\xa1\xd0\xba\xd0\xb8\xd0\xb4\xd0\xba\xd0\xb8 \xd0\xbd\xd0\xb0 "
                         "\xd0\xb2\xd1\x81\xd0\xb5 \xd1\x82\xd0\xbe\xd0\xb2\xd0\xb0\xd1\x80\xd1\x8b "
                         "\xd0\xb4\xd0\xbe \xd0\xba\xd0\xbe\xd0\xbd\xd1\x86\xd0\xb0 "
                         "\xd0\xbc\xd0\xb5\xd1\x81\xd1\x8f\xd1\x86\xd0\xb0"),
            V{"cyrillic"});
  // Japanese mixes kana and kanji: both.
  EXPECT_EQ(text_scripts("\xe4\xbb\x8a\xe6\x97\xa5\xe3\x81\xaf\xe4\xbc\x9a\xe8\xad\xb0\xe3\x81\xae"
                         "\xe8\xb3\x87\xe6\x96\x99\xe3\x82\x92\xe9\x80\x81\xe3\x82\x8a\xe3\x81\xbe"
                         "\xe3\x81\x99\xe3\x80\x82\xe3\x82\x88\xe3\x82\x8d\xe3\x81\x97\xe3\x81\x8f"
                         "\xe3\x81\x8a\xe9\xa1\x98\xe3\x81\x84\xe3\x81\x97\xe3\x81\xbe\xe3\x81\x99"),
            (V{"han", "kana"}));
  // A German name in an English sentence is below the share; a German text with many
  // umlauts is not, but most German text is still ASCII letters.
  EXPECT_EQ(text_scripts("Thanks to J\xc3\xbcrgen for the patch, which fixes the build on Debian."), V{});
  // Too few letters to say anything.
  EXPECT_EQ(text_scripts("\xd0\x94\xd0\xb0!"), V{});
}

TEST(ClassifierMathTest, StrongestTokensAreTheLearnedOnesFarthestFromAHalf) {
  ClassifierParams p;
  const TokenStat totals{100, 100};
  // f ~ 0.5, unknown, strong ham, strong spam, mild spam.
  std::vector<TokenStat> stats = {{10, 10}, {0, 0}, {0, 40}, {30, 0}, {6, 3}};
  auto all = strongest_tokens(stats, totals, p, 10);
  ASSERT_EQ(all.size(), 4u);  // the unknown token is never among them
  EXPECT_EQ(std::count(all.begin(), all.end(), 1u), 0);
  EXPECT_EQ(all.back(), 0u);  // f ~ 0.5 last
  for (size_t k = 1; k < all.size(); ++k)
    EXPECT_GE(std::fabs(token_probability(stats[all[k - 1]], totals, p) - 0.5),
              std::fabs(token_probability(stats[all[k]], totals, p) - 0.5));
  auto two = strongest_tokens(stats, totals, p, 2);
  EXPECT_EQ(std::set<size_t>(two.begin(), two.end()), (std::set<size_t>{2, 3}));
  EXPECT_TRUE(strongest_tokens(stats, totals, p, 0).empty());
}

TEST(ClassifierMathTest, Chi2Q) {
  EXPECT_NEAR(chi2q(0, 2), 1.0, 1e-12);
  EXPECT_NEAR(chi2q(2, 2), std::exp(-1.0), 1e-12);           // dof 2: exp(-x/2)
  EXPECT_NEAR(chi2q(4, 4), std::exp(-2.0) * 3.0, 1e-12);     // e^-m (1 + m), m = 2
  EXPECT_LT(chi2q(1000, 10), 1e-100);
  EXPECT_LE(chi2q(0.001, 200), 1.0);
}

TEST(ClassifierMathTest, TokenProbability) {
  ClassifierParams p;
  TokenStat totals{100, 100};
  EXPECT_DOUBLE_EQ(token_probability({0, 0}, totals, p), 0.5);
  EXPECT_GT(token_probability({50, 0}, totals, p), 0.95);
  EXPECT_LT(token_probability({0, 50}, totals, p), 0.05);
  // One sighting is pulled toward 0.5 by the strength s.
  EXPECT_NEAR(token_probability({1, 0}, totals, p),
              (p.strength * 0.5 + 1 * 1.0) / (p.strength + 1), 1e-12);
  ClassifierParams strong = p;
  strong.strength = 3;
  EXPECT_LT(token_probability({1, 0}, totals, strong), token_probability({1, 0}, totals, p));
  // Unequal corpora: 10 of 100 spam vs 10 of 1000 ham is spammy.
  EXPECT_GT(token_probability({10, 10}, {100, 1000}, p), 0.8);
}

TEST(ClassifierMathTest, CombineSpamHamAndAbstain) {
  ClassifierParams p;
  p.min_learned = 10;
  TokenStat totals{100, 100};
  std::vector<TokenStat> spammy(20, TokenStat{40, 1}), hammy(20, TokenStat{1, 40});
  auto s = combine(spammy, totals, p);
  EXPECT_FALSE(s.abstained);
  EXPECT_GT(s.probability, 0.99);
  EXPECT_NEAR(s.points, p.spam_points, 0.2);
  auto h = combine(hammy, totals, p);
  EXPECT_LT(h.probability, 0.01);
  EXPECT_LT(h.points, -p.ham_points + 0.2);
  std::vector<TokenStat> mixed = spammy;
  mixed.insert(mixed.end(), hammy.begin(), hammy.end());
  auto m = combine(mixed, totals, p);
  EXPECT_NEAR(m.probability, 0.5, 0.05);
  EXPECT_NEAR(m.points, 0, 0.1);

  auto a = combine(spammy, TokenStat{9, 100}, p);
  EXPECT_TRUE(a.abstained);
  EXPECT_EQ(a.points, 0);
  EXPECT_NE(a.detail.find("needs 10 of each"), std::string::npos);
}

TEST(ClassifierMathTest, MaxTokensKeepsTheMostInteresting) {
  ClassifierParams p;
  p.min_learned = 1;
  p.max_tokens = 5;
  std::vector<TokenStat> stats(5, TokenStat{50, 0});
  for (int i = 0; i < 50; ++i) stats.push_back({3, 2});  // mildly spammy, many
  auto s = combine(stats, {100, 100}, p);
  EXPECT_EQ(s.tokens_used, 5u);
  EXPECT_GT(s.probability, 0.99);
}

TEST(ClassifierMathTest, PointsFollowThePower) {
  ClassifierParams p;  // default: |x|^1.5 with x = 2p - 1
  EXPECT_DOUBLE_EQ(p.points_power, 1.5);
  EXPECT_DOUBLE_EQ(classifier_points(0.5, p), 0);
  EXPECT_NEAR(classifier_points(0.6, p), std::pow(0.2, 1.5) * p.spam_points, 1e-12);
  EXPECT_NEAR(classifier_points(0.4, p), -std::pow(0.2, 1.5) * p.ham_points, 1e-12);
  EXPECT_DOUBLE_EQ(classifier_points(1.0, p), p.spam_points);
  EXPECT_DOUBLE_EQ(classifier_points(0.0, p), -p.ham_points);
  // Defaults: the classifier alone reaches junk 5 at p ~ 0.92 and 6 at p ~ 0.974.
  EXPECT_LT(classifier_points(0.915, p), 5.0);
  EXPECT_GT(classifier_points(0.925, p), 5.0);
  EXPECT_LT(classifier_points(0.97, p), 6.0);
  EXPECT_GT(classifier_points(0.98, p), 6.0);
  ClassifierParams linear = p;
  linear.points_power = 1;
  EXPECT_NEAR(classifier_points(0.6, linear), 0.2 * p.spam_points, 1e-12);
  ClassifierParams cubic = p;
  cubic.points_power = 3;
  EXPECT_LT(classifier_points(0.6, cubic), 0.1);  // a cubic flattens the uncertain middle
  EXPECT_DOUBLE_EQ(classifier_points(1.0, cubic), p.spam_points);
  EXPECT_DOUBLE_EQ(classifier_points(0.0, cubic), -p.ham_points);
}

// Strong evidence both ways: chi-square abstains at 0.5 and says so in the detail; the
// log-odds sum decides for the stronger side; the hybrid uses log-odds only there.
TEST(ClassifierMathTest, CombinationsOnMixedEvidence) {
  ClassifierParams p;
  p.min_learned = 10;
  TokenStat totals{100, 100};
  std::vector<TokenStat> mixed(20, TokenStat{40, 1});
  for (int i = 0; i < 15; ++i) mixed.push_back({1, 40});

  auto chi = combine(mixed, totals, p);
  EXPECT_NEAR(chi.probability, 0.5, kUncertainBand);
  EXPECT_TRUE(chi.uncertain);
  EXPECT_NE(chi.detail.find("uncertain"), std::string::npos) << chi.detail;

  ClassifierParams lo = p;
  lo.combination = Combination::kLogOdds;
  auto l = combine(mixed, totals, lo);
  EXPECT_GT(l.probability, 0.6) << l.detail;  // 20 spammy against 15 hammy tokens
  EXPECT_FALSE(l.uncertain);

  ClassifierParams hy = p;
  hy.combination = Combination::kChiSquareThenLogOdds;
  EXPECT_DOUBLE_EQ(combine(mixed, totals, hy).probability, l.probability);
  // Where chi-square is sure, the hybrid keeps its answer.
  std::vector<TokenStat> spammy(20, TokenStat{40, 1});
  EXPECT_DOUBLE_EQ(combine(spammy, totals, hy).probability, combine(spammy, totals, p).probability);

  // Log-odds on one-sided evidence is as sure as chi-square.
  EXPECT_GT(combine(spammy, totals, lo).probability, 0.99);
  std::vector<TokenStat> hammy(20, TokenStat{1, 40});
  EXPECT_LT(combine(hammy, totals, lo).probability, 0.01);
}

TEST(TokenizerTest, HeaderValuesGiveWordsButNoPairs) {
  ClassifierInput in;
  in.headers = {{"received", "from relay example by mx"}};
  in.body = "hello world";
  auto t = tokenize_message(in);
  uint64_t relay = token_hash("h:received", "relay"), example = token_hash("h:received", "example");
  EXPECT_TRUE(contains(t, relay));
  EXPECT_TRUE(contains(t, example));
  EXPECT_FALSE(contains(t, pair_hash(relay, example)));
  // The body keeps its pairs.
  EXPECT_TRUE(contains(t, pair_hash(token_hash("", "hello"), token_hash("", "world"))));
  std::vector<uint64_t> no_pairs;
  tokenize_text("cheap pills", "", no_pairs, /*pairs=*/false);
  EXPECT_EQ(no_pairs.size(), 2u);
}

// ---- against the real store ----

class StoreFixture : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = fs::temp_directory_path() / ("tsubame-classifier-" + to_hex(random_bytes(8)));
    fs::create_directories(dir_);
    store::Options o;
    o.data_dir = (dir_ / "data").string();
    o.key_file = (dir_ / "master.key").string();
    o.create = true;
    auto s = store::Store::open(o);
    ASSERT_TRUE(s) << s.status().to_string();
    store_ = std::move(s.value());
  }
  void TearDown() override {
    store_.reset();
    std::error_code ec;
    fs::remove_all(dir_, ec);
  }
  fs::path dir_;
  std::unique_ptr<store::Store> store_;
};

ClassifierInput spam_msg(int i) {
  static std::vector<std::string> bodies;
  ClassifierInput in;
  in.subject = "Cheap pills discount offer";
  in.body = i % 2 ? "Buy cheap pills online now, huge discount, click here"
                  : "Discount pharmacy pills, order now and save, limited offer";
  return in;
}
ClassifierInput ham_msg(int i) {
  ClassifierInput in;
  in.subject = "Project meeting notes";
  in.body = i % 2 ? "Attached are the notes from the project meeting on Tuesday"
                  : "Please review the meeting agenda and the project schedule";
  return in;
}

TEST_F(StoreFixture, AbstainsUntilEnoughThenLearnsAndUnlearns) {
  ClassifierParams p;
  p.min_learned = 3;
  Classifier c(*store_, p);
  ClassifierInput probe;
  probe.subject = "cheap pills";
  probe.body = "discount pills order now";

  auto first = c.classify(probe, 0);
  ASSERT_TRUE(first) << first.status().to_string();
  EXPECT_TRUE(first->abstained);
  EXPECT_EQ(first->points, 0);

  for (int i = 0; i < 3; ++i) ASSERT_TRUE(c.learn(spam_msg(i), true, 0));
  for (int i = 0; i < 2; ++i) ASSERT_TRUE(c.learn(ham_msg(i), false, 0));
  auto still = c.classify(probe, 0);
  ASSERT_TRUE(still);
  EXPECT_TRUE(still->abstained) << "2 ham < 3";
  EXPECT_NE(still->detail.find("2 ham"), std::string::npos) << still->detail;

  ASSERT_TRUE(c.learn(ham_msg(2), false, 0));
  auto spam = c.classify(probe, 0);
  ASSERT_TRUE(spam);
  EXPECT_FALSE(spam->abstained);
  EXPECT_GT(spam->probability, 0.9) << spam->detail;
  EXPECT_GT(spam->points, 0);

  ClassifierInput hamprobe;
  hamprobe.subject = "meeting notes";
  hamprobe.body = "project meeting schedule";
  auto ham = c.classify(hamprobe, 0);
  ASSERT_TRUE(ham);
  EXPECT_LT(ham->probability, 0.1) << ham->detail;
  EXPECT_LT(ham->points, 0);

  auto totals = store::token_totals(*store_, 0);
  ASSERT_TRUE(totals);
  EXPECT_EQ(totals->spam, 3u);
  EXPECT_EQ(totals->ham, 3u);

  // Unlearning one ham drops below min_learned again: abstains.
  ASSERT_TRUE(c.learn(ham_msg(2), false, 0, -1));
  totals = store::token_totals(*store_, 0);
  ASSERT_TRUE(totals);
  EXPECT_EQ(totals->ham, 2u);
  auto again = c.classify(probe, 0);
  ASSERT_TRUE(again);
  EXPECT_TRUE(again->abstained);

  // Unlearning restores the token counts exactly.
  auto tokens = tokenize_message(spam_msg(0));
  std::vector<store::TokenCounts> before, after;
  ASSERT_TRUE(store::token_counts(*store_, 0, tokens, before));
  ASSERT_TRUE(c.learn(spam_msg(0), true, 0, +1));
  ASSERT_TRUE(c.learn(spam_msg(0), true, 0, -1));
  ASSERT_TRUE(store::token_counts(*store_, 0, tokens, after));
  for (size_t i = 0; i < tokens.size(); ++i) {
    EXPECT_EQ(before[i].spam, after[i].spam);
    EXPECT_EQ(before[i].ham, after[i].ham);
  }
  EXPECT_FALSE(c.learn(spam_msg(0), true, 0, 2));  // only +1 / -1
}

TEST_F(StoreFixture, DomainCountsUsedOnceTheDomainHasLearnedEnough) {
  ClassifierParams p;
  p.min_learned = 2;
  Classifier c(*store_, p);
  const uint32_t domain = 7;
  // Global: learn "pills" as ham (some pharmacy company's users see it as business mail).
  for (int i = 0; i < 2; ++i) {
    ClassifierInput h;
    h.body = "pills order shipment invoice";
    ASSERT_TRUE(c.learn(h, false, 0));
    ASSERT_TRUE(c.learn(ham_msg(i), false, 0));
    ASSERT_TRUE(c.learn(spam_msg(i), true, 0));
  }
  ClassifierInput probe;
  probe.body = "pills order";
  auto global = c.classify(probe, domain);
  ASSERT_TRUE(global);
  EXPECT_FALSE(global->abstained);
  EXPECT_NE(global->detail.find("global counts"), std::string::npos);
  // The domain learns "pills order" as spam; learning also feeds the global scope.
  for (int i = 0; i < 2; ++i) {
    ClassifierInput s;
    s.body = "pills order now cheap";
    ASSERT_TRUE(c.learn(s, true, domain));
    ASSERT_TRUE(c.learn(ham_msg(i), false, domain));
  }
  auto dom = c.classify(probe, domain);
  ASSERT_TRUE(dom);
  EXPECT_NE(dom->detail.find("domain counts"), std::string::npos) << dom->detail;
  EXPECT_GT(dom->probability, 0.9);
  auto totals = store::token_totals(*store_, 0);
  ASSERT_TRUE(totals);
  EXPECT_EQ(totals->spam, 4u);
  EXPECT_EQ(totals->ham, 6u);
}

TEST_F(StoreFixture, ExplainNamesTheStrongestTokensOfTheScoringCounts) {
  ClassifierParams p;
  p.min_learned = 2;
  Classifier c(*store_, p);
  ClassifierInput probe;
  probe.subject = "cheap pills";
  probe.body = "discount pills, meeting notes";
  auto abstaining = c.explain(probe, 0, 5);
  ASSERT_TRUE(abstaining);
  EXPECT_TRUE(abstaining->empty());  // nothing to say before it speaks
  for (int i = 0; i < 2; ++i) {
    ASSERT_TRUE(c.learn(spam_msg(i), true, 0));
    ASSERT_TRUE(c.learn(ham_msg(i), false, 0));
  }
  auto why = c.explain(probe, 0, 4);
  ASSERT_TRUE(why) << why.status().to_string();
  ASSERT_EQ(why->size(), 4u);
  double prev = 1.0;
  for (const auto& t : *why) {
    EXPECT_GT(t.counts.spam + t.counts.ham, 0u) << t.name;  // only tokens it has learned
    EXPECT_DOUBLE_EQ(t.probability, token_probability(t.counts, {2, 2}, p));
    EXPECT_LE(std::fabs(t.probability - 0.5), prev + 1e-12) << "strongest first";
    prev = std::fabs(t.probability - 0.5);
  }
  auto has = [&](std::string_view name) {
    return std::any_of(why->begin(), why->end(), [&](const auto& t) { return t.name == name; });
  };
  // "pills" is in both spam and the subject: spam words lead; "meeting" is ham evidence.
  auto all = c.explain(probe, 0, 100);
  ASSERT_TRUE(all);
  bool pills = false, meeting = false;
  for (const auto& t : *all) {
    if (t.name == "pills") pills = t.probability > 0.5 && t.counts.spam == 2 && t.counts.ham == 0;
    if (t.name == "meeting") meeting = t.probability < 0.5 && t.counts.ham >= 1;
  }
  EXPECT_TRUE(pills);
  EXPECT_TRUE(meeting);
  EXPECT_TRUE(has("subject:pills") || has("pills") || has("subject:cheap")) << (*why)[0].name;
  auto none = c.explain(probe, 0, 0);
  ASSERT_TRUE(none);
  EXPECT_TRUE(none->empty());
}

TEST_F(StoreFixture, CountCacheSeesLearnsByAnotherInstance) {
  // Two Classifier objects on one store stand for two processes (smtpd scanning, the CLI
  // learning a report): the scanner's cached counts must not outlive the other's learns.
  ClassifierParams p;
  p.min_learned = 2;
  Classifier scanner(*store_, p), trainer(*store_, p);
  for (int i = 0; i < 2; ++i) {
    ASSERT_TRUE(trainer.learn(spam_msg(i), true, 0));
    ASSERT_TRUE(trainer.learn(ham_msg(i), false, 0));
  }
  ClassifierInput probe;
  probe.body = "quarterly invoice shipment";  // unseen words: no evidence yet
  auto before = scanner.classify(probe, 0);
  ASSERT_TRUE(before) << before.status().to_string();
  EXPECT_EQ(before->tokens_used, 0u);
  auto cached = scanner.classify(probe, 0);  // served from the cache: same answer
  ASSERT_TRUE(cached);
  EXPECT_EQ(cached->tokens_used, 0u);
  for (int i = 0; i < 3; ++i) {
    ClassifierInput s;
    s.body = "quarterly invoice shipment overdue pay now";
    ASSERT_TRUE(trainer.learn(s, true, 0));
  }
  auto after = scanner.classify(probe, 0);
  ASSERT_TRUE(after);
  EXPECT_GT(after->tokens_used, 0u) << after->detail;
  EXPECT_GT(after->probability, 0.9) << after->detail;
}

TEST_F(StoreFixture, CountCacheSeesALearnAndUnlearnThatKeepTheTotals) {
  // Another process learns one spam and unlearns another: the spam total is what it was,
  // but the counts changed. The scope's update counter tells the scanner's cache.
  ClassifierParams p;
  p.min_learned = 2;
  Classifier scanner(*store_, p), trainer(*store_, p);
  ClassifierInput old_spam;
  old_spam.body = "zebra lantern quarterly";
  ASSERT_TRUE(trainer.learn(old_spam, true, 0));
  for (int i = 0; i < 2; ++i) {
    ASSERT_TRUE(trainer.learn(spam_msg(i), true, 0));
    ASSERT_TRUE(trainer.learn(ham_msg(i), false, 0));
  }
  ClassifierInput probe;
  probe.body = "walrus harbour meridian";  // unseen: no evidence
  auto before = scanner.classify(probe, 0);
  ASSERT_TRUE(before) << before.status().to_string();
  EXPECT_EQ(before->tokens_used, 0u);
  auto totals_before = store::token_totals(*store_, 0);
  ClassifierInput new_spam;
  new_spam.body = "walrus harbour meridian";
  ASSERT_TRUE(trainer.learn(new_spam, true, 0));
  ASSERT_TRUE(trainer.learn(old_spam, true, 0, -1));
  auto totals_after = store::token_totals(*store_, 0);
  ASSERT_EQ(totals_before->spam, totals_after->spam);
  ASSERT_EQ(totals_before->ham, totals_after->ham);
  EXPECT_EQ(totals_after->updates, totals_before->updates + 2);
  auto after = scanner.classify(probe, 0);
  ASSERT_TRUE(after);
  EXPECT_GT(after->tokens_used, 0u) << after->detail;
}

TEST_F(StoreFixture, CountCacheHoldsMoreTokensThanItsFirstTable) {
  // More distinct tokens than the cache's initial table (2^14 slots, grown at half load):
  // every count read back through the cache equals the store's.
  ClassifierParams p;
  p.min_learned = 1;
  Classifier c(*store_, p);
  std::string spam_body, ham_body;
  for (int i = 0; i < 12000; ++i) spam_body += "sp" + std::to_string(i) + " ";
  for (int i = 0; i < 12000; ++i) ham_body += "hm" + std::to_string(i) + " ";
  ClassifierInput s, h;
  s.body = spam_body;
  h.body = ham_body;
  ASSERT_TRUE(c.learn(s, true, 0));
  ASSERT_TRUE(c.learn(h, false, 0));
  auto first = c.classify(s, 0);
  ASSERT_TRUE(first);
  auto second = c.classify(h, 0);
  ASSERT_TRUE(second);
  auto third = c.classify(s, 0);  // from the cache after growing
  ASSERT_TRUE(third);
  EXPECT_EQ(first->tokens_used, third->tokens_used);
  EXPECT_DOUBLE_EQ(first->probability, third->probability);
  EXPECT_GT(third->probability, 0.99);
  EXPECT_LT(second->probability, 0.01);
}

TEST_F(StoreFixture, WholeScopeSnapshotAnswersUnseenTokensWithoutTheStore) {
  ClassifierParams p;
  p.min_learned = 2;
  ClassifierParams per_token = p;
  per_token.snapshot_max_tokens = 0;
  {
    Classifier trainer(*store_, p);
    for (int i = 0; i < 3; ++i) {
      ASSERT_TRUE(trainer.learn(spam_msg(i), true, 0));
      ASSERT_TRUE(trainer.learn(ham_msg(i), false, 0));
    }
  }
  Classifier whole(*store_, p), looked_up(*store_, per_token);
  ClassifierInput probe;
  probe.subject = "Cheap project pills";
  probe.body = "never seen words walrus meridian, and the meeting notes discount";
  for (int round = 0; round < 2; ++round) {
    for (const ClassifierInput& in : {probe, spam_msg(0), ham_msg(1)}) {
      auto a = whole.classify(in, 0);
      auto b = looked_up.classify(in, 0);
      ASSERT_TRUE(a && b);
      EXPECT_EQ(a->tokens_used, b->tokens_used);
      EXPECT_DOUBLE_EQ(a->probability, b->probability);
      EXPECT_EQ(a->detail, b->detail);
    }
  }
  EXPECT_EQ(whole.cache_stats().snapshots, 1u);
  EXPECT_EQ(whole.cache_stats().token_lookups, 0u);  // unseen tokens: 0/0 from the snapshot
  EXPECT_EQ(looked_up.cache_stats().snapshots, 0u);
  EXPECT_GT(looked_up.cache_stats().token_lookups, 0u);
}

TEST_F(StoreFixture, ScopeLargerThanTheSnapshotLimitIsLookedUpTokenByToken) {
  ClassifierParams p;
  p.min_learned = 2;
  p.snapshot_max_tokens = 4;  // far fewer than the messages' tokens
  Classifier c(*store_, p);
  for (int i = 0; i < 2; ++i) {
    ASSERT_TRUE(c.learn(spam_msg(i), true, 0));
    ASSERT_TRUE(c.learn(ham_msg(i), false, 0));
  }
  auto s = c.classify(spam_msg(0), 0);
  ASSERT_TRUE(s);
  EXPECT_GT(s->probability, 0.9) << s->detail;
  EXPECT_EQ(c.cache_stats().snapshots, 0u);
  EXPECT_GT(c.cache_stats().token_lookups, 0u);
}

TEST_F(StoreFixture, SnapshotIsNotUsedOnceAnotherInstanceLearned) {
  // The scanner reads the scope whole; another process then learns. Within
  // kTokenSnapshotRetryNs the scanner must not read the whole scope again, and must not
  // answer from its old snapshot either: it looks the tokens up one by one.
  ClassifierParams p;
  p.min_learned = 2;
  Classifier scanner(*store_, p), trainer(*store_, p);
  for (int i = 0; i < 2; ++i) {
    ASSERT_TRUE(trainer.learn(spam_msg(i), true, 0));
    ASSERT_TRUE(trainer.learn(ham_msg(i), false, 0));
  }
  ClassifierInput probe;
  probe.body = "zeppelin harbour invoice";
  auto before = scanner.classify(probe, 0);
  ASSERT_TRUE(before);
  EXPECT_EQ(before->tokens_used, 0u);
  EXPECT_EQ(scanner.cache_stats().snapshots, 1u);
  EXPECT_EQ(scanner.cache_stats().token_lookups, 0u);
  for (int i = 0; i < 3; ++i) ASSERT_TRUE(trainer.learn(probe, true, 0));
  auto after = scanner.classify(probe, 0);
  ASSERT_TRUE(after);
  EXPECT_GT(after->tokens_used, 0u) << after->detail;
  EXPECT_GT(after->probability, 0.9) << after->detail;
  EXPECT_EQ(scanner.cache_stats().snapshots, 1u);
  EXPECT_GT(scanner.cache_stats().token_lookups, 0u);
  // A learn through the scanner itself forgets its counts too.
  ClassifierInput ham;
  ham.body = "zeppelin harbour invoice";
  for (int i = 0; i < 6; ++i) ASSERT_TRUE(scanner.learn(ham, false, 0));
  auto relearned = scanner.classify(probe, 0);
  ASSERT_TRUE(relearned);
  EXPECT_LT(relearned->probability, after->probability) << relearned->detail;
}

TEST_F(StoreFixture, WarmReadsTheCountsBeforeTheFirstMessage) {
  ClassifierParams p;
  p.min_learned = 2;
  Classifier c(*store_, p);
  ASSERT_TRUE(c.warm());  // nothing learned: abstaining, nothing to read
  EXPECT_EQ(c.cache_stats().snapshots, 0u);
  for (int i = 0; i < 2; ++i) {
    ASSERT_TRUE(c.learn(spam_msg(i), true, 0));
    ASSERT_TRUE(c.learn(ham_msg(i), false, 0));
  }
  Classifier daemon(*store_, p);
  ASSERT_TRUE(daemon.warm());
  EXPECT_EQ(daemon.cache_stats().snapshots, 1u);
  auto s = daemon.classify(spam_msg(1), 0);
  ASSERT_TRUE(s);
  EXPECT_GT(s->probability, 0.9) << s->detail;
  EXPECT_EQ(daemon.cache_stats().snapshots, 1u);
  EXPECT_EQ(daemon.cache_stats().token_lookups, 0u);
}

// ---- sender memory (session 10) ----

TEST(SenderMemoryTest, PointsNeedEnoughHamAndNoSpamAndAreCapped) {
  ClassifierParams p;  // defaults: from 1 ham, 2 points per doubling of 1 + ham, at most 4
  EXPECT_EQ(sender_points({0, 0}, p), 0.0);
  EXPECT_DOUBLE_EQ(sender_points({0, 1}, p), -2.0) << "one \"not junk\" report";
  EXPECT_DOUBLE_EQ(sender_points({0, 2}, p), -2.0 * std::log2(3.0));
  EXPECT_DOUBLE_EQ(sender_points({0, 3}, p), -4.0);
  EXPECT_DOUBLE_EQ(sender_points({0, 1000}, p), -4.0) << "capped";
  EXPECT_EQ(sender_points({1, 1000}, p), 0.0) << "one spam learned from the sender: nothing off";
  p.sender_points_per_doubling = 0;
  EXPECT_EQ(sender_points({0, 64}, p), 0.0) << "0 per doubling turns it off";
  p.sender_points_per_doubling = 1;
  p.sender_min_ham = 7;
  EXPECT_EQ(sender_points({0, 6}, p), 0.0);
  EXPECT_DOUBLE_EQ(sender_points({0, 7}, p), -3.0);
}

TEST(SenderMemoryTest, KeyIsTheLowerCaseAddressAndTheNetwork) {
  EXPECT_EQ(sender_key("Ann@Example.COM", "192.0/16"), "ann@example.com|192.0/16");
  EXPECT_EQ(sender_key("ann@example.com", ""), "ann@example.com|");
  EXPECT_EQ(sender_key_network(sender_key("ann@example.com", "192.0/16")), "192.0/16");
  EXPECT_EQ(sender_key_network(sender_key("ann@example.com", "")), "");
  EXPECT_NE(sender_token_hash(sender_key("ann@example.com", "192.0/16")),
            sender_token_hash(sender_key("ann@example.com", "198.51/16")));
  // The sender's count is not one of the message's word tokens.
  ClassifierInput in = ham_msg(0);
  in.sender = sender_key("ann@example.com", "192.0/16");
  auto tokens = tokenize_message(in);
  EXPECT_FALSE(std::binary_search(tokens.begin(), tokens.end(), sender_token_hash(in.sender)));
}

TEST_F(StoreFixture, SenderLearnedAsHamTakesPointsOffUntilLearnedAsSpam) {
  ClassifierParams p;
  p.min_learned = 2;
  p.sender_min_ham = 2;
  Classifier c(*store_, p);
  const std::string ann = sender_key("ann@example.com", "192.0/16");
  for (int i = 0; i < 2; ++i) ASSERT_TRUE(c.learn(spam_msg(i), true, 0));
  ClassifierInput from_ann = ham_msg(0);
  from_ann.sender = ann;
  ASSERT_TRUE(c.learn(from_ann, false, 0));
  ASSERT_TRUE(c.learn(ham_msg(1), false, 0));  // the classifier speaks from here on
  auto once = c.classify(from_ann, 0);
  ASSERT_TRUE(once) << once.status().to_string();
  EXPECT_FALSE(once->abstained);
  EXPECT_EQ(once->sender.ham, 1u);
  EXPECT_EQ(once->sender_points, 0.0) << "1 ham < sender_min_ham 2";

  ASSERT_TRUE(c.learn(from_ann, false, 0));
  ClassifierInput pitch = spam_msg(0);  // spam words, but from Ann's address and network
  pitch.sender = ann;
  auto known = c.classify(pitch, 0);
  ASSERT_TRUE(known);
  EXPECT_FALSE(known->abstained);
  EXPECT_EQ(known->sender.ham, 2u);
  EXPECT_EQ(known->sender.spam, 0u);
  EXPECT_DOUBLE_EQ(known->sender_points, -2.0 * std::log2(3.0));
  EXPECT_GT(known->points, 0) << "the words still say spam; the memory is scored apart";

  // The same address from another network is another sender.
  pitch.sender = sender_key("ann@example.com", "198.51/16");
  auto forged = c.classify(pitch, 0);
  ASSERT_TRUE(forged);
  EXPECT_EQ(forged->sender.ham, 0u);
  EXPECT_EQ(forged->sender_points, 0.0);

  // One report of spam from the sender and it takes nothing off; unlearning it restores it.
  pitch.sender = ann;
  ASSERT_TRUE(c.learn(pitch, true, 0));
  auto reported = c.classify(pitch, 0);
  ASSERT_TRUE(reported);
  EXPECT_EQ(reported->sender.spam, 1u);
  EXPECT_EQ(reported->sender_points, 0.0);
  ASSERT_TRUE(c.learn(pitch, true, 0, -1));
  auto restored = c.classify(pitch, 0);
  ASSERT_TRUE(restored);
  EXPECT_DOUBLE_EQ(restored->sender_points, -2.0 * std::log2(3.0));
}

// ---- domain memory (session 11) ----

TEST(SenderMemoryTest, DomainKeyNeedsADomainAndANetwork) {
  EXPECT_EQ(sender_domain_key("News.Example.COM", "192.0/16"), "@news.example.com|192.0/16");
  EXPECT_EQ(sender_domain_key("example.com", ""), "") << "no network: the domain is not trusted as a group";
  EXPECT_EQ(sender_domain_key("", "192.0/16"), "");
  EXPECT_EQ(sender_key_network(sender_domain_key("example.com", "192.0/16")), "192.0/16");
  EXPECT_EQ(sender_key_domain(sender_domain_key("News.Example.COM", "192.0/16")), "news.example.com");
  EXPECT_EQ(sender_key_domain(sender_key("ann@example.com", "192.0/16")), "") << "an address key names no domain";
  EXPECT_NE(sender_token_hash(sender_domain_key("example.com", "192.0/16")),
            sender_token_hash(sender_key("example.com", "192.0/16")));
}

TEST(SenderMemoryTest, SharedMailDomainsMatchWholeLabels) {
  const std::vector<std::string> list = split_domain_list(" gmail.com,@Yahoo.CO.JP  .isp.example,,");
  ASSERT_EQ(list, (std::vector<std::string>{"gmail.com", "yahoo.co.jp", "isp.example"}));
  EXPECT_TRUE(shared_mail_domain("gmail.com", list));
  EXPECT_TRUE(shared_mail_domain("mail.isp.example", list)) << "a subdomain of a listed domain";
  EXPECT_FALSE(shared_mail_domain("notgmail.com", list)) << "a suffix that is not a whole label";
  EXPECT_FALSE(shared_mail_domain("gmail.com.example", list));
  EXPECT_FALSE(shared_mail_domain("", list));
  const std::vector<std::string> builtin = split_domain_list(kSharedMailDomainsDefault);
  EXPECT_GT(builtin.size(), 50u);
  for (std::string_view d : {"gmail.com", "hotmail.com", "yahoo.co.jp", "docomo.ne.jp", "qq.com"})
    EXPECT_TRUE(shared_mail_domain(d, builtin)) << d;
  EXPECT_EQ(ClassifierParams{}.shared_mail_domains, builtin);
}

TEST(SenderMemoryTest, TokensLeaveOutASharedDomain) {
  ClassifierParams p;
  ClassifierInput in;
  EXPECT_EQ(sender_tokens(in, p).address, 0u);
  EXPECT_EQ(sender_tokens(in, p).domain, 0u);
  in.sender = sender_key("ann@example.com", "192.0/16");
  in.sender_domain = sender_domain_key("example.com", "192.0/16");
  EXPECT_EQ(sender_tokens(in, p).address, sender_token_hash(in.sender));
  EXPECT_EQ(sender_tokens(in, p).domain, sender_token_hash(in.sender_domain));
  in.sender = sender_key("ann@gmail.com", "209.85/16");
  in.sender_domain = sender_domain_key("gmail.com", "209.85/16");
  EXPECT_EQ(sender_tokens(in, p).address, sender_token_hash(in.sender)) << "the address itself is still a sender";
  EXPECT_EQ(sender_tokens(in, p).domain, 0u) << "anyone can have a gmail.com address";
  p.shared_mail_domains.clear();
  EXPECT_EQ(sender_tokens(in, p).domain, sender_token_hash(in.sender_domain));
}

TEST(SenderMemoryTest, MemoryTakesTheLargerDiscountUnlessTheAddressSentSpam) {
  ClassifierParams p;
  SenderMemory none = sender_memory({0, 0}, {0, 0}, p);
  EXPECT_EQ(none.points, 0.0);
  SenderMemory by_domain = sender_memory({0, 0}, {0, 3}, p);  // a new address of a known domain
  EXPECT_DOUBLE_EQ(by_domain.points, -4.0);
  EXPECT_TRUE(by_domain.by_domain);
  EXPECT_EQ(by_domain.counts.ham, 3u);
  SenderMemory by_address = sender_memory({0, 3}, {0, 1}, p);
  EXPECT_DOUBLE_EQ(by_address.points, -4.0);
  EXPECT_FALSE(by_address.by_domain);
  SenderMemory tie = sender_memory({0, 5}, {0, 9}, p);  // both capped: the address speaks
  EXPECT_FALSE(tie.by_domain);
  SenderMemory spammed = sender_memory({1, 5}, {0, 40}, p);
  EXPECT_EQ(spammed.points, 0.0) << "an address learned as spam: its domain does not vouch for it";
  EXPECT_FALSE(spammed.by_domain);
  SenderMemory domain_spammed = sender_memory({0, 1}, {1, 40}, p);
  EXPECT_DOUBLE_EQ(domain_spammed.points, -2.0) << "the address's own memory stands";
  EXPECT_FALSE(domain_spammed.by_domain);
}

TEST_F(StoreFixture, DomainLearnedAsHamVouchesForItsOtherAddressesOnItsNetwork) {
  ClassifierParams p;
  p.min_learned = 2;
  Classifier c(*store_, p);
  for (int i = 0; i < 2; ++i) ASSERT_TRUE(c.learn(spam_msg(i), true, 0));
  auto from = [](ClassifierInput in, std::string_view local, std::string_view domain, std::string_view net) {
    in.sender = sender_key(std::string(local) + "@" + std::string(domain), net);
    in.sender_domain = sender_domain_key(domain, net);
    return in;
  };
  // Two issues of a newsletter whose mailer writes a new From address into every copy.
  ASSERT_TRUE(c.learn(from(ham_msg(0), "issue-1.a8yag", "news.example.com", "192.0/16"), false, 0));
  ASSERT_TRUE(c.learn(from(ham_msg(1), "issue-2.qi_lg", "news.example.com", "192.0/16"), false, 0));
  auto third = c.classify(from(spam_msg(0), "issue-3.x7ker", "news.example.com", "192.0/16"), 0);
  ASSERT_TRUE(third) << third.status().to_string();
  EXPECT_FALSE(third->abstained);
  EXPECT_TRUE(third->sender_by_domain);
  EXPECT_EQ(third->sender.ham, 2u);
  EXPECT_DOUBLE_EQ(third->sender_points, -2.0 * std::log2(3.0));

  // The domain from another network, or a shared provider's domain, is not vouched for.
  auto elsewhere = c.classify(from(spam_msg(0), "issue-3.x7ker", "news.example.com", "198.51/16"), 0);
  ASSERT_TRUE(elsewhere);
  EXPECT_EQ(elsewhere->sender_points, 0.0);
  ASSERT_TRUE(c.learn(from(ham_msg(2), "ann", "hotmail.com", "65.54/16"), false, 0));
  auto stranger = c.classify(from(spam_msg(1), "bob", "hotmail.com", "65.54/16"), 0);
  ASSERT_TRUE(stranger);
  EXPECT_EQ(stranger->sender_points, 0.0);
  EXPECT_FALSE(stranger->sender_by_domain);

  // One spam learned from the domain (any address) and the domain vouches for none; unlearn
  // restores it.
  ClassifierInput spam = from(spam_msg(1), "issue-4.zz", "news.example.com", "192.0/16");
  ASSERT_TRUE(c.learn(spam, true, 0));
  auto after = c.classify(from(spam_msg(0), "issue-5.yy", "news.example.com", "192.0/16"), 0);
  ASSERT_TRUE(after);
  EXPECT_EQ(after->sender_points, 0.0);
  ASSERT_TRUE(c.learn(spam, true, 0, -1));
  auto restored = c.classify(from(spam_msg(0), "issue-5.yy", "news.example.com", "192.0/16"), 0);
  ASSERT_TRUE(restored);
  EXPECT_TRUE(restored->sender_by_domain);
  EXPECT_DOUBLE_EQ(restored->sender_points, -2.0 * std::log2(3.0));
}

}  // namespace
}  // namespace tsubame::filter
