// filter/classifier.cc: tokeniser and Robinson-Fisher scoring (see classifier.h).
// Pure functions; no failure modes (malformed UTF-8 is skipped byte by byte).
#include "filter/classifier.h"

#include <algorithm>
#include <array>
#include <atomic>
#include <bit>
#include <cctype>
#include <cmath>
#include <cstdio>
#include <map>
#include <mutex>
#include <optional>
#include <shared_mutex>
#include <unordered_map>

#include "common/bytes.h"
#include "filter/charset.h"
#include "store/tokens.h"

namespace tsubame::filter {

namespace {

uint64_t mix64(uint64_t z) {  // SplitMix64 finaliser
  z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
  z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
  return z ^ (z >> 31);
}

uint64_t fnv1a(uint64_t h, std::string_view s) {
  for (unsigned char c : s) {
    h ^= c;
    h *= 0x100000001b3ULL;
  }
  return h;
}

// token_hash() in two steps, so that a tokeniser hashes its prefix once per text:
// prefix_state(prefix) is FNV-1a over the prefix and the 0x1f separator, and
// hash_from(state, token) continues it over the token and mixes.
uint64_t prefix_state(std::string_view prefix) { return fnv1a(fnv1a(0xcbf29ce484222325ULL, prefix), "\x1f"); }
uint64_t hash_from(uint64_t state, std::string_view token) { return mix64(fnv1a(state, token)); }

// Decodes one UTF-8 code point at s[i]; returns its length (1 for an invalid byte, cp = -1).
size_t next_cp(std::string_view s, size_t i, int32_t& cp) {
  unsigned char c = static_cast<unsigned char>(s[i]);
  size_t n = c < 0x80 ? 1 : (c >> 5) == 6 ? 2 : (c >> 4) == 14 ? 3 : (c >> 3) == 30 ? 4 : 0;
  if (n == 0 || i + n > s.size()) {
    cp = -1;
    return 1;
  }
  if (n == 1) {
    cp = c;
    return 1;
  }
  int32_t v = c & (0x7f >> n);
  for (size_t k = 1; k < n; ++k) {
    unsigned char cc = static_cast<unsigned char>(s[i + k]);
    if ((cc >> 6) != 2) {
      cp = -1;
      return 1;
    }
    v = (v << 6) | (cc & 0x3f);
  }
  cp = v;
  return n;
}

bool is_cjk(int32_t cp) {
  return (cp >= 0x3040 && cp <= 0x30FF) ||   // Hiragana, Katakana
         (cp >= 0x3400 && cp <= 0x4DBF) ||   // CJK extension A
         (cp >= 0x4E00 && cp <= 0x9FFF) ||   // CJK unified ideographs
         (cp >= 0xF900 && cp <= 0xFAFF) ||   // CJK compatibility ideographs
         (cp >= 0xFF66 && cp <= 0xFF9F) ||   // half-width Katakana
         (cp >= 0xAC00 && cp <= 0xD7AF) ||   // Hangul syllables
         (cp >= 0x20000 && cp <= 0x2FFFF);   // CJK extensions B..
}

// The ASCII word characters: letters, digits, ' $ %. is_word_cp() answers from it for
// cp < 0x80, and the tokeniser's ASCII fast path reads it directly.
constexpr std::array<bool, 128> kAsciiWord = [] {
  std::array<bool, 128> t{};
  for (int c = 0; c < 128; ++c)
    t[c] = (c >= '0' && c <= '9') || (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || c == '\'' ||
           c == '$' || c == '%';
  return t;
}();

bool is_word_cp(int32_t cp) {
  if (cp < 0) return false;
  if (cp < 0x80) return kAsciiWord[static_cast<size_t>(cp)];
  if (cp >= 0xFF10 && cp <= 0xFF19) return true;                       // full-width digits
  if ((cp >= 0xFF21 && cp <= 0xFF3A) || (cp >= 0xFF41 && cp <= 0xFF5A)) return true;  // full-width Latin
  if (cp >= 0x2000 && cp <= 0x206F) return false;                      // punctuation, zero-width
  if (cp >= 0x3000 && cp <= 0x303F) return false;                      // CJK punctuation
  if (cp == 0xFEFF || cp == 0xA0) return false;
  return !is_cjk(cp);                                                   // other letters
}

void append_lower(std::string& w, std::string_view bytes, int32_t cp) {
  if (cp >= 'A' && cp <= 'Z') {
    w.push_back(static_cast<char>(cp + 32));
  } else if (cp >= 0xFF21 && cp <= 0xFF3A) {  // full-width A-Z -> a-z
    w.push_back(static_cast<char>('a' + (cp - 0xFF21)));
  } else if (cp >= 0xFF41 && cp <= 0xFF5A) {
    w.push_back(static_cast<char>('a' + (cp - 0xFF41)));
  } else if (cp >= 0xFF10 && cp <= 0xFF19) {
    w.push_back(static_cast<char>('0' + (cp - 0xFF10)));
  } else {
    w.append(bytes);
  }
}

}  // namespace

uint64_t token_hash(std::string_view prefix, std::string_view token) {
  return hash_from(prefix_state(prefix), token);
}

uint64_t extra_token_hash(std::string_view extra) { return token_hash("x", extra); }

std::string sender_key(std::string_view from_address, std::string_view origin_network) {
  std::string key = to_lower(from_address);
  key += '|';
  key += origin_network;
  return key;
}

std::string_view sender_key_network(std::string_view key) {
  size_t bar = key.rfind('|');
  return bar == std::string_view::npos ? std::string_view() : key.substr(bar + 1);
}

uint64_t sender_token_hash(std::string_view key) { return extra_token_hash("sender:" + std::string(key)); }

std::string sender_domain_key(std::string_view from_domain, std::string_view origin_network) {
  if (from_domain.empty() || origin_network.empty()) return {};
  return sender_key("@" + std::string(from_domain), origin_network);
}

std::string_view sender_key_domain(std::string_view key) {
  if (!key.starts_with('@')) return {};
  size_t bar = key.rfind('|');
  return bar == std::string_view::npos ? key.substr(1) : key.substr(1, bar - 1);
}

bool shared_mail_domain(std::string_view domain, std::span<const std::string> list) {
  for (const std::string& d : list) {
    if (d.empty() || !domain.ends_with(d)) continue;
    if (domain.size() == d.size() || domain[domain.size() - d.size() - 1] == '.') return true;
  }
  return false;
}

// Free mail and ISP mailboxes whose addresses belong to anyone who signs up (2002 to now;
// filter/README.md "Domain memory"). A postmaster adds local ones with
// filter.shared_mail_domains.
const char* const kSharedMailDomainsDefault =
    "gmail.com, googlemail.com, yahoo.com, ymail.com, rocketmail.com, yahoo.co.uk, yahoo.co.jp, "
    "yahoo.fr, yahoo.de, yahoo.it, yahoo.es, yahoo.ca, yahoo.com.au, yahoo.co.in, yahoo.com.br, "
    "yahoo.com.cn, yahoo.com.hk, yahoo.com.tw, hotmail.com, hotmail.co.uk, hotmail.fr, hotmail.de, "
    "hotmail.it, hotmail.es, outlook.com, outlook.jp, live.com, live.jp, live.co.uk, msn.com, "
    "passport.com, aol.com, aim.com, icloud.com, me.com, mac.com, mail.com, email.com, usa.net, "
    "gmx.net, gmx.de, gmx.com, web.de, t-online.de, mail.ru, bk.ru, list.ru, inbox.ru, "
    "yandex.ru, yandex.com, rambler.ru, ukr.net, qq.com, 163.com, 126.com, yeah.net, sina.com, "
    "sina.cn, sohu.com, 139.com, naver.com, daum.net, hanmail.net, rediffmail.com, protonmail.com, "
    "proton.me, pm.me, tutanota.com, zoho.com, fastmail.com, fastmail.fm, hushmail.com, gmx.us, "
    "excite.com, lycos.com, netscape.net, juno.com, netzero.net, netzero.com, earthlink.net, "
    "compuserve.com, comcast.net, verizon.net, att.net, sbcglobal.net, bellsouth.net, cox.net, "
    "charter.net, btinternet.com, orange.fr, wanadoo.fr, free.fr, laposte.net, libero.it, "
    "eircom.net, ntlworld.com, blueyonder.co.uk, docomo.ne.jp, ezweb.ne.jp, au.com, "
    "softbank.ne.jp, i.softbank.jp, nifty.com, biglobe.ne.jp, ocn.ne.jp, so-net.ne.jp";

std::vector<std::string> split_domain_list(std::string_view list) {
  std::vector<std::string> out;
  size_t i = 0;
  while (i < list.size()) {
    auto sep = [](char c) { return c == ',' || std::isspace(static_cast<unsigned char>(c)); };
    while (i < list.size() && sep(list[i])) ++i;
    size_t e = i;
    while (e < list.size() && !sep(list[e])) ++e;
    std::string_view d = list.substr(i, e - i);
    i = e;
    while (!d.empty() && (d.front() == '@' || d.front() == '.')) d.remove_prefix(1);
    if (!d.empty()) out.push_back(to_lower(d));
  }
  return out;
}

SenderTokens sender_tokens(const ClassifierInput& in, const ClassifierParams& p) {
  SenderTokens t;
  if (!in.sender.empty()) t.address = sender_token_hash(in.sender);
  if (!in.sender_domain.empty() && !shared_mail_domain(sender_key_domain(in.sender_domain), p.shared_mail_domains))
    t.domain = sender_token_hash(in.sender_domain);
  return t;
}

uint64_t pair_hash(uint64_t first, uint64_t second) {
  return mix64(first * 0x9E3779B97F4A7C15ULL + second + 0x632BE59BD9B4E019ULL);
}

namespace {

// The tokeniser, once: emit(hash, name) is called for every token, where name() builds its
// readable form ("word", "word1 word2", a CJK bigram); kNames says whether any caller will
// (the scoring path never does, and keeps no text for it). Stops once `full()` is true.
template <bool kNames, class Emit, class Full>
void tokenize_impl(std::string_view text, std::string_view prefix, bool pairs, Emit&& emit,
                   Full&& full) {
  if (text.size() > kClassifierTextCap) text = text.substr(0, kClassifierTextCap);
  // token_hash(prefix, t) with the prefix and separator hashed once per text, not per token.
  const uint64_t state = prefix_state(prefix);
  auto hash_of = [state](std::string_view t) { return hash_from(state, t); };
  std::string word, prev_word_text;
  uint64_t prev_word = 0;
  bool have_prev = false;
  int32_t prev_cjk = -1;
  std::string prev_cjk_bytes;
  size_t cjk_run = 0;
  auto flush_word = [&]() {
    if (word.empty()) return;
    while (!word.empty() && word.back() == '\'') word.pop_back();
    if (word.size() >= kMinTokenBytes) {
      uint64_t h;
      std::string text_of;
      if (word.size() > kMaxTokenBytes) {
        // SpamBayes' idea: a long word is summarised by its first byte and length bucket.
        text_of = "long:" + word.substr(0, 1) + std::to_string(word.size() / 10);
        h = hash_of(text_of);
      } else {
        h = hash_of(word);
      }
      const std::string& shown = text_of.empty() ? word : text_of;
      emit(h, [&] { return shown; });
      if (pairs && have_prev)
        emit(pair_hash(prev_word, h), [&] { return prev_word_text + " " + shown; });
      prev_word = h;
      if constexpr (kNames) prev_word_text = shown;
      have_prev = true;
    }
    word.clear();
  };
  auto flush_cjk = [&]() {
    if (cjk_run == 1) emit(hash_of(prev_cjk_bytes), [&] { return prev_cjk_bytes; });
    cjk_run = 0;
    prev_cjk = -1;
  };
  for (size_t i = 0; i < text.size() && !full();) {
    // ASCII (most text): a table lookup, no UTF-8 decoding; the same tokens as the general
    // path below (an ASCII byte is never CJK, zero-width or a multi-byte word character).
    if (unsigned char c = static_cast<unsigned char>(text[i]); c < 0x80) {
      ++i;
      flush_cjk();
      if (kAsciiWord[c]) {
        word.push_back(c >= 'A' && c <= 'Z' ? static_cast<char>(c + 32) : static_cast<char>(c));
        continue;
      }
      flush_word();
      continue;
    }
    int32_t cp;
    size_t n = next_cp(text, i, cp);
    std::string_view bytes = text.substr(i, n);
    i += n;
    if (cp >= 0 && is_cjk(cp)) {
      flush_word();
      have_prev = false;
      if (prev_cjk >= 0) {
        std::string bigram = prev_cjk_bytes;
        bigram.append(bytes);
        emit(hash_of(bigram), [&] { return bigram; });
      }
      prev_cjk = cp;
      prev_cjk_bytes.assign(bytes);
      ++cjk_run;
      continue;
    }
    flush_cjk();
    if (is_word_cp(cp)) {
      append_lower(word, bytes, cp);
      continue;
    }
    // Zero-width characters inside a word are dropped, not separators (obfuscation).
    if (cp == 0x200B || cp == 0x200C || cp == 0x200D || cp == 0x2060 || cp == 0xFEFF ||
        cp == 0xAD)
      continue;
    flush_word();
  }
  flush_word();
  flush_cjk();
}

}  // namespace

void tokenize_text(std::string_view text, std::string_view prefix, std::vector<uint64_t>& out,
                   bool pairs) {
  tokenize_impl<false>(
      text, prefix, pairs, [&](uint64_t h, auto&&) { out.push_back(h); },
      [&] { return out.size() >= 4 * kMaxTokensPerMessage; });
}

std::vector<std::string_view> text_scripts(std::string_view text) {
  enum { kLatin, kLatinExt, kCyrillic, kGreek, kHan, kKana, kHangul, kArabic, kHebrew, kThai, kOther, kCount };
  static constexpr std::string_view kNames[kCount] = {"latin", "latin-ext", "cyrillic", "greek", "han",
                                                      "kana", "hangul", "arabic", "hebrew", "thai", "other"};
  size_t n[kCount] = {};
  size_t letters = 0;
  if (text.size() > kScriptSampleBytes) text = text.substr(0, kScriptSampleBytes);
  if (is_ascii(text)) return {};  // plain ASCII Latin names no script: no need to decode it
  for (size_t i = 0; i < text.size();) {
    int32_t cp;
    i += next_cp(text, i, cp);
    if (cp < 0) continue;
    int k;
    if (cp < 0x80) {
      if (!std::isalpha(cp)) continue;
      k = kLatin;
    } else if ((cp >= 0xC0 && cp <= 0x24F && cp != 0xD7 && cp != 0xF7) || (cp >= 0x1E00 && cp <= 0x1EFF)) {
      k = kLatinExt;
    } else if (cp >= 0x400 && cp <= 0x52F) {
      k = kCyrillic;
    } else if (cp >= 0x370 && cp <= 0x3FF) {
      k = kGreek;
    } else if ((cp >= 0x3040 && cp <= 0x30FF) || (cp >= 0xFF66 && cp <= 0xFF9F)) {
      k = kKana;
    } else if (cp >= 0xAC00 && cp <= 0xD7AF) {
      k = kHangul;
    } else if (is_cjk(cp)) {
      k = kHan;
    } else if (cp >= 0x600 && cp <= 0x6FF) {
      k = kArabic;
    } else if (cp >= 0x590 && cp <= 0x5FF) {
      k = kHebrew;
    } else if (cp >= 0xE00 && cp <= 0xE7F) {
      k = kThai;
    } else if (is_word_cp(cp) && !(cp >= 0xFF10 && cp <= 0xFF5A)) {
      k = kOther;
    } else {
      continue;
    }
    ++n[k];
    ++letters;
  }
  std::vector<std::string_view> out;
  if (letters < kScriptMinLetters) return out;
  for (int k = kLatinExt; k < kCount; ++k)
    if (n[k] * 100 >= letters * kScriptMinPercent) out.push_back(kNames[k]);
  return out;
}

bool host_char(char c) {
  return std::isalnum(static_cast<unsigned char>(c)) || c == '-' || c == '.';
}

std::string list_id(std::string_view value) {
  size_t lt = value.rfind('<');
  if (lt == std::string_view::npos) return {};
  size_t gt = value.find('>', lt);
  if (gt == std::string_view::npos) return {};
  std::string_view id = trim(value.substr(lt + 1, gt - lt - 1));
  size_t dot = id.find('.');
  if (dot == 0 || dot == std::string_view::npos || id.find('.', dot + 1) == std::string_view::npos)
    return {};
  if (!std::all_of(id.begin(), id.end(), [](char c) { return host_char(c) || c == '_'; }))
    return {};
  return to_lower(id);
}

namespace {

// Adds the host after each "@" and "://" in a (lower-case) header value.
void add_hosts_in(std::string_view v, std::vector<std::string>& out) {
  for (size_t i = 0; i < v.size(); ++i) {
    size_t b;
    if (v[i] == '@') b = i + 1;
    else if (v.substr(i, 3) == "://") b = i + 3;
    else continue;
    size_t e = b;
    while (e < v.size() && host_char(v[e])) ++e;
    std::string_view h = v.substr(b, e - b);
    while (!h.empty() && (h.back() == '.' || h.back() == '-')) h.remove_suffix(1);
    if (h.find('.') != std::string_view::npos && out.size() < kMaxListHosts) out.emplace_back(h);
  }
}

// The bytes a separator rule is drawn with.
bool separator_byte(char c) { return c == '_' || c == '-' || c == '=' || c == '*' || c == '~'; }

// A footer separator: "--", "-- " (the signature separator), or a run of five or more of one
// of _ - = * ~ and nothing else but trailing blanks.
bool separator_line(std::string_view line) {
  while (!line.empty() && (line.back() == ' ' || line.back() == '\t' || line.back() == '\r'))
    line.remove_suffix(1);
  if (line == "--") return true;
  if (line.size() < 5) return false;
  char c = line.front();
  if (!separator_byte(c)) return false;
  return line.find_first_not_of(c) == std::string_view::npos;
}

}  // namespace

std::vector<std::string> list_hosts(
    std::span<const std::pair<std::string_view, std::string_view>> headers) {
  std::vector<std::string> out;
  for (const auto& [name, value] : headers) {
    if (iequals(name, "list-id")) {
      std::string id = list_id(value);
      if (!id.empty() && out.size() < kMaxListHosts) out.push_back(id.substr(id.find('.') + 1));
    } else if (iequals(name, "list-post") || iequals(name, "list-unsubscribe") ||
               iequals(name, "list-subscribe") || iequals(name, "list-help") ||
               iequals(name, "list-archive") || iequals(name, "list-owner")) {
      add_hosts_in(to_lower(value), out);
    }
  }
  std::sort(out.begin(), out.end());
  out.erase(std::unique(out.begin(), out.end()), out.end());
  return out;
}

size_t list_footer_start(std::string_view body, std::span<const std::string> hosts) {
  if (hosts.empty() || body.empty()) return body.size();
  size_t from = body.size() > kListFooterWindow ? body.size() - kListFooterWindow : 0;
  // Candidate lines start at or after `from`.
  size_t i = from == 0 ? 0 : body.find('\n', from);
  if (i == std::string_view::npos) return body.size();
  if (from != 0) ++i;
  const std::string tail = to_lower(body.substr(from));
  auto names_list = [&](size_t pos) {
    std::string_view rest = std::string_view(tail).substr(pos - from);
    for (const auto& h : hosts)
      if (rest.find(h) != std::string_view::npos) return true;
    return false;
  };
  // A footer appended after an HTML part's </html> reaches us as one line with the text
  // before it (HTML collapses line breaks), so a long run of one separator byte between
  // blanks inside a line counts too.
  auto inline_separator = [&](size_t b, size_t e) {
    for (size_t k = b; k < e; ++k) {
      char c = body[k];
      if (!separator_byte(c)) continue;
      if (k > b && body[k - 1] != ' ' && body[k - 1] != '\t') continue;
      size_t r = k;
      while (r < e && body[r] == c) ++r;
      if (r - k >= kInlineSeparatorRun && (r == e || body[r] == ' ' || body[r] == '\t' || body[r] == '\r') &&
          names_list(r))
        return k;
      k = r;
    }
    return std::string_view::npos;
  };
  while (i < body.size()) {
    size_t nl = body.find('\n', i);
    size_t end = nl == std::string_view::npos ? body.size() : nl;
    if (separator_line(body.substr(i, end - i)) && names_list(end)) return i;
    if (size_t k = inline_separator(i, end); k != std::string_view::npos) return k;
    if (nl == std::string_view::npos) break;
    i = nl + 1;
  }
  return body.size();
}

namespace {

// Every token of a message, once, for both tokenize_message() and named_tokens():
// emit(hash, source, name) with source the readable prefix ("subject", "from", "url"; "" for
// the body and the extras) and name() the token's text (called only by those who want it).
template <bool kNames, class Emit, class Full>
void for_each_token(const ClassifierInput& in, Emit&& emit, Full&& full) {
  auto text = [&](std::string_view t, std::string_view prefix, std::string_view source, bool pairs) {
    tokenize_impl<kNames>(
        t, prefix, pairs, [&](uint64_t h, auto&& name) { emit(h, source, name); }, full);
  };
  text(in.subject, "s", "subject", true);
  text(in.body, "", "", true);
  for (const auto& [name, value] : in.headers) {
    const std::string pre = "h:" + to_lower(name);
    // Header values give words only: pairs of Received / list-header words multiplied the
    // delivery-path evidence (shared by list spam and list ham) until it outvoted the body.
    text(value, pre, std::string_view(pre).substr(2), /*pairs=*/false);
  }
  for (std::string_view u : in.urls) text(u, "u", "url", true);
  for (const auto& x : in.extras) emit(extra_token_hash(x), "", [&] { return x; });
}

// Sorts token hashes ascending: least-significant-digit radix sort, eight passes of one byte
// (a pass whose byte is the same in every hash is skipped), for the hundreds to thousands of
// hashes of a message; std::sort for a few. The hashes are uniformly mixed, so no bucket
// runs long, and the sort no longer leads the filter's profile (it took 7-8% of a scan with
// std::sort). Same order as std::sort. The scratch buffer stays with the thread; it holds at
// most 4 * kMaxTokensPerMessage hashes (tokenize_message() stops collecting there).
void sort_hashes(std::vector<uint64_t>& v) {
  const size_t n = v.size();
  if (n < 256) {
    std::sort(v.begin(), v.end());
    return;
  }
  thread_local std::vector<uint64_t> scratch;
  scratch.resize(n);
  size_t counts[8][256] = {};
  for (uint64_t x : v)
    for (int b = 0; b < 8; ++b) ++counts[b][(x >> (8 * b)) & 0xff];
  uint64_t* src = v.data();
  uint64_t* dst = scratch.data();
  for (int b = 0; b < 8; ++b) {
    size_t* c = counts[b];
    if (c[(src[0] >> (8 * b)) & 0xff] == n) continue;  // one bucket: the pass moves nothing
    size_t sum = 0;
    for (size_t i = 0; i < 256; ++i) {
      size_t t = c[i];
      c[i] = sum;
      sum += t;
    }
    for (size_t i = 0; i < n; ++i) {
      uint64_t x = src[i];
      dst[c[(x >> (8 * b)) & 0xff]++] = x;
    }
    std::swap(src, dst);
  }
  if (src != v.data()) std::copy(src, src + n, v.data());
}

}  // namespace

std::vector<uint64_t> tokenize_message(const ClassifierInput& in) {
  std::vector<uint64_t> out;
  for_each_token<false>(
      in, [&](uint64_t h, std::string_view, auto&&) { out.push_back(h); },
      [&] { return out.size() >= 4 * kMaxTokensPerMessage; });
  sort_hashes(out);
  out.erase(std::unique(out.begin(), out.end()), out.end());
  if (out.size() > kMaxTokensPerMessage) out.resize(kMaxTokensPerMessage);
  return out;
}

std::vector<NamedToken> named_tokens(const ClassifierInput& in) {
  std::map<uint64_t, std::string> names;
  for_each_token<true>(
      in,
      [&](uint64_t h, std::string_view source, auto&& name) {
        names.try_emplace(h, source.empty() ? std::string(name()) : std::string(source) + ":" + name());
      },
      [&] { return names.size() >= 4 * kMaxTokensPerMessage; });
  std::vector<NamedToken> out;
  out.reserve(names.size());
  for (auto& [h, n] : names) out.push_back({h, std::move(n)});
  return out;
}

double token_probability(TokenStat t, TokenStat totals, const ClassifierParams& p) {
  if (t.spam + t.ham == 0 || totals.spam == 0 || totals.ham == 0) return p.unknown;
  // The evidence n behind f(w): counts of the larger class are scaled down to the smaller
  // class's size (to the power `balance`), so a word seen in 10 of 2600 ham and none of
  // 500 spam is not taken to be as certain as one seen in 10 of 500 spam.
  const double ts = static_cast<double>(totals.spam), th = static_cast<double>(totals.ham);
  const double rs = ts > th ? std::pow(th / ts, p.balance) : 1.0;
  const double rh = th > ts ? std::pow(ts / th, p.balance) : 1.0;
  const double n = static_cast<double>(t.spam) * rs + static_cast<double>(t.ham) * rh;
  // Per-message frequencies, so that unequal corpus sizes do not bias p(w).
  double s = std::min(1.0, static_cast<double>(t.spam) / static_cast<double>(totals.spam));
  double h = std::min(1.0, static_cast<double>(t.ham) / static_cast<double>(totals.ham));
  double pw = s + h > 0 ? s / (s + h) : p.unknown;
  return (p.strength * p.unknown + n * pw) / (p.strength + n);
}

std::vector<size_t> strongest_tokens(std::span<const TokenStat> stats, TokenStat totals,
                                     const ClassifierParams& p, size_t n) {
  std::vector<std::pair<double, size_t>> dev;  // |f(w) - 0.5|, position
  for (size_t i = 0; i < stats.size(); ++i)
    if (stats[i].spam + stats[i].ham > 0)
      dev.emplace_back(std::fabs(token_probability(stats[i], totals, p) - 0.5), i);
  const size_t keep = std::min(n, dev.size());
  std::partial_sort(dev.begin(), dev.begin() + static_cast<long>(keep), dev.end(),
                    [](const auto& a, const auto& b) { return a.first > b.first; });
  std::vector<size_t> out;
  out.reserve(keep);
  for (size_t k = 0; k < keep; ++k) out.push_back(dev[k].second);
  return out;
}

double chi2q(double x2, unsigned dof) {
  // Q(x2 | v) for even v: exp(-m) * sum_{i < v/2} m^i / i!  with m = x2 / 2.
  double m = x2 / 2.0;
  double term = std::exp(-m);
  double sum = term;
  for (unsigned i = 1; i < dof / 2; ++i) {
    term *= m / i;
    sum += term;
  }
  return std::min(sum, 1.0);
}

ClassifierScore combine(std::span<const TokenStat> stats, TokenStat totals,
                        const ClassifierParams& p) {
  ClassifierScore out;
  char buf[160];
  if (!learned_enough(totals, p)) {
    std::snprintf(buf, sizeof buf, "abstains: learned %llu spam / %llu ham, needs %llu of each",
                  static_cast<unsigned long long>(totals.spam),
                  static_cast<unsigned long long>(totals.ham),
                  static_cast<unsigned long long>(p.min_learned));
    out.detail = buf;
    return out;
  }
  std::vector<double> f;
  f.reserve(stats.size());
  for (const auto& t : stats) {
    if (t.spam + t.ham == 0) continue;
    double fw = token_probability(t, totals, p);
    if (std::fabs(fw - 0.5) >= p.min_deviation) f.push_back(fw);
  }
  if (f.size() > p.max_tokens) {
    std::nth_element(f.begin(), f.begin() + static_cast<long>(p.max_tokens), f.end(),
                     [](double a, double b) { return std::fabs(a - 0.5) > std::fabs(b - 0.5); });
    f.resize(p.max_tokens);
  }
  out.abstained = false;
  out.tokens_used = f.size();
  if (f.empty()) {
    out.probability = 0.5;
  } else {
    double chi = 0.5;
    if (p.combination != Combination::kLogOdds) {
      double ln_spam = 0, ln_ham = 0;
      for (double fw : f) {
        fw = std::clamp(fw, 1e-9, 1 - 1e-9);
        ln_ham += std::log(fw);       // small when tokens are spammy...
        ln_spam += std::log(1 - fw);  // ...and this one small when they are hammy
      }
      unsigned dof = static_cast<unsigned>(2 * f.size());
      double s = 1.0 - chi2q(-2.0 * ln_spam, dof);  // evidence for spam
      double h = 1.0 - chi2q(-2.0 * ln_ham, dof);   // evidence for ham
      chi = (1.0 + s - h) / 2.0;
    }
    if (p.combination == Combination::kChiSquare ||
        (p.combination == Combination::kChiSquareThenLogOdds &&
         std::fabs(chi - 0.5) >= kUncertainBand)) {
      out.probability = chi;
    } else {
      double l = 0;
      for (double fw : f) {
        fw = std::clamp(fw, 1e-6, 1 - 1e-6);
        l += std::log(fw / (1 - fw));
      }
      double z = l * p.log_odds_scale / std::sqrt(static_cast<double>(f.size()));
      out.probability = 1.0 / (1.0 + std::exp(-std::clamp(z, -700.0, 700.0)));
    }
  }
  out.points = classifier_points(out.probability, p);
  out.uncertain = std::fabs(out.probability - 0.5) < kUncertainBand;
  std::snprintf(buf, sizeof buf, "p=%.4f, %zu tokens, counts %llu spam / %llu ham%s",
                out.probability, out.tokens_used, static_cast<unsigned long long>(totals.spam),
                static_cast<unsigned long long>(totals.ham),
                out.uncertain ? ", uncertain: evidence both ways" : "");
  out.detail = buf;
  return out;
}

double classifier_points(double probability, const ClassifierParams& p) {
  double x = std::clamp(2.0 * probability - 1.0, -1.0, 1.0);
  double c = std::copysign(std::pow(std::fabs(x), p.points_power), x);
  return c >= 0 ? c * p.spam_points : c * p.ham_points;
}

double sender_points(TokenStat sender, const ClassifierParams& p) {
  if (sender.spam != 0 || sender.ham < std::max<uint64_t>(p.sender_min_ham, 1)) return 0.0;
  double off = p.sender_points_per_doubling * std::log2(1.0 + static_cast<double>(sender.ham));
  return -std::clamp(off, 0.0, std::max(p.sender_max_points, 0.0));
}

SenderMemory sender_memory(TokenStat address, TokenStat domain, const ClassifierParams& p) {
  SenderMemory m{address, sender_points(address, p), false};
  if (address.spam != 0) return m;
  if (double d = sender_points(domain, p); d < m.points) m = {domain, d, true};
  return m;
}

// Open addressing with linear probing; keys are token hashes (already uniformly mixed).
// The slot is chosen by the key's HIGH bits, so keys in ascending order visit the table in
// ascending slot order: a message's tokens are looked up sorted (sort_hashes) and a scope
// is read from LMDB in hash order, so both sweep the table front to back instead of
// missing the CPU cache on every token. Key 0 marks an empty slot (a token hashing to 0 is
// simply not cached). Counts are kept in 32 bits (16-byte slots); a count that does not fit
// is not cached (insert says so). Grows by doubling at half load, up to kTokenCacheEntries.
class TokenTable {
 public:
  // Sets *out and returns true when the key is in the table.
  bool find(uint64_t key, TokenStat* out) const {
    if (slots_.empty() || key == 0) return false;
    for (size_t i = key >> shift_;; i = (i + 1) & mask_) {
      if (slots_[i].key == key) {
        *out = TokenStat{slots_[i].spam, slots_[i].ham};
        return true;
      }
      if (slots_[i].key == 0) return false;
    }
  }
  // Starts loading the key's home slot into the CPU cache (a lookup a few tokens ahead).
  void prefetch(uint64_t key) const {
    if (!slots_.empty()) __builtin_prefetch(&slots_[key >> shift_]);
  }
  // Returns false when full or when a count needs more than 32 bits (the caller starts over).
  bool insert(uint64_t key, TokenStat stat) {
    if (key == 0) return true;
    if (stat.spam > UINT32_MAX || stat.ham > UINT32_MAX) return false;
    if ((size_ + 1) * 2 > slots_.size()) {
      if (size_ + 1 > kTokenCacheEntries) return false;
      grow();
    }
    for (size_t i = key >> shift_;; i = (i + 1) & mask_) {
      if (slots_[i].key == key) return true;
      if (slots_[i].key == 0) {
        slots_[i] = {key, uint32_t(stat.spam), uint32_t(stat.ham)};
        ++size_;
        return true;
      }
    }
  }
  // Sizes an empty table for n entries at once. Needed before inserting many keys in
  // ascending order: a small table grown on the way would pile them all into its first slots.
  void reserve(size_t n) {
    if (!slots_.empty()) return;
    n = std::min(n, kTokenCacheEntries);
    resize(std::max(size_t{1} << kInitialBits, std::bit_ceil(2 * n)));
  }
  void clear() {
    slots_.clear();
    slots_.shrink_to_fit();
    size_ = 0;
    mask_ = 0;
    shift_ = 63;
  }

