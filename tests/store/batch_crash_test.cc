// tests/store/batch_crash_test.cc: nothing acknowledged by Store::write_batch is lost when the
// process dies at any moment, with flag-only batches committed kFlagsDeferred in between
// (the environment's MDB_NOMETASYNC toggled around their commits).
//
//   parent                                  child (fork, opens its own Store)
//   fork ─────────────────────────────────▶ loop { write_batch([APPEND marker to user,
//                                             APPEND over the quota user's quota (fails),
//                                             STORE flags on the churn user]);
//                                             write (uid, marker) of the APPEND to the pipe;
//                                             write_batch([STORE ...], kFlagsDeferred);
//                                             every 4th round: write_batch([EXPUNGE churn]) }
//   sleep 1-20 ms, SIGKILL ───────────────▶ dies anywhere (mid-transaction, in fsync, between
//                                             commit and acknowledgement, flag set or not)
//   reopen: every acknowledged APPEND reads back its marker, check() finds no problem, the
//   over-quota user never got a message.
//
// A SIGKILL keeps the page cache: this proves the batch path's atomicity and acknowledgement
// order, not the meta page's durability across a power loss (store/README.md argues that).
#include <gtest/gtest.h>
#include <poll.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstring>
#include <random>
#include <thread>

#include "common/bytes.h"
#include "tests/store/mail_fixture.h"

namespace tsubame::store {
namespace {

using testing::err;
using testing::raw_message;
using testing::summary_for;
using testing::TempStore;

constexpr int kKills = 60;

std::string marker_text(uint64_t m) { return "batch-crash-" + std::to_string(m) + "-end"; }

AppendRequest append_req(uint64_t user, uint64_t box, const std::string& text) {
  AppendRequest a;
  a.user_id = user;
  a.mailbox_id = box;
  a.raw = raw_message(text, std::string(1024, 'b') + text);
  a.summary = summary_for(text, "s@x.example", a.raw.size());
  return a;
}

[[noreturn]] void child_main(const Options& o, uint64_t user, uint64_t inbox, uint64_t full_user,
                             uint64_t full_inbox, uint64_t churn, uint64_t churn_inbox, int fd,
                             uint64_t marker) {
  auto s = Store::open(o);
  if (!s.is_ok()) _exit(2);
  for (int round = 0;; round++, marker++) {
    std::vector<WriteRequest> b;
    b.push_back(append_req(user, inbox, marker_text(marker)));
    b.push_back(append_req(full_user, full_inbox, "never"));
    b.push_back(append_req(churn, churn_inbox, "churn"));
    auto out = (*s)->write_batch(b);
    if (!out[0].status.is_ok() || out[1].status.code() != Code::kFull || !out[2].status.is_ok())
      _exit(3);
    char rec[12];
    memcpy(rec, &out[0].appended.uid, 4);
    memcpy(rec + 4, &marker, 8);
    if (write(fd, rec, sizeof rec) != ssize_t(sizeof rec)) _exit(4);
    StoreFlagsRequest f;
    f.mailbox_id = churn_inbox;
    f.uids = {out[2].appended.uid, out[2].appended.uid > 1 ? out[2].appended.uid - 1 : 1};
    f.mode = round % 2 ? FlagMode::kAdd : FlagMode::kReplace;
    f.flags = kDeleted | kSeen;
    if (!(*s)->write_batch({f}, BatchSync::kFlagsDeferred)[0].status.is_ok()) _exit(5);
    if (round % 4 == 3 && !(*s)->write_batch({ExpungeRequest{churn_inbox}})[0].status.is_ok())
      _exit(6);
  }
}

TEST(BatchCrash, AcknowledgedAppendsSurviveSigkillAmongDeferredFlagBatches) {
  TempStore ts;
  ASSERT_TRUE(ts->add_domain("example.com").is_ok());
  auto u = ts->add_user("crash@example.com", "h");
  auto full = ts->add_user("full@example.com", "h", 10);  // every APPEND is over the quota
  auto churn = ts->add_user("churn@example.com", "h");
  ASSERT_TRUE(u.is_ok() && full.is_ok() && churn.is_ok());
  uint64_t inbox = ts->find_mailbox(u->id, "INBOX")->id;
  uint64_t full_inbox = ts->find_mailbox(full->id, "INBOX")->id;
  uint64_t churn_inbox = ts->find_mailbox(churn->id, "INBOX")->id;
  ts.close();
  Options o = ts.options();

  uint64_t seed = random_u64();
  std::printf("batch crash test seed %llu\n", static_cast<unsigned long long>(seed));
  std::mt19937_64 rng(seed);
  std::uniform_int_distribution<int> delay_ms(1, 20);
  size_t acked = 0;
  for (int round = 0; round < kKills; round++) {
    int fds[2];
    ASSERT_EQ(pipe(fds), 0);
    pid_t pid = fork();
    ASSERT_GE(pid, 0);
    if (pid == 0) {
      close(fds[0]);
      child_main(o, u->id, inbox, full->id, full_inbox, churn->id, churn_inbox, fds[1],
                 uint64_t(round) * 1000000 + 1);
    }
    close(fds[1]);
    std::this_thread::sleep_for(std::chrono::milliseconds(delay_ms(rng)));
    ASSERT_EQ(kill(pid, SIGKILL), 0);
    int status = 0;
    ASSERT_EQ(waitpid(pid, &status, 0), pid);
    ASSERT_TRUE(WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL)
        << "child ended by itself (exit " << (WIFEXITED(status) ? WEXITSTATUS(status) : -1)
        << ") in round " << round;
    std::string pending;
    char buf[12 * 256];
    for (ssize_t n; (n = read(fds[0], buf, sizeof buf)) > 0;) pending.append(buf, size_t(n));
    close(fds[0]);
    ASSERT_EQ(pending.size() % 12, 0u);

    auto s = Store::open(o);
    ASSERT_TRUE(s.is_ok()) << "round " << round << ": " << err(s);
    for (size_t i = 0; i < pending.size(); i += 12) {
      uint32_t uid;
      uint64_t marker;
      memcpy(&uid, pending.data() + i, 4);
      memcpy(&marker, pending.data() + i + 4, 8);
      auto raw = (*s)->read_message(u->id, inbox, uid);
      ASSERT_TRUE(raw.is_ok()) << "round " << round << " uid " << uid << ": " << err(raw);
      ASSERT_NE(raw->find(marker_text(marker)), std::string::npos) << "uid " << uid;
      acked++;
    }
    auto c = (*s)->check();
    ASSERT_TRUE(c.is_ok()) << err(c);
    for (const auto& p : c->problems) ADD_FAILURE() << "round " << round << ": " << p;
    ASSERT_TRUE(c->problems.empty());
    EXPECT_EQ((*s)->get_mailbox(full->id, full_inbox)->messages, 0u);
    s.value().reset();  // close before the next fork
  }
  EXPECT_GT(acked, 0u);
  std::printf("batch crash test: %d kills, %zu acknowledged appends verified\n", kKills, acked);
}

}  // namespace
}  // namespace tsubame::store
