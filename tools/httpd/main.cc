// tools/httpd/main.cc: tsubame-httpd. Reads the config, opens the store, loads the TLS
// certificate and the web page, binds httpd.listen, drops root (general.user), starts the
// webhook sender and runs the loop until SIGTERM/SIGINT.
// Failure: a bad config, store, certificate, web page or listener ends the program with exit
// status 1 and one line on stderr; a failed privilege drop also ends it (never run as root
// by accident once a user is configured).
#include <event2/event.h>
#include <event2/thread.h>
#include <grp.h>
#include <pwd.h>
#include <sys/types.h>
#include <unistd.h>

#include <CLI/CLI.hpp>
#include <csignal>
#include <filesystem>
#include <iostream>

#include "common/config.h"
#include "common/crypto.h"
#include "common/daemon.h"
#include "common/log.h"
#include "common/tls.h"
#include "store/accounts.h"
#include "store/store.h"
#include "tools/httpd/api.h"
#include "tools/httpd/server.h"
#include "common/webhook.h"

#ifndef TSUBAME_HTTPD_WWW_DIR
#define TSUBAME_HTTPD_WWW_DIR "/usr/share/tsubame/www"
#endif

namespace {

using namespace tsubame;

httpd::Server* g_server = nullptr;

void on_signal() {
  log::sys().info("httpd: shutting down");
  if (g_server) g_server->shutdown();
}

int fail(const std::string& what) {
  std::cerr << "tsubame-httpd: " << what << "\n";
  return 1;
}


int run(const std::string& config_path, const std::string& www_dir, int64_t session_lifetime) {
  auto cfg = load_daemon_config("tsubame-httpd", config_path);
  if (!cfg.is_ok()) return 1;
  Endpoint ep = cfg->endpoint("httpd.listen");
  if (!ep.enabled()) return fail("httpd.listen is empty: nothing to do");

  httpd::ServerConfig sc;
  sc.listen = ep;
  auto ctx = tls::Context::server(cfg->str("tls.cert_file"), cfg->str("tls.key_file"), cfg->str("tls.min_version"));
  if (!ctx.is_ok()) return fail("TLS: " + ctx.status().to_string());
  sc.tls = *ctx;

  store::Options so;
  so.data_dir = cfg->str("general.data_dir");
  so.key_file = cfg->str("general.key_file");
  so.map_size = static_cast<uint64_t>(cfg->integer("store.map_size"));
  so.max_map_size = static_cast<uint64_t>(cfg->integer("store.max_map_size"));
  auto st = store::Store::open(so);
  if (!st.is_ok()) return fail("store: " + st.status().to_string());

  auto wo = webhook::options_from_config(*cfg, "httpd");
  if (!wo.is_ok()) return fail("webhooks: " + wo.status().to_string());
  size_t nurls = wo->urls.size();

  httpd::ApiOptions ao;
  ao.session_lifetime_ms = (session_lifetime > 0 ? session_lifetime : cfg->integer("httpd.session_lifetime")) * 1000;
  ao.lockout = store::lockout_settings(*cfg);
  ao.kdf = crypto::password_params(*cfg);
  ao.www_dir = www_dir;
  ao.metrics_dir = (std::filesystem::path(cfg->str("general.run_dir")) / "metrics").string();
  ao.filter = filter::filter_options(*cfg);

  evthread_use_pthreads();
  event_base* base = event_base_new();
  if (!base) return fail("cannot create the event loop");
  std::signal(SIGPIPE, SIG_IGN);
  int rc = 0;
  {
    httpd::Metrics metrics;
    std::unique_ptr<webhook::Sender> hooks;
    std::unique_ptr<httpd::Api> api;
    std::unique_ptr<httpd::Server> server;
    do {
      auto api_r = httpd::Api::create(**st, ao, nullptr, metrics);
      if (!api_r.is_ok()) {
        rc = fail(api_r.status().to_string());
        break;
      }
      server = std::make_unique<httpd::Server>(base, **api_r, metrics, sc);
      api = std::move(*api_r);
      if (Status s = server->start(); !s.is_ok()) {
        rc = fail(s.to_string());
        break;
      }
      // Everything privileged (listener, key files, store) is open: drop root now, before
      // any thread that handles outside input runs code as root.
      if (Status s = drop_privileges(cfg->str("general.user")); !s.is_ok()) {
        rc = fail(s.to_string());
        break;
      }
      auto sender = webhook::Sender::start(std::move(*wo));
      if (!sender.is_ok()) {
        rc = fail("webhooks: " + sender.status().to_string());
        break;
      }
      hooks = std::move(*sender);
      api->set_webhooks(hooks.get());
      g_server = server.get();
      log::sys().info("httpd: ready ({} webhook URL(s))", nurls);
      run_until_signal(base, [] { on_signal(); });
      g_server = nullptr;
    } while (false);
    server.reset();
    api.reset();
    if (hooks) hooks->flush(2000);
    hooks.reset();
  }
  event_base_free(base);
  log::flush();
  return rc;
}

}  // namespace

int main(int argc, char** argv) {
  std::string www_dir = TSUBAME_HTTPD_WWW_DIR;
  int64_t session_lifetime = 0;
  return tsubame::daemon_main(
      argc, argv, "tsubame-httpd", "the Tsubame web API, web page, health and metrics",
      [&](const std::string& config_path) { return run(config_path, www_dir, session_lifetime); },
      [&](CLI::App& app) {
        app.add_option("--www-dir", www_dir, "Directory of the web page (index.html, app.js, style.css)")
            ->capture_default_str();
        app.add_option("--session-lifetime", session_lifetime,
                       "Seconds a session token lives, overriding httpd.session_lifetime (tests use a short one)")
            ->check(CLI::Range(int64_t{1}, int64_t{86400} * 30));
      });
}
