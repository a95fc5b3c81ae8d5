// smtpd/store_backend.cc: Backend on store::Store (see store_backend.h for the rules).
// Failure: store errors become kTempFail answers and a log line; nothing throws.
#include "smtpd/store_backend.h"

#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <algorithm>
#include <optional>
#include <map>
#include <cstdio>
#include <cstring>
#include <memory>
#include <utility>

#include "common/bytes.h"
#include "common/crypto.h"
#include "common/log.h"
#include "common/webhook.h"
#include "filter/domain_settings.h"
#include "filter/filter.h"
#include "filter/mime.h"
#include "filter/policy.h"
#include "smtpd/metrics.h"
#include "store/accounts.h"
#include "store/env.h"
#include "store/aliases.h"
#include "store/queue.h"
#include "store/replies.h"
#include "store/settings.h"
#include "store/store.h"
#include "store/trace.h"

namespace tsubame::smtp {
namespace {

std::string normalise_address(std::string_view address) {
  size_t at = address.rfind('@');
  if (at == std::string_view::npos) return std::string(address);
  return std::string(address.substr(0, at + 1)) + to_lower(address.substr(at + 1));
}

// The decoy an unknown login's password is checked against (random password, site KDF).
std::shared_ptr<const std::string> make_dummy_hash(const crypto::PasswordParams& kdf) {
  auto r = crypto::decoy_password_hash(kdf);
  return std::make_shared<const std::string>(r.is_ok() ? r.value() : std::string());
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

// One stored form of the message for the local copies of one or more recipient domains:
// the mailbox and the header lines that explain a junk verdict (empty: as received).
struct Variant {
  std::string mailbox = "INBOX";
  std::string headers;
  std::string action = "deliver";
};

// What prepare() learnt about one message, for deliver() and record().
struct Prepared {
  MessageSummary summary;           // of the message as received (job.data)
  // The transaction's verdict for the trace, metrics and log: the most severe one among
  // the recipient domains (and the global policy, for remote recipients).
  std::string mailbox = "INBOX";    // "Junk" when any local copy goes to Junk
  std::string action = "deliver";   // the verdict's action name ("" when not scanned)
  double score = 0;
  std::vector<std::string> rules;
  bool hold = false;                // data-loss hit: remote copies are held in the queue
  std::string hold_reason;
  std::string remote_headers;       // prepended (after Return-Path) to queued remote copies
  // The Message-ID of a message an authenticated user submitted, recorded once it is accepted
  // (store/replies.h) so that replies to it are known; "" otherwise.
  std::string sent_message_id;
  // Its remote recipients, recorded with it as correspondents (store/replies.h).
  std::vector<std::string> correspondents;
  // Local copies: [0] is the message as received in INBOX; a recipient domain (lower case)
  // maps to the variant its policy chose; a domain not in the map gets variants[0].
  std::vector<Variant> variants = {Variant{}};
  std::map<std::string, size_t> by_domain;
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

std::string score_text(double score) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%.2f", score);
  return buf;
}

// How severe an action is, for the one verdict a transaction is traced with.
int severity(filter::Action a) {
  switch (a) {
    case filter::Action::kDeliver: return 0;
    case filter::Action::kHold: return 1;
    case filter::Action::kJunk: return 2;
    case filter::Action::kQuarantine: return 3;
    case filter::Action::kReject: return 4;
  }
  return 0;
}

// Where the verdict-explaining headers go: after the Return-Path line the glue prepended.
size_t header_insert_point(std::string_view data) {
  size_t eol = data.find("\r\n");
  return eol == std::string_view::npos ? 0 : eol + 2;
}

// The summary of the same message with `delta` octets inserted at `at` (inside the top
// header, before every body): every offset at or after it moves, no part's size changes.
// This is what lets the Junk copy keep the first parse (architecture: parse once).
void shift_part(BodyPart& part, uint64_t at, uint64_t delta) {
  if (part.header_offset > at) part.header_offset += delta;  // the root's 0 stays
  if (part.body_offset >= at) part.body_offset += delta;
  if (part.body_end >= at) part.body_end += delta;
  for (BodyPart& c : part.children) shift_part(c, at, delta);
}

// The domain's spam policy: the [filter] configuration (`base`) refined by the filter keys
// the domain set with `tsubame security set` (filter/domain_settings.h, the one place that
// maps settings to policy; `tsubame filter scan --domain` uses it too). Read per message
// (one LMDB read; no cache), so a change applies to the next message. An unreadable or
// malformed setting logs (domain id and the setting's name, never message content) and
// keeps the base policy: a settings fault never blocks mail.
filter::DomainPolicy domain_policy(store::Store& st, const filter::DomainPolicy& base, uint32_t domain_id) {
  filter::DomainPolicy p = base;
  if (Status s = filter::apply_domain_settings(st, domain_id, p); !s.is_ok()) {
    log::sys().warn("smtpd: domain {} filter settings unusable: {}; using [filter] defaults", domain_id,
                    s.to_string());
    return base;
  }
  return p;
}

std::string domain_of(std::string_view address) {
  size_t at = address.rfind('@');
  return at == std::string_view::npos ? std::string() : to_lower(address.substr(at + 1));
}

// One analysis (parse, rules, classifier) per message; filter::decide() per recipient
// domain (its thresholds and blocked extensions) and once with the [filter] policy for
// remote recipients. SMTP has one reply per message (RFC 5321 §4.2.5 is per DATA), so:
//   every verdict reject ............ 550, nothing stored
//   some reject, some not ........... the rejecting domains' copies go to Junk (their
//                                     verdict named in X-Tsubame-Verdict), remote copies
//                                     rejected by the global policy are held in the queue
//   otherwise ....................... each domain's copies to INBOX or Junk by its verdict
filter::SpfResult filter_spf(spf::Result r) {
  switch (r) {
    case spf::Result::kNone: return filter::SpfResult::kNone;
    case spf::Result::kNeutral: return filter::SpfResult::kNeutral;
    case spf::Result::kPass: return filter::SpfResult::kPass;
    case spf::Result::kFail: return filter::SpfResult::kFail;
    case spf::Result::kSoftFail: return filter::SpfResult::kSoftFail;
    case spf::Result::kTempError: return filter::SpfResult::kTempError;
    case spf::Result::kPermError: return filter::SpfResult::kPermError;
  }
  return filter::SpfResult::kNotChecked;
}

// The SMTP transaction's SPF check (sender_auth.h), before the message is parsed: the
// Received-SPF field goes in after the Return-Path line, so the one parse sees it.
void check_sender(const SpfSettings& spf, const std::string& host, DeliveryJob& job, filter::SpfResult& result,
                  bool& helo) {
  if (!spf_applies(spf, job.envelope)) return;
  spf::Outcome o = check_spf(spf, job.envelope, host);
  job.data.insert(header_insert_point(job.data), received_spf_header(o, job.envelope, host));
  // Metadata only: the result, the domain checked and the deciding term or problem.
  std::string line = "spf=" + std::string(spf::result_name(o.result)) + " domain=" + header_safe(o.domain) +
                     " identity=" + o.identity;
  if (!o.mechanism.empty()) line += " mechanism=" + header_safe(o.mechanism);
  if (!o.problem.empty()) line += " problem=\"" + header_safe(o.problem) + "\"";
  log::mail(job.queue_id, line);
  result = filter_spf(o.result);
  helo = o.identity == "helo";
}

void prepare_with_filter(store::Store& st, const std::string& host, const filter::Filter& f,
                         const filter::DomainPolicy& base, DeliveryJob& job,
                         filter::SpfResult spf = filter::SpfResult::kNotChecked, bool spf_helo = false) {
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
  fe.spf = spf;
  fe.spf_helo = spf_helo;
  fe.authenticated = !job.envelope.auth_user.empty();
  fe.auth_user = job.envelope.auth_user;
  if (fe.authenticated) {
    if (const filter::HeaderField* mid = parsed->header("Message-ID")) p->sent_message_id = mid->value;
    for (const Recipient& r : job.envelope.recipients)
      if (!r.local) p->correspondents.push_back(r.address);
  }

  // The recipient domains (local recipients; "postmaster" is postmaster@<hostname>).
  std::vector<std::pair<std::string, uint32_t>> domains;  // name, id (0: not ours)
  bool remote = false;
  for (const Recipient& r : job.envelope.recipients) {
    if (!r.local) {
      remote = true;
      continue;
    }
    std::string d = domain_of(r.address == "postmaster" ? "postmaster@" + host : r.address);
    if (std::any_of(domains.begin(), domains.end(), [&](const auto& x) { return x.first == d; })) continue;
    auto dom = st.find_domain(d);
    domains.emplace_back(d, dom.is_ok() ? dom->id : 0);
  }

  struct Decision {
    std::string domain;  // "" = the global policy (remote recipients)
    filter::Verdict verdict;
  };
  std::vector<Decision> decisions;
  bool fault = false;
  std::string fault_note;
  try {
    filter::Analysis analysis = f.analyse_parsed(*parsed, fe);
    fault = analysis.verdict.fault;
    fault_note = analysis.verdict.fault_note;
    auto decide = [&](const filter::DomainPolicy& dp) {
      filter::Policy pol;
      pol.domain = dp;
      return filter::decide(analysis, pol);
    };
    for (const auto& [name, id] : domains)
      decisions.push_back({name, id ? decide(domain_policy(st, base, id)) : decide(base)});
    if (remote || domains.empty()) decisions.push_back({"", decide(base)});
  } catch (const std::exception& e) {
    fault = true;
    fault_note = e.what();
  }
  for (const Decision& d : decisions) fault |= d.verdict.fault;
  Metrics::get().observe_scan(double(monotonic_ns() - scan_start) / 1e9);
  if (fault || decisions.empty()) {
    if (fault_note.empty())
      for (const Decision& d : decisions) if (fault_note.empty()) fault_note = d.verdict.fault_note;
    Metrics::get().count_verdict("unscanned");
    log::mail(job.queue_id, "filter fault: " + fault_note + "; delivered unscanned");
    p->summary = std::move(parsed->summary);
    return;
  }

  // The transaction's verdict: the most severe one.
  const Decision* worst = &decisions[0];
  bool all_reject = true;
  for (const Decision& d : decisions) {
    if (severity(d.verdict.action) > severity(worst->verdict.action)) worst = &d;
    all_reject &= d.verdict.action == filter::Action::kReject;
  }
  const filter::Verdict& wv = worst->verdict;
  Metrics::get().count_verdict(filter::action_name(wv.action));
  p->action = std::string(filter::action_name(wv.action));
  p->score = wv.score;
  for (const filter::Contribution& c : wv.contributions)
    if (!(c.kind == filter::ContributionKind::kClassifier && c.score == 0)) p->rules.push_back(c.id);
  const std::string score = score_text(wv.score);
  if (all_reject) {
    std::string rules = rule_list(wv);
    log::mail(job.queue_id, "filter: reject, score=" + score + ", rules=" + rules);
    job.decided = DeliveryResult{DeliveryResult::Outcome::kRejected, "",
                                 "Message rejected as spam (" + header_safe(rules) + ")"};
    return;
  }

  for (const Decision& d : decisions) {
    const filter::Verdict& v = d.verdict;
    std::string rules = rule_list(v);
    std::string who = d.domain.empty() ? std::string("remote recipients") : d.domain;
    std::string headers;
    switch (v.action) {
      case filter::Action::kHold:
        // Outbound data-loss hit: the remote copies wait in the queue, held for the domain
        // admin (`tsubame queue release|delete`); the log names the rules, never the content.
        log::mail(job.queue_id, "filter: hold (data-loss) for " + who + ", rules=" + rules);
        if (d.domain.empty()) {
          p->hold = true;
          p->hold_reason = v.reason;
        }
        break;
      case filter::Action::kReject:
        if (d.domain.empty()) {
          // Other recipients accept the message: the remote copies are not sent on but held
          // for the admin, like a data-loss hit.
          log::mail(job.queue_id, "filter: reject for remote recipients, score=" + score_text(v.score) +
                                      ", rules=" + rules + "; held (other recipients accept)");
          p->hold = true;
          p->hold_reason = v.reason;
          break;
        }
        log::mail(job.queue_id, "filter: reject for " + who + ", score=" + score_text(v.score) +
                                    ", rules=" + rules + "; to Junk (other recipients accept)");
        [[fallthrough]];
      case filter::Action::kJunk:
      case filter::Action::kQuarantine:
        if (v.action != filter::Action::kReject)
          log::mail(job.queue_id, "filter: " + std::string(filter::action_name(v.action)) + " for " + who +
                                      ", score=" + score_text(v.score) + ", rules=" + rules);
        // Explain the verdict in the message itself (after the Return-Path line).
        headers = "X-Tsubame-Verdict: " + std::string(filter::action_name(v.action)) +
                  "; score=" + score_text(v.score) + "\r\nX-Tsubame-Rules: " + header_safe(rules) + "\r\n";
        break;
      case filter::Action::kDeliver:
        break;
    }
    if (d.domain.empty()) {
      if (v.action != filter::Action::kReject) p->remote_headers = headers;
      continue;
    }
    if (headers.empty()) {
      p->by_domain[d.domain] = 0;
      continue;
    }
    size_t k = 1;
    while (k < p->variants.size() && p->variants[k].headers != headers) ++k;
    if (k == p->variants.size())
      p->variants.push_back(Variant{"Junk", headers, std::string(filter::action_name(v.action))});
    p->by_domain[d.domain] = k;
    p->mailbox = "Junk";
  }
  p->summary = std::move(parsed->summary);
}

// The stored bytes and summary of variant `v` of a prepared message.
std::pair<std::string, MessageSummary> variant_content(const DeliveryJob& job, const Prepared& p, const Variant& v) {
  if (v.headers.empty()) return {job.data, p.summary};
  size_t at = header_insert_point(job.data);
  std::string raw = job.data;
  raw.insert(at, v.headers);
  MessageSummary s = p.summary;
  shift_part(s.body, at, v.headers.size());
  s.size += v.headers.size();
  return {std::move(raw), std::move(s)};
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
                       const std::vector<std::string>& addresses, const std::string& action,
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
                           {"action", action},
                           {"score", p ? p->score : 0.0},
                           {"time_ms", now}};
    if (!hooks->publish(webhook::EventType::kMessageDelivered, std::move(data)))
      log::mail(job.queue_id, "webhook message.delivered dropped (queue full)");
  }
}

}  // namespace

