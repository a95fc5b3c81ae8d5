// filter/mime.cc: the one MIME parse (see filter/mime.h for the contract).
//
// Structure of this file:
//   1. small helpers (lines, codecs with a size cap)
//   2. RFC 2045 / RFC 2231 content fields, RFC 5322 addresses and dates
//   3. file type sniffing
//   4. the entity parser: header block -> content type -> multipart boundary scan /
//      message/rfc822 recursion / leaf decode (text or attachment), building the IMAP
//      BodyPart tree with byte offsets as it goes
//
// The boundary scanner is our own rather than mimetic's: mimetic's parser gives no byte
// offsets (imapd needs them for BODY[1.2] / BODY[1.MIME]), recurses without a depth bound,
// and throws on some malformed input. See filter/README.md, "MIME".
//
// How it fails: malformed input never fails the parse; it sets Anomaly flags. Every loop
// advances by at least one byte or one line, recursion is bounded by limits.max_depth, and
// decoded output is bounded by limits.max_decoded_total. parse_message catches any
// exception (std::bad_alloc included) and returns Code::kInternal.
#include "filter/mime.h"

#include <algorithm>
#include <array>
#include <cctype>
#include <cstring>
#include <deque>
#include <exception>
#include <iterator>
#include <map>
#include <unordered_map>

#include "common/bytes.h"
#include "filter/charset.h"
#include "filter/html.h"

