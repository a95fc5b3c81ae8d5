// store/queue.cc: outbound queue records in Db::kQueue (see store/queue.h).
//
// Layout: kQueue queue id -> u8 version | i64 created_ms | i64 next_attempt_ms | u32 attempts |
//                            u8 held | u64 size | str sealed(meta) | str sealed(content)
//   meta = sender, recipients (address, status, last error, remote host, NOTIFY, ORCPT,
//          updated), ENVID, RET, hold reason, hold rule ids
// Sealed with the system key; AAD location_aad("queue", id) for meta and
// location_aad("queue.content", id) for content. Scheduling fields stay plain so due() reads
// no ciphertext except the meta of due entries.
// Failure: a malformed record is Corruption; the call changes nothing.
#include "store/queue.h"

#include <algorithm>

#include "common/bytes.h"
#include "common/crypto.h"
#include "store/audit.h"
#include "store/env.h"
#include "store/keyring.h"
#include "store/store.h"
#include "store/trace.h"

namespace tsubame::store {
namespace {

constexpr uint8_t kQueueVersion = 1;

struct Header {
  int64_t created = 0, next_attempt = 0;
  uint32_t attempts = 0;
  uint8_t held = 0;
  uint64_t size = 0;
  std::string_view sealed_meta, sealed_content;
};

bool decode_header(std::string_view v, Header* h) {
  ByteReader r(v);
  uint8_t version;
  return r.u8(version) && version == kQueueVersion && r.i64(h->created) &&
         r.i64(h->next_attempt) && r.u32(h->attempts) && r.u8(h->held) && r.u64(h->size) &&
         r.str_view(h->sealed_meta) && r.str_view(h->sealed_content) && r.done();
}

std::string encode_record(const QueueEntry& e, std::string_view sealed_meta,
                          std::string_view sealed_content) {
  return ByteWriter()
      .u8(kQueueVersion)
      .i64(e.created_ms)
      .i64(e.next_attempt_ms)
      .u32(e.attempts)
      .u8(e.held ? 1 : 0)
      .u64(e.size)
      .str(sealed_meta)
      .str(sealed_content)
      .take();
}

std::string encode_meta(const QueueEntry& e) {
  ByteWriter w;
  w.str(e.sender).varint(e.recipients.size());
  for (auto& r : e.recipients)
    w.str(r.address).u8(uint8_t(r.status)).str(r.last_error).str(r.remote_host).str(r.notify)
        .str(r.orcpt).i64(r.updated_ms);
  w.str(e.envid).str(e.ret).str(e.hold_reason).varint(e.hold_rules.size());
  for (auto& x : e.hold_rules) w.str(x);
  return w.take();
}

std::string seal_meta(const Keyring& keys, const QueueEntry& e) {
  return crypto::seal(keys.system_key(), encode_meta(e), location_aad("queue", e.id));
}

Result<QueueEntry> decode_entry(const Keyring& keys, std::string_view id, std::string_view v,
                                bool with_content) {
  auto bad = [&] { return Status::corruption("queue entry " + std::string(id) + " is malformed"); };
  Header h;
  if (!decode_header(v, &h)) return bad();
  QueueEntry e;
  e.id.assign(id);
  e.created_ms = h.created;
  e.next_attempt_ms = h.next_attempt;
  e.attempts = h.attempts;
  e.held = h.held != 0;
  e.size = h.size;
  auto meta = crypto::open(keys.system_key(), h.sealed_meta, location_aad("queue", id));
  if (!meta.is_ok()) return Status::corruption("queue entry " + std::string(id) + " does not open");
  ByteReader r(*meta);
  uint64_t n;
  if (!r.str(e.sender) || !r.varint(n) || n > kMaxQueueRecipients) return bad();
  e.recipients.resize(n);
  for (auto& x : e.recipients) {
    uint8_t st;
    if (!r.str(x.address) || !r.u8(st) || !r.str(x.last_error) || !r.str(x.remote_host) ||
        !r.str(x.notify) || !r.str(x.orcpt) || !r.i64(x.updated_ms))
      return bad();
    x.status = RecipientStatus(st);
  }
  if (!r.str(e.envid) || !r.str(e.ret) || !r.str(e.hold_reason) || !r.varint(n) ||
      n > r.remaining())
    return bad();
  e.hold_rules.resize(n);
  for (auto& x : e.hold_rules)
    if (!r.str(x)) return bad();
  if (!r.done()) return bad();
  if (with_content) {
    auto c = crypto::open(keys.system_key(), h.sealed_content, location_aad("queue.content", id));
    if (!c.is_ok())
      return Status::corruption("queue content of " + std::string(id) + " does not open");
    e.content = std::move(c.value());
  }
  return e;
}

Status validate(const QueueEntry& e) {
  if (e.id.size() > kMaxTraceQueueId) return Status::invalid("queue: id too long");
  if (e.recipients.empty()) return Status::invalid("queue: no recipients");
  if (e.recipients.size() > kMaxQueueRecipients) return Status::invalid("queue: too many recipients");
  if (e.content.size() > kMaxQueueMessage) return Status::full("queue: message too large");
  auto long_text = [](const std::string& s) { return s.size() > kMaxQueueText; };
  if (long_text(e.sender) || long_text(e.envid) || long_text(e.ret) || long_text(e.hold_reason))
    return Status::invalid("queue: field too long");
  for (auto& r : e.recipients) {
    if (r.address.empty()) return Status::invalid("queue: empty recipient");
    if (long_text(r.address) || long_text(r.last_error) || long_text(r.remote_host) ||
        long_text(r.notify) || long_text(r.orcpt))
      return Status::invalid("queue: recipient field too long");
  }
  return Status::ok();
}

Status audit(Store& store, Txn& txn, std::string_view actor, std::string_view action,
             std::string_view id, std::string details) {
  return AuditLog(store).append(txn, actor, action, "queue:" + std::string(id), std::move(details));
}

std::string join(const std::vector<std::string>& v) {
  std::string out;
  for (auto& x : v) out += (out.empty() ? "" : ",") + x;
  return out;
}

}  // namespace

const char* recipient_status_name(RecipientStatus s) {
  switch (s) {
    case RecipientStatus::kPending: return "pending";
    case RecipientStatus::kDelivered: return "delivered";
    case RecipientStatus::kFailed: return "failed";
  }
  return "unknown";
}

Status OutboundQueue::enqueue(Txn& txn, QueueEntry& e) {
  TSUBAME_TRY(validate(e));
  int64_t now = unix_now_ms();
  if (e.id.empty()) {
    auto id = new_queue_id(txn, now);
    if (!id.is_ok()) return id.status();
    e.id = *id;
  }
  if (e.created_ms == 0) e.created_ms = now;
  if (e.next_attempt_ms == 0) e.next_attempt_ms = e.created_ms;
  e.size = e.content.size();
  const Keyring& keys = store_.keys();
  std::string content =
      crypto::seal(keys.system_key(), e.content, location_aad("queue.content", e.id));
  TSUBAME_TRY(txn.insert(Db::kQueue, e.id, encode_record(e, seal_meta(keys, e), content)));
  if (e.held)
    TSUBAME_TRY(audit(store_, txn, "policy", "queue.hold", e.id,
                      "reason=" + e.hold_reason + " rules=" + join(e.hold_rules)));
  return Status::ok();
}

Status OutboundQueue::enqueue(QueueEntry& entry) {
  QueueEntry copy;
  Status s = store_.env().write([&](Txn& txn) {
    copy = entry;  // a retried write starts from the caller's entry again
    return enqueue(txn, copy);
  });
  if (s.is_ok()) entry = std::move(copy);
  return s;
}

Result<std::vector<QueueEntry>> OutboundQueue::due(int64_t now_ms, size_t limit) const {
  std::vector<std::pair<int64_t, QueueEntry>> found;
  const Keyring& keys = store_.keys();
  Status s = store_.env().read([&](const Txn& txn) -> Status {
    Status inner;
    std::vector<std::pair<int64_t, std::string>> ids;
    TSUBAME_TRY(txn.scan(Db::kQueue, "", "", [&](std::string_view k, std::string_view v) {
      Header h;
      if (!decode_header(v, &h)) {
        inner = Status::corruption("queue entry " + std::string(k) + " is malformed");
        return false;
      }
      if (!h.held && h.next_attempt <= now_ms) ids.emplace_back(h.next_attempt, std::string(k));
      return true;
    }));
    TSUBAME_TRY(inner);
    std::sort(ids.begin(), ids.end());
    if (ids.size() > limit) ids.resize(limit);
    for (auto& [when, id] : ids) {
      std::string_view v;
      TSUBAME_TRY(txn.get(Db::kQueue, id, &v));
      auto e = decode_entry(keys, id, v, false);
      if (!e.is_ok()) return e.status();
      found.emplace_back(when, std::move(e.value()));
    }
    return Status::ok();
  });
  if (!s.is_ok()) return s;
  std::vector<QueueEntry> out;
  for (auto& f : found) out.push_back(std::move(f.second));
  return out;
}

Result<QueueEntry> OutboundQueue::get(std::string_view id, bool with_content) const {
  QueueEntry out;
  Status s = store_.env().read([&](const Txn& txn) -> Status {
    std::string_view v;
    Status g = txn.get(Db::kQueue, id, &v);
    if (g.code() == Code::kNotFound) return Status::not_found("queue entry " + std::string(id));
    TSUBAME_TRY(g);
    auto e = decode_entry(store_.keys(), id, v, with_content);
    if (!e.is_ok()) return e.status();
    out = std::move(e.value());
    return Status::ok();
  });
  if (!s.is_ok()) return s;
  return out;
}

Status OutboundQueue::update(const QueueEntry& in) {
  if (in.recipients.empty() || in.recipients.size() > kMaxQueueRecipients)
    return Status::invalid("queue: bad recipient count");
  for (auto& r : in.recipients)
    if (r.address.empty() || r.address.size() > kMaxQueueText || r.last_error.size() > kMaxQueueText ||
        r.remote_host.size() > kMaxQueueText || r.notify.size() > kMaxQueueText ||
        r.orcpt.size() > kMaxQueueText)
      return Status::invalid("queue: recipient field too long");
  const Keyring& keys = store_.keys();
  return store_.env().write([&](Txn& txn) -> Status {
    std::string_view v;
    Status g = txn.get(Db::kQueue, in.id, &v);
    if (g.code() == Code::kNotFound) return Status::not_found("queue entry " + in.id);
    TSUBAME_TRY(g);
    auto cur = decode_entry(keys, in.id, v, false);
    if (!cur.is_ok()) return cur.status();
    Header h;
    decode_header(v, &h);
    std::string content(h.sealed_content);  // v dies with the put below
    QueueEntry e = std::move(cur.value());
    e.recipients = in.recipients;
    e.attempts = in.attempts;
    e.next_attempt_ms = in.next_attempt_ms;
    return txn.put(Db::kQueue, e.id, encode_record(e, seal_meta(keys, e), content));
  });
}

Status OutboundQueue::hold(std::string_view id, std::string_view reason,
                           const std::vector<std::string>& rules, std::string_view actor) {
  if (reason.size() > kMaxQueueText) return Status::invalid("queue: hold reason too long");
  const Keyring& keys = store_.keys();
  return store_.env().write([&](Txn& txn) -> Status {
    std::string_view v;
    Status g = txn.get(Db::kQueue, id, &v);
    if (g.code() == Code::kNotFound) return Status::not_found("queue entry " + std::string(id));
    TSUBAME_TRY(g);
    auto cur = decode_entry(keys, id, v, false);
    if (!cur.is_ok()) return cur.status();
    Header h;
    decode_header(v, &h);
    std::string content(h.sealed_content);
    QueueEntry e = std::move(cur.value());
    e.held = true;
    e.hold_reason.assign(reason);
    e.hold_rules = rules;
    TSUBAME_TRY(txn.put(Db::kQueue, e.id, encode_record(e, seal_meta(keys, e), content)));
    return audit(store_, txn, actor, "queue.hold", id,
                 "reason=" + std::string(reason) + " rules=" + join(rules));
  });
}

Status OutboundQueue::release(std::string_view id, std::string_view actor) {
  const Keyring& keys = store_.keys();
  return store_.env().write([&](Txn& txn) -> Status {
    std::string_view v;
    Status g = txn.get(Db::kQueue, id, &v);
    if (g.code() == Code::kNotFound) return Status::not_found("queue entry " + std::string(id));
    TSUBAME_TRY(g);
    auto cur = decode_entry(keys, id, v, false);
    if (!cur.is_ok()) return cur.status();
    if (!cur->held) return Status::invalid("queue entry " + std::string(id) + " is not held");
    Header h;
    decode_header(v, &h);
    std::string content(h.sealed_content);
    QueueEntry e = std::move(cur.value());
    std::string details = "reason=" + e.hold_reason + " rules=" + join(e.hold_rules);
    e.held = false;
    e.hold_reason.clear();
    e.hold_rules.clear();
    e.next_attempt_ms = unix_now_ms();
    TSUBAME_TRY(txn.put(Db::kQueue, e.id, encode_record(e, seal_meta(keys, e), content)));
    return audit(store_, txn, actor, "queue.release", id, details);
  });
}

Result<uint64_t> OutboundQueue::flush(int64_t now_ms, std::string_view actor) {
  const Keyring& keys = store_.keys();
  uint64_t moved = 0;
  Status s = store_.env().write([&](Txn& txn) -> Status {
    moved = 0;  // the callback may run again after the map grew
    std::vector<std::string> ids;
    Status inner;
    TSUBAME_TRY(txn.scan(Db::kQueue, "", "", [&](std::string_view k, std::string_view v) {
      Header h;
      if (!decode_header(v, &h)) {
        inner = Status::corruption("queue entry " + std::string(k) + " is malformed");
        return false;
      }
      if (!h.held) ids.emplace_back(k);
      return true;
    }));
    TSUBAME_TRY(inner);
    for (const auto& id : ids) {  // collected first: no writes under a running scan
      std::string_view v;
      TSUBAME_TRY(txn.get(Db::kQueue, id, &v));
      auto cur = decode_entry(keys, id, v, false);
      if (!cur.is_ok()) return cur.status();
      if (cur->next_attempt_ms <= now_ms) continue;
      Header h;
      decode_header(v, &h);
      std::string content(h.sealed_content);  // v dies with the put below
      QueueEntry e = std::move(cur.value());
      e.next_attempt_ms = now_ms;
      TSUBAME_TRY(txn.put(Db::kQueue, e.id, encode_record(e, seal_meta(keys, e), content)));
      moved++;
    }
    // Target "queue" (the whole queue, as the CLI recorded it before), not "queue:<id>".
    return AuditLog(store_).append(txn, actor, "queue.flush", "queue", "entries=" + std::to_string(moved));
  });
  if (!s.is_ok()) return s;
  return moved;
}

Status OutboundQueue::remove(std::string_view id, std::string_view actor) {
  return store_.env().write([&](Txn& txn) -> Status {
    Status d = txn.del(Db::kQueue, id);
    if (d.code() == Code::kNotFound) return Status::not_found("queue entry " + std::string(id));
    TSUBAME_TRY(d);
    if (actor.empty()) return Status::ok();
    return audit(store_, txn, actor, "queue.remove", id, "");
  });
}

Result<std::vector<QueueEntry>> OutboundQueue::list(const QueueFilter& f) const {
  std::vector<QueueEntry> out;
  const Keyring& keys = store_.keys();
  Status s = store_.env().read([&](const Txn& txn) -> Status {
    Status inner;
    TSUBAME_TRY(txn.scan(Db::kQueue, "", "", [&](std::string_view k, std::string_view v) {
      if (out.size() >= f.limit) return false;
      Header h;
      if (!decode_header(v, &h)) {
        inner = Status::corruption("queue entry " + std::string(k) + " is malformed");
        return false;
      }
      if (f.held_only && !h.held) return true;
      auto e = decode_entry(keys, k, v, false);
      if (!e.is_ok()) {
        inner = e.status();
        return false;
      }
      out.push_back(std::move(e.value()));
      return true;
    }));
    return inner;
  });
  if (!s.is_ok()) return s;
  return out;
}

}  // namespace tsubame::store
