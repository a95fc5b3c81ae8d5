// tests/store/crash_test.cc: nothing acknowledged is ever lost.
//
//   parent                                   child (fork, opens its own Store)
//   ──────                                   ─────
//   fork ───────────────────────────────────▶ open store; write "ready" (uid 0) to the pipe;
//                                             loop { deliver(batch to user + churn user);
//                                               write (uid, marker) per copy to the pipe;
//                                               every 4th round: flag and expunge the churn
//                                               user's copies (blob references drop) }
//   [odd rounds: wait for "ready"]
//   sleep 1-30 ms, SIGKILL ─────────────────▶ dies anywhere: in open, mid-transaction, in
//                                               fsync, between commit and the pipe write
//   read every acknowledgement from the pipe
//   reopen the store: every acknowledged delivery is present and reads back its marker;
//   UIDs of acknowledged copies strictly increase; check() reports no problem; close.
//
// 200 kills at random moments (seeded; the seed is printed so a failure can be replayed).
// The parent never holds an Env across fork() (lmdb.h Caveats).
#include <gtest/gtest.h>
#include <poll.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <random>
#include <thread>

#include "common/bytes.h"
#include "tests/store/mail_fixture.h"

namespace tsubame::store {
namespace {

using testing::err;
using testing::incoming;
using testing::TempStore;
using testing::to;

constexpr int kKills = 200;

struct Ack {
  uint32_t uid;
  uint64_t marker;
};

std::string marker_text(uint64_t marker) { return "crash-marker-" + std::to_string(marker) + "-end"; }

// The child: deliver forever, acknowledging each copy after deliver() returned.
[[noreturn]] void child_main(const Options& o, uint64_t user, uint64_t churn, uint64_t churn_inbox, int fd,
                             uint64_t first_marker) {
  auto s = Store::open(o);
  if (!s.is_ok()) _exit(2);
  char ready[12] = {};
  if (write(fd, ready, sizeof ready) != ssize_t(sizeof ready)) _exit(4);
  uint64_t marker = first_marker;
  for (int round = 0;; round++) {
    size_t n = round % 3 == 2 ? 4 : 1;  // single deliveries and group commits
    std::vector<IncomingMessage> batch;
    for (size_t i = 0; i < n; i++)
      batch.push_back(incoming(marker_text(marker + i), std::string(2048, 'c') + marker_text(marker + i),
                               {to(user), to(churn)}));
    auto r = (*s)->deliver(batch);
    if (!r.is_ok()) _exit(3);
    for (size_t i = 0; i < n; i++) {
      char rec[12];
      uint32_t uid = (*r)[i].copies[0].uid;
      uint64_t m = marker + i;
      memcpy(rec, &uid, 4);
      memcpy(rec + 4, &m, 8);
      if (write(fd, rec, sizeof rec) != ssize_t(sizeof rec)) _exit(4);
    }
    marker += n;
    if (round % 4 == 3) {
      auto msgs = (*s)->list_messages(churn_inbox);
      if (!msgs.is_ok()) _exit(5);
      std::vector<uint32_t> uids;
      for (const auto& m : *msgs) uids.push_back(m.uid);
      if (!(*s)->store_flags(churn_inbox, uids, FlagMode::kAdd, kDeleted, {}).is_ok()) _exit(6);
      if (!(*s)->expunge(churn_inbox).is_ok()) _exit(7);
    }
  }
}

TEST(Crash, AcknowledgedDeliveriesSurviveSigkill) {
  TempStore ts;
  ASSERT_TRUE(ts->add_domain("example.com").is_ok());
  auto u = ts->add_user("crash@example.com", "h");
  ASSERT_TRUE(u.is_ok());
  uint64_t user = u->id;
  uint64_t inbox = ts->find_mailbox(user, "INBOX")->id;
  auto churn = ts->add_user("churn@example.com", "h");
  ASSERT_TRUE(churn.is_ok());
  uint64_t churn_inbox = ts->find_mailbox(churn->id, "INBOX")->id;
  ts.close();
  Options o = ts.options();

  uint64_t seed = random_u64();
  std::printf("crash test seed %llu\n", static_cast<unsigned long long>(seed));
  std::mt19937_64 rng(seed);
  std::uniform_int_distribution<int> delay_ms(1, 30);

  std::vector<Ack> acked;
  int kills = 0, killed_mid_run = 0;
  for (int round = 0; round < kKills; round++) {
    int fds[2];
    ASSERT_EQ(pipe(fds), 0);
    uint64_t first_marker = uint64_t(round) * 1000000;
    pid_t pid = fork();
    ASSERT_GE(pid, 0);
    if (pid == 0) {
      close(fds[0]);
      child_main(o, user, churn->id, churn_inbox, fds[1], first_marker);
    }
    close(fds[1]);
    std::string pending;
    if (round % 2 == 1) {
      // Half the rounds start the clock once the child has opened the store, so that most
      // kills land in deliveries however slow the machine is; the others also hit open().
      pollfd p{fds[0], POLLIN, 0};
      while (pending.size() < 12 && poll(&p, 1, 10000) == 1) {
        char b[12];
        ssize_t n = read(fds[0], b, 12 - pending.size());
        if (n <= 0) break;
        pending.append(b, size_t(n));
      }
      ASSERT_EQ(pending.size(), 12u) << "child did not open the store in round " << round;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(delay_ms(rng)));
    ASSERT_EQ(kill(pid, SIGKILL), 0);
    int status = 0;
    ASSERT_EQ(waitpid(pid, &status, 0), pid);
    ASSERT_TRUE(WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL)
        << "child ended by itself (exit " << (WIFEXITED(status) ? WEXITSTATUS(status) : -1) << ") in round " << round;
    kills++;

    // Every acknowledgement written before the kill (12-byte writes are atomic on a pipe).
    size_t before = acked.size();
    char buf[12 * 256];
    for (;;) {
      ssize_t n = read(fds[0], buf, sizeof buf);
      if (n <= 0) break;
      pending.append(buf, size_t(n));
    }
    close(fds[0]);
    ASSERT_EQ(pending.size() % 12, 0u);
    for (size_t i = 0; i < pending.size(); i += 12) {
      Ack a;
      memcpy(&a.uid, pending.data() + i, 4);
      memcpy(&a.marker, pending.data() + i + 4, 8);
      if (a.uid != 0) acked.push_back(a);  // uid 0: the "ready" record
    }
    if (acked.size() > before) killed_mid_run++;

    // Reopen: everything acknowledged is there, the store is consistent.
    auto s = Store::open(o);
    ASSERT_TRUE(s.is_ok()) << "round " << round << ": " << err(s);
    for (size_t i = before; i < acked.size(); i++) {
      if (i > 0) {
        ASSERT_GT(acked[i].uid, acked[i - 1].uid) << "UIDs must strictly increase";
      }
      auto raw = (*s)->read_message(user, inbox, acked[i].uid);
      ASSERT_TRUE(raw.is_ok()) << "round " << round << " uid " << acked[i].uid << ": " << err(raw);
      ASSERT_NE(raw->find(marker_text(acked[i].marker)), std::string::npos) << "uid " << acked[i].uid;
    }
    auto c = (*s)->check();
    ASSERT_TRUE(c.is_ok()) << err(c);
    for (const auto& p : c->problems) ADD_FAILURE() << "round " << round << ": " << p;
    ASSERT_TRUE(c->problems.empty());
    Mailbox box = *(*s)->get_mailbox(user, inbox);
    ASSERT_GE(box.messages, acked.size());
    if (!acked.empty()) {
      ASSERT_GT(box.uidnext, acked.back().uid);
    }
    s.value().reset();  // close before the next fork
  }
  EXPECT_EQ(kills, kKills);
  // The test must have exercised real deliveries, not only kills during open.
  EXPECT_GT(acked.size(), 0u);
  std::printf("crash test: %d kills (%d after acknowledged deliveries), %zu acknowledged deliveries verified\n",
              kills, killed_mid_run, acked.size());

  // A final full verification of everything ever acknowledged.
  auto s = Store::open(o);
  ASSERT_TRUE(s.is_ok());
  for (const Ack& a : acked) {
    auto raw = (*s)->read_message(user, inbox, a.uid);
    ASSERT_TRUE(raw.is_ok()) << err(raw);
    ASSERT_NE(raw->find(marker_text(a.marker)), std::string::npos);
  }
}

}  // namespace
}  // namespace tsubame::store
