// store/reports.cc: spam reports and quarantine copies in Db::kReports (see store/reports.h).
//
// Layout: kReports be64 id -> u8 version | u64 reporter | u64 mailbox | u32 uid | u8 kind |
//                             u8 status | i64 time_ms | i64 decided_at_ms | u64 size |
//                             str sealed(reason, decided_by) | str sealed(content)
// ids: meta counter "report". Sealed with the system key, AAD location_aad("reports", key)
// and location_aad("reports.content", key).
// Failure: a malformed record is Corruption; the call changes nothing.
#include "store/reports.h"

#include "common/bytes.h"
#include "common/crypto.h"
#include "store/audit.h"
#include "store/env.h"
#include "store/keyring.h"
#include "store/store.h"

namespace tsubame::store {
namespace {

constexpr uint8_t kReportVersion = 1;

struct Raw {
  Report r;
  std::string_view sealed_meta, sealed_content;
};

bool decode_raw(std::string_view v, Raw* raw) {
  ByteReader in(v);
  uint8_t version, kind, status;
  Report& r = raw->r;
  if (!in.u8(version) || version != kReportVersion || !in.u64(r.reporter) ||
      !in.u64(r.mailbox_id) || !in.u32(r.uid) || !in.u8(kind) || !in.u8(status) ||
      !in.i64(r.time_ms) || !in.i64(r.decided_at_ms) || !in.u64(r.size) ||
      !in.str_view(raw->sealed_meta) || !in.str_view(raw->sealed_content) || !in.done())
    return false;
  if (kind < 1 || kind > 2 || status < 1 || status > 3) return false;
  r.kind = ReportKind(kind);
  r.status = ReportStatus(status);
  return true;
}

std::string encode(const Report& r, std::string_view sealed_meta, std::string_view sealed_content) {
  return ByteWriter()
      .u8(kReportVersion)
      .u64(r.reporter)
      .u64(r.mailbox_id)
      .u32(r.uid)
      .u8(uint8_t(r.kind))
      .u8(uint8_t(r.status))
      .i64(r.time_ms)
      .i64(r.decided_at_ms)
      .u64(r.size)
      .str(sealed_meta)
      .str(sealed_content)
      .take();
}

std::string seal_meta(const Keyring& keys, const Report& r) {
  return crypto::seal(keys.system_key(), ByteWriter().str(r.reason).str(r.decided_by).take(),
                      location_aad("reports", be64(r.id)));
}

// Decodes the record at `id`; opens the content only when asked.
Result<Report> decode(const Keyring& keys, uint64_t id, std::string_view v, bool with_content) {
  Raw raw;
  auto bad = [&] { return Status::corruption("report " + std::to_string(id) + " is malformed"); };
  if (!decode_raw(v, &raw)) return bad();
  Report r = std::move(raw.r);
  r.id = id;
  auto meta = crypto::open(keys.system_key(), raw.sealed_meta, location_aad("reports", be64(id)));
  if (!meta.is_ok()) return Status::corruption("report " + std::to_string(id) + " does not open");
  ByteReader in(*meta);
  if (!in.str(r.reason) || !in.str(r.decided_by) || !in.done()) return bad();
  if (with_content) {
    auto c = crypto::open(keys.system_key(), raw.sealed_content,
                          location_aad("reports.content", be64(id)));
    if (!c.is_ok())
      return Status::corruption("report " + std::to_string(id) + " content does not open");
    r.content = std::move(c.value());
  }
  return r;
}

Result<Report> load(const Txn& txn, const Keyring& keys, uint64_t id, bool with_content,
                    std::string* sealed_content = nullptr) {
  std::string_view v;
  Status g = txn.get(Db::kReports, be64(id), &v);
  if (g.code() == Code::kNotFound) return Status::not_found("report " + std::to_string(id));
  TSUBAME_TRY(g);
  if (sealed_content) {
    Raw raw;
    if (!decode_raw(v, &raw)) return Status::corruption("report " + std::to_string(id) + " is malformed");
    sealed_content->assign(raw.sealed_content);
  }
  return decode(keys, id, v, with_content);
}

}  // namespace

const char* report_kind_name(ReportKind k) { return k == ReportKind::kSpam ? "spam" : "not-spam"; }

const char* report_status_name(ReportStatus s) {
  switch (s) {
    case ReportStatus::kOpen: return "open";
    case ReportStatus::kConfirmed: return "confirmed";
    case ReportStatus::kFalseReport: return "false-report";
  }
  return "unknown";
}

Result<uint64_t> Reports::add_report(Txn& txn, const Report& in) {
  if (in.reason.size() > kMaxReportReason) return Status::invalid("report: reason too long");
  if (in.content.size() > kMaxReportMessage) return Status::full("report: message too large");
  if (in.content.empty()) return Status::invalid("report: no message copy");
  if (in.reporter == 0) return Status::invalid("report: no reporter");
  if (in.kind != ReportKind::kSpam && in.kind != ReportKind::kNotSpam)
    return Status::invalid("report: bad kind");
  auto id = txn.next_id("report");
  if (!id.is_ok()) return id.status();
  Report r = in;
  r.id = *id;
  r.time_ms = in.time_ms ? in.time_ms : unix_now_ms();
  r.status = ReportStatus::kOpen;
  r.decided_by.clear();
  r.decided_at_ms = 0;
  r.size = in.content.size();
  const Keyring& keys = store_.keys();
  std::string content =
      crypto::seal(keys.system_key(), in.content, location_aad("reports.content", be64(r.id)));
  TSUBAME_TRY(txn.insert(Db::kReports, be64(r.id), encode(r, seal_meta(keys, r), content)));
  return r.id;
}

Result<uint64_t> Reports::add_report(const Report& report) {
  uint64_t id = 0;
  Status s = store_.env().write([&](Txn& txn) -> Status {
    auto r = add_report(txn, report);
    if (!r.is_ok()) return r.status();
    id = *r;
    return Status::ok();
  });
  if (!s.is_ok()) return s;
  return id;
}

Result<Report> Reports::get(uint64_t id) const {
  Report out;
  Status s = store_.env().read([&](const Txn& txn) -> Status {
    auto r = load(txn, store_.keys(), id, false);
    if (!r.is_ok()) return r.status();
    out = std::move(r.value());
    return Status::ok();
  });
  if (!s.is_ok()) return s;
  return out;
}

Result<std::vector<Report>> Reports::list(const ReportFilter& f) const {
  std::vector<Report> out;
  const Keyring& keys = store_.keys();
  Status s = store_.env().read([&](const Txn& txn) -> Status {
    Status inner;
    TSUBAME_TRY(txn.scan_back(Db::kReports, "", std::string(8, '\xff'),
                              [&](std::string_view k, std::string_view v) {
      if (out.size() >= f.limit) return false;
      if (k.size() != 8) {
        inner = Status::corruption("report key is malformed");
        return false;
      }
      Raw raw;
      if (!decode_raw(v, &raw)) {
        inner = Status::corruption("report is malformed");
        return false;
      }
      if (f.status && raw.r.status != *f.status) return true;
      if (f.kind && raw.r.kind != *f.kind) return true;
      if (f.reporter && raw.r.reporter != f.reporter) return true;
      auto r = decode(keys, get_be64(k.data()), v, false);
      if (!r.is_ok()) {
        inner = r.status();
        return false;
      }
      out.push_back(std::move(r.value()));
      return true;
    }));
    return inner;
  });
  if (!s.is_ok()) return s;
  return out;
}

Result<Report> Reports::view(uint64_t id, std::string_view analyst) {
  if (analyst.empty()) return Status::invalid("report: viewing needs an analyst name");
  Report out;
  Status s = store_.env().write([&](Txn& txn) -> Status {
    auto r = load(txn, store_.keys(), id, true);
    if (!r.is_ok()) return r.status();
    out = std::move(r.value());
    return AuditLog(store_).append(txn, analyst, "report.view", "report:" + std::to_string(id),
                 "reporter=" + std::to_string(out.reporter) + " kind=" + report_kind_name(out.kind));
  });
  if (!s.is_ok()) return s;
  return out;
}

Status Reports::decide(uint64_t id, ReportStatus status, std::string_view analyst) {
  if (status != ReportStatus::kConfirmed && status != ReportStatus::kFalseReport)
    return Status::invalid("report: a decision is confirmed or false-report");
  if (analyst.empty()) return Status::invalid("report: a decision needs an analyst name");
  if (analyst.size() > kMaxReportReason) return Status::invalid("report: analyst name too long");
  const Keyring& keys = store_.keys();
  return store_.env().write([&](Txn& txn) -> Status {
    std::string content;
    auto r = load(txn, keys, id, false, &content);
    if (!r.is_ok()) return r.status();
    Report rep = std::move(r.value());
    std::string details = std::string("from=") + report_status_name(rep.status) +
                          " to=" + report_status_name(status) + " kind=" + report_kind_name(rep.kind);
    rep.status = status;
    rep.decided_by.assign(analyst);
    rep.decided_at_ms = unix_now_ms();
    TSUBAME_TRY(txn.put(Db::kReports, be64(id), encode(rep, seal_meta(keys, rep), content)));
    return AuditLog(store_).append(txn, analyst, "report.decide", "report:" + std::to_string(id), details);
  });
}

Result<uint64_t> Reports::purge_older_than(int64_t cutoff_ms, std::string_view actor) {
  uint64_t n = 0;
  Status s = store_.env().write([&](Txn& txn) -> Status {
    n = 0;
    std::vector<std::string> victims;
    Status inner;
    TSUBAME_TRY(txn.scan(Db::kReports, "", "", [&](std::string_view k, std::string_view v) {
      Raw raw;
      if (!decode_raw(v, &raw)) {
        inner = Status::corruption("report is malformed");
        return false;
      }
      if (raw.r.time_ms < cutoff_ms) victims.emplace_back(k);
      return true;
    }));
    TSUBAME_TRY(inner);
    for (auto& k : victims) TSUBAME_TRY(txn.del(Db::kReports, k));
    n = victims.size();
    if (n == 0) return Status::ok();
    return AuditLog(store_).append(txn, actor.empty() ? "system" : actor, "report.purge", "reports",
                 "count=" + std::to_string(n) + " cutoff_ms=" + std::to_string(cutoff_ms));
  });
  if (!s.is_ok()) return s;
  return n;
}

}  // namespace tsubame::store
