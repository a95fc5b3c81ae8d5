// smtpd/server.cc: listeners, connections, TLS, timers and threads around smtp::Session.
// See server.h for the picture and the threading rules.
//
// Failure handling: every libevent callback body runs inside a try/catch that closes the
// connection on any exception (style: never let an exception cross a callback). A
// connection is freed in two steps: close_now() releases the socket and timers at once
// and marks it dead; the object itself is destroyed from a fresh loop turn, so no callback
// up the stack ever touches freed memory.
#include "smtpd/server.h"

#include <arpa/inet.h>
#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/bufferevent_ssl.h>
#include <event2/listener.h>
#include <netinet/in.h>
#include <openssl/err.h>
#include <openssl/ssl.h>
#include <sys/socket.h>
#include <unistd.h>

#include <condition_variable>
#include <cstring>
#include <ctime>
#include <deque>
#include <map>
#include <mutex>
#include <thread>

#include "common/bytes.h"
#include "common/log.h"
#include "common/tls.h"

namespace tsubame::smtp {

std::string new_queue_id() {
  static constexpr char kAlphabet[] = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ";
  std::string raw = random_bytes(12);
  std::string id;
  for (unsigned char c : raw) id += kAlphabet[c % 36];
  return id;
}

std::string rfc5322_date_now() {
  std::time_t t = std::time(nullptr);
  std::tm tm{};
  gmtime_r(&t, &tm);
  char buf[64];
  std::strftime(buf, sizeof buf, "%a, %d %b %Y %H:%M:%S +0000", &tm);
  return buf;
}

namespace {

constexpr size_t kReadChunk = 64 * 1024;
constexpr size_t kMaxBatch = 256;                 // messages per group commit
constexpr int kShutdownGraceSeconds = 5;

timeval to_tv(std::chrono::milliseconds ms) {
  timeval tv{};
  tv.tv_sec = static_cast<time_t>(ms.count() / 1000);
  tv.tv_usec = static_cast<suseconds_t>((ms.count() % 1000) * 1000);
  return tv;
}

std::string peer_ip(const sockaddr* sa) {
  char buf[INET6_ADDRSTRLEN] = {0};
  if (sa->sa_family == AF_INET) {
    inet_ntop(AF_INET, &reinterpret_cast<const sockaddr_in*>(sa)->sin_addr, buf, sizeof buf);
  } else if (sa->sa_family == AF_INET6) {
    inet_ntop(AF_INET6, &reinterpret_cast<const sockaddr_in6*>(sa)->sin6_addr, buf, sizeof buf);
  } else {
    return "unknown";
  }
  return buf;
}

const char* kind_name(ListenerKind k) {
  switch (k) {
    case ListenerKind::kMx: return "mx";
    case ListenerKind::kSubmission: return "submission";
    case ListenerKind::kSubmissions: return "submissions";
  }
  return "?";
}

}  // namespace

std::string ConnectionLimiter::admit(const std::string& ip, uint64_t now_s) {
  Window& w = rate_[ip];
  if (w.count == 0 || now_s - w.start_s >= 60) {
    w.start_s = now_s;
    w.count = 0;
  }
  ++w.count;  // refused attempts count too: a client hammering us stays refused
  if (rate_.size() > 100000) {
    for (auto it = rate_.begin(); it != rate_.end();)
      it = now_s - it->second.start_s >= 60 ? rate_.erase(it) : std::next(it);
  }
  if (total_ >= options_.max_connections) return "Error: too many connections";
  auto pi = per_ip_.find(ip);
  if (pi != per_ip_.end() && pi->second >= options_.max_connections_per_ip)
    return "Error: too many connections from your address";
  if (w.count > options_.max_new_connections_per_ip_per_minute)
    return "Error: too many new connections from your address; try again later";
  ++per_ip_[ip];
  ++total_;
  return "";
}

void ConnectionLimiter::release(const std::string& ip) {
  auto it = per_ip_.find(ip);
  if (it == per_ip_.end()) return;
  if (--it->second == 0) per_ip_.erase(it);
  if (total_ > 0) --total_;
}

struct Connection;

struct ListenerCtx {
  Server::Impl* impl;
  ListenerKind kind;
  evconnlistener* listener = nullptr;
  uint16_t port = 0;
};

struct Server::Impl {
  event_base* base;
  ServerConfig cfg;
  Backend backend;
  std::vector<std::unique_ptr<ListenerCtx>> listeners;
  std::map<uint64_t, std::unique_ptr<Connection>> conns;
  uint64_t next_id = 1;
  ConnectionLimiter limiter{cfg.options};
  bool shutting_down = false;
  event* grace = nullptr;

