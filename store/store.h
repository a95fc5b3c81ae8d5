// store/store.h: the mailbox store. Public API; free of LMDB types (see store/README.md).
//
// One Store per process per data directory. Every method is thread-safe. Each mutating call
// is one durable write transaction: when it returns ok, the change is on disk (fsync'd). A
// failed call changes nothing. (write_batch with BatchSync::kFlagsDeferred is the one
// documented exception: flag-only batches whose meta page sync is deferred.) Reads are snapshots that end when the call returns.
//
// Invariants (RFC 9051 §2.3.1.1, RFC 7162 §3.1):
// - UIDs in a mailbox strictly increase and are never reused, across restarts, expunges and
//   deletes. UIDVALIDITY of a new mailbox is unique for the store's lifetime, so a mailbox
//   deleted and created again under the same name gets a new one.
// - Every change to a message (append, flags, expunge) takes the mailbox's next MODSEQ;
//   HIGHESTMODSEQ never decreases. Expunged UIDs are remembered with their MODSEQ (VANISHED).
// - A message delivered to N local users is stored once (one blob, refcount N) and freed with
//   its last reference. Its MessageSummary is stored beside the blob.
// - Message content, summaries and personal metadata are sealed with the domain's data key
//   (store/keyring.h); lookups by address or folder name go through HMAC indexes.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <variant>
#include <vector>

#include "common/message_summary.h"
#include "common/result.h"

