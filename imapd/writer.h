// imapd/writer.h: group commit for imapd's write commands (APPEND, STORE, COPY, MOVE,
// EXPUNGE, CLOSE).
//
//   session A ─┐ take_write()                         writer thread
//   session B ─┼──▶ submit(ticket, request) ─▶ queue ─▶ store.write_batch(everything queued)
//   session C ─┘                                        = ONE transaction, one commit
//        ▲                                                      │
//        └── write_done() ◀── take_done() ◀── loop ◀── on_done() (event_active)
//
// One writer thread per Server. It takes every request waiting (up to kMaxWriteBatch /
// kMaxWriteBatchBytes), runs them with Store::write_batch (each in its own nested
// transaction, so one failing request does not fail the others) and hands each outcome
// back, in submission order, through take_done(); on_done() is called from the writer
// thread after each batch (the server makes its libevent wake event active). While the
// disk syncs one batch, the next one gathers: the more sessions write at once, the more
// requests share one fsync.
//
// Durability: with BatchSync::kFlagsDeferred a flag-only batch is answered once its data
// pages are synced; its meta page is synced by the next commit, or by Store::sync() once
// the writer has been idle for kMetaSyncDelay, or at stop (imapd/README.md, "Durability").
// Any batch holding a message (APPEND, COPY, MOVE, EXPUNGE) is fully durable before its
// outcomes are handed back.
//
// With a flag journal (imapd/flag_journal.h) the journal is emptied after a sync that made
// every record in it durable in the store: the idle sync, a fully durable batch, or a sync
// forced once the journal reaches kMaxJournalBytes.
//
// Failure: a store error is an outcome (the request's status), never an exception. Requests
// still queued at destruction are dropped unexecuted (their sessions are gone with the
// server); nothing was acknowledged for them.
//
// Thread-safety: submit(), take_done() and stats() may be called from any thread.
#pragma once

#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <deque>
#include <functional>
#include <mutex>
#include <thread>
#include <utility>
#include <vector>

#include "imapd/flag_journal.h"
#include "imapd/limits.h"
#include "store/store.h"

namespace tsubame::imap {

struct WriterOptions {
  store::BatchSync flag_sync = store::BatchSync::kFlagsDeferred;
  size_t max_batch = kMaxWriteBatch;
  uint64_t max_batch_bytes = kMaxWriteBatchBytes;
  std::chrono::milliseconds meta_sync_delay = kMetaSyncDelay;
  // imapd.flag_sync = journal: the journal that early-acknowledged STOREs were written to.
  // Each batch records its highest journal sequence number in the store; once everything
  // journaled is applied and synced, the journal is emptied.
  FlagJournal* journal = nullptr;
};

struct WriterStats {
  uint64_t batches = 0;         // write transactions committed (or failed)
  uint64_t requests = 0;        // requests executed
  uint64_t deferred_syncs = 0;  // Store::sync() calls after kFlagsDeferred batches
  size_t largest_batch = 0;
};

class GroupWriter {
 public:
  GroupWriter(store::Store& store, WriterOptions options, std::function<void()> on_done);
  ~GroupWriter();  // stop(): joins the thread
  GroupWriter(const GroupWriter&) = delete;
  GroupWriter& operator=(const GroupWriter&) = delete;

  void start();
  // Syncs a deferred flag batch, then ends the thread; queued requests are dropped.
  void stop();
  // Queues a request; `ticket` comes back with its outcome (the server uses connection ids).
  // journal_seq: the request's flag-journal record (0: not journaled).
  void submit(uint64_t ticket, store::WriteRequest request, uint64_t journal_seq = 0);
  // Outcomes ready since the last call, in submission order.
  std::vector<std::pair<uint64_t, store::WriteOutcome>> take_done();
  WriterStats stats() const;

 private:
  struct Job {
    uint64_t ticket = 0;
    store::WriteRequest request;
    uint64_t journal_seq = 0;
  };
  void run();

  store::Store& store_;
  WriterOptions opts_;
  std::function<void()> on_done_;
  mutable std::mutex mu_;  // guards everything below
  std::condition_variable cv_;
  std::deque<Job> queue_;
  std::vector<std::pair<uint64_t, store::WriteOutcome>> done_;
  WriterStats stats_;
  bool stop_ = false;
  uint64_t applied_seq_ = 0;  // highest journal record committed (writer thread only)
  // A batch holding journal records failed to commit: from then on no batch records a
  // journal sequence number and the journal is never emptied, so the next start replays
  // every record from the last one recorded (replaying flag operations in their order
  // gives the same flags). Writer thread only.
  bool journal_broken_ = false;
  std::thread thread_;
};

}  // namespace tsubame::imap