namespace tsubame::filter {

// ======================================================================================
// Anomalies

namespace {
struct AnomalyName {
  Anomaly a;
  std::string_view name;
};
constexpr AnomalyName kAnomalyNames[] = {
    {Anomaly::kBrokenBoundary, "broken_boundary"},
    {Anomaly::kMissingCloseBoundary, "missing_close_boundary"},
    {Anomaly::kBadBase64, "bad_base64"},
    {Anomaly::kBadQuotedPrintable, "bad_quoted_printable"},
    {Anomaly::kUnknownCharset, "unknown_charset"},
    {Anomaly::kBadCharsetData, "bad_charset_data"},
    {Anomaly::kHeader8Bit, "header_8bit"},
    {Anomaly::kHeaderUtf8, "header_utf8"},
    {Anomaly::kHeaderSyntax, "header_syntax"},
    {Anomaly::kTruncated, "truncated"},
    {Anomaly::kLongLine, "long_line"},
    {Anomaly::kNulByte, "nul_byte"},
    {Anomaly::kBareLf, "bare_lf"},
    {Anomaly::kBadEncodedWord, "bad_encoded_word"},
    {Anomaly::kUnknownEncoding, "unknown_encoding"},
    {Anomaly::kEncodedMessage, "encoded_message"},
    {Anomaly::kDuplicateHeader, "duplicate_header"},
    {Anomaly::kLimitDepth, "limit_depth"},
    {Anomaly::kLimitParts, "limit_parts"},
    {Anomaly::kLimitDecodedSize, "limit_decoded_size"},
    {Anomaly::kLimitHeaderCount, "limit_header_count"},
    {Anomaly::kLimitHeaderBytes, "limit_header_bytes"},
    {Anomaly::kLimitText, "limit_text"},
    {Anomaly::kLimitLinks, "limit_links"},
    {Anomaly::kLimitHtml, "limit_html"},
    {Anomaly::kLimitAddresses, "limit_addresses"},
    {Anomaly::kHtmlHiddenText, "html_hidden_text"},
    {Anomaly::kHeaderSplit, "header_split"},
};
}  // namespace

std::string_view anomaly_name(Anomaly a) {
  for (const auto& n : kAnomalyNames)
    if (n.a == a) return n.name;
  return "unknown";
}

const std::vector<Anomaly>& all_anomalies() {
  static const std::vector<Anomaly> all = [] {
    std::vector<Anomaly> v;
    for (const auto& n : kAnomalyNames) v.push_back(n.a);
    return v;
  }();
  return all;
}

std::vector<std::string_view> Anomalies::names() const {
  std::vector<std::string_view> out;
  for (const auto& n : kAnomalyNames)
    if (has(n.a)) out.push_back(n.name);
  return out;
}

// ======================================================================================
// MessageHeaders

const HeaderField* MessageHeaders::header(std::string_view name) const {
  for (const auto& h : headers)
    if (iequals(h.name, name)) return &h;
  return nullptr;
}

std::vector<const HeaderField*> MessageHeaders::headers_named(std::string_view name) const {
  std::vector<const HeaderField*> out;
  for (const auto& h : headers)
    if (iequals(h.name, name)) out.push_back(&h);
  return out;
}

// ======================================================================================
// 1. Helpers and codecs

namespace {

struct Line {
  size_t begin = 0;  // first octet
  size_t end = 0;    // one past the last octet before the line break
  size_t next = 0;   // first octet after the line break (== end if none)
  bool bare_lf = false;
};

// The line starting at `pos`, not extending past `limit`.
Line line_at(std::string_view s, size_t pos, size_t limit) {
  Line l;
  l.begin = pos;
  const void* nl = std::memchr(s.data() + pos, '\n', limit - pos);
  if (!nl) {
    l.end = l.next = limit;
    return l;
  }
  size_t k = static_cast<size_t>(static_cast<const char*>(nl) - s.data());
  l.next = k + 1;
  if (k > pos && s[k - 1] == '\r') {
    l.end = k - 1;
  } else {
    l.end = k;
    l.bare_lf = true;
  }
  return l;
}

// Collects decoded output: keeps the first `keep` octets, counts up to `max`.
struct Sink {
  std::string* out;
  uint64_t keep;
  uint64_t max;
  uint64_t count = 0;
  bool capped = false;
  bool put(char c) {
    if (count >= max) {
      capped = true;
      return false;
    }
    if (count < keep) out->push_back(c);
    ++count;
    return true;
  }
};

constexpr std::array<int8_t, 256> kB64 = [] {
  std::array<int8_t, 256> t{};
  for (auto& v : t) v = -1;
  const char* a = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
  for (int i = 0; i < 64; ++i) t[static_cast<unsigned char>(a[i])] = static_cast<int8_t>(i);
  return t;
}();

// RFC 2045 §6.8. Characters outside the alphabet are ignored but flagged (whitespace is
// fine); data after padding starts a new quantum (some mailers concatenate encodings)
// and is flagged; a lone trailing sextet is flagged. Missing final padding is tolerated.
void base64_into(std::string_view in, Sink& sink, bool* bad) {
  uint32_t acc = 0;
  int n = 0;  // sextets in the current quantum
  bool after_pad = false;
  for (unsigned char c : in) {
    if (c == '=') {
      if (n == 1) *bad = true;
      if (n == 2 && !sink.put(static_cast<char>(acc >> 4))) return;
      if (n == 3 && (!sink.put(static_cast<char>(acc >> 10)) || !sink.put(static_cast<char>(acc >> 2))))
        return;
      after_pad = true;
      n = 0;
      acc = 0;
      continue;
    }
    int v = kB64[c];
    if (v < 0) {
      if (!(c == ' ' || c == '\t' || c == '\r' || c == '\n')) *bad = true;
      continue;
    }
    if (after_pad) {
      *bad = true;
      after_pad = false;
    }
    acc = (acc << 6) | static_cast<uint32_t>(v);
    ++n;
    if (n == 4) {
      if (!sink.put(static_cast<char>(acc >> 16)) || !sink.put(static_cast<char>(acc >> 8)) ||
          !sink.put(static_cast<char>(acc)))
        return;
      n = 0;
      acc = 0;
    }
  }
  if (n == 1) *bad = true;
  if (n == 2) sink.put(static_cast<char>(acc >> 4));
  if (n == 3) {
    if (sink.put(static_cast<char>(acc >> 10))) sink.put(static_cast<char>(acc >> 2));
  }
}

// RFC 2045 §6.7: trailing whitespace on a line is dropped (rule 3), "=" at the end of a
// line is a soft break (rule 5), "=XX" an octet (rule 1; lower-case hex tolerated). An
// '=' followed by anything else is kept literally and flagged. Hard line breaks are kept
// as written (CRLF or LF).
void qp_into(std::string_view in, Sink& sink, bool* bad) {
  size_t pos = 0;
  while (pos < in.size()) {
    Line l = line_at(in, pos, in.size());
    size_t e = l.end;
    while (e > l.begin && (in[e - 1] == ' ' || in[e - 1] == '\t')) --e;
    bool soft = false;
    for (size_t i = l.begin; i < e; ++i) {
      char c = in[i];
      if (c == '=') {
        if (i + 1 == e) {
          soft = true;
          break;
        }
        if (i + 2 < e && hex_digit(in[i + 1]) >= 0 && hex_digit(in[i + 2]) >= 0) {
          if (!sink.put(static_cast<char>(hex_digit(in[i + 1]) * 16 + hex_digit(in[i + 2])))) return;
          i += 2;
          continue;
        }
        *bad = true;
      }
      if (!sink.put(c)) return;
    }
    if (!soft && l.next > l.end) {
      for (size_t i = l.end; i < l.next; ++i)
        if (!sink.put(in[i])) return;
    }
    pos = l.next;
  }
}

enum class Cte { kIdentity, kBase64, kQuotedPrintable, kUnknown };

Cte classify_cte(std::string_view v) {
  std::string e = to_lower(trim(v));
  if (e.empty() || e == "7bit" || e == "8bit" || e == "binary") return Cte::kIdentity;
  if (e == "base64") return Cte::kBase64;
  if (e == "quoted-printable") return Cte::kQuotedPrintable;
  return Cte::kUnknown;
}

void decode_into(std::string_view body, Cte cte, Sink& sink, bool* bad) {
  switch (cte) {
    case Cte::kBase64:
      base64_into(body, sink, bad);
      break;
    case Cte::kQuotedPrintable:
      qp_into(body, sink, bad);
      break;
    default: {
      // Identity: bulk copy what fits the kept window, count the rest up to the cap.
      uint64_t room = sink.max > sink.count ? sink.max - sink.count : 0;
      uint64_t n = std::min<uint64_t>(body.size(), room);
      if (sink.count < sink.keep) {
        uint64_t k = std::min<uint64_t>(n, sink.keep - sink.count);
        sink.out->append(body.data(), static_cast<size_t>(k));
      }
      sink.count += n;
      if (n < body.size()) sink.capped = true;
      break;
    }
  }
}

bool is_wsp(char c) { return c == ' ' || c == '\t'; }

// RFC 5322 §3.6.8: a field name is one or more printable US-ASCII characters (33-126; the
// caller has split at the colon).
bool field_name_ok(std::string_view name) {
  return !name.empty() && std::all_of(name.begin(), name.end(), [](char c) {
    return static_cast<unsigned char>(c) > 32 && static_cast<unsigned char>(c) < 127;
  });
}

std::string strip_controls(std::string s) {
  for (auto& c : s)
    if (static_cast<unsigned char>(c) < 0x20 || c == 0x7F) c = ' ';
  return std::string(trim(s));
}

// Cut a UTF-8 string to at most n bytes without splitting a character.
void utf8_truncate(std::string& s, size_t n) {
  if (s.size() <= n) return;
  while (n > 0 && (static_cast<unsigned char>(s[n]) & 0xC0) == 0x80) --n;
  s.resize(n);
}

}  // namespace

std::string decode_base64(std::string_view in, bool* bad, uint64_t max_out) {
  std::string out;
  bool b = false;
  Sink sink{&out, max_out, max_out};
  base64_into(in, sink, &b);
  if (bad) *bad = b;
  return out;
}

std::string decode_quoted_printable(std::string_view in, bool* bad, uint64_t max_out) {
  std::string out;
  bool b = false;
  Sink sink{&out, max_out, max_out};
  qp_into(in, sink, &b);
  if (bad) *bad = b;
  return out;
}

// ======================================================================================
// 2. Content fields (RFC 2045 §5.1, RFC 2183, RFC 2231), addresses, dates

const std::string* ContentField::param(std::string_view name) const {
  for (const auto& [k, v] : params)
    if (k == name) return &v;
  return nullptr;
}

namespace {

// Remove RFC 5322 comments "( ... )" outside quoted strings (nesting bounded).
std::string strip_comments(std::string_view s, std::string* first_comment = nullptr) {
  if (s.find('(') == std::string_view::npos) return std::string(s);
  std::string out;
  out.reserve(s.size());
  int depth = 0;
  bool quoted = false;
  std::string comment;
  for (size_t i = 0; i < s.size(); ++i) {
    char c = s[i];
    if (depth == 0 && c == '"') quoted = !quoted;
    if (quoted || depth == 0) {
      if (!quoted && c == '(') {
        depth = 1;
        continue;
      }
      if (c == '\\' && quoted && i + 1 < s.size()) {
        out += c;
        out += s[++i];
        continue;
      }
      out += c;
      continue;
    }
    // inside a comment
    if (c == '\\' && i + 1 < s.size()) {
      comment += s[++i];
      continue;
    }
    if (c == '(' && depth < 32) ++depth;
    else if (c == ')') {
      if (--depth == 0) {
        if (first_comment && first_comment->empty()) *first_comment = std::string(trim(comment));
        comment.clear();
        out += ' ';
      }
      continue;
    }
    if (depth > 0) comment += c;
  }
  return out;
}

struct RawParam {
  std::string name;  // lower case, as written including any '*' parts
  std::string value; // unquoted
};

std::vector<RawParam> split_params(std::string_view s, size_t start) {
  std::vector<RawParam> out;
  size_t i = start;
  constexpr size_t kMaxParams = 256;
  while (i < s.size() && out.size() < kMaxParams) {
    while (i < s.size() && (s[i] == ';' || is_wsp(s[i]) || s[i] == '\r' || s[i] == '\n')) ++i;
    if (i >= s.size()) break;
    size_t eq = i;
    while (eq < s.size() && s[eq] != '=' && s[eq] != ';') ++eq;
    if (eq >= s.size() || s[eq] == ';') {  // attribute without value: skip it
      i = eq;
      continue;
    }
    std::string name = to_lower(trim(s.substr(i, eq - i)));
    size_t j = eq + 1;
    while (j < s.size() && is_wsp(s[j])) ++j;
    std::string value;
    if (j < s.size() && s[j] == '"') {
      ++j;
      while (j < s.size() && s[j] != '"') {
        if (s[j] == '\\' && j + 1 < s.size()) ++j;
        value += s[j++];
      }
      if (j < s.size()) ++j;  // closing quote
      while (j < s.size() && s[j] != ';') ++j;  // junk after the quoted string
    } else {
      size_t b = j;
      while (j < s.size() && s[j] != ';') ++j;
      value = std::string(trim(s.substr(b, j - b)));
    }
    if (!name.empty()) out.push_back({std::move(name), std::move(value)});
    i = j;
  }
  return out;
}

}  // namespace

ContentField parse_content_field(std::string_view raw_in, Anomalies* anomalies) {
  ContentField f;
  std::string s = strip_comments(unfold(raw_in));
  size_t semi = s.find(';');
  f.value = to_lower(trim(std::string_view(s).substr(0, semi)));
  // Some mailers write "text/plain charset=..." without ';': keep the first word only.
  if (auto sp = f.value.find_first_of(" \t"); sp != std::string::npos) f.value.resize(sp);
  if (semi == std::string::npos) return f;
  std::vector<RawParam> raw = split_params(s, semi + 1);

  // RFC 2231 §3-4: name*N (section), name*N* / name* (extended, charset'lang'%XX).
  struct Section {
    uint32_t n;
    bool extended;
    std::string value;
  };
  std::map<std::string, std::vector<Section>> sections;
  std::vector<std::string> order;
  for (auto& p : raw) {
    size_t star = p.name.find('*');
    if (star == std::string::npos) {
      if (!f.param(p.name)) f.params.emplace_back(p.name, p.value);
      continue;
    }
    std::string base = p.name.substr(0, star);
    std::string_view rest = std::string_view(p.name).substr(star + 1);
    Section sec{0, false, p.value};
    if (rest.empty()) {
      sec.extended = true;  // name*
    } else {
      bool ext = rest.back() == '*';
      if (ext) rest.remove_suffix(1);
      if (rest.empty() || rest.size() > 3 ||
          !std::all_of(rest.begin(), rest.end(), [](char c) { return std::isdigit(static_cast<unsigned char>(c)); }))
        continue;
      sec.n = static_cast<uint32_t>(std::stoul(std::string(rest)));
      sec.extended = ext;
    }
    auto& v = sections[base];
    if (v.empty()) order.push_back(base);
    if (v.size() < kMimeMaxParamSections) v.push_back(std::move(sec));
  }
  for (const auto& base : order) {
    auto& v = sections[base];
    std::stable_sort(v.begin(), v.end(), [](const Section& a, const Section& b) { return a.n < b.n; });
    // Join the raw octets; the charset comes from the first extended section (RFC 2231 §4.1).
    std::string charset, bytes;
    bool have_charset = false;
    for (size_t k = 0; k < v.size(); ++k) {
      if (k > 0 && v[k].n == v[k - 1].n) continue;  // duplicate section number
      std::string_view val = v[k].value;
      if (v[k].extended) {
        if (k == 0) {
          size_t q1 = val.find('\'');
          size_t q2 = q1 == std::string_view::npos ? q1 : val.find('\'', q1 + 1);
          if (q2 != std::string_view::npos) {
            charset = std::string(val.substr(0, q1));
            have_charset = true;
            val = val.substr(q2 + 1);
          }
        }
        bytes += percent_decode(val);
      } else {
        bytes += val;
      }
    }
    DecodeIssues issues;
    std::string value = to_utf8(bytes, have_charset && !charset.empty() ? charset : "utf-8", &issues);
    if (anomalies) {
      if (issues.unknown_charset) anomalies->set(Anomaly::kUnknownCharset);
      if (issues.invalid_data) anomalies->set(Anomaly::kBadCharsetData);
    }
    // The RFC 2231 form wins over a plain parameter of the same name.
    bool replaced = false;
    for (auto& [k, val] : f.params)
      if (k == base) {
        val = value;
        replaced = true;
      }
    if (!replaced) f.params.emplace_back(base, std::move(value));
  }
  return f;
}

// ---- RFC 5322 §3.4 addresses ---------------------------------------------------------

namespace {

struct AddrBuilder {
  std::string phrase;        // words outside <>, quotes removed
  std::string angle;         // text inside <>
  std::string comment;       // first comment (name fallback)
  bool saw_angle = false;
  bool any = false;
  void clear() { *this = AddrBuilder{}; }
};

void add_word(std::string& dst, std::string_view w, bool space_before) {
  if (space_before && !dst.empty() && dst.back() != ' ') dst += ' ';
  dst.append(w);
}

MailAddress finish_address(AddrBuilder& b) {
  MailAddress a;
  std::string spec;
  std::string name = std::string(trim(b.phrase));
  if (b.saw_angle) {
    spec = std::string(trim(b.angle));
    // RFC 5322 §4.4 obs-route "@a,@b:user@host": keep the route as adl.
    if (!spec.empty() && spec[0] == '@') {
      size_t colon = spec.find(':');
      if (colon != std::string::npos) {
        a.adl = spec.substr(0, colon);
        spec = spec.substr(colon + 1);
      }
    }
  } else {
    // No angle brackets: the whole phrase is the addr-spec (whitespace is not part of it).
    for (char c : name)
      if (c != ' ') spec += c;
    name.clear();
  }
  if (name.empty() && !b.comment.empty()) name = b.comment;
  if (!name.empty()) a.name = name;
  size_t at = spec.rfind('@');
  if (at == std::string::npos) {
    a.mailbox = spec;
    a.host = std::string();  // never NIL: NIL host means group syntax (RFC 9051 §7.5.2)
  } else {
    a.mailbox = spec.substr(0, at);
    a.host = spec.substr(at + 1);
  }
  return a;
}

}  // namespace

std::vector<MailAddress> parse_address_list(std::string_view raw, uint32_t max_addresses,
                                            bool* limit_hit) {
  std::string s = unfold(raw);
  std::vector<MailAddress> out;
  AddrBuilder b;
  bool in_group = false;
  bool in_angle = false;
  bool pending_space = false;
  auto emit = [&]() {
    if (b.any && (!trim(b.phrase).empty() || b.saw_angle)) {
      if (out.size() >= max_addresses) {
        if (limit_hit) *limit_hit = true;
      } else if (!(b.saw_angle && trim(b.angle).empty() && trim(b.phrase).empty())) {
        out.push_back(finish_address(b));
      }
    }
    b.clear();
  };
  for (size_t i = 0; i < s.size(); ++i) {
    char c = s[i];
    if (c == '(') {  // comment, possibly nested
      int depth = 1;
      std::string text;
      size_t j = i + 1;
      for (; j < s.size() && depth > 0; ++j) {
        if (s[j] == '\\' && j + 1 < s.size()) {
          text += s[++j];
          continue;
        }
        if (s[j] == '(') ++depth;
        else if (s[j] == ')') --depth;
        if (depth > 0) text += s[j];
      }
      if (b.comment.empty()) b.comment = std::string(trim(text));
      i = j - 1;
      pending_space = true;
      continue;
    }
    if (c == '"') {
      std::string text;
      size_t j = i + 1;
      for (; j < s.size() && s[j] != '"'; ++j) {
        if (s[j] == '\\' && j + 1 < s.size()) ++j;
        text += s[j];
      }
      i = j;  // at the closing quote (or end)
      if (in_angle) b.angle += "\"" + text + "\"";
      else add_word(b.phrase, text, pending_space);
      b.any = true;
      pending_space = false;
      continue;
    }
    if (in_angle) {
      if (c == '>') in_angle = false;
      else if (c != ' ' && c != '\t') b.angle += c;
      continue;
    }
    switch (c) {
      case '<':
        in_angle = true;
        b.saw_angle = true;
        b.any = true;
        break;
      case ',':
        emit();
        pending_space = false;
        break;
      case ':':
        if (!in_group && !b.saw_angle) {  // group start: "name:" (RFC 5322 §3.4 group)
          MailAddress g;
          g.mailbox = std::string(trim(b.phrase));
          if (out.size() < max_addresses) out.push_back(std::move(g));
          b.clear();
          in_group = true;
        } else {
          b.phrase += c;
        }
        pending_space = false;
        break;
      case ';':
        emit();
        if (in_group) {
          if (out.size() < max_addresses) out.push_back(MailAddress{});
          in_group = false;
        }
        pending_space = false;
        break;
      case ' ':
      case '\t':
        pending_space = true;
        break;
      default:
        // Dots and '@' glue to their neighbours ("john . doe @ example.com").
        if (c == '.' || c == '@' || (!b.phrase.empty() && (b.phrase.back() == '.' || b.phrase.back() == '@')))
          pending_space = false;
        if (pending_space && !b.phrase.empty()) b.phrase += ' ';
        b.phrase += c;
        b.any = true;
        pending_space = false;
        break;
    }
  }
  emit();
  if (in_group && out.size() < max_addresses) out.push_back(MailAddress{});  // unterminated
  return out;
}

// ---- RFC 5322 §3.3 date-time ---------------------------------------------------------

namespace {
int64_t days_from_civil(int64_t y, unsigned m, unsigned d) {
  y -= m <= 2;
  const int64_t era = (y >= 0 ? y : y - 399) / 400;
  const unsigned yoe = static_cast<unsigned>(y - era * 400);
  const unsigned doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
  const unsigned doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
  return era * 146097 + static_cast<int64_t>(doe) - 719468;
}
}  // namespace

std::optional<int64_t> parse_rfc5322_date(std::string_view raw, int* tz_offset_minutes) {
  std::string s = strip_comments(unfold(raw));
  // Tokenise on whitespace and commas; keep ':' inside the time token.
  std::vector<std::string> tok;
  std::string cur;
  for (char c : s) {
    if (c == ' ' || c == '\t' || c == ',') {
      if (!cur.empty()) tok.push_back(std::move(cur));
      cur.clear();
      if (tok.size() > 16) return std::nullopt;
    } else {
      cur += c;
    }
  }
  if (!cur.empty()) tok.push_back(std::move(cur));
  size_t i = 0;
  if (i < tok.size() && std::isalpha(static_cast<unsigned char>(tok[i][0]))) ++i;  // day-of-week
  auto num = [](const std::string& t, int& v) {
    if (t.empty() || t.size() > 4) return false;
    v = 0;
    for (char c : t) {
      if (!std::isdigit(static_cast<unsigned char>(c))) return false;
      v = v * 10 + (c - '0');
    }
    return true;
  };
  static constexpr std::string_view kMonths[] = {"jan", "feb", "mar", "apr", "may", "jun",
                                                 "jul", "aug", "sep", "oct", "nov", "dec"};
  int day = 0, month = 0, year = 0;
  if (i + 3 > tok.size() || !num(tok[i], day)) return std::nullopt;
  std::string mon = to_lower(tok[i + 1].substr(0, 3));
  for (int m = 0; m < 12; ++m)
    if (kMonths[m] == mon) month = m + 1;
  if (month == 0 || !num(tok[i + 2], year)) return std::nullopt;
  // RFC 5322 §4.3: two-digit years < 50 are 20xx, others 19xx; three-digit + 1900.
  if (tok[i + 2].size() == 2) year += year < 50 ? 2000 : 1900;
  else if (tok[i + 2].size() == 3) year += 1900;
  i += 3;
  int hh = 0, mm = 0, ss = 0;
  if (i < tok.size()) {
    auto parts = split(tok[i], ':');
    if (parts.size() < 2 || parts.size() > 3) return std::nullopt;
    if (!num(std::string(parts[0]), hh) || !num(std::string(parts[1]), mm)) return std::nullopt;
    if (parts.size() == 3 && !num(std::string(parts[2]), ss)) return std::nullopt;
    ++i;
  }
  int offset = 0;
  if (i < tok.size()) {
    const std::string& z = tok[i];
    if ((z[0] == '+' || z[0] == '-') && z.size() == 5) {
      int v = 0;
      if (!num(z.substr(1), v)) return std::nullopt;
      offset = (v / 100) * 60 + v % 100;
      if (z[0] == '-') offset = -offset;
    } else {
      static const std::pair<std::string_view, int> kZones[] = {
          {"ut", 0},          {"utc", 0},         {"gmt", 0},         {"z", 0},
          {"est", -5 * 60},   {"edt", -4 * 60},   {"cst", -6 * 60},   {"cdt", -5 * 60},
          {"mst", -7 * 60},   {"mdt", -6 * 60},   {"pst", -8 * 60},   {"pdt", -7 * 60},
          {"jst", 9 * 60},    {"kst", 9 * 60},    {"cet", 60},        {"cest", 120},
          {"bst", 60},        {"ist", 330}};
      std::string lz = to_lower(z);
      for (const auto& [name, off] : kZones)
        if (lz == name) offset = off;
      // Other (military, unknown) zones: RFC 5322 §4.3 says treat as -0000.
    }
  }
  if (day < 1 || day > 31 || hh > 23 || mm > 59 || ss > 60 || year < 1900 || year > 9999)
    return std::nullopt;
  if (tz_offset_minutes) *tz_offset_minutes = offset;
  int64_t days = days_from_civil(year, static_cast<unsigned>(month), static_cast<unsigned>(day));
  return days * 86400 + hh * 3600 + mm * 60 + ss - static_cast<int64_t>(offset) * 60;
}

// ======================================================================================
// 3. File type sniffing

std::string_view file_type_name(FileType t) {
  switch (t) {
    case FileType::kUnknown: return "unknown";
    case FileType::kEmpty: return "empty";
    case FileType::kText: return "text";
    case FileType::kHtml: return "html";
    case FileType::kPe: return "pe";
    case FileType::kElf: return "elf";
    case FileType::kMachO: return "macho";
    case FileType::kJavaClass: return "java_class";
    case FileType::kZip: return "zip";
    case FileType::kOoxml: return "ooxml";
    case FileType::kOdf: return "odf";
    case FileType::kJar: return "jar";
    case FileType::kRar: return "rar";
    case FileType::k7z: return "7z";
    case FileType::kGzip: return "gzip";
    case FileType::kBzip2: return "bzip2";
    case FileType::kXz: return "xz";
    case FileType::kCab: return "cab";
    case FileType::kIso: return "iso";
    case FileType::kArj: return "arj";
    case FileType::kLzh: return "lzh";
    case FileType::kPdf: return "pdf";
    case FileType::kOle2: return "ole2";
    case FileType::kRtf: return "rtf";
    case FileType::kChm: return "chm";
    case FileType::kLnk: return "lnk";
    case FileType::kJavaScript: return "javascript";
    case FileType::kVbScript: return "vbscript";
    case FileType::kPowerShell: return "powershell";
    case FileType::kBatch: return "batch";
    case FileType::kShellScript: return "shell_script";
    case FileType::kHta: return "hta";
    case FileType::kPng: return "png";
    case FileType::kJpeg: return "jpeg";
    case FileType::kGif: return "gif";
    case FileType::kBmp: return "bmp";
    case FileType::kTiff: return "tiff";
    case FileType::kWebp: return "webp";
    case FileType::kIco: return "ico";
    case FileType::kSvg: return "svg";
    case FileType::kWebShortcut: return "web_shortcut";
    case FileType::kShortcut: return "internet_shortcut";
  }
  return "unknown";
}

bool file_type_is_executable(FileType t) {
  switch (t) {
    case FileType::kPe: case FileType::kElf: case FileType::kMachO: case FileType::kJavaClass:
    case FileType::kJar: case FileType::kChm: case FileType::kLnk: case FileType::kJavaScript:
    case FileType::kVbScript: case FileType::kPowerShell: case FileType::kBatch:
    case FileType::kHta: case FileType::kShortcut:
      return true;
    // A "#!" script (shell, Perl, Python) does not run when opened from a mail client on any
    // desktop system (it needs an execute bit that a saved attachment does not get), and
    // mailing lists send them as ordinary ham: 2 of split A's even/odd false positives.
    case FileType::kShellScript:
      return false;
    default:
      return false;
  }
}

namespace {

// Visits each "key=value" line of an INI text, key and value trimmed, as written; stops when
// visit returns false.
template <class Visit>
void ini_lines(std::string_view t, Visit&& visit) {
  for (size_t i = 0; i < t.size();) {
    size_t nl = t.find('\n', i);
    std::string_view line = t.substr(i, nl == std::string_view::npos ? std::string_view::npos : nl - i);
    i = nl == std::string_view::npos ? t.size() : nl + 1;
    size_t eq = line.find('=');
    if (eq == std::string_view::npos || line.starts_with('[') || line.starts_with(';')) continue;
    if (!visit(trim(line.substr(0, eq)), trim(line.substr(eq + 1)))) return;
  }
}

bool web_target(std::string_view v) {
  return v.size() > 8 && (iequals(v.substr(0, 7), "http://") || iequals(v.substr(0, 8), "https://"));
}

// An Internet shortcut is a web link only when every target it names (URL=, BASEURL=,
// IconFile=) is an http(s) address, and it names at least one URL.
FileType shortcut_kind(std::string_view text) {
  bool any = false, other = false;
  ini_lines(text, [&](std::string_view k, std::string_view v) {
    const bool url = iequals(k, "url") || iequals(k, "baseurl");
    if (url || iequals(k, "iconfile")) {
      if (!web_target(v)) other = true;
      else if (url) any = true;
    }
    return !other;
  });
  return any && !other ? FileType::kWebShortcut : FileType::kShortcut;
}

}  // namespace

std::vector<std::string> shortcut_targets(std::string_view head) {
  std::vector<std::string> out;
  if (sniff_file_type(head) != FileType::kWebShortcut) return out;
  ini_lines(head.substr(0, 4096), [&](std::string_view k, std::string_view v) {
    if (!iequals(k, "url") && !iequals(k, "baseurl")) return true;
    // A link's href is UTF-8 (README "Invariants"; the url scope's `u` patterns need it). A
    // .url file is written in the Windows code page: a value that is not UTF-8 is read the
    // way undeclared text is (to_utf8), so 8-bit bytes in it cannot reach the rules raw.
    std::string url = is_valid_utf8(v) ? std::string(v) : to_utf8(v, {});
    if (std::find(out.begin(), out.end(), url) == out.end()) out.push_back(std::move(url));
    return out.size() < kMaxShortcutTargets;
  });
  return out;
}

FileType sniff_file_type(std::string_view h) {
  if (h.empty()) return FileType::kEmpty;
  auto at = [&](size_t off, std::string_view magic) {
    return h.size() >= off + magic.size() && h.compare(off, magic.size(), magic) == 0;
  };
  using namespace std::string_view_literals;
  if (at(0, "MZ")) return FileType::kPe;
  if (at(0, "\x7F" "ELF")) return FileType::kElf;
  if (at(0, "\xCA\xFE\xBA\xBE"sv)) return h.size() >= 8 && h[7] > 30 ? FileType::kJavaClass : FileType::kMachO;
  if (at(0, "\xFE\xED\xFA\xCE"sv) || at(0, "\xFE\xED\xFA\xCF"sv) || at(0, "\xCE\xFA\xED\xFE"sv) ||
      at(0, "\xCF\xFA\xED\xFE"sv))
    return FileType::kMachO;
  if (at(0, "PK\x03\x04"sv) || at(0, "PK\x05\x06"sv) || at(0, "PK\x07\x08"sv)) {
    if (h.find("[Content_Types].xml") != std::string_view::npos) return FileType::kOoxml;
    if (at(30, "mimetypeapplication/vnd.oasis")) return FileType::kOdf;
    if (h.find("META-INF/MANIFEST.MF") != std::string_view::npos) return FileType::kJar;
    return FileType::kZip;
  }
  if (at(0, "Rar!\x1A\x07"sv)) return FileType::kRar;
  if (at(0, "7z\xBC\xAF\x27\x1C"sv)) return FileType::k7z;
  if (at(0, "\x1F\x8B"sv)) return FileType::kGzip;
  if (at(0, "BZh")) return FileType::kBzip2;
  if (at(0, "\xFD" "7zXZ\x00"sv)) return FileType::kXz;
  if (at(0, "MSCF")) return FileType::kCab;
  if (at(0, "\x60\xEA"sv)) return FileType::kArj;
  if (at(2, "-lh") || at(2, "-lz")) return FileType::kLzh;
  if (at(0, "\xD0\xCF\x11\xE0\xA1\xB1\x1A\xE1"sv)) return FileType::kOle2;
  if (at(0, "ITSF")) return FileType::kChm;
  if (at(0, "\x4C\x00\x00\x00\x01\x14\x02\x00"sv)) return FileType::kLnk;
  if (at(0, "{\\rtf")) return FileType::kRtf;
  if (h.substr(0, 1024).find("%PDF-") != std::string_view::npos) return FileType::kPdf;
  if (at(0x8001, "CD001") || at(0x8801, "CD001") || at(0x9001, "CD001")) return FileType::kIso;
  if (at(0, "\x89PNG\r\n\x1A\n"sv)) return FileType::kPng;
  if (at(0, "\xFF\xD8\xFF"sv)) return FileType::kJpeg;
  if (at(0, "GIF87a") || at(0, "GIF89a")) return FileType::kGif;
  if (at(0, "II*\x00"sv) || at(0, "MM\x00*"sv)) return FileType::kTiff;
  if (at(0, "RIFF") && at(8, "WEBP")) return FileType::kWebp;
  if (at(0, "BM") && h.size() >= 26 && h[6] == 0 && h[7] == 0 && h[8] == 0 && h[9] == 0)
    return FileType::kBmp;
  if (at(0, "\x00\x00\x01\x00"sv) && h.size() >= 6 && h[4] != 0) return FileType::kIco;

  // Text heuristics over the first 4 KiB: mostly printable?
  std::string_view head = h.substr(0, 4096);
  size_t bin = 0;
  for (unsigned char c : head)
    if ((c < 0x20 && c != '\n' && c != '\r' && c != '\t' && c != '\f' && c != 0x1B) || c == 0x7F) ++bin;
  if (bin * 20 > head.size()) return FileType::kUnknown;
  // Lower-case once, then plain find() (memchr-fast) for every marker.
  std::string lowered = to_lower(head);
  std::string_view t = lowered;
  if (t.starts_with("\xEF\xBB\xBF")) t.remove_prefix(3);
  auto has_ci = [](std::string_view hay, std::string_view needle) {
    return hay.find(needle) != std::string_view::npos;
  };
  while (!t.empty() && (t[0] == ' ' || t[0] == '\n' || t[0] == '\r' || t[0] == '\t')) t.remove_prefix(1);
  if (t.starts_with("#!")) return FileType::kShellScript;
  if (has_ci(t, "[internetshortcut]")) return shortcut_kind(t);
  if (has_ci(t, "<hta:application")) return FileType::kHta;
  if (has_ci(t.substr(0, 256), "<svg") || (t.starts_with("<?xml") && has_ci(t, "<svg")))
    return FileType::kSvg;
  if (has_ci(t.substr(0, 512), "<html") || has_ci(t.substr(0, 512), "<!doctype html"))
    return FileType::kHtml;
  if (has_ci(t.substr(0, 64), "@echo off") || has_ci(t, "\ncmd /c") || has_ci(t, "%comspec%"))
    return FileType::kBatch;
  int ps = has_ci(t, "invoke-expression") + has_ci(t, "-encodedcommand") + has_ci(t, "new-object") +
           has_ci(t, "downloadstring") + has_ci(t, "[system.") + has_ci(t, "powershell") +
           has_ci(t, "$env:");
  if (ps >= 2) return FileType::kPowerShell;
  int vbs = has_ci(t, "createobject(") + has_ci(t, "wscript.") + has_ci(t, "\ndim ") +
            has_ci(t, "end sub") + has_ci(t, "end function") + has_ci(t, "on error resume next") +
            t.starts_with("dim ") + has_ci(t, "\nset ");
  int js = has_ci(t, "function(") + has_ci(t, "function ") + has_ci(t, "var ") + has_ci(t, "eval(") +
           has_ci(t, "activexobject") + has_ci(t, "document.write") + has_ci(t, "fromcharcode") +
           has_ci(t, "=>") + has_ci(t, "let ") + has_ci(t, "const ");
  if (vbs >= 2 && vbs >= js) return FileType::kVbScript;
  if (js >= 3 || (js >= 2 && (has_ci(t, "activexobject") || has_ci(t, "wscript.")))) return FileType::kJavaScript;
  return FileType::kText;
}

// ======================================================================================
// 4. The entity parser

size_t visible_bytes(std::string_view t, size_t stop) {
  size_t n = 0;
  for (char c : t)
    if (!std::isspace(static_cast<unsigned char>(c)) && ++n >= stop) break;
  return n;
}

namespace {

struct FieldSpan {
  size_t name_begin, name_end, value_begin, value_end;
};

// The distinct words of `t` with at least kMimeAltMinWordBytes bytes, as sorted 64-bit hashes
// (FNV-1a, ASCII lower-cased). A word is a run of ASCII letters and of bytes >= 0x80 (the
// UTF-8 letters of other scripts); digits and punctuation end it. For comparing the two
// alternatives of a multipart/alternative (add_novel_alternatives()).
std::vector<uint64_t> alt_word_hashes(std::string_view t) {
  std::vector<uint64_t> out;
  uint64_t h = 1469598103934665603ull;
  size_t len = 0;
  for (size_t i = 0; i <= t.size(); ++i) {
    unsigned char c = i < t.size() ? static_cast<unsigned char>(t[i]) : ' ';
    bool letter = c >= 0x80 || ((c | 0x20) >= 'a' && (c | 0x20) <= 'z');
    if (letter) {
      if (c < 0x80) c |= 0x20;
      h = (h ^ c) * 1099511628211ull;
      ++len;
      continue;
    }
    if (len >= kMimeAltMinWordBytes) out.push_back(h);
    h = 1469598103934665603ull;
    len = 0;
  }
  std::sort(out.begin(), out.end());
  out.erase(std::unique(out.begin(), out.end()), out.end());
  return out;
}

struct HeaderBlock {
  std::vector<FieldSpan> fields;
  size_t body_offset = 0;
};

class Parser {
 public:
  Parser(std::string_view raw, const MimeLimits& lim, ParsedMessage& pm)
      : root_(raw), lim_(lim), pm_(pm) {}

