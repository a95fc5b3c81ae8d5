// store/grants.h: time-limited support access grants (architecture, "Privacy by
// construction": support access to a user's mailbox needs an approved, time-limited grant;
// every access under it is audit-logged; it expires by itself).
//
//   support agent ── request(user, agent, reason, duration) ──▶ grant (requested)
//   approver (not the agent) ── approve(id) ──▶ approved, expires = approval + duration
//   agent ── access(user, agent, what) ──▶ ok + audit "grant.access" (same transaction)
//                                     └──▶ PermissionDenied + audit "grant.denied"
//   revoke(id) at any time; past `expires` every access is denied without any action.
//
// Thread-safety: any thread. Failure: errors are Status values; a failed call changes
// nothing, except that a denied access() records its "grant.denied" audit entry.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "common/result.h"

namespace tsubame::store {

class Store;

inline constexpr int64_t kMaxGrantDurationMs = 7ll * 24 * 3600 * 1000;  // one week
inline constexpr size_t kMaxGrantText = 1024;

enum class GrantStatus : uint8_t { kRequested = 1, kApproved = 2, kRevoked = 3 };
const char* grant_status_name(GrantStatus s);  // "requested", "approved", "revoked"

struct Grant {
  uint64_t id = 0;
  uint64_t user_id = 0;          // whose mailbox
  std::string agent;             // who may access
  std::string reason;            // the support case
  std::string approved_by;
  GrantStatus status = GrantStatus::kRequested;
  int64_t requested_ms = 0;
  int64_t approved_ms = 0;
  int64_t duration_ms = 0;
  int64_t expires_ms = 0;        // 0 until approved
  bool active(int64_t now_ms) const {
    return status == GrantStatus::kApproved && now_ms < expires_ms;
  }
};

class Grants {
 public:
  explicit Grants(Store& store) : store_(store) {}

  Result<uint64_t> request(uint64_t user_id, std::string_view agent, std::string_view reason,
                           int64_t duration_ms, int64_t now_ms = 0);
  // The approver must differ from the requesting agent (four eyes).
  Status approve(uint64_t id, std::string_view approver, int64_t now_ms = 0);
  Status revoke(uint64_t id, std::string_view actor);
  Result<Grant> get(uint64_t id) const;
  // user_id 0 = all users; newest first.
  Result<std::vector<Grant>> list(uint64_t user_id = 0, size_t limit = 1000) const;
  // Ok only if `agent` holds an active grant for `user_id`; either way audit-logged with `what`.
  Status access(uint64_t user_id, std::string_view agent, std::string_view what, int64_t now_ms = 0);

 private:
  Store& store_;
};

}  // namespace tsubame::store
