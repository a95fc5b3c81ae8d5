// tests/smtpd/harness.h: drives a Session the way the glue does, answering its actions
// from a small fixed directory, and collects what the server wrote.
//
// Directory: alice@example.com, bob@example.com and postmaster are local users;
// disabled@, full@, tempfail@example.com give those statuses; any other @example.com
// address is unknown; every other domain is remote. alice@example.com has password
// "secret" and owns alice@ and sales@example.com; locked@example.com is locked.
// A message containing "REJECTME" is rejected, "TEMPFAILME" temporarily failed; any
// other is accepted with queue id Q1, Q2 ...
#pragma once

#include <chrono>
#include <string>
#include <variant>
#include <vector>

#include "smtpd/session.h"

namespace tsubame::smtp::testing {

inline Options test_options() {
  Options o;
  o.hostname = "mx.example.com";
  o.error_delay = std::chrono::milliseconds(0);
  o.auth_failure_delay = std::chrono::milliseconds(0);
  return o;
}

class Harness {
 public:
  explicit Harness(ListenerPolicy policy = ListenerPolicy::mx(true), Options opts = test_options())
      : options(std::move(opts)), session(options, policy, "S1", "192.0.2.1") {}

  // Greets and returns the greeting.
  std::string start() {
    session.start();
    pump();
    return take();
  }
  // Feeds bytes, runs every resulting action, returns what the server wrote since.
  std::string talk(std::string_view bytes) {
    session.feed(bytes);
    pump();
    return take();
  }
  std::string take() {
    std::string o;
    o.swap(out);
    return o;
  }
  // Greet and EHLO (and optionally TLS + AUTH as alice); discards the replies.
  void ready(bool tls = false, bool auth = false) {
    start();
    talk("EHLO client.example.org\r\n");
    if (tls) {
      talk("STARTTLS\r\n");
      talk("EHLO client.example.org\r\n");
    }
    if (auth) talk("AUTH PLAIN AGFsaWNlQGV4YW1wbGUuY29tAHNlY3JldA==\r\n");
  }

  void pump() {
    for (;;) {
      std::vector<Action> actions = session.take_actions();
      if (actions.empty()) return;
      for (Action& a : actions) run(a);
    }
  }

  void run(Action& a) {
    if (auto* s = std::get_if<Send>(&a)) {
      out += s->bytes;
      delays.push_back(s->delay);
    } else if (std::holds_alternative<Close>(a)) {
      closed = true;
    } else if (std::holds_alternative<StartTls>(a)) {
      ++tls_starts;
      if (auto_answer) session.on_tls_result(tls_ok);
    } else if (auto* rc = std::get_if<CheckRecipient>(&a)) {
      checked.push_back(rc->address);
      if (auto_answer) session.on_recipient_checked(lookup(rc->address));
    } else if (auto* c = std::get_if<CheckSender>(&a)) {
      if (auto_answer)
        session.on_sender_checked(c->user == "alice@example.com" &&
                                  (c->address == "alice@example.com" ||
                                   c->address == "sales@example.com"));
    } else if (auto* au = std::get_if<Authenticate>(&a)) {
      auths.push_back(*au);
      if (!auto_answer) return;
      if (au->user == "locked@example.com") return session.on_auth_result(AuthStatus::kLocked);
      // Domain policies as store_backend.cc applies them (store/settings.h): users of
      // tls.example need TLS; plain.example allows only PLAIN.
      if (au->user.ends_with("@tls.example") && !au->tls)
        return session.on_auth_result(AuthStatus::kEncryptionRequired);
      if (au->user.ends_with("@plain.example") && au->mechanism != "PLAIN")
        return session.on_auth_result(AuthStatus::kMechanismTooWeak);
      if (au->policy_only) return session.on_auth_result(AuthStatus::kOk);  // go on: password
      bool ok = au->user == "alice@example.com" && au->password == "secret";
      session.on_auth_result(ok ? AuthStatus::kOk : AuthStatus::kBad);
    } else if (auto* d = std::get_if<DeliverMessage>(&a)) {
      delivered.push_back(*d);
      if (!auto_answer) return;
      DeliveryResult r;
      if (d->data.find("REJECTME") != std::string::npos) {
        r.outcome = DeliveryResult::Outcome::kRejected;
        r.reason = "Message rejected: spam score 12.5";
      } else if (d->data.find("TEMPFAILME") != std::string::npos) {
        r.outcome = DeliveryResult::Outcome::kTempFail;
      } else {
        r.queue_id = "Q" + std::to_string(delivered.size());
      }
      session.on_delivered(r);
    }
  }

  static RecipientStatus lookup(const std::string& a) {
    if (a == "alice@example.com" || a == "bob@example.com" || a == "postmaster")
      return RecipientStatus::kLocal;
    if (a == "disabled@example.com") return RecipientStatus::kDisabled;
    if (a == "full@example.com") return RecipientStatus::kFull;
    if (a == "tempfail@example.com") return RecipientStatus::kTempFail;
    if (a.size() > 12 && a.substr(a.size() - 12) == "@example.com")
      return RecipientStatus::kUnknownLocal;
    return RecipientStatus::kRemote;
  }

  Options options;
  Session session;
  std::string out;
  bool closed = false;
  bool auto_answer = true;
  bool tls_ok = true;
  int tls_starts = 0;
  std::vector<std::chrono::milliseconds> delays;
  std::vector<std::string> checked;
  std::vector<Authenticate> auths;
  std::vector<DeliverMessage> delivered;
};

}  // namespace tsubame::smtp::testing
