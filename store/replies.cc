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

// The id between its angle brackets, blanks around it dropped; "" when nothing is left or it
// is too long to be one.
std::string_view bare_id(std::string_view id) {
  auto blank = [](char c) { return c == ' ' || c == '\t' || c == '\r' || c == '\n'; };
  while (!id.empty() && blank(id.front())) id.remove_prefix(1);
  while (!id.empty() && blank(id.back())) id.remove_suffix(1);
  if (id.size() >= 2 && id.front() == '<' && id.back() == '>') id = id.substr(1, id.size() - 2);
  if (id.size() > kMaxMessageIdBytes) return {};
  return id;
}

std::string sent_key(const Store& store, std::string_view id) { return store.keys().index("sent", id); }

}  // namespace

Status remember_sent(Store& store, std::string_view message_id, int64_t now_ms, int64_t retention_ms) {
  std::string_view id = bare_id(message_id);
  if (id.empty()) return Status::invalid("remember_sent: empty or over-long Message-ID");
  const std::string key = sent_key(store, id);
  const int64_t expires = now_ms + std::max<int64_t>(retention_ms, 0);
  return store.env().write([&](Txn& txn) -> Status {
    std::string_view old;
    Status s = txn.get(Db::kSent, key, &old);
    if (s.is_ok() && old.size() == 8 && int64_t(get_be64(old.data())) >= expires) return Status::ok();
    if (!s.is_ok() && s.code() != Code::kNotFound) return s;
    return txn.put(Db::kSent, key, be64(uint64_t(expires)));
  });
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
      const std::string key = sent_key(store, id);
      std::string_view v;
      Status g = txn.get(Db::kSent, key, &v);
      if (g.code() == Code::kNotFound) continue;
      if (!g.is_ok()) return g;
      if (v.size() != 8) return Status::corruption("sent Message-ID record: malformed");
      if (int64_t(get_be64(v.data())) > now_ms) {
        known = true;
        break;
      }
    }
    return Status::ok();
  });
  if (!s.is_ok()) return s;
  return known;
}

Result<uint64_t> purge_sent(Store& store, int64_t now_ms) {
  uint64_t removed = 0;
  Status s = store.env().write([&](Txn& txn) -> Status {
    removed = 0;
    std::vector<std::string> expired;
    TSUBAME_TRY(txn.scan(Db::kSent, "", "", [&](std::string_view k, std::string_view v) {
      if (v.size() != 8 || int64_t(get_be64(v.data())) <= now_ms) expired.emplace_back(k);
      return true;
    }));
    for (const std::string& k : expired) TSUBAME_TRY(txn.del(Db::kSent, k));
    removed = expired.size();
    return Status::ok();
  });
  if (!s.is_ok()) return s;
  return removed;
}

}  // namespace tsubame::store
