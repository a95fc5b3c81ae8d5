// smtpd/session.h: the SMTP server protocol (RFC 5321 + extensions) as a pure state machine.
//
// No sockets, no libevent, no clock: bytes in, actions out. The glue (smtpd/server.cc)
// feeds what the client sent, executes the actions the session emits in order (send bytes,
// close, start TLS, check a recipient, verify a password, deliver a message) and answers
// the asynchronous ones back into the session (on_recipient_checked, on_auth_result ...).
//
//   client bytes ──feed()──▶ Session ──take_actions()──▶ [Send, CheckRecipient, ...]
//                               ▲                                 │ glue runs them
//                               └──── on_*() answers ◀────────────┘ (store, worker thread)
//
// While an asynchronous action is pending the session processes no further input (the
// client's pipelined commands wait in its backlog, in order). At most one is pending.
//
// Commands come from a table (verb, handler, flags, counters; Postfix smtpd_cmd_table);
// MAIL, RCPT and DATA are split into check (syntax and sequence), policy (may ask the glue)
// and proceed (state change and reply), as OpenSMTPD does.
//
// Failure modes: a protocol error is a reply, never an exception. Anything that makes the
// byte stream untrustworthy (talking before the greeting, pipelining where RFC 2920 or
// RFC 3207 forbids it, an unparseable BDAT size, too many errors) ends in a reply and a
// Close action. An exception thrown inside a handler is caught at feed()/on_*() and turns
// into "421 4.3.0" and Close. Not thread-safe: one session belongs to one event loop.
#pragma once

#include <array>
#include <chrono>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <variant>
#include <vector>

#include "smtpd/limits.h"

namespace tsubame::smtp {

// Which listener accepted the connection; sets the defaults of ListenerPolicy.
enum class ListenerKind { kMx, kSubmission, kSubmissions };

// What the listener demands of a session on it.
struct ListenerPolicy {
  ListenerKind kind = ListenerKind::kMx;
  bool tls_available = false;   // a TLS context exists: STARTTLS may be advertised
  bool implicit_tls = false;    // port 465: TLS is up before the greeting (RFC 8314 §3.3)
  bool require_tls = false;     // only EHLO/HELO/STARTTLS/NOOP/RSET/QUIT/HELP before TLS
  bool require_auth = false;    // MAIL needs AUTH first (submission, RFC 6409 §4.3)

  static ListenerPolicy mx(bool tls_available);
  static ListenerPolicy submission();   // STARTTLS required before AUTH/MAIL
  static ListenerPolicy submissions();  // implicit TLS
};

// One RCPT with its DSN parameters (RFC 3461 §4.1, §4.2), kept for the queue and bounces.
struct Recipient {
  std::string address;      // forward-path without <>, source route dropped
  bool local = false;       // the store said: a local mailbox
  // RFC 3461 §4.1 NOTIFY: NEVER, or any of SUCCESS, FAILURE, DELAY. Empty: not given.
  bool notify_never = false;
  bool notify_success = false;
  bool notify_failure = false;
  bool notify_delay = false;
  std::string orcpt;        // RFC 3461 §4.2 "addr-type;xtext" as given, empty if absent
};

// Everything known about one transaction when its data is complete.
struct Envelope {
  std::string session_id;
  std::string client_ip;
  std::string helo;            // the EHLO/HELO argument
  bool esmtp = false;          // EHLO (true) or HELO
  bool tls = false;
  std::string auth_user;       // empty when not authenticated
  std::string mail_from;       // reverse-path without <>, empty for the null sender
  std::optional<uint64_t> declared_size;  // RFC 1870 SIZE=
  std::string body;            // RFC 6152 BODY= 7BIT / 8BITMIME, empty if absent
  bool smtputf8 = false;       // RFC 6531 SMTPUTF8
  std::string ret;             // RFC 3461 §4.3 RET= FULL / HDRS, empty if absent
  std::string envid;           // RFC 3461 §4.4 ENVID= xtext as given
  std::vector<Recipient> recipients;
  bool chunking = false;       // the data came by BDAT (RFC 3030)

