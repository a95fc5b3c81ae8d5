// smtpd/spf/dns.cc: ResolverDns on libresolv, and the pure DNS answer parsers (see dns.h).
// Failure: a query that cannot be answered is a kTempFail answer, never an exception.
#include "smtpd/spf/dns.h"

#include <arpa/inet.h>
#include <arpa/nameser.h>
#include <netdb.h>
#include <netinet/in.h>
#include <resolv.h>

#include <algorithm>
#include <cstdlib>
#include <cstring>
#include <optional>

namespace tsubame::smtp::spf {
namespace {

std::string dns_name(const char* text) {
  std::string out(text);
  for (char& c : out)
    if (c >= 'A' && c <= 'Z') c = char(c - 'A' + 'a');
  if (!out.empty() && out.back() == '.') out.pop_back();
  return out;
}

// Opens a response; false with *status set when there is nothing to take records from.
bool open_answer(const unsigned char* message, size_t length, ns_msg* msg, DnsStatus* status) {
  *status = DnsStatus::kTempFail;
  if (length == 0 || length > kMaxDnsMessage || ns_initparse(message, int(length), msg) < 0) return false;
  int rcode = ns_msg_getflag(*msg, ns_f_rcode);  // RFC 1035 §4.1.1
  if (rcode == ns_r_nxdomain) {
    *status = DnsStatus::kNxDomain;
    return false;
  }
  if (rcode != ns_r_noerror) return false;
  *status = DnsStatus::kOk;
  return true;
}

// Calls take(rr) for each answer record of `type` in class IN; false on a malformed record.
template <typename F>
bool each_record(ns_msg& msg, int type, F&& take) {
  int count = ns_msg_count(msg, ns_s_an);
  for (int i = 0; i < count; ++i) {
    ns_rr rr;
    if (ns_parserr(&msg, ns_s_an, i, &rr) < 0) return false;
    if (ns_rr_type(rr) != type || ns_rr_class(rr) != ns_c_in) continue;  // CNAMEs, DNAMEs ...
    if (!take(rr)) return false;
  }
  return true;
}

}  // namespace

TxtAnswer parse_txt_answer(const unsigned char* message, size_t length) {
  TxtAnswer out;
  ns_msg msg;
  if (!open_answer(message, length, &msg, &out.status)) return out;
  bool ok = each_record(msg, ns_t_txt, [&](const ns_rr& rr) {
    // RFC 1035 §3.3.14: one or more <character-string>s, each a length octet and the text;
    // RFC 7208 §3.3: joined without spaces.
    const unsigned char* p = ns_rr_rdata(rr);
    size_t n = ns_rr_rdlen(rr);
    std::string text;
    for (size_t i = 0; i < n;) {
      size_t len = p[i++];
      if (len > n - i) return false;
      text.append(reinterpret_cast<const char*>(p + i), len);
      i += len;
    }
    out.records.push_back(std::move(text));
    return true;
  });
  if (!ok) return TxtAnswer{};
  out.status = out.records.empty() ? DnsStatus::kNoData : DnsStatus::kOk;
  return out;
}

AddrAnswer parse_addr_answer(const unsigned char* message, size_t length, bool v6) {
  AddrAnswer out;
  ns_msg msg;
  if (!open_answer(message, length, &msg, &out.status)) return out;
  bool ok = each_record(msg, v6 ? ns_t_aaaa : ns_t_a, [&](const ns_rr& rr) {
    Ip ip;
    ip.family = v6 ? Ip::Family::kV6 : Ip::Family::kV4;
    if (ns_rr_rdlen(rr) != ip.size()) return false;  // RFC 1035 §3.4.1, RFC 3596 §2.2
    std::memcpy(ip.bytes.data(), ns_rr_rdata(rr), ip.size());
    out.addrs.push_back(ip);
    return true;
  });
  if (!ok) return AddrAnswer{};
  out.status = out.addrs.empty() ? DnsStatus::kNoData : DnsStatus::kOk;
  return out;
}

NameAnswer parse_name_answer(const unsigned char* message, size_t length, int type) {
  NameAnswer out;
  ns_msg msg;
  if (type != ns_t_mx && type != ns_t_ptr) return out;
  if (!open_answer(message, length, &msg, &out.status)) return out;
  bool ok = each_record(msg, type, [&](const ns_rr& rr) {
    // MX (RFC 1035 §3.3.9): PREFERENCE (16 bits), EXCHANGE; PTR (§3.3.12): PTRDNAME.
    size_t skip = type == ns_t_mx ? 2 : 0;
    if (ns_rr_rdlen(rr) < skip + 1) return false;
    char name[NS_MAXDNAME];
    if (dn_expand(ns_msg_base(msg), ns_msg_end(msg), ns_rr_rdata(rr) + skip, name, sizeof name) < 0) return false;
    out.names.push_back(dns_name(name));
    return true;
  });
  if (!ok) return NameAnswer{};
  out.status = out.names.empty() ? DnsStatus::kNoData : DnsStatus::kOk;
  return out;
}

std::string reverse_name(const Ip& ip) {
  std::string out;
  if (ip.is_v4()) {
    for (int i = 3; i >= 0; --i) out += std::to_string(ip.bytes[size_t(i)]) + ".";
    return out + "in-addr.arpa";
  }
  static constexpr char kHex[] = "0123456789abcdef";
  for (int i = 15; i >= 0; --i) {
    out += kHex[ip.bytes[size_t(i)] & 0x0f];
    out += '.';
    out += kHex[ip.bytes[size_t(i)] >> 4];
    out += '.';
  }
  return out + "ip6.arpa";
}

tsubame::Result<ServerAddress> parse_server_address(std::string_view text) {
  ServerAddress out;
  std::string_view host = text, port;
  if (!text.empty() && text.front() == '[') {
    size_t close = text.find(']');
    if (close == std::string_view::npos) return Status::invalid("missing ']' in DNS server \"" + std::string(text) + "\"");
    host = text.substr(1, close - 1);
    std::string_view rest = text.substr(close + 1);
    if (!rest.empty()) {
      if (rest.front() != ':') return Status::invalid("bad DNS server \"" + std::string(text) + "\"");
      port = rest.substr(1);
      if (port.empty()) return Status::invalid("bad port in DNS server \"" + std::string(text) + "\"");
    }
  } else if (std::count(text.begin(), text.end(), ':') == 1) {  // "v4:port"
    size_t colon = text.find(':');
    host = text.substr(0, colon);
    port = text.substr(colon + 1);
    if (port.empty()) return Status::invalid("bad port in DNS server \"" + std::string(text) + "\"");
  }
  auto ip = host.find(':') != std::string_view::npos ? Ip::parse_v6(host) : Ip::parse_v4(host);
  if (!ip) return Status::invalid("DNS server \"" + std::string(text) + "\" is not an IP address");
  out.ip = *ip;
  if (!port.empty()) {
    if (port.size() > 5) return Status::invalid("bad port in DNS server \"" + std::string(text) + "\"");
    uint32_t p = 0;
    for (char c : port) {
      if (c < '0' || c > '9') return Status::invalid("bad port in DNS server \"" + std::string(text) + "\"");
      p = p * 10 + uint32_t(c - '0');
    }
    if (p == 0 || p > 65535) return Status::invalid("port out of range in DNS server \"" + std::string(text) + "\"");
    out.port = uint16_t(p);
  }
  return out;
}

ResolverDns::ResolverDns(const ResolverOptions& options)
    : state_(std::make_unique<struct __res_state>()), buf_(std::make_unique<unsigned char[]>(kMaxDnsMessage)) {
  std::memset(state_.get(), 0, sizeof(struct __res_state));
  std::optional<ServerAddress> server;
  if (!options.server.empty()) {
    auto parsed = parse_server_address(options.server);
    if (!parsed.is_ok()) {
      status_ = parsed.status();
      return;
    }
    server = parsed.value();
  }
  // A res_ninit that failed leaves fields (the TCP socket among them) unset, so res_nclose
  // is only called on a state that was set up (ready_).
  if (res_ninit(state_.get()) != 0) {
    status_ = Status::unavailable("resolver initialisation failed");
    return;
  }
  ready_ = true;
  state_->retrans = std::max(1, options.timeout_seconds);
  state_->retry = std::max(1, options.attempts);
  if (server) {
    // One name server instead of resolv.conf's. glibc keeps IPv6 servers in malloc'd
    // _u._ext.nsaddrs[] (nsaddr_list[i].sin_family == 0 marks them) and frees them in
    // res_nclose; IPv4 servers are nsaddr_list[] entries it copies on the next send.
    for (auto& addr : state_->_u._ext.nsaddrs) {
      std::free(addr);
      addr = nullptr;
    }
    state_->_u._ext.nscount = 0;
    std::memset(&state_->nsaddr_list[0], 0, sizeof state_->nsaddr_list[0]);
    if (server->ip.is_v4()) {
      state_->nsaddr_list[0].sin_family = AF_INET;
      state_->nsaddr_list[0].sin_port = htons(server->port);
      std::memcpy(&state_->nsaddr_list[0].sin_addr, server->ip.bytes.data(), 4);
    } else {
      auto* sa6 = static_cast<sockaddr_in6*>(std::calloc(1, sizeof(sockaddr_in6)));
      if (!sa6) {
        status_ = Status::unavailable("out of memory setting the DNS server");
        return;
      }
      sa6->sin6_family = AF_INET6;
      sa6->sin6_port = htons(server->port);
      std::memcpy(&sa6->sin6_addr, server->ip.bytes.data(), 16);
      state_->_u._ext.nsaddrs[0] = sa6;
    }
    state_->nscount = 1;
  }
}

ResolverDns::~ResolverDns() {
  if (ready_) res_nclose(state_.get());
}

DnsStatus ResolverDns::query(const std::string& name, int type, size_t* length) {
  *length = 0;
  if (!ready_ || !status_.is_ok() || name.empty() || name.size() > 253) return DnsStatus::kTempFail;
  ++queries_;
  // A trailing dot: the name is absolute (no search list).
  std::string fqdn = name.back() == '.' ? name : name + ".";
  int n = res_nquery(state_.get(), fqdn.c_str(), ns_c_in, type, buf_.get(), int(kMaxDnsMessage));
  if (n < 0) {
    // res_h_errno is only meaningful after a failure (it is not reset on success).
    switch (state_->res_h_errno) {
      case HOST_NOT_FOUND: return DnsStatus::kNxDomain;  // RCODE 3
      case NO_DATA: return DnsStatus::kNoData;           // RCODE 0, no answer records
      default: return DnsStatus::kTempFail;              // TRY_AGAIN, NO_RECOVERY, timeouts
    }
  }
  *length = std::min<size_t>(size_t(n), kMaxDnsMessage);  // n may exceed the buffer when truncated
  return DnsStatus::kOk;
}

TxtAnswer ResolverDns::txt(const std::string& name) {
  size_t length = 0;
  TxtAnswer out;
  out.status = query(name, ns_t_txt, &length);
  if (out.status != DnsStatus::kOk) return out;
  return parse_txt_answer(buf_.get(), length);
}

AddrAnswer ResolverDns::a(const std::string& name) {
  size_t length = 0;
  AddrAnswer out;
  out.status = query(name, ns_t_a, &length);
  if (out.status != DnsStatus::kOk) return out;
  return parse_addr_answer(buf_.get(), length, false);
}

AddrAnswer ResolverDns::aaaa(const std::string& name) {
  size_t length = 0;
  AddrAnswer out;
  out.status = query(name, ns_t_aaaa, &length);
  if (out.status != DnsStatus::kOk) return out;
  return parse_addr_answer(buf_.get(), length, true);
}

NameAnswer ResolverDns::mx(const std::string& name) {
  size_t length = 0;
  NameAnswer out;
  out.status = query(name, ns_t_mx, &length);
  if (out.status != DnsStatus::kOk) return out;
  return parse_name_answer(buf_.get(), length, ns_t_mx);
}

NameAnswer ResolverDns::ptr(const Ip& ip) {
  size_t length = 0;
  NameAnswer out;
  out.status = query(reverse_name(ip), ns_t_ptr, &length);
  if (out.status != DnsStatus::kOk) return out;
  return parse_name_answer(buf_.get(), length, ns_t_ptr);
}

}  // namespace tsubame::smtp::spf