 private:
  struct Slot {
    uint64_t key = 0;
    uint32_t spam = 0;
    uint32_t ham = 0;
  };
  void grow() { resize(slots_.empty() ? size_t{1} << kInitialBits : slots_.size() * 2); }
  void resize(size_t slots) {
    std::vector<Slot> old = std::move(slots_);
    slots_.assign(slots, Slot{});
    mask_ = slots_.size() - 1;
    shift_ = 64 - std::countr_zero(slots_.size());
    size_ = 0;
    for (const Slot& s : old)
      if (s.key != 0) insert(s.key, TokenStat{s.spam, s.ham});
  }
  static constexpr int kInitialBits = 14;
  std::vector<Slot> slots_;
  size_t size_ = 0;
  size_t mask_ = 0;
  int shift_ = 63;
};

struct Classifier::CountCache {
  struct Scope {
    uint64_t updates = UINT64_MAX;  // the scope's update counter these counts were read at
    bool complete = false;          // counts holds every token of the scope at `updates`
    std::optional<uint64_t> read_ns;  // when the scope was last read whole (monotonic)
    TokenTable counts;
    void reset(uint64_t at_updates) {
      counts.clear();
      updates = at_updates;
      complete = false;
    }
  };
  std::shared_mutex mu;
  std::unordered_map<uint32_t, Scope> scopes;
  std::atomic<uint64_t> snapshots{0};
  std::atomic<uint64_t> token_lookups{0};
};

Classifier::Classifier(store::Store& store, ClassifierParams params)
    : store_(store), params_(params), cache_(std::make_unique<CountCache>()) {}
Classifier::~Classifier() = default;

Classifier::CacheStats Classifier::cache_stats() const {
  return {cache_->snapshots.load(), cache_->token_lookups.load()};
}

bool Classifier::counts_from_cache(uint32_t scope, uint64_t updates, std::span<const uint64_t> tokens,
                                   std::vector<TokenStat>& out, std::vector<size_t>& missing_at) const {
  missing_at.clear();
  std::shared_lock lock(cache_->mu);
  auto it = cache_->scopes.find(scope);
  const bool valid = it != cache_->scopes.end() && it->second.updates == updates;
  const bool complete = valid && it->second.complete;
  constexpr size_t kAhead = 8;  // tokens prefetched ahead: a miss costs more than 8 probes
  if (valid)
    for (size_t i = 0; i < std::min(kAhead, tokens.size()); ++i) it->second.counts.prefetch(tokens[i]);
  for (size_t i = 0; i < tokens.size(); ++i) {
    if (valid) {
      if (i + kAhead < tokens.size()) it->second.counts.prefetch(tokens[i + kAhead]);
      if (it->second.counts.find(tokens[i], &out[i])) continue;
      // Absent from a whole-scope snapshot: never learned (0/0). Hash 0 cannot be held by
      // the table, so that one token is still looked up.
      if (complete && tokens[i] != 0) continue;
    }
    missing_at.push_back(i);
  }
  return complete;
}

bool Classifier::read_scope_whole(uint32_t scope, uint64_t updates) const {
  const size_t max = std::min(params_.snapshot_max_tokens, kTokenCacheEntries);
  if (max == 0) return false;
  // read_ns may be later than a `now` taken before the lock, hence "read_ns + retry > now".
  const uint64_t now = monotonic_ns();
  // The answer that needs no read: the snapshot is whole and current, or it was read too
  // recently to try again.
  auto settled = [&](const CountCache::Scope& sc) -> std::optional<bool> {
    if (sc.updates == updates && sc.complete) return true;
    if (sc.read_ns && *sc.read_ns + kTokenSnapshotRetryNs > now) return false;
    return std::nullopt;
  };
  {
    // Asked under the shared lock first, so that scans in the retry window after a learn
    // do not take turns on the exclusive one; asked again under it, since another scan may
    // have started the read in between.
    std::shared_lock lock(cache_->mu);
    auto it = cache_->scopes.find(scope);
    if (it != cache_->scopes.end())
      if (auto answer = settled(it->second)) return *answer;
  }
  {
    std::unique_lock lock(cache_->mu);
    CountCache::Scope& sc = cache_->scopes[scope];
    if (auto answer = settled(sc)) return *answer;
    sc.read_ns = now;
  }
  // Read without the lock: scans go on with the per-token path meanwhile. The tokens come
  // in hash order, so the table is sized for all of them before they go in.
  std::vector<std::pair<uint64_t, TokenStat>> read;
  store::TokenCounts totals;
  auto whole = store::token_scope_read(store_, scope, max, &totals,
                                       [&](uint64_t hash, const store::TokenCounts& c) {
                                         read.emplace_back(hash, TokenStat{c.spam, c.ham});
                                       });
  // A store error here is reported by the per-token path that follows.
  if (!whole.is_ok() || !*whole) return false;
  TokenTable table;
  table.reserve(read.size());
  for (const auto& [hash, stat] : read)
    if (!table.insert(hash, stat)) return false;
  read = {};
  std::unique_lock lock(cache_->mu);
  CountCache::Scope& sc = cache_->scopes[scope];
  sc.counts = std::move(table);
  sc.updates = totals.updates;
  sc.complete = true;
  cache_->snapshots.fetch_add(1, std::memory_order_relaxed);
  return totals.updates == updates;
}

Status Classifier::warm(uint32_t domain_id) const {
  auto counts = counts_for(domain_id);
  if (!counts) return counts.status();
  if (learned_enough(counts->totals, params_)) read_scope_whole(counts->scope, counts->updates);
  return Status::ok();
}

Status Classifier::lookup_counts(uint32_t scope, uint64_t updates, std::span<const uint64_t> tokens,
                                 std::vector<TokenStat>& out) const {
  out.assign(tokens.size(), TokenStat{});
  std::vector<size_t> missing_at;
  if (!counts_from_cache(scope, updates, tokens, out, missing_at) && !missing_at.empty() &&
      read_scope_whole(scope, updates))
    counts_from_cache(scope, updates, tokens, out, missing_at);
  if (missing_at.empty()) return Status::ok();
  std::vector<uint64_t> missing;
  missing.reserve(missing_at.size());
  for (size_t i : missing_at) missing.push_back(tokens[i]);
  cache_->token_lookups.fetch_add(missing.size(), std::memory_order_relaxed);
  std::vector<store::TokenCounts> counts;
  TSUBAME_TRY(store::token_counts(store_, scope, missing, counts));
  std::unique_lock lock(cache_->mu);
  CountCache::Scope& sc = cache_->scopes[scope];
  if (sc.updates != updates) sc.reset(updates);
  for (size_t k = 0; k < missing.size(); ++k) {
    TokenStat t{counts[k].spam, counts[k].ham};
    out[missing_at[k]] = t;
    if (!sc.counts.insert(missing[k], t)) {  // full: start over
      sc.reset(updates);
      sc.counts.insert(missing[k], t);
    }
  }
  return Status::ok();
}

Status Classifier::learn(const ClassifierInput& in, bool spam, uint32_t domain_id, int delta) {
  std::vector<uint64_t> tokens = tokenize_message(in);
  // The sender's count is learned with the words (same scopes, same transaction); scoring
  // keeps it out of the combination (classify_tokens).
  const SenderTokens sender = sender_tokens(in, params_);
  for (uint64_t t : {sender.address, sender.domain})
    if (t != 0) tokens.push_back(t);
  return learn_tokens(tokens, spam, domain_id, delta);
}

Status Classifier::learn_tokens(std::span<const uint64_t> tokens, bool spam, uint32_t domain_id,
                                int delta) {
  if (delta != 1 && delta != -1) return Status::invalid("learn delta must be +1 or -1");
  {
    // Forget the counts, keep when each scope was last read whole (kTokenSnapshotRetryNs).
    std::unique_lock lock(cache_->mu);
    for (uint32_t scope : {0u, domain_id})
      if (auto it = cache_->scopes.find(scope); it != cache_->scopes.end()) it->second.reset(UINT64_MAX);
  }
  TSUBAME_TRY(store::token_learn(store_, 0, tokens, spam, delta));
  if (domain_id != 0) TSUBAME_TRY(store::token_learn(store_, domain_id, tokens, spam, delta));
  return Status::ok();
}

Result<ClassifierScore> Classifier::classify(const ClassifierInput& in, uint32_t domain_id) const {
  std::vector<uint64_t> tokens = tokenize_message(in);
  return classify_tokens(tokens, domain_id, sender_tokens(in, params_));
}

Result<Classifier::Counts> Classifier::counts_for(uint32_t domain_id) const {
  if (domain_id != 0) {
    auto dt = store::token_totals(store_, domain_id);
    if (!dt) return dt.status();
    if (learned_enough({dt->spam, dt->ham}, params_)) return Counts{domain_id, {dt->spam, dt->ham}, dt->updates};
  }
  auto gt = store::token_totals(store_, 0);
  if (!gt) return gt.status();
  return Counts{0, {gt->spam, gt->ham}, gt->updates};
}

Result<ClassifierScore> Classifier::classify_tokens(std::span<const uint64_t> tokens,
                                                    uint32_t domain_id, SenderTokens sender) const {
  auto counts = counts_for(domain_id);
  if (!counts) return counts.status();
  const Counts& c = *counts;
  std::vector<TokenStat> stats;
  TokenStat address, domain;
  if (learned_enough(c.totals, params_)) {
    TSUBAME_TRY(lookup_counts(c.scope, c.updates, tokens, stats));
    // The two sender counts, looked up apart from the words: they are not in the combination.
    std::array<uint64_t, 2> keys{};
    size_t n = 0;
    for (uint64_t t : {sender.address, sender.domain})
      if (t != 0) keys[n++] = t;
    std::vector<TokenStat> got;
    if (n > 0) TSUBAME_TRY(lookup_counts(c.scope, c.updates, std::span<const uint64_t>(keys.data(), n), got));
    if (got.size() == n) {
      size_t k = 0;
      if (sender.address != 0) address = got[k++];
      if (sender.domain != 0) domain = got[k];
    }
  }
  ClassifierScore s = combine(stats, c.totals, params_);
  s.detail += c.scope == 0 ? " (global counts)" : " (domain counts)";
  const SenderMemory m = sender_memory(address, domain, params_);
  s.sender = m.counts;
  s.sender_points = m.points;
  s.sender_by_domain = m.by_domain;
  return s;
}

Result<std::vector<Classifier::TokenEvidence>> Classifier::explain(const ClassifierInput& in, uint32_t domain_id,
                                                                   size_t n) const {
  std::vector<TokenEvidence> out;
  auto counts = counts_for(domain_id);
  if (!counts) return counts.status();
  const Counts& c = *counts;
  if (n == 0 || !learned_enough(c.totals, params_)) return out;
  std::vector<NamedToken> named = named_tokens(in);
  std::vector<uint64_t> hashes;
  hashes.reserve(named.size());
  for (const auto& t : named) hashes.push_back(t.hash);
  std::vector<TokenStat> stats;
  TSUBAME_TRY(lookup_counts(c.scope, c.updates, hashes, stats));
  for (size_t i : strongest_tokens(stats, c.totals, params_, n))
    out.push_back({std::move(named[i].name), token_probability(stats[i], c.totals, params_), stats[i]});
  return out;
}

}  // namespace tsubame::filter
