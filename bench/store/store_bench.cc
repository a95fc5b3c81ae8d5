// bench/store/store_bench.cc: throughput of the mail store on a real disk, fsync on.
//
//   deliveries/s of 4 KiB messages, one durable transaction per deliver() call, in batches of
//   1, 8 and 64 messages (group commit: one fsync per batch);
//   fetch-by-UID reads/s (read_message: one read transaction, decrypt);
//   the filter's sender memories as smtpd reads them for each inbound message: reply lookups
//   (replies_to_sent, 8 Message-IDs, none recorded: the common case of mail that answers
//   nothing of ours) and correspondent lookups (correspondent_known, a known and an unknown
//   address), with 100,000 submissions' worth of records (1,000 messages of 100 recipients).
// Prints a table. Usage: bench_store --dir DIR [--seconds N]
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <random>
#include <string>
#include <vector>

#include "common/bytes.h"
#include "store/env.h"  // map size only
#include "store/replies.h"
#include "store/store.h"

using namespace tsubame;
using namespace tsubame::store;

namespace {

IncomingMessage message(uint64_t user, uint64_t n) {
  IncomingMessage m;
  std::string head = "From: bench@remote.example\r\nTo: u@bench.example\r\nSubject: bench " +
                     std::to_string(n) + "\r\n\r\n";
  m.raw = head + std::string(4096 - head.size() - 2, 'x') + "\r\n";
  m.summary.envelope.subject = "bench " + std::to_string(n);
  m.summary.size = m.raw.size();
  m.targets.push_back(DeliveryTarget{user, "INBOX", 0, {}});
  return m;
}

// The a-th partner address (100 a domain), in upper case as a mail program may write it.
std::string partner(int a, bool upper) {
  std::string s = upper ? "P" : "p";
  s += std::to_string(a);
  s += upper ? "@Partner" : "@partner";
  s += std::to_string(a / 100);
  s += ".example";
  return s;
}

}  // namespace

int main(int argc, char** argv) {
  std::string dir;
  double seconds = 3;
  for (int i = 1; i < argc; i++) {
    if (!strcmp(argv[i], "--dir") && i + 1 < argc) dir = argv[++i];
    else if (!strcmp(argv[i], "--seconds") && i + 1 < argc) seconds = atof(argv[++i]);
    else {
      fprintf(stderr, "usage: %s --dir DIR [--seconds N]\n", argv[0]);
      return 2;
    }
  }
  if (dir.empty()) {
    fprintf(stderr, "--dir is required (a directory on the disk to measure)\n");
    return 2;
  }
  Options o;
  o.data_dir = dir + "/data";
  o.key_file = dir + "/master.key";
  o.create = true;
  o.map_size = 1ull << 30;
  auto s = Store::open(o);
  if (!s.is_ok()) {
    fprintf(stderr, "open: %s\n", s.status().to_string().c_str());
    return 1;
  }
  Store& st = **s;
  if (!st.add_domain("bench.example").is_ok()) return 1;
  auto u = st.add_user("u@bench.example", "x");
  if (!u.is_ok()) return 1;
  uint64_t user = u->id;
  uint64_t inbox = st.find_mailbox(user, "INBOX")->id;

  printf("store benchmark: 4 KiB messages, fsync on, dir %s\n\n", dir.c_str());
  printf("%-28s %12s %12s %14s\n", "operation", "ops", "seconds", "per second");
  uint64_t n = 0;
  std::vector<uint32_t> uids;
  for (size_t batch : {1, 8, 64}) {
    uint64_t delivered = 0;
    uint64_t start = monotonic_ns();
    double elapsed = 0;
    while (elapsed < seconds) {
      std::vector<IncomingMessage> b;
      for (size_t i = 0; i < batch; i++) b.push_back(message(user, n++));
      auto r = st.deliver(b);
      if (!r.is_ok()) {
        fprintf(stderr, "deliver: %s\n", r.status().to_string().c_str());
        return 1;
      }
      for (const auto& d : *r) uids.push_back(d.copies[0].uid);
      delivered += batch;
      elapsed = double(monotonic_ns() - start) / 1e9;
    }
    char label[64];
    snprintf(label, sizeof label, "deliver, batch of %zu", batch);
    printf("%-28s %12llu %12.2f %14.0f\n", label, (unsigned long long)delivered, elapsed, delivered / elapsed);
  }
  std::mt19937_64 rng(42);
  uint64_t reads = 0, bytes = 0;
  uint64_t start = monotonic_ns();
  double elapsed = 0;
  while (elapsed < seconds) {
    for (int i = 0; i < 256; i++) {
      auto r = st.read_message(user, inbox, uids[rng() % uids.size()]);
      if (!r.is_ok()) {
        fprintf(stderr, "read: %s\n", r.status().to_string().c_str());
        return 1;
      }
      bytes += r->size();
      reads++;
    }
    elapsed = double(monotonic_ns() - start) / 1e9;
  }
  printf("%-28s %12llu %12.2f %14.0f\n", "fetch by UID (random)", (unsigned long long)reads, elapsed, reads / elapsed);
  // The memories: what the filter asks the store for each inbound message (filter/README.md
  // "Reply memory", "Correspondent memory").
  const int64_t now = 1'800'000'000'000;
  for (int m = 0; m < 1000; m++) {
    std::vector<std::string> to;
    for (int r = 0; r < 100; r++) to.push_back(partner(m * 100 + r, false));
    Status st_r = remember_submission(st, "bench." + std::to_string(m) + "@bench.example", to, now);
    if (!st_r.is_ok()) {
      fprintf(stderr, "remember_submission: %s\n", st_r.to_string().c_str());
      return 1;
    }
  }
  auto lookups = [&](const char* label, auto&& one, bool expect) -> bool {
    uint64_t done = 0;
    uint64_t t0 = monotonic_ns();
    double secs = 0;
    while (secs < seconds) {
      for (int i = 0; i < 1024; i++) {
        Result<bool> r = one(done);
        if (!r.is_ok() || *r != expect) {
          fprintf(stderr, "%s: %s\n", label, r.is_ok() ? "unexpected answer" : r.status().to_string().c_str());
          return false;
        }
        done++;
      }
      secs = double(monotonic_ns() - t0) / 1e9;
    }
    printf("%-28s %12llu %12.2f %14.0f   (%.2f us each)\n", label, (unsigned long long)done, secs, done / secs,
           secs * 1e6 / double(done));
    return true;
  };
  std::vector<std::string> ids;
  for (int i = 0; i < 8; i++) ids.push_back("thread." + std::to_string(i) + "@elsewhere.example");
  if (!lookups("reply lookup, 8 ids, miss", [&](uint64_t) { return replies_to_sent(st, ids, now); }, false)) return 1;
  if (!lookups("correspondent, known",
               [&](uint64_t k) {
                 return correspondent_known(st, partner(int((k * 7919) % 100000), true), now);
               },
               true))
    return 1;
  if (!lookups("correspondent, unknown",
               [&](uint64_t k) { return correspondent_known(st, partner(int(100000 + k % 100000), false), now); }, false))
    return 1;
  printf("\n%zu messages stored, map %llu MiB\n", uids.size(), (unsigned long long)(st.env().map_size() >> 20));
  (void)bytes;
  return 0;
}
