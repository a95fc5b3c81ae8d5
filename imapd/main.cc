// imapd/main.cc: tsubame-imapd. Reads the config, opens the store, builds the TLS context,
// starts the IMAP (STARTTLS) and IMAPS (implicit TLS) listeners and runs the event loop until
// SIGTERM/SIGINT (graceful: every session gets "* BYE", then the loop ends). Listens for
// smtpd's delivery datagrams on general.run_dir/imapd.notify.
// Failure: a bad config, an unopenable store or an unbindable listener ends the program with
// exit status 1 and one line on stderr saying why.
#include <event2/event.h>
#include <event2/thread.h>

#include <CLI/CLI.hpp>
#include <csignal>
#include <filesystem>
#include <iostream>

#include "common/bytes.h"
#include "common/config.h"
#include "common/crypto.h"
#include "common/daemon.h"
#include "common/log.h"
#include "common/tls.h"
#include "common/webhook.h"
#include "imapd/limits.h"
#include "imapd/server.h"
#include "store/accounts.h"
#include "store/store.h"
#ifdef TSUBAME_IMAPD_WITH_FILTER
#include "imapd/filter_glue.h"
#endif

namespace {

using namespace tsubame;

imap::Server* g_server = nullptr;

void on_signal() {
  log::sys().info("imapd: shutting down");
  if (g_server) g_server->shutdown();
}

int run(const std::string& config_path) {
  auto cfg = load_daemon_config("tsubame-imapd", config_path);
  if (!cfg.is_ok()) return 1;
  imap::ServerConfig sc;
  sc.allow_plaintext_auth = cfg->boolean("security.allow_plaintext_auth");
  sc.append_limit = static_cast<uint64_t>(cfg->integer("imapd.max_literal_size"));
  sc.idle_timeout_seconds = cfg->integer("imapd.idle_timeout");
  sc.max_connections = static_cast<unsigned>(cfg->integer("imapd.max_connections"));
  sc.max_connections_per_ip = static_cast<unsigned>(cfg->integer("imapd.max_connections_per_ip"));
#ifdef TSUBAME_IMAPD_WITH_FILTER
  // APPEND: the same single MIME parse as delivery (architecture: "parse once").
  sc.summarize = imap::filter_summarize;
  // SEARCH TEXT/BODY/HEADER over decoded content (RFC 9051 §6.4.4).
  sc.extract_text = imap::filter_extract_text;
#endif
  // smtpd's "new mail" datagrams (smtpd/store_backend.h); the 1 s poll stays as fallback.
  sc.notify_socket =
      (std::filesystem::path(cfg->str("general.run_dir")) / "imapd.notify").string();
  const std::string& cert = cfg->str("tls.cert_file");
  const std::string& key = cfg->str("tls.key_file");
  if (std::filesystem::exists(cert) && std::filesystem::exists(key)) {
    auto ctx = tls::Context::server(cert, key, cfg->str("tls.min_version"));
    if (!ctx.is_ok()) {
      std::cerr << "tsubame-imapd: TLS: " << ctx.status().to_string() << "\n";
      return 1;
    }
    sc.tls = *ctx;
  } else {
    log::sys().warn("imapd: no certificate at {}: STARTTLS and IMAPS are off", cert);
  }
  Endpoint imap_ep = cfg->endpoint("imapd.listen_imap");
  Endpoint imaps_ep = cfg->endpoint("imapd.listen_imaps");
  if (imap_ep.enabled()) sc.listeners.push_back({imap_ep.host, imap_ep.port, false});
  if (imaps_ep.enabled()) sc.listeners.push_back({imaps_ep.host, imaps_ep.port, true});

  store::Options so;
  so.data_dir = cfg->str("general.data_dir");
  so.key_file = cfg->str("general.key_file");
  so.map_size = static_cast<uint64_t>(cfg->integer("store.map_size"));
  so.max_map_size = static_cast<uint64_t>(cfg->integer("store.max_map_size"));
  auto st = store::Store::open(so);
  if (!st.is_ok()) {
    std::cerr << "tsubame-imapd: store: " << st.status().to_string() << "\n";
    return 1;
  }

  // Failed-login lockout, shared with smtpd through the store (store/accounts.h).
  // imapd.flag_sync: how durable a STORE is before its reply (imapd/README.md, "Durability").
  sc.flag_sync = cfg->str("imapd.flag_sync") == "full" ? store::BatchSync::kFull : store::BatchSync::kFlagsDeferred;
  if (cfg->str("imapd.flag_sync") == "journal")
    sc.flag_journal = (std::filesystem::path(so.data_dir) / "imapd-flags.journal").string();
  sc.lockout = store::lockout_settings(*cfg);
  // Per-domain tls_required, auth_mechanisms and lockout_* (store/settings.h), read at
  // each login: `tsubame security set` needs no restart.
  // The decoy hash for unknown logins, with the KDF settings real hashes are made with.
  {
    auto dummy = crypto::decoy_password_hash(crypto::password_params(*cfg));
    if (!dummy.is_ok()) {
      std::cerr << "tsubame-imapd: password hashing: " << dummy.status().to_string() << "\n";
      return 1;
    }
    sc.dummy_password_hash = *dummy;
  }

  // Groupware webhooks (httpd.webhook_*; none configured: no sender thread). A bad setting
  // stops the start: events are never sent unsigned. Only "account.locked" comes from here.
  auto wo = webhook::options_from_config(*cfg, "imapd");
  if (!wo.is_ok()) {
    std::cerr << "tsubame-imapd: webhooks: " << wo.status().to_string() << "\n";
    return 1;
  }
  auto hooks = webhook::Sender::start(std::move(*wo));
  if (!hooks.is_ok()) {
    std::cerr << "tsubame-imapd: webhooks: " << hooks.status().to_string() << "\n";
    return 1;
  }
  std::unique_ptr<webhook::Sender> webhooks = std::move(*hooks);
  if (webhooks->enabled()) {
    log::sys().info("imapd: webhooks on");
    webhook::Sender* sender = webhooks.get();  // outlives the server (declared before it)
    sc.on_account_locked = [sender](const store::User& user, const store::LoginOutcome& outcome,
                                    const std::string& source_ip) {
      sender->publish(webhook::EventType::kAccountLocked,
                      {{"user", user.address},
                       {"locked_until_ms", outcome.locked_until_ms},
                       {"failures", outcome.failures},
                       {"protocol", "imap"},
                       {"source_ip", source_ip}});
    };
  }

  evthread_use_pthreads();
  event_base* base = event_base_new();
  if (!base) {
    std::cerr << "tsubame-imapd: cannot create the event loop\n";
    return 1;
  }
  std::signal(SIGPIPE, SIG_IGN);
  int rc = 0;
  {
    imap::Server server(base, **st, std::move(sc));
    if (Status s = server.start(); !s.is_ok()) {
      std::cerr << "tsubame-imapd: " << s.to_string() << "\n";
      rc = 1;
    } else if (Status d = drop_privileges(cfg->str("general.user")); !d.is_ok()) {
      // Listeners are bound and the store and keys are open: nothing else needs root.
      std::cerr << "tsubame-imapd: " << d.to_string() << "\n";
      rc = 1;
    } else {
      g_server = &server;
      log::sys().info("imapd: ready");
      run_until_signal(base, [] { on_signal(); });
      g_server = nullptr;
    }
  }
  event_base_free(base);
  log::flush();
  return rc;
}

}  // namespace

int main(int argc, char** argv) {
  return tsubame::daemon_main(argc, argv, "tsubame-imapd", "the Tsubame IMAP server", run);
}
