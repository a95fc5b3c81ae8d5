// store/aliases.cc: address aliases (see aliases.h).
#include "store/aliases.h"

#include <algorithm>

#include "common/bytes.h"
#include "common/crypto.h"
#include "store/audit.h"
#include "store/env.h"
#include "store/keyring.h"
#include "store/store.h"

namespace tsubame::store {
namespace {

constexpr uint8_t kAliasVersion = 1;

std::string domain_of(std::string_view address) {
  size_t at = address.rfind('@');
  return at == std::string_view::npos ? std::string() : to_lower(address.substr(at + 1));
}

std::string alias_key(const Store& store, uint32_t domain_id, std::string_view address) {
  return be32(domain_id) + store.keys().index("alias", to_lower(address));
}

std::string encode_alias(const Alias& a) {
  ByteWriter w;
  w.u8(kAliasVersion).str(a.address).i64(a.created_ms).varint(a.targets.size());
  for (const auto& t : a.targets) w.str(t);
  return w.take();
}

Result<Alias> decode_alias(std::string_view v, uint32_t domain_id) {
  ByteReader r(v);
  Alias a;
  a.domain_id = domain_id;
  uint8_t ver = 0;
  uint64_t n = 0;
  if (!r.u8(ver) || ver != kAliasVersion || !r.str(a.address) || !r.i64(a.created_ms) || !r.varint(n) ||
      n > kMaxAliasTargets)
    return Status::corruption("alias: malformed record");
  for (uint64_t i = 0; i < n; i++) {
    std::string t;
    if (!r.str(t)) return Status::corruption("alias: malformed record");
    a.targets.push_back(std::move(t));
  }
  if (!r.done()) return Status::corruption("alias: trailing bytes");
  return a;
}

Result<Alias> open_alias(const Store& store, std::string_view key, std::string_view sealed) {
  auto plain = crypto::open(store.keys().system_key(), sealed, location_aad("aliases", key));
  if (!plain.is_ok()) return Status::corruption("alias: cannot open sealed record");
  return decode_alias(*plain, get_be32(key.data()));
}

}  // namespace

Status add_alias(Store& store, const Alias& alias_in, std::string_view actor) {
  if (alias_in.targets.empty()) return Status::invalid("alias needs at least one target");
  if (alias_in.targets.size() > kMaxAliasTargets) return Status::invalid("too many alias targets");
  auto dom = store.find_domain(domain_of(alias_in.address));
  if (!dom.is_ok()) return dom.status();
  if (store.find_user(alias_in.address).is_ok())
    return Status::exists("a user has the address " + alias_in.address);
  Alias a = alias_in;
  a.domain_id = dom->id;
  if (!a.created_ms) a.created_ms = unix_now_ms();
  for (const auto& t : a.targets)
    if (iequals(t, a.address)) return Status::invalid("an alias cannot point at itself");
  std::string key = alias_key(store, a.domain_id, a.address);
  std::string sealed = crypto::seal(store.keys().system_key(), encode_alias(a), location_aad("aliases", key));
  return store.env().write([&](Txn& t) -> Status {
    Status s = t.insert(Db::kAliases, key, sealed);
    if (s.code() == Code::kExists) return Status::exists("alias " + a.address + " already exists");
    TSUBAME_TRY(s);
    AuditEntry e;
    e.actor = std::string(actor);
    e.action = "alias.add";
    e.target = a.address;
    std::string targets;
    for (const auto& x : a.targets) targets += (targets.empty() ? "" : ",") + x;
    e.details = "targets=" + targets;
    return AuditLog(store).append(t, e).status();
  });
}

Status remove_alias(Store& store, std::string_view address, std::string_view actor) {
  auto dom = store.find_domain(domain_of(address));
  if (!dom.is_ok()) return dom.status();
  std::string key = alias_key(store, dom->id, address);
  return store.env().write([&](Txn& t) -> Status {
    Status s = t.del(Db::kAliases, key);
    if (s.code() == Code::kNotFound) return Status::not_found("alias " + std::string(address));
    TSUBAME_TRY(s);
    AuditEntry e;
    e.actor = std::string(actor);
    e.action = "alias.remove";
    e.target = std::string(address);
    return AuditLog(store).append(t, e).status();
  });
}

Result<Alias> find_alias(Store& store, std::string_view address) {
  auto dom = store.find_domain(domain_of(address));
  if (!dom.is_ok()) return dom.status();
  std::string key = alias_key(store, dom->id, address);
  std::string sealed;
  Status s = store.env().read([&](const Txn& t) {
    std::string_view v;
    TSUBAME_TRY(t.get(Db::kAliases, key, &v));
    sealed = std::string(v);
    return Status::ok();
  });
  if (s.code() == Code::kNotFound) return Status::not_found("alias " + std::string(address));
  if (!s.is_ok()) return s;
  return open_alias(store, key, sealed);
}

Result<std::vector<Alias>> list_aliases(Store& store, std::optional<uint32_t> domain_id) {
  std::vector<std::pair<std::string, std::string>> rows;
  std::string prefix = domain_id ? be32(*domain_id) : std::string();
  Status s = store.env().read([&](const Txn& t) {
    return t.scan(Db::kAliases, prefix, prefix, [&](std::string_view k, std::string_view v) {
      rows.emplace_back(std::string(k), std::string(v));
      return true;
    });
  });
  if (!s.is_ok()) return s;
  std::vector<Alias> out;
  for (const auto& [k, v] : rows) {
    if (k.size() < 4) return Status::corruption("alias: malformed key");
    auto a = open_alias(store, k, v);
    if (!a.is_ok()) return a.status();
    out.push_back(std::move(*a));
  }
  std::sort(out.begin(), out.end(), [](const Alias& x, const Alias& y) { return x.address < y.address; });
  return out;
}

}  // namespace tsubame::store
