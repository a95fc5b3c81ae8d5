// imapd/search_text.h: what SEARCH TEXT / BODY / HEADER / SUBJECT ... compare against, and
// how (RFC 9051 §6.4.4: "case-insensitive substring" over the message's header and body).
//
// The decoded view of a message (RFC 2047 encoded-words, base64 / quoted-printable, charsets
// converted to UTF-8, HTML rendered to text) comes from the filter's single MIME parse; the
// session receives it through SessionConfig::extract_text (a std::function), so imapd's
// library does not link the filter. `imapd/filter_glue.h` builds that function from
// filter::parse_message for the daemon and the tests.
//
// Matching folds case on both sides, code point by code point (simple one-to-one folding,
// no normalisation): ASCII A-Z; Latin-1 À-Þ (not ×); Latin Extended-A (Ā-ž pairs; Ÿ→ÿ);
// Greek Α-Ω; Cyrillic А-Я and Ѐ-Џ; full-width Ａ-Ｚ. Bytes that are not valid UTF-8 are
// compared as they are. Nothing here fails or allocates more than the input's size.
#pragma once

#include <functional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "common/result.h"

namespace tsubame::imap {

struct SearchText {
  // Every header field of the message, in order: name as written, value unfolded and
  // decoded to UTF-8 (encoded-words, charsets).
  std::vector<std::pair<std::string, std::string>> headers;
  // The text of the body: every text part decoded and converted to UTF-8, HTML rendered to
  // the text a reader sees.
  std::string body;
};

// Builds the SearchText of a raw message. An error makes the search fall back to the raw
// octets for that message.
using TextExtractor = std::function<Result<SearchText>(std::string_view raw)>;

// UTF-8 with the case folding described above applied to every code point.
std::string fold_case(std::string_view utf8);
// RFC 9051 §6.4.4 substring match, case-insensitive as fold_case(). An empty needle matches.
bool text_contains(std::string_view haystack, std::string_view needle);

}  // namespace tsubame::imap