  void run() {
    pm_.summary.size = root_.size();
    Buffer buf{root_, false};
    parse_entity(buf, 0, root_.size(), /*depth=*/0, /*id=*/"", /*message_root=*/true,
                 /*default_type=*/"text/plain", /*alt_hidden=*/false, pm_.summary.body,
                 &pm_, /*encoded_parent_id=*/"");
    pm_.header_end = pm_.summary.body.body_offset;
    read_inline_text_parts();
    pm_.summary.has_attachments = !pm_.attachments.empty();
    pm_.summary.envelope = build_envelope(pm_, &pm_.summary.references, &pm_.summary.sent_date);
  }

 private:
  struct Buffer {
    std::string_view s;
    bool encoded;  // decoded contents of an encoded message/rfc822: offsets not in raw
  };

  // A text/plain or text/html part sent inline with a file name (parse_entity), read as
  // body text at the end of the parse if the message has little other text.
  struct InlineText {
    Buffer b;
    size_t body_offset, body_end;
    ContentField ct;
    std::string charset;
    Cte cte;
    std::string_view body;
    std::string id;
  };

  // RFC 2183 §2.1: an inline part is meant to be displayed when the message is, and mail
  // programs show a text/plain or text/html part so sent in the message's body, file name
  // or not. Spam sends its whole letter that way (a single-part "inline;
  // filename=filename.html"), so it was an attachment, not body text. It is read as body
  // text only when the rest of the message has almost none (kMimeInlineMaxOtherText), so a
  // letter with a patch or a log sent inline (mutt does that) keeps only its letter as body
  // text; a part with Content-Disposition: attachment is never read. Such a part is decoded
  // a second time here (charged to max_decoded_total again: at most kMimeInlineMaxParts
  // times kMimeInlineMaxBytes).
  void read_inline_text_parts() {
    if (pending_inline_.empty()) return;
    if (visible_bytes(pm_.body_text, kMimeInlineMaxOtherText) >= kMimeInlineMaxOtherText) return;
    const size_t before = pm_.body_text.size();
    for (const InlineText& p : pending_inline_) {
      BodyPart bp;
      bp.body_offset = p.body_offset;
      bp.body_end = p.body_end;
      handle_text(p.b, bp, p.ct, p.charset, p.cte, p.body, p.id, false);
    }
    pm_.inline_text_bytes = pm_.body_text.size() - before;
  }

