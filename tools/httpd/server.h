// tools/httpd/server.h: the libevent glue of tsubame-httpd: evhttp over TLS.
//
//   accept ─▶ bevcb: bufferevent_openssl (server context) ─▶ ClientHello callback: count the
//   connection for its IP; over kMaxConnectionsPerIp / kMaxConnections: handshake refused
//   ─▶ evhttp parses (header/body size limits, I/O timeouts) ─▶ on_request builds a Request
//   ─▶ Api::handle on the loop thread, or on a login worker (Argon2id) whose answer comes
//   back to the loop through event_base_once ─▶ evhttp_send_reply with security headers.
//   SSL_free (connection gone) ─▶ ex_data free callback: the IP's count drops.
//
// The loop is single-threaded; only Api::handle runs on workers. A reply for a client that
// went away meanwhile is dropped by evhttp (the request was detached from its connection).
// Failure: start() returns why binding failed; per-connection errors close that connection.
#pragma once

#include <condition_variable>
#include <cstdint>
#include <deque>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "common/config.h"
#include "common/result.h"
#include "tools/httpd/api.h"
#include "tools/httpd/limits.h"

struct event_base;
struct evhttp;
struct evhttp_request;
struct bufferevent;
typedef struct ssl_st SSL;

namespace tsubame::tls {
class Context;
}

namespace tsubame::httpd {

struct ServerConfig {
  Endpoint listen;
  std::shared_ptr<tls::Context> tls;
  size_t max_body_bytes = kMaxBodyBytes;
  size_t max_headers_bytes = kMaxHeadersBytes;
  int io_timeout_seconds = kIoTimeoutSeconds;
  unsigned max_connections_per_ip = kMaxConnectionsPerIp;
  unsigned max_connections = kMaxConnections;
};

class Server {
 public:
  Server(event_base* base, Api& api, Metrics& metrics, ServerConfig config);
  ~Server();
  Server(const Server&) = delete;
  Server& operator=(const Server&) = delete;

  // Binds the listener and starts the login workers. Call before dropping privileges.
  Status start();
  // Stops accepting and ends the loop once in-flight work is done.
  void shutdown();

  // For the TLS callbacks (static C functions).
  bool admit(SSL* ssl);
  void release(const std::string& ip);

 private:
  struct Job {
    evhttp_request* req;
    Request request;
    uint64_t start_ns;
  };
  static bufferevent* make_bev(event_base* base, void* arg);
  static void on_request(evhttp_request* req, void* arg);
  void handle(evhttp_request* req);
  void reply(evhttp_request* req, const Response& r, uint64_t start_ns);
  void worker();

  event_base* base_;
  Api& api_;
  Metrics& metrics_;
  ServerConfig config_;
  evhttp* http_ = nullptr;
  std::map<std::string, unsigned> per_ip_;  // loop thread only
  unsigned open_ = 0;
  std::mutex mu_;
  std::condition_variable cv_;
  std::deque<Job> jobs_;
  bool stop_ = false;
  std::vector<std::thread> workers_;
};

}  // namespace tsubame::httpd
