// tools/httpd/api.h: the JSON API and static pages of tsubame-httpd, without sockets.
//
//   POST /api/login ─▶ lockout? ─▶ Argon2id verify (a dummy hash for unknown users, so the
//        │               time does not say whether an address exists) ─▶ login history
//        ▼ token (sessions.h)
//   GET /api/mailboxes, GET /api/messages?mailbox=  (headers only, never bodies)
//   POST /api/report {mailbox, uid, kind} ─▶ store/reports.h copy to the quarantine
//        ─▶ set_reported ─▶ audit "report.add" ─▶ webhook spam.reported
//   admin (postmaster@<domain>, RFC 5321 §4.5.1): GET /api/quarantine,
//        POST /api/quarantine/{id}/decide ─▶ Reports::view (audit "report.view") ─▶ classifier
//        learns (unlearning a previous decision's training first, as `tsubame quarantine
//        decide` does) ─▶ Reports::decide (audit "report.decide") ─▶ webhook
//   GET /healthz, GET /metrics, GET / (www/index.html, app.js, style.css)
//
// Admins: the user `postmaster@<domain>` is that domain's administrator (every domain must
// have one, RFC 5321 §4.5.1); they see and decide the reports filed by users of their domain
// only. Another domain's report is 404 to them, as is a user's own request for another user's
// message: existence is never disclosed.
//
// Answers: 400 bad JSON or fields, 401 no/forged/expired token (WWW-Authenticate: Bearer,
// RFC 6750 §3), 403 admin-only, 404, 405 wrong method (with Allow, RFC 9110 §15.5.6),
// 413 body too large (evhttp), 423 account locked, 500 internal (logged, generic body).
// Thread-safety: handle() may run on any thread, concurrently (the server runs logins on
// worker threads). Failure: store errors become HTTP statuses; nothing throws out of handle().
#pragma once

#include <cstdint>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <utility>
#include <vector>

#include "common/crypto.h"
#include "common/result.h"
#include "filter/filter.h"
#include "store/accounts.h"
#include "tools/httpd/metrics.h"
#include "tools/httpd/sessions.h"

namespace tsubame::store {
class Store;
class Accounts;
class Reports;
}  // namespace tsubame::store

namespace tsubame::webhook {
class Sender;
}
namespace tsubame::filter {
class Filter;
}

namespace tsubame::httpd {

struct Request {
  std::string method;                        // "GET", "POST", ...
  std::string path;                          // "/api/messages"
  std::map<std::string, std::string> query;  // decoded
  std::string authorization;                 // the Authorization header
  std::string content_type;
  std::string body;
  std::string peer_ip;
  std::string user_agent;
};

struct Response {
  int status = 200;
  std::string content_type = "application/json";
  std::string body;
  std::vector<std::pair<std::string, std::string>> headers;
};

struct ApiOptions {
  int64_t session_lifetime_ms = 8 * 3600 * 1000;
  store::LockoutSettings lockout;  // site-wide; a domain's lockout_* settings refine it
  crypto::PasswordParams kdf;  // for the decoy hash (same cost as real ones)
  std::string www_dir;               // index.html, app.js, style.css
  std::string metrics_dir;           // <run_dir>/metrics
  filter::FilterOptions filter;      // filter::filter_options(): opened at the first decision, on the API's store
};

class Api {
 public:
  static Result<std::unique_ptr<Api>> create(store::Store& store, ApiOptions options,
                                             webhook::Sender* webhooks, Metrics& metrics);
  ~Api();

  Response handle(const Request& req);
  // Requests worth a worker thread: password verification, decisions (classifier training)
  // and metrics (store-wide counts), so the event loop never waits on them.
  static bool is_slow(const Request& req) {
    if (req.path == "/metrics") return true;
    return req.method == "POST" && (req.path == "/api/login" || req.path.ends_with("/decide"));
  }
  SessionTable& sessions() { return sessions_; }
  // Set once, before the loop runs (the sender starts after privileges are dropped).
  void set_webhooks(webhook::Sender* w) { webhooks_ = w; }

 private:
  Api(store::Store& store, ApiOptions options, webhook::Sender* webhooks, Metrics& metrics);
  Response route(const Request& req);
  Response login(const Request& req);
  Response logout(const Request& req, const Session& s);
  Response me(const Session& s);
  Response mailboxes(const Session& s);
  Response messages(const Request& req, const Session& s);
  Response report(const Request& req, const Session& s);
  Response quarantine(const Request& req, const Session& s);
  Response decide(const Request& req, const Session& s, uint64_t id);
  Response healthz();
  Response metrics();
  Result<Session> authenticate(const Request& req);

  store::Store& store_;
  ApiOptions options_;
  webhook::Sender* webhooks_;
  Metrics& metrics_;
  SessionTable sessions_;
  std::unique_ptr<store::Accounts> accounts_;  // config lockout values (unknown logins)
  std::unique_ptr<store::Reports> reports_;
  Result<filter::Filter*> filter();
  std::string dummy_hash_;
  std::mutex filter_mu_;              // opens the filter once; decisions are serialised by it
  std::unique_ptr<filter::Filter> filter_;
  struct StaticFile {
    std::string content_type, body;
  };
  std::map<std::string, StaticFile> static_files_;
  std::mutex stats_mu_;
  int64_t stats_at_ms_ = 0;          // 0: recompute at the next scrape
  std::string stats_text_;
};

// {"error": message}
Response json_error(int status, const std::string& message);

}  // namespace tsubame::httpd
