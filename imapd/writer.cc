// imapd/writer.cc: the group-commit writer thread (see writer.h).
//
// Failure: Store::write_batch reports every error in the outcomes (an exception from it, i.e.
// an allocation failure, becomes an Internal outcome for each request of the batch, which
// then may or may not have committed: the sessions answer NO); a failed deferred sync is
// logged (the next commit syncs the meta page anyway) and retried on the next idle turn.
#include "imapd/writer.h"

#include <algorithm>
#include <exception>

#include "common/log.h"

namespace tsubame::imap {

GroupWriter::GroupWriter(store::Store& store, WriterOptions options, std::function<void()> on_done)
    : store_(store), opts_(options), on_done_(std::move(on_done)) {
  if (opts_.max_batch == 0) opts_.max_batch = 1;
  if (opts_.max_batch > store::kMaxBatchMessages) opts_.max_batch = store::kMaxBatchMessages;
}

GroupWriter::~GroupWriter() { stop(); }

void GroupWriter::start() {
  std::lock_guard<std::mutex> lock(mu_);
  if (thread_.joinable() || stop_) return;
  thread_ = std::thread([this] { run(); });
}

void GroupWriter::stop() {
  {
    std::lock_guard<std::mutex> lock(mu_);
    stop_ = true;
  }
  cv_.notify_all();
  if (thread_.joinable()) thread_.join();
}

void GroupWriter::submit(uint64_t ticket, store::WriteRequest request, uint64_t journal_seq) {
  {
    std::lock_guard<std::mutex> lock(mu_);
    queue_.push_back(Job{ticket, std::move(request), journal_seq});
  }
  cv_.notify_one();
}

std::vector<std::pair<uint64_t, store::WriteOutcome>> GroupWriter::take_done() {
  std::lock_guard<std::mutex> lock(mu_);
  std::vector<std::pair<uint64_t, store::WriteOutcome>> out;
  out.swap(done_);
  return out;
}

WriterStats GroupWriter::stats() const {
  std::lock_guard<std::mutex> lock(mu_);
  return stats_;
}

void GroupWriter::run() {
  bool meta_pending = false;  // a kFlagsDeferred batch's meta page is not synced yet
  std::unique_lock<std::mutex> lock(mu_);
  while (true) {
    if (meta_pending) {
      // Idle for meta_sync_delay after a deferred flag batch: sync off the reply path.
      cv_.wait_for(lock, opts_.meta_sync_delay, [&] { return stop_ || !queue_.empty(); });
      if (queue_.empty() || stop_) {
        lock.unlock();
        Status s = store_.sync();
        lock.lock();
        if (s.is_ok()) {
          meta_pending = false;
          ++stats_.deferred_syncs;
          if (opts_.journal) opts_.journal->reset_if_applied(applied_seq_);
        } else {
          log::sys().warn("imapd: deferred store sync failed: {}", s.to_string());
        }
        if (stop_) return;
        continue;
      }
    } else {
      cv_.wait(lock, [&] { return stop_ || !queue_.empty(); });
      if (stop_) return;
    }
    // Everything waiting, up to the batch limits (a single large APPEND goes alone).
    std::vector<uint64_t> tickets;
    std::vector<store::WriteRequest> batch;
    uint64_t bytes = 0, journal_seq = 0;
    while (!queue_.empty() && batch.size() < opts_.max_batch) {
      const auto* a = std::get_if<store::AppendRequest>(&queue_.front().request);
      uint64_t size = a ? a->raw.size() : 0;
      if (!batch.empty() && bytes + size > opts_.max_batch_bytes) break;
      bytes += size;
      tickets.push_back(queue_.front().ticket);
      journal_seq = std::max(journal_seq, queue_.front().journal_seq);
      batch.push_back(std::move(queue_.front().request));
      queue_.pop_front();
    }
    lock.unlock();
    std::vector<store::WriteOutcome> outcomes;
    try {
      outcomes = store_.write_batch(batch, opts_.flag_sync, journal_broken_ ? 0 : journal_seq);
    } catch (const std::exception& e) {  // allocation failure: nothing may escape the thread
      log::sys().error("imapd: write batch failed: {}", e.what());
      outcomes.assign(batch.size(), store::WriteOutcome{Status::internal(e.what())});
      // Whether the transaction committed is unknown: a flag journal is kept whole.
      for (auto& o : outcomes) o.batch_failed = true;
    }
    bool deferred = false, durable = false;
    bool committed = !outcomes.empty() && !outcomes[0].batch_failed;
    for (const auto& o : outcomes) {
      if (!o.status.is_ok()) continue;
      (o.durable ? durable : deferred) = true;
    }
    if (opts_.journal && journal_seq != 0 && !committed && !journal_broken_) {
      journal_broken_ = true;
      log::sys().error("imapd: a batch of journaled flag changes did not commit ({}); the flag "
                       "journal is kept whole and replayed at the next start",
                       outcomes.empty() ? std::string("no outcome") : outcomes[0].status.to_string());
    }
    if (opts_.journal && committed && !journal_broken_) {
      applied_seq_ = std::max(applied_seq_, journal_seq);
      if (durable && !deferred) {
        opts_.journal->reset_if_applied(applied_seq_);
      } else if (deferred && opts_.journal->size() > kMaxJournalBytes) {
        // Busy for long enough that the journal grew large: make it durable and empty it.
        if (store_.sync().is_ok()) {
          deferred = false;
          opts_.journal->reset_if_applied(applied_seq_);
        }
      }
    }
    lock.lock();
    // A fully durable commit synced everything before it; a deferred one leaves its meta.
    if (deferred) meta_pending = true;
    else if (durable) meta_pending = false;
    ++stats_.batches;
    stats_.requests += batch.size();
    stats_.largest_batch = std::max(stats_.largest_batch, batch.size());
    for (size_t i = 0; i < outcomes.size(); i++)
      done_.emplace_back(tickets[i], std::move(outcomes[i]));
    lock.unlock();
    if (on_done_) on_done_();
    lock.lock();
  }
}

}  // namespace tsubame::imap
