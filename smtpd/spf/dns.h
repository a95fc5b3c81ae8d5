// smtpd/spf/dns.h: ResolverDns, the real DNS source of the SPF check: libresolv's
// res_nquery on a res_state of its own (like smtpd/outbound/route.cc's MX lookups).
//
//   spf::check() ──txt/a/aaaa/mx/ptr──▶ ResolverDns ──res_nquery──▶ resolver from
//                                          │                        /etc/resolv.conf, or
//                                          ▼                        ResolverOptions::server
//                              parse_*_answer() (pure: ns_initparse/ns_parserr)
//
// Blocking: each call waits for the answer (timeout_seconds per try, `attempts` tries,
// TCP when the UDP answer is truncated). Call it from a worker thread, never from the
// event loop.
// Thread-safety: NOT thread-safe: one ResolverDns per evaluation (per thread); it is cheap
// to make (res_ninit reads /etc/resolv.conf once).
// Failure: errors are values. A resolver that cannot be set up (a bad `server`, res_ninit
// failing) keeps the reason in status() and answers every query with kTempFail, so the
// SPF result is temperror, never a wrong pass or fail.
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>

#include "common/result.h"
#include "smtpd/spf/spf.h"

struct __res_state;

namespace tsubame::smtp::spf {

struct ResolverOptions {
  std::string server;       // "" = /etc/resolv.conf; else "IP", "IP:port", "[v6]" or "[v6]:port"
  int timeout_seconds = 2;  // per try (res_state retrans), at least 1
  int attempts = 2;         // tries (res_state retry), at least 1
};

// A resolver address from ResolverOptions::server: "192.0.2.53", "192.0.2.53:5353",
// "2001:db8::53" (bare IPv6, port 53), "[2001:db8::53]:5353". Port 0 is refused.
struct ServerAddress {
  Ip ip;
  uint16_t port = 53;
};
tsubame::Result<ServerAddress> parse_server_address(std::string_view text);

// The largest answer read (RFC 1035 §4.2.2: a TCP message is at most 65535 octets).
inline constexpr size_t kMaxDnsMessage = 65535;

class ResolverDns final : public Dns {
 public:
  explicit ResolverDns(const ResolverOptions& options = {});
  ~ResolverDns() override;
  ResolverDns(const ResolverDns&) = delete;
  ResolverDns& operator=(const ResolverDns&) = delete;

  // Ok, or why every answer will be kTempFail.
  const Status& status() const { return status_; }
  // Queries sent so far (for the log line and tests).
  size_t queries() const { return queries_; }

  TxtAnswer txt(const std::string& name) override;
  AddrAnswer a(const std::string& name) override;
  AddrAnswer aaaa(const std::string& name) override;
  NameAnswer mx(const std::string& name) override;
  NameAnswer ptr(const Ip& ip) override;

 private:
  // res_nquery for (name, type); the answer in buf_ and its length, or the status to
  // return when there is no answer to parse (h_errno mapped as in the answers' docs).
  DnsStatus query(const std::string& name, int type, size_t* length);

  std::unique_ptr<struct __res_state> state_;
  bool ready_ = false;
  Status status_;
  size_t queries_ = 0;
  std::unique_ptr<unsigned char[]> buf_;
};

// Pure parsers of a DNS response message (RFC 1035 §4.1), exposed for tests. Only records
// of the asked type and class IN in the answer section are taken, so a CNAME chain in
// front of them is skipped (RFC 1034 §3.6.2). RCODE 3 is kNxDomain, another non-zero RCODE
// or a malformed message kTempFail, no matching record kNoData.
TxtAnswer parse_txt_answer(const unsigned char* message, size_t length);
AddrAnswer parse_addr_answer(const unsigned char* message, size_t length, bool v6);
// type: ns_t_mx (15) or ns_t_ptr (12). Names are without the trailing dot; the root
// exchange of a null MX (RFC 7505) is "".
NameAnswer parse_name_answer(const unsigned char* message, size_t length, int type);

// The reverse-mapping name of an address: "4.3.2.1.in-addr.arpa",
// "b.a.9.8.7.6.5.0.4.0.0.0.3.0.0.0.2.0.0.0.1.0.0.0.0.0.0.0.1.2.3.4.ip6.arpa" (RFC 3596 §2.5).
std::string reverse_name(const Ip& ip);

}  // namespace tsubame::smtp::spf
