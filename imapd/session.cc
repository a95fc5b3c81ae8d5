// imapd/session.cc: the IMAP session state machine on the store (see session.h).
//
// Failure model: parse errors become tagged BAD (parser.h); a command in the wrong state is a
// tagged BAD; a store error is a tagged NO with a response code where RFC 9051 §7.1 has one
// (NONEXISTENT, ALREADYEXISTS, TRYCREATE, OVERQUOTA, READ-ONLY...). Too many BADs or failed
// logins end the connection with an untagged BYE. No exception leaves this file.
#include "imapd/session.h"

#include <iconv.h>

#include <algorithm>
#include <cctype>

#include "common/bytes.h"
#include "common/crypto.h"
#include "common/log.h"
#include "imapd/response.h"
#include "imapd/search_cache.h"
#include "imapd/sort.h"
#include "store/accounts.h"
#include "store/settings.h"

namespace tsubame::imap {

namespace {

constexpr uint8_t kStN = 1, kStA = 2, kStS = 4, kStAny = kStN | kStA | kStS;

uint8_t state_bit(SessionState s) {
  switch (s) {
    case SessionState::kNotAuthenticated: return kStN;
    case SessionState::kAuthenticated: return kStA;
    case SessionState::kSelected: return kStS;
    case SessionState::kLogout: return 0;
  }
  return 0;
}

// ---- flags ----

constexpr std::pair<std::string_view, uint32_t> kSystemFlags[] = {
    {"\\Seen", store::kSeen}, {"\\Answered", store::kAnswered}, {"\\Flagged", store::kFlagged},
    {"\\Deleted", store::kDeleted}, {"\\Draft", store::kDraft}};

std::vector<std::string> flag_names(uint32_t flags, const std::vector<std::string>& keywords) {
  std::vector<std::string> out;
  for (const auto& [name, bit] : kSystemFlags)
    if (flags & bit) out.emplace_back(name);
  out.insert(out.end(), keywords.begin(), keywords.end());
  return out;
}

// Splits client flags into system flag bits and keywords. RFC 9051 §2.3.2: an unknown
// system flag ("\Foo") cannot be stored.
std::optional<std::string> split_flags(const std::vector<std::string>& in, uint32_t& bits,
                                       std::vector<std::string>& keywords) {
  bits = 0;
  for (const auto& f : in) {
    if (!f.empty() && f[0] == '\\') {
      bool known = false;
      for (const auto& [name, bit] : kSystemFlags) {
        if (iequals(f, name)) {
          bits |= bit;
          known = true;
        }
      }
      if (!known) return "unknown system flag " + f;
    } else {
      keywords.push_back(f);
    }
  }
  return std::nullopt;
}

// ---- strings ----

std::string_view clamp(std::string_view raw, uint64_t from, uint64_t to) {
  from = std::min<uint64_t>(from, raw.size());
  to = std::min<uint64_t>(std::max(to, from), raw.size());
  return raw.substr(from, to - from);
}

// The header block of a message (up to and including the empty line).
std::string_view header_block(std::string_view raw) {
  size_t p = raw.find("\r\n\r\n");
  if (p != std::string_view::npos) return raw.substr(0, p + 4);
  p = raw.find("\n\n");
  if (p != std::string_view::npos) return raw.substr(0, p + 2);
  return raw;
}

// Header fields as whole (folded) lines including their line ends.
std::vector<std::string_view> header_fields(std::string_view header) {
  std::vector<std::string_view> out;
  size_t pos = 0;
  while (pos < header.size()) {
    size_t start = pos;
    while (true) {
      size_t nl = header.find('\n', pos);
      pos = nl == std::string_view::npos ? header.size() : nl + 1;
      if (pos >= header.size() || (header[pos] != ' ' && header[pos] != '\t')) break;
    }
    std::string_view f = header.substr(start, pos - start);
    if (f == "\r\n" || f == "\n") break;  // the blank line ending the header
    out.push_back(f);
  }
  return out;
}

std::string_view field_name(std::string_view f) {
  size_t c = f.find(':');
  return c == std::string_view::npos ? std::string_view() : trim(f.substr(0, c));
}

// The unfolded value of every header field called `name`.
std::vector<std::string> field_values(std::string_view header, std::string_view name) {
  std::vector<std::string> out;
  for (auto f : header_fields(header)) {
    if (!iequals(field_name(f), name)) continue;
    std::string v;
    for (char ch : f.substr(f.find(':') + 1))
      if (ch != '\r' && ch != '\n') v += ch;
    out.emplace_back(trim(v));
  }
  return out;
}

// RFC 9051 §6.4.5 HEADER.FIELDS / HEADER.FIELDS.NOT: the selected lines plus the blank line.
std::string filter_header(std::string_view header, const std::vector<std::string>& names,
                          bool exclude) {
  std::string out;
  for (auto f : header_fields(header)) {
    auto n = field_name(f);
    bool listed = std::any_of(names.begin(), names.end(),
                              [&](const std::string& x) { return iequals(x, n); });
    if (listed != exclude) out += f;
  }
  out += "\r\n";
  return out;
}

// ---- MIME part lookup (RFC 9051 §6.4.5 part numbering) ----

const BodyPart* find_part(const BodyPart& root, const std::vector<uint32_t>& path) {
  const BodyPart* node = &root;
  for (size_t i = 0; i < path.size(); ++i) {
    uint32_t n = path[i];
    if (node->is_multipart()) {
      if (n == 0 || n > node->children.size()) return nullptr;
      node = &node->children[n - 1];
    } else if (n != 1) {
      return nullptr;  // a non-multipart has only part 1 (itself)
    }
    // Further numbers address the body of an encapsulated message.
    if (i + 1 < path.size() && node->is_message() && node->children.size() == 1)
      node = &node->children[0];
  }
  return node;
}

std::optional<std::string> section_data(std::string_view raw, const MessageSummary& s,
                                        const Section& sec) {
  const BodyPart* part = &s.body;
  if (!sec.part.empty()) {
    part = find_part(s.body, sec.part);
    if (!part) return std::nullopt;
  }
  switch (sec.text) {
    case Section::Text::kNone:
      if (sec.part.empty()) return std::string(raw);
      return std::string(clamp(raw, part->body_offset, part->body_end));
    case Section::Text::kMime:
      return std::string(clamp(raw, part->header_offset, part->body_offset));
    default:
      break;
  }
  const BodyPart* msg = &s.body;
  if (!sec.part.empty()) {
    if (!part->is_message() || part->children.size() != 1) return std::nullopt;
    msg = &part->children[0];
  }
  std::string_view header = clamp(raw, msg->header_offset, msg->body_offset);
  if (sec.part.empty() && msg->body_offset == 0) header = header_block(raw);
  switch (sec.text) {
    case Section::Text::kHeader: return std::string(header);
    case Section::Text::kHeaderFields: return filter_header(header, sec.fields, false);
    case Section::Text::kHeaderFieldsNot: return filter_header(header, sec.fields, true);
    case Section::Text::kText:
      return std::string(clamp(raw, sec.part.empty() ? header.size() : msg->body_offset,
                               sec.part.empty() ? raw.size() : msg->body_end));
    default: return std::nullopt;
  }
}

std::string section_name(const Section& sec) {
  std::string n;
  for (size_t i = 0; i < sec.part.size(); ++i) {
    if (i) n += '.';
    n += std::to_string(sec.part[i]);
  }
  auto dot = [&]() { if (!n.empty()) n += '.'; };
  switch (sec.text) {
    case Section::Text::kNone: break;
    case Section::Text::kHeader: dot(); n += "HEADER"; break;
    case Section::Text::kText: dot(); n += "TEXT"; break;
    case Section::Text::kMime: dot(); n += "MIME"; break;
    case Section::Text::kHeaderFields:
    case Section::Text::kHeaderFieldsNot:
      dot();
      n += sec.text == Section::Text::kHeaderFields ? "HEADER.FIELDS (" : "HEADER.FIELDS.NOT (";
      for (size_t i = 0; i < sec.fields.size(); ++i) {
        if (i) n += ' ';
        n += sec.fields[i];
      }
      n += ')';
      break;
  }
  return n;
}

// ---- content transfer decoding for BINARY (RFC 3516) ----

std::optional<std::string> decode_b64(std::string_view in) {
  std::string out;
  uint32_t acc = 0;
  int bits = 0;
  for (char ch : in) {
    int v;
    if (ch >= 'A' && ch <= 'Z') v = ch - 'A';
    else if (ch >= 'a' && ch <= 'z') v = ch - 'a' + 26;
    else if (ch >= '0' && ch <= '9') v = ch - '0' + 52;
    else if (ch == '+') v = 62;
    else if (ch == '/') v = 63;
    else if (ch == '=') break;
    else if (ch == '\r' || ch == '\n' || ch == ' ' || ch == '\t') continue;
    else return std::nullopt;
    acc = (acc << 6) | static_cast<uint32_t>(v);
    bits += 6;
    if (bits >= 8) {
      bits -= 8;
      out += static_cast<char>((acc >> bits) & 0xff);
    }
  }
  return out;
}

std::string decode_qp(std::string_view in) {
  std::string out;
  auto hex = [](char c) -> int {
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    return -1;
  };
  for (size_t i = 0; i < in.size(); ++i) {
    if (in[i] != '=') {
      out += in[i];
      continue;
    }
    if (i + 1 < in.size() && in[i + 1] == '\n') { ++i; continue; }                 // soft break
    if (i + 2 < in.size() && in[i + 1] == '\r' && in[i + 2] == '\n') { i += 2; continue; }
    if (i + 2 < in.size() && hex(in[i + 1]) >= 0 && hex(in[i + 2]) >= 0) {
      out += static_cast<char>(hex(in[i + 1]) * 16 + hex(in[i + 2]));
      i += 2;
      continue;
    }
    out += '=';  // RFC 2045 §6.7 note: leave an invalid sequence as is
  }
  return out;
}

// ---- SEARCH ----

int64_t day_of(const Date& d) {
  DateTime dt;
  dt.date = d;
  return dt.unix_seconds() / 86400;
}
int64_t day_of_unix(int64_t t) { return t >= 0 ? t / 86400 : (t - 86399) / 86400; }

struct SearchCtx {
  const store::Message* m = nullptr;
  uint32_t seq = 0;
  uint32_t count = 0;     // messages in the mailbox (for "*")
  uint32_t max_uid = 0;
  const std::vector<uint32_t>* saved = nullptr;
  std::function<const std::string*()> raw;
  std::function<const MessageSummary*()> summary;
  // Decoded, case-folded view (search_cache.h); nullptr: search the raw octets.
  std::function<const FoldedText*()> text;
  int64_t now = 0;
};

bool search_match(const SearchKey& k, SearchCtx& c) {
  using K = SearchKey::Kind;
  const store::Message& m = *c.m;
  // RFC 9051 §6.4.4: header keys match the field's value; with the decoded view, after
  // RFC 2047 decoding and charset conversion. An empty value matches any such field.
  auto header_has = [&](std::string_view field, std::string_view value) {
    if (const FoldedText* t = c.text()) {  // = text_contains(value of the field, value)
      std::string needle = fold_case(value);
      for (const auto& h : t->headers)
        if (iequals(h.name, field) && h.value.find(needle) != std::string::npos) return true;
      return false;
    }
    const std::string* raw = c.raw();
    if (!raw) return false;
    for (const auto& v : field_values(header_block(*raw), field))
      if (text_contains(v, value)) return true;
    return false;
  };
  auto saved_has = [&](uint32_t uid) {
    return c.saved && std::binary_search(c.saved->begin(), c.saved->end(), uid);
  };
  switch (k.kind) {
    case K::kAll: return true;
    case K::kAnswered: return m.flags & store::kAnswered;
    case K::kDeleted: return m.flags & store::kDeleted;
    case K::kDraft: return m.flags & store::kDraft;
    case K::kFlagged: return m.flags & store::kFlagged;
    case K::kSeen: return m.flags & store::kSeen;
    case K::kUnanswered: return !(m.flags & store::kAnswered);
    case K::kUndeleted: return !(m.flags & store::kDeleted);
    case K::kUndraft: return !(m.flags & store::kDraft);
    case K::kUnflagged: return !(m.flags & store::kFlagged);
    case K::kUnseen: return !(m.flags & store::kSeen);
    // IMAP4rev2 has no \Recent (RFC 9051 §2.3.2): no message is recent, so NEW never matches.
    case K::kRecent: case K::kNew: return false;
    case K::kOld: return true;
    case K::kKeyword:
      return std::any_of(m.keywords.begin(), m.keywords.end(),
                         [&](const std::string& w) { return iequals(w, k.str); });
    case K::kUnkeyword:
      return std::none_of(m.keywords.begin(), m.keywords.end(),
                          [&](const std::string& w) { return iequals(w, k.str); });
    case K::kLarger: return m.size > k.number;
    case K::kSmaller: return m.size < k.number;
    case K::kBefore: return day_of_unix(m.internal_date) < day_of(k.date);
    case K::kOn: return day_of_unix(m.internal_date) == day_of(k.date);
    case K::kSince: return day_of_unix(m.internal_date) >= day_of(k.date);
    case K::kSentBefore: case K::kSentOn: case K::kSentSince: {
      const MessageSummary* s = c.summary();
      if (!s || s->sent_date == 0) return false;
      int64_t d = day_of_unix(s->sent_date), want = day_of(k.date);
      return k.kind == K::kSentBefore ? d < want : k.kind == K::kSentOn ? d == want : d >= want;
    }
    case K::kOlder: return c.now - m.internal_date >= static_cast<int64_t>(k.number);
    case K::kYounger: return c.now - m.internal_date <= static_cast<int64_t>(k.number);
    case K::kModSeq: return m.modseq >= k.number;
    case K::kBcc: return header_has("Bcc", k.str);
    case K::kCc: return header_has("Cc", k.str);
    case K::kFrom: return header_has("From", k.str);
    case K::kTo: return header_has("To", k.str);
    case K::kSubject: return header_has("Subject", k.str);
    case K::kHeader: return header_has(k.str, k.str2);
    case K::kBody: {
      if (const FoldedText* t = c.text())
        return t->body.find(fold_case(k.str)) != std::string::npos;
      const std::string* raw = c.raw();
      return raw && text_contains(std::string_view(*raw).substr(header_block(*raw).size()), k.str);
    }
    case K::kText: {  // header (names and decoded values) or body
      if (const FoldedText* t = c.text()) {
        std::string needle = fold_case(k.str);
        for (const auto& h : t->headers)
          if (h.line.find(needle) != std::string::npos) return true;
        return t->body.find(needle) != std::string::npos;
      }
      const std::string* raw = c.raw();
      return raw && text_contains(*raw, k.str);
    }
    case K::kUid:
      return k.set.saved ? saved_has(m.uid) : k.set.contains(m.uid, c.max_uid);
    case K::kSequenceSet:
      return k.set.saved ? saved_has(m.uid) : k.set.contains(c.seq, c.count);
    case K::kNot: return !search_match(k.children[0], c);
    case K::kOr: return search_match(k.children[0], c) || search_match(k.children[1], c);
    case K::kAnd:
      for (const auto& ch : k.children)
        if (!search_match(ch, c)) return false;
      return true;
  }
  return false;
}

// RFC 9051 §6.4.4: "CHARSET specifies the charset of the strings in the search criteria".
// UTF-8 and US-ASCII are used as they are; any other charset iconv knows is converted to
// UTF-8 (what the decoded messages are in).
struct CharsetResult {
  bool known = true;   // false: iconv does not know the charset (NO [BADCHARSET])
  std::string error;   // a search string is not valid in the charset (tagged NO)
};

std::optional<std::string> iconv_to_utf8(iconv_t cd, const std::string& in) {
  iconv(cd, nullptr, nullptr, nullptr, nullptr);  // reset the shift state
  std::string out(in.size() * 4 + 16, '\0');     // worst case: 1 octet -> 3, plus a reset
  char* src = const_cast<char*>(in.data());
  size_t left = in.size();
  char* dst = out.data();
  size_t room = out.size();
  if (iconv(cd, &src, &left, &dst, &room) == static_cast<size_t>(-1)) return std::nullopt;
  if (iconv(cd, nullptr, nullptr, &dst, &room) == static_cast<size_t>(-1)) return std::nullopt;
  out.resize(out.size() - room);
  return out;
}

bool convert_key(SearchKey& k, iconv_t cd) {
  using K = SearchKey::Kind;
  switch (k.kind) {
    case K::kBcc: case K::kBody: case K::kCc: case K::kFrom: case K::kSubject: case K::kText:
    case K::kTo: case K::kHeader: {
      auto a = iconv_to_utf8(cd, k.str);
      if (!a) return false;
      k.str = std::move(*a);
      if (k.kind == K::kHeader) {
        auto b = iconv_to_utf8(cd, k.str2);
        if (!b) return false;
        k.str2 = std::move(*b);
      }
      break;
    }
    default: break;
  }
  for (auto& ch : k.children)
    if (!convert_key(ch, cd)) return false;
  return true;
}

// Converts `key` in place; known=false for a charset iconv does not have.
CharsetResult apply_charset(const std::string& charset, SearchKey& key) {
  CharsetResult r;
  if (charset.empty() || charset == "UTF-8" || charset == "US-ASCII") return r;
  iconv_t cd = iconv_open("UTF-8", charset.c_str());
  if (cd == reinterpret_cast<iconv_t>(-1)) {
    r.known = false;
    return r;
  }
  if (!convert_key(key, cd)) r.error = "a search string is not valid " + charset;
  iconv_close(cd);
  return r;
}

bool uses_modseq(const SearchKey& k) {
  if (k.kind == SearchKey::Kind::kModSeq) return true;
  return std::any_of(k.children.begin(), k.children.end(), uses_modseq);
}

// The first sequence-number key (not UID, not "$") naming a message beyond the mailbox:
// RFC 9051 §9 (seq-number) asks for a tagged BAD, as FETCH and STORE give.
const SequenceSet* bad_sequence_key(const SearchKey& k, uint32_t count) {
  if (k.kind == SearchKey::Kind::kSequenceSet && !k.set.saved) {
    for (const auto& r : k.set.ranges) {
      uint32_t lo = r.lo == SequenceSet::kStar ? count : r.lo;
      uint32_t hi = r.hi == SequenceSet::kStar ? count : r.hi;
      if (std::min(lo, hi) == 0 || std::max(lo, hi) > count) return &k.set;
    }
  }
  for (const auto& c : k.children)
    if (const SequenceSet* b = bad_sequence_key(c, count)) return b;
  return nullptr;
}

// Keys answered from the decoded text (SearchCtx::text).
bool uses_text(const SearchKey& k) {
  using K = SearchKey::Kind;
  switch (k.kind) {
    case K::kBcc: case K::kBody: case K::kCc: case K::kFrom: case K::kSubject: case K::kText:
    case K::kTo: case K::kHeader:
      return true;
    default:
      return std::any_of(k.children.begin(), k.children.end(), uses_text);
  }
}

// ---- LIST ----

// RFC 9051 §6.3.9: "*" matches anything, "%" anything but the hierarchy delimiter.
bool wildcard_match(std::string_view name, std::string_view pat) {
  std::vector<std::vector<char>> dp(pat.size() + 1, std::vector<char>(name.size() + 1, 0));
  dp[0][0] = 1;
  for (size_t i = 1; i <= pat.size(); ++i) {
    char p = pat[i - 1];
    if (p == '*' || p == '%') dp[i][0] = dp[i - 1][0];
    for (size_t j = 1; j <= name.size(); ++j) {
      if (p == '*') dp[i][j] = dp[i - 1][j] || dp[i][j - 1];
      else if (p == '%') dp[i][j] = dp[i - 1][j] || (dp[i][j - 1] && name[j - 1] != '/');
      else dp[i][j] = dp[i - 1][j - 1] && p == name[j - 1];
    }
  }
  return dp[pat.size()][name.size()];
}

std::string canonical_pattern(std::string p) {
  if (p.size() >= 5 && iequals(std::string_view(p).substr(0, 5), "INBOX") &&
      (p.size() == 5 || p[5] == '/'))
    p.replace(0, 5, "INBOX");
  return p;
}

// A minimal summary when no MIME parser is wired (SessionConfig::summarize).
MessageSummary minimal_summary(std::string_view raw) {
  MessageSummary s;
  std::string_view header = header_block(raw);
  auto first = [&](std::string_view name) -> std::optional<std::string> {
    auto v = field_values(header, name);
    if (v.empty()) return std::nullopt;
    return v[0];
  };
  s.envelope.date = first("Date");
  s.envelope.subject = first("Subject");
  s.envelope.in_reply_to = first("In-Reply-To");
  s.envelope.message_id = first("Message-ID");
  s.size = raw.size();
  s.body.body_offset = header.size();
  s.body.body_end = raw.size();
  s.body.size = raw.size() - header.size();
  s.body.lines = static_cast<uint64_t>(
      std::count(raw.begin() + static_cast<std::ptrdiff_t>(header.size()), raw.end(), '\n'));
  s.body.params = {{"CHARSET", "US-ASCII"}};
  return s;
}

std::string no_code_for(const Status& s) {
  switch (s.code()) {
    case Code::kNotFound: return "NONEXISTENT";
    case Code::kExists: return "ALREADYEXISTS";
    case Code::kFull: return "OVERQUOTA";
    case Code::kPermissionDenied: return "NOPERM";
    case Code::kLocked: case Code::kUnavailable: return "UNAVAILABLE";
    case Code::kInvalidArgument: return "CANNOT";
    default: return "SERVERBUG";
  }
}

}  // namespace

std::string_view state_name(SessionState s) {
  switch (s) {
    case SessionState::kNotAuthenticated: return "not authenticated";
    case SessionState::kAuthenticated: return "authenticated";
    case SessionState::kSelected: return "selected";
    case SessionState::kLogout: return "logout";
  }
  return "?";
}

Session::Session(store::Store& store, SessionConfig config)
    : store_(store), cfg_(std::move(config)) {
  ParserOptions o;
  o.literal_plus = cfg_.literal_plus;
  o.append_limit = cfg_.append_limit;
  parser_ = Parser(o);
}

std::string Session::capabilities() const {
  std::string c = "IMAP4rev1 IMAP4rev2";
  c += cfg_.literal_plus ? " LITERAL+" : " LITERAL-";
  c += " ID ENABLE IDLE NAMESPACE UNSELECT UIDPLUS MOVE SPECIAL-USE CREATE-SPECIAL-USE"
       " LIST-EXTENDED LIST-STATUS ESEARCH SEARCHRES CONDSTORE QRESYNC BINARY QUOTA"
       " QUOTA=RES-STORAGE SORT SORT=DISPLAY ESORT THREAD=ORDEREDSUBJECT THREAD=REFERENCES"
       " UTF8=ACCEPT"
       " APPENDLIMIT=" + std::to_string(cfg_.append_limit);
  if (state_ == SessionState::kNotAuthenticated) {
    c += " SASL-IR";
    if (cfg_.starttls_available && !cfg_.tls_active) c += " STARTTLS";
    // RFC 9051 §6.2.3 / §7.2.2: LOGINDISABLED while credentials would travel in clear.
    if (!cfg_.tls_active && !cfg_.allow_plaintext_auth) c += " LOGINDISABLED";
    else c += " AUTH=PLAIN";
  }
  return c;
}

std::string Session::greeting() {
  return untagged("OK [CAPABILITY " + capabilities() + "] Tsubame IMAP ready");
}

int64_t Session::timeout_seconds() const {
  return state_ == SessionState::kNotAuthenticated ? kPreAuthTimeout.count()
                                                   : kIdleTimeout.count();
}

void Session::timeout(std::string& out) {
  if (state_ == SessionState::kLogout) return;
  out += untagged("BYE Autologout; idle for too long");  // RFC 9051 §5.4
  state_ = SessionState::kLogout;
}

void Session::tls_started() {
  start_tls_pending_ = false;
  cfg_.tls_active = true;
  ParserOptions o = parser_.options();
  parser_ = Parser(o);  // nothing received in clear survives the upgrade
}

void Session::receive(std::string_view bytes, std::string& out) {
  if (state_ == SessionState::kLogout || start_tls_pending_) return;
  parser_.feed(bytes);
  process(out);
}

void Session::process(std::string& out) {
  // Pipelined commands wait while a password check, a TLS handshake or a write is pending,
  // and (flag journal) while STOREs acknowledged early have not all committed: every command
  // but STORE reads or writes what they change, so it runs after them.
  while (state_ != SessionState::kLogout && !start_tls_pending_ && !pending_login_ &&
         !pending_write_ && !pending_text_ && !(early_ && early_->held)) {
    auto ev = parser_.next();
    if (!ev) break;
    const auto* c = std::get_if<Command>(&*ev);
    if (c && c->kind != CommandKind::kStore && cfg_.flag_overlay && !cfg_.flag_overlay->settled()) {
      if (!early_) early_ = std::make_unique<Early>();
      early_->held = std::make_unique<ParseEvent>(std::move(*ev));
      early_->barrier = cfg_.flag_overlay->accepted_seq();
      break;
    }
    handle(std::move(*ev), out);
  }
}

std::optional<Session::TextJob> Session::take_text_job() {
  if (!pending_text_ || !pending_text_->job) return std::nullopt;
  auto j = std::move(pending_text_->job);
  pending_text_->job.reset();
  return j;
}

void Session::text_ready(std::string& out) {
  if (!pending_text_) return;
  Command c = std::move(pending_text_->command);
  pending_text_.reset();
  // Nothing else ran meanwhile (the session was paused): still selected, same mailbox.
  if (state_ == SessionState::kSelected) {
    text_warmed_ = true;  // whatever the cache could not keep is extracted inline
    if (c.kind == CommandKind::kSearch) cmd_search(c, out);
    else cmd_sort(c, out);
    text_warmed_ = false;
  }
  process(out);
}

bool Session::defer_for_text(const Command& c, const SearchKey& key,
                             const std::vector<store::Message>& msgs) {
  if (!cfg_.async_text || !cfg_.search_cache || !cfg_.extract_text || text_warmed_ ||
      !uses_text(key) || !sel_)
    return false;
  TextJob job;
  job.user_id = user_.id;
  job.mailbox_id = sel_->box.id;
  for (const auto& m : msgs) {
    if (!std::binary_search(sel_->uids.begin(), sel_->uids.end(), m.uid)) continue;
    if (!cfg_.search_cache->contains(user_.id, m.blob_id)) job.messages.emplace_back(m.uid, m.blob_id);
  }
  if (job.messages.size() < kMinAsyncTextMessages) return false;
  pending_text_ = std::make_unique<PendingText>(PendingText{std::move(job), c});
  return true;
}

size_t extract_search_text(store::Store& store, const TextExtractor& extract, SearchCache& cache,
                           const Session::TextJob& job, const std::function<bool()>& stop) {
  size_t n = 0, done = 0;
  for (const auto& [uid, blob] : job.messages) {
    if (stop && ++n % 64 == 0 && stop()) break;
    if (cache.contains(job.user_id, blob)) continue;
    auto raw = store.read_message(job.user_id, job.mailbox_id, uid);
    if (!raw.is_ok()) continue;
    auto text = extract(*raw);
    if (!text.is_ok()) continue;
    cache.put(job.user_id, blob, std::make_shared<const FoldedText>(fold_search_text(*text)));
    ++done;
  }
  return done;
}

std::vector<Session::EarlyWrite> Session::take_early_writes() {
  std::vector<EarlyWrite> w;
  if (early_) w.swap(early_->out);
  return w;
}

std::optional<uint64_t> Session::flag_barrier() const {
  if (!early_ || !early_->held) return std::nullopt;
  return early_->barrier;
}

void Session::flags_settled(std::string& out) {
  if (!early_ || !early_->held || !cfg_.flag_overlay ||
      cfg_.flag_overlay->completed_seq() < early_->barrier)
    return;
  ParseEvent ev = std::move(*early_->held);
  early_->held.reset();
  if (state_ != SessionState::kLogout) handle(std::move(ev), out);
  process(out);
}

void Session::early_write_done(const store::WriteOutcome& outcome) {
  if (!early_ || early_->predictions.empty()) return;
  Early::Prediction p = std::move(early_->predictions.front());
  early_->predictions.pop_front();
  if (!outcome.status || !sel_ || sel_->box.id != p.mailbox_id) return;
  // The client was told the predicted flags. Where the store agrees, that change needs no
  // further report (as an ordinary STORE's); where it does not (another process changed
  // the message meanwhile), the next sync reports the stored flags.
  for (const auto& ch : outcome.flags.changed) {
    auto it = std::find_if(p.changes.begin(), p.changes.end(),
                           [&](const FlagOverlay::Change& x) { return x.uid == ch.uid; });
    if (it != p.changes.end() && it->state.flags == ch.flags && it->state.keywords == ch.keywords)
      sel_->self_reported[ch.uid] = ch.modseq;
  }
}

std::optional<PasswordCheck> Session::take_password_check() {
  if (!pending_login_ || !pending_login_->check) return std::nullopt;
  auto c = std::move(pending_login_->check);
  pending_login_->check.reset();
  return c;
}

void Session::password_checked(bool ok, std::string& out) {
  if (!pending_login_) return;
  finish_login(ok, out);
  process(out);
}

std::optional<store::WriteRequest> Session::take_write() {
  if (!pending_write_ || !pending_write_->request) return std::nullopt;
  auto r = std::move(pending_write_->request);
  pending_write_->request.reset();
  return r;
}

void Session::write_done(store::WriteOutcome outcome, std::string& out) {
  if (!pending_write_) return;
  WriteDone done = std::move(pending_write_->done);
  pending_write_.reset();
  if (state_ != SessionState::kLogout) done(outcome, out);
  process(out);
}

void Session::write(store::WriteRequest request, WriteDone done, std::string& out) {
  if (!cfg_.async_writes) {
    std::vector<store::WriteRequest> one;
    one.push_back(std::move(request));
    auto outcome = store_.write_batch(one, store::BatchSync::kFull);
    done(outcome[0], out);
    return;
  }
  pending_write_ =
      std::make_unique<PendingWrite>(PendingWrite{std::move(request), std::move(done)});
}

std::string Session::summary() const {
  std::string s;
  for (const auto& [name, n] : counters_) {
    if (!s.empty()) s += ' ';
    s += name + "=" + std::to_string(n);
  }
  if (bad_commands_) {
    if (!s.empty()) s += ' ';
    s += "bad=" + std::to_string(bad_commands_);
  }
  return s;
}

void Session::bad(std::string_view tag, std::string_view text, std::string& out) {
  out += tagged(tag, "BAD", "", text);
  if (++bad_commands_ >= kMaxBadCommands) {
    out += untagged("BYE Too many invalid commands");
    state_ = SessionState::kLogout;
  }
}

void Session::handle(ParseEvent ev, std::string& out) {
  if (auto* c = std::get_if<Command>(&ev)) {
    execute(*c, out);
  } else if (auto* e = std::get_if<ParseError>(&ev)) {
    // A refused line while a raw line was expected (an overlong SASL response or IDLE
    // continuation): the pending AUTHENTICATE or IDLE ends with a tagged BAD.
    if ((auth_tag_ || idle_tag_) && e->kind != ParseError::Kind::kBye) {
      std::string tag = auth_tag_ ? *auth_tag_ : *idle_tag_;
      auth_tag_.reset();
      idle_tag_.reset();
      parser_.cancel_raw_line();
      bad(tag, e->text, out);
      return;
    }
    if (e->kind == ParseError::Kind::kBye) {
      out += untagged("BYE " + e->text);
      state_ = SessionState::kLogout;
    } else if (e->kind == ParseError::Kind::kNo) {
      out += tagged(e->tag, "NO", e->code, e->text);
    } else {
      if (!e->code.empty()) out += tagged(e->tag, "BAD", e->code, e->text);
      else bad(e->tag, e->text, out);
    }
  } else if (std::holds_alternative<ContinuationRequest>(ev)) {
    out += continuation("Ready for literal data");
  } else if (auto* l = std::get_if<RawLine>(&ev)) {
    handle_raw_line(l->line, out);
  }
}

void Session::handle_raw_line(const std::string& line, std::string& out) {
  if (idle_tag_) {
    std::string tag = *idle_tag_;
    idle_tag_.reset();
    // RFC 2177 §3: IDLE ends with "DONE"; anything else is a protocol error.
    if (iequals(line, "DONE")) {
      sync(out, true);
      out += tagged(tag, "OK", "", "IDLE terminated");
    } else {
      bad(tag, "expected DONE to end IDLE", out);
    }
    return;
  }
  if (auth_tag_) {
    std::string tag = *auth_tag_;
    auth_tag_.reset();
    if (line == "*") {  // RFC 9051 §6.2.2: the client cancels
      out += tagged(tag, "BAD", "", "AUTHENTICATE cancelled");
      return;
    }
    if (line.size() > kMaxSaslResponseLength) {
      bad(tag, "SASL response is too long", out);
      return;
    }
    auto decoded = base64_decode(line);
    if (!decoded) {
      bad(tag, "invalid base64 in SASL response", out);
      return;
    }
    // RFC 4616 §2: message = [authzid] NUL authcid NUL passwd
    auto parts = split(*decoded, '\0');
    if (parts.size() != 3 || parts[1].empty()) {
      bad(tag, "malformed PLAIN message", out);
      return;
    }
    if (!parts[0].empty() && parts[0] != parts[1]) {
      out += tagged(tag, "NO", "AUTHORIZATIONFAILED", "cannot act as another user");
      return;
    }
    login(tag, std::string(parts[1]), std::string(parts[2]), "PLAIN", out);
  }
}

void Session::execute(const Command& c, std::string& out) {
  using CK = CommandKind;
  using Fn = void (Session::*)(const Command&, std::string&);
  struct Entry {
    CK kind;
    uint8_t states;
    Fn fn;
  };
  // The command table (Postfix's smtpd_cmd_table): which states accept each command.
  static const Entry kTable[] = {
      {CK::kCapability, kStAny, &Session::cmd_capability},
      {CK::kNoop, kStAny, nullptr},
      {CK::kLogout, kStAny, &Session::cmd_logout},
      {CK::kId, kStAny, &Session::cmd_id},
      {CK::kStartTls, kStN, &Session::cmd_starttls},
      {CK::kLogin, kStN, &Session::cmd_login},
      {CK::kAuthenticate, kStN, &Session::cmd_authenticate},
      {CK::kEnable, kStA, &Session::cmd_enable},  // RFC 5161 §3.1: authenticated state only
      {CK::kSelect, kStA | kStS, &Session::cmd_select},
      {CK::kExamine, kStA | kStS, &Session::cmd_select},
      {CK::kCreate, kStA | kStS, &Session::cmd_create},
      {CK::kDelete, kStA | kStS, &Session::cmd_delete},
      {CK::kRename, kStA | kStS, &Session::cmd_rename},
      {CK::kSubscribe, kStA | kStS, &Session::cmd_subscribe},
      {CK::kUnsubscribe, kStA | kStS, &Session::cmd_subscribe},
      {CK::kList, kStA | kStS, &Session::cmd_list},
      {CK::kLsub, kStA | kStS, &Session::cmd_list},
      {CK::kNamespace, kStA | kStS, &Session::cmd_namespace},
      {CK::kStatus, kStA | kStS, &Session::cmd_status},
      {CK::kAppend, kStA | kStS, &Session::cmd_append},
      {CK::kIdle, kStA | kStS, &Session::cmd_idle},
      {CK::kGetQuota, kStA | kStS, &Session::cmd_quota},
      {CK::kGetQuotaRoot, kStA | kStS, &Session::cmd_quota},
      {CK::kSetQuota, kStA | kStS, &Session::cmd_quota},
      {CK::kCheck, kStS, nullptr},
      {CK::kClose, kStS, &Session::cmd_close},
      {CK::kUnselect, kStS, &Session::cmd_close},
      {CK::kExpunge, kStS, &Session::cmd_expunge},
      {CK::kSearch, kStS, &Session::cmd_search},
      {CK::kFetch, kStS, &Session::cmd_fetch},
      {CK::kStore, kStS, &Session::cmd_store},
      {CK::kCopy, kStS, &Session::cmd_copy},
      {CK::kMove, kStS, &Session::cmd_copy},
      {CK::kSort, kStS, &Session::cmd_sort},
      {CK::kThread, kStS, &Session::cmd_sort},
  };
  const Entry* e = nullptr;
  for (const auto& x : kTable)
    if (x.kind == c.kind) e = &x;
  std::string name = std::string(c.uid ? "UID " : "") + std::string(command_name(c.kind));
  {
    std::string key = to_lower(name);
    if (c.uid) key[3] = '_';  // "uid_fetch"
    auto it = std::find_if(counters_.begin(), counters_.end(),
                           [&](const auto& p) { return p.first == key; });
    if (it == counters_.end()) counters_.emplace_back(key, 1);
    else ++it->second;
  }
  if (!e) {  // every parsed command has an entry; kept for commands added to the parser
    bad(c.tag, name + " is not supported", out);
    return;
  }
  if (!(e->states & state_bit(state_))) {
    bad(c.tag, name + " is not valid in the " + std::string(state_name(state_)) + " state",
        out);
    return;
  }
  // A command of the selected state finds its mailbox gone: BYE instead of a confusing NO.
  if (state_ == SessionState::kSelected && c.kind != CommandKind::kLogout && selected_gone(out))
    return;
  if (!e->fn) {  // NOOP, CHECK (RFC 9051 §6.1.2: NOOP is the polling command)
    sync(out, true);
    out += tagged(c.tag, "OK", "", name + " completed");
    return;
  }
  // Handlers report other sessions' changes (sync) before their tagged reply, and only
  // where RFC 9051 §7.5.1 allows EXPUNGE: not while answering FETCH, STORE or SEARCH by
  // sequence number, whose numbers the client is using.
  (this->*(e->fn))(c, out);
}

// ---------------------------------------------------------------------------------------
// Any state

void Session::cmd_capability(const Command& c, std::string& out) {
  out += untagged("CAPABILITY " + capabilities());
  out += tagged(c.tag, "OK", "", "CAPABILITY completed");
}

void Session::cmd_logout(const Command& c, std::string& out) {
  out += untagged("BYE Logging out");
  out += tagged(c.tag, "OK", "", "LOGOUT completed");
  state_ = SessionState::kLogout;
}

void Session::cmd_id(const Command& c, std::string& out) {
  // RFC 2971 §3.1; the client's name/version go into the login history.
  const auto& a = c.as<IdArgs>();
  std::string name, version;
  for (const auto& [k, v] : a.fields) {
    if (iequals(k, "name") && v) name = *v;
    if (iequals(k, "version") && v) version = *v;
  }
  if (!name.empty()) client_id_ = version.empty() ? name : name + "/" + version;
  out += untagged("ID (\"name\" \"Tsubame\" \"vendor\" \"Tsubame\")");
  out += tagged(c.tag, "OK", "", "ID completed");
}

// ---------------------------------------------------------------------------------------
// Not authenticated

void Session::cmd_starttls(const Command& c, std::string& out) {
  if (cfg_.tls_active) {
    bad(c.tag, "TLS is already active", out);
    return;
  }
  if (!cfg_.starttls_available) {
    out += tagged(c.tag, "NO", "", "STARTTLS is not available");
    return;
  }
  out += tagged(c.tag, "OK", "", "Begin TLS negotiation now");
  start_tls_pending_ = true;
}

void Session::cmd_login(const Command& c, std::string& out) {
  const auto& a = c.as<LoginArgs>();
  if (!cfg_.tls_active && !cfg_.allow_plaintext_auth) {
    out += tagged(c.tag, "NO", "PRIVACYREQUIRED", "LOGIN is disabled before STARTTLS");
    return;
  }
  login(c.tag, a.user, a.password, "PLAIN", out);  // LOGIN counts as PLAIN (see login())
}

void Session::cmd_authenticate(const Command& c, std::string& out) {
  const auto& a = c.as<AuthenticateArgs>();
  if (a.mechanism != "PLAIN") {
    out += tagged(c.tag, "NO", "CANNOT", "unsupported SASL mechanism " + a.mechanism);
    return;
  }
  if (!cfg_.tls_active && !cfg_.allow_plaintext_auth) {
    out += tagged(c.tag, "NO", "PRIVACYREQUIRED", "AUTHENTICATE is disabled before STARTTLS");
    return;
  }
  auth_tag_ = c.tag;
  if (a.initial_response) {  // RFC 4959 SASL-IR
    handle_raw_line(base64_encode(*a.initial_response), out);
    return;
  }
  out += continuation("");
  parser_.expect_raw_line();
}

// Password login (LOGIN, AUTHENTICATE PLAIN). `mechanism` is the SASL mechanism the
// domain's auth_mechanisms must allow: "PLAIN" for both, since the LOGIN command carries the
// same cleartext password as RFC 4616 PLAIN (Dovecot runs its LOGIN command through PLAIN
// too); the SASL "LOGIN" mechanism is not offered by imapd.
void Session::login(std::string_view tag, const std::string& user, const std::string& password,
                    std::string_view mechanism, std::string& out) {
  PendingLogin p;
  p.tag = std::string(tag);
  p.event.login = user.substr(0, store::kMaxLoginField);
  p.event.source_ip = cfg_.source_ip;
  p.event.client_id = client_id_.substr(0, store::kMaxLoginField);
  p.event.protocol = store::LoginProtocol::kImap;
  // The domain's policy (store/settings.h), read fresh at each login. It depends on the
  // login's domain part only (defaults for a domain that is not ours): its refusals never
  // tell whether the user exists.
  auto policy = store::auth_policy_for_login(store_, user, cfg_.lockout);
  if (!policy) {
    out += tagged(tag, "NO", "UNAVAILABLE", "account settings unavailable; try again later");
    return;
  }
  p.lockout = policy->lockout;
  auto u = store_.find_user(user);
  if (u) {
    p.event.user_id = u->id;
    p.user = *u;
  }
  if (!cfg_.tls_active && policy->tls_required) {
    // RFC 5530 §3 PRIVACYREQUIRED: this domain accepts passwords over TLS only (even
    // where security.allow_plaintext_auth lets other domains log in in clear).
    p.code = "PRIVACYREQUIRED";
    p.text = "this account requires TLS: use STARTTLS or IMAPS";
  } else if (!policy->allows(mechanism)) {
    p.code = "AUTHENTICATIONFAILED";
    p.text = "authentication mechanism not allowed for this account";
  }
  if (!p.code.empty()) {
    // Refused before the password is looked at: in the login history (a known user as
    // "refused-by-policy"), never toward the lockout.
    p.event.result = u ? store::LoginResult::kPolicy : store::LoginResult::kUnknownUser;
    p.refused = true;
    pending_login_ = std::move(p);
    finish_login(false, out);
    return;
  }
  std::optional<store::LoginResult> refused;
  if (!u) {
    refused = store::LoginResult::kUnknownUser;
  } else {
    store::Accounts accounts(store_, p.lockout);
    auto locked = accounts.is_locked(u->id);
    if (u->disabled || u->deleted_at != 0) refused = store::LoginResult::kDisabled;
    else if (!locked || *locked) refused = store::LoginResult::kLocked;
  }
  if (refused) {
    p.event.result = *refused;
    p.refused = true;
    // Unknown and disabled logins cost the same KDF work as a real check (then are refused
    // whatever it says), so the answer's timing does not tell which logins exist. A locked
    // account gets no check: guesses during the lock must teach nothing.
    if (*refused != store::LoginResult::kLocked && !cfg_.dummy_password_hash.empty()) {
      const std::string& hash = u ? u->password_hash : cfg_.dummy_password_hash;
      if (cfg_.async_password_check) {
        p.check = PasswordCheck{password, hash};
        pending_login_ = std::move(p);  // password_checked() finishes it as refused
        return;
      }
      (void)crypto::verify_password(password, hash);
    }
    pending_login_ = std::move(p);
    finish_login(false, out);
    return;
  }
  if (cfg_.async_password_check) {
    p.check = PasswordCheck{password, u->password_hash};
    pending_login_ = std::move(p);  // the adapter runs the check and calls password_checked
    return;
  }
  pending_login_ = std::move(p);
  finish_login(crypto::verify_password(password, u->password_hash), out);
}

void Session::finish_login(bool password_ok, std::string& out) {
  PendingLogin p = std::move(*pending_login_);
  pending_login_.reset();
  store::Accounts accounts(store_, p.lockout);
  if (!p.refused)
    p.event.result = password_ok ? store::LoginResult::kSuccess : store::LoginResult::kBadPassword;
  if (p.event.result != store::LoginResult::kSuccess) {
    auto failed = accounts.record_login(p.event);  // best effort: the refusal stands either way
    if (failed && failed->newly_locked && cfg_.on_account_locked)
      cfg_.on_account_locked(p.user, *failed, cfg_.source_ip);
    if (p.code.empty()) out += tagged(p.tag, "NO", "AUTHENTICATIONFAILED", "Authentication failed");
    else out += tagged(p.tag, "NO", p.code, p.text);
    if (++failed_logins_ >= kMaxFailedLogins) {
      out += untagged("BYE Too many failed logins");
      state_ = SessionState::kLogout;
    }
    return;
  }
  auto rec = accounts.record_login(p.event);
  if (!rec) {  // no login without its audit record
    out += tagged(p.tag, "NO", "UNAVAILABLE", "login history unavailable; try again later");
    return;
  }
  user_ = p.user;
  state_ = SessionState::kAuthenticated;
  parser_.set_authenticated(true);
  out += tagged(p.tag, "OK", "CAPABILITY " + capabilities(), "Logged in");
}

// ---------------------------------------------------------------------------------------
// Authenticated

void Session::cmd_enable(const Command& c, std::string& out) {
  std::string enabled;
  for (const auto& cap : c.as<EnableArgs>().capabilities) {
    bool ok = true;
    if (cap == "CONDSTORE") condstore_ = true;
    else if (cap == "QRESYNC") condstore_ = qresync_ = true;  // RFC 7162 §3.2.3
    else if (cap == "IMAP4REV2") rev2_ = utf8_ = true;        // RFC 9051 §6.3.1
    else if (cap == "UTF8=ACCEPT") utf8_ = true;              // RFC 6855 §3
    else ok = false;                                          // ignored (RFC 5161 §3.1)
    if (ok) enabled += " " + cap;
  }
  parser_.set_utf8_mailboxes(utf8_);
  out += untagged("ENABLED" + enabled);
  out += tagged(c.tag, "OK", "", "ENABLE completed");
}

std::string Session::flags_line(const std::vector<std::string>& keywords) {
  std::string f = "FLAGS (\\Answered \\Flagged \\Deleted \\Seen \\Draft $Junk $NotJunk";
  for (const auto& k : keywords) {
    f += ' ';
    f += k;
  }
  return f + ")";
}

bool Session::add_keywords(std::vector<std::string>& known, const std::vector<std::string>& keywords) {
  bool added = false;
  for (const auto& k : keywords) {
    if (iequals(k, "$Junk") || iequals(k, "$NotJunk")) continue;  // always in FLAGS
    auto it = std::lower_bound(known.begin(), known.end(), k);
    if (it != known.end() && *it == k) continue;
    known.insert(it, k);
    added = true;
  }
  return added;
}

void Session::note_keywords(const std::vector<std::string>& keywords, std::string& out) {
  if (sel_ && add_keywords(sel_->keywords, keywords)) out += untagged(flags_line(sel_->keywords));
}

void Session::unselect() {
  sel_.reset();
  if (state_ == SessionState::kSelected) state_ = SessionState::kAuthenticated;
}

void Session::cmd_select(const Command& c, std::string& out) {
  const auto& a = c.as<SelectArgs>();
  bool examine = c.kind == CommandKind::kExamine;
  if (sel_) {
    unselect();
    out += untagged("OK [CLOSED] Previous mailbox closed");  // RFC 9051 §7.1 CLOSED
  }
  if (a.qresync && !qresync_) {
    bad(c.tag, "QRESYNC parameter needs ENABLE QRESYNC", out);  // RFC 7162 §3.2.5
    return;
  }
  if (a.condstore) condstore_ = true;
  auto box = store_.find_mailbox(user_.id, a.mailbox);
  if (!box) {
    out += tagged(c.tag, "NO", no_code_for(box.status()), box.status().message());
    return;
  }
  auto msgs = store_.list_messages(box->id);
  if (!msgs) {
    out += tagged(c.tag, "NO", "SERVERBUG", msgs.status().message());
    return;
  }
  Selected s;
  s.box = *box;
  s.read_only = examine;
  s.known_modseq = box->highest_modseq;
  uint32_t first_unseen = 0;
  for (const auto& m : *msgs) {
    s.uids.push_back(m.uid);
    if (!first_unseen && !(m.flags & store::kSeen))
      first_unseen = static_cast<uint32_t>(s.uids.size());
  }
  // RFC 9051 §7.3.5: the flags applicable in the mailbox, its keywords in use included (a
  // new keyword later is announced by another FLAGS response, note_keywords()).
  for (const auto& m : *msgs) add_keywords(s.keywords, m.keywords);
  out += untagged(flags_line(s.keywords));
  out += untagged(examine ? "OK [PERMANENTFLAGS ()] Read-only mailbox"
                          : "OK [PERMANENTFLAGS (\\Answered \\Flagged \\Deleted \\Seen \\Draft "
                            "\\*)] Flags permitted");
  out += untagged(std::to_string(s.uids.size()) + " EXISTS");
  if (!rev2_) {
    out += untagged("0 RECENT");  // RFC 3501 §6.3.1 (IMAP4rev1 only)
    if (first_unseen)
      out += untagged("OK [UNSEEN " + std::to_string(first_unseen) + "] First unseen");
  }
  out += untagged("OK [UIDVALIDITY " + std::to_string(box->uidvalidity) + "] UIDs valid");
  out += untagged("OK [UIDNEXT " + std::to_string(box->uidnext) + "] Predicted next UID");
  out += untagged("OK [HIGHESTMODSEQ " + std::to_string(box->highest_modseq) + "] Highest");
  if (rev2_) {
    // RFC 9051 §6.3.2: a LIST response for the mailbox, its attributes accurate (as LIST
    // gives them).
    std::string attrs;
    auto boxes = store_.list_mailboxes(user_.id);
    if (boxes) {
      std::string prefix = box->name + "/";
      bool children = std::any_of(boxes->begin(), boxes->end(), [&](const store::Mailbox& o) {
        return o.name.size() > prefix.size() && o.name.compare(0, prefix.size(), prefix) == 0;
      });
      attrs = children ? "\\HasChildren" : "\\HasNoChildren";
    }
    if (box->special != store::SpecialUse::kNone) {
      if (!attrs.empty()) attrs += ' ';
      attrs += store::special_use_name(box->special);
    }
    std::string l = "LIST (" + attrs + ") \"/\" ";
    append_mailbox(l, box->name, enc());
    out += untagged(l);
  }
  sel_ = std::move(s);
  state_ = SessionState::kSelected;
  saved_uids_.clear();  // RFC 5182 §2.1: a successful SELECT/EXAMINE empties $
  // RFC 7162 §3.2.5.1: QRESYNC resynchronisation when the UIDVALIDITY still matches.
  if (a.qresync && a.qresync->uidvalidity == box->uidvalidity) {
    auto van = store_.vanished_since(box->id, a.qresync->modseq);
    if (van) {
      std::vector<uint32_t> gone;
      for (const auto& e : *van)
        if (!a.qresync->known_uids || a.qresync->known_uids->contains(e.uid, UINT32_MAX))
          gone.push_back(e.uid);
      std::sort(gone.begin(), gone.end());
      if (!gone.empty()) out += untagged("VANISHED (EARLIER) " + format_sequence_set(gone));
    }
    auto changed = store_.changed_since(box->id, a.qresync->modseq);
    if (changed) {
      for (const auto& m : *changed) {
        auto it = std::lower_bound(sel_->uids.begin(), sel_->uids.end(), m.uid);
        if (it == sel_->uids.end() || *it != m.uid) continue;
        std::string f = std::to_string(it - sel_->uids.begin() + 1) + " FETCH (UID " +
                        std::to_string(m.uid) + " FLAGS ";
        append_flag_list(f, flag_names(m.flags, m.keywords));
        f += " MODSEQ (" + std::to_string(m.modseq) + "))";
        out += untagged(f);
      }
    }
  }
  out += tagged(c.tag, "OK", examine ? "READ-ONLY" : "READ-WRITE",
                examine ? "EXAMINE completed" : "SELECT completed");
}

void Session::cmd_create(const Command& c, std::string& out) {
  const auto& a = c.as<CreateArgs>();
  std::string name = a.mailbox;
  while (!name.empty() && name.back() == '/') name.pop_back();  // RFC 9051 §6.3.4
  store::SpecialUse use = store::SpecialUse::kNone;
  for (const auto& u : a.special_use) {  // RFC 6154 §3
    static const std::pair<std::string_view, store::SpecialUse> kUses[] = {
        {"\\Sent", store::SpecialUse::kSent}, {"\\Drafts", store::SpecialUse::kDrafts},
        {"\\Trash", store::SpecialUse::kTrash}, {"\\Junk", store::SpecialUse::kJunk},
        {"\\Archive", store::SpecialUse::kArchive}, {"\\All", store::SpecialUse::kAll},
        {"\\Flagged", store::SpecialUse::kFlagged}};
    bool known = false;
    for (const auto& [n, v] : kUses)
      if (iequals(u, n)) { use = v; known = true; }
    if (!known || a.special_use.size() > 1) {
      out += tagged(c.tag, "NO", "USEATTR", "unsupported special-use attribute");
      return;
    }
  }
  if (name.empty() || iequals(name, "INBOX")) {
    out += tagged(c.tag, "NO", "ALREADYEXISTS", "INBOX always exists");
    return;
  }
  auto r = store_.create_mailbox(user_.id, name, use);
  if (!r) {
    out += tagged(c.tag, "NO", no_code_for(r.status()), r.status().message());
    return;
  }
  out += tagged(c.tag, "OK", "", "CREATE completed");
}

void Session::cmd_delete(const Command& c, std::string& out) {
  const auto& name = c.as<MailboxArgs>().mailbox;
  if (sel_ && sel_->box.name == name) unselect();
  Status s = store_.delete_mailbox(user_.id, name);
  if (!s) {
    out += tagged(c.tag, "NO", no_code_for(s), s.message());
    return;
  }
  out += tagged(c.tag, "OK", "", "DELETE completed");
}

void Session::cmd_rename(const Command& c, std::string& out) {
  const auto& a = c.as<RenameArgs>();
  Status s = store_.rename_mailbox(user_.id, a.from, a.to);
  if (!s) {
    out += tagged(c.tag, "NO", no_code_for(s), s.message());
    return;
  }
  out += tagged(c.tag, "OK", "", "RENAME completed");
}

void Session::cmd_subscribe(const Command& c, std::string& out) {
  bool sub = c.kind == CommandKind::kSubscribe;
  Status s = store_.set_subscribed(user_.id, c.as<MailboxArgs>().mailbox, sub);
  if (!s) {
    out += tagged(c.tag, "NO", no_code_for(s), s.message());
    return;
  }
  out += tagged(c.tag, "OK", "", sub ? "SUBSCRIBE completed" : "UNSUBSCRIBE completed");
}

void Session::status_items(const store::Mailbox& box, const std::vector<StatusItem>& items,
                           std::string& out) const {
  std::string s = "STATUS ";
  append_mailbox(s, box.name, enc());
  s += " (";
  bool first = true;
  for (StatusItem it : items) {
    if (!first) s += ' ';
    first = false;
    switch (it) {
      case StatusItem::kMessages: s += "MESSAGES " + std::to_string(box.messages); break;
      case StatusItem::kUidNext: s += "UIDNEXT " + std::to_string(box.uidnext); break;
      case StatusItem::kUidValidity: s += "UIDVALIDITY " + std::to_string(box.uidvalidity); break;
      case StatusItem::kUnseen: s += "UNSEEN " + std::to_string(box.unseen); break;
      case StatusItem::kDeleted: s += "DELETED " + std::to_string(box.deleted); break;
      case StatusItem::kSize: s += "SIZE " + std::to_string(box.size); break;
      case StatusItem::kRecent: s += "RECENT 0"; break;
      case StatusItem::kHighestModSeq:
        s += "HIGHESTMODSEQ " + std::to_string(box.highest_modseq);
        break;
      case StatusItem::kAppendLimit:
        s += "APPENDLIMIT " + std::to_string(cfg_.append_limit);
        break;
    }
  }
  s += ')';
  out += untagged(s);
}

// RFC 9051 §6.3.11: IMAP4rev2's status-att has no RECENT (\Recent is gone, §2.3.2), so once
// a client has enabled IMAP4rev2 the item is a syntax error there, in STATUS and in LIST's
// RETURN (STATUS ...) alike; IMAP4rev1 clients keep getting RECENT 0.
bool Session::status_items_refused(const Command& c, const std::vector<StatusItem>& items, std::string& out) const {
  if (!rev2_ || std::find(items.begin(), items.end(), StatusItem::kRecent) == items.end()) return false;
  out += tagged(c.tag, "BAD", "", "RECENT is not a STATUS item in IMAP4rev2 (RFC 9051 6.3.11)");
  return true;
}

void Session::cmd_status(const Command& c, std::string& out) {
  const auto& a = c.as<StatusArgs>();
  if (status_items_refused(c, a.items, out)) return;
  auto box = store_.find_mailbox(user_.id, a.mailbox);
  if (!box) {
    out += tagged(c.tag, "NO", no_code_for(box.status()), box.status().message());
    return;
  }
  for (StatusItem it : a.items)
    if (it == StatusItem::kHighestModSeq) condstore_ = true;  // RFC 7162 §3.1
  status_items(*box, a.items, out);
  out += tagged(c.tag, "OK", "", "STATUS completed");
}

void Session::cmd_list(const Command& c, std::string& out) {
  const auto& a = c.as<ListArgs>();
  bool lsub = c.kind == CommandKind::kLsub;
  // RFC 9051 §6.3.9: an empty pattern asks for the hierarchy delimiter.
  if (!lsub && a.patterns.size() == 1 && a.patterns[0].empty()) {
    out += untagged("LIST (\\Noselect) \"/\" \"\"");
    out += tagged(c.tag, "OK", "", "LIST completed");
    return;
  }
  if (a.return_status && status_items_refused(c, *a.return_status, out)) return;
  auto boxes = store_.list_mailboxes(user_.id);
  if (!boxes) {
    out += tagged(c.tag, "NO", "SERVERBUG", boxes.status().message());
    return;
  }
  std::vector<std::string> pats;
  for (const auto& p : a.patterns) pats.push_back(canonical_pattern(a.reference + p));
  for (const auto& b : *boxes) {
    if (!std::any_of(pats.begin(), pats.end(),
                     [&](const std::string& p) { return wildcard_match(b.name, p); }))
      continue;
    if (a.select_subscribed && !b.subscribed) continue;
    if (a.select_special_use && b.special == store::SpecialUse::kNone) continue;
    std::string attrs;
    auto add = [&](std::string_view x) {
      if (!attrs.empty()) attrs += ' ';
      attrs += x;
    };
    if (!lsub) {
      std::string prefix = b.name + "/";
      bool children = std::any_of(boxes->begin(), boxes->end(), [&](const store::Mailbox& o) {
        return o.name.size() > prefix.size() && o.name.compare(0, prefix.size(), prefix) == 0;
      });
      add(children ? "\\HasChildren" : "\\HasNoChildren");  // RFC 9051 §7.3.1
      if (b.special != store::SpecialUse::kNone) add(store::special_use_name(b.special));
      if (b.subscribed && (a.select_subscribed || a.return_subscribed)) add("\\Subscribed");
    }
    std::string line = std::string(lsub ? "LSUB (" : "LIST (") + attrs + ") \"/\" ";
    append_mailbox(line, b.name, enc());
    out += untagged(line);
    if (a.return_status && !lsub) status_items(b, *a.return_status, out);  // RFC 5819
  }
  // RFC 9051 §6.3.9: with "%" last in a pattern, levels of hierarchy that match are returned
  // even where they are not mailboxes (a parent deleted after its children were made), with
  // \Noselect. Not under selection options, which select existing mailboxes' properties.
  if (!lsub && !a.select_subscribed && !a.select_special_use) {
    std::vector<std::string> levels;
    for (const auto& b : *boxes) {
      for (size_t pos = b.name.find('/'); pos != std::string::npos; pos = b.name.find('/', pos + 1)) {
        std::string level = b.name.substr(0, pos);
        bool exists = std::any_of(boxes->begin(), boxes->end(),
                                  [&](const store::Mailbox& o) { return o.name == level; });
        if (exists || std::find(levels.begin(), levels.end(), level) != levels.end()) continue;
        bool matches = std::any_of(pats.begin(), pats.end(), [&](const std::string& p) {
          return !p.empty() && p.back() == '%' && wildcard_match(level, p);
        });
        if (matches) levels.push_back(level);
      }
    }
    std::sort(levels.begin(), levels.end());
    for (const auto& level : levels) {
      std::string line = "LIST (\\Noselect \\HasChildren) \"/\" ";
      append_mailbox(line, level, enc());
      out += untagged(line);
    }
  }
  // Subscribed names without a mailbox (deleted since, or not yet created): RFC 9051
  // §6.3.9.2 / RFC 5258 §3.1 LIST (SUBSCRIBED) returns them with \NonExistent (which implies
  // \Noselect); RFC 3501 §6.3.9 LSUB with \Noselect. A plain LIST shows mailboxes only.
  if ((lsub || a.select_subscribed) && !a.select_special_use) {
    auto orphans = store_.orphan_subscriptions(user_.id);
    if (!orphans) {
      out += tagged(c.tag, "NO", "SERVERBUG", orphans.status().message());
      return;
    }
    for (const auto& name : *orphans) {
      if (!std::any_of(pats.begin(), pats.end(),
                       [&](const std::string& p) { return wildcard_match(name, p); }))
        continue;
      std::string line = lsub ? "LSUB (\\Noselect) \"/\" " : "LIST (\\NonExistent \\Subscribed) \"/\" ";
      append_mailbox(line, name, enc());
      out += untagged(line);
    }
  }
  out += tagged(c.tag, "OK", "", lsub ? "LSUB completed" : "LIST completed");
}

void Session::cmd_namespace(const Command& c, std::string& out) {
  out += untagged("NAMESPACE ((\"\" \"/\")) NIL NIL");  // RFC 2342: personal namespace only
  out += tagged(c.tag, "OK", "", "NAMESPACE completed");
}

void Session::cmd_append(const Command& c, std::string& out) {
  const auto& a = c.as<AppendArgs>();
  auto box = store_.find_mailbox(user_.id, a.mailbox);
  if (!box) {
    // RFC 9051 §6.3.12: TRYCREATE when the mailbox does not exist.
    out += tagged(c.tag, "NO", box.status().code() == Code::kNotFound ? "TRYCREATE"
                                                                       : no_code_for(box.status()),
                  box.status().message());
    return;
  }
  uint32_t bits = 0;
  std::vector<std::string> keywords;
  if (auto err = split_flags(a.flags, bits, keywords)) {
    bad(c.tag, *err, out);
    return;
  }
  if (a.utf8 && !utf8_) {  // RFC 6855 §4: UTF8 APPEND data needs ENABLE UTF8=ACCEPT
    bad(c.tag, "APPEND UTF8 needs ENABLE UTF8=ACCEPT", out);
    return;
  }
  if (a.message.empty()) {
    out += tagged(c.tag, "NO", "CANNOT", "empty message");
    return;
  }
  // RFC 5322 §2.3 / RFC 9051 §6.3.12: a message is lines ending in CRLF. Bare LF line ends
  // (a client on a Unix mailbox file) become CRLF before the summary is made, so that
  // offsets, sizes and what FETCH returns agree.
  std::string normalized;
  const std::string* raw = &a.message;
  {
    bool bare = false;
    for (size_t i = a.message.find('\n'); i != std::string::npos; i = a.message.find('\n', i + 1))
      if (i == 0 || a.message[i - 1] != '\r') {
        bare = true;
        break;
      }
    if (bare) {
      normalized.reserve(a.message.size() + a.message.size() / 32);
      for (size_t i = 0; i < a.message.size(); i++) {
        if (a.message[i] == '\n' && (i == 0 || a.message[i - 1] != '\r')) normalized += '\r';
        normalized += a.message[i];
      }
      raw = &normalized;
    }
  }
  Result<MessageSummary> summary = cfg_.summarize
                                       ? cfg_.summarize(*raw)
                                       : Result<MessageSummary>(minimal_summary(*raw));
  if (!summary) {
    out += tagged(c.tag, "NO", "SERVERBUG", summary.status().message());
    return;
  }
  store::AppendRequest req;
  req.user_id = user_.id;
  req.mailbox_id = box->id;
  req.raw = normalized.empty() ? a.message : std::move(normalized);
  req.summary = std::move(*summary);
  req.flags = bits;
  req.keywords = std::move(keywords);
  req.internal_date = a.date_time ? a.date_time->unix_seconds() : unix_now();
  // "A message acknowledged is on disk": the OK comes from the completion, after the commit.
  write(std::move(req),
        [this, tag = c.tag, box_id = box->id, uidvalidity = box->uidvalidity](
            store::WriteOutcome& r, std::string& reply) {
          if (!r.status) {
            reply += tagged(tag, "NO", no_code_for(r.status), r.status.message());
            return;
          }
          if (sel_ && sel_->box.id == box_id) sync(reply, true);  // EXISTS before the tagged OK
          // RFC 4315 §3: APPENDUID
          reply += tagged(tag, "OK",
                          "APPENDUID " + std::to_string(uidvalidity) + " " +
                              std::to_string(r.appended.uid),
                          "APPEND completed");
        },
        out);
}

void Session::cmd_idle(const Command& c, std::string& out) {
  // RFC 2177: "+ idling", then updates as they happen until DONE.
  idle_tag_ = c.tag;
  parser_.expect_raw_line();
  out += continuation("idling");
  sync(out, true);
}

void Session::poll(std::string& out) {
  if (idle_tag_) sync(out, true);
}

void Session::cmd_quota(const Command& c, std::string& out) {
  // RFC 9208: one quota root "" per user with a quota, resource STORAGE in KiB. A user
  // without a quota has no quota root (a QUOTA response needs at least one resource,
  // RFC 9208 §5.1 quota-list).
  auto u = store_.get_user(user_.id);
  if (!u) {
    out += tagged(c.tag, "NO", no_code_for(u.status()), u.status().message());
    return;
  }
  bool limited = u->quota_bytes > 0;
  auto quota_line = [&]() {
    out += untagged("QUOTA \"\" (STORAGE " + std::to_string((u->used_bytes + 1023) / 1024) + " " +
                    std::to_string(u->quota_bytes / 1024) + ")");
  };
  if (c.kind == CommandKind::kSetQuota) {
    out += tagged(c.tag, "NO", "NOPERM", "quotas are set by the postmaster");
    return;
  }
  if (c.kind == CommandKind::kGetQuota) {
    if (!c.as<QuotaRootArgs>().root.empty() || !limited) {
      out += tagged(c.tag, "NO", "NONEXISTENT", limited ? "no such quota root" : "no quota applies to this account");
      return;
    }
    quota_line();
    out += tagged(c.tag, "OK", "", "GETQUOTA completed");
    return;
  }
  const auto& name = c.as<MailboxArgs>().mailbox;
  auto box = store_.find_mailbox(user_.id, name);
  if (!box) {
    out += tagged(c.tag, "NO", no_code_for(box.status()), box.status().message());
    return;
  }
  std::string r = "QUOTAROOT ";
  append_mailbox(r, box->name, enc());
  if (limited) r += " \"\"";
  out += untagged(r);
  if (limited) quota_line();
  out += tagged(c.tag, "OK", "", "GETQUOTAROOT completed");
}

// ---------------------------------------------------------------------------------------
// Selected

Result<std::vector<size_t>> Session::resolve(const SequenceSet& set, bool uid) const {
  const auto& uids = sel_->uids;
  std::vector<size_t> idx;
  if (set.saved) {  // RFC 5182: "$" is the last saved result, as UIDs
    for (uint32_t u : saved_uids_) {
      auto it = std::lower_bound(uids.begin(), uids.end(), u);
      if (it != uids.end() && *it == u) idx.push_back(static_cast<size_t>(it - uids.begin()));
    }
    return idx;
  }
  if (uid) {
    // RFC 9051 §6.4.9: UIDs that do not exist are ignored; "*" is the largest UID in use.
    uint32_t max = uids.empty() ? 0 : uids.back();
    for (const auto& r : set.ranges) {
      uint32_t lo = r.lo == SequenceSet::kStar ? max : r.lo;
      uint32_t hi = r.hi == SequenceSet::kStar ? max : r.hi;
      if (lo > hi) std::swap(lo, hi);
      auto b = std::lower_bound(uids.begin(), uids.end(), lo);
      auto e = std::upper_bound(uids.begin(), uids.end(), hi);
      for (auto it = b; it < e; ++it) idx.push_back(static_cast<size_t>(it - uids.begin()));
    }
  } else {
    uint32_t n = static_cast<uint32_t>(uids.size());
    for (const auto& r : set.ranges) {
      uint32_t lo = r.lo == SequenceSet::kStar ? n : r.lo;
      uint32_t hi = r.hi == SequenceSet::kStar ? n : r.hi;
      if (lo > hi) std::swap(lo, hi);
      // RFC 9051 §9 (seq-number): a number beyond the mailbox size is a client error.
      if (lo == 0 || hi > n)
        return Status::invalid("invalid message sequence number (mailbox has " +
                               std::to_string(n) + " messages)");
      for (uint32_t i = lo; i <= hi; ++i) idx.push_back(i - 1);
    }
  }
  std::sort(idx.begin(), idx.end());
  idx.erase(std::unique(idx.begin(), idx.end()), idx.end());
  return idx;
}

void Session::report_expunged(const std::vector<uint32_t>& gone_in, std::string& out) {
  std::vector<uint32_t> gone = gone_in;
  std::sort(gone.begin(), gone.end());
  std::vector<uint32_t> reported;
  for (uint32_t uid : gone) {
    auto it = std::lower_bound(sel_->uids.begin(), sel_->uids.end(), uid);
    if (it == sel_->uids.end() || *it != uid) continue;
    if (!qresync_) out += untagged(std::to_string(it - sel_->uids.begin() + 1) + " EXPUNGE");
    sel_->uids.erase(it);
    reported.push_back(uid);
  }
  // RFC 7162 §3.2.10: with QRESYNC enabled, VANISHED replaces EXPUNGE.
  if (qresync_ && !reported.empty()) out += untagged("VANISHED " + format_sequence_set(reported));
}

// The selected mailbox was deleted (by another session, the web UI or the postmaster):
// its messages, UIDs and UIDVALIDITY are gone, and nothing in RFC 9051 lets the session go
// on in it, so the server says BYE and closes (as Dovecot does; RFC 2180 §3.3 allows it).
bool Session::selected_gone(std::string& out) {
  if (!sel_) return false;
  auto exists = store_.mailbox_exists(sel_->box.id);
  if (!exists || *exists) return false;  // a read error is the command's to report
  out += untagged("BYE Selected mailbox was deleted, have to disconnect");
  unselect();
  state_ = SessionState::kLogout;
  return true;
}

void Session::sync(std::string& out, bool allow_expunge) {
  if (!sel_ || !allow_expunge) return;
  auto box = store_.get_mailbox(user_.id, sel_->box.id);
  if (!box) {
    if (box.status().code() == Code::kNotFound) selected_gone(out);
    return;
  }
  if (box->highest_modseq <= sel_->known_modseq) {
    sel_->box = *box;
    return;
  }
  auto vanished = store_.vanished_since(box->id, sel_->known_modseq);
  auto changed = store_.changed_since(box->id, sel_->known_modseq);
  if (!vanished || !changed) return;
  uint64_t top = box->highest_modseq;
  std::vector<uint32_t> gone;
  for (const auto& e : *vanished) {
    gone.push_back(e.uid);
    top = std::max(top, e.modseq);
  }
  report_expunged(gone, out);
  size_t added = 0;
  std::vector<const store::Message*> flags_changed;
  for (const auto& m : *changed) {
    top = std::max(top, m.modseq);
    if (sel_->uids.empty() || m.uid > sel_->uids.back()) {
      sel_->uids.push_back(m.uid);
      ++added;
      continue;
    }
    auto self = sel_->self_reported.find(m.uid);
    if (self != sel_->self_reported.end() && self->second == m.modseq) continue;
    flags_changed.push_back(&m);
  }
  for (const auto& m : *changed) note_keywords(m.keywords, out);
  if (added) out += untagged(std::to_string(sel_->uids.size()) + " EXISTS");
  for (const auto* m : flags_changed) {
    auto it = std::lower_bound(sel_->uids.begin(), sel_->uids.end(), m->uid);
    if (it == sel_->uids.end() || *it != m->uid) continue;
    std::string f = std::to_string(it - sel_->uids.begin() + 1) + " FETCH (UID " +
                    std::to_string(m->uid) + " FLAGS ";
    append_flag_list(f, flag_names(m->flags, m->keywords));
    if (condstore_) f += " MODSEQ (" + std::to_string(m->modseq) + ")";
    f += ')';
    out += untagged(f);
  }
  sel_->known_modseq = top;
  sel_->self_reported.clear();
  sel_->box = *box;
}

void Session::cmd_close(const Command& c, std::string& out) {
  // RFC 9051 §6.4.1: CLOSE expunges silently (not in a read-only mailbox); UNSELECT does not.
  if (c.kind == CommandKind::kClose && !sel_->read_only) {
    if (sel_->box.deleted == 0) {  // nothing to expunge as of the last sync: no write
      auto box = store_.get_mailbox(user_.id, sel_->box.id);
      if (box) sel_->box = *box;
    }
    if (sel_->box.deleted != 0) {
      store::ExpungeRequest req;
      req.mailbox_id = sel_->box.id;
      write(std::move(req),
            [this, tag = c.tag](store::WriteOutcome& r, std::string& reply) {
              if (!r.status) {
                reply += tagged(tag, "NO", no_code_for(r.status), r.status.message());
                return;
              }
              unselect();
              reply += tagged(tag, "OK", "", "CLOSE completed");
            },
            out);
      return;
    }
  }
  unselect();
  out += tagged(c.tag, "OK", "", c.kind == CommandKind::kClose ? "CLOSE completed"
                                                                : "UNSELECT completed");
}

void Session::cmd_expunge(const Command& c, std::string& out) {
  if (sel_->read_only) {
    out += tagged(c.tag, "NO", "READ-ONLY", "mailbox is read-only");
    return;
  }
  std::optional<std::vector<uint32_t>> only;
  if (const auto& u = c.as<ExpungeArgs>().uids) {  // RFC 4315 §2.1 UID EXPUNGE
    auto idx = resolve(*u, true);
    if (!idx) {
      bad(c.tag, idx.status().message(), out);
      return;
    }
    only.emplace();
    for (size_t i : *idx) only->push_back(sel_->uids[i]);
  }
  store::ExpungeRequest req;
  req.mailbox_id = sel_->box.id;
  req.uids = std::move(only);
  write(std::move(req),
        [this, tag = c.tag](store::WriteOutcome& r, std::string& reply) {
          if (!r.status) {
            reply += tagged(tag, "NO", no_code_for(r.status), r.status.message());
            return;
          }
          std::vector<uint32_t> gone;
          for (const auto& e : r.expunged) gone.push_back(e.uid);
          report_expunged(gone, reply);
          sync(reply, true);
          reply += tagged(tag, "OK", "", "EXPUNGE completed");
        },
        out);
}

std::vector<Session::Hit> Session::search_hits(const SearchKey& key, bool load_summaries,
                                               std::vector<store::Message> msgs) {
  std::vector<uint32_t> saved = saved_uids_;
  std::sort(saved.begin(), saved.end());
  std::vector<Hit> hits;
  int64_t now = unix_now();
  for (auto& m : msgs) {
    auto it = std::lower_bound(sel_->uids.begin(), sel_->uids.end(), m.uid);
    if (it == sel_->uids.end() || *it != m.uid) continue;  // not announced yet
    std::optional<std::string> raw;
    std::optional<MessageSummary> sum;
    bool raw_failed = false, sum_failed = false;
    SearchCtx ctx;
    ctx.m = &m;
    ctx.seq = static_cast<uint32_t>(it - sel_->uids.begin() + 1);
    ctx.count = static_cast<uint32_t>(sel_->uids.size());
    ctx.max_uid = sel_->uids.empty() ? 0 : sel_->uids.back();
    ctx.saved = &saved;
    ctx.now = now;
    uint32_t uid = m.uid;
    ctx.raw = [&]() -> const std::string* {
      if (!raw && !raw_failed) {
        auto r = store_.read_message(user_.id, sel_->box.id, uid);
        if (r) raw = std::move(*r);
        else raw_failed = true;
      }
      return raw ? &*raw : nullptr;
    };
    ctx.summary = [&]() -> const MessageSummary* {
      if (!sum && !sum_failed) {
        auto r = store_.read_summary(user_.id, sel_->box.id, uid);
        if (r) sum = std::move(*r);
        else sum_failed = true;
      }
      return sum ? &*sum : nullptr;
    };
    // The decoded, folded text: from the daemon's cache (keyed by this user and the
    // message's immutable blob), else decrypted, parsed and folded now (and cached).
    std::shared_ptr<const FoldedText> text;
    bool text_failed = !cfg_.extract_text;
    uint64_t blob = m.blob_id;
    ctx.text = [&]() -> const FoldedText* {
      if (!text && !text_failed) {
        if (cfg_.search_cache) text = cfg_.search_cache->get(user_.id, blob);
        if (!text) {
          const std::string* r = ctx.raw();
          auto t = r ? cfg_.extract_text(*r) : Result<SearchText>(Status::not_found("message"));
          if (t) {
            text = std::make_shared<const FoldedText>(fold_search_text(*t));
            if (cfg_.search_cache) cfg_.search_cache->put(user_.id, blob, text);
          } else {
            text_failed = true;
          }
        }
      }
      return text.get();
    };
    if (!search_match(key, ctx)) continue;
    if (load_summaries) ctx.summary();
    hits.push_back(Hit{ctx.seq, std::move(m), std::move(sum)});
  }
  return hits;
}

void Session::cmd_search(const Command& c, std::string& out) {
  const auto& a = c.as<SearchArgs>();
  SearchKey key = a.key;
  // RFC 5182 §2.1: a SEARCH with SAVE answered NO leaves $ empty.
  auto refuse = [&](std::string_view code, std::string_view text) {
    if (a.ret.save) saved_uids_.clear();
    out += tagged(c.tag, "NO", code, text);
  };
  CharsetResult cs = apply_charset(a.charset.value_or(""), key);
  if (!cs.known) {
    refuse("BADCHARSET (UTF-8 US-ASCII)", "unsupported charset");
    return;
  }
  if (!cs.error.empty()) {
    refuse("", cs.error);
    return;
  }
  if (bad_sequence_key(key, static_cast<uint32_t>(sel_->uids.size()))) {
    if (a.ret.save) saved_uids_.clear();
    bad(c.tag, "invalid message sequence number (mailbox has " + std::to_string(sel_->uids.size()) +
                   " messages)", out);
    return;
  }
  auto msgs = store_.list_messages(sel_->box.id);
  if (!msgs) {
    refuse("SERVERBUG", msgs.status().message());
    return;
  }
  if (defer_for_text(c, key, *msgs)) return;
  bool want_modseq = uses_modseq(key);
  if (want_modseq) condstore_ = true;
  auto found = search_hits(key, false, std::move(*msgs));
  std::vector<uint32_t> hits_seq, hits_uid;
  uint64_t max_modseq = 0;
  for (const auto& h : found) {
    hits_seq.push_back(h.seq);
    hits_uid.push_back(h.msg.uid);
    max_modseq = std::max(max_modseq, h.msg.modseq);
  }
  if (a.ret.save) {
    // RFC 5182 §2.4: with MIN and/or MAX (and neither ALL nor COUNT) only those messages are
    // saved; otherwise every match.
    if ((a.ret.min || a.ret.max) && !a.ret.all && !a.ret.count) {
      saved_uids_.clear();
      if (!hits_uid.empty() && a.ret.min) saved_uids_.push_back(hits_uid.front());
      if (!hits_uid.empty() && a.ret.max && (!a.ret.min || hits_uid.size() > 1))
        saved_uids_.push_back(hits_uid.back());
    } else {
      saved_uids_ = hits_uid;
    }
  }
  const auto& hits = c.uid ? hits_uid : hits_seq;
  bool esearch = a.esearch || rev2_;
  SearchReturn ret = a.ret;
  if (!a.esearch) ret.all = true;  // RFC 9051 §6.4.4: no RETURN means RETURN (ALL)
  if (esearch) {
    // RFC 5182 §2.1: SAVE alone returns no ESEARCH response.
    if (!(ret.save && !ret.min && !ret.max && !ret.all && !ret.count)) {
      std::string e = "ESEARCH (TAG ";
      append_string(e, c.tag);
      e += ')';
      if (c.uid) e += " UID";
      if (ret.min && !hits.empty()) e += " MIN " + std::to_string(hits.front());
      if (ret.max && !hits.empty()) e += " MAX " + std::to_string(hits.back());
      if (ret.count) e += " COUNT " + std::to_string(hits.size());
      if (ret.all && !hits.empty()) e += " ALL " + format_sequence_set(hits);
      if (want_modseq && !hits.empty()) e += " MODSEQ " + std::to_string(max_modseq);
      out += untagged(e);
    }
  } else {
    std::string s = "SEARCH";
    for (uint32_t n : hits) s += " " + std::to_string(n);
    // RFC 7162 §3.1.5: the highest MODSEQ of the matches
    if (want_modseq && !hits.empty()) s += " (MODSEQ " + std::to_string(max_modseq) + ")";
    out += untagged(s);
  }
  if (c.uid) sync(out, true);
  out += tagged(c.tag, "OK", "", c.uid ? "UID SEARCH completed" : "SEARCH completed");
}

// RFC 5256 SORT / THREAD, RFC 5267 ESORT.
void Session::cmd_sort(const Command& c, std::string& out) {
  bool thread = c.kind == CommandKind::kThread;
  const std::string& charset = thread ? c.as<ThreadArgs>().charset : c.as<SortArgs>().charset;
  SearchKey key = thread ? c.as<ThreadArgs>().key : c.as<SortArgs>().key;
  std::string name = std::string(c.uid ? "UID " : "") + (thread ? "THREAD" : "SORT");
  if (thread && c.as<ThreadArgs>().algorithm != "REFERENCES" &&
      c.as<ThreadArgs>().algorithm != "ORDEREDSUBJECT") {
    bad(c.tag, "unsupported thread algorithm " + c.as<ThreadArgs>().algorithm, out);
    return;
  }
  CharsetResult cs = apply_charset(charset, key);
  if (!cs.known) {
    out += tagged(c.tag, "NO", "BADCHARSET (UTF-8 US-ASCII)", "unsupported charset");
    return;
  }
  if (!cs.error.empty()) {
    out += tagged(c.tag, "NO", "", cs.error);
    return;
  }
  auto msgs = store_.list_messages(sel_->box.id);
  if (!msgs) {
    out += tagged(c.tag, "NO", "SERVERBUG", msgs.status().message());
    return;
  }
  if (defer_for_text(c, key, *msgs)) return;
  if (uses_modseq(key)) condstore_ = true;  // RFC 7162 §3.1: a CONDSTORE-enabling command
  auto found = search_hits(key, true, std::move(*msgs));
  std::vector<SortEntry> entries;
  for (const auto& h : found) {
    SortEntry e;
    e.id = c.uid ? h.msg.uid : h.seq;
    e.seq = h.seq;
    e.internal_date = h.msg.internal_date;
    e.size = h.msg.size;
    e.summary = h.summary ? &*h.summary : nullptr;
    entries.push_back(e);
  }
  if (thread) {
    std::string t = c.as<ThreadArgs>().algorithm == "REFERENCES"
                        ? thread_references(std::move(entries))
                        : thread_orderedsubject(std::move(entries));
    out += untagged(t.empty() ? "THREAD" : "THREAD " + t);
  } else {
    const auto& a = c.as<SortArgs>();
    std::vector<uint32_t> order = sort_messages(std::move(entries), a.criteria);
    if (a.esort) {
      if (a.ret.save) {  // RFC 5267 §3.2 with RFC 5182: SAVE keeps the UIDs
        saved_uids_.clear();
        for (const auto& h : found) saved_uids_.push_back(h.msg.uid);
      }
      std::string e = "ESEARCH (TAG ";
      append_string(e, c.tag);
      e += ')';
      if (c.uid) e += " UID";
      if (a.ret.min && !order.empty()) e += " MIN " + std::to_string(order.front());
      if (a.ret.max && !order.empty()) e += " MAX " + std::to_string(order.back());
      if (a.ret.count) e += " COUNT " + std::to_string(order.size());
      if (a.ret.all && !order.empty()) e += " ALL " + format_sequence_set(order);
      out += untagged(e);
    } else {
      std::string s = "SORT";
      for (uint32_t n : order) s += " " + std::to_string(n);
      // RFC 7162 §3.1.5 / §7 sort-data: the highest MODSEQ of the matches.
      if (uses_modseq(key) && !order.empty()) {
        uint64_t top = 0;
        for (const auto& h : found) top = std::max(top, h.msg.modseq);
        s += " (MODSEQ " + std::to_string(top) + ")";
      }
      out += untagged(s);
    }
  }
  if (c.uid) sync(out, true);
  out += tagged(c.tag, "OK", "", name + " completed");
}

void Session::cmd_fetch(const Command& c, std::string& out) {
  const auto& f = c.as<FetchArgs>();
  if (f.vanished && !qresync_) {
    bad(c.tag, "VANISHED needs ENABLE QRESYNC", out);  // RFC 7162 §3.2.6
    return;
  }
  auto idx = resolve(f.set, c.uid);
  if (!idx) {
    bad(c.tag, idx.status().message(), out);
    return;
  }
  using K = FetchItem::Kind;
  bool want_modseq = f.changed_since.has_value();
  bool sets_seen = false;
  for (const auto& it : f.items) {
    if (it.kind == K::kModSeq) want_modseq = true;
    if (!it.peek && (it.kind == K::kBodySection || it.kind == K::kBinary ||
                     it.kind == K::kRfc822 || it.kind == K::kRfc822Text))
      sets_seen = true;  // RFC 9051 §6.4.5: these set \Seen
  }
  if (want_modseq) condstore_ = true;  // RFC 7162 §3.1: a CONDSTORE-enabling command
  if (f.vanished) {
    auto van = store_.vanished_since(sel_->box.id, *f.changed_since);
    if (van) {
      std::vector<uint32_t> gone;
      for (const auto& e : *van)
        if (f.set.saved || f.set.contains(e.uid, sel_->uids.empty() ? 0 : sel_->uids.back()))
          gone.push_back(e.uid);
      std::sort(gone.begin(), gone.end());
      if (!gone.empty()) out += untagged("VANISHED (EARLIER) " + format_sequence_set(gone));
    }
  }
  if (!idx->empty()) {
    uint32_t lo = sel_->uids[idx->front()], hi = sel_->uids[idx->back()];
    auto msgs = store_.list_messages(sel_->box.id, lo, hi);
    if (!msgs) {
      out += tagged(c.tag, "NO", "SERVERBUG", msgs.status().message());
      return;
    }
    std::unordered_map<uint32_t, store::Message> by_uid;
    for (auto& m : *msgs) by_uid.emplace(m.uid, std::move(m));
    EncodeOptions eo = enc();
    for (size_t i : *idx) {
      uint32_t uid = sel_->uids[i];
      auto mit = by_uid.find(uid);
      if (mit == by_uid.end()) continue;  // expunged by another session, not yet reported
      store::Message& m = mit->second;
      if (f.changed_since && m.modseq <= *f.changed_since) continue;
      bool flags_now = false;
      if (sets_seen && !sel_->read_only && !(m.flags & store::kSeen)) {
        auto r = store_.store_flags(sel_->box.id, {uid}, store::FlagMode::kAdd, store::kSeen, {});
        if (r && !r->changed.empty()) {
          m.flags = r->changed[0].flags;
          m.keywords = r->changed[0].keywords;
          m.modseq = r->changed[0].modseq;
          sel_->self_reported[uid] = m.modseq;
          flags_now = true;  // RFC 9051 §6.4.5: include the changed FLAGS
        }
      }
      std::optional<std::string> raw;
      std::optional<MessageSummary> sum;
      Status load_error;
      auto get_raw = [&]() -> const std::string* {
        if (!raw) {
          auto r = store_.read_message(user_.id, sel_->box.id, uid);
          if (!r) { load_error = r.status(); return nullptr; }
          raw = std::move(*r);
        }
        return &*raw;
      };
      auto get_sum = [&]() -> const MessageSummary* {
        if (!sum) {
          auto r = store_.read_summary(user_.id, sel_->box.id, uid);
          if (!r) { load_error = r.status(); return nullptr; }
          sum = std::move(*r);
        }
        return &*sum;
      };
      std::string items;
      auto sep = [&]() { if (!items.empty()) items += ' '; };
      bool has_uid = false, has_flags = false, has_modseq = false;
      bool failed = false;
      for (const auto& it : f.items) {
        switch (it.kind) {
          case K::kUid: has_uid = true; sep(); items += "UID " + std::to_string(uid); break;
          case K::kFlags:
            has_flags = true;
            sep();
            items += "FLAGS ";
            append_flag_list(items, flag_names(m.flags, m.keywords));
            break;
          case K::kInternalDate:
            sep();
            items += "INTERNALDATE " + format_date_time(m.internal_date);
            break;
          case K::kRfc822Size: sep(); items += "RFC822.SIZE " + std::to_string(m.size); break;
          case K::kModSeq:
            has_modseq = true;
            sep();
            items += "MODSEQ (" + std::to_string(m.modseq) + ")";
            break;
          case K::kEnvelope: {
            const MessageSummary* s = get_sum();
            if (!s) { failed = true; break; }
            sep();
            items += "ENVELOPE ";
            append_envelope(items, s->envelope, eo);
            break;
          }
          case K::kBody: case K::kBodyStructure: {
            const MessageSummary* s = get_sum();
            if (!s) { failed = true; break; }
            sep();
            items += it.kind == K::kBody ? "BODY " : "BODYSTRUCTURE ";
            append_body_structure(items, s->body, it.kind == K::kBodyStructure, eo);
            break;
          }
          case K::kRfc822: case K::kRfc822Header: case K::kRfc822Text:
          case K::kBodySection: {
            const std::string* r = get_raw();
            const MessageSummary* s = r ? get_sum() : nullptr;
            if (!s) { failed = true; break; }
            Section sec = it.section;
            std::string name;
            if (it.kind == K::kRfc822) { sec = Section{}; name = "RFC822"; }
            else if (it.kind == K::kRfc822Header) {
              sec = Section{};
              sec.text = Section::Text::kHeader;
              name = "RFC822.HEADER";
            } else if (it.kind == K::kRfc822Text) {
              sec = Section{};
              sec.text = Section::Text::kText;
              name = "RFC822.TEXT";
            } else {
              name = "BODY[" + section_name(sec) + "]";
            }
            auto data = section_data(*r, *s, sec);
            std::string value = data ? std::move(*data) : std::string();
            if (it.partial) {  // RFC 9051 §6.4.5 <origin.octets>; the response names origin
              value = value.substr(std::min<uint64_t>(it.partial->offset, value.size()),
                                   it.partial->length);
              name += "<" + std::to_string(it.partial->offset) + ">";
            }
            sep();
            items += name + " ";
            append_literal(items, value);
            break;
          }
          case K::kBinary: case K::kBinarySize: {
            const std::string* r = get_raw();
            const MessageSummary* s = r ? get_sum() : nullptr;
            if (!s) { failed = true; break; }
            const BodyPart* part = it.section.part.empty() ? &s->body
                                                           : find_part(s->body, it.section.part);
            std::string value;
            if (part) {
              std::string_view body = it.section.part.empty()
                                          ? std::string_view(*r)
                                          : clamp(*r, part->body_offset, part->body_end);
              std::string cte = to_lower(part->encoding);
              if (it.section.part.empty() || cte == "7bit" || cte == "8bit" || cte == "binary") {
                value = std::string(body);
              } else if (cte == "base64") {
                auto d = decode_b64(body);
                if (!d) {
                  out += tagged(c.tag, "NO", "UNKNOWN-CTE", "invalid base64 content");
                  return;
                }
                value = std::move(*d);
              } else if (cte == "quoted-printable") {
                value = decode_qp(body);
              } else {
                // RFC 3516 §4.3: an encoding we cannot undo
                out += tagged(c.tag, "NO", "UNKNOWN-CTE", "cannot decode " + part->encoding);
                return;
              }
            }
            std::string pname = "[";
            for (size_t k = 0; k < it.section.part.size(); ++k) {
              if (k) pname += '.';
              pname += std::to_string(it.section.part[k]);
            }
            pname += "]";
            sep();
            if (it.kind == K::kBinarySize) {
              items += "BINARY.SIZE" + pname + " " + std::to_string(value.size());
              break;
            }
            std::string name = "BINARY" + pname;
            if (it.partial) {
              value = value.substr(std::min<uint64_t>(it.partial->offset, value.size()),
                                   it.partial->length);
              name += "<" + std::to_string(it.partial->offset) + ">";
            }
            items += name + " ";
            if (value.find('\0') != std::string::npos) {  // RFC 3516 §4.2: literal8
              items += "~{" + std::to_string(value.size()) + "}\r\n" + value;
            } else {
              append_literal(items, value);
            }
            break;
          }
        }
        if (failed) break;
      }
      if (failed) {
        out += tagged(c.tag, "NO", "SERVERBUG", "cannot read message " + std::to_string(uid) +
                                                    ": " + load_error.message());
        return;
      }
      if (flags_now && !has_flags) {
        sep();
        items += "FLAGS ";
        append_flag_list(items, flag_names(m.flags, m.keywords));
        has_flags = true;
      }
      // RFC 9051 §6.4.8: UID FETCH responses carry the UID.
      if (c.uid && !has_uid)
        items = "UID " + std::to_string(uid) + (items.empty() ? "" : " ") + items;
      // RFC 7162 §3.1.4.1 / §3.2: MODSEQ with CHANGEDSINCE, and beside FLAGS once enabled.
      if (!has_modseq && (f.changed_since || (condstore_ && has_flags)))
        items += " MODSEQ (" + std::to_string(m.modseq) + ")";
      out += untagged(std::to_string(i + 1) + " FETCH (" + items + ")");
    }
  }
  if (c.uid) sync(out, true);
  out += tagged(c.tag, "OK", "", c.uid ? "UID FETCH completed" : "FETCH completed");
}

void Session::cmd_store(const Command& c, std::string& out) {
  const auto& a = c.as<StoreArgs>();
  if (sel_->read_only) {
    out += tagged(c.tag, "NO", "READ-ONLY", "mailbox is read-only");
    return;
  }
  uint32_t bits = 0;
  std::vector<std::string> keywords;
  if (auto err = split_flags(a.flags, bits, keywords)) {
    bad(c.tag, *err, out);
    return;
  }
  auto idx = resolve(a.set, c.uid);
  if (!idx) {
    bad(c.tag, idx.status().message(), out);
    return;
  }
  if (a.unchanged_since) condstore_ = true;
  std::vector<uint32_t> uids;
  for (size_t i : *idx) uids.push_back(sel_->uids[i]);
  store::FlagMode mode = a.mode == StoreArgs::Mode::kAdd      ? store::FlagMode::kAdd
                         : a.mode == StoreArgs::Mode::kRemove ? store::FlagMode::kRemove
                                                              : store::FlagMode::kReplace;
  store::StoreFlagsRequest req;
  req.mailbox_id = sel_->box.id;
  req.uids = std::move(uids);
  req.mode = mode;
  req.flags = bits;
  req.keywords = keywords;
  req.unchanged_since = a.unchanged_since;
  auto done = [this, tag = c.tag, by_uid = c.uid, silent = a.silent, mode,
               keywords = std::move(keywords)](store::WriteOutcome& outcome,
                                               std::string& reply) {
    if (!outcome.status) {
      reply += tagged(tag, "NO", no_code_for(outcome.status), outcome.status.message());
      return;
    }
    const store::StoreFlagsResult& r = outcome.flags;
    auto seq_of = [&](uint32_t uid) -> uint32_t {
      auto it = std::lower_bound(sel_->uids.begin(), sel_->uids.end(), uid);
      if (it == sel_->uids.end() || *it != uid) return 0u;
      return static_cast<uint32_t>(it - sel_->uids.begin() + 1);
    };
    // Issue 5 §5: setting $Junk / $NotJunk is a report.
    std::vector<uint32_t> spam, ham;
    for (const auto& ch : r.changed) {
      auto has_kw = [&](std::string_view k) {
        return std::any_of(ch.keywords.begin(), ch.keywords.end(),
                           [&](const std::string& w) { return iequals(w, k); });
      };
      if (mode != store::FlagMode::kRemove) {
        bool asked_junk = std::any_of(keywords.begin(), keywords.end(),
                                      [](const std::string& w) { return iequals(w, "$Junk"); });
        bool asked_not = std::any_of(keywords.begin(), keywords.end(),
                                     [](const std::string& w) { return iequals(w, "$NotJunk"); });
        if (asked_junk && has_kw("$Junk")) spam.push_back(ch.uid);
        else if (asked_not && has_kw("$NotJunk")) ham.push_back(ch.uid);
      }
    }
    if (!spam.empty()) report(sel_->box.id, spam, store::Reported::kSpam, "$Junk keyword");
    if (!ham.empty()) report(sel_->box.id, ham, store::Reported::kHam, "$NotJunk keyword");
    for (const auto& ch : r.changed) note_keywords(ch.keywords, reply);
    for (const auto& ch : r.changed) {
      sel_->self_reported[ch.uid] = ch.modseq;
      // RFC 9051 §6.4.6: untagged FETCH with the new flags unless .SILENT; RFC 7162 §3.1.3:
      // with CONDSTORE the MODSEQ is sent even for .SILENT.
      if (silent && !condstore_) continue;
      std::string f = std::to_string(seq_of(ch.uid)) + " FETCH (";
      if (by_uid) f += "UID " + std::to_string(ch.uid) + " ";
      if (!silent) {
        f += "FLAGS ";
        append_flag_list(f, flag_names(ch.flags, ch.keywords));
        if (condstore_) f += " ";
      }
      if (condstore_) f += "MODSEQ (" + std::to_string(ch.modseq) + ")";
      f += ")";
      reply += untagged(f);
    }
    if (by_uid) sync(reply, true);
    std::string code;
    if (!r.failed.empty()) {  // RFC 7162 §3.1.3: MODIFIED lists what failed UNCHANGEDSINCE
      std::vector<uint32_t> failed;
      for (uint32_t u : r.failed) failed.push_back(by_uid ? u : seq_of(u));
      std::sort(failed.begin(), failed.end());
      code = "MODIFIED " + format_sequence_set(failed);
    }
    reply += tagged(tag, "OK", code, by_uid ? "UID STORE completed" : "STORE completed");
  };
  if (req.uids.empty()) {  // nothing to change: no write
    store::WriteOutcome none;
    done(none, out);
    return;
  }
  if (store_early(c, req, out)) return;
  write(std::move(req), std::move(done), out);
}

bool Session::store_early(const Command& c, const store::StoreFlagsRequest& req, std::string& out) {
  FlagOverlay* ov = cfg_.flag_overlay;
  FlagJournal* journal = cfg_.flag_journal;
  if (!ov || !journal || !cfg_.async_writes || !req.keywords.empty() || req.unchanged_since ||
      condstore_ || !ov->available() ||
      ov->accepted_seq() - ov->completed_seq() >= kMaxEarlyFlagWrites)
    return false;
  const auto& a = c.as<StoreArgs>();
  uint64_t box = sel_->box.id;
  std::vector<uint32_t> uids = req.uids;
  std::sort(uids.begin(), uids.end());
  uids.erase(std::unique(uids.begin(), uids.end()), uids.end());
  // The current flags: a pending early STORE's result, else the store's. A large set is
  // read in one range scan instead of one lookup per message.
  std::vector<store::Message> listed;
  constexpr size_t kScanFrom = 16;
  if (uids.size() >= kScanFrom) {
    auto l = store_.list_messages(box, uids.front(), uids.back());
    if (!l.is_ok()) return false;
    listed = std::move(*l);
  }
  std::vector<FlagOverlay::Change> changes;
  for (uint32_t uid : uids) {
    FlagOverlay::State cur;
    if (const FlagOverlay::State* p = ov->find(box, uid)) {
      cur = *p;
    } else if (uids.size() >= kScanFrom) {
      auto it = std::lower_bound(listed.begin(), listed.end(), uid,
                                 [](const store::Message& m, uint32_t u) { return m.uid < u; });
      if (it == listed.end() || it->uid != uid) continue;  // expunged meanwhile: skipped
      cur = FlagOverlay::State{it->flags, it->keywords};
    } else {
      auto m = store_.get_message(box, uid);
      if (!m.is_ok() && m.status().code() == Code::kNotFound) continue;
      if (!m.is_ok()) return false;
      cur = FlagOverlay::State{m->flags, std::move(m->keywords)};
    }
    // As the store applies it (store.cc do_store_flags), for a request without keywords.
    FlagOverlay::State next = cur;
    switch (req.mode) {
      case store::FlagMode::kAdd: next.flags |= req.flags; break;
      case store::FlagMode::kRemove: next.flags &= ~req.flags; break;
      case store::FlagMode::kReplace:
        next.flags = req.flags;
        next.keywords.clear();
        break;
    }
    if (next.flags == cur.flags && next.keywords == cur.keywords) continue;  // no change
    changes.push_back(FlagOverlay::Change{uid, std::move(next)});
  }
  uint64_t seq = journal->last_seq() + 1;
  if (Status j = journal->append(seq, req); !j.is_ok()) {
    log::sys().warn("imapd: flag journal: {}; STORE takes the synced path", j.to_string());
    return false;
  }
  ov->accept(box, changes);
  if (!early_) early_ = std::make_unique<Early>();
  early_->out.push_back(EarlyWrite{req, seq});
  // RFC 9051 §6.4.6: the new flags of each changed message, unless .SILENT (CONDSTORE,
  // which needs the MODSEQ, never takes this path).
  if (!a.silent) {
    for (const auto& ch : changes) {
      auto it = std::lower_bound(sel_->uids.begin(), sel_->uids.end(), ch.uid);
      if (it == sel_->uids.end() || *it != ch.uid) continue;
      std::string f = std::to_string(it - sel_->uids.begin() + 1) + " FETCH (";
      if (c.uid) f += "UID " + std::to_string(ch.uid) + " ";
      f += "FLAGS ";
      append_flag_list(f, flag_names(ch.state.flags, ch.state.keywords));
      f += ")";
      out += untagged(f);
    }
  }
  early_->predictions.push_back(Early::Prediction{box, std::move(changes)});
  out += tagged(c.tag, "OK", "", c.uid ? "UID STORE completed" : "STORE completed");
  return true;
}

// Junk is the \Junk special-use mailbox and every mailbox under it; Trash likewise.
Session::Place Session::place_of(const store::Mailbox& box) const {
  if (box.special == store::SpecialUse::kJunk) return Place::kJunk;
  if (box.special == store::SpecialUse::kTrash) return Place::kTrash;
  auto all = store_.list_mailboxes(user_.id);
  if (!all) return Place::kOther;
  for (const auto& b : *all) {
    if (b.special != store::SpecialUse::kJunk && b.special != store::SpecialUse::kTrash) continue;
    if (box.name.size() > b.name.size() && box.name.compare(0, b.name.size(), b.name) == 0 &&
        box.name[b.name.size()] == '/')
      return b.special == store::SpecialUse::kJunk ? Place::kJunk : Place::kTrash;
  }
  return Place::kOther;
}

//   MOVE/COPY into Junk, or +$Junk        ──▶ spam report (a sealed copy for the analyst)
//   MOVE/COPY out of Junk (not to Trash),
//   or +$NotJunk                          ──▶ not-spam report
//   message already reported the same way ──▶ nothing (mox's needsTraining rule)
// Best effort: the user's MOVE or STORE has committed already; a failed report is logged.
void Session::report(uint64_t mailbox_id, const std::vector<uint32_t>& uids,
                     store::Reported as, std::string_view reason) {
  store::Reports reports(store_);
  for (uint32_t uid : uids) {
    auto m = store_.get_message(mailbox_id, uid);
    if (!m || m->reported == as) continue;
    auto raw = store_.read_message(user_.id, mailbox_id, uid);
    if (!raw) {
      log::sys().warn("imapd: report of {}/{} failed: {}", mailbox_id, uid,
                      raw.status().to_string());
      continue;
    }
    store::Report r;
    r.reporter = user_.id;
    r.mailbox_id = mailbox_id;
    r.uid = uid;
    r.kind = as == store::Reported::kSpam ? store::ReportKind::kSpam : store::ReportKind::kNotSpam;
    r.reason = std::string(reason);
    r.size = raw->size();
    r.content = std::move(*raw);
    auto id = reports.add_report(r);
    Status s = id ? store_.set_reported(mailbox_id, uid, as) : id.status();
    if (!s) log::sys().warn("imapd: report of {}/{} failed: {}", mailbox_id, uid, s.to_string());
  }
}

void Session::cmd_copy(const Command& c, std::string& out) {
  const auto& a = c.as<CopyArgs>();
  bool move = c.kind == CommandKind::kMove;
  if (move && sel_->read_only) {
    out += tagged(c.tag, "NO", "READ-ONLY", "mailbox is read-only");
    return;
  }
  auto idx = resolve(a.set, c.uid);
  if (!idx) {
    bad(c.tag, idx.status().message(), out);
    return;
  }
  auto dest = store_.find_mailbox(user_.id, a.mailbox);
  if (!dest) {
    out += tagged(c.tag, "NO", dest.status().code() == Code::kNotFound
                                   ? "TRYCREATE" : no_code_for(dest.status()),
                  dest.status().message());
    return;
  }
  std::vector<uint32_t> uids;
  for (size_t i : *idx) uids.push_back(sel_->uids[i]);
  std::string name = std::string(c.uid ? "UID " : "") + (move ? "MOVE" : "COPY");
  if (uids.empty()) {
    out += tagged(c.tag, "OK", "", name + " completed (no messages)");
    return;
  }
  store::CopyRequest req;
  req.user_id = user_.id;
  req.from_mailbox = sel_->box.id;
  req.uids = std::move(uids);
  req.to_mailbox = dest->id;
  req.move = move;
  write(std::move(req), [this, tag = c.tag, by_uid = c.uid, move, name, dest = *dest](
                            store::WriteOutcome& outcome, std::string& reply) {
    if (!outcome.status) {
      reply += tagged(tag, "NO", no_code_for(outcome.status), outcome.status.message());
      return;
    }
    const store::UidMapping& r = outcome.mapping;
    // Issue 5 §5: a move (or copy, for clients without MOVE) into or reply of Junk is a report.
    Place from = place_of(sel_->box), to = place_of(dest);
    if (to == Place::kJunk && from != Place::kJunk)
      report(dest.id, r.dest_uids, store::Reported::kSpam, "moved to Junk");
    else if (from == Place::kJunk && to == Place::kOther)
      report(dest.id, r.dest_uids, store::Reported::kHam, "moved reply of Junk");
    // RFC 4315 §3: COPYUID uidvalidity source-uids dest-uids
    std::string code = "COPYUID " + std::to_string(r.dest_uidvalidity) + " " +
                       format_sequence_set(r.source_uids) + " " +
                       format_sequence_set(r.dest_uids);
    if (move) {
      // RFC 6851 §4.3: COPYUID in an untagged OK, then the EXPUNGEs, then the tagged OK.
      reply += untagged("OK [" + code + "] Moved");
      report_expunged(r.source_uids, reply);
      sync(reply, true);
      reply += tagged(tag, "OK", "", name + " completed");
      return;
    }
    if (by_uid || dest.id == sel_->box.id) sync(reply, true);
    reply += tagged(tag, "OK", code, name + " completed");
  }, out);
}

}  // namespace tsubame::imap
