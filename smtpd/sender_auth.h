// smtpd/sender_auth.h: when smtpd checks SPF for a received message, against which DNS, and
// how the result is written into the message (the evaluator itself is smtpd/spf/spf.h).
//
//   DATA accepted ──▶ prepare (worker thread) ──▶ spf_applies()? ──no──▶ filter (kNotChecked)
//                                                     │ yes
//                                                     ▼
//                          check_spf(): spf::check() on a ResolverDns (smtpd.dns_server),
//                          bounded by smtpd.spf_timeout
//                                                     │
//                                                     ▼
//                  "Received-SPF:" prepended (received_spf_header()), the mail log names
//                  the result and domain, the filter gets the result (SmtpEnvelope::spf)
//
// Checked: every message received without AUTH, from a client outside
// smtpd.spf_skip_networks (loopback by default: a local relay or content filter), when
// smtpd.spf = yes. An authenticated submission is never checked: the user proved who they
// are, and our own domains' records need not list the submission clients.
//
// Why after DATA and not at MAIL FROM: the result only informs the filter (no reject on
// fail; RFC 7208 §8.4 leaves that to local policy, and forwarding breaks SPF for honest
// mail), and the prepare step already runs on a worker thread where a blocking lookup does
// not stall the event loop. The cost: a worker waits for DNS (at most smtpd.spf_timeout).
//
// Thread-safety: spf_applies() and received_spf_header() are pure; check_spf() makes its own
// resolver per call (any thread, blocking).
#pragma once

#include <chrono>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "common/result.h"
#include "smtpd/session.h"
#include "smtpd/spf/spf.h"

namespace tsubame {
class Config;
}

namespace tsubame::smtp {

struct SpfNetwork {
  spf::Ip network;
  unsigned prefix_bits = 0;
};

struct SpfSettings {
  bool enabled = true;                      // smtpd.spf
  std::vector<SpfNetwork> skip;             // smtpd.spf_skip_networks
  std::chrono::milliseconds timeout{20000};  // smtpd.spf_timeout
  std::string dns_server;                   // smtpd.dns_server ("" = /etc/resolv.conf)
};

// "127.0.0.0/8", "::1", "2001:db8::/32" (an address alone is a /32 or /128); entries
// separated by commas or white space. An entry that does not parse is an InvalidArgument
// naming it.
Result<std::vector<SpfNetwork>> parse_spf_networks(const std::vector<std::string>& entries);
// The [smtpd] SPF keys; an unusable smtpd.spf_skip_networks entry or smtpd.dns_server is an
// InvalidArgument naming the key.
Result<SpfSettings> spf_settings(const Config& cfg);

// Whether this transaction's mail is checked: enabled, not authenticated, and the client's
// address (IPv4-mapped IPv6 as IPv4) in none of the skip networks. A client address that
// does not parse is not checked.
bool spf_applies(const SpfSettings& settings, const Envelope& envelope);

// Runs the check for the envelope (MAIL FROM, or HELO for the null path) against the
// configured DNS server, bounded by settings.timeout. Blocking: call from a worker thread.
spf::Outcome check_spf(const SpfSettings& settings, const Envelope& envelope, const std::string& receiver);

// The RFC 7208 §9.1 trace field for an outcome, "Received-SPF: ...\r\n", folded between its
// parts (values quoted and cut at 256 octets, control and non-ASCII octets dropped, the
// comment without parentheses), e.g.
//   Received-SPF: pass (mx.ours.example: domain of a@b.example designates 192.0.2.1 as
//     permitted sender) client-ip="192.0.2.1"; envelope-from="a@b.example";
//     helo="mail.b.example"; receiver="mx.ours.example"; identity=mailfrom;
//     mechanism="ip4:192.0.2.0/24"
std::string received_spf_header(const spf::Outcome& outcome, const Envelope& envelope, std::string_view receiver);

}  // namespace tsubame::smtp
