// smtpd/outbound/runner.cc: the queue runner's libevent glue (see runner.h for the flow).
//
// Ownership: Impl owns Jobs (one per queue entry in flight); a Job owns its Groups (one per
// recipient domain); a Group owns at most one Attempt (one TCP connection running a Client).
// Async operations carry either a Group pointer that lives until its Job finishes (the Job
// cannot finish while one of its Groups waits) or, for evdns requests, a heap record checked
// against Impl::destroying. Failure: every error becomes a recipient result or a log line;
// nothing throws out of a libevent callback.
#include "smtpd/outbound/runner.h"

#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/bufferevent_ssl.h>
#include <event2/dns.h>
#include <event2/util.h>
#include <fcntl.h>
#include <netdb.h>
#include <openssl/err.h>
#include <openssl/ssl.h>
#include <openssl/x509v3.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cstring>
#include <deque>
#include <map>
#include <optional>
#include <random>
#include <thread>

#include "common/bytes.h"
#include "common/config.h"
#include "common/log.h"
#include "filter/mime.h"
#include "smtpd/outbound/bounce.h"
#include "smtpd/outbound/route.h"
#include "store/queue.h"
#include "store/store.h"
#include "store/trace.h"

namespace tsubame::smtp::outbound {

int64_t retry_delay_s(uint32_t attempts, int64_t base_s, int64_t max_s) {
  int64_t d = base_s;
  for (uint32_t i = 1; i < attempts && d < max_s; ++i) d *= 2;
  return std::min(d, max_s);
}

Result<size_t> flush_queue(store::Store& st, int64_t now_ms) {
  if (now_ms == 0) now_ms = unix_now_ms();
  store::OutboundQueue q(st);
  store::QueueFilter f;
  f.limit = 1000000;
  auto all = q.list(f);
  if (!all.is_ok()) return all.status();
  size_t n = 0;
  for (const auto& listed : *all) {
    if (listed.held || listed.next_attempt_ms <= now_ms) continue;
    // Read again right before writing, so the recipients written back are the newest.
    auto e = q.get(listed.id, false);
    if (!e.is_ok()) {
      if (e.status().code() == Code::kNotFound) continue;
      return e.status();
    }
    e->next_attempt_ms = now_ms;
    Status s = q.update(*e);
    if (s.code() == Code::kNotFound) continue;
    TSUBAME_TRY(s);
    ++n;
  }
  return n;
}

Result<RunnerOptions> options_from_config(const Config& config) {
  RunnerOptions o;
  o.hostname = config.str("general.hostname");
  o.relay_host = config.str("smtpd.relay_host");
  o.queue_lifetime_s = config.integer("smtpd.queue_lifetime");
  for (const ConfigKey& k : config_schema())
    if (std::string_view(k.name) == "smtpd.transport_map") o.transport_map_file = config.str("smtpd.transport_map");
  // Opportunistic STARTTLS: never refuse a certificate, but load the system trust store so
  // that the verification result we log means something.
  auto ctx = tls::Context::client(false);
  if (!ctx.is_ok()) return ctx.status();
  SSL_CTX_set_default_verify_paths((*ctx)->get());
  o.tls = *ctx;
  return o;
}

namespace {

struct Group;
struct Job;

// A reply as one line for logs, queue records and DSNs ("451 4.2.1 busy", "4.4.2 timeout").
std::string describe(const Reply& r) {
  if (r.code != 0) return r.summary();
  std::string s = r.enhanced;
  if (!r.lines.empty()) s += (s.empty() ? "" : " ") + r.lines.front();
  return s;
}

Reply local_reply(int code, std::string enhanced, std::string text) {
  Reply r;
  r.code = code;
  r.enhanced = std::move(enhanced);
  r.lines.push_back(std::move(text));
  r.local = true;
  return r;
}

bool is_ip_literal(const std::string& host) {
  unsigned char buf[16];
  return evutil_inet_pton(AF_INET, host.c_str(), buf) == 1 || evutil_inet_pton(AF_INET6, host.c_str(), buf) == 1;
}

struct RcptState {
  size_t index = 0;           // in the queue entry
  Outcome outcome = Outcome::kPending;
  Reply reply;
  std::string remote;         // "host[ip]:port" that decided
  bool relayed = false;       // delivered to a server without DSN (RFC 3461 §4.1 "relayed")
};

struct Attempt {
  Runner::Impl* impl = nullptr;
  Group* group = nullptr;
  bufferevent* bev = nullptr;
  event* timer = nullptr;
  std::unique_ptr<Client> client;
  std::vector<size_t> map;    // client recipient -> Group::rcpts index
  std::string remote;
  bool tls_handshaking = false;
  bool no_tls = false;
  std::string timer_reason;   // set when the timer is fired on purpose (connect failed)
  ~Attempt() {
    if (bev) bufferevent_free(bev);
    if (timer) event_free(timer);
  }
};

struct Address {
  sockaddr_storage sa{};
  socklen_t len = 0;
  std::string text;           // numeric
};

struct Group {
  Job* job = nullptr;
  std::string domain;
  std::vector<RcptState> rcpts;
  Route route;
  size_t next_host = 0;
  HostPort host;
  std::vector<Address> addrs;
  size_t next_addr = 0;
  Reply last_error = local_reply(0, "4.4.1", "no host could be reached");
  std::unique_ptr<Attempt> attempt;
};

struct Job {
  store::QueueEntry entry;
  std::vector<std::unique_ptr<Group>> groups;
  size_t open = 0;
};

struct MxLookup {
  std::string domain;
  MxAnswer answer;
  std::atomic<bool> done{false};
  std::vector<Group*> waiters;
};

struct WakePipe {
  int fd[2] = {-1, -1};
  ~WakePipe() {
    if (fd[0] >= 0) close(fd[0]);
    if (fd[1] >= 0) close(fd[1]);
  }
};

}  // namespace

struct Runner::Impl {
  event_base* base;
  store::Store& store;
  RunnerOptions opt;
  std::optional<TransportMap> tmap;
  std::optional<HostPort> relay;
  evdns_base* dns = nullptr;
  event* scan_ev = nullptr;
  event* wake_ev = nullptr;
  std::shared_ptr<WakePipe> wake;
  bool scan_pending = false;
  bool destroying = false;
  std::map<std::string, std::unique_ptr<Job>> jobs;
  std::vector<std::shared_ptr<MxLookup>> lookups_running;
  std::deque<std::shared_ptr<MxLookup>> lookups_waiting;
  std::mt19937 rng{std::random_device{}()};
  RunnerStats stats;
  std::function<void()> idle_cb;

