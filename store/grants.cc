// store/grants.cc: support access grants in Db::kGrants (see store/grants.h).
//
// Layout: kGrants be64 id -> u8 version | u64 user | u8 status | i64 requested_ms |
//                            i64 approved_ms | i64 duration_ms | i64 expires_ms |
//                            str sealed(str agent | str reason | str approved_by)
// ids: meta counter "grant". Sealed with the system key, AAD location_aad("grants", key).
// Failure: a malformed record is Corruption; the call changes nothing.
#include "store/grants.h"

#include "common/bytes.h"
#include "common/crypto.h"
#include "store/audit.h"
#include "store/env.h"
#include "store/keyring.h"
#include "store/store.h"

namespace tsubame::store {
namespace {

constexpr uint8_t kGrantVersion = 1;

std::string encode(const Keyring& keys, const Grant& g) {
  std::string sealed =
      crypto::seal(keys.system_key(), ByteWriter().str(g.agent).str(g.reason).str(g.approved_by).take(),
                   location_aad("grants", be64(g.id)));
  return ByteWriter()
      .u8(kGrantVersion)
      .u64(g.user_id)
      .u8(uint8_t(g.status))
      .i64(g.requested_ms)
      .i64(g.approved_ms)
      .i64(g.duration_ms)
      .i64(g.expires_ms)
      .str(sealed)
      .take();
}

Result<Grant> decode(const Keyring& keys, uint64_t id, std::string_view v) {
  auto bad = [&] { return Status::corruption("grant " + std::to_string(id) + " is malformed"); };
  Grant g;
  g.id = id;
  ByteReader r(v);
  uint8_t version, status;
  std::string_view sealed;
  if (!r.u8(version) || version != kGrantVersion || !r.u64(g.user_id) || !r.u8(status) ||
      status < 1 || status > 3 || !r.i64(g.requested_ms) || !r.i64(g.approved_ms) ||
      !r.i64(g.duration_ms) || !r.i64(g.expires_ms) || !r.str_view(sealed) || !r.done())
    return bad();
  g.status = GrantStatus(status);
  auto plain = crypto::open(keys.system_key(), sealed, location_aad("grants", be64(id)));
  if (!plain.is_ok()) return Status::corruption("grant " + std::to_string(id) + " does not open");
  ByteReader p(*plain);
  if (!p.str(g.agent) || !p.str(g.reason) || !p.str(g.approved_by) || !p.done()) return bad();
  return g;
}

Result<Grant> load(const Txn& txn, const Keyring& keys, uint64_t id) {
  std::string_view v;
  Status s = txn.get(Db::kGrants, be64(id), &v);
  if (s.code() == Code::kNotFound) return Status::not_found("grant " + std::to_string(id));
  TSUBAME_TRY(s);
  return decode(keys, id, v);
}

Status audit(Store& store, Txn& txn, std::string_view actor, std::string_view action,
             uint64_t user_id, std::string details) {
  return AuditLog(store).append(txn, actor, action, "user:" + std::to_string(user_id), std::move(details));
}

}  // namespace

const char* grant_status_name(GrantStatus s) {
  switch (s) {
    case GrantStatus::kRequested: return "requested";
    case GrantStatus::kApproved: return "approved";
    case GrantStatus::kRevoked: return "revoked";
  }
  return "unknown";
}

Result<uint64_t> Grants::request(uint64_t user_id, std::string_view agent, std::string_view reason,
                                 int64_t duration_ms, int64_t now_ms) {
  if (user_id == 0) return Status::invalid("grant: no user");
  if (agent.empty() || agent.size() > kMaxGrantText) return Status::invalid("grant: bad agent name");
  if (reason.empty() || reason.size() > kMaxGrantText)
    return Status::invalid("grant: a reason (the support case) is required");
  if (duration_ms <= 0 || duration_ms > kMaxGrantDurationMs)
    return Status::invalid("grant: duration must be positive and at most one week");
  uint64_t id = 0;
  Status s = store_.env().write([&](Txn& txn) -> Status {
    auto n = txn.next_id("grant");
    if (!n.is_ok()) return n.status();
    Grant g;
    g.id = id = *n;
    g.user_id = user_id;
    g.agent.assign(agent);
    g.reason.assign(reason);
    g.duration_ms = duration_ms;
    g.requested_ms = now_ms ? now_ms : unix_now_ms();
    TSUBAME_TRY(txn.insert(Db::kGrants, be64(g.id), encode(store_.keys(), g)));
    return audit(store_, txn, agent, "grant.request", user_id,
                 "grant=" + std::to_string(g.id) + " duration_ms=" + std::to_string(duration_ms) +
                     " reason=" + std::string(reason));
  });
  if (!s.is_ok()) return s;
  return id;
}

Status Grants::approve(uint64_t id, std::string_view approver, int64_t now_ms) {
  if (approver.empty() || approver.size() > kMaxGrantText) return Status::invalid("grant: bad approver");
  return store_.env().write([&](Txn& txn) -> Status {
    auto g = load(txn, store_.keys(), id);
    if (!g.is_ok()) return g.status();
    if (g->status != GrantStatus::kRequested)
      return Status::invalid("grant " + std::to_string(id) + " is " + grant_status_name(g->status));
    if (g->agent == approver) return Status::denied("a grant cannot be approved by its requester");
    g->status = GrantStatus::kApproved;
    g->approved_by.assign(approver);
    g->approved_ms = now_ms ? now_ms : unix_now_ms();
    g->expires_ms = g->approved_ms + g->duration_ms;
    TSUBAME_TRY(txn.put(Db::kGrants, be64(id), encode(store_.keys(), *g)));
    return audit(store_, txn, approver, "grant.approve", g->user_id,
                 "grant=" + std::to_string(id) + " agent=" + g->agent +
                     " expires_ms=" + std::to_string(g->expires_ms));
  });
}

Status Grants::revoke(uint64_t id, std::string_view actor) {
  if (actor.empty()) return Status::invalid("grant: revoking needs an actor");
  return store_.env().write([&](Txn& txn) -> Status {
    auto g = load(txn, store_.keys(), id);
    if (!g.is_ok()) return g.status();
    if (g->status == GrantStatus::kRevoked) return Status::ok();
    g->status = GrantStatus::kRevoked;
    TSUBAME_TRY(txn.put(Db::kGrants, be64(id), encode(store_.keys(), *g)));
    return audit(store_, txn, actor, "grant.revoke", g->user_id, "grant=" + std::to_string(id));
  });
}

Result<Grant> Grants::get(uint64_t id) const {
  Grant out;
  Status s = store_.env().read([&](const Txn& txn) -> Status {
    auto g = load(txn, store_.keys(), id);
    if (!g.is_ok()) return g.status();
    out = std::move(g.value());
    return Status::ok();
  });
  if (!s.is_ok()) return s;
  return out;
}

Result<std::vector<Grant>> Grants::list(uint64_t user_id, size_t limit) const {
  std::vector<Grant> out;
  Status s = store_.env().read([&](const Txn& txn) -> Status {
    Status inner;
    TSUBAME_TRY(txn.scan_back(Db::kGrants, "", std::string(8, '\xff'),
                              [&](std::string_view k, std::string_view v) {
      if (out.size() >= limit) return false;
      if (k.size() != 8) {
        inner = Status::corruption("grant key is malformed");
        return false;
      }
      auto g = decode(store_.keys(), get_be64(k.data()), v);
      if (!g.is_ok()) {
        inner = g.status();
        return false;
      }
      if (user_id == 0 || g->user_id == user_id) out.push_back(std::move(g.value()));
      return true;
    }));
    return inner;
  });
  if (!s.is_ok()) return s;
  return out;
}

Status Grants::access(uint64_t user_id, std::string_view agent, std::string_view what,
                      int64_t now_ms) {
  if (agent.empty() || agent.size() > kMaxGrantText || what.size() > kMaxGrantText)
    return Status::invalid("grant: bad access request");
  int64_t now = now_ms ? now_ms : unix_now_ms();
  uint64_t used = 0;
  Status s = store_.env().write([&](Txn& txn) -> Status {
    used = 0;
    Status inner;
    TSUBAME_TRY(txn.scan_back(Db::kGrants, "", std::string(8, '\xff'),
                              [&](std::string_view k, std::string_view v) {
      if (k.size() != 8) return true;
      auto g = decode(store_.keys(), get_be64(k.data()), v);
      if (!g.is_ok()) {
        inner = g.status();
        return false;
      }
      if (g->user_id == user_id && g->agent == agent && g->active(now)) {
        used = g->id;
        return false;
      }
      return true;
    }));
    TSUBAME_TRY(inner);
    if (used == 0) return Status::ok();  // the denial is recorded below, in its own commit
    return audit(store_, txn, agent, "grant.access", user_id,
                 "grant=" + std::to_string(used) + " what=" + std::string(what));
  });
  if (!s.is_ok()) return s;
  if (used != 0) return Status::ok();
  Status d = store_.env().write([&](Txn& txn) {
    return audit(store_, txn, agent, "grant.denied", user_id, "what=" + std::string(what));
  });
  if (!d.is_ok()) return d;
  return Status::denied("no active support grant for " + std::string(agent) + " on user " +
                        std::to_string(user_id));
}

}  // namespace tsubame::store
