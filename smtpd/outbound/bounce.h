// smtpd/outbound/bounce.h: RFC 3464 delivery status notifications (bounces).
//
//   runner: recipients failed / expired / relayed ─▶ wants_dsn(NOTIFY, action)?
//        ─▶ build_dsn() ─▶ multipart/report; report-type=delivery-status (RFC 6522)
//              1. text/plain: what happened, for people
//              2. message/delivery-status: Reporting-MTA, Arrival-Date, then per recipient
//                 Final-Recipient, Action, Status, Remote-MTA, Diagnostic-Code ...
//              3. message/rfc822 (RET=FULL, or no RET and small) or text/rfc822-headers
//        ─▶ sent with the null reverse-path "<>" to the original envelope sender
//           (runner.cc: local sender: store deliver() to INBOX; remote: outbound queue)
//
// Never a bounce for a bounce: a message with the null sender gets no DSN (RFC 3464 §1,
// RFC 5321 §6.1); the runner checks should_bounce() first. Pure functions; cannot fail.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace tsubame::smtp::outbound {

// RFC 3464 §2.3.3 Action values we produce.
inline constexpr std::string_view kActionFailed = "failed";
inline constexpr std::string_view kActionDelayed = "delayed";
inline constexpr std::string_view kActionRelayed = "relayed";
inline constexpr std::string_view kActionDelivered = "delivered";

struct DsnRecipient {
  std::string address;            // Final-Recipient (rfc822)
  std::string orcpt;              // RFC 3461 ORCPT as queued ("rfc822;xtext"), "" none
  std::string action;             // one of the kAction* values
  std::string status;             // RFC 3463 "5.1.1"
  std::string remote_mta;         // host name of the MX that answered, "" none
  std::string diagnostic_type = "smtp";  // RFC 3464 §2.3.6 ("X-Tsubame" for local errors)
  std::string diagnostic;         // the SMTP reply ("550 5.1.1 no such user"), "" none
  int64_t last_attempt_ms = 0;    // 0: no Last-Attempt-Date
};

struct DsnInput {
  std::string reporting_mta;      // general.hostname
  std::string queue_id;           // the original's queue id (named in the human part)
  std::string envid;              // RFC 3461 ENVID (xtext, as received), "" none
  std::string ret;                // RFC 3461 RET: "FULL", "HDRS", "" (we choose)
  std::string original_sender;    // the DSN goes To: this address
  int64_t arrival_ms = 0;         // when the original was queued
  int64_t now_ms = 0;             // Date:
  std::vector<DsnRecipient> recipients;
  std::string_view original;      // the original message (CRLF lines)
};

// RFC 3461 §4.1: whether a recipient's NOTIFY asks for a DSN with this action.
// "" (no NOTIFY) means FAILURE (and DELAY, which we do not send); NEVER means none.
bool wants_dsn(std::string_view notify, std::string_view action);
// A bounce goes only to a real sender: never to the null reverse-path.
inline bool should_bounce(std::string_view sender) { return !sender.empty(); }

// RFC 3461 §4 xtext decoding ("+2B" -> "+"); invalid escapes are kept as they are.
std::string xtext_decode(std::string_view xtext);
// RFC 5322 §3.3 date-time in UTC: "Sun, 22 Nov 2026 04:50:00 +0000".
std::string rfc5322_date(int64_t ms);
// RFC 3463 status for a reply: its enhanced code if it has one of the right class, else
// "5.0.0" / "4.0.0" (RFC 3463 §3.1 "other undefined status").
std::string status_for(int code, std::string_view enhanced, bool permanent);

// The whole DSN message, CRLF line ends, ready to be delivered or queued. RET=HDRS, or an
// original over kMaxBounceOriginal, returns only the original's header (text/rfc822-headers).
std::string build_dsn(const DsnInput& in);

}  // namespace tsubame::smtp::outbound
