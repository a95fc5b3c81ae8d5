// bench/store/store_bench.cc: throughput of the mail store on a real disk, fsync on.
//
//   deliveries/s of 4 KiB messages, one durable transaction per deliver() call, in batches of
//   1, 8 and 64 messages (group commit: one fsync per batch);
//   fetch-by-UID reads/s (read_message: one read transaction, decrypt).
// Prints a table. Usage: bench_store --dir DIR [--seconds N]
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <random>
#include <string>
#include <vector>

#include "common/bytes.h"
#include "store/env.h"  // map size only
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
  printf("\n%zu messages stored, map %llu MiB\n", uids.size(), (unsigned long long)(st.env().map_size() >> 20));
  (void)bytes;
  return 0;
}
