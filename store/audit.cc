// store/audit.cc: the hash-chained audit log in Db::kAudit (see store/audit.h).
//
// Layout: kAudit  be64 seq -> u8 version | u64 seq | i64 time_ms | str action |
//                             str sealed(str actor | str target | str details) | mac(32)
//         kMeta   "audit:head" -> be64 seq | mac(32)
// The MAC covers every byte before it (the "canonical bytes"), chained to the previous MAC.
// The sealed part uses the system key with AAD location_aad("audit", be64 seq).
// Failure: append() fails as a whole (no record, no head change); list() fails with
// Corruption on a record that does not decode or open; verify() never fails on tampering,
// it reports it.
#include "store/audit.h"

#include "common/bytes.h"
#include "common/crypto.h"
#include "store/env.h"
#include "store/keyring.h"
#include "store/store.h"

namespace tsubame::store {
namespace {

constexpr uint8_t kAuditVersion = 1;
constexpr size_t kMacSize = 32;
constexpr std::string_view kHeadKey = "audit:head";

struct Decoded {
  uint64_t seq = 0;
  int64_t time_ms = 0;
  std::string_view action, sealed, canonical, mac;
};

bool decode(std::string_view v, Decoded* d) {
  if (v.size() < kMacSize + 1) return false;
  d->canonical = v.substr(0, v.size() - kMacSize);
  d->mac = v.substr(v.size() - kMacSize);
  ByteReader r(d->canonical);
  uint8_t version;
  if (!r.u8(version) || version != kAuditVersion) return false;
  return r.u64(d->seq) && r.i64(d->time_ms) && r.str_view(d->action) && r.str_view(d->sealed) &&
         r.done();
}

std::string chain_mac(const Keyring& keys, std::string_view prev_mac, std::string_view canonical) {
  std::string msg(prev_mac);
  msg.append(canonical);
  return crypto::hmac_sha256(keys.audit_key(), msg);
}

struct Head {
  uint64_t seq = 0;
  std::string mac = std::string(kMacSize, '\0');
  bool present = false;
};

Result<Head> read_head(const Txn& txn) {
  Head h;
  std::string_view v;
  Status s = txn.get(Db::kMeta, kHeadKey, &v);
  if (s.code() == Code::kNotFound) return h;
  TSUBAME_TRY(s);
  if (v.size() != 8 + kMacSize) return Status::corruption("audit head has a bad size");
  h.seq = get_be64(v.data());
  h.mac.assign(v.substr(8));
  h.present = true;
  return h;
}

Result<AuditRecord> open_record(const Keyring& keys, const Decoded& d) {
  auto plain = crypto::open(keys.system_key(), d.sealed, location_aad("audit", be64(d.seq)));
  if (!plain.is_ok())
    return Status::corruption("audit record " + std::to_string(d.seq) + " does not open");
  AuditRecord rec;
  rec.seq = d.seq;
  rec.time_ms = d.time_ms;
  rec.action.assign(d.action);
  ByteReader r(*plain);
  if (!r.str(rec.actor) || !r.str(rec.target) || !r.str(rec.details) || !r.done())
    return Status::corruption("audit record " + std::to_string(d.seq) + " is malformed");
  return rec;
}

}  // namespace

Result<uint64_t> AuditLog::append(Txn& txn, const AuditEntry& e) {
  if (e.action.empty()) return Status::invalid("audit: empty action");
  if (e.actor.size() > kMaxAuditField || e.action.size() > kMaxAuditField ||
      e.target.size() > kMaxAuditField || e.details.size() > kMaxAuditDetails)
    return Status::invalid("audit: field too long");
  auto head = read_head(txn);
  if (!head.is_ok()) return head.status();
  uint64_t seq = head->seq + 1;
  const Keyring& keys = store_.keys();
  std::string payload = ByteWriter().str(e.actor).str(e.target).str(e.details).take();
  std::string sealed = crypto::seal(keys.system_key(), payload, location_aad("audit", be64(seq)));
  ByteWriter w;
  w.u8(kAuditVersion).u64(seq).i64(e.time_ms ? e.time_ms : unix_now_ms()).str(e.action).str(sealed);
  std::string mac = chain_mac(keys, head->mac, w.data());
  std::string head_value = be64(seq) + mac;
  w.raw(mac);
  TSUBAME_TRY(txn.insert(Db::kAudit, be64(seq), w.data()));
  TSUBAME_TRY(txn.put(Db::kMeta, kHeadKey, head_value));
  return seq;
}

Status AuditLog::append(Txn& txn, std::string_view actor, std::string_view action, std::string target,
                        std::string details) {
  AuditEntry a;
  a.actor = std::string(actor);
  a.action = std::string(action);
  a.target = std::move(target);
  a.details = std::move(details);
  return append(txn, a).status();
}

Result<uint64_t> AuditLog::append(const AuditEntry& entry) {
  uint64_t seq = 0;
  Status s = store_.env().write([&](Txn& txn) -> Status {
    auto r = append(txn, entry);
    if (!r.is_ok()) return r.status();
    seq = *r;
    return Status::ok();
  });
  if (!s.is_ok()) return s;
  return seq;
}

Result<std::vector<AuditRecord>> AuditLog::list(const AuditFilter& f) const {
  std::vector<AuditRecord> out;
  const Keyring& keys = store_.keys();
  Status s = store_.env().read([&](const Txn& txn) -> Status {
    Status inner;
    TSUBAME_TRY(txn.scan_back(Db::kAudit, "", std::string(8, '\xff'),
                              [&](std::string_view, std::string_view v) {
      if (out.size() >= f.limit) return false;
      Decoded d;
      if (!decode(v, &d)) {
        inner = Status::corruption("audit record is malformed");
        return false;
      }
      if (d.time_ms < f.since_ms || d.time_ms >= f.until_ms) return true;
      if (!f.action_prefix.empty() && d.action.substr(0, f.action_prefix.size()) != f.action_prefix)
        return true;
      auto rec = open_record(keys, d);
      if (!rec.is_ok()) {
        inner = rec.status();
        return false;
      }
      if (!f.actor.empty() && rec->actor != f.actor) return true;
      if (!f.target.empty() && rec->target != f.target) return true;
      out.push_back(std::move(rec.value()));
      return true;
    }));
    return inner;
  });
  if (!s.is_ok()) return s;
  return out;
}

Result<AuditVerify> AuditLog::verify() const {
  AuditVerify result;
  const Keyring& keys = store_.keys();
  Status s = store_.env().read([&](const Txn& txn) -> Status {
    auto head = read_head(txn);
    if (!head.is_ok()) return head.status();
    uint64_t expected = 1;
    std::string prev(kMacSize, '\0');
    auto fail = [&](uint64_t seq, std::string reason) {
      result.ok = false;
      result.bad_seq = seq;
      result.reason = std::move(reason);
      return false;
    };
    TSUBAME_TRY(txn.scan(Db::kAudit, "", "", [&](std::string_view k, std::string_view v) {
      if (k.size() != 8) return fail(expected, "a record with a malformed key is in the log");
      uint64_t seq = get_be64(k.data());
      if (seq != expected)
        return fail(expected, "record " + std::to_string(expected) +
                                  " was removed (the next record is " + std::to_string(seq) + ")");
      Decoded d;
      if (!decode(v, &d)) return fail(seq, "record " + std::to_string(seq) + " is malformed");
      if (d.seq != seq)
        return fail(seq, "record " + std::to_string(seq) + " holds record " +
                             std::to_string(d.seq) + " (records were reordered or moved)");
      if (!constant_time_equal(chain_mac(keys, prev, d.canonical), d.mac))
        return fail(seq, "record " + std::to_string(seq) +
                             " was changed, or the chain before it was broken (MAC mismatch)");
      prev.assign(d.mac);
      result.records++;
      expected++;
      return true;
    }));
    if (!result.ok) return Status::ok();
    uint64_t last = expected - 1;
    if (!head->present) {
      if (last > 0) {
        result.ok = false;
        result.bad_seq = last;
        result.reason = "the audit head is missing but the log has " + std::to_string(last) +
                        " records";
      }
      return Status::ok();
    }
    if (head->seq > last) {
      result.ok = false;
      result.bad_seq = last + 1;
      result.reason = "the log ends at record " + std::to_string(last) + " but the head says " +
                      std::to_string(head->seq) + " (records were removed from the tail)";
    } else if (head->seq < last) {
      result.ok = false;
      result.bad_seq = head->seq + 1;
      result.reason = "records after the head (" + std::to_string(head->seq) +
                      ") were added outside the audit log";
    } else if (!constant_time_equal(head->mac, prev)) {
      result.ok = false;
      result.bad_seq = last;
      result.reason = "the head does not match record " + std::to_string(last);
    }
    return Status::ok();
  });
  if (!s.is_ok()) return s;
  return result;
}

Result<AuditHead> AuditLog::head() const {
  AuditHead out;
  Status s = store_.env().read([&](const Txn& txn) -> Status {
    auto h = read_head(txn);
    if (!h.is_ok()) return h.status();
    out.seq = h->seq;
    out.mac_hex = to_hex(h->mac);
    return Status::ok();
  });
  if (!s.is_ok()) return s;
  return out;
}

}  // namespace tsubame::store
