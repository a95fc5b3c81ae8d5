// smtpd/outbound/limits.h: every limit and timer of the outbound client and queue runner,
// in one place (each is tested in tests/smtpd/outbound/). Header-only constants; cannot fail.
#pragma once

#include <cstddef>
#include <cstdint>

namespace tsubame::smtp::outbound {

// RFC 5321 §4.5.3.2: client timeouts, in seconds, per phase of the transaction.
inline constexpr int64_t kGreetingTimeoutS = 5 * 60;     // §4.5.3.2.1 initial 220 message
inline constexpr int64_t kMailTimeoutS = 5 * 60;         // §4.5.3.2.2 MAIL command (also EHLO)
inline constexpr int64_t kRcptTimeoutS = 5 * 60;         // §4.5.3.2.3 RCPT command
inline constexpr int64_t kDataInitTimeoutS = 2 * 60;     // §4.5.3.2.4 DATA initiation (354)
inline constexpr int64_t kDataBlockTimeoutS = 3 * 60;    // §4.5.3.2.5 each data block sent
inline constexpr int64_t kDataTermTimeoutS = 10 * 60;    // §4.5.3.2.6 reply to the final dot
// Not in RFC 5321: our own bounds for the TCP connect, the TLS handshake and QUIT's reply.
inline constexpr int64_t kConnectTimeoutS = 30;
inline constexpr int64_t kTlsHandshakeTimeoutS = 60;
inline constexpr int64_t kQuitTimeoutS = 30;

// RFC 5321 §4.5.3.1.5: a reply line is at most 512 octets with CRLF. Servers exceed it in
// the wild, so we accept up to kMaxReplyLine and treat more as a protocol error.
inline constexpr size_t kMaxReplyLine = 4096;
inline constexpr size_t kMaxReplyLines = 100;            // lines of one multi-line reply
inline constexpr size_t kMaxReplyText = 1000;            // reply text kept per recipient

// Retry schedule: exponential backoff kRetryBaseS * 2^(attempts-1), capped at kRetryMaxS,
// until smtpd.queue_lifetime runs out (then the message bounces).
inline constexpr int64_t kRetryBaseS = 5 * 60;
inline constexpr int64_t kRetryMaxS = 4 * 60 * 60;

// Queue runner.
inline constexpr size_t kMaxConcurrentDeliveries = 20;   // connections in flight
inline constexpr size_t kMaxDueBatch = 100;              // entries taken per scan
inline constexpr int64_t kScanIntervalS = 60;            // how often due() is polled
inline constexpr size_t kMaxRcptsPerTransaction = 100;    // RFC 5321 §4.5.3.1.8 minimum
inline constexpr size_t kMaxMxHosts = 10;                // MX hosts tried per domain
inline constexpr size_t kMaxAddressesPerHost = 4;        // A/AAAA addresses tried per host
inline constexpr size_t kMaxConcurrentMxLookups = 8;     // resolver threads at once
inline constexpr size_t kMaxDnsAnswer = 65535;           // one DNS message (TCP maximum)
inline constexpr uint16_t kDefaultSmtpPort = 25;         // RFC 5321 §4.5.4.2 (well-known port)

// Transport map file (smtpd.transport_map).
inline constexpr size_t kMaxTransportMapBytes = 1 << 20;
inline constexpr size_t kMaxTransportMapEntries = 10000;

// Bounces (RFC 3464): how much of the original message a DSN carries.
inline constexpr size_t kMaxBounceOriginal = 1 << 20;    // RET=FULL beyond this: headers only

}  // namespace tsubame::smtp::outbound
