// store/replies.h: the Message-IDs of mail this server's users sent, so that a reply to one of
// them is known (the filter's REPLY_TO_SENT, filter/README.md "Reply memory").
//
// Db::kSent: HMAC(index key, "sent", Message-ID) -> be64 expiry ms. The Message-ID is the
// text between the angle brackets, as written; only its HMAC is kept, so the store holds no
// list of who wrote to whom, and an id can be checked but not read back. smtpd records the
// Message-ID of every message an authenticated user submits; the record lives
// kSentRetentionMs (a reply more than six months later is judged as any mail is) and
// purge_sent() removes expired ones (smtpd's queue runner calls it hourly).
//
// Thread-safety: any thread. Failure: errors are Status values; a failed call changes nothing.
#pragma once

#include <cstdint>
#include <span>
#include <string>
#include <string_view>

#include "common/result.h"

namespace tsubame::store {

class Store;

inline constexpr int64_t kSentRetentionMs = 183LL * 24 * 3600 * 1000;
// Longest Message-ID recorded or looked up (RFC 5322 sets no limit; 998 is a line's).
inline constexpr size_t kMaxMessageIdBytes = 998;
// At most this many ids are looked up for one message: In-Reply-To and the newest of
// References (an answer names its parent; a thread's newest ids are its last messages).
inline constexpr size_t kMaxReplyLookups = 8;

// Records one sent Message-ID (with or without its angle brackets) until now_ms + retention_ms;
// a second record of the same id extends it. InvalidArgument for an empty or over-long id.
Status remember_sent(Store& store, std::string_view message_id, int64_t now_ms,
                     int64_t retention_ms = kSentRetentionMs);
// Whether any of the ids (at most kMaxReplyLookups are read) was recorded and has not
// expired at now_ms. Empty and over-long ids are skipped.
Result<bool> replies_to_sent(Store& store, std::span<const std::string> message_ids, int64_t now_ms);
// Deletes every record expired at now_ms; returns how many.
Result<uint64_t> purge_sent(Store& store, int64_t now_ms);

}  // namespace tsubame::store