  // Answers from other threads.
  std::mutex post_mu;
  std::vector<std::function<void()>> posted;
  event* wake = nullptr;

  // Worker pool (KDF).
  std::mutex work_mu;
  std::condition_variable work_cv;
  std::deque<std::function<void()>> tasks;
  std::vector<std::thread> workers;
  bool stop_threads = false;

  // Writer (group commit).
  std::mutex write_mu;
  std::condition_variable write_cv;
  std::deque<std::pair<uint64_t, DeliveryJob>> jobs;
  std::thread writer;

  Impl(event_base* b, ServerConfig c, Backend be) : base(b), cfg(std::move(c)), backend(std::move(be)) {}

  void post(std::function<void()> fn) {
    {
      std::lock_guard<std::mutex> lock(post_mu);
      posted.push_back(std::move(fn));
    }
    event_active(wake, EV_READ, 0);
  }

  static void on_wake(evutil_socket_t, short, void* arg) {
    auto* self = static_cast<Impl*>(arg);
    std::vector<std::function<void()>> todo;
    {
      std::lock_guard<std::mutex> lock(self->post_mu);
      todo.swap(self->posted);
    }
    for (auto& fn : todo) {
      try {
        fn();
      } catch (const std::exception& e) {
        log::sys().error("smtpd: posted task failed: {}", e.what());
      }
    }
  }

  void run_worker(std::function<void()> fn) {
    {
      std::lock_guard<std::mutex> lock(work_mu);
      tasks.push_back(std::move(fn));
    }
    work_cv.notify_one();
  }

  void worker_loop() {
    for (;;) {
      std::function<void()> fn;
      {
        std::unique_lock<std::mutex> lock(work_mu);
        work_cv.wait(lock, [&] { return stop_threads || !tasks.empty(); });
        if (stop_threads && tasks.empty()) return;
        fn = std::move(tasks.front());
        tasks.pop_front();
      }
      try {
        fn();
      } catch (const std::exception& e) {
        log::sys().error("smtpd: worker task failed: {}", e.what());
      }
    }
  }

  void enqueue_delivery(uint64_t conn_id, DeliveryJob job) {
    {
      std::lock_guard<std::mutex> lock(write_mu);
      jobs.emplace_back(conn_id, std::move(job));
    }
    write_cv.notify_one();
  }

  // Group commit: take every job queued so far, one backend call, one durable commit.
  void writer_loop() {
    for (;;) {
      std::vector<uint64_t> ids;
      std::vector<DeliveryJob> batch;
      {
        std::unique_lock<std::mutex> lock(write_mu);
        write_cv.wait(lock, [&] { return stop_threads || !jobs.empty(); });
        if (stop_threads && jobs.empty()) return;
        while (!jobs.empty() && batch.size() < kMaxBatch) {
          ids.push_back(jobs.front().first);
          batch.push_back(std::move(jobs.front().second));
          jobs.pop_front();
        }
      }
      std::vector<DeliveryResult> results;
      try {
        if (backend.deliver) results = backend.deliver(batch);
      } catch (const std::exception& e) {
        log::sys().error("smtpd: deliver failed: {}", e.what());
      }
      if (results.size() != batch.size()) {
        results.assign(batch.size(), DeliveryResult{DeliveryResult::Outcome::kTempFail, "",
                                                    "Error: queue file write error"});
      }
      auto shared_batch = std::make_shared<std::vector<DeliveryJob>>(std::move(batch));
      auto shared_results = std::make_shared<std::vector<DeliveryResult>>(std::move(results));
      post([this, ids = std::move(ids), shared_batch, shared_results] {
        for (size_t i = 0; i < ids.size(); ++i)
          deliver_answer(ids[i], (*shared_batch)[i], (*shared_results)[i]);
      });
      if (backend.record) {
        try {
          backend.record(*shared_batch, *shared_results);
        } catch (const std::exception& e) {
          log::sys().error("smtpd: trace failed: {}", e.what());
        }
      }
    }
  }

