// store/aliases.h: address aliases (alias@domain -> one or more target addresses).
//
// Db::kAliases: be32 domain id | HMAC(index key, "alias", lower(alias)) -> sealed record
// (system key, AAD = location): alias address, targets, creation time. Addresses are personal
// metadata, so the key is an HMAC and the value is sealed, like the user index.
// An alias must belong to an existing domain and must not be a user's address; targets must
// be valid addresses (local users or remote). Adding and removing are audit-logged in the
// same transaction ("alias.add", "alias.remove").
//
// Thread-safety: any thread. Failure: errors are Status values (Exists, NotFound,
// InvalidArgument); a failed call changes nothing.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "common/result.h"

namespace tsubame::store {

class Store;

inline constexpr size_t kMaxAliasTargets = 100;

struct Alias {
  std::string address;               // local@domain, domain lower-case
  std::vector<std::string> targets;  // where mail for it goes
  uint32_t domain_id = 0;
  int64_t created_ms = 0;
};

// The alias's domain must exist (NotFound) and no user may have the address (Exists).
Status add_alias(Store& store, const Alias& alias, std::string_view actor);
Status remove_alias(Store& store, std::string_view address, std::string_view actor);
Result<Alias> find_alias(Store& store, std::string_view address);
// Every alias (or one domain's), sorted by address.
Result<std::vector<Alias>> list_aliases(Store& store, std::optional<uint32_t> domain_id = std::nullopt);

}  // namespace tsubame::store
