// store/replies.cc: sent Message-IDs (store/replies.h).
#include "store/replies.h"

#include <algorithm>
#include <vector>

#include "common/bytes.h"
#include "store/env.h"
#include "store/keyring.h"
#include "store/store.h"

namespace tsubame::store {
namespace {

// What stands between the angle brackets, blanks around them dropped ("<x>", " x\r\n").
std::string_view unwrap(std::string_view v) {
  auto blank = [](char c) { return c == ' ' || c == '\t' || c == '\r' || c == '\n'; };
  while (!v.empty() && blank(v.front())) v.remove_prefix(1);
  while (!v.empty() && blank(v.back())) v.remove_suffix(1);
  if (v.size() >= 2 && v.front() == '<' && v.back() == '>') v = v.substr(1, v.size() - 2);
  return v;
}

// The id unwrapped; "" when nothing is left or it is too long to be one.
std::string_view bare_id(std::string_view id) {
  id = unwrap(id);
  if (id.size() > kMaxMessageIdBytes) return {};
  return id;
}

std::string sent_key(const Keyring& keys, std::string_view id) { return keys.index("sent", id); }

// The address as recorded and looked up: unwrapped and ASCII lower-cased; "" when that leaves
// no local@domain or more than kMaxAddressBytes.
std::string correspondent_address(std::string_view a) {
  a = unwrap(a);
  const size_t at = a.rfind('@');
  if (a.size() > kMaxAddressBytes || at == std::string_view::npos || at == 0 || at + 1 == a.size()) return {};
  return to_lower(a);
}

std::string correspondent_key(const Keyring& keys, std::string_view address) {
  return keys.index("correspondent", address);
}

// Sets key's expiry to `expires` unless it already lasts as long (a record is never shortened).
Status extend(Txn& txn, Db db, const std::string& key, int64_t expires) {
  std::string_view old;
  Status s = txn.get(db, key, &old);
  if (s.is_ok() && old.size() == 8 && int64_t(get_be64(old.data())) >= expires) return Status::ok();
  if (!s.is_ok() && s.code() != Code::kNotFound) return s;
  return txn.put(db, key, be64(uint64_t(expires)));
}

// Whether key is recorded in db and has not expired at now_ms.
Result<bool> unexpired(const Txn& txn, Db db, const std::string& key, int64_t now_ms) {
  std::string_view v;
  Status g = txn.get(db, key, &v);
  if (g.code() == Code::kNotFound) return false;
  if (!g.is_ok()) return g;
  if (v.size() != 8) return Status::corruption(std::string(db_name(db)) + " record: malformed");
  return int64_t(get_be64(v.data())) > now_ms;
}

Result<uint64_t> purge_expired(Store& store, Db db, int64_t now_ms) {
  uint64_t removed = 0;
  Status s = store.env().write([&](Txn& txn) -> Status {
    removed = 0;
    std::vector<std::string> expired;
    TSUBAME_TRY(txn.scan(db, "", "", [&](std::string_view k, std::string_view v) {
      if (v.size() != 8 || int64_t(get_be64(v.data())) <= now_ms) expired.emplace_back(k);
      return true;
    }));
    for (const std::string& k : expired) TSUBAME_TRY(txn.del(db, k));
    removed = expired.size();
    return Status::ok();
  });
  if (!s.is_ok()) return s;
  return removed;
}

// A submission's record keys: the Message-ID's (or "") and each valid correspondent's, the
// first kMaxCorrespondentsPerMessage read.
struct SubmissionKeys {
  std::string id;
  std::vector<std::string> correspondents;
  bool empty() const { return id.empty() && correspondents.empty(); }
};

SubmissionKeys submission_keys(const Keyring& keys, std::string_view message_id,
                               std::span<const std::string> correspondents) {
  SubmissionKeys out;
  if (std::string_view id = bare_id(message_id); !id.empty()) out.id = sent_key(keys, id);
  for (const std::string& raw : correspondents.first(std::min(correspondents.size(), kMaxCorrespondentsPerMessage)))
    if (std::string a = correspondent_address(raw); !a.empty()) out.correspondents.push_back(correspondent_key(keys, a));
  return out;
}

Status record(Txn& txn, const SubmissionKeys& k, int64_t expires) {
  if (!k.id.empty()) TSUBAME_TRY(extend(txn, Db::kSent, k.id, expires));
  for (const std::string& c : k.correspondents) TSUBAME_TRY(extend(txn, Db::kCorrespondents, c, expires));
  return Status::ok();
}

}  // namespace

Status remember_submission(Store& store, std::string_view message_id, std::span<const std::string> correspondents,
                           int64_t now_ms, int64_t retention_ms) {
  const SubmissionKeys k = submission_keys(store.keys(), message_id, correspondents);
  if (k.empty()) return Status::ok();
  const int64_t expires = now_ms + std::max<int64_t>(retention_ms, 0);
  return store.env().write([&](Txn& txn) -> Status { return record(txn, k, expires); });
}

Status remember_sent_copy(Txn& txn, const Keyring& keys, const Envelope& envelope, int64_t now_ms,
                          int64_t retention_ms) {
  std::vector<std::string> outside;
  for (const auto* list : {&envelope.to, &envelope.cc, &envelope.bcc}) {
    for (const MailAddress& a : *list) {
      if (!a.mailbox || !a.host || a.mailbox->empty() || a.host->empty()) continue;  // a group's start or end
      if (outside.size() == kMaxCorrespondentsPerMessage) break;
      std::string_view ignored;
      Status local = txn.get(Db::kDomainNames, to_lower(*a.host), &ignored);
      if (local.is_ok()) continue;  // one of ours: mail between users here vouches for no one
      if (local.code() != Code::kNotFound) return local;
      outside.push_back(*a.mailbox + "@" + *a.host);
    }
  }
  const SubmissionKeys k = submission_keys(keys, envelope.message_id.value_or(""), outside);
  if (k.empty()) return Status::ok();
  return record(txn, k, now_ms + std::max<int64_t>(retention_ms, 0));
}

Result<bool> replies_to_sent(Store& store, std::span<const std::string> message_ids, int64_t now_ms) {
  bool known = false;
  if (message_ids.empty()) return known;
  Status s = store.env().read([&](const Txn& txn) -> Status {
    // Nothing sent yet (a receive-only server, the filter benchmark): no HMAC to compute.
    auto n = txn.count(Db::kSent);
    if (!n.is_ok()) return n.status();
    if (*n == 0) return Status::ok();
    size_t looked = 0;
    for (const std::string& raw : message_ids) {
      if (looked == kMaxReplyLookups) break;
      std::string_view id = bare_id(raw);
      if (id.empty()) continue;
      ++looked;
      auto found = unexpired(txn, Db::kSent, sent_key(store.keys(), id), now_ms);
      if (!found.is_ok()) return found.status();
      if (*found) {
        known = true;
        break;
      }
    }
    return Status::ok();
  });
  if (!s.is_ok()) return s;
  return known;
}

Result<bool> correspondent_known(Store& store, std::string_view address, int64_t now_ms) {
  bool known = false;
  const std::string a = correspondent_address(address);
  if (a.empty()) return known;
  Status s = store.env().read([&](const Txn& txn) -> Status {
    auto n = txn.count(Db::kCorrespondents);  // nobody here wrote out yet: no HMAC to compute
    if (!n.is_ok()) return n.status();
    if (*n == 0) return Status::ok();
    auto found = unexpired(txn, Db::kCorrespondents, correspondent_key(store.keys(), a), now_ms);
    if (!found.is_ok()) return found.status();
    known = *found;
    return Status::ok();
  });
  if (!s.is_ok()) return s;
  return known;
}

Result<uint64_t> purge_sent(Store& store, int64_t now_ms) { return purge_expired(store, Db::kSent, now_ms); }

Result<uint64_t> purge_correspondents(Store& store, int64_t now_ms) {
  return purge_expired(store, Db::kCorrespondents, now_ms);
}

}  // namespace tsubame::store
