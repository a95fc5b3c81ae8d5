// filter/mime.h: the one MIME parse of a message, shared by rules, classifier, policy, store.
//
//   raw bytes ──parse_message()──▶ ParsedMessage
//                                   ├─ headers (raw + decoded UTF-8), Subject/From/To/...
//                                   ├─ body_text (UTF-8; HTML rendered to text), links,
//                                   │  hidden_text (HTML the reader does not see)
//                                   ├─ attachments (name, declared + sniffed type, size)
//                                   ├─ nested message/rfc822 headers (flattened)
//                                   ├─ anomalies (bit flags rules can score)
//                                   └─ summary (common/message_summary.h: ENVELOPE,
//                                      BODYSTRUCTURE, byte offsets for IMAP BODY[...])
//
// How it fails: it does not. Any byte string parses to something; malformed input sets
// Anomaly flags instead (broken boundary, bad base64, unknown charset, 8-bit junk, truncated,
// limits hit). parse_message returns an error only for an internal fault (an exception from
// a library caught at this boundary), never because the mail is odd. Work is bounded by
// MimeLimits (filter/mime_limits.h); nothing recurses deeper than limits.max_depth.
//
// Thread-safety: parse_message is reentrant (per-thread iconv cache); a ParsedMessage is an
// immutable value once returned and may be read from many threads.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "common/message_summary.h"
#include "common/result.h"
#include "filter/mime_limits.h"

namespace tsubame::filter {

// ---------------------------------------------------------------------------------------
// Anomalies: what was wrong with the message. Bit flags, so a rule checks one bit.
enum class Anomaly : uint32_t {
  kBrokenBoundary = 1u << 0,      // multipart without boundary param, or no delimiter found
  kMissingCloseBoundary = 1u << 1,  // RFC 2046 §5.1.1 close-delimiter never seen
  kBadBase64 = 1u << 2,           // invalid characters, misplaced padding, partial quantum
  kBadQuotedPrintable = 1u << 3,  // '=' not followed by two hex digits or a line break
  kUnknownCharset = 1u << 4,      // a charset iconv does not know (fell back to Latin-1)
  kBadCharsetData = 1u << 5,      // bytes invalid in their declared charset (U+FFFD used)
  kHeader8Bit = 1u << 6,          // raw 8-bit bytes in a header that are not valid UTF-8
  kHeaderUtf8 = 1u << 7,          // raw UTF-8 in headers (RFC 6532; legal but notable)
  kHeaderSyntax = 1u << 8,        // a header line that is neither "name:" nor a continuation
  kTruncated = 1u << 9,           // header block without end, or body cut mid-structure
  kLongLine = 1u << 10,           // a line over 998 octets (RFC 5322 §2.1.1)
  kNulByte = 1u << 11,            // NUL in the message
  kBareLf = 1u << 12,             // lines end in LF, not CRLF
  kBadEncodedWord = 1u << 13,     // RFC 2047 word that does not decode
  kUnknownEncoding = 1u << 14,    // Content-Transfer-Encoding we do not know (kept as is)
  kEncodedMessage = 1u << 15,     // message/rfc822 with base64/QP (RFC 2046 §5.2.1 forbids)
  kDuplicateHeader = 1u << 16,    // more than one From/Subject/Date/To/Message-ID ...
  kLimitDepth = 1u << 17,         // nesting deeper than limits.max_depth
  kLimitParts = 1u << 18,         // more parts than limits.max_parts
  kLimitDecodedSize = 1u << 19,   // decoding stopped at limits.max_decoded_total
  kLimitHeaderCount = 1u << 20,   // more header fields than limits.max_headers
  kLimitHeaderBytes = 1u << 21,   // a field longer than limits.max_header_bytes
  kLimitText = 1u << 22,          // body_text stopped at limits.max_text_bytes
  kLimitLinks = 1u << 23,         // more links than limits.max_links
  kLimitHtml = 1u << 24,          // an HTML part larger than limits.max_html_bytes
  kLimitAddresses = 1u << 25,     // more addresses in one field than limits.max_addresses
  kHtmlHiddenText = 1u << 26,     // HTML text hidden from the reader (see hidden_text)
  kHeaderSplit = 1u << 27,        // an empty line inside the header, read past (header_resumes)
};

class Anomalies {
 public:
  bool has(Anomaly a) const { return (bits_ & static_cast<uint32_t>(a)) != 0; }
  void set(Anomaly a) { bits_ |= static_cast<uint32_t>(a); }
  uint32_t bits() const { return bits_; }
  bool any() const { return bits_ != 0; }
  // Stable lower-case names of the set flags ("broken_boundary", "bad_base64", ...).
  std::vector<std::string_view> names() const;
  bool operator==(const Anomalies&) const = default;

