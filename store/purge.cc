// store/purge.cc: user deletion and purge (see purge.h).
//   Db::kPurges: be64 user id -> u8 version | i64 requested_ms | i64 due_ms | str requested_by
#include "store/purge.h"

#include <algorithm>

#include "common/bytes.h"
#include "store/audit.h"
#include "store/env.h"
#include "store/keyring.h"
#include "store/store.h"
#include "store/trace.h"

namespace tsubame::store {
namespace {

constexpr uint8_t kPurgeVersion = 1;

std::string encode_entry(const PurgeEntry& e) {
  ByteWriter w;
  w.u8(kPurgeVersion).i64(e.requested_ms).i64(e.due_ms).str(e.requested_by);
  return w.take();
}

Result<PurgeEntry> decode_entry(std::string_view k, std::string_view v) {
  PurgeEntry e;
  ByteReader r(v);
  uint8_t ver = 0;
  if (k.size() != 8 || !r.u8(ver) || ver != kPurgeVersion || !r.i64(e.requested_ms) || !r.i64(e.due_ms) ||
      !r.str(e.requested_by) || !r.done())
    return Status::corruption("purge: malformed entry");
  e.user_id = get_be64(k.data());
  return e;
}

// The same key trace.cc writes (store/trace.h documents both layouts).
std::string trace_key(int64_t time_ms, uint64_t seq, std::string_view qid) {
  std::string k;
  put_be64(k, uint64_t(time_ms));
  put_be64(k, seq);
  k.append(qid);
  return k;
}
std::string trace_id_key(int64_t time_ms, uint64_t seq, std::string_view qid) {
  std::string k(1, char(qid.size()));
  k.append(qid);
  put_be64(k, uint64_t(time_ms));
  put_be64(k, seq);
  return k;
}

size_t depth(const std::string& name) { return size_t(std::count(name.begin(), name.end(), '/')); }

}  // namespace

Status schedule_user_purge(Store& store, uint64_t user_id, int64_t due_ms, std::string_view actor) {
  auto u = store.get_user(user_id);
  if (!u.is_ok()) return u.status();
  // Disable first: if recording the purge then fails, the user is at least locked out.
  TSUBAME_TRY(store.set_disabled(user_id, true));
  PurgeEntry e{user_id, unix_now_ms(), due_ms, std::string(actor)};
  return store.env().write([&](Txn& t) -> Status {
    Status s = t.insert(Db::kPurges, be64(user_id), encode_entry(e));
    if (s.code() == Code::kExists) return Status::exists("user " + u->address + " is already scheduled for purge");
    TSUBAME_TRY(s);
    AuditEntry a;
    a.actor = std::string(actor);
    a.action = "user.delete";
    a.target = u->address;
    a.details = "disabled; purge due_ms=" + std::to_string(due_ms);
    return AuditLog(store).append(t, a).status();
  });
}

Status cancel_user_purge(Store& store, uint64_t user_id, std::string_view actor) {
  auto u = store.get_user(user_id);
  if (!u.is_ok()) return u.status();
  return store.env().write([&](Txn& t) -> Status {
    Status s = t.del(Db::kPurges, be64(user_id));
    if (s.code() == Code::kNotFound) return Status::not_found("no purge scheduled for " + u->address);
    TSUBAME_TRY(s);
    AuditEntry a;
    a.actor = std::string(actor);
    a.action = "user.undelete";
    a.target = u->address;
    return AuditLog(store).append(t, a).status();
  });
}

Result<std::vector<PurgeEntry>> list_purges(Store& store) {
  std::vector<PurgeEntry> out;
  Status bad;
  Status s = store.env().read([&](const Txn& t) {
    return t.scan(Db::kPurges, "", "", [&](std::string_view k, std::string_view v) {
      auto e = decode_entry(k, v);
      if (!e.is_ok()) {
        bad = e.status();
        return false;
      }
      out.push_back(*e);
      return true;
    });
  });
  if (!s.is_ok()) return s;
  if (!bad.is_ok()) return bad;
  return out;
}

Result<PurgeOutcome> purge_user(Store& store, uint64_t user_id, std::string_view actor) {
  auto u = store.get_user(user_id);
  if (!u.is_ok()) return u.status();
  PurgeOutcome out;
  out.user_id = user_id;
  out.address = u->address;
  if (!u->disabled) TSUBAME_TRY(store.set_disabled(user_id, true));

  // 1, 2: mail, through the public API so blob refcounts and counters stay right.
  auto boxes = store.list_mailboxes(user_id);
  if (!boxes.is_ok()) return boxes.status();
  std::sort(boxes->begin(), boxes->end(),
            [](const Mailbox& a, const Mailbox& b) { return depth(a.name) > depth(b.name); });
  uint64_t inbox_id = 0;
  for (const auto& m : *boxes) {
    out.messages += m.messages;
    if (iequals(m.name, "INBOX")) {
      inbox_id = m.id;
      continue;
    }
    TSUBAME_TRY(store.delete_mailbox(user_id, m.name));
    out.mailboxes++;
  }
  if (inbox_id) {
    auto msgs = store.list_messages(inbox_id);
    if (!msgs.is_ok()) return msgs.status();
    std::vector<uint32_t> uids;
    for (const auto& m : *msgs) uids.push_back(m.uid);
    for (size_t i = 0; i < uids.size(); i += 1000) {
      std::vector<uint32_t> chunk(uids.begin() + long(i), uids.begin() + long(std::min(uids.size(), i + 1000)));
      auto f = store.store_flags(inbox_id, chunk, FlagMode::kAdd, kDeleted, {});
      if (!f.is_ok()) return f.status();
    }
    auto x = store.expunge(inbox_id);
    if (!x.is_ok()) return x.status();
    out.mailboxes++;
  }

  // 4: trace records naming the user (collected first; deleted in the final transaction).
  std::vector<TraceRecord> traces;
  for (int pass = 0; pass < 2; pass++) {
    TraceQuery q;
    (pass == 0 ? q.sender : q.recipient) = u->address;
    q.limit = SIZE_MAX;
    auto r = Trace(store).query(q);
    if (!r.is_ok()) return r.status();
    for (auto& t : *r) {
      bool dup = std::any_of(traces.begin(), traces.end(), [&](const TraceRecord& o) { return o.seq == t.seq; });
      if (!dup) traces.push_back(std::move(t));
    }
  }

  // 3, 4, 5, 6 in one transaction with the audit record.
  Status s = store.env().write([&](Txn& t) -> Status {
    out.logins = 0;
    auto l = t.del_prefix(Db::kLogins, be64(user_id));
    if (!l.is_ok()) return l.status();
    out.logins = *l;
    Status d = t.del(Db::kLockout, be64(user_id));
    if (!d.is_ok() && d.code() != Code::kNotFound) return d;
    out.trace_records = 0;
    for (const auto& r : traces) {
      Status a = t.del(Db::kTrace, trace_key(r.time_ms, r.seq, r.queue_id));
      if (a.code() == Code::kNotFound) continue;
      TSUBAME_TRY(a);
      Status b = t.del(Db::kTraceIds, trace_id_key(r.time_ms, r.seq, r.queue_id));
      if (!b.is_ok() && b.code() != Code::kNotFound) return b;
      out.trace_records++;
    }
    if (inbox_id) {
      TSUBAME_TRY(t.del_prefix(Db::kModseq, be64(inbox_id)).status());
      TSUBAME_TRY(t.del_prefix(Db::kExpunged, be64(inbox_id)).status());
      Status m = t.del(Db::kMailboxes, be64(inbox_id));
      if (!m.is_ok() && m.code() != Code::kNotFound) return m;
    }
    TSUBAME_TRY(t.del_prefix(Db::kMailboxIndex, be64(user_id)).status());
    TSUBAME_TRY(t.del_prefix(Db::kSubscriptions, be64(user_id)).status());
    Status ui = t.del(Db::kUserIndex, store.keys().index("user", to_lower(u->address)));
    if (!ui.is_ok() && ui.code() != Code::kNotFound) return ui;
    TSUBAME_TRY(t.del(Db::kUsers, be64(user_id)));
    Status p = t.del(Db::kPurges, be64(user_id));
    if (!p.is_ok() && p.code() != Code::kNotFound) return p;
    AuditEntry a;
    a.actor = std::string(actor);
    a.action = "user.purge";
    a.target = u->address;
    a.details = "mailboxes=" + std::to_string(out.mailboxes) + " messages=" + std::to_string(out.messages) +
                " logins=" + std::to_string(out.logins) + " trace=" + std::to_string(out.trace_records);
    return AuditLog(store).append(t, a).status();
  });
  if (!s.is_ok()) return s;
  return out;
}

Result<std::vector<PurgeOutcome>> run_due_purges(Store& store, int64_t now_ms, std::string_view actor) {
  auto entries = list_purges(store);
  if (!entries.is_ok()) return entries.status();
  std::vector<PurgeOutcome> out;
  for (const auto& e : *entries) {
    if (e.due_ms > now_ms) continue;
    auto r = purge_user(store, e.user_id, actor);
    if (!r.is_ok()) return r.status();
    out.push_back(std::move(*r));
  }
  return out;
}

}  // namespace tsubame::store
