// smtpd/outbound/bounce.cc: RFC 3464 DSN construction (see bounce.h). Pure; cannot fail.
#include "smtpd/outbound/bounce.h"

#include <cctype>
#include <cstdio>
#include <ctime>

#include "common/bytes.h"
#include "smtpd/outbound/limits.h"

namespace tsubame::smtp::outbound {
namespace {

bool has_token(std::string_view list, std::string_view token) {
  while (!list.empty()) {
    size_t comma = list.find(',');
    if (iequals(trim(list.substr(0, comma)), token)) return true;
    if (comma == std::string_view::npos) break;
    list.remove_prefix(comma + 1);
  }
  return false;
}

// The original's header block (up to and including the empty line, or all of it).
std::string_view header_of(std::string_view msg) {
  size_t end = msg.find("\r\n\r\n");
  if (end != std::string_view::npos) return msg.substr(0, end + 2);
  return msg;
}

// Text of a header field value must stay one line with printable ASCII (RFC 3464 §2.1.1).
std::string field_text(std::string_view s) {
  std::string out;
  for (char c : s) {
    unsigned char u = static_cast<unsigned char>(c);
    out += (u < 0x20 || u > 0x7E) ? ' ' : c;
  }
  return out;
}

}  // namespace

bool wants_dsn(std::string_view notify, std::string_view action) {
  if (has_token(notify, "NEVER")) return false;
  if (notify.empty()) return action == kActionFailed;
  if (action == kActionFailed) return has_token(notify, "FAILURE");
  if (action == kActionDelayed) return has_token(notify, "DELAY");
  // RFC 3461 §4.1: "relayed" and "delivered" answer a request for SUCCESS.
  if (action == kActionRelayed || action == kActionDelivered) return has_token(notify, "SUCCESS");
  return false;
}

std::string xtext_decode(std::string_view x) {
  std::string out;
  for (size_t i = 0; i < x.size(); ++i) {
    if (x[i] == '+' && i + 2 < x.size() && std::isxdigit(static_cast<unsigned char>(x[i + 1])) &&
        std::isxdigit(static_cast<unsigned char>(x[i + 2]))) {
      auto hexval = [](char c) { return std::isdigit(static_cast<unsigned char>(c)) ? c - '0' : (std::tolower(c) - 'a' + 10); };
      out += char(hexval(x[i + 1]) * 16 + hexval(x[i + 2]));
      i += 2;
    } else {
      out += x[i];
    }
  }
  return out;
}

std::string rfc5322_date(int64_t ms) {
  static const char* kDays[] = {"Sun", "Mon", "Tue", "Wed", "Thu", "Fri", "Sat"};
  static const char* kMonths[] = {"Jan", "Feb", "Mar", "Apr", "May", "Jun",
                                  "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"};
  std::time_t t = std::time_t(ms / 1000);
  std::tm tm{};
  gmtime_r(&t, &tm);
  char buf[64];
  std::snprintf(buf, sizeof buf, "%s, %02d %s %04d %02d:%02d:%02d +0000", kDays[tm.tm_wday], tm.tm_mday,
                kMonths[tm.tm_mon], tm.tm_year + 1900, tm.tm_hour, tm.tm_min, tm.tm_sec);
  return buf;
}

std::string status_for(int code, std::string_view enhanced, bool permanent) {
  char cls = permanent ? '5' : '4';
  if (!enhanced.empty() && enhanced[0] == cls) return std::string(enhanced);
  if (code >= 400 && code < 600 && (code / 100 == 5) == permanent && !enhanced.empty() && enhanced.size() > 1)
    return std::string(1, cls) + std::string(enhanced.substr(1));
  return permanent ? "5.0.0" : "4.0.0";
}

std::string build_dsn(const DsnInput& in) {
  const std::string boundary = "=_tsubame_dsn_" + to_hex(random_bytes(12));
  bool any_failed = false, any_relayed = false;
  for (auto& r : in.recipients) {
    any_failed = any_failed || r.action == kActionFailed;
    any_relayed = any_relayed || r.action == kActionRelayed || r.action == kActionDelivered;
  }
  const std::string mta = field_text(in.reporting_mta);
  std::string m;
  // RFC 3464 §2 / RFC 5321 §4.5.5: sent with the null reverse-path; RFC 3834 §5: automatic.
  m += "From: Mail Delivery System <MAILER-DAEMON@" + mta + ">\r\n";
  m += "To: <" + field_text(in.original_sender) + ">\r\n";
  m += std::string("Subject: ") +
       (any_failed ? "Undelivered Mail Returned to Sender" : "Delivery Status Notification (Relayed)") + "\r\n";
  m += "Date: " + rfc5322_date(in.now_ms) + "\r\n";
  m += "Message-ID: <" + field_text(in.queue_id) + "." + to_hex(random_bytes(6)) + "@" + mta + ">\r\n";
  m += "Auto-Submitted: auto-replied\r\n";
  m += "MIME-Version: 1.0\r\n";
  // RFC 6522 §3: multipart/report with report-type=delivery-status (RFC 3464 §2).
  m += "Content-Type: multipart/report; report-type=delivery-status;\r\n\tboundary=\"" + boundary + "\"\r\n";
  m += "\r\n";
  m += "This is a MIME-encapsulated message.\r\n\r\n";

  // 1. The human-readable part (RFC 6522 §3: first part).
  m += "--" + boundary + "\r\n";
  m += "Content-Type: text/plain; charset=us-ascii\r\n";
  m += "Content-Description: Notification\r\n\r\n";
  m += "This is the mail system at host " + mta + ".\r\n\r\n";
  if (any_failed)
    m += "Your message could not be delivered to one or more recipients. It is attached below.\r\n";
  else
    m += "Your message was relayed to a system that does not send delivery notifications.\r\n";
  m += "Queue id: " + field_text(in.queue_id) + "\r\n\r\n";
  for (auto& r : in.recipients) {
    m += "<" + field_text(r.address) + ">: " + r.action;
    if (!r.remote_mta.empty()) m += " (host " + field_text(r.remote_mta) + ")";
    if (!r.diagnostic.empty()) m += ": " + field_text(r.diagnostic);
    m += "\r\n";
  }
  m += "\r\n";

  // 2. message/delivery-status (RFC 3464 §2.2 per-message, §2.3 per-recipient fields).
  m += "--" + boundary + "\r\n";
  m += "Content-Type: message/delivery-status\r\n";
  m += "Content-Description: Delivery report\r\n\r\n";
  m += "Reporting-MTA: dns; " + mta + "\r\n";                                   // §2.2.2
  if (!in.envid.empty()) m += "Original-Envelope-Id: " + field_text(xtext_decode(in.envid)) + "\r\n";  // §2.2.1
  m += "Arrival-Date: " + rfc5322_date(in.arrival_ms) + "\r\n";                 // §2.2.5
  for (auto& r : in.recipients) {
    m += "\r\n";
    if (!r.orcpt.empty()) {                                                     // §2.3.1
      std::string o = xtext_decode(r.orcpt);
      size_t semi = o.find(';');
      m += "Original-Recipient: " +
           field_text(semi == std::string::npos ? "rfc822; " + o : o.substr(0, semi) + "; " + o.substr(semi + 1)) +
           "\r\n";
    }
    m += "Final-Recipient: rfc822; " + field_text(r.address) + "\r\n";         // §2.3.2
    m += "Action: " + r.action + "\r\n";                                        // §2.3.3
    m += "Status: " + field_text(r.status) + "\r\n";                            // §2.3.4
    if (!r.remote_mta.empty()) m += "Remote-MTA: dns; " + field_text(r.remote_mta) + "\r\n";  // §2.3.5
    if (!r.diagnostic.empty()) m += "Diagnostic-Code: " + field_text(r.diagnostic_type) + "; " + field_text(r.diagnostic) + "\r\n";  // §2.3.6
    if (r.last_attempt_ms) m += "Last-Attempt-Date: " + rfc5322_date(r.last_attempt_ms) + "\r\n";  // §2.3.7
  }
  m += "\r\n";

  // 3. The original: RFC 3461 §4.3 RET=FULL the whole message, RET=HDRS its header only.
  bool full = in.ret == "FULL" || (in.ret.empty() && in.original.size() <= kMaxBounceOriginal);
  if (in.original.size() > kMaxBounceOriginal) full = false;
  m += "--" + boundary + "\r\n";
  if (full) {
    m += "Content-Type: message/rfc822\r\n";
    m += "Content-Description: Undelivered Message\r\n\r\n";
    m += std::string(in.original);
  } else {
    m += "Content-Type: text/rfc822-headers\r\n";  // RFC 6522 §4
    m += "Content-Description: Undelivered Message Headers\r\n\r\n";
    m += std::string(header_of(in.original));
  }
  if (m.size() < 2 || m.compare(m.size() - 2, 2, "\r\n") != 0) m += "\r\n";
  m += "--" + boundary + "--\r\n";
  return m;
}

}  // namespace tsubame::smtp::outbound