namespace tsubame::store {

// Limits (each refused with InvalidArgument, or Full where it is a capacity; each tested).
inline constexpr size_t kMaxDomainNameBytes = 253;     // RFC 1035 §2.3.4
inline constexpr size_t kMaxLocalPartBytes = 64;       // RFC 5321 §4.5.3.1.1
inline constexpr size_t kMaxAddressBytes = 254;        // RFC 5321 §4.5.3.1.3 (path minus <>)
inline constexpr size_t kMaxPasswordHashBytes = 512;
inline constexpr size_t kMaxMailboxNameBytes = 1024;
inline constexpr size_t kMaxMailboxDepth = 32;         // hierarchy levels
inline constexpr size_t kMaxMailboxesPerUser = 1000;   // Full beyond
inline constexpr size_t kMaxKeywordBytes = 128;
inline constexpr size_t kMaxKeywordsPerMessage = 64;
inline constexpr uint64_t kMaxMessageBytes = 64ull << 20;
inline constexpr size_t kMaxBatchMessages = 1024;      // messages per deliver() call
inline constexpr size_t kMaxTargetsPerMessage = 1000;

class Env;
class Keyring;
class Txn;          // store/env.h
struct AuditEntry;  // store/audit.h

struct Options {
  std::string data_dir;               // LMDB environment directory
  std::string key_file;               // master key file, outside data_dir
  bool create = false;                // create data_dir and key file if missing (tsubame init)
  bool read_only = false;
  uint64_t map_size = 256ull << 20;   // initial LMDB map size; grows by doubling
  uint64_t max_map_size = 64ull << 30;
};

// System flags (RFC 9051 §2.3.2). \Recent does not exist in IMAP4rev2 and is not stored.
enum Flag : uint32_t {
  kSeen = 1u << 0,
  kAnswered = 1u << 1,
  kFlagged = 1u << 2,
  kDeleted = 1u << 3,
  kDraft = 1u << 4,
};

// RFC 6154 SPECIAL-USE attributes.
enum class SpecialUse : uint8_t { kNone = 0, kSent, kDrafts, kTrash, kJunk, kArchive, kAll, kFlagged };
const char* special_use_name(SpecialUse s);  // "\\Sent", ... ; "" for kNone

// What a message was last trained/reported as (so a repeated report changes nothing).
enum class Reported : uint8_t { kNone = 0, kSpam, kHam };

struct Domain {
  uint32_t id = 0;
  std::string name;  // lower-case
  int64_t created = 0;
};

struct User {
  uint64_t id = 0;
  uint32_t domain_id = 0;
  std::string address;        // local@domain, domain lower-case
  std::string password_hash;  // Argon2id PHC string (common/crypto.h)
  bool disabled = false;
  uint64_t quota_bytes = 0;   // 0 = unlimited
  uint64_t used_bytes = 0;
  int64_t created = 0;
  int64_t deleted_at = 0;     // 0 = not deleted; else disabled and due for purge
};

struct Mailbox {
  uint64_t id = 0;            // unique in the store, never reused
  uint64_t user_id = 0;
  std::string name;           // UTF-8, hierarchy separator '/'
  SpecialUse special = SpecialUse::kNone;
  bool subscribed = false;
  uint32_t uidvalidity = 0;
  uint32_t uidnext = 1;
  uint64_t highest_modseq = 1;
  uint32_t messages = 0;
  uint32_t unseen = 0;
  uint32_t deleted = 0;       // messages with \Deleted
  uint64_t size = 0;          // octets of all messages
};

struct Message {
  uint64_t mailbox_id = 0;
  uint32_t uid = 0;
  uint64_t modseq = 0;
  uint32_t flags = 0;                  // Flag bits
  std::vector<std::string> keywords;   // sorted, unique (e.g. "$Junk", "$Forwarded")
  int64_t internal_date = 0;           // unix seconds
  uint64_t size = 0;                   // RFC822.SIZE
  uint64_t blob_id = 0;
  Reported reported = Reported::kNone;
};

// One local recipient of a delivery.
struct DeliveryTarget {
  uint64_t user_id = 0;
  std::string mailbox = "INBOX";       // created if missing (Junk gets \Junk)
  uint32_t flags = 0;
  std::vector<std::string> keywords;
};

struct IncomingMessage {
  std::string raw;                     // the message as it will be served (CRLF line ends)
  MessageSummary summary;              // from the filter's single MIME parse
  int64_t internal_date = 0;           // 0 = now
  std::vector<DeliveryTarget> targets;
};

struct DeliveredCopy {
  uint64_t user_id = 0;
  uint64_t mailbox_id = 0;
  uint32_t uid = 0;
  uint64_t modseq = 0;
};

struct DeliveryResult {
  uint64_t blob_id = 0;
  std::vector<DeliveredCopy> copies;   // one per target, in target order
};

enum class FlagMode : uint8_t { kReplace, kAdd, kRemove };

struct FlagChange {
  uint32_t uid = 0;
  uint64_t modseq = 0;                 // new MODSEQ (unchanged if nothing changed)
  uint32_t flags = 0;
  std::vector<std::string> keywords;
};

struct StoreFlagsResult {
  std::vector<FlagChange> changed;     // messages whose flags changed
  std::vector<uint32_t> failed;        // UNCHANGEDSINCE failures (RFC 7162 §3.1.3 MODIFIED)
};

struct UidMapping {                    // COPYUID / MOVE (RFC 4315)
  uint32_t dest_uidvalidity = 0;
  std::vector<uint32_t> source_uids;
  std::vector<uint32_t> dest_uids;
};

struct Expunged {
  uint32_t uid = 0;
  uint64_t modseq = 0;
};

// ---- group commit (Store::write_batch) ----
// Each request is what the single-operation call of the same name takes; its outcome is
// exactly what that call would have returned had the requests run one after the other in
// batch order.
struct AppendRequest {
  uint64_t user_id = 0;
  uint64_t mailbox_id = 0;
  std::string raw;
  MessageSummary summary;
  uint32_t flags = 0;
  std::vector<std::string> keywords;
  int64_t internal_date = 0;           // 0 = now
};
struct StoreFlagsRequest {
  uint64_t mailbox_id = 0;
  std::vector<uint32_t> uids;
  FlagMode mode = FlagMode::kAdd;
  uint32_t flags = 0;
  std::vector<std::string> keywords;
  std::optional<uint64_t> unchanged_since;
};
struct CopyRequest {                   // copy_messages, or move_messages with move = true
  uint64_t user_id = 0;
  uint64_t from_mailbox = 0;
  std::vector<uint32_t> uids;
  uint64_t to_mailbox = 0;
  bool move = false;
};
struct ExpungeRequest {
  uint64_t mailbox_id = 0;
  std::optional<std::vector<uint32_t>> uids;
};
using WriteRequest = std::variant<AppendRequest, StoreFlagsRequest, CopyRequest, ExpungeRequest>;

struct WriteOutcome {
  Status status;                       // this request's result (the others are not affected)
  DeliveredCopy appended;              // AppendRequest
  StoreFlagsResult flags;              // StoreFlagsRequest
  UidMapping mapping;                  // CopyRequest
  std::vector<Expunged> expunged;      // ExpungeRequest
  bool durable = false;                // false only for a kFlagsDeferred flag-only batch
  // The batch's transaction failed as a whole (I/O error, map full beyond max_map_size):
  // nothing of it is stored. False when it committed, and when a lone request's own error
  // (quota, vanished mailbox ...) was the reason nothing was written.
  bool batch_failed = false;
};

enum class BatchSync : uint8_t {
  kFull,           // every batch is durable (data and meta page synced) when write_batch returns
  // A batch made only of StoreFlagsRequests is committed with its data pages synced and its
  // meta page written but not synced (store/env.h Env::Sync::kDataOnly): integrity is kept,
  // a system crash may undo this last flag batch until the next commit or sync(). Batches
  // holding anything else (messages) are always kFull.
  kFlagsDeferred,
};

struct CheckReport {
  uint64_t domains = 0, users = 0, mailboxes = 0, messages = 0, blobs = 0;
  std::vector<std::string> problems;   // empty = consistent
};

class Store {
 public:
  // Opens (with options.create: initialises) the store. Refuses, modifying nothing: NotFound
  // (no store and not create; master key file missing, never regenerated for existing data),
  // PermissionDenied ("wrong master key", or a key file readable by others), Corruption
  // (random, truncated or foreign data.mdb, unknown schema version), InvalidArgument (key file
  // inside the data directory).
  static Result<std::unique_ptr<Store>> open(const Options& options);
  ~Store();
  Store(const Store&) = delete;
  Store& operator=(const Store&) = delete;

