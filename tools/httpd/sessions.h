// tools/httpd/sessions.h: web session tokens of tsubame-httpd.
//
// A token is 256 random bits (hex, 64 characters) given to the client once, at login. The
// server keeps only SHA-256(token) -> session (user, expiry), in memory. Why this and not a
// MAC-signed stateless token with a revocation list:
//   - logout and account disabling revoke at once, with no list to keep or replicate;
//   - there is no signing key to manage, rotate or leak; a memory or core dump shows digests
//     that cannot be replayed as tokens;
//   - lookup is by digest, so the comparison time tells an attacker nothing about a valid
//     token (they do not control the digest's bytes).
// The cost: tokens do not survive a restart of tsubame-httpd (users sign in again) and are not
// shared between several httpd processes (put one behind a sticky balancer, or move the table
// into the store when that day comes).
//
// Thread-safety: all methods lock; any thread. Failure: lookup() returns nullopt for a
// malformed, unknown, revoked or expired token (expired sessions are erased on sight).
#pragma once

#include <cstdint>
#include <map>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>

namespace tsubame::httpd {

struct Session {
  uint64_t user_id = 0;
  std::string address;
  bool admin = false;        // postmaster@<domain>: decides that domain's reports
  uint32_t domain_id = 0;
  int64_t created_ms = 0;
  int64_t expires_ms = 0;
};

class SessionTable {
 public:
  explicit SessionTable(int64_t lifetime_ms) : lifetime_ms_(lifetime_ms) {}

  // A new token for the session (created/expiry set here). Evicts the oldest sessions when
  // kMaxSessionsPerUser or kMaxSessions would be exceeded.
  std::string create(Session session, int64_t now_ms);
  std::optional<Session> lookup(std::string_view token, int64_t now_ms);
  bool revoke(std::string_view token);
  size_t revoke_user(uint64_t user_id);
  size_t size();
  int64_t lifetime_ms() const { return lifetime_ms_; }

 private:
  static std::optional<std::string> digest(std::string_view token);
  const int64_t lifetime_ms_;
  std::mutex mu_;
  std::map<std::string, Session> by_digest_;
};

}  // namespace tsubame::httpd
