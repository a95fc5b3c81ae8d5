#include "common/message_summary.h"

#include "common/bytes.h"

namespace tsubame {
namespace {

constexpr uint8_t kVersion = 1;
constexpr int kMaxDepth = 64;  // deeper than any limit the MIME parser allows

void put_opt(ByteWriter& w, const std::optional<std::string>& s) {
  w.u8(s ? 1 : 0);
  if (s) w.str(*s);
}
bool get_opt(ByteReader& r, std::optional<std::string>& s) {
  uint8_t has;
  if (!r.u8(has) || has > 1) return false;
  if (!has) {
    s.reset();
    return true;
  }
  std::string v;
  if (!r.str(v)) return false;
  s = std::move(v);
  return true;
}
void put_params(ByteWriter& w, const Params& p) {
  w.varint(p.size());
  for (auto& [k, v] : p) w.str(k).str(v);
}
bool get_params(ByteReader& r, Params& p) {
  uint64_t n;
  if (!r.varint(n) || n > r.remaining()) return false;
  p.resize(n);
  for (auto& [k, v] : p)
    if (!r.str(k) || !r.str(v)) return false;
  return true;
}
void put_addrs(ByteWriter& w, const std::vector<MailAddress>& v) {
  w.varint(v.size());
  for (auto& a : v) {
    put_opt(w, a.name);
    put_opt(w, a.adl);
    put_opt(w, a.mailbox);
    put_opt(w, a.host);
  }
}
bool get_addrs(ByteReader& r, std::vector<MailAddress>& v) {
  uint64_t n;
  if (!r.varint(n) || n > r.remaining()) return false;
  v.resize(n);
  for (auto& a : v)
    if (!get_opt(r, a.name) || !get_opt(r, a.adl) || !get_opt(r, a.mailbox) || !get_opt(r, a.host))
      return false;
  return true;
}
void put_env(ByteWriter& w, const Envelope& e) {
  put_opt(w, e.date);
  put_opt(w, e.subject);
  for (auto* v : {&e.from, &e.sender, &e.reply_to, &e.to, &e.cc, &e.bcc}) put_addrs(w, *v);
  put_opt(w, e.in_reply_to);
  put_opt(w, e.message_id);
}
bool get_env(ByteReader& r, Envelope& e) {
  if (!get_opt(r, e.date) || !get_opt(r, e.subject)) return false;
  for (auto* v : {&e.from, &e.sender, &e.reply_to, &e.to, &e.cc, &e.bcc})
    if (!get_addrs(r, *v)) return false;
  return get_opt(r, e.in_reply_to) && get_opt(r, e.message_id);
}
void put_part(ByteWriter& w, const BodyPart& p) {
  w.str(p.type).str(p.subtype);
  put_params(w, p.params);
  put_opt(w, p.id);
  put_opt(w, p.description);
  w.str(p.encoding);
  put_opt(w, p.md5);
  put_opt(w, p.disposition);
  put_params(w, p.disposition_params);
  w.varint(p.language.size());
  for (auto& l : p.language) w.str(l);
  put_opt(w, p.location);
  w.varint(p.size).varint(p.lines).varint(p.header_offset).varint(p.body_offset).varint(p.body_end);
  w.u8(p.envelope ? 1 : 0);
  if (p.envelope) put_env(w, *p.envelope);
  w.varint(p.children.size());
  for (auto& c : p.children) put_part(w, c);
}
bool get_part(ByteReader& r, BodyPart& p, int depth) {
  if (depth > kMaxDepth) return false;
  if (!r.str(p.type) || !r.str(p.subtype) || !get_params(r, p.params) || !get_opt(r, p.id) ||
      !get_opt(r, p.description) || !r.str(p.encoding) || !get_opt(r, p.md5) ||
      !get_opt(r, p.disposition) || !get_params(r, p.disposition_params))
    return false;
  uint64_t n;
  if (!r.varint(n) || n > r.remaining()) return false;
  p.language.resize(n);
  for (auto& l : p.language)
    if (!r.str(l)) return false;
  if (!get_opt(r, p.location) || !r.varint(p.size) || !r.varint(p.lines) ||
      !r.varint(p.header_offset) || !r.varint(p.body_offset) || !r.varint(p.body_end))
    return false;
  uint8_t has_env;
  if (!r.u8(has_env) || has_env > 1) return false;
  if (has_env) {
    p.envelope.emplace();
    if (!get_env(r, *p.envelope)) return false;
  }
  if (!r.varint(n) || n > r.remaining()) return false;
  p.children.resize(n);
  for (auto& c : p.children)
    if (!get_part(r, c, depth + 1)) return false;
  return true;
}

}  // namespace

bool BodyPart::is_multipart() const { return iequals(type, "multipart"); }
bool BodyPart::is_message() const {
  return iequals(type, "message") && (iequals(subtype, "rfc822") || iequals(subtype, "global"));
}

std::string encode_summary(const MessageSummary& s) {
  ByteWriter w;
  w.u8(kVersion);
  put_env(w, s.envelope);
  put_part(w, s.body);
  w.varint(s.size);
  w.varint(s.references.size());
  for (auto& ref : s.references) w.str(ref);
  w.i64(s.sent_date);
  w.u8(s.has_attachments ? 1 : 0);
  return w.take();
}

Result<MessageSummary> decode_summary(std::string_view bytes) {
  ByteReader r(bytes);
  MessageSummary s;
  uint8_t version, att;
  uint64_t n;
  if (!r.u8(version) || version != kVersion) return Status::corruption("summary: unknown version");
  if (!get_env(r, s.envelope) || !get_part(r, s.body, 0) || !r.varint(s.size) || !r.varint(n) ||
      n > r.remaining())
    return Status::corruption("summary: truncated or malformed");
  s.references.resize(n);
  for (auto& ref : s.references)
    if (!r.str(ref)) return Status::corruption("summary: truncated references");
  if (!r.i64(s.sent_date) || !r.u8(att) || !r.done())
    return Status::corruption("summary: truncated or trailing bytes");
  s.has_attachments = att != 0;
  return s;
}

}  // namespace tsubame
