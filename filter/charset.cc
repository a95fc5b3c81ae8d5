// filter/charset.cc: charset conversion to UTF-8 (iconv), RFC 2047 and RFC 2231 decoding.
//
// How it fails: never. iconv errors become U+FFFD (invalid data) or a Windows-1252 fallback
// (unknown charset), reported through DecodeIssues. iconv descriptors are cached per thread
// (bounded), so conversion is reentrant and does not re-open iconv per call.
#include "filter/charset.h"

#include <errno.h>
#include <iconv.h>

#include <algorithm>
#include <array>
#include <cstdint>
#include <cctype>
#include <cstring>
#include <unordered_map>

#include "common/bytes.h"
#include "filter/mime_limits.h"

namespace tsubame::filter {
namespace {

constexpr size_t kMaxCachedConverters = 64;

// Per-thread cache of iconv descriptors "to UTF-8 from X". A failed open is cached too
// (as (iconv_t)-1) so an unknown label costs one iconv_open per thread.
class IconvCache {
 public:
  ~IconvCache() {
    for (auto& [name, cd] : map_)
      if (cd != reinterpret_cast<iconv_t>(-1)) iconv_close(cd);
  }
  // Returns (iconv_t)-1 if iconv does not know `name`. `owned` tells the caller to close it.
  iconv_t get(const std::string& name, bool* owned) {
    *owned = false;
    auto it = map_.find(name);
    if (it != map_.end()) return it->second;
    iconv_t cd = iconv_open("UTF-8", name.c_str());
    if (map_.size() >= kMaxCachedConverters) {
      *owned = cd != reinterpret_cast<iconv_t>(-1);
      return cd;
    }
    map_.emplace(name, cd);
    return cd;
  }

