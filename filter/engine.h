// filter/engine.h: compiles rule sets into Hyperscan databases and scans messages.
//
//   conf/rules/*.rules ──load_rule_path()──▶ RuleDefs
//        │ SHA-256 of the files = cache key
//        ▼
//   cache_dir/rules-<hash>.hsdb ──check header──▶ hs_deserialize_database ──┐
//        │ missing / stale / corrupt                                        │
//        ▼                                                                  ▼
//   hs_compile_multi per scope (one database per scope) ──write cache──▶ RuleSet (immutable)
//                                                                           │
//   Engine::reload() builds a new RuleSet off to the side, then swaps it in │ std::atomic_store
//   Engine::scan(ScanInput) ──std::atomic_load──▶ one hs_scan per scope text ──▶ hits + metas
//
// One Hyperscan block-mode database per scope (all patterns of that scope; pattern id =
// index of the rule in RuleDefs::rules; HS_FLAG_SINGLEMATCH). Each thread scans with its
// own scratch cloned from the rule set's prototype (hs_clone_scratch), cached per thread.
//
// Cache file: magic, format version, hs_version(), the hs_populate_platform() tune and CPU
// features, the rules' hash, database and pattern counts, payload length and the payload's
// SHA-256. Everything is checked before hs_deserialize_database; any mismatch means the
// file is rebuilt and rewritten (write to a temp file, then rename), never trusted. A cache
// directory that cannot be written only costs a recompile at the next start.
//
// Failure: a pattern Hyperscan rejects fails the build with "file:line: rule ID: reason"
// (every bad rule listed); reload() then keeps the running set. A scan error (Hyperscan
// returning anything but success) is returned as Code::kInternal; the filter facade turns
// it into "deliver with a fault note".
//
// Thread-safety: Engine::scan and Engine::current may run on any number of threads while
// one thread calls reload(); a scan uses the set it loaded at its start to the end.
#pragma once

#include <atomic>
#include <cstdint>
#include <filesystem>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "common/result.h"
#include "filter/rules.h"

struct hs_database;
struct hs_scratch;

namespace tsubame::filter {

// ---- scan size caps: text beyond a cap is not scanned, and the scan says so ----
inline constexpr size_t kScanCapHeader = 16 * 1024;          // one header value
inline constexpr size_t kScanCapSubject = 4 * 1024;
inline constexpr size_t kScanCapFrom = 4 * 1024;
inline constexpr size_t kScanCapBody = 2 * 1024 * 1024;      // decoded text, all parts
inline constexpr size_t kScanCapRawBody = 2 * 1024 * 1024;   // raw body, from its start
inline constexpr size_t kScanCapHtml = 2 * 1024 * 1024;      // decoded HTML, all parts
inline constexpr size_t kScanCapUrl = 4 * 1024;              // one URL
inline constexpr size_t kScanCapAttachmentName = 1024;
inline constexpr size_t kScanCapAttachmentType = 256;
inline constexpr size_t kScanMaxTextsPerScope = 1000;        // URLs, headers, names ...

// What one message offers each scope. Views point into the caller's data (for example a
// ParsedMessage) and must stay valid during the scan.
struct ScanInput {
  std::vector<std::pair<std::string_view, std::string_view>> headers;  // name (any case), value
  std::vector<std::string_view> subject, from, body, rawbody, urls, attachment_names,
      attachment_types;
  std::vector<std::string_view> html;  // each text/html part's decoded markup (TextPart::source)
  std::vector<std::string> checks;  // names of check:NAME tests that fired (rules.h)
};

enum class CacheOutcome {
  kDisabled,  // no cache directory configured
  kHit,       // databases loaded from the cache file
  kMiss,      // no cache file for these rules: compiled and written
  kStale,     // a file was there but for another Hyperscan version or CPU: rebuilt
  kCorrupt,   // a file was there but failed a check (magic, length, checksum, deserialize)
};
std::string_view cache_outcome_name(CacheOutcome o);

class RuleSet;

struct ScanResult {
  std::shared_ptr<const RuleSet> rules;  // the set that produced these hits
  std::vector<uint8_t> hits;             // per RuleDefs index (rules, then metas); 1 = hit
  std::vector<std::string> truncated;    // scope keys whose input hit a size cap
};

// An immutable compiled rule set. Owns its Hyperscan databases.
class RuleSet {
 public:
  ~RuleSet();
  RuleSet(const RuleSet&) = delete;
  RuleSet& operator=(const RuleSet&) = delete;

  const RuleDefs& defs() const { return defs_; }
  uint64_t generation() const { return generation_; }
  CacheOutcome cache_outcome() const { return cache_outcome_; }
  const std::string& cache_note() const { return cache_note_; }
  size_t database_count() const { return dbs_.size(); }

  // Scans every scope of the input once per text; fills out.hits (metas evaluated).
  Status scan(const ScanInput& in, ScanResult& out) const;

 private:
  friend Result<std::shared_ptr<const RuleSet>> build_rule_set(RuleDefs defs,
                                                               const std::filesystem::path&);
  RuleSet() = default;

  struct Db {
    Scope scope;
    hs_database* db = nullptr;
    uint32_t patterns = 0;
  };
  RuleDefs defs_;
  std::vector<Db> dbs_;
  hs_scratch* proto_scratch_ = nullptr;
  uint64_t generation_ = 0;
  CacheOutcome cache_outcome_ = CacheOutcome::kDisabled;
  std::string cache_note_;
};

// Compiles (or loads from cache_dir, when not empty) the databases of a rule set.
Result<std::shared_ptr<const RuleSet>> build_rule_set(RuleDefs defs,
                                                      const std::filesystem::path& cache_dir);

// The cache file a rule set with this content hash uses.
std::filesystem::path cache_file_path(const std::filesystem::path& cache_dir,
                                      const std::string& content_hash);

struct EngineOptions {
  std::filesystem::path rules;      // a *.rules file or a directory of them
  std::filesystem::path cache_dir;  // empty: no cache
};

class Engine {
 public:
  static Result<std::unique_ptr<Engine>> open(EngineOptions options);

  // Loads and compiles the rule files again and swaps the new set in atomically. On any
  // error the running set stays and the error is returned. Serialised by a mutex.
  Status reload();

  // The running set (never null once open() succeeded).
  std::shared_ptr<const RuleSet> current() const { return std::atomic_load(&current_); }

  Result<ScanResult> scan(const ScanInput& in) const;

 private:
  explicit Engine(EngineOptions o) : options_(std::move(o)) {}
  EngineOptions options_;
  // Read and written only with std::atomic_load / std::atomic_store. Not
  // std::atomic<std::shared_ptr>: libstdc++ 12 implements that with a spin lock whose
  // reader unlocks with relaxed order, which ThreadSanitizer reports as a race; the free
  // functions use a mutex pool and are clean.
  std::shared_ptr<const RuleSet> current_;
  std::mutex reload_mu_;
};

}  // namespace tsubame::filter
