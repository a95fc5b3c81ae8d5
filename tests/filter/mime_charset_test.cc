// tests/filter/mime_charset_test.cc: charset conversion and RFC 2047 / RFC 2231 decoding,
// alone and inside whole messages (Subject header and body of each charset).
//
// Byte strings below were produced by an independent encoder (Python's codecs), so these
// tests check our iconv mapping and label aliases, not iconv against itself.
#include <gtest/gtest.h>

#include <string>

#include "common/bytes.h"
#include "filter/charset.h"
#include "filter/mime.h"
#include "filter/mime_limits.h"

namespace tsubame::filter {
namespace {

struct CharsetCase {
  const char* charset;
  std::string bytes;
  const char* utf8;
};

const CharsetCase kCases[] = {
    {"iso-2022-jp", "\x1B$B$3$s$K$A$O@$3&\x1B(B", "こんにちは世界"},
    {"Shift_JIS", "\x82\xB1\x82\xF1\x82\xC9\x82\xBF\x82\xCD\x90\xA2\x8A" "E", "こんにちは世界"},
    {"cp932", "\x87@\xC3\xBD\xC4\xEE\xE0", "①ﾃｽﾄ髙"},
    {"windows-31j", "\x87@\xC3\xBD\xC4\xEE\xE0", "①ﾃｽﾄ髙"},
    {"EUC-JP", "\xA4\xB3\xA4\xF3\xA4\xCB\xA4\xC1\xA4\xCF\xC0\xA4\xB3\xA6", "こんにちは世界"},
    {"iso-8859-1", "Gr\xFC\xDF" "e caf\xE9", "Grüße café"},
    {"windows-1252", "\x80 \x93quoted\x94", "€ “quoted”"},
    {"iso-8859-2", "Za\xBF\xF3\xB3\xE6", "Zażółć"},
    {"ISO-8859-15", "\xA4", "€"},
    {"iso-8859-7", "\xCA\xE1\xEB\xE7\xEC\xDD\xF1\xE1", "Καλημέρα"},
    {"windows-1250", "Za\xBF\xF3\xB3\xE6", "Zażółć"},
    {"windows-1251", "\xCF\xF0\xE8\xE2\xE5\xF2", "Привет"},
    {"koi8-r", "\xF0\xD2\xC9\xD7\xC5\xD4", "Привет"},
    {"gb2312", "\xC4\xE3\xBA\xC3\xCA\xC0\xBD\xE7", "你好世界"},
    {"GBK", "\xC4\xE3\xBA\xC3", "你好"},
    {"gb18030", "\xC4\xE3\xBA\xC3\xA2\xE3", "你好€"},
    {"big5", "\xA7" "A\xA6n\xA5@\xAC\xC9", "你好世界"},
    {"euc-kr", "\xBE\xC8\xB3\xE7\xC7\xCF\xBC\xBC\xBF\xE4", "안녕하세요"},
    {"utf-8", "\xE6\x97\xA5\xE6\x9C\xAC", "日本"},
    {"windows-1253", "\xCA\xE1\xEB\xE7\xEC\xDD\xF1\xE1", "Καλημέρα"},
    {"windows-1254", "G\xFCnayd\xFDn", "Günaydın"},
    {"windows-1255", "\xF9\xEC\xE5\xED", "שלום"},
    {"windows-1256", "\xE3\xD1\xCD\xC8\xC7", "مرحبا"},
    {"windows-1257", "Labas rytas \xE0\xE8\xE6", "Labas rytas ąčę"},
    {"windows-1258", "Xin ch\xE0o", "Xin chào"},
    {"iso-8859-5", "\xBF\xE0\xD8\xD2\xD5\xE2", "Привет"},
    {"iso-8859-9", "G\xFCnayd\xFDn", "Günaydın"},
    {"iso-8859-4", "\xB1\xE8\xEA", "ąčę"},
    {"iso-8859-13", "\xE0\xE8\xE6", "ąčę"},
    {"koi8-u", "\xF0\xD2\xC9\xD7\xA6\xD4", "Привіт"},
};

TEST(Charset, EveryDeclaredCharsetConvertsToUtf8) {
  for (const auto& c : kCases) {
    DecodeIssues is;
    EXPECT_EQ(to_utf8(c.bytes, c.charset, &is), c.utf8) << c.charset;
    EXPECT_FALSE(is.unknown_charset) << c.charset;
    EXPECT_FALSE(is.invalid_data) << c.charset;
  }
}

TEST(Charset, Iso2022JpWithNecSpecialCharacters) {
  // CP50220 as Outlook writes it: row 13 (NEC special) "①" = 0x2D21 in JIS X 0208 form,
  // which glibc's ISO-2022-JP rejects; we route through EUC-JP-MS.
  DecodeIssues is;
  EXPECT_EQ(to_utf8("\x1B$B-!\x1B(B No.1", "ISO-2022-JP", &is), "① No.1");
  EXPECT_FALSE(is.invalid_data);
  // Half-width katakana via ESC ( I.
  EXPECT_EQ(to_utf8("\x1B(I" "C=D\x1B(B", "iso-2022-jp", &is), "ﾃｽﾄ");
}

TEST(Charset, Aliases) {
  EXPECT_EQ(canonical_charset("Shift_JIS").value(), "CP932");
  EXPECT_EQ(canonical_charset("x-sjis").value(), "CP932");
  EXPECT_EQ(canonical_charset("\"UTF-8\"").value(), "UTF-8");
  EXPECT_EQ(canonical_charset("utf-8*en").value(), "UTF-8");  // RFC 2231 §5 language suffix
  EXPECT_EQ(canonical_charset("ISO_8859-5").value(), "ISO-8859-5");
  EXPECT_EQ(canonical_charset("cp1251").value(), "WINDOWS-1251");
  EXPECT_EQ(canonical_charset("ks_c_5601-1987").value(), "CP949");
  EXPECT_EQ(canonical_charset("gb2312").value(), "GB18030");
  EXPECT_FALSE(canonical_charset("x-no-such-charset").has_value());
  EXPECT_FALSE(canonical_charset("utf-8//TRANSLIT").has_value());  // no iconv suffix tricks
  EXPECT_FALSE(canonical_charset("").has_value());
}

// Found by tests/fuzz (fuzz_filter_scan): the ISO-8859 part number was read into an int
// that overflowed (undefined behaviour) on a long run of digits, also after a non-digit.
TEST(Charset, IsoPartNumberDoesNotOverflow) {
  EXPECT_FALSE(canonical_charset("iso-8859-99999999999999999999").has_value());
  EXPECT_FALSE(canonical_charset("iso-8859-1a99999999999999999").has_value());
  EXPECT_FALSE(canonical_charset("iso-8859-12").has_value());
  EXPECT_FALSE(canonical_charset("iso-8859-17").has_value());
  EXPECT_EQ(canonical_charset("iso-8859-0002").value(), "ISO-8859-2");  // leading zeros, as before
  EXPECT_EQ(canonical_charset("iso-8859-16").value(), "ISO-8859-16");
  EXPECT_EQ(canonical_charset("iso8859-7:1987").value(), "ISO-8859-7");
}

TEST(Charset, NonAsciiCompatibleCharsetsGoThroughIconv) {
  EXPECT_EQ(to_utf8("\xC8\x85\x93\x93\x96", "IBM037"), "Hello");  // EBCDIC
  EXPECT_EQ(to_utf8("+ZeVnLIqe-", "utf-7"), "日本語");
  EXPECT_EQ(to_utf8(std::string("A\0B\0", 4), "utf-16le"), "AB");
}

TEST(Charset, UnknownCharsetFallsBackToLatin1AndFlags) {
  DecodeIssues is;
  EXPECT_EQ(to_utf8("caf\xE9", "x-martian", &is), "café");
  EXPECT_TRUE(is.unknown_charset);
}

TEST(Charset, InvalidBytesBecomeReplacementCharacters) {
  DecodeIssues is;
  std::string out = to_utf8("ok\xFF\xFEok", "utf-8", &is);
  EXPECT_EQ(out, "ok\xEF\xBF\xBD\xEF\xBF\xBDok");
  EXPECT_TRUE(is.invalid_data);
  EXPECT_TRUE(is_valid_utf8(out));
  DecodeIssues sj;
  out = to_utf8("\x82\xB1\x82", "shift_jis", &sj);  // truncated double-byte character
  EXPECT_TRUE(sj.invalid_data);
  EXPECT_TRUE(is_valid_utf8(out));
  EXPECT_TRUE(out.starts_with("こ"));
}

TEST(Charset, Utf8Validation) {
  EXPECT_TRUE(is_valid_utf8("plain"));
  EXPECT_TRUE(is_valid_utf8("\xF0\x9F\x98\x80"));       // U+1F600
  EXPECT_FALSE(is_valid_utf8("\xC0\xAF"));              // overlong '/'
  EXPECT_FALSE(is_valid_utf8("\xED\xA0\x80"));          // surrogate
  EXPECT_FALSE(is_valid_utf8("\xF4\x90\x80\x80"));      // > U+10FFFF
  EXPECT_FALSE(is_valid_utf8("\xE6\x97"));              // truncated
}

TEST(Charset, UndeclaredEightBitIsUtf8IfValidElseWindows1252) {
  EXPECT_EQ(to_utf8("\xE6\x97\xA5", ""), "日");
  EXPECT_EQ(to_utf8("caf\xE9", "us-ascii"), "café");
}

TEST(Charset, UndeclaredJapaneseAndChineseAreRecognised) {
  // Mailers that send Japanese without a charset parameter: the byte structure decides.
  const std::string iso2022 = "\x1B$B$3$s$K$A$O@$3&\x1B(B";
  const std::string sjis = "\x82\xB1\x82\xF1\x82\xC9\x82\xBF\x82\xCD\x90\xA2\x8A" "E";
  const std::string euc = "\xA4\xB3\xA4\xF3\xA4\xCB\xA4\xC1\xA4\xCF\xC0\xA4\xB3\xA6";
  const std::string gb = "\xC4\xE3\xBA\xC3\xCA\xC0\xBD\xE7 \xC4\xE3\xBA\xC3\xCA\xC0\xBD\xE7";
  EXPECT_EQ(guess_undeclared_charset(iso2022), "iso-2022-jp");
  EXPECT_EQ(guess_undeclared_charset(sjis), "shift_jis");
  EXPECT_EQ(guess_undeclared_charset(euc), "euc-jp");
  EXPECT_EQ(guess_undeclared_charset(gb), "gb2312");
  DecodeIssues is;
  EXPECT_EQ(to_utf8(iso2022, "", &is), "こんにちは世界");
  EXPECT_EQ(to_utf8(sjis, "", &is), "こんにちは世界");
  EXPECT_EQ(to_utf8(euc, "us-ascii", &is), "こんにちは世界");
  EXPECT_EQ(to_utf8(gb, "", &is), "你好世界 你好世界");
  EXPECT_FALSE(is.invalid_data);
  EXPECT_FALSE(is.unknown_charset);
  // Western text stays Windows-1252: accented letters next to ASCII are no valid pairs, and
  // pairs that happen to be valid carry no kana.
  EXPECT_EQ(guess_undeclared_charset("Gr\xFC\xDF" "e aus M\xFCnchen, caf\xE9 cr\xE8me"), "");
  EXPECT_EQ(to_utf8("Gr\xFC\xDF" "e aus M\xFCnchen", ""), "Grüße aus München");
  EXPECT_EQ(guess_undeclared_charset("r\xE9sum\xE9 \xE0 la"), "");
  EXPECT_EQ(guess_undeclared_charset("plain ascii"), "");
  EXPECT_EQ(guess_undeclared_charset("\xE6\x97\xA5\xE6\x9C\xAC"), "");  // valid UTF-8
  EXPECT_EQ(guess_undeclared_charset("\xC4\xE3\xBA\xC3"), "");  // too short to tell
}

TEST(Charset, UndeclaredBig5IsRecognisedByItsLowTrailBytes) {
  // 台北市信義區辦公室出租，歡迎來電洽詢。 in Big5: half its trail bytes are below 0x80.
  const std::string big5 =
      "\xA5\x78\xA5\x5F\xA5\xAB\xAB\x48\xB8\x71\xB0\xCF\xBF\xEC\xA4\xBD\xAB\xC7\xA5\x58\xAF\xB2"
      "\xA1\x41\xC5\x77\xAA\xEF\xA8\xD3\xB9\x71\xAC\xA2\xB8\xDF\xA1\x43";
  EXPECT_EQ(guess_undeclared_charset(big5), "big5");
  DecodeIssues is;
  EXPECT_EQ(to_utf8(big5 + " http://office.example.tw/", "", &is),
            "台北市信義區辦公室出租，歡迎來電洽詢。 http://office.example.tw/");
  EXPECT_FALSE(is.invalid_data);
  // GB2312 has no low trail bytes: still GB2312.
  EXPECT_EQ(guess_undeclared_charset("\xC4\xE3\xBA\xC3\xCA\xC0\xBD\xE7 \xC4\xE3\xBA\xC3\xCA\xC0\xBD\xE7"), "gb2312");
  // Windows-1252 German whose eight accented letters all pair with the next letter into
  // valid Big5 units: they are too few for the bytes (16 of 114), so it stays Western.
  const std::string de = "Wir liefern K\xE4se und M\xF6" "bel nach K\xF6ln, B\xE4" "ckereien in D\xE4nemark "
                         "bestellen sch\xF6ne \xD6" "fen und Gr\xE4" "ber-Blumen, Hamburg 2002";
  EXPECT_EQ(guess_undeclared_charset(de), "");
  EXPECT_EQ(to_utf8("K\xF6ln", ""), "Köln");
}

TEST(Charset, UndeclaredTurkishIsRecognisedByItsSixLetters) {
  // "Bu hafta sonu İstanbul'da büyük indirim başlıyor. Ayrıntılı bilgi için sitemizi ziyaret
  // edin, kaçırmayın!" in ISO-8859-9 / Windows-1254, no charset declared.
  const std::string tr =
      "Bu hafta sonu \xDDstanbul'da b\xFCy\xFCk indirim ba\xFEl\xFDyor. Ayr\xFDnt\xFDl\xFD bilgi "
      "i\xE7in sitemizi ziyaret edin, ka\xE7\xFDrmay\xFDn!";
  EXPECT_EQ(guess_undeclared_charset(tr), "iso-8859-9");
  DecodeIssues is;
  EXPECT_EQ(to_utf8(tr, "", &is),
            "Bu hafta sonu İstanbul'da büyük indirim başlıyor. Ayrıntılı bilgi için sitemizi "
            "ziyaret edin, kaçırmayın!");
  EXPECT_EQ(to_utf8("\xD0\xDD\xDE\xF0\xFD\xFE " + tr, "us-ascii"),
            "ĞİŞğış Bu hafta sonu İstanbul'da büyük indirim başlıyor. Ayrıntılı bilgi için "
            "sitemizi ziyaret edin, kaçırmayın!");
  EXPECT_FALSE(is.invalid_data);
  // Windows-1252 punctuation keeps its meaning (Windows-1254 shares it).
  EXPECT_EQ(to_utf8("\x93" + tr + "\x94", ""),
            "“Bu hafta sonu İstanbul'da büyük indirim başlıyor. Ayrıntılı bilgi için sitemizi "
            "ziyaret edin, kaçırmayın!”");
  // Declared ISO-8859-1 is not second-guessed.
  EXPECT_EQ(to_utf8("ba\xFEl\xFDk", "iso-8859-1"), "baþlýk");
}

TEST(Charset, IcelandicAndOtherLatinTextStaysWindows1252) {
  // Icelandic has ð þ ý at the same bytes, beside many letters Turkish lacks (á é ó ú æ).
  const std::string is_text =
      "\xDE" "etta er st\xF3r fr\xE9tt: \xFE\xFA getur s\xF3tt \xFEj\xF3nustuna \xED dag og "
      "f\xE6r\xF0 \xFE" "a\xF0 sem \xFE\xFA \xFE" "arft.";
  EXPECT_EQ(guess_undeclared_charset(is_text), "");
  EXPECT_EQ(to_utf8(is_text, ""),
            "Þetta er stór frétt: þú getur sótt þjónustuna í dag og færð það sem þú þarft.");
  // German and French as before.
  EXPECT_EQ(guess_undeclared_charset("Gr\xFC\xDF" "e aus M\xFCnchen, caf\xE9 cr\xE8me"), "");
  // Czech in ISO-8859-2 (ý at 0xFD) carries č ř ě á í: not Turkish.
  EXPECT_EQ(guess_undeclared_charset("P\xF8\xEDli\xB9 \xBElu\xBBou\xE8k\xFD k\xF9\xF2 "
                                     "\xFAp\xECl \xEF\xE1" "belsk\xE9 \xF3" "dy, n\xE1kup v\xFDrobk\xFD "
                                     "levn\xFD a dobr\xFD"),
            "");
}

TEST(Charset, TurkishLimits) {
  static_assert(kTurkishMinLetters == 4 && kTurkishOverOthers == 3);
  // kTurkishMinLetters - 1 of the six letters: not enough; kTurkishMinLetters: Turkish.
  EXPECT_EQ(guess_undeclared_charset("ba\xFEl\xFDk s\xFD" "cak"), "");
  EXPECT_EQ(guess_undeclared_charset("ba\xFEl\xFDk s\xFD" "cak k\xFDz"), "iso-8859-9");
  // Four Turkish letters against two others: under three to one; against one: Turkish.
  EXPECT_EQ(guess_undeclared_charset("ba\xFEl\xFDk s\xFD" "cak k\xFDz caf\xE9 r\xE9sum"), "");
  EXPECT_EQ(guess_undeclared_charset("ba\xFEl\xFDk s\xFD" "cak k\xFDz caf\xE9 resum"), "iso-8859-9");
  // ç ö ü â î û count with the six: 4 + 2 against 2 others is three to one.
  EXPECT_EQ(guess_undeclared_charset("ba\xFEl\xFDk s\xFD" "cak k\xFDz g\xFCzel \xE7ok caf\xE9 r\xE9sum"),
            "iso-8859-9");
  // Only letters inside words vote: a letter touching no ASCII letter, or touching a control
  // or C1/symbol byte (the random bytes of binary padding), does not.
  EXPECT_EQ(guess_undeclared_charset("ba\xFEl\xFDk s\xFD" "cak k\xFDz x\xE9\x01 y\xE9\x85 z\xE9\x8A \xE9 \xE9"),
            "iso-8859-9");
  EXPECT_EQ(guess_undeclared_charset("ba\xFEl\xFDk s\xFD" "cak k\xFDz x\xE9 y\xE9 z\xE9"), "");
  EXPECT_EQ(guess_undeclared_charset("\xFD\xFE \xFD\xFE \x01\xFD" "a\xFE\x02 \xF0"), "");
}

TEST(CharsetMessages, UndeclaredTurkishBodyAndSubjectAreDecoded) {
  auto m = parse_message(
      "From: a@b.example\r\nSubject: Ba\xFEl\xFDk: s\xFD" "cak f\xFDrsat\r\nContent-Type: text/plain\r\n\r\n"
      "Ayr\xFDnt\xFDl\xFD bilgi i\xE7in sitemizi ziyaret edin, ka\xE7\xFDrmay\xFDn!\r\n");
  ASSERT_TRUE(m);
  EXPECT_EQ(m->body_text, "Ayrıntılı bilgi için sitemizi ziyaret edin, kaçırmayın!\n");
  EXPECT_EQ(m->subject, "Başlık: sıcak fırsat");
  EXPECT_FALSE(m->anomalies.has(Anomaly::kBadCharsetData));
}

TEST(CharsetMessages, UndeclaredShiftJisBodyIsDecoded) {
  auto m = parse_message(
      "From: a@b.example\r\nSubject: x\r\nContent-Type: text/plain\r\n\r\n"
      "\x82\xB1\x82\xF1\x82\xC9\x82\xBF\x82\xCD\x90\xA2\x8A" "E\r\n");
  ASSERT_TRUE(m);
  EXPECT_NE(m->body_text.find("こんにちは世界"), std::string::npos) << m->body_text;
}

// ---- RFC 2047 -----------------------------------------------------------------------

TEST(EncodedWords, BAndQ) {
  EXPECT_EQ(decode_header_text("=?UTF-8?B?5pel5pys6Kqe44Gu44OG44K544OI?="), "日本語のテスト");
  EXPECT_EQ(decode_header_text("=?iso-8859-1?q?caf=E9_au_lait?="), "café au lait");
  EXPECT_EQ(decode_header_text("=?ISO-2022-JP?B?GyRCJDMkcyRLJEEkT0AkMyYbKEI=?="), "こんにちは世界");
  EXPECT_EQ(decode_header_text("=?shift_jis?B?g2WDWINn?="), "テスト");
}

TEST(EncodedWords, WhitespaceBetweenAdjacentWordsIsDropped) {
  // RFC 2047 §8 examples.
  EXPECT_EQ(decode_header_text("(=?ISO-8859-1?Q?a?=)"), "(a)");
  EXPECT_EQ(decode_header_text("(=?ISO-8859-1?Q?a?= b)"), "(a b)");
  EXPECT_EQ(decode_header_text("(=?ISO-8859-1?Q?a?= =?ISO-8859-1?Q?b?=)"), "(ab)");
  EXPECT_EQ(decode_header_text("(=?ISO-8859-1?Q?a?=  \r\n   =?ISO-8859-1?Q?b?=)"), "(ab)");
  EXPECT_EQ(decode_header_text("(=?ISO-8859-1?Q?a_b?=)"), "(a b)");
  EXPECT_EQ(decode_header_text("(=?ISO-8859-1?Q?a?= =?ISO-8859-2?Q?_b?=)"), "(a b)");
  EXPECT_EQ(decode_header_text("Hello =?utf-8?q?W=C3=B6rld?= !"), "Hello Wörld !");
}

TEST(EncodedWords, MultibyteCharacterSplitAcrossWords) {
  // "日本" in UTF-8 is E6 97 A5 E6 9C AC; split inside the first character.
  std::string a = "=?utf-8?B?" + base64_encode("\xE6\x97") + "?=";
  std::string b = "=?utf-8?B?" + base64_encode("\xA5\xE6\x9C\xAC") + "?=";
  DecodeIssues is;
  EXPECT_EQ(decode_header_text(a + " " + b, &is), "日本");
  EXPECT_FALSE(is.invalid_data);
}

TEST(EncodedWords, CharsetWithLanguage) {
  EXPECT_EQ(decode_header_text("=?US-ASCII*EN?Q?Keith_Moore?="), "Keith Moore");  // RFC 2231 §5
}

TEST(EncodedWords, EdgeCases) {
  DecodeIssues is;
  // Not an encoded word: left as written.
  EXPECT_EQ(decode_header_text("=?utf-8?X?abc?=", &is), "=?utf-8?X?abc?=");
  EXPECT_EQ(decode_header_text("a =? b ?= c"), "a =? b ?= c");
  EXPECT_EQ(decode_header_text("=?utf-8?B?"), "=?utf-8?B?");
  // Glued to text (RFC says it must not be; spam does it): still decoded.
  EXPECT_EQ(decode_header_text("Free=?utf-8?q?_money?=now"), "Free moneynow");
  // Bad base64 inside a word: decoded as far as possible and flagged.
  DecodeIssues bad;
  decode_header_text("=?utf-8?B?!!!?=", &bad);
  EXPECT_TRUE(bad.bad_encoded_word);
  // Unknown charset: Latin-1 fallback and flag.
  DecodeIssues unk;
  EXPECT_EQ(decode_header_text("=?x-unknown?Q?caf=E9?=", &unk), "café");
  EXPECT_TRUE(unk.unknown_charset);
  // Empty encoded text.
  EXPECT_EQ(decode_header_text("a =?utf-8?B?\?= b"), "a  b");
  // Folding is removed.
  EXPECT_EQ(decode_header_text("one\r\n two"), "one two");
}

TEST(EncodedWords, RawEightBitFallsBackToGivenCharset) {
  EXPECT_EQ(decode_header_text("\x82\xB1\x82\xF1", nullptr, "shift_jis"), "こん");
  EXPECT_EQ(decode_header_text("caf\xE9"), "café");
  EXPECT_EQ(decode_header_text("\xE6\x97\xA5"), "日");  // RFC 6532 UTF-8 kept
}

TEST(Rfc2231, ValueDecoding) {
  EXPECT_EQ(decode_rfc2231_value("utf-8''%E6%97%A5%E6%9C%AC.pdf"), "日本.pdf");
  EXPECT_EQ(decode_rfc2231_value("iso-8859-1'fr'caf%E9.txt"), "café.txt");
  EXPECT_EQ(decode_rfc2231_value("shift_jis''%83e%83X%83g.doc"), "テスト.doc");
}

// ---- whole messages: each charset in a header and in the body ----------------------

TEST(CharsetMessages, SubjectAndBodyInEveryCharset) {
  for (const auto& c : kCases) {
    std::string msg = "From: a@example.com\r\nSubject: =?" + std::string(c.charset) + "?B?" +
                      base64_encode(c.bytes) + "?=\r\nMIME-Version: 1.0\r\n" +
                      "Content-Type: text/plain; charset=\"" + c.charset + "\"\r\n" +
                      "Content-Transfer-Encoding: 8bit\r\n\r\n" + c.bytes + "\r\n";
    auto r = parse_message(msg);
    ASSERT_TRUE(r.is_ok()) << c.charset;
    EXPECT_EQ(r->subject, c.utf8) << c.charset;
    EXPECT_EQ(r->body_text, std::string(c.utf8) + "\n") << c.charset;
    EXPECT_FALSE(r->anomalies.has(Anomaly::kUnknownCharset)) << c.charset;
    EXPECT_FALSE(r->anomalies.has(Anomaly::kBadCharsetData)) << c.charset;
    // IMAP ENVELOPE keeps the subject raw (RFC 9051 §7.5.2): not decoded.
    EXPECT_TRUE(r->summary.envelope.subject->starts_with("=?")) << c.charset;
  }
}

TEST(CharsetMessages, QuotedPrintableAndBase64Bodies) {
  std::string msg =
      "Subject: x\r\nContent-Type: multipart/mixed; boundary=b\r\n\r\n"
      "--b\r\nContent-Type: text/plain; charset=iso-8859-1\r\n"
      "Content-Transfer-Encoding: quoted-printable\r\n\r\n"
      "Gr=FC=DFe, caf=E9 soft=\r\nbreak\r\n"
      "--b\r\nContent-Type: text/plain; charset=euc-jp\r\nContent-Transfer-Encoding: base64\r\n\r\n" +
      base64_encode("\xA4\xB3\xA4\xF3\xA4\xCB\xA4\xC1\xA4\xCF") + "\r\n--b--\r\n";
  auto r = parse_message(msg);
  ASSERT_TRUE(r.is_ok());
  ASSERT_EQ(r->text_parts.size(), 2u);
  EXPECT_EQ(r->text_parts[0].text, "Grüße, café softbreak");
  EXPECT_EQ(r->text_parts[1].text, "こんにちは");
  EXPECT_NE(r->body_text.find("こんにちは"), std::string::npos);
}

TEST(CharsetMessages, UnknownCharsetInBodyIsFlagged) {
  auto r = parse_message("Content-Type: text/plain; charset=x-klingon\r\n\r\ncaf\xE9\r\n");
  ASSERT_TRUE(r.is_ok());
  EXPECT_TRUE(r->anomalies.has(Anomaly::kUnknownCharset));
  EXPECT_EQ(r->body_text, "café\n");
}

TEST(CharsetMessages, RawShiftJisHeaderUsesBodyCharsetAndIsFlagged) {
  auto r = parse_message(
      "Subject: \x82\xB1\x82\xF1\r\nContent-Type: text/plain; charset=Shift_JIS\r\n\r\nx\r\n");
  ASSERT_TRUE(r.is_ok());
  EXPECT_EQ(r->subject, "こん");
  EXPECT_TRUE(r->anomalies.has(Anomaly::kHeader8Bit));
}

}  // namespace
}  // namespace tsubame::filter