 private:
  std::unordered_map<std::string, iconv_t> map_;
};

IconvCache& cache() {
  thread_local IconvCache c;
  return c;
}

std::string normalize_label(std::string_view label) {
  label = trim(label);
  while (!label.empty() && (label.front() == '"' || label.front() == '\'')) label.remove_prefix(1);
  while (!label.empty() && (label.back() == '"' || label.back() == '\'')) label.remove_suffix(1);
  // RFC 2231 §5: "charset*language" inside encoded-words.
  if (auto star = label.find('*'); star != std::string_view::npos) label = label.substr(0, star);
  return to_lower(trim(label));
}

bool label_chars_ok(std::string_view s) {
  if (s.empty() || s.size() > 40) return false;
  for (unsigned char c : s)
    if (!(std::isalnum(c) || c == '-' || c == '_' || c == '.' || c == ':')) return false;
  return true;
}

constexpr std::array<uint16_t, 32> kCp1252High = {
    0x20AC, 0x0081, 0x201A, 0x0192, 0x201E, 0x2026, 0x2020, 0x2021, 0x02C6, 0x2030, 0x0160,
    0x2039, 0x0152, 0x008D, 0x017D, 0x008F, 0x0090, 0x2018, 0x2019, 0x201C, 0x201D, 0x2022,
    0x2013, 0x2014, 0x02DC, 0x2122, 0x0161, 0x203A, 0x0153, 0x009D, 0x017E, 0x0178};

void append_replacement(std::string& out) { out += "\xEF\xBF\xBD"; }

// Run iconv over the whole input; invalid bytes become U+FFFD and are skipped one at a time.
std::string iconv_convert(iconv_t cd, std::string_view in, bool* invalid) {
  std::string out;
  out.reserve(in.size() * 3 / 2 + 16);
  iconv(cd, nullptr, nullptr, nullptr, nullptr);  // reset shift state
  char* src = const_cast<char*>(in.data());
  size_t src_left = in.size();
  char buf[4096];
  while (true) {
    char* dst = buf;
    size_t dst_left = sizeof buf;
    size_t r = src_left > 0 ? iconv(cd, &src, &src_left, &dst, &dst_left)
                            : iconv(cd, nullptr, nullptr, &dst, &dst_left);
    out.append(buf, static_cast<size_t>(dst - buf));
    if (r != static_cast<size_t>(-1)) {
      if (src_left == 0) {
        // Flush the shift state once (stateful encodings), then done.
        dst = buf;
        dst_left = sizeof buf;
        iconv(cd, nullptr, nullptr, &dst, &dst_left);
        out.append(buf, static_cast<size_t>(dst - buf));
        break;
      }
      continue;
    }
    if (errno == E2BIG) continue;
    // EILSEQ (invalid) or EINVAL (incomplete at end): substitute and skip one byte.
    if (invalid) *invalid = true;
    append_replacement(out);
    if (src_left == 0) break;
    ++src;
    --src_left;
    if (errno == EINVAL && src_left == 0) break;
  }
  return out;
}

// ISO-2022-JP as Windows writes it (CP50220/50221: NEC and IBM extensions) is not accepted
// by glibc's ISO-2022-JP converters, so we undo the escape sequences ourselves (RFC 1468,
// plus JIS X 0201 katakana and JIS X 0212) into EUC-JP bytes and convert with EUC-JP-MS.
std::string iso2022jp_to_eucjp(std::string_view in, bool* invalid) {
  enum class Set { kAscii, kJis0208, kKana, kJis0212 } set = Set::kAscii;
  bool shift_out = false;  // SO/SI katakana (CP50221)
  std::string out;
  out.reserve(in.size());
  for (size_t i = 0; i < in.size();) {
    unsigned char c = in[i];
    if (c == 0x1B) {
      std::string_view rest = in.substr(i + 1);
      if (rest.starts_with("(B") || rest.starts_with("(J")) { set = Set::kAscii; i += 3; continue; }
      if (rest.starts_with("(I")) { set = Set::kKana; i += 3; continue; }
      if (rest.starts_with("$@") || rest.starts_with("$B")) { set = Set::kJis0208; i += 3; continue; }
      if (rest.starts_with("$(D")) { set = Set::kJis0212; i += 4; continue; }
      if (rest.starts_with("$(Q") || rest.starts_with("$(O")) { set = Set::kJis0208; i += 4; continue; }
      if (invalid) *invalid = true;
      ++i;
      continue;
    }
    if (c == 0x0E) { shift_out = true; ++i; continue; }
    if (c == 0x0F) { shift_out = false; ++i; continue; }
    if (c == '\r' || c == '\n') {  // RFC 1468: lines start in ASCII
      out += static_cast<char>(c);
      ++i;
      continue;
    }
    if (c >= 0x80) {  // 8-bit in a 7-bit charset: pass it on, EUC-JP-MS will judge it
      if (invalid) *invalid = true;
      out += static_cast<char>(c);
      ++i;
      continue;
    }
    if (shift_out || set == Set::kKana) {
      if (c >= 0x21 && c <= 0x5F) {
        out += '\x8E';
        out += static_cast<char>(c | 0x80);
      } else {
        out += static_cast<char>(c);
      }
      ++i;
      continue;
    }
    if ((set == Set::kJis0208 || set == Set::kJis0212) && c > 0x20 && c < 0x7F) {
      if (i + 1 >= in.size()) {
        if (invalid) *invalid = true;
        break;
      }
      if (set == Set::kJis0212) out += '\x8F';
      out += static_cast<char>(c | 0x80);
      out += static_cast<char>(static_cast<unsigned char>(in[i + 1]) | 0x80);
      i += 2;
      continue;
    }
    out += static_cast<char>(c);
    ++i;
  }
  return out;
}

std::string convert_with(const std::string& iconv_name, std::string_view bytes, bool* invalid,
                         bool* unknown) {
  bool owned = false;
  iconv_t cd = cache().get(iconv_name, &owned);
  if (cd == reinterpret_cast<iconv_t>(-1)) {
    if (unknown) *unknown = true;
    return cp1252_to_utf8(bytes);
  }
  std::string out = iconv_convert(cd, bytes, invalid);
  if (owned) iconv_close(cd);
  return out;
}

// Charsets (canonical names) in which ASCII bytes mean ASCII. Not true of UTF-7/16,
// ISO-2022-KR or EBCDIC code pages that iconv also knows.
bool ascii_compatible(std::string_view name) {
  for (std::string_view p : {"ISO-8859-", "WINDOWS-", "KOI8", "CP932", "CP949", "CP874", "EUC-",
                             "GB18030", "BIG5"})
    if (name.starts_with(p)) return true;
  return false;
}

// RFC 2047 §4.1 "B" text.
std::string decode_b(std::string_view in, bool* bad) {
  static constexpr std::array<int8_t, 256> kTable = [] {
    std::array<int8_t, 256> t{};
    for (auto& v : t) v = -1;
    const char* a = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    for (int i = 0; i < 64; ++i) t[static_cast<unsigned char>(a[i])] = static_cast<int8_t>(i);
    return t;
  }();
  std::string out;
  uint32_t acc = 0;
  int bits = 0;
  for (unsigned char c : in) {
    if (c == '=') break;
    if (c == ' ' || c == '\t' || c == '\r' || c == '\n') continue;
    int v = kTable[c];
    if (v < 0) {
      *bad = true;
      continue;
    }
    acc = (acc << 6) | static_cast<uint32_t>(v);
    bits += 6;
    if (bits >= 8) {
      bits -= 8;
      out += static_cast<char>((acc >> bits) & 0xFF);
    }
  }
  return out;
}

// RFC 2047 §4.2 "Q" text: '_' is space, =XX is an octet.
std::string decode_q(std::string_view in, bool* bad) {
  std::string out;
  out.reserve(in.size());
  for (size_t i = 0; i < in.size(); ++i) {
    char c = in[i];
    if (c == '_') {
      out += ' ';
    } else if (c == '=' && i + 2 < in.size() && hex_digit(in[i + 1]) >= 0 && hex_digit(in[i + 2]) >= 0) {
      out += static_cast<char>(hex_digit(in[i + 1]) * 16 + hex_digit(in[i + 2]));
      i += 2;
    } else {
      if (c == '=') *bad = true;
      out += c;
    }
  }
  return out;
}

struct EncodedWord {
  size_t begin = 0, end = 0;  // [begin, end) in the input, "=?" .. "?="
  std::string charset;
  char encoding = 'B';
  std::string_view text;
};

// Finds encoded-words left to right. Lenient: does not require whitespace around a word
// (spam glues words to text to dodge filters) and accepts spaces inside Q text. The '?'
// and "?=" searches only ever move forward (cached), so a hostile header full of "=?"
// without terminators costs O(n), not O(n^2).
class WordScanner {
 public:
  explicit WordScanner(std::string_view s) : s_(s) {}

