// imapd/flag_journal.cc: the flag journal file, its replay, and the flag overlay (see
// flag_journal.h).
//
// Failure: open/append/reset report I/O errors as Status (the session then takes the
// ordinary synced path); read_all stops at the first damaged record, never past it; replay
// fails the start if the store cannot apply the records (imapd refuses to serve rather than
// drop acknowledged changes silently).
#include "imapd/flag_journal.h"

#include <fcntl.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include "common/bytes.h"
#include "common/crypto.h"
#include "common/log.h"

namespace tsubame::imap {

namespace {

constexpr size_t kHeader = 8;  // u32 length, u32 check

// Reads the payload of one record; false if it is malformed.
bool decode_payload(std::string_view p, JournalRecord* r) {
  ByteReader in(p);
  store::StoreFlagsRequest& q = r->request;
  uint8_t mode = 0, has_since = 0;
  uint64_t n = 0;
  if (!in.u64(r->seq) || !in.u64(q.mailbox_id) || !in.u8(mode) || mode > 2 || !in.u32(q.flags) ||
      !in.varint(n) || n > in.remaining() / 4)
    return false;
  q.mode = mode == 0 ? store::FlagMode::kAdd : mode == 1 ? store::FlagMode::kRemove : store::FlagMode::kReplace;
  q.uids.resize(n);
  for (auto& u : q.uids)
    if (!in.u32(u)) return false;
  if (!in.varint(n) || n > in.remaining()) return false;
  q.keywords.resize(n);
  for (auto& k : q.keywords)
    if (!in.str(k)) return false;
  if (!in.u8(has_since) || has_since > 1) return false;
  if (has_since) {
    uint64_t since = 0;
    if (!in.u64(since)) return false;
    q.unchanged_since = since;
  }
  return in.done();
}

}  // namespace

uint32_t journal_check(std::string_view payload) { return get_be32(crypto::sha256(payload).data()); }

std::string encode_journal_record(uint64_t seq, const store::StoreFlagsRequest& q) {
  ByteWriter p;
  p.u64(seq).u64(q.mailbox_id);
  p.u8(q.mode == store::FlagMode::kAdd ? 0 : q.mode == store::FlagMode::kRemove ? 1 : 2);
  p.u32(q.flags).varint(q.uids.size());
  for (uint32_t u : q.uids) p.u32(u);
  p.varint(q.keywords.size());
  for (const auto& k : q.keywords) p.str(k);
  p.u8(q.unchanged_since ? 1 : 0);
  if (q.unchanged_since) p.u64(*q.unchanged_since);
  ByteWriter rec;
  rec.u32(static_cast<uint32_t>(p.data().size())).u32(journal_check(p.data())).raw(p.data());
  return rec.take();
}

Result<std::unique_ptr<FlagJournal>> FlagJournal::open(const std::string& path) {
  int fd = ::open(path.c_str(), O_RDWR | O_CREAT | O_APPEND | O_CLOEXEC, 0600);
  if (fd < 0) {
    int e = errno;
    if (e == EACCES || e == EPERM) return Status::denied(path + ": " + std::strerror(e));
    return Status::io_error(path + ": " + std::strerror(e));
  }
  if (::flock(fd, LOCK_EX | LOCK_NB) != 0) {
    int e = errno;
    ::close(fd);
    if (e == EWOULDBLOCK) return Status::locked(path + " is in use by another tsubame-imapd on this store");
    return Status::io_error(path + ": lock: " + std::strerror(e));
  }
  struct stat st {};
  if (::fstat(fd, &st) != 0) {
    int e = errno;
    ::close(fd);
    return Status::io_error(path + ": " + std::strerror(e));
  }
  std::unique_ptr<FlagJournal> j(new FlagJournal(path, fd));
  j->size_ = static_cast<uint64_t>(st.st_size);
  return j;
}

FlagJournal::~FlagJournal() {
  if (fd_ >= 0) ::close(fd_);  // releases the lock
}

Result<std::vector<JournalRecord>> FlagJournal::read_all(uint64_t* discarded) const {
  std::lock_guard<std::mutex> lock(mu_);
  std::string data;
  data.resize(size_);
  size_t got = 0;
  while (got < data.size()) {
    ssize_t n = ::pread(fd_, data.data() + got, data.size() - got, static_cast<off_t>(got));
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) return Status::io_error(path_ + ": read: " + std::strerror(errno));
    if (n == 0) break;
    got += static_cast<size_t>(n);
  }
  data.resize(got);
  std::vector<JournalRecord> out;
  size_t pos = 0;
  while (data.size() - pos >= kHeader) {
    uint32_t len = get_be32(data.data() + pos);
    uint32_t check = get_be32(data.data() + pos + 4);
    if (len > kMaxJournalRecord || data.size() - pos - kHeader < len) break;
    std::string_view payload(data.data() + pos + kHeader, len);
    if (journal_check(payload) != check) break;
    JournalRecord r;
    if (!decode_payload(payload, &r)) break;
    out.push_back(std::move(r));
    pos += kHeader + len;
  }
  if (discarded) *discarded = data.size() - pos;
  return out;
}

