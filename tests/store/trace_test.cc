// tests/store/trace_test.cc: message trace records (no bodies, sealed), queries by queue id,
// time range, sender, recipient, verdict and status, retention pruning, and queue ids.
#include "store/trace.h"

#include <gtest/gtest.h>
#include <sys/wait.h>
#include <unistd.h>

#include <set>
#include <thread>

#include "store/env.h"
#include "store/store.h"
#include "tests/store/test_util.h"

namespace tsubame::store {
namespace {

using testing::TempStore;

constexpr int64_t kT0 = 1'700'000'000'000;

TraceRecord rec(std::string qid, int64_t t, std::string sender, std::vector<std::string> rcpts,
                TraceStatus status, std::string action = "accept") {
  TraceRecord r;
  r.queue_id = std::move(qid);
  r.time_ms = t;
  r.sender = std::move(sender);
  r.recipients = std::move(rcpts);
  r.status = status;
  r.action = std::move(action);
  r.size = 4096;
  r.score = 1.25;
  r.rule_ids = {"R_SUBJ_CAPS", "R_URL_SHORT"};
  r.remote_host = "mx.example.net [192.0.2.1]";
  return r;
}

void seed(Trace& tr) {
  ASSERT_TRUE(tr.add(rec("Q1", kT0 + 1, "a@one.test", {"x@corp.test"}, TraceStatus::kReceived)).is_ok());
  ASSERT_TRUE(tr.add(rec("Q1", kT0 + 2, "a@one.test", {"x@corp.test"}, TraceStatus::kDelivered)).is_ok());
  ASSERT_TRUE(tr.add(rec("Q2", kT0 + 3, "spam@bad.test", {"y@corp.test", "z@corp.test"},
                         TraceStatus::kJunk, "junk")).is_ok());
  ASSERT_TRUE(tr.add(rec("Q3", kT0 + 4, "B@Two.Test", {"Y@corp.test"}, TraceStatus::kRejected,
                         "reject")).is_ok());
  auto out = rec("Q4", kT0 + 5, "x@corp.test", {"r@remote.test"}, TraceStatus::kDeferred);
  out.direction = TraceDirection::kOut;
  out.error = "451 4.7.1 try later";
  ASSERT_TRUE(tr.add(out).is_ok());
}

TEST(Trace, RoundTripsEveryField) {
  TempStore t;
  Trace tr(*t);
  seed(tr);
  auto r = tr.by_queue_id("Q4");
  ASSERT_TRUE(r.is_ok());
  ASSERT_EQ(r->size(), 1u);
  const auto& x = (*r)[0];
  EXPECT_EQ(x.queue_id, "Q4");
  EXPECT_EQ(x.time_ms, kT0 + 5);
  EXPECT_EQ(x.direction, TraceDirection::kOut);
  EXPECT_EQ(x.sender, "x@corp.test");
  EXPECT_EQ(x.recipients, std::vector<std::string>{"r@remote.test"});
  EXPECT_EQ(x.size, 4096u);
  EXPECT_EQ(x.action, "accept");
  EXPECT_DOUBLE_EQ(x.score, 1.25);
  EXPECT_EQ(x.rule_ids, (std::vector<std::string>{"R_SUBJ_CAPS", "R_URL_SHORT"}));
  EXPECT_EQ(x.status, TraceStatus::kDeferred);
  EXPECT_EQ(x.remote_host, "mx.example.net [192.0.2.1]");
  EXPECT_EQ(x.error, "451 4.7.1 try later");
  EXPECT_GT(x.seq, 0u);
}

TEST(Trace, ByQueueIdIsOldestFirstAndExact) {
  TempStore t;
  Trace tr(*t);
  seed(tr);
  ASSERT_TRUE(tr.add(rec("Q10", kT0 + 9, "a@one.test", {"x@corp.test"}, TraceStatus::kReceived)).is_ok());
  auto r = tr.by_queue_id("Q1");
  ASSERT_EQ(r->size(), 2u);  // not Q10
  EXPECT_EQ((*r)[0].status, TraceStatus::kReceived);
  EXPECT_EQ((*r)[1].status, TraceStatus::kDelivered);
  EXPECT_TRUE(tr.by_queue_id("nope")->empty());
}

TEST(Trace, QueriesByTimeSenderRecipientVerdictStatus) {
  TempStore t;
  Trace tr(*t);
  seed(tr);
  TraceQuery q;
  auto all = tr.query(q);
  ASSERT_EQ(all->size(), 5u);
  EXPECT_EQ((*all)[0].queue_id, "Q4");  // newest first
  EXPECT_EQ((*all)[4].queue_id, "Q1");

  q = {};
  q.since_ms = kT0 + 2;
  q.until_ms = kT0 + 4;
  auto range = tr.query(q);
  ASSERT_EQ(range->size(), 2u);
  EXPECT_EQ((*range)[0].queue_id, "Q2");
  EXPECT_EQ((*range)[1].time_ms, kT0 + 2);

  q = {};
  q.sender = "b@two.test";  // case-insensitive
  ASSERT_EQ(tr.query(q)->size(), 1u);
  EXPECT_EQ((*tr.query(q))[0].queue_id, "Q3");

  q = {};
  q.recipient = "y@corp.test";
  EXPECT_EQ(tr.query(q)->size(), 2u);  // Q2 and Q3 (Y@corp.test)

  q = {};
  q.recipient = "@corp.test";
  EXPECT_EQ(tr.query(q)->size(), 4u);

  q = {};
  q.action = "junk";
  ASSERT_EQ(tr.query(q)->size(), 1u);
  EXPECT_EQ((*tr.query(q))[0].queue_id, "Q2");

  q = {};
  q.status = TraceStatus::kRejected;
  EXPECT_EQ(tr.query(q)->size(), 1u);

  q = {};
  q.direction = TraceDirection::kOut;
  EXPECT_EQ(tr.query(q)->size(), 1u);

  q = {};
  q.limit = 2;
  EXPECT_EQ(tr.query(q)->size(), 2u);
}

TEST(Trace, RecordsAreSealed) {
  TempStore t;
  Trace tr(*t);
  seed(tr);
  bool plain = false;
  ASSERT_TRUE(t->env().read([&](const Txn& txn) {
    return txn.scan(Db::kTrace, "", "", [&](std::string_view k, std::string_view v) {
      for (auto needle : {"one.test", "corp.test", "try later", "R_SUBJ_CAPS"})
        if (v.find(needle) != std::string_view::npos || k.find(needle) != std::string_view::npos)
          plain = true;
      return true;
    });
  }).is_ok());
  EXPECT_FALSE(plain);
}

TEST(Trace, PruneOlderThanRemovesRecordsAndIndex) {
  TempStore t;
  Trace tr(*t);
  seed(tr);
  auto n = tr.prune_older_than(kT0 + 3);
  ASSERT_TRUE(n.is_ok());
  EXPECT_EQ(*n, 2u);
  EXPECT_TRUE(tr.by_queue_id("Q1")->empty());
  EXPECT_EQ(tr.by_queue_id("Q2")->size(), 1u);
  EXPECT_EQ(tr.query({})->size(), 3u);
  uint64_t ids = 0;
  ASSERT_TRUE(t->env().read([&](const Txn& txn) -> Status {
    auto c = txn.count(Db::kTraceIds);
    if (!c.is_ok()) return c.status();
    ids = *c;
    return Status::ok();
  }).is_ok());
  EXPECT_EQ(ids, 3u);
}

TEST(Trace, RefusesBadRecords) {
  TempStore t;
  Trace tr(*t);
  EXPECT_EQ(tr.add(rec("", kT0, "a@b", {}, TraceStatus::kReceived)).code(), Code::kInvalidArgument);
  EXPECT_EQ(tr.add(rec(std::string(kMaxTraceQueueId + 1, 'Q'), kT0, "a@b", {}, TraceStatus::kReceived))
                .code(),
            Code::kInvalidArgument);
  auto r = rec("Q", kT0, "a@b", {}, TraceStatus::kReceived);
  r.recipients.assign(kMaxTraceRecipients + 1, "x@y");
  EXPECT_EQ(tr.add(r).code(), Code::kInvalidArgument);
  r = rec("Q", kT0, "a@b", {}, TraceStatus::kReceived);
  r.error = std::string(kMaxTraceText + 1, 'e');
  EXPECT_EQ(tr.add(r).code(), Code::kInvalidArgument);
  EXPECT_TRUE(tr.query({})->empty());
}

TEST(Trace, StatusNames) {
  for (int i = 1; i <= 8; i++) {
    auto s = TraceStatus(i);
    EXPECT_EQ(parse_trace_status(trace_status_name(s)), s);
  }
  EXPECT_FALSE(parse_trace_status("bogus").has_value());
}

TEST(QueueId, FormatSortsByTimeThenCounter) {
  std::string a = format_queue_id(kT0, 5), b = format_queue_id(kT0, 6), c = format_queue_id(kT0 + 1, 1);
  EXPECT_EQ(a.size(), kQueueIdLength);
  EXPECT_LT(a, b);
  EXPECT_LT(b, c);
  for (char ch : a) EXPECT_TRUE((ch >= '0' && ch <= '9') || (ch >= 'A' && ch <= 'Z')) << a;
}

TEST(QueueId, UniqueFromTransactionsAndGenerators) {
  TempStore t;
  std::set<std::string> ids;
  for (int i = 0; i < 10; i++) {
    std::string id;
    ASSERT_TRUE(t->env().write([&](Txn& txn) -> Status {
      auto r = new_queue_id(txn, kT0);
      if (!r.is_ok()) return r.status();
      id = *r;
      return Status::ok();
    }).is_ok());
    ids.insert(id);
  }
  // Two generators (as two processes would have) interleaved with transactions, same time.
  QueueIdGenerator g1(*t, 4), g2(*t, 4);
  for (int i = 0; i < 20; i++) {
    ids.insert(*g1.next(kT0));
    ids.insert(*g2.next(kT0));
  }
  EXPECT_EQ(ids.size(), 50u);
}

TEST(QueueId, GeneratorIsThreadSafe) {
  TempStore t;
  QueueIdGenerator g(*t, 8);
  std::vector<std::vector<std::string>> per(4);
  std::vector<std::thread> th;
  for (int i = 0; i < 4; i++)
    th.emplace_back([&, i] {
      for (int j = 0; j < 50; j++) per[i].push_back(*g.next(kT0));
    });
  for (auto& x : th) x.join();
  std::set<std::string> ids;
  for (auto& v : per) ids.insert(v.begin(), v.end());
  EXPECT_EQ(ids.size(), 200u);
}

TEST(QueueId, UniqueAcrossProcesses) {
  // Two processes with their own generators, same clock value: ids never collide.
  TempStore t;
  Options opts = t.options();
  t.close();
  constexpr int kProcs = 2, kEach = 100;
  int fds[kProcs][2];
  std::vector<pid_t> kids;
  for (int p = 0; p < kProcs; p++) {
    ASSERT_EQ(pipe(fds[p]), 0);
    pid_t pid = fork();
    ASSERT_GE(pid, 0);
    if (pid == 0) {
      close(fds[p][0]);
      auto s = Store::open(opts);
      if (!s.is_ok()) _exit(2);
      QueueIdGenerator g(**s, 16);
      std::string all;
      for (int i = 0; i < kEach; i++) {
        auto id = g.next(kT0);
        if (!id.is_ok()) _exit(3);
        all += *id;
      }
      if (write(fds[p][1], all.data(), all.size()) != ssize_t(all.size())) _exit(4);
      _exit(0);
    }
    close(fds[p][1]);
    kids.push_back(pid);
  }
  std::set<std::string> ids;
  for (int p = 0; p < kProcs; p++) {
    std::string buf;
    char chunk[4096];
    ssize_t n;
    while ((n = read(fds[p][0], chunk, sizeof chunk)) > 0) buf.append(chunk, size_t(n));
    close(fds[p][0]);
    ASSERT_EQ(buf.size(), kEach * kQueueIdLength);
    for (size_t i = 0; i < buf.size(); i += kQueueIdLength) ids.insert(buf.substr(i, kQueueIdLength));
  }
  for (pid_t k : kids) {
    int status = 0;
    ASSERT_EQ(waitpid(k, &status, 0), k);
    EXPECT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0);
  }
  EXPECT_EQ(ids.size(), size_t(kProcs * kEach));
}

}  // namespace
}  // namespace tsubame::store
