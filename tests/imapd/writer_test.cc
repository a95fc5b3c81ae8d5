// tests/imapd/writer_test.cc: the group-commit writer (imapd/writer.h) on a real store:
// requests queued together share one batch, outcomes come back in submission order with
// their tickets, a failing request does not fail the others, kMaxWriteBatch and
// kMaxWriteBatchBytes split batches, and a deferred flag batch is synced at stop.
#include "imapd/writer.h"

#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <filesystem>
#include <thread>

#include "common/crypto.h"
#include "tests/imapd/temp_store.h"

namespace tsubame::imap {
namespace {

class WriterTest : public ::testing::Test {
 protected:
  void SetUp() override {
    ASSERT_TRUE(ts_.open("writer"));
    dir_ = ts_.dir;
    store_ = ts_.store.get();
    user_ = ts_.alice;
    inbox_ = ts_.inbox;
  }
  store::AppendRequest append(size_t size = 100) {
    store::AppendRequest a;
    a.user_id = user_;
    a.mailbox_id = inbox_;
    a.raw = "Subject: x\r\n\r\n" + std::string(size, 'x');
    a.summary.size = a.raw.size();
    return a;
  }
  // Waits (bounded) until `n` outcomes arrived; the writer calls on_done after each batch.
  std::vector<std::pair<uint64_t, store::WriteOutcome>> wait_for(GroupWriter& w, size_t n) {
    std::vector<std::pair<uint64_t, store::WriteOutcome>> all;
    for (int i = 0; i < 2000 && all.size() < n; ++i) {
      for (auto& d : w.take_done()) all.push_back(std::move(d));
      if (all.size() < n) std::this_thread::sleep_for(std::chrono::milliseconds(5));
    }
    return all;
  }