  std::optional<EncodedWord> next(size_t from) {
    while (true) {
      size_t b = s_.find("=?", from);
      if (b == std::string_view::npos) return std::nullopt;
      size_t q1 = find_cached(qmark_, b + 2, "?");
      if (q1 == std::string_view::npos) return std::nullopt;
      std::string_view cs = s_.substr(b + 2, q1 - b - 2);
      bool ok = !cs.empty() && cs.size() <= 64 &&
                std::none_of(cs.begin(), cs.end(), [](char c) { return c == ' ' || c == '\t' || c == '='; });
      if (ok && q1 + 2 < s_.size() && s_[q1 + 2] == '?') {
        char enc = static_cast<char>(std::toupper(static_cast<unsigned char>(s_[q1 + 1])));
        if (enc == 'B' || enc == 'Q') {
          size_t e = find_cached(end_, q1 + 3, "?=");
          if (e == std::string_view::npos) return std::nullopt;  // no terminator anywhere later
          if (e - (q1 + 3) <= 4096) {
            EncodedWord w;
            w.begin = b;
            w.end = e + 2;
            w.charset = std::string(cs);
            w.encoding = enc;
            w.text = s_.substr(q1 + 3, e - (q1 + 3));
            return w;
          }
        }
      }
      from = b + 2;
    }
  }

 private:
  struct Cache {
    size_t from = 0;
    size_t at = 0;
    bool valid = false;
  };
  // First occurrence of `needle` at or after `from`, reusing the last answer when it is
  // still ahead of `from` (calls come with non-decreasing `from`).
  size_t find_cached(Cache& c, size_t from, std::string_view needle) {
    if (c.valid && from >= c.from && (c.at == std::string_view::npos || c.at >= from)) return c.at;
    c.from = from;
    c.at = s_.find(needle, from);
    c.valid = true;
    return c.at;
  }
  std::string_view s_;
  Cache qmark_, end_;
};

}  // namespace

void append_utf8(std::string& out, uint32_t cp) {
  if (cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF)) {
    append_replacement(out);
  } else if (cp < 0x80) {
    out += static_cast<char>(cp);
  } else if (cp < 0x800) {
    out += static_cast<char>(0xC0 | (cp >> 6));
    out += static_cast<char>(0x80 | (cp & 0x3F));
  } else if (cp < 0x10000) {
    out += static_cast<char>(0xE0 | (cp >> 12));
    out += static_cast<char>(0x80 | ((cp >> 6) & 0x3F));
    out += static_cast<char>(0x80 | (cp & 0x3F));
  } else {
    out += static_cast<char>(0xF0 | (cp >> 18));
    out += static_cast<char>(0x80 | ((cp >> 12) & 0x3F));
    out += static_cast<char>(0x80 | ((cp >> 6) & 0x3F));
    out += static_cast<char>(0x80 | (cp & 0x3F));
  }
}

