// smtpd/server.h: the libevent/OpenSSL glue around smtp::Session.
//
//   listener (MX | submission | submissions)
//     │ accept: per-IP concurrent and per-minute limits, total limit ── over ──▶ 421, close
//     ▼
//   Connection: bufferevent (plain, or OpenSSL for 465 / after STARTTLS), timer
//     │ bytes ─▶ Session::feed ─▶ actions ─▶ Send/Close/StartTls here,
//     │                                      CheckRecipient/CheckSender on the loop,
//     │                                      Authenticate on a worker thread,
//     │                                      DeliverMessage on the writer thread (grouped)
//     ▼ answers come back through post() (a mutex-guarded queue and one event)
//
// Threads: everything here runs on the loop thread except Backend::authenticate (workers)
// and Backend::deliver (one writer thread that takes every job queued so far as one batch:
// group commit). A connection closed while its job runs is looked up by id when the answer
// arrives and the answer is dropped; the store commit itself is not undone (the client gets
// no 250 and will retry: a duplicate is possible, a loss is not; RFC 5321 §6.1).
//
// Failure: a listener that cannot bind makes start() fail. Per-connection failures
// (TLS errors, resets) close that connection only. No exception crosses a libevent callback.
#pragma once

#include <event2/event.h>

#include <cstdint>
#include <map>
#include <memory>
#include <string>

#include "common/result.h"
#include "smtpd/backend.h"
#include "smtpd/limits.h"
#include "smtpd/session.h"

namespace tsubame::tls {
class Context;
}

namespace tsubame::smtp {

// Accept-time limits (pure, for the glue and for tests): total connections, concurrent
// connections per IP, new connections per IP per minute (fixed one-minute windows).
class ConnectionLimiter {
 public:
  explicit ConnectionLimiter(const Options& options) : options_(options) {}
  // Counts the attempt; "" if admitted (then release() must follow), else the reason.
  std::string admit(const std::string& ip, uint64_t now_s);
  void release(const std::string& ip);
  size_t total() const { return total_; }

 private:
  struct Window {
    uint64_t start_s = 0;
    unsigned count = 0;
  };
  const Options& options_;
  std::map<std::string, unsigned> per_ip_;
  std::map<std::string, Window> rate_;
  size_t total_ = 0;
};

struct ListenerConfig {
  ListenerKind kind = ListenerKind::kMx;
  std::string host = "127.0.0.1";
  uint16_t port = 0;   // 0: disabled; after start(), the bound port (tests bind port 0 via
                       // bind_any_port)
  bool bind_any_port = false;
};

struct ServerConfig {
  Options options;
  std::vector<ListenerConfig> listeners;
  std::shared_ptr<tls::Context> tls;  // null: no STARTTLS, no submissions listener
  unsigned worker_threads = 2;
};

class Server {
 public:
  // `base` must outlive the server; evthread_use_pthreads() must have been called before
  // the base was created (main does).
  Server(event_base* base, ServerConfig config, Backend backend);
  ~Server();
  Server(const Server&) = delete;
  Server& operator=(const Server&) = delete;

  // Binds every enabled listener. Fails with the first bind error.
  Status start();
  // The port a listener is bound to (after start()), 0 if none of that kind.
  uint16_t port(ListenerKind kind) const;
  // Stops accepting, tells every session "421 4.3.2", and breaks the loop once they are
  // gone (or after a grace period).
  void shutdown();
  size_t connections() const;

  struct Impl;

 private:
  std::unique_ptr<Impl> impl_;
};

// A queue id: 12 characters of [0-9A-Z] from the CSPRNG (unique enough per store).
std::string new_queue_id();
// RFC 5322 §3.3 date-time for "now", e.g. "Sun, 22 Nov 2026 04:00:00 +0000".
std::string rfc5322_date_now();

}  // namespace tsubame::smtp