  Impl(event_base* b, store::Store& s, RunnerOptions o) : base(b), store(s), opt(std::move(o)) {}
  ~Impl();

  int64_t now() const { return opt.clock ? opt.clock() : unix_now_ms(); }
  bool idle() const { return jobs.empty() && !scan_pending; }
  void maybe_idle() {
    if (idle() && idle_cb) idle_cb();
  }

  void scan();
  void start_job(store::QueueEntry entry);
  void route_group(Group* g);
  void start_mx(Group* g);
  void pump_lookups();
  void on_wake();
  void next_host(Group* g);
  void on_addresses(Group* g, int err, evutil_addrinfo* res);
  enum class Next : uint8_t { kNextAddress, kSameAddress, kSameAddressPlain };
  void try_address(Group* g, Next next);
  void apply(Attempt* a, Step step);
  void arm_timer(Attempt* a);
  void start_tls(Attempt* a);
  void end_attempt(Attempt* a);
  void group_done(Group* g);
  void finish_job(Job* j);
  Status send_dsn(const store::QueueEntry& e, const std::vector<DsnRecipient>& rcpts);
  void fail_group(Group* g, const Reply& r);

  static void on_read(bufferevent* bev, void* arg);
  static void on_event(bufferevent* bev, short what, void* arg);
  static void on_timer(evutil_socket_t, short, void* arg);
};

namespace {
struct DnsRequest {
  Runner::Impl* impl;
  Group* group;
};
}  // namespace

Runner::Impl::~Impl() {
  destroying = true;
  jobs.clear();  // frees every Attempt: bufferevents and timers
  if (dns) evdns_base_free(dns, 1);  // cancelled requests see `destroying`
  if (scan_ev) event_free(scan_ev);
  if (wake_ev) event_free(wake_ev);
}

Result<std::unique_ptr<Runner>> Runner::start(event_base* base, store::Store& store, RunnerOptions options) {
  auto impl = std::make_unique<Impl>(base, store, std::move(options));
  Impl* p = impl.get();
  if (!p->opt.transport_map_file.empty()) {
    auto m = TransportMap::load(p->opt.transport_map_file);
    if (!m.is_ok()) return m.status();
    p->tmap = std::move(m.value());
  }
  if (!p->opt.relay_host.empty()) {
    auto hp = parse_host_port(p->opt.relay_host);
    if (!hp.is_ok()) return Status::invalid("smtpd.relay_host: " + hp.status().message());
    p->relay = *hp;
  }
  p->dns = evdns_base_new(base, EVDNS_BASE_INITIALIZE_NAMESERVERS | EVDNS_BASE_DISABLE_WHEN_INACTIVE);
  if (!p->dns) log::sys().warn("outbound: no DNS resolver configured; only IP literals and /etc/hosts resolve");
  p->wake = std::make_shared<WakePipe>();
  if (pipe2(p->wake->fd, O_NONBLOCK | O_CLOEXEC) != 0) return Status::io_error("outbound: pipe: " + std::string(std::strerror(errno)));
  p->wake_ev = event_new(base, p->wake->fd[0], EV_READ | EV_PERSIST,
                         [](evutil_socket_t, short, void* arg) { static_cast<Impl*>(arg)->on_wake(); }, p);
  p->scan_ev = event_new(base, -1, EV_PERSIST,
                         [](evutil_socket_t, short, void* arg) { static_cast<Impl*>(arg)->scan(); }, p);
  if (!p->wake_ev || !p->scan_ev) return Status::internal("outbound: event_new failed");
  event_add(p->wake_ev, nullptr);
  timeval tv{time_t(p->opt.scan_interval_s), 0};
  event_add(p->scan_ev, &tv);
  std::unique_ptr<Runner> r(new Runner(std::move(impl)));
  r->run_once();
  return r;
}

Runner::Runner(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
Runner::~Runner() = default;

void Runner::run_once() {
  impl_->scan_pending = true;
  event_active(impl_->scan_ev, EV_TIMEOUT, 0);
}
bool Runner::idle() const { return impl_->idle(); }
void Runner::set_idle_callback(std::function<void()> cb) { impl_->idle_cb = std::move(cb); }
RunnerStats Runner::stats() const { return impl_->stats; }

void Runner::Impl::scan() {
  scan_pending = false;
  store::OutboundQueue q(store);
  auto due = q.due(now(), kMaxDueBatch);
  if (!due.is_ok()) {
    log::sys().error("outbound: queue scan failed: {}", due.status().to_string());
  } else {
    for (const auto& e : *due) {
      if (jobs.size() >= opt.max_deliveries) break;
      if (jobs.count(e.id)) continue;
      auto full = q.get(e.id, true);
      if (!full.is_ok()) {
        if (full.status().code() != Code::kNotFound)
          log::sys().error("outbound: reading {} failed: {}", e.id, full.status().to_string());
        continue;
      }
      if (full->held) continue;  // held between due() and get()
      start_job(std::move(full.value()));
    }
  }
  maybe_idle();
}

void Runner::Impl::start_job(store::QueueEntry entry) {
  auto job = std::make_unique<Job>();
  Job* j = job.get();
  std::string id = entry.id;
  j->entry = std::move(entry);
  jobs[id] = std::move(job);
  std::map<std::string, Group*> by_domain;
  for (size_t i = 0; i < j->entry.recipients.size(); ++i) {
    if (j->entry.recipients[i].status != store::RecipientStatus::kPending) continue;
    std::string d = domain_of(j->entry.recipients[i].address);
    Group*& g = by_domain[d];
    if (!g) {
      j->groups.push_back(std::make_unique<Group>());
      g = j->groups.back().get();
      g->job = j;
      g->domain = d;
    }
    RcptState rs;
    rs.index = i;
    g->rcpts.push_back(std::move(rs));
  }
  // One extra count while starting, so a group finishing at once cannot end the job early.
  j->open = j->groups.size() + 1;
  std::vector<Group*> groups;
  for (auto& g : j->groups) groups.push_back(g.get());
  for (Group* g : groups) route_group(g);
  if (--j->open == 0) finish_job(j);
}

void Runner::Impl::fail_group(Group* g, const Reply& r) {
  for (auto& rs : g->rcpts) {
    if (rs.outcome != Outcome::kPending) continue;
    rs.reply = r;
    rs.outcome = r.code >= 500 ? Outcome::kPermanent : Outcome::kTemporary;
  }
  group_done(g);
}

void Runner::Impl::route_group(Group* g) {
  if (g->domain.empty()) {
    fail_group(g, local_reply(550, "5.1.3", "recipient address has no domain"));
    return;
  }
  if (tmap) {
    if (auto hp = tmap->find(g->domain)) {
      g->route.source = "transport";
      g->route.hosts = {*hp};
      next_host(g);
      return;
    }
  }
  if (relay) {
    g->route.source = "relay";
    g->route.hosts = {*relay};
    next_host(g);
    return;
  }
  start_mx(g);
}

void Runner::Impl::start_mx(Group* g) {
  for (auto& lk : lookups_running)
    if (lk->domain == g->domain && !lk->done) return lk->waiters.push_back(g);
  for (auto& lk : lookups_waiting)
    if (lk->domain == g->domain) return lk->waiters.push_back(g);
  auto lk = std::make_shared<MxLookup>();
  lk->domain = g->domain;
  lk->waiters.push_back(g);
  lookups_waiting.push_back(std::move(lk));
  pump_lookups();
}

void Runner::Impl::pump_lookups() {
  while (lookups_running.size() < kMaxConcurrentMxLookups && !lookups_waiting.empty()) {
    auto lk = lookups_waiting.front();
    lookups_waiting.pop_front();
    lookups_running.push_back(lk);
    std::shared_ptr<WakePipe> w = wake;
    // res_nquery blocks; it runs here, off the loop (route.h says why not evdns).
    std::thread([lk, w]() {
      lk->answer = lookup_mx_blocking(lk->domain);
      lk->done.store(true);
      char c = 1;
      ssize_t n = write(w->fd[1], &c, 1);
      (void)n;
    }).detach();
  }
}

void Runner::Impl::on_wake() {
  char buf[256];
  while (read(wake->fd[0], buf, sizeof buf) > 0) {
  }
  std::vector<std::shared_ptr<MxLookup>> finished;
  for (auto it = lookups_running.begin(); it != lookups_running.end();) {
    if ((*it)->done.load()) {
      finished.push_back(*it);
      it = lookups_running.erase(it);
    } else {
      ++it;
    }
  }
  pump_lookups();
  for (auto& lk : finished) {
    for (Group* g : lk->waiters) {
      g->route = route_from_mx(g->domain, lk->answer, rng, opt.hostname);
      if (g->route.kind == Route::Kind::kHosts) {
        next_host(g);
      } else {
        bool perm = g->route.kind == Route::Kind::kPermanent;
        // RFC 7505 §4.2: null MX is answered 556 5.1.10; other DNS verdicts 550 / 451.
        int code = !perm ? 451 : lk->answer.status == MxStatus::kNullMx ? 556 : 550;
        fail_group(g, local_reply(code, g->route.enhanced, g->route.error));
      }
    }
  }
}

void Runner::Impl::next_host(Group* g) {
  if (g->next_host >= g->route.hosts.size()) {
    // Every host tried: what is still undecided waits for the next attempt.
    for (auto& rs : g->rcpts)
      if (rs.outcome == Outcome::kPending) {
        rs.outcome = Outcome::kTemporary;
        if (rs.reply.code == 0 && rs.reply.lines.empty()) rs.reply = g->last_error;
      }
    group_done(g);
    return;
  }
  g->host = g->route.hosts[g->next_host++];
  g->addrs.clear();
  g->next_addr = 0;
  evutil_addrinfo hints{};
  hints.ai_family = AF_UNSPEC;
  hints.ai_socktype = SOCK_STREAM;
  hints.ai_protocol = IPPROTO_TCP;
  std::string port = std::to_string(g->host.port);
  auto* req = new DnsRequest{this, g};
  evdns_getaddrinfo(dns, g->host.host.c_str(), port.c_str(), &hints,
                    [](int err, evutil_addrinfo* res, void* arg) {
                      std::unique_ptr<DnsRequest> r(static_cast<DnsRequest*>(arg));
                      if (r->impl->destroying) {
                        if (res) evutil_freeaddrinfo(res);
                        return;
                      }
                      r->impl->on_addresses(r->group, err, res);
                    },
                    req);
  // The callback may already have run (numeric hosts, /etc/hosts); it owns `req`.
}

void Runner::Impl::on_addresses(Group* g, int err, evutil_addrinfo* res) {
  if (err != 0) {
    if (res) evutil_freeaddrinfo(res);
    std::string why = g->host.host + ": " + evutil_gai_strerror(err);
    // RFC 5321 §5.1: no MX and no address record for the domain: it cannot take mail.
    if (err == EVUTIL_EAI_NONAME && g->route.source == "implicit-mx") {
      fail_group(g, local_reply(550, "5.1.2", "no MX or address record: " + why));
      return;
    }
    g->last_error = local_reply(0, "4.4.4", "host lookup failed: " + why);
    next_host(g);
    return;
  }
  for (evutil_addrinfo* ai = res; ai && g->addrs.size() < kMaxAddressesPerHost; ai = ai->ai_next) {
    if (ai->ai_addrlen > sizeof(sockaddr_storage)) continue;
    Address a;
    std::memcpy(&a.sa, ai->ai_addr, ai->ai_addrlen);
    a.len = socklen_t(ai->ai_addrlen);
    char host[NI_MAXHOST];
    if (getnameinfo(ai->ai_addr, socklen_t(ai->ai_addrlen), host, sizeof host, nullptr, 0, NI_NUMERICHOST) == 0)
      a.text = host;
    g->addrs.push_back(std::move(a));
  }
  if (res) evutil_freeaddrinfo(res);
  try_address(g, Next::kNextAddress);
}

void Runner::Impl::try_address(Group* g, Next next) {
  const bool same_again = next != Next::kNextAddress;
  if (!same_again && g->next_addr >= g->addrs.size()) {
    next_host(g);
    return;
  }
  const Address& addr = g->addrs[same_again ? g->next_addr - 1 : g->next_addr++];
  Job* j = g->job;
  auto a = std::make_unique<Attempt>();
  a->impl = this;
  a->group = g;
  a->no_tls = next == Next::kSameAddressPlain;  // the retry after a failed TLS handshake
  a->remote = g->host.host + "[" + addr.text + "]:" + std::to_string(g->host.port);
  ClientMessage m;
  m.helo_name = opt.hostname;
  m.sender = j->entry.sender;
  m.envid = j->entry.envid;
  m.ret = j->entry.ret;
  m.content = j->entry.content;
  for (size_t k = 0; k < g->rcpts.size(); ++k) {
    if (g->rcpts[k].outcome != Outcome::kPending) continue;
    const store::QueueRecipient& qr = j->entry.recipients[g->rcpts[k].index];
    m.recipients.push_back(ClientRecipient{qr.address, qr.notify, qr.orcpt});
    a->map.push_back(k);
    // RFC 5321 §4.5.3.1.8: a server must take 100 recipients; more go in the next session.
    if (a->map.size() >= kMaxRcptsPerTransaction) break;
  }
  if (a->map.empty()) {
    group_done(g);
    return;
  }
  ClientOptions co;
  co.try_tls = opt.tls != nullptr && !a->no_tls;
  co.timeouts = opt.timeouts;
  a->client = std::make_unique<Client>(std::move(m), co);
  Attempt* ap = a.get();
  g->attempt = std::move(a);
  ++stats.attempts;
  ap->timer = evtimer_new(base, &Impl::on_timer, ap);
  ap->bev = bufferevent_socket_new(base, -1, BEV_OPT_CLOSE_ON_FREE | BEV_OPT_DEFER_CALLBACKS);
  if (!ap->timer || !ap->bev) {
    log::sys().error("outbound: out of resources for a connection to {}", ap->remote);
    ap->client->on_closed("local resource failure");  // a host failure: no retry loop here
    end_attempt(ap);
    return;
  }
  bufferevent_setcb(ap->bev, &Impl::on_read, nullptr, &Impl::on_event, ap);
  bufferevent_enable(ap->bev, EV_READ | EV_WRITE);
  // RFC 5321 §4.5.3.2.5: each data block must be accepted within this time.
  timeval wt{time_t(opt.timeouts.data_block), 0};
  bufferevent_set_timeouts(ap->bev, nullptr, &wt);
  timeval ct{time_t(opt.connect_timeout_s), 0};
  evtimer_add(ap->timer, &ct);
  if (bufferevent_socket_connect(ap->bev, reinterpret_cast<sockaddr*>(&g->addrs[g->next_addr - 1].sa),
                                 int(g->addrs[g->next_addr - 1].len)) < 0) {
    // Any error callback is deferred; the timer ends the attempt now if none comes first.
    ap->timer_reason = "connect failed: " + std::string(evutil_socket_error_to_string(EVUTIL_SOCKET_ERROR()));
    event_active(ap->timer, EV_TIMEOUT, 0);
  }
}

void Runner::Impl::arm_timer(Attempt* a) {
  int64_t s = a->client->timeout_s();
  if (s <= 0) return;
  timeval tv{time_t(s), 0};
  evtimer_add(a->timer, &tv);
}

void Runner::Impl::apply(Attempt* a, Step step) {
  if (!step.send.empty() && a->bev) bufferevent_write(a->bev, step.send.data(), step.send.size());
  if (step.close || a->client->finished()) {
    end_attempt(a);
    return;
  }
  if (step.start_tls) {
    start_tls(a);
    return;
  }
  // A deadline never grows while a reply is being read: re-armed only when we act.
  if (!step.send.empty()) arm_timer(a);
}

void Runner::Impl::start_tls(Attempt* a) {
  Group* g = a->group;
  SSL* ssl = opt.tls->new_ssl();
  if (ssl && !is_ip_literal(g->host.host)) {
    SSL_set_tlsext_host_name(ssl, g->host.host.c_str());  // RFC 6066 §3 SNI
    SSL_set1_host(ssl, g->host.host.c_str());             // name checked in the verify result
  }
  bufferevent* tb = ssl ? bufferevent_openssl_filter_new(base, a->bev, ssl, BUFFEREVENT_SSL_CONNECTING,
                                                         BEV_OPT_CLOSE_ON_FREE | BEV_OPT_DEFER_CALLBACKS)
                        : nullptr;
  if (!tb) {
    if (ssl) SSL_free(ssl);
    apply(a, a->client->on_tls_done(false, false, "cannot start TLS: " + tls::last_error()));
    return;
  }
  a->bev = tb;
  a->tls_handshaking = true;
  bufferevent_openssl_set_allow_dirty_shutdown(tb, 1);
  bufferevent_setcb(tb, &Impl::on_read, nullptr, &Impl::on_event, a);
  bufferevent_enable(tb, EV_READ | EV_WRITE);
  arm_timer(a);
}

void Runner::Impl::on_read(bufferevent* bev, void* arg) {
  auto* a = static_cast<Attempt*>(arg);
  evbuffer* in = bufferevent_get_input(bev);
  size_t n = evbuffer_get_length(in);
  std::string data(n, '\0');
  if (n) evbuffer_remove(in, data.data(), n);
  a->impl->apply(a, a->client->on_data(data));
}

void Runner::Impl::on_event(bufferevent* bev, short what, void* arg) {
  auto* a = static_cast<Attempt*>(arg);
  Impl* self = a->impl;
  if (what & BEV_EVENT_CONNECTED) {
    if (a->tls_handshaking) {
      a->tls_handshaking = false;
      SSL* ssl = bufferevent_openssl_get_ssl(bev);
      long vr = ssl ? SSL_get_verify_result(ssl) : X509_V_ERR_UNSPECIFIED;
      bool verified = vr == X509_V_OK;
      std::string note = std::string(ssl ? SSL_get_version(ssl) : "?") + " " +
                         (ssl ? SSL_get_cipher_name(ssl) : "?") + ", " +
                         (verified ? std::string("verified") : "unverified (" + std::string(X509_verify_cert_error_string(vr)) + ")");
      log::mail(a->group->job->entry.id, "TLS with " + a->remote + ": " + note);
      self->apply(a, a->client->on_tls_done(true, verified, note));
      return;
    }
    self->apply(a, a->client->on_connected());
    self->arm_timer(a);  // RFC 5321 §4.5.3.2.1: the greeting deadline starts now
    return;
  }
  if (what & BEV_EVENT_TIMEOUT) {  // a data block was not accepted in time (write timeout)
    self->apply(a, a->client->on_timeout());
    return;
  }
  if (what & (BEV_EVENT_EOF | BEV_EVENT_ERROR)) {
    std::string why = (what & BEV_EVENT_EOF) ? "closed by the server"
                                             : evutil_socket_error_to_string(EVUTIL_SOCKET_ERROR());
    if (a->tls_handshaking) {
      unsigned long e = bufferevent_get_openssl_error(bev);
      if (e) {
        char buf[256];
        ERR_error_string_n(e, buf, sizeof buf);
        why = buf;
      }
      a->tls_handshaking = false;
      self->apply(a, a->client->on_tls_done(false, false, why));
      return;
    }
    // Bytes that came with the close still count (a last reply before EOF).
    evbuffer* in = bufferevent_get_input(bev);
    if (size_t n = evbuffer_get_length(in)) {
      std::string data(n, '\0');
      evbuffer_remove(in, data.data(), n);
      Step s = a->client->on_data(data);
      if (s.close || a->client->finished()) {
        self->apply(a, std::move(s));
        return;
      }
    }
    self->apply(a, a->client->on_closed(why));
  }
}

void Runner::Impl::on_timer(evutil_socket_t, short, void* arg) {
  auto* a = static_cast<Attempt*>(arg);
  if (!a->timer_reason.empty()) {
    Step s = a->client->on_closed(a->timer_reason);
    a->impl->apply(a, std::move(s));
    return;
  }
  a->impl->apply(a, a->client->on_timeout());
}

void Runner::Impl::end_attempt(Attempt* a) {
  Group* g = a->group;
  Job* j = g->job;
  const Client& c = *a->client;
  for (size_t i = 0; i < a->map.size() && i < c.results().size(); ++i) {
    RcptState& rs = g->rcpts[a->map[i]];
    const RecipientResult& r = c.results()[i];
    rs.reply = r.reply;
    if (r.outcome == Outcome::kPending) continue;
    rs.outcome = r.outcome;
    rs.remote = a->remote;
    // RFC 3461 §4.1: NOTIFY=SUCCESS through a server without DSN is reported "relayed".
    if (r.outcome == Outcome::kDelivered && !c.dsn_supported()) rs.relayed = true;
  }
  if (c.host_failed()) {
    g->last_error = c.host_error();
    log::mail(j->entry.id, "connection to " + a->remote + " failed: " + describe(c.host_error()));
  }
  bool retry_plain = c.tls_failed() && !a->no_tls;
  bool was_plain = a->no_tls;
  // Recipients not offered in this session (over kMaxRcptsPerTransaction) are still pending
  // without a reply: after a good session they go to the same address in a new session.
  bool unoffered = !c.host_failed() &&
                   std::any_of(g->rcpts.begin(), g->rcpts.end(), [](const RcptState& r) {
                     return r.outcome == Outcome::kPending && r.reply.code == 0 && r.reply.lines.empty();
                   });
  bool pending = std::any_of(g->rcpts.begin(), g->rcpts.end(),
                             [](const RcptState& r) { return r.outcome == Outcome::kPending; });
  g->attempt.reset();  // frees the connection and the timer; `a` is gone
  if (!pending) {
    group_done(g);
  } else if (retry_plain) {
    // Opportunistic TLS (RFC 3207 §4.1 leaves the choice to the client): the handshake
    // failed, so the same address is tried once more without STARTTLS.
    try_address(g, Next::kSameAddressPlain);
  } else if (unoffered) {
    try_address(g, was_plain ? Next::kSameAddressPlain : Next::kSameAddress);
  } else {
    try_address(g, Next::kNextAddress);
  }
}

void Runner::Impl::group_done(Group* g) {
  Job* j = g->job;
  if (--j->open == 0) finish_job(j);
}

Status Runner::Impl::send_dsn(const store::QueueEntry& e, const std::vector<DsnRecipient>& rcpts) {
  DsnInput in;
  in.reporting_mta = opt.hostname;
  in.queue_id = e.id;
  in.envid = e.envid;
  in.ret = e.ret;
  in.original_sender = e.sender;
  in.arrival_ms = e.created_ms;
  in.now_ms = now();
  in.recipients = rcpts;
  in.original = e.content;
  std::string dsn = build_dsn(in);
  std::string domain = domain_of(e.sender);
  if (store.find_domain(domain).is_ok()) {
    // A local sender: straight into their INBOX (RFC 5321 §4.4 Return-Path <> at delivery).
    auto user = store.find_user(e.sender);
    if (!user.is_ok()) {
      log::mail(e.id, "DSN for unknown local sender <" + e.sender + "> dropped");
      return Status::ok();
    }
    store::IncomingMessage m;
    m.raw = "Return-Path: <>\r\n" + dsn;
    auto parsed = filter::parse_message(m.raw);
    if (parsed.is_ok()) m.summary = std::move(parsed->summary);
    m.internal_date = in.now_ms / 1000;
    store::DeliveryTarget t;
    t.user_id = user->id;
    m.targets.push_back(std::move(t));
    auto r = store.deliver({m});
    if (!r.is_ok()) return r.status();
    log::mail(e.id, "sender non-delivery notification delivered to <" + e.sender + "> (INBOX)");
  } else {
    store::QueueEntry b;
    b.sender = "";  // RFC 5321 §4.5.5: DSNs use the null reverse-path
    store::QueueRecipient r;
    r.address = e.sender;
    r.notify = "NEVER";
    b.recipients.push_back(std::move(r));
    b.content = std::move(dsn);
    store::OutboundQueue q(store);
    TSUBAME_TRY(q.enqueue(b));
    log::mail(e.id, "sender non-delivery notification: " + b.id);
    log::mail(b.id, "from=<>, size=" + std::to_string(b.size) + ", nrcpt=1 (DSN for " + e.id + ")");
  }
  ++stats.dsn_sent;
  return Status::ok();
}

void Runner::Impl::finish_job(Job* j) {
  store::QueueEntry& e = j->entry;
  const int64_t t = now();
  const bool expired = t - e.created_ms >= opt.queue_lifetime_s * 1000;
  const int64_t delay_s = (t - e.created_ms) / 1000;
  store::Trace trace(store);
  std::vector<DsnRecipient> dsn;
  std::vector<size_t> dsn_failed;  // entry indexes whose DSN is a failure report
  auto add_trace = [&](const store::QueueRecipient& qr, store::TraceStatus st) {
    store::TraceRecord rec;
    rec.queue_id = e.id;
    rec.direction = store::TraceDirection::kOut;
    rec.sender = e.sender;
    rec.recipients = {qr.address};
    rec.size = e.size;
    rec.status = st;
    rec.remote_host = qr.remote_host;
    rec.error = st == store::TraceStatus::kDelivered ? std::string() : qr.last_error;
    if (Status s = trace.add(rec); !s.is_ok())
      log::sys().warn("outbound: trace record for {} failed: {}", e.id, s.to_string());
  };
  for (auto& g : j->groups) {
    for (auto& rs : g->rcpts) {
      store::QueueRecipient& qr = e.recipients[rs.index];
      qr.updated_ms = t;
      qr.last_error = describe(rs.reply).substr(0, store::kMaxQueueText);
      if (!rs.remote.empty()) qr.remote_host = rs.remote.substr(0, store::kMaxQueueText);
      std::string status;
      std::string line = "to=<" + qr.address + ">, relay=" + (rs.remote.empty() ? "none" : rs.remote) +
                         ", delay=" + std::to_string(delay_s) + ", tries=" + std::to_string(e.attempts + 1);
      auto dsn_entry = [&](std::string_view action, std::string st) {
        DsnRecipient d;
        d.address = qr.address;
        d.orcpt = qr.orcpt;
        d.action = std::string(action);
        d.status = std::move(st);
        // RFC 3464 §2.3.5 / §2.3.6: Remote-MTA and an "smtp" diagnostic only for what a
        // remote server said; our own verdicts (DNS, timeouts) carry our diagnostic type.
        if (!rs.reply.local && !rs.remote.empty()) d.remote_mta = rs.remote.substr(0, rs.remote.find('['));
        if (rs.reply.local) d.diagnostic_type = "X-Tsubame";
        d.diagnostic = describe(rs.reply);
        d.last_attempt_ms = t;
        return d;
      };
      switch (rs.outcome) {
        case Outcome::kDelivered:
          qr.status = store::RecipientStatus::kDelivered;
          ++stats.delivered;
          log::mail(e.id, line + ", dsn=" + status_for(rs.reply.code, rs.reply.enhanced, false).replace(0, 1, "2") +
                              ", status=sent (" + describe(rs.reply) + ")");
          add_trace(qr, store::TraceStatus::kDelivered);
          if (rs.relayed && wants_dsn(qr.notify, kActionRelayed))
            dsn.push_back(dsn_entry(kActionRelayed, "2.0.0"));
          break;
        case Outcome::kPermanent:
          qr.status = store::RecipientStatus::kFailed;
          ++stats.bounced;
          status = status_for(rs.reply.code, rs.reply.enhanced, true);
          log::mail(e.id, line + ", dsn=" + status + ", status=bounced (" + describe(rs.reply) + ")");
          add_trace(qr, store::TraceStatus::kBounced);
          if (wants_dsn(qr.notify, kActionFailed)) {
            dsn.push_back(dsn_entry(kActionFailed, status));
            dsn_failed.push_back(rs.index);
          }
          break;
        case Outcome::kTemporary:
        case Outcome::kPending:
          if (expired) {
            // smtpd.queue_lifetime ran out: the last temporary error becomes final.
            qr.status = store::RecipientStatus::kFailed;
            ++stats.bounced;
            status = rs.reply.enhanced.size() > 1 && rs.reply.enhanced[0] == '4' ? rs.reply.enhanced : "4.4.7";
            qr.last_error = (qr.last_error + " (gave up after " + std::to_string(delay_s) + "s in the queue)")
                                .substr(0, store::kMaxQueueText);
            log::mail(e.id, line + ", dsn=" + status + ", status=expired (" + describe(rs.reply) + ")");
            add_trace(qr, store::TraceStatus::kBounced);
            if (wants_dsn(qr.notify, kActionFailed)) {
              dsn.push_back(dsn_entry(kActionFailed, status));
              dsn_failed.push_back(rs.index);
            }
          } else {
            ++stats.deferred;
            log::mail(e.id, line + ", dsn=" + status_for(rs.reply.code, rs.reply.enhanced, false) +
                                ", status=deferred (" + describe(rs.reply) + ")");
            add_trace(qr, store::TraceStatus::kDeferred);
          }
          break;
      }
    }
  }
  if (!dsn.empty()) {
    if (!should_bounce(e.sender)) {
      // Never a bounce for a bounce (RFC 3464 §1, RFC 5321 §6.1).
      log::mail(e.id, "null sender: no delivery status notification");
    } else if (Status s = send_dsn(e, dsn); !s.is_ok()) {
      log::sys().error("outbound: DSN for {} failed: {}; retried at the next attempt", e.id, s.to_string());
      for (size_t i : dsn_failed) e.recipients[i].status = store::RecipientStatus::kPending;
    }
  }
  store::OutboundQueue q(store);
  bool pending = std::any_of(e.recipients.begin(), e.recipients.end(),
                             [](const store::QueueRecipient& r) { return r.status == store::RecipientStatus::kPending; });
  Status s;
  if (!pending) {
    s = q.remove(e.id);
    if (s.is_ok()) log::mail(e.id, "removed");
  } else {
    e.attempts += 1;
    e.next_attempt_ms = t + retry_delay_s(e.attempts, opt.retry_base_s, opt.retry_max_s) * 1000;
    s = q.update(e);
  }
  if (s.code() == Code::kNotFound) {
    log::mail(e.id, "removed from the queue during delivery");
  } else if (!s.is_ok()) {
    log::sys().error("outbound: queue update for {} failed: {}", e.id, s.to_string());
  }
  std::string id = e.id;
  jobs.erase(id);  // `j` and `e` are gone
  maybe_idle();
}

}  // namespace tsubame::smtp::outbound
