// store/purge.h: deleting a user, and purging their data when the retention period is over
// (architecture, "Privacy by construction": deleting a user disables them at once and purges
// their data within the configured period).
//
//   tsubame user delete ──schedule_user_purge(due)──▶ user disabled (at once), purge entry,
//                                                      audit "user.delete"
//   tsubame purge ──run_due_purges(now)──▶ for each entry with due <= now: purge_user()
//
//   purge_user():
//     1 every mailbox but INBOX: Store::delete_mailbox (deepest first; blob refs dropped, a
//       blob is freed with its last reference)
//     2 INBOX: every message flagged \Deleted and expunged (the same refcounting)
//     3 login history and lockout counters of the user (Db::kLogins, Db::kLockout)
//     4 trace records naming the user as sender or recipient (both trace databases)
//     5 the INBOX record, the user's mailbox index entries, the user record and its address
//       index entry, and aliases pointing only at the user are left for `alias remove`
//     6 the purge entry; audit "user.purge" with the counts (in the same transaction as 3-5)
//   Steps 1 and 2 are Store calls, each one durable transaction: an interrupted purge is
//   simply run again (the entry stays until step 6).
//
// Not separable, by design: classifier token counts (store/tokens.h) are sums over many
// messages with no link back to a message or user, so tokens learned from the user's mail stay
// in the counts (they hold no text). Quarantine reports filed by the user are the analysts'
// records and follow the domain's report retention (Reports::purge_older_than).
//
// Thread-safety: any thread; run with the daemons up is fine (each step is a transaction).
// Failure: errors are Status values; a failed purge leaves its entry for the next run.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "common/result.h"

namespace tsubame::store {

class Store;

struct PurgeEntry {
  uint64_t user_id = 0;
  int64_t requested_ms = 0;
  int64_t due_ms = 0;
  std::string requested_by;
};

struct PurgeOutcome {
  uint64_t user_id = 0;
  std::string address;
  uint64_t mailboxes = 0, messages = 0, logins = 0, trace_records = 0;
};

// Disables the user now and records the purge, due at due_ms. Audit "user.delete".
// Exists if a purge is already scheduled for the user.
Status schedule_user_purge(Store& store, uint64_t user_id, int64_t due_ms, std::string_view actor);
// Cancels a scheduled purge (the user stays disabled). Audit "user.undelete".
Status cancel_user_purge(Store& store, uint64_t user_id, std::string_view actor);
Result<std::vector<PurgeEntry>> list_purges(Store& store);
// Purges one user now (whether or not a purge was scheduled).
Result<PurgeOutcome> purge_user(Store& store, uint64_t user_id, std::string_view actor);
// Runs every scheduled purge with due_ms <= now_ms.
Result<std::vector<PurgeOutcome>> run_due_purges(Store& store, int64_t now_ms, std::string_view actor);

}  // namespace tsubame::store