// Length of the valid UTF-8 sequence at s[i], or 0 if invalid (RFC 3629 §4 table).
static size_t utf8_seq_len(std::string_view s, size_t i) {
  auto b = [&](size_t k) { return static_cast<unsigned char>(s[k]); };
  unsigned char c = b(i);
  if (c < 0x80) return 1;
  size_t n = s.size() - i;
  auto cont = [&](size_t k) { return (b(k) & 0xC0) == 0x80; };
  if (c >= 0xC2 && c <= 0xDF) return n >= 2 && cont(i + 1) ? 2 : 0;
  if (c >= 0xE0 && c <= 0xEF) {
    if (n < 3 || !cont(i + 1) || !cont(i + 2)) return 0;
    if (c == 0xE0 && b(i + 1) < 0xA0) return 0;  // overlong
    if (c == 0xED && b(i + 1) > 0x9F) return 0;  // surrogates
    return 3;
  }
  if (c >= 0xF0 && c <= 0xF4) {
    if (n < 4 || !cont(i + 1) || !cont(i + 2) || !cont(i + 3)) return 0;
    if (c == 0xF0 && b(i + 1) < 0x90) return 0;  // overlong
    if (c == 0xF4 && b(i + 1) > 0x8F) return 0;  // > U+10FFFF
    return 4;
  }
  return 0;
}

bool is_ascii(std::string_view s) {
  for (unsigned char c : s)
    if (c >= 0x80) return false;
  return true;
}

bool is_valid_utf8(std::string_view s) {
  for (size_t i = 0; i < s.size();) {
    size_t n = utf8_seq_len(s, i);
    if (n == 0) return false;
    i += n;
  }
  return true;
}

std::string sanitize_utf8(std::string_view s, bool* had_invalid) {
  std::string out;
  out.reserve(s.size());
  for (size_t i = 0; i < s.size();) {
    size_t n = utf8_seq_len(s, i);
    if (n == 0) {
      if (had_invalid) *had_invalid = true;
      append_replacement(out);
      ++i;
    } else {
      out.append(s.substr(i, n));
      i += n;
    }
  }
  return out;
}

namespace {
// Windows-1252 to UTF-8, with upper(c) giving the code point of each byte from 0xA0 up (Latin-1
// itself, or a variant's letters in place).
template <class Upper>
std::string western_to_utf8(std::string_view s, Upper upper) {
  std::string out;
  out.reserve(s.size() + s.size() / 4);
  for (unsigned char c : s) {
    if (c < 0x80) out += static_cast<char>(c);
    else if (c < 0xA0) append_utf8(out, kCp1252High[c - 0x80]);
    else append_utf8(out, upper(c));
  }
  return out;
}

// Undeclared text recognised as Turkish is read as Windows-1254, the superset Turkish Windows
// sends (as ISO-8859-1 is read as Windows-1252): Windows-1252 with the six Turkish letters.
std::string turkish_to_utf8(std::string_view s) {
  return western_to_utf8(s, [](unsigned char c) -> uint32_t {
    switch (c) {
      case 0xD0: return 0x011E;  // Ğ
      case 0xDD: return 0x0130;  // İ
      case 0xDE: return 0x015E;  // Ş
      case 0xF0: return 0x011F;  // ğ
      case 0xFD: return 0x0131;  // ı
      case 0xFE: return 0x015F;  // ş
      default: return c;
    }
  });
}
}  // namespace

std::string cp1252_to_utf8(std::string_view s) {
  return western_to_utf8(s, [](unsigned char c) -> uint32_t { return c; });
}

