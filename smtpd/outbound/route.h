// smtpd/outbound/route.h: where mail for a domain goes: the transport map, the relay host,
// or the domain's MX records (RFC 5321 §5.1, null MX RFC 7505).
//
// Precedence: a transport map entry for the domain (smtpd.transport_map), else the relay
// host (smtpd.relay_host), else MX. Transport map and relay host name hosts that are
// connected to directly (their A/AAAA records; no MX lookup), like Postfix's "[host]".
//
// Transport map file: one "domain host[:port]" per line; '#' starts a comment; the domain is
// matched case-insensitively; ".example.com" matches every subdomain of example.com; "*"
// matches every domain. An IPv6 literal is written "[::1]:2525". Example:
//     example.net      mx.internal.example:2525
//     .corp.example    [10.0.0.5]
//     *                smarthost.example:587
//
// MX lookups: evdns (libevent 2.1) has no query API for MX records, only A/AAAA/PTR, so MX
// uses libresolv's res_nquery (it honours /etc/resolv.conf, retries, falls back to TCP on a
// truncated answer, and is thread-safe with a per-call res_state) run on a worker thread so
// the event loop never blocks (runner.cc). The answer parsing is pure and unit-tested here.
// Failure: errors are values; a malformed DNS answer is a temporary failure.
#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <random>
#include <string>
#include <string_view>
#include <vector>

#include "common/result.h"
#include "smtpd/outbound/limits.h"

namespace tsubame::smtp::outbound {

struct HostPort {
  std::string host;                // a DNS name or an IP literal (without brackets)
  uint16_t port = kDefaultSmtpPort;
  std::string to_string() const;   // "host:25", "[::1]:25"
  bool operator==(const HostPort&) const = default;
};
// "host", "host:port", "[v4 or v6 literal]", "[literal]:port", "1.2.3.4:25".
Result<HostPort> parse_host_port(std::string_view text, uint16_t default_port = kDefaultSmtpPort);

class TransportMap {
 public:
  static Result<TransportMap> load(const std::string& path);
  // `name` names the source in errors ("file:line: why").
  static Result<TransportMap> parse(std::string_view text, const std::string& name);
  // Exact domain, then the closest ".parent" entry, then "*".
  std::optional<HostPort> find(std::string_view domain) const;
  size_t size() const { return entries_.size(); }

 private:
  std::map<std::string, HostPort, std::less<>> entries_;  // lower-case key
};

struct MxRecord {
  uint16_t preference = 0;
  std::string host;                // "" = the root ("."), i.e. a null MX
};

enum class MxStatus : uint8_t {
  kOk,         // records (ordered by preference)
  kNoRecords,  // no MX: RFC 5321 §5.1 implicit MX, the domain's own A/AAAA
  kNxDomain,   // the domain does not exist: permanent failure
  kNullMx,     // RFC 7505: the domain accepts no mail: permanent failure
  kTempFail,   // SERVFAIL, timeout, malformed answer: retry later
};

struct MxAnswer {
  MxStatus status = MxStatus::kTempFail;
  std::vector<MxRecord> records;
  std::string error;
};

// Parses a DNS response to an MX query (RFC 1035 §4.1, RFC 1035 §3.3.9).
MxAnswer parse_mx_answer(const unsigned char* message, size_t length);
// RFC 5321 §5.1: lowest preference first, equal preferences in random order; at most
// kMaxMxHosts; a null MX among other records is ignored (RFC 7505 §3: it must stand alone).
// If `self` (our own host name) is in the list, it and every host of equal or greater
// preference are dropped (RFC 5321 §5.1: a relay must not send mail back to itself).
std::vector<std::string> order_mx(std::vector<MxRecord> records, std::mt19937& rng,
                                  std::string_view self = {});
// Blocking lookup with res_nquery: call only from a worker thread.
MxAnswer lookup_mx_blocking(const std::string& domain);

// Where one domain's mail goes this time.
struct Route {
  enum class Kind : uint8_t { kHosts, kPermanent, kTemporary } kind = Kind::kHosts;
  std::vector<HostPort> hosts;     // tried in order
  std::string enhanced;            // for failures: "5.1.10", "5.1.2", "4.4.3"
  std::string error;               // for failures: the reason, for the DSN and the log
  std::string source;              // "transport", "relay", "mx", "implicit-mx"
};
// Turns an MX answer into a route (hosts on kDefaultSmtpPort). `self` as for order_mx(); an
// MX list that only leads back to us is a permanent failure (RFC 3463 5.4.6 routing loop).
Route route_from_mx(const std::string& domain, const MxAnswer& answer, std::mt19937& rng,
                    std::string_view self = {});

// "bob@Example.COM" -> "example.com" (the part after the last '@', lower-case).
std::string domain_of(std::string_view address);

}  // namespace tsubame::smtp::outbound
