// imapd/parser.cc: IMAP command framing and grammar (see parser.h for the contract).
//
// Failure model: nothing here throws or aborts on input. Malformed input becomes a
// ParseError value carrying the tag (or "*") and a readable reason; the framing layer then
// resynchronises at the next line (after discarding any literal the client sends anyway).
#include "imapd/parser.h"

#include <algorithm>
#include <array>
#include <cctype>
#include <charconv>
#include <limits>

#include "common/bytes.h"

namespace tsubame::imap {

namespace {

// ---- character classes, RFC 9051 §9 ----

bool is_ctl(unsigned char c) { return c < 0x20 || c == 0x7f; }
// atom-specials = "(" / ")" / "{" / SP / CTL / list-wildcards / quoted-specials / resp-specials
bool is_atom_char(unsigned char c) {
  if (c >= 0x80 || is_ctl(c)) return false;
  switch (c) {
    case '(': case ')': case '{': case ' ': case '%': case '*': case '"': case '\\': case ']':
      return false;
    default:
      return true;
  }
}
bool is_astring_char(unsigned char c) { return is_atom_char(c) || c == ']'; }
// list-char = ATOM-CHAR / list-wildcards / resp-specials
bool is_list_char(unsigned char c) { return is_atom_char(c) || c == '%' || c == '*' || c == ']'; }
bool is_digit(unsigned char c) { return c >= '0' && c <= '9'; }

std::string upper(std::string_view s) {
  std::string r(s);
  for (auto& c : r) c = static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
  return r;
}

// Decodes one UTF-8 sequence at s[i]; advances i. Returns false on a malformed sequence.
bool next_utf8(std::string_view s, size_t& i, uint32_t& cp) {
  auto c = static_cast<unsigned char>(s[i]);
  if (c < 0x80) { cp = c; ++i; return true; }
  int n;
  uint32_t min;
  if ((c & 0xe0) == 0xc0) { n = 1; cp = c & 0x1f; min = 0x80; }
  else if ((c & 0xf0) == 0xe0) { n = 2; cp = c & 0x0f; min = 0x800; }
  else if ((c & 0xf8) == 0xf0) { n = 3; cp = c & 0x07; min = 0x10000; }
  else return false;
  if (i + static_cast<size_t>(n) >= s.size()) return false;
  for (int k = 1; k <= n; ++k) {
    auto d = static_cast<unsigned char>(s[i + k]);
    if ((d & 0xc0) != 0x80) return false;
    cp = (cp << 6) | (d & 0x3f);
  }
  if (cp < min || cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff)) return false;
  i += n + 1;
  return true;
}

void put_utf8(std::string& out, uint32_t cp) {
  if (cp < 0x80) {
    out += static_cast<char>(cp);
  } else if (cp < 0x800) {
    out += static_cast<char>(0xc0 | (cp >> 6));
    out += static_cast<char>(0x80 | (cp & 0x3f));
  } else if (cp < 0x10000) {
    out += static_cast<char>(0xe0 | (cp >> 12));
    out += static_cast<char>(0x80 | ((cp >> 6) & 0x3f));
    out += static_cast<char>(0x80 | (cp & 0x3f));
  } else {
    out += static_cast<char>(0xf0 | (cp >> 18));
    out += static_cast<char>(0x80 | ((cp >> 12) & 0x3f));
    out += static_cast<char>(0x80 | ((cp >> 6) & 0x3f));
    out += static_cast<char>(0x80 | (cp & 0x3f));
  }
}

// RFC 3501 §5.1.3: modified BASE64 uses "," instead of "/".
constexpr char kB64[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+,";
int b64_value(char c) {
  if (c >= 'A' && c <= 'Z') return c - 'A';
  if (c >= 'a' && c <= 'z') return c - 'a' + 26;
  if (c >= '0' && c <= '9') return c - '0' + 52;
  if (c == '+') return 62;
  if (c == ',') return 63;
  return -1;
}

constexpr std::array<std::string_view, 12> kMonths = {"JAN", "FEB", "MAR", "APR", "MAY", "JUN",
                                                      "JUL", "AUG", "SEP", "OCT", "NOV", "DEC"};
int month_from(std::string_view s) {
  std::string u = upper(s);
  for (size_t i = 0; i < kMonths.size(); ++i)
    if (u == kMonths[i]) return static_cast<int>(i) + 1;
  return 0;
}
bool leap(int y) { return (y % 4 == 0 && y % 100 != 0) || y % 400 == 0; }
int days_in_month(int y, int m) {
  static constexpr int d[] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
  return m == 2 && leap(y) ? 29 : d[m - 1];
}
bool valid_date(const Date& d) {
  return d.year >= 1 && d.year <= 9999 && d.month >= 1 && d.month <= 12 && d.day >= 1 &&
         d.day <= days_in_month(d.year, d.month);
}
// Days since 1970-01-01 (Howard Hinnant's days_from_civil).
int64_t days_from_civil(int y, int m, int d) {
  y -= m <= 2;
  const int64_t era = (y >= 0 ? y : y - 399) / 400;
  const int64_t yoe = y - era * 400;
  const int64_t doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
  const int64_t doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
  return era * 146097 + doe - 719468;
}

// RFC 9051 §5.1 / RFC 6855 §3: code points a mailbox name must not contain. `name` is UTF-8
// (already validated or produced by mutf7_decode).
bool has_forbidden_mailbox_char(std::string_view name) {
  size_t i = 0;
  uint32_t cp;
  while (i < name.size()) {
    if (!next_utf8(name, i, cp)) return true;
    if (cp < 0x20 || (cp >= 0x7f && cp <= 0x9f) || cp == 0x2028 || cp == 0x2029) return true;
  }
  return false;
}

bool parse_u64(std::string_view s, uint64_t& v) {
  if (s.empty() || s.size() > 20) return false;
  for (char c : s)
    if (!is_digit(static_cast<unsigned char>(c))) return false;
  auto r = std::from_chars(s.data(), s.data() + s.size(), v);
  return r.ec == std::errc() && r.ptr == s.data() + s.size();
}

}  // namespace

// ---------------------------------------------------------------------------------------
// UTF-8 / modified UTF-7

bool is_valid_utf8(std::string_view s) {
  size_t i = 0;
  uint32_t cp;
  while (i < s.size())
    if (!next_utf8(s, i, cp)) return false;
  return true;
}

Result<std::string> mutf7_decode(std::string_view in) {
  std::string out;
  size_t i = 0;
  size_t last_shift_end = std::string_view::npos;  // index just past the last "-" of a shift
  while (i < in.size()) {
    auto c = static_cast<unsigned char>(in[i]);
    if (c >= 0x80) return Status::invalid("8-bit octet in modified UTF-7 mailbox name");
    if (c < 0x20 || c == 0x7f) return Status::invalid("control character in mailbox name");
    if (c != '&') {
      out += static_cast<char>(c);
      ++i;
      continue;
    }
    size_t end = in.find('-', i + 1);
    if (end == std::string_view::npos)
      return Status::invalid("modified UTF-7 shift \"&\" is not closed by \"-\"");
    if (end == i + 1) {  // "&-" is "&"
      out += '&';
      i = end + 1;
      continue;
    }
    // RFC 3501 §5.1.3: "&AGE-&AGI-" must be written "&AGEAYg-".
    if (last_shift_end == i)
      return Status::invalid("adjacent modified UTF-7 shifts must be joined");
    uint32_t bits = 0;
    int nbits = 0;
    uint32_t high = 0;  // pending high surrogate
    for (size_t k = i + 1; k < end; ++k) {
      int v = b64_value(in[k]);
      if (v < 0) return Status::invalid("invalid character in modified BASE64");
      bits = (bits << 6) | static_cast<uint32_t>(v);
      nbits += 6;
      if (nbits >= 16) {
        nbits -= 16;
        uint32_t unit = (bits >> nbits) & 0xffff;
        bits &= (1u << nbits) - 1;
        if (high) {
          if (unit < 0xdc00 || unit > 0xdfff)
            return Status::invalid("unpaired UTF-16 surrogate in modified UTF-7");
          put_utf8(out, 0x10000 + ((high - 0xd800) << 10) + (unit - 0xdc00));
          high = 0;
        } else if (unit >= 0xd800 && unit <= 0xdbff) {
          high = unit;
        } else if (unit >= 0xdc00 && unit <= 0xdfff) {
          return Status::invalid("unpaired UTF-16 surrogate in modified UTF-7");
        } else if (unit >= 0x20 && unit <= 0x7e) {
          return Status::invalid("printable US-ASCII must not be encoded in modified UTF-7");
        } else {
          put_utf8(out, unit);
        }
      }
    }
    if (high) return Status::invalid("unpaired UTF-16 surrogate in modified UTF-7");
    if (nbits >= 6 || bits != 0)
      return Status::invalid("modified BASE64 has leftover or non-zero padding bits");
    i = end + 1;
    last_shift_end = i;
  }
  return out;
}

std::string mutf7_encode(std::string_view utf8) {
  std::string out;
  std::vector<uint16_t> units;
  auto flush = [&]() {
    if (units.empty()) return;
    out += '&';
    uint32_t bits = 0;
    int nbits = 0;
    for (uint16_t u : units) {
      bits = (bits << 16) | u;
      nbits += 16;
      while (nbits >= 6) {
        nbits -= 6;
        out += kB64[(bits >> nbits) & 0x3f];
      }
      bits &= (1u << nbits) - 1;
    }
    if (nbits > 0) out += kB64[(bits << (6 - nbits)) & 0x3f];
    out += '-';
    units.clear();
  };
  size_t i = 0;
  while (i < utf8.size()) {
    uint32_t cp;
    if (!next_utf8(utf8, i, cp)) {
      cp = 0xfffd;
      ++i;
    }
    if (cp >= 0x20 && cp <= 0x7e) {
      flush();
      out += static_cast<char>(cp);
      if (cp == '&') out += '-';
    } else if (cp >= 0x10000) {
      cp -= 0x10000;
      units.push_back(static_cast<uint16_t>(0xd800 + (cp >> 10)));
      units.push_back(static_cast<uint16_t>(0xdc00 + (cp & 0x3ff)));
    } else {
      units.push_back(static_cast<uint16_t>(cp));
    }
  }
  flush();
  return out;
}

// ---------------------------------------------------------------------------------------
// Sequence sets, dates

bool SequenceSet::contains(uint32_t n, uint32_t largest) const {
  for (const auto& r : ranges) {
    uint32_t lo = r.lo == kStar ? largest : r.lo;
    uint32_t hi = r.hi == kStar ? largest : r.hi;
    if (lo > hi) std::swap(lo, hi);
    if (n >= lo && n <= hi) return true;
  }
  return false;
}

namespace {
// seq-number = nz-number / "*"; nz-number = digit-nz *DIGIT, at most 2^32-1.
bool parse_seq_number(std::string_view s, uint32_t& out) {
  if (s == "*") {
    out = SequenceSet::kStar;
    return true;
  }
  if (s.empty() || s[0] == '0') return false;
  uint64_t v;
  if (!parse_u64(s, v) || v > std::numeric_limits<uint32_t>::max()) return false;
  out = static_cast<uint32_t>(v);
  return true;
}
}  // namespace

Result<SequenceSet> parse_sequence_set(std::string_view s, bool allow_saved) {
  SequenceSet set;
  if (s == "$") {  // RFC 5182 §2.1 seq-last-command, only on its own
    if (!allow_saved) return Status::invalid("\"$\" is not allowed here");
    set.saved = true;
    return set;
  }
  if (s.empty()) return Status::invalid("empty sequence set");
  for (std::string_view part : split(s, ',')) {
    if (set.ranges.size() >= kMaxSequenceRanges)
      return Status::invalid("sequence set has too many ranges");
    SeqRange r;
    size_t colon = part.find(':');
    if (colon == std::string_view::npos) {
      if (!parse_seq_number(part, r.lo))
        return Status::invalid("invalid sequence number \"" + std::string(part) + "\"");
      r.hi = r.lo;
    } else {
      if (!parse_seq_number(part.substr(0, colon), r.lo) ||
          !parse_seq_number(part.substr(colon + 1), r.hi))
        return Status::invalid("invalid sequence range \"" + std::string(part) + "\"");
    }
    set.ranges.push_back(r);
  }
  return set;
}

int64_t DateTime::unix_seconds() const {
  return days_from_civil(date.year, date.month, date.day) * 86400 + hour * 3600 + minute * 60 +
         second - zone_minutes * 60;
}

std::string_view command_name(CommandKind k) {
  switch (k) {
    case CommandKind::kCapability: return "CAPABILITY";
    case CommandKind::kNoop: return "NOOP";
    case CommandKind::kLogout: return "LOGOUT";
    case CommandKind::kStartTls: return "STARTTLS";
    case CommandKind::kAuthenticate: return "AUTHENTICATE";
    case CommandKind::kLogin: return "LOGIN";
    case CommandKind::kEnable: return "ENABLE";
    case CommandKind::kSelect: return "SELECT";
    case CommandKind::kExamine: return "EXAMINE";
    case CommandKind::kCreate: return "CREATE";
    case CommandKind::kDelete: return "DELETE";
    case CommandKind::kRename: return "RENAME";
    case CommandKind::kSubscribe: return "SUBSCRIBE";
    case CommandKind::kUnsubscribe: return "UNSUBSCRIBE";
    case CommandKind::kList: return "LIST";
    case CommandKind::kLsub: return "LSUB";
    case CommandKind::kNamespace: return "NAMESPACE";
    case CommandKind::kStatus: return "STATUS";
    case CommandKind::kAppend: return "APPEND";
    case CommandKind::kIdle: return "IDLE";
    case CommandKind::kCheck: return "CHECK";
    case CommandKind::kClose: return "CLOSE";
    case CommandKind::kUnselect: return "UNSELECT";
    case CommandKind::kExpunge: return "EXPUNGE";
    case CommandKind::kSearch: return "SEARCH";
    case CommandKind::kFetch: return "FETCH";
    case CommandKind::kStore: return "STORE";
    case CommandKind::kCopy: return "COPY";
    case CommandKind::kMove: return "MOVE";
    case CommandKind::kSort: return "SORT";
    case CommandKind::kThread: return "THREAD";
    case CommandKind::kId: return "ID";
    case CommandKind::kGetQuota: return "GETQUOTA";
    case CommandKind::kGetQuotaRoot: return "GETQUOTAROOT";
    case CommandKind::kSetQuota: return "SETQUOTA";
  }
  return "?";
}

// ---------------------------------------------------------------------------------------
// Grammar

namespace {

// A literal announcement at the end of a line: "{n}", "{n+}", "~{n}", "~{n+}".
struct LiteralMarker {
  size_t pos = 0;        // where "{" or "~{" starts in the line
  uint64_t size = 0;
  bool overflow = false;  // more digits than a uint64 holds: certainly too big
  bool non_sync = false;
  bool binary = false;
};

// Finds a literal announcement ending the line, ignoring "{" inside a quoted string.
std::optional<LiteralMarker> find_literal_marker(std::string_view line) {
  if (line.empty() || line.back() != '}') return std::nullopt;
  size_t open = line.rfind('{');
  if (open == std::string_view::npos) return std::nullopt;
  // A "{" inside a quoted string is not an announcement (quoted strings never span lines).
  bool in_quote = false;
  for (size_t i = 0; i < open; ++i) {
    if (in_quote && line[i] == '\\') {
      ++i;
    } else if (line[i] == '"') {
      in_quote = !in_quote;
    }
  }
  if (in_quote) return std::nullopt;
  std::string_view digits = line.substr(open + 1, line.size() - open - 2);
  LiteralMarker m;
  if (!digits.empty() && (digits.back() == '+' || digits.back() == '-')) {
    // RFC 7888 uses "{n+}" for both LITERAL+ and LITERAL-; "-" is not valid syntax.
    if (digits.back() == '-') return std::nullopt;
    m.non_sync = true;
    digits.remove_suffix(1);
  }
  if (digits.empty()) return std::nullopt;
  for (char c : digits)
    if (!is_digit(static_cast<unsigned char>(c))) return std::nullopt;
  if (!parse_u64(digits, m.size)) {
    m.overflow = true;
    m.size = std::numeric_limits<uint64_t>::max();
  }
  m.pos = open;
  if (open > 0 && line[open - 1] == '~') {
    m.binary = true;
    m.pos = open - 1;
  }
  return m;
}

class Grammar {
 public:
  Grammar(const FramedCommand& c, const ParserOptions& o) : cmd_(c), opts_(o) {
    for (size_t i = 0; i + 1 < c.lines.size(); ++i) {
      auto m = find_literal_marker(c.lines[i]);
      markers_.push_back(m ? *m : LiteralMarker{c.lines[i].size()});
    }
  }

