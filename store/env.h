// store/env.h: the LMDB environment, transactions and sealing. INTERNAL to store/.
//
// Nothing outside store/ includes this file: the public API (store/store.h and the
// feature headers) is free of LMDB types so another backend can sit behind it.
//
// Concurrency contract (lmdb.h, Caveats):
// - One Env per process per data directory; never used across fork().
// - Write transactions are serialised by LMDB (across processes too). write() runs its
//   function inside one write transaction and commits it durably (fsync) before returning.
// - read() runs its function inside a read-only snapshot that ends when it returns: a read
//   transaction never outlives the call (so it never pins pages across event-loop turns).
// - Both may be called from any thread (MDB_NOTLS). The map grows automatically: a write that
//   hits MDB_MAP_FULL is aborted, the map doubled (up to max_map_size) and the write retried
//   from the start, so a write function must have no side effects outside the transaction.
//   A map resized by another process (MDB_MAP_RESIZED) is adopted before the next transaction.
#pragma once

#include <lmdb.h>

#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <shared_mutex>
#include <string>
#include <string_view>

#include "common/result.h"

namespace tsubame::store {

// The named databases (store/README.md documents keys and values of each).
enum class Db : int {
  kMeta = 0,      // string key -> value: schema version, key check, counters, audit head
  kDomains,       // be32 domain id -> domain record (name, wrapped data key, settings)
  kDomainNames,   // lower-case domain name -> be32 id
  kUsers,         // be64 user id -> sealed user record
  kUserIndex,     // HMAC(address) -> be64 user id
  kMailboxes,     // be64 mailbox id -> mailbox record (owner, counters, sealed name)
  kMailboxIndex,  // be64 user | HMAC(user, name) -> be64 mailbox id (also lists a user's)
  kMessages,      // be64 mailbox | be32 uid -> message record
  kModseq,        // be64 mailbox | be64 modseq -> be32 uid (changes since, CONDSTORE)
  kExpunged,      // be64 mailbox | be32 uid -> be64 modseq (QRESYNC VANISHED)
  kBlobs,         // be64 blob id -> blob header; be64 blob id | 0x01 -> sealed content
  kSummaries,     // be64 blob id -> sealed MessageSummary
  kAudit,         // be64 sequence -> audit record
  kLogins,        // be64 user | be64 time_ms | be64 seq -> sealed login record (store/README.md)
  kLockout,       // be64 user -> failure counters
  kTrace,         // be64 time_ms | be64 seq | queue id -> sealed trace record
  kTraceIds,      // u8 len | queue id | be64 time_ms | be64 seq -> "" (several per message)
  kQueue,         // queue id -> outbound queue record
  kReports,       // be64 report id -> report record (quarantine)
  kTokens,        // be32 scope | be64 token hash -> counts
  kGrants,        // be64 grant id -> support access grant
  kAliases,       // be32 domain | HMAC(alias) -> sealed alias record (store/aliases.h)
  kSettings,      // be32 domain | setting name -> value (store/settings.h)
  kPurges,        // be64 user id -> scheduled purge (store/purge.h)
  kSubscriptions, // be64 user | HMAC(user, name) -> sealed name: subscribed names without a
                  // mailbox (a mailbox's own subscription is its record's flag)
  kSent,          // HMAC(index key, "sent", Message-ID) -> be64 expiry ms (store/replies.h)
  kCorrespondents,// HMAC(index key, "correspondent", address) -> be64 expiry ms (store/replies.h)
  kCount
};
const char* db_name(Db db);

// Maps an LMDB return code to a Status. `what` says what was being done.
Status lmdb_status(int rc, std::string_view what);

// The handle of a database missing from a file opened read-only (one added by a newer
// version than wrote the file): reads see it empty.
inline constexpr MDB_dbi kAbsentDbi = ~MDB_dbi{0};

class Txn {
 public:
  Txn(MDB_txn* txn, const MDB_dbi* dbis) : txn_(txn), dbis_(dbis) {}
  // Ok with *value set, NotFound, or an error. The view stays valid until the txn ends
  // or this txn writes.
  Status get(Db db, std::string_view key, std::string_view* value) const;
  Result<std::optional<std::string>> get_copy(Db db, std::string_view key) const;
  Status put(Db db, std::string_view key, std::string_view value);
  // Fails with Exists if the key is already there.
  Status insert(Db db, std::string_view key, std::string_view value);
  Status del(Db db, std::string_view key);  // NotFound if absent

