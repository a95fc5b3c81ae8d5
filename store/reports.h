// store/reports.h: user spam reports and the quarantine copy an analyst reviews.
//
//   user "Report spam" / "Not spam" (web API, or MOVE to/from Junk)
//        │ add_report(): a COPY of the message (sealed) + who, where, why, when; status open
//        ▼                (the copy survives the user's expunge; nothing else reaches analysts)
//   analyst tool ── list() metadata only ── view(id, analyst): content, audit "report.view"
//        │
//        ▼ decide(id, confirmed | false-report, analyst): audit "report.decide"
//   filter learns from confirmed reports (filter/, via store/tokens.h)
//        ▼
//   purge_older_than(retention): reports and their copies are deleted, audit "report.purge"
//
// Privacy (architecture, "Privacy by construction"): only reported messages reach this
// quarantine; content is read only through view(), which writes the audit record in the same
// transaction that reads the content. Reason, decider and content are sealed (system key).
// Thread-safety: any thread. Failure: errors are Status values; a failed call changes nothing.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "common/result.h"

namespace tsubame::store {

class Store;
class Txn;

inline constexpr size_t kMaxReportReason = 4096;
inline constexpr uint64_t kMaxReportMessage = 64ull << 20;

enum class ReportKind : uint8_t { kSpam = 1, kNotSpam = 2 };
// kConfirmed: the analyst agrees with the reporter (spam confirmed as spam, or ham as ham).
enum class ReportStatus : uint8_t { kOpen = 1, kConfirmed = 2, kFalseReport = 3 };
const char* report_kind_name(ReportKind k);      // "spam", "not-spam"
const char* report_status_name(ReportStatus s);  // "open", "confirmed", "false-report"

struct Report {
  uint64_t id = 0;               // assigned by add_report
  uint64_t reporter = 0;         // user id
  uint64_t mailbox_id = 0;
  uint32_t uid = 0;
  ReportKind kind = ReportKind::kSpam;
  std::string reason;
  int64_t time_ms = 0;           // 0 = now
  ReportStatus status = ReportStatus::kOpen;
  std::string decided_by;
  int64_t decided_at_ms = 0;
  uint64_t size = 0;             // content bytes
  std::string content;           // add_report: the copy to keep; read back only by view()
};

struct ReportFilter {
  std::optional<ReportStatus> status;
  std::optional<ReportKind> kind;
  uint64_t reporter = 0;         // 0 = any
  size_t limit = 1000;           // newest first
};

class Reports {
 public:
  explicit Reports(Store& store) : store_(store) {}

  Result<uint64_t> add_report(const Report& report);
  // Inside the caller's transaction (e.g. with the MOVE to Junk that triggered it).
  Result<uint64_t> add_report(Txn& txn, const Report& report);

  // Metadata only (content empty).
  Result<Report> get(uint64_t id) const;
  Result<std::vector<Report>> list(const ReportFilter& filter = {}) const;
  // Metadata and content, for an analyst; audit-logged ("report.view").
  Result<Report> view(uint64_t id, std::string_view analyst);
  // Sets the decision (kConfirmed or kFalseReport; a decision may be revised). Audit-logged.
  Status decide(uint64_t id, ReportStatus status, std::string_view analyst);
  // Deletes reports filed before cutoff; audit-logged with the count. Returns the count.
  Result<uint64_t> purge_older_than(int64_t cutoff_ms, std::string_view actor);

 private:
  Store& store_;
};

}  // namespace tsubame::store
