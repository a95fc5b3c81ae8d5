// smtpd/outbound/runner.h: the outbound queue runner on a libevent loop.
//
//   scan (every scan_interval, or run_once()) ─▶ store::OutboundQueue::due(now)
//     └▶ per entry: pending recipients grouped by domain
//          └▶ route (route.h): transport map │ relay host │ MX (worker thread, res_nquery)
//               └▶ per host: A/AAAA (evdns_getaddrinfo) ─▶ per address: TCP connect
//                    └▶ Client (client.h) state machine; STARTTLS via bufferevent_openssl
//          all groups done ─▶ per recipient: delivered │ failed (5xx) │ pending (4xx)
//            ├▶ mail log line + trace record per recipient and attempt
//            ├▶ DSN (bounce.h) for failures, expiry (smtpd.queue_lifetime) and "relayed"
//            │    local sender: store deliver() into INBOX; remote: enqueued, sender <>
//            └▶ none pending: remove(id); else update(): attempts+1, next attempt after
//               retry_delay_s(attempts) (5m, 10m, 20m ... capped at 4h)
//
// Ordering for crash safety: the DSN is made durable before the entry is updated or removed,
// so a crash in between can at worst send a duplicate DSN, never lose one.
// Threading: every method must be called on the loop's thread. MX lookups run on short-lived
// worker threads that only touch their own lookup record and a wake-up pipe.
// Failure: store errors are logged and the entry is retried at the next scan; nothing throws.
#pragma once

#include <event2/event.h>

#include <cstdint>
#include <functional>
#include <memory>
#include <string>

#include "common/result.h"
#include "common/tls.h"
#include "smtpd/outbound/client.h"
#include "smtpd/outbound/limits.h"

namespace tsubame {
class Config;
}
namespace tsubame::store {
class Store;
}

namespace tsubame::smtp::outbound {

struct RunnerOptions {
  std::string hostname = "localhost";    // EHLO name, Reporting-MTA (general.hostname)
  std::string relay_host;                // smtpd.relay_host "host[:port]"; "" = MX lookups
  std::string transport_map_file;        // smtpd.transport_map; "" = none
  int64_t queue_lifetime_s = 5 * 86400;  // smtpd.queue_lifetime
  std::shared_ptr<tls::Context> tls;     // client context for STARTTLS; null = never TLS
  ClientTimeouts timeouts;
  int64_t connect_timeout_s = kConnectTimeoutS;
  int64_t retry_base_s = kRetryBaseS;
  int64_t retry_max_s = kRetryMaxS;
  int64_t scan_interval_s = kScanIntervalS;
  size_t max_deliveries = kMaxConcurrentDeliveries;
  std::function<int64_t()> clock;        // ms since the epoch; empty = the real clock
};

// The options from the config: general.hostname, smtpd.relay_host, smtpd.queue_lifetime, and
// (when the schema has them) smtpd.transport_map. A TLS client context without verification
// (opportunistic STARTTLS; the result of verification is logged).
Result<RunnerOptions> options_from_config(const Config& config);

// Backoff after `attempts` failed attempts: base * 2^(attempts-1), at most max.
int64_t retry_delay_s(uint32_t attempts, int64_t base_s = kRetryBaseS, int64_t max_s = kRetryMaxS);

// `tsubame queue flush`: makes every entry that is not held due now. Returns how many.
Result<size_t> flush_queue(store::Store& store, int64_t now_ms = 0);

struct RunnerStats {
  uint64_t attempts = 0;     // connections tried
  uint64_t delivered = 0;    // recipients
  uint64_t deferred = 0;     // recipients left pending after an attempt
  uint64_t bounced = 0;      // recipients failed permanently or expired
  uint64_t dsn_sent = 0;     // DSN messages made (delivered locally or queued)
};

class Runner {
 public:
  // Starts the periodic scan on `base` (the first scan runs at once). `store` must outlive
  // the Runner. Fails (InvalidArgument / NotFound) on a bad relay host or transport map.
  static Result<std::unique_ptr<Runner>> start(event_base* base, store::Store& store,
                                               RunnerOptions options);
  ~Runner();
  Runner(const Runner&) = delete;
  Runner& operator=(const Runner&) = delete;

  // Scans the queue now (from the loop, right after the current callback).
  void run_once();
  // No delivery in flight and no scan pending.
  bool idle() const;
  // Called on the loop whenever the runner becomes idle after a scan (tests break the loop).
  void set_idle_callback(std::function<void()> cb);
  RunnerStats stats() const;

  struct Impl;

 private:
  explicit Runner(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

}  // namespace tsubame::smtp::outbound
