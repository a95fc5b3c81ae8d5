// imapd/server.cc: libevent listeners and connections around imap::Session (see server.h).
//
// Failure: every callback catches everything; a connection whose callback failed is logged
// and dropped, the server goes on. Limits answer "* BYE" (RFC 9051 §7.1.5) and close.
#include "imapd/server.h"

#include <arpa/inet.h>
#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/bufferevent_ssl.h>
#include <event2/event.h>
#include <event2/listener.h>
#include <netinet/in.h>
#include <openssl/ssl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <condition_variable>
#include <deque>
#include <functional>
#include <mutex>
#include <string>
#include <thread>
#include <variant>
#include <unordered_map>
#include <unordered_set>

#include "common/crypto.h"
#include "common/log.h"
#include "common/tls.h"
#include "imapd/limits.h"
#include "imapd/search_cache.h"
#include "imapd/session.h"
#include "imapd/writer.h"

namespace tsubame::imap {

namespace {

std::string peer_ip(const sockaddr* sa) {
  char buf[INET6_ADDRSTRLEN] = {0};
  if (sa->sa_family == AF_INET)
    inet_ntop(AF_INET, &reinterpret_cast<const sockaddr_in*>(sa)->sin_addr, buf, sizeof buf);
  else if (sa->sa_family == AF_INET6)
    inet_ntop(AF_INET6, &reinterpret_cast<const sockaddr_in6*>(sa)->sin6_addr, buf, sizeof buf);
  return buf;
}

}  // namespace

struct Conn;

struct ListenerArg {
  Server::Impl* impl;
  ListenerConfig cfg;
};

// The KDF worker pool (architecture: "a small worker pool for CPU work"): Argon2id password
// checks run here; results come back to the loop through one event made active from the
// worker (libevent is initialised with evthread_use_pthreads).
//   session ── take_password_check ──▶ jobs ──▶ worker: verify_password ──▶ results
//      ▲                                                                       │
//      └──────────── password_checked (loop thread, on_wake) ◀── event_active ─┘
// Also a SEARCH's text extraction (Session::TextJob): the decoded, folded text of the
// mailbox's uncached messages goes into the shared search cache, then the session's command
// runs on the loop with a warm cache.
struct KdfJob {
  uint64_t conn_id = 0;
  std::variant<PasswordCheck, Session::TextJob> work;
};

struct Server::Impl {
  event_base* base;
  store::Store& store;
  ServerConfig cfg;
  std::unordered_map<uint64_t, Conn*> by_id;
  uint64_t next_id = 1;
  std::mutex mu;  // guards jobs, results, stop
  std::condition_variable cv;
  std::deque<KdfJob> jobs;
  std::vector<std::pair<uint64_t, bool>> results;
  std::vector<uint64_t> text_results;  // connection ids whose text job is done
  bool stop = false;
  event* wake = nullptr;
  std::vector<std::thread> workers;
  // Group commit (imapd/writer.h): tickets are connection ids; outcomes come back through
  // write_wake, made active by the writer thread.
  std::unique_ptr<GroupWriter> writer;
  // imapd.flag_sync = journal: early-acknowledged STOREs (imapd/flag_journal.h). Their
  // writer tickets carry kEarlyTicket; sessions waiting for them are in flag_waiters.
  std::unique_ptr<FlagJournal> journal;
  FlagOverlay overlay;
  std::unordered_set<uint64_t> flag_waiters;  // connection ids
  static constexpr uint64_t kEarlyTicket = 1ull << 63;
  void resume_flag_waiters();
  void resume(uint64_t id, const char* what, const std::function<void(Session&, std::string&)>& fn);
  // SEARCH's decoded text, shared by every session (imapd/search_cache.h).
  std::shared_ptr<SearchCache> search_cache = std::make_shared<SearchCache>();
  event* write_wake = nullptr;
  static void on_write_wake(evutil_socket_t, short, void* arg);

  void submit(uint64_t id, std::variant<PasswordCheck, Session::TextJob> work);
  void run_text_job(const Session::TextJob& job);
  void worker_loop();
  static void on_wake(evutil_socket_t, short, void* arg);
  std::vector<evconnlistener*> listeners;
  std::vector<std::unique_ptr<ListenerArg>> listener_args;  // stable addresses for callbacks
  std::vector<uint16_t> ports;
  std::unordered_set<Conn*> conns;
  std::unordered_map<std::string, unsigned> per_ip;
  bool stopping = false;

