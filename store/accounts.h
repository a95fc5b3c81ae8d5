// store/accounts.h: login history and failed-login lockout (architecture: "Privacy by
// construction": login history is kept for audit; repeated failures lock the account).
//
//   daemon ── is_locked(user)? ──yes──▶ refuse, record_login(kLocked)
//      │ no
//      ▼ verify password
//   record_login(kSuccess | kBadPassword ...) ──▶ history record (sealed)
//      │ kBadPassword: failures within `window` += 1; at `max_failures` the account is locked
//      │ for `lock` and an "account.lock" audit record commits in the same transaction
//      │ kSuccess: the failure counter is cleared (an active lock stays until it expires or
//      │ reset_lockout(), which is audit-logged as "account.unlock")
//
// A login for an unknown login id is recorded under user id 0 and never locks anything.
// History records are personal data (login id, IP, client id) and are sealed with the system
// key. Thread-safety: any thread; each mutating call is one durable write transaction.
// Failure: errors are Status values; a failed call records nothing.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "common/result.h"

namespace tsubame {
class Config;  // common/config.h
}  // namespace tsubame

namespace tsubame::store {

class Store;

enum class LoginProtocol : uint8_t { kSmtp = 1, kImap = 2, kHttp = 3 };
enum class LoginResult : uint8_t {
  kSuccess = 1,
  kBadPassword = 2,   // counts toward the lockout
  kUnknownUser = 3,
  kLocked = 4,        // refused because the account was locked (does not extend the lock)
  kDisabled = 5,
  kPolicy = 6,        // refused by the domain's settings (TLS required, mechanism not allowed)
};
const char* login_protocol_name(LoginProtocol p);  // "smtp", "imap", "http"
const char* login_result_name(LoginResult r);      // "success", "bad-password", ...

struct LoginEvent {
  std::string login;          // the login id as the client sent it
  uint64_t user_id = 0;       // 0 = unknown login id
  std::string source_ip;
  std::string client_id;      // IMAP ID (RFC 2971) name/version, SMTP EHLO name, user agent
  LoginProtocol protocol = LoginProtocol::kImap;
  LoginResult result = LoginResult::kSuccess;
  int64_t time_ms = 0;        // 0 = now
};

struct LoginRecord {
  uint64_t seq = 0;           // store-wide, increasing
  LoginEvent event;
};

// Defaults: 5 failures within 15 minutes lock the account for 15 minutes.
struct LockoutSettings {
  uint32_t max_failures = 5;
  int64_t window_ms = 15 * 60 * 1000;
  int64_t lock_ms = 15 * 60 * 1000;
};
// The site-wide values: security.lockout_failures, lockout_window and lockout_duration of
// the config (a domain's lockout_* settings refine them, store/settings.h).
LockoutSettings lockout_settings(const Config& config);

struct LockoutState {
  uint32_t failures = 0;          // failures in the current window
  int64_t window_start_ms = 0;
  int64_t locked_until_ms = 0;    // locked while now < this
};

struct LoginOutcome {
  uint32_t failures = 0;          // failures in the window after this event
  bool locked = false;            // the account is locked after this event
  bool newly_locked = false;      // this event locked it
  int64_t locked_until_ms = 0;
};

// Limits of one history record.
inline constexpr size_t kMaxLoginField = 512;

class Accounts {
 public:
  explicit Accounts(Store& store, LockoutSettings settings = {})
      : store_(store), settings_(settings) {}

  Result<LoginOutcome> record_login(const LoginEvent& event);
  Result<bool> is_locked(uint64_t user_id, int64_t now_ms = 0) const;
  Result<LockoutState> lockout_state(uint64_t user_id) const;
  // Clears the counter and any lock; audit-logged with `actor`. Ok if there was none.
  Status reset_lockout(uint64_t user_id, std::string_view actor);

  // Newest first: one user's logins (user 0 = unknown login ids), or every login.
  Result<std::vector<LoginRecord>> history(uint64_t user_id, size_t limit = 100,
                                           int64_t before_ms = INT64_MAX) const;
  Result<std::vector<LoginRecord>> recent(size_t limit = 100, int64_t before_ms = INT64_MAX) const;
  // Retention: removes history older than cutoff; returns how many records.
  Result<uint64_t> purge_older_than(int64_t cutoff_ms);

 private:
  Store& store_;
  LockoutSettings settings_;
};

}  // namespace tsubame::store