 private:
  uint32_t bits_ = 0;
};
std::string_view anomaly_name(Anomaly a);
// All flags, in bit order (for tools that list them).
const std::vector<Anomaly>& all_anomalies();

// ---------------------------------------------------------------------------------------
// Headers.
struct HeaderField {
  std::string name;       // as written ("Subject"); compare with iequals
  std::string raw;        // value as in the message, folding CRLFs included, no leading WSP
  std::string value;      // unfolded, RFC 2047 decoded, UTF-8
  uint64_t offset = 0;    // byte offset of the field's first octet in the raw message
                          // (for nested messages: in the raw root message as well;
                          // 0 inside a base64/QP-encoded message/rfc822)
};

struct Mailbox {
  std::string display_name;  // decoded UTF-8 (RFC 2047), quotes removed; may be empty
  std::string address;       // "local@domain" as written (no decoding); may be empty
  std::string local;         // part before the last '@'
  std::string domain;        // after the last '@', lower-cased; empty if none
  bool operator==(const Mailbox&) const = default;
};

struct DateValue {
  std::string raw;                      // unfolded header text
  std::optional<int64_t> unix_seconds;  // RFC 5322 §3.3 parsed (obsolete zones accepted)
  int tz_offset_minutes = 0;            // as written, e.g. +0900 -> 540
};

// The decoded view of one header block (the top message, or one nested message/rfc822).
struct MessageHeaders {
  std::vector<HeaderField> headers;     // in order, up to limits.max_headers
  std::string subject;                  // decoded UTF-8; empty if missing
  bool has_subject = false;
  std::optional<Mailbox> from;          // first mailbox of From
  std::vector<Mailbox> from_all;        // every mailbox of From (groups flattened)
  std::optional<Mailbox> sender;
  std::vector<Mailbox> to, cc, reply_to;
  std::optional<Mailbox> return_path;   // Return-Path "<>" gives an empty address
  std::optional<std::string> message_id;  // as written, angle brackets included
  std::optional<DateValue> date;
  std::vector<std::string> received;    // unfolded Received values, top (newest) first

