// smtpd/outbound/client.h: the outbound SMTP client as a pure state machine (no I/O).
//
// Bytes from the server go in (on_data), Steps come out: bytes to write, "start TLS now",
// "close". The libevent glue (runner.cc) owns the socket, TLS and the timer, and asks
// timeout_s() for the deadline of the phase the client is in. One Client runs one
// connection to one host for one message; per-recipient results are read at the end.
//
//   connect ─▶ 220 greeting ─▶ EHLO (5xx: HELO) ─▶ [STARTTLS ─▶ 220 ─▶ TLS ─▶ EHLO again]
//      ─▶ MAIL FROM ─▶ RCPT TO × n ─▶ DATA ─▶ 354 ─▶ dot-stuffed content "." ─▶ 250 ─▶ QUIT
//   With PIPELINING (RFC 2920) MAIL, every RCPT and DATA go out as one group.
//
// Results per recipient: 2xx after the final dot = delivered, 4xx = temporary, 5xx =
// permanent (from MAIL, RCPT, DATA or the final dot, whichever decided). A failure of the
// host itself (no greeting, 421, a reply we cannot parse, a timeout, a closed connection, a
// failed TLS handshake) leaves the undecided recipients pending and sets host_failed(), so
// the runner tries the next MX host (RFC 5321 §5.1). Failure: never throws; protocol errors
// become results.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "smtpd/outbound/limits.h"

namespace tsubame::smtp::outbound {

// One SMTP reply (RFC 5321 §4.2), multi-line replies joined.
struct Reply {
  int code = 0;                    // 0: no reply (a local error)
  std::string enhanced;            // RFC 3463 "4.2.1" from the first line, if present
  std::vector<std::string> lines;  // text of each line after "ddd-" / "ddd "
  bool local = false;              // made by us (timeout, DNS, policy), not sent by a server
  // "451 4.2.1 text of the first line" (one line, for logs, queue records and DSNs); the
  // enhanced code is added when the text does not start with it.
  std::string summary() const;
  bool positive() const { return code >= 200 && code < 400; }
  bool temporary() const { return code >= 400 && code < 500; }
  bool permanent() const { return code >= 500; }
};

// Incremental reply reader: push bytes, pull complete replies. RFC 5321 §4.2.1: a multi-line
// reply is "ddd-text" lines ended by one "ddd text" line with the same code.
class ReplyReader {
 public:
  enum class Status { kNeedMore, kReply, kError };
  // Consumes bytes from `in` (advancing it) until one reply is complete or input runs out.
  Status feed(std::string_view& in, Reply& out);
  const std::string& error() const { return error_; }
  bool partial() const { return !line_.empty() || !cur_.lines.empty(); }

 private:
  std::string line_;
  Reply cur_;
  std::string error_;
};

// RFC 5321 §4.5.2 transparency: a line starting with "." gets one more "."; every line ends
// in CRLF (a bare LF or bare CR becomes CRLF, so no SMTP smuggling can ride through us), and
// the terminating ".\r\n" is appended.
std::string dot_stuff(std::string_view content);
// The same line-end normalisation without dot-stuffing or terminator: the payload of a
// BDAT chunk (RFC 3030 §2: the chunk is counted, not terminated).
std::string crlf_normalise(std::string_view content);

// True if `s` has an octet above 0x7F (needs 8BITMIME for content, SMTPUTF8 for addresses).
bool has_8bit(std::string_view s);

struct ClientRecipient {
  std::string address;
  std::string notify;   // RFC 3461 §4.1 NOTIFY value ("SUCCESS,FAILURE", "NEVER", "" none)
  std::string orcpt;    // RFC 3461 §4.2 ORCPT value ("rfc822;bob@example.com"), "" none
};

struct ClientMessage {
  std::string helo_name;                  // our host name (general.hostname)
  std::string sender;                     // reverse-path, "" = null sender (a DSN)
  std::vector<ClientRecipient> recipients;
  std::string envid;                      // RFC 3461 §4.4, xtext as received, "" none
  std::string ret;                        // RFC 3461 §4.3 "FULL" / "HDRS" / ""
  std::string_view content;               // the message, CRLF lines; caller keeps it alive
};

struct ClientTimeouts {                   // seconds; defaults from limits.h (RFC 5321 §4.5.3.2)
  int64_t greeting = kGreetingTimeoutS;
  int64_t mail = kMailTimeoutS;
  int64_t rcpt = kRcptTimeoutS;
  int64_t data_init = kDataInitTimeoutS;
  int64_t data_block = kDataBlockTimeoutS;
  int64_t data_term = kDataTermTimeoutS;
  int64_t tls = kTlsHandshakeTimeoutS;
  int64_t quit = kQuitTimeoutS;
};

struct ClientOptions {
  bool try_tls = true;       // send STARTTLS when offered (the glue has a client context)
  bool use_chunking = true;  // RFC 3030 BDAT instead of DATA when CHUNKING is offered
  bool require_tls = false;  // refuse to send in clear (host failure without STARTTLS)
  ClientTimeouts timeouts;
};

enum class Outcome : uint8_t { kPending, kDelivered, kTemporary, kPermanent };
const char* outcome_name(Outcome o);

struct RecipientResult {
  Outcome outcome = Outcome::kPending;
  Reply reply;               // the reply that decided it (or the last host error)
};

// What the glue must do after feeding an event. `send` is written first, then TLS starts or
// the connection closes.
struct Step {
  std::string send;
  bool start_tls = false;    // RFC 3207 §4: begin the handshake right after the 220
  bool close = false;
};

class Client {
 public:
  Client(ClientMessage message, ClientOptions options = {});

