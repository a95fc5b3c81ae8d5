// imapd/flag_journal.h: early acknowledgement of STORE through a flag journal
// (imapd.flag_sync = journal, the default; imapd/README.md "Durability").
//
//   STORE (system flags, no CONDSTORE) ─▶ predict the new flags (store + FlagOverlay)
//        ─▶ FlagJournal::append (write(2), no fsync) ─▶ untagged FETCH + OK to the client
//        ─▶ GroupWriter: Store::write_batch(..., journal_seq) applies it, synced as before
//   writer idle and everything applied and synced ─▶ FlagJournal::reset()
//   start of imapd ─▶ replay_flag_journal(): records past Store::flag_journal_seq() applied
//
// Why: a flag change then costs a write(2) on the reply path instead of an fdatasync, as
// Dovecot's index does, without ever committing LMDB unsynced (MDB_NOSYNC can corrupt the
// file, and the messages live in it). What a crash can do:
//   - imapd killed: nothing acknowledged is lost (the record is in the page cache; the
//     next start replays it);
//   - system crash: the acknowledged flag changes of the last moments (not yet applied and
//     synced) may be lost; a torn or half-written record ends the replay (its checksum fails).
//     Messages are never in the journal: APPEND/COPY/MOVE/EXPUNGE are acknowledged only
//     after their own full sync.
// Replaying is idempotent: write_batch records the highest sequence number it applied in
// the same transaction, and replay skips up to there. A record names a mailbox and UIDs;
// one deleted or expunged since is skipped, as the live STORE would have.
//
// One imapd per store: the journal is locked (flock); a second imapd gets an error at open.
//
// Thread-safety: FlagJournal's methods may be called from any thread (one mutex).
// FlagOverlay is used by the event-loop thread only.
#pragma once

#include <cstdint>
#include <deque>
#include <memory>
#include <mutex>
#include <string>
#include <unordered_map>
#include <vector>

#include "common/result.h"
#include "store/store.h"

namespace tsubame::imap {

// A journal record's payload larger than this is not journaled (the STORE takes the
// ordinary, synced path): STORE 1:* on a huge mailbox.
inline constexpr size_t kMaxJournalRecord = 4u * 1024 * 1024;
// Once the journal holds this much, the writer syncs and empties it even while busy.
inline constexpr uint64_t kMaxJournalBytes = 64ull * 1024 * 1024;

struct JournalRecord {
  uint64_t seq = 0;
  store::StoreFlagsRequest request;
};

class FlagJournal {
 public:
  // Opens (creating, mode 0600) and locks the journal. PermissionDenied / IOError with the
  // path; Locked when another process holds it.
  static Result<std::unique_ptr<FlagJournal>> open(const std::string& path);
  ~FlagJournal();
  FlagJournal(const FlagJournal&) = delete;
  FlagJournal& operator=(const FlagJournal&) = delete;

  // Every intact record from the start, in order. A record that fails its length or checksum
  // check ends the list (a write torn by a crash); `discarded` gets the bytes left unread.
  Result<std::vector<JournalRecord>> read_all(uint64_t* discarded = nullptr) const;
  // Appends one record with one write(2) (not synced). InvalidArgument if it is larger
  // than kMaxJournalRecord; IoError if the write fails (the record is then cut off so
  // the file stays a sequence of whole records).
  Status append(uint64_t seq, const store::StoreFlagsRequest& request);
  // The last sequence number appended (or set by start_at).
  uint64_t last_seq() const;
  void start_at(uint64_t seq);
  // Empties the file if every record appended so far has sequence number <= applied_seq
  // (which the caller has made durable in the store). Returns whether it did.
  bool reset_if_applied(uint64_t applied_seq);
  uint64_t size() const;
  const std::string& path() const { return path_; }

 private:
  FlagJournal(std::string path, int fd) : path_(std::move(path)), fd_(fd) {}
  std::string path_;
  int fd_ = -1;
  mutable std::mutex mu_;
  uint64_t last_seq_ = 0;
  uint64_t size_ = 0;
};

// Encoding of one record (exposed for the tests), in common/bytes.h's ByteWriter terms:
// u32 payload length, u32 check = the first 4 bytes of the payload's SHA-256 (crypto::sha256), payload = u64 seq, u64 mailbox, u8 mode,
// u32 flags, varint #uids, u32 per uid, varint #keywords, str per keyword, u8 0/1 and, if 1,
// u64 unchanged_since.
std::string encode_journal_record(uint64_t seq, const store::StoreFlagsRequest& request);
uint32_t journal_check(std::string_view payload);

// Applies the records the store has not recorded as applied (seq > flag_journal_seq), fully
// synced, then empties the journal. Returns the highest sequence number seen (the next
// record is that + 1). Called once at start, before any session exists.
Result<uint64_t> replay_flag_journal(store::Store& store, FlagJournal& journal);

// The flags each message will have once the STOREs acknowledged early and not yet
// committed are applied, so that the next prediction (this session's or another's) starts
// from them; and the counters the read barrier uses (session.h: commands other than STORE
// wait until every early STORE accepted before them has committed).
class FlagOverlay {
 public:
  struct State {
    uint32_t flags = 0;
    std::vector<std::string> keywords;
  };
  struct Change {
    uint32_t uid = 0;
    State state;
  };
  const State* find(uint64_t mailbox_id, uint32_t uid) const;
  // Records the predicted result of the next accepted request; returns its number (1, 2 ...),
  // which accepted_seq() then is.
  uint64_t accept(uint64_t mailbox_id, const std::vector<Change>& changes);
  // The writer's outcome for the oldest accepted request came back (outcomes return in
  // submission order).
  void completed();
  uint64_t accepted_seq() const { return accepted_; }
  uint64_t completed_seq() const { return completed_; }
  bool settled() const { return completed_ == accepted_; }
  // Ordinary writes in flight (submitted to the writer, outcome not back): while any is,
  // no STORE is acknowledged early (its prediction could miss that write's effect).
  void ordinary_submitted() { ++ordinary_; }
  void ordinary_done() {
    if (ordinary_) --ordinary_;
  }
  bool available() const { return ordinary_ == 0; }
  size_t entries() const { return map_.size(); }

 private:
  struct Key {
    uint64_t mailbox;
    uint32_t uid;
    bool operator==(const Key&) const = default;
  };
  struct KeyHash {
    size_t operator()(const Key& k) const {
      return std::hash<uint64_t>()(k.mailbox * 0x9E3779B97F4A7C15ull ^ k.uid);
    }
  };
  struct Entry {
    State state;
    uint64_t seq = 0;  // the number of the last accepted request that set it
  };
  std::unordered_map<Key, Entry, KeyHash> map_;
  std::deque<std::pair<uint64_t, std::vector<Key>>> order_;  // accepted, not completed
  uint64_t accepted_ = 0, completed_ = 0;
  uint64_t ordinary_ = 0;
};

}  // namespace tsubame::imap