  // prepare (filter) on a worker, then the writer; or straight to the writer.
  void submit_delivery(uint64_t conn_id, DeliveryJob job) {
    if (!backend.prepare) return enqueue_delivery(conn_id, std::move(job));
    auto shared = std::make_shared<DeliveryJob>(std::move(job));
    run_worker([this, conn_id, shared] {
      try {
        backend.prepare(*shared);
      } catch (const std::exception& e) {
        // A filter fault lets the mail through (architecture: "The filter").
        log::sys().error("smtpd: prepare failed for {}: {}", shared->queue_id, e.what());
      }
      if (shared->decided) {
        post([this, conn_id, shared] { deliver_answer(conn_id, *shared, *shared->decided); });
        if (backend.record) backend.record({*shared}, {*shared->decided});
      } else {
        enqueue_delivery(conn_id, std::move(*shared));
      }
    });
  }

  void deliver_answer(uint64_t id, const DeliveryJob& job, const DeliveryResult& r);
  void accept(ListenerKind kind, evutil_socket_t fd, const sockaddr* sa);
  void release(Connection* c);
  void maybe_finish_shutdown();
};

struct Connection {
  Server::Impl* srv;
  uint64_t id;
  ListenerKind kind;
  std::string ip;
  std::string session_id;
  bufferevent* bev = nullptr;
  event* timer = nullptr;
  event* delay_timer = nullptr;
  std::unique_ptr<Session> session;
  std::deque<Action> queue;
  bool delaying = false;
  bool closing = false;
  bool dead = false;
  bool read_paused = false;
  bool handshake = false;     // implicit TLS: waiting for the handshake before the greeting
  bool tls_pending = false;   // STARTTLS handshake running

  Connection(Server::Impl* s, uint64_t i, ListenerKind k, std::string addr)
      : srv(s), id(i), kind(k), ip(std::move(addr)) {
    session_id = "s" + std::to_string(id);
  }
  ~Connection() { free_io(); }

  void free_io() {
    if (timer) event_free(timer);
    if (delay_timer) event_free(delay_timer);
    if (bev) bufferevent_free(bev);
    timer = delay_timer = nullptr;
    bev = nullptr;
  }

  void set_callbacks() {
    bufferevent_setcb(bev, &Connection::on_read, &Connection::on_write, &Connection::on_event, this);
    bufferevent_enable(bev, EV_READ | EV_WRITE);
  }

  // Re-arms the timer when the deadline may move: always in DATA/BDAT (data keeps
  // flowing), otherwise only after the session completed something (see
  // Session::progress()) or changed phase (an answer from the backend, TLS up).
  void arm_timer() {
    if (dead) return;
    Phase ph = session->phase();
    bool streaming = ph == Phase::kData || ph == Phase::kBdat;
    bool moved = ph != last_phase || session->progress() != last_progress;
    if (!moved && !streaming && evtimer_pending(timer, nullptr)) return;
    last_phase = ph;
    last_progress = session->progress();
    std::chrono::seconds s = handshake ? srv->cfg.options.tls_handshake_timeout : session->timeout();
    timeval tv = to_tv(std::chrono::duration_cast<std::chrono::milliseconds>(s));
    evtimer_add(timer, &tv);
  }

  void close_now(const char* why) {
    if (dead) return;
    dead = true;
    log::sys().info("smtpd {} [{}] disconnect ({}): {}", session_id, ip, why, session->summary());
    free_io();
    srv->release(this);
  }

  void start_session() {
    session->start();
    pump();
  }

  // Greets now, or after options.greeting_delay (pregreet test: bytes that arrive in the
  // meantime are buffered, and Session::start() refuses a client that talked first).
  void greet() {
    std::chrono::milliseconds d = srv->cfg.options.greeting_delay;
    if (d.count() <= 0) return start_session();
    greeting_wait = true;
    timeval tv = to_tv(d);
    evtimer_add(delay_timer, &tv);
  }
  bool greeting_wait = false;

  // "TLSv1.3 with cipher TLS_AES_256_GCM_SHA384" for the Received header, "" without TLS.
  std::string tls_detail() const {
    SSL* ssl = bev ? bufferevent_openssl_get_ssl(bev) : nullptr;
    if (!ssl) return "";
    return std::string(SSL_get_version(ssl)) + " with cipher " + SSL_get_cipher_name(ssl);
  }

