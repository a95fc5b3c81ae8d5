// filter/engine.cc: Hyperscan compile, cache, per-thread scratch and scans (see engine.h).
//
// How it fails: compile errors name the rule's file:line and Hyperscan's message; cache
// problems are never errors (the set is compiled instead and the outcome recorded); scan
// errors are returned as Code::kInternal values. Nothing here throws on purpose; the facade
// (filter.cc) still catches anything a library throws.
#include "filter/engine.h"

#include <hs/hs.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <cstring>
#include <fstream>
#include <map>
#include <sstream>
#include <unordered_map>

#include "common/bytes.h"
#include "common/crypto.h"

namespace tsubame::filter {

namespace {

constexpr std::string_view kCacheMagic = "TSBHSDB\x01";
constexpr uint32_t kCacheFormat = 1;
std::atomic<uint64_t> g_generation{1};

bool has_database(ScopeKind k) { return k != ScopeKind::kCheck; }

// Groups rule indexes by scope key, in order of first appearance.
std::vector<std::pair<Scope, std::vector<uint32_t>>> group_by_scope(const RuleDefs& defs) {
  std::vector<std::pair<Scope, std::vector<uint32_t>>> groups;
  std::map<std::string, size_t> where;
  for (uint32_t i = 0; i < defs.rules.size(); ++i) {
    const Rule& r = defs.rules[i];
    if (!has_database(r.scope.kind)) continue;
    auto [it, fresh] = where.emplace(r.scope.key(), groups.size());
    if (fresh) groups.push_back({r.scope, {}});
    groups[it->second].second.push_back(i);
  }
  return groups;
}

std::string hs_error_text(hs_compile_error_t* err) {
  std::string s = err && err->message ? err->message : "unknown Hyperscan error";
  if (err) hs_free_compile_error(err);
  return s;
}

// Compiles one scope. On failure lists every rule of the scope Hyperscan rejects.
Result<hs_database_t*> compile_scope(const RuleDefs& defs, const std::vector<uint32_t>& idx,
                                     const hs_platform_info_t& platform) {
  std::vector<const char*> exprs;
  std::vector<unsigned> flags, ids;
  for (uint32_t i : idx) {
    exprs.push_back(defs.rules[i].pattern.c_str());
    flags.push_back(defs.rules[i].hs_flags | HS_FLAG_SINGLEMATCH);
    ids.push_back(i);
  }
  hs_database_t* db = nullptr;
  hs_compile_error_t* err = nullptr;
  hs_error_t rc = hs_compile_multi(exprs.data(), flags.data(), ids.data(),
                                   static_cast<unsigned>(exprs.size()), HS_MODE_BLOCK, &platform,
                                   &db, &err);
  if (rc == HS_SUCCESS) return db;
  int bad = err ? err->expression : -1;
  std::string whole = hs_error_text(err);
  // Find every failing pattern so one run shows all mistakes.
  std::string msg;
  for (size_t k = 0; k < exprs.size(); ++k) {
    hs_database_t* one = nullptr;
    hs_compile_error_t* e1 = nullptr;
    if (hs_compile(exprs[k], flags[k], HS_MODE_BLOCK, &platform, &one, &e1) == HS_SUCCESS) {
      hs_free_database(one);
      continue;
    }
    const Rule& r = defs.rules[idx[k]];
    msg += (msg.empty() ? "" : "\n") + r.where() + ": rule " + r.id + ": " + hs_error_text(e1);
  }
  if (msg.empty()) {
    if (bad >= 0 && static_cast<size_t>(bad) < idx.size()) {
      const Rule& r = defs.rules[idx[bad]];
      msg = r.where() + ": rule " + r.id + ": " + whole;
    } else {
      msg = "scope " + defs.rules[idx.front()].scope.key() + ": " + whole;
    }
  }
  return Status::invalid(msg);
}

struct CacheHeaderInfo {
  std::string version;
  uint64_t tune = 0, features = 0;
};

CacheHeaderInfo current_header_info(const hs_platform_info_t& p) {
  return {hs_version(), p.tune, p.cpu_features};
}

std::string encode_cache(const RuleDefs& defs, const hs_platform_info_t& platform,
                         const std::vector<std::pair<Scope, hs_database_t*>>& dbs,
                         uint32_t pattern_total, const std::vector<uint32_t>& counts) {
  ByteWriter payload;
  for (size_t i = 0; i < dbs.size(); ++i) {
    char* bytes = nullptr;
    size_t len = 0;
    if (hs_serialize_database(dbs[i].second, &bytes, &len) != HS_SUCCESS) return {};
    payload.str(dbs[i].first.key()).u32(counts[i]).str(std::string_view(bytes, len));
    free(bytes);  // allocated by Hyperscan's default allocator (malloc)
  }
  CacheHeaderInfo h = current_header_info(platform);
  ByteWriter w;
  w.raw(kCacheMagic).u32(kCacheFormat).str(h.version).u64(h.tune).u64(h.features)
      .str(defs.content_hash).u32(static_cast<uint32_t>(dbs.size())).u32(pattern_total)
      .u64(payload.data().size()).raw(crypto::sha256(payload.data())).raw(payload.data());
  return w.take();
}

// Reads and checks a cache file. Returns the outcome (kHit with dbs filled on success).
CacheOutcome load_cache(const std::filesystem::path& file, const RuleDefs& defs,
                        const hs_platform_info_t& platform,
                        const std::vector<std::pair<Scope, std::vector<uint32_t>>>& groups,
                        std::vector<hs_database_t*>& dbs, std::string& note) {
  std::ifstream in(file, std::ios::binary);
  if (!in) {
    note = "no cache file";
    return CacheOutcome::kMiss;
  }
  std::ostringstream ss;
  ss << in.rdbuf();
  std::string data = ss.str();
  ByteReader r(data);
  std::string_view magic, checksum, payload;
  uint32_t format = 0, db_count = 0, pattern_total = 0;
  std::string version, hash;
  uint64_t tune = 0, features = 0, payload_len = 0;
  if (!r.raw(kCacheMagic.size(), magic) || magic != kCacheMagic || !r.u32(format)) {
    note = "bad magic";
    return CacheOutcome::kCorrupt;
  }
  if (format != kCacheFormat) {
    note = "cache format " + std::to_string(format);
    return CacheOutcome::kStale;
  }
  if (!r.str(version) || !r.u64(tune) || !r.u64(features) || !r.str(hash) || !r.u32(db_count) ||
      !r.u32(pattern_total) || !r.u64(payload_len) || !r.raw(32, checksum)) {
    note = "truncated header";
    return CacheOutcome::kCorrupt;
  }
  CacheHeaderInfo now = current_header_info(platform);
  if (version != now.version) {
    note = "built by Hyperscan " + version + ", running " + now.version;
    return CacheOutcome::kStale;
  }
  if (tune != now.tune || features != now.features) {
    note = "built for another CPU (features " + std::to_string(features) + ")";
    return CacheOutcome::kStale;
  }
  if (hash != defs.content_hash) {
    note = "rules hash differs";
    return CacheOutcome::kStale;
  }
  uint32_t expect_patterns = 0;
  for (const auto& g : groups) expect_patterns += static_cast<uint32_t>(g.second.size());
  if (db_count != groups.size() || pattern_total != expect_patterns) {
    note = "database or pattern count differs";
    return CacheOutcome::kCorrupt;
  }
  if (payload_len != r.remaining() || !r.raw(payload_len, payload)) {
    note = "payload length differs";
    return CacheOutcome::kCorrupt;
  }
  if (!constant_time_equal(crypto::sha256(payload), checksum)) {
    note = "checksum mismatch";
    return CacheOutcome::kCorrupt;
  }
  ByteReader pr(payload);
  for (const auto& g : groups) {
    std::string key;
    uint32_t count = 0;
    std::string_view blob;
    if (!pr.str(key) || !pr.u32(count) || !pr.str_view(blob) || key != g.first.key() ||
        count != g.second.size()) {
      note = "database list differs";
      break;
    }
    char* info = nullptr;
    if (hs_serialized_database_info(blob.data(), blob.size(), &info) != HS_SUCCESS) {
      note = "unreadable database for " + key;
      break;
    }
    free(info);
    hs_database_t* db = nullptr;
    if (hs_deserialize_database(blob.data(), blob.size(), &db) != HS_SUCCESS) {
      note = "hs_deserialize_database failed for " + key;
      break;
    }
    dbs.push_back(db);
  }
  if (dbs.size() != groups.size() || !pr.done()) {
    for (auto* db : dbs) hs_free_database(db);
    dbs.clear();
    if (note.empty()) note = "trailing bytes";
    return CacheOutcome::kCorrupt;
  }
  note = "loaded " + file.filename().string();
  return CacheOutcome::kHit;
}

// Writes the cache atomically: temp file in the same directory, then rename.
void write_cache(const std::filesystem::path& file, const std::string& bytes) {
  if (bytes.empty()) return;
  std::error_code ec;
  std::filesystem::create_directories(file.parent_path(), ec);
  std::filesystem::path tmp = file;
  tmp += ".tmp." + std::to_string(::getpid()) + "." + std::to_string(random_u64());
  {
    std::ofstream out(tmp, std::ios::binary | std::ios::trunc);
    if (!out) return;
    out.write(bytes.data(), static_cast<std::streamsize>(bytes.size()));
    out.flush();
    if (!out) {
      std::filesystem::remove(tmp, ec);
      return;
    }
  }
  std::filesystem::rename(tmp, file, ec);
  if (ec) {
    std::filesystem::remove(tmp, ec);
    return;
  }
  // Drop caches of older rule sets: they will never match again.
  for (const auto& e : std::filesystem::directory_iterator(file.parent_path(), ec)) {
    const std::string name = e.path().filename().string();
    if (e.path() != file && name.starts_with("rules-") && name.ends_with(".hsdb"))
      std::filesystem::remove(e.path(), ec);
  }
}

// ---- per-thread scratch ----
struct ThreadScratch {
  uint64_t generation = 0;
  hs_scratch_t* scratch = nullptr;
};
struct ScratchCache {
  std::array<ThreadScratch, 4> slots;
  size_t next = 0;
  ~ScratchCache() {
    for (auto& s : slots)
      if (s.scratch) hs_free_scratch(s.scratch);
  }
};
thread_local ScratchCache t_scratch;

hs_scratch_t* thread_scratch(uint64_t generation, const hs_scratch_t* proto) {
  for (auto& s : t_scratch.slots)
    if (s.generation == generation && s.scratch) return s.scratch;
  ThreadScratch& slot = t_scratch.slots[t_scratch.next++ % t_scratch.slots.size()];
  if (slot.scratch) hs_free_scratch(slot.scratch);
  slot.scratch = nullptr;
  slot.generation = 0;
  if (hs_clone_scratch(proto, &slot.scratch) != HS_SUCCESS) return nullptr;
  slot.generation = generation;
  return slot.scratch;
}

int on_match(unsigned int id, unsigned long long, unsigned long long, unsigned int, void* ctx) {
  auto* hits = static_cast<std::vector<uint8_t>*>(ctx);
  if (id < hits->size()) (*hits)[id] = 1;
  return 0;  // keep scanning: other patterns of this database may match too
}

}  // namespace

std::string_view cache_outcome_name(CacheOutcome o) {
  switch (o) {
    case CacheOutcome::kDisabled: return "disabled";
    case CacheOutcome::kHit: return "hit";
    case CacheOutcome::kMiss: return "miss";
    case CacheOutcome::kStale: return "stale";
    case CacheOutcome::kCorrupt: return "corrupt";
  }
  return "?";
}

std::filesystem::path cache_file_path(const std::filesystem::path& cache_dir,
                                      const std::string& content_hash) {
  return cache_dir / ("rules-" + content_hash.substr(0, 32) + ".hsdb");
}

RuleSet::~RuleSet() {
  for (auto& d : dbs_) hs_free_database(d.db);
  if (proto_scratch_) hs_free_scratch(proto_scratch_);
}

Result<std::shared_ptr<const RuleSet>> build_rule_set(RuleDefs defs,
                                                      const std::filesystem::path& cache_dir) {
  hs_platform_info_t platform{};
  if (hs_populate_platform(&platform) != HS_SUCCESS)
    return Status::internal("hs_populate_platform failed");
  auto groups = group_by_scope(defs);

  std::shared_ptr<RuleSet> set(new RuleSet());
  std::vector<hs_database_t*> dbs;
  if (!cache_dir.empty()) {
    std::filesystem::path file = cache_file_path(cache_dir, defs.content_hash);
    set->cache_outcome_ = load_cache(file, defs, platform, groups, dbs, set->cache_note_);
  }
  if (set->cache_outcome_ != CacheOutcome::kHit) {
    std::string errors;
    for (const auto& g : groups) {
      auto db = compile_scope(defs, g.second, platform);
      if (!db) {
        errors += (errors.empty() ? "" : "\n") + db.status().message();
        continue;
      }
      dbs.push_back(db.value());
    }
    if (!errors.empty()) {
      for (auto* db : dbs) hs_free_database(db);
      return Status::invalid(errors);
    }
    if (!cache_dir.empty()) {
      std::vector<std::pair<Scope, hs_database_t*>> named;
      std::vector<uint32_t> counts;
      uint32_t total = 0;
      for (size_t i = 0; i < groups.size(); ++i) {
        named.push_back({groups[i].first, dbs[i]});
        counts.push_back(static_cast<uint32_t>(groups[i].second.size()));
        total += counts.back();
      }
      write_cache(cache_file_path(cache_dir, defs.content_hash),
                  encode_cache(defs, platform, named, total, counts));
    }
  }
  for (size_t i = 0; i < groups.size(); ++i) {
    set->dbs_.push_back({groups[i].first, dbs[i], static_cast<uint32_t>(groups[i].second.size())});
  }
  for (auto& d : set->dbs_) {
    if (hs_alloc_scratch(d.db, &set->proto_scratch_) != HS_SUCCESS)
      return Status::internal("hs_alloc_scratch failed for scope " + d.scope.key());
  }
  set->defs_ = std::move(defs);
  set->generation_ = g_generation.fetch_add(1);
  return std::shared_ptr<const RuleSet>(std::move(set));
}

Status RuleSet::scan(const ScanInput& in, ScanResult& out) const {
  out.hits.assign(defs_.size(), 0);
  out.truncated.clear();
  hs_scratch_t* scratch = nullptr;
  if (!dbs_.empty()) {
    scratch = thread_scratch(generation_, proto_scratch_);
    if (scratch == nullptr) return Status::internal("hs_clone_scratch failed");
  }
  auto scan_texts = [&](const Db& d, const std::vector<std::string_view>& texts,
                        size_t cap) -> Status {
    size_t n = 0;
    for (std::string_view t : texts) {
      if (++n > kScanMaxTextsPerScope) {
        out.truncated.push_back(d.scope.key());
        break;
      }
      if (t.size() > cap) {
        t = t.substr(0, cap);
        out.truncated.push_back(d.scope.key());
      }
      hs_error_t rc = hs_scan(d.db, t.data(), static_cast<unsigned>(t.size()), 0, scratch,
                              on_match, &out.hits);
      if (rc != HS_SUCCESS)
        return Status::internal("hs_scan failed on scope " + d.scope.key() + " (error " +
                                std::to_string(rc) + ")");
    }
    return Status::ok();
  };
  std::vector<std::string_view> one;
  // Texts whose cap applies to all of them together (the body text, the HTML parts): each
  // is scanned on its own, until the total reaches the cap.
  auto scan_within = [&](const Db& d, const std::vector<std::string_view>& texts, size_t cap) -> Status {
    size_t budget = cap;
    one.clear();
    for (std::string_view t : texts) {
      if (budget == 0) {
        out.truncated.push_back(d.scope.key());
        break;
      }
      if (t.size() > budget) {
        out.truncated.push_back(d.scope.key());
        t = t.substr(0, budget);
      }
      budget -= t.size();
      one.push_back(t);
    }
    return scan_texts(d, one, cap);
  };
  for (const Db& d : dbs_) {
    switch (d.scope.kind) {
      case ScopeKind::kHeader: {
        one.clear();
        for (const auto& [name, value] : in.headers)
          if (iequals(name, d.scope.name)) one.push_back(value);
        TSUBAME_TRY(scan_texts(d, one, kScanCapHeader));
        break;
      }
      case ScopeKind::kSubject: TSUBAME_TRY(scan_texts(d, in.subject, kScanCapSubject)); break;
      case ScopeKind::kFrom: TSUBAME_TRY(scan_texts(d, in.from, kScanCapFrom)); break;
      case ScopeKind::kBody: TSUBAME_TRY(scan_within(d, in.body, kScanCapBody)); break;
      case ScopeKind::kHtml: TSUBAME_TRY(scan_within(d, in.html, kScanCapHtml)); break;
      case ScopeKind::kRawBody: TSUBAME_TRY(scan_texts(d, in.rawbody, kScanCapRawBody)); break;
      case ScopeKind::kUrl: TSUBAME_TRY(scan_texts(d, in.urls, kScanCapUrl)); break;
      case ScopeKind::kAttachmentName:
        TSUBAME_TRY(scan_texts(d, in.attachment_names, kScanCapAttachmentName));
        break;
      case ScopeKind::kAttachmentType:
        TSUBAME_TRY(scan_texts(d, in.attachment_types, kScanCapAttachmentType));
        break;
      case ScopeKind::kCheck: break;
    }
  }
  for (size_t i = 0; i < defs_.rules.size(); ++i) {
    const Rule& r = defs_.rules[i];
    if (r.scope.kind == ScopeKind::kCheck &&
        std::find(in.checks.begin(), in.checks.end(), r.scope.name) != in.checks.end())
      out.hits[i] = 1;
  }
  const size_t nr = defs_.rules.size();
  for (uint32_t m : defs_.meta_order)
    out.hits[nr + m] = defs_.metas[m].expr.evaluate(out.hits) != 0 ? 1 : 0;
  std::sort(out.truncated.begin(), out.truncated.end());
  out.truncated.erase(std::unique(out.truncated.begin(), out.truncated.end()),
                      out.truncated.end());
  return Status::ok();
}

Result<std::unique_ptr<Engine>> Engine::open(EngineOptions options) {
  std::unique_ptr<Engine> e(new Engine(std::move(options)));
  TSUBAME_TRY(e->reload());
  return e;
}

Status Engine::reload() {
  std::lock_guard<std::mutex> lock(reload_mu_);
  auto defs = load_rule_path(options_.rules);
  if (!defs) return defs.status();
  auto set = build_rule_set(std::move(defs.value()), options_.cache_dir);
  if (!set) return set.status();
  std::atomic_store(&current_, std::move(set.value()));
  return Status::ok();
}

Result<ScanResult> Engine::scan(const ScanInput& in) const {
  ScanResult out;
  out.rules = std::atomic_load(&current_);
  if (!out.rules) return Status::unavailable("no rule set loaded");
  TSUBAME_TRY(out.rules->scan(in, out));
  return out;
}

}  // namespace tsubame::filter