  Step on_connected();                          // TCP is up: wait for the greeting
  Step on_data(std::string_view bytes);         // bytes from the server
  // The TLS handshake after STARTTLS finished. `verified`: the certificate chain and name
  // checked out (opportunistic TLS delivers either way; the runner logs it).
  Step on_tls_done(bool ok, bool verified, std::string_view note);
  Step on_timeout();                            // the phase's deadline passed
  Step on_closed(std::string_view why);         // the peer closed or the socket failed

  // Deadline of the current phase in seconds (0 = none, e.g. finished).
  int64_t timeout_s() const;
  bool finished() const { return state_ == State::kDone; }
  // The host failed before deciding every recipient: pending ones go to the next host.
  bool host_failed() const { return host_failed_; }
  const Reply& host_error() const { return host_error_; }
  const std::vector<RecipientResult>& results() const { return results_; }
  bool tls_active() const { return tls_active_; }
  bool tls_verified() const { return tls_verified_; }
  bool tls_failed() const { return tls_failed_; }  // handshake failed (retry without TLS)
  bool dsn_supported() const { return ext_dsn_; }  // RFC 3461: NOTIFY was passed on
  bool pipelined() const { return ext_pipelining_; }
  bool chunked() const { return bdat_; }  // the content went as one BDAT LAST chunk
  const std::string& tls_note() const { return tls_note_; }

 private:
  enum class State : uint8_t {
    kConnecting, kGreeting, kEhlo, kHelo, kStartTls, kTlsHandshake, kTransaction, kQuit, kDone
  };
  enum class Expect : uint8_t { kMail, kRcpt, kData, kDataEnd };
  struct Pending {
    Expect what;
    size_t index = 0;  // recipient index for kRcpt
  };

  Step handle(const Reply& r);
  Step handle_transaction(const Reply& r);
  Step after_hello();
  Step begin_transaction();
  Step next_command();
  Step quit();
  Step fail_host(Reply r, bool send_quit);
  Step fail_all(const Reply& r);   // a reply that decides every undecided recipient
  void parse_ehlo(const Reply& r);
  void decide(size_t i, const Reply& r);
  std::string mail_command() const;
  std::string rcpt_command(size_t i) const;
  size_t accepted() const;

  ClientMessage msg_;
  ClientOptions opt_;
  State state_ = State::kConnecting;
  ReplyReader reader_;
  std::vector<RecipientResult> results_;
  std::vector<bool> rcpt_ok_;        // RCPT answered 2xx, waiting for the data's reply
  std::vector<Pending> expect_;      // replies still due, in order (RFC 2920 §3.1)
  size_t next_rcpt_ = 0;
  bool mail_failed_ = false;
  bool data_sent_ = false;
  bool dummy_data_ = false;          // 354 with no accepted recipient: sent "." only
  bool bdat_ = false;                // BDAT sent instead of DATA
  std::string bdat_command();
  bool host_failed_ = false;
  Reply host_error_;
  bool tls_active_ = false, tls_verified_ = false, tls_failed_ = false;
  std::string tls_note_;
  // EHLO extensions (RFC 5321 §4.1.1.1); reset after STARTTLS (RFC 3207 §4.2).
  bool ext_esmtp_ = false, ext_pipelining_ = false, ext_8bitmime_ = false;
  bool ext_smtputf8_ = false, ext_dsn_ = false, ext_starttls_ = false, ext_size_ = false;
  bool ext_chunking_ = false;
  uint64_t ext_size_limit_ = 0;
};

}  // namespace tsubame::smtp::outbound
