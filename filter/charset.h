// filter/charset.h: bytes in a declared charset -> UTF-8, and RFC 2047 / RFC 2231 decoding.
//
// Conversion goes through glibc iconv with per-thread cached descriptors. Charset labels are
// mapped to the superset people actually send (Shift_JIS -> CP932, ISO-8859-1 and US-ASCII
// with 8-bit bytes -> Windows-1252, GB2312/GBK -> GB18030, EUC-KR -> CP949 ...). How it fails:
// never; an unknown charset converts as Windows-1252 and sets issues->unknown_charset; bytes
// invalid in their charset become U+FFFD and set issues->invalid_data. The output is always
// valid UTF-8. Each call does work linear in its input.
#pragma once

#include <optional>
#include <string>
#include <string_view>

namespace tsubame::filter {

// What went wrong while decoding; callers turn these into Anomaly flags.
struct DecodeIssues {
  bool unknown_charset = false;   // label iconv does not know: fell back to Windows-1252
  bool invalid_data = false;      // bytes invalid in the charset: U+FFFD substituted
  bool bad_encoded_word = false;  // RFC 2047 word malformed (left as written)
  bool words_limit = false;       // more encoded-words than kMimeMaxEncodedWords
};

// The iconv name for a MIME charset label (case-insensitive, RFC 2978 aliases, "*lang"
// suffix stripped), or nullopt if unknown. "utf-8" gives "UTF-8".
std::optional<std::string> canonical_charset(std::string_view label);

// Convert `bytes` declared as `charset` to UTF-8. An empty charset (or "us-ascii" with 8-bit
// bytes) is guessed by guess_undeclared_charset; failing that valid UTF-8 is kept (RFC 6532
// reality) and anything else is read as Windows-1252.
std::string to_utf8(std::string_view bytes, std::string_view charset,
                    DecodeIssues* issues = nullptr);
// The charset label of undeclared text recognised by its bytes, or "" when it is ASCII,
// valid UTF-8 or not recognised: "iso-2022-jp" (RFC 1468 escape sequences), "shift_jis" or
// "euc-jp" (every 8-bit unit a valid pair and at least a fifth of them kana), "gb2312"
// (valid EUC pairs without kana), "big5" (valid Big5 pairs, a fifth of them with a trail
// byte below 0x80, which no EUC has, and a fifth of the bytes in pairs). At least 4 such
// units are needed (8 for the Chinese ones). Linear, no allocation.
std::string_view guess_undeclared_charset(std::string_view bytes);

// UTF-8 helpers. sanitize_utf8 replaces each invalid sequence (RFC 3629 §4: overlongs,
// surrogates and code points above U+10FFFF are invalid) with U+FFFD.
// No byte of s is 0x80 or above.
bool is_ascii(std::string_view s);
bool is_valid_utf8(std::string_view s);
std::string sanitize_utf8(std::string_view s, bool* had_invalid = nullptr);
// Windows-1252 (a superset of printable ISO-8859-1) to UTF-8, without iconv.
std::string cp1252_to_utf8(std::string_view s);
void append_utf8(std::string& out, uint32_t code_point);

// RFC 2047: decode every encoded-word "=?charset[*lang]?B|Q?text?=" in an unstructured
// header value (or a phrase). Whitespace between two adjacent encoded-words is dropped
// (§6.2); adjacent words in the same charset are joined before conversion so a multibyte
// character split across words survives. Raw 8-bit text outside words is read as UTF-8 if
// valid, else in `fallback_charset` (default Windows-1252). Output is UTF-8, unfolded.
std::string decode_header_text(std::string_view raw, DecodeIssues* issues = nullptr,
                               std::string_view fallback_charset = {});

// RFC 2231 §4 extended value "charset'lang'%XX..." -> UTF-8.
std::string decode_rfc2231_value(std::string_view value, DecodeIssues* issues = nullptr);

// Header unfolding (RFC 5322 §2.2.3): CRLF/LF followed by WSP becomes that WSP.
std::string unfold(std::string_view raw);

}  // namespace tsubame::filter