std::optional<std::string> canonical_charset(std::string_view label) {
  std::string l = normalize_label(label);
  if (l.empty()) return std::nullopt;
  struct Alias {
    std::string_view label, name;
  };
  static constexpr Alias kAliases[] = {
      {"utf-8", "UTF-8"}, {"utf8", "UTF-8"}, {"unicode-1-1-utf-8", "UTF-8"},
      {"us-ascii", "US-ASCII"}, {"ascii", "US-ASCII"}, {"ansi_x3.4-1968", "US-ASCII"},
      {"iso646-us", "US-ASCII"}, {"us", "US-ASCII"},
      // WHATWG Encoding: ISO-8859-1 labels mean Windows-1252 in practice.
      {"iso-8859-1", "WINDOWS-1252"}, {"iso8859-1", "WINDOWS-1252"}, {"iso_8859-1", "WINDOWS-1252"},
      {"latin1", "WINDOWS-1252"}, {"latin-1", "WINDOWS-1252"}, {"l1", "WINDOWS-1252"},
      {"cp819", "WINDOWS-1252"},
      {"shift_jis", "CP932"}, {"shift-jis", "CP932"}, {"sjis", "CP932"}, {"x-sjis", "CP932"},
      {"ms_kanji", "CP932"}, {"csshiftjis", "CP932"}, {"windows-31j", "CP932"},
      {"cp932", "CP932"}, {"ms932", "CP932"}, {"x-ms-cp932", "CP932"},
      {"iso-2022-jp", "ISO-2022-JP"}, {"csiso2022jp", "ISO-2022-JP"},
      {"iso-2022-jp-1", "ISO-2022-JP"}, {"iso-2022-jp-2", "ISO-2022-JP"},
      {"iso-2022-jp-3", "ISO-2022-JP"}, {"cp50220", "ISO-2022-JP"}, {"cp50221", "ISO-2022-JP"},
      {"euc-jp", "EUC-JP-MS"}, {"eucjp", "EUC-JP-MS"}, {"x-euc-jp", "EUC-JP-MS"},
      {"cseucpkdfmtjapanese", "EUC-JP-MS"}, {"euc-jp-ms", "EUC-JP-MS"},
      {"gb2312", "GB18030"}, {"gbk", "GB18030"}, {"gb18030", "GB18030"}, {"x-gbk", "GB18030"},
      {"cp936", "GB18030"}, {"euc-cn", "GB18030"}, {"csgb2312", "GB18030"},
      {"gb_2312-80", "GB18030"}, {"chinese", "GB18030"}, {"windows-936", "GB18030"},
      {"big5", "BIG5-HKSCS"}, {"big-5", "BIG5-HKSCS"}, {"x-x-big5", "BIG5-HKSCS"},
      {"cn-big5", "BIG5-HKSCS"}, {"csbig5", "BIG5-HKSCS"}, {"big5-hkscs", "BIG5-HKSCS"},
      {"cp950", "BIG5-HKSCS"},
      {"euc-kr", "CP949"}, {"ks_c_5601-1987", "CP949"}, {"cp949", "CP949"}, {"korean", "CP949"},
      {"ks_c_5601-1989", "CP949"}, {"iso-2022-kr", "ISO-2022-KR"},
      {"koi8-r", "KOI8-R"}, {"koi8r", "KOI8-R"}, {"cskoi8r", "KOI8-R"}, {"koi8-u", "KOI8-U"},
      {"koi8-ru", "KOI8-RU"},
      {"tis-620", "CP874"}, {"windows-874", "CP874"}, {"cp874", "CP874"},
      {"utf-7", "UTF-7"}, {"utf-16", "UTF-16"}, {"utf-16le", "UTF-16LE"},
      {"utf-16be", "UTF-16BE"},
  };
  for (const auto& a : kAliases)
    if (a.label == l) return std::string(a.name);
  // ISO-8859-N and Windows-125N in their usual spellings.
  for (std::string_view prefix : {"iso-8859-", "iso8859-", "iso_8859-", "iso8859_"}) {
    if (l.starts_with(prefix)) {
      std::string_view n = std::string_view(l).substr(prefix.size());
      if (auto colon = n.find(':'); colon != std::string_view::npos) n = n.substr(0, colon);
      // Only 2..16 name a part, so the value saturates above 16 instead of overflowing on
      // a long run of digits ("iso-8859-99999999999", found by tests/fuzz).
      int v = 0;
      bool digits = true;
      for (char c : n) {
        if (!std::isdigit(static_cast<unsigned char>(c))) {
          digits = false;
          break;
        }
        if (v <= 16) v = v * 10 + (c - '0');
      }
      if (digits && v >= 2 && v <= 16 && v != 12) return "ISO-8859-" + std::to_string(v);
      return std::nullopt;
    }
  }
  for (std::string_view prefix : {"windows-", "cp", "x-cp", "win-", "windows"}) {
    if (l.starts_with(prefix)) {
      std::string_view n = std::string_view(l).substr(prefix.size());
      if (n.size() == 4 && n.starts_with("125") && n[3] >= '0' && n[3] <= '8')
        return "WINDOWS-" + std::string(n);
    }
  }
  // Anything else iconv knows by that name (ibm866, mac, ...), if the label looks sane.
  if (!label_chars_ok(l)) return std::nullopt;
  bool owned = false;
  std::string upper = l;
  for (auto& c : upper) c = static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
  iconv_t cd = cache().get(upper, &owned);
  if (cd == reinterpret_cast<iconv_t>(-1)) return std::nullopt;
  if (owned) iconv_close(cd);
  return upper;
}

