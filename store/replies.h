// store/replies.h: what this server's users sent, so that the answer is known: the Message-IDs
// of their mail (the filter's REPLY_TO_SENT, filter/README.md "Reply memory") and the outside
// addresses they wrote to (CORRESPONDENT_KNOWN, "Correspondent memory").
//
// Db::kSent: HMAC(index key, "sent", Message-ID) -> be64 expiry ms. The Message-ID is the
// text between the angle brackets, as written; only its HMAC is kept, so the store holds no
// list of who wrote to whom, and an id can be checked but not read back. smtpd records the
// Message-ID of every message an authenticated user submits; the record lives
// kSentRetentionMs (a reply more than six months later is judged as any mail is) and
// purge_sent() (`tsubame purge`) removes expired ones; a lookup ignores them anyway.
//
// Db::kCorrespondents: HMAC(index key, "correspondent", address lower-cased) -> be64 expiry ms.
// smtpd records each remote recipient of an accepted authenticated submission, with the same
// retention, extended by every later send. Only HMACs again: the store can say whether anyone
// here wrote to an address, but cannot list the addresses, nor say who wrote to them.
//
// Thread-safety: any thread. Failure: errors are Status values; a failed call changes nothing.
#pragma once

#include <cstdint>
#include <span>
#include <string>
#include <string_view>

#include "common/message_summary.h"
#include "common/result.h"
#include "store/store.h"  // kMaxAddressBytes: the longest address recorded or looked up

namespace tsubame::store {

class Txn;
class Keyring;

inline constexpr int64_t kSentRetentionMs = 183LL * 24 * 3600 * 1000;
// Longest Message-ID recorded or looked up (RFC 5322 sets no limit; 998 is a line's).
inline constexpr size_t kMaxMessageIdBytes = 998;
// At most this many ids are looked up for one message: In-Reply-To and the newest of
// References (an answer names its parent; a thread's newest ids are its last messages).
inline constexpr size_t kMaxReplyLookups = 8;

// Whether any of the ids (at most kMaxReplyLookups are read) was recorded and has not
// expired at now_ms. Empty and over-long ids are skipped.
Result<bool> replies_to_sent(Store& store, std::span<const std::string> message_ids, int64_t now_ms);
// Deletes every record expired at now_ms; returns how many.
Result<uint64_t> purge_sent(Store& store, int64_t now_ms);

// At most this many recipients of one submission are recorded (smtpd's max_recipients is
// lower by default; this bounds one write for any caller).
inline constexpr size_t kMaxCorrespondentsPerMessage = 1000;

// What one accepted submission leaves, in one write transaction: its Message-ID (may be empty:
// the message had none) and its remote recipients, each kept until now_ms + retention_ms. An
// empty, over-long or malformed entry (no '@') is skipped, not an error: the mail was accepted.
Status remember_submission(Store& store, std::string_view message_id, std::span<const std::string> correspondents,
                           int64_t now_ms, int64_t retention_ms = kSentRetentionMs);
// The same for a copy a user's mail program appends to its \Sent mailbox (IMAP APPEND; the
// message may have gone out through another server), inside the store's append transaction:
// the envelope's Message-ID and its To, Cc and Bcc addresses outside this server's domains
// (Db::kDomainNames). Store::append and write_batch call it; a failure fails the append.
Status remember_sent_copy(Txn& txn, const Keyring& keys, const Envelope& envelope, int64_t now_ms,
                          int64_t retention_ms = kSentRetentionMs);
// Whether a user here sent mail to `address` (compared ASCII case-insensitively) and the
// record has not expired at now_ms. False for an empty or over-long address.
Result<bool> correspondent_known(Store& store, std::string_view address, int64_t now_ms);
// Deletes every correspondent record expired at now_ms; returns how many.
Result<uint64_t> purge_correspondents(Store& store, int64_t now_ms);

}  // namespace tsubame::store
