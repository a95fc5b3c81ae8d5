// smtpd/spf/spf.cc: RFC 7208 check_host(): record selection, the record parser, macro
// expansion and the evaluator (see spf.h).
// Failure: nothing throws on any input; a record that does not parse is a permerror, a DNS
// failure a temperror (RFC 7208 §2.6), a broken limit whatever §4.6.4 says it is.
#include "smtpd/spf/spf.h"

#include <arpa/inet.h>
#include <netinet/in.h>

#include <algorithm>
#include <ctime>
#include <map>
#include <utility>

namespace tsubame::smtp::spf {
namespace {

// Only ASCII is ever classified here (records are 7-bit, RFC 7208 §3.1), so no locale.
bool is_alpha(char c) { return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z'); }
bool is_digit(char c) { return c >= '0' && c <= '9'; }
bool is_alnum(char c) { return is_alpha(c) || is_digit(c); }
char lower_char(char c) { return (c >= 'A' && c <= 'Z') ? char(c - 'A' + 'a') : c; }

std::string lower(std::string_view s) {
  std::string out(s);
  for (char& c : out) c = lower_char(c);
  return out;
}

bool iequals(std::string_view a, std::string_view b) {
  if (a.size() != b.size()) return false;
  for (size_t i = 0; i < a.size(); ++i)
    if (lower_char(a[i]) != lower_char(b[i])) return false;
  return true;
}

std::string_view strip_dot(std::string_view s) {
  if (!s.empty() && s.back() == '.') s.remove_suffix(1);
  return s;
}

// name == parent, or name ends with "." + parent (case-insensitive).
bool same_or_subdomain(std::string_view name, std::string_view parent) {
  name = strip_dot(name);
  parent = strip_dot(parent);
  if (parent.empty() || name.size() < parent.size()) return false;
  if (!iequals(name.substr(name.size() - parent.size()), parent)) return false;
  return name.size() == parent.size() || name[name.size() - parent.size() - 1] == '.';
}

// RFC 7208 §4.3: the <domain> of the identity must be a fully qualified, multi-label domain
// name; a malformed one is "none". Labels are letters, digits, '-' and '_' (RFC 1035 host
// names, plus the underscore that SRV-style names use), 1..63 octets, the whole at most 253
// octets without the root dot; a numeric top label is an address, not a domain.
bool valid_identity_domain(std::string_view d) {
  d = strip_dot(d);
  if (d.empty() || d.size() > 253) return false;
  size_t labels = 0;
  std::string_view last;
  while (true) {
    size_t dot = d.find('.');
    std::string_view label = d.substr(0, dot);
    if (label.empty() || label.size() > 63) return false;
    for (char c : label)
      if (!is_alnum(c) && c != '-' && c != '_') return false;
    ++labels;
    last = label;
    if (dot == std::string_view::npos) break;
    d.remove_prefix(dot + 1);
  }
  if (labels < 2) return false;
  return !std::all_of(last.begin(), last.end(), is_digit);
}

// A name to query, from an expanded domain-spec or a DNS answer: one trailing dot dropped,
// §7.3 truncation (labels removed from the left until at most 253 octets), then RFC 1035's
// shape (no empty label, none over 63). nullopt = not a name that can be asked for; the
// caller treats it as "does not exist" (RFC 7208 §4.3 by analogy; the RFC leaves it open).
std::optional<std::string> query_name(std::string_view s) {
  s = strip_dot(s);
  while (s.size() > 253) {
    size_t dot = s.find('.');
    if (dot == std::string_view::npos) return std::nullopt;
    s.remove_prefix(dot + 1);
  }
  if (s.empty()) return std::nullopt;
  std::string_view rest = s;
  while (true) {
    size_t dot = rest.find('.');
    std::string_view label = rest.substr(0, dot);
    if (label.empty() || label.size() > 63) return std::nullopt;
    if (dot == std::string_view::npos) break;
    rest.remove_prefix(dot + 1);
  }
  return std::string(s);
}

// ---- macros (RFC 7208 §7) -------------------------------------------------------------

bool is_delimiter(char c) {
  return c == '.' || c == '-' || c == '+' || c == ',' || c == '/' || c == '_' || c == '=';
}

// RFC 3986 §2.3 unreserved characters stay, everything else becomes %XX (§7.3: an upper-case
// macro letter URL-escapes its expansion).
std::string url_escape(std::string_view s) {
  static constexpr char kHex[] = "0123456789ABCDEF";
  std::string out;
  for (char c : s) {
    if (is_alnum(c) || c == '-' || c == '.' || c == '_' || c == '~') {
      out += c;
    } else {
      auto u = static_cast<unsigned char>(c);
      out += '%';
      out += kHex[u >> 4];
      out += kHex[u & 0x0f];
    }
  }
  return out;
}

// %{i}: dotted quad for IPv4; for IPv6 the 32 nibbles, dot-separated (§7.3).
std::string ip_macro(const Ip& ip) {
  if (ip.is_v4())
    return std::to_string(ip.bytes[0]) + "." + std::to_string(ip.bytes[1]) + "." +
           std::to_string(ip.bytes[2]) + "." + std::to_string(ip.bytes[3]);
  static constexpr char kHex[] = "0123456789abcdef";
  std::string out;
  for (uint8_t b : ip.bytes) {
    if (!out.empty()) out += '.';
    out += kHex[b >> 4];
    out += '.';
    out += kHex[b & 0x0f];
  }
  return out;
}

// §7.3 transformers: split on the delimiters (default "."), reverse if asked, keep the
// rightmost `keep` parts (0 = all), join with ".".
std::string transform(std::string_view value, std::string_view delimiters, bool reverse, size_t keep) {
  if (delimiters.empty()) delimiters = ".";
  std::vector<std::string_view> parts;
  size_t start = 0;
  for (size_t i = 0; i <= value.size(); ++i) {
    if (i == value.size() || delimiters.find(value[i]) != std::string_view::npos) {
      parts.push_back(value.substr(start, i - start));
      start = i + 1;
    }
  }
  if (reverse) std::reverse(parts.begin(), parts.end());
  size_t first = keep != 0 && keep < parts.size() ? parts.size() - keep : 0;
  std::string out;
  for (size_t i = first; i < parts.size(); ++i) {
    if (i != first) out += '.';
    out += parts[i];
  }
  return out;
}

// Scans (and, with vars, expands) a macro-string. Returns false on a syntax error.
// *ends_with_macro tells whether the last token was a macro-expand (domain-end, §7.1).
bool scan_macros(std::string_view text, const MacroVars* vars, MacroUse use, std::string* out,
                 bool* ends_with_macro) {
  bool last_macro = false;
  size_t i = 0;
  while (i < text.size()) {
    if (out && out->size() > kMaxExpansionBytes) return false;
    char c = text[i];
    if (c != '%') {
      // macro-literal = %x21-24 / %x26-7E; explain-string also allows SP.
      auto u = static_cast<unsigned char>(c);
      if (!(u >= 0x21 && u <= 0x7e) && !(c == ' ' && use == MacroUse::kExplanation)) return false;
      if (out) *out += c;
      last_macro = false;
      ++i;
      continue;
    }
    if (i + 1 >= text.size()) return false;  // §7.1: a lone '%' is a syntax error
    char next = text[i + 1];
    if (next == '%' || next == '_' || next == '-') {
      if (out) *out += next == '%' ? "%" : next == '_' ? " " : "%20";
      last_macro = true;
      i += 2;
    } else if (next == '{') {
      size_t j = i + 2;
      if (j >= text.size()) return false;
      char letter = text[j++];
      bool escape = letter >= 'A' && letter <= 'Z';
      char l = lower_char(letter);
      bool exp_only = l == 'c' || l == 'r' || l == 't';  // §7.2: only in explanations
      if (std::string_view("slodiphvcrt").find(l) == std::string_view::npos) return false;
      if (exp_only && use != MacroUse::kExplanation) return false;
      size_t keep = 0;
      bool digits = false;
      while (j < text.size() && is_digit(text[j])) {
        keep = std::min<size_t>(keep * 10 + size_t(text[j] - '0'), 1000);  // saturates
        digits = true;
        ++j;
      }
      if (digits && keep == 0) return false;  // §7.3: the DIGIT transformer is nonzero
      bool reverse = false;
      if (j < text.size() && (text[j] == 'r' || text[j] == 'R')) {
        reverse = true;
        ++j;
      }
      size_t delim_start = j;
      while (j < text.size() && is_delimiter(text[j])) ++j;
      std::string_view delimiters = text.substr(delim_start, j - delim_start);
      if (j >= text.size() || text[j] != '}') return false;
      i = j + 1;
      last_macro = true;
      if (out && vars) {
        std::string value;
        switch (l) {
          case 's': value = vars->sender; break;
          case 'l': value = vars->local_part; break;
          case 'o': value = vars->sender_domain; break;
          case 'd': value = vars->domain; break;
          case 'i': value = ip_macro(vars->ip); break;
          case 'p': value = vars->ptr_name.empty() ? "unknown" : vars->ptr_name; break;
          case 'h': value = vars->helo; break;
          case 'v': value = vars->ip.is_v4() ? "in-addr" : "ip6"; break;
          case 'c': value = vars->ip.to_string(); break;
          case 'r': value = vars->receiver.empty() ? "unknown" : vars->receiver; break;
          case 't': value = std::to_string(vars->timestamp); break;
          default: return false;
        }
        std::string part = transform(value, delimiters, reverse, keep);
        *out += escape ? url_escape(part) : part;
      }
    } else {
      return false;
    }
  }
  if (out && out->size() > kMaxExpansionBytes) return false;
  if (ends_with_macro) *ends_with_macro = last_macro;
  return true;
}

bool uses_p_macro(std::string_view text) {
  for (size_t i = 0; i + 2 < text.size(); ++i) {
    if (text[i] != '%') continue;
    if (text[i + 1] == '{' && lower_char(text[i + 2]) == 'p') return true;
    ++i;  // "%%", "%_", "%-": the next character is taken
  }
  return false;
}

// §7.1 toplabel = ( *alphanum ALPHA *alphanum ) / ( 1*alphanum "-" *( alphanum / "-" ) alphanum )
bool valid_toplabel(std::string_view s) {
  if (s.empty() || !is_alnum(s.front()) || !is_alnum(s.back())) return false;
  bool alpha = false, hyphen = false;
  for (char c : s) {
    if (c == '-') hyphen = true;
    else if (is_alpha(c)) alpha = true;
    else if (!is_digit(c)) return false;
  }
  return alpha || hyphen;
}

// §7.1 domain-spec = macro-string domain-end; domain-end = ( "." toplabel [ "." ] ) / macro-expand
std::optional<std::string> check_domain_spec(std::string_view spec) {
  if (spec.empty()) return "empty domain-spec";
  bool ends_with_macro = false;
  if (!scan_macros(spec, nullptr, MacroUse::kDomainSpec, nullptr, &ends_with_macro))
    return "bad macro in \"" + std::string(spec) + "\"";
  if (ends_with_macro) return std::nullopt;
  std::string_view t = strip_dot(spec);
  size_t dot = t.rfind('.');
  if (dot == std::string_view::npos || !valid_toplabel(t.substr(dot + 1)))
    return "\"" + std::string(spec) + "\" does not end in a top label or a macro";
  return std::nullopt;
}

// ---- the record (RFC 7208 §4.6, §5, §6) ----------------------------------------------

enum class Mech : uint8_t { kAll, kInclude, kA, kMx, kPtr, kIp4, kIp6, kExists };

struct Term {
  Result result = Result::kPass;  // of the qualifier (§4.6.2)
  Mech mech = Mech::kAll;
  std::string text;               // as written, for Outcome::mechanism and problems
  std::string domain_spec;        // "" = <domain>
  unsigned cidr4 = 32;
  unsigned cidr6 = 128;
  Ip network;                     // ip4 / ip6
};

struct Record {
  std::vector<Term> terms;
  std::optional<std::string> redirect;  // domain-spec
  std::optional<std::string> exp;       // domain-spec
};

// ip4-cidr-length = "/" ("0" / %x31-39 0*1DIGIT); ip6-cidr-length likewise up to 3 digits:
// no leading zeros, value at most `max`.
bool parse_cidr(std::string_view digits, unsigned max, unsigned* out) {
  if (digits.empty() || digits.size() > 3) return false;
  if (digits.size() > 1 && digits[0] == '0') return false;
  unsigned v = 0;
  for (char c : digits) {
    if (!is_digit(c)) return false;
    v = v * 10 + unsigned(c - '0');
  }
  if (v > max) return false;
  *out = v;
  return true;
}

// Where a trailing dual-cidr-length ("/24", "//64", "/24//64") starts in s (s.size() if none).
size_t dual_cidr_start(std::string_view s) {
  auto digits_start = [&](size_t end) {
    size_t k = end;
    while (k > 0 && is_digit(s[k - 1])) --k;
    return k;
  };
  size_t split = s.size();
  size_t k = digits_start(split);
  if (k < split && k >= 2 && s[k - 1] == '/' && s[k - 2] == '/') {
    split = k - 2;
    k = digits_start(split);
  }
  if (k < split && k >= 1 && s[k - 1] == '/') split = k - 1;
  return split;
}

bool parse_dual_cidr(std::string_view c, Term* t) {
  if (c.empty()) return true;
  if (c.substr(0, 2) == "//") return parse_cidr(c.substr(2), 128, &t->cidr6);
  if (c.front() != '/') return false;
  c.remove_prefix(1);
  size_t dd = c.find("//");
  if (dd == std::string_view::npos) return parse_cidr(c, 32, &t->cidr4);
  return parse_cidr(c.substr(0, dd), 32, &t->cidr4) && parse_cidr(c.substr(dd + 2), 128, &t->cidr6);
}

std::optional<std::string> parse_directive(std::string_view term, Term* t) {
  t->text = std::string(term);
  std::string_view rest = term;
  switch (rest.front()) {  // §4.6.2 qualifier, default "+"
    case '+': t->result = Result::kPass; rest.remove_prefix(1); break;
    case '-': t->result = Result::kFail; rest.remove_prefix(1); break;
    case '~': t->result = Result::kSoftFail; rest.remove_prefix(1); break;
    case '?': t->result = Result::kNeutral; rest.remove_prefix(1); break;
    default: t->result = Result::kPass; break;
  }
  size_t name_end = rest.find_first_of(":/");
  std::string_view name = rest.substr(0, name_end);
  std::string_view arg = name_end == std::string_view::npos ? std::string_view() : rest.substr(name_end);
  auto bad = [&](std::string_view why) {
    std::string out = "\"";  // appended piecewise: gcc 12 warns (-Wrestrict) on "x" + string&&
    out.append(term).append("\": ").append(why);
    return out;
  };

  if (iequals(name, "all")) {  // §5.1
    t->mech = Mech::kAll;
    if (!arg.empty()) return bad("\"all\" takes no argument");
    return std::nullopt;
  }
  if (iequals(name, "include") || iequals(name, "exists")) {  // §5.2, §5.7: ":" domain-spec
    t->mech = iequals(name, "include") ? Mech::kInclude : Mech::kExists;
    if (arg.empty() || arg.front() != ':') return bad("needs \":domain\"");
    t->domain_spec = std::string(arg.substr(1));
    if (auto err = check_domain_spec(t->domain_spec)) return bad(*err);
    return std::nullopt;
  }
  if (iequals(name, "ptr")) {  // §5.5: [ ":" domain-spec ], no CIDR
    t->mech = Mech::kPtr;
    if (arg.empty()) return std::nullopt;
    if (arg.front() != ':') return bad("bad argument");
    t->domain_spec = std::string(arg.substr(1));
    if (auto err = check_domain_spec(t->domain_spec)) return bad(*err);
    return std::nullopt;
  }
  if (iequals(name, "a") || iequals(name, "mx")) {  // §5.3, §5.4: [ ":" domain-spec ] [ dual-cidr-length ]
    t->mech = iequals(name, "a") ? Mech::kA : Mech::kMx;
    std::string_view cidr = arg;
    if (!arg.empty() && arg.front() == ':') {
      std::string_view spec = arg.substr(1);
      size_t split = dual_cidr_start(spec);
      cidr = spec.substr(split);
      t->domain_spec = std::string(spec.substr(0, split));
      if (auto err = check_domain_spec(t->domain_spec)) return bad(*err);
    } else if (!arg.empty() && dual_cidr_start(arg) != 0) {
      return bad("bad CIDR length");
    }
    if (!parse_dual_cidr(cidr, t)) return bad("bad CIDR length");
    return std::nullopt;
  }
  if (iequals(name, "ip4") || iequals(name, "ip6")) {  // §5.6: ":" network [ "/" length ]
    bool v4 = iequals(name, "ip4");
    t->mech = v4 ? Mech::kIp4 : Mech::kIp6;
    if (arg.empty() || arg.front() != ':') return bad("needs \":address\"");
    std::string_view value = arg.substr(1);
    size_t slash = value.find('/');
    auto net = v4 ? Ip::parse_v4(value.substr(0, slash)) : Ip::parse_v6(value.substr(0, slash));
    if (!net) return bad(v4 ? "bad IPv4 address" : "bad IPv6 address");
    t->network = *net;
    if (slash != std::string_view::npos &&
        !parse_cidr(value.substr(slash + 1), v4 ? 32 : 128, v4 ? &t->cidr4 : &t->cidr6))
      return bad("bad CIDR length");
    return std::nullopt;
  }
  return bad("unknown mechanism");
}

// The whole record is checked before anything is evaluated (§4.6: "if there are any syntax
// errors anywhere in the record, check_host() returns immediately with permerror").
std::optional<std::string> parse_record(std::string_view text, Record* rec) {
  if (text.size() > kMaxRecordBytes)
    return "record longer than " + std::to_string(kMaxRecordBytes) + " octets";
  for (char c : text) {
    auto u = static_cast<unsigned char>(c);
    if (u < 0x20 || u > 0x7e) return "record is not printable 7-bit ASCII (RFC 7208 §3.1)";
  }
  text.remove_prefix(6);  // "v=spf1", checked by the caller
  while (!text.empty()) {
    size_t sp = text.find(' ');
    std::string_view term = text.substr(0, sp);
    text = sp == std::string_view::npos ? std::string_view() : text.substr(sp + 1);
    if (term.empty()) continue;  // 1*SP between terms; trailing spaces
    // §4.6.1: a modifier is name "=" ... with name = ALPHA *( ALPHA / DIGIT / "-" / "_" / "." )
    size_t n = 0;
    if (is_alpha(term[0])) {
      n = 1;
      while (n < term.size() && (is_alnum(term[n]) || term[n] == '-' || term[n] == '_' || term[n] == '.')) ++n;
    }
    if (n > 0 && n < term.size() && term[n] == '=') {
      std::string_view name = term.substr(0, n);
      std::string_view value = term.substr(n + 1);
      bool redirect = iequals(name, "redirect");
      if (redirect || iequals(name, "exp")) {  // §6.1, §6.2
        std::optional<std::string>& slot = redirect ? rec->redirect : rec->exp;
        if (slot) return "\"" + std::string(name) + "=\" appears twice (RFC 7208 §6)";
        if (auto err = check_domain_spec(value)) return "\"" + std::string(term) + "\": " + *err;
        slot = std::string(value);
      } else if (!scan_macros(value, nullptr, MacroUse::kExplanation, nullptr, nullptr)) {
        // §6: unknown modifiers are ignored, but their macro-string must still parse (any
        // macro letter: they are never expanded). Terms hold no spaces, so none slip in.
        return "\"" + std::string(term) + "\": bad macro";
      }
      continue;
    }
    Term t;
    if (auto err = parse_directive(term, &t)) return err;
    rec->terms.push_back(std::move(t));
  }
  return std::nullopt;
}

// §4.5: "v=spf1" (case-insensitive) followed by a space or the end of the record.
bool is_spf1(std::string_view record) {
  return record.size() >= 6 && iequals(record.substr(0, 6), "v=spf1") &&
         (record.size() == 6 || record[6] == ' ');
}

bool is_void(DnsStatus status, size_t count) {
  return status == DnsStatus::kNxDomain || status == DnsStatus::kNoData ||
         (status == DnsStatus::kOk && count == 0);
}

// ---- the evaluator ------------------------------------------------------------------

struct HostResult {
  Result result = Result::kNone;
  std::string mechanism;
  std::string problem;
  std::string explanation;
};

// One check(): the counters of §4.6.4 live here, shared by every include and redirect.
// The first temperror/permerror is kept in fatal_; it ends the whole evaluation (include
// and redirect pass both errors up unchanged, §5.2 and §6.1).
class Evaluator {
 public:
  Evaluator(Dns& dns, const Limits& limits, MacroVars vars)
      : dns_(dns), limits_(limits), vars_(std::move(vars)), start_(std::chrono::steady_clock::now()) {}

  HostResult check_host(const std::string& domain, int depth);

 private:
  enum class Match : uint8_t { kNo, kYes, kError };

  Match fail(Result result, std::string why) {
    if (!fatal_) fatal_ = HostResult{result, "", std::move(why), ""};
    return Match::kError;
  }
  const HostResult& fatal() const { return *fatal_; }

  // Every DNS query passes here: our bounds on count and time. Quiet = for exp= and %{p}
  // in exp text, whose failures are silently ignored (§6.2), so they never end the check.
  bool take_query(bool quiet) {
    if (fatal_) return false;
    if (std::chrono::steady_clock::now() - start_ > limits_.max_time) {
      if (!quiet)
        fail(Result::kTempError, "SPF evaluation took longer than " +
                                     std::to_string(limits_.max_time.count()) + " ms (RFC 7208 §4.6.4)");
      return false;
    }
    if (lookups_ >= limits_.max_lookups) {
      if (!quiet) fail(Result::kPermError, "more than " + std::to_string(limits_.max_lookups) + " DNS queries");
      return false;
    }
    ++lookups_;
    return true;
  }
  TxtAnswer q_txt(const std::string& name, bool quiet) { return take_query(quiet) ? dns_.txt(name) : TxtAnswer{}; }
  AddrAnswer q_addr(const std::string& name, bool quiet) {
    if (!take_query(quiet)) return AddrAnswer{};
    return vars_.ip.is_v4() ? dns_.a(name) : dns_.aaaa(name);
  }

  // §4.6.4: include, a, mx, ptr, exists and redirect count; more than max_dns_terms is permerror.
  bool count_term(const std::string& text) {
    if (++terms_ <= limits_.max_dns_terms) return true;
    fail(Result::kPermError, "\"" + text + "\": more than " + std::to_string(limits_.max_dns_terms) +
                                 " DNS-querying terms (RFC 7208 §4.6.4)");
    return false;
  }
  // §4.6.4: a term whose lookup answers NXDOMAIN or no records is a void lookup.
  bool count_void(const std::string& text) {
    if (++voids_ <= limits_.max_void_lookups) return true;
    fail(Result::kPermError, "\"" + text + "\": more than " + std::to_string(limits_.max_void_lookups) +
                                 " void DNS lookups (RFC 7208 §4.6.4)");
    return false;
  }

  // The target-name of a term (§4.8): its expanded domain-spec, or <domain>.
  std::optional<std::string> target(const std::string& spec, const std::string& domain, bool quiet) {
    if (spec.empty()) return domain;
    MacroVars v = vars_;
    v.domain = domain;
    if (uses_p_macro(spec)) v.ptr_name = ptr_macro(domain, quiet);
    auto expanded = expand_macros(spec, v, MacroUse::kDomainSpec);
    if (!expanded) return std::nullopt;
    return query_name(*expanded);
  }

  Match eval(const Term& t, const std::string& domain, int depth);
  Match match_addresses(const std::string& name, const Term& t, bool void_counts);
  std::string explain(const std::string& spec, const std::string& domain);

  // PTR names of the client (first max_ptr_names), asked once per check.
  const NameAnswer& ptr_answer(bool quiet);
  // True if one of name's A/AAAA records (the client's family) is the client; a DNS error
  // means false (§5.5: that name is skipped). Cached per name.
  bool validated(const std::string& name, bool quiet);
  // %{p} (§7.3): <domain> if validated, else a validated subdomain of it, else any
  // validated name, else "unknown".
  std::string ptr_macro(const std::string& domain, bool quiet);

  Dns& dns_;
  const Limits& limits_;
  const MacroVars vars_;
  const std::chrono::steady_clock::time_point start_;
  int terms_ = 0;
  int voids_ = 0;
  int lookups_ = 0;
  std::optional<HostResult> fatal_;
  std::optional<NameAnswer> ptr_;
  std::map<std::string, bool, std::less<>> validated_;
};

const NameAnswer& Evaluator::ptr_answer(bool quiet) {
  static const NameAnswer kFailed{};
  if (ptr_) return *ptr_;
  if (!take_query(quiet)) return kFailed;
  NameAnswer ans = dns_.ptr(vars_.ip);
  // §4.6.4: only the first max_ptr_names PTR records are considered; the rest are ignored.
  if (ans.names.size() > size_t(std::max(limits_.max_ptr_names, 0))) ans.names.resize(size_t(std::max(limits_.max_ptr_names, 0)));
  for (auto& n : ans.names) n = lower(strip_dot(n));
  if (ans.status == DnsStatus::kOk && ans.names.empty()) ans.status = DnsStatus::kNoData;
  ptr_ = std::move(ans);
  return *ptr_;
}

bool Evaluator::validated(const std::string& name, bool quiet) {
  if (auto it = validated_.find(name); it != validated_.end()) return it->second;
  auto qname = query_name(name);
  if (!qname) return false;
  if (!take_query(quiet)) return false;  // not cached: the budget ran out, not the DNS
  AddrAnswer ans = vars_.ip.is_v4() ? dns_.a(*qname) : dns_.aaaa(*qname);
  bool ok = ans.status == DnsStatus::kOk &&
            std::find(ans.addrs.begin(), ans.addrs.end(), vars_.ip) != ans.addrs.end();
  validated_.emplace(name, ok);
  return ok;
}

std::string Evaluator::ptr_macro(const std::string& domain, bool quiet) {
  const NameAnswer& ans = ptr_answer(quiet);
  if (ans.status != DnsStatus::kOk) return "unknown";
  std::vector<std::string> good;
  for (const auto& n : ans.names)
    if (validated(n, quiet)) good.push_back(n);
  if (good.empty()) return "unknown";
  for (const auto& n : good)
    if (iequals(n, domain)) return n;
  for (const auto& n : good)
    if (same_or_subdomain(n, domain)) return n;
  return good.front();
}

Evaluator::Match Evaluator::match_addresses(const std::string& name, const Term& t, bool void_counts) {
  AddrAnswer ans = q_addr(name, false);
  if (fatal_) return Match::kError;
  if (ans.status == DnsStatus::kTempFail)  // §5: a DNS error in a mechanism is temperror
    return fail(Result::kTempError, "\"" + t.text + "\": " + (vars_.ip.is_v4() ? "A" : "AAAA") +
                                        " lookup of " + name + " failed");
  if (is_void(ans.status, ans.addrs.size())) {
    if (void_counts && !count_void(t.text)) return Match::kError;
    return Match::kNo;
  }
  unsigned prefix = vars_.ip.is_v4() ? t.cidr4 : t.cidr6;
  for (const Ip& addr : ans.addrs)
    if (vars_.ip.in_network(addr, prefix)) return Match::kYes;
  return Match::kNo;
}

Evaluator::Match Evaluator::eval(const Term& t, const std::string& domain, int depth) {
  const Ip& ip = vars_.ip;
  switch (t.mech) {
    case Mech::kAll:  // §5.1
      return Match::kYes;
    case Mech::kIp4:  // §5.6: an IPv4 client (mapped ones included) against ip4 only
      return ip.is_v4() && ip.in_network(t.network, t.cidr4) ? Match::kYes : Match::kNo;
    case Mech::kIp6:
      return !ip.is_v4() && ip.in_network(t.network, t.cidr6) ? Match::kYes : Match::kNo;
    case Mech::kA: {  // §5.3
      if (!count_term(t.text)) return Match::kError;
      auto name = target(t.domain_spec, domain, false);
      if (fatal_) return Match::kError;
      if (!name) return Match::kNo;  // not a usable name: nothing can match
      return match_addresses(*name, t, true);
    }
    case Mech::kMx: {  // §5.4
      if (!count_term(t.text)) return Match::kError;
      auto name = target(t.domain_spec, domain, false);
      if (fatal_) return Match::kError;
      if (!name) return Match::kNo;
      if (!take_query(false)) return Match::kError;
      NameAnswer mx = dns_.mx(*name);
      if (mx.status == DnsStatus::kTempFail)
        return fail(Result::kTempError, "\"" + t.text + "\": MX lookup of " + *name + " failed");
      std::vector<std::string> hosts;
      for (const auto& h : mx.names)
        if (!strip_dot(h).empty()) hosts.push_back(std::string(strip_dot(h)));  // "" = null MX (RFC 7505)
      if (is_void(mx.status, mx.names.size())) {
        if (!count_void(t.text)) return Match::kError;
        return Match::kNo;
      }
      // §4.6.4: more than 10 exchanges would mean more than 10 address lookups: permerror.
      if (hosts.size() > size_t(std::max(limits_.max_mx_names, 0)))
        return fail(Result::kPermError, "\"" + t.text + "\": " + *name + " has " + std::to_string(hosts.size()) +
                                            " MX records, more than " + std::to_string(limits_.max_mx_names) +
                                            " (RFC 7208 §4.6.4)");
      for (const auto& h : hosts) {
        auto host = query_name(h);
        if (!host) continue;
        Match m = match_addresses(*host, t, false);
        if (m != Match::kNo) return m;
      }
      return Match::kNo;
    }
    case Mech::kPtr: {  // §5.5
      if (!count_term(t.text)) return Match::kError;
      auto name = target(t.domain_spec, domain, false);
      if (fatal_) return Match::kError;
      if (!name) return Match::kNo;
      const NameAnswer& ans = ptr_answer(false);
      if (fatal_) return Match::kError;
      if (ans.status == DnsStatus::kTempFail) return Match::kNo;  // §5.5: a DNS error: no match
      if (is_void(ans.status, ans.names.size())) {
        if (!count_void(t.text)) return Match::kError;
        return Match::kNo;
      }
      // Only names at or under the target can make it match, so only those are validated.
      for (const auto& n : ans.names) {
        if (!same_or_subdomain(n, *name)) continue;
        if (validated(n, false)) return Match::kYes;
        if (fatal_) return Match::kError;
      }
      return Match::kNo;
    }
    case Mech::kExists: {  // §5.7: an A query whatever the client's family
      if (!count_term(t.text)) return Match::kError;
      auto name = target(t.domain_spec, domain, false);
      if (fatal_) return Match::kError;
      if (!name) return Match::kNo;
      if (!take_query(false)) return Match::kError;
      AddrAnswer ans = dns_.a(*name);
      if (ans.status == DnsStatus::kTempFail)
        return fail(Result::kTempError, "\"" + t.text + "\": A lookup of " + *name + " failed");
      if (is_void(ans.status, ans.addrs.size())) {
        if (!count_void(t.text)) return Match::kError;
        return Match::kNo;
      }
      return Match::kYes;
    }
    case Mech::kInclude: {  // §5.2
      if (!count_term(t.text)) return Match::kError;
      auto name = target(t.domain_spec, domain, false);
      if (fatal_) return Match::kError;
      if (!name || name->find('.') == std::string::npos)
        return fail(Result::kPermError, "\"" + t.text + "\": target is not a domain name");
      if (depth + 1 > kMaxDepth) return fail(Result::kPermError, "\"" + t.text + "\": nested too deeply");
      HostResult inner = check_host(*name, depth + 1);
      if (fatal_) return Match::kError;  // temperror / permerror pass through (§5.2 table)
      switch (inner.result) {
        case Result::kPass: return Match::kYes;
        case Result::kFail:
        case Result::kSoftFail:
        case Result::kNeutral: return Match::kNo;
        case Result::kNone:
          return fail(Result::kPermError, "\"" + t.text + "\": " + *name + " has no SPF record (RFC 7208 §5.2)");
        case Result::kTempError:
        case Result::kPermError: break;
      }
      return fail(Result::kPermError, "\"" + t.text + "\": failed");
    }
  }
  return Match::kNo;
}

// §6.2: the explanation for a fail. Any trouble (a bad name, a DNS error, not exactly one
// TXT record, bad macro syntax, non-ASCII text) means no explanation, never an error; these
// lookups count against neither the term nor the void limit.
std::string Evaluator::explain(const std::string& spec, const std::string& domain) {
  auto name = target(spec, domain, true);
  if (!name || fatal_) return "";
  TxtAnswer ans = q_txt(*name, true);
  if (ans.status != DnsStatus::kOk || ans.records.size() != 1) return "";
  const std::string& text = ans.records.front();
  if (text.size() > kMaxRecordBytes) return "";
  MacroVars v = vars_;
  v.domain = domain;
  if (uses_p_macro(text)) v.ptr_name = ptr_macro(domain, true);
  auto out = expand_macros(text, v, MacroUse::kExplanation);
  if (!out) return "";
  for (char c : *out) {
    auto u = static_cast<unsigned char>(c);
    if (u < 0x20 || u > 0x7e) return "";
  }
  if (out->size() > kMaxExplanation) out->resize(kMaxExplanation);
  return *out;
}

HostResult Evaluator::check_host(const std::string& domain, int depth) {
  // §4.4: TXT only; a DNS error is temperror, a missing domain or no TXT at all is none.
  TxtAnswer txt = q_txt(domain, false);
  if (fatal_) return fatal();
  if (txt.status == DnsStatus::kTempFail) {
    fail(Result::kTempError, "TXT lookup of " + domain + " failed");
    return fatal();
  }
  if (is_void(txt.status, txt.records.size()))
    return HostResult{};  // none
  // §4.5: exactly one record that starts with "v=spf1".
  const std::string* record = nullptr;
  size_t records = 0;
  for (const auto& r : txt.records) {
    if (!is_spf1(r)) continue;
    ++records;
    record = &r;
  }
  if (records == 0) return HostResult{};  // none
  if (records > 1) {
    fail(Result::kPermError, domain + ": " + std::to_string(records) + " v=spf1 records (RFC 7208 §4.5)");
    return fatal();
  }
  Record rec;
  if (auto err = parse_record(*record, &rec)) {
    fail(Result::kPermError, domain + ": " + *err);
    return fatal();
  }
  // §4.6.2: mechanisms left to right; the first match decides.
  for (const Term& t : rec.terms) {
    Match m = eval(t, domain, depth);
    if (m == Match::kError) return fatal();
    if (m == Match::kNo) continue;
    HostResult r{t.result, t.text, "", ""};
    if (r.result == Result::kFail && rec.exp) r.explanation = explain(*rec.exp, domain);
    return r;
  }
  // §6.1: redirect only when no mechanism matched ("all" always matches, so a record with
  // "all" never gets here). exp= of this record does not apply to the redirected result.
  if (rec.redirect) {
    std::string text = "redirect=" + *rec.redirect;
    if (!count_term(text)) return fatal();
    auto name = target(*rec.redirect, domain, false);
    if (fatal_) return fatal();
    if (!name || name->find('.') == std::string::npos) {
      fail(Result::kPermError, "\"" + text + "\": target is not a domain name (RFC 7208 §6.1)");
      return fatal();
    }
    if (depth + 1 > kMaxDepth) {
      fail(Result::kPermError, "\"" + text + "\": nested too deeply");
      return fatal();
    }
    HostResult inner = check_host(*name, depth + 1);
    if (fatal_) return fatal();
    if (inner.result == Result::kNone) {
      fail(Result::kPermError, "\"" + text + "\": " + *name + " has no SPF record (RFC 7208 §6.1)");
      return fatal();
    }
    return inner;
  }
  return HostResult{Result::kNeutral, "default", "", ""};  // §4.7
}

}  // namespace

std::string_view result_name(Result result) {
  switch (result) {
    case Result::kNone: return "none";
    case Result::kNeutral: return "neutral";
    case Result::kPass: return "pass";
    case Result::kFail: return "fail";
    case Result::kSoftFail: return "softfail";
    case Result::kTempError: return "temperror";
    case Result::kPermError: return "permerror";
  }
  return "none";
}

std::optional<Ip> Ip::parse_v4(std::string_view text) {
  Ip ip;
  ip.family = Family::kV4;
  for (int part = 0; part < 4; ++part) {
    if (part > 0) {
      if (text.empty() || text.front() != '.') return std::nullopt;
      text.remove_prefix(1);
    }
    size_t n = 0;
    unsigned v = 0;
    while (n < text.size() && n < 4 && is_digit(text[n])) v = v * 10 + unsigned(text[n++] - '0');
    // qnum (§5.6): 1 to 3 digits, no leading zero, at most 255.
    if (n == 0 || n > 3 || v > 255 || (n > 1 && text[0] == '0')) return std::nullopt;
    ip.bytes[size_t(part)] = uint8_t(v);
    text.remove_prefix(n);
  }
  if (!text.empty()) return std::nullopt;
  return ip;
}

std::optional<Ip> Ip::parse_v6(std::string_view text) {
  if (text.empty() || text.size() >= INET6_ADDRSTRLEN) return std::nullopt;
  std::string z(text);  // inet_pton wants a NUL-terminated string
  Ip ip;
  ip.family = Family::kV6;
  if (inet_pton(AF_INET6, z.c_str(), ip.bytes.data()) != 1) return std::nullopt;
  return ip;
}

std::optional<Ip> Ip::parse(std::string_view text) {
  if (text.find(':') == std::string_view::npos) return parse_v4(text);
  auto ip = parse_v6(text);
  if (!ip) return std::nullopt;
  // RFC 4291 §2.5.5.2 ::ffff:a.b.c.d is an IPv4 client (RFC 7208 §5).
  static constexpr uint8_t kMapped[12] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff};
  if (std::equal(kMapped, kMapped + 12, ip->bytes.begin())) {
    Ip v4;
    v4.family = Family::kV4;
    std::copy(ip->bytes.begin() + 12, ip->bytes.end(), v4.bytes.begin());
    return v4;
  }
  return ip;
}

std::string Ip::to_string() const {
  char buf[INET6_ADDRSTRLEN] = {};
  if (!inet_ntop(is_v4() ? AF_INET : AF_INET6, bytes.data(), buf, sizeof buf)) return "";
  return buf;
}

bool Ip::in_network(const Ip& network, unsigned prefix_bits) const {
  if (family != network.family) return false;
  unsigned bits = std::min<unsigned>(prefix_bits, unsigned(size() * 8));
  size_t full = bits / 8;
  if (!std::equal(bytes.begin(), bytes.begin() + long(full), network.bytes.begin())) return false;
  unsigned rest = bits % 8;
  if (rest == 0) return true;
  auto mask = uint8_t(0xff << (8 - rest));
  return (bytes[full] & mask) == (network.bytes[full] & mask);
}

std::optional<std::string> expand_macros(std::string_view text, const MacroVars& vars, MacroUse use) {
  std::string out;
  if (!scan_macros(text, &vars, use, &out, nullptr)) return std::nullopt;
  return out;
}

Outcome check(Dns& dns, const Request& req, const Limits& limits) {
  Outcome out;
  std::string local, domain;
  if (req.mail_from.empty()) {
    // §2.4: a null reverse-path is checked as postmaster@<HELO identity>.
    out.identity = "helo";
    local = "postmaster";
    domain = req.helo;
  } else {
    out.identity = "mailfrom";
    size_t at = req.mail_from.rfind('@');
    if (at == std::string::npos) {
      local = "postmaster";  // §4.3: no local-part; the whole path is the domain
      domain = req.mail_from;
    } else {
      local = at == 0 ? "postmaster" : req.mail_from.substr(0, at);  // §4.3 "@domain"
      domain = req.mail_from.substr(at + 1);
    }
  }
  domain = lower(strip_dot(domain));
  out.domain = domain.size() <= 253 ? domain : domain.substr(0, 253);

  if (req.mail_from.size() > kMaxInputBytes || req.helo.size() > kMaxInputBytes ||
      req.receiver.size() > kMaxInputBytes || req.ip.size() > kMaxInputBytes) {
    out.problem = "request field longer than " + std::to_string(kMaxInputBytes) + " octets";
    return out;
  }
  auto ip = Ip::parse(req.ip);
  if (!ip) {
    out.problem = "client address \"" + req.ip + "\" is not an IP address";
    return out;
  }
  if (!valid_identity_domain(domain)) return out;  // §4.3: malformed or single-label ▶ none

  MacroVars vars;
  vars.sender = local + "@" + domain;
  vars.local_part = local;
  vars.sender_domain = domain;
  vars.domain = domain;
  vars.helo = req.helo;
  vars.ip = *ip;
  vars.receiver = req.receiver;
  vars.timestamp = req.timestamp != 0 ? req.timestamp : int64_t(std::time(nullptr));

  Evaluator evaluator(dns, limits, std::move(vars));
  HostResult r = evaluator.check_host(domain, 0);
  out.result = r.result;
  out.mechanism = std::move(r.mechanism);
  out.problem = std::move(r.problem);
  if (r.result == Result::kFail) out.explanation = std::move(r.explanation);
  return out;
}

}  // namespace tsubame::smtp::spf