  // RFC 2046 §5.1.4: a reader shows the preferred alternative only, and the others should be
  // the same content. A mail program derives one from the other, so usually their words
  // coincide and reading both would double the rules' work and the classifier's counts;
  // but spam puts its letter in the plain part beside an HTML part that is one picture, and
  // no rule of the body scope saw it. So each non-preferred text part of this alternative
  // (text_parts from tp_begin on that are not in body_text) joins body_text when fewer than
  // kMimeAltKnownPercent % of its distinct words (kMimeAltMinWords or more, from its first
  // kMimeAltSampleBytes) occur in what the preferred part put there (from body_begin, first
  // kMimeAltPreferredBytes) or in an alternative joined before it.
  void add_novel_alternatives(size_t tp_begin, size_t body_begin) {
    std::vector<uint64_t> known;
    bool known_read = false;
    for (size_t k = tp_begin; k < pm_.text_parts.size(); ++k) {
      TextPart& tp = pm_.text_parts[k];
      if (tp.in_body_text || tp.text.empty()) continue;
      std::vector<uint64_t> words = alt_word_hashes(std::string_view(tp.text).substr(0, kMimeAltSampleBytes));
      if (words.size() < kMimeAltMinWords) continue;
      if (!known_read) {
        std::string_view pref = std::string_view(pm_.body_text).substr(std::min(body_begin, pm_.body_text.size()));
        known = alt_word_hashes(pref.substr(0, kMimeAltPreferredBytes));
        known_read = true;
      }
      size_t found = 0;
      for (uint64_t w : words) found += std::binary_search(known.begin(), known.end(), w);
      if (found * 100 >= kMimeAltKnownPercent * words.size()) continue;
      tp.in_body_text = true;
      append_body_text(tp.text);
      std::vector<uint64_t> merged;
      merged.reserve(known.size() + words.size());
      std::set_union(known.begin(), known.end(), words.begin(), words.end(), std::back_inserter(merged));
      known.swap(merged);
    }
  }