namespace {
// ISO-8859-9 (Turkish) differs from ISO-8859-1 in six letters only: Ğ İ Ş ğ ı ş at 0xD0 0xDD
// 0xDE 0xF0 0xFD 0xFE, which Windows-1252 reads as the Icelandic Ð Ý Þ ð ý þ. Turkish text
// is full of them (ı alone is about 5% of its letters), beside ç ö ü and the circumflexed
// â î û it shares with Latin-1, and it has no other accented letter; Icelandic, Faroese,
// Czech (ISO-8859-2 ý at 0xFD) and Romanian (ţ at 0xFE) carry at least as many letters
// Turkish does not have (á é í ó ú æ ø ě č ř ů ă). So a text is Turkish when the six letters
// occur kTurkishMinLetters times and the Turkish letters outnumber the other accented ones
// kTurkishOverOthers to one. Only letters inside words count: the byte touches an ASCII
// letter and neither neighbour is a control or a C1/symbol byte (0x80-0xBF), which keeps the
// random bytes of binary junk (a spam's padding) from voting. One pass, no allocation.
bool looks_turkish(std::string_view b) {
  auto letter8 = [](unsigned char c) { return c >= 0xC0 && c != 0xD7 && c != 0xF7; };
  auto ascii_letter = [](unsigned char c) { return (c | 0x20) >= 'a' && (c | 0x20) <= 'z'; };
  auto texty = [&](unsigned char c) {
    return (c >= 0x20 && c < 0x7F) || c == '\t' || c == '\r' || c == '\n' || letter8(c);
  };
  size_t turkish = 0, shared = 0, other = 0;
  for (size_t i = 0; i < b.size(); ++i) {
    unsigned char c = static_cast<unsigned char>(b[i]);
    if (!letter8(c)) continue;
    bool has_prev = i > 0, has_next = i + 1 < b.size();
    unsigned char p = has_prev ? static_cast<unsigned char>(b[i - 1]) : ' ';
    unsigned char n = has_next ? static_cast<unsigned char>(b[i + 1]) : ' ';
    if (!texty(p) || !texty(n) || !(ascii_letter(p) || ascii_letter(n))) continue;
    switch (c) {
      case 0xD0: case 0xDD: case 0xDE: case 0xF0: case 0xFD: case 0xFE:
        ++turkish;
        break;
      case 0xC7: case 0xD6: case 0xDC: case 0xE7: case 0xF6: case 0xFC:  // Ç Ö Ü ç ö ü
      case 0xC2: case 0xCE: case 0xDB: case 0xE2: case 0xEE: case 0xFB:  // Â Î Û â î û
        ++shared;
        break;
      default:
        ++other;
    }
  }
  return turkish >= kTurkishMinLetters && turkish + shared >= kTurkishOverOthers * other;
}
}  // namespace

