// store/mail_records.cc: encoders and strict decoders of the mail records (mail_records.h).
// A decoder that meets a short, overlong or unknown-version record returns Corruption.
#include "store/mail_records.h"

namespace tsubame::store::rec {
namespace {

Status bad(const char* what) { return Status::corruption(std::string("malformed ") + what + " record"); }

}  // namespace

std::string encode(const DomainRow& r) {
  ByteWriter w;
  w.u8(kVersion).str(r.name).i64(r.created).str(r.wrapped_key);
  return w.take();
}

Result<DomainRow> decode_domain(std::string_view v) {
  ByteReader r(v);
  DomainRow d;
  uint8_t ver;
  if (!r.u8(ver) || ver != kVersion || !r.str(d.name) || !r.i64(d.created) || !r.str(d.wrapped_key) ||
      !r.done())
    return bad("domain");
  return d;
}

std::string encode(const UserRow& u) {
  ByteWriter w;
  w.u8(kVersion).u32(u.domain_id).u8(u.disabled ? 1 : 0).u64(u.quota_bytes).u64(u.used_bytes)
      .i64(u.created).i64(u.deleted_at).str(u.sealed);
  return w.take();
}

Result<UserRow> decode_user(std::string_view v) {
  ByteReader r(v);
  UserRow u;
  uint8_t ver, dis;
  if (!r.u8(ver) || ver != kVersion || !r.u32(u.domain_id) || !r.u8(dis) || dis > 1 ||
      !r.u64(u.quota_bytes) || !r.u64(u.used_bytes) || !r.i64(u.created) || !r.i64(u.deleted_at) ||
      !r.str(u.sealed) || !r.done())
    return bad("user");
  u.disabled = dis == 1;
  return u;
}

std::string encode(const UserPersonal& p) {
  ByteWriter w;
  w.u8(kVersion).str(p.address).str(p.password_hash);
  return w.take();
}

Result<UserPersonal> decode_personal(std::string_view v) {
  ByteReader r(v);
  UserPersonal p;
  uint8_t ver;
  if (!r.u8(ver) || ver != kVersion || !r.str(p.address) || !r.str(p.password_hash) || !r.done())
    return bad("user personal");
  return p;
}

std::string encode(const MailboxRow& m) {
  ByteWriter w;
  w.u8(kVersion).u64(m.user_id).u8(uint8_t(m.special)).u8(m.subscribed ? 1 : 0).u32(m.uidvalidity)
      .u32(m.uidnext).u64(m.highest_modseq).u32(m.messages).u32(m.unseen).u32(m.deleted).u64(m.size)
      .str(m.sealed_name);
  return w.take();
}

Result<MailboxRow> decode_mailbox(std::string_view v) {
  ByteReader r(v);
  MailboxRow m;
  uint8_t ver, special, sub;
  if (!r.u8(ver) || ver != kVersion || !r.u64(m.user_id) || !r.u8(special) ||
      special > uint8_t(SpecialUse::kFlagged) || !r.u8(sub) || sub > 1 || !r.u32(m.uidvalidity) ||
      !r.u32(m.uidnext) || !r.u64(m.highest_modseq) || !r.u32(m.messages) || !r.u32(m.unseen) ||
      !r.u32(m.deleted) || !r.u64(m.size) || !r.str(m.sealed_name) || !r.done())
    return bad("mailbox");
  m.special = SpecialUse(special);
  m.subscribed = sub == 1;
  return m;
}

std::string encode_message(const Message& m) {
  ByteWriter w;
  w.u8(kVersion).u64(m.modseq).u32(m.flags).u8(uint8_t(m.reported)).i64(m.internal_date).u64(m.size)
      .u64(m.blob_id).varint(m.keywords.size());
  for (const auto& k : m.keywords) w.str(k);
  return w.take();
}

Result<Message> decode_message(std::string_view key, std::string_view v) {
  if (key.size() != 12) return bad("message key");
  Message m;
  m.mailbox_id = get_be64(key.data());
  m.uid = get_be32(key.data() + 8);
  ByteReader r(v);
  uint8_t ver, reported;
  uint64_t n;
  if (!r.u8(ver) || ver != kVersion || !r.u64(m.modseq) || !r.u32(m.flags) || !r.u8(reported) ||
      reported > uint8_t(Reported::kHam) || !r.i64(m.internal_date) || !r.u64(m.size) ||
      !r.u64(m.blob_id) || !r.varint(n) || n > kMaxKeywordsPerMessage)
    return bad("message");
  m.reported = Reported(reported);
  m.keywords.resize(n);
  for (auto& k : m.keywords)
    if (!r.str(k)) return bad("message");
  if (!r.done()) return bad("message");
  return m;
}

std::string encode(const BlobHeader& h) {
  ByteWriter w;
  w.u8(kVersion).u32(h.refcount).u32(h.key_domain).u64(h.size);
  return w.take();
}

Result<BlobHeader> decode_blob(std::string_view v) {
  ByteReader r(v);
  BlobHeader h;
  uint8_t ver;
  if (!r.u8(ver) || ver != kVersion || !r.u32(h.refcount) || !r.u32(h.key_domain) || !r.u64(h.size) ||
      !r.done())
    return bad("blob header");
  return h;
}

}  // namespace tsubame::store::rec