  void pump() {
    if (dead) return;
    for (Action& a : session->take_actions()) queue.push_back(std::move(a));
    run_queue();
  }

  void run_queue() {
    while (!dead && !queue.empty() && !delaying) {
      Action a = std::move(queue.front());
      queue.pop_front();
      if (auto* s = std::get_if<Send>(&a)) {
        if (s->delay.count() > 0) {
          // Hold this and everything after it (error / AUTH failure slow-down).
          timeval tv = to_tv(s->delay);
          s->delay = std::chrono::milliseconds(0);
          queue.push_front(std::move(a));
          delaying = true;
          evtimer_add(delay_timer, &tv);
          break;
        }
        bufferevent_write(bev, s->bytes.data(), s->bytes.size());
      } else if (std::holds_alternative<Close>(a)) {
        closing = true;
        queue.clear();
        bufferevent_disable(bev, EV_READ);
        if (output_empty()) return close_now("closed");
        linger();
      } else if (std::holds_alternative<StartTls>(a)) {
        start_tls();
      } else if (auto* r = std::get_if<CheckRecipient>(&a)) {
        RecipientStatus st = srv->backend.check_recipient ? srv->backend.check_recipient(r->address)
                                                          : RecipientStatus::kTempFail;
        session->on_recipient_checked(st);
        for (Action& n : session->take_actions()) queue.push_back(std::move(n));
      } else if (auto* cs = std::get_if<CheckSender>(&a)) {
        bool owned = srv->backend.sender_owned && srv->backend.sender_owned(cs->user, cs->address);
        session->on_sender_checked(owned);
        for (Action& n : session->take_actions()) queue.push_back(std::move(n));
      } else if (auto* au = std::get_if<Authenticate>(&a)) {
        Server::Impl* s2 = srv;
        uint64_t cid = id;
        std::string addr = ip;
        std::string helo = session->helo();
        srv->run_worker([s2, cid, req = std::move(*au), addr, helo] {
          AuthStatus st = s2->backend.authenticate ? s2->backend.authenticate(req, addr, helo)
                                                   : AuthStatus::kTempFail;
          s2->post([s2, cid, st] {
            auto it = s2->conns.find(cid);
            if (it == s2->conns.end() || it->second->dead) return;
            it->second->session->on_auth_result(st);
            it->second->pump();
            it->second->resume_reading();
          });
        });
      } else if (auto* d = std::get_if<DeliverMessage>(&a)) {
        DeliveryJob job;
        if (srv->backend.queue_id) job.queue_id = srv->backend.queue_id();
        if (job.queue_id.empty()) job.queue_id = new_queue_id();
        job.envelope = std::move(d->envelope);
        // RFC 5321 §4.4: Return-Path at final delivery, our Received trace header first.
        std::string data = "Return-Path: <" + job.envelope.mail_from + ">\r\n";
        data += received_header(job.envelope, srv->cfg.options.hostname, job.queue_id,
                                rfc5322_date_now(), tls_detail());
        data += d->data;
        job.data = std::move(data);
        srv->submit_delivery(id, std::move(job));
      }
    }
    if (!dead) arm_timer();
  }

  // Everything written has left for the kernel (with STARTTLS, also the layer below the
  // TLS filter: the filter's own buffer empties before the socket's does).
  bool output_empty() const {
    if (evbuffer_get_length(bufferevent_get_output(bev)) != 0) return false;
    bufferevent* under = bufferevent_get_underlying(bev);
    return !under || evbuffer_get_length(bufferevent_get_output(under)) == 0;
  }

  // Closing with output still queued: look again shortly (the write callback of a filter
  // does not tell when the socket below has drained). Gives up after kMaxLingerChecks.
  void linger() {
    timeval tv{0, 20000};
    evtimer_add(delay_timer, &tv);
  }
  static constexpr int kMaxLingerChecks = 250;  // 5 seconds
  int linger_checks = 0;
  uint64_t last_progress = UINT64_MAX;
  Phase last_phase = Phase::kClosed;

  void start_tls() {
    SSL* ssl = srv->cfg.tls ? srv->cfg.tls->new_ssl() : nullptr;
    bufferevent* filtered = ssl ? bufferevent_openssl_filter_new(srv->base, bev, ssl,
                                                                 BUFFEREVENT_SSL_ACCEPTING,
                                                                 BEV_OPT_CLOSE_ON_FREE)
                                : nullptr;
    if (!filtered) {
      if (ssl) SSL_free(ssl);
      session->on_tls_result(false);
      for (Action& n : session->take_actions()) queue.push_back(std::move(n));
      return;
    }
    bev = filtered;
    tls_pending = true;
    set_callbacks();
  }

