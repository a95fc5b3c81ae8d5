// store/store.cc: the mailbox store (store/store.h) on LMDB (store/env.h).
//
// Each public mutating call is ONE Env::write: it either commits durably or changes nothing.
// Inside a call, an Ops object reads rows on demand, caches user and mailbox rows, and
// writes the changed ones back (flush) just before the transaction commits, so counters
// (mailbox messages/unseen/deleted/size, user used_bytes) change in the same transaction as
// the messages they count. Env::write may run the function again after growing the map, so
// nothing here has effects outside the transaction (results are rebuilt on each attempt).
//
// Failure modes: bad input -> InvalidArgument; missing user/mailbox/message -> NotFound;
// quota or a capacity limit -> Full; a record that does not decode or a sealed value that does
// not open -> Corruption; a wrong master key -> PermissionDenied (at open).
#include "store/store.h"

#include <sys/stat.h>

#include <algorithm>
#include <filesystem>
#include <map>
#include <set>

#include "common/bytes.h"
#include "common/crypto.h"
#include "store/audit.h"
#include "store/env.h"
#include "store/keyring.h"
#include "store/mail_records.h"
#include "store/replies.h"

// Evaluates a Result expression; returns its status on error, else binds the value.
#define TSUBAME_ASSIGN(var, expr)                      \
  auto var##_result_ = (expr);                         \
  if (!var##_result_.is_ok()) return var##_result_.status(); \
  auto& var = var##_result_.value()

namespace tsubame::store {

const char* special_use_name(SpecialUse s) {
  switch (s) {
    case SpecialUse::kNone: return "";
    case SpecialUse::kSent: return "\\Sent";
    case SpecialUse::kDrafts: return "\\Drafts";
    case SpecialUse::kTrash: return "\\Trash";
    case SpecialUse::kJunk: return "\\Junk";
    case SpecialUse::kArchive: return "\\Archive";
    case SpecialUse::kAll: return "\\All";
    case SpecialUse::kFlagged: return "\\Flagged";
  }
  return "";
}

namespace {

using rec::BlobHeader;
using rec::MailboxRow;
using rec::UserRow;

constexpr uint32_t kAllFlags = kSeen | kAnswered | kFlagged | kDeleted | kDraft;

struct DefaultMailbox {
  const char* name;
  SpecialUse special;
};
// Created with every user (RFC 6154 SPECIAL-USE).
constexpr DefaultMailbox kDefaultMailboxes[] = {
    {"INBOX", SpecialUse::kNone},  {"Sent", SpecialUse::kSent}, {"Drafts", SpecialUse::kDrafts},
    {"Trash", SpecialUse::kTrash}, {"Junk", SpecialUse::kJunk},
};

SpecialUse special_for_name(std::string_view name) {
  if (name == "Sent") return SpecialUse::kSent;
  if (name == "Drafts") return SpecialUse::kDrafts;
  if (name == "Trash") return SpecialUse::kTrash;
  if (name == "Junk") return SpecialUse::kJunk;
  if (name == "Archive") return SpecialUse::kArchive;
  return SpecialUse::kNone;
}

std::string aad(Db db, std::string_view key) { return location_aad(db_name(db), key); }

bool valid_utf8(std::string_view s) {
  for (size_t i = 0; i < s.size();) {
    uint8_t c = uint8_t(s[i]);
    size_t n;
    if (c < 0x80) n = 0;
    else if (c >= 0xc2 && c <= 0xdf) n = 1;
    else if ((c & 0xf0) == 0xe0) n = 2;
    else if (c >= 0xf0 && c <= 0xf4) n = 3;
    else return false;
    if (i + n >= s.size()) return false;
    for (size_t k = 1; k <= n; k++)
      if ((uint8_t(s[i + k]) & 0xc0) != 0x80) return false;
    i += n + 1;
  }
  return true;
}

Status validate_domain_name(std::string_view n) {
  if (n.empty() || n.size() > kMaxDomainNameBytes) return Status::invalid("domain name length");
  for (auto label : split(n, '.')) {
    if (label.empty() || label.size() > 63 || label.front() == '-' || label.back() == '-')
      return Status::invalid("bad domain name " + std::string(n));
    for (char c : label)
      if (!((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-'))
        return Status::invalid("bad domain name " + std::string(n) + " (use the A-label form)");
  }
  return Status::ok();
}

// "Local@Example.COM" -> "Local@example.com" (stored form); the index uses all lower case.
Result<std::string> normalize_address(std::string_view address) {
  address = trim(address);
  if (address.size() > kMaxAddressBytes) return Status::invalid("address too long");
  size_t at = address.rfind('@');
  if (at == std::string_view::npos || at == 0 || at + 1 == address.size())
    return Status::invalid("address must be local@domain");
  std::string_view local = address.substr(0, at);
  if (local.size() > kMaxLocalPartBytes) return Status::invalid("local part too long");
  for (char c : local)
    if (uint8_t(c) <= 0x20 || c == 0x7f || c == '@' || c == '"' || c == '\\' || c == '<' || c == '>')
      return Status::invalid("bad character in local part");
  if (!valid_utf8(local)) return Status::invalid("local part is not UTF-8");
  std::string domain = to_lower(address.substr(at + 1));
  TSUBAME_TRY(validate_domain_name(domain));
  return std::string(local) + "@" + domain;
}

// RFC 9051 §5.1: mailbox names are UTF-8, '/' is our hierarchy separator; INBOX (the first
// level) is case-insensitive.
Result<std::string> normalize_mailbox(std::string_view name) {
  if (name.empty()) return Status::invalid("empty mailbox name");
  if (name.size() > kMaxMailboxNameBytes) return Status::invalid("mailbox name too long");
  if (name.front() == '/' || name.back() == '/' || name.find("//") != std::string_view::npos)
    return Status::invalid("empty hierarchy level in mailbox name");
  for (char c : name)
    if (uint8_t(c) < 0x20 || c == 0x7f || c == '*' || c == '%')
      return Status::invalid("mailbox name has a control or wildcard character");
  if (!valid_utf8(name)) return Status::invalid("mailbox name is not UTF-8");
  if (size_t(std::count(name.begin(), name.end(), '/')) + 1 > kMaxMailboxDepth)
    return Status::invalid("mailbox hierarchy too deep");
  std::string out(name);
  size_t first = out.find('/');
  if (iequals(std::string_view(out).substr(0, first), "INBOX")) out.replace(0, 5, "INBOX");
  return out;
}

// RFC 9051 §9 flag-keyword = atom: no atom-specials; sorted, case-insensitively unique.
Result<std::vector<std::string>> normalize_keywords(std::vector<std::string> kw) {
  for (const auto& k : kw) {
    if (k.empty() || k.size() > kMaxKeywordBytes) return Status::invalid("keyword length");
    for (char c : k)
      if (uint8_t(c) <= 0x20 || uint8_t(c) >= 0x7f || std::string_view("(){%*\"\\]").find(c) !=
                                                           std::string_view::npos)
        return Status::invalid("bad character in keyword " + k);
  }
  std::stable_sort(kw.begin(), kw.end(),
                   [](const std::string& a, const std::string& b) { return to_lower(a) < to_lower(b); });
  kw.erase(std::unique(kw.begin(), kw.end(),
                       [](const std::string& a, const std::string& b) { return iequals(a, b); }),
           kw.end());
  if (kw.size() > kMaxKeywordsPerMessage) return Status::invalid("too many keywords");
  return kw;
}

// Per-call working set over one transaction (see the file comment).
class Ops {
 public:
  Ops(const Keyring& keys, const Txn& t, Txn* w) : keys_(keys), t_(t), w_(w) {}

  const Txn& t() const { return t_; }
  Txn& w() { return *w_; }
  const Keyring& keys() const { return keys_; }

  Result<std::string> domain_key(uint32_t domain_id) {
    if (domain_id == 0) return keys_.system_key();
    auto it = dkeys_.find(domain_id);
    if (it != dkeys_.end()) return it->second;
    std::string_view v;
    Status s = t_.get(Db::kDomains, be32(domain_id), &v);
    if (s.code() == Code::kNotFound) return Status::corruption("missing domain " + std::to_string(domain_id));
    TSUBAME_TRY(s);
    TSUBAME_ASSIGN(row, rec::decode_domain(v));
    TSUBAME_ASSIGN(key, keys_.domain_key(domain_id, row.wrapped_key));
    dkeys_[domain_id] = key;
    return key;
  }

  Result<std::string> seal(uint32_t domain_id, std::string_view plain, Db db, std::string_view key) {
    TSUBAME_ASSIGN(k, domain_key(domain_id));
    return crypto::seal(k, plain, aad(db, key));
  }
  Result<std::string> open(uint32_t domain_id, std::string_view sealed, Db db, std::string_view key) {
    TSUBAME_ASSIGN(k, domain_key(domain_id));
    auto p = crypto::open(k, sealed, aad(db, key));
    if (!p.is_ok())
      return Status::corruption(std::string("sealed value in ") + db_name(db) + " does not open");
    return std::move(p.value());
  }

  // ---- users ----
  Result<UserRow*> user(uint64_t id) {
    auto it = users_.find(id);
    if (it != users_.end()) return &it->second;
    std::string_view v;
    Status s = t_.get(Db::kUsers, be64(id), &v);
    if (s.code() == Code::kNotFound) return Status::not_found("no user " + std::to_string(id));
    TSUBAME_TRY(s);
    TSUBAME_ASSIGN(row, rec::decode_user(v));
    return &users_.emplace(id, std::move(row)).first->second;
  }
  void touch_user(uint64_t id) { dirty_users_.insert(id); }

  Result<User> to_user(uint64_t id, const UserRow& r) {
    TSUBAME_ASSIGN(plain, open(r.domain_id, r.sealed, Db::kUsers, be64(id)));
    TSUBAME_ASSIGN(p, rec::decode_personal(plain));
    User u;
    u.id = id;
    u.domain_id = r.domain_id;
    u.address = std::move(p.address);
    u.password_hash = std::move(p.password_hash);
    u.disabled = r.disabled;
    u.quota_bytes = r.quota_bytes;
    u.used_bytes = r.used_bytes;
    u.created = r.created;
    u.deleted_at = r.deleted_at;
    return u;
  }

  Status charge(uint64_t user_id, uint64_t bytes, bool enforce_quota) {
    TSUBAME_ASSIGN(u, user(user_id));
    if (enforce_quota && u->quota_bytes && u->used_bytes + bytes > u->quota_bytes)
      return Status::full("quota exceeded for user " + std::to_string(user_id) + " (" +
                          std::to_string(u->used_bytes) + " of " + std::to_string(u->quota_bytes) +
                          " bytes used)");
    u->used_bytes += bytes;
    touch_user(user_id);
    return Status::ok();
  }
  Status refund(uint64_t user_id, uint64_t bytes) {
    TSUBAME_ASSIGN(u, user(user_id));
    u->used_bytes = u->used_bytes >= bytes ? u->used_bytes - bytes : 0;
    touch_user(user_id);
    return Status::ok();
  }

  // ---- mailboxes ----
  Result<MailboxRow*> mailbox(uint64_t id) {
    auto it = mboxes_.find(id);
    if (it != mboxes_.end()) return &it->second;
    std::string_view v;
    Status s = t_.get(Db::kMailboxes, be64(id), &v);
    if (s.code() == Code::kNotFound) return Status::not_found("no mailbox " + std::to_string(id));
    TSUBAME_TRY(s);
    TSUBAME_ASSIGN(row, rec::decode_mailbox(v));
    return &mboxes_.emplace(id, std::move(row)).first->second;
  }
  // The mailbox, which must belong to user_id (NotFound otherwise: no existence oracle).
  Result<MailboxRow*> owned_mailbox(uint64_t user_id, uint64_t id) {
    auto m = mailbox(id);
    if (!m.is_ok()) return m.status();
    if ((*m)->user_id != user_id) return Status::not_found("no mailbox " + std::to_string(id));
    return *m;
  }
  void touch_mailbox(uint64_t id) { dirty_mboxes_.insert(id); }

  Result<uint32_t> user_domain(uint64_t user_id) {
    TSUBAME_ASSIGN(u, user(user_id));
    return u->domain_id;
  }

  Result<std::string> mailbox_name(uint64_t id, const MailboxRow& r) {
    TSUBAME_ASSIGN(dom, user_domain(r.user_id));
    return open(dom, r.sealed_name, Db::kMailboxes, be64(id));
  }

  Result<Mailbox> to_mailbox(uint64_t id, const MailboxRow& r) {
    Mailbox m;
    TSUBAME_ASSIGN(name, mailbox_name(id, r));
    m.id = id;
    m.user_id = r.user_id;
    m.name = std::move(name);
    m.special = r.special;
    m.subscribed = r.subscribed;
    m.uidvalidity = r.uidvalidity;
    m.uidnext = r.uidnext;
    m.highest_modseq = r.highest_modseq;
    m.messages = r.messages;
    m.unseen = r.unseen;
    m.deleted = r.deleted;
    m.size = r.size;
    return m;
  }

  std::string index_key(uint64_t user_id, std::string_view norm) const {
    return be64(user_id) + keys_.index("mailbox", be64(user_id) + std::string(norm));
  }

  // ---- subscriptions of names without a mailbox (RFC 9051 §6.3.7) ----
  std::string subscription_key(uint64_t user_id, std::string_view norm) const {
    return be64(user_id) + keys_.index("subscription", be64(user_id) + std::string(norm));
  }
  Result<bool> has_orphan_subscription(uint64_t user_id, std::string_view norm) {
    std::string_view v;
    Status s = t_.get(Db::kSubscriptions, subscription_key(user_id, norm), &v);
    if (s.code() == Code::kNotFound) return false;
    TSUBAME_TRY(s);
    return true;
  }
  Status add_orphan_subscription(uint64_t user_id, std::string_view norm) {
    TSUBAME_ASSIGN(have, has_orphan_subscription(user_id, norm));
    if (have) return Status::ok();
    size_t n = 0;
    TSUBAME_TRY(t_.scan(Db::kSubscriptions, be64(user_id), "", [&](std::string_view k, std::string_view) {
      if (k.substr(0, 8) != be64(user_id)) return false;
      ++n;
      return true;
    }));
    if (n >= kMaxMailboxesPerUser)
      return Status::full("user has the maximum of " + std::to_string(kMaxMailboxesPerUser) +
                          " subscriptions without a mailbox");
    TSUBAME_ASSIGN(dom, user_domain(user_id));
    std::string key = subscription_key(user_id, norm);
    TSUBAME_ASSIGN(sealed, seal(dom, norm, Db::kSubscriptions, key));
    return w_->put(Db::kSubscriptions, key, sealed);
  }
  // True if there was one.
  Result<bool> del_orphan_subscription(uint64_t user_id, std::string_view norm) {
    Status s = w_->del(Db::kSubscriptions, subscription_key(user_id, norm));
    if (s.code() == Code::kNotFound) return false;
    TSUBAME_TRY(s);
    return true;
  }

  // The id of the mailbox with this normalized name, or nullopt.
  Result<std::optional<uint64_t>> find_mailbox(uint64_t user_id, std::string_view norm) {
    std::string_view v;
    Status s = t_.get(Db::kMailboxIndex, index_key(user_id, norm), &v);
    if (s.code() == Code::kNotFound) return std::optional<uint64_t>{};
    TSUBAME_TRY(s);
    if (v.size() != 8) return Status::corruption("malformed mailbox index entry");
    return std::optional<uint64_t>{get_be64(v.data())};
  }

  Result<std::vector<uint64_t>> mailbox_ids(uint64_t user_id) {
    std::vector<uint64_t> ids;
    Status bad;
    TSUBAME_TRY(t_.scan(Db::kMailboxIndex, be64(user_id), "", [&](std::string_view, std::string_view v) {
      if (v.size() != 8) {
        bad = Status::corruption("malformed mailbox index entry");
        return false;
      }
      ids.push_back(get_be64(v.data()));
      return true;
    }));
    TSUBAME_TRY(bad);
    return ids;
  }

  Result<uint32_t> next_uidvalidity() {
    // A monotonic counter seeded from the clock, so a mailbox created again under an old name
    // gets a new UIDVALIDITY (RFC 9051 §2.3.1.1), even after the store is restored from an
    // older backup (the clock has moved on).
    std::string_view v;
    uint32_t last = 0;
    Status s = t_.get(Db::kMeta, rec::kMetaUidvalidity, &v);
    if (s.is_ok()) {
      if (v.size() != 4) return Status::corruption("malformed uidvalidity counter");
      last = get_be32(v.data());
    } else if (s.code() != Code::kNotFound) {
      return s;
    }
    if (last == UINT32_MAX) return Status::full("UIDVALIDITY space exhausted");
    uint32_t next = std::max<uint32_t>(last + 1, uint32_t(std::max<int64_t>(unix_now(), 1)));
    TSUBAME_TRY(w_->put(Db::kMeta, rec::kMetaUidvalidity, be32(next)));
    return next;
  }

  // Creates one mailbox (its name normalized and not yet existing).
  Result<uint64_t> create_one(uint64_t user_id, const std::string& norm, SpecialUse special,
                              bool subscribed) {
    TSUBAME_ASSIGN(ids, mailbox_ids(user_id));
    if (ids.size() >= kMaxMailboxesPerUser)
      return Status::full("user has the maximum of " + std::to_string(kMaxMailboxesPerUser) +
                          " mailboxes");
    TSUBAME_ASSIGN(dom, user_domain(user_id));
    TSUBAME_ASSIGN(id, w_->next_id("mailbox"));
    MailboxRow r;
    r.user_id = user_id;
    r.special = special;
    // A name subscribed while it had no mailbox: the new mailbox takes the subscription.
    TSUBAME_ASSIGN(orphan, del_orphan_subscription(user_id, norm));
    r.subscribed = subscribed || orphan;
    TSUBAME_ASSIGN(uv, next_uidvalidity());
    r.uidvalidity = uv;
    TSUBAME_ASSIGN(sealed, seal(dom, norm, Db::kMailboxes, be64(id)));
    r.sealed_name = std::move(sealed);
    TSUBAME_TRY(w_->insert(Db::kMailboxIndex, index_key(user_id, norm), be64(id)));
    mboxes_[id] = std::move(r);
    touch_mailbox(id);
    return id;
  }

  // Creates the mailbox and any missing superior levels (RFC 9051 §6.3.4). Exists if the
  // mailbox itself exists.
  Result<uint64_t> create_with_parents(uint64_t user_id, const std::string& norm, SpecialUse special,
                                       bool subscribed) {
    TSUBAME_ASSIGN(existing, find_mailbox(user_id, norm));
    if (existing) return Status::exists("mailbox " + norm + " exists");
    for (size_t pos = norm.find('/'); pos != std::string::npos; pos = norm.find('/', pos + 1)) {
      std::string parent = norm.substr(0, pos);
      TSUBAME_ASSIGN(p, find_mailbox(user_id, parent));
      if (!p) TSUBAME_TRY(create_one(user_id, parent, SpecialUse::kNone, subscribed).status());
    }
    return create_one(user_id, norm, special, subscribed);
  }

  // ---- blobs ----
  Result<uint64_t> new_blob(std::string_view raw, const MessageSummary& summary, uint32_t domain_id,
                            uint32_t refs) {
    TSUBAME_ASSIGN(id, w_->next_id("blob"));
    BlobHeader h;
    h.refcount = refs;
    h.key_domain = domain_id;
    h.size = raw.size();
    std::string ck = rec::blob_content_key(id);
    TSUBAME_ASSIGN(content, seal(domain_id, raw, Db::kBlobs, ck));
    TSUBAME_ASSIGN(sum, seal(domain_id, encode_summary(summary), Db::kSummaries, be64(id)));
    TSUBAME_TRY(w_->insert(Db::kBlobs, be64(id), rec::encode(h)));
    TSUBAME_TRY(w_->insert(Db::kBlobs, ck, content));
    TSUBAME_TRY(w_->insert(Db::kSummaries, be64(id), sum));
    return id;
  }

  Result<BlobHeader> blob(uint64_t id) {
    std::string_view v;
    Status s = t_.get(Db::kBlobs, be64(id), &v);
    if (s.code() == Code::kNotFound) return Status::corruption("missing blob " + std::to_string(id));
    TSUBAME_TRY(s);
    return rec::decode_blob(v);
  }

  // Adds delta references; frees blob and summary with the last one.
  Status ref_blob(uint64_t id, int delta) {
    TSUBAME_ASSIGN(h, blob(id));
    int64_t n = int64_t(h.refcount) + delta;
    if (n < 0 || n > int64_t(UINT32_MAX)) return Status::corruption("blob refcount out of range");
    if (n == 0) {
      TSUBAME_TRY(w_->del(Db::kBlobs, be64(id)));
      TSUBAME_TRY(w_->del(Db::kBlobs, rec::blob_content_key(id)));
      Status s = w_->del(Db::kSummaries, be64(id));
      if (!s.is_ok() && s.code() != Code::kNotFound) return s;
      return Status::ok();
    }
    h.refcount = uint32_t(n);
    return w_->put(Db::kBlobs, be64(id), rec::encode(h));
  }

  // ---- messages ----
  Result<std::optional<Message>> message(uint64_t mbox, uint32_t uid) {
    std::string k = rec::key64_32(mbox, uid);
    std::string_view v;
    Status s = t_.get(Db::kMessages, k, &v);
    if (s.code() == Code::kNotFound) return std::optional<Message>{};
    TSUBAME_TRY(s);
    TSUBAME_ASSIGN(m, rec::decode_message(k, v));
    return std::optional<Message>{std::move(m)};
  }

  // Adds m (blob_id, size, flags, keywords, internal_date, reported set) to the mailbox:
  // assigns UID and MODSEQ, updates counters. Quota and blob references are the caller's.
  Status add_message(uint64_t mbox_id, MailboxRow& box, Message& m) {
    if (box.uidnext == UINT32_MAX)
      return Status::full("mailbox UID space exhausted; recreate the mailbox");  // RFC 9051 §2.3.1.1
    if (box.messages == UINT32_MAX) return Status::full("mailbox holds the maximum of messages");
    m.mailbox_id = mbox_id;
    m.uid = box.uidnext++;
    m.modseq = ++box.highest_modseq;  // RFC 7162 §3.1: every change gets a new MODSEQ
    box.messages++;
    if (!(m.flags & kSeen)) box.unseen++;
    if (m.flags & kDeleted) box.deleted++;
    box.size += m.size;
    touch_mailbox(mbox_id);
    TSUBAME_TRY(w_->insert(Db::kMessages, rec::key64_32(mbox_id, m.uid), rec::encode_message(m)));
    return w_->insert(Db::kModseq, rec::key64_64(mbox_id, m.modseq), be32(m.uid));
  }

  // Changes flags/keywords of a stored message: new MODSEQ, counters.
  Status update_flags(MailboxRow& box, Message& m, uint32_t flags, std::vector<std::string> keywords) {
    if ((m.flags & kSeen) && !(flags & kSeen)) box.unseen++;
    if (!(m.flags & kSeen) && (flags & kSeen)) box.unseen--;
    if ((m.flags & kDeleted) && !(flags & kDeleted)) box.deleted--;
    if (!(m.flags & kDeleted) && (flags & kDeleted)) box.deleted++;
    TSUBAME_TRY(w_->del(Db::kModseq, rec::key64_64(m.mailbox_id, m.modseq)));
    m.flags = flags;
    m.keywords = std::move(keywords);
    m.modseq = ++box.highest_modseq;
    touch_mailbox(m.mailbox_id);
    TSUBAME_TRY(w_->put(Db::kMessages, rec::key64_32(m.mailbox_id, m.uid), rec::encode_message(m)));
    return w_->insert(Db::kModseq, rec::key64_64(m.mailbox_id, m.modseq), be32(m.uid));
  }

  // Removes a message: counters, the owner's used bytes, the blob reference. With
  // remember=true the UID is recorded with a new MODSEQ for QRESYNC VANISHED (RFC 7162 §3.2.10).
  Result<Expunged> remove_message(MailboxRow& box, const Message& m, bool remember) {
    TSUBAME_TRY(w_->del(Db::kMessages, rec::key64_32(m.mailbox_id, m.uid)));
    TSUBAME_TRY(w_->del(Db::kModseq, rec::key64_64(m.mailbox_id, m.modseq)));
    box.messages--;
    if (!(m.flags & kSeen)) box.unseen--;
    if (m.flags & kDeleted) box.deleted--;
    box.size -= m.size;
    touch_mailbox(m.mailbox_id);
    TSUBAME_TRY(refund(box.user_id, m.size));
    TSUBAME_TRY(ref_blob(m.blob_id, -1));
    Expunged e{m.uid, 0};
    if (remember) {
      e.modseq = ++box.highest_modseq;
      TSUBAME_TRY(w_->put(Db::kExpunged, rec::key64_32(m.mailbox_id, m.uid), be64(e.modseq)));
    }
    return e;
  }

  // Writes back every changed user and mailbox row. Call last in a write.
  Status flush() {
    for (uint64_t id : dirty_users_) {
      auto it = users_.find(id);
      if (it == users_.end()) return Status::internal("changed user row not loaded");
      TSUBAME_TRY(w_->put(Db::kUsers, be64(id), rec::encode(it->second)));
    }
    for (uint64_t id : dirty_mboxes_) {
      auto it = mboxes_.find(id);
      if (it == mboxes_.end()) continue;  // deleted
      TSUBAME_TRY(w_->put(Db::kMailboxes, be64(id), rec::encode(it->second)));
    }
    dirty_users_.clear();
    dirty_mboxes_.clear();
    return Status::ok();
  }
  void forget_mailbox(uint64_t id) {
    mboxes_.erase(id);
    dirty_mboxes_.erase(id);
  }

 private:
  const Keyring& keys_;
  const Txn& t_;
  Txn* w_;
  std::map<uint32_t, std::string> dkeys_;
  std::map<uint64_t, UserRow> users_;
  std::map<uint64_t, MailboxRow> mboxes_;
  std::set<uint64_t> dirty_users_, dirty_mboxes_;
};

Result<std::vector<Message>> scan_messages(const Txn& t, uint64_t mbox, uint32_t from, uint32_t to) {
  std::vector<Message> out;
  if (from > to) return out;
  Status bad;
  TSUBAME_TRY(t.scan(Db::kMessages, be64(mbox), rec::key64_32(mbox, from),
                     [&](std::string_view k, std::string_view v) {
                       auto m = rec::decode_message(k, v);
                       if (!m.is_ok()) {
                         bad = m.status();
                         return false;
                       }
                       if (m->uid > to) return false;
                       out.push_back(std::move(m.value()));
                       return true;
                     }));
  TSUBAME_TRY(bad);
  return out;
}

Domain to_domain(uint32_t id, const rec::DomainRow& r) {
  Domain d;
  d.id = id;
  d.name = r.name;
  d.created = r.created;
  return d;
}

// Appends an administrative change's audit record in the change's own transaction.
Status append_audit(Store& store, Txn& txn, const AuditEntry* audit) {
  if (!audit) return Status::ok();
  auto r = AuditLog(store).append(txn, *audit);
  return r.is_ok() ? Status::ok() : r.status();
}

}  // namespace

struct Store::Impl {
  Options options;
  std::unique_ptr<Keyring> keys;
  std::unique_ptr<Env> env;

  template <typename F>
  Status write(F&& fn) {
    return env->write([&](Txn& t) -> Status {
      Ops ops(*keys, t, &t);
      TSUBAME_TRY(fn(ops));
      return ops.flush();
    });
  }
  template <typename F>
  Status read(F&& fn) const {
    return env->read([&](const Txn& t) -> Status {
      Ops ops(*keys, t, nullptr);
      return fn(ops);
    });
  }
};

Store::Store() : impl_(new Impl) {}
Store::~Store() = default;

Env& Store::env() const { return *impl_->env; }
const Keyring& Store::keys() const { return *impl_->keys; }
const Options& Store::options() const { return impl_->options; }

// ---------------------------------------------------------------------------------------------
// open

Result<std::unique_ptr<Store>> Store::open(const Options& options) {
  namespace fs = std::filesystem;
  if (options.data_dir.empty() || options.key_file.empty())
    return Status::invalid("store needs a data directory and a master key file");
  std::error_code ec1, ec2;
  fs::path data = fs::absolute(options.data_dir, ec1);
  if (!ec1) data = fs::weakly_canonical(data, ec1);
  fs::path key = fs::absolute(options.key_file, ec2);
  if (!ec2) key = fs::weakly_canonical(key, ec2);
  if (data.filename().empty()) data = data.parent_path();
  // The key must live outside the data directory, so a copy of the data files is useless
  // without it. (If a path cannot be resolved, opening it fails below with the real reason.)
  if (!ec1 && !ec2 && !data.empty()) {
    auto [dend, kit] = std::mismatch(data.begin(), data.end(), key.begin(), key.end());
    if (dend == data.end())
      return Status::invalid("master key " + options.key_file + " must not be inside the data directory");
  }

  std::string data_file = options.data_dir + "/data.mdb";
  struct stat st;
  bool data_exists = ::stat(data_file.c_str(), &st) == 0 && st.st_size > 0;
  if (!data_exists && (!options.create || options.read_only))
    return Status::not_found("no store in " + options.data_dir + " (run `tsubame init`)");
  bool key_exists = ::stat(options.key_file.c_str(), &st) == 0;
  if (!key_exists && data_exists)  // never generate a new key for existing data
    return Status::not_found("master key " + options.key_file +
                             " is missing; the data in " + options.data_dir +
                             " cannot be read without it (restore the key file)");

  auto keys = Keyring::load(options.key_file, options.create && !options.read_only);
  if (!keys.is_ok()) return keys.status();
  EnvOptions eo;
  eo.path = options.data_dir;
  eo.map_size = options.map_size;
  eo.max_map_size = std::max(options.max_map_size, options.map_size);
  eo.read_only = options.read_only;
  eo.create = options.create;
  auto env = Env::open(eo);
  if (!env.is_ok()) return env.status();

  std::unique_ptr<Store> s(new Store());
  s->impl_->options = options;
  s->impl_->keys = std::make_unique<Keyring>(std::move(keys.value()));
  s->impl_->env = std::move(env.value());
  Keyring& k = *s->impl_->keys;

  bool fresh = false;
  Status st_read = s->impl_->env->read([&](const Txn& t) -> Status {
    TSUBAME_ASSIGN(schema, t.get_copy(Db::kMeta, rec::kMetaSchema));
    TSUBAME_ASSIGN(check, t.get_copy(Db::kMeta, rec::kMetaKeyCheck));
    if (!schema && !check) {
      TSUBAME_ASSIGN(n, t.count(Db::kMeta));
      if (n != 0) return Status::corruption(data_file + " is not a Tsubame store (no schema version)");
      fresh = true;
      return Status::ok();
    }
    if (!schema || schema->size() != 4)
      return Status::corruption(data_file + " has no valid schema version");
    uint32_t version = get_be32(schema->data());
    if (version != rec::kSchemaVersion)
      return Status::corruption(data_file + " has schema version " + std::to_string(version) +
                                ", this build reads " + std::to_string(rec::kSchemaVersion));
    if (!check) return Status::corruption(data_file + " has no master key check value");
    Status v = k.verify_check(*check);
    if (!v.is_ok())
      return Status::denied("wrong master key: " + options.key_file + " does not belong to " +
                            options.data_dir);
    return Status::ok();
  });
  if (!st_read.is_ok()) return st_read;
  if (fresh) {
    if (!options.create || options.read_only)
      return Status::not_found("the store in " + options.data_dir + " was never initialised (run `tsubame init`)");
    Status w = s->impl_->env->write([&](Txn& t) -> Status {
      TSUBAME_TRY(t.insert(Db::kMeta, rec::kMetaSchema, be32(rec::kSchemaVersion)));
      return t.insert(Db::kMeta, rec::kMetaKeyCheck, k.make_check());
    });
    if (!w.is_ok()) return w;
  }
  return s;
}

// ---------------------------------------------------------------------------------------------
// domains

Result<Domain> Store::add_domain(std::string_view name, const AuditEntry* audit) {
  std::string n = to_lower(trim(name));
  TSUBAME_TRY(validate_domain_name(n));
  Domain d;
  Status s = impl_->write([&](Ops& ops) -> Status {
    Txn& t = ops.w();
    std::string_view v;
    Status g = t.get(Db::kDomainNames, n, &v);
    if (g.is_ok()) return Status::exists("domain " + n + " exists");
    if (g.code() != Code::kNotFound) return g;
    TSUBAME_ASSIGN(id, t.next_id("domain"));
    if (id > UINT32_MAX) return Status::full("domain ids exhausted");
    rec::DomainRow r;
    r.name = n;
    r.created = unix_now();
    r.wrapped_key = ops.keys().new_wrapped_domain_key(uint32_t(id));
    TSUBAME_TRY(t.insert(Db::kDomains, be32(uint32_t(id)), rec::encode(r)));
    TSUBAME_TRY(t.insert(Db::kDomainNames, n, be32(uint32_t(id))));
    d = to_domain(uint32_t(id), r);
    return append_audit(*this, t, audit);
  });
  if (!s.is_ok()) return s;
  return d;
}

Result<Domain> Store::find_domain(std::string_view name) const {
  std::string n = to_lower(trim(name));
  Domain d;
  Status s = impl_->env->read([&](const Txn& t) -> Status {
    std::string_view v;
    Status g = t.get(Db::kDomainNames, n, &v);
    if (g.code() == Code::kNotFound) return Status::not_found("no domain " + n);
    TSUBAME_TRY(g);
    if (v.size() != 4) return Status::corruption("malformed domain name entry");
    uint32_t id = get_be32(v.data());
    TSUBAME_TRY(t.get(Db::kDomains, be32(id), &v));
    TSUBAME_ASSIGN(r, rec::decode_domain(v));
    d = to_domain(id, r);
    return Status::ok();
  });
  if (!s.is_ok()) return s;
  return d;
}

Result<Domain> Store::get_domain(uint32_t id) const {
  Domain d;
  Status s = impl_->env->read([&](const Txn& t) -> Status {
    std::string_view v;
    Status g = t.get(Db::kDomains, be32(id), &v);
    if (g.code() == Code::kNotFound) return Status::not_found("no domain " + std::to_string(id));
    TSUBAME_TRY(g);
    TSUBAME_ASSIGN(r, rec::decode_domain(v));
    d = to_domain(id, r);
    return Status::ok();
  });
  if (!s.is_ok()) return s;
  return d;
}

Result<std::vector<Domain>> Store::list_domains() const {
  std::vector<Domain> out;
  Status s = impl_->env->read([&](const Txn& t) -> Status {
    Status bad;
    TSUBAME_TRY(t.scan(Db::kDomains, "", "", [&](std::string_view k, std::string_view v) {
      auto r = rec::decode_domain(v);
      if (!r.is_ok() || k.size() != 4) {
        bad = Status::corruption("malformed domain record");
        return false;
      }
      out.push_back(to_domain(get_be32(k.data()), *r));
      return true;
    }));
    return bad;
  });
  if (!s.is_ok()) return s;
  std::sort(out.begin(), out.end(), [](const Domain& a, const Domain& b) { return a.name < b.name; });
  return out;
}

Status Store::remove_domain(std::string_view name, const AuditEntry* audit) {
  std::string n = to_lower(trim(name));
  return impl_->write([&](Ops& ops) -> Status {
    Txn& t = ops.w();
    std::string_view v;
    Status g = t.get(Db::kDomainNames, n, &v);
    if (g.code() == Code::kNotFound) return Status::not_found("no domain " + n);
    TSUBAME_TRY(g);
    if (v.size() != 4) return Status::corruption("malformed domain name entry");
    uint32_t id = get_be32(v.data());
    uint64_t users = 0;
    Status bad;
    TSUBAME_TRY(t.scan(Db::kUsers, "", "", [&](std::string_view, std::string_view uv) {
      auto u = rec::decode_user(uv);
      if (!u.is_ok()) {
        bad = u.status();
        return false;
      }
      if (u->domain_id == id) users++;
      return true;
    }));
    TSUBAME_TRY(bad);
    if (users) return Status::exists("domain " + n + " still has " + std::to_string(users) + " users");
    TSUBAME_TRY(t.del(Db::kDomains, be32(id)));
    TSUBAME_TRY(t.del(Db::kDomainNames, n));
    return append_audit(*this, t, audit);
  });
}

// ---------------------------------------------------------------------------------------------
// users

Result<User> Store::add_user(std::string_view address, std::string_view password_hash,
                             uint64_t quota_bytes, const AuditEntry* audit) {
  TSUBAME_ASSIGN(addr, normalize_address(address));
  if (password_hash.size() > kMaxPasswordHashBytes) return Status::invalid("password hash too long");
  std::string domain = addr.substr(addr.rfind('@') + 1);
  TSUBAME_ASSIGN(dom, find_domain(domain));
  User out;
  Status s = impl_->write([&](Ops& ops) -> Status {
    Txn& t = ops.w();
    std::string idx = ops.keys().index("user", to_lower(addr));
    std::string_view v;
    Status g = t.get(Db::kUserIndex, idx, &v);
    if (g.is_ok()) return Status::exists("user " + addr + " exists");
    if (g.code() != Code::kNotFound) return g;
    // The domain may have been removed since find_domain.
    g = t.get(Db::kDomains, be32(dom.id), &v);
    if (g.code() == Code::kNotFound) return Status::not_found("no domain " + domain);
    TSUBAME_TRY(g);
    TSUBAME_ASSIGN(id, t.next_id("user"));
    UserRow r;
    r.domain_id = dom.id;
    r.quota_bytes = quota_bytes;
    r.created = unix_now();
    rec::UserPersonal p{addr, std::string(password_hash)};
    TSUBAME_ASSIGN(sealed, ops.seal(dom.id, rec::encode(p), Db::kUsers, be64(id)));
    r.sealed = std::move(sealed);
    TSUBAME_TRY(t.insert(Db::kUsers, be64(id), rec::encode(r)));
    TSUBAME_TRY(t.insert(Db::kUserIndex, idx, be64(id)));
    for (const auto& mb : kDefaultMailboxes)
      TSUBAME_TRY(ops.create_one(id, mb.name, mb.special, true).status());
    TSUBAME_ASSIGN(u, ops.to_user(id, r));
    out = std::move(u);
    return append_audit(*this, t, audit);
  });
  if (!s.is_ok()) return s;
  return out;
}

Result<User> Store::find_user(std::string_view address) const {
  TSUBAME_ASSIGN(addr, normalize_address(address));
  User out;
  Status s = impl_->read([&](Ops& ops) -> Status {
    std::string_view v;
    Status g = ops.t().get(Db::kUserIndex, ops.keys().index("user", to_lower(addr)), &v);
    if (g.code() == Code::kNotFound) return Status::not_found("no user " + addr);
    TSUBAME_TRY(g);
    if (v.size() != 8) return Status::corruption("malformed user index entry");
    uint64_t id = get_be64(v.data());
    TSUBAME_ASSIGN(row, ops.user(id));
    TSUBAME_ASSIGN(u, ops.to_user(id, *row));
    out = std::move(u);
    return Status::ok();
  });
  if (!s.is_ok()) return s;
  return out;
}

Result<User> Store::get_user(uint64_t id) const {
  User out;
  Status s = impl_->read([&](Ops& ops) -> Status {
    TSUBAME_ASSIGN(row, ops.user(id));
    TSUBAME_ASSIGN(u, ops.to_user(id, *row));
    out = std::move(u);
    return Status::ok();
  });
  if (!s.is_ok()) return s;
  return out;
}

Result<std::vector<User>> Store::list_users(std::optional<uint32_t> domain_id) const {
  std::vector<User> out;
  Status s = impl_->read([&](Ops& ops) -> Status {
    std::vector<std::pair<uint64_t, UserRow>> rows;
    Status bad;
    TSUBAME_TRY(ops.t().scan(Db::kUsers, "", "", [&](std::string_view k, std::string_view v) {
      auto u = rec::decode_user(v);
      if (!u.is_ok() || k.size() != 8) {
        bad = Status::corruption("malformed user record");
        return false;
      }
      if (!domain_id || u->domain_id == *domain_id) rows.emplace_back(get_be64(k.data()), std::move(*u));
      return true;
    }));
    TSUBAME_TRY(bad);
    for (const auto& [id, row] : rows) {
      TSUBAME_ASSIGN(u, ops.to_user(id, row));
      out.push_back(std::move(u));
    }
    return Status::ok();
  });
  if (!s.is_ok()) return s;
  std::sort(out.begin(), out.end(), [](const User& a, const User& b) { return a.address < b.address; });
  return out;
}

Status Store::set_password_hash(uint64_t user_id, std::string_view hash, const AuditEntry* audit) {
  if (hash.size() > kMaxPasswordHashBytes) return Status::invalid("password hash too long");
  return impl_->write([&](Ops& ops) -> Status {
    TSUBAME_ASSIGN(row, ops.user(user_id));
    TSUBAME_ASSIGN(u, ops.to_user(user_id, *row));
    rec::UserPersonal p{u.address, std::string(hash)};
    TSUBAME_ASSIGN(sealed, ops.seal(row->domain_id, rec::encode(p), Db::kUsers, be64(user_id)));
    row->sealed = std::move(sealed);
    ops.touch_user(user_id);
    return append_audit(*this, ops.w(), audit);
  });
}

Status Store::set_disabled(uint64_t user_id, bool disabled, const AuditEntry* audit) {
  return impl_->write([&](Ops& ops) -> Status {
    TSUBAME_ASSIGN(row, ops.user(user_id));
    row->disabled = disabled;
    ops.touch_user(user_id);
    return append_audit(*this, ops.w(), audit);
  });
}

Status Store::set_quota(uint64_t user_id, uint64_t quota_bytes, const AuditEntry* audit) {
  return impl_->write([&](Ops& ops) -> Status {
    TSUBAME_ASSIGN(row, ops.user(user_id));
    row->quota_bytes = quota_bytes;
    ops.touch_user(user_id);
    return append_audit(*this, ops.w(), audit);
  });
}

// ---------------------------------------------------------------------------------------------
// mailboxes

Result<Mailbox> Store::create_mailbox(uint64_t user_id, std::string_view name, SpecialUse special) {
  TSUBAME_ASSIGN(norm, normalize_mailbox(name));
  Mailbox out;
  Status s = impl_->write([&](Ops& ops) -> Status {
    TSUBAME_TRY(ops.user(user_id).status());
    TSUBAME_ASSIGN(id, ops.create_with_parents(user_id, norm, special, false));
    TSUBAME_ASSIGN(row, ops.mailbox(id));
    TSUBAME_ASSIGN(m, ops.to_mailbox(id, *row));
    out = std::move(m);
    return Status::ok();
  });
  if (!s.is_ok()) return s;
  return out;
}

Result<Mailbox> Store::find_mailbox(uint64_t user_id, std::string_view name) const {
  TSUBAME_ASSIGN(norm, normalize_mailbox(name));
  Mailbox out;
  Status s = impl_->read([&](Ops& ops) -> Status {
    TSUBAME_ASSIGN(id, ops.find_mailbox(user_id, norm));
    if (!id) return Status::not_found("no mailbox " + norm);
    TSUBAME_ASSIGN(row, ops.mailbox(*id));
    TSUBAME_ASSIGN(m, ops.to_mailbox(*id, *row));
    out = std::move(m);
    return Status::ok();
  });
  if (!s.is_ok()) return s;
  return out;
}

Result<Mailbox> Store::get_mailbox(uint64_t user_id, uint64_t mailbox_id) const {
  Mailbox out;
  Status s = impl_->read([&](Ops& ops) -> Status {
    TSUBAME_ASSIGN(row, ops.owned_mailbox(user_id, mailbox_id));
    TSUBAME_ASSIGN(m, ops.to_mailbox(mailbox_id, *row));
    out = std::move(m);
    return Status::ok();
  });
  if (!s.is_ok()) return s;
  return out;
}

Result<bool> Store::mailbox_exists(uint64_t mailbox_id) const {
  bool found = false;
  Status s = impl_->env->read([&](const Txn& t) -> Status {
    std::string_view v;
    Status g = t.get(Db::kMailboxes, be64(mailbox_id), &v);
    if (g.code() == Code::kNotFound) return Status::ok();
    TSUBAME_TRY(g);
    found = true;
    return Status::ok();
  });
  if (!s.is_ok()) return s;
  return found;
}

Result<std::vector<Mailbox>> Store::list_mailboxes(uint64_t user_id) const {
  std::vector<Mailbox> out;
  Status s = impl_->read([&](Ops& ops) -> Status {
    TSUBAME_TRY(ops.user(user_id).status());
    TSUBAME_ASSIGN(ids, ops.mailbox_ids(user_id));
    for (uint64_t id : ids) {
      TSUBAME_ASSIGN(row, ops.mailbox(id));
      TSUBAME_ASSIGN(m, ops.to_mailbox(id, *row));
      out.push_back(std::move(m));
    }
    return Status::ok();
  });
  if (!s.is_ok()) return s;
  // INBOX first, then by name (so a parent precedes its children).
  std::sort(out.begin(), out.end(), [](const Mailbox& a, const Mailbox& b) {
    bool ai = a.name == "INBOX", bi = b.name == "INBOX";
    if (ai != bi) return ai;
    return a.name < b.name;
  });
  return out;
}

Status Store::rename_mailbox(uint64_t user_id, std::string_view from, std::string_view to) {
  TSUBAME_ASSIGN(src, normalize_mailbox(from));
  TSUBAME_ASSIGN(dst, normalize_mailbox(to));
  if (dst.starts_with(src + "/")) return Status::invalid("cannot rename a mailbox into itself");
  return impl_->write([&](Ops& ops) -> Status {
    TSUBAME_ASSIGN(src_id, ops.find_mailbox(user_id, src));
    if (!src_id) return Status::not_found("no mailbox " + src);
    TSUBAME_ASSIGN(dst_id, ops.find_mailbox(user_id, dst));
    if (dst_id) return Status::exists("mailbox " + dst + " exists");
    TSUBAME_ASSIGN(dom, ops.user_domain(user_id));

    if (src == "INBOX") {
      // RFC 9051 §6.3.6: renaming INBOX moves all its messages to a new mailbox with the new
      // name and leaves INBOX empty; INBOX's inferior names are unaffected.
      TSUBAME_ASSIGN(new_id, ops.create_with_parents(user_id, dst, SpecialUse::kNone, false));
      TSUBAME_ASSIGN(inbox, ops.mailbox(*src_id));
      TSUBAME_ASSIGN(target, ops.mailbox(new_id));
      TSUBAME_ASSIGN(msgs, scan_messages(ops.t(), *src_id, 1, UINT32_MAX));
      for (const Message& m : msgs) {
        // The copy takes its own reference and charge before the original gives up its own.
        Message copy = m;
        TSUBAME_TRY(ops.ref_blob(m.blob_id, +1));
        TSUBAME_TRY(ops.charge(user_id, m.size, false));
        TSUBAME_TRY(ops.add_message(new_id, *target, copy));
        TSUBAME_TRY(ops.remove_message(*inbox, m, true).status());
      }
      return Status::ok();
    }

    // Rename the mailbox and every inferior one (RFC 9051 §6.3.6), keeping ids, UIDs and
    // UIDVALIDITY.
    TSUBAME_ASSIGN(ids, ops.mailbox_ids(user_id));
    std::vector<std::pair<uint64_t, std::string>> moves;  // id, new name
    for (uint64_t id : ids) {
      TSUBAME_ASSIGN(row, ops.mailbox(id));
      TSUBAME_ASSIGN(name, ops.mailbox_name(id, *row));
      if (name == src || name.starts_with(src + "/")) {
        std::string nn = dst + name.substr(src.size());
        if (nn.size() > kMaxMailboxNameBytes) return Status::invalid("renamed mailbox name too long");
        if (size_t(std::count(nn.begin(), nn.end(), '/')) + 1 > kMaxMailboxDepth)
          return Status::invalid("renamed mailbox hierarchy too deep");
        moves.emplace_back(id, std::move(nn));
      }
    }
    for (const auto& [id, nn] : moves) {
      TSUBAME_ASSIGN(row, ops.mailbox(id));
      TSUBAME_ASSIGN(old_name, ops.mailbox_name(id, *row));
      TSUBAME_TRY(ops.w().del(Db::kMailboxIndex, ops.index_key(user_id, old_name)));
    }
    for (const auto& [id, nn] : moves) {
      TSUBAME_ASSIGN(row, ops.mailbox(id));
      // The subscription moves with the mailbox; a name subscribed without a mailbox that
      // the rename now fills is subscribed, as CREATE would have made it.
      TSUBAME_ASSIGN(orphan, ops.del_orphan_subscription(user_id, nn));
      if (orphan) row->subscribed = true;
      Status ins = ops.w().insert(Db::kMailboxIndex, ops.index_key(user_id, nn), be64(id));
      if (ins.code() == Code::kExists) return Status::exists("mailbox " + nn + " exists");
      TSUBAME_TRY(ins);
      TSUBAME_ASSIGN(sealed, ops.seal(dom, nn, Db::kMailboxes, be64(id)));
      row->sealed_name = std::move(sealed);
      ops.touch_mailbox(id);
    }
    // Superior levels of the new name (RFC 9051 §6.3.6 "create superior names").
    for (size_t pos = dst.find('/'); pos != std::string::npos; pos = dst.find('/', pos + 1)) {
      std::string parent = dst.substr(0, pos);
      TSUBAME_ASSIGN(p, ops.find_mailbox(user_id, parent));
      if (!p) TSUBAME_TRY(ops.create_one(user_id, parent, SpecialUse::kNone, false).status());
    }
    return Status::ok();
  });
}

Status Store::delete_mailbox(uint64_t user_id, std::string_view name) {
  TSUBAME_ASSIGN(norm, normalize_mailbox(name));
  if (norm == "INBOX") return Status::denied("INBOX cannot be deleted");  // RFC 9051 §6.3.5
  return impl_->write([&](Ops& ops) -> Status {
    TSUBAME_ASSIGN(id, ops.find_mailbox(user_id, norm));
    if (!id) return Status::not_found("no mailbox " + norm);
    TSUBAME_ASSIGN(row, ops.mailbox(*id));
    TSUBAME_ASSIGN(msgs, scan_messages(ops.t(), *id, 1, UINT32_MAX));
    for (const Message& m : msgs) TSUBAME_TRY(ops.remove_message(*row, m, false).status());
    // Its inferior mailboxes stay; its UIDs die with its UIDVALIDITY (a new mailbox with the
    // same name gets a new one), so the expunged and modseq entries go too.
    TSUBAME_TRY(ops.w().del_prefix(Db::kExpunged, be64(*id)).status());
    TSUBAME_TRY(ops.w().del_prefix(Db::kModseq, be64(*id)).status());
    TSUBAME_TRY(ops.w().del(Db::kMailboxIndex, ops.index_key(user_id, norm)));
    TSUBAME_TRY(ops.w().del(Db::kMailboxes, be64(*id)));
    // RFC 9051 §6.3.7: the server SHOULD NOT remove a name from the subscriptions because
    // its mailbox is gone; LIST (SUBSCRIBED) shows it \NonExistent.
    if (row->subscribed) TSUBAME_TRY(ops.add_orphan_subscription(user_id, norm));
    ops.forget_mailbox(*id);
    return Status::ok();
  });
}

Status Store::set_subscribed(uint64_t user_id, std::string_view name, bool subscribed) {
  TSUBAME_ASSIGN(norm, normalize_mailbox(name));
  return impl_->write([&](Ops& ops) -> Status {
    TSUBAME_TRY(ops.user(user_id).status());
    TSUBAME_ASSIGN(id, ops.find_mailbox(user_id, norm));
    if (id) {
      TSUBAME_ASSIGN(row, ops.mailbox(*id));
      row->subscribed = subscribed;
      ops.touch_mailbox(*id);
      return Status::ok();
    }
    // RFC 9051 §6.3.7: a name may be subscribed without a mailbox (one to be created, or
    // one deleted since).
    if (subscribed) return ops.add_orphan_subscription(user_id, norm);
    TSUBAME_ASSIGN(found, ops.del_orphan_subscription(user_id, norm));
    if (!found) return Status::not_found("not subscribed to " + norm);
    return Status::ok();
  });
}

Result<std::vector<std::string>> Store::orphan_subscriptions(uint64_t user_id) const {
  std::vector<std::string> out;
  Status s = impl_->read([&](Ops& ops) -> Status {
    TSUBAME_TRY(ops.user(user_id).status());
    TSUBAME_ASSIGN(dom, ops.user_domain(user_id));
    std::string prefix = be64(user_id);
    Status inner;
    TSUBAME_TRY(ops.t().scan(Db::kSubscriptions, prefix, "", [&](std::string_view k, std::string_view v) {
      if (k.substr(0, 8) != prefix) return false;
      auto name = ops.open(dom, v, Db::kSubscriptions, k);
      if (!name.is_ok()) {
        inner = name.status();
        return false;
      }
      out.push_back(std::move(*name));
      return true;
    }));
    return inner;
  });
  if (!s.is_ok()) return s;
  std::sort(out.begin(), out.end());
  return out;
}

// ---------------------------------------------------------------------------------------------
// messages

Result<std::vector<DeliveryResult>> Store::deliver(const std::vector<IncomingMessage>& batch) {
  return deliver(batch, nullptr);
}

Result<std::vector<DeliveryResult>> Store::deliver(const std::vector<IncomingMessage>& batch,
                                                   const std::function<Status(Txn&)>& also) {
  if (batch.size() > kMaxBatchMessages) return Status::invalid("delivery batch too large");
  // Validate everything before the transaction.
  std::vector<std::vector<std::pair<std::string, std::vector<std::string>>>> norm(batch.size());
  for (size_t i = 0; i < batch.size(); i++) {
    const auto& m = batch[i];
    if (m.raw.size() > kMaxMessageBytes) return Status::invalid("message larger than the store's limit");
    if (m.targets.empty()) return Status::invalid("delivery without targets");
    if (m.targets.size() > kMaxTargetsPerMessage) return Status::invalid("too many delivery targets");
    for (const auto& t : m.targets) {
      if (t.flags & ~kAllFlags) return Status::invalid("unknown flag bits");
      TSUBAME_ASSIGN(name, normalize_mailbox(t.mailbox));
      TSUBAME_ASSIGN(kw, normalize_keywords(t.keywords));
      norm[i].emplace_back(std::move(name), std::move(kw));
    }
  }
  std::vector<DeliveryResult> results;
  int64_t now = unix_now();
  Status s = impl_->write([&](Ops& ops) -> Status {
    results.clear();
    for (size_t i = 0; i < batch.size(); i++) {
      const IncomingMessage& in = batch[i];
      DeliveryResult r;
      // Check every target before storing the blob.
      std::vector<uint64_t> boxes;
      for (size_t j = 0; j < in.targets.size(); j++) {
        const DeliveryTarget& tg = in.targets[j];
        TSUBAME_ASSIGN(u, ops.user(tg.user_id));
        if (u->deleted_at) return Status::not_found("user " + std::to_string(tg.user_id) + " is deleted");
        const std::string& name = norm[i][j].first;
        TSUBAME_ASSIGN(id, ops.find_mailbox(tg.user_id, name));
        if (id) {
          boxes.push_back(*id);
        } else {
          TSUBAME_ASSIGN(nid, ops.create_with_parents(tg.user_id, name, special_for_name(name), true));
          boxes.push_back(nid);
        }
      }
      // One blob for every target: sealed with the first target's domain key (the header says
      // which), refcount = number of copies.
      TSUBAME_ASSIGN(dom, ops.user_domain(in.targets[0].user_id));
      TSUBAME_ASSIGN(blob, ops.new_blob(in.raw, in.summary, dom, uint32_t(in.targets.size())));
      r.blob_id = blob;
      for (size_t j = 0; j < in.targets.size(); j++) {
        const DeliveryTarget& tg = in.targets[j];
        TSUBAME_TRY(ops.charge(tg.user_id, in.raw.size(), true));
        TSUBAME_ASSIGN(box, ops.mailbox(boxes[j]));
        Message m;
        m.flags = tg.flags;
        m.keywords = norm[i][j].second;
        m.internal_date = in.internal_date ? in.internal_date : now;
        m.size = in.raw.size();
        m.blob_id = blob;
        TSUBAME_TRY(ops.add_message(boxes[j], *box, m));
        r.copies.push_back(DeliveredCopy{tg.user_id, boxes[j], m.uid, m.modseq});
      }
      results.push_back(std::move(r));
    }
    if (also) TSUBAME_TRY(also(ops.w()));
    return Status::ok();
  });
  if (!s.is_ok()) return s;
  return results;
}

namespace {

// The bodies of append / store_flags / expunge, shared by the single calls and write_batch.
// Inputs are validated and normalised by the caller (keywords normalised, uids sorted).
Status do_append(Ops& ops, uint64_t user_id, uint64_t mailbox_id, std::string_view raw,
                 const MessageSummary& summary, uint32_t flags, const std::vector<std::string>& kw,
                 int64_t internal_date, int64_t now, DeliveredCopy* out) {
  TSUBAME_ASSIGN(box, ops.owned_mailbox(user_id, mailbox_id));
  TSUBAME_TRY(ops.charge(user_id, raw.size(), true));
  TSUBAME_ASSIGN(dom, ops.user_domain(user_id));
  TSUBAME_ASSIGN(blob, ops.new_blob(raw, summary, dom, 1));
  Message m;
  m.flags = flags;
  m.keywords = kw;
  m.internal_date = internal_date ? internal_date : now;
  m.size = raw.size();
  m.blob_id = blob;
  TSUBAME_TRY(ops.add_message(mailbox_id, *box, m));
  *out = DeliveredCopy{user_id, mailbox_id, m.uid, m.modseq};
  // A mail program's copy of what its user sent: the reply and correspondent memories learn
  // it in the same transaction (store/replies.h), also when it went out through another server.
  // The copy's internal date says when it was sent (a migrated Sent folder keeps its dates):
  // the records last from then, and a copy older than the retention records nothing.
  const int64_t sent_ms = std::min(m.internal_date, now) * 1000;
  if (box->special == SpecialUse::kSent && sent_ms + kSentRetentionMs > now * 1000)
    TSUBAME_TRY(remember_sent_copy(ops.w(), ops.keys(), summary.envelope, sent_ms));
  return Status::ok();
}

Status validate_append(std::string_view raw, uint32_t flags) {
  if (raw.size() > kMaxMessageBytes) return Status::invalid("message larger than the store's limit");
  if (flags & ~kAllFlags) return Status::invalid("unknown flag bits");
  return Status::ok();
}

}  // namespace

Result<DeliveredCopy> Store::append(uint64_t user_id, uint64_t mailbox_id, std::string_view raw,
                                    const MessageSummary& summary, uint32_t flags,
                                    const std::vector<std::string>& keywords, int64_t internal_date) {
  TSUBAME_TRY(validate_append(raw, flags));
  TSUBAME_ASSIGN(kw, normalize_keywords(keywords));
  DeliveredCopy out;
  int64_t now = unix_now();
  Status s = impl_->write([&](Ops& ops) -> Status {
    return do_append(ops, user_id, mailbox_id, raw, summary, flags, kw, internal_date, now, &out);
  });
  if (!s.is_ok()) return s;
  return out;
}

Result<std::vector<Message>> Store::list_messages(uint64_t mailbox_id, uint32_t uid_from,
                                                  uint32_t uid_to) const {
  std::vector<Message> out;
  Status s = impl_->read([&](Ops& ops) -> Status {
    TSUBAME_TRY(ops.mailbox(mailbox_id).status());
    TSUBAME_ASSIGN(msgs, scan_messages(ops.t(), mailbox_id, std::max<uint32_t>(uid_from, 1), uid_to));
    out = std::move(msgs);
    return Status::ok();
  });
  if (!s.is_ok()) return s;
  return out;
}

Result<Message> Store::get_message(uint64_t mailbox_id, uint32_t uid) const {
  Message out;
  Status s = impl_->read([&](Ops& ops) -> Status {
    TSUBAME_ASSIGN(m, ops.message(mailbox_id, uid));
    if (!m) return Status::not_found("no message " + std::to_string(uid));
    out = std::move(*m);
    return Status::ok();
  });
  if (!s.is_ok()) return s;
  return out;
}

namespace {

// The blob (or summary) of a message owned by user_id, decrypted.
Status read_sealed(Ops& ops, uint64_t user_id, uint64_t mailbox_id, uint32_t uid, bool summary,
                   std::string* out) {
  TSUBAME_TRY(ops.owned_mailbox(user_id, mailbox_id).status());
  TSUBAME_ASSIGN(m, ops.message(mailbox_id, uid));
  if (!m) return Status::not_found("no message " + std::to_string(uid));
  TSUBAME_ASSIGN(h, ops.blob(m->blob_id));
  std::string key = summary ? be64(m->blob_id) : rec::blob_content_key(m->blob_id);
  Db db = summary ? Db::kSummaries : Db::kBlobs;
  std::string_view v;
  Status g = ops.t().get(db, key, &v);
  if (g.code() == Code::kNotFound) return Status::corruption("missing content of blob " + std::to_string(m->blob_id));
  TSUBAME_TRY(g);
  TSUBAME_ASSIGN(plain, ops.open(h.key_domain, v, db, key));
  *out = std::move(plain);
  return Status::ok();
}

}  // namespace

Result<std::string> Store::read_message(uint64_t user_id, uint64_t mailbox_id, uint32_t uid) const {
  std::string out;
  Status s = impl_->read([&](Ops& ops) { return read_sealed(ops, user_id, mailbox_id, uid, false, &out); });
  if (!s.is_ok()) return s;
  return out;
}

Result<MessageSummary> Store::read_summary(uint64_t user_id, uint64_t mailbox_id, uint32_t uid) const {
  std::string enc;
  Status s = impl_->read([&](Ops& ops) { return read_sealed(ops, user_id, mailbox_id, uid, true, &enc); });
  if (!s.is_ok()) return s;
  return decode_summary(enc);
}

namespace {

Status do_store_flags(Ops& ops, uint64_t mailbox_id, const std::vector<uint32_t>& sorted,
                      FlagMode mode, uint32_t flags, const std::vector<std::string>& kw,
                      std::optional<uint64_t> unchanged_since, StoreFlagsResult* out) {
  *out = {};
  TSUBAME_ASSIGN(box, ops.mailbox(mailbox_id));
  for (uint32_t uid : sorted) {
    TSUBAME_ASSIGN(found, ops.message(mailbox_id, uid));
    if (!found) continue;
    Message& m = *found;
    // RFC 7162 §3.1.3: UNCHANGEDSINCE fails for a message modified after the given value.
    if (unchanged_since && m.modseq > *unchanged_since) {
      out->failed.push_back(uid);
      continue;
    }
    uint32_t nf = m.flags;
    std::vector<std::string> nk = m.keywords;
    switch (mode) {
      case FlagMode::kReplace:
        nf = flags;
        nk = kw;
        break;
      case FlagMode::kAdd: {
        nf |= flags;
        nk.insert(nk.end(), kw.begin(), kw.end());
        TSUBAME_ASSIGN(merged, normalize_keywords(std::move(nk)));
        nk = std::move(merged);
        break;
      }
      case FlagMode::kRemove:
        nf &= ~flags;
        std::erase_if(nk, [&](const std::string& k) {
          return std::any_of(kw.begin(), kw.end(), [&](const std::string& r) { return iequals(k, r); });
        });
        break;
    }
    if (nf == m.flags && nk == m.keywords) continue;  // no change, no new MODSEQ
    TSUBAME_TRY(ops.update_flags(*box, m, nf, std::move(nk)));
    out->changed.push_back(FlagChange{m.uid, m.modseq, m.flags, m.keywords});
  }
  return Status::ok();
}

std::vector<uint32_t> sorted_unique(std::vector<uint32_t> v) {
  std::sort(v.begin(), v.end());
  v.erase(std::unique(v.begin(), v.end()), v.end());
  return v;
}

}  // namespace

Result<StoreFlagsResult> Store::store_flags(uint64_t mailbox_id, const std::vector<uint32_t>& uids,
                                            FlagMode mode, uint32_t flags,
                                            const std::vector<std::string>& keywords,
                                            std::optional<uint64_t> unchanged_since) {
  if (flags & ~kAllFlags) return Status::invalid("unknown flag bits");
  TSUBAME_ASSIGN(kw, normalize_keywords(keywords));
  std::vector<uint32_t> sorted = sorted_unique(uids);
  StoreFlagsResult out;
  Status s = impl_->write([&](Ops& ops) -> Status {
    return do_store_flags(ops, mailbox_id, sorted, mode, flags, kw, unchanged_since, &out);
  });
  if (!s.is_ok()) return s;
  return out;
}

namespace {

Status copy_or_move(Ops& ops, uint64_t user_id, uint64_t from, const std::vector<uint32_t>& uids,
                    uint64_t to, bool move, UidMapping* out) {
  *out = {};
  TSUBAME_ASSIGN(src, ops.owned_mailbox(user_id, from));
  TSUBAME_ASSIGN(dst, ops.owned_mailbox(user_id, to));
  out->dest_uidvalidity = dst->uidvalidity;
  std::vector<uint32_t> sorted = uids;
  std::sort(sorted.begin(), sorted.end());
  sorted.erase(std::unique(sorted.begin(), sorted.end()), sorted.end());
  for (uint32_t uid : sorted) {
    TSUBAME_ASSIGN(found, ops.message(from, uid));
    if (!found) continue;
    Message copy = *found;
    // A copy is charged to the quota; a move changes nothing in sum.
    TSUBAME_TRY(ops.charge(user_id, copy.size, !move));
    TSUBAME_TRY(ops.ref_blob(copy.blob_id, +1));
    TSUBAME_TRY(ops.add_message(to, *dst, copy));
    out->source_uids.push_back(uid);
    out->dest_uids.push_back(copy.uid);
    if (move) TSUBAME_TRY(ops.remove_message(*src, *found, true).status());  // RFC 6851 §3.3
  }
  return Status::ok();
}

}  // namespace

Result<UidMapping> Store::copy_messages(uint64_t user_id, uint64_t from_mailbox,
                                        const std::vector<uint32_t>& uids, uint64_t to_mailbox) {
  UidMapping out;
  Status s = impl_->write(
      [&](Ops& ops) { return copy_or_move(ops, user_id, from_mailbox, uids, to_mailbox, false, &out); });
  if (!s.is_ok()) return s;
  return out;
}

Result<UidMapping> Store::move_messages(uint64_t user_id, uint64_t from_mailbox,
                                        const std::vector<uint32_t>& uids, uint64_t to_mailbox) {
  UidMapping out;
  Status s = impl_->write(
      [&](Ops& ops) { return copy_or_move(ops, user_id, from_mailbox, uids, to_mailbox, true, &out); });
  if (!s.is_ok()) return s;
  return out;
}

namespace {

Status do_expunge(Ops& ops, uint64_t mailbox_id, const std::optional<std::vector<uint32_t>>& uids,
                  std::vector<Expunged>* out) {
  out->clear();
  std::set<uint32_t> only;
  if (uids) only.insert(uids->begin(), uids->end());
  TSUBAME_ASSIGN(box, ops.mailbox(mailbox_id));
  if (box->deleted == 0) return Status::ok();
  TSUBAME_ASSIGN(msgs, scan_messages(ops.t(), mailbox_id, 1, UINT32_MAX));
  for (const Message& m : msgs) {
    if (!(m.flags & kDeleted)) continue;
    if (uids && !only.count(m.uid)) continue;  // RFC 4315 §2.1 UID EXPUNGE
    TSUBAME_ASSIGN(e, ops.remove_message(*box, m, true));
    out->push_back(e);
  }
  return Status::ok();
}

}  // namespace

Result<std::vector<Expunged>> Store::expunge(uint64_t mailbox_id, std::optional<std::vector<uint32_t>> uids) {
  std::vector<Expunged> out;
  Status s = impl_->write([&](Ops& ops) { return do_expunge(ops, mailbox_id, uids, &out); });
  if (!s.is_ok()) return s;
  return out;
}

// ---------------------------------------------------------------------------------------------
// group commit

namespace {
bool map_full(const Status& s) {
  return s.code() == Code::kFull && s.message().find("MDB_MAP_FULL") != std::string::npos;
}
}  // namespace

namespace {
// rec::kMetaFlagJournal: the last imapd flag-journal record a batch applied (0: none).
Result<uint64_t> read_flag_journal_seq(const Txn& t) {
  std::string_view v;
  Status g = t.get(Db::kMeta, rec::kMetaFlagJournal, &v);
  if (g.code() == Code::kNotFound) return uint64_t(0);
  TSUBAME_TRY(g);
  if (v.size() != 8) return Status::corruption("malformed flag journal sequence");
  return get_be64(v.data());
}
}  // namespace

std::vector<WriteOutcome> Store::write_batch(const std::vector<WriteRequest>& batch, BatchSync sync,
                                             uint64_t journal_seq) {
  std::vector<WriteOutcome> out(batch.size());
  if (batch.size() > kMaxBatchMessages) {
    for (auto& o : out) o.status = Status::invalid("write batch too large");
    return out;
  }
  // Validate and normalise everything before the transaction (as the single calls do).
  std::vector<std::vector<std::string>> kws(batch.size());
  std::vector<std::vector<uint32_t>> sorted(batch.size());
  std::vector<bool> run(batch.size(), false);
  bool flags_only = true;
  for (size_t i = 0; i < batch.size(); i++) {
    Status v;
    if (const auto* a = std::get_if<AppendRequest>(&batch[i])) {
      flags_only = false;
      v = validate_append(a->raw, a->flags);
      if (v.is_ok()) {
        auto kw = normalize_keywords(a->keywords);
        if (kw) kws[i] = std::move(*kw);
        else v = kw.status();
      }
    } else if (const auto* f = std::get_if<StoreFlagsRequest>(&batch[i])) {
      if (f->flags & ~kAllFlags) v = Status::invalid("unknown flag bits");
      if (v.is_ok()) {
        auto kw = normalize_keywords(f->keywords);
        if (kw) kws[i] = std::move(*kw);
        else v = kw.status();
      }
      sorted[i] = sorted_unique(f->uids);
    } else {
      flags_only = false;
    }
    out[i].status = v;
    run[i] = v.is_ok();
  }
  bool data_only = sync == BatchSync::kFlagsDeferred && flags_only;
  // A lone request needs no savepoint: its failure aborts the transaction, which then holds
  // nothing else (and LMDB's nested transactions allocate a few MiB of page lists each).
  bool alone = std::count(run.begin(), run.end(), true) == 1;
  int64_t now = unix_now();
  bool alone_failed = false;  // the lone request's own error aborted the transaction
  Status s = impl_->env->write(
      [&](Txn& t) -> Status {
        for (size_t i = 0; i < batch.size(); i++) {
          if (!run[i]) continue;
          WriteOutcome& o = out[i];
          o = WriteOutcome{};  // Env::write may run this again after growing the map
          bool parent_broken = false;
          auto body = [&](Txn& child) -> Status {
            Ops ops(*impl_->keys, child, &child);
            if (const auto* a = std::get_if<AppendRequest>(&batch[i])) {
              TSUBAME_TRY(do_append(ops, a->user_id, a->mailbox_id, a->raw, a->summary, a->flags,
                                    kws[i], a->internal_date, now, &o.appended));
            } else if (const auto* f = std::get_if<StoreFlagsRequest>(&batch[i])) {
              TSUBAME_TRY(do_store_flags(ops, f->mailbox_id, sorted[i], f->mode, f->flags, kws[i],
                                         f->unchanged_since, &o.flags));
            } else if (const auto* c = std::get_if<CopyRequest>(&batch[i])) {
              TSUBAME_TRY(copy_or_move(ops, c->user_id, c->from_mailbox, c->uids, c->to_mailbox,
                                       c->move, &o.mapping));
            } else if (const auto* e = std::get_if<ExpungeRequest>(&batch[i])) {
              TSUBAME_TRY(do_expunge(ops, e->mailbox_id, e->uids, &o.expunged));
            }
            return ops.flush();
          };
          if (alone) {  // its error is the batch's: Env::write aborts (or grows and retries)
            Status r = body(t);
            alone_failed = !r.is_ok() && !map_full(r);
            TSUBAME_TRY(r);
            continue;
          }
          Status r = impl_->env->nested(t, body, &parent_broken);
          // A full map ends the whole attempt (Env::write grows it and runs the batch again);
          // a failed nested commit may have left the parent unusable: the batch fails.
          if (map_full(r) || parent_broken) return r;
          if (!r.is_ok()) o = WriteOutcome{r};
        }
        if (journal_seq != 0) {  // never lowered: replays and live batches may interleave
          TSUBAME_ASSIGN(have, read_flag_journal_seq(t));
          if (journal_seq > have) TSUBAME_TRY(t.put(Db::kMeta, rec::kMetaFlagJournal, be64(journal_seq)));
        }
        return Status::ok();
      },
      data_only ? Env::Sync::kDataOnly : Env::Sync::kFull);
  for (size_t i = 0; i < batch.size(); i++) {
    bool batch_failed = !s.is_ok() && !alone_failed;
    if (run[i]) {
      if (!s.is_ok()) out[i] = WriteOutcome{s};
      else if (out[i].status.is_ok()) out[i].durable = !data_only;
    }
    out[i].batch_failed = batch_failed;
  }
  return out;
}

Status Store::sync() { return impl_->env->sync(); }

Result<uint64_t> Store::flag_journal_seq() const {
  uint64_t seq = 0;
  Status s = impl_->env->read([&](const Txn& t) -> Status {
    TSUBAME_ASSIGN(v, read_flag_journal_seq(t));
    seq = v;
    return Status::ok();
  });
  if (!s.is_ok()) return s;
  return seq;
}

Result<std::vector<Message>> Store::changed_since(uint64_t mailbox_id, uint64_t modseq) const {
  std::vector<Message> out;
  Status s = impl_->read([&](Ops& ops) -> Status {
    TSUBAME_TRY(ops.mailbox(mailbox_id).status());
    std::vector<uint32_t> uids;
    if (modseq == UINT64_MAX) return Status::ok();
    Status bad;
    TSUBAME_TRY(ops.t().scan(Db::kModseq, be64(mailbox_id), rec::key64_64(mailbox_id, modseq + 1),
                             [&](std::string_view, std::string_view v) {
                               if (v.size() != 4) {
                                 bad = Status::corruption("malformed modseq entry");
                                 return false;
                               }
                               uids.push_back(get_be32(v.data()));
                               return true;
                             }));
    TSUBAME_TRY(bad);
    std::sort(uids.begin(), uids.end());
    for (uint32_t uid : uids) {
      TSUBAME_ASSIGN(m, ops.message(mailbox_id, uid));
      if (!m) return Status::corruption("modseq entry for missing message " + std::to_string(uid));
      out.push_back(std::move(*m));
    }
    return Status::ok();
  });
  if (!s.is_ok()) return s;
  return out;
}

Result<std::vector<Expunged>> Store::vanished_since(uint64_t mailbox_id, uint64_t modseq) const {
  std::vector<Expunged> out;
  Status s = impl_->read([&](Ops& ops) -> Status {
    TSUBAME_TRY(ops.mailbox(mailbox_id).status());
    Status bad;
    TSUBAME_TRY(ops.t().scan(Db::kExpunged, be64(mailbox_id), "", [&](std::string_view k, std::string_view v) {
      if (k.size() != 12 || v.size() != 8) {
        bad = Status::corruption("malformed expunged entry");
        return false;
      }
      uint64_t ms = get_be64(v.data());
      if (ms > modseq) out.push_back(Expunged{get_be32(k.data() + 8), ms});
      return true;
    }));
    return bad;
  });
  if (!s.is_ok()) return s;
  return out;
}

Status Store::set_reported(uint64_t mailbox_id, uint32_t uid, Reported reported) {
  return impl_->write([&](Ops& ops) -> Status {
    TSUBAME_ASSIGN(m, ops.message(mailbox_id, uid));
    if (!m) return Status::not_found("no message " + std::to_string(uid));
    if (m->reported == reported) return Status::ok();
    m->reported = reported;  // training state only: not an IMAP-visible change, no MODSEQ
    return ops.w().put(Db::kMessages, rec::key64_32(mailbox_id, uid), rec::encode_message(*m));
  });
}

// ---------------------------------------------------------------------------------------------
// check

Result<CheckReport> Store::check() const {
  CheckReport rep;
  constexpr size_t kMaxProblems = 1000;
  auto problem = [&](std::string p) {
    if (rep.problems.size() < kMaxProblems) rep.problems.push_back(std::move(p));
  };
  Status s = impl_->read([&](Ops& ops) -> Status {
    rep = {};
    const Txn& t = ops.t();
    const Keyring& keys = ops.keys();
    // meta
    TSUBAME_ASSIGN(schema, t.get_copy(Db::kMeta, rec::kMetaSchema));
    if (!schema || schema->size() != 4 || get_be32(schema->data()) != rec::kSchemaVersion)
      problem("meta: missing or unknown schema version");
    TSUBAME_ASSIGN(kc, t.get_copy(Db::kMeta, rec::kMetaKeyCheck));
    if (!kc || !keys.verify_check(*kc).is_ok()) problem("meta: key check value missing or does not open");

    // domains and their name index
    std::map<uint32_t, std::string> domains;
    TSUBAME_TRY(t.scan(Db::kDomains, "", "", [&](std::string_view k, std::string_view v) {
      auto d = rec::decode_domain(v);
      if (k.size() != 4 || !d.is_ok()) {
        problem("domains: malformed record");
        return true;
      }
      uint32_t id = get_be32(k.data());
      domains[id] = d->name;
      if (!ops.domain_key(id).is_ok()) problem("domain " + d->name + ": data key does not unwrap");
      return true;
    }));
    rep.domains = domains.size();
    TSUBAME_TRY(t.scan(Db::kDomainNames, "", "", [&](std::string_view k, std::string_view v) {
      auto it = v.size() == 4 ? domains.find(get_be32(v.data())) : domains.end();
      if (it == domains.end() || it->second != k) problem("domain_names: stale entry " + std::string(k));
      return true;
    }));
    for (const auto& [id, name] : domains) {
      std::string_view v;
      if (!t.get(Db::kDomainNames, name, &v).is_ok() || v != be32(id))
        problem("domain " + name + ": missing from name index");
    }

    // users and their index
    std::map<uint64_t, UserRow> users;
    TSUBAME_TRY(t.scan(Db::kUsers, "", "", [&](std::string_view k, std::string_view v) {
      auto u = rec::decode_user(v);
      if (k.size() != 8 || !u.is_ok()) {
        problem("users: malformed record");
        return true;
      }
      users.emplace(get_be64(k.data()), std::move(*u));
      return true;
    }));
    rep.users = users.size();
    for (const auto& [id, row] : users) {
      std::string uid = "user " + std::to_string(id);
      if (!domains.count(row.domain_id)) problem(uid + ": unknown domain " + std::to_string(row.domain_id));
      auto u = ops.to_user(id, row);
      if (!u.is_ok()) {
        problem(uid + ": " + u.status().to_string());
        continue;
      }
      std::string_view v;
      if (!t.get(Db::kUserIndex, keys.index("user", to_lower(u->address)), &v).is_ok() || v != be64(id))
        problem(uid + ": missing from address index");
    }
    TSUBAME_TRY(t.scan(Db::kUserIndex, "", "", [&](std::string_view, std::string_view v) {
      if (v.size() != 8 || !users.count(get_be64(v.data()))) problem("user_index: entry for a missing user");
      return true;
    }));

    // mailboxes and their index
    std::map<uint64_t, MailboxRow> boxes;
    TSUBAME_TRY(t.scan(Db::kMailboxes, "", "", [&](std::string_view k, std::string_view v) {
      auto m = rec::decode_mailbox(v);
      if (k.size() != 8 || !m.is_ok()) {
        problem("mailboxes: malformed record");
        return true;
      }
      boxes.emplace(get_be64(k.data()), std::move(*m));
      return true;
    }));
    rep.mailboxes = boxes.size();
    std::map<uint64_t, uint64_t> indexed;  // mailbox id -> times indexed
    TSUBAME_TRY(t.scan(Db::kMailboxIndex, "", "", [&](std::string_view k, std::string_view v) {
      if (k.size() < 8 || v.size() != 8) {
        problem("mailbox_index: malformed entry");
        return true;
      }
      uint64_t id = get_be64(v.data());
      auto it = boxes.find(id);
      if (it == boxes.end() || it->second.user_id != get_be64(k.data()))
        problem("mailbox_index: entry for missing mailbox " + std::to_string(id));
      indexed[id]++;
      return true;
    }));
    for (const auto& [id, row] : boxes) {
      std::string mid = "mailbox " + std::to_string(id);
      if (!users.count(row.user_id)) {
        problem(mid + ": owner " + std::to_string(row.user_id) + " missing");
        continue;
      }
      auto name = ops.mailbox_name(id, row);
      if (!name.is_ok()) {
        problem(mid + ": " + name.status().to_string());
        continue;
      }
      std::string_view v;
      if (!t.get(Db::kMailboxIndex, ops.index_key(row.user_id, *name), &v).is_ok() || v != be64(id) ||
          indexed[id] != 1)
        problem(mid + ": name index entry missing or duplicated");
    }

    // messages: counters, UIDNEXT, MODSEQ, blob references, used bytes
    struct Count {
      uint32_t messages = 0, unseen = 0, deleted = 0, max_uid = 0;
      uint64_t size = 0, max_modseq = 0;
    };
    std::map<uint64_t, Count> counts;
    std::map<uint64_t, uint64_t> refs;   // blob -> references
    std::map<uint64_t, uint64_t> used;   // user -> bytes
    TSUBAME_TRY(t.scan(Db::kMessages, "", "", [&](std::string_view k, std::string_view v) {
      auto m = rec::decode_message(k, v);
      rep.messages++;
      if (!m.is_ok()) {
        problem("messages: malformed record");
        return true;
      }
      auto box = boxes.find(m->mailbox_id);
      std::string where = "message " + std::to_string(m->mailbox_id) + "/" + std::to_string(m->uid);
      if (box == boxes.end()) {
        problem(where + ": mailbox missing");
        return true;
      }
      Count& c = counts[m->mailbox_id];
      c.messages++;
      if (!(m->flags & kSeen)) c.unseen++;
      if (m->flags & kDeleted) c.deleted++;
      c.size += m->size;
      c.max_uid = std::max(c.max_uid, m->uid);
      c.max_modseq = std::max(c.max_modseq, m->modseq);
      refs[m->blob_id]++;
      used[box->second.user_id] += m->size;
      std::string_view mv;
      if (!t.get(Db::kModseq, rec::key64_64(m->mailbox_id, m->modseq), &mv).is_ok() || mv != be32(m->uid))
        problem(where + ": modseq index entry missing");
      return true;
    }));
    TSUBAME_TRY(t.scan(Db::kModseq, "", "", [&](std::string_view k, std::string_view v) {
      if (k.size() != 16 || v.size() != 4) {
        problem("modseq: malformed entry");
        return true;
      }
      uint64_t mb = get_be64(k.data());
      std::string_view mv;
      std::string mk = rec::key64_32(mb, get_be32(v.data()));
      auto m = t.get(Db::kMessages, mk, &mv).is_ok() ? rec::decode_message(mk, mv)
                                                     : Result<Message>(Status::not_found(""));
      if (!m.is_ok() || m->modseq != get_be64(k.data() + 8))
        problem("modseq: stale entry in mailbox " + std::to_string(mb));
      return true;
    }));
    TSUBAME_TRY(t.scan(Db::kExpunged, "", "", [&](std::string_view k, std::string_view v) {
      if (k.size() != 12 || v.size() != 8) {
        problem("expunged: malformed entry");
        return true;
      }
      uint64_t mb = get_be64(k.data());
      uint32_t uid = get_be32(k.data() + 8);
      auto box = boxes.find(mb);
      if (box == boxes.end()) {
        problem("expunged: entry of missing mailbox " + std::to_string(mb));
        return true;
      }
      if (uid >= box->second.uidnext) problem("expunged: uid at or above UIDNEXT in mailbox " + std::to_string(mb));
      if (get_be64(v.data()) > box->second.highest_modseq)
        problem("expunged: modseq above HIGHESTMODSEQ in mailbox " + std::to_string(mb));
      std::string_view mv;
      if (t.get(Db::kMessages, rec::key64_32(mb, uid), &mv).is_ok())
        problem("expunged: uid " + std::to_string(uid) + " still present in mailbox " + std::to_string(mb));
      return true;
    }));
    for (const auto& [id, row] : boxes) {
      const Count& c = counts[id];
      std::string mid = "mailbox " + std::to_string(id);
      if (c.messages != row.messages || c.unseen != row.unseen || c.deleted != row.deleted || c.size != row.size)
        problem(mid + ": counters differ from its messages");
      if (c.max_uid >= row.uidnext) problem(mid + ": UIDNEXT not above every UID");
      if (c.max_modseq > row.highest_modseq) problem(mid + ": HIGHESTMODSEQ below a message MODSEQ");
      if (row.uidvalidity == 0) problem(mid + ": UIDVALIDITY 0");
    }
    for (const auto& [id, row] : users)
      if (row.used_bytes != used[id])
        problem("user " + std::to_string(id) + ": used_bytes " + std::to_string(row.used_bytes) +
                " but messages total " + std::to_string(used[id]));

    // blobs: header, content and summary present, sealed values open, refcount exact
    std::set<uint64_t> blobs;
    TSUBAME_TRY(t.scan(Db::kBlobs, "", "", [&](std::string_view k, std::string_view v) {
      if (k.size() == 9 && k[8] == '\x01') {
        std::string_view hv;
        if (!t.get(Db::kBlobs, k.substr(0, 8), &hv).is_ok())
          problem("blob " + std::to_string(get_be64(k.data())) + ": content without header");
        return true;
      }
      if (k.size() != 8) {
        problem("blobs: malformed key");
        return true;
      }
      uint64_t id = get_be64(k.data());
      std::string bid = "blob " + std::to_string(id);
      blobs.insert(id);
      auto h = rec::decode_blob(v);
      if (!h.is_ok()) {
        problem(bid + ": malformed header");
        return true;
      }
      if (h->refcount != refs[id])
        problem(bid + ": refcount " + std::to_string(h->refcount) + " but " + std::to_string(refs[id]) +
                " references");
      std::string ck = rec::blob_content_key(id);
      std::string_view cv, sv;
      if (!t.get(Db::kBlobs, ck, &cv).is_ok()) {
        problem(bid + ": content missing");
      } else {
        auto plain = ops.open(h->key_domain, cv, Db::kBlobs, ck);
        if (!plain.is_ok()) problem(bid + ": content does not open");
        else if (plain->size() != h->size) problem(bid + ": size differs from header");
      }
      if (!t.get(Db::kSummaries, be64(id), &sv).is_ok()) {
        problem(bid + ": summary missing");
      } else {
        auto plain = ops.open(h->key_domain, sv, Db::kSummaries, be64(id));
        if (!plain.is_ok() || !decode_summary(*plain).is_ok()) problem(bid + ": summary does not open");
      }
      return true;
    }));
    rep.blobs = blobs.size();
    for (const auto& [id, n] : refs)
      if (!blobs.count(id)) problem("blob " + std::to_string(id) + ": referenced " + std::to_string(n) + " times but missing");
    TSUBAME_TRY(t.scan(Db::kSummaries, "", "", [&](std::string_view k, std::string_view) {
      if (k.size() != 8 || !blobs.count(get_be64(k.data()))) problem("summaries: entry without blob");
      return true;
    }));
    return Status::ok();
  });
  if (!s.is_ok()) return s;
  return rep;
}

}  // namespace tsubame::store