  // First field with this name (case-insensitive), or nullptr.
  const HeaderField* header(std::string_view name) const;
  // Every field with this name, in order.
  std::vector<const HeaderField*> headers_named(std::string_view name) const;
};

// ---------------------------------------------------------------------------------------
// Links from text parts.
// kShortcut: the target of an attached Internet shortcut (.url) that points at a web page.
enum class LinkSource : uint8_t { kHtmlAnchor, kHtmlImage, kHtmlForm, kHtmlOther, kPlainText, kShortcut };

struct Link {
  std::string href;   // entity-decoded, trimmed, as written otherwise (not resolved)
  std::string text;   // visible text of an <a> (whitespace collapsed), or img alt; UTF-8
  LinkSource source = LinkSource::kPlainText;
  std::string part_id;  // IMAP section of the text part it came from ("1.2")
};

// ---------------------------------------------------------------------------------------
// File types recognised from the first bytes of a part (magic numbers, then heuristics).
enum class FileType : uint8_t {
  kUnknown, kEmpty, kText, kHtml,
  kPe,        // MZ (DOS/Windows executable, DLL, SCR ...)
  kElf, kMachO, kJavaClass,
  kZip, kOoxml /* docx/xlsx/pptx: zip with [Content_Types].xml */, kOdf, kJar,
  kRar, k7z, kGzip, kBzip2, kXz, kCab, kIso, kArj, kLzh,
  kPdf, kOle2 /* doc/xls/ppt/msi */, kRtf, kChm, kLnk,
  kJavaScript, kVbScript, kPowerShell, kBatch, kShellScript, kHta,
  kPng, kJpeg, kGif, kBmp, kTiff, kWebp, kIco, kSvg,
  // Windows Internet shortcuts (.url, an INI file with an [InternetShortcut] section):
  // kWebShortcut when every target (URL=, BASEURL=, IconFile=) is an http(s) address, a link
  // in a file; kShortcut otherwise (file://, \\host\share, a local path, another scheme: the
  // shortcut opens a file or a program, or leaks credentials to a share; CVE-2024-21412).
  kWebShortcut, kShortcut,
};
std::string_view file_type_name(FileType t);  // "pe", "zip", "ooxml", "javascript", ...
// True for types that can run code on open (executables, scripts, shortcut, CHM, HTA).
bool file_type_is_executable(FileType t);
// Sniff a file type from (the beginning of) its decoded bytes.
FileType sniff_file_type(std::string_view head);
// The http(s) targets (URL=, BASEURL=) of an Internet shortcut's text, at most
// kMaxShortcutTargets, in UTF-8 (a value that is not UTF-8 is converted as undeclared text,
// charset.h to_utf8); empty for anything else.
inline constexpr size_t kMaxShortcutTargets = 8;
std::vector<std::string> shortcut_targets(std::string_view head);

// ---------------------------------------------------------------------------------------
// Parts.
struct Attachment {
  std::string part_id;        // IMAP section ("2", "1.3", "2.1")
  std::string filename;       // decoded UTF-8: RFC 2231 (continuations, charset) or
                              // RFC 2047 in filename=/name=; Content-Disposition first
  std::string declared_type;  // "application/pdf", lower case; "text/plain" if none
  std::string disposition;    // "attachment", "inline", or "" if none, lower case
  FileType sniffed = FileType::kUnknown;
  std::string transfer_encoding;  // lower case: "base64", "quoted-printable", "7bit" ...
  uint64_t encoded_size = 0;  // body octets as transferred
  uint64_t decoded_size = 0;  // octets after decoding (up to the decoded-size cap)
  bool decode_capped = false; // decoding stopped at limits.max_decoded_total
  uint64_t body_offset = 0;   // [body_offset, body_end) in the raw message
  uint64_t body_end = 0;
  uint32_t depth = 0;         // nesting depth (0 = top-level body)
  bool from_encoded_message = false;  // inside a base64/QP message/rfc822: offsets are
                                      // not into the raw message; decoded() unavailable
};

struct TextPart {
  std::string part_id;
  std::string content_type;    // "text/plain", "text/html", ...
  std::string charset;         // as declared, lower case ("" if none)
  std::string text;            // decoded, converted to UTF-8; HTML rendered to text
  std::string source;          // text/html only: the HTML itself, transfer encoding undone and
                               // converted to UTF-8 (what the `html` rule scope scans), so
                               // base64 or quoted-printable cannot hide markup from the rules
  bool html = false;
  bool in_body_text = true;    // false for a non-preferred alternative of
                               // multipart/alternative whose words the preferred one already
                               // carries (kMimeAltKnownPercent; its links are still collected)
  uint64_t body_offset = 0;
  uint64_t body_end = 0;
};

struct NestedMessage {
  std::string part_id;   // the message/rfc822 part's section
  uint32_t depth = 0;
  MessageHeaders headers;
};

// ---------------------------------------------------------------------------------------
struct ParsedMessage : MessageHeaders {
  std::string raw;                    // the whole message (owned copy)
  uint64_t header_end = 0;            // = summary.body.body_offset: raw body starts here
  std::string_view raw_body() const { return std::string_view(raw).substr(header_end); }

