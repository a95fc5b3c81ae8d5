// store/trace.h: message trace records for postmaster monitoring ("why was this rejected?"),
// and the queue-id generator every message is named by.
//
// A trace record is metadata only: queue id, time, direction, sender, recipients, size, the
// filter's action, score and rule ids, the status, remote host and error text. NEVER a body.
// Sender, recipients, host and error are personal metadata and are sealed with the system key;
// the queue id and time stay in the key so retention pruning needs no key. One message
// usually has several records (received, then delivered / queued / bounced ...).
//
// Queue ids: 18 characters of Crockford base32, upper case: 10 for the milliseconds since the
// epoch and 8 for a store-wide counter (Db::kMeta "counter:queue_id"), so ids sort by time and
// are unique across processes sharing the store. QueueIdGenerator reserves counter blocks so
// that naming a message does not cost a durable write each time.
//
// Thread-safety: Trace and new_queue_id may be used from any thread; QueueIdGenerator is
// internally locked. Failure: errors are Status values; a failed add() records nothing.
#pragma once

#include <cstdint>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "common/result.h"

namespace tsubame::store {

class Store;
class Txn;

inline constexpr size_t kQueueIdLength = 18;
inline constexpr size_t kMaxTraceQueueId = 64;       // ids from elsewhere (e.g. tests, imports)
inline constexpr size_t kMaxTraceRecipients = 1000;
inline constexpr size_t kMaxTraceText = 4096;        // error text, remote host, one address

enum class TraceDirection : uint8_t { kIn = 1, kOut = 2 };
enum class TraceStatus : uint8_t {
  kReceived = 1,   // accepted, filter not yet decided
  kDelivered = 2,  // in the recipient's mailbox, or accepted by the remote host
  kJunk = 3,       // delivered to Junk
  kRejected = 4,   // refused during the SMTP session
  kQueued = 5,     // waiting in the outbound queue (first attempt or deferred)
  kBounced = 6,    // permanent failure, DSN sent
  kHeld = 7,       // held by policy (data-loss rule hits) until released
  kDeferred = 8,   // temporary failure, will retry
};
const char* trace_direction_name(TraceDirection d);  // "in", "out"
const char* trace_status_name(TraceStatus s);        // "delivered", "junk", ...
std::optional<TraceStatus> parse_trace_status(std::string_view name);

struct TraceRecord {
  std::string queue_id;
  int64_t time_ms = 0;                  // 0 = now (set on add)
  TraceDirection direction = TraceDirection::kIn;
  std::string sender;                   // reverse-path, "" for the null sender
  std::vector<std::string> recipients;
  uint64_t size = 0;
  std::string action;                   // the verdict's action: "accept", "junk", "reject" ...
  double score = 0;
  std::vector<std::string> rule_ids;    // the rules that fired
  TraceStatus status = TraceStatus::kReceived;
  std::string remote_host;              // client (in) or MX host (out)
  std::string error;                    // the reply text of a failure
  uint64_t seq = 0;                     // set by the store
};

struct TraceQuery {
  int64_t since_ms = 0;                 // inclusive
  int64_t until_ms = INT64_MAX;         // exclusive
  std::string sender;                   // address (case-insensitive) or "@domain"
  std::string recipient;                // address (case-insensitive) or "@domain"
  std::string action;                   // exact
  std::optional<TraceStatus> status;
  std::optional<TraceDirection> direction;
  size_t limit = 1000;                  // newest first
};

class Trace {
 public:
  explicit Trace(Store& store) : store_(store) {}
  Status add(const TraceRecord& record);
  Status add(Txn& txn, const TraceRecord& record);  // inside the delivery's transaction
  // Every record of one message, oldest first.
  Result<std::vector<TraceRecord>> by_queue_id(std::string_view queue_id) const;
  Result<std::vector<TraceRecord>> query(const TraceQuery& q) const;
  // Retention: removes records older than cutoff; returns how many.
  Result<uint64_t> prune_older_than(int64_t cutoff_ms);

 private:
  Store& store_;
};

// A new queue id, using the caller's write transaction for the counter.
Result<std::string> new_queue_id(Txn& txn, int64_t now_ms = 0);
// The queue id for (time, counter); exposed for tests and tools.
std::string format_queue_id(int64_t time_ms, uint64_t counter);

// Hands out queue ids from counter blocks reserved in one write transaction each.
class QueueIdGenerator {
 public:
  explicit QueueIdGenerator(Store& store, uint32_t block = 256) : store_(store), block_(block) {}
  Result<std::string> next(int64_t now_ms = 0);

 private:
  Store& store_;
  const uint32_t block_;
  std::mutex mu_;
  uint64_t next_ = 0, end_ = 0;  // reserved counters [next_, end_)
};

}  // namespace tsubame::store
