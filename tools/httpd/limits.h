// tools/httpd/limits.h: every limit of tsubame-httpd and of the webhook sender, in one place.
//
// Each limit has one answer and one test (tests/httpd/httpd_test.py, webhook_test.cc):
//   request body too large        -> 413 (evhttp, max body size)
//   request header too large      -> 431/400 or closed by evhttp (max headers size)
//   idle / slow connection        -> closed after kIoTimeoutSeconds
//   too many connections (per IP, or in all) -> TLS handshake refused (alert), counted
//   webhook queue full            -> event dropped, one log line, counted
#pragma once

#include <cstddef>
#include <cstdint>

namespace tsubame::httpd {

// ---- HTTP server ----
inline constexpr size_t kMaxBodyBytes = 64 * 1024;        // every API body is small JSON
inline constexpr size_t kMaxHeadersBytes = 16 * 1024;     // request line + all headers
inline constexpr int kIoTimeoutSeconds = 30;              // read/write inactivity
inline constexpr unsigned kMaxConnectionsPerIp = 32;
inline constexpr unsigned kMaxConnections = 1024;
inline constexpr size_t kMaxLoginField = 320;             // address (RFC 5321: 254) or password
inline constexpr size_t kMaxReasonBytes = 1024;           // free text of a report
inline constexpr size_t kDefaultMessageListLimit = 200;   // GET /api/messages
inline constexpr size_t kMaxMessageListLimit = 1000;
inline constexpr size_t kMaxQuarantineListLimit = 1000;
inline constexpr size_t kMaxSessions = 100000;            // live tokens in all (oldest evicted)
inline constexpr size_t kMaxSessionsPerUser = 64;         // oldest of that user evicted
inline constexpr size_t kTokenBytes = 32;                 // 256-bit random session tokens
inline constexpr size_t kLoginWorkers = 2;                // threads for logins (Argon2id), decisions, /metrics
inline constexpr size_t kMaxPendingLogins = 256;          // queued slow requests; beyond: 503
inline constexpr int64_t kStoreStatsCacheMs = 10 * 1000;  // /metrics store counts cache
inline constexpr size_t kMaxTextfileMetricsBytes = 1 << 20;  // run_dir/metrics/*.prom, each

// Webhook limits: common/webhook.h (kWebhook*).

}  // namespace tsubame::httpd
