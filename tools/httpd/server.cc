// tools/httpd/server.cc: evhttp over TLS, connection limits, login workers (see server.h).
// Failure: a connection over a limit gets a refused TLS handshake (counted); an exception
// never leaves a libevent callback (Api::handle catches, and so do the callbacks here).
#include "tools/httpd/server.h"

#include <arpa/inet.h>
#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/bufferevent_ssl.h>
#include <event2/event.h>
#include <event2/http.h>
#include <event2/keyvalq_struct.h>
#include <netinet/in.h>
#include <openssl/ssl.h>
#include <sys/socket.h>

#include "common/bytes.h"
#include "common/log.h"
#include "common/tls.h"

namespace tsubame::httpd {
namespace {

Server* g_server = nullptr;  // one server per process (the TLS callbacks are C functions)
int g_ip_index = -1;         // SSL ex_data slot: the peer IP (std::string*) once admitted

void free_ip(void*, void* ptr, CRYPTO_EX_DATA*, int, long, void*) {
  auto* ip = static_cast<std::string*>(ptr);
  if (!ip) return;
  if (g_server) g_server->release(*ip);
  delete ip;
}

int client_hello(SSL* ssl, int* alert, void*) {
  if (!g_server || g_server->admit(ssl)) return SSL_CLIENT_HELLO_SUCCESS;
  *alert = SSL_AD_INTERNAL_ERROR;  // RFC 8446 §6.2: the handshake is refused
  return SSL_CLIENT_HELLO_ERROR;
}

std::string peer_ip_of_fd(int fd) {
  sockaddr_storage ss{};
  socklen_t len = sizeof ss;
  if (fd < 0 || getpeername(fd, reinterpret_cast<sockaddr*>(&ss), &len) != 0) return {};
  char buf[INET6_ADDRSTRLEN] = {};
  if (ss.ss_family == AF_INET)
    inet_ntop(AF_INET, &reinterpret_cast<sockaddr_in*>(&ss)->sin_addr, buf, sizeof buf);
  else if (ss.ss_family == AF_INET6)
    inet_ntop(AF_INET6, &reinterpret_cast<sockaddr_in6*>(&ss)->sin6_addr, buf, sizeof buf);
  return buf;
}

const char* method_name(evhttp_cmd_type c) {
  switch (c) {
    case EVHTTP_REQ_GET: return "GET";
    case EVHTTP_REQ_POST: return "POST";
    case EVHTTP_REQ_HEAD: return "HEAD";
    case EVHTTP_REQ_PUT: return "PUT";
    case EVHTTP_REQ_DELETE: return "DELETE";
    case EVHTTP_REQ_OPTIONS: return "OPTIONS";
    case EVHTTP_REQ_PATCH: return "PATCH";
    default: return "OTHER";
  }
}

struct Done {
  Server* server;
  evhttp_request* req;
  Response response;
  uint64_t start_ns;
};

}  // namespace

Server::Server(event_base* base, Api& api, Metrics& metrics, ServerConfig config)
    : base_(base), api_(api), metrics_(metrics), config_(std::move(config)) {}

Server::~Server() {
  {
    std::lock_guard lock(mu_);
    stop_ = true;
  }
  cv_.notify_all();
  for (auto& t : workers_) t.join();
  if (http_) evhttp_free(http_);  // frees the connections (their SSL objects call release())
  g_server = nullptr;
}

Status Server::start() {
  if (!config_.tls) return Status::invalid("tsubame-httpd needs tls.cert_file and tls.key_file");
  if (g_server) return Status::internal("one Server per process");
  g_server = this;
  if (g_ip_index < 0) g_ip_index = SSL_get_ex_new_index(0, nullptr, nullptr, nullptr, free_ip);
  SSL_CTX_set_client_hello_cb(config_.tls->get(), client_hello, nullptr);

  http_ = evhttp_new(base_);
  if (!http_) return Status::internal("evhttp_new failed");
  evhttp_set_max_body_size(http_, static_cast<ev_ssize_t>(config_.max_body_bytes));
  evhttp_set_max_headers_size(http_, static_cast<ev_ssize_t>(config_.max_headers_bytes));
  evhttp_set_timeout(http_, config_.io_timeout_seconds);
  // Parse these so that a wrong one gets our 405 with Allow, not evhttp's 501.
  evhttp_set_allowed_methods(http_, EVHTTP_REQ_GET | EVHTTP_REQ_POST | EVHTTP_REQ_HEAD | EVHTTP_REQ_PUT |
                                        EVHTTP_REQ_DELETE | EVHTTP_REQ_OPTIONS | EVHTTP_REQ_PATCH);
  evhttp_set_default_content_type(http_, "application/json");
  evhttp_set_bevcb(http_, make_bev, this);
  evhttp_set_gencb(http_, on_request, this);
  if (!evhttp_bind_socket_with_handle(http_, config_.listen.host.c_str(), config_.listen.port))
    return Status::io_error("cannot listen on " + config_.listen.to_string() + ": " + strerror(errno));
  for (size_t i = 0; i < kLoginWorkers; ++i) workers_.emplace_back([this] { worker(); });
  log::sys().info("httpd: listening on https://{}", config_.listen.to_string());
  return Status::ok();
}

void Server::shutdown() { event_base_loopexit(base_, nullptr); }

bool Server::admit(SSL* ssl) {
  if (SSL_get_ex_data(ssl, g_ip_index)) return true;  // second ClientHello (HelloRetryRequest)
  std::string ip = peer_ip_of_fd(SSL_get_fd(ssl));
  unsigned& n = per_ip_[ip];
  if (n >= config_.max_connections_per_ip || open_ >= config_.max_connections) {
    if (n == 0) per_ip_.erase(ip);
    metrics_.connections_refused++;
    log::sys().warn("httpd: connection from {} refused: {} open from it, {} in all", ip, n, open_);
    return false;
  }
  ++n;
  ++open_;
  metrics_.connections_total++;
  metrics_.connections_open = open_;
  SSL_set_ex_data(ssl, g_ip_index, new std::string(ip));
  return true;
}

void Server::release(const std::string& ip) {
  auto it = per_ip_.find(ip);
  if (it != per_ip_.end() && --it->second == 0) per_ip_.erase(it);
  if (open_ > 0) --open_;
  metrics_.connections_open = open_;
}

bufferevent* Server::make_bev(event_base* base, void* arg) {
  auto* self = static_cast<Server*>(arg);
  SSL* ssl = self->config_.tls->new_ssl();
  if (!ssl) return nullptr;
  bufferevent* bev = bufferevent_openssl_socket_new(base, -1, ssl, BUFFEREVENT_SSL_ACCEPTING,
                                                    BEV_OPT_CLOSE_ON_FREE | BEV_OPT_DEFER_CALLBACKS);
  if (!bev) {
    SSL_free(ssl);
    return nullptr;
  }
  // Browsers and curl often close without close_notify; that is not an error for HTTP,
  // whose messages are length-delimited (RFC 9112 §9.8).
  bufferevent_openssl_set_allow_dirty_shutdown(bev, 1);
  return bev;
}

void Server::on_request(evhttp_request* req, void* arg) {
  auto* self = static_cast<Server*>(arg);
  try {
    self->handle(req);
  } catch (const std::exception& e) {
    log::sys().error("httpd: request: exception: {}", e.what());
    evhttp_send_error(req, 500, "Internal Server Error");
  }
}

void Server::handle(evhttp_request* req) {
  uint64_t start = monotonic_ns();
  Request r;
  r.method = method_name(evhttp_request_get_command(req));
  const evhttp_uri* uri = evhttp_request_get_evhttp_uri(req);
  const char* path = uri ? evhttp_uri_get_path(uri) : nullptr;
  r.path = path && *path ? path : "/";
  if (const char* q = uri ? evhttp_uri_get_query(uri) : nullptr) {
    evkeyvalq kv;
    kv.tqh_first = nullptr;
    kv.tqh_last = &kv.tqh_first;
    if (evhttp_parse_query_str(q, &kv) != 0) {
      evhttp_clear_headers(&kv);
      reply(req, json_error(400, "malformed query string"), start);
      return;
    }
    for (evkeyval* e = kv.tqh_first; e; e = e->next.tqe_next) r.query.emplace(e->key, e->value);
    evhttp_clear_headers(&kv);
  }
  evkeyvalq* in = evhttp_request_get_input_headers(req);
  if (const char* h = evhttp_find_header(in, "Authorization")) r.authorization = h;
  if (const char* h = evhttp_find_header(in, "Content-Type")) r.content_type = h;
  if (const char* h = evhttp_find_header(in, "User-Agent")) r.user_agent = h;
  evbuffer* body = evhttp_request_get_input_buffer(req);
  size_t len = evbuffer_get_length(body);
  r.body.resize(len);
  if (len) evbuffer_copyout(body, r.body.data(), len);
  if (evhttp_connection* conn = evhttp_request_get_connection(req)) {
    char* addr = nullptr;
    ev_uint16_t port = 0;
    evhttp_connection_get_peer(conn, &addr, &port);
    if (addr) r.peer_ip = addr;
  }
  if (Api::is_slow(r)) {
    std::unique_lock lock(mu_);
    if (jobs_.size() >= kMaxPendingLogins) {
      lock.unlock();
      Response busy = json_error(503, "too many logins in progress; try again");
      busy.headers.emplace_back("Retry-After", "5");
      reply(req, busy, start);
      return;
    }
    jobs_.push_back(Job{req, std::move(r), start});
    cv_.notify_one();
    return;
  }
  reply(req, api_.handle(r), start);
}

void Server::worker() {
  for (;;) {
    std::unique_lock lock(mu_);
    cv_.wait(lock, [this] { return stop_ || !jobs_.empty(); });
    if (stop_) return;
    Job job = std::move(jobs_.front());
    jobs_.pop_front();
    lock.unlock();
    auto* done = new Done{this, job.req, api_.handle(job.request), job.start_ns};
    // Back to the loop thread: evhttp requests are only touched there.
    timeval now{0, 0};
    int rc = event_base_once(
        base_, -1, EV_TIMEOUT,
        [](evutil_socket_t, short, void* arg) {
          std::unique_ptr<Done> d(static_cast<Done*>(arg));
          d->server->reply(d->req, d->response, d->start_ns);
        },
        done, &now);
    if (rc != 0) {
      log::sys().error("httpd: cannot hand a login answer back to the loop");
      delete done;
    }
  }
}

void Server::reply(evhttp_request* req, const Response& r, uint64_t start_ns) {
  evkeyvalq* out = evhttp_request_get_output_headers(req);
  evhttp_add_header(out, "Content-Type", r.content_type.c_str());
  evhttp_add_header(out, "Strict-Transport-Security", "max-age=31536000");
  evhttp_add_header(out, "X-Content-Type-Options", "nosniff");
  evhttp_add_header(out, "X-Frame-Options", "DENY");
  evhttp_add_header(out, "Referrer-Policy", "no-referrer");
  evhttp_add_header(out, "Content-Security-Policy",
                    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self'; "
                    "connect-src 'self'; frame-ancestors 'none'; base-uri 'none'; form-action 'self'");
  for (auto& [k, v] : r.headers) evhttp_add_header(out, k.c_str(), v.c_str());
  evbuffer* buf = evbuffer_new();
  if (!r.body.empty()) evbuffer_add(buf, r.body.data(), r.body.size());
  const char* reason = nullptr;
  switch (r.status) {
    case 200: reason = "OK"; break;
    case 201: reason = "Created"; break;
    case 204: reason = "No Content"; break;
    case 400: reason = "Bad Request"; break;
    case 401: reason = "Unauthorized"; break;
    case 403: reason = "Forbidden"; break;
    case 404: reason = "Not Found"; break;
    case 405: reason = "Method Not Allowed"; break;
    case 423: reason = "Locked"; break;
    case 500: reason = "Internal Server Error"; break;
    case 503: reason = "Service Unavailable"; break;
    default: reason = "";
  }
  evhttp_send_reply(req, r.status, reason, r.status == 204 ? nullptr : buf);
  evbuffer_free(buf);
  metrics_.observe(r.status, monotonic_ns() - start_ns);
}

}  // namespace tsubame::httpd
