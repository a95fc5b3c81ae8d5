// store/backup.h: hot backup and verified restore of the whole store.
//
//   backup(store, FILE):  LMDB compacting copy from one read snapshot (daemons keep writing)
//                         ──▶ FILE (0600)  +  FILE.manifest:
//                             format, schema version, time, size, SHA-256 of FILE, and an
//                             HMAC over all of it with a key derived from the system key
//   restore(FILE, options):
//     1. manifest MAC (a backup of another installation, or an edited manifest, is refused)
//     2. size and SHA-256 of FILE (a truncated or altered copy is refused)
//     3. copy into a temporary directory beside the data directory; open it read-only;
//        Store::check() must find no problem and the audit chain must verify
//     4. no other process may have the store open (daemons stopped)
//     5. data.mdb is hard-linked to data.mdb.pre-restore, then the verified copy is renamed
//        over data.mdb (an atomic replace; the directory is fsync'd)
//   Any failure before step 5 leaves the data directory exactly as it was.
//
// The master key is not in the backup: keep it apart (a backup without its key reads nothing).
// Thread-safety: backup() may run while other threads and processes write. restore() must run
// with no Store open on the data directory (in any process).
#pragma once

#include <cstdint>
#include <string>

#include "common/result.h"

namespace tsubame::store {

class Store;
struct Options;

inline constexpr uint32_t kBackupFormat = 1;
inline constexpr size_t kMaxManifestSize = 4096;

struct BackupManifest {
  uint32_t format = kBackupFormat;
  uint32_t schema_version = 0;
  int64_t created_ms = 0;
  uint64_t size = 0;           // bytes of the backup file
  std::string sha256_hex;      // of the backup file
};

struct RestoreResult {
  BackupManifest manifest;
  uint64_t users = 0, mailboxes = 0, messages = 0;  // from Store::check() of the copy
  uint64_t audit_records = 0;
  std::string previous_file;   // data.mdb.pre-restore, or "" if there was no data before
};

// FILE.manifest beside the backup.
std::string backup_manifest_path(const std::string& backup_file);

// Writes dest_file and dest_file.manifest; both must not exist.
Result<BackupManifest> backup(Store& store, const std::string& dest_file);

// Steps 1 and 2 only: the manifest belongs to this master key and the file matches it.
Result<BackupManifest> verify_backup(const std::string& backup_file, const std::string& key_file);

// Replaces the store in options.data_dir by the verified backup (see above).
Result<RestoreResult> restore(const std::string& backup_file, const Options& options);

}  // namespace tsubame::store