  void resume_reading() {
    if (dead || closing || !read_paused) return;
    if (session->backlog() >= kMaxInputBacklog) return;
    read_paused = false;
    bufferevent_enable(bev, EV_READ);
    drain_input();
  }

  void drain_input() {
    static thread_local std::string buf;
    buf.resize(kReadChunk);
    while (!dead && !closing && !tls_pending && !handshake) {
      evbuffer* in = bufferevent_get_input(bev);
      if (evbuffer_get_length(in) == 0) break;
      if (session->backlog() >= kMaxInputBacklog) {
        bufferevent_disable(bev, EV_READ);
        read_paused = true;
        break;
      }
      int n = evbuffer_remove(in, buf.data(), buf.size());
      if (n <= 0) break;
      session->feed(std::string_view(buf.data(), static_cast<size_t>(n)));
      pump();
    }
    if (!dead) arm_timer();
  }

  template <typename F>
  static void guard(Connection* c, F&& f) {
    try {
      f();
    } catch (const std::exception& e) {
      log::sys().error("smtpd {} [{}]: {}", c->session_id, c->ip, e.what());
      c->close_now("internal error");
    } catch (...) {
      log::sys().error("smtpd {} [{}]: unknown exception", c->session_id, c->ip);
      c->close_now("internal error");
    }
  }

  static void on_read(bufferevent*, void* arg) {
    auto* c = static_cast<Connection*>(arg);
    guard(c, [&] { c->drain_input(); });
  }

  static void on_write(bufferevent*, void* arg) {
    auto* c = static_cast<Connection*>(arg);
    guard(c, [&] {
      if (c->closing && c->output_empty()) c->close_now("closed");
    });
  }

  static void on_event(bufferevent*, short what, void* arg) {
    auto* c = static_cast<Connection*>(arg);
    guard(c, [&] {
      if (what & BEV_EVENT_CONNECTED) {
        if (c->handshake) {
          c->handshake = false;
          c->greet();
          c->drain_input();
        } else if (c->tls_pending) {
          c->tls_pending = false;
          c->session->on_tls_result(true);
          c->pump();
          c->drain_input();
        }
        return;
      }
      if (what & (BEV_EVENT_EOF | BEV_EVENT_ERROR | BEV_EVENT_TIMEOUT)) {
        unsigned long ssl_err = bufferevent_get_openssl_error(c->bev);
        if (ssl_err != 0) {
          char buf[256];
          ERR_error_string_n(ssl_err, buf, sizeof buf);
          log::sys().info("smtpd {} [{}] TLS error: {}", c->session_id, c->ip, buf);
        }
        c->close_now((what & BEV_EVENT_EOF) ? "client closed" : "connection error");
      }
    });
  }

  static void on_timer(evutil_socket_t, short, void* arg) {
    auto* c = static_cast<Connection*>(arg);
    guard(c, [&] {
      if (c->handshake || c->tls_pending) return c->close_now("TLS handshake timeout");
      c->session->on_timeout();
      c->pump();
    });
  }