std::string_view guess_undeclared_charset(std::string_view b) {
  // RFC 1468: ISO-2022-JP is 7-bit and announces itself with ESC $ B / ESC $ @.
  if (b.find("\x1b$B") != std::string_view::npos || b.find("\x1b$@") != std::string_view::npos)
    return "iso-2022-jp";
  if (is_ascii(b) || is_valid_utf8(b)) return {};
  // Count two-byte units as Shift_JIS (lead 81-9F/E0-FC, trail 40-7E/80-FC) and as an EUC
  // (both bytes A1-FE; EUC-JP's 8E/8F prefixes), and the units that are kana in each
  // (Shift_JIS leads 82/83, EUC-JP leads A4/A5): Japanese text is full of kana, while
  // Windows-1252 text whose accented letters happen to form valid pairs is not.
  size_t sjis = 0, sjis_bad = 0, sjis_kana = 0, euc = 0, euc_bad = 0, euc_kana = 0;
  auto at = [&](size_t i) { return i < b.size() ? static_cast<unsigned char>(b[i]) : 0; };
  for (size_t i = 0; i < b.size(); ++i) {  // Shift_JIS reading
    unsigned char c = at(i), t = at(i + 1);
    if (c < 0x80 || (c >= 0xA1 && c <= 0xDF)) continue;  // ASCII, half-width katakana
    if (((c >= 0x81 && c <= 0x9F) || (c >= 0xE0 && c <= 0xFC)) &&
        ((t >= 0x40 && t <= 0x7E) || (t >= 0x80 && t <= 0xFC))) {
      ++sjis;
      sjis_kana += c == 0x82 || c == 0x83;
      ++i;
    } else {
      ++sjis_bad;
    }
  }
  for (size_t i = 0; i < b.size(); ++i) {  // EUC reading
    unsigned char c = at(i), t = at(i + 1);
    if (c < 0x80) continue;
    if (((c >= 0xA1 && c <= 0xFE) || c == 0x8E) && t >= 0xA1 && t <= 0xFE) {
      ++euc;
      euc_kana += c == 0xA4 || c == 0xA5;
      ++i;
    } else {
      ++euc_bad;
    }
  }
  // Big5 (traditional Chinese): leads A1-F9, trails 40-7E or A1-FE. Its low trails are
  // what no EUC allows, so GB2312 text never reads as Big5 and Big5 text fails the EUC test.
  size_t big5 = 0, big5_bad = 0, big5_low = 0;
  for (size_t i = 0; i < b.size(); ++i) {
    unsigned char c = at(i), t = at(i + 1);
    if (c < 0x80) continue;
    if (c >= 0xA1 && c <= 0xF9 && ((t >= 0x40 && t <= 0x7E) || (t >= 0xA1 && t <= 0xFE))) {
      ++big5;
      big5_low += t < 0x80;
      ++i;
    } else {
      ++big5_bad;
    }
  }
  constexpr size_t kMinUnits = 4;
  if (euc >= kMinUnits && euc_bad == 0) {
    if (euc_kana * 5 >= euc) return "euc-jp";
    if (euc >= 2 * kMinUnits) return "gb2312";  // Chinese: no kana rows
  }
  if (sjis >= kMinUnits && sjis_bad == 0 && sjis_kana * 5 >= sjis) return "shift_jis";
  // Windows-1252 text can pair an accented letter with the next letter into a valid unit, so
  // Big5 also needs a fifth of its units with a low trail (Chinese text has about half) and
  // its units to be at least a fifth of the bytes (Latin text with accents has a few %).
  if (big5 >= 2 * kMinUnits && big5_bad == 0 && big5_low * 5 >= big5 && big5 * 2 * 5 >= b.size())
    return "big5";
  if (looks_turkish(b)) return "iso-8859-9";
  return {};
}

std::string to_utf8(std::string_view bytes, std::string_view charset, DecodeIssues* issues) {
  bool invalid = false, unknown = false;
  std::string out;
  std::optional<std::string> name;
  if (!trim(charset).empty()) {
    name = canonical_charset(charset);
    if (!name) unknown = true;
  }
  if (!name || *name == "US-ASCII") {
    // RFC 6532 reality: undeclared 8-bit text is usually UTF-8; Japanese and Chinese mailers
    // that leave the charset out are recognised by their byte structure; else Windows-1252.
    const bool plain = is_ascii(bytes) && bytes.find('\x1b') == std::string_view::npos;
    std::string_view guess = unknown || plain ? std::string_view() : guess_undeclared_charset(bytes);
    if (plain) {
      out = std::string(bytes);
    } else if (guess == "iso-8859-9") {
      out = turkish_to_utf8(bytes);
    } else if (!guess.empty()) {
      DecodeIssues inner;
      out = to_utf8(bytes, guess, &inner);
      invalid |= inner.invalid_data;
    } else if (is_ascii(bytes) || is_valid_utf8(bytes)) {
      out = std::string(bytes);
    } else {
      out = cp1252_to_utf8(bytes);
    }
  } else if (*name == "UTF-8") {
    out = sanitize_utf8(bytes, &invalid);
  } else if (*name == "WINDOWS-1252") {
    out = cp1252_to_utf8(bytes);
  } else if (*name == "ISO-2022-JP") {
    out = convert_with("EUC-JP-MS", iso2022jp_to_eucjp(bytes, &invalid), &invalid, &unknown);
  } else if (is_ascii(bytes) && ascii_compatible(*name)) {
    out = std::string(bytes);  // these charsets map ASCII to itself: skip iconv
  } else {
    out = convert_with(*name, bytes, &invalid, &unknown);
  }
  if (issues) {
    issues->invalid_data |= invalid;
    issues->unknown_charset |= unknown;
  }
  return out;
}