  // ---- header blocks --------------------------------------------------------------
  HeaderBlock scan_header_block(const Buffer& b, size_t begin, size_t end, bool is_part) {
    HeaderBlock hb;
    size_t pos = begin;
    bool terminated = false;
    bool last_had_eol = true;
    size_t count = 0;
    while (pos < end) {
      Line l = line_at(b.s, pos, end);
      if (l.bare_lf) pm_.anomalies.set(Anomaly::kBareLf);
      last_had_eol = l.next > l.end;
      if (l.end - l.begin > kMimeMaxLineOctets) pm_.anomalies.set(Anomaly::kLongLine);
      if (l.begin == l.end) {  // RFC 5322 §2.1: the empty line ends the header
        if (!is_part && begin == 0 &&
            (l.begin + 1 < resume_until_ || header_resumes(b, hb, l.next, end))) {
          pm_.anomalies.set(Anomaly::kHeaderSplit);
          pos = l.next;
          continue;
        }
        hb.body_offset = l.next;
        terminated = true;
        break;
      }
      if (is_wsp(b.s[l.begin])) {  // folded continuation (RFC 5322 §2.2.3)
        if (!hb.fields.empty() && count <= lim_.max_headers) hb.fields.back().value_end = l.end;
        else if (count == 0) pm_.anomalies.set(Anomaly::kHeaderSyntax);
        pos = l.next;
        continue;
      }
      std::string_view line = b.s.substr(l.begin, l.end - l.begin);
      size_t colon = line.find(':');
      std::string_view name = colon == std::string_view::npos ? std::string_view() : line.substr(0, colon);
      while (!name.empty() && is_wsp(name.back())) name.remove_suffix(1);  // obs "Subject :"
      if (!field_name_ok(name)) {
        pm_.anomalies.set(Anomaly::kHeaderSyntax);
        bool mbox_from = !is_part && l.begin == begin && line.starts_with("From ");
        if (hb.fields.empty() && count == 0 && !mbox_from) {
          // The first line is not a header: the entity has no header (the blank line is
          // missing). Its body starts here.
          hb.body_offset = l.begin;
          return hb;
        }
        pos = l.next;
        continue;
      }
      ++count;
      if (count > lim_.max_headers) {
        pm_.anomalies.set(Anomaly::kLimitHeaderCount);
      } else {
        size_t vb = l.begin + colon + 1;
        while (vb < l.end && is_wsp(b.s[vb])) ++vb;
        hb.fields.push_back({l.begin, l.begin + name.size(), vb, l.end});
      }
      pos = l.next;
    }
    if (!terminated) {
      hb.body_offset = end;
      if (!last_had_eol) pm_.anomalies.set(Anomaly::kTruncated);
      else if (is_part && begin < end) pm_.anomalies.set(Anomaly::kHeaderSyntax);
    }
    return hb;
  }

  // Stray empty lines inside a message's header (a bulk mailer that folded an encoded
  // Subject with blank lines between its words): strictly the header ends at the first (RFC
  // 5322 §2.1) and the rest, Content-Type included, becomes body text, so the message reads
  // as one text/plain part made of header lines and base64. Mail readers differ; we read on
  // when the evidence is unmistakable: each empty line is followed by a folded continuation
  // (white space first), every other line up to the empty line before a non-continuation
  // is a field or a continuation, those fields include Content-Type or MIME-Version, and the
  // header before them has neither. A body that quotes a forwarded header does not start
  // with white space, and a MIME message carries its own Content-Type above it. Sets
  // resume_until_ to the empty line that really ends the header.
  bool header_resumes(const Buffer& b, const HeaderBlock& hb, size_t from, size_t end) {
    if (resume_until_ != 0 || from >= end || !is_wsp(b.s[from])) return false;
    for (const auto& f : hb.fields) {
      std::string_view n = b.s.substr(f.name_begin, f.name_end - f.name_begin);
      if (iequals(n, "content-type") || iequals(n, "mime-version")) return false;
    }
    bool mime_field = false;
    size_t pos = from, lines = 0;
    while (true) {
      if (pos >= end || ++lines > kMimeMaxResumedHeaderLines) return false;
      Line l = line_at(b.s, pos, end);
      if (l.begin == l.end) {
        if (l.next < end && is_wsp(b.s[l.next])) {  // another stray empty line
          pos = l.next;
          continue;
        }
        if (!mime_field) return false;
        resume_until_ = l.begin + 1;  // this empty line ends the header (offset + 1: never 0)
        return true;
      }
      pos = l.next;
      if (is_wsp(b.s[l.begin])) continue;
      std::string_view line = b.s.substr(l.begin, l.end - l.begin);
      size_t colon = line.find(':');
      if (colon == std::string_view::npos) return false;
      std::string_view name = line.substr(0, colon);
      if (!field_name_ok(name)) return false;
      mime_field = mime_field || iequals(name, "content-type") || iequals(name, "mime-version");
    }
  }

  std::string field_raw(const Buffer& b, const FieldSpan& f) {
    size_t vb = std::min(f.value_begin, f.value_end);
    std::string_view v = b.s.substr(vb, f.value_end - vb);
    if (v.size() > lim_.max_header_bytes) {
      pm_.anomalies.set(Anomaly::kLimitHeaderBytes);
      v = v.substr(0, lim_.max_header_bytes);
    }
    return std::string(v);
  }

  void note_issues(const DecodeIssues& is) {
    if (is.unknown_charset) pm_.anomalies.set(Anomaly::kUnknownCharset);
    if (is.invalid_data) pm_.anomalies.set(Anomaly::kBadCharsetData);
    if (is.bad_encoded_word) pm_.anomalies.set(Anomaly::kBadEncodedWord);
  }