  // RFC 3848 "with" keyword for the Received header: SMTP, ESMTP, ESMTPS, ESMTPA, ESMTPSA.
  std::string with_protocol() const;
};

// ---- actions: what the glue must do, in the order emitted ----

// Write these bytes; if delay > 0, hold this and every later action for that long first
// (error and AUTH failure slow-down).
struct Send {
  std::string bytes;
  std::chrono::milliseconds delay{0};
};
// Close the connection once everything before it is written.
struct Close {};
// Start the TLS handshake (after "220 2.0.0 Ready to start TLS" is written); answer
// with on_tls_result().
struct StartTls {};
// Look up a recipient; answer with on_recipient_checked().
struct CheckRecipient {
  std::string address;
};
// Is `address` one of the addresses of the authenticated `user`? Answer on_sender_checked().
struct CheckSender {
  std::string user;
  std::string address;
};
// Verify a password (a KDF: do it on a worker); answer with on_auth_result().
// `tls` says whether the credentials came over TLS: the backend applies the user's domain
// policy (store/settings.h tls_required, auth_mechanisms), which needs the identity the
// SASL exchange decoded and so cannot be checked before it.
// policy_only: AUTH LOGIN in clear asks for the domain's verdict right after the user name,
// so that a domain requiring TLS (or not allowing LOGIN) is refused before the password is
// sent; password is empty and kOk means "ask for the password" (nothing is logged in).
struct Authenticate {
  std::string mechanism;   // "PLAIN" or "LOGIN"
  std::string authzid;     // PLAIN only; empty or equal to user
  std::string user;
  std::string password;
  bool tls = false;
  bool policy_only = false;
};
// Run filter + store for this message; answer with on_delivered() only after the store
// commit is durable (the 250 acknowledges it).
struct DeliverMessage {
  Envelope envelope;
  std::string data;        // unstuffed message bytes, CRLF line ends
};
using Action = std::variant<Send, Close, StartTls, CheckRecipient, CheckSender, Authenticate,
                            DeliverMessage>;

// ---- answers from the glue ----

enum class RecipientStatus {
  kLocal,         // a local mailbox: accept
  kUnknownLocal,  // a local domain, no such user: 550 5.1.1
  kRemote,        // not one of our domains: relay only for authenticated clients
  kDisabled,      // the mailbox exists but is disabled: 550 5.2.1
  kFull,          // over quota: 452 4.2.2
  kTempFail,      // the store could not answer: 451 4.3.0
};

enum class AuthStatus {
  kOk,          // 235 2.7.0
  kBad,         // 535 5.7.8 (counts toward the lockout in the store)
  kLocked,      // 535 5.7.8 too: never tell the client the account is locked
  kTempFail,    // 454 4.7.0
  // The login's domain requires TLS and the exchange was in clear: 538 5.7.11 (RFC 4954 §6).
  kEncryptionRequired,
  // The login's domain does not allow this mechanism: 534 5.7.9 (RFC 4954 §6).
  kMechanismTooWeak,
};

struct DeliveryResult {
  enum class Outcome { kAccepted, kRejected, kTempFail } outcome = Outcome::kAccepted;
  std::string queue_id;   // kAccepted: "250 2.0.0 Ok: queued as <queue_id>"
  std::string reason;     // kRejected: "550 5.7.1 <reason>"; kTempFail: "451 4.3.0 <reason>"
};

// What the session is doing; the glue picks the timeout from it.
enum class Phase {
  kGreeting,      // start() not called yet
  kCommand,       // waiting for a command line
  kAuth,          // waiting for an AUTH continuation line
  kData,          // reading DATA content
  kBdat,          // reading a BDAT chunk
  kWaiting,       // an action is pending
  kTls,           // the TLS handshake is running
  kClosed,        // Close was emitted; ignore everything
};

class Session {
 public:
  Session(const Options& options, ListenerPolicy policy, std::string session_id,
          std::string client_ip);

