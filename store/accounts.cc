// store/accounts.cc: login history (Db::kLogins) and lockout counters (Db::kLockout).
//
// Layout: kLogins  be64 user | be64 time_ms | be64 seq -> sealed(login record)
//                  be64 0xFFFF..FF | be64 time_ms | be64 seq -> be64 user   (global index)
//         kLockout be64 user -> u8 version | u32 failures | i64 window_start | i64 locked_until
// Sealed with the system key, AAD location_aad("logins", key). seq comes from the meta
// counter "login". User id 0xFFFFFFFFFFFFFFFF is reserved for the global index.
// Failure: a malformed record is Corruption; the whole call is then rolled back.
#include "store/accounts.h"

#include "common/bytes.h"
#include "common/config.h"
#include "common/crypto.h"
#include "store/audit.h"
#include "store/env.h"
#include "store/keyring.h"
#include "store/store.h"

namespace tsubame::store {
namespace {

constexpr uint8_t kLoginVersion = 1;
constexpr uint8_t kLockoutVersion = 1;
constexpr uint64_t kGlobalIndex = UINT64_MAX;

std::string login_key(uint64_t user, int64_t time_ms, uint64_t seq) {
  std::string k;
  put_be64(k, user);
  put_be64(k, uint64_t(time_ms));
  put_be64(k, seq);
  return k;
}

std::string encode_login(const LoginEvent& e) {
  return ByteWriter()
      .u8(kLoginVersion)
      .str(e.login)
      .u64(e.user_id)
      .str(e.source_ip)
      .str(e.client_id)
      .u8(uint8_t(e.protocol))
      .u8(uint8_t(e.result))
      .i64(e.time_ms)
      .take();
}

Result<LoginRecord> decode_login(const Keyring& keys, std::string_view key, std::string_view v) {
  auto plain = crypto::open(keys.system_key(), v, location_aad("logins", key));
  if (!plain.is_ok()) return Status::corruption("login record does not open");
  LoginRecord rec;
  rec.seq = get_be64(key.data() + 16);
  ByteReader r(*plain);
  uint8_t version, proto, result;
  if (!r.u8(version) || version != kLoginVersion || !r.str(rec.event.login) ||
      !r.u64(rec.event.user_id) || !r.str(rec.event.source_ip) || !r.str(rec.event.client_id) ||
      !r.u8(proto) || !r.u8(result) || !r.i64(rec.event.time_ms) || !r.done())
    return Status::corruption("login record is malformed");
  rec.event.protocol = LoginProtocol(proto);
  rec.event.result = LoginResult(result);
  return rec;
}

Result<LockoutState> read_lockout(const Txn& txn, uint64_t user) {
  LockoutState st;
  std::string_view v;
  Status s = txn.get(Db::kLockout, be64(user), &v);
  if (s.code() == Code::kNotFound) return st;
  TSUBAME_TRY(s);
  ByteReader r(v);
  uint8_t version;
  if (!r.u8(version) || version != kLockoutVersion || !r.u32(st.failures) ||
      !r.i64(st.window_start_ms) || !r.i64(st.locked_until_ms) || !r.done())
    return Status::corruption("lockout record of user " + std::to_string(user) + " is malformed");
  return st;
}

Status write_lockout(Txn& txn, uint64_t user, const LockoutState& st) {
  if (st.failures == 0 && st.locked_until_ms == 0) {
    Status s = txn.del(Db::kLockout, be64(user));
    return s.code() == Code::kNotFound ? Status::ok() : s;
  }
  return txn.put(Db::kLockout, be64(user),
                 ByteWriter()
                     .u8(kLockoutVersion)
                     .u32(st.failures)
                     .i64(st.window_start_ms)
                     .i64(st.locked_until_ms)
                     .take());
}

bool too_long(const LoginEvent& e) {
  return e.login.size() > kMaxLoginField || e.source_ip.size() > kMaxLoginField ||
         e.client_id.size() > kMaxLoginField;
}

}  // namespace

const char* login_protocol_name(LoginProtocol p) {
  switch (p) {
    case LoginProtocol::kSmtp: return "smtp";
    case LoginProtocol::kImap: return "imap";
    case LoginProtocol::kHttp: return "http";
  }
  return "unknown";
}

LockoutSettings lockout_settings(const Config& config) {
  LockoutSettings l;
  l.max_failures = static_cast<uint32_t>(config.integer("security.lockout_failures"));
  l.window_ms = config.integer("security.lockout_window") * 1000;
  l.lock_ms = config.integer("security.lockout_duration") * 1000;
  return l;
}

const char* login_result_name(LoginResult r) {
  switch (r) {
    case LoginResult::kSuccess: return "success";
    case LoginResult::kBadPassword: return "bad-password";
    case LoginResult::kUnknownUser: return "unknown-user";
    case LoginResult::kLocked: return "locked";
    case LoginResult::kDisabled: return "disabled";
    case LoginResult::kPolicy: return "refused-by-policy";
  }
  return "unknown";
}

Result<LoginOutcome> Accounts::record_login(const LoginEvent& in) {
  if (too_long(in)) return Status::invalid("login event field too long");
  if (in.user_id == kGlobalIndex) return Status::invalid("reserved user id");
  LoginEvent e = in;
  if (e.time_ms == 0) e.time_ms = unix_now_ms();
  const int64_t now = e.time_ms;
  LoginOutcome out;
  Status s = store_.env().write([&](Txn& txn) -> Status {
    out = LoginOutcome{};
    auto seq = txn.next_id("login");
    if (!seq.is_ok()) return seq.status();
    std::string key = login_key(e.user_id, e.time_ms, *seq);
    std::string sealed =
        crypto::seal(store_.keys().system_key(), encode_login(e), location_aad("logins", key));
    TSUBAME_TRY(txn.insert(Db::kLogins, key, sealed));
    TSUBAME_TRY(txn.insert(Db::kLogins, login_key(kGlobalIndex, e.time_ms, *seq), be64(e.user_id)));
    if (e.user_id == 0) return Status::ok();  // unknown login ids lock nothing

    auto st = read_lockout(txn, e.user_id);
    if (!st.is_ok()) return st.status();
    LockoutState state = *st;
    bool locked_now = state.locked_until_ms > now;
    if (e.result == LoginResult::kSuccess) {
      state.failures = 0;
      state.window_start_ms = 0;
      if (!locked_now) state.locked_until_ms = 0;
    } else if (e.result == LoginResult::kBadPassword && !locked_now) {
      if (state.locked_until_ms != 0) state.locked_until_ms = 0;  // an expired lock
      if (state.failures == 0 || now - state.window_start_ms >= settings_.window_ms ||
          now < state.window_start_ms) {
        state.failures = 0;
        state.window_start_ms = now;
      }
      state.failures++;
      out.failures = state.failures;
      if (state.failures >= settings_.max_failures) {
        state.locked_until_ms = now + settings_.lock_ms;
        state.failures = 0;  // after the lock the user starts with a fresh window
        state.window_start_ms = 0;
        out.newly_locked = true;
        AuditEntry a;
        a.actor = "system";
        a.action = "account.lock";
        a.target = "user:" + std::to_string(e.user_id);
        a.details = "login=" + e.login + " ip=" + e.source_ip + " protocol=" +
                    login_protocol_name(e.protocol) + " failures=" +
                    std::to_string(settings_.max_failures) +
                    " until_ms=" + std::to_string(state.locked_until_ms);
        a.time_ms = now;
        auto r = AuditLog(store_).append(txn, a);
        if (!r.is_ok()) return r.status();
      }
    } else {
      out.failures = state.failures;
    }
    out.locked = state.locked_until_ms > now;
    out.locked_until_ms = out.locked ? state.locked_until_ms : 0;
    return write_lockout(txn, e.user_id, state);
  });
  if (!s.is_ok()) return s;
  return out;
}

Result<LockoutState> Accounts::lockout_state(uint64_t user_id) const {
  LockoutState out;
  Status s = store_.env().read([&](const Txn& txn) -> Status {
    auto st = read_lockout(txn, user_id);
    if (!st.is_ok()) return st.status();
    out = *st;
    return Status::ok();
  });
  if (!s.is_ok()) return s;
  return out;
}

Result<bool> Accounts::is_locked(uint64_t user_id, int64_t now_ms) const {
  auto st = lockout_state(user_id);
  if (!st.is_ok()) return st.status();
  return st->locked_until_ms > (now_ms ? now_ms : unix_now_ms());
}

Status Accounts::reset_lockout(uint64_t user_id, std::string_view actor) {
  return store_.env().write([&](Txn& txn) -> Status {
    auto st = read_lockout(txn, user_id);
    if (!st.is_ok()) return st.status();
    if (st->failures == 0 && st->locked_until_ms == 0) return Status::ok();
    TSUBAME_TRY(write_lockout(txn, user_id, LockoutState{}));
    AuditEntry a;
    a.actor = std::string(actor);
    a.action = "account.unlock";
    a.target = "user:" + std::to_string(user_id);
    a.details = "failures=" + std::to_string(st->failures) +
                " locked_until_ms=" + std::to_string(st->locked_until_ms);
    return AuditLog(store_).append(txn, a).status();
  });
}

Result<std::vector<LoginRecord>> Accounts::history(uint64_t user_id, size_t limit,
                                                   int64_t before_ms) const {
  if (user_id == kGlobalIndex) return Status::invalid("reserved user id");
  std::vector<LoginRecord> out;
  const Keyring& keys = store_.keys();
  Status s = store_.env().read([&](const Txn& txn) -> Status {
    Status inner;
    std::string prefix = be64(user_id);
    // Keys strictly before (user, before_ms): start at (user, before_ms - 1, max seq).
    std::string from = before_ms == INT64_MAX ? prefix + std::string(16, '\xff')
                                              : login_key(user_id, before_ms - 1, UINT64_MAX);
    TSUBAME_TRY(txn.scan_back(Db::kLogins, prefix, from, [&](std::string_view k, std::string_view v) {
      if (out.size() >= limit) return false;
      if (k.size() != 24) {
        inner = Status::corruption("login key has a bad size");
        return false;
      }
      auto rec = decode_login(keys, k, v);
      if (!rec.is_ok()) {
        inner = rec.status();
        return false;
      }
      out.push_back(std::move(rec.value()));
      return true;
    }));
    return inner;
  });
  if (!s.is_ok()) return s;
  return out;
}

Result<std::vector<LoginRecord>> Accounts::recent(size_t limit, int64_t before_ms) const {
  std::vector<LoginRecord> out;
  const Keyring& keys = store_.keys();
  Status s = store_.env().read([&](const Txn& txn) -> Status {
    Status inner;
    std::string prefix = be64(kGlobalIndex);
    std::string from = before_ms == INT64_MAX ? prefix + std::string(16, '\xff')
                                              : login_key(kGlobalIndex, before_ms - 1, UINT64_MAX);
    TSUBAME_TRY(txn.scan_back(Db::kLogins, prefix, from, [&](std::string_view k, std::string_view v) {
      if (out.size() >= limit) return false;
      if (k.size() != 24 || v.size() != 8) {
        inner = Status::corruption("login index entry is malformed");
        return false;
      }
      std::string key = be64(get_be64(v.data())) + std::string(k.substr(8));
      std::string_view rv;
      inner = txn.get(Db::kLogins, key, &rv);
      if (!inner.is_ok()) {
        inner = Status::corruption("login index points to a missing record");
        return false;
      }
      auto rec = decode_login(keys, key, rv);
      if (!rec.is_ok()) {
        inner = rec.status();
        return false;
      }
      out.push_back(std::move(rec.value()));
      return true;
    }));
    return inner;
  });
  if (!s.is_ok()) return s;
  return out;
}

Result<uint64_t> Accounts::purge_older_than(int64_t cutoff_ms) {
  uint64_t n = 0;
  Status s = store_.env().write([&](Txn& txn) -> Status {
    n = 0;
    std::vector<std::pair<std::string, std::string>> victims;  // index key, record key
    Status inner;
    std::string prefix = be64(kGlobalIndex);
    TSUBAME_TRY(txn.scan(Db::kLogins, prefix, prefix, [&](std::string_view k, std::string_view v) {
      if (k.size() != 24 || v.size() != 8) {
        inner = Status::corruption("login index entry is malformed");
        return false;
      }
      if (int64_t(get_be64(k.data() + 8)) >= cutoff_ms) return false;
      victims.emplace_back(std::string(k), be64(get_be64(v.data())) + std::string(k.substr(8)));
      return true;
    }));
    TSUBAME_TRY(inner);
    for (auto& [index_key, record_key] : victims) {
      TSUBAME_TRY(txn.del(Db::kLogins, index_key));
      Status d = txn.del(Db::kLogins, record_key);
      if (!d.is_ok() && d.code() != Code::kNotFound) return d;
      n++;
    }
    return Status::ok();
  });
  if (!s.is_ok()) return s;
  return n;
}

}  // namespace tsubame::store