  int notify_fd = -1;
  event* notify_ev = nullptr;

  Impl(event_base* b, store::Store& s, ServerConfig c) : base(b), store(s), cfg(std::move(c)) {}
  void open_notify_socket();
  void close_notify_socket();
  static void on_notify(evutil_socket_t fd, short, void* arg);
  void wake_user(uint64_t user_id);
  void accept(evutil_socket_t fd, const sockaddr* sa, const ListenerConfig& l);
  void release(Conn* c);
};

struct Conn {
  Server::Impl* srv = nullptr;
  uint64_t id = 0;
  bufferevent* bev = nullptr;
  event* timer = nullptr;
  event* poll = nullptr;
  std::unique_ptr<Session> session;
  std::string ip;
  bool closing = false;

  ~Conn() {
    if (timer) event_free(timer);
    if (poll) event_free(poll);
    if (bev) bufferevent_free(bev);
  }

  bool output_empty() const {
    if (evbuffer_get_length(bufferevent_get_output(bev)) != 0) return false;
    bufferevent* under = bufferevent_get_underlying(bev);
    return !under || evbuffer_get_length(bufferevent_get_output(under)) == 0;
  }

  void arm_timeout() {
    int64_t secs = session->state() == SessionState::kNotAuthenticated
                       ? session->timeout_seconds()
                       : srv->cfg.idle_timeout_seconds;
    timeval tv{static_cast<time_t>(secs), 0};
    evtimer_add(timer, &tv);
  }

  // Stops reading; the connection is freed once its output is flushed, or after a short
  // linger (a TLS filter may hold bytes that no write callback will report).
  void begin_close() {
    if (closing) return;
    closing = true;
    bufferevent_disable(bev, EV_READ);
    timeval tv{2, 0};
    evtimer_add(timer, &tv);
  }

  // Writes the session's output and applies what the session asks for.
  void after(const std::string& out) {
    if (!out.empty()) bufferevent_write(bev, out.data(), out.size());
    if (auto check = session->take_password_check()) srv->submit(id, std::move(*check));
    if (auto job = session->take_text_job()) srv->submit(id, std::move(*job));
    // Early STOREs first: the session accepted them before any write it is now waiting for.
    for (auto& e : session->take_early_writes())
      srv->writer->submit(id | Server::Impl::kEarlyTicket, std::move(e.request), e.journal_seq);
    if (auto w = session->take_write()) {
      srv->overlay.ordinary_submitted();
      srv->writer->submit(id, std::move(*w));
    }
    if (session->flag_barrier()) srv->flag_waiters.insert(id);
    if (session->wants_start_tls()) start_tls();
    if (session->wants_close()) begin_close();
    if (session->idling()) {
      if (!evtimer_pending(poll, nullptr)) {
        int ms = srv->cfg.idle_poll_ms;
        timeval tv{static_cast<time_t>(ms / 1000), static_cast<suseconds_t>(ms % 1000) * 1000};
        evtimer_add(poll, &tv);
      }
    } else if (evtimer_pending(poll, nullptr)) {
      evtimer_del(poll);
    }
  }

  // RFC 9051 §6.2.1: the TLS negotiation begins right after the tagged OK; plaintext the
  // client pipelined behind STARTTLS is dropped, never executed.
  void start_tls() {
    evbuffer* in = bufferevent_get_input(bev);
    evbuffer_drain(in, evbuffer_get_length(in));
    SSL* ssl = srv->cfg.tls->new_ssl();
    constexpr int kOpts = BEV_OPT_CLOSE_ON_FREE | BEV_OPT_DEFER_CALLBACKS;
    bufferevent* f = ssl ? bufferevent_openssl_filter_new(srv->base, bev, ssl,
                                                          BUFFEREVENT_SSL_ACCEPTING, kOpts)
                         : nullptr;
    if (!f) {
      if (ssl) SSL_free(ssl);
      log::sys().warn("imapd: {}: cannot start TLS", ip);
      begin_close();
      return;
    }
    bev = f;
    bufferevent_setcb(bev, &Conn::on_read, &Conn::on_write, &Conn::on_event, this);
    bufferevent_enable(bev, EV_READ | EV_WRITE);
    session->tls_started();
  }

