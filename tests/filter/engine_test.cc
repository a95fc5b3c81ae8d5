// tests/filter/engine_test.cc: Hyperscan databases per scope, flags, meta rules, compile
// errors with file:line, the database cache (hit, miss, stale, corrupt), scan size caps and
// reload while other threads scan.
#include <gtest/gtest.h>

#include <hs/hs.h>

#include <atomic>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <thread>

#include "common/bytes.h"
#include "filter/engine.h"

namespace tsubame::filter {
namespace {

namespace fs = std::filesystem;
const std::string kFixtures = std::string(TSUBAME_SOURCE_DIR) + "/tests/filter/fixtures/rules";

class TempDir {
 public:
  TempDir() {
    path_ = fs::temp_directory_path() / ("tsubame-engine-" + to_hex(random_bytes(8)));
    fs::create_directories(path_);
  }
  ~TempDir() {
    std::error_code ec;
    fs::remove_all(path_, ec);
  }
  const fs::path& path() const { return path_; }

 private:
  fs::path path_;
};

std::string read_file(const fs::path& p) {
  std::ifstream in(p, std::ios::binary);
  std::ostringstream ss;
  ss << in.rdbuf();
  return ss.str();
}
void write_file(const fs::path& p, const std::string& s) {
  std::ofstream out(p, std::ios::binary | std::ios::trunc);
  out << s;
}

std::shared_ptr<const RuleSet> compile(const std::string& text, const fs::path& cache = {}) {
  auto defs = load_rule_sources({{"t.rules", text}});
  EXPECT_TRUE(defs) << defs.status().message();
  if (!defs) return nullptr;
  auto set = build_rule_set(std::move(defs.value()), cache);
  EXPECT_TRUE(set) << set.status().message();
  return set ? set.value() : nullptr;
}

bool hit(const RuleSet& set, const ScanResult& r, const std::string& id) {
  int i = set.defs().index_of(id);
  EXPECT_GE(i, 0) << id;
  return i >= 0 && r.hits[i];
}

ScanResult scan(const RuleSet& set, const ScanInput& in) {
  ScanResult r;
  Status s = set.scan(in, r);
  EXPECT_TRUE(s) << s.to_string();
  return r;
}

std::unique_ptr<Engine> open_fixture(const fs::path& cache = {}) {
  auto e = Engine::open({kFixtures + "/good", cache});
  EXPECT_TRUE(e) << e.status().message();
  return e ? std::move(e.value()) : nullptr;
}

TEST(EngineTest, EachScopeHitsOnlyItsOwnText) {
  auto engine = open_fixture();
  ASSERT_TRUE(engine);
  auto set = engine->current();
  // Every rule's text placed in the wrong scope must not hit.
  ScanInput wrong;
  wrong.body = {"magic-header hello subject @evil.example> =3D=3D <blink> https://bit.ly/x a.pdf.exe"};
  wrong.rawbody = {"<blink>"};  // the html scope reads the decoded HTML parts, not the raw body
  auto r0 = scan(*set, wrong);
  for (const char* id : {"T_HEADER", "T_SUBJECT", "T_FROM", "T_RAWBODY", "T_HTML", "T_URL", "T_ATT_NAME",
                         "T_ATT_TYPE", "T_CHECK"})
    EXPECT_FALSE(hit(*set, r0, id)) << id;

  ScanInput in;
  in.headers = {{"x-TEST", "a magic-header here"}, {"Other", "decoded text"}};
  in.subject = {"Re: HELLO Subject"};
  in.from = {"Mallory <m@evil.example>"};
  in.body = {"some decoded text"};
  in.rawbody = {"a=3D=3Db"};
  in.html = {"<p>first part</p>", "<p><blink>second part</blink></p>"};
  in.urls = {"https://example.com/", "https://bit.ly/abc"};
  in.attachment_names = {"Invoice.PDF.exe"};
  in.attachment_types = {"application/x-msdownload"};
  in.checks = {"link-host-mismatch"};
  auto r = scan(*set, in);
  for (const char* id : {"T_HEADER", "T_SUBJECT", "T_FROM", "T_BODY", "T_RAWBODY", "T_HTML", "T_URL",
                         "T_ATT_NAME", "T_ATT_TYPE", "T_CHECK"})
    EXPECT_TRUE(hit(*set, r, id)) << id;
  // One database per scope that has patterns (checks have none).
  EXPECT_EQ(set->database_count(), 9u);
}

TEST(EngineTest, HeaderScopeOnlyScansThatHeader) {
  auto set = compile("rule H\n  scope header:Received\n  match /evil-relay/\n");
  ASSERT_TRUE(set);
  ScanInput in;
  in.headers = {{"X-Received", "evil-relay"}, {"Subject", "evil-relay"}};
  EXPECT_FALSE(scan(*set, in).hits[0]);
  in.headers.push_back({"received", "from evil-relay"});  // second of several values
  EXPECT_TRUE(scan(*set, in).hits[0]);
}

TEST(EngineTest, FlagsChangeMatching) {
  auto set = compile(
      "rule CASE\n  scope body\n  match /viagra/\n"
      "rule NOCASE\n  scope body\n  match /viagra/i\n"
      "rule NODOT\n  scope body\n  match /start.end/\n"
      "rule DOTALL\n  scope body\n  match /start.end/s\n"
      "rule ANCHOR\n  scope body\n  match /^second line$/\n"
      "rule MULTI\n  scope body\n  match /^second line$/m\n"
      "rule UTF8\n  scope body\n  match /^.停止$/mu\n"
      "rule BYTES\n  scope body\n  match /^.停止$/m\n");
  ASSERT_TRUE(set);
  ScanInput in;
  in.body = {"VIAGRA now\nstart\nend\nsecond line\n無停止\n"};
  auto r = scan(*set, in);
  EXPECT_FALSE(hit(*set, r, "CASE"));
  EXPECT_TRUE(hit(*set, r, "NOCASE"));
  EXPECT_FALSE(hit(*set, r, "NODOT"));
  EXPECT_TRUE(hit(*set, r, "DOTALL"));
  EXPECT_FALSE(hit(*set, r, "ANCHOR"));
  EXPECT_TRUE(hit(*set, r, "MULTI"));
  EXPECT_TRUE(hit(*set, r, "UTF8"));   // '.' is one code point (3 bytes)
  EXPECT_FALSE(hit(*set, r, "BYTES"));  // '.' is one byte
}

TEST(EngineTest, MetaRulesEvaluateAfterScans) {
  auto engine = open_fixture();
  ASSERT_TRUE(engine);
  ScanInput in;
  in.subject = {"hello subject"};
  in.body = {"decoded text bulk-a bulk-b helper-word"};
  auto r = engine->scan(in);
  ASSERT_TRUE(r);
  const RuleSet& set = *r->rules;
  EXPECT_TRUE(hit(set, *r, "T_META_AND"));
  EXPECT_TRUE(hit(set, *r, "T_META_COUNT"));
  EXPECT_TRUE(hit(set, *r, "T_META_NOT"));
  EXPECT_TRUE(hit(set, *r, "T_META_OF_META"));
  EXPECT_TRUE(hit(set, *r, "__HELPER"));

  ScanInput in2;
  in2.body = {"bulk-a helper-word"};
  in2.urls = {"https://bit.ly/q"};
  auto r2 = engine->scan(in2);
  ASSERT_TRUE(r2);
  EXPECT_FALSE(hit(set, *r2, "T_META_AND"));
  EXPECT_FALSE(hit(set, *r2, "T_META_COUNT"));  // only one BULK_*
  EXPECT_FALSE(hit(set, *r2, "T_META_NOT"));    // T_URL hit
  EXPECT_FALSE(hit(set, *r2, "T_META_OF_META"));
}

TEST(EngineTest, CompileErrorsNameFileLineAndHyperscanReason) {
  auto e = Engine::open({kFixtures + "/bad_pattern", {}});
  ASSERT_FALSE(e);
  const std::string m = e.status().message();
  const std::string f = kFixtures + "/bad_pattern/bad.rules";
  EXPECT_NE(m.find(f + ":6: rule BAD_BACKREF: "), std::string::npos) << m;
  EXPECT_NE(m.find(f + ":15: rule BAD_LOOKBEHIND: "), std::string::npos) << m;
  EXPECT_NE(m.find("not supported"), std::string::npos) << m;  // Hyperscan's own words
  EXPECT_EQ(m.find("OK_ONE"), std::string::npos) << m;
}

TEST(EngineTest, EmptyMatchPatternIsACompileError) {
  auto defs = load_rule_sources({{"e.rules", "rule EMPTY\n  scope body\n  match /a*/\n"}});
  ASSERT_TRUE(defs);
  auto set = build_rule_set(std::move(defs.value()), "");
  ASSERT_FALSE(set);
  EXPECT_NE(set.status().message().find("e.rules:1: rule EMPTY: "), std::string::npos);
}

// ---- cache ----

TEST(EngineCacheTest, MissThenHitGiveSameResults) {
  TempDir dir;
  auto e1 = open_fixture(dir.path());
  ASSERT_TRUE(e1);
  EXPECT_EQ(e1->current()->cache_outcome(), CacheOutcome::kMiss);
  fs::path file = cache_file_path(dir.path(), e1->current()->defs().content_hash);
  ASSERT_TRUE(fs::exists(file));

  auto e2 = open_fixture(dir.path());
  ASSERT_TRUE(e2);
  EXPECT_EQ(e2->current()->cache_outcome(), CacheOutcome::kHit) << e2->current()->cache_note();
  ScanInput in;
  in.subject = {"hello subject"};
  in.urls = {"https://bit.ly/z"};
  auto a = e1->scan(in), b = e2->scan(in);
  ASSERT_TRUE(a && b);
  EXPECT_EQ(a->hits, b->hits);
  EXPECT_TRUE(hit(*b->rules, *b, "T_URL"));
}

TEST(EngineCacheTest, CorruptBlobIsRebuiltNotTrusted) {
  TempDir dir;
  auto e1 = open_fixture(dir.path());
  ASSERT_TRUE(e1);
  fs::path file = cache_file_path(dir.path(), e1->current()->defs().content_hash);
  std::string bytes = read_file(file);
  ASSERT_GT(bytes.size(), 200u);
  std::string flipped = bytes;
  flipped[flipped.size() - 100] ^= 0x5a;  // inside a serialised database
  write_file(file, flipped);
  auto e2 = open_fixture(dir.path());
  ASSERT_TRUE(e2);
  EXPECT_EQ(e2->current()->cache_outcome(), CacheOutcome::kCorrupt);
  EXPECT_EQ(e2->current()->cache_note(), "checksum mismatch");
  EXPECT_EQ(read_file(file), bytes);  // rewritten with a good copy

  write_file(file, bytes.substr(0, bytes.size() / 2));  // truncated
  auto e3 = open_fixture(dir.path());
  ASSERT_TRUE(e3);
  EXPECT_EQ(e3->current()->cache_outcome(), CacheOutcome::kCorrupt);

  write_file(file, "garbage");
  auto e4 = open_fixture(dir.path());
  ASSERT_TRUE(e4);
  EXPECT_EQ(e4->current()->cache_outcome(), CacheOutcome::kCorrupt);
  EXPECT_EQ(e4->current()->cache_note(), "bad magic");

  auto e5 = open_fixture(dir.path());
  ASSERT_TRUE(e5);
  EXPECT_EQ(e5->current()->cache_outcome(), CacheOutcome::kHit);
  ScanInput in;
  in.attachment_names = {"x.pdf.exe"};
  auto r = e5->scan(in);
  ASSERT_TRUE(r);
  EXPECT_TRUE(hit(*r->rules, *r, "T_ATT_NAME"));
}

TEST(EngineCacheTest, OtherHyperscanVersionIsStale) {
  TempDir dir;
  auto e1 = open_fixture(dir.path());
  ASSERT_TRUE(e1);
  fs::path file = cache_file_path(dir.path(), e1->current()->defs().content_hash);
  std::string bytes = read_file(file);
  // The header holds hs_version() right after magic and format; change its first digit.
  std::string version = hs_version();
  size_t at = bytes.find(version);
  ASSERT_NE(at, std::string::npos);
  ASSERT_LT(at, 64u);
  bytes[at] = bytes[at] == '9' ? '8' : '9';
  write_file(file, bytes);
  auto e2 = open_fixture(dir.path());
  ASSERT_TRUE(e2);
  EXPECT_EQ(e2->current()->cache_outcome(), CacheOutcome::kStale);
  EXPECT_NE(e2->current()->cache_note().find("built by Hyperscan"), std::string::npos);
  auto e3 = open_fixture(dir.path());
  EXPECT_EQ(e3->current()->cache_outcome(), CacheOutcome::kHit);
}

TEST(EngineCacheTest, OtherCpuFeaturesAreStale) {
  TempDir dir;
  auto e1 = open_fixture(dir.path());
  ASSERT_TRUE(e1);
  fs::path file = cache_file_path(dir.path(), e1->current()->defs().content_hash);
  std::string bytes = read_file(file);
  std::string version = hs_version();
  size_t at = bytes.find(version);
  ASSERT_NE(at, std::string::npos);
  size_t features = at + version.size() + 8;  // after the version and the 8-byte tune
  bytes[features + 7] ^= 0x40;                // flip a feature bit (big-endian u64)
  write_file(file, bytes);
  auto e2 = open_fixture(dir.path());
  ASSERT_TRUE(e2);
  EXPECT_EQ(e2->current()->cache_outcome(), CacheOutcome::kStale);
  EXPECT_NE(e2->current()->cache_note().find("another CPU"), std::string::npos);
}

TEST(EngineCacheTest, ChangedRulesUseANewFileAndDropTheOld) {
  TempDir dir;
  TempDir rules;
  write_file(rules.path() / "a.rules", "rule A\n  scope body\n  match /one/\n");
  auto e = Engine::open({rules.path(), dir.path()});
  ASSERT_TRUE(e);
  fs::path first = cache_file_path(dir.path(), e.value()->current()->defs().content_hash);
  EXPECT_TRUE(fs::exists(first));
  write_file(rules.path() / "a.rules", "rule A\n  scope body\n  match /two/\n");
  ASSERT_TRUE(e.value()->reload());
  EXPECT_EQ(e.value()->current()->cache_outcome(), CacheOutcome::kMiss);
  fs::path second = cache_file_path(dir.path(), e.value()->current()->defs().content_hash);
  EXPECT_NE(first, second);
  EXPECT_TRUE(fs::exists(second));
  EXPECT_FALSE(fs::exists(first));
}

TEST(EngineCacheTest, UnwritableCacheDirStillWorks) {
  auto e = Engine::open({kFixtures + "/good", "/proc/no-such-dir/cache"});
  ASSERT_TRUE(e) << e.status().message();
  EXPECT_EQ(e.value()->current()->cache_outcome(), CacheOutcome::kMiss);
}

// ---- size caps ----

TEST(EngineLimitsTest, EachScopeCapStopsTheScan) {
  auto set = compile(
      "rule H\n  scope header:X-Big\n  match /TAIL/\n"
      "rule S\n  scope subject\n  match /TAIL/\n"
      "rule F\n  scope from\n  match /TAIL/\n"
      "rule B\n  scope body\n  match /TAIL/\n"
      "rule R\n  scope rawbody\n  match /TAIL/\n"
      "rule L\n  scope html\n  match /TAIL/\n"
      "rule U\n  scope url\n  match /TAIL/\n"
      "rule N\n  scope attachment-name\n  match /TAIL/\n"
      "rule T\n  scope attachment-type\n  match /TAIL/\n");
  ASSERT_TRUE(set);
  struct Case {
    const char* id;
    size_t cap;
    std::vector<std::string_view> ScanInput::*field;
  } cases[] = {
      {"S", kScanCapSubject, &ScanInput::subject},
      {"F", kScanCapFrom, &ScanInput::from},
      {"B", kScanCapBody, &ScanInput::body},
      {"R", kScanCapRawBody, &ScanInput::rawbody},
      {"L", kScanCapHtml, &ScanInput::html},
      {"U", kScanCapUrl, &ScanInput::urls},
      {"N", kScanCapAttachmentName, &ScanInput::attachment_names},
      {"T", kScanCapAttachmentType, &ScanInput::attachment_types},
  };
  for (const auto& c : cases) {
    std::string inside = std::string(c.cap - 4, 'x') + "TAIL";
    std::string beyond = std::string(c.cap - 3, 'x') + "TAIL";
    ScanInput a, b;
    (a.*c.field).push_back(inside);
    (b.*c.field).push_back(beyond);
    auto ra = scan(*set, a), rb = scan(*set, b);
    EXPECT_TRUE(hit(*set, ra, c.id)) << c.id;
    EXPECT_TRUE(ra.truncated.empty()) << c.id;
    EXPECT_FALSE(hit(*set, rb, c.id)) << c.id;
    EXPECT_EQ(rb.truncated.size(), 1u) << c.id;
  }
  std::string inside = std::string(kScanCapHeader - 4, 'x') + "TAIL";
  std::string beyond = std::string(kScanCapHeader - 3, 'x') + "TAIL";
  ScanInput a, b;
  a.headers = {{"X-Big", inside}};
  b.headers = {{"X-Big", beyond}};
  EXPECT_TRUE(hit(*set, scan(*set, a), "H"));
  EXPECT_FALSE(hit(*set, scan(*set, b), "H"));
}

TEST(EngineLimitsTest, BodyCapCountsAllPartsTogether) {
  auto set = compile("rule B\n  scope body\n  match /TAIL/\n");
  ASSERT_TRUE(set);
  std::string half(kScanCapBody / 2, 'x');
  ScanInput in;
  in.body = {half, half, "TAIL"};
  auto r = scan(*set, in);
  EXPECT_FALSE(hit(*set, r, "B"));
  EXPECT_EQ(r.truncated, std::vector<std::string>{"body"});
}

TEST(EngineLimitsTest, HtmlCapCountsAllPartsTogether) {
  auto set = compile("rule L\n  scope html\n  match /TAIL/\n");
  ASSERT_TRUE(set);
  std::string half(kScanCapHtml / 2, 'x');
  ScanInput in;
  in.html = {half, "TAIL"};
  EXPECT_TRUE(hit(*set, scan(*set, in), "L"));  // within the cap: each part is scanned
  in.html = {half, half, "TAIL"};
  auto r = scan(*set, in);
  EXPECT_FALSE(hit(*set, r, "L"));
  EXPECT_EQ(r.truncated, std::vector<std::string>{"html"});
}

TEST(EngineLimitsTest, TextsPerScopeCap) {
  auto set = compile("rule U\n  scope url\n  match /TAIL/\n");
  ASSERT_TRUE(set);
  std::vector<std::string_view> urls(kScanMaxTextsPerScope, "https://a.example/");
  ScanInput in;
  in.urls = urls;
  in.urls.push_back("https://TAIL.example/");
  auto r = scan(*set, in);
  EXPECT_FALSE(hit(*set, r, "U"));
  EXPECT_EQ(r.truncated, std::vector<std::string>{"url"});
  in.urls[kScanMaxTextsPerScope - 1] = "https://TAIL.example/";
  EXPECT_TRUE(hit(*set, scan(*set, in), "U"));
}

// ---- reload ----

TEST(EngineReloadTest, FailedReloadKeepsTheRunningSet) {
  TempDir rules;
  write_file(rules.path() / "a.rules", "rule A\n  scope body\n  match /one/\n");
  auto e = Engine::open({rules.path(), {}});
  ASSERT_TRUE(e);
  auto before = e.value()->current();
  write_file(rules.path() / "a.rules", "rule A\n  scope body\n  match /(x)\\1/\n");
  Status s = e.value()->reload();
  ASSERT_FALSE(s);
  EXPECT_NE(s.message().find("a.rules:1: rule A"), std::string::npos) << s.message();
  EXPECT_EQ(e.value()->current(), before);
}

TEST(EngineReloadTest, ReloadDuringConcurrentScansGivesOnlyValidResults) {
  TempDir rules;
  // Set one hits ONE on "alpha"; set two hits TWO on "alpha". Every scan must see exactly
  // one of the two sets, whole: never both ids, never neither, never a crash.
  const std::string set1 = "rule ONE\n  scope body\n  match /alpha/\nrule X1\n  scope url\n  match /u/\n";
  const std::string set2 = "rule TWO\n  scope body\n  match /alpha/\nrule X2\n  scope subject\n  match /s/\n"
                           "meta M2 = TWO && !X2\n";
  write_file(rules.path() / "a.rules", set1);
  auto opened = Engine::open({rules.path(), {}});
  ASSERT_TRUE(opened);
  Engine& engine = *opened.value();

  std::atomic<bool> stop{false};
  std::atomic<int> scans{0}, bad{0}, saw_one{0}, saw_two{0};
  auto scanner = [&]() {
    ScanInput in;
    in.body = {"text with alpha inside"};
    while (!stop.load()) {
      auto r = engine.scan(in);
      if (!r) {
        ++bad;
        continue;
      }
      const RuleDefs& d = r->rules->defs();
      int one = d.index_of("ONE"), two = d.index_of("TWO");
      bool ok = (one >= 0) != (two >= 0) && r->hits.size() == d.size();
      if (one >= 0) ok = ok && r->hits[one];
      if (two >= 0) {
        ok = ok && r->hits[two] && r->hits[d.index_of("M2")];
        ++saw_two;
      } else {
        ++saw_one;
      }
      if (!ok) ++bad;
      ++scans;
    }
  };
  std::vector<std::thread> threads;
  for (int i = 0; i < 3; ++i) threads.emplace_back(scanner);
  for (int i = 0; i < 20; ++i) {
    write_file(rules.path() / "a.rules", i % 2 ? set1 : set2);
    Status s = engine.reload();
    EXPECT_TRUE(s) << s.to_string();
    // Wait until 5 more scans finished: at most 3 of them (one per thread) began before
    // the swap, so each set is seen by at least two scans (an ordering, not a timing).
    int target = scans.load() + 5;
    while (scans.load() < target) std::this_thread::yield();
  }
  stop = true;
  for (auto& t : threads) t.join();
  EXPECT_EQ(bad.load(), 0);
  EXPECT_GT(saw_one.load(), 0);
  EXPECT_GT(saw_two.load(), 0);
}

}  // namespace
}  // namespace tsubame::filter
