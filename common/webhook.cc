// common/webhook.cc: the webhook sender thread and its small blocking HTTP/1.1 client.
// See webhook.h for the flow. Failure: every network, TLS or HTTP error of an attempt becomes
// a retry or a give-up with one log line; nothing here throws to a caller or aborts.
#include "common/webhook.h"

#include <arpa/inet.h>
#include <fcntl.h>
#include <netdb.h>
#include <openssl/ssl.h>
#include <poll.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

#include <chrono>
#include <fstream>
#include <sstream>

#include "common/bytes.h"
#include "common/config.h"
#include "common/crypto.h"
#include "common/log.h"
#include "common/tls.h"

namespace tsubame::webhook {

const char* event_type_name(EventType type) {
  switch (type) {
    case EventType::kMessageDelivered: return "message.delivered";
    case EventType::kSpamReported: return "spam.reported";
    case EventType::kQuarantineDecided: return "quarantine.decided";
    case EventType::kAccountLocked: return "account.locked";
  }
  return "unknown";
}

Result<Url> parse_url(std::string_view text) {
  Url u;
  std::string_view rest;
  if (text.substr(0, 7) == "http://") {
    rest = text.substr(7);
    u.port = 80;
  } else if (text.substr(0, 8) == "https://") {
    rest = text.substr(8);
    u.tls = true;
    u.port = 443;
  } else {
    return Status::invalid("webhook URL must start with http:// or https://: " + std::string(text));
  }
  size_t slash = rest.find('/');
  std::string_view authority = rest.substr(0, slash);
  u.path = slash == std::string_view::npos ? "/" : std::string(rest.substr(slash));
  if (authority.empty() || authority.find('@') != std::string_view::npos)
    return Status::invalid("webhook URL needs a host (and no user info): " + std::string(text));
  for (char c : u.path)
    if (static_cast<unsigned char>(c) <= 0x20 || c == 0x7f)
      return Status::invalid("webhook URL path has a control character or space");
  std::string_view host = authority, port;
  if (authority.front() == '[') {  // RFC 3986 §3.2.2 IP-literal
    size_t close = authority.find(']');
    if (close == std::string_view::npos) return Status::invalid("webhook URL: unclosed [");
    host = authority.substr(1, close - 1);
    if (close + 1 < authority.size()) {
      if (authority[close + 1] != ':') return Status::invalid("webhook URL: bad port");
      port = authority.substr(close + 2);
    }
  } else if (size_t colon = authority.rfind(':'); colon != std::string_view::npos) {
    host = authority.substr(0, colon);
    port = authority.substr(colon + 1);
  }
  if (host.empty()) return Status::invalid("webhook URL needs a host");
  if (!port.empty() || authority.back() == ':') {
    if (port.empty() || port.size() > 5) return Status::invalid("webhook URL: bad port");
    uint32_t p = 0;
    for (char c : port) {
      if (c < '0' || c > '9') return Status::invalid("webhook URL: bad port");
      p = p * 10 + uint32_t(c - '0');
    }
    if (p == 0 || p > 65535) return Status::invalid("webhook URL: bad port");
    u.port = static_cast<uint16_t>(p);
  }
  u.host = std::string(host);
  u.host_header = std::string(authority);
  return u;
}

std::string signature(std::string_view secret, int64_t timestamp, std::string_view body) {
  std::string signed_text = std::to_string(timestamp);
  signed_text += '.';
  signed_text.append(body);
  return "sha256=" + to_hex(crypto::hmac_sha256(secret, signed_text));
}

Result<Options> options_from_config(const Config& config, std::string source) {
  Options o;
  o.source = std::move(source);
  for (auto& url : config.list("httpd.webhook_urls")) {
    std::string u(trim(url));
    if (u.empty()) continue;
    auto parsed = parse_url(u);
    if (!parsed.is_ok()) return parsed.status();
    o.urls.push_back(u);
  }
  if (o.urls.empty()) return o;
  o.ca_file = config.str("httpd.webhook_ca_file");
  const std::string& file = config.str("httpd.webhook_secret_file");
  if (file.empty())
    return Status::invalid("httpd.webhook_urls is set but httpd.webhook_secret_file is not: events are never sent unsigned");
  std::ifstream in(file, std::ios::binary);
  if (!in) return Status::invalid("cannot read httpd.webhook_secret_file " + file);
  std::stringstream ss;
  ss << in.rdbuf();
  std::string secret = ss.str();
  while (!secret.empty() && (secret.back() == '\n' || secret.back() == '\r' || secret.back() == ' ' ||
                             secret.back() == '\t'))
    secret.pop_back();
  if (secret.size() < 16) return Status::invalid("webhook secret in " + file + " is shorter than 16 bytes");
  o.secret = std::move(secret);
  return o;
}

Result<std::unique_ptr<Sender>> Sender::start(Options options) {
  std::vector<Url> urls;
  for (auto& u : options.urls) {
    auto parsed = parse_url(u);
    if (!parsed.is_ok()) return parsed.status();
    urls.push_back(std::move(*parsed));
  }
  if (!urls.empty() && options.secret.empty()) return Status::invalid("webhook secret is empty");
  if (options.queue_capacity == 0 || options.max_attempts < 1 || options.backoff_base_ms < 1 ||
      options.timeout_seconds < 1)
    return Status::invalid("webhook options out of range");
  std::unique_ptr<Sender> s(new Sender(std::move(options), std::move(urls)));
  bool need_tls = false;
  for (auto& u : s->urls_) need_tls |= u.tls;
  if (need_tls) {
    auto ctx = tls::Context::client(true, s->options_.ca_file);
    if (!ctx.is_ok()) return ctx.status();
    s->tls_ = *ctx;
  }
  if (s->enabled()) s->thread_ = std::thread([p = s.get()] { p->run(); });
  return s;
}

Sender::Sender(Options options, std::vector<Url> urls)
    : options_(std::move(options)), urls_(std::move(urls)) {}

Sender::~Sender() {
  {
    std::lock_guard lock(mu_);
    stop_ = true;
  }
  cv_.notify_all();
  if (thread_.joinable()) thread_.join();
  if (!queue_.empty())
    log::sys().warn("webhook: stopping with {} deliveries not sent (dropped)", queue_.size());
}

bool Sender::publish(EventType type, nlohmann::json data) {
  if (!enabled()) return false;
  nlohmann::json event;
  event["id"] = to_hex(random_bytes(16));
  event["type"] = event_type_name(type);
  event["time_ms"] = unix_now_ms();
  if (!options_.source.empty()) event["source"] = options_.source;
  event["data"] = std::move(data);
  std::string body = event.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
  if (body.size() > kWebhookMaxBodyBytes) {
    log::sys().warn("webhook: {} event {} is larger than {} bytes: dropped", event_type_name(type),
                    event["id"].get<std::string>(), kWebhookMaxBodyBytes);
    std::lock_guard lock(mu_);
    stats_.dropped++;
    return false;
  }
  {
    std::lock_guard lock(mu_);
    if (queue_.size() + urls_.size() > options_.queue_capacity) {
      stats_.dropped++;
      log::sys().warn("webhook: queue full ({} deliveries): {} event {} dropped", queue_.size(),
                      event_type_name(type), event["id"].get<std::string>());
      return false;
    }
    int64_t now = unix_now_ms();
    for (size_t i = 0; i < urls_.size(); ++i)
      queue_.emplace(now, Delivery{i, event["id"].get<std::string>(), event_type_name(type), body, 0});
    stats_.published++;
    stats_.pending = queue_.size();
  }
  cv_.notify_all();
  return true;
}

bool Sender::flush(int64_t timeout_ms) {
  std::unique_lock lock(mu_);
  return idle_cv_.wait_for(lock, std::chrono::milliseconds(timeout_ms),
                           [this] { return queue_.empty() && !in_flight_; });
}

Stats Sender::stats() const {
  std::lock_guard lock(mu_);
  Stats s = stats_;
  s.pending = queue_.size() + (in_flight_ ? 1 : 0);
  return s;
}

void Sender::run() {
  std::unique_lock lock(mu_);
  while (!stop_) {
    if (queue_.empty()) {
      idle_cv_.notify_all();
      cv_.wait(lock, [this] { return stop_ || !queue_.empty(); });
      continue;
    }
    int64_t now = unix_now_ms();
    auto it = queue_.begin();
    if (it->first > now) {
      cv_.wait_for(lock, std::chrono::milliseconds(it->first - now));
      continue;
    }
    Delivery d = std::move(it->second);
    queue_.erase(it);
    in_flight_ = true;
    lock.unlock();

    std::string error;
    int status = post(urls_[d.url], d, error);
    d.attempt++;
    bool ok = status >= 200 && status < 300;
    // A 4xx other than 408/429 means the receiver refuses this event for good.
    bool permanent = status >= 400 && status < 500 && status != 408 && status != 429;
    const std::string& url = options_.urls[d.url];
    if (ok) {
      log::sys().debug("webhook: {} {} -> {} ({})", d.type, d.id, url, status);
    } else if (status != 0) {
      error = "HTTP " + std::to_string(status);
    }

    lock.lock();
    in_flight_ = false;
    if (ok) {
      stats_.delivered++;
    } else {
      stats_.attempts_failed++;
      if (permanent || d.attempt >= options_.max_attempts) {
        stats_.gave_up++;
        log::sys().warn("webhook: {} {} -> {}: {}; giving up after {} attempt(s)", d.type, d.id, url,
                        error, d.attempt);
      } else {
        // Exponential backoff: base * 2^(attempt-1), capped, plus up to 25% jitter so that
        // many events failing together do not retry in lockstep.
        int64_t delay = options_.backoff_base_ms;
        for (int i = 1; i < d.attempt && delay < options_.backoff_max_ms; ++i) delay *= 2;
        delay = std::min(delay, options_.backoff_max_ms);
        delay += static_cast<int64_t>(random_u64() % static_cast<uint64_t>(delay / 4 + 1));
        log::sys().info("webhook: {} {} -> {}: {}; retry {} in {} ms", d.type, d.id, url, error,
                        d.attempt, delay);
        queue_.emplace(unix_now_ms() + delay, std::move(d));
      }
    }
    stats_.pending = queue_.size();
  }
  idle_cv_.notify_all();
}

namespace {

// A connected socket with a deadline on connect, or -1.
int connect_with_timeout(const Url& url, int timeout_seconds, std::string& error) {
  addrinfo hints{};
  hints.ai_family = AF_UNSPEC;
  hints.ai_socktype = SOCK_STREAM;
  addrinfo* res = nullptr;
  std::string port = std::to_string(url.port);
  if (int rc = getaddrinfo(url.host.c_str(), port.c_str(), &hints, &res); rc != 0) {
    error = std::string("resolve ") + url.host + ": " + gai_strerror(rc);
    return -1;
  }
  int fd = -1;
  for (addrinfo* ai = res; ai; ai = ai->ai_next) {
    fd = socket(ai->ai_family, ai->ai_socktype | SOCK_CLOEXEC | SOCK_NONBLOCK, ai->ai_protocol);
    if (fd < 0) continue;
    int rc = connect(fd, ai->ai_addr, ai->ai_addrlen);
    if (rc != 0 && errno == EINPROGRESS) {
      pollfd p{fd, POLLOUT, 0};
      rc = poll(&p, 1, timeout_seconds * 1000);
      int soerr = 0;
      socklen_t len = sizeof soerr;
      if (rc == 1 && getsockopt(fd, SOL_SOCKET, SO_ERROR, &soerr, &len) == 0 && soerr == 0) {
        rc = 0;
      } else {
        error = rc == 0 ? "connect timed out" : std::string("connect: ") + strerror(soerr ? soerr : errno);
        rc = -1;
      }
    } else if (rc != 0) {
      error = std::string("connect: ") + strerror(errno);
    }
    if (rc == 0) break;
    close(fd);
    fd = -1;
  }
  freeaddrinfo(res);
  if (fd < 0) return -1;
  // Blocking from here on, with per-call timeouts.
  fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) & ~O_NONBLOCK);
  timeval tv{timeout_seconds, 0};
  setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
  setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv);
  return fd;
}

}  // namespace

