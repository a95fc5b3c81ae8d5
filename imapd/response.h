// imapd/response.h: encoding of server responses (RFC 9051 §7, ABNF in §9).
//
// Pure functions that append to a std::string: the choice between atom, quoted string and
// literal; NIL for std::nullopt; mailbox names in modified UTF-7 or UTF-8; flag lists;
// date-time; sequence sets; and ENVELOPE / BODY / BODYSTRUCTURE from the MessageSummary
// stored at delivery (common/message_summary.h), so FETCH never parses a message again.
//
// Nothing here fails: every input has an encoding. A string that cannot be quoted (CR, LF,
// 8-bit octets outside UTF-8 mode, or long) becomes a literal; a NUL octet can only be sent
// in a literal8 (RFC 3516), which is the caller's choice for BINARY content.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "common/message_summary.h"

namespace tsubame::imap {

struct EncodeOptions {
  // IMAP4rev2 or UTF8=ACCEPT is in force: quoted strings may carry UTF-8 (RFC 9051 §9
  // QUOTED-CHAR) and mailbox names are sent in UTF-8 instead of modified UTF-7.
  bool utf8 = false;
};

// Quoted strings longer than this are sent as literals (easier on clients and logs).
inline constexpr size_t kMaxQuotedLength = 1024;

// True if s may be sent inside DQUOTEs (escaping '"' and '\').
bool can_quote(std::string_view s, const EncodeOptions& o);
// string = quoted / literal
void append_string(std::string& out, std::string_view s, const EncodeOptions& o = {});
// literal = "{" number "}" CRLF *CHAR8. FETCH sends message data (BODY[...], RFC822...)
// always as a literal, as clients such as imaplib expect. CHAR8 excludes NUL: a NUL octet
// is sent as 0x80 (only BINARY's literal8 carries NUL, RFC 3516 §4.2).
void append_literal(std::string& out, std::string_view s);
// nstring = string / nil
void append_nstring(std::string& out, const std::optional<std::string>& s,
                    const EncodeOptions& o = {});
// astring = 1*ASTRING-CHAR / string; the atom form is used when it is unambiguous
// (never for "NIL", which some clients would read as nil).
void append_astring(std::string& out, std::string_view s, const EncodeOptions& o = {});
// A mailbox name held in UTF-8, encoded for the wire (modified UTF-7 unless o.utf8).
void append_mailbox(std::string& out, std::string_view utf8_name, const EncodeOptions& o = {});
// flag-list = "(" [flag *(SP flag)] ")"; flags are atoms ("\Seen", "$Junk").
void append_flag_list(std::string& out, const std::vector<std::string>& flags);

// date-time = DQUOTE date-day-fixed "-" date-month "-" date-year SP time SP zone DQUOTE,
// e.g. "\"17-Jul-1996 02:44:25 -0700\"" for unix time t shown in the zone given.
std::string format_date_time(int64_t unix_seconds, int zone_minutes = 0);

// A sorted, de-duplicated list of numbers as the shortest sequence set: 1,2,3,5 -> "1:3,5".
// Empty input gives "".
std::string format_sequence_set(const std::vector<uint32_t>& sorted);

// RFC 9051 §7.5.2 ENVELOPE. Sender and Reply-To default to From when empty, as §7.5.2
// requires of the server.
void append_envelope(std::string& out, const Envelope& env, const EncodeOptions& o = {});
// address lists: "(" 1*address ")" / nil
void append_address_list(std::string& out, const std::vector<MailAddress>& list,
                         const EncodeOptions& o = {});
// RFC 9051 §7.5.2 BODYSTRUCTURE (extensible = true, with extension data) or BODY
// (extensible = false).
void append_body_structure(std::string& out, const BodyPart& part, bool extensible,
                           const EncodeOptions& o = {});

// ---- response lines (CRLF included) ----
// "<tag> OK [CODE] text\r\n"; code may be empty.
std::string tagged(std::string_view tag, std::string_view status, std::string_view code,
                   std::string_view text);
// "* <text>\r\n"
std::string untagged(std::string_view text);
// "+ text\r\n" (RFC 9051 §7.5)
std::string continuation(std::string_view text);

}  // namespace tsubame::imap
