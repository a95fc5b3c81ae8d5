// smtpd/store_backend.h: the Backend hooks on the real store (store::Store, store::Accounts).
//
// - check_recipient: the domain is ours (store domains) or not (kRemote); a user or an
//   alias (store/aliases.h) is kLocal; otherwise kUnknownLocal; disabled or deleted is
//   kDisabled, over quota kFull; a store error kTempFail. "postmaster" without a domain
//   means postmaster@<hostname>.
// - sender_owned: the user's login address, or an alias whose targets include the user
//   (domain parts compared case-insensitively).
// - authenticate: first the policy of the login's domain (store/settings.h
//   auth_policy_for_login, read fresh per AUTH): credentials sent in clear for a domain with
//   tls_required get kEncryptionRequired (538 5.7.11), a mechanism outside its
//   auth_mechanisms kMechanismTooWeak (534 5.7.9); both depend on the domain part only (the
//   defaults for a domain that is not ours), are recorded in the login history (a known
//   user as "disabled", an unknown one as "unknown-user") and do not count toward the
//   lockout. A policy_only request (AUTH LOGIN in clear, before the password) stops here:
//   kOk when the domain accepts it. Then: a locked account is refused without checking the
//   password; the Argon2id verification runs for unknown users too (against a fixed dummy
//   hash) so that timing does not reveal which logins exist; every attempt is recorded in
//   the login history,
//   failures count toward the lockout (store/accounts.h) with the domain's lockout_*
//   thresholds, `lockout` (security.lockout_*) where the domain set none.
// - prepare (when a filter is given; worker thread): one MIME parse gives the
//   MessageSummary stored beside the message and the filter's analysis (once);
//   filter::decide() then runs per recipient domain with `policy` ([filter] thresholds)
//   refined by the domain's filter settings (filter::apply_domain_settings: junk_threshold,
//   reject_threshold, classifier_needs_rule, blocked_extensions; read per message; a
//   malformed or unreadable setting logs and keeps `policy`), and once with `policy` itself
//   for remote recipients. Each domain's
//   verdict picks INBOX (deliver) or Junk (junk, quarantine; with X-Tsubame-Verdict /
//   X-Tsubame-Rules headers explaining it; the Junk copy's summary is the first parse with
//   shifted offsets). Only when every verdict is reject is the message refused
//   ("550 5.7.1 <rules>"); otherwise a rejecting domain's copies go to Junk and remote
//   copies the global policy rejects are held. An outbound data-loss hit (hold) holds the
//   remote copies in the outbound queue for the domain admin.
//   A filter fault lets the mail through to INBOX and is logged.
//   Before the parse, when `spf` is given and applies (smtpd/sender_auth.h: received without
//   AUTH, from a client outside smtpd.spf_skip_networks), SPF is checked: a Received-SPF
//   field is prepended after the Return-Path line, the mail log names the result and the
//   domain, and the filter reads the result (filter::SmtpEnvelope::spf).
// - deliver: remote recipients (and remote alias targets) go to the durable outbound
//   queue (store/queue.h, without the Return-Path line), then the local copies of the whole
//   batch go into one store::deliver() call (one durable commit). A message with both is
//   two commits: if the second fails the client gets 451 and may send again (a duplicate,
//   never a loss).
// - notify: after each durable local delivery, one datagram "deliver USER_ID MAILBOX_ID" per
//   mailbox that received mail goes to imapd's unix datagram socket (`imapd_notify_socket`,
//   general.run_dir/imapd.notify; empty: off). Best effort: a missing socket or any send
//   error is ignored silently (imapd also polls every second).
// - webhooks (optional, common/webhook.h): after each durable local commit, one
//   "message.delivered" event per delivered copy (queue id, recipient address, mailbox, uid,
//   size, verdict action and score, time: metadata only, never a header or the body); when
//   an SMTP AUTH failure locks an account, one "account.locked" event. publish() only
//   queues (never blocks, never fails the delivery); a full queue drops the event (logged).
// - record: one message-trace record per message (store/trace.h), after the reply.
// - queue_id: store::QueueIdGenerator (the ids the message trace and the queue use).
// Thread-safety: as store::Store (any thread).
#pragma once

#include <string>

#include "common/crypto.h"
#include "smtpd/backend.h"
#include "smtpd/sender_auth.h"
#include "store/accounts.h"

namespace tsubame::store {
class Store;
}
namespace tsubame::webhook {
class Sender;
}
namespace tsubame::filter {
class Filter;
struct DomainPolicy;
}

namespace tsubame::smtp {

// `filter` (may be null: no scan, empty summaries), `policy` (the [filter] policy: the
// base every recipient domain's settings refine) and `webhooks` (may be null: no events)
// must outlive the Backend. `lockout` is the site-wide security.lockout_* (the fallback of
// each domain's lockout_* settings). `kdf` is the site's security.kdf_* (the decoy hash an
// unknown login is checked against is made with it, so that its check costs what a real
// one does). `spf` (may be null: no SPF check) must outlive the Backend too.
Backend make_store_backend(store::Store& store, std::string hostname,
                           store::LockoutSettings lockout = {},
                           const filter::Filter* filter = nullptr,
                           const filter::DomainPolicy* policy = nullptr,
                           std::string imapd_notify_socket = {},
                           webhook::Sender* webhooks = nullptr,
                           crypto::PasswordParams kdf = {},
                           const SpfSettings* spf = nullptr);

}  // namespace tsubame::smtp