Backend make_store_backend(store::Store& st, std::string hostname, store::LockoutSettings lockout,
                           const filter::Filter* filter, const filter::DomainPolicy* policy,
                           std::string imapd_notify_socket, webhook::Sender* webhooks,
                           crypto::PasswordParams kdf, const SpfSettings* spf) {
  Backend b;
  auto dummy_hash = make_dummy_hash(kdf);
  auto host = std::make_shared<std::string>(std::move(hostname));
  if (filter && policy) {
    b.prepare = [&st, host, filter, policy, spf](DeliveryJob& job) {
      filter::SpfResult result = filter::SpfResult::kNotChecked;
      bool helo = false;
      if (spf) check_sender(*spf, *host, job, result, helo);
      prepare_with_filter(st, *host, *filter, *policy, job, result, helo);
    };
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
      // The reply and correspondent memories: an accepted submission's Message-ID and remote
      // recipients (never their text in the log), recorded before the trace so that a
      // message's trace means they are known.
      if (p && (!p->sent_message_id.empty() || !p->correspondents.empty()) &&
          results[i].outcome == DeliveryResult::Outcome::kAccepted)
        if (Status s = store::remember_submission(st, p->sent_message_id, p->correspondents, unix_now_ms());
            !s.is_ok())
          log::mail(job.queue_id, "sent memory: Message-ID and recipients not recorded: " + s.to_string());
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

  b.authenticate = [&st, lockout, webhooks, dummy_hash](const Authenticate& req, const std::string& ip,
                         const std::string& helo) -> AuthStatus {
    store::LoginEvent ev;
    ev.login = req.user.substr(0, store::kMaxLoginField);
    ev.source_ip = ip;
    ev.client_id = helo.substr(0, store::kMaxLoginField);
    ev.protocol = store::LoginProtocol::kSmtp;
    // The domain's policy (store/settings.h), read fresh: `tsubame security set` applies
    // to the next AUTH. It depends on the login's domain part only (defaults for a domain
    // that is not ours), so its answers never tell whether the user exists.
    auto auth = store::auth_policy_for_login(st, normalise_address(req.user), lockout);
    if (!auth.is_ok()) {
      log::sys().warn("smtpd: domain settings unreadable: {}", auth.status().to_string());
      return AuthStatus::kTempFail;
    }
    store::Accounts accounts(st, auth->lockout);
    auto user = st.find_user(normalise_address(req.user));
    if (!user.is_ok() && user.status().code() != Code::kNotFound) return AuthStatus::kTempFail;
    std::optional<AuthStatus> refused;
    if (!req.tls && auth->tls_required) refused = AuthStatus::kEncryptionRequired;
    else if (!auth->allows(req.mechanism)) refused = AuthStatus::kMechanismTooWeak;
    if (!refused && req.policy_only) return AuthStatus::kOk;  // AUTH LOGIN may go on
    if (refused) {
      // Refused before the password is looked at: recorded in the login history
      // ("refused-by-policy" for a known user), never counted toward the lockout (nothing
      // was guessed).
      if (user.is_ok()) ev.user_id = user->id;
      ev.result = user.is_ok() ? store::LoginResult::kPolicy : store::LoginResult::kUnknownUser;
      if (auto rec = accounts.record_login(ev); !rec.is_ok())
        log::sys().warn("smtpd: login record failed: {}", rec.status().to_string());
      return *refused;
    }
    if (!user.is_ok()) {
      (void)crypto::verify_password(req.password, *dummy_hash);
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
    // Local copies of the whole batch; a job has one message per stored variant (INBOX as
    // received, Junk with the explaining headers) that has targets.
    std::vector<store::IncomingMessage> messages;
    std::vector<size_t> index;  // batch position of each message in `messages`
    std::vector<std::vector<std::string>> addresses;  // per message, per target (webhooks)
    std::vector<std::string> actions;                 // per message: its verdict (webhooks)
    store::OutboundQueue queue(st);
    // Remote copies of jobs that also have local copies: enqueued inside the delivery's
    // transaction, so the job's local and remote copies commit together.
    std::vector<std::pair<size_t, store::QueueEntry>> remote;
    auto log_queued = [](const store::QueueEntry& e) {
      log::mail(e.id, std::string(e.held ? "held" : "queued") + " for " + std::to_string(e.recipients.size()) +
                          " remote recipient(s)");
    };
    // Enqueues the remote copies of every job, or of job `only`, inside `txn`.
    auto enqueue_remote = [&](store::Txn& txn, std::optional<size_t> only) -> Status {
      for (auto& [job, e] : remote)
        if (!only || job == *only) TSUBAME_TRY(queue.enqueue(txn, e));
      return Status::ok();
    };
    auto log_remote = [&](std::optional<size_t> only) {
      for (const auto& [job, e] : remote)
        if (!only || job == *only) log_queued(e);
    };
    for (size_t i = 0; i < batch.size(); ++i) {
      const DeliveryJob& job = batch[i];
      const auto* p = static_cast<const Prepared*>(job.prepared.get());
      const size_t nvariants = p ? p->variants.size() : 1;
      std::vector<store::IncomingMessage> ms(nvariants);
      std::vector<std::vector<std::string>> local_addresses(nvariants);
      store::QueueEntry out;
      bool ok = true;
      std::vector<uint64_t> seen;  // a user reached twice (directly and by alias) gets one copy
      // The copy's variant is the one the policy of the RCPT address's domain chose (an
      // alias's targets follow the alias's domain: the address the sender used).
      auto add_local = [&](uint64_t user_id, const std::string& address, const std::string& rcpt) {
        if (std::find(seen.begin(), seen.end(), user_id) != seen.end()) return;
        seen.push_back(user_id);
        size_t v = 0;
        if (p) {
          auto it = p->by_domain.find(domain_of(rcpt));
          if (it != p->by_domain.end()) v = it->second;
        }
        local_addresses[v].push_back(address);
        store::DeliveryTarget t;
        t.user_id = user_id;
        if (p) t.mailbox = p->variants[v].mailbox;
        ms[v].targets.push_back(std::move(t));
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
          add_local(user->id, user->address, address);
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
            add_local(tu->id, tu->address, address);
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
        if (p && !p->remote_headers.empty()) out.content.insert(0, p->remote_headers);
        if (p && p->hold) {
          out.held = true;
          out.hold_reason = p->hold_reason;
          out.hold_rules = p->rules;
        }
        bool has_local = std::any_of(ms.begin(), ms.end(), [](const auto& m) { return !m.targets.empty(); });
        if (has_local) {
          // Enqueued in the same transaction as the local copies (store deliver's `also`):
          // a failed local write leaves no remote copy behind to be sent twice when the
          // client retries after our 451.
          remote.push_back({i, std::move(out)});
        } else {
          if (Status q = queue.enqueue(out); !q.is_ok()) {
            log::sys().error("smtpd: queue {} failed: {}", job.queue_id, q.to_string());
            results[i] = kWriteFailed;
            continue;
          }
          log_queued(out);
        }
      }
      bool any_local = false;
      for (size_t v = 0; v < nvariants; ++v) {
        if (ms[v].targets.empty()) continue;
        any_local = true;
        if (p) {
          auto content = variant_content(job, *p, p->variants[v]);
          ms[v].raw = std::move(content.first);
          ms[v].summary = std::move(content.second);
        } else {
          ms[v].raw = job.data;
        }
        messages.push_back(std::move(ms[v]));
        index.push_back(i);
        addresses.push_back(std::move(local_addresses[v]));
        actions.push_back(p ? p->variants[v].action : std::string());
      }
      if (!any_local) results[i].outcome = DeliveryResult::Outcome::kAccepted;  // all remote: queued
    }
    // A job's answer: accepted only if every one of its messages was stored.
    std::vector<bool> failed(batch.size(), false);
    if (!messages.empty()) {
      // One durable commit for the whole group, remote copies included.
      auto stored = st.deliver(messages, [&](store::Txn& txn) { return enqueue_remote(txn, std::nullopt); });
      if (stored.is_ok()) {
        log_remote(std::nullopt);
        notify_imapd(*notify, *stored);
        for (size_t k = 0; k < messages.size() && k < stored->size(); ++k)
          publish_delivered(webhooks, batch[index[k]], addresses[k], actions[k], messages[k], (*stored)[k]);
      }
      bool single_job = std::all_of(index.begin(), index.end(), [&](size_t i) { return i == index[0]; });
      if (stored.is_ok() || single_job) {
        for (size_t k = 0; k < index.size(); ++k) failed[index[k]] = !stored.is_ok();
        if (!stored.is_ok())
          log::sys().error("smtpd: store deliver failed: {}", stored.status().to_string());
      } else {
        // One bad message must not fail its neighbours: retry each job alone (its variants
        // together, one commit).
        log::sys().warn("smtpd: group commit failed ({}); retrying one by one",
                        stored.status().to_string());
        for (size_t k0 = 0; k0 < messages.size();) {
          size_t k1 = k0;
          while (k1 < messages.size() && index[k1] == index[k0]) ++k1;
          std::vector<store::IncomingMessage> group(messages.begin() + long(k0), messages.begin() + long(k1));
          const size_t job = index[k0];
          auto one = st.deliver(group, [&](store::Txn& txn) { return enqueue_remote(txn, job); });
          if (one.is_ok()) {
            log_remote(job);
            notify_imapd(*notify, *one);
            for (size_t k = k0; k < k1 && k - k0 < one->size(); ++k)
              publish_delivered(webhooks, batch[index[k]], addresses[k], actions[k], messages[k], (*one)[k - k0]);
          }
          failed[index[k0]] = !one.is_ok();
          k0 = k1;
        }
      }
      for (size_t k = 0; k < index.size(); ++k) {
        if (failed[index[k]]) results[index[k]] = kWriteFailed;
        else results[index[k]].outcome = DeliveryResult::Outcome::kAccepted;
      }
    }
    return results;
  };
  return b;
}

}  // namespace tsubame::smtp
