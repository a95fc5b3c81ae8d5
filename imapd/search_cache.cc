// imapd/search_cache.cc: the folded-text LRU of SEARCH (see search_cache.h).
// Failure: none (allocation failure aside); an entry too large is simply not kept.
#include "imapd/search_cache.h"

namespace tsubame::imap {

namespace {
constexpr size_t kEntryOverhead = 128;   // list node, map node, shared_ptr control block
constexpr size_t kHeaderOverhead = 96;   // three std::string objects
}  // namespace

size_t FoldedText::bytes() const {
  size_t n = kEntryOverhead + body.size();
  for (const auto& h : headers)
    n += kHeaderOverhead + h.name.size() + h.value.size() + h.line.size();
  return n;
}

FoldedText fold_search_text(const SearchText& t) {
  FoldedText f;
  f.headers.reserve(t.headers.size());
  for (const auto& [name, value] : t.headers)
    f.headers.push_back(FoldedText::Header{name, fold_case(value), fold_case(name + ": " + value)});
  f.body = fold_case(t.body);
  return f;
}

SearchCache::SearchCache(size_t max_bytes) : max_bytes_(max_bytes) {}

std::shared_ptr<const FoldedText> SearchCache::get(uint64_t user_id, uint64_t blob_id) {
  std::lock_guard<std::mutex> lock(mu_);
  auto it = index_.find(Key{user_id, blob_id});
  if (it == index_.end()) {
    ++stats_.misses;
    return nullptr;
  }
  ++stats_.hits;
  lru_.splice(lru_.begin(), lru_, it->second);
  return it->second->text;
}

bool SearchCache::contains(uint64_t user_id, uint64_t blob_id) const {
  std::lock_guard<std::mutex> lock(mu_);
  return index_.count(Key{user_id, blob_id}) != 0;
}

void SearchCache::put(uint64_t user_id, uint64_t blob_id, std::shared_ptr<const FoldedText> text) {
  if (!text) return;
  size_t bytes = text->bytes();
  if (bytes > max_bytes_ / 8) return;
  std::lock_guard<std::mutex> lock(mu_);
  Key key{user_id, blob_id};
  auto it = index_.find(key);
  if (it != index_.end()) {  // same immutable content: keep the entry, refresh its place
    lru_.splice(lru_.begin(), lru_, it->second);
    return;
  }
  lru_.push_front(Entry{key, std::move(text), bytes});
  index_.emplace(key, lru_.begin());
  stats_.bytes += bytes;
  ++stats_.entries;
  while (stats_.bytes > max_bytes_ && !lru_.empty()) {
    const Entry& last = lru_.back();
    stats_.bytes -= last.bytes;
    --stats_.entries;
    index_.erase(last.key);
    lru_.pop_back();
  }
}

SearchCacheStats SearchCache::stats() const {
  std::lock_guard<std::mutex> lock(mu_);
  return stats_;
}

}  // namespace tsubame::imap
