// common/message_summary.h: what one MIME parse learns about a message, kept beside it.
//
// The filter parses each message once at delivery (filter/mime.h) and fills a
// MessageSummary; the store keeps it (encrypted) beside the message blob; imapd answers
// FETCH ENVELOPE / BODYSTRUCTURE / BODY[section] from it without parsing again.
//
// Field meanings follow RFC 9051 §7.5.2 (ENVELOPE, BODYSTRUCTURE). Strings are kept as they
// appear in the message (encoded-words are NOT decoded here; IMAP returns them raw).
// std::nullopt stands for IMAP NIL. Offsets are byte offsets into the raw message as stored.
//
// The encoding (encode/decode) is versioned; decode never reads past its input and returns
// Corruption for anything malformed.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "common/result.h"

namespace tsubame {

// One IMAP address (RFC 9051 §7.5.2 "address"). Group syntax: a group start has
// mailbox = group name and host = nullopt; a group end has mailbox = host = nullopt.
struct MailAddress {
  std::optional<std::string> name;     // display name, raw
  std::optional<std::string> adl;      // source route, almost always nullopt
  std::optional<std::string> mailbox;  // local part
  std::optional<std::string> host;     // domain
  bool operator==(const MailAddress&) const = default;
};

// Sender and Reply-To are already filled from From when absent or empty (RFC 9051 §7.5.2):
// imapd renders the envelope as stored.
struct Envelope {
  std::optional<std::string> date;
  std::optional<std::string> subject;
  std::vector<MailAddress> from, sender, reply_to, to, cc, bcc;  // empty = NIL
  std::optional<std::string> in_reply_to;
  std::optional<std::string> message_id;
  bool operator==(const Envelope&) const = default;
};

using Params = std::vector<std::pair<std::string, std::string>>;  // attribute, value

// One node of the MIME tree (RFC 9051 BODYSTRUCTURE, extension data included).
struct BodyPart {
  std::string type = "TEXT";        // as in the message, e.g. "text"; IMAP quotes it as is
  std::string subtype = "PLAIN";
  Params params;                    // Content-Type parameters (RFC 2231 joined and decoded)
  std::optional<std::string> id;            // Content-ID
  std::optional<std::string> description;   // Content-Description
  std::string encoding = "7BIT";            // Content-Transfer-Encoding
  std::optional<std::string> md5;           // Content-MD5
  std::optional<std::string> disposition;   // "attachment", "inline", ...
  Params disposition_params;
  std::vector<std::string> language;        // Content-Language, empty = NIL
  std::optional<std::string> location;      // Content-Location

  uint64_t size = 0;    // body octets as transferred (body_end - body_offset)
  uint64_t lines = 0;   // body lines, for text/* and message/rfc822

  // Byte offsets into the raw message. For the root part header_offset = 0.
  // [header_offset, body_offset) is the part's MIME header including the blank line;
  // [body_offset, body_end) is its body: for a multipart part the whole region after its
  // header up to the next boundary of its parent (epilogue included); for the root, the end
  // of the message. This is what IMAP BODY[n] and BODY[TEXT] return.
  uint64_t header_offset = 0;
  uint64_t body_offset = 0;
  uint64_t body_end = 0;

  // multipart/*: the child parts in order. message/rfc822 (and message/global): exactly one
  // child, the root part of the encapsulated message, whose envelope is `envelope`.
  std::vector<BodyPart> children;
  std::optional<Envelope> envelope;  // only for message/rfc822 parts

  bool is_multipart() const;
  bool is_message() const;  // message/rfc822 or message/global
  bool operator==(const BodyPart&) const = default;
};

struct MessageSummary {
  Envelope envelope;
  BodyPart body;               // root part
  uint64_t size = 0;           // RFC822.SIZE: octets of the raw message
  std::vector<std::string> references;  // Message-IDs from References (for THREAD)
  int64_t sent_date = 0;       // Date: header as unix seconds, 0 if missing/unparseable (SORT DATE)
  bool has_attachments = false;
  bool operator==(const MessageSummary&) const = default;
};

std::string encode_summary(const MessageSummary& s);
Result<MessageSummary> decode_summary(std::string_view bytes);

}  // namespace tsubame