  // Decode the header block into a MessageHeaders (message roots) and HeaderFields.
  void fill_headers(const Buffer& b, const HeaderBlock& hb, MessageHeaders& mh,
                    std::string_view fallback_charset, bool top) {
    for (const auto& f : hb.fields) {
      HeaderField h;
      h.name = std::string(b.s.substr(f.name_begin, f.name_end - f.name_begin));
      h.raw = field_raw(b, f);
      h.offset = b.encoded ? 0 : f.name_begin;
      bool eight = false, nul = false;
      for (unsigned char c : h.raw) {
        if (c >= 0x80) eight = true;
        if (c == 0) nul = true;
      }
      if (nul) pm_.anomalies.set(Anomaly::kNulByte);
      if (eight) pm_.anomalies.set(is_valid_utf8(h.raw) ? Anomaly::kHeaderUtf8 : Anomaly::kHeader8Bit);
      DecodeIssues is;
      h.value = decode_header_text(h.raw, &is, fallback_charset);
      note_issues(is);
      mh.headers.push_back(std::move(h));
    }
    // RFC 5322 §3.6: at most one of each of these.
    if (top) {
      for (std::string_view once : {"from", "sender", "subject", "date", "to", "cc",
                                    "message-id", "reply-to", "in-reply-to"})
        if (mh.headers_named(once).size() > 1) pm_.anomalies.set(Anomaly::kDuplicateHeader);
    }
    if (const HeaderField* s = mh.header("subject")) {
      mh.subject = s->value;
      mh.has_subject = true;
    }
    auto mailboxes = [&](std::string_view name) {
      std::vector<Mailbox> v;
      for (const HeaderField* h : mh.headers_named(name)) {
        bool hit = false;
        const std::vector<MailAddress>& parsed = addr_cache_[h] = parse_address_list(h->raw, lim_.max_addresses, &hit);
        for (const MailAddress& a : parsed) {
          if (!a.host) continue;  // group markers
          Mailbox m;
          if (a.name) {
            DecodeIssues is;
            m.display_name = decode_header_text(*a.name, &is, fallback_charset);
            note_issues(is);
          }
          m.local = a.mailbox.value_or("");
          m.domain = to_lower(*a.host);
          m.address = m.domain.empty() && a.host->empty() ? m.local : m.local + "@" + *a.host;
          v.push_back(std::move(m));
        }
        if (hit) pm_.anomalies.set(Anomaly::kLimitAddresses);
      }
      return v;
    };
    mh.from_all = mailboxes("from");
    if (!mh.from_all.empty()) mh.from = mh.from_all.front();
    if (auto v = mailboxes("sender"); !v.empty()) mh.sender = v.front();
    mh.to = mailboxes("to");
    mh.cc = mailboxes("cc");
    mh.reply_to = mailboxes("reply-to");
    if (const HeaderField* rp = mh.header("return-path")) {
      std::string v = strip_comments(unfold(rp->raw));
      std::string_view t = trim(v);
      if (!t.empty() && t.front() == '<') t.remove_prefix(1);
      if (!t.empty() && t.back() == '>') t.remove_suffix(1);
      Mailbox m;
      m.address = std::string(trim(t));
      size_t at = m.address.rfind('@');
      m.local = at == std::string::npos ? m.address : m.address.substr(0, at);
      m.domain = at == std::string::npos ? "" : to_lower(m.address.substr(at + 1));
      mh.return_path = std::move(m);
    }
    if (const HeaderField* id = mh.header("message-id")) mh.message_id = unfold(id->raw);
    if (const HeaderField* d = mh.header("date")) {
      DateValue dv;
      dv.raw = unfold(d->raw);
      int tz = 0;
      dv.unix_seconds = parse_rfc5322_date(dv.raw, &tz);
      dv.tz_offset_minutes = tz;
      mh.date = std::move(dv);
    }
    for (const HeaderField* r : mh.headers_named("received")) mh.received.push_back(unfold(r->raw));
  }

  Envelope build_envelope(const MessageHeaders& mh, std::vector<std::string>* references,
                          int64_t* sent_date) {
    Envelope e;
    auto raw_of = [&](std::string_view name) -> std::optional<std::string> {
      const HeaderField* h = mh.header(name);
      if (!h) return std::nullopt;
      return unfold(h->raw);
    };
    auto addrs = [&](std::string_view name) {
      std::vector<MailAddress> v;
      if (const HeaderField* h = mh.header(name)) {
        auto it = addr_cache_.find(h);  // parsed once by fill_headers
        v = it != addr_cache_.end() ? it->second : parse_address_list(h->raw, lim_.max_addresses);
      }
      return v;
    };
    e.date = raw_of("date");
    e.subject = raw_of("subject");
    e.from = addrs("from");
    e.sender = addrs("sender");
    e.reply_to = addrs("reply-to");
    // RFC 9051 §7.5.2: absent or empty Sender / Reply-To default to From.
    if (e.sender.empty()) e.sender = e.from;
    if (e.reply_to.empty()) e.reply_to = e.from;
    e.to = addrs("to");
    e.cc = addrs("cc");
    e.bcc = addrs("bcc");
    e.in_reply_to = raw_of("in-reply-to");
    e.message_id = raw_of("message-id");
    if (references) {
      if (const HeaderField* r = mh.header("references")) {
        std::string v = unfold(r->raw);
        size_t p = 0;
        while (references->size() < 256) {
          size_t a = v.find('<', p);
          if (a == std::string::npos) break;
          size_t z = v.find('>', a);
          if (z == std::string::npos) break;
          references->push_back(v.substr(a, z - a + 1));
          p = z + 1;
        }
      }
    }
    if (sent_date && mh.date && mh.date->unix_seconds) *sent_date = *mh.date->unix_seconds;
    return e;
  }

  // ---- content ----------------------------------------------------------------------
  static std::pair<std::string, std::string> type_as_written(std::string_view raw) {
    std::string s = strip_comments(unfold(raw));
    std::string_view v = trim(std::string_view(s).substr(0, s.find(';')));
    size_t slash = v.find('/');
    if (slash == std::string_view::npos) return {"", ""};
    std::string_view sub = trim(v.substr(slash + 1));
    if (auto sp = sub.find_first_of(" \t"); sp != std::string_view::npos) sub = sub.substr(0, sp);
    return {std::string(trim(v.substr(0, slash))), std::string(sub)};
  }

  static uint64_t count_lines(std::string_view body) {
    uint64_t n = static_cast<uint64_t>(std::count(body.begin(), body.end(), '\n'));
    if (!body.empty() && body.back() != '\n') ++n;
    return n;
  }

  static std::string child_id(const std::string& parent, size_t index) {
    return parent.empty() ? std::to_string(index) : parent + "." + std::to_string(index);
  }