  static void on_read(bufferevent*, void* arg) {
    auto* c = static_cast<Conn*>(arg);
    try {
      evbuffer* in = bufferevent_get_input(c->bev);
      std::string data(evbuffer_get_length(in), '\0');
      evbuffer_remove(in, data.data(), data.size());
      std::string out;
      // The deadline runs from the start of each command; bytes of an unfinished command do
      // not extend it (imapd/limits.h).
      if (!c->session->in_command()) c->arm_timeout();
      c->session->receive(data, out);
      if (!c->closing && !c->session->in_command()) c->arm_timeout();
      c->after(out);
      if (c->closing && c->output_empty()) c->srv->release(c);
    } catch (const std::exception& e) {
      log::sys().error("imapd: {}: session failed: {}", c->ip, e.what());
      c->srv->release(c);
    }
  }
  static void on_write(bufferevent*, void* arg) {
    auto* c = static_cast<Conn*>(arg);
    if (c->closing && c->output_empty()) c->srv->release(c);
  }
  static void on_event(bufferevent*, short what, void* arg) {
    auto* c = static_cast<Conn*>(arg);
    if (what & (BEV_EVENT_EOF | BEV_EVENT_ERROR | BEV_EVENT_TIMEOUT)) c->srv->release(c);
  }
  static void on_timer(evutil_socket_t, short, void* arg) {
    auto* c = static_cast<Conn*>(arg);
    if (c->closing) {  // the linger after BYE is over
      c->srv->release(c);
      return;
    }
    try {
      std::string out;
      c->session->timeout(out);  // RFC 9051 §5.4 autologout
      c->after(out);
      c->begin_close();
      if (c->output_empty()) c->srv->release(c);
    } catch (...) {
      c->srv->release(c);
    }
  }
  static void on_poll(evutil_socket_t, short, void* arg) {
    auto* c = static_cast<Conn*>(arg);
    try {
      std::string out;
      c->session->poll(out);
      c->after(out);  // re-arms the poll while the client is still idling
    } catch (const std::exception& e) {
      log::sys().error("imapd: {}: poll failed: {}", c->ip, e.what());
      c->srv->release(c);
    }
  }
};

void Server::Impl::submit(uint64_t id, std::variant<PasswordCheck, Session::TextJob> work) {
  {
    std::lock_guard<std::mutex> lock(mu);
    jobs.push_back(KdfJob{id, std::move(work)});
  }
  cv.notify_one();
}

// On a worker: what Session::search_hits would extract inline, put into the shared cache.
// A message that cannot be read or parsed is skipped (the search then reads it inline and
// falls back to its raw octets, as before).
void Server::Impl::run_text_job(const Session::TextJob& job) {
  auto start = std::chrono::steady_clock::now();
  size_t done = extract_search_text(store, cfg.extract_text, *search_cache, job, [this] {
    std::lock_guard<std::mutex> lock(mu);  // a stopping server does not wait for a mailbox
    return stop;
  });
  auto ms = std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::steady_clock::now() - start);
  log::sys().info("imapd: search text of {} message(s) extracted off the event loop in {} ms", done,
                  ms.count());
}

void Server::Impl::worker_loop() {
  while (true) {
    KdfJob job;
    {
      std::unique_lock<std::mutex> lock(mu);
      cv.wait(lock, [&] { return stop || !jobs.empty(); });
      if (stop) return;
      job = std::move(jobs.front());
      jobs.pop_front();
    }
    if (auto* text = std::get_if<Session::TextJob>(&job.work)) {
      try {
        run_text_job(*text);
      } catch (const std::exception& e) {  // allocation failure: the search runs inline
        log::sys().error("imapd: search text extraction failed: {}", e.what());
      }
      std::lock_guard<std::mutex> lock(mu);
      if (stop) return;
      text_results.push_back(job.conn_id);
      event_active(wake, EV_READ, 0);
      continue;
    }
    const auto& check = std::get<PasswordCheck>(job.work);
    bool ok = crypto::verify_password(check.password, check.hash);
    std::lock_guard<std::mutex> lock(mu);
    if (stop) return;
    results.emplace_back(job.conn_id, ok);
    event_active(wake, EV_READ, 0);
  }
}

