// imapd/server.h: the thin libevent adapter around imap::Session (sockets, TLS, timers).
//
// One event loop thread. Each accepted connection gets a bufferevent (plain, or OpenSSL for
// implicit TLS), a Session, an autologout timer (RFC 9051 §5.4: pre-auth 60 s, then
// imapd.idle_timeout) and, while the client is in IDLE, a poll timer that asks the session
// for mailbox changes every second (so a delivery by smtpd reaches an idling client within
// one second; smtpd's datagram on ServerConfig::notify_socket wakes it at once). STARTTLS wraps the socket's bufferevent in an OpenSSL filter after the
// tagged OK has been queued. Argon2id password checks run on a small worker pool so that a
// login never stalls the loop; their results come back through one libevent event.
// Store writes of all sessions go through one group-commit writer thread (imapd/writer.h):
// every write waiting is committed in one transaction, and each session's command completes
// on the loop when its batch is on disk.
//
// Failure: a listener that cannot bind fails start() with the reason; a connection error,
// EOF or TLS failure frees that connection only. Connection limits (total, per IP) answer
// "* BYE" and close. No exception crosses a libevent callback (each is caught, logged, the
// connection dropped).
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "common/message_summary.h"
#include "common/result.h"
#include "imapd/search_text.h"
#include "store/accounts.h"
#include "store/store.h"

struct event_base;

namespace tsubame::tls {
class Context;
}

namespace tsubame::imap {

struct ListenerConfig {
  std::string host;
  uint16_t port = 0;     // 0: any free port (tests), see Server::bound_ports()
  bool implicit_tls = false;
};

struct ServerConfig {
  std::vector<ListenerConfig> listeners;
  std::shared_ptr<tls::Context> tls;  // null: no STARTTLS, no implicit TLS listener
  bool allow_plaintext_auth = false;
  uint64_t append_limit = 0;          // 0: kMaxAppendSize
  int64_t idle_timeout_seconds = 30 * 60;
  unsigned max_connections = 5000;
  unsigned max_connections_per_ip = 50;
  int idle_poll_ms = 1000;
  std::function<Result<MessageSummary>(std::string_view raw)> summarize;
  TextExtractor extract_text;  // SEARCH over decoded content (imapd/search_text.h)
  // A unix datagram socket smtpd writes to after a durable delivery (architecture: "notify
  // imapd"; the datagram is "deliver USER_ID MAILBOX_ID"). The sessions of that user that
  // are in IDLE are polled at once; NOOP reads the store anyway. Empty: off. A socket that
  // cannot be bound is logged and skipped: the 1 s poll remains.
  std::string notify_socket;
  // Flag-only write batches (STORE): answered once their data pages are synced, the meta
  // page synced right after (imapd/README.md "Durability"). kFull: every batch fully durable
  // before its replies.
  store::BatchSync flag_sync = store::BatchSync::kFlagsDeferred;
  // imapd.flag_sync = journal: the flag journal's path (imapd/flag_journal.h; the daemon puts
  // it in the data directory). start() replays it, then STOREs of system flags are answered
  // once journaled. Empty: off.
  std::string flag_journal;
  // Passed to every session (imapd/session.h SessionConfig).
  store::LockoutSettings lockout;
  std::string dummy_password_hash;  // SessionConfig::dummy_password_hash
  std::function<void(const store::User& user, const store::LoginOutcome& outcome,
                     const std::string& source_ip)>
      on_account_locked;
};

class Server {
 public:
  Server(event_base* base, store::Store& store, ServerConfig config);
  ~Server();
  Server(const Server&) = delete;
  Server& operator=(const Server&) = delete;

  Status start();
  // Says BYE to every session, stops listening; the loop ends when they are gone.
  void shutdown();
  // The ports actually bound, in listener order.
  std::vector<uint16_t> bound_ports() const;
  size_t connections() const;

  struct Impl;

 private:
  std::unique_ptr<Impl> impl_;
};

}  // namespace tsubame::imap
