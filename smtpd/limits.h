// smtpd/limits.h: every limit the SMTP server enforces, in one place, each with its source.
//
// Protocol limits fixed by the RFCs are constexpr constants. Limits an operator may change
// live in smtp::Options (defaults below); the daemon fills Options from the config file and
// passes it to each Session. Every limit has one reply (named next to it) and a unit test
// in tests/smtpd/ that hits it. Nothing here can fail: it is data only.
#pragma once

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <string>

namespace tsubame::smtp {

// ---- fixed by the protocol ----

// RFC 5321 §4.5.3.1.4: a command line is at most 512 octets including the CRLF.
// Over it: "500 5.5.2 Line too long", the rest of the line is skipped up to the next CRLF.
inline constexpr size_t kMaxCommandLine = 512;
// RFC 5321 §4.5.3.1.4 lets extensions lengthen MAIL and RCPT lines: RFC 3461 §4.2/§4.4
// (ORCPT up to 500, ENVID up to 100, NOTIFY, RET), RFC 4954 §5 (AUTH= up to 500), RFC 1870
// (SIZE), RFC 6152 (BODY), RFC 6531 (SMTPUTF8). MAIL and RCPT lines may be this long.
inline constexpr size_t kMaxMailRcptLine = 2048;
// RFC 4954 §4: an AUTH command (with initial response) or an AUTH continuation line may be
// up to 12288 octets; the 512-octet limit does not apply to them.
inline constexpr size_t kMaxAuthLine = 12288;
// RFC 5321 §4.5.3.1.6: a text line (DATA, BDAT content) is at most 1000 octets including
// the CRLF. Over it: the transaction fails, "554 5.6.0" after the final dot.
inline constexpr size_t kMaxTextLine = 1000;
// RFC 5321 §4.5.3.1.3: a reverse-path or forward-path is at most 256 octets (with <>).
inline constexpr size_t kMaxPath = 256;
// RFC 5321 §4.5.3.1.1: local-part at most 64 octets.
inline constexpr size_t kMaxLocalPart = 64;
// RFC 5321 §4.5.3.1.2: domain at most 255 octets.
inline constexpr size_t kMaxDomain = 255;
// RFC 3461 §4.4: ENVID is at most 100 characters; §4.2: ORCPT at most 500.
inline constexpr size_t kMaxEnvid = 100;
inline constexpr size_t kMaxOrcpt = 500;
// RFC 5321 §4.5.3.1.8: a server must accept at least 100 recipients per transaction.
inline constexpr size_t kMinRecipientsRfc = 100;
// Unprocessed client bytes the session holds while an action is pending (pipelined
// commands). Above it the glue stops reading from the socket until the session drains.
inline constexpr size_t kMaxInputBacklog = 64 * 1024;

// ---- defaults of the operator-tunable limits (Options) ----

// RFC 5321 §4.5.3.1.10: too many recipients -> "452 4.5.3 Too many recipients".
inline constexpr size_t kDefaultMaxRecipients = 100;
// RFC 1870: advertised as "SIZE n"; over it -> "552 5.3.4 Message size exceeds fixed limit",
// checked while the data streams in (the bytes beyond the limit are counted, not kept).
inline constexpr size_t kDefaultMaxMessageSize = 25 * 1024 * 1024;
// Errors (4xx/5xx replies to commands) per session: from the soft limit on, every error
// reply is delayed by error_delay; at the hard limit "421 4.7.0 Too many errors" and close.
// (Defaults here match the config schema, common/config.cc.)
inline constexpr unsigned kDefaultSoftErrorLimit = 5;
inline constexpr unsigned kDefaultMaxErrors = 10;
inline constexpr std::chrono::milliseconds kDefaultErrorDelay{1000};
// Failed AUTH attempts: each failure reply is delayed; at the limit "421 4.7.0" and close.
// (The account lockout across sessions is the store's, fed by every failure.)
inline constexpr unsigned kDefaultMaxAuthFailures = 3;
inline constexpr std::chrono::milliseconds kDefaultAuthFailureDelay{2000};
// RFC 5321 §4.5.3.2.7: the server waits at least 5 minutes for the next command.
// On expiry: "421 4.4.2 Timeout exceeded" and close.
inline constexpr std::chrono::seconds kDefaultCommandTimeout{300};
// RFC 5321 §4.5.3.2.5/§4.5.3.2.6: data block 3 min (client), termination 10 min. The server
// allows 10 minutes between two reads during DATA/BDAT content.
inline constexpr std::chrono::seconds kDefaultDataTimeout{600};
// A TLS handshake (STARTTLS or implicit) must finish within this; otherwise close.
inline constexpr std::chrono::seconds kDefaultTlsHandshakeTimeout{60};
// RFC 5321 §4.3.1: the client waits for the greeting. With a delay > 0 the server waits
// that long before greeting; a client that talks meanwhile gets "554 5.5.0" and is closed
// (Postfix postscreen's pregreet test). Off by default (it delays every session).
inline constexpr std::chrono::milliseconds kDefaultGreetingDelay{0};
// Connections: concurrent per client IP, new per client IP per minute, total.
// Over them the glue answers "421 4.7.0 Too many connections" and closes.
inline constexpr unsigned kDefaultMaxConnectionsPerIp = 20;
inline constexpr unsigned kDefaultMaxNewConnectionsPerIpPerMinute = 120;
inline constexpr unsigned kDefaultMaxConnections = 2000;

// Operator-tunable options, one set per daemon (listener specifics are in ListenerPolicy).
struct Options {
  std::string hostname = "localhost";           // our name in the greeting and EHLO
  size_t max_message_size = kDefaultMaxMessageSize;
  size_t max_recipients = kDefaultMaxRecipients;
  unsigned soft_error_limit = kDefaultSoftErrorLimit;
  unsigned max_errors = kDefaultMaxErrors;
  std::chrono::milliseconds error_delay = kDefaultErrorDelay;
  unsigned max_auth_failures = kDefaultMaxAuthFailures;
  std::chrono::milliseconds auth_failure_delay = kDefaultAuthFailureDelay;
  std::chrono::seconds command_timeout = kDefaultCommandTimeout;
  std::chrono::seconds data_timeout = kDefaultDataTimeout;
  std::chrono::seconds tls_handshake_timeout = kDefaultTlsHandshakeTimeout;
  std::chrono::milliseconds greeting_delay = kDefaultGreetingDelay;
  unsigned max_connections_per_ip = kDefaultMaxConnectionsPerIp;
  unsigned max_new_connections_per_ip_per_minute = kDefaultMaxNewConnectionsPerIpPerMinute;
  unsigned max_connections = kDefaultMaxConnections;
  // RFC 4954 §4: AUTH PLAIN/LOGIN send the password in the clear; without TLS it is refused
  // ("538 5.7.11") and not advertised unless this is set.
  bool allow_plaintext_auth = false;
  // A message with a bare CR or bare LF: refused with "550 5.6.0" after the final dot
  // (default), or each bare CR / bare LF rewritten to CRLF when this is set.
  bool normalize_bare_newlines = false;
  // An authenticated client's MAIL FROM must be one of the user's addresses.
  bool enforce_sender_login = true;
};

}  // namespace tsubame::smtp
