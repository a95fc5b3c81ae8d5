// filter/html.cc: HTML to text with link extraction (see filter/html.h).
//
// One forward pass. Raw-text elements (script, style, title, head-only content) are skipped
// with a single case-insensitive search for their end tag; comments end at "-->" or at the
// end of input. Nothing here recurses or backtracks, so work is O(input).
#include "filter/html.h"

#include <algorithm>
#include <cctype>
#include <cstdint>
#include <optional>

#include "common/bytes.h"
#include "filter/charset.h"

namespace tsubame::filter {
namespace {

// ASCII-only lower case (locale-free and inlined: this runs on every byte of a tag).
char lower(char c) { return c >= 'A' && c <= 'Z' ? static_cast<char>(c + 32) : c; }
bool is_ws(char c) { return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\f'; }

// Case-insensitive find of an ASCII needle (lower case) in s from `from`.
size_t ifind(std::string_view s, std::string_view needle, size_t from) {
  if (needle.empty() || needle.size() > s.size()) return std::string_view::npos;
  for (size_t i = from; i + needle.size() <= s.size(); ++i) {
    if (lower(s[i]) != needle[0]) continue;
    size_t k = 1;
    while (k < needle.size() && lower(s[i + k]) == needle[k]) ++k;
    if (k == needle.size()) return i;
  }
  return std::string_view::npos;
}

struct Named {
  std::string_view name;
  uint32_t cp;
};
constexpr Named kEntities[] = {
    {"amp", '&'},      {"lt", '<'},       {"gt", '>'},       {"quot", '"'},     {"apos", '\''},
    {"nbsp", 0xA0},    {"copy", 0xA9},    {"reg", 0xAE},     {"trade", 0x2122}, {"hellip", 0x2026},
    {"mdash", 0x2014}, {"ndash", 0x2013}, {"lsquo", 0x2018}, {"rsquo", 0x2019}, {"ldquo", 0x201C},
    {"rdquo", 0x201D}, {"sbquo", 0x201A}, {"bdquo", 0x201E}, {"bull", 0x2022},  {"middot", 0xB7},
    {"euro", 0x20AC},  {"pound", 0xA3},   {"yen", 0xA5},     {"cent", 0xA2},    {"sect", 0xA7},
    {"deg", 0xB0},     {"plusmn", 0xB1},  {"times", 0xD7},   {"divide", 0xF7},  {"laquo", 0xAB},
    {"raquo", 0xBB},   {"iexcl", 0xA1},   {"iquest", 0xBF},  {"shy", 0xAD},     {"zwnj", 0x200C},
    {"zwj", 0x200D},   {"lrm", 0x200E},   {"rlm", 0x200F},   {"ensp", 0x2002},  {"emsp", 0x2003},
    {"thinsp", 0x2009},{"para", 0xB6},    {"micro", 0xB5},   {"frac12", 0xBD},  {"frac14", 0xBC},
    {"eacute", 0xE9},  {"egrave", 0xE8},  {"agrave", 0xE0},  {"aacute", 0xE1},  {"ccedil", 0xE7},
    {"uuml", 0xFC},    {"ouml", 0xF6},    {"auml", 0xE4},    {"szlig", 0xDF},   {"ntilde", 0xF1},
    {"Eacute", 0xC9},  {"Uuml", 0xDC},    {"Ouml", 0xD6},    {"Auml", 0xC4},    {"larr", 0x2190},
    {"rarr", 0x2192},  {"check", 0x2713}, {"star", 0x2606},  {"hearts", 0x2665},
};
// HTML5 §13.2.5.80: numeric references 0x80..0x9F mean Windows-1252.
constexpr uint16_t kC1[32] = {0x20AC, 0x81,   0x201A, 0x0192, 0x201E, 0x2026, 0x2020, 0x2021,
                              0x02C6, 0x2030, 0x0160, 0x2039, 0x0152, 0x8D,   0x017D, 0x8F,
                              0x90,   0x2018, 0x2019, 0x201C, 0x201D, 0x2022, 0x2013, 0x2014,
                              0x02DC, 0x2122, 0x0161, 0x203A, 0x0153, 0x9D,   0x017E, 0x0178};

// Decode one reference at s[i] == '&'. Returns consumed length (0 = not a reference).
size_t decode_entity_at(std::string_view s, size_t i, std::string& out) {
  size_t j = i + 1;
  if (j < s.size() && s[j] == '#') {
    ++j;
    bool hex = j < s.size() && (s[j] == 'x' || s[j] == 'X');
    if (hex) ++j;
    uint64_t v = 0;
    size_t digits = 0;
    while (j < s.size() && digits < 10) {
      int d = -1;
      char c = s[j];
      if (c >= '0' && c <= '9') d = c - '0';
      else if (hex && c >= 'a' && c <= 'f') d = c - 'a' + 10;
      else if (hex && c >= 'A' && c <= 'F') d = c - 'A' + 10;
      if (d < 0) break;
      v = v * (hex ? 16 : 10) + static_cast<uint64_t>(d);
      ++j;
      ++digits;
    }
    if (digits == 0) return 0;
    while (j < s.size() && std::isxdigit(static_cast<unsigned char>(s[j]))) ++j;  // overlong
    if (j < s.size() && s[j] == ';') ++j;
    if (v >= 0x80 && v <= 0x9F) v = kC1[v - 0x80];
    if (v == 0 || v > 0x10FFFF) v = 0xFFFD;
    append_utf8(out, static_cast<uint32_t>(v));
    return j - i;
  }
  size_t k = j;
  while (k < s.size() && k - j < 10 && std::isalnum(static_cast<unsigned char>(s[k]))) ++k;
  std::string_view name = s.substr(j, k - j);
  bool semi = k < s.size() && s[k] == ';';
  for (const auto& e : kEntities) {
    if (e.name == name) {
      // Without ';' only the legacy few are references (HTML5 keeps "&copy" etc. too).
      if (!semi && e.cp > 0xFF) return 0;
      append_utf8(out, e.cp);
      return k - i + (semi ? 1 : 0);
    }
  }
  return 0;
}

bool is_block(std::string_view t) {
  static constexpr std::string_view kBlocks[] = {
      "p", "div", "br", "li", "ul", "ol", "tr", "table", "h1", "h2", "h3", "h4", "h5", "h6",
      "blockquote", "pre", "hr", "section", "article", "header", "footer", "nav", "dd", "dt",
      "dl", "form", "center", "address", "tbody", "thead", "tfoot", "caption", "fieldset",
      "main", "aside", "figure", "figcaption", "body", "html", "option", "legend"};
  return std::find(std::begin(kBlocks), std::end(kBlocks), t) != std::end(kBlocks);
}

struct Tag {
  std::string name;  // lower case
  bool closing = false;
  std::vector<std::pair<std::string, std::string>> attrs;  // name lower case, value decoded
  const std::string* attr(std::string_view n) const {
    for (auto& [k, v] : attrs)
      if (k == n) return &v;
    return nullptr;
  }
};

// Parse a tag starting at s[i] == '<'. Returns the index after '>' (or s.size()).
size_t parse_tag(std::string_view s, size_t i, Tag& tag) {
  size_t j = i + 1;
  if (j < s.size() && s[j] == '/') {
    tag.closing = true;
    ++j;
  }
  while (j < s.size() && !is_ws(s[j]) && s[j] != '>' && s[j] != '/') tag.name += lower(s[j++]);
  constexpr size_t kMaxAttrs = 64;
  while (j < s.size()) {
    while (j < s.size() && (is_ws(s[j]) || s[j] == '/')) ++j;
    if (j >= s.size()) break;
    if (s[j] == '>') return j + 1;
    std::string name;
    while (j < s.size() && !is_ws(s[j]) && s[j] != '=' && s[j] != '>' && s[j] != '/')
      name += lower(s[j++]);
    while (j < s.size() && is_ws(s[j])) ++j;
    std::string value;
    if (j < s.size() && s[j] == '=') {
      ++j;
      while (j < s.size() && is_ws(s[j])) ++j;
      if (j < s.size() && (s[j] == '"' || s[j] == '\'')) {
        char q = s[j++];
        size_t e = s.find(q, j);
        if (e == std::string_view::npos) e = s.size();
        value = decode_html_entities(s.substr(j, e - j));
        j = e < s.size() ? e + 1 : e;
      } else {
        size_t b = j;
        while (j < s.size() && !is_ws(s[j]) && s[j] != '>') ++j;
        value = decode_html_entities(s.substr(b, j - b));
      }
    }
    if (name.empty() && value.empty()) {  // stray character such as '"' or '='
      ++j;
      continue;
    }
    if (tag.attrs.size() < kMaxAttrs) tag.attrs.emplace_back(std::move(name), std::move(value));
  }
  return s.size();
}

bool is_void(std::string_view t) {
  static constexpr std::string_view kVoid[] = {"area", "base", "br", "col", "embed", "hr", "img",
                                               "input", "link", "meta", "source", "track", "wbr",
                                               "param", "keygen"};
  return std::find(std::begin(kVoid), std::end(kVoid), t) != std::end(kVoid);
}

// "0" as a CSS length: followed by a unit, ';', '!' or the end, not by '.' or a digit.
bool zero_value(std::string_view css, std::string_view prop) {
  for (size_t p = css.find(prop); p != std::string_view::npos; p = css.find(prop, p + 1)) {
    size_t v = p + prop.size();
    if (v < css.size() && css[v] == '0' && (v + 1 >= css.size() || (css[v + 1] != '.' && !std::isdigit(static_cast<unsigned char>(css[v + 1])))))
      return true;
  }
  return false;
}

// Text a reader does not see: the `hidden` attribute, or inline CSS that hides it
// (display:none, visibility:hidden, font-size:0, opacity:0). A classic way to stuff
// innocent words into spam.
bool hides_content(const Tag& tag) {
  if (tag.attr("hidden")) return true;
  const std::string* style = tag.attr("style");
  if (!style) return false;
  std::string css;
  for (char c : *style)
    if (!is_ws(c)) css += lower(c);
  return css.find("display:none") != std::string::npos ||
         css.find("visibility:hidden") != std::string::npos || zero_value(css, "font-size:") ||
         zero_value(css, "opacity:");
}

std::string clean_href(std::string_view v) {
  std::string out;
  for (char c : v)
    if (c != '\n' && c != '\r' && c != '\t') out += c;  // browsers strip these in URLs
  return std::string(trim(out));
}

class Renderer {
 public:
  explicit Renderer(size_t max_links) : max_links_(max_links) {}

  void text(std::string_view t) {
    if (hidden_depth_ > 0) {  // invisible to the reader: kept apart, not in the text
      if (out_.hidden_text.size() < kMaxHidden) {
        if (!out_.hidden_text.empty() && out_.hidden_text.back() != ' ') out_.hidden_text += ' ';
        for (char c : t) out_.hidden_text += is_ws(c) ? ' ' : c;
      }
      return;
    }
    for (size_t i = 0; i < t.size(); ++i) {
      char c = t[i];
      bool ws = is_ws(c);
      // U+00A0 (nbsp) counts as whitespace for layout.
      if (!ws && c == '\xC2' && i + 1 < t.size() && t[i + 1] == '\xA0') {
        ws = true;
        ++i;
      }
      if (ws) {
        space_ = true;
        continue;
      }
      if (space_ && !out_.text.empty() && out_.text.back() != '\n') out_.text += ' ';
      if (space_ && anchor_ && !anchor_text_.empty()) anchor_text_ += ' ';
      space_ = false;
      out_.text += c;
      if (anchor_) anchor_text_ += c;
    }
  }
  void newline() {
    space_ = false;
    if (!out_.text.empty() && out_.text.back() != '\n') out_.text += '\n';
    if (anchor_ && !anchor_text_.empty()) anchor_text_ += ' ';
  }
  void add_link(std::string href, std::string txt, HtmlLink::Kind kind) {
    if (href.empty()) return;
    if (out_.links.size() >= max_links_) {
      out_.links_truncated = true;
      return;
    }
    out_.links.push_back(HtmlLink{std::move(href), std::move(txt), kind});
  }
  void open_anchor(std::string href) {
    close_anchor();
    if (href.empty()) return;
    if (out_.links.size() >= max_links_) {
      out_.links_truncated = true;
      return;
    }
    out_.links.push_back(HtmlLink{std::move(href), {}, HtmlLink::Kind::kAnchor});
    anchor_ = out_.links.size();  // index + 1
  }
  void anchor_alt(std::string_view alt) {
    if (!anchor_ || alt.empty()) return;
    if (!anchor_text_.empty()) anchor_text_ += ' ';
    anchor_text_ += alt;
  }
  void close_anchor() {
    if (anchor_) out_.links[anchor_ - 1].text = std::string(trim(anchor_text_));
    anchor_ = 0;
    anchor_text_.clear();
  }
  // Element stack, only to know when an element hidden by CSS or `hidden` ends.
  void open_element(const std::string& name, bool hidden) {
    if (stack_.size() >= kMaxStack) return;
    // HTML's implied end tags for the common cases (a <p> ends the open <p> ...).
    if (!stack_.empty() && stack_.back().name == name &&
        (name == "p" || name == "li" || name == "td" || name == "tr" || name == "option"))
      close_element(name);
    stack_.push_back({name, hidden});
    if (hidden) ++hidden_depth_;
  }
  void close_element(const std::string& name) {
    for (size_t k = stack_.size(); k-- > 0;) {
      if (stack_[k].name != name) continue;
      while (stack_.size() > k) {
        if (stack_.back().hidden) --hidden_depth_;
        stack_.pop_back();
      }
      return;
    }
  }
  bool hidden() const { return hidden_depth_ > 0; }

  HtmlText finish() {
    close_anchor();
    while (!out_.hidden_text.empty() && out_.hidden_text.back() == ' ') out_.hidden_text.pop_back();
    while (!out_.text.empty() && (out_.text.back() == '\n' || out_.text.back() == ' '))
      out_.text.pop_back();
    return std::move(out_);
  }

 private:
  static constexpr size_t kMaxStack = 512;
  static constexpr size_t kMaxHidden = 64 * 1024;
  struct Open {
    std::string name;
    bool hidden;
  };
  HtmlText out_;
  size_t max_links_;
  std::vector<Open> stack_;
  size_t hidden_depth_ = 0;
  bool space_ = false;
  size_t anchor_ = 0;
  std::string anchor_text_;
};

}  // namespace

std::string decode_html_entities(std::string_view s) {
  std::string out;
  out.reserve(s.size());
  size_t i = 0;
  while (i < s.size()) {
    size_t amp = s.find('&', i);
    if (amp == std::string_view::npos) amp = s.size();
    out.append(s.data() + i, amp - i);  // copy the run up to the next '&'
    i = amp;
    if (i >= s.size()) break;
    size_t n = decode_entity_at(s, i, out);
    if (n > 0) {
      i += n;
    } else {
      out += '&';
      ++i;
    }
  }
  return out;
}

std::string sniff_html_charset(std::string_view html) {
  std::string_view head = html.substr(0, std::min<size_t>(html.size(), 1024));
  size_t from = 0;
  while (true) {
    size_t m = ifind(head, "<meta", from);
    if (m == std::string_view::npos) return "";
    size_t end = head.find('>', m);
    if (end == std::string_view::npos) end = head.size();
    size_t c = ifind(head.substr(0, end), "charset", m);
    if (c != std::string_view::npos) {
      size_t j = c + 7;
      while (j < end && (is_ws(head[j]) || head[j] == '=' || head[j] == '"' || head[j] == '\'')) ++j;
      std::string cs;
      while (j < end && (std::isalnum(static_cast<unsigned char>(head[j])) || head[j] == '-' ||
                         head[j] == '_' || head[j] == ':' || head[j] == '.'))
        cs += lower(head[j++]);
      if (!cs.empty()) return cs;
    }
    from = m + 5;
  }
}

HtmlText html_to_text(std::string_view s, size_t max_links) {
  Renderer r(max_links);
  size_t i = 0;
  while (i < s.size()) {
    size_t lt = s.find('<', i);
    if (lt == std::string_view::npos) lt = s.size();
    if (lt > i) r.text(decode_html_entities(s.substr(i, lt - i)));
    i = lt;
    if (i >= s.size()) break;
    // s[i] == '<'
    if (s.substr(i).starts_with("<!--")) {
      size_t e = s.find("-->", i + 4);
      i = e == std::string_view::npos ? s.size() : e + 3;
      continue;
    }
    char next = i + 1 < s.size() ? s[i + 1] : '\0';
    if (next == '!' || next == '?') {  // doctype, CDATA, processing instruction
      size_t e = s.find('>', i);
      i = e == std::string_view::npos ? s.size() : e + 1;
      continue;
    }
    bool tagish = std::isalpha(static_cast<unsigned char>(next)) ||
                  (next == '/' && i + 2 < s.size() && std::isalpha(static_cast<unsigned char>(s[i + 2])));
    if (!tagish) {
      r.text("<");
      ++i;
      continue;
    }
    Tag tag;
    i = parse_tag(s, i, tag);
    const std::string& n = tag.name;
    if (!tag.closing && (n == "script" || n == "style" || n == "title" || n == "noscript" ||
                         n == "template" || n == "xml" || n == "textarea" || n == "object")) {
      std::string end_tag = "</" + n;
      size_t e = ifind(s, end_tag, i);
      if (e == std::string_view::npos) {
        i = s.size();
      } else {
        size_t gt = s.find('>', e);
        i = gt == std::string_view::npos ? s.size() : gt + 1;
      }
      continue;
    }
    if (tag.closing) r.close_element(n);
    else if (!is_void(n)) r.open_element(n, hides_content(tag));
    if (n == "a") {
      if (tag.closing) {
        r.close_anchor();
      } else {
        const std::string* href = tag.attr("href");
        r.open_anchor(href ? clean_href(*href) : std::string());
      }
      continue;
    }
    if (tag.closing) {
      if (is_block(n) || n == "td" || n == "th") {
        if (n == "td" || n == "th") r.text(" ");
        else r.newline();
      }
      continue;
    }
    if (n == "img") {
      const std::string* src = tag.attr("src");
      const std::string* alt = tag.attr("alt");
      std::string alt_text = alt ? std::string(trim(*alt)) : std::string();
      r.anchor_alt(alt_text);
      if (src) r.add_link(clean_href(*src), alt_text, HtmlLink::Kind::kImage);
    } else if (n == "form") {
      const std::string* action = tag.attr("action");
      if (action) r.add_link(clean_href(*action), {}, HtmlLink::Kind::kForm);
    } else if (n == "area") {
      if (const std::string* href = tag.attr("href"))
        r.add_link(clean_href(*href), tag.attr("alt") ? *tag.attr("alt") : std::string(),
                   HtmlLink::Kind::kAnchor);
    } else if (n == "iframe" || n == "frame" || n == "embed") {
      if (const std::string* src = tag.attr("src"))
        r.add_link(clean_href(*src), {}, HtmlLink::Kind::kOther);
    } else if (n == "meta") {
      // <meta http-equiv="refresh" content="0; url=https://...">
      const std::string* equiv = tag.attr("http-equiv");
      const std::string* content = tag.attr("content");
      if (equiv && content && to_lower(*equiv) == "refresh") {
        size_t u = ifind(*content, "url=", 0);
        if (u != std::string::npos) {
          std::string url = clean_href(std::string_view(*content).substr(u + 4));
          if (!url.empty() && (url.front() == '\'' || url.front() == '"')) url.erase(0, 1);
          if (!url.empty() && (url.back() == '\'' || url.back() == '"')) url.pop_back();
          r.add_link(url, {}, HtmlLink::Kind::kOther);
        }
      }
    }
    if (n == "br" || is_block(n)) r.newline();
    else if (n == "td" || n == "th") r.text(" ");
  }
  return r.finish();
}

}  // namespace tsubame::filter
