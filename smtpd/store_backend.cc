// smtpd/store_backend.cc: Backend on store::Store (see store_backend.h for the rules).
// Failure: store errors become kTempFail answers and a log line; nothing throws.
#include "smtpd/store_backend.h"

#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <algorithm>
#include <cstdio>
#include <cstring>
#include <memory>
#include <utility>

#include "common/bytes.h"
#include "common/crypto.h"
#include "common/log.h"
#include "common/webhook.h"
#include "filter/filter.h"
#include "filter/mime.h"
#include "filter/policy.h"
#include "smtpd/metrics.h"
#include "store/accounts.h"
#include "store/aliases.h"
#include "store/queue.h"
#include "store/store.h"
#include "store/trace.h"

namespace tsubame::smtp {
namespace {

std::string normalise_address(std::string_view address) {
  size_t at = address.rfind('@');
  if (at == std::string_view::npos) return std::string(address);
  return std::string(address.substr(0, at + 1)) + to_lower(address.substr(at + 1));
}

// A fixed Argon2id hash so that an unknown login costs the same KDF time as a known one.
const std::string& dummy_hash() {
  static const std::string h = [] {
    auto r = crypto::hash_password(random_bytes(16));
    return r.is_ok() ? r.value() : std::string();
  }();
  return h;
}

bool domain_is_local(store::Store& st, std::string_view address) {
  size_t at = address.rfind('@');
  return at != std::string_view::npos && st.find_domain(address.substr(at + 1)).is_ok();
}

// RFC 3461 §4.1 NOTIFY as the queue stores it.
std::string notify_text(const Recipient& r) {
  if (r.notify_never) return "NEVER";
  std::string out;
  auto add = [&](bool on, const char* name) {
    if (!on) return;
    if (!out.empty()) out += ',';
    out += name;
  };
  add(r.notify_success, "SUCCESS");
  add(r.notify_failure, "FAILURE");
  add(r.notify_delay, "DELAY");
  return out;
}

// What prepare() learnt about one message, for deliver().
struct Prepared {
  MessageSummary summary;
  std::string mailbox = "INBOX";
  std::string action = "deliver";   // the verdict's action name ("" when not scanned)
  double score = 0;
  std::vector<std::string> rules;
  bool hold = false;                // data-loss hit: remote copies are held in the queue
  std::string hold_reason;
};

std::string rule_list(const filter::Verdict& v) {
  std::string out;
  for (const filter::Contribution& c : v.contributions) {
    // A classifier that abstains (score 0) did not fire; policy decisions (score 0) did.
    if (c.kind == filter::ContributionKind::kClassifier && c.score == 0) continue;
    if (!out.empty()) out += ", ";
    out += c.id;
  }
  return out;
}

// Header field values must stay on one line and in ASCII.
std::string header_safe(std::string_view s) {
  std::string out;
  for (char c : s) out += (c == '\r' || c == '\n' || static_cast<unsigned char>(c) >= 0x80) ? ' ' : c;
  return out.substr(0, 900);
}

void prepare_with_filter(const filter::Filter& f, const filter::DomainPolicy& policy, DeliveryJob& job) {
  auto p = std::make_shared<Prepared>();
  job.prepared = p;
  const uint64_t scan_start = monotonic_ns();
  auto parsed = filter::parse_message(job.data);
  if (!parsed.is_ok()) {
    log::mail(job.queue_id, "filter fault: parse: " + parsed.status().to_string() + "; delivered unscanned");
    Metrics::get().count_verdict("unscanned");
    return;
  }
  filter::SmtpEnvelope fe;
  fe.mail_from = job.envelope.mail_from;
  for (const Recipient& r : job.envelope.recipients) fe.rcpt_to.push_back(r.address);
  fe.client_ip = job.envelope.client_ip;
  fe.helo = job.envelope.helo;
  fe.authenticated = !job.envelope.auth_user.empty();
  fe.auth_user = job.envelope.auth_user;
  filter::Verdict v;
  try {
    filter::Policy pol;
    pol.domain = policy;
    v = filter::decide(f.analyse_parsed(*parsed, fe), pol);
  } catch (const std::exception& e) {
    v = filter::Verdict{};
    v.fault = true;
    v.fault_note = e.what();
  }
  Metrics::get().observe_scan(double(monotonic_ns() - scan_start) / 1e9);
  Metrics::get().count_verdict(v.fault ? std::string_view("unscanned") : filter::action_name(v.action));
  if (v.fault) log::mail(job.queue_id, "filter fault: " + v.fault_note + "; delivered unscanned");
  std::string rules = rule_list(v);
  p->action = std::string(filter::action_name(v.action));
  p->score = v.score;
  for (const filter::Contribution& c : v.contributions)
    if (!(c.kind == filter::ContributionKind::kClassifier && c.score == 0)) p->rules.push_back(c.id);
  char score[32];
  std::snprintf(score, sizeof score, "%.2f", v.score);
  switch (v.action) {
    case filter::Action::kReject:
      log::mail(job.queue_id, std::string("filter: reject, score=") + score + ", rules=" + rules);
      job.decided = DeliveryResult{DeliveryResult::Outcome::kRejected, "",
                                   "Message rejected as spam (" + header_safe(rules) + ")"};
      return;
    case filter::Action::kHold:
      // Outbound data-loss hit: the remote copies wait in the queue, held for the domain
      // admin (`tsubame queue release|delete`); the log names the rules, never the content.
      log::mail(job.queue_id, "filter: hold (data-loss), rules=" + rules);
      p->hold = true;
      p->hold_reason = v.reason;
      break;
    case filter::Action::kJunk:
    case filter::Action::kQuarantine: {
      log::mail(job.queue_id, std::string("filter: ") + std::string(filter::action_name(v.action)) +
                                  ", score=" + score + ", rules=" + rules);
      // Explain the verdict in the message itself (after the Return-Path line).
      std::string headers = "X-Tsubame-Verdict: " + std::string(filter::action_name(v.action)) +
                            "; score=" + score + "\r\nX-Tsubame-Rules: " + header_safe(rules) + "\r\n";
      size_t eol = job.data.find("\r\n");
      job.data.insert(eol == std::string::npos ? 0 : eol + 2, headers);
      p->mailbox = "Junk";
      // The headers moved every offset: parse the final bytes for the stored summary.
      auto again = filter::parse_message(job.data);
      if (again.is_ok()) p->summary = std::move(again->summary);
      return;
    }
    case filter::Action::kDeliver:
      break;
  }
  p->summary = std::move(parsed->summary);
}

// Architecture: "notify imapd (unix socket, best effort; imapd also polls MODSEQ)". One
// datagram "deliver USER_ID MAILBOX_ID" per mailbox that received mail, sent after the
// durable commit. Every error (no socket: imapd not running; a full queue) is ignored
// silently: imapd's 1 s poll finds the mail anyway.
void notify_imapd(const std::string& path, const std::vector<store::DeliveryResult>& stored) {
  sockaddr_un sa{};
  if (path.empty() || path.size() >= sizeof sa.sun_path) return;
  sa.sun_family = AF_UNIX;
  std::memcpy(sa.sun_path, path.data(), path.size());
  std::vector<std::pair<uint64_t, uint64_t>> sent;
  int fd = -1;
  for (const auto& r : stored) {
    for (const auto& c : r.copies) {
      std::pair<uint64_t, uint64_t> key{c.user_id, c.mailbox_id};
      if (std::find(sent.begin(), sent.end(), key) != sent.end()) continue;
      sent.push_back(key);
      if (fd < 0) fd = ::socket(AF_UNIX, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
      if (fd < 0) return;
      char msg[64];
      int n = std::snprintf(msg, sizeof msg, "deliver %llu %llu",
                            static_cast<unsigned long long>(c.user_id),
                            static_cast<unsigned long long>(c.mailbox_id));
      if (::sendto(fd, msg, static_cast<size_t>(n), MSG_NOSIGNAL,
                   reinterpret_cast<const sockaddr*>(&sa), sizeof sa) < 0)
        break;  // no listener (ENOENT, ECONNREFUSED) or its queue is full: the poll covers it
    }
  }
  if (fd >= 0) ::close(fd);
}

// One "message.delivered" event per copy of a durably committed message (metadata only:
// never a header or the body). `addresses[k]` is the address of messages[k].targets[j],
// i.e. of copy j. publish() only queues; a full queue drops the event with a log line.
void publish_delivered(webhook::Sender* hooks, const DeliveryJob& job,
                       const std::vector<std::string>& addresses,
                       const store::IncomingMessage& m, const store::DeliveryResult& stored) {
  if (!hooks || !hooks->enabled()) return;
  const auto* p = static_cast<const Prepared*>(job.prepared.get());
  int64_t now = unix_now_ms();
  for (size_t j = 0; j < stored.copies.size() && j < m.targets.size(); ++j) {
    nlohmann::json data = {{"queue_id", job.queue_id},
                           {"user", j < addresses.size() ? addresses[j] : std::string()},
                           {"mailbox", m.targets[j].mailbox},
                           {"uid", stored.copies[j].uid},
                           {"size", job.data.size()},
                           {"action", p ? p->action : std::string()},
                           {"score", p ? p->score : 0.0},
                           {"time_ms", now}};
    if (!hooks->publish(webhook::EventType::kMessageDelivered, std::move(data)))
      log::mail(job.queue_id, "webhook message.delivered dropped (queue full)");
  }
}

}  // namespace

Backend make_store_backend(store::Store& st, std::string hostname, store::LockoutSettings lockout,
                           const filter::Filter* filter, const filter::DomainPolicy* policy,
                           std::string imapd_notify_socket, webhook::Sender* webhooks) {
  Backend b;
  auto host = std::make_shared<std::string>(std::move(hostname));
  if (filter && policy) {
    b.prepare = [filter, policy](DeliveryJob& job) { prepare_with_filter(*filter, *policy, job); };
  }
  // Message trace: one record per message, metadata only (store/trace.h).
  b.record = [&st](const std::vector<DeliveryJob>& jobs, const std::vector<DeliveryResult>& results) {
    store::Trace trace(st);
    for (size_t i = 0; i < jobs.size() && i < results.size(); ++i) {
      const DeliveryJob& job = jobs[i];
      store::TraceRecord r;
      r.queue_id = job.queue_id;
      r.direction = store::TraceDirection::kIn;
      r.sender = job.envelope.mail_from;
      for (const Recipient& rc : job.envelope.recipients) r.recipients.push_back(rc.address);
      r.size = job.data.size();
      r.remote_host = "[" + job.envelope.client_ip + "]";
      const auto* p = static_cast<const Prepared*>(job.prepared.get());
      if (p) {
        r.action = p->action;
        r.score = p->score;
        r.rule_ids = p->rules;
      }
      switch (results[i].outcome) {
        case DeliveryResult::Outcome::kAccepted: {
          bool remote = std::any_of(job.envelope.recipients.begin(), job.envelope.recipients.end(),
                                    [](const Recipient& rc) { return !rc.local; });
          if (p && p->hold && remote) {
            r.status = store::TraceStatus::kHeld;
          } else if (remote) {
            r.status = store::TraceStatus::kQueued;
          } else {
            r.status = p && p->mailbox == "Junk" ? store::TraceStatus::kJunk : store::TraceStatus::kDelivered;
          }
          break;
        }
        case DeliveryResult::Outcome::kRejected:
          r.status = store::TraceStatus::kRejected;
          r.error = results[i].reason;
          break;
        case DeliveryResult::Outcome::kTempFail:
          r.status = store::TraceStatus::kDeferred;
          r.error = results[i].reason;
          break;
      }
      if (Status s = trace.add(r); !s.is_ok())
        log::sys().warn("smtpd: trace record for {} failed: {}", job.queue_id, s.to_string());
    }
  };
  auto ids = std::make_shared<store::QueueIdGenerator>(st);
  b.queue_id = [ids]() -> std::string {
    auto id = ids->next();
    return id.is_ok() ? id.value() : std::string();
  };

  b.check_recipient = [&st, host](const std::string& raw) -> RecipientStatus {
    std::string address = raw == "postmaster" ? "postmaster@" + *host : normalise_address(raw);
    size_t at = address.rfind('@');
    if (at == std::string::npos) return RecipientStatus::kUnknownLocal;
    auto domain = st.find_domain(address.substr(at + 1));
    if (!domain.is_ok()) {
      if (domain.status().code() == Code::kNotFound) return RecipientStatus::kRemote;
      log::sys().warn("smtpd: domain lookup failed: {}", domain.status().to_string());
      return RecipientStatus::kTempFail;
    }
    auto user = st.find_user(address);
    if (!user.is_ok()) {
      if (user.status().code() != Code::kNotFound) {
        log::sys().warn("smtpd: user lookup failed: {}", user.status().to_string());
        return RecipientStatus::kTempFail;
      }
      auto alias = store::find_alias(st, address);
      if (alias.is_ok()) return RecipientStatus::kLocal;
      if (alias.status().code() == Code::kNotFound) return RecipientStatus::kUnknownLocal;
      return RecipientStatus::kTempFail;
    }
    if (user->disabled || user->deleted_at != 0) return RecipientStatus::kDisabled;
    if (user->quota_bytes != 0 && user->used_bytes >= user->quota_bytes) return RecipientStatus::kFull;
    return RecipientStatus::kLocal;
  };

  // The user's own address, or an alias that delivers to them.
  b.sender_owned = [&st](const std::string& user, const std::string& address) {
    std::string u = normalise_address(user);
    std::string a = normalise_address(address);
    if (u == a) return true;
    auto alias = store::find_alias(st, a);
    if (!alias.is_ok()) return false;
    return std::any_of(alias->targets.begin(), alias->targets.end(),
                       [&](const std::string& t) { return normalise_address(t) == u; });
  };

  b.authenticate = [&st, lockout, webhooks](const Authenticate& req, const std::string& ip,
                         const std::string& helo) -> AuthStatus {
    store::Accounts accounts(st, lockout);
    store::LoginEvent ev;
    ev.login = req.user.substr(0, store::kMaxLoginField);
    ev.source_ip = ip;
    ev.client_id = helo.substr(0, store::kMaxLoginField);
    ev.protocol = store::LoginProtocol::kSmtp;
    auto user = st.find_user(normalise_address(req.user));
    if (!user.is_ok()) {
      if (user.status().code() != Code::kNotFound) return AuthStatus::kTempFail;
      (void)crypto::verify_password(req.password, dummy_hash());
      ev.result = store::LoginResult::kUnknownUser;
      (void)accounts.record_login(ev);
      return AuthStatus::kBad;
    }
    ev.user_id = user->id;
    auto locked = accounts.is_locked(user->id);
    if (!locked.is_ok()) return AuthStatus::kTempFail;
    if (*locked) {
      ev.result = store::LoginResult::kLocked;
      (void)accounts.record_login(ev);
      return AuthStatus::kLocked;
    }
    bool ok = crypto::verify_password(req.password, user->password_hash);
    if (ok && (user->disabled || user->deleted_at != 0)) {
      ev.result = store::LoginResult::kDisabled;
      (void)accounts.record_login(ev);
      return AuthStatus::kBad;
    }
    ev.result = ok ? store::LoginResult::kSuccess : store::LoginResult::kBadPassword;
    auto rec = accounts.record_login(ev);
    if (!rec.is_ok()) {
      log::sys().warn("smtpd: login record failed: {}", rec.status().to_string());
      return AuthStatus::kTempFail;
    }
    if (!ok && rec->newly_locked && webhooks && webhooks->enabled()) {
      // This failure reached the lockout threshold (store/accounts.h): tell the groupware.
      webhooks->publish(webhook::EventType::kAccountLocked,
                        {{"user", user->address},
                         {"locked_until_ms", rec->locked_until_ms},
                         {"failures", rec->failures},
                         {"protocol", "smtp"},
                         {"source_ip", ip}});
    }
    return ok ? AuthStatus::kOk : AuthStatus::kBad;
  };

  auto notify = std::make_shared<std::string>(std::move(imapd_notify_socket));
  b.deliver = [&st, host, notify, webhooks](const std::vector<DeliveryJob>& batch) {
    const DeliveryResult kLookupFailed{DeliveryResult::Outcome::kTempFail, "",
                                       "Error: recipient lookup failed"};
    const DeliveryResult kWriteFailed{DeliveryResult::Outcome::kTempFail, "",
                                      "Error: queue file write error"};
    std::vector<DeliveryResult> results(batch.size());
    std::vector<store::IncomingMessage> messages;
    std::vector<size_t> index;  // batch position of each message in `messages`
    std::vector<std::vector<std::string>> addresses;  // per message, per target (webhooks)
    store::OutboundQueue queue(st);
    for (size_t i = 0; i < batch.size(); ++i) {
      const DeliveryJob& job = batch[i];
      const auto* p = static_cast<const Prepared*>(job.prepared.get());
      store::IncomingMessage m;
      store::QueueEntry out;
      bool ok = true;
      std::vector<uint64_t> seen;  // a user reached twice (directly and by alias) gets one copy
      std::vector<std::string> local_addresses;
      auto add_local = [&](uint64_t user_id, const std::string& address) {
        if (std::find(seen.begin(), seen.end(), user_id) != seen.end()) return;
        seen.push_back(user_id);
        local_addresses.push_back(address);
        store::DeliveryTarget t;
        t.user_id = user_id;
        if (p) t.mailbox = p->mailbox;
        m.targets.push_back(std::move(t));
      };
      auto add_remote = [&](const std::string& address, const Recipient& r) {
        store::QueueRecipient q;
        q.address = address;
        q.notify = notify_text(r);
        q.orcpt = r.orcpt;
        out.recipients.push_back(std::move(q));
      };
      for (const Recipient& r : job.envelope.recipients) {
        if (!r.local) {
          add_remote(r.address, r);
          continue;
        }
        std::string address = r.address == "postmaster" ? "postmaster@" + *host : normalise_address(r.address);
        auto user = st.find_user(address);
        if (user.is_ok()) {
          add_local(user->id, user->address);
          continue;
        }
        // An alias: each target is a local user or a remote address (forwarding).
        auto alias = store::find_alias(st, address);
        if (!alias.is_ok()) {
          ok = false;
          break;
        }
        for (const std::string& target : alias->targets) {
          auto tu = st.find_user(normalise_address(target));
          if (tu.is_ok()) {
            add_local(tu->id, tu->address);
          } else if (!domain_is_local(st, target)) {
            add_remote(target, r);
          } else {
            log::mail(job.queue_id, "alias " + address + ": target " + target + " does not exist; skipped");
          }
        }
      }
      if (!ok) {
        results[i] = kLookupFailed;
        continue;
      }
      if (!out.recipients.empty()) {
        // Remote copies go to the durable outbound queue first (RFC 5321 §4.4: no
        // Return-Path on a message that is relayed on; the runner's peer adds its own).
        out.id = job.queue_id;
        out.sender = job.envelope.mail_from;
        out.envid = job.envelope.envid;
        out.ret = job.envelope.ret;
        size_t eol = job.data.find("\r\n");
        out.content = job.data.rfind("Return-Path:", 0) == 0 && eol != std::string::npos
                          ? job.data.substr(eol + 2)
                          : job.data;
        if (p && p->hold) {
          out.held = true;
          out.hold_reason = p->hold_reason;
          out.hold_rules = p->rules;
        }
        if (Status q = queue.enqueue(out); !q.is_ok()) {
          log::sys().error("smtpd: queue {} failed: {}", job.queue_id, q.to_string());
          results[i] = kWriteFailed;
          continue;
        }
        log::mail(job.queue_id, std::string(out.held ? "held" : "queued") + " for " +
                                    std::to_string(out.recipients.size()) + " remote recipient(s)");
      }
      if (m.targets.empty()) {
        results[i].outcome = DeliveryResult::Outcome::kAccepted;  // all remote: queued
        continue;
      }
      m.raw = job.data;
      if (p) m.summary = p->summary;
      messages.push_back(std::move(m));
      index.push_back(i);
      addresses.push_back(std::move(local_addresses));
    }
    auto apply = [&](size_t k, const Status& s) {
      if (s.is_ok()) {
        results[index[k]].outcome = DeliveryResult::Outcome::kAccepted;
      } else {
        results[index[k]] = kWriteFailed;
      }
    };
    if (!messages.empty()) {
      auto stored = st.deliver(messages);  // one durable commit for the whole group
      if (stored.is_ok()) {
        notify_imapd(*notify, *stored);
        for (size_t k = 0; k < messages.size() && k < stored->size(); ++k)
          publish_delivered(webhooks, batch[index[k]], addresses[k], messages[k], (*stored)[k]);
      }
      if (stored.is_ok() || messages.size() == 1) {
        for (size_t k = 0; k < index.size(); ++k) apply(k, stored.status());
        if (!stored.is_ok())
          log::sys().error("smtpd: store deliver failed: {}", stored.status().to_string());
      } else {
        // One bad message must not fail its neighbours: retry each alone.
        log::sys().warn("smtpd: group commit failed ({}); retrying one by one",
                        stored.status().to_string());
        for (size_t k = 0; k < messages.size(); ++k) {
          auto one = st.deliver({messages[k]});
          if (one.is_ok()) {
            notify_imapd(*notify, *one);
            if (!one->empty()) publish_delivered(webhooks, batch[index[k]], addresses[k], messages[k], (*one)[0]);
          }
          apply(k, one.status());
        }
      }
    }
    return results;
  };
  return b;
}

}  // namespace tsubame::smtp