  std::variant<Command, ParseError> run();
  // Where the first failure happened: (line index, offset). Meaningful after run() failed.
  size_t fail_seg() const { return fail_seg_; }
  size_t fail_pos() const { return fail_pos_; }

 private:
  // ---- cursor ----
  std::string_view line() const { return cmd_.lines[seg_]; }
  size_t line_end() const { return seg_ < markers_.size() ? markers_[seg_].pos : line().size(); }
  bool at_marker() const { return seg_ < markers_.size() && pos_ == markers_[seg_].pos; }
  bool at_end() const { return seg_ + 1 >= cmd_.lines.size() && pos_ >= line().size(); }
  int peek() const { return pos_ < line_end() ? static_cast<unsigned char>(line()[pos_]) : -1; }
  int peek2() const {
    return pos_ + 1 < line_end() ? static_cast<unsigned char>(line()[pos_ + 1]) : -1;
  }

  bool fail(std::string msg) {
    if (err_.empty()) {
      err_ = std::move(msg);
      fail_seg_ = seg_;
      fail_pos_ = pos_;
    }
    return false;
  }
  bool eat(char c) {
    if (peek() == static_cast<unsigned char>(c)) {
      ++pos_;
      return true;
    }
    return false;
  }
  bool expect(char c, std::string_view what) {
    if (eat(c)) return true;
    return fail("expected " + std::string(what));
  }
  bool sp() {
    if (at_end() && depth_ > 0) return fail("unbalanced parentheses: missing \")\"");
    return expect(' ', "a space");
  }
  bool open_paren() {
    if (!expect('(', "\"(\"")) return false;
    if (++depth_ > kMaxNestingDepth) return fail("parentheses nested too deeply");
    return true;
  }
  bool close_paren() {
    if (!expect(')', "\")\"")) return false;
    --depth_;
    return true;
  }
  bool end() {
    if (at_end()) return true;
    if (peek() == ')') return fail("unbalanced parentheses: unexpected \")\"");
    return fail("unexpected characters at end of command");
  }

