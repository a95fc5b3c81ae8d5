// store/trace.cc: message trace records (Db::kTrace, Db::kTraceIds) and queue ids.
//
// Layout: kTrace    be64 time_ms | be64 seq | queue id -> sealed(trace record)
//         kTraceIds u8 len | queue id | be64 time_ms | be64 seq -> "" (lookup by queue id)
// Sealed with the system key, AAD location_aad("trace", kTrace key). seq: meta counter "trace".
// Failure: a malformed record is Corruption; queries stop at the first one.
#include "store/trace.h"

#include <bit>

#include "common/bytes.h"
#include "common/crypto.h"
#include "store/env.h"
#include "store/keyring.h"
#include "store/store.h"

namespace tsubame::store {
namespace {

constexpr uint8_t kTraceVersion = 1;
constexpr std::string_view kQueueIdCounter = "queue_id";
// Crockford base32: digits then letters without I, L, O, U; ascending ASCII, so ids sort.
constexpr char kAlphabet[] = "0123456789ABCDEFGHJKMNPQRSTVWXYZ";

std::string trace_key(int64_t time_ms, uint64_t seq, std::string_view qid) {
  std::string k;
  put_be64(k, uint64_t(time_ms));
  put_be64(k, seq);
  k.append(qid);
  return k;
}

std::string id_prefix(std::string_view qid) {
  std::string k(1, char(qid.size()));
  k.append(qid);
  return k;
}

std::string encode(const TraceRecord& r) {
  ByteWriter w;
  w.u8(kTraceVersion).u8(uint8_t(r.direction)).str(r.sender).varint(r.recipients.size());
  for (auto& x : r.recipients) w.str(x);
  w.u64(r.size).str(r.action).u64(std::bit_cast<uint64_t>(r.score)).varint(r.rule_ids.size());
  for (auto& x : r.rule_ids) w.str(x);
  w.u8(uint8_t(r.status)).str(r.remote_host).str(r.error);
  return w.take();
}

Result<TraceRecord> decode(const Keyring& keys, std::string_view key, std::string_view v) {
  if (key.size() < 17) return Status::corruption("trace key is malformed");
  auto plain = crypto::open(keys.system_key(), v, location_aad("trace", key));
  if (!plain.is_ok()) return Status::corruption("trace record does not open");
  TraceRecord r;
  r.time_ms = int64_t(get_be64(key.data()));
  r.seq = get_be64(key.data() + 8);
  r.queue_id.assign(key.substr(16));
  ByteReader in(*plain);
  uint8_t version, dir, status;
  uint64_t n, score;
  auto bad = [] { return Status::corruption("trace record is malformed"); };
  if (!in.u8(version) || version != kTraceVersion || !in.u8(dir) || !in.str(r.sender) ||
      !in.varint(n) || n > kMaxTraceRecipients)
    return bad();
  r.direction = TraceDirection(dir);
  r.recipients.resize(n);
  for (auto& x : r.recipients)
    if (!in.str(x)) return bad();
  if (!in.u64(r.size) || !in.str(r.action) || !in.u64(score) || !in.varint(n) ||
      n > in.remaining())
    return bad();
  r.score = std::bit_cast<double>(score);
  r.rule_ids.resize(n);
  for (auto& x : r.rule_ids)
    if (!in.str(x)) return bad();
  if (!in.u8(status) || !in.str(r.remote_host) || !in.str(r.error) || !in.done()) return bad();
  r.status = TraceStatus(status);
  return r;
}

Status validate(const TraceRecord& r) {
  if (r.queue_id.empty() || r.queue_id.size() > kMaxTraceQueueId)
    return Status::invalid("trace: queue id must be 1 to 64 bytes");
  if (r.recipients.size() > kMaxTraceRecipients) return Status::invalid("trace: too many recipients");
  if (r.sender.size() > kMaxTraceText || r.remote_host.size() > kMaxTraceText ||
      r.error.size() > kMaxTraceText || r.action.size() > kMaxTraceText)
    return Status::invalid("trace: field too long");
  for (auto& x : r.recipients)
    if (x.size() > kMaxTraceText) return Status::invalid("trace: recipient too long");
  return Status::ok();
}

// Case-insensitive address match, or a domain match for "@domain".
bool address_matches(std::string_view address, std::string_view pattern) {
  if (pattern.empty()) return true;
  if (pattern[0] == '@')
    return address.size() >= pattern.size() &&
           iequals(address.substr(address.size() - pattern.size()), pattern);
  return iequals(address, pattern);
}

bool matches(const TraceRecord& r, const TraceQuery& q) {
  if (q.status && r.status != *q.status) return false;
  if (q.direction && r.direction != *q.direction) return false;
  if (!q.action.empty() && r.action != q.action) return false;
  if (!q.sender.empty() && !address_matches(r.sender, q.sender)) return false;
  if (!q.recipient.empty()) {
    bool any = false;
    for (auto& x : r.recipients) any = any || address_matches(x, q.recipient);
    if (!any) return false;
  }
  return true;
}

}  // namespace

const char* trace_direction_name(TraceDirection d) { return d == TraceDirection::kIn ? "in" : "out"; }

const char* trace_status_name(TraceStatus s) {
  switch (s) {
    case TraceStatus::kReceived: return "received";
    case TraceStatus::kDelivered: return "delivered";
    case TraceStatus::kJunk: return "junk";
    case TraceStatus::kRejected: return "rejected";
    case TraceStatus::kQueued: return "queued";
    case TraceStatus::kBounced: return "bounced";
    case TraceStatus::kHeld: return "held";
    case TraceStatus::kDeferred: return "deferred";
  }
  return "unknown";
}

std::optional<TraceStatus> parse_trace_status(std::string_view name) {
  for (int i = 1; i <= 8; i++)
    if (iequals(name, trace_status_name(TraceStatus(i)))) return TraceStatus(i);
  return std::nullopt;
}

std::string format_queue_id(int64_t time_ms, uint64_t counter) {
  std::string id(kQueueIdLength, '0');
  uint64_t t = uint64_t(time_ms) & ((1ull << 50) - 1);
  for (int i = 9; i >= 0; i--, t >>= 5) id[i] = kAlphabet[t & 31];
  uint64_t c = counter & ((1ull << 40) - 1);
  for (int i = 17; i >= 10; i--, c >>= 5) id[i] = kAlphabet[c & 31];
  return id;
}

Result<std::string> new_queue_id(Txn& txn, int64_t now_ms) {
  auto n = txn.next_id(kQueueIdCounter);
  if (!n.is_ok()) return n.status();
  return format_queue_id(now_ms ? now_ms : unix_now_ms(), *n);
}

Result<std::string> QueueIdGenerator::next(int64_t now_ms) {
  std::lock_guard lk(mu_);
  if (next_ == end_) {
    uint64_t first = 0;
    Status s = store_.env().write([&](Txn& txn) -> Status {
      // The same counter record Txn::next_id keeps: reserve block_ values at once.
      std::string key = "counter:" + std::string(kQueueIdCounter);
      std::string_view v;
      uint64_t cur = 0;
      Status g = txn.get(Db::kMeta, key, &v);
      if (g.is_ok()) {
        if (v.size() != 8) return Status::corruption("queue id counter is malformed");
        cur = get_be64(v.data());
      } else if (g.code() != Code::kNotFound) {
        return g;
      }
      first = cur + 1;
      return txn.put(Db::kMeta, key, be64(cur + block_));
    });
    if (!s.is_ok()) return s;
    next_ = first;
    end_ = first + block_;
  }
  return format_queue_id(now_ms ? now_ms : unix_now_ms(), next_++);
}

Status Trace::add(Txn& txn, const TraceRecord& in) {
  TSUBAME_TRY(validate(in));
  int64_t time_ms = in.time_ms ? in.time_ms : unix_now_ms();
  if (time_ms < 0) return Status::invalid("trace: negative time");
  auto seq = txn.next_id("trace");
  if (!seq.is_ok()) return seq.status();
  std::string key = trace_key(time_ms, *seq, in.queue_id);
  std::string sealed = crypto::seal(store_.keys().system_key(), encode(in), location_aad("trace", key));
  TSUBAME_TRY(txn.insert(Db::kTrace, key, sealed));
  std::string idx = id_prefix(in.queue_id);
  put_be64(idx, uint64_t(time_ms));
  put_be64(idx, *seq);
  return txn.insert(Db::kTraceIds, idx, "");
}

Status Trace::add(const TraceRecord& record) {
  return store_.env().write([&](Txn& txn) { return add(txn, record); });
}

Result<std::vector<TraceRecord>> Trace::by_queue_id(std::string_view queue_id) const {
  std::vector<TraceRecord> out;
  if (queue_id.empty() || queue_id.size() > kMaxTraceQueueId) return out;
  const Keyring& keys = store_.keys();
  Status s = store_.env().read([&](const Txn& txn) -> Status {
    std::string prefix = id_prefix(queue_id);
    Status inner;
    TSUBAME_TRY(txn.scan(Db::kTraceIds, prefix, prefix, [&](std::string_view k, std::string_view) {
      if (k.size() != prefix.size() + 16) {
        inner = Status::corruption("trace index entry is malformed");
        return false;
      }
      std::string key(k.substr(prefix.size()));
      key.append(queue_id);
      std::string_view v;
      inner = txn.get(Db::kTrace, key, &v);
      if (!inner.is_ok()) {
        inner = Status::corruption("trace index points to a missing record");
        return false;
      }
      auto r = decode(keys, key, v);
      if (!r.is_ok()) {
        inner = r.status();
        return false;
      }
      out.push_back(std::move(r.value()));
      return true;
    }));
    return inner;
  });
  if (!s.is_ok()) return s;
  return out;
}

Result<std::vector<TraceRecord>> Trace::query(const TraceQuery& q) const {
  std::vector<TraceRecord> out;
  if (q.until_ms <= q.since_ms || q.until_ms <= 0) return out;
  const Keyring& keys = store_.keys();
  Status s = store_.env().read([&](const Txn& txn) -> Status {
    Status inner;
    std::string from = be64(uint64_t(q.until_ms - 1)) + std::string(9, '\xff');
    TSUBAME_TRY(txn.scan_back(Db::kTrace, "", from, [&](std::string_view k, std::string_view v) {
      if (out.size() >= q.limit) return false;
      if (k.size() < 17) {
        inner = Status::corruption("trace key is malformed");
        return false;
      }
      if (int64_t(get_be64(k.data())) < q.since_ms) return false;
      auto r = decode(keys, k, v);
      if (!r.is_ok()) {
        inner = r.status();
        return false;
      }
      if (matches(*r, q)) out.push_back(std::move(r.value()));
      return true;
    }));
    return inner;
  });
  if (!s.is_ok()) return s;
  return out;
}

Result<uint64_t> Trace::prune_older_than(int64_t cutoff_ms) {
  uint64_t n = 0;
  Status s = store_.env().write([&](Txn& txn) -> Status {
    n = 0;
    std::vector<std::string> victims;
    Status inner;
    TSUBAME_TRY(txn.scan(Db::kTrace, "", "", [&](std::string_view k, std::string_view) {
      if (k.size() < 17) {
        inner = Status::corruption("trace key is malformed");
        return false;
      }
      if (int64_t(get_be64(k.data())) >= cutoff_ms) return false;
      victims.emplace_back(k);
      return true;
    }));
    TSUBAME_TRY(inner);
    for (auto& key : victims) {
      TSUBAME_TRY(txn.del(Db::kTrace, key));
      std::string idx = id_prefix(std::string_view(key).substr(16));
      idx.append(key.substr(0, 16));
      Status d = txn.del(Db::kTraceIds, idx);
      if (!d.is_ok() && d.code() != Code::kNotFound) return d;
      n++;
    }
    return Status::ok();
  });
  if (!s.is_ok()) return s;
  return n;
}

}  // namespace tsubame::store
