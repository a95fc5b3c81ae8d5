// store/queue.h: durable outbound queue records for remote delivery (smtpd's queue runner).
//
//   smtpd DATA ──▶ enqueue(txn, entry)   (same transaction as the local deliveries, so one
//                   │                     commit covers the whole message before "250 OK")
//                   ▼
//   runner ──▶ due(now) ──▶ try each pending recipient ──▶ update(entry): per-recipient
//                   ▲          status, attempts, next attempt          │
//                   └───────────────────────────────────────────────────┘
//              all recipients delivered or failed ──▶ DSN as needed ──▶ remove(id)
//   policy hold (data-loss rule hits) ──▶ held: never due ──▶ release(id, actor) | remove(id, actor)
//
// The message content and the personal metadata (sender, recipients, errors, hold reason) are
// sealed with the system key. update() never touches the hold flag, so a postmaster's hold or
// release racing with the runner is never undone by it. Holds, releases and postmaster
// removals are audit-logged in the same transaction.
//
// Thread-safety: any thread; each call is one transaction. Failure: errors are Status values;
// a failed call changes nothing.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "common/result.h"

namespace tsubame::store {

class Store;
class Txn;

// RFC 5321 §4.5.3.1.8: at least 100 recipients must be accepted; we store up to this many.
inline constexpr size_t kMaxQueueRecipients = 1000;
inline constexpr size_t kMaxQueueText = 4096;                 // an address, an error, a reason
inline constexpr uint64_t kMaxQueueMessage = 256ull << 20;    // content bytes

enum class RecipientStatus : uint8_t { kPending = 1, kDelivered = 2, kFailed = 3 };
const char* recipient_status_name(RecipientStatus s);

struct QueueRecipient {
  std::string address;
  RecipientStatus status = RecipientStatus::kPending;
  std::string last_error;        // last reply ("452 4.2.2 mailbox full") or local error
  std::string remote_host;       // the MX that answered last
  std::string notify;            // RFC 3461 §4.1 NOTIFY ("SUCCESS,FAILURE", "NEVER", "" = default)
  std::string orcpt;             // RFC 3461 §4.2 ORCPT ("rfc822;bob@example.com")
  int64_t updated_ms = 0;
};

struct QueueEntry {
  std::string id;                // assigned by enqueue when empty (store/trace.h queue ids)
  std::string sender;            // reverse-path; "" = null sender (a DSN)
  std::vector<QueueRecipient> recipients;
  std::string envid;             // RFC 3461 §4.4 ENVID
  std::string ret;               // RFC 3461 §4.3 RET: "FULL", "HDRS" or ""
  int64_t created_ms = 0;        // 0 = now
  int64_t next_attempt_ms = 0;   // 0 = now
  uint32_t attempts = 0;
  bool held = false;             // held by policy; never due until released
  std::string hold_reason;
  std::vector<std::string> hold_rules;  // rule ids that caused the hold
  uint64_t size = 0;             // content bytes (set by enqueue)
  std::string content;           // the message; filled by get(id, true) only
};

struct QueueFilter {
  bool held_only = false;
  size_t limit = 1000;           // oldest first (queue ids sort by time)
};

class OutboundQueue {
 public:
  explicit OutboundQueue(Store& store) : store_(store) {}

  // Stores the entry with its content. Assigns entry.id (if empty), created_ms, size and
  // next_attempt_ms. A held entry's hold is audit-logged ("queue.hold", actor "policy").
  Status enqueue(QueueEntry& entry);
  Status enqueue(Txn& txn, QueueEntry& entry);

  // Entries not held whose next attempt is due, earliest first, without content.
  Result<std::vector<QueueEntry>> due(int64_t now_ms, size_t limit = 100) const;
  Result<QueueEntry> get(std::string_view id, bool with_content = true) const;
  // Writes recipients, attempts and next_attempt_ms of an existing entry (content, hold and
  // envelope stay as stored). NotFound if it was removed meanwhile.
  Status update(const QueueEntry& entry);
  Status hold(std::string_view id, std::string_view reason, const std::vector<std::string>& rules,
              std::string_view actor);
  // Clears the hold and makes the entry due now. Audit-logged.
  Status release(std::string_view id, std::string_view actor);
  // Makes every waiting entry (not held, next attempt later than now_ms) due at now_ms, in
  // one transaction that changes nothing but next_attempt_ms, so a delivery the runner
  // records meanwhile is never overwritten with stale recipient states. Audit-logged
  // ("queue.flush", with the count). Returns how many entries it moved.
  Result<uint64_t> flush(int64_t now_ms, std::string_view actor);
  // Deletes the entry. With an actor (a postmaster), audit-logged; the runner passes none.
  Status remove(std::string_view id, std::string_view actor = {});
  Result<std::vector<QueueEntry>> list(const QueueFilter& filter = {}) const;  // no content

 private:
  Store& store_;
};

}  // namespace tsubame::store
