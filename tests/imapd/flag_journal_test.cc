// tests/imapd/flag_journal_test.cc: the flag journal (imapd/flag_journal.h) on real files and
// a real store: records round-trip; a torn or corrupted tail ends the replay there; one
// process at a time; the journal empties only once everything in it is applied; replay
// applies exactly the records the store has not recorded, once; the overlay tracks pending
// predictions; the writer records journal sequence numbers and empties the journal.
#include "imapd/flag_journal.h"

#include <fcntl.h>
#include <gtest/gtest.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>

#include "imapd/writer.h"
#include "tests/imapd/temp_store.h"

namespace tsubame::imap {
namespace {

class FlagJournalTest : public ::testing::Test {
 protected:
  void SetUp() override {
    ASSERT_TRUE(ts_.open("journal"));
    dir_ = ts_.dir;
    path_ = dir_ + "/imapd-flags.journal";
  }
  // The store with two messages in alice's INBOX (UIDs 1 and 2).
  void open_store() {
    store_ = ts_.store.get();
    inbox_ = ts_.inbox;
    store::AppendRequest a;
    a.user_id = ts_.alice;
    a.mailbox_id = inbox_;
    a.raw = "Subject: x\r\n\r\nbody\r\n";
    a.summary.size = a.raw.size();
    auto out = store_->write_batch({a, a});
    ASSERT_TRUE(out[0].status.is_ok() && out[1].status.is_ok());
  }
  static store::StoreFlagsRequest req(uint64_t box, std::vector<uint32_t> uids, store::FlagMode mode,
                                      uint32_t flags, std::vector<std::string> kw = {}) {
    store::StoreFlagsRequest r;
    r.mailbox_id = box;
    r.uids = std::move(uids);
    r.mode = mode;
    r.flags = flags;
    r.keywords = std::move(kw);
    return r;
  }
  void append_raw(std::string_view bytes) {
    int fd = ::open(path_.c_str(), O_WRONLY | O_APPEND);
    ASSERT_GE(fd, 0);
    ASSERT_EQ(::write(fd, bytes.data(), bytes.size()), static_cast<ssize_t>(bytes.size()));
    ::close(fd);
  }
  testing::TempStore ts_;
  std::string dir_, path_;
  store::Store* store_ = nullptr;
  uint64_t inbox_ = 0;
};

TEST_F(FlagJournalTest, RecordsRoundTrip) {
  auto j = FlagJournal::open(path_);
  ASSERT_TRUE(j) << j.status().to_string();
  auto a = req(7, {1, 2, 300000}, store::FlagMode::kAdd, store::kSeen | store::kFlagged);
  auto b = req(8, {5}, store::FlagMode::kRemove, store::kDeleted, {"$Forwarded", "$Label1"});
  auto c = req(9, {}, store::FlagMode::kReplace, 0);
  c.unchanged_since = 123456789012ull;
  ASSERT_TRUE((*j)->append(1, a).is_ok());
  ASSERT_TRUE((*j)->append(2, b).is_ok());
  ASSERT_TRUE((*j)->append(3, c).is_ok());
  EXPECT_EQ((*j)->last_seq(), 3u);
  uint64_t discarded = 99;
  auto r = (*j)->read_all(&discarded);
  ASSERT_TRUE(r) << r.status().to_string();
  ASSERT_EQ(r->size(), 3u);
  EXPECT_EQ(discarded, 0u);
  EXPECT_EQ((*r)[0].seq, 1u);
  EXPECT_EQ((*r)[0].request.uids, a.uids);
  EXPECT_EQ((*r)[0].request.flags, a.flags);
  EXPECT_EQ((*r)[0].request.mode, store::FlagMode::kAdd);
  EXPECT_EQ((*r)[1].request.mode, store::FlagMode::kRemove);
  EXPECT_EQ((*r)[1].request.keywords, b.keywords);
  EXPECT_EQ((*r)[1].request.mailbox_id, 8u);
  EXPECT_EQ((*r)[2].request.mode, store::FlagMode::kReplace);
  EXPECT_EQ((*r)[2].request.unchanged_since, c.unchanged_since);
  EXPECT_FALSE((*r)[0].request.unchanged_since.has_value());
}

TEST_F(FlagJournalTest, ATornOrCorruptTailEndsTheRecords) {
  {
    auto j = FlagJournal::open(path_);
    ASSERT_TRUE(j);
    ASSERT_TRUE((*j)->append(1, req(1, {1}, store::FlagMode::kAdd, store::kSeen)).is_ok());
    ASSERT_TRUE((*j)->append(2, req(1, {2}, store::FlagMode::kAdd, store::kSeen)).is_ok());
  }
  // A crash in the middle of the third write: its first 10 bytes only.
  std::string third = encode_journal_record(3, req(1, {3}, store::FlagMode::kAdd, store::kSeen));
  append_raw(third.substr(0, 10));
  {
    auto j = FlagJournal::open(path_);
    ASSERT_TRUE(j);
    uint64_t discarded = 0;
    auto r = (*j)->read_all(&discarded);
    ASSERT_TRUE(r);
    EXPECT_EQ(r->size(), 2u);
    EXPECT_EQ(discarded, 10u);
  }
  // A flipped byte in the second record's payload: its checksum fails, and nothing after it is read.
  std::filesystem::resize_file(path_, 2 * third.size());  // the two whole records
  {
    std::fstream f(path_, std::ios::in | std::ios::out | std::ios::binary);
    f.seekp(static_cast<std::streamoff>(third.size() + 12));
    f.put('\x5a');
  }
  auto j = FlagJournal::open(path_);
  ASSERT_TRUE(j);
  auto r = (*j)->read_all();
  ASSERT_TRUE(r);
  ASSERT_EQ(r->size(), 1u);
  EXPECT_EQ((*r)[0].seq, 1u);
}

TEST_F(FlagJournalTest, OneProcessAtATime) {
  auto first = FlagJournal::open(path_);
  ASSERT_TRUE(first);
  auto second = FlagJournal::open(path_);
  ASSERT_FALSE(second);
  EXPECT_EQ(second.status().code(), Code::kLocked);
  EXPECT_NE(second.status().message().find("in use"), std::string::npos);
  first->reset();
  EXPECT_TRUE(FlagJournal::open(path_));
  // A directory that does not exist is an error with the path, not a crash.
  auto bad = FlagJournal::open(dir_ + "/missing/dir/journal");
  ASSERT_FALSE(bad);
  EXPECT_NE(bad.status().message().find("missing/dir"), std::string::npos);
}

TEST_F(FlagJournalTest, EmptiedOnlyWhenEverythingIsApplied) {
  auto j = FlagJournal::open(path_);
  ASSERT_TRUE(j);
  ASSERT_TRUE((*j)->append(1, req(1, {1}, store::FlagMode::kAdd, store::kSeen)).is_ok());
  ASSERT_TRUE((*j)->append(2, req(1, {2}, store::FlagMode::kAdd, store::kSeen)).is_ok());
  EXPECT_GT((*j)->size(), 0u);
  EXPECT_FALSE((*j)->reset_if_applied(1));
  EXPECT_EQ((*j)->read_all()->size(), 2u);
  EXPECT_TRUE((*j)->reset_if_applied(2));
  EXPECT_EQ((*j)->size(), 0u);
  EXPECT_EQ(std::filesystem::file_size(path_), 0u);
  // Appends go on after the reset, from the start of the file.
  ASSERT_TRUE((*j)->append(3, req(1, {3}, store::FlagMode::kAdd, store::kSeen)).is_ok());
  auto r = (*j)->read_all();
  ASSERT_EQ(r->size(), 1u);
  EXPECT_EQ((*r)[0].seq, 3u);
}

TEST_F(FlagJournalTest, TooLargeARecordIsRefused) {
  auto j = FlagJournal::open(path_);
  ASSERT_TRUE(j);
  std::vector<uint32_t> uids(kMaxJournalRecord / 4 + 1);
  for (size_t i = 0; i < uids.size(); i++) uids[i] = static_cast<uint32_t>(i + 1);
  Status s = (*j)->append(1, req(1, uids, store::FlagMode::kAdd, store::kSeen));
  EXPECT_EQ(s.code(), Code::kInvalidArgument);
  EXPECT_EQ((*j)->size(), 0u);
}

TEST_F(FlagJournalTest, ReplayAppliesExactlyWhatTheStoreHasNotRecorded) {
  open_store();
  // Record 1 "committed" before the crash: the store holds its sequence number (its effect
  // here is \Answered, so that a second application would be visible as \Seen).
  auto pre = store_->write_batch({req(inbox_, {1}, store::FlagMode::kAdd, store::kAnswered)},
                                 store::BatchSync::kFull, 1);
  ASSERT_TRUE(pre[0].status.is_ok());
  EXPECT_EQ(*store_->flag_journal_seq(), 1u);
  {
    auto j = FlagJournal::open(path_);
    ASSERT_TRUE(j);
    ASSERT_TRUE((*j)->append(1, req(inbox_, {1}, store::FlagMode::kAdd, store::kSeen)).is_ok());
    ASSERT_TRUE((*j)->append(2, req(inbox_, {1, 2}, store::FlagMode::kAdd, store::kFlagged)).is_ok());
    ASSERT_TRUE((*j)->append(3, req(999999, {1}, store::FlagMode::kAdd, store::kSeen)).is_ok());  // mailbox gone
    ASSERT_TRUE((*j)->append(4, req(inbox_, {2, 77}, store::FlagMode::kAdd, store::kDeleted)).is_ok());
  }
  auto j = FlagJournal::open(path_);
  ASSERT_TRUE(j);
  auto last = replay_flag_journal(*store_, **j);
  ASSERT_TRUE(last) << last.status().to_string();
  EXPECT_EQ(*last, 4u);
  EXPECT_EQ(store_->get_message(inbox_, 1)->flags, uint32_t(store::kAnswered | store::kFlagged));
  EXPECT_EQ(store_->get_message(inbox_, 2)->flags, uint32_t(store::kFlagged | store::kDeleted));
  EXPECT_EQ(*store_->flag_journal_seq(), 4u);
  EXPECT_EQ((*j)->size(), 0u);
  EXPECT_EQ((*j)->last_seq(), 4u);  // the next record is 5
  // A second replay (nothing left) changes nothing.
  auto again = replay_flag_journal(*store_, **j);
  ASSERT_TRUE(again);
  EXPECT_EQ(*again, 4u);
  EXPECT_EQ(store_->get_message(inbox_, 1)->flags, uint32_t(store::kAnswered | store::kFlagged));
  // The recorded sequence number is never lowered by an older batch.
  store_->write_batch({req(inbox_, {1}, store::FlagMode::kAdd, store::kSeen)}, store::BatchSync::kFull, 2);
  EXPECT_EQ(*store_->flag_journal_seq(), 4u);
  EXPECT_TRUE(store_->check()->problems.empty());
}

TEST_F(FlagJournalTest, WriterRecordsSequenceNumbersAndEmptiesTheJournal) {
  open_store();
  auto j = FlagJournal::open(path_);
  ASSERT_TRUE(j);
  WriterOptions wo;
  wo.journal = j->get();
  GroupWriter w(*store_, wo, nullptr);
  w.start();
  auto a = req(inbox_, {1}, store::FlagMode::kAdd, store::kSeen);
  auto b = req(inbox_, {2}, store::FlagMode::kAdd, store::kFlagged);
  ASSERT_TRUE((*j)->append(1, a).is_ok());
  ASSERT_TRUE((*j)->append(2, b).is_ok());
  w.submit(1, a, 1);
  w.submit(2, b, 2);
  std::vector<std::pair<uint64_t, store::WriteOutcome>> done;
  for (int i = 0; i < 2000 && done.size() < 2; ++i) {
    for (auto& d : w.take_done()) done.push_back(std::move(d));
    if (done.size() < 2) std::this_thread::sleep_for(std::chrono::milliseconds(5));
  }
  ASSERT_EQ(done.size(), 2u);
  EXPECT_TRUE(done[0].second.status.is_ok());
  EXPECT_TRUE(done[1].second.status.is_ok());
  w.stop();  // syncs the deferred flag batch, then empties the journal
  EXPECT_EQ(*store_->flag_journal_seq(), 2u);
  EXPECT_EQ((*j)->size(), 0u);
  EXPECT_EQ(store_->get_message(inbox_, 2)->flags, uint32_t(store::kFlagged));
}

// A batch of journaled flag changes that cannot commit (the map is full): nothing records a
// journal sequence number from then on and the journal is never emptied, so the next start
// (with room again) replays the acknowledged change.
TEST_F(FlagJournalTest, AFailedBatchKeepsTheJournalForTheReplay) {
  store::Options o;
  o.data_dir = dir_ + "/tiny";
  o.key_file = dir_ + "/tiny.key";
  o.create = true;
  o.map_size = 256 << 10;
  o.max_map_size = 512 << 10;
  std::vector<uint32_t> uids;
  uint64_t inbox = 0;
  {
    auto s = store::Store::open(o);
    ASSERT_TRUE(s) << s.status().to_string();
    store::Store& st = **s;
    ASSERT_TRUE(st.add_domain("example.com"));
    auto u = st.add_user("alice@example.com", "$argon2id$unused");
    ASSERT_TRUE(u);
    inbox = st.find_mailbox(u->id, "INBOX")->id;
    // Fill the map to the last page: APPENDs until the store says Full, smaller and smaller.
    for (size_t size : {6000u, 1000u, 100u, 1u}) {
      for (int i = 0; i < 2000; i++) {
        store::AppendRequest a;
        a.user_id = u->id;
        a.mailbox_id = inbox;
        a.raw = "Subject: " + std::to_string(i) + "\r\n\r\n" + std::string(size, 'a' + i % 26);
        a.summary.size = a.raw.size();
        auto out = st.write_batch({a});
        if (!out[0].status.is_ok()) {
          ASSERT_EQ(out[0].status.code(), Code::kFull) << out[0].status.to_string();
          EXPECT_TRUE(out[0].batch_failed);
          break;
        }
        uids.push_back(out[0].appended.uid);
      }
    }
    ASSERT_GT(uids.size(), 10u);
    auto j = FlagJournal::open(path_);
    ASSERT_TRUE(j);
    WriterOptions wo;
    wo.journal = j->get();
    GroupWriter w(st, wo, nullptr);
    // 64 keywords of 100 bytes on every message: far more pages than the map has left.
    std::vector<std::string> kws;
    for (int k = 0; k < 64; k++) kws.push_back("$K" + std::to_string(k) + std::string(96, 'k'));
    auto all = req(inbox, uids, store::FlagMode::kAdd, store::kSeen | store::kFlagged | store::kAnswered, kws);
    ASSERT_TRUE((*j)->append(1, all).is_ok());
    w.start();
    w.submit(1, all, 1);
    std::vector<std::pair<uint64_t, store::WriteOutcome>> done;
    for (int i = 0; i < 2000 && done.empty(); ++i) {
      for (auto& d : w.take_done()) done.push_back(std::move(d));
      if (done.empty()) std::this_thread::sleep_for(std::chrono::milliseconds(5));
    }
    ASSERT_EQ(done.size(), 1u);
    ASSERT_FALSE(done[0].second.status.is_ok());
    EXPECT_TRUE(done[0].second.batch_failed) << done[0].second.status.to_string();
    w.stop();
    EXPECT_GT((*j)->size(), 0u);  // kept whole for the replay
    EXPECT_EQ(*st.flag_journal_seq(), 0u);
  }
  // The next start, with room: the acknowledged change is applied.
  o.create = false;
  o.max_map_size = 64ull << 20;
  auto s = store::Store::open(o);
  ASSERT_TRUE(s) << s.status().to_string();
  auto j = FlagJournal::open(path_);
  ASSERT_TRUE(j);
  auto last = replay_flag_journal(**s, **j);
  ASSERT_TRUE(last) << last.status().to_string();
  EXPECT_EQ(*last, 1u);
  for (uint32_t uid : uids) {
    auto m = (*s)->get_message(inbox, uid);
    ASSERT_TRUE(m);
    EXPECT_EQ(m->flags, uint32_t(store::kSeen | store::kFlagged | store::kAnswered));
    EXPECT_EQ(m->keywords.size(), 64u);
  }
  EXPECT_EQ(*(*s)->flag_journal_seq(), 1u);
  EXPECT_EQ((*j)->size(), 0u);
}

TEST(FlagOverlay, PendingPredictionsUntilTheirRequestCompletes) {
  FlagOverlay ov;
  EXPECT_TRUE(ov.settled());
  EXPECT_TRUE(ov.available());
  uint64_t n1 = ov.accept(5, {{1, {store::kSeen, {}}}, {2, {store::kSeen, {"$X"}}}});
  uint64_t n2 = ov.accept(5, {{2, {store::kSeen | store::kFlagged, {"$X"}}}});
  EXPECT_EQ(n1, 1u);
  EXPECT_EQ(n2, 2u);
  EXPECT_FALSE(ov.settled());
  ASSERT_NE(ov.find(5, 1), nullptr);
  EXPECT_EQ(ov.find(5, 2)->flags, uint32_t(store::kSeen | store::kFlagged));
  EXPECT_EQ(ov.find(6, 1), nullptr);  // another mailbox
  ov.completed();                     // request 1: uid 1 goes, uid 2 is still request 2's
  EXPECT_EQ(ov.completed_seq(), 1u);
  EXPECT_EQ(ov.find(5, 1), nullptr);
  ASSERT_NE(ov.find(5, 2), nullptr);
  EXPECT_EQ(ov.find(5, 2)->keywords, std::vector<std::string>{"$X"});
  ov.completed();
  EXPECT_TRUE(ov.settled());
  EXPECT_EQ(ov.entries(), 0u);
  ov.ordinary_submitted();
  EXPECT_FALSE(ov.available());
  ov.ordinary_done();
  EXPECT_TRUE(ov.available());
}

}  // namespace
}  // namespace tsubame::imap
