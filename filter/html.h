// filter/html.h: a small tolerant HTML-to-text renderer for mail bodies.
//
// No DOM, no library: one forward pass over the input. Drops <script>, <style>, <head>
// content and comments; decodes character references (common named ones and numeric);
// turns block elements and <br> into line breaks; collapses whitespace; collects <a href>
// with its visible text, <img src> (alt as text), <form action>, <area href>, <iframe src>;
// text hidden by inline CSS or the `hidden` attribute goes to hidden_text, not text.
// How it fails: never; unclosed tags, stray '<' and bad entities are read as text or
// skipped. Work is linear in the input (each byte is looked at a bounded number of times)
// and the caller caps the input size (MimeLimits::max_html_bytes). Input must be UTF-8.
#pragma once

#include <cstddef>
#include <string>
#include <string_view>
#include <vector>

namespace tsubame::filter {

struct HtmlLink {
  enum class Kind : unsigned char { kAnchor, kImage, kForm, kOther };
  std::string href;  // attribute value, entities decoded, whitespace trimmed
  std::string text;  // visible text (anchor) or alt (image), whitespace collapsed
  Kind kind = Kind::kAnchor;
};

struct HtmlText {
  std::string text;              // rendered text, UTF-8, '\n' between blocks
  std::string hidden_text;       // text the reader does not see (hidden attribute, inline
                                 // display:none, visibility:hidden, font-size:0,
                                 // opacity:0), whitespace collapsed, at most 64 KiB
  std::vector<HtmlLink> links;   // in document order
  bool links_truncated = false;  // more than max_links were present
};

HtmlText html_to_text(std::string_view html, size_t max_links = 2000);

// Decode HTML character references (&amp; &#39; &#x41; &nbsp; ...) to UTF-8. Unknown or
// malformed references are kept as written (HTML5 §13.2.5.72 leniency, simplified).
std::string decode_html_entities(std::string_view s);

// The charset named in a <meta charset=...> or <meta http-equiv content="...charset=...">
// within the first 1024 bytes, lower case, or "" if none.
std::string sniff_html_charset(std::string_view html);

}  // namespace tsubame::filter