  static void on_delay(evutil_socket_t, short, void* arg) {
    auto* c = static_cast<Connection*>(arg);
    guard(c, [&] {
      if (c->greeting_wait) {
        c->greeting_wait = false;
        c->start_session();
        c->drain_input();
        return;
      }
      if (c->closing) {
        if (c->output_empty() || ++c->linger_checks >= kMaxLingerChecks) return c->close_now("closed");
        return c->linger();
      }
      c->delaying = false;
      c->run_queue();
    });
  }
};

void Server::Impl::deliver_answer(uint64_t id, const DeliveryJob& job, const DeliveryResult& r) {
  const char* status = r.outcome == DeliveryResult::Outcome::kAccepted   ? "sent"
                       : r.outcome == DeliveryResult::Outcome::kRejected ? "rejected"
                                                                         : "deferred";
  log::mail(job.queue_id,
            "from=<" + job.envelope.mail_from + ">, size=" + std::to_string(job.data.size()) +
                ", nrcpt=" + std::to_string(job.envelope.recipients.size()) + ", client=[" +
                job.envelope.client_ip + "], status=" + status +
                (r.outcome == DeliveryResult::Outcome::kAccepted ? "" : " (" + r.reason + ")"));
  auto it = conns.find(id);
  if (it == conns.end() || it->second->dead) return;  // the client went away: no 250
  DeliveryResult answer = r;
  if (answer.outcome == DeliveryResult::Outcome::kAccepted) answer.queue_id = job.queue_id;
  Connection* c = it->second.get();
  Connection::guard(c, [&] {
    c->session->on_delivered(answer);
    c->pump();
    c->resume_reading();
    c->drain_input();
  });
}

void Server::Impl::accept(ListenerKind kind, evutil_socket_t fd, const sockaddr* sa) {
  std::string ip = peer_ip(sa);
  const Options& o = cfg.options;
  std::string refusal = shutting_down ? std::string("Service shutting down")
                                       : limiter.admit(ip, monotonic_ns() / 1000000000ull);
  if (!refusal.empty()) {
    log::sys().info("smtpd [{}] refused on {}: {}", ip, kind_name(kind), refusal);
    if (kind != ListenerKind::kSubmissions) {
      std::string reply = refusal_reply(o.hostname, refusal);
      ssize_t ignored = ::send(fd, reply.data(), reply.size(), MSG_NOSIGNAL | MSG_DONTWAIT);
      (void)ignored;
    }
    evutil_closesocket(fd);
    return;
  }
  uint64_t id = next_id++;
  auto conn = std::make_unique<Connection>(this, id, kind, ip);
  Connection* c = conn.get();
  ListenerPolicy policy;
  switch (kind) {
    case ListenerKind::kMx: policy = ListenerPolicy::mx(cfg.tls != nullptr); break;
    case ListenerKind::kSubmission:
      policy = ListenerPolicy::submission();
      policy.tls_available = cfg.tls != nullptr;
      break;
    case ListenerKind::kSubmissions: policy = ListenerPolicy::submissions(); break;
  }
  c->session = std::make_unique<Session>(cfg.options, policy, c->session_id, ip);
  c->timer = evtimer_new(base, &Connection::on_timer, c);
  c->delay_timer = evtimer_new(base, &Connection::on_delay, c);
  if (kind == ListenerKind::kSubmissions) {
    SSL* ssl = cfg.tls->new_ssl();
    c->bev = bufferevent_openssl_socket_new(base, fd, ssl, BUFFEREVENT_SSL_ACCEPTING,
                                            BEV_OPT_CLOSE_ON_FREE);
    c->handshake = true;
  } else {
    c->bev = bufferevent_socket_new(base, fd, BEV_OPT_CLOSE_ON_FREE);
  }
  if (!c->bev || !c->timer || !c->delay_timer) {
    log::sys().error("smtpd [{}]: cannot set up the connection", ip);
    if (!c->bev) evutil_closesocket(fd);
    limiter.release(ip);
    return;  // conn's destructor frees what exists
  }
  conns.emplace(id, std::move(conn));
  log::sys().info("smtpd {} [{}] connect on {}", c->session_id, ip, kind_name(kind));
  c->set_callbacks();
  Connection::guard(c, [&] {
    if (c->handshake) {
      c->arm_timer();
    } else {
      c->greet();
    }
  });
}

void Server::Impl::release(Connection* c) {
  limiter.release(c->ip);
  uint64_t id = c->id;
  // Destroy on a fresh loop turn: callbacks up the stack may still use `c`.
  post([this, id] {
    conns.erase(id);
    maybe_finish_shutdown();
  });
}

void Server::Impl::maybe_finish_shutdown() {
  if (shutting_down && conns.empty()) event_base_loopexit(base, nullptr);
}

// ---- Server ----

Server::Server(event_base* base, ServerConfig config, Backend backend)
    : impl_(std::make_unique<Impl>(base, std::move(config), std::move(backend))) {
  Options& o = impl_->cfg.options;
  if (o.soft_error_limit >= o.max_errors) o.soft_error_limit = std::max(1u, o.max_errors / 2);
  impl_->wake = event_new(base, -1, 0, &Impl::on_wake, impl_.get());
  for (unsigned i = 0; i < std::max(1u, impl_->cfg.worker_threads); ++i)
    impl_->workers.emplace_back([this] { impl_->worker_loop(); });
  impl_->writer = std::thread([this] { impl_->writer_loop(); });
}

Server::~Server() {
  {
    std::lock_guard<std::mutex> a(impl_->work_mu);
    std::lock_guard<std::mutex> b(impl_->write_mu);
    impl_->stop_threads = true;
  }
  impl_->work_cv.notify_all();
  impl_->write_cv.notify_all();
  for (auto& t : impl_->workers) t.join();
  impl_->writer.join();
  impl_->conns.clear();
  for (auto& l : impl_->listeners)
    if (l->listener) evconnlistener_free(l->listener);
  if (impl_->grace) event_free(impl_->grace);
  if (impl_->wake) event_free(impl_->wake);
}

static void on_accept_cb(evconnlistener*, evutil_socket_t fd, sockaddr* sa, int, void* arg) {
  auto* ctx = static_cast<ListenerCtx*>(arg);
  try {
    ctx->impl->accept(ctx->kind, fd, sa);
  } catch (const std::exception& e) {
    log::sys().error("smtpd: accept failed: {}", e.what());
  }
}

Status Server::start() {
  for (const ListenerConfig& lc : impl_->cfg.listeners) {
    if (lc.port == 0 && !lc.bind_any_port) continue;
    if (lc.kind == ListenerKind::kSubmissions && !impl_->cfg.tls)
      return Status::invalid("smtpd: the submissions listener needs a TLS certificate");
    sockaddr_storage ss{};
    int len = sizeof ss;
    std::string text = lc.host + ":" + std::to_string(lc.port);
    if (lc.host.find(':') != std::string::npos) text = "[" + lc.host + "]:" + std::to_string(lc.port);
    if (evutil_parse_sockaddr_port(text.c_str(), reinterpret_cast<sockaddr*>(&ss), &len) != 0)
      return Status::invalid("smtpd: bad listen address " + text);
    auto ctx = std::make_unique<ListenerCtx>();
    ctx->impl = impl_.get();
    ctx->kind = lc.kind;
    ctx->listener = evconnlistener_new_bind(impl_->base, &on_accept_cb, ctx.get(),
                                            LEV_OPT_REUSEABLE | LEV_OPT_CLOSE_ON_FREE |
                                                LEV_OPT_CLOSE_ON_EXEC,
                                            128, reinterpret_cast<sockaddr*>(&ss), len);
    if (!ctx->listener)
      return Status::io_error("smtpd: cannot listen on " + text + ": " + std::strerror(errno));
    sockaddr_storage bound{};
    socklen_t blen = sizeof bound;
    getsockname(evconnlistener_get_fd(ctx->listener), reinterpret_cast<sockaddr*>(&bound), &blen);
    ctx->port = ntohs(bound.ss_family == AF_INET6 ? reinterpret_cast<sockaddr_in6*>(&bound)->sin6_port
                                                   : reinterpret_cast<sockaddr_in*>(&bound)->sin_port);
    log::sys().info("smtpd: {} listener on {}:{}", kind_name(lc.kind), lc.host, ctx->port);
    impl_->listeners.push_back(std::move(ctx));
  }
  return Status::ok();
}

uint16_t Server::port(ListenerKind kind) const {
  for (const auto& l : impl_->listeners)
    if (l->kind == kind) return l->port;
  return 0;
}

size_t Server::connections() const { return impl_->conns.size(); }

void Server::shutdown() {
  Impl* impl = impl_.get();
  if (impl->shutting_down) return;
  impl->shutting_down = true;
  for (auto& l : impl->listeners) {
    if (l->listener) evconnlistener_free(l->listener);
    l->listener = nullptr;
  }
  std::vector<Connection*> live;
  for (auto& [id, c] : impl->conns)
    if (!c->dead) live.push_back(c.get());
  for (Connection* c : live) {
    Connection::guard(c, [&] {
      if (c->handshake) return c->close_now("shutdown");
      c->session->on_shutdown();
      c->pump();
    });
  }
  impl->grace = evtimer_new(
      impl->base, [](evutil_socket_t, short, void* arg) { event_base_loopexit(static_cast<event_base*>(arg), nullptr); },
      impl->base);
  timeval tv{kShutdownGraceSeconds, 0};
  evtimer_add(impl->grace, &tv);
  impl->maybe_finish_shutdown();
}

}  // namespace tsubame::smtp