  // Visits keys >= from (and starting with `prefix`) in order until fn returns false.
  // fn may not write to the same db.
  Status scan(Db db, std::string_view prefix, std::string_view from,
              const std::function<bool(std::string_view key, std::string_view value)>& fn) const;
  // The last key starting with prefix (e.g. the highest UID of a mailbox).
  Status last(Db db, std::string_view prefix, std::string* key, std::string* value) const;
  // Visits keys <= from backwards while they start with prefix.
  Status scan_back(Db db, std::string_view prefix, std::string_view from,
                   const std::function<bool(std::string_view, std::string_view)>& fn) const;
  // Deletes every key starting with prefix; returns how many.
  Result<uint64_t> del_prefix(Db db, std::string_view prefix);
  Result<uint64_t> count(Db db) const;

  // Counters in kMeta: returns the next value (starting at 1) and stores it.
  Result<uint64_t> next_id(std::string_view counter);

  MDB_txn* raw() const { return txn_; }
  MDB_dbi dbi(Db db) const { return dbis_[int(db)]; }

 private:
  MDB_txn* txn_;
  const MDB_dbi* dbis_;
};

struct EnvOptions {
  std::string path;                   // directory holding data.mdb and lock.mdb
  uint64_t map_size = 256ull << 20;   // initial map size
  uint64_t max_map_size = 64ull << 30;
  bool read_only = false;
  bool create = true;                 // create the directory if missing
};

class Env {
 public:
  static Result<std::unique_ptr<Env>> open(const EnvOptions& opts);
  ~Env();
  Env(const Env&) = delete;
  Env& operator=(const Env&) = delete;

  Status write(const std::function<Status(Txn&)>& fn);
  // How a write transaction's commit reaches the disk.
  //   kFull:     data pages fdatasync'd, then the meta page written through the O_DSYNC
  //              descriptor: durable when write() returns (every caller but the one below).
  //   kDataOnly: data pages fdatasync'd, the meta page written but not synced
  //              (MDB_NOMETASYNC for this one commit). LMDB keeps atomicity and consistency
  //              (the meta page is written only after the data it points to is on disk, and
  //              the previous snapshot's pages are not reused by the next transaction): a
  //              system crash may undo this last transaction, never corrupt the file. The
  //              next commit's data sync, or sync(), makes it durable. Used only for
  //              imapd's flag-only batches (store/store.h Store::write_batch).
  enum class Sync : uint8_t { kFull, kDataOnly };
  Status write(const std::function<Status(Txn&)>& fn, Sync sync);
  // Runs fn in a nested write transaction of `parent` (LMDB child txn; the environment has
  // no MDB_WRITEMAP): committed into parent when fn returns ok, discarded otherwise, so a
  // failing part of a batch leaves the parent as it was. *parent_broken is set when the
  // nested commit itself failed: the parent must then be aborted.
  Status nested(Txn& parent, const std::function<Status(Txn&)>& fn, bool* parent_broken);
  // Flushes every committed transaction to disk (data and meta pages; mdb_env_sync).
  Status sync();
  Status read(const std::function<Status(const Txn&)>& fn) const;

  // A consistent, compacted copy of the whole environment into file `dest` (MDB_CP_COMPACT).
  Status copy_to(const std::string& dest_file) const;
  // Clears reader slots left by dead processes; returns how many.
  int reader_check() const;
  uint64_t map_size() const;
  const std::string& path() const { return opts_.path; }

 private:
  explicit Env(const EnvOptions& opts) : opts_(opts) {}
  Status grow();
  Status begin(bool read_only, MDB_txn** txn) const;

  EnvOptions opts_;
  MDB_env* env_ = nullptr;
  MDB_dbi dbis_[int(Db::kCount)] = {};
  mutable std::shared_mutex resize_mu_;  // exclusive only while resizing the map
  // Held around every commit of this process, so that the MDB_NOMETASYNC of a kDataOnly
  // commit (an environment flag, set just for that commit) never applies to another one.
  std::mutex commit_mu_;
};

}  // namespace tsubame::store
