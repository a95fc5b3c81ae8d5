// smtpd/backend.h: what the SMTP glue needs from the rest of the house, as plain hooks.
//
// The server (smtpd/server.h) calls these hooks and feeds their answers back into the
// session. It decides the thread: check_recipient and sender_owned run on the event-loop
// thread (store reads are short snapshots); authenticate runs on a worker thread (a KDF);
// deliver runs on the single writer thread with every message that is ready, so the
// commits of concurrent sessions are grouped into one durable transaction.
// prepare (optional) runs on a worker thread per message before it joins a batch.
// store_backend.h builds a Backend on store::Store; tests may build one from lambdas.
// Hooks must not throw; errors are answers (kTempFail).
#pragma once

#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "smtpd/session.h"

namespace tsubame::smtp {

// One message ready for the store: the envelope and the final bytes (Return-Path and
// Received already prepended).
struct DeliveryJob {
  Envelope envelope;
  std::string queue_id;
  std::string data;
  // Filled by Backend::prepare (worker thread) for Backend::deliver; opaque to the glue.
  std::shared_ptr<void> prepared;
  // Set by prepare when the answer is known without storing (a reject verdict): the job
  // then skips deliver.
  std::optional<DeliveryResult> decided;
};

struct Backend {
  // Loop thread. A lookup of one forward-path ("postmaster" may come without a domain).
  std::function<RecipientStatus(const std::string& address)> check_recipient;
  // Loop thread. Is `address` one of the addresses of authenticated `user`?
  std::function<bool(const std::string& user, const std::string& address)> sender_owned;
  // Worker thread. Verify the password, record the login (lockout), answer; refuse by the
  // login's domain policy (kEncryptionRequired, kMechanismTooWeak). With
  // request.policy_only (AUTH LOGIN in clear, no password yet) only the domain policy is
  // checked: kOk means "ask for the password".
  std::function<AuthStatus(const Authenticate& request, const std::string& client_ip,
                           const std::string& helo)>
      authenticate;
  // Worker thread, optional. Per-message CPU work before the commit (MIME parse, filter
  // scan); may set job.decided. Must not throw; a fault lets the mail through.
  std::function<void(DeliveryJob& job)> prepare;
  // Loop thread, optional. A queue id for a new message (the glue makes one if absent).
  std::function<std::string()> queue_id;
  // Writer or worker thread, optional. Called after the answers were handed to the loop
  // (so it never delays a reply): the message trace records of these jobs.
  std::function<void(const std::vector<DeliveryJob>& jobs, const std::vector<DeliveryResult>& results)>
      record;
  // Writer thread. Store the whole batch durably (one commit) and answer one result per
  // job, in order. Called with 1..N jobs.
  std::function<std::vector<DeliveryResult>(const std::vector<DeliveryJob>& batch)> deliver;
};

}  // namespace tsubame::smtp