int Sender::post(const Url& url, const Delivery& d, std::string& error) {
  int fd = connect_with_timeout(url, options_.timeout_seconds, error);
  if (fd < 0) return 0;
  SSL* ssl = nullptr;
  auto cleanup = [&] {
    if (ssl) {
      SSL_shutdown(ssl);
      SSL_free(ssl);
    }
    close(fd);
  };
  if (url.tls) {
    ssl = tls_->new_ssl();
    if (!ssl) {
      error = "SSL_new: " + tls::last_error();
      cleanup();
      return 0;
    }
    SSL_set_tlsext_host_name(ssl, url.host.c_str());  // RFC 6066 §3 SNI
    SSL_set1_host(ssl, url.host.c_str());             // RFC 6125 name check
    SSL_set_fd(ssl, fd);
    if (SSL_connect(ssl) != 1) {
      error = "TLS handshake: " + tls::last_error();
      cleanup();
      return 0;
    }
  }
  int64_t ts = unix_now();
  std::string req = "POST " + url.path + " HTTP/1.1\r\nHost: " + url.host_header +
                    "\r\nUser-Agent: tsubame-webhook/0.1\r\nContent-Type: application/json\r\n"
                    "Content-Length: " + std::to_string(d.body.size()) +
                    "\r\nConnection: close\r\nX-Tsubame-Event: " + d.type +
                    "\r\nX-Tsubame-Delivery: " + d.id + "\r\nX-Tsubame-Timestamp: " + std::to_string(ts) +
                    "\r\nX-Tsubame-Signature: " + signature(options_.secret, ts, d.body) + "\r\n\r\n" + d.body;
  size_t off = 0;
  while (off < req.size()) {
    ssize_t n = ssl ? SSL_write(ssl, req.data() + off, static_cast<int>(req.size() - off))
                    : send(fd, req.data() + off, req.size() - off, MSG_NOSIGNAL);
    if (n <= 0) {
      error = "send failed";
      cleanup();
      return 0;
    }
    off += static_cast<size_t>(n);
  }
  // Only the status line matters (RFC 9112 §4): "HTTP/1.1 200 OK".
  std::string resp;
  char buf[2048];
  while (resp.find("\r\n") == std::string::npos && resp.size() < kWebhookMaxResponseBytes) {
    ssize_t n = ssl ? SSL_read(ssl, buf, sizeof buf) : recv(fd, buf, sizeof buf, 0);
    if (n <= 0) break;
    resp.append(buf, static_cast<size_t>(n));
  }
  cleanup();
  if (resp.size() < 12 || resp.compare(0, 7, "HTTP/1.") != 0 || resp[8] != ' ') {
    error = resp.empty() ? "no response" : "malformed response";
    return 0;
  }
  int status = 0;
  for (size_t i = 9; i < 12; ++i) {
    if (resp[i] < '0' || resp[i] > '9') {
      error = "malformed status line";
      return 0;
    }
    status = status * 10 + (resp[i] - '0');
  }
  return status;
}

}  // namespace tsubame::webhook
