// smtpd/main.cc: tsubame-smtpd. Reads the config, opens the store, builds the TLS context,
// starts the listeners and runs the event loop until SIGTERM/SIGINT (graceful: every session
// gets "421 4.3.2", then the loop ends).
// SIGHUP reloads the filter's rule set (general.rules_dir) on a thread of its own; the
// running set stays when the new one does not compile (logged), so a bad rule file never
// stops mail. Per-domain settings need no signal: they are read per AUTH and per message.
// Failure: a bad config, an unopenable store or an unbindable listener ends the program
// with exit status 1 and one line on stderr saying why.
#include <event2/event.h>
#include <event2/thread.h>

#include <CLI/CLI.hpp>
#include <atomic>
#include <csignal>
#include <filesystem>
#include <iostream>
#include <optional>
#include <thread>

#include "common/config.h"
#include "common/crypto.h"
#include "common/daemon.h"

#include <unistd.h>
#include "common/log.h"
#include "common/tls.h"
#include "common/webhook.h"
#include "filter/domain_settings.h"
#include "filter/filter.h"
#include "filter/policy.h"
#include "smtpd/outbound/runner.h"
#include "smtpd/metrics.h"
#include "smtpd/server.h"
#include "smtpd/store_backend.h"
#include "store/accounts.h"
#include "store/store.h"

namespace {

using namespace tsubame;

bool has_key(std::string_view name) {
  for (const ConfigKey& k : config_schema())
    if (name == k.name) return true;
  return false;
}

smtp::Options options_from(const Config& c) {
  smtp::Options o;
  o.hostname = c.str("general.hostname");
  o.max_message_size = static_cast<size_t>(c.integer("smtpd.max_message_size"));
  o.max_recipients = static_cast<size_t>(c.integer("smtpd.max_recipients"));
  o.max_errors = static_cast<unsigned>(c.integer("smtpd.max_errors"));
  o.max_connections_per_ip = static_cast<unsigned>(c.integer("smtpd.max_connections_per_ip"));
  o.max_new_connections_per_ip_per_minute =
      static_cast<unsigned>(c.integer("smtpd.max_new_connections_per_minute"));
  o.max_connections = static_cast<unsigned>(c.integer("smtpd.max_connections"));
  o.command_timeout = std::chrono::seconds(c.integer("smtpd.command_timeout"));
  o.data_timeout = std::chrono::seconds(c.integer("smtpd.data_timeout"));
  o.normalize_bare_newlines = c.str("smtpd.bare_lf") == "normalize";
  o.enforce_sender_login = c.boolean("smtpd.sender_must_match_login");
  // Keys the schema may not have yet (see smtpd/README.md "Configuration").
  o.allow_plaintext_auth = c.boolean("security.allow_plaintext_auth");
  if (has_key("smtpd.soft_error_limit"))
    o.soft_error_limit = static_cast<unsigned>(c.integer("smtpd.soft_error_limit"));
  if (has_key("smtpd.error_delay"))
    o.error_delay = std::chrono::seconds(c.integer("smtpd.error_delay"));
  if (has_key("smtpd.max_auth_failures"))
    o.max_auth_failures = static_cast<unsigned>(c.integer("smtpd.max_auth_failures"));
  if (has_key("smtpd.auth_failure_delay"))
    o.auth_failure_delay = std::chrono::seconds(c.integer("smtpd.auth_failure_delay"));
  if (has_key("smtpd.greeting_delay"))
    o.greeting_delay = std::chrono::seconds(c.integer("smtpd.greeting_delay"));
  if (has_key("smtpd.tls_handshake_timeout"))
    o.tls_handshake_timeout = std::chrono::seconds(c.integer("smtpd.tls_handshake_timeout"));
  return o;
}

smtp::Server* g_server = nullptr;

// SIGHUP: recompile the rules off the event loop (a compile takes seconds) and swap them in
// (filter::Engine::reload: atomic, keeps the running set on error). One reload at a time;
// a SIGHUP during a reload is logged and ignored.
struct RuleReloader {
  filter::Filter* filter = nullptr;
  std::thread thread;
  std::atomic<bool> running{false};

