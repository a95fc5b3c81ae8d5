// common/webhook.h: signed groupware webhooks (in tsubame_common, so smtpd, imapd, httpd and
// the CLI can all publish events).
//
//   caller (smtpd delivery, httpd report/decision, lockout) ── publish(type, metadata) ──┐
//        never blocks: one mutex, a bounded queue; full queue -> dropped, logged, counted │
//                                                                                         ▼
//   sender thread ── per (event, URL) delivery, earliest due first ── POST JSON ── 2xx: done
//        │ network error, 408, 429, 5xx: retry after 1s, 2s, 4s ... (capped, +0-25% jitter)
//        │ other 4xx (the receiver refuses it for good), or kWebhookMaxAttempts reached: give up
//        ▼
//   each attempt is signed anew:
//     X-Tsubame-Event: spam.reported              X-Tsubame-Delivery: <event id, 128-bit hex>
//     X-Tsubame-Timestamp: <unix seconds>         X-Tsubame-Signature: sha256=<hex>
//     signature = HMAC-SHA256(secret, "<timestamp>.<body>")
//   Signing the timestamp with the body lets a receiver refuse old replays (say > 5 minutes)
//   and the delivery id lets it drop duplicates of a retried event.
//
// Events carry metadata only (addresses, mailbox, uid, ids, verdicts): never a message body.
// Why a blocking client in its own thread and not the daemons' libevent loop: the callers are
// smtpd (delivery), httpd and the CLI; a private thread keeps a slow or dead receiver out of
// every caller's event loop, works the same in a short-lived CLI process, and keeps the code
// small (connect/TLS/write/read with timeouts). Deliveries are sent one at a time; a receiver
// that hangs delays the others by at most the timeout per attempt.
// http:// and https:// URLs (https verified against the system trust store); no redirects.
//
// Thread-safety: publish(), flush() and stats() may be called from any thread.
// Failure: options_from_config() refuses URLs without a secret; publish() never fails loudly
// (it returns false when the event was dropped); delivery failures are logged and counted.
#pragma once

#include <nlohmann/json.hpp>

#include <atomic>
#include <condition_variable>
#include <cstdint>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

#include "common/result.h"

namespace tsubame {
class Config;
}
namespace tsubame::tls {
class Context;
}

namespace tsubame::webhook {

// ---- limits ----
inline constexpr size_t kWebhookQueueCapacity = 1024;     // deliveries waiting (incl. retries)
inline constexpr int kWebhookMaxAttempts = 6;             // first try + 5 retries
inline constexpr int64_t kWebhookBackoffBaseMs = 1000;    // 1s, 2s, 4s, 8s, 16s ...
inline constexpr int64_t kWebhookBackoffMaxMs = 5 * 60 * 1000;
inline constexpr int kWebhookTimeoutSeconds = 10;         // connect, send, receive each
inline constexpr size_t kWebhookMaxBodyBytes = 64 * 1024;
inline constexpr size_t kWebhookMaxResponseBytes = 16 * 1024;  // read and discarded

enum class EventType { kMessageDelivered, kSpamReported, kQuarantineDecided, kAccountLocked };
// "message.delivered", "spam.reported", "quarantine.decided", "account.locked"
const char* event_type_name(EventType type);

struct Url {
  bool tls = false;
  std::string host;        // without brackets for IPv6
  uint16_t port = 0;
  std::string path;        // "/..." including the query
  std::string host_header; // as sent in Host:
};
Result<Url> parse_url(std::string_view url);

// "sha256=" + hex(HMAC-SHA256(secret, "<timestamp>.<body>"))
std::string signature(std::string_view secret, int64_t timestamp, std::string_view body);

struct Options {
  std::vector<std::string> urls;
  std::string secret;
  size_t queue_capacity = kWebhookQueueCapacity;
  int max_attempts = kWebhookMaxAttempts;
  int64_t backoff_base_ms = kWebhookBackoffBaseMs;
  int64_t backoff_max_ms = kWebhookBackoffMaxMs;
  int timeout_seconds = kWebhookTimeoutSeconds;
  std::string ca_file;     // https: trust these CAs instead of the system store ("" = system)
  std::string source;      // "httpd", "smtpd", "cli": put in each event
};

// httpd.webhook_urls, httpd.webhook_ca_file and the key in httpd.webhook_secret_file
// (trailing whitespace removed).
// No URLs: ok, with an empty list (the sender is then disabled). URLs without a readable,
// non-empty secret: InvalidArgument (events are never sent unsigned). Bad URL: InvalidArgument.
Result<Options> options_from_config(const Config& config, std::string source);

struct Stats {
  uint64_t published = 0;  // events accepted
  uint64_t delivered = 0;  // (event, URL) deliveries answered 2xx
  uint64_t attempts_failed = 0;
  uint64_t gave_up = 0;    // deliveries abandoned after the last attempt or a 4xx
  uint64_t dropped = 0;    // events refused because the queue was full
  uint64_t pending = 0;    // deliveries waiting now
};

class Sender {
 public:
  // Starts the sender thread (none when there are no URLs: publish() then does nothing).
  static Result<std::unique_ptr<Sender>> start(Options options);
  // Stops the thread; deliveries still queued are dropped with one log line.
  ~Sender();
  Sender(const Sender&) = delete;
  Sender& operator=(const Sender&) = delete;

  bool enabled() const { return !urls_.empty(); }
  // Queues the event for every URL. Returns false if disabled or dropped (queue full).
  bool publish(EventType type, nlohmann::json data);
  // Waits until no delivery is pending (or timeout). For short-lived callers and tests.
  bool flush(int64_t timeout_ms);
  Stats stats() const;

 private:
  struct Delivery {
    size_t url = 0;
    std::string id, type, body;
    int attempt = 0;           // attempts made so far
  };
  explicit Sender(Options options, std::vector<Url> urls);
  void run();
  // One POST; the HTTP status, or 0 on a network/TLS error (with `error` set).
  int post(const Url& url, const Delivery& d, std::string& error);

  Options options_;
  std::vector<Url> urls_;
  mutable std::mutex mu_;
  std::condition_variable cv_;       // work arrived / stop
  std::condition_variable idle_cv_;  // queue drained
  std::multimap<int64_t, Delivery> queue_;  // due time (ms) -> delivery
  bool in_flight_ = false;
  bool stop_ = false;
  Stats stats_;
  std::shared_ptr<tls::Context> tls_;  // client context, for https URLs
  std::thread thread_;
};

}  // namespace tsubame::webhook
