// imapd/response.cc: response encoding (see response.h). Pure, allocation only, no failure.
#include "imapd/response.h"

#include <algorithm>
#include <cstdio>

#include "common/bytes.h"
#include "imapd/parser.h"

namespace tsubame::imap {

namespace {

bool is_atom_char(unsigned char c) {
  if (c >= 0x80 || c < 0x20 || c == 0x7f) return false;
  switch (c) {
    case '(': case ')': case '{': case ' ': case '%': case '*': case '"': case '\\': case ']':
      return false;
    default:
      return true;
  }
}

void append_quoted(std::string& out, std::string_view s) {
  out += '"';
  for (char c : s) {
    if (c == '"' || c == '\\') out += '\\';  // quoted-specials
    out += c;
  }
  out += '"';
}

void append_params(std::string& out, const Params& params, const EncodeOptions& o) {
  // body-fld-param = "(" string SP string *(SP string SP string) ")" / nil
  if (params.empty()) {
    out += "NIL";
    return;
  }
  out += '(';
  bool first = true;
  for (const auto& [k, v] : params) {
    if (!first) out += ' ';
    first = false;
    append_string(out, k, o);
    out += ' ';
    append_string(out, v, o);
  }
  out += ')';
}

void append_address(std::string& out, const MailAddress& a, const EncodeOptions& o) {
  // address = "(" addr-name SP addr-adl SP addr-mailbox SP addr-host ")"
  out += '(';
  append_nstring(out, a.name, o);
  out += ' ';
  append_nstring(out, a.adl, o);
  out += ' ';
  append_nstring(out, a.mailbox, o);
  out += ' ';
  append_nstring(out, a.host, o);
  out += ')';
}

// body-ext-1part / body-ext-mpart tail: [SP body-fld-dsp [SP body-fld-lang [SP body-fld-loc]]]
void append_ext_tail(std::string& out, const BodyPart& p, const EncodeOptions& o) {
  // body-fld-dsp = "(" string SP body-fld-param ")" / nil
  out += ' ';
  if (p.disposition) {
    out += '(';
    append_string(out, *p.disposition, o);
    out += ' ';
    append_params(out, p.disposition_params, o);
    out += ')';
  } else {
    out += "NIL";
  }
  // body-fld-lang = nstring / "(" string *(SP string) ")"
  out += ' ';
  if (p.language.empty()) {
    out += "NIL";
  } else if (p.language.size() == 1) {
    append_string(out, p.language[0], o);
  } else {
    out += '(';
    for (size_t i = 0; i < p.language.size(); ++i) {
      if (i) out += ' ';
      append_string(out, p.language[i], o);
    }
    out += ')';
  }
  // body-fld-loc = nstring
  out += ' ';
  append_nstring(out, p.location, o);
}

// RFC 3501 §9: text = 1*TEXT-CHAR, TEXT-CHAR = <any CHAR except CR and LF>. A reason may
// quote client input, so CR, LF and NUL become spaces; an empty text (which RFC 3501 does
// not allow after a status) becomes the status word in lower case.
void append_resp_text(std::string& out, std::string_view text, std::string_view status) {
  if (text.empty()) {
    for (char c : status) out += static_cast<char>(c >= 'A' && c <= 'Z' ? c - 'A' + 'a' : c);
    if (status.empty()) out += "done";
    return;
  }
  for (char c : text) out += (c == '\r' || c == '\n' || c == '\0') ? ' ' : c;
}

// The stand-in for a body the MIME parse did not find (a multipart without parts, a
// message/rfc822 without a message): an empty text/plain, as RFC 2045 §5.2 defaults.
const BodyPart& empty_text_part() {
  static const BodyPart kEmpty = [] {
    BodyPart b;
    b.type = "text";
    b.subtype = "plain";
    b.params = {{"charset", "us-ascii"}};
    return b;
  }();
  return kEmpty;
}

// days since 1970-01-01 to civil date (Howard Hinnant's civil_from_days).
void civil_from_days(int64_t z, int& y, int& m, int& d) {
  z += 719468;
  const int64_t era = (z >= 0 ? z : z - 146096) / 146097;
  const int64_t doe = z - era * 146097;
  const int64_t yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
  const int64_t doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
  const int64_t mp = (5 * doy + 2) / 153;
  d = static_cast<int>(doy - (153 * mp + 2) / 5 + 1);
  m = static_cast<int>(mp < 10 ? mp + 3 : mp - 9);
  y = static_cast<int>(yoe + era * 400 + (m <= 2));
}

}  // namespace

void append_literal(std::string& out, std::string_view s) {
  out += '{';
  out += std::to_string(s.size());
  out += "}\r\n";
  // RFC 9051 §9: literal = "{" number64 "}" CRLF *CHAR8, CHAR8 = %x01-ff. A NUL octet (a
  // message appended as literal8, RFC 3516 §4.4) may only travel in a literal8, which a
  // server sends only for BINARY (RFC 3516 §4.2); here each NUL becomes 0x80, as Dovecot
  // does, so that the size and every other octet stay as stored.
  size_t start = out.size();
  out += s;
  for (size_t i = start; i < out.size(); ++i)
    if (out[i] == '\0') out[i] = static_cast<char>(0x80);
}

bool can_quote(std::string_view s, const EncodeOptions& o) {
  if (s.size() > kMaxQuotedLength) return false;
  bool eight_bit = false;
  for (char ch : s) {
    auto c = static_cast<unsigned char>(ch);
    // QUOTED-CHAR: TEXT-CHAR (no CR, LF, NUL) or, in IMAP4rev2, UTF-8.
    if (c == '\r' || c == '\n' || c == 0) return false;
    if (c >= 0x80) eight_bit = true;
  }
  if (eight_bit) return o.utf8 && is_valid_utf8(s);
  return true;
}

void append_string(std::string& out, std::string_view s, const EncodeOptions& o) {
  if (can_quote(s, o)) append_quoted(out, s);
  else append_literal(out, s);
}

void append_nstring(std::string& out, const std::optional<std::string>& s,
                    const EncodeOptions& o) {
  if (s) append_string(out, *s, o);
  else out += "NIL";
}

void append_astring(std::string& out, std::string_view s, const EncodeOptions& o) {
  bool atom = !s.empty() && s.size() <= kMaxQuotedLength && !(s.size() == 3 &&
              (s[0] == 'N' || s[0] == 'n') && (s[1] == 'I' || s[1] == 'i') &&
              (s[2] == 'L' || s[2] == 'l'));
  for (size_t i = 0; atom && i < s.size(); ++i) {
    auto c = static_cast<unsigned char>(s[i]);
    atom = is_atom_char(c) || c == ']';
  }
  if (atom) out += s;
  else append_string(out, s, o);
}

void append_mailbox(std::string& out, std::string_view utf8_name, const EncodeOptions& o) {
  if (o.utf8) {
    append_astring(out, utf8_name, o);
  } else {
    append_astring(out, mutf7_encode(utf8_name), o);
  }
}

void append_flag_list(std::string& out, const std::vector<std::string>& flags) {
  out += '(';
  for (size_t i = 0; i < flags.size(); ++i) {
    if (i) out += ' ';
    out += flags[i];
  }
  out += ')';
}

std::string format_date_time(int64_t unix_seconds, int zone_minutes) {
  static constexpr const char* kMonths[] = {"Jan", "Feb", "Mar", "Apr", "May", "Jun",
                                            "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"};
  // date-year = 4DIGIT (RFC 9051 §9): keep the instant within years 0001..9999.
  constexpr int64_t kMin = -62135596800;  // 0001-01-01 00:00:00 UTC
  constexpr int64_t kMax = 253402300799;  // 9999-12-31 23:59:59 UTC
  if (zone_minutes < -1439 || zone_minutes > 1439) zone_minutes = 0;  // zone = 4DIGIT hhmm
  int64_t local = std::clamp<int64_t>(unix_seconds + static_cast<int64_t>(zone_minutes) * 60,
                                      kMin, kMax);
  int64_t days = local >= 0 ? local / 86400 : (local - 86399) / 86400;
  int64_t secs = local - days * 86400;
  int y, m, d;
  civil_from_days(days, y, m, d);
  int z = zone_minutes < 0 ? -zone_minutes : zone_minutes;
  char buf[64];
  std::snprintf(buf, sizeof buf, "\"%2d-%s-%04d %02d:%02d:%02d %c%02d%02d\"", d, kMonths[m - 1], y,
                static_cast<int>(secs / 3600), static_cast<int>(secs / 60 % 60),
                static_cast<int>(secs % 60), zone_minutes < 0 ? '-' : '+', z / 60, z % 60);
  return buf;
}

std::string format_sequence_set(const std::vector<uint32_t>& sorted) {
  std::string out;
  size_t i = 0;
  while (i < sorted.size()) {
    size_t j = i;
    while (j + 1 < sorted.size() && sorted[j + 1] == sorted[j] + 1) ++j;
    if (!out.empty()) out += ',';
    out += std::to_string(sorted[i]);
    if (j > i) {
      out += ':';
      out += std::to_string(sorted[j]);
    }
    i = j + 1;
  }
  return out;
}

void append_address_list(std::string& out, const std::vector<MailAddress>& list,
                         const EncodeOptions& o) {
  if (list.empty()) {
    out += "NIL";
    return;
  }
  out += '(';
  for (const auto& a : list) append_address(out, a, o);  // 1*address, no separator
  out += ')';
}

void append_envelope(std::string& out, const Envelope& env, const EncodeOptions& o) {
  out += '(';
  append_nstring(out, env.date, o);
  out += ' ';
  append_nstring(out, env.subject, o);
  out += ' ';
  append_address_list(out, env.from, o);
  out += ' ';
  // RFC 9051 §7.5.2: absent or empty Sender / Reply-To take the value of From.
  append_address_list(out, env.sender.empty() ? env.from : env.sender, o);
  out += ' ';
  append_address_list(out, env.reply_to.empty() ? env.from : env.reply_to, o);
  out += ' ';
  append_address_list(out, env.to, o);
  out += ' ';
  append_address_list(out, env.cc, o);
  out += ' ';
  append_address_list(out, env.bcc, o);
  out += ' ';
  append_nstring(out, env.in_reply_to, o);
  out += ' ';
  append_nstring(out, env.message_id, o);
  out += ')';
}

void append_body_structure(std::string& out, const BodyPart& p, bool extensible,
                           const EncodeOptions& o) {
  out += '(';
  if (p.is_multipart()) {
    // body-type-mpart = 1*body SP media-subtype [SP body-ext-mpart]. A multipart without
    // any part (no boundary found) still needs one body: an empty text/plain stands in.
    if (p.children.empty()) append_body_structure(out, empty_text_part(), extensible, o);
    for (const auto& child : p.children) append_body_structure(out, child, extensible, o);
    out += ' ';
    append_string(out, p.subtype, o);
    if (extensible) {
      out += ' ';
      append_params(out, p.params, o);
      append_ext_tail(out, p, o);
    }
    out += ')';
    return;
  }
  // body-type-1part: media type, body-fields, then type-specific fields.
  append_string(out, p.type, o);
  out += ' ';
  append_string(out, p.subtype, o);
  out += ' ';
  append_params(out, p.params, o);
  out += ' ';
  append_nstring(out, p.id, o);
  out += ' ';
  append_nstring(out, p.description, o);
  out += ' ';
  append_string(out, p.encoding, o);
  out += ' ';
  out += std::to_string(p.size);
  if (p.is_message()) {
    // body-type-msg: ... SP envelope SP body SP body-fld-lines. media-message is
    // "MESSAGE" "RFC822" / "GLOBAL", so these fields must follow even when the encapsulated
    // message could not be parsed (then an empty envelope and an empty text/plain body).
    out += ' ';
    append_envelope(out, p.envelope ? *p.envelope : Envelope{}, o);
    out += ' ';
    append_body_structure(out, p.children.empty() ? empty_text_part() : p.children[0],
                          extensible, o);
    out += ' ';
    out += std::to_string(p.lines);
  } else if (iequals(p.type, "TEXT")) {
    out += ' ';
    out += std::to_string(p.lines);  // body-type-text: SP body-fld-lines
  }
  if (extensible) {
    // body-ext-1part = body-fld-md5 [SP body-fld-dsp [SP body-fld-lang [SP body-fld-loc]]]
    out += ' ';
    append_nstring(out, p.md5, o);
    append_ext_tail(out, p, o);
  }
  out += ')';
}

std::string tagged(std::string_view tag, std::string_view status, std::string_view code,
                   std::string_view text) {
  std::string out;
  out.reserve(tag.size() + status.size() + code.size() + text.size() + 16);
  out += tag;
  out += ' ';
  out += status;
  out += ' ';
  if (!code.empty()) {
    out += '[';
    out += code;
    out += "] ";
  } else if (!text.empty() && text.front() == '[') {
    // resp-text = ["[" resp-text-code "]" SP] text: a text that starts with "[" would be
    // read as a response code.
    out += "- ";
  }
  append_resp_text(out, text, status);
  out += "\r\n";
  return out;
}

std::string untagged(std::string_view text) {
  std::string out = "* ";
  out += text;
  out += "\r\n";
  return out;
}

std::string continuation(std::string_view text) {
  std::string out = "+ ";
  out += text;
  out += "\r\n";
  return out;
}

}  // namespace tsubame::imap