Status FlagJournal::append(uint64_t seq, const store::StoreFlagsRequest& request) {
  std::string rec = encode_journal_record(seq, request);
  if (rec.size() - kHeader > kMaxJournalRecord)
    return Status::invalid("flag journal record too large");
  std::lock_guard<std::mutex> lock(mu_);
  size_t done = 0;
  while (done < rec.size()) {
    ssize_t n = ::write(fd_, rec.data() + done, rec.size() - done);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) {
      int e = errno;
      // Cut off a partial record so that the file stays whole records (the replay would
      // stop there anyway, and would also drop every later record).
      if (done > 0 && ::ftruncate(fd_, static_cast<off_t>(size_)) != 0) {
        log::sys().error("imapd: {}: cannot cut a partial record: {}", path_, std::strerror(errno));
      }
      return Status::io_error(path_ + ": write: " + std::strerror(e));
    }
    done += static_cast<size_t>(n);
  }
  size_ += rec.size();
  last_seq_ = seq;
  return Status::ok();
}

uint64_t FlagJournal::last_seq() const {
  std::lock_guard<std::mutex> lock(mu_);
  return last_seq_;
}

void FlagJournal::start_at(uint64_t seq) {
  std::lock_guard<std::mutex> lock(mu_);
  last_seq_ = seq;
}

bool FlagJournal::reset_if_applied(uint64_t applied_seq) {
  std::lock_guard<std::mutex> lock(mu_);
  if (size_ == 0) return true;
  if (last_seq_ > applied_seq) return false;
  if (::ftruncate(fd_, 0) != 0) {
    log::sys().warn("imapd: {}: cannot empty the flag journal: {}", path_, std::strerror(errno));
    return false;
  }
  size_ = 0;
  return true;
}

uint64_t FlagJournal::size() const {
  std::lock_guard<std::mutex> lock(mu_);
  return size_;
}

Result<uint64_t> replay_flag_journal(store::Store& store, FlagJournal& journal) {
  uint64_t discarded = 0;
  auto read = journal.read_all(&discarded);
  if (!read.is_ok()) return read.status();
  std::vector<JournalRecord> records = std::move(*read);
  auto stored = store.flag_journal_seq();
  if (!stored.is_ok()) return stored.status();
  uint64_t applied = *stored;
  if (discarded)
    log::sys().warn("imapd: flag journal: {} bytes of a damaged last record ignored", discarded);
  uint64_t last = applied;
  std::vector<store::WriteRequest> batch;
  uint64_t batch_seq = 0;
  size_t replayed = 0, failed = 0;
  auto flush = [&]() -> Status {
    if (batch.empty()) return Status::ok();
    auto outcomes = store.write_batch(batch, store::BatchSync::kFull, batch_seq);
    for (const auto& o : outcomes) {
      // A whole-batch failure (I/O, map full) stops the start: nothing was applied.
      if (!o.status.is_ok() && o.status.code() != Code::kNotFound &&
          o.status.code() != Code::kInvalidArgument)
        return Status(o.status.code(), "flag journal replay: " + o.status.message());
      if (!o.status.is_ok()) ++failed;  // the mailbox is gone: as the live STORE would fail
    }
    replayed += batch.size();
    batch.clear();
    return Status::ok();
  };
  for (auto& r : records) {
    last = std::max(last, r.seq);
    if (r.seq <= applied) continue;
    batch.push_back(std::move(r.request));
    batch_seq = r.seq;
    if (batch.size() >= store::kMaxBatchMessages) TSUBAME_TRY(flush());
  }
  TSUBAME_TRY(flush());
  if (replayed)
    log::sys().info("imapd: flag journal: {} acknowledged flag change(s) replayed ({} skipped: mailbox gone)",
                    replayed, failed);
  journal.start_at(last);
  if (!journal.reset_if_applied(last))
    return Status::io_error(journal.path() + ": cannot empty the flag journal after replay");
  return last;
}

// ---- FlagOverlay ----

const FlagOverlay::State* FlagOverlay::find(uint64_t mailbox_id, uint32_t uid) const {
  auto it = map_.find(Key{mailbox_id, uid});
  return it == map_.end() ? nullptr : &it->second.state;
}

uint64_t FlagOverlay::accept(uint64_t mailbox_id, const std::vector<Change>& changes) {
  uint64_t n = ++accepted_;
  std::vector<Key> keys;
  keys.reserve(changes.size());
  for (const auto& c : changes) {
    Key k{mailbox_id, c.uid};
    Entry& e = map_[k];
    e.state = c.state;
    e.seq = n;
    keys.push_back(k);
  }
  order_.emplace_back(n, std::move(keys));
  return n;
}

void FlagOverlay::completed() {
  if (order_.empty()) return;
  auto [n, keys] = std::move(order_.front());
  order_.pop_front();
  completed_ = n;
  for (const Key& k : keys) {
    auto it = map_.find(k);
    if (it != map_.end() && it->second.seq == n) map_.erase(it);  // no later request set it
  }
}

}  // namespace tsubame::imap