  void start() {
    if (!filter) {
      log::sys().warn("smtpd: SIGHUP: no rule set loaded (general.rules_dir missing at start)");
      return;
    }
    if (running.exchange(true)) {
      log::sys().warn("smtpd: SIGHUP: a rule reload is already running");
      return;
    }
    if (thread.joinable()) thread.join();
    log::sys().info("smtpd: SIGHUP: reloading the rule set");
    thread = std::thread([this] {
      Status s = filter->reload();
      if (s.is_ok()) log::sys().info("smtpd: rule set reloaded");
      else log::sys().error("smtpd: rule reload failed, the running rule set stays: {}", s.to_string());
      running = false;
    });
  }
  ~RuleReloader() {
    if (thread.joinable()) thread.join();
  }
};

void on_signal() {
  log::sys().info("smtpd: shutting down");
  if (g_server) g_server->shutdown();
}

int run(const std::string& config_path) {
  auto cfg = load_daemon_config("tsubame-smtpd", config_path);
  if (!cfg.is_ok()) return 1;
  smtp::ServerConfig sc;
  sc.options = options_from(*cfg);
  // The store refuses larger messages; leave room for the headers we add.
  constexpr size_t kHeaderRoom = 64 * 1024;
  if (sc.options.max_message_size + kHeaderRoom > store::kMaxMessageBytes) {
    sc.options.max_message_size = store::kMaxMessageBytes - kHeaderRoom;
    log::sys().warn("smtpd: max_message_size lowered to {} (the store's limit)", sc.options.max_message_size);
  }

  const std::string& cert = cfg->str("tls.cert_file");
  const std::string& key = cfg->str("tls.key_file");
  if (std::filesystem::exists(cert) && std::filesystem::exists(key)) {
    auto ctx = tls::Context::server(cert, key, cfg->str("tls.min_version"));
    if (!ctx.is_ok()) {
      std::cerr << "tsubame-smtpd: TLS: " << ctx.status().to_string() << "\n";
      return 1;
    }
    sc.tls = *ctx;
  } else {
    log::sys().warn("smtpd: no certificate at {}: STARTTLS and port 465 are off", cert);
  }
  struct L {
    const char* key;
    smtp::ListenerKind kind;
  };
  for (L l : {L{"smtpd.listen_mx", smtp::ListenerKind::kMx},
              L{"smtpd.listen_submission", smtp::ListenerKind::kSubmission},
              L{"smtpd.listen_submissions", smtp::ListenerKind::kSubmissions}}) {
    Endpoint ep = cfg->endpoint(l.key);
    if (!ep.enabled()) continue;
    if (l.kind == smtp::ListenerKind::kSubmissions && !sc.tls) continue;
    sc.listeners.push_back(smtp::ListenerConfig{l.kind, ep.host, ep.port, false});
  }

  store::Options so;
  so.data_dir = cfg->str("general.data_dir");
  so.key_file = cfg->str("general.key_file");
  auto st = store::Store::open(so);
  if (!st.is_ok()) {
    std::cerr << "tsubame-smtpd: store: " << st.status().to_string() << "\n";
    return 1;
  }

  // The filter: one MIME parse per message, rules, classifier, policy. Without rules the
  // daemon still runs (mail is stored unscanned) and says so.
  std::unique_ptr<filter::Filter> mail_filter;
  // The [filter] base (filter/domain_settings.h, shared with `tsubame filter scan`); each
  // recipient domain's settings refine it per message (smtpd/store_backend.cc).
  filter::DomainPolicy policy = filter::config_policy(*cfg);
  // SMTP already enforced the size (SIZE, streaming); the policy must not refuse what the
  // session accepted.
  policy.max_message_bytes = sc.options.max_message_size + kHeaderRoom;
  const std::string& rules = cfg->str("general.rules_dir");
  if (std::filesystem::exists(rules)) {
    filter::FilterOptions fo = filter::filter_options(*cfg);
    fo.store = st->get();
    auto f = filter::Filter::open(std::move(fo));
    if (!f.is_ok()) {
      std::cerr << "tsubame-smtpd: filter: " << f.status().to_string() << "\n";
      return 1;
    }
    mail_filter = std::move(*f);
    // The global token counts into memory before the first message (Classifier::warm).
    if (const filter::Classifier* c = mail_filter->classifier()) {
      if (Status w = c->warm(); !w.is_ok()) log::sys().warn("smtpd: classifier counts not preloaded: {}", w.to_string());
    }
  } else {
    log::sys().warn("smtpd: no rules at {}: mail is stored without a filter scan", rules);
  }

  // SPF for mail from outside (smtpd/sender_auth.h); an unusable setting stops the start.
  std::optional<smtp::SpfSettings> spf_settings;
  if (auto ss = smtp::spf_settings(*cfg); !ss.is_ok()) {
    std::cerr << "tsubame-smtpd: " << ss.status().to_string() << "\n";
    return 1;
  } else if (ss->enabled) {
    spf_settings = std::move(*ss);
  }

  // Groupware webhooks (httpd.webhook_*; none configured: no sender thread). A bad setting
  // (URLs without a secret, a malformed URL) stops the start: events are never sent unsigned.
  auto wo = webhook::options_from_config(*cfg, "smtpd");
  if (!wo.is_ok()) {
    std::cerr << "tsubame-smtpd: webhooks: " << wo.status().to_string() << "\n";
    return 1;
  }
  auto hooks = webhook::Sender::start(std::move(*wo));
  if (!hooks.is_ok()) {
    std::cerr << "tsubame-smtpd: webhooks: " << hooks.status().to_string() << "\n";
    return 1;
  }
  std::unique_ptr<webhook::Sender> webhooks = std::move(*hooks);
  if (webhooks->enabled()) log::sys().info("smtpd: webhooks on");

  evthread_use_pthreads();
  event_base* base = event_base_new();
  if (!base) {
    std::cerr << "tsubame-smtpd: cannot create the event loop\n";
    return 1;
  }
  std::signal(SIGPIPE, SIG_IGN);
  int rc = 0;
  {
    store::LockoutSettings lockout = store::lockout_settings(*cfg);
    smtp::Server server(base, std::move(sc),
                        smtp::make_store_backend(**st, cfg->str("general.hostname"), lockout,
                                                 mail_filter.get(), &policy,
                                                 (std::filesystem::path(cfg->str("general.run_dir")) /
                                                  "imapd.notify")
                                                     .string(),
                                                 webhooks.get(), crypto::password_params(*cfg),
                                                 spf_settings ? &*spf_settings : nullptr));
    if (Status s = server.start(); !s.is_ok()) {
      std::cerr << "tsubame-smtpd: " << s.to_string() << "\n";
      rc = 1;
    } else if (Status d = drop_privileges(cfg->str("general.user")); !d.is_ok()) {
      // Listeners are bound and the store and keys are open: nothing else needs root.
      std::cerr << "tsubame-smtpd: " << d.to_string() << "\n";
      rc = 1;
    } else {
      if (geteuid() == 0) log::sys().warn("smtpd: running as root: set general.user");
      g_server = &server;
      // The outbound queue runner shares this loop and the store (issue 4 item 6).
      std::unique_ptr<smtp::outbound::Runner> runner;
      auto ro = smtp::outbound::options_from_config(*cfg);
      if (!ro.is_ok()) {
        std::cerr << "tsubame-smtpd: outbound: " << ro.status().to_string() << "\n";
        rc = 1;
      } else {
        ro->scan_interval_s = cfg->integer("smtpd.queue_scan_interval");
        auto r = smtp::outbound::Runner::start(base, **st, std::move(*ro));
        if (!r.is_ok()) {
          std::cerr << "tsubame-smtpd: outbound: " << r.status().to_string() << "\n";
          rc = 1;
        } else {
          runner = std::move(*r);
        }
      }
      if (rc == 0) log::sys().info("smtpd: ready");
      // Metrics for tsubame-httpd's /metrics: rewritten every 10 s (smtpd/metrics.h).
      struct MetricsTick {
        std::string path;
        smtp::Server* server;
      } tick{(std::filesystem::path(cfg->str("general.run_dir")) / "metrics" / "smtpd.prom").string(), &server};
      auto write_metrics = [](evutil_socket_t, short, void* arg) {
        auto* t = static_cast<MetricsTick*>(arg);
        if (Status ms = smtp::write_metrics_file(t->path, smtp::Metrics::get().render(t->server->connections()));
            !ms.is_ok())
          log::sys().warn("smtpd: metrics: {}", ms.to_string());
      };
      event* metrics_timer = event_new(base, -1, EV_PERSIST, write_metrics, &tick);
      timeval every{10, 0};
      event_add(metrics_timer, &every);
      write_metrics(-1, 0, &tick);
      RuleReloader reloader;
      reloader.filter = mail_filter.get();
      event* sighup = evsignal_new(
          base, SIGHUP, [](evutil_socket_t, short, void* arg) { static_cast<RuleReloader*>(arg)->start(); },
          &reloader);
      evsignal_add(sighup, nullptr);
      if (rc == 0) run_until_signal(base, [] { on_signal(); });
      event_free(sighup);
      event_free(metrics_timer);
      g_server = nullptr;
    }
  }
  event_base_free(base);
  log::flush();
  return rc;
}

}  // namespace

int main(int argc, char** argv) {
  return tsubame::daemon_main(argc, argv, "tsubame-smtpd", "the Tsubame SMTP server", run);
}