void Server::Impl::on_wake(evutil_socket_t, short, void* arg) {
  auto* impl = static_cast<Impl*>(arg);
  std::vector<std::pair<uint64_t, bool>> done;
  std::vector<uint64_t> texts;
  {
    std::lock_guard<std::mutex> lock(impl->mu);
    done.swap(impl->results);
    texts.swap(impl->text_results);
  }
  for (uint64_t id : texts)
    impl->resume(id, "search", [](Session& s, std::string& out) { s.text_ready(out); });
  for (const auto& [id, ok] : done)
    impl->resume(id, "login", [ok = ok](Session& s, std::string& out) { s.password_checked(ok, out); });
}

// A paused session of connection `id` goes on (its password check, text job or flag
// barrier is done): what it answers is written, and the connection is released if it
// ended. Nothing if the connection is gone meanwhile.
void Server::Impl::resume(uint64_t id, const char* what,
                          const std::function<void(Session&, std::string&)>& fn) {
  auto it = by_id.find(id);
  if (it == by_id.end()) return;
  Conn* c = it->second;
  try {
    std::string out;
    fn(*c->session, out);
    if (!c->closing && !c->session->in_command()) c->arm_timeout();
    c->after(out);  // may pause again (a later write, a flag barrier): handled there
    if (c->closing && c->output_empty()) release(c);
  } catch (const std::exception& e) {
    log::sys().error("imapd: {}: {} failed: {}", c->ip, what, e.what());
    release(c);
  }
}

// Outcomes of the writer's batches: each completes its session's command (the OK after the
// commit), then the session runs what the client pipelined meanwhile.
// Then the IDLE sessions of the users who wrote are polled at once (RFC 2177: another
// session's APPEND, STORE or EXPUNGE reaches an idling client without waiting for the poll).
void Server::Impl::on_write_wake(evutil_socket_t, short, void* arg) {
  auto* impl = static_cast<Impl*>(arg);
  std::vector<uint64_t> writers;
  for (auto& done : impl->writer->take_done()) {
    // Named references, not a structured binding: the lambda below captures `outcome`,
    // which clang before 16 refuses for a binding (P1091R3); the fuzz build uses clang 14.
    uint64_t ticket = done.first;
    store::WriteOutcome& outcome = done.second;
    bool early = ticket & kEarlyTicket;
    uint64_t id = ticket & ~kEarlyTicket;
    if (early) impl->overlay.completed();
    else impl->overlay.ordinary_done();
    // An acknowledged STORE whose batch did not commit (an I/O error, a full map) stays in
    // the journal and is replayed at the next start (GroupWriter keeps the journal whole);
    // sessions see the stored flags meanwhile. The writer logs it.
    auto it = impl->by_id.find(id);
    if (it == impl->by_id.end()) continue;  // the connection is gone; the write stands
    Conn* c = it->second;
    if (outcome.status.is_ok() &&
        std::find(writers.begin(), writers.end(), c->session->user_id()) == writers.end())
      writers.push_back(c->session->user_id());
    if (early) {  // already answered: the session only learns the MODSEQs
      c->session->early_write_done(outcome);
      continue;
    }
    impl->resume(id, "write completion",
                 [&outcome](Session& s, std::string& out) { s.write_done(std::move(outcome), out); });
  }
  impl->resume_flag_waiters();
  for (uint64_t u : writers) impl->wake_user(u);
}

// Sessions whose next command waited for early STOREs that have now all committed.
void Server::Impl::resume_flag_waiters() {
  if (flag_waiters.empty()) return;
  std::vector<uint64_t> ready;
  for (uint64_t id : flag_waiters) {
    auto it = by_id.find(id);
    if (it == by_id.end()) {
      ready.push_back(id);
      continue;
    }
    auto b = it->second->session->flag_barrier();
    if (!b || *b <= overlay.completed_seq()) ready.push_back(id);
  }
  for (uint64_t id : ready) {
    flag_waiters.erase(id);
    resume(id, "command", [](Session& s, std::string& out) { s.flags_settled(out); });
  }
}