  // Emit the greeting. Bytes fed before it are a protocol violation (RFC 5321 §4.3.1:
  // the client waits for the greeting): "554 5.5.0" and Close.
  void start();
  // Bytes from the client (after TLS decryption). May emit any actions.
  void feed(std::string_view bytes);
  // The answers to the asynchronous actions.
  void on_recipient_checked(RecipientStatus status);
  void on_sender_checked(bool owned);
  void on_auth_result(AuthStatus status);
  void on_tls_result(bool ok);
  void on_delivered(const DeliveryResult& result);
  // The glue's timer fired: "421 4.4.2 Timeout exceeded" and Close.
  void on_timeout();
  // The daemon is shutting down: "421 4.3.2 Service shutting down" and Close.
  void on_shutdown();

  // Actions emitted since the last call, in order.
  std::vector<Action> take_actions();

  Phase phase() const;
  // The timeout the glue should arm now (command or data).
  std::chrono::seconds timeout() const;
  // Unprocessed bytes held; above kMaxInputBacklog the glue should stop reading.
  size_t backlog() const { return in_.size() - off_; }
  bool closed() const { return closed_; }
  bool tls_active() const { return tls_; }
  const std::string& auth_user() const { return auth_user_; }
  const std::string& helo() const { return helo_; }
  unsigned errors() const { return errors_; }
  // Counts completed command lines, AUTH lines and message ends. The glue re-arms the
  // command timeout only when this moves, so a command trickled in byte by byte does not
  // extend its own deadline (Postfix's per-record deadline).
  uint64_t progress() const { return progress_; }
  // The disconnect summary: "ehlo=1 mail=1 rcpt=2/3 data=1 quit=1" (ok/total when they
  // differ), in command-table order, commands never used left out.
  std::string summary() const;

  // Command table entry (public so tests can walk the table).
  enum Flag : unsigned {
    kAllowedBeforeTls = 1u << 0,   // allowed while policy.require_tls and TLS is not up
    kEndsGroup = 1u << 1,          // RFC 2920 §3.1: must be last in a pipelined group
    kForbidden = 1u << 2,          // HTTP verbs and the like: reply and close at once
  };
  using Handler = void (Session::*)(std::string_view args);
  struct Command {
    std::string_view verb;
    Handler handler;
    unsigned flags;
  };
  static const std::vector<Command>& command_table();

 private:
  struct Counter {
    unsigned total = 0;
    unsigned ok = 0;
  };
  enum class Pending { kNone, kRcpt, kSender, kAuth, kTls, kDeliver };
  enum class Mode { kCommand, kAuthLine, kData, kBdat };
  enum class AuthStep { kPlain, kLoginUser, kLoginPassword };
  enum class DataFault { kNone, kSize, kLongLine, kBareNewline };

  // Input processing. in_[off_..] is unprocessed; process() compacts once per call.
  std::string_view input() const { return std::string_view(in_).substr(off_); }
  void consume(size_t n);
  void drop_input();
  void process();
  bool process_command_mode();
  bool process_auth_mode();
  bool process_data_mode();
  bool process_bdat_mode();
  void dispatch(std::string_view line);

  // Handlers (the command table points here).
  void cmd_ehlo(std::string_view args);
  void cmd_helo(std::string_view args);
  void cmd_mail(std::string_view args);
  void cmd_rcpt(std::string_view args);
  void cmd_data(std::string_view args);
  void cmd_bdat(std::string_view args);
  void cmd_rset(std::string_view args);
  void cmd_noop(std::string_view args);
  void cmd_quit(std::string_view args);
  void cmd_help(std::string_view args);
  void cmd_vrfy(std::string_view args);
  void cmd_not_implemented(std::string_view args);
  void cmd_starttls(std::string_view args);
  void cmd_auth(std::string_view args);
  void cmd_forbidden(std::string_view args);

  // check / policy / proceed for the transaction commands (OpenSMTPD style).
  bool check_mail(std::string_view args, Envelope& out);
  void policy_mail(Envelope env);
  void proceed_mail(Envelope env);
  bool check_rcpt(std::string_view args, Recipient& out);
  void policy_rcpt(Recipient rcpt);
  void proceed_rcpt(RecipientStatus status);
  bool check_data(bool bdat);

