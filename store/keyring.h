// store/keyring.h: keys for encryption at rest. INTERNAL to store/.
//
//   master key file (32 random bytes, mode 0600, OUTSIDE the data directory)
//        │ HKDF-SHA256 with distinct labels
//        ├── wrap key    : wraps each domain's data key (AES-256-GCM, AAD = "dk" | domain id)
//        ├── system key  : seals records that belong to no domain (trace, audit details ...)
//        ├── index key   : HMAC key for lookup indexes of personal names (addresses, folders)
//        └── audit key   : HMAC key of the audit hash chain
//   domain data key (random, one per domain) seals that domain's mail and personal metadata.
//
// An operator with the data files but not the master key reads nothing: every personal value
// is sealed, every personal lookup key is an HMAC. A wrong master key is detected at open by a
// sealed check value in the meta database ("wrong master key"), never by garbage output.
// Sealed values carry their location (database name and key) as associated data, so a value
// moved to another record fails to open.
#pragma once

#include <cstdint>
#include <map>
#include <mutex>
#include <string>
#include <string_view>

#include "common/result.h"

namespace tsubame::store {

class Keyring {
 public:
  // Reads the master key file; with create=true, generates it (mode 0600) if missing.
  // Refuses a file of the wrong size or one readable by group/others.
  static Result<Keyring> load(const std::string& key_file, bool create);

  const std::string& system_key() const { return system_key_; }
  const std::string& index_key() const { return index_key_; }
  const std::string& audit_key() const { return audit_key_; }

  // A new random domain data key, wrapped for storage in the domain record.
  std::string new_wrapped_domain_key(uint32_t domain_id) const;
  // Unwraps (and caches) a domain's data key. PermissionDenied if the wrap does not open.
  Result<std::string> domain_key(uint32_t domain_id, std::string_view wrapped) const;

  // HMAC-SHA256(index key, label | value): stable lookup keys for personal names.
  std::string index(std::string_view label, std::string_view value) const;

  // The check value stored once in meta and verified at every open.
  std::string make_check() const;
  Status verify_check(std::string_view sealed) const;

  Keyring(const Keyring& o) : system_key_(o.system_key_), index_key_(o.index_key_),
      audit_key_(o.audit_key_), wrap_key_(o.wrap_key_) {}
  Keyring(Keyring&& o) noexcept : Keyring(static_cast<const Keyring&>(o)) {}

 private:
  Keyring() = default;
  std::string system_key_, index_key_, audit_key_, wrap_key_;
  mutable std::mutex mu_;
  mutable std::map<uint32_t, std::string> domain_keys_;
};

// AAD for a value stored at (db, key): binds a sealed value to its place.
std::string location_aad(std::string_view db, std::string_view key);

}  // namespace tsubame::store