  std::string body_text;              // UTF-8 text of the text parts a reader is shown (see
                                      // TextPart::in_body_text, inline_text_bytes)
  uint64_t inline_text_bytes = 0;     // the last bytes of body_text that are the text of parts
                                      // sent inline with a file name, read because the message
                                      // had almost no other text (kMimeInlineMaxOtherText); the
                                      // rules read them, the classifier's body tokens do not
  std::string hidden_text;            // HTML text a reader does not see (display:none,
                                      // font-size:0 ...), kept out of body_text
  std::vector<TextPart> text_parts;
  std::vector<Link> links;            // HTML anchors/images/forms, then URLs written as
                                      // text (plain parts and rendered HTML, kPlainText)
  std::vector<Attachment> attachments;
  std::vector<NestedMessage> nested;  // headers of each message/rfc822, any depth

  Anomalies anomalies;
  uint32_t part_count = 0;            // body parts seen (leaves and containers)
  uint32_t max_depth_seen = 0;
  uint64_t decoded_total = 0;         // decoded octets over all parts

  MessageSummary summary;             // ENVELOPE / BODYSTRUCTURE / offsets for imapd

  // The decoded bytes of an attachment (base64/QP undone), at most max_bytes of them.
  // NotFound if the attachment is from an encoded message/rfc822 (no raw offsets).
  Result<std::string> decoded(const Attachment& a, uint64_t max_bytes = UINT64_MAX) const;
};

// Parse a raw RFC 5322 message (CRLF or LF line ends). Never fails on malformed input;
// returns Code::kInternal only if a bug surfaced as an exception (caught here).
Result<ParsedMessage> parse_message(std::string_view raw, const MimeLimits& limits = {});

// ---------------------------------------------------------------------------------------
// Building blocks, public for the rules engine, tools and tests.

// RFC 2045 §6.8 base64; whitespace ignored. Sets *bad on invalid input. Stops at max_out.
std::string decode_base64(std::string_view in, bool* bad, uint64_t max_out = UINT64_MAX);
// RFC 2045 §6.7 quoted-printable. Sets *bad on an invalid '=' sequence.
std::string decode_quoted_printable(std::string_view in, bool* bad,
                                    uint64_t max_out = UINT64_MAX);

// Content-Type / Content-Disposition value: "type/subtype; a=b; c*0=..." with RFC 2231
// parameters joined (continuations) and decoded to UTF-8 (charset'lang'%XX).
struct ContentField {
  std::string value;                                  // "text/plain", lower case
  std::vector<std::pair<std::string, std::string>> params;  // name lower case; value UTF-8
  const std::string* param(std::string_view name) const;
};
ContentField parse_content_field(std::string_view raw, Anomalies* anomalies = nullptr);

// RFC 5322 §3.4 address-list (groups, comments, quoted strings, obsolete routes).
// For IMAP, MailAddress keeps names raw; group start/end markers per RFC 9051 §7.5.2.
std::vector<MailAddress> parse_address_list(std::string_view raw, uint32_t max_addresses,
                                            bool* limit_hit = nullptr);
// Non-space bytes of `t`, counted up to `stop` (the count stops there): "is there at
// least this much text" without reading all of a long body.
size_t visible_bytes(std::string_view t, size_t stop);
// RFC 5322 §3.3 date-time to unix seconds; nullopt if unparseable.
std::optional<int64_t> parse_rfc5322_date(std::string_view raw, int* tz_offset_minutes = nullptr);

}  // namespace tsubame::filter
