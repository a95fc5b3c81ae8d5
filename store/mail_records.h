// store/mail_records.h: record layouts and keys of the mail databases. INTERNAL to store/.
//
// Every record starts with a format version byte; decoders never read past their input and
// return Corruption for anything malformed (common/bytes.h ByteReader). store/README.md
// documents each layout; keep the two in step.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "common/bytes.h"
#include "common/result.h"
#include "store/store.h"

namespace tsubame::store::rec {

inline constexpr uint32_t kSchemaVersion = 1;
inline constexpr uint8_t kVersion = 1;

// kMeta keys.
inline constexpr std::string_view kMetaSchema = "schema";          // be32 version
inline constexpr std::string_view kMetaKeyCheck = "key_check";     // Keyring::make_check()
inline constexpr std::string_view kMetaUidvalidity = "uidvalidity";  // be32 last issued
// be64: the last imapd flag-journal record applied (Store::write_batch journal_seq).
inline constexpr std::string_view kMetaFlagJournal = "flag_journal_seq";

// ---- keys ----
inline std::string key64(uint64_t a) { return be64(a); }
inline std::string key64_32(uint64_t a, uint32_t b) {
  std::string k = be64(a);
  put_be32(k, b);
  return k;
}
inline std::string key64_64(uint64_t a, uint64_t b) {
  std::string k = be64(a);
  put_be64(k, b);
  return k;
}
// kBlobs holds two keys per blob: be64 id -> header, be64 id | 0x01 -> sealed content.
inline std::string blob_content_key(uint64_t id) {
  std::string k = be64(id);
  k.push_back('\x01');
  return k;
}

// ---- kDomains: be32 id ----
struct DomainRow {
  std::string name;
  int64_t created = 0;
  std::string wrapped_key;  // Keyring::new_wrapped_domain_key
};
std::string encode(const DomainRow& r);
Result<DomainRow> decode_domain(std::string_view v);

// ---- kUsers: be64 id ---- (address and password hash sealed with the domain key)
struct UserRow {
  uint32_t domain_id = 0;
  bool disabled = false;
  uint64_t quota_bytes = 0;
  uint64_t used_bytes = 0;
  int64_t created = 0;
  int64_t deleted_at = 0;
  std::string sealed;  // seal(domain key, personal, location_aad("users", key))
};
struct UserPersonal {
  std::string address;
  std::string password_hash;
};
std::string encode(const UserRow& r);
Result<UserRow> decode_user(std::string_view v);
std::string encode(const UserPersonal& p);
Result<UserPersonal> decode_personal(std::string_view v);

// ---- kMailboxes: be64 mailbox id ---- (name sealed with the owner's domain key)
struct MailboxRow {
  uint64_t user_id = 0;
  SpecialUse special = SpecialUse::kNone;
  bool subscribed = false;
  uint32_t uidvalidity = 0;
  uint32_t uidnext = 1;
  uint64_t highest_modseq = 1;
  uint32_t messages = 0;
  uint32_t unseen = 0;
  uint32_t deleted = 0;
  uint64_t size = 0;
  std::string sealed_name;
};
std::string encode(const MailboxRow& r);
Result<MailboxRow> decode_mailbox(std::string_view v);

// ---- kMessages: be64 mailbox | be32 uid ----
std::string encode_message(const Message& m);
Result<Message> decode_message(std::string_view key, std::string_view v);

// ---- kBlobs header: be64 blob id ----
struct BlobHeader {
  uint32_t refcount = 0;
  uint32_t key_domain = 0;  // domain whose data key sealed content and summary; 0 = system key
  uint64_t size = 0;        // plaintext octets
};
std::string encode(const BlobHeader& h);
Result<BlobHeader> decode_blob(std::string_view v);

}  // namespace tsubame::store::rec
