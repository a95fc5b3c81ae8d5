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

#include "imapd/limits.h"
#include "store/store.h"

namespace tsubame::imap {

struct WriterOptions {
  store::BatchSync flag_sync = store::BatchSync::kFlagsDeferred;
  size_t max_batch = kMaxWriteBatch;
  uint64_t max_batch_bytes = kMaxWriteBatchBytes;
  std::chrono::milliseconds meta_sync_delay = kMetaSyncDelay;
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
  void submit(uint64_t ticket, store::WriteRequest request);
  // Outcomes ready since the last call, in submission order.
  std::vector<std::pair<uint64_t, store::WriteOutcome>> take_done();
  WriterStats stats() const;

 private:
  struct Job {
    uint64_t ticket = 0;
    store::WriteRequest request;
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
  std::thread thread_;
};

}  // namespace tsubame::imap
