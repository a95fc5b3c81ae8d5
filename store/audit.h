// store/audit.h: the append-only, hash-chained audit log (SOC 2 evidence).
//
//   record n:  seq | time_ms | action | sealed(actor, target, details) | mac_n
//   mac_n   =  HMAC-SHA256(audit key, mac_{n-1} | canonical bytes of record n)   (mac_0 = 32 zero bytes)
//   head    =  last seq | mac_last, in the meta database, updated in the same transaction
//
// Actor, target and details are personal metadata (addresses, IPs) and are sealed with the
// system key; seq, time and action stay readable for filtering. The verifier recomputes the
// chain from record 1 and reports the FIRST bad record: an edited record (MAC mismatch), a
// removed record (sequence gap or broken chain), reordered records (a record stored under
// another sequence number), and a truncated tail (the chain ends before the head). A rollback
// of both the records and the head to an earlier consistent state cannot be detected from
// inside the store; anchor the head externally (`tsubame audit head`) for that.
//
// Thread-safety: every method may be called from any thread; appends are serialised by the
// store's single writer. Failure: errors are Status values; nothing is appended on error.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "common/result.h"

namespace tsubame::store {

class Store;
class Txn;

// Limits of one record: an audit record is evidence, not a data dump.
inline constexpr size_t kMaxAuditField = 1024;         // actor, action, target
inline constexpr size_t kMaxAuditDetails = 64 * 1024;

struct AuditEntry {
  std::string actor;    // who: "postmaster", "alice@example.com", "smtpd", "system"
  std::string action;   // what, dotted: "account.lock", "report.view", "queue.release"
  std::string target;   // on what: an address, a queue id, "report:42"
  std::string details;  // free text or key=value pairs (sealed)
  int64_t time_ms = 0;  // 0 = now
};

struct AuditRecord {
  uint64_t seq = 0;
  int64_t time_ms = 0;
  std::string actor, action, target, details;
};

struct AuditFilter {
  int64_t since_ms = 0;              // inclusive
  int64_t until_ms = INT64_MAX;      // exclusive
  std::string action_prefix;         // "account." matches "account.lock"
  std::string actor;                 // exact, empty = any
  std::string target;                // exact, empty = any
  size_t limit = 1000;               // newest first
};

struct AuditVerify {
  bool ok = true;
  uint64_t records = 0;      // records checked
  uint64_t bad_seq = 0;      // first bad record (0 when ok or when the log is empty)
  std::string reason;        // human-readable, e.g. "record 7 was changed (MAC mismatch)"
};

struct AuditHead {
  uint64_t seq = 0;          // 0 = empty log
  std::string mac_hex;       // for external anchoring
};

class AuditLog {
 public:
  explicit AuditLog(Store& store) : store_(store) {}

  // Appends in its own durable write transaction; returns the record's sequence number.
  Result<uint64_t> append(const AuditEntry& entry);
  // Appends inside the caller's write transaction, so a change and its record commit
  // together (or neither does).
  Result<uint64_t> append(Txn& txn, const AuditEntry& entry);
  // The same, built from its fields.
  Status append(Txn& txn, std::string_view actor, std::string_view action, std::string target,
                std::string details);

  // Newest first, at most filter.limit records.
  Result<std::vector<AuditRecord>> list(const AuditFilter& filter = {}) const;
  Result<AuditVerify> verify() const;
  Result<AuditHead> head() const;

 private:
  Store& store_;
};

}  // namespace tsubame::store