  // ---- domains ----
  // Administrative changes take an optional audit record (store/audit.h), appended in the
  // same transaction: the change and its evidence commit together or not at all.
  Result<Domain> add_domain(std::string_view name, const AuditEntry* audit = nullptr);
  Result<Domain> find_domain(std::string_view name) const;
  Result<Domain> get_domain(uint32_t id) const;
  Result<std::vector<Domain>> list_domains() const;
  Status remove_domain(std::string_view name,  // refused (Exists) while it has users
                       const AuditEntry* audit = nullptr);

  // ---- users ----
  // Creates the user and their INBOX, Sent, Drafts, Trash and Junk (with SPECIAL-USE).
  Result<User> add_user(std::string_view address, std::string_view password_hash,
                        uint64_t quota_bytes = 0, const AuditEntry* audit = nullptr);
  // Addresses are matched case-insensitively (local part too); the stored form keeps the local
  // part as given and lower-cases the domain.
  Result<User> find_user(std::string_view address) const;
  Result<User> get_user(uint64_t id) const;
  Result<std::vector<User>> list_users(std::optional<uint32_t> domain_id = std::nullopt) const;
  Status set_password_hash(uint64_t user_id, std::string_view hash, const AuditEntry* audit = nullptr);
  Status set_disabled(uint64_t user_id, bool disabled, const AuditEntry* audit = nullptr);
  Status set_quota(uint64_t user_id, uint64_t quota_bytes, const AuditEntry* audit = nullptr);

  // ---- mailboxes ----
  Result<Mailbox> create_mailbox(uint64_t user_id, std::string_view name,
                                 SpecialUse special = SpecialUse::kNone);
  Result<Mailbox> find_mailbox(uint64_t user_id, std::string_view name) const;  // INBOX any case
  Result<Mailbox> get_mailbox(uint64_t user_id, uint64_t mailbox_id) const;
  // Whether the mailbox record exists (one lookup, nothing decrypted): imapd asks it before
  // each command of the selected state.
  Result<bool> mailbox_exists(uint64_t mailbox_id) const;
  Result<std::vector<Mailbox>> list_mailboxes(uint64_t user_id) const;
  // RFC 9051 §6.3.6: renaming INBOX moves its messages to the new mailbox and leaves INBOX
  // empty; renaming a parent renames its children.
  Status rename_mailbox(uint64_t user_id, std::string_view from, std::string_view to);
  // Removes the mailbox and its messages (blob references dropped); inferior mailboxes stay.
  // INBOX refused (PermissionDenied).
  Status delete_mailbox(uint64_t user_id, std::string_view name);
  // SUBSCRIBE / UNSUBSCRIBE (RFC 9051 §6.3.7, §6.3.8). A name without a mailbox may be
  // subscribed (kept in Db::kSubscriptions, at most kMaxMailboxesPerUser); deleting a
  // subscribed mailbox keeps its name subscribed; creating a mailbox (or renaming one to a
  // name) that is subscribed makes it a subscribed mailbox. UNSUBSCRIBE of a name neither a
  // mailbox nor subscribed is NotFound.
  Status set_subscribed(uint64_t user_id, std::string_view name, bool subscribed);
  // The subscribed names that have no mailbox, sorted (LIST (SUBSCRIBED) shows them
  // \NonExistent, LSUB \Noselect).
  Result<std::vector<std::string>> orphan_subscriptions(uint64_t user_id) const;

