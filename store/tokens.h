// store/tokens.h: the statistical classifier's token counts (filter/ reads and trains them).
//
// Each scope (0 = global, else a domain id) holds, per token hash, how many spam and how many
// ham messages contained the token, plus the scope's message totals. A token is counted at
// most once per message: duplicate hashes in one call count once. Counts never go below zero
// (unlearning more than was learned clamps at 0). Every token_learn call is one durable write
// transaction; token_counts and token_totals are read snapshots.
//
// Failure: a malformed stored count is Corruption; LMDB errors come back as their Status.
// Token hashes are the filter's (keyed or not); no text of a message is stored here.
#pragma once

#include <cstddef>
#include <cstdint>
#include <functional>
#include <span>
#include <vector>

#include "common/result.h"

namespace tsubame::store {

class Store;

struct TokenCounts {
  uint64_t spam = 0;
  uint64_t ham = 0;
  // token_totals only: how many token_learn calls (learn or unlearn) the scope has seen. It
  // only grows, so a reader caching counts can tell that they changed even when a learn and
  // an unlearn left the message totals as they were.
  uint64_t updates = 0;
};

// Counts of each hash, in the order of `hashes` (out is resized; unknown tokens are 0/0).
Status token_counts(Store& store, uint32_t scope, std::span<const uint64_t> hashes,
                    std::vector<TokenCounts>& out);

// Learns (delta > 0) or unlearns (delta < 0) one message as spam or ham: every distinct hash
// gains/loses |delta| in the spam or ham column, and so do the scope's message totals.
// delta == 0 is InvalidArgument.
Status token_learn(Store& store, uint32_t scope, std::span<const uint64_t> hashes, bool spam,
                   int delta);

// The number of spam and ham messages learned in the scope.
Result<TokenCounts> token_totals(Store& store, uint32_t scope);

// Every token the scope holds, with its counts, and the scope's totals (with `updates`), read
// in one snapshot, so the counts are exactly those of that update. Visits tokens in hash
// order. Returns false (having visited max_tokens of them) when the scope holds more than
// max_tokens tokens, so a caller that wants all or nothing discards what it got; true when
// every token was visited.
Result<bool> token_scope_read(Store& store, uint32_t scope, size_t max_tokens, TokenCounts* totals,
                              const std::function<void(uint64_t hash, const TokenCounts&)>& fn);

}  // namespace tsubame::store
