// smtpd/spf/spf.h: the Sender Policy Framework check (RFC 7208 check_host()), as a pure
// function of a request and a DNS source. No sockets, no threads: every DNS answer comes
// from a `Dns` (the real one is `ResolverDns` in smtpd/spf/dns.h; tests use a table).
//
//   Request ──▶ check() ── §4.3 domain malformed ────────────────────────────▶ none
//                  │
//                  ▼
//        TXT <domain> (§4.4) ── error ▶ temperror   no "v=spf1" ▶ none   two ▶ permerror
//                  │ exactly one record
//                  ▼
//        parse the whole record (§4.6) ── any syntax error ─────────────────▶ permerror
//                  │
//                  ▼
//        mechanisms left to right (§5) ── match ─▶ result of its qualifier (§4.6.2)
//                  │                                 └─ fail + exp= ▶ explanation (§6.2)
//                  │ none matched
//                  ▼
//        redirect= (§6.1) ─▶ check_host(target) ; no redirect ───────────────▶ neutral
//
// Limits (§4.6.4) are counted over the whole evaluation, includes and redirects included:
// `Limits` below. Every input and every DNS answer is bounded; a hostile record or answer
// ends in permerror or temperror, never in a crash, a loop or unbounded work.
//
// Thread-safety: check() keeps its state on the stack; it is safe to call from many threads
// at once, each with its own Dns (ResolverDns is not thread-safe). It blocks for as long as
// the Dns does: call it from a worker thread, never from the event loop.
// Failure: errors are values (Result::kTempError / kPermError with Outcome::problem).
#pragma once

#include <array>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace tsubame::smtp::spf {

// RFC 7208 §2.6: the results of check_host().
enum class Result : uint8_t { kNone, kNeutral, kPass, kFail, kSoftFail, kTempError, kPermError };
// "none", "neutral", "pass", "fail", "softfail", "temperror", "permerror" (§2.6, as written
// in Received-SPF and Authentication-Results).
std::string_view result_name(Result result);

// An IPv4 or IPv6 address. IPv4 uses bytes[0..3]; the rest are zero.
struct Ip {
  enum class Family : uint8_t { kV4, kV6 };
  Family family = Family::kV4;
  std::array<uint8_t, 16> bytes{};

  // The client address: dotted quad or RFC 4291 text; an IPv4-mapped IPv6 address
  // ("::ffff:192.0.2.1") becomes the IPv4 address (RFC 7208 §5: it MUST be treated as IPv4).
  static std::optional<Ip> parse(std::string_view text);
  // Strict forms, no mapping: RFC 7208 §5.6 ip4-network (four decimal octets, no leading
  // zeros) and ip6-network (RFC 4291 §2.2, as inet_pton reads it).
  static std::optional<Ip> parse_v4(std::string_view text);
  static std::optional<Ip> parse_v6(std::string_view text);

  bool is_v4() const { return family == Family::kV4; }
  size_t size() const { return is_v4() ? 4 : 16; }
  // "192.0.2.1", "2001:db8::1" (RFC 5952 form, as inet_ntop writes it).
  std::string to_string() const;
  // True if both are of one family and the first `prefix_bits` bits are equal (a prefix
  // longer than the address compares the whole address).
  bool in_network(const Ip& network, unsigned prefix_bits) const;
  bool operator==(const Ip&) const = default;
};

// What a DNS lookup came back with. kNxDomain is RCODE 3; kNoData is RCODE 0 with no record
// of the asked type; kTempFail is everything else (SERVFAIL, REFUSED, timeout, a malformed
// answer), RFC 7208 §2.6.6 / §5.
enum class DnsStatus : uint8_t { kOk, kNxDomain, kNoData, kTempFail };

struct TxtAnswer {
  DnsStatus status = DnsStatus::kTempFail;
  std::vector<std::string> records;  // one per TXT RR: its character-strings joined (§3.3)
};
struct AddrAnswer {
  DnsStatus status = DnsStatus::kTempFail;
  std::vector<Ip> addrs;
};
struct NameAnswer {
  DnsStatus status = DnsStatus::kTempFail;
  std::vector<std::string> names;  // MX exchanges (any order; "" = null MX) or PTR names
};