void Server::Impl::release(Conn* c) {
  if (!conns.erase(c)) return;
  log::sys().info("imapd: {} disconnected: {}", c->ip, c->session ? c->session->summary() : "");
  by_id.erase(c->id);
  flag_waiters.erase(c->id);
  auto it = per_ip.find(c->ip);
  if (it != per_ip.end() && --it->second == 0) per_ip.erase(it);
  delete c;
  if (stopping && conns.empty()) event_base_loopexit(base, nullptr);
}

void Server::Impl::accept(evutil_socket_t fd, const sockaddr* sa, const ListenerConfig& l) {
  std::string ip = peer_ip(sa);
  if (stopping || conns.size() >= cfg.max_connections ||
      per_ip[ip] >= cfg.max_connections_per_ip) {
    if (per_ip[ip] == 0) per_ip.erase(ip);
    if (!l.implicit_tls) {
      static const char kBye[] = "* BYE Too many connections\r\n";
      (void)!::send(fd, kBye, sizeof kBye - 1, MSG_NOSIGNAL | MSG_DONTWAIT);
    }
    evutil_closesocket(fd);
    return;
  }
  auto* c = new Conn;
  c->srv = this;
  c->id = next_id++;
  c->ip = ip;
  if (l.implicit_tls) {
    SSL* ssl = cfg.tls->new_ssl();
    c->bev = ssl ? bufferevent_openssl_socket_new(base, fd, ssl, BUFFEREVENT_SSL_ACCEPTING,
                                                  BEV_OPT_CLOSE_ON_FREE | BEV_OPT_DEFER_CALLBACKS)
                 : nullptr;
    if (!c->bev && ssl) SSL_free(ssl);
  } else {
    c->bev = bufferevent_socket_new(base, fd, BEV_OPT_CLOSE_ON_FREE | BEV_OPT_DEFER_CALLBACKS);
  }
  if (!c->bev) {
    evutil_closesocket(fd);
    delete c;
    return;
  }
  SessionConfig sc;
  sc.tls_active = l.implicit_tls;
  sc.starttls_available = cfg.tls != nullptr;
  sc.allow_plaintext_auth = cfg.allow_plaintext_auth;
  if (cfg.append_limit) sc.append_limit = cfg.append_limit;
  sc.source_ip = ip;
  sc.summarize = cfg.summarize;
  sc.extract_text = cfg.extract_text;
  sc.search_cache = search_cache;
  sc.async_password_check = true;
  sc.async_text = true;
  sc.async_writes = true;
  sc.lockout = cfg.lockout;
  sc.dummy_password_hash = cfg.dummy_password_hash;
  sc.on_account_locked = cfg.on_account_locked;
  if (journal) {
    sc.flag_journal = journal.get();
    sc.flag_overlay = &overlay;
  }
  c->session = std::make_unique<Session>(store, std::move(sc));
  c->timer = evtimer_new(base, &Conn::on_timer, c);
  c->poll = evtimer_new(base, &Conn::on_poll, c);
  conns.insert(c);
  by_id.emplace(c->id, c);
  ++per_ip[ip];
  bufferevent_setcb(c->bev, &Conn::on_read, &Conn::on_write, &Conn::on_event, c);
  bufferevent_enable(c->bev, EV_READ | EV_WRITE);
  std::string greeting = c->session->greeting();
  bufferevent_write(c->bev, greeting.data(), greeting.size());
  c->arm_timeout();
}

// ---- smtpd's delivery notification (best effort; the 1 s poll is the fallback) ----