std::string unfold(std::string_view raw) {
  // RFC 5322 §2.2.3: drop each CR and LF, keep the WSP that follows. Copies runs.
  raw = trim(raw);
  std::string out;
  out.reserve(raw.size());
  size_t run = 0;
  for (size_t i = 0; i < raw.size(); ++i) {
    char c = raw[i];
    if (c == '\r' || c == '\n') {
      out.append(raw.data() + run, i - run);
      run = i + 1;
    }
  }
  if (run == 0) return std::string(raw);
  out.append(raw.data() + run, raw.size() - run);
  return std::string(trim(out));
}

std::string decode_header_text(std::string_view raw_in, DecodeIssues* issues,
                               std::string_view fallback_charset) {
  std::string s = unfold(raw_in);
  if (s.find("=?") == std::string::npos && is_ascii(s)) {
    for (auto& c : s)
      if (c == '\0') c = ' ';
    return s;  // fast path: nothing to decode
  }
  DecodeIssues local;
  DecodeIssues& is = issues ? *issues : local;
  std::string out;
  out.reserve(s.size());

  auto plain = [&](std::string_view text) {
    if (is_ascii(text) || is_valid_utf8(text)) {
      out.append(text);
    } else if (!fallback_charset.empty()) {
      DecodeIssues tmp;
      out += to_utf8(text, fallback_charset, &tmp);
      is.invalid_data |= tmp.invalid_data;
    } else {
      DecodeIssues tmp;
      out += to_utf8(text, "", &tmp);  // guessed (Shift_JIS, EUC-JP ...) or Windows-1252
      is.invalid_data |= tmp.invalid_data;
    }
  };

  std::string pending_bytes, pending_charset;  // adjacent words in one charset, joined
  auto flush = [&]() {
    if (pending_charset.empty()) return;
    out += to_utf8(pending_bytes, pending_charset, &is);
    pending_bytes.clear();
    pending_charset.clear();
  };

  size_t pos = 0;
  uint32_t words = 0;
  bool prev_was_word = false;
  std::string_view sv(s);
  WordScanner scanner(sv);
  while (pos < sv.size()) {
    std::optional<EncodedWord> w = scanner.next(pos);
    if (!w || words >= kMimeMaxEncodedWords) {
      if (w) is.words_limit = true;
      flush();
      plain(sv.substr(pos));
      break;
    }
    std::string_view between = sv.substr(pos, w->begin - pos);
    bool only_ws = std::all_of(between.begin(), between.end(), [](char c) { return c == ' ' || c == '\t'; });
    if (!(prev_was_word && only_ws)) {  // RFC 2047 §6.2: drop whitespace between words
      flush();
      plain(between);
    }
    ++words;
    bool bad = false;
    std::string bytes = w->encoding == 'B' ? decode_b(w->text, &bad) : decode_q(w->text, &bad);
    if (bad) is.bad_encoded_word = true;
    std::string cs = normalize_label(w->charset);
    if (cs != pending_charset) flush();
    pending_charset = cs.empty() ? "us-ascii" : cs;
    pending_bytes += bytes;
    pos = w->end;
    prev_was_word = true;
  }
  flush();
  // Control characters other than TAB make no sense in a decoded header; keep the text
  // single-line so rules anchored at line ends behave.
  for (auto& c : out)
    if (c == '\r' || c == '\n' || c == '\0') c = ' ';
  return out;
}

std::string decode_rfc2231_value(std::string_view value, DecodeIssues* issues) {
  std::string_view charset;
  size_t q1 = value.find('\'');
  size_t q2 = q1 == std::string_view::npos ? q1 : value.find('\'', q1 + 1);
  if (q2 != std::string_view::npos) {
    charset = value.substr(0, q1);  // language (between the quotes) is ignored
    value = value.substr(q2 + 1);
  }
  return to_utf8(percent_decode(value), charset.empty() ? std::string_view("utf-8") : charset, issues);
}

}  // namespace tsubame::filter