// What the evaluator asks. Names are passed without a trailing dot and are absolute (no
// search list). kOk with no records is read as kNoData.
class Dns {
 public:
  virtual ~Dns() = default;
  virtual TxtAnswer txt(const std::string& name) = 0;
  virtual AddrAnswer a(const std::string& name) = 0;     // A
  virtual AddrAnswer aaaa(const std::string& name) = 0;  // AAAA
  virtual NameAnswer mx(const std::string& name) = 0;
  virtual NameAnswer ptr(const Ip& ip) = 0;              // in-addr.arpa / ip6.arpa
};

struct Request {
  std::string ip;         // client IP as text; "::ffff:192.0.2.1" is checked as IPv4
  std::string mail_from;  // reverse-path without <>; "" = null path: postmaster@HELO (§2.4)
  std::string helo;       // EHLO/HELO argument
  std::string receiver;   // our host name, for %{r} in explanations ("" = "unknown")
  int64_t timestamp = 0;  // %{t} in explanations: seconds since 1970; 0 = the clock now
};

// RFC 7208 §4.6.4 processing limits, and two bounds of our own. Tests lower them.
struct Limits {
  int max_dns_terms = 10;     // include, a, mx, ptr, exists, redirect over the whole check
  int max_void_lookups = 2;   // terms whose lookup answered NXDOMAIN or no data
  int max_mx_names = 10;      // an "mx" with more exchanges than this is a permerror
  int max_ptr_names = 10;     // "ptr" and %{p} look at the first this many PTR names only
  int max_lookups = 40;       // ours: every DNS query of the check, records included
  std::chrono::milliseconds max_time{20000};  // §4.6.4 "at least 20 seconds" ▶ temperror
};

struct Outcome {
  Result result = Result::kNone;
  std::string domain;       // the domain checked: MAIL FROM's, or HELO's for a null path
  std::string identity;     // "mailfrom", or "helo" for a null path (§2.4)
  std::string mechanism;    // the term that decided ("ip4:192.0.2.0/24", "-all",
                            // "include:_spf.example.net"), "default" when none matched
                            // (neutral, §4.7), "" for none/errors
  std::string problem;      // temperror/permerror: why (DNS names and record text, never
                            // message data); also none when nothing could be checked (a
                            // client IP that does not parse, an overlong request field)
  std::string explanation;  // fail only: the domain's exp= text (§6.2), printable ASCII,
                            // at most kMaxExplanation octets; "" = none or unusable
};

inline constexpr size_t kMaxRecordBytes = 16384;   // a longer "v=spf1" record: permerror
inline constexpr size_t kMaxExplanation = 512;     // exp= text is cut here
inline constexpr size_t kMaxInputBytes = 512;      // Request strings longer than this: none
inline constexpr size_t kMaxExpansionBytes = 4096; // a longer macro expansion: syntax error
inline constexpr int kMaxDepth = 32;               // include/redirect nesting, whatever Limits say

// RFC 7208 §4: check_host() for the MAIL FROM identity, or for postmaster@HELO when the
// reverse-path is null. A mail_from without '@' has no local-part (§4.3: "postmaster") and
// is taken whole as the domain; "@domain" likewise gets "postmaster". A client IP that does
// not parse gives none with a problem (nothing can be checked).
Outcome check(Dns& dns, const Request& req, const Limits& limits = {});

// Macro expansion (§7), exposed for tests and diagnostics. `ptr_name` is what %{p} expands
// to (check() resolves it only when a string uses it; "unknown" when there is none).
struct MacroVars {
  std::string sender;         // s: local-part@domain
  std::string local_part;     // l
  std::string sender_domain;  // o
  std::string domain;         // d: the domain being checked (changes in include/redirect)
  std::string helo;           // h
  Ip ip;                      // i, v, c
  std::string ptr_name = "unknown";  // p
  std::string receiver;       // r ("" = "unknown")
  int64_t timestamp = 0;      // t
};
enum class MacroUse : uint8_t {
  kDomainSpec,   // macro-string of a domain-spec: letters s l o d i p h v, no spaces
  kExplanation,  // exp= TXT text (explain-string): also c r t, and spaces
};
// nullopt on a syntax error (a '%' not followed by '{', '%', '_' or '-'; an unknown or
// misplaced letter; a zero digit transformer; a missing '}'), or when the result would
// exceed kMaxExpansionBytes.
std::optional<std::string> expand_macros(std::string_view text, const MacroVars& vars, MacroUse use);

}  // namespace tsubame::smtp::spf
