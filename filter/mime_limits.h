// filter/mime_limits.h: every bound the MIME parser (filter/mime.h) enforces, in one place.
//
// Hostile mail is cheap to write and expensive to parse, so each kind of work the parser
// does has a named cap. Hitting a cap never fails the parse: the parser stops that kind of
// work, keeps what it has, and sets the matching Anomaly flag (kLimit*) so rules can score
// it. Each constant below is exercised by a test in tests/filter/mime_limits_test.cc (those of
// what the body scope reads in mime_body_scope_test.cc, the Turkish ones in mime_charset_test.cc).
#pragma once

#include <cstddef>
#include <cstdint>

namespace tsubame::filter {

// Defaults. A MimeLimits built with {} uses these.
inline constexpr uint32_t kMimeMaxDepth = 24;            // multipart + message/rfc822 nesting
inline constexpr uint32_t kMimeMaxParts = 512;           // body parts of all kinds, per message
inline constexpr uint64_t kMimeMaxDecodedTotal = 64ull << 20;  // decoded bytes, all parts
inline constexpr uint64_t kMimeMaxTextBytes = 4ull << 20;      // UTF-8 text kept in body_text
inline constexpr uint32_t kMimeMaxHeaders = 1000;        // header fields per header block
inline constexpr uint32_t kMimeMaxHeaderBytes = 64 * 1024;  // one field, folded lines included
inline constexpr uint32_t kMimeMaxLineOctets = 998;      // RFC 5322 §2.1.1: longer = anomaly
inline constexpr uint32_t kMimeMaxBoundaryLength = 200;  // RFC 2046 §5.1.1 says 70; be lenient
inline constexpr uint32_t kMimeMaxLinks = 2000;          // links kept from all text parts
inline constexpr uint64_t kMimeMaxHtmlBytes = 8ull << 20;  // HTML input converted per part
inline constexpr uint32_t kMimeMaxAddresses = 1000;      // addresses parsed per address header
inline constexpr uint32_t kMimeMaxParamSections = 64;    // RFC 2231 continuation sections
inline constexpr uint32_t kMimeMaxEncodedWords = 512;    // RFC 2047 words decoded per field
inline constexpr size_t kMimeMaxResumedHeaderLines = 64;  // header lines looked at past a stray empty line
inline constexpr size_t kMimeSniffBytes = 40 * 1024;     // decoded head kept for type sniffing
                                                         // (ISO 9660 magic sits at 32769)

// The non-preferred alternative of a multipart/alternative joins body_text when its words are
// not already there: fewer than kMimeAltKnownPercent % of its distinct words (kMimeAltMinWordBytes
// bytes or longer, from its first kMimeAltSampleBytes) occur in the preferred alternative's text
// (first kMimeAltPreferredBytes read), and it has at least kMimeAltMinWords such words.
inline constexpr size_t kMimeAltSampleBytes = 16 * 1024;
inline constexpr size_t kMimeAltPreferredBytes = 64 * 1024;
inline constexpr size_t kMimeAltMinWordBytes = 4;
inline constexpr size_t kMimeAltMinWords = 10;
inline constexpr size_t kMimeAltKnownPercent = 25;

// A text/plain or text/html part sent inline with a file name ("Content-Disposition: inline;
// filename=letter.html", RFC 2183 §2.1) is shown by mail programs and joins body_text when the
// rest of the message has fewer than kMimeInlineMaxOtherText non-space bytes of body text; at
// most kMimeInlineMaxParts such parts of at most kMimeInlineMaxBytes decoded bytes each.
inline constexpr size_t kMimeInlineMaxOtherText = 200;
inline constexpr size_t kMimeInlineMaxBytes = 256 * 1024;
inline constexpr size_t kMimeInlineMaxParts = 4;

// Undeclared 8-bit text is read as Turkish (ISO-8859-9, as Windows-1254) when Ğ İ Ş ğ ı ş occur
// at least kTurkishMinLetters times inside words and the Turkish letters (these and ç ö ü â î û)
// are at least kTurkishOverOthers times the other accented letters (charset.cc, looks_turkish).
inline constexpr size_t kTurkishMinLetters = 4;
inline constexpr size_t kTurkishOverOthers = 3;

struct MimeLimits {
  uint32_t max_depth = kMimeMaxDepth;
  uint32_t max_parts = kMimeMaxParts;
  uint64_t max_decoded_total = kMimeMaxDecodedTotal;
  uint64_t max_text_bytes = kMimeMaxTextBytes;
  uint32_t max_headers = kMimeMaxHeaders;
  uint32_t max_header_bytes = kMimeMaxHeaderBytes;
  uint32_t max_links = kMimeMaxLinks;
  uint64_t max_html_bytes = kMimeMaxHtmlBytes;
  uint32_t max_addresses = kMimeMaxAddresses;
};

}  // namespace tsubame::filter