  // ---- messages ----
  // Group commit: every message of the batch, to every target, in ONE durable write
  // transaction. On error nothing of the batch is stored (a caller may then retry the messages
  // one by one to isolate the failing one). Errors: NotFound (unknown or deleted user), Full
  // (a target's quota, or the store's max_map_size), InvalidArgument (limits above).
  // Disabled users still receive mail. Each target's mailbox is created if missing.
  Result<std::vector<DeliveryResult>> deliver(const std::vector<IncomingMessage>& batch);
  // The same, with `also` run inside the delivery's write transaction after the copies are
  // stored (smtpd enqueues a message's remote copies there): everything commits together or
  // nothing does. An error from `also` fails the whole call.
  Result<std::vector<DeliveryResult>> deliver(const std::vector<IncomingMessage>& batch,
                                              const std::function<Status(Txn&)>& also);
  // IMAP APPEND to one mailbox (APPENDUID).
  Result<DeliveredCopy> append(uint64_t user_id, uint64_t mailbox_id, std::string_view raw,
                               const MessageSummary& summary, uint32_t flags,
                               const std::vector<std::string>& keywords, int64_t internal_date);
  // The calls below that take only a mailbox_id do not check ownership: the caller (imapd)
  // has selected the mailbox through get_mailbox/find_mailbox for its user.
  Result<std::vector<Message>> list_messages(uint64_t mailbox_id, uint32_t uid_from = 1,
                                             uint32_t uid_to = UINT32_MAX) const;
  Result<Message> get_message(uint64_t mailbox_id, uint32_t uid) const;
  // The raw message (decrypted). user_id must own a message referencing the blob.
  Result<std::string> read_message(uint64_t user_id, uint64_t mailbox_id, uint32_t uid) const;
  Result<MessageSummary> read_summary(uint64_t user_id, uint64_t mailbox_id, uint32_t uid) const;
  Result<StoreFlagsResult> store_flags(uint64_t mailbox_id, const std::vector<uint32_t>& uids,
                                       FlagMode mode, uint32_t flags,
                                       const std::vector<std::string>& keywords,
                                       std::optional<uint64_t> unchanged_since = std::nullopt);
  Result<UidMapping> copy_messages(uint64_t user_id, uint64_t from_mailbox,
                                   const std::vector<uint32_t>& uids, uint64_t to_mailbox);
  // MOVE (RFC 6851): copy + expunge in one transaction.
  Result<UidMapping> move_messages(uint64_t user_id, uint64_t from_mailbox,
                                   const std::vector<uint32_t>& uids, uint64_t to_mailbox);
  // Expunges \Deleted messages (all, or only those in `uids` for UID EXPUNGE).
  Result<std::vector<Expunged>> expunge(uint64_t mailbox_id,
                                        std::optional<std::vector<uint32_t>> uids = std::nullopt);
  // CONDSTORE/QRESYNC: messages changed, and UIDs expunged, after `modseq`.
  Result<std::vector<Message>> changed_since(uint64_t mailbox_id, uint64_t modseq) const;
  Result<std::vector<Expunged>> vanished_since(uint64_t mailbox_id, uint64_t modseq) const;
  Status set_reported(uint64_t mailbox_id, uint32_t uid, Reported reported);

  // Group commit (imapd's writer): every request in ONE write transaction and one durable
  // commit. Each request runs in its own nested transaction: one that fails (quota,
  // vanished mailbox, bad keyword ...) is rolled back alone and gets its error in its
  // outcome; the others commit. Returns one outcome per request, in order. If the batch
  // transaction itself cannot commit (I/O error, map full beyond max_map_size), nothing is
  // stored and every outcome carries that error. At most kMaxBatchMessages requests.
  // journal_seq > 0: the batch holds imapd's flag-journal records up to that sequence number
  // (imapd/flag_journal.h); it is recorded in the same transaction (never lowered), so a
  // replay after a crash skips exactly what committed.
  std::vector<WriteOutcome> write_batch(const std::vector<WriteRequest>& batch,
                                        BatchSync sync = BatchSync::kFull,
                                        uint64_t journal_seq = 0);
  // The last flag-journal sequence number a committed batch recorded (0: none).
  Result<uint64_t> flag_journal_seq() const;
  // Makes every committed transaction durable (after kFlagsDeferred batches).
  Status sync();

  // ---- maintenance ----
  // Walks every mail database in one read snapshot: record formats, index entries, sealed
  // values (every blob and summary is decrypted), refcounts vs. references, mailbox counters,
  // used bytes, UIDNEXT above every UID, MODSEQ index. Also used to verify a backup before
  // restore. Errors only if the walk itself fails; damage is listed in problems.
  Result<CheckReport> check() const;

  // For the other store features (audit, accounts, trace, queue, reports, tokens, backup),
  // which live in their own files and share this environment.
  Env& env() const;
  const Keyring& keys() const;
  const Options& options() const;

 private:
  Store();
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace tsubame::store