  // ---- tokens ----
  std::string_view take_while(bool (*pred)(unsigned char)) {
    size_t start = pos_;
    while (pos_ < line_end() && pred(static_cast<unsigned char>(line()[pos_]))) ++pos_;
    return line().substr(start, pos_ - start);
  }
  bool atom(std::string& out, std::string_view what = "an atom") {
    auto a = take_while(is_atom_char);
    if (a.empty()) return fail("expected " + std::string(what));
    out = std::string(a);
    return true;
  }
  // An upper-cased keyword (atom), for command names and options.
  bool keyword(std::string& out, std::string_view what) {
    if (!atom(out, what)) return false;
    out = upper(out);
    return true;
  }
  bool literal(std::string& out, bool* binary) {
    const LiteralMarker& m = markers_[seg_];
    if (m.binary && binary == nullptr) return fail("literal8 is not allowed here");
    if (binary) *binary = m.binary;
    // RFC 9051 §9: literal = "{" number64 ["+"] "}" CRLF *CHAR8, and CHAR8 = %x01-ff: a NUL
    // octet may only travel in a literal8 ("~{n}", RFC 3516 §4.4 / RFC 9051 §6.3.12).
    if (!m.binary && cmd_.literals[seg_].find('\0') != std::string::npos)
      return fail("NUL octet in a literal (only a literal8 ~{n} may carry NUL)");
    out = cmd_.literals[seg_];
    ++seg_;
    pos_ = 0;
    return true;
  }
  bool quoted(std::string& out) {
    ++pos_;  // DQUOTE
    out.clear();
    while (true) {
      int c = peek();
      if (c < 0) return fail("unterminated quoted string");
      ++pos_;
      if (c == '"') break;
      if (c == '\\') {
        int e = peek();
        if (e != '"' && e != '\\') return fail("invalid escape in quoted string");
        ++pos_;
        out += static_cast<char>(e);
        continue;
      }
      if (c == '\r' || c == '\n' || c == 0) return fail("invalid character in quoted string");
      out += static_cast<char>(c);
    }
    // RFC 9051 §9 QUOTED-CHAR admits UTF-8 but not arbitrary 8-bit octets.
    if (!is_valid_utf8(out)) return fail("quoted string is not valid UTF-8");
    return true;
  }
  bool string(std::string& out, bool* binary = nullptr) {
    if (at_marker()) return literal(out, binary);
    if (peek() == '"') return quoted(out);
    return fail("expected a quoted string or a literal");
  }
  bool astring(std::string& out, std::string_view what = "a string") {
    if (at_marker() || peek() == '"') return string(out);
    auto a = take_while(is_astring_char);
    if (a.empty()) return fail("expected " + std::string(what));
    out = std::string(a);
    return true;
  }
  bool nstring(std::optional<std::string>& out) {
    if (at_marker() || peek() == '"') {
      std::string s;
      if (!string(s)) return false;
      out = std::move(s);
      return true;
    }
    std::string a;
    if (!atom(a, "a string or NIL")) return false;
    if (upper(a) != "NIL") return fail("expected a string or NIL");
    out.reset();
    return true;
  }
  bool number64(uint64_t& v, std::string_view what = "a number") {
    auto d = take_while([](unsigned char c) { return is_digit(c); });
    if (d.empty()) return fail("expected " + std::string(what));
    if (!parse_u64(d, v) || v > static_cast<uint64_t>(std::numeric_limits<int64_t>::max()))
      return fail(std::string(what) + " is out of range");
    return true;
  }
  bool number(uint32_t& v, std::string_view what = "a number") {
    uint64_t x;
    if (!number64(x, what)) return false;
    if (x > std::numeric_limits<uint32_t>::max()) return fail(std::string(what) + " is out of range");
    v = static_cast<uint32_t>(x);
    return true;
  }
  bool nz_number(uint32_t& v, std::string_view what) {
    if (!number(v, what)) return false;
    if (v == 0) return fail(std::string(what) + " must not be zero");
    return true;
  }
  bool sequence_set(SequenceSet& out, bool allow_saved = true) {
    auto s = take_while([](unsigned char c) {
      return is_digit(c) || c == ':' || c == ',' || c == '*' || c == '$';
    });
    if (s.empty()) return fail("expected a sequence set");
    // The set must end at a delimiter, not run into an atom ("1:5x").
    if (peek() >= 0 && peek() != ' ' && peek() != ')')
      return fail("invalid sequence set");
    auto r = parse_sequence_set(s, allow_saved);
    if (!r) return fail(r.status().message());
    out = std::move(r.value());
    return true;
  }
  // mailbox = "INBOX" / astring; decoded from modified UTF-7 unless UTF-8 names are on.
  bool decode_mailbox(std::string& name) {
    if (opts_.utf8_mailboxes) {
      if (!is_valid_utf8(name)) return fail("mailbox name is not valid UTF-8");
    } else {
      auto d = mutf7_decode(name);
      if (!d) return fail("invalid mailbox name: " + d.status().message());
      name = std::move(d.value());
    }
    if (name.size() > kMaxMailboxNameLength) return fail("mailbox name is too long");
    // RFC 9051 §5.1 and RFC 6855 §3: a mailbox name MUST NOT contain control characters
    // (U+0000-U+001F, U+007F-U+009F), nor U+2028 LINE SEPARATOR or U+2029 PARAGRAPH
    // SEPARATOR, whether it arrived in UTF-8 or in modified UTF-7.
    if (has_forbidden_mailbox_char(name)) return fail("mailbox name has a control character");
    // RFC 9051 §5.1: INBOX is case-insensitive.
    if (iequals(name, "INBOX")) name = "INBOX";
    return true;
  }
  bool mailbox(std::string& out) {
    if (!astring(out, "a mailbox name")) return false;
    return decode_mailbox(out);
  }
  bool list_mailbox(std::string& out) {
    if (at_marker() || peek() == '"') {
      if (!string(out)) return false;
    } else {
      auto a = take_while(is_list_char);
      if (a.empty()) return fail("expected a mailbox pattern");
      out = std::string(a);
    }
    return decode_mailbox(out);
  }
  // flag = "\Answered" / ... / keyword / flag-extension; STORE/APPEND take any of them
  // except \Recent (RFC 9051 removed it; RFC 3501 §6.4.6 forbids storing it).
  bool flag(std::string& out) {
    bool system = eat('\\');
    std::string a;
    if (!atom(a, "a flag")) return false;
    if (a.size() > kMaxKeywordLength) return fail("flag is too long");
    out = system ? "\\" + a : a;
    if (system && iequals(a, "Recent")) return fail("\\Recent cannot be set by a client");
    return true;
  }
  bool flag_list(std::vector<std::string>& out) {
    if (!open_paren()) return false;
    if (eat(')')) { --depth_; return true; }
    while (true) {
      std::string f;
      if (!flag(f)) return false;
      if (out.size() >= kMaxFlagsPerCommand) return fail("too many flags");
      out.push_back(std::move(f));
      if (eat(')')) { --depth_; return true; }
      if (!sp()) return false;
    }
  }
  bool date(Date& d) {
    bool q = eat('"');
    auto day = take_while([](unsigned char c) { return is_digit(c); });
    if (day.empty() || day.size() > 2) return fail("invalid date: expected dd-Mon-yyyy");
    if (!eat('-')) return fail("invalid date: expected dd-Mon-yyyy");
    auto mon = take_while([](unsigned char c) { return std::isalpha(c) != 0; });
    if (!eat('-')) return fail("invalid date: expected dd-Mon-yyyy");
    auto yr = take_while([](unsigned char c) { return is_digit(c); });
    if (q && !eat('"')) return fail("invalid date: missing closing quote");
    uint64_t dd, yy;
    if (!parse_u64(day, dd) || yr.size() != 4 || !parse_u64(yr, yy))
      return fail("invalid date: expected dd-Mon-yyyy");
    d.day = static_cast<int>(dd);
    d.month = month_from(mon);
    d.year = static_cast<int>(yy);
    if (!valid_date(d)) return fail("invalid date");
    return true;
  }
  // date-time = DQUOTE date-day-fixed "-" date-month "-" date-year SP time SP zone DQUOTE
  bool date_time(DateTime& dt) {
    std::string s;
    if (!quoted(s)) return false;
    // "dd-Mon-yyyy hh:mm:ss +zzzz" is 26 characters; date-day-fixed may be " d".
    if (s.size() != 26 || s[2] != '-' || s[6] != '-' || s[11] != ' ' || s[14] != ':' ||
        s[17] != ':' || s[20] != ' ' || (s[21] != '+' && s[21] != '-'))
      return fail("invalid date-time: expected \"dd-Mon-yyyy hh:mm:ss +zzzz\"");
    auto num = [&](size_t at, size_t n, int& v) {
      uint64_t x;
      std::string_view f = std::string_view(s).substr(at, n);
      if (at == 0 && f[0] == ' ') f.remove_prefix(1);
      if (!parse_u64(f, x)) return false;
      v = static_cast<int>(x);
      return true;
    };
    int zone = 0;
    if (!num(0, 2, dt.date.day) || !num(7, 4, dt.date.year) || !num(12, 2, dt.hour) ||
        !num(15, 2, dt.minute) || !num(18, 2, dt.second) || !num(22, 4, zone))
      return fail("invalid date-time");
    dt.date.month = month_from(std::string_view(s).substr(3, 3));
    if (!valid_date(dt.date) || dt.hour > 23 || dt.minute > 59 || dt.second > 60 ||
        zone % 100 > 59 || zone > 1400)
      return fail("invalid date-time");
    dt.zone_minutes = (zone / 100 * 60 + zone % 100) * (s[21] == '-' ? -1 : 1);
    return true;
  }