  void parse_entity(const Buffer& b, size_t begin, size_t end, uint32_t depth,
                    const std::string& id, bool message_root, std::string_view default_type,
                    bool alt_hidden, BodyPart& bp, MessageHeaders* mh,
                    const std::string& encoded_parent) {
    pm_.max_depth_seen = std::max(pm_.max_depth_seen, depth);
    ++pm_.part_count;
    HeaderBlock hb = scan_header_block(b, begin, end, !message_root);
    bp.header_offset = begin;
    bp.body_offset = hb.body_offset;
    bp.body_end = end;
    std::string_view body = b.s.substr(hb.body_offset, end - hb.body_offset);
    bp.size = body.size();

    // The MIME fields (raw) of this entity.
    auto field = [&](std::string_view name) -> std::optional<std::string> {
      for (const auto& f : hb.fields)
        if (iequals(b.s.substr(f.name_begin, f.name_end - f.name_begin), name)) return field_raw(b, f);
      return std::nullopt;
    };
    std::optional<std::string> ct_raw = field("content-type");
    ContentField ct = ct_raw ? parse_content_field(*ct_raw, &pm_.anomalies) : ContentField{};
    if (ct.value.find('/') == std::string::npos || ct.value.front() == '/' || ct.value.back() == '/') {
      // RFC 2045 §5.2: missing or invalid Content-Type means the default.
      ContentField d = parse_content_field(default_type);
      ct.value = d.value;
      if (!ct_raw) ct.params = d.params;
    }
    std::string charset = ct.param("charset") ? to_lower(*ct.param("charset")) : "";

    if (mh) {
      fill_headers(b, hb, *mh, charset, message_root && depth == 0);
    }

    auto [type_w, sub_w] = ct_raw ? type_as_written(*ct_raw) : std::pair<std::string, std::string>{};
    if (type_w.empty() || to_lower(type_w) + "/" + to_lower(sub_w) != ct.value) {
      size_t slash = ct.value.find('/');
      type_w = ct.value.substr(0, slash);
      sub_w = ct.value.substr(slash + 1);
    }
    bp.type = type_w;
    bp.subtype = sub_w;
    bp.params.assign(ct.params.begin(), ct.params.end());
    if (ct.params.empty() && !ct_raw && ct.value == "text/plain") bp.params = {{"charset", "us-ascii"}};
    bp.id = field("content-id");
    if (bp.id) bp.id = unfold(*bp.id);
    bp.description = field("content-description");
    if (bp.description) bp.description = unfold(*bp.description);
    std::optional<std::string> cte_raw = field("content-transfer-encoding");
    std::string cte_s = cte_raw ? std::string(trim(unfold(*cte_raw))) : std::string();
    bp.encoding = cte_s.empty() ? "7BIT" : cte_s;
    Cte cte = classify_cte(cte_s);
    if (cte == Cte::kUnknown) pm_.anomalies.set(Anomaly::kUnknownEncoding);
    bp.md5 = field("content-md5");
    if (bp.md5) bp.md5 = unfold(*bp.md5);
    ContentField disp;
    if (std::optional<std::string> d = field("content-disposition")) {
      disp = parse_content_field(*d, &pm_.anomalies);
      if (!disp.value.empty()) bp.disposition = disp.value;
      bp.disposition_params.assign(disp.params.begin(), disp.params.end());
    }
    if (std::optional<std::string> lang = field("content-language")) {
      std::string langs = unfold(*lang);  // split() returns views into it
      for (std::string_view l : split(langs, ','))
        if (!trim(l).empty()) bp.language.emplace_back(trim(l));
    }
    bp.location = field("content-location");
    if (bp.location) bp.location = unfold(*bp.location);

    std::string major = ct.value.substr(0, ct.value.find('/'));
    bool over_parts = pm_.part_count > lim_.max_parts;
    if (over_parts) pm_.anomalies.set(Anomaly::kLimitParts);

    // ---- multipart (RFC 2046 §5.1) ----
    if (major == "multipart") {
      const std::string* boundary = ct.param("boundary");
      bool ok = boundary && !boundary->empty() && boundary->size() <= kMimeMaxBoundaryLength;
      if (!ok) {
        pm_.anomalies.set(Anomaly::kBrokenBoundary);
      } else if (depth + 1 > lim_.max_depth || over_parts) {
        if (depth + 1 > lim_.max_depth) pm_.anomalies.set(Anomaly::kLimitDepth);
        make_opaque(bp);
        return;
      } else if (parse_multipart(b, bp, *boundary, depth, id, ct.value == "multipart/alternative",
                                 ct.value == "multipart/digest", alt_hidden, encoded_parent)) {
        return;
      }
      // No usable boundary: read the body as text so rules still see it.
      bp.type = "text";
      bp.subtype = "plain";
      bp.params = {{"charset", "us-ascii"}};
      bp.children.clear();
      ct.value = "text/plain";
      major = "text";
      charset.clear();
    }

    std::string leaf_id = message_root ? child_id(id, 1) : id;

    // ---- message/rfc822 (RFC 2046 §5.2.1) ----
    if ((ct.value == "message/rfc822" || ct.value == "message/global") && !over_parts) {
      bp.lines = count_lines(body);
      if (depth + 1 > lim_.max_depth) {
        pm_.anomalies.set(Anomaly::kLimitDepth);
        make_opaque(bp);
        return;
      }
      NestedMessage nm;
      nm.part_id = leaf_id;
      nm.depth = depth + 1;
      bool attached = bp.disposition && iequals(*bp.disposition, "attachment");
      if (cte == Cte::kBase64 || cte == Cte::kQuotedPrintable) {
        // RFC 2046 §5.2.1 forbids this encoding, but malware uses it to hide the inner
        // message: decode and parse it for the filter; IMAP sees an opaque part.
        pm_.anomalies.set(Anomaly::kEncodedMessage);
        std::string decoded = decode_budgeted(body, cte, UINT64_MAX, nullptr, nullptr);
        owned_.push_back(std::move(decoded));
        Buffer inner{owned_.back(), true};
        BodyPart scratch;
        parse_entity(inner, 0, inner.s.size(), depth + 1, leaf_id, true, "text/plain", alt_hidden,
                     scratch, &nm.headers, leaf_id);
        addr_cache_.clear();
        make_opaque(bp);
      } else {
        BodyPart child;
        parse_entity(b, hb.body_offset, end, depth + 1, leaf_id, true, "text/plain", alt_hidden,
                     child, &nm.headers, encoded_parent);
        bp.envelope = build_envelope(nm.headers, nullptr, nullptr);
        addr_cache_.clear();  // keys point into nm, which is about to move
        bp.children.push_back(std::move(child));
      }
      if (attached || !disp.params.empty() || ct.param("name")) {
        Attachment a = make_attachment(b, bp, ct, disp, leaf_id, depth, cte, encoded_parent);
        a.sniffed = FileType::kText;
        pm_.attachments.push_back(std::move(a));
      }
      pm_.nested.push_back(std::move(nm));
      return;
    }

    // ---- leaf ----
    if (major == "text" || major == "message") bp.lines = count_lines(body);
    if (over_parts) return;  // counted and described, not decoded
    std::string filename = filename_of(ct, disp);
    bool is_attachment = (bp.disposition && iequals(*bp.disposition, "attachment")) || !filename.empty();
    if (major == "text" && !is_attachment) {
      handle_text(b, bp, ct, charset, cte, body, leaf_id, alt_hidden);
      return;
    }
    Attachment a = make_attachment(b, bp, ct, disp, leaf_id, depth, cte, encoded_parent);
    a.filename = filename;
    std::string head;
    bool capped = false, bad = false;
    a.decoded_size = 0;
    decode_budgeted(body, cte, kMimeSniffBytes, &head, &capped, &bad, &a.decoded_size);
    a.decode_capped = capped;
    a.sniffed = sniff_file_type(head);
    if ((ct.value == "text/plain" || ct.value == "text/html") && bp.disposition &&
        iequals(*bp.disposition, "inline") && !alt_hidden && !capped &&
        a.decoded_size <= kMimeInlineMaxBytes && pending_inline_.size() < kMimeInlineMaxParts)
      pending_inline_.push_back(InlineText{b, bp.body_offset, bp.body_end, ct, charset, cte, body, leaf_id});
    if (a.sniffed == FileType::kWebShortcut)  // its target is a link like any other
      for (auto& url : shortcut_targets(head))
        if (pm_.links.size() < lim_.max_links) pm_.links.push_back(Link{std::move(url), {}, LinkSource::kShortcut, leaf_id});
    pm_.attachments.push_back(std::move(a));
  }

  // A container we do not descend into (limits): IMAP sees a single opaque leaf.
  static void make_opaque(BodyPart& bp) {
    bp.type = "application";
    bp.subtype = "octet-stream";
    bp.params.clear();
    bp.children.clear();
    bp.envelope.reset();
    bp.lines = 0;
  }

  std::string filename_of(const ContentField& ct, const ContentField& disp) {
    const std::string* fn = disp.param("filename");
    if (!fn || fn->empty()) fn = ct.param("name");
    if (!fn) return "";
    DecodeIssues is;
    std::string v = decode_header_text(*fn, &is);  // RFC 2047 in names (non-standard, common)
    note_issues(is);
    return strip_controls(std::move(v));
  }

  Attachment make_attachment(const Buffer& b, const BodyPart& bp, const ContentField& ct,
                             const ContentField& disp, const std::string& id, uint32_t depth,
                             Cte cte, const std::string& encoded_parent) {
    Attachment a;
    a.part_id = id;
    a.declared_type = ct.value;
    a.disposition = disp.value;
    a.transfer_encoding = to_lower(bp.encoding);
    if (cte == Cte::kIdentity && a.transfer_encoding.empty()) a.transfer_encoding = "7bit";
    a.encoded_size = bp.size;
    a.decoded_size = bp.size;
    a.body_offset = bp.body_offset;
    a.body_end = bp.body_end;
    a.depth = depth;
    a.from_encoded_message = b.encoded || !encoded_parent.empty();
    a.filename = filename_of(ct, disp);
    return a;
  }

  // Decode `body`, keeping at most `keep` bytes in *out (if given), charging the total
  // decoded budget. Returns the kept bytes when out is null.
  std::string decode_budgeted(std::string_view body, Cte cte, uint64_t keep, std::string* out,
                              bool* capped_out, bool* bad_out = nullptr,
                              uint64_t* size_out = nullptr) {
    std::string local;
    std::string* dst = out ? out : &local;
    uint64_t budget = lim_.max_decoded_total > pm_.decoded_total ? lim_.max_decoded_total - pm_.decoded_total : 0;
    Sink sink{dst, keep, budget};
    bool bad = false;
    decode_into(body, cte, sink, &bad);
    pm_.decoded_total += sink.count;
    if (sink.capped || (budget == 0 && !body.empty())) {
      sink.capped = true;
      pm_.anomalies.set(Anomaly::kLimitDecodedSize);
    }
    if (bad) pm_.anomalies.set(cte == Cte::kBase64 ? Anomaly::kBadBase64 : Anomaly::kBadQuotedPrintable);
    if (capped_out) *capped_out = sink.capped;
    if (bad_out) *bad_out = bad;
    if (size_out) *size_out = sink.count;
    return out ? std::string() : std::move(local);
  }

  void handle_text(const Buffer& b, const BodyPart& bp, const ContentField& ct,
                   const std::string& charset_in, Cte cte, std::string_view body,
                   const std::string& id, bool alt_hidden) {
    TextPart tp;
    tp.part_id = id;
    tp.content_type = ct.value;
    tp.charset = charset_in;
    tp.html = ct.value == "text/html";
    tp.in_body_text = !alt_hidden;
    tp.body_offset = b.encoded ? 0 : bp.body_offset;
    tp.body_end = b.encoded ? 0 : bp.body_end;
    uint64_t keep = tp.html ? lim_.max_html_bytes : lim_.max_text_bytes;
    bool capped = false;
    std::string bytes;
    uint64_t size = 0;
    decode_budgeted(body, cte, keep, &bytes, &capped, nullptr, &size);
    if (tp.html && size > lim_.max_html_bytes) pm_.anomalies.set(Anomaly::kLimitHtml);
    std::string charset = charset_in;
    if (tp.html && charset.empty()) charset = sniff_html_charset(bytes);
    DecodeIssues is;
    std::string text = to_utf8(bytes, charset, &is);
    note_issues(is);
    if (tp.html) {
      size_t room = lim_.max_links > pm_.links.size() ? lim_.max_links - pm_.links.size() : 0;
      HtmlText ht = html_to_text(text, room);
      if (ht.links_truncated) pm_.anomalies.set(Anomaly::kLimitLinks);
      for (auto& l : ht.links) {
        LinkSource src = l.kind == HtmlLink::Kind::kAnchor  ? LinkSource::kHtmlAnchor
                         : l.kind == HtmlLink::Kind::kImage ? LinkSource::kHtmlImage
                         : l.kind == HtmlLink::Kind::kForm  ? LinkSource::kHtmlForm
                                                            : LinkSource::kHtmlOther;
        pm_.links.push_back(Link{std::move(l.href), std::move(l.text), src, id});
      }
      tp.text = std::move(ht.text);
      tp.source = std::move(text);
      extract_plain_urls(tp.text, id);  // URLs written as text, not linked (or link text)
      if (!ht.hidden_text.empty()) {
        pm_.anomalies.set(Anomaly::kHtmlHiddenText);
        if (pm_.hidden_text.size() < lim_.max_text_bytes) {
          if (!pm_.hidden_text.empty()) pm_.hidden_text += '\n';
          pm_.hidden_text += ht.hidden_text;
          utf8_truncate(pm_.hidden_text, lim_.max_text_bytes);
        }
      }
    } else {
      // Normalise line ends to '\n' for the text view: every CR that precedes an LF goes.
      tp.text.reserve(text.size());
      size_t from = 0;
      for (size_t cr = text.find("\r\n"); cr != std::string::npos; cr = text.find("\r\n", cr + 1)) {
        tp.text.append(text, from, cr - from);
        from = cr + 1;
      }
      tp.text.append(text, from, std::string::npos);
      extract_plain_urls(tp.text, id);
    }
    if (tp.in_body_text) append_body_text(tp.text);
    pm_.text_parts.push_back(std::move(tp));
  }

