// tools/httpd/sessions.cc: the in-memory table of hashed session tokens (see sessions.h).
// Failure: none beyond returning nullopt; eviction keeps the table bounded.
#include "tools/httpd/sessions.h"

#include "common/bytes.h"
#include "common/crypto.h"
#include "tools/httpd/limits.h"

namespace tsubame::httpd {

std::optional<std::string> SessionTable::digest(std::string_view token) {
  if (token.size() != kTokenBytes * 2) return std::nullopt;
  for (char c : token)
    if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f'))) return std::nullopt;
  return crypto::sha256(token);
}

std::string SessionTable::create(Session session, int64_t now_ms) {
  std::string token = to_hex(random_bytes(kTokenBytes));
  session.created_ms = now_ms;
  session.expires_ms = now_ms + lifetime_ms_;
  std::lock_guard lock(mu_);
  // Bound the table: expired first, then the user's oldest, then the oldest of all.
  size_t of_user = 0;
  auto oldest_of_user = by_digest_.end();
  for (auto it = by_digest_.begin(); it != by_digest_.end();) {
    if (it->second.expires_ms <= now_ms) {
      it = by_digest_.erase(it);
      continue;
    }
    if (it->second.user_id == session.user_id) {
      ++of_user;
      if (oldest_of_user == by_digest_.end() || it->second.created_ms < oldest_of_user->second.created_ms)
        oldest_of_user = it;
    }
    ++it;
  }
  if (of_user >= kMaxSessionsPerUser && oldest_of_user != by_digest_.end()) by_digest_.erase(oldest_of_user);
  if (by_digest_.size() >= kMaxSessions) {
    auto oldest = by_digest_.begin();
    for (auto it = by_digest_.begin(); it != by_digest_.end(); ++it)
      if (it->second.created_ms < oldest->second.created_ms) oldest = it;
    by_digest_.erase(oldest);
  }
  by_digest_[crypto::sha256(token)] = std::move(session);
  return token;
}

std::optional<Session> SessionTable::lookup(std::string_view token, int64_t now_ms) {
  auto d = digest(token);
  if (!d) return std::nullopt;
  std::lock_guard lock(mu_);
  auto it = by_digest_.find(*d);
  if (it == by_digest_.end()) return std::nullopt;
  if (it->second.expires_ms <= now_ms) {
    by_digest_.erase(it);
    return std::nullopt;
  }
  return it->second;
}

bool SessionTable::revoke(std::string_view token) {
  auto d = digest(token);
  if (!d) return false;
  std::lock_guard lock(mu_);
  return by_digest_.erase(*d) > 0;
}

size_t SessionTable::revoke_user(uint64_t user_id) {
  std::lock_guard lock(mu_);
  size_t n = 0;
  for (auto it = by_digest_.begin(); it != by_digest_.end();) {
    if (it->second.user_id == user_id) {
      it = by_digest_.erase(it);
      ++n;
    } else {
      ++it;
    }
  }
  return n;
}

size_t SessionTable::size() {
  std::lock_guard lock(mu_);
  return by_digest_.size();
}

}  // namespace tsubame::httpd
