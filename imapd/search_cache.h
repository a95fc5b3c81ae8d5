// imapd/search_cache.h: the searchable text of messages, decoded and case-folded once, kept
// in a bounded LRU shared by the sessions of one daemon (SEARCH TEXT / BODY / HEADER / FROM
// / TO / CC / BCC / SUBJECT, RFC 9051 §6.4.4).
//
// Without it every such SEARCH decrypts every message of the mailbox and runs the MIME
// parse on it (imapd/filter_glue.h). FoldedText holds what search_text.h's text_contains()
// would compute on each call: fold_case() of every decoded header value, of every
// "name: value" line (TEXT) and of the body text, so a match is one substring search of the
// folded needle, with exactly the same result.
//
// Key: (user id, blob id). A blob's content never changes and blob ids are never reused
// (store/README.md), so an entry can never be stale; the user id in the key means an entry
// is only ever found by the user whose message produced it, even when one blob is shared
// by several recipients. The session looks entries up only for messages listed in its own
// selected mailbox.
//
// Bound: kSearchCacheBytes of text in all (an entry counts its strings' sizes plus a fixed
// overhead); least recently used entries go first; a message whose text alone exceeds an
// eighth of the bound is not cached. Decrypted text lives only in this process's memory,
// like the messages being served; nothing is written anywhere.
//
// Thread-safety: every method may be called from any thread (one mutex).
#pragma once

#include <cstddef>
#include <cstdint>
#include <list>
#include <memory>
#include <mutex>
#include <string>
#include <unordered_map>
#include <utility>
#include <vector>

#include "imapd/limits.h"
#include "imapd/search_text.h"

namespace tsubame::imap {

struct FoldedText {
  struct Header {
    std::string name;   // as written (header keys compare names case-insensitively)
    std::string value;  // fold_case(decoded value)
    std::string line;   // fold_case(name + ": " + decoded value), for TEXT
  };
  std::vector<Header> headers;
  std::string body;     // fold_case(decoded body text)
  size_t bytes() const;
};
FoldedText fold_search_text(const SearchText& t);

struct SearchCacheStats {
  uint64_t hits = 0, misses = 0, entries = 0, bytes = 0;
};

class SearchCache {
 public:
  explicit SearchCache(size_t max_bytes = kSearchCacheBytes);
  SearchCache(const SearchCache&) = delete;
  SearchCache& operator=(const SearchCache&) = delete;

  std::shared_ptr<const FoldedText> get(uint64_t user_id, uint64_t blob_id);
  // Whether an entry is there (no statistics, no LRU change).
  bool contains(uint64_t user_id, uint64_t blob_id) const;
  void put(uint64_t user_id, uint64_t blob_id, std::shared_ptr<const FoldedText> text);
  SearchCacheStats stats() const;

 private:
  using Key = std::pair<uint64_t, uint64_t>;
  struct KeyHash {
    size_t operator()(const Key& k) const {
      return std::hash<uint64_t>()(k.first * 0x9E3779B97F4A7C15ull ^ k.second);
    }
  };
  struct Entry {
    Key key;
    std::shared_ptr<const FoldedText> text;
    size_t bytes = 0;
  };
  size_t max_bytes_;
  mutable std::mutex mu_;
  std::list<Entry> lru_;  // front: most recently used
  std::unordered_map<Key, std::list<Entry>::iterator, KeyHash> index_;
  SearchCacheStats stats_;
};

}  // namespace tsubame::imap