  // AUTH steps.
  void auth_line(std::string_view line);
  void auth_plain(std::string_view b64);

  // Content (DATA and BDAT): streaming checks and storage.
  void begin_content(bool bdat);
  void content_write(std::string_view bytes);
  void content_finish();
  void end_of_message();

  // Replies. `ok` marks the command counter as successful; 4xx/5xx count as errors.
  void reply(int code, std::string_view enhanced, std::string_view text,
             bool count_error = true);
  void reply_lines(int code, const std::vector<std::string>& lines);
  void send(std::string bytes, std::chrono::milliseconds delay = {});
  void close_with(int code, std::string_view enhanced, std::string_view text);
  void sync_error();
  template <typename F>
  void guarded(F&& f);
  void reset_transaction();
  void reset_after_tls();

  const Options& options_;
  ListenerPolicy policy_;
  std::string session_id_;
  std::string client_ip_;

  std::vector<Action> actions_;
  std::string in_;
  size_t off_ = 0;
  bool started_ = false;
  bool closed_ = false;
  bool tls_ = false;
  Mode mode_ = Mode::kCommand;
  Pending pending_ = Pending::kNone;
  bool skipping_long_line_ = false;  // overlong command line: discard up to CRLF

  // Session state.
  std::string helo_;
  bool esmtp_ = false;
  std::string auth_user_;
  unsigned errors_ = 0;
  uint64_t progress_ = 0;
  unsigned auth_failures_ = 0;
  int current_cmd_ = -1;          // index into the table of the command being answered
  std::vector<Counter> counters_;
  Counter unknown_;

  // AUTH exchange in progress.
  AuthStep auth_step_ = AuthStep::kPlain;
  std::string auth_login_user_;
  bool auth_policy_check_ = false;  // the pending Authenticate is a policy_only one

  // Transaction.
  bool in_transaction_ = false;
  Envelope env_;
  Recipient pending_rcpt_;
  bool data_by_bdat_ = false;     // BDAT started: DATA is a bad sequence (RFC 3030 §3)

  // Content state.
  std::string message_;
  uint64_t content_size_ = 0;     // bytes of content seen (also beyond the limit)
  size_t line_len_ = 0;           // octets in the current content line so far
  bool prev_cr_ = false;          // the last content byte was a CR awaiting its LF
  bool at_line_start_ = true;     // DATA: the next byte starts a line (dot rules)
  DataFault fault_ = DataFault::kNone;
  uint64_t bdat_remaining_ = 0;
  bool bdat_last_ = false;
  bool bdat_ok_ = false;          // this chunk belongs to a live transaction
  int bdat_err_code_ = 0;         // !bdat_ok_: the reply owed once the chunk is read
  std::string bdat_err_enh_;
  std::string bdat_err_text_;

  // Reply bookkeeping.
  bool cur_marked_ = false;       // the current command's counter was marked ok
  std::chrono::milliseconds next_delay_{0};
  std::string pending_auth_user_;
};

// The Received header (RFC 5321 §4.4, RFC 3848) for a delivered message, CRLF-terminated,
// folded. `date` is an RFC 5322 date-time; `tls` (optional) names protocol and cipher,
// e.g. "TLSv1.3 with cipher TLS_AES_256_GCM_SHA384", shown as a comment.
std::string received_header(const Envelope& env, std::string_view our_host,
                            std::string_view queue_id, std::string_view date,
                            std::string_view tls = {});

// The reply for a connection the glue refuses before any session exists (limits).
std::string refusal_reply(std::string_view our_host, std::string_view reason);

// Parsing helpers, exposed for tests.
// RFC 5321 §4.1.2 Mailbox: local-part "@" domain; with `utf8` (RFC 6531) non-ASCII allowed.
bool valid_mailbox(std::string_view address, bool utf8);
// RFC 3461 §4 xtext.
bool valid_xtext(std::string_view s);

}  // namespace tsubame::smtp
