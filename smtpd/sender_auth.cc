// smtpd/sender_auth.cc: see sender_auth.h.
#include "smtpd/sender_auth.h"

#include <charconv>

#include "common/config.h"
#include "smtpd/spf/dns.h"

namespace tsubame::smtp {

namespace {

// One header value: control and non-ASCII octets dropped, at most `max` octets.
std::string printable(std::string_view s, size_t max = 256) {
  std::string out;
  for (char c : s) {
    const auto u = static_cast<unsigned char>(c);
    if (u < 0x20 || u >= 0x7f) continue;
    out.push_back(c);
    if (out.size() >= max) break;
  }
  return out;
}

// RFC 5322 quoted-string of a printable value.
std::string quoted(std::string_view s) {
  std::string out = "\"";
  for (char c : printable(s)) {
    if (c == '"' || c == '\\') out.push_back('\\');
    out.push_back(c);
  }
  out.push_back('"');
  return out;
}

// Text for inside a comment: no parentheses or backslashes to balance.
std::string comment_text(std::string_view s) {
  std::string out;
  for (char c : printable(s))
    if (c != '(' && c != ')' && c != '\\') out.push_back(c);
  return out;
}

}  // namespace

Result<std::vector<SpfNetwork>> parse_spf_networks(const std::vector<std::string>& entries) {
  std::vector<SpfNetwork> out;
  for (const std::string& entry : entries) {
    size_t i = 0;
    while (i < entry.size()) {
      auto sep = [](char c) { return c == ',' || c == ' ' || c == '\t'; };
      while (i < entry.size() && sep(entry[i])) ++i;
      size_t e = i;
      while (e < entry.size() && !sep(entry[e])) ++e;
      std::string_view item = std::string_view(entry).substr(i, e - i);
      i = e;
      if (item.empty()) continue;
      std::string_view addr = item;
      std::optional<unsigned> prefix;
      if (size_t slash = item.find('/'); slash != std::string_view::npos) {
        addr = item.substr(0, slash);
        std::string_view bits = item.substr(slash + 1);
        unsigned v = 0;
        auto [p, ec] = std::from_chars(bits.data(), bits.data() + bits.size(), v);
        if (bits.empty() || ec != std::errc() || p != bits.data() + bits.size())
          return Status::invalid("not a network: " + std::string(item));
        prefix = v;
      }
      std::optional<spf::Ip> ip = spf::Ip::parse_v4(addr);
      if (!ip) ip = spf::Ip::parse_v6(addr);
      if (!ip) return Status::invalid("not a network: " + std::string(item));
      const unsigned max_bits = ip->is_v4() ? 32 : 128;
      if (prefix && *prefix > max_bits) return Status::invalid("not a network: " + std::string(item));
      out.push_back({*ip, prefix.value_or(max_bits)});
    }
  }
  return out;
}

Result<SpfSettings> spf_settings(const Config& cfg) {
  SpfSettings s;
  s.enabled = cfg.boolean("smtpd.spf");
  auto nets = parse_spf_networks(cfg.list("smtpd.spf_skip_networks"));
  if (!nets) return Status::invalid("smtpd.spf_skip_networks: " + nets.status().message());
  s.skip = std::move(*nets);
  s.timeout = std::chrono::seconds(cfg.integer("smtpd.spf_timeout"));
  s.dns_server = cfg.str("smtpd.dns_server");
  if (!s.dns_server.empty()) {
    if (auto a = spf::parse_server_address(s.dns_server); !a.is_ok())
      return Status::invalid("smtpd.dns_server: " + a.status().message());
  }
  return s;
}

bool spf_applies(const SpfSettings& settings, const Envelope& envelope) {
  if (!settings.enabled || !envelope.auth_user.empty()) return false;
  std::optional<spf::Ip> ip = spf::Ip::parse(envelope.client_ip);
  if (!ip) return false;
  for (const SpfNetwork& n : settings.skip)
    if (ip->in_network(n.network, n.prefix_bits)) return false;
  return true;
}

spf::Outcome check_spf(const SpfSettings& settings, const Envelope& envelope, const std::string& receiver) {
  spf::ResolverOptions ro;
  ro.server = settings.dns_server;
  spf::ResolverDns dns(ro);
  spf::Request req;
  req.ip = envelope.client_ip;
  req.mail_from = envelope.mail_from;
  req.helo = envelope.helo;
  req.receiver = receiver;
  spf::Limits limits;
  limits.max_time = settings.timeout;
  return spf::check(dns, req, limits);
}

std::string received_spf_header(const spf::Outcome& o, const Envelope& envelope, std::string_view receiver) {
  const std::string who = o.identity == "helo" ? "postmaster@" + o.domain : envelope.mail_from;
  const std::string ip = printable(envelope.client_ip, 64);
  std::string comment = comment_text(receiver) + ": ";
  switch (o.result) {
    case spf::Result::kPass:
      comment += "domain of " + comment_text(who) + " designates " + ip + " as permitted sender";
      break;
    case spf::Result::kFail:
      comment += "domain of " + comment_text(who) + " does not designate " + ip + " as permitted sender";
      break;
    case spf::Result::kSoftFail:
      comment += "domain of transitioning " + comment_text(who) + " does not designate " + ip +
                 " as permitted sender";
      break;
    case spf::Result::kNeutral:
      comment += ip + " is neither permitted nor denied by domain of " + comment_text(who);
      break;
    case spf::Result::kNone:
      comment += "domain of " + comment_text(who) + " does not provide an SPF record";
      break;
    case spf::Result::kTempError:
    case spf::Result::kPermError:
      comment += "error in processing during lookup of " + comment_text(who);
      break;
  }
  // The result and the comment's words fold like the key=value pairs (FWS may stand
  // between the words of a comment, RFC 5322 §3.2.2); quoted values are never split.
  std::vector<std::string> parts;
  std::string first = std::string(spf::result_name(o.result)) + " (" + comment + ")";
  for (size_t i = 0; i < first.size();) {
    size_t sp = first.find(' ', i);
    if (sp == std::string::npos) sp = first.size();
    if (sp > i) parts.push_back(first.substr(i, sp - i));
    i = sp + 1;
  }
  const std::vector<std::string> pairs = {"client-ip=" + quoted(ip) + ";",
                                    "envelope-from=" + quoted(envelope.mail_from) + ";",
                                    "helo=" + quoted(envelope.helo) + ";",
                                    "receiver=" + quoted(receiver) + ";",
                                    std::string("identity=") + (o.identity == "helo" ? "helo" : "mailfrom") + ";"};
  parts.insert(parts.end(), pairs.begin(), pairs.end());
  if (!o.mechanism.empty()) parts.push_back("mechanism=" + quoted(o.mechanism) + ";");
  if (!o.problem.empty()) parts.push_back("problem=" + quoted(printable(o.problem, 200)) + ";");
  parts.back().pop_back();  // no ';' after the last pair
  // Folded between the parts (RFC 5322 §2.2.3) so that no line passes 78 octets where a part
  // allows it; every part is far below 998.
  std::string h = "Received-SPF:";
  size_t line = h.size();
  for (const std::string& part : parts) {
    if (line + 1 + part.size() > 78 && line > 20) {
      h += "\r\n\t";
      line = 1;
    } else {
      h += ' ';
      ++line;
    }
    h += part;
    line += part.size();
  }
  return h + "\r\n";
}

}  // namespace tsubame::smtp