  void append_body_text(std::string_view t) {
    if (t.empty()) return;
    if (pm_.body_text.size() >= lim_.max_text_bytes) {
      pm_.anomalies.set(Anomaly::kLimitText);
      return;
    }
    if (!pm_.body_text.empty()) pm_.body_text += '\n';
    pm_.body_text.append(t);
    if (pm_.body_text.size() > lim_.max_text_bytes) {
      pm_.anomalies.set(Anomaly::kLimitText);
      utf8_truncate(pm_.body_text, lim_.max_text_bytes);
    }
  }

  // URLs written as text: http://, https://, ftp://, and bare www. hosts.
  void extract_plain_urls(std::string_view t, const std::string& id) {
    auto starts_ci = [&](size_t i, std::string_view p) {
      if (i + p.size() > t.size()) return false;
      for (size_t k = 0; k < p.size(); ++k) {
        char c = t[i + k];
        if ((c >= 'A' && c <= 'Z' ? static_cast<char>(c + 32) : c) != p[k]) return false;
      }
      return true;
    };
    for (size_t i = 0; i < t.size(); ++i) {
      // Cheap prefilter on two bytes (ASCII case folded by | 0x20) before the real checks.
      char c = t[i] | 0x20;
      if (c != 'h' && c != 'w' && c != 'f') continue;
      if (i + 4 >= t.size()) break;
      char c2 = t[i + 1] | 0x20;
      if (!((c == 'w' && c2 == 'w') || (c != 'w' && c2 == 't'))) continue;
      if (i > 0 && (std::isalnum(static_cast<unsigned char>(t[i - 1])) || t[i - 1] == '.' ||
                    t[i - 1] == '/' || t[i - 1] == '@'))
        continue;
      if (!(starts_ci(i, "http://") || starts_ci(i, "https://") || starts_ci(i, "ftp://") ||
            starts_ci(i, "www.")))
        continue;
      size_t j = i;
      while (j < t.size()) {
        unsigned char u = static_cast<unsigned char>(t[j]);
        if (u <= 0x20 || u >= 0x7F || u == '<' || u == '>' || u == '"' || u == '\'' || u == '`')
          break;
        ++j;
      }
      while (j > i && std::strchr(".,;:!?)]}", t[j - 1])) --j;
      std::string_view url = t.substr(i, j - i);
      if (url.size() > 4 && !url.ends_with("://")) {
        if (pm_.links.size() >= lim_.max_links) {
          pm_.anomalies.set(Anomaly::kLimitLinks);
          return;
        }
        pm_.links.push_back(Link{std::string(url), {}, LinkSource::kPlainText, id});
      }
      i = j;
    }
  }

  struct Delim {
    size_t line_begin, next;
    bool close;
  };

  // RFC 2046 §5.1.1: a delimiter line is "--" boundary, then "--" for the close
  // delimiter, then optional linear whitespace (transport padding), then the line break.
  // A line that merely starts with the boundary is not a delimiter (this keeps an inner
  // boundary that extends an outer one from matching).
  std::vector<Delim> find_delimiters(std::string_view s, size_t begin, size_t end,
                                     std::string_view boundary, bool* closed) {
    std::vector<Delim> out;
    size_t pos = begin;
    *closed = false;
    while (pos < end) {
      Line l = line_at(s, pos, end);
      size_t len = l.end - l.begin;
      if (len >= boundary.size() + 2 && s[l.begin] == '-' && s[l.begin + 1] == '-' &&
          s.compare(l.begin + 2, boundary.size(), boundary) == 0) {
        std::string_view rest = s.substr(l.begin + 2 + boundary.size(), l.end - (l.begin + 2 + boundary.size()));
        bool close = rest.starts_with("--");
        if (close) rest.remove_prefix(2);
        if (std::all_of(rest.begin(), rest.end(), is_wsp)) {
          out.push_back({l.begin, l.next, close});
          if (close) {
            *closed = true;
            break;
          }
        }
      }
      pos = l.next;
    }
    return out;
  }

  bool parse_multipart(const Buffer& b, BodyPart& bp, const std::string& boundary, uint32_t depth,
                       const std::string& id, bool alternative, bool digest, bool alt_hidden,
                       const std::string& encoded_parent) {
    bool closed = false;
    std::vector<Delim> d = find_delimiters(b.s, bp.body_offset, bp.body_end, boundary, &closed);
    if (d.empty() || d.front().close) {
      pm_.anomalies.set(Anomaly::kBrokenBoundary);
      return false;
    }
    if (!closed) {
      pm_.anomalies.set(Anomaly::kMissingCloseBoundary);
      pm_.anomalies.set(Anomaly::kTruncated);
    }
    // Regions between delimiters. The line break before a delimiter belongs to it
    // (RFC 2046 §5.1.1), so a part ends before that CRLF / LF.
    struct Region {
      size_t begin, end;
    };
    std::vector<Region> regions;
    for (size_t k = 0; k < d.size(); ++k) {
      if (d[k].close) break;
      size_t rb = d[k].next;
      size_t re;
      if (k + 1 < d.size()) {
        re = d[k + 1].line_begin;
        if (re > rb && b.s[re - 1] == '\n') --re;
        if (re > rb && b.s[re - 1] == '\r') --re;
      } else {
        re = bp.body_end;  // unterminated: the last part runs to the end
      }
      regions.push_back({rb, std::max(rb, re)});
    }
    // multipart/alternative: the last part we can render is preferred (RFC 2046 §5.1.4).
    size_t preferred = regions.size();
    if (alternative) {
      for (size_t k = regions.size(); k-- > 0;) {
        ContentField cf;
        HeaderBlock hb = peek_headers(b, regions[k].begin, regions[k].end);
        for (const auto& f : hb.fields)
          if (iequals(b.s.substr(f.name_begin, f.name_end - f.name_begin), "content-type"))
            cf = parse_content_field(b.s.substr(f.value_begin, f.value_end - f.value_begin));
        std::string v = cf.value.empty() ? "text/plain" : cf.value;
        if (v == "text/html" || v == "text/plain" || v.starts_with("multipart/")) {
          preferred = k;
          break;
        }
      }
    }
    const size_t tp_begin = pm_.text_parts.size(), body_begin = pm_.body_text.size();
    for (size_t k = 0; k < regions.size(); ++k) {
      if (pm_.part_count >= lim_.max_parts) {
        pm_.anomalies.set(Anomaly::kLimitParts);
        break;  // IMAP sees the parts parsed so far
      }
      BodyPart child;
      bool hidden = alt_hidden || (alternative && preferred < regions.size() && k != preferred);
      parse_entity(b, regions[k].begin, regions[k].end, depth + 1, child_id(id, k + 1), false,
                   digest ? "message/rfc822" : "text/plain", hidden, child, nullptr, encoded_parent);
      bp.children.push_back(std::move(child));
    }
    if (alternative && !alt_hidden) add_novel_alternatives(tp_begin, body_begin);
    return !bp.children.empty();
  }

  // Header scan without side effects (for choosing the preferred alternative).
  HeaderBlock peek_headers(const Buffer& b, size_t begin, size_t end) {
    Anomalies saved = pm_.anomalies;
    HeaderBlock hb = scan_header_block(b, begin, end, true);
    pm_.anomalies = saved;
    return hb;
  }

  std::string_view root_;
  const MimeLimits& lim_;
  size_t resume_until_ = 0;  // header_resumes(): offset + 1 of the empty line ending the header
  ParsedMessage& pm_;
  std::deque<std::string> owned_;  // decoded encapsulated messages (Buffer targets)
  std::vector<InlineText> pending_inline_;  // read_inline_text_parts()
  // Address fields parsed by fill_headers, reused for the ENVELOPE. Keys point into a
  // MessageHeaders that is not modified after fill_headers; the cache is cleared once a
  // nested message's envelope is built, before that message is moved.
  std::unordered_map<const HeaderField*, std::vector<MailAddress>> addr_cache_;
};

}  // namespace

Result<std::string> ParsedMessage::decoded(const Attachment& a, uint64_t max_bytes) const {
  if (a.from_encoded_message) return Status::not_found("attachment is inside an encoded message/rfc822");
  if (a.body_offset > a.body_end || a.body_end > raw.size()) return Status::invalid("attachment offsets out of range");
  std::string_view body = std::string_view(raw).substr(a.body_offset, a.body_end - a.body_offset);
  std::string out;
  Sink sink{&out, max_bytes, max_bytes};
  bool bad = false;
  decode_into(body, classify_cte(a.transfer_encoding), sink, &bad);
  return out;
}

Result<ParsedMessage> parse_message(std::string_view raw, const MimeLimits& limits) {
  try {
    ParsedMessage pm;
    pm.raw = std::string(raw);
    if (std::memchr(raw.data(), '\0', raw.size())) pm.anomalies.set(Anomaly::kNulByte);
    Parser p(pm.raw, limits, pm);
    p.run();
    return pm;
  } catch (const std::exception& e) {
    return Status::internal(std::string("mime parse: ") + e.what());
  } catch (...) {
    return Status::internal("mime parse: unknown exception");
  }
}

}  // namespace tsubame::filter
