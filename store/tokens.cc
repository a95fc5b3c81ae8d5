// store/tokens.cc: classifier token counts in Db::kTokens.
//
// Layout: key be32 scope | be64 hash -> be64 spam | be64 ham (a token at 0/0 is deleted);
//         key be32 scope (4 bytes, sorts before the scope's tokens) -> the scope's totals:
//         be64 spam | be64 ham [| be64 updates] (records written before `updates` existed
//         have 16 bytes and read as 0 updates).
// Failure: a value of another size is Corruption and aborts the transaction.
#include "store/tokens.h"

#include <algorithm>

#include "common/bytes.h"
#include "store/env.h"
#include "store/store.h"

namespace tsubame::store {
namespace {

constexpr size_t kCountsSize = 16;

std::string token_key(uint32_t scope, uint64_t hash) {
  std::string k;
  k.reserve(12);
  put_be32(k, scope);
  put_be64(k, hash);
  return k;
}

Status decode(std::string_view v, TokenCounts* c) {
  if (v.size() != kCountsSize) return Status::corruption("token counts record has a bad size");
  c->spam = get_be64(v.data());
  c->ham = get_be64(v.data() + 8);
  return Status::ok();
}

std::string encode(const TokenCounts& c) {
  std::string v;
  v.reserve(kCountsSize);
  put_be64(v, c.spam);
  put_be64(v, c.ham);
  return v;
}

uint64_t apply(uint64_t n, int delta) {
  if (delta >= 0) return n + uint64_t(delta);
  uint64_t d = uint64_t(-int64_t(delta));
  return n > d ? n - d : 0;  // never below zero
}

// Adds delta to one counts record; deletes it when it reaches 0/0.
Status bump(Txn& txn, const std::string& key, bool spam, int delta) {
  TokenCounts c;
  std::string_view v;
  Status s = txn.get(Db::kTokens, key, &v);
  if (s.is_ok()) {
    TSUBAME_TRY(decode(v, &c));
  } else if (s.code() != Code::kNotFound) {
    return s;
  } else if (delta < 0) {
    return Status::ok();  // nothing to unlearn
  }
  uint64_t& n = spam ? c.spam : c.ham;
  n = apply(n, delta);
  if (c.spam == 0 && c.ham == 0) {
    if (s.is_ok()) return txn.del(Db::kTokens, key);
    return Status::ok();
  }
  return txn.put(Db::kTokens, key, encode(c));
}

constexpr size_t kTotalsSize = 24;

Status decode_totals(std::string_view v, TokenCounts* c) {
  if (v.size() == kCountsSize) return decode(v, c);
  if (v.size() != kTotalsSize) return Status::corruption("token totals record has a bad size");
  TSUBAME_TRY(decode(v.substr(0, kCountsSize), c));
  c->updates = get_be64(v.data() + kCountsSize);
  return Status::ok();
}

// The scope's totals gain (or lose) one message and one update; the record is kept even
// at 0/0 so that `updates` never goes back.
Status bump_totals(Txn& txn, uint32_t scope, bool spam, int delta) {
  std::string key = be32(scope);
  TokenCounts c;
  std::string_view v;
  Status s = txn.get(Db::kTokens, key, &v);
  if (s.is_ok()) TSUBAME_TRY(decode_totals(v, &c));
  else if (s.code() != Code::kNotFound) return s;
  uint64_t& n = spam ? c.spam : c.ham;
  n = apply(n, delta);
  c.updates++;
  std::string out = encode(c);
  put_be64(out, c.updates);
  return txn.put(Db::kTokens, key, out);
}

}  // namespace

Status token_counts(Store& store, uint32_t scope, std::span<const uint64_t> hashes,
                    std::vector<TokenCounts>& out) {
  out.assign(hashes.size(), TokenCounts{});
  return store.env().read([&](const Txn& txn) -> Status {
    for (size_t i = 0; i < hashes.size(); i++) {
      std::string_view v;
      Status s = txn.get(Db::kTokens, token_key(scope, hashes[i]), &v);
      if (s.code() == Code::kNotFound) continue;
      TSUBAME_TRY(s);
      TSUBAME_TRY(decode(v, &out[i]));
    }
    return Status::ok();
  });
}

Status token_learn(Store& store, uint32_t scope, std::span<const uint64_t> hashes, bool spam,
                   int delta) {
  if (delta == 0) return Status::invalid("token_learn: delta must not be 0");
  std::vector<uint64_t> unique(hashes.begin(), hashes.end());
  std::sort(unique.begin(), unique.end());
  unique.erase(std::unique(unique.begin(), unique.end()), unique.end());
  return store.env().write([&](Txn& txn) -> Status {
    // Sorted keys: LMDB touches pages in order, which keeps large updates cheap.
    for (uint64_t h : unique) TSUBAME_TRY(bump(txn, token_key(scope, h), spam, delta));
    return bump_totals(txn, scope, spam, delta);
  });
}

Result<TokenCounts> token_totals(Store& store, uint32_t scope) {
  TokenCounts c;
  Status s = store.env().read([&](const Txn& txn) -> Status {
    std::string_view v;
    Status g = txn.get(Db::kTokens, be32(scope), &v);
    if (g.code() == Code::kNotFound) return Status::ok();
    TSUBAME_TRY(g);
    return decode_totals(v, &c);
  });
  if (!s.is_ok()) return s;
  return c;
}

Result<bool> token_scope_read(Store& store, uint32_t scope, size_t max_tokens, TokenCounts* totals,
                              const std::function<void(uint64_t, const TokenCounts&)>& fn) {
  *totals = TokenCounts{};
  bool complete = true;
  Status s = store.env().read([&](const Txn& txn) -> Status {
    size_t seen = 0;
    Status bad = Status::ok();
    const std::string prefix = be32(scope);
    // The totals record's key is the prefix itself, so it comes first; then the tokens.
    TSUBAME_TRY(txn.scan(Db::kTokens, prefix, prefix, [&](std::string_view key, std::string_view value) {
      if (key.size() == prefix.size()) {
        bad = decode_totals(value, totals);
        return bad.is_ok();
      }
      if (key.size() != prefix.size() + 8) return true;  // no such key is written
      if (seen == max_tokens) {
        complete = false;
        return false;
      }
      TokenCounts c;
      bad = decode(value, &c);
      if (!bad.is_ok()) return false;
      fn(get_be64(key.data() + prefix.size()), c);
      ++seen;
      return true;
    }));
    return bad;
  });
  if (!s.is_ok()) return s;
  return complete;
}

}  // namespace tsubame::store