  testing::TempStore ts_;
  std::string dir_;
  store::Store* store_ = nullptr;
  uint64_t user_ = 0, inbox_ = 0;
};

TEST_F(WriterTest, QueuedRequestsShareOneBatchAndComeBackInOrder) {
  std::atomic<int> wakes{0};
  GroupWriter w(*store_, WriterOptions{}, [&] { ++wakes; });
  ASSERT_TRUE(store_->set_quota(user_, 250).is_ok());
  w.submit(7, append());
  w.submit(8, append(1000));  // over the quota: Full, alone
  w.submit(9, append());
  store::StoreFlagsRequest f;
  f.mailbox_id = inbox_;
  f.uids = {1, 2};
  f.flags = store::kSeen;
  w.submit(10, f);
  w.start();  // everything is queued before the thread runs: one batch
  auto done = wait_for(w, 4);
  ASSERT_EQ(done.size(), 4u);
  EXPECT_EQ(done[0].first, 7u);
  EXPECT_EQ(done[1].first, 8u);
  EXPECT_EQ(done[2].first, 9u);
  EXPECT_EQ(done[3].first, 10u);
  EXPECT_TRUE(done[0].second.status.is_ok());
  EXPECT_EQ(done[0].second.appended.uid, 1u);
  EXPECT_EQ(done[1].second.status.code(), Code::kFull);
  EXPECT_EQ(done[2].second.appended.uid, 2u);
  EXPECT_EQ(done[3].second.flags.changed.size(), 2u);
  EXPECT_TRUE(done[3].second.durable);  // a batch with messages in it is fully durable
  WriterStats st = w.stats();
  EXPECT_EQ(st.batches, 1u);
  EXPECT_EQ(st.requests, 4u);
  EXPECT_EQ(st.largest_batch, 4u);
  EXPECT_GE(wakes.load(), 1);
  w.stop();
  EXPECT_EQ(store_->find_mailbox(user_, "INBOX")->messages, 2u);
}

TEST_F(WriterTest, BatchLimitsSplitBatches) {
  WriterOptions o;
  o.max_batch = 3;                 // kMaxWriteBatch, made small
  GroupWriter w(*store_, o, nullptr);
  for (uint64_t i = 0; i < 7; ++i) w.submit(i, append());
  w.start();
  auto done = wait_for(w, 7);
  ASSERT_EQ(done.size(), 7u);
  EXPECT_EQ(w.stats().batches, 3u);  // 3 + 3 + 1
  EXPECT_EQ(w.stats().largest_batch, 3u);
  for (size_t i = 0; i < done.size(); ++i) EXPECT_EQ(done[i].second.appended.uid, i + 1);
  w.stop();

  WriterOptions b;
  b.max_batch_bytes = 250;         // kMaxWriteBatchBytes, made small: two 100-octet bodies
  GroupWriter w2(*store_, b, nullptr);
  for (uint64_t i = 0; i < 4; ++i) w2.submit(i, append());
  w2.submit(4, append(1000));      // larger than the bound: a batch of its own
  w2.start();
  done = wait_for(w2, 5);
  ASSERT_EQ(done.size(), 5u);
  for (const auto& d : done) EXPECT_TRUE(d.second.status.is_ok()) << d.second.status.to_string();
  EXPECT_EQ(w2.stats().batches, 3u);  // 2 + 2 + the large one
}

TEST_F(WriterTest, DefaultLimitsAreTheNamedConstants) {
  WriterOptions o;
  EXPECT_EQ(o.max_batch, kMaxWriteBatch);
  EXPECT_EQ(o.max_batch_bytes, kMaxWriteBatchBytes);
  EXPECT_EQ(o.meta_sync_delay, kMetaSyncDelay);
  EXPECT_LE(kMaxWriteBatch, store::kMaxBatchMessages);
  EXPECT_EQ(o.flag_sync, store::BatchSync::kFlagsDeferred);
}

TEST_F(WriterTest, DeferredFlagBatchIsSyncedAfterwards) {
  ASSERT_TRUE(store_->append(user_, inbox_, "Subject: y\r\n\r\nbody", MessageSummary{}, 0, {}, 0));
  WriterOptions o;
  o.meta_sync_delay = std::chrono::hours(1);  // only stop() syncs here
  GroupWriter w(*store_, o, nullptr);
  w.start();
  store::StoreFlagsRequest f;
  f.mailbox_id = inbox_;
  f.uids = {1};
  f.flags = store::kFlagged;
  w.submit(1, f);
  auto done = wait_for(w, 1);
  ASSERT_EQ(done.size(), 1u);
  ASSERT_TRUE(done[0].second.status.is_ok());
  EXPECT_FALSE(done[0].second.durable);  // answered after the data sync, meta pending
  EXPECT_EQ(w.stats().deferred_syncs, 0u);
  w.stop();
  EXPECT_EQ(w.stats().deferred_syncs, 1u);
  auto m = store_->get_message(inbox_, 1);
  ASSERT_TRUE(m);
  EXPECT_EQ(m->flags, uint32_t(store::kFlagged));

  // With a short delay the idle writer syncs by itself (waited for, bounded: no timing
  // assertion).
  WriterOptions quick;
  quick.meta_sync_delay = std::chrono::milliseconds(1);
  GroupWriter w1(*store_, quick, nullptr);
  w1.start();
  f.flags = store::kAnswered;
  w1.submit(3, f);
  ASSERT_EQ(wait_for(w1, 1).size(), 1u);
  for (int i = 0; i < 2000 && w1.stats().deferred_syncs == 0; ++i)
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  EXPECT_EQ(w1.stats().deferred_syncs, 1u);
  w1.stop();
  EXPECT_EQ(w1.stats().deferred_syncs, 1u);  // nothing left to sync at stop

  WriterOptions full;
  full.flag_sync = store::BatchSync::kFull;
  GroupWriter w2(*store_, full, nullptr);
  w2.start();
  f.flags = store::kSeen;
  w2.submit(2, f);
  done = wait_for(w2, 1);
  ASSERT_EQ(done.size(), 1u);
  EXPECT_TRUE(done[0].second.durable);
  w2.stop();
  EXPECT_EQ(w2.stats().deferred_syncs, 0u);
}

}  // namespace
}  // namespace tsubame::imap
