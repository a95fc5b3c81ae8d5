// smtpd/outbound/route.cc: transport map, relay host parsing, MX answers (see route.h).
// Failure: parse errors are InvalidArgument with "name:line: why"; DNS trouble is an
// MxAnswer with kTempFail and a reason, never an exception.
#include "smtpd/outbound/route.h"

#include <arpa/nameser.h>
#include <netdb.h>
#include <netinet/in.h>
#include <resolv.h>

#include <algorithm>
#include <cctype>
#include <cstring>
#include <fstream>
#include <map>
#include <memory>
#include <sstream>

namespace tsubame::smtp::outbound {
namespace {

std::string lower(std::string_view s) {
  std::string out(s);
  for (char& c : out) c = char(std::tolower(static_cast<unsigned char>(c)));
  return out;
}

std::string_view trim(std::string_view s) {
  while (!s.empty() && std::isspace(static_cast<unsigned char>(s.front()))) s.remove_prefix(1);
  while (!s.empty() && std::isspace(static_cast<unsigned char>(s.back()))) s.remove_suffix(1);
  return s;
}

bool valid_host_char(char c) {
  return std::isalnum(static_cast<unsigned char>(c)) || c == '-' || c == '.' || c == '_';
}

}  // namespace

std::string HostPort::to_string() const {
  if (host.find(':') != std::string::npos) return "[" + host + "]:" + std::to_string(port);
  return host + ":" + std::to_string(port);
}

Result<HostPort> parse_host_port(std::string_view text, uint16_t default_port) {
  text = trim(text);
  HostPort hp;
  hp.port = default_port;
  std::string_view rest;
  if (!text.empty() && text.front() == '[') {
    size_t close = text.find(']');
    if (close == std::string_view::npos) return Status::invalid("missing ']' in \"" + std::string(text) + "\"");
    hp.host.assign(text.substr(1, close - 1));
    rest = text.substr(close + 1);
    for (char c : hp.host)
      if (!std::isxdigit(static_cast<unsigned char>(c)) && c != ':' && c != '.')
        return Status::invalid("bad address literal \"" + hp.host + "\"");
  } else {
    size_t colon = text.find(':');
    hp.host.assign(text.substr(0, colon));
    rest = colon == std::string_view::npos ? std::string_view() : text.substr(colon);
    for (char c : hp.host)
      if (!valid_host_char(c)) return Status::invalid("bad host name \"" + std::string(text) + "\"");
  }
  if (hp.host.empty() || hp.host.size() > 253) return Status::invalid("bad host \"" + std::string(text) + "\"");
  if (!rest.empty()) {
    if (rest.front() != ':' || rest.size() < 2 || rest.size() > 6)
      return Status::invalid("bad port in \"" + std::string(text) + "\"");
    uint32_t port = 0;
    for (char c : rest.substr(1)) {
      if (!std::isdigit(static_cast<unsigned char>(c))) return Status::invalid("bad port in \"" + std::string(text) + "\"");
      port = port * 10 + uint32_t(c - '0');
    }
    if (port == 0 || port > 65535) return Status::invalid("port out of range in \"" + std::string(text) + "\"");
    hp.port = uint16_t(port);
  }
  hp.host = lower(hp.host);
  return hp;
}

Result<TransportMap> TransportMap::load(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return Status::not_found("transport map " + path + " cannot be read");
  std::string text;
  text.resize(kMaxTransportMapBytes + 1);
  in.read(text.data(), std::streamsize(text.size()));
  text.resize(size_t(in.gcount()));
  if (text.size() > kMaxTransportMapBytes)
    return Status::full("transport map " + path + " is larger than " + std::to_string(kMaxTransportMapBytes) + " bytes");
  return parse(text, path);
}

Result<TransportMap> TransportMap::parse(std::string_view text, const std::string& name) {
  TransportMap map;
  size_t line_no = 0;
  while (!text.empty()) {
    size_t nl = text.find('\n');
    std::string_view line = text.substr(0, nl);
    text = nl == std::string_view::npos ? std::string_view() : text.substr(nl + 1);
    ++line_no;
    if (size_t hash = line.find('#'); hash != std::string_view::npos) line = line.substr(0, hash);
    line = trim(line);
    if (line.empty()) continue;
    auto where = [&] { return name + ":" + std::to_string(line_no) + ": "; };
    size_t sp = line.find_first_of(" \t");
    if (sp == std::string_view::npos) return Status::invalid(where() + "expected \"domain host[:port]\"");
    std::string domain = lower(line.substr(0, sp));
    std::string_view value = trim(line.substr(sp));
    if (value.find_first_of(" \t") != std::string_view::npos)
      return Status::invalid(where() + "extra text after the host");
    if (domain != "*" && !std::all_of(domain.begin(), domain.end(), valid_host_char))
      return Status::invalid(where() + "bad domain \"" + domain + "\"");
    auto hp = parse_host_port(value);
    if (!hp.is_ok()) return Status::invalid(where() + hp.status().message());
    if (map.entries_.count(domain)) return Status::invalid(where() + "duplicate domain \"" + domain + "\"");
    if (map.entries_.size() >= kMaxTransportMapEntries)
      return Status::full(where() + "more than " + std::to_string(kMaxTransportMapEntries) + " entries");
    map.entries_.emplace(domain, std::move(hp.value()));
  }
  return map;
}

std::optional<HostPort> TransportMap::find(std::string_view domain) const {
  std::string d = lower(domain);
  auto get = [&](std::string_view key) -> const HostPort* {
    auto it = entries_.find(key);
    return it == entries_.end() ? nullptr : &it->second;
  };
  if (auto* hp = get(d)) return *hp;
  // ".parent" entries, closest parent first: a.b.example -> .b.example -> .example
  for (size_t dot = d.find('.'); dot != std::string::npos; dot = d.find('.', dot + 1))
    if (auto* hp = get(std::string_view(d).substr(dot))) return *hp;
  if (auto* hp = get("*")) return *hp;
  return std::nullopt;
}

MxAnswer parse_mx_answer(const unsigned char* message, size_t length) {
  MxAnswer out;
  ns_msg msg;
  if (length > kMaxDnsAnswer || ns_initparse(message, int(length), &msg) < 0) {
    out.error = "malformed DNS answer";
    return out;
  }
  // RFC 1035 §4.1.1 RCODE: 3 = name error (NXDOMAIN).
  int rcode = ns_msg_getflag(msg, ns_f_rcode);
  if (rcode == ns_r_nxdomain) {
    out.status = MxStatus::kNxDomain;
    out.error = "domain does not exist (NXDOMAIN)";
    return out;
  }
  if (rcode != ns_r_noerror) {
    out.error = "DNS server failure (rcode " + std::to_string(rcode) + ")";
    return out;
  }
  int count = ns_msg_count(msg, ns_s_an);
  for (int i = 0; i < count; ++i) {
    ns_rr rr;
    if (ns_parserr(&msg, ns_s_an, i, &rr) < 0) {
      out.error = "malformed DNS answer record";
      return out;
    }
    if (ns_rr_type(rr) != ns_t_mx || ns_rr_class(rr) != ns_c_in) continue;  // CNAMEs etc.
    if (ns_rr_rdlen(rr) < 3) {
      out.error = "short MX record";
      return out;
    }
    MxRecord mx;
    mx.preference = uint16_t(ns_get16(ns_rr_rdata(rr)));
    char name[NS_MAXDNAME];
    if (dn_expand(ns_msg_base(msg), ns_msg_end(msg), ns_rr_rdata(rr) + 2, name, sizeof name) < 0) {
      out.error = "malformed MX exchange name";
      return out;
    }
    mx.host = lower(name);
    if (!mx.host.empty() && mx.host.back() == '.') mx.host.pop_back();
    out.records.push_back(std::move(mx));
  }
  if (out.records.empty()) {
    out.status = MxStatus::kNoRecords;
    return out;
  }
  // RFC 7505 §3: a single MX with an empty exchange ("."), preference 0 by convention.
  if (out.records.size() == 1 && out.records[0].host.empty()) {
    out.status = MxStatus::kNullMx;
    out.error = "domain accepts no mail (null MX)";
    return out;
  }
  out.status = MxStatus::kOk;
  return out;
}

std::vector<std::string> order_mx(std::vector<MxRecord> records, std::mt19937& rng, std::string_view self) {
  records.erase(std::remove_if(records.begin(), records.end(), [](const MxRecord& r) { return r.host.empty(); }),
                records.end());
  if (!self.empty()) {
    std::string me = lower(self);
    if (!me.empty() && me.back() == '.') me.pop_back();
    uint32_t mine = UINT32_MAX;
    for (auto& r : records) {
      std::string h = lower(r.host);
      if (!h.empty() && h.back() == '.') h.pop_back();
      if (h == me) mine = std::min<uint32_t>(mine, r.preference);
    }
    records.erase(std::remove_if(records.begin(), records.end(),
                                 [&](const MxRecord& r) { return r.preference >= mine; }),
                  records.end());
  }
  std::shuffle(records.begin(), records.end(), rng);  // RFC 5321 §5.1: equal preference, random
  std::stable_sort(records.begin(), records.end(),
                   [](const MxRecord& a, const MxRecord& b) { return a.preference < b.preference; });
  std::vector<std::string> hosts;
  for (auto& r : records) {
    if (std::find(hosts.begin(), hosts.end(), r.host) != hosts.end()) continue;
    hosts.push_back(r.host);
    if (hosts.size() >= kMaxMxHosts) break;
  }
  return hosts;
}

MxAnswer lookup_mx_blocking(const std::string& domain) {
  MxAnswer out;
  auto state = std::make_unique<struct __res_state>();
  std::memset(state.get(), 0, sizeof(struct __res_state));
  if (res_ninit(state.get()) != 0) {
    out.error = "resolver initialisation failed";
    return out;
  }
  std::vector<unsigned char> buf(kMaxDnsAnswer);
  // A trailing dot: the domain is absolute (no search list, RFC 5321 §5.1).
  std::string fqdn = domain.empty() || domain.back() == '.' ? domain : domain + ".";
  int n = res_nquery(state.get(), fqdn.c_str(), ns_c_in, ns_t_mx, buf.data(), int(buf.size()));
  int herr = state->res_h_errno;
  res_nclose(state.get());
  if (n < 0) {
    switch (herr) {
      case HOST_NOT_FOUND: out.status = MxStatus::kNxDomain; out.error = "domain does not exist (NXDOMAIN)"; break;
      case NO_DATA: out.status = MxStatus::kNoRecords; break;
      default: out.status = MxStatus::kTempFail; out.error = "MX lookup failed: " + std::string(hstrerror(herr)); break;
    }
    return out;
  }
  return parse_mx_answer(buf.data(), size_t(n));
}

Route route_from_mx(const std::string& domain, const MxAnswer& answer, std::mt19937& rng, std::string_view self) {
  Route r;
  switch (answer.status) {
    case MxStatus::kOk:
      r.source = "mx";
      for (auto& h : order_mx(answer.records, rng, self)) r.hosts.push_back(HostPort{h, kDefaultSmtpPort});
      if (r.hosts.empty()) {
        r.kind = Route::Kind::kPermanent;
        r.enhanced = "5.4.6";  // RFC 3463 §3.5: routing loop detected
        r.error = "MX list for " + domain + " points back to this host";
      }
      return r;
    case MxStatus::kNoRecords:  // RFC 5321 §5.1: the domain itself is the implicit MX
      r.source = "implicit-mx";
      r.hosts.push_back(HostPort{domain, kDefaultSmtpPort});
      return r;
    case MxStatus::kNxDomain:
      r.kind = Route::Kind::kPermanent;
      r.enhanced = "5.1.2";  // RFC 3463 §3.2: bad destination system address
      r.error = domain + ": " + answer.error;
      return r;
    case MxStatus::kNullMx:
      r.kind = Route::Kind::kPermanent;
      r.enhanced = "5.1.10";  // RFC 7505 §4.2 / RFC 7504: recipient address has null MX
      r.error = domain + ": " + answer.error;
      return r;
    case MxStatus::kTempFail:
      r.kind = Route::Kind::kTemporary;
      r.enhanced = "4.4.3";  // RFC 3463 §3.5: directory server failure
      r.error = domain + ": " + answer.error;
      return r;
  }
  return r;
}

std::string domain_of(std::string_view address) {
  size_t at = address.rfind('@');
  return lower(at == std::string_view::npos ? std::string_view() : address.substr(at + 1));
}

}  // namespace tsubame::smtp::outbound