  // ---- commands ----
  bool parse_authenticate(Command& c);
  bool parse_select(Command& c);
  bool parse_create(Command& c);
  bool parse_list(Command& c);
  bool parse_lsub(Command& c);
  bool parse_status_items(std::vector<StatusItem>& items);
  bool parse_status(Command& c);
  bool parse_append(Command& c);
  bool parse_search_return(SearchReturn& r);
  bool parse_search_key(SearchKey& k);
  bool parse_search_keys(SearchKey& k);
  bool parse_search(Command& c);
  bool parse_sort(Command& c);
  bool parse_thread(Command& c);
  bool parse_fetch_item(FetchItem& it);
  bool parse_section(Section& s, bool binary);
  bool parse_fetch(Command& c);
  bool parse_store(Command& c);
  bool parse_id(Command& c);
  bool parse_setquota(Command& c);
  bool dispatch(Command& c, const std::string& name);

  const FramedCommand& cmd_;
  const ParserOptions& opts_;
  std::vector<LiteralMarker> markers_;
  size_t seg_ = 0;
  size_t pos_ = 0;
  int depth_ = 0;
  size_t search_keys_ = 0;
  std::string err_;
  size_t fail_seg_ = 0;
  size_t fail_pos_ = 0;
};

bool Grammar::parse_authenticate(Command& c) {
  AuthenticateArgs a;
  if (!sp() || !keyword(a.mechanism, "a SASL mechanism")) return false;
  if (eat(' ')) {
    // RFC 4959 §3: initial-response = base64 / "=" (an empty response).
    auto ir = take_while([](unsigned char ch) {
      return std::isalnum(ch) != 0 || ch == '+' || ch == '/' || ch == '=';
    });
    if (ir.empty()) return fail("expected a base64 initial response");
    if (ir == "=") {
      a.initial_response = std::string();
    } else {
      auto d = base64_decode(ir);
      if (!d || ir.size() % 4 != 0) return fail("initial response is not valid base64");
      a.initial_response = std::move(*d);
    }
  }
  c.args = std::move(a);
  return end();
}

// RFC 7162 §3.1.8 (CONDSTORE), §3.2.5 (QRESYNC):
//   select-param = "CONDSTORE" / "QRESYNC" SP "(" uidvalidity SP mod-sequence-value
//                  [SP known-uids] [SP seq-match-data] ")"
bool Grammar::parse_select(Command& c) {
  SelectArgs s;
  if (!sp() || !mailbox(s.mailbox)) return false;
  if (eat(' ')) {
    if (!open_paren()) return false;
    while (true) {
      std::string p;
      if (!keyword(p, "a SELECT parameter")) return false;
      if (p == "CONDSTORE") {
        s.condstore = true;
      } else if (p == "QRESYNC") {
        if (s.qresync) return fail("QRESYNC given twice");
        QresyncParams q;
        if (!sp() || !open_paren() || !nz_number(q.uidvalidity, "UIDVALIDITY") || !sp() ||
            !number64(q.modseq, "mod-sequence"))
          return false;
        if (q.modseq == 0) return fail("mod-sequence must not be zero");
        if (eat(' ')) {
          if (peek() != '(') {
            SequenceSet k;
            if (!sequence_set(k, false)) return false;
            for (const auto& r : k.ranges)
              if (r.lo == SequenceSet::kStar || r.hi == SequenceSet::kStar)
                return fail("known-uids must not contain \"*\"");
            q.known_uids = std::move(k);
            eat(' ');
          }
          if (peek() == '(') {
            SequenceSet a, b;
            if (!open_paren() || !sequence_set(a, false) || !sp() || !sequence_set(b, false) ||
                !close_paren())
              return false;
            q.seq_match_seqs = std::move(a);
            q.seq_match_uids = std::move(b);
          }
        }
        if (!close_paren()) return false;
        s.qresync = std::move(q);
      } else {
        return fail("unknown SELECT parameter " + p);
      }
      if (eat(')')) { --depth_; break; }
      if (!sp()) return false;
    }
  }
  c.args = std::move(s);
  return end();
}

bool Grammar::parse_create(Command& c) {
  CreateArgs a;
  if (!sp() || !mailbox(a.mailbox)) return false;
  if (eat(' ')) {  // RFC 6154 §3: create-param = "USE" SP "(" [use-attr *(SP use-attr)] ")"
    std::string p;
    if (!open_paren() || !keyword(p, "a CREATE parameter")) return false;
    if (p != "USE") return fail("unknown CREATE parameter " + p);
    if (!sp() || !flag_list(a.special_use) || !close_paren()) return false;
  }
  c.args = std::move(a);
  return end();
}

bool Grammar::parse_status_items(std::vector<StatusItem>& items) {
  if (!open_paren()) return false;
  while (true) {
    std::string k;
    if (!keyword(k, "a STATUS item")) return false;
    StatusItem it;
    if (k == "MESSAGES") it = StatusItem::kMessages;
    else if (k == "UIDNEXT") it = StatusItem::kUidNext;
    else if (k == "UIDVALIDITY") it = StatusItem::kUidValidity;
    else if (k == "UNSEEN") it = StatusItem::kUnseen;
    else if (k == "DELETED") it = StatusItem::kDeleted;
    else if (k == "SIZE") it = StatusItem::kSize;
    else if (k == "RECENT") it = StatusItem::kRecent;
    else if (k == "HIGHESTMODSEQ") it = StatusItem::kHighestModSeq;
    else if (k == "APPENDLIMIT") it = StatusItem::kAppendLimit;
    else return fail("unknown STATUS item " + k);
    if (std::find(items.begin(), items.end(), it) == items.end()) items.push_back(it);
    if (eat(')')) { --depth_; return true; }
    if (!sp()) return false;
  }
}

bool Grammar::parse_status(Command& c) {
  StatusArgs s;
  if (!sp() || !mailbox(s.mailbox) || !sp() || !parse_status_items(s.items)) return false;
  c.args = std::move(s);
  return end();
}

// RFC 5258 §6: list = "LIST" [SP list-select-opts] SP mailbox SP mbox-or-pat
//                     [SP list-return-opts]
bool Grammar::parse_list(Command& c) {
  ListArgs l;
  if (!sp()) return false;
  if (peek() == '(') {
    l.extended_syntax = true;
    if (!open_paren()) return false;
    bool base = false;
    if (!eat(')')) {
      while (true) {
        std::string o;
        if (!keyword(o, "a LIST selection option")) return false;
        if (o == "SUBSCRIBED") { l.select_subscribed = true; base = true; }
        else if (o == "REMOTE") { l.select_remote = true; }
        else if (o == "RECURSIVEMATCH") { l.select_recursive_match = true; }
        else if (o == "SPECIAL-USE") { l.select_special_use = true; base = true; }
        else return fail("unknown LIST selection option " + o);  // RFC 5258 §3
        if (eat(')')) break;
        if (!sp()) return false;
      }
    }
    --depth_;
    // RFC 5258 §3: RECURSIVEMATCH alone (without a base option) is a BAD.
    if (l.select_recursive_match && !base)
      return fail("RECURSIVEMATCH needs another selection option");
    if (!sp()) return false;
  }
  // The reference is a mailbox name without the INBOX rule; keep it as written.
  if (!astring(l.reference, "a reference name")) return false;
  if (opts_.utf8_mailboxes) {
    if (!is_valid_utf8(l.reference)) return fail("reference is not valid UTF-8");
  } else {
    auto d = mutf7_decode(l.reference);
    if (!d) return fail("invalid reference name: " + d.status().message());
    l.reference = std::move(d.value());
  }
  if (!sp()) return false;
  if (peek() == '(') {
    l.extended_syntax = true;
    if (!open_paren()) return false;
    while (true) {
      std::string p;
      if (!list_mailbox(p)) return false;
      l.patterns.push_back(std::move(p));
      if (eat(')')) { --depth_; break; }
      if (!sp()) return false;
    }
  } else {
    std::string p;
    if (!list_mailbox(p)) return false;
    l.patterns.push_back(std::move(p));
  }
  if (eat(' ')) {
    std::string r;
    if (!keyword(r, "RETURN")) return false;
    if (r != "RETURN") return fail("expected RETURN");
    l.extended_syntax = true;
    if (!sp() || !open_paren()) return false;
    if (!eat(')')) {
      while (true) {
        std::string o;
        if (!keyword(o, "a LIST return option")) return false;
        if (o == "SUBSCRIBED") l.return_subscribed = true;
        else if (o == "CHILDREN") l.return_children = true;
        else if (o == "SPECIAL-USE") l.return_special_use = true;
        else if (o == "STATUS") {  // RFC 5819 §2
          std::vector<StatusItem> items;
          if (!sp() || !parse_status_items(items)) return false;
          l.return_status = std::move(items);
        } else {
          return fail("unknown LIST return option " + o);
        }
        if (eat(')')) break;
        if (!sp()) return false;
      }
    }
    --depth_;
  }
  c.args = std::move(l);
  return end();
}

bool Grammar::parse_lsub(Command& c) {
  ListArgs l;
  std::string p;
  if (!sp() || !astring(l.reference, "a reference name") || !sp() || !list_mailbox(p))
    return false;
  auto d = opts_.utf8_mailboxes ? Result<std::string>(l.reference) : mutf7_decode(l.reference);
  if (!d) return fail("invalid reference name: " + d.status().message());
  l.reference = std::move(d.value());
  l.patterns.push_back(std::move(p));
  l.select_subscribed = true;
  c.args = std::move(l);
  return end();
}

// RFC 9051 §6.3.12: append = "APPEND" SP mailbox [SP flag-list] [SP date-time] SP literal
// (literal8 with BINARY, RFC 3516 §4.4).
bool Grammar::parse_append(Command& c) {
  AppendArgs a;
  if (!sp() || !mailbox(a.mailbox) || !sp()) return false;
  if (peek() == '(') {
    if (!flag_list(a.flags) || !sp()) return false;
  }
  if (peek() == '"') {
    DateTime dt;
    if (!date_time(dt) || !sp()) return false;
    a.date_time = dt;
  }
  if (!at_marker() && (peek() == 'U' || peek() == 'u')) {
    // RFC 6855 §4: append-data =/ "UTF8" SP "(" literal8 ")"
    std::string w;
    if (!keyword(w, "UTF8") || w != "UTF8") return fail("APPEND needs the message as a literal");
    if (!sp() || !open_paren()) return false;
    if (!at_marker() || !literal(a.message, &a.binary)) return fail("UTF8 needs a literal8");
    if (!a.binary) return fail("UTF8 needs a literal8 (~{n})");
    if (!close_paren()) return false;
    a.utf8 = true;
    if (!at_end()) return fail("only one message per APPEND (MULTIAPPEND is not supported)");
    c.args = std::move(a);
    return true;
  }
  if (!at_marker()) return fail("APPEND needs the message as a literal");
  if (!literal(a.message, &a.binary)) return false;
  if (!at_end()) {
    // RFC 3502 MULTIAPPEND is not advertised.
    return fail("only one message per APPEND (MULTIAPPEND is not supported)");
  }
  c.args = std::move(a);
  return true;
}

// RFC 4731 §3.1 / RFC 9051 §6.4.4: search-return-opts = SP "RETURN" SP "(" [opts] ")"
bool Grammar::parse_search_return(SearchReturn& r) {
  if (!open_paren()) return false;
  if (!eat(')')) {
    while (true) {
      std::string o;
      if (!keyword(o, "a RETURN option")) return false;
      if (o == "MIN") r.min = true;
      else if (o == "MAX") r.max = true;
      else if (o == "ALL") r.all = true;
      else if (o == "COUNT") r.count = true;
      else if (o == "SAVE") r.save = true;  // RFC 5182
      else return fail("unknown RETURN option " + o);
      if (eat(')')) break;
      if (!sp()) return false;
    }
  }
  --depth_;
  // RFC 4731 §3.1: "RETURN ()" means "RETURN (ALL)".
  if (!r.any()) r.all = true;
  return true;
}

bool Grammar::parse_search_key(SearchKey& k) {
  if (++search_keys_ > kMaxSearchKeys) return fail("too many search keys");
  int c0 = peek();
  if (c0 == '(') {
    k.kind = SearchKey::Kind::kAnd;
    if (!open_paren()) return false;
    while (true) {
      SearchKey child;
      if (!parse_search_key(child)) return false;
      k.children.push_back(std::move(child));
      if (eat(')')) { --depth_; return true; }
      if (!sp()) return false;
    }
  }
  if (c0 == '*' || c0 == '$' || (c0 >= '0' && c0 <= '9')) {
    k.kind = SearchKey::Kind::kSequenceSet;
    return sequence_set(k.set);
  }
  std::string w;
  if (!keyword(w, "a search key")) return false;
  using K = SearchKey::Kind;
  static const std::pair<std::string_view, K> kSimple[] = {
      {"ALL", K::kAll}, {"ANSWERED", K::kAnswered}, {"DELETED", K::kDeleted},
      {"DRAFT", K::kDraft}, {"FLAGGED", K::kFlagged}, {"NEW", K::kNew}, {"OLD", K::kOld},
      {"RECENT", K::kRecent}, {"SEEN", K::kSeen}, {"UNANSWERED", K::kUnanswered},
      {"UNDELETED", K::kUndeleted}, {"UNDRAFT", K::kUndraft}, {"UNFLAGGED", K::kUnflagged},
      {"UNSEEN", K::kUnseen}};
  for (const auto& [name, kind] : kSimple)
    if (w == name) { k.kind = kind; return true; }
  static const std::pair<std::string_view, K> kString[] = {
      {"BCC", K::kBcc}, {"BODY", K::kBody}, {"CC", K::kCc}, {"FROM", K::kFrom},
      {"SUBJECT", K::kSubject}, {"TEXT", K::kText}, {"TO", K::kTo}};
  for (const auto& [name, kind] : kString)
    if (w == name) { k.kind = kind; return sp() && astring(k.str); }
  static const std::pair<std::string_view, K> kDate[] = {
      {"BEFORE", K::kBefore}, {"ON", K::kOn}, {"SINCE", K::kSince},
      {"SENTBEFORE", K::kSentBefore}, {"SENTON", K::kSentOn}, {"SENTSINCE", K::kSentSince}};
  for (const auto& [name, kind] : kDate)
    if (w == name) { k.kind = kind; return sp() && date(k.date); }
  if (w == "HEADER") {
    k.kind = K::kHeader;
    return sp() && astring(k.str, "a header field name") && sp() && astring(k.str2);
  }
  if (w == "KEYWORD" || w == "UNKEYWORD") {
    k.kind = w == "KEYWORD" ? K::kKeyword : K::kUnkeyword;
    return sp() && atom(k.str, "a keyword");
  }
  if (w == "LARGER" || w == "SMALLER") {
    k.kind = w == "LARGER" ? K::kLarger : K::kSmaller;
    return sp() && number64(k.number, "a size");
  }
  if (w == "NOT") {
    k.kind = K::kNot;
    k.children.resize(1);
    if (++depth_ > kMaxNestingDepth) return fail("search keys nested too deeply");
    bool ok = sp() && parse_search_key(k.children[0]);
    --depth_;
    return ok;
  }
  if (w == "OR") {
    k.kind = K::kOr;
    k.children.resize(2);
    if (++depth_ > kMaxNestingDepth) return fail("search keys nested too deeply");
    bool ok = sp() && parse_search_key(k.children[0]) && sp() && parse_search_key(k.children[1]);
    --depth_;
    return ok;
  }
  if (w == "UID") {
    k.kind = K::kUid;
    return sp() && sequence_set(k.set);
  }
  if (w == "MODSEQ") {  // RFC 7162 §3.1.5: "MODSEQ" [SP entry-name SP entry-type-req] SP value
    k.kind = K::kModSeq;
    if (!sp()) return false;
    if (peek() == '"') {
      std::string entry, type;
      if (!quoted(entry) || !sp() || !atom(type, "an entry type")) return false;
      type = to_lower(type);
      if (type != "priv" && type != "shared" && type != "all")
        return fail("entry type must be priv, shared or all");
      k.modseq_entry = std::move(entry);
      k.modseq_entry_type = std::move(type);
      if (!sp()) return false;
    }
    return number64(k.number, "a mod-sequence");
  }
  if (w == "OLDER" || w == "YOUNGER") {  // RFC 5032 §3
    k.kind = w == "OLDER" ? K::kOlder : K::kYounger;
    uint32_t n;
    if (!sp() || !nz_number(n, "an interval")) return false;
    k.number = n;
    return true;
  }
  return fail("unknown search key " + w);
}

// One or more search keys separated by SP to the end of the command, as an AND.
bool Grammar::parse_search_keys(SearchKey& k) {
  k.kind = SearchKey::Kind::kAnd;
  while (true) {
    SearchKey child;
    if (!parse_search_key(child)) return false;
    k.children.push_back(std::move(child));
    if (at_end()) return true;
    if (peek() == ')') return fail("unbalanced parentheses: unexpected \")\"");
    if (!sp()) return false;
  }
}

bool Grammar::parse_search(Command& c) {
  SearchArgs s;
  if (!sp()) return false;
  // Optional "RETURN (...)" then optional "CHARSET x": peek at the next word.
  auto peek_word = [&]() {
    size_t save = pos_;
    std::string w;
    auto a = take_while(is_atom_char);
    w = upper(a);
    pos_ = save;
    return w;
  };
  if (peek_word() == "RETURN") {
    take_while(is_atom_char);
    s.esearch = true;
    if (!sp() || !parse_search_return(s.ret) || !sp()) return false;
  }
  if (peek_word() == "CHARSET") {
    take_while(is_atom_char);
    std::string cs;
    if (!sp() || !astring(cs, "a charset") || !sp()) return false;
    s.charset = upper(cs);
  }
  if (!parse_search_keys(s.key)) return false;
  c.args = std::move(s);
  return true;
}

// RFC 5256 §3: sort = ["UID" SP] "SORT" SP sort-criteria SP search-criteria
// RFC 5267 §3.2 (ESORT): "SORT" [SP "RETURN" SP "(" ... ")"] SP ...
bool Grammar::parse_sort(Command& c) {
  SortArgs s;
  if (!sp()) return false;
  if (peek() != '(') {
    std::string r;
    if (!keyword(r, "RETURN or sort criteria")) return false;
    if (r != "RETURN") return fail("expected RETURN or \"(\"");
    s.esort = true;
    if (!sp() || !parse_search_return(s.ret) || !sp()) return false;
  }
  if (!open_paren()) return false;
  while (true) {
    std::string w;
    if (!keyword(w, "a sort key")) return false;
    SortCriterion cr;
    if (w == "REVERSE") {
      cr.reverse = true;
      if (!sp() || !keyword(w, "a sort key")) return false;
    }
    using K = SortCriterion::Key;
    if (w == "ARRIVAL") cr.key = K::kArrival;
    else if (w == "CC") cr.key = K::kCc;
    else if (w == "DATE") cr.key = K::kDate;
    else if (w == "FROM") cr.key = K::kFrom;
    else if (w == "SIZE") cr.key = K::kSize;
    else if (w == "SUBJECT") cr.key = K::kSubject;
    else if (w == "TO") cr.key = K::kTo;
    else if (w == "DISPLAYFROM") cr.key = K::kDisplayFrom;  // RFC 5957
    else if (w == "DISPLAYTO") cr.key = K::kDisplayTo;
    else return fail("unknown sort key " + w);
    s.criteria.push_back(cr);
    if (eat(')')) { --depth_; break; }
    if (!sp()) return false;
  }
  if (!sp() || !astring(s.charset, "a charset") || !sp()) return false;
  s.charset = upper(s.charset);
  if (!parse_search_keys(s.key)) return false;
  c.args = std::move(s);
  return true;
}

// RFC 5256 §3: thread = ["UID" SP] "THREAD" SP thread-alg SP search-charset 1*(SP search-key)
bool Grammar::parse_thread(Command& c) {
  ThreadArgs t;
  if (!sp() || !keyword(t.algorithm, "a thread algorithm") || !sp() ||
      !astring(t.charset, "a charset") || !sp())
    return false;
  t.charset = upper(t.charset);
  if (!parse_search_keys(t.key)) return false;
  c.args = std::move(t);
  return true;
}

// section-spec = section-msgtext / (section-part ["." section-text])
// section-binary = "[" [section-part] "]"
bool Grammar::parse_section(Section& s, bool binary) {
  if (!expect('[', "\"[\"")) return false;
  if (eat(']')) return true;
  if (is_digit(static_cast<unsigned char>(peek()))) {
    while (true) {
      uint32_t n;
      if (!nz_number(n, "a section part")) return false;
      s.part.push_back(n);
      if (s.part.size() > static_cast<size_t>(kMaxNestingDepth) * 4)
        return fail("section part nested too deeply");
      if (peek() == '.' && is_digit(static_cast<unsigned char>(peek2()))) {
        ++pos_;
        continue;
      }
      break;
    }
    if (peek() == ']') { ++pos_; return true; }
    if (binary) return fail("BINARY takes only a section part");
    if (!expect('.', "\".\" or \"]\"")) return false;
  } else if (binary) {
    return fail("BINARY takes only a section part");
  }
  auto w = upper(take_while([](unsigned char ch) { return std::isalpha(ch) != 0 || ch == '.'; }));
  if (w == "HEADER") s.text = Section::Text::kHeader;
  else if (w == "TEXT") s.text = Section::Text::kText;
  else if (w == "MIME" && !s.part.empty()) s.text = Section::Text::kMime;
  else if (w == "HEADER.FIELDS" || w == "HEADER.FIELDS.NOT") {
    s.text = w == "HEADER.FIELDS" ? Section::Text::kHeaderFields : Section::Text::kHeaderFieldsNot;
    if (!sp() || !open_paren()) return false;
    while (true) {
      std::string f;
      if (!astring(f, "a header field name")) return false;
      s.fields.push_back(upper(f));
      if (s.fields.size() > kMaxFetchItems) return fail("too many header fields");
      if (eat(')')) { --depth_; break; }
      if (!sp()) return false;
    }
  } else {
    return fail("invalid section \"" + w + "\"");
  }
  return expect(']', "\"]\"");
}

bool Grammar::parse_fetch_item(FetchItem& it) {
  auto w = upper(take_while([](unsigned char ch) {
    return std::isalnum(ch) != 0 || ch == '.';
  }));
  using K = FetchItem::Kind;
  auto partial = [&]() {
    if (!eat('<')) return true;
    Partial p;
    if (!number64(p.offset, "a partial offset") || !expect('.', "\".\"") ||
        !number64(p.length, "a partial length") || !expect('>', "\">\""))
      return false;
    if (p.length == 0) return fail("partial length must not be zero");
    it.partial = p;
    return true;
  };
  if (w == "ENVELOPE") it.kind = K::kEnvelope;
  else if (w == "FLAGS") it.kind = K::kFlags;
  else if (w == "INTERNALDATE") it.kind = K::kInternalDate;
  else if (w == "RFC822") it.kind = K::kRfc822;
  else if (w == "RFC822.HEADER") it.kind = K::kRfc822Header;
  else if (w == "RFC822.SIZE") it.kind = K::kRfc822Size;
  else if (w == "RFC822.TEXT") it.kind = K::kRfc822Text;
  else if (w == "BODYSTRUCTURE") it.kind = K::kBodyStructure;
  else if (w == "UID") it.kind = K::kUid;
  else if (w == "MODSEQ") it.kind = K::kModSeq;
  else if (w == "BODY" || w == "BODY.PEEK") {
    if (peek() != '[') {
      if (w == "BODY.PEEK") return fail("BODY.PEEK needs a section");
      it.kind = K::kBody;
      return true;
    }
    it.kind = K::kBodySection;
    it.peek = w == "BODY.PEEK";
    return parse_section(it.section, false) && partial();
  } else if (w == "BINARY" || w == "BINARY.PEEK" || w == "BINARY.SIZE") {
    if (peek() != '[') return fail(w + " needs a section");
    it.kind = w == "BINARY.SIZE" ? K::kBinarySize : K::kBinary;
    it.peek = w == "BINARY.PEEK";
    if (!parse_section(it.section, true)) return false;
    return it.kind == K::kBinarySize || partial();
  } else if (w.empty()) {
    return fail("expected a FETCH item");
  } else {
    return fail("unknown FETCH item " + w);
  }
  return true;
}

bool Grammar::parse_fetch(Command& c) {
  FetchArgs f;
  if (!sp() || !sequence_set(f.set) || !sp()) return false;
  using K = FetchItem::Kind;
  auto add = [&](K k) { FetchItem it; it.kind = k; f.items.push_back(it); };
  if (peek() == '(') {
    if (!open_paren()) return false;
    while (true) {
      FetchItem it;
      if (!parse_fetch_item(it)) return false;
      if (f.items.size() >= kMaxFetchItems) return fail("too many FETCH items");
      f.items.push_back(std::move(it));
      if (eat(')')) { --depth_; break; }
      if (!sp()) return false;
    }
  } else {
    size_t save = pos_;
    auto w = upper(take_while(is_atom_char));
    // RFC 9051 §6.4.5 macros
    if (w == "ALL" || w == "FAST" || w == "FULL") {
      add(K::kFlags);
      add(K::kInternalDate);
      add(K::kRfc822Size);
      if (w != "FAST") add(K::kEnvelope);
      if (w == "FULL") add(K::kBody);
    } else {
      pos_ = save;
      FetchItem it;
      if (!parse_fetch_item(it)) return false;
      f.items.push_back(std::move(it));
    }
  }
  if (eat(' ')) {  // RFC 7162 §3.1.4: fetch-modifiers
    if (!open_paren()) return false;
    while (true) {
      std::string m;
      if (!keyword(m, "a FETCH modifier")) return false;
      if (m == "CHANGEDSINCE") {
        uint64_t v;
        if (!sp() || !number64(v, "a mod-sequence")) return false;
        if (v == 0) return fail("CHANGEDSINCE must not be zero");
        f.changed_since = v;
      } else if (m == "VANISHED") {
        f.vanished = true;
      } else {
        return fail("unknown FETCH modifier " + m);
      }
      if (eat(')')) { --depth_; break; }
      if (!sp()) return false;
    }
    // RFC 7162 §3.2.6: VANISHED only in UID FETCH and only together with CHANGEDSINCE.
    if (f.vanished && (!c.uid || !f.changed_since))
      return fail("VANISHED needs UID FETCH and CHANGEDSINCE");
  }
  c.args = std::move(f);
  return end();
}

// store = "STORE" SP sequence-set [store-modifiers] SP store-att-flags
// store-att-flags = (["+" / "-"] "FLAGS" [".SILENT"]) SP (flag-list / (flag *(SP flag)))
bool Grammar::parse_store(Command& c) {
  StoreArgs s;
  if (!sp() || !sequence_set(s.set) || !sp()) return false;
  if (peek() == '(') {  // RFC 7162 §3.1.3
    std::string m;
    if (!open_paren() || !keyword(m, "UNCHANGEDSINCE")) return false;
    if (m != "UNCHANGEDSINCE") return fail("unknown STORE modifier " + m);
    uint64_t v;
    if (!sp() || !number64(v, "a mod-sequence") || !close_paren() || !sp()) return false;
    s.unchanged_since = v;
  }
  if (eat('+')) s.mode = StoreArgs::Mode::kAdd;
  else if (eat('-')) s.mode = StoreArgs::Mode::kRemove;
  auto w = upper(take_while([](unsigned char ch) { return std::isalpha(ch) != 0 || ch == '.'; }));
  if (w == "FLAGS.SILENT") s.silent = true;
  else if (w != "FLAGS") return fail("expected FLAGS, +FLAGS or -FLAGS");
  if (!sp()) return false;
  if (peek() == '(') {
    if (!flag_list(s.flags)) return false;
  } else {
    while (true) {
      std::string f;
      if (!flag(f)) return false;
      if (s.flags.size() >= kMaxFlagsPerCommand) return fail("too many flags");
      s.flags.push_back(std::move(f));
      if (!eat(' ')) break;
    }
  }
  c.args = std::move(s);
  return end();
}

// RFC 2971 §4: id = "ID" SP id-params-list; id-params-list = "(" *(string SP nstring) ")" / nil
bool Grammar::parse_id(Command& c) {
  IdArgs a;
  if (!sp()) return false;
  if (peek() == '(') {
    if (!open_paren()) return false;
    if (!eat(')')) {
      while (true) {
        std::string k;
        std::optional<std::string> v;
        if (!string(k) || !sp() || !nstring(v)) return false;
        if (k.size() > kMaxIdFieldLength) return fail("ID field name is too long");
        if (v && v->size() > kMaxIdValueLength) return fail("ID field value is too long");
        if (a.fields.size() >= kMaxIdPairs) return fail("too many ID fields");
        a.fields.emplace_back(std::move(k), std::move(v));
        if (eat(')')) break;
        if (!sp()) return false;
      }
    }
    --depth_;
  } else {
    std::string n;
    if (!atom(n, "\"(\" or NIL") || upper(n) != "NIL") return fail("expected \"(\" or NIL");
  }
  c.args = std::move(a);
  return end();
}

// RFC 9208 §4.1.3: setquota = "SETQUOTA" SP quota-root-name SP setquota-list
bool Grammar::parse_setquota(Command& c) {
  SetQuotaArgs q;
  if (!sp() || !astring(q.root, "a quota root") || !sp() || !open_paren()) return false;
  if (!eat(')')) {
    while (true) {
      std::string r;
      uint64_t v;
      if (!keyword(r, "a quota resource") || !sp() || !number64(v, "a quota limit")) return false;
      q.limits.emplace_back(std::move(r), v);
      if (eat(')')) break;
      if (!sp()) return false;
    }
  }
  --depth_;
  c.args = std::move(q);
  return end();
}

bool Grammar::dispatch(Command& c, const std::string& name) {
  using CK = CommandKind;
  if (name == "UID") {
    // RFC 9051 §6.4.9: uid = "UID" SP (copy / move / fetch / search / store / uid-expunge)
    std::string sub;
    if (!sp() || !keyword(sub, "a UID command")) return false;
    c.uid = true;
    if (sub == "FETCH") { c.kind = CK::kFetch; return parse_fetch(c); }
    if (sub == "STORE") { c.kind = CK::kStore; return parse_store(c); }
    if (sub == "SEARCH") { c.kind = CK::kSearch; return parse_search(c); }
    if (sub == "SORT") { c.kind = CK::kSort; return parse_sort(c); }
    if (sub == "THREAD") { c.kind = CK::kThread; return parse_thread(c); }
    if (sub == "COPY" || sub == "MOVE") {
      c.kind = sub == "COPY" ? CK::kCopy : CK::kMove;
      CopyArgs a;
      if (!sp() || !sequence_set(a.set) || !sp() || !mailbox(a.mailbox)) return false;
      c.args = std::move(a);
      return end();
    }
    if (sub == "EXPUNGE") {  // RFC 4315 §2.1
      c.kind = CK::kExpunge;
      ExpungeArgs a;
      SequenceSet s;
      if (!sp() || !sequence_set(s)) return false;
      a.uids = std::move(s);
      c.args = std::move(a);
      return end();
    }
    return fail("unknown UID command " + sub);
  }
  static const std::pair<std::string_view, CK> kNoArgs[] = {
      {"CAPABILITY", CK::kCapability}, {"NOOP", CK::kNoop}, {"LOGOUT", CK::kLogout},
      {"STARTTLS", CK::kStartTls}, {"NAMESPACE", CK::kNamespace}, {"IDLE", CK::kIdle},
      {"CHECK", CK::kCheck}, {"CLOSE", CK::kClose}, {"UNSELECT", CK::kUnselect}};
  for (const auto& [n, k] : kNoArgs) {
    if (name == n) {
      c.kind = k;
      if (!at_end()) return fail(std::string(n) + " takes no arguments");
      return true;
    }
  }
  if (name == "EXPUNGE") {
    c.kind = CK::kExpunge;
    c.args = ExpungeArgs{};
    if (!at_end()) return fail("EXPUNGE takes no arguments");
    return true;
  }
  if (name == "AUTHENTICATE") { c.kind = CK::kAuthenticate; return parse_authenticate(c); }
  if (name == "LOGIN") {
    c.kind = CK::kLogin;
    LoginArgs a;
    if (!sp() || !astring(a.user, "a user name") || !sp() || !astring(a.password, "a password"))
      return false;
    c.args = std::move(a);
    return end();
  }
  if (name == "ENABLE") {
    c.kind = CK::kEnable;
    EnableArgs a;
    do {
      std::string cap;
      if (!sp() || !keyword(cap, "a capability")) return false;
      a.capabilities.push_back(std::move(cap));
    } while (!at_end());
    c.args = std::move(a);
    return true;
  }
  if (name == "SELECT" || name == "EXAMINE") {
    c.kind = name == "SELECT" ? CK::kSelect : CK::kExamine;
    return parse_select(c);
  }
  if (name == "CREATE") { c.kind = CK::kCreate; return parse_create(c); }
  if (name == "DELETE" || name == "SUBSCRIBE" || name == "UNSUBSCRIBE" || name == "GETQUOTAROOT") {
    c.kind = name == "DELETE"      ? CK::kDelete
             : name == "SUBSCRIBE" ? CK::kSubscribe
             : name == "UNSUBSCRIBE" ? CK::kUnsubscribe
                                   : CK::kGetQuotaRoot;
    MailboxArgs a;
    if (!sp() || !mailbox(a.mailbox)) return false;
    c.args = std::move(a);
    return end();
  }
  if (name == "RENAME") {
    c.kind = CK::kRename;
    RenameArgs a;
    if (!sp() || !mailbox(a.from) || !sp() || !mailbox(a.to)) return false;
    c.args = std::move(a);
    return end();
  }
  if (name == "LIST") { c.kind = CK::kList; return parse_list(c); }
  if (name == "LSUB") { c.kind = CK::kLsub; return parse_lsub(c); }
  if (name == "STATUS") { c.kind = CK::kStatus; return parse_status(c); }
  if (name == "APPEND") { c.kind = CK::kAppend; return parse_append(c); }
  if (name == "SEARCH") { c.kind = CK::kSearch; return parse_search(c); }
  if (name == "FETCH") { c.kind = CK::kFetch; return parse_fetch(c); }
  if (name == "STORE") { c.kind = CK::kStore; return parse_store(c); }
  if (name == "COPY" || name == "MOVE") {
    c.kind = name == "COPY" ? CK::kCopy : CK::kMove;
    CopyArgs a;
    if (!sp() || !sequence_set(a.set) || !sp() || !mailbox(a.mailbox)) return false;
    c.args = std::move(a);
    return end();
  }
  if (name == "SORT") { c.kind = CK::kSort; return parse_sort(c); }
  if (name == "THREAD") { c.kind = CK::kThread; return parse_thread(c); }
  if (name == "ID") { c.kind = CK::kId; return parse_id(c); }
  if (name == "GETQUOTA") {
    c.kind = CK::kGetQuota;
    QuotaRootArgs a;
    if (!sp() || !astring(a.root, "a quota root")) return false;
    c.args = std::move(a);
    return end();
  }
  if (name == "SETQUOTA") { c.kind = CK::kSetQuota; return parse_setquota(c); }
  return fail("unknown command " + name);
}

std::variant<Command, ParseError> Grammar::run() {
  Command c;
  // tag = 1*<any ASTRING-CHAR except "+">
  auto tag = take_while([](unsigned char ch) { return is_astring_char(ch) && ch != '+'; });
  if (tag.empty() || tag.size() > kMaxTagLength || (peek() != ' ' && !at_end())) {
    fail("missing or invalid tag");
    return ParseError{"*", ParseError::Kind::kBad, "", "missing or invalid tag"};
  }
  c.tag = std::string(tag);
  std::string name;
  if (at_end() || !sp() || !keyword(name, "a command name")) {
    fail("missing command");
    return ParseError{c.tag, ParseError::Kind::kBad, "", "missing command"};
  }
  if (!dispatch(c, name)) {
    std::string text = err_.empty() ? "syntax error" : err_;
    if (!name.empty() && name != "UID") text = name + ": " + text;
    return ParseError{c.tag, ParseError::Kind::kBad, "", std::move(text)};
  }
  return c;
}

}  // namespace

std::variant<Command, ParseError> parse_command(const FramedCommand& cmd,
                                                const ParserOptions& opts) {
  if (cmd.lines.empty() || cmd.literals.size() + 1 != cmd.lines.size())
    return ParseError{"*", ParseError::Kind::kBad, "", "malformed command framing"};
  return Grammar(cmd, opts).run();
}

std::optional<ParseError> check_command_prefix(FramedCommand& partial, const ParserOptions& opts) {
  if (partial.lines.empty() || partial.literals.size() + 1 != partial.lines.size())
    return std::nullopt;
  auto marker = find_literal_marker(partial.lines.back());
  if (!marker) return std::nullopt;
  const size_t pending = partial.lines.size() - 1;
  // A placeholder for the literal and an empty rest of the command: what the grammar does
  // up to the announcement is exactly what it will do with the real octets.
  partial.literals.emplace_back();
  partial.lines.emplace_back();
  std::optional<ParseError> out;
  {
    Grammar g(partial, opts);
    auto r = g.run();
    if (auto* e = std::get_if<ParseError>(&r)) {
      if (g.fail_seg() < pending || (g.fail_seg() == pending && g.fail_pos() <= marker->pos))
        out = std::move(*e);
    }
  }
  partial.literals.pop_back();
  partial.lines.pop_back();
  return out;
}

// ---------------------------------------------------------------------------------------
// Framing

void Parser::feed(std::string_view bytes) {
  if (closed_) return;
  // Compact the consumed prefix before growing.
  if (pos_ > 0 && (pos_ >= 4096 || pos_ * 2 >= buf_.size())) {
    buf_.erase(0, pos_);
    pos_ = 0;
  }
  buf_.append(bytes);
}

bool Parser::in_command() const {
  return state_ != State::kLine || !cur_.lines.empty() || pos_ < buf_.size();
}

size_t Parser::line_limit() const {
  return opts_.authenticated ? kMaxLineLength : kMaxLineLengthPreAuth;
}

std::string Parser::peek_tag() const {
  std::string_view first;
  if (!cur_.lines.empty()) first = cur_.lines[0];
  else first = std::string_view(buf_).substr(pos_, std::min<size_t>(buf_.size() - pos_, 256));
  size_t n = 0;
  while (n < first.size() && n < kMaxTagLength) {
    auto c = static_cast<unsigned char>(first[n]);
    if (!is_astring_char(c) || c == '+') break;
    ++n;
  }
  if (n == 0 || n >= first.size() || first[n] != ' ') return "*";
  return std::string(first.substr(0, n));
}

bool Parser::is_append() const {
  if (cur_.lines.empty()) return false;
  std::string_view l = cur_.lines[0];
  size_t sp = l.find(' ');
  if (sp == std::string_view::npos) return false;
  l.remove_prefix(sp + 1);
  return l.size() > 7 && iequals(l.substr(0, 7), "APPEND ");
}

void Parser::reset_command() {
  cur_ = FramedCommand{};
  cur_size_ = 0;
}

ParseError Parser::fail_command(ParseError::Kind kind, std::string code, std::string text) {
  ParseError e{peek_tag(), kind, std::move(code), std::move(text)};
  reset_command();
  return e;
}

std::optional<ParseEvent> Parser::on_line(std::string line) {
  if (raw_line_ && cur_.lines.empty()) {
    raw_line_ = false;
    return RawLine{std::move(line)};
  }
  if (cur_.lines.empty() && line.empty())
    return ParseError{"*", ParseError::Kind::kBad, "", "empty command line"};
  cur_size_ += line.size();
  auto marker = find_literal_marker(line);
  cur_.lines.push_back(std::move(line));
  if (cur_size_ > kMaxCommandSize) {
    // The framing is lost if a literal follows; skip like an overlong line.
    bool lit = marker.has_value();
    auto e = fail_command(ParseError::Kind::kBad, "TOOBIG", "command is too long");
    if (lit && marker->non_sync) {
      literal_left_ = marker->size;
      state_ = marker->size <= kMaxDiscardLiteral ? State::kDiscardLiteral : State::kLine;
      if (marker->size > kMaxDiscardLiteral) {
        closed_ = true;
        e.kind = ParseError::Kind::kBye;
      }
    }
    return e;
  }
  if (!marker) {
    FramedCommand done = std::move(cur_);
    reset_command();
    auto r = parse_command(done, opts_);
    if (auto* c = std::get_if<Command>(&r)) return ParseEvent{std::move(*c)};
    return ParseEvent{std::get<ParseError>(std::move(r))};
  }
  // A literal follows. Before login an APPEND is in the wrong state (RFC 9051 §6.3.12 is an
  // authenticated-state command): it gets the pre-authentication literal limit, never
  // APPENDLIMIT, so an unauthenticated client cannot make the server buffer 64 MiB.
  bool append = is_append() && opts_.authenticated;
  uint64_t limit = append ? opts_.append_limit
                          : (opts_.authenticated ? kMaxLiteralSize : kMaxLiteralSizePreAuth);
  std::optional<ParseError> refuse;
  if (cur_.literals.size() >= kMaxLiteralsPerCommand) {
    refuse = fail_command(ParseError::Kind::kBad, "TOOBIG", "too many literals in one command");
  } else if (marker->overflow || marker->size > limit) {
    if (append) {
      // RFC 7889 §4 (APPENDLIMIT): NO [TOOBIG] before reading the message.
      refuse = fail_command(ParseError::Kind::kNo, "TOOBIG",
                            "message is larger than APPENDLIMIT " +
                                std::to_string(opts_.append_limit));
    } else {
      refuse = fail_command(ParseError::Kind::kBad, "TOOBIG", "literal is too large");
    }
  } else if (marker->non_sync && !opts_.literal_plus &&
             marker->size > kMaxNonSyncLiteralLiteralMinus) {
    // RFC 7888 §4 (LITERAL-): a non-synchronizing literal above 4096 octets is a BAD [TOOBIG].
    refuse = fail_command(ParseError::Kind::kBad, "TOOBIG",
                          "non-synchronizing literal above 4096 octets (LITERAL-)");
  } else if (!append && cur_size_ + marker->size > kMaxCommandSize) {
    refuse = fail_command(ParseError::Kind::kBad, "TOOBIG", "command is too long");
  } else if (auto bad = check_command_prefix(cur_, opts_)) {
    // RFC 9051 §4.3 / §7.5: the server sends "+" only when it is ready to accept the
    // literal; a command already malformed before the announcement (an invalid date-time in
    // APPEND, a literal where none may stand) gets its tagged BAD now, and the client does
    // not send the octets of a synchronizing literal.
    std::string tag = bad->tag;
    refuse = fail_command(ParseError::Kind::kBad, "", std::move(bad->text));
    refuse->tag = std::move(tag);
  }
  if (refuse) {
    if (marker->non_sync) {
      // The client sends the octets anyway: discard them, or give up if they are too many.
      if (marker->size > kMaxDiscardLiteral) {
        closed_ = true;
        refuse->kind = ParseError::Kind::kBye;
        refuse->text += "; closing the connection";
      } else {
        literal_left_ = marker->size;
        state_ = State::kDiscardLiteral;
      }
    }
    // A synchronizing literal: the client waits for "+", gets the tagged reply instead and
    // sends nothing more of this command (RFC 9051 §4.3), so the next line is a new command.
    return ParseEvent{std::move(*refuse)};
  }
  if (!append) cur_size_ += marker->size;
  cur_.literals.emplace_back();
  cur_.literals.back().reserve(std::min<uint64_t>(marker->size, 1 << 20));
  literal_left_ = marker->size;
  state_ = State::kLiteral;
  if (!marker->non_sync) return ParseEvent{ContinuationRequest{marker->size}};
  return std::nullopt;
}

std::optional<ParseEvent> Parser::next() {
  while (!closed_) {
    switch (state_) {
      case State::kLine: {
        size_t lf = buf_.find('\n', pos_);
        size_t limit = line_limit();
        if (lf == std::string::npos) {
          if (buf_.size() - pos_ > limit) {
            // RFC 9051 §4: no line limit is set, but ours is named; skip to the next line.
            auto e = fail_command(ParseError::Kind::kBad, "TOOBIG", "line is too long");
            skip_tail_.assign(buf_, buf_.size() - std::min<size_t>(buf_.size() - pos_, 32));
            pos_ = buf_.size();
            state_ = State::kSkipLine;
            return ParseEvent{std::move(e)};
          }
          return std::nullopt;
        }
        size_t len = lf - pos_;
        if (len > 0 && buf_[lf - 1] == '\r') --len;
        if (len > limit) {
          // Same as above, but the whole line is here: the next line starts a command.
          auto e = fail_command(ParseError::Kind::kBad, "TOOBIG", "line is too long");
          auto m = find_literal_marker(std::string_view(buf_).substr(pos_, len));
          pos_ = lf + 1;
          if (m && m->non_sync) {
            literal_left_ = m->size;
            state_ = State::kDiscardLiteral;
          }
          return ParseEvent{std::move(e)};
        }
        std::string line = buf_.substr(pos_, len);
        pos_ = lf + 1;
        if (auto ev = on_line(std::move(line))) return ev;
        break;
      }
      case State::kLiteral: {
        size_t take = static_cast<size_t>(std::min<uint64_t>(literal_left_, buf_.size() - pos_));
        cur_.literals.back().append(buf_, pos_, take);
        pos_ += take;
        literal_left_ -= take;
        if (literal_left_ > 0) return std::nullopt;
        state_ = State::kLine;
        break;
      }
      case State::kDiscardLiteral: {
        size_t take = static_cast<size_t>(std::min<uint64_t>(literal_left_, buf_.size() - pos_));
        pos_ += take;
        literal_left_ -= take;
        if (literal_left_ > 0) return std::nullopt;
        // The rest of the refused command follows: skip it too.
        skip_tail_.clear();
        state_ = State::kSkipLine;
        break;
      }
      case State::kSkipLine: {
        size_t lf = buf_.find('\n', pos_);
        if (lf == std::string::npos) {
          skip_tail_.append(buf_, pos_, std::string::npos);
          if (skip_tail_.size() > 32) skip_tail_.erase(0, skip_tail_.size() - 32);
          pos_ = buf_.size();
          return std::nullopt;
        }
        skip_tail_.append(buf_, pos_, lf - pos_);
        pos_ = lf + 1;
        if (!skip_tail_.empty() && skip_tail_.back() == '\r') skip_tail_.pop_back();
        auto m = find_literal_marker(skip_tail_);
        skip_tail_.clear();
        if (m && m->non_sync && m->size <= kMaxDiscardLiteral) {
          literal_left_ = m->size;
          state_ = State::kDiscardLiteral;
        } else {
          state_ = State::kLine;
        }
        break;
      }
    }
  }
  return std::nullopt;
}

}  // namespace tsubame::imap