void Server::Impl::open_notify_socket() {
  const std::string& path = cfg.notify_socket;
  if (path.empty()) return;
  sockaddr_un sa{};
  sa.sun_family = AF_UNIX;
  if (path.size() >= sizeof sa.sun_path) {
    log::sys().warn("imapd: notify socket path too long ({}): polling only", path);
    return;
  }
  std::memcpy(sa.sun_path, path.data(), path.size());
  int fd = ::socket(AF_UNIX, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  if (fd < 0) {
    log::sys().warn("imapd: notify socket: {}: polling only", std::strerror(errno));
    return;
  }
  // A socket left by a previous run (or a crashed one) is replaced; anything else is not.
  struct stat st{};
  if (::lstat(path.c_str(), &st) == 0 && S_ISSOCK(st.st_mode)) ::unlink(path.c_str());
  if (::bind(fd, reinterpret_cast<sockaddr*>(&sa), sizeof sa) != 0) {
    log::sys().warn("imapd: notify socket {}: {}: polling only", path, std::strerror(errno));
    ::close(fd);
    return;
  }
  notify_ev = event_new(base, fd, EV_READ | EV_PERSIST, &Impl::on_notify, this);
  if (!notify_ev || event_add(notify_ev, nullptr) != 0) {
    log::sys().warn("imapd: notify socket {}: cannot watch it: polling only", path);
    if (notify_ev) event_free(notify_ev);
    notify_ev = nullptr;
    ::close(fd);
    ::unlink(path.c_str());
    return;
  }
  notify_fd = fd;
  log::sys().info("imapd: delivery notifications on {}", path);
}

void Server::Impl::close_notify_socket() {
  if (notify_ev) event_free(notify_ev);
  notify_ev = nullptr;
  if (notify_fd >= 0) {
    ::close(notify_fd);
    ::unlink(cfg.notify_socket.c_str());
  }
  notify_fd = -1;
}

// Datagrams "deliver USER_ID MAILBOX_ID" (ASCII, decimal). Anything else is ignored: the
// socket is local, but a malformed datagram must not stop the server.
void Server::Impl::on_notify(evutil_socket_t fd, short, void* arg) {
  auto* impl = static_cast<Impl*>(arg);
  char buf[kMaxNotifyDatagram];
  std::vector<uint64_t> users;
  for (int i = 0; i < kMaxNotifyDatagramsPerWake; ++i) {
    // MSG_TRUNC: the datagram's real length, so an overlong one is recognised and dropped.
    ssize_t n = ::recv(fd, buf, sizeof buf - 1, MSG_TRUNC);
    if (n < 0) break;
    if (static_cast<size_t>(n) >= sizeof buf) continue;
    buf[n] = '\0';
    unsigned long long user = 0, mailbox = 0;
    int used = 0;
    if (std::sscanf(buf, "deliver %llu %llu%n", &user, &mailbox, &used) != 2 || used != n ||
        user == 0)
      continue;
    if (std::find(users.begin(), users.end(), user) == users.end()) users.push_back(user);
  }
  for (uint64_t u : users) impl->wake_user(u);
}

void Server::Impl::wake_user(uint64_t user_id) {
  std::vector<Conn*> idle;
  for (Conn* c : conns)
    if (!c->closing && c->session && c->session->idling() && c->session->user_id() == user_id)
      idle.push_back(c);
  for (Conn* c : idle) {
    if (!conns.count(c)) continue;
    try {
      std::string out;
      c->session->poll(out);
      c->after(out);
    } catch (const std::exception& e) {
      log::sys().error("imapd: {}: poll failed: {}", c->ip, e.what());
      release(c);
    }
  }
}

namespace {
void on_accept(evconnlistener*, evutil_socket_t fd, sockaddr* sa, int, void* arg) {
  auto* la = static_cast<ListenerArg*>(arg);
  try {
    la->impl->accept(fd, sa, la->cfg);
  } catch (const std::exception& e) {
    log::sys().error("imapd: accept failed: {}", e.what());
    evutil_closesocket(fd);
  }
}
}  // namespace

Server::Server(event_base* base, store::Store& store, ServerConfig config)
    : impl_(std::make_unique<Impl>(base, store, std::move(config))) {}

Server::~Server() {
  {
    std::lock_guard<std::mutex> lock(impl_->mu);
    impl_->stop = true;
  }
  impl_->cv.notify_all();
  for (auto& t : impl_->workers) t.join();
  if (impl_->writer) impl_->writer->stop();  // before write_wake goes: it makes it active
  if (impl_->wake) event_free(impl_->wake);
  if (impl_->write_wake) event_free(impl_->write_wake);
  impl_->close_notify_socket();
  for (auto* l : impl_->listeners) evconnlistener_free(l);
  for (Conn* c : impl_->conns) delete c;
}

Status Server::start() {
  impl_->wake = event_new(impl_->base, -1, 0, &Impl::on_wake, impl_.get());
  if (!impl_->wake) return Status::internal("imapd: cannot create the wake event");
  impl_->write_wake = event_new(impl_->base, -1, 0, &Impl::on_write_wake, impl_.get());
  if (!impl_->write_wake) return Status::internal("imapd: cannot create the write wake event");
  WriterOptions wo;
  wo.flag_sync = impl_->cfg.flag_sync;
  if (!impl_->cfg.flag_journal.empty()) {
    // Acknowledged flag changes a crash left unapplied go in before any session starts.
    auto j = FlagJournal::open(impl_->cfg.flag_journal);
    if (!j.is_ok()) return Status(j.status().code(), "imapd: flag journal: " + j.status().message());
    auto last = replay_flag_journal(impl_->store, **j);
    if (!last.is_ok()) return Status(last.status().code(), "imapd: " + last.status().message());
    impl_->journal = std::move(*j);
    wo.journal = impl_->journal.get();
    wo.flag_sync = store::BatchSync::kFlagsDeferred;
  }
  event* ww = impl_->write_wake;
  impl_->writer = std::make_unique<GroupWriter>(impl_->store, wo,
                                                [ww] { event_active(ww, EV_READ, 0); });
  impl_->writer->start();
  unsigned n = std::max(1u, std::min(4u, std::thread::hardware_concurrency()));
  for (unsigned i = 0; i < n; ++i) impl_->workers.emplace_back([this] { impl_->worker_loop(); });
  for (const auto& l : impl_->cfg.listeners) {
    if (l.implicit_tls && !impl_->cfg.tls) continue;
    // Port 0 (any free port): libevent refuses ":0", so the address is given without one.
    std::string addr = (l.host.find(':') != std::string::npos ? "[" + l.host + "]" : l.host) +
                       (l.port ? ":" + std::to_string(l.port) : std::string());
    sockaddr_storage ss{};
    int len = sizeof ss;
    if (evutil_parse_sockaddr_port(addr.c_str(), reinterpret_cast<sockaddr*>(&ss), &len) != 0)
      return Status::invalid("imapd: bad listen address " + addr);
    impl_->listener_args.push_back(std::make_unique<ListenerArg>(ListenerArg{impl_.get(), l}));
    evconnlistener* lst = evconnlistener_new_bind(
        impl_->base, &on_accept, impl_->listener_args.back().get(),
        LEV_OPT_CLOSE_ON_FREE | LEV_OPT_REUSEABLE, 128, reinterpret_cast<sockaddr*>(&ss), len);
    if (!lst) return Status::io_error("imapd: cannot listen on " + addr);
    impl_->listeners.push_back(lst);
    sockaddr_storage bound{};
    socklen_t blen = sizeof bound;
    getsockname(evconnlistener_get_fd(lst), reinterpret_cast<sockaddr*>(&bound), &blen);
    uint16_t port = bound.ss_family == AF_INET6
                        ? ntohs(reinterpret_cast<sockaddr_in6*>(&bound)->sin6_port)
                        : ntohs(reinterpret_cast<sockaddr_in*>(&bound)->sin_port);
    impl_->ports.push_back(port);
    log::sys().info("imapd: listening on {}:{}{}", l.host, port, l.implicit_tls ? " (TLS)" : "");
  }
  if (impl_->listeners.empty()) return Status::invalid("imapd: no listener enabled");
  impl_->open_notify_socket();
  return Status::ok();
}

void Server::shutdown() {
  impl_->stopping = true;
  for (auto* l : impl_->listeners) evconnlistener_free(l);
  impl_->listeners.clear();
  std::vector<Conn*> all(impl_->conns.begin(), impl_->conns.end());
  for (Conn* c : all) {
    std::string bye = "* BYE Server shutting down\r\n";
    bufferevent_write(c->bev, bye.data(), bye.size());
    c->begin_close();
    if (c->output_empty()) impl_->release(c);
  }
  if (impl_->conns.empty()) event_base_loopexit(impl_->base, nullptr);
}

std::vector<uint16_t> Server::bound_ports() const { return impl_->ports; }
size_t Server::connections() const { return impl_->conns.size(); }

}  // namespace tsubame::imap
