// filter/policy.cc: policy decisions, sender forgery check and data-loss number checks.
// Pure functions (see policy.h for the order of decisions). No failure modes.
#include "filter/policy.h"

#include <algorithm>
#include <iterator>
#include <cctype>
#include <cstdio>
#include <tuple>

#include "common/bytes.h"

namespace tsubame::filter {

namespace {

std::string_view domain_of(std::string_view address) {
  size_t at = address.rfind('@');
  return at == std::string_view::npos ? std::string_view() : address.substr(at + 1);
}

std::string fmt(double v) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%.2f", v);
  return buf;
}

std::string mask(const std::string& digits) {
  std::string m = digits;
  for (size_t i = 0; i + 4 < m.size(); ++i) m[i] = '*';
  return m;
}

// Token after a keyword ("from", "by") at a word boundary in a Received value.
std::string word_after(std::string_view rcv, std::string_view kw, size_t* pos_out = nullptr) {
  std::string low = to_lower(rcv);
  size_t pos = received_keyword(low, kw);
  if (pos == std::string::npos) return {};
  size_t b = pos + kw.size();
  while (b < low.size() && std::isspace(static_cast<unsigned char>(low[b]))) ++b;
  size_t e = b;
  while (e < low.size() && !std::isspace(static_cast<unsigned char>(low[e])) && low[e] != '(' && low[e] != ';') ++e;
  if (pos_out) *pos_out = e;
  return low.substr(b, e - b);
}

bool host_trusted(std::string_view host, const std::vector<std::string>& trusted) {
  for (const auto& t : trusted)
    if (iequals(host, t)) return true;
  return false;
}

}  // namespace

const std::string* SenderList::match(std::string_view address) const {
  std::string addr = to_lower(trim(address));
  std::string_view dom = domain_of(addr);
  for (const auto& e : entries) {
    std::string entry = to_lower(trim(e));
    if (entry.empty()) continue;
    if (entry.find('@') != std::string::npos) {
      if (entry == addr) return &e;
    } else if (entry[0] == '.') {
      if (!dom.empty() && host_in_domain(dom, std::string_view(entry).substr(1))) return &e;
    } else if (dom == entry) {
      return &e;
    }
  }
  return nullptr;
}

bool luhn_valid(std::string_view digits) {
  if (digits.empty()) return false;
  int sum = 0;
  bool dbl = false;
  for (size_t i = digits.size(); i-- > 0;) {
    char c = digits[i];
    if (c < '0' || c > '9') return false;
    int d = c - '0';
    if (dbl) {
      d *= 2;
      if (d > 9) d -= 9;
    }
    sum += d;
    dbl = !dbl;
  }
  return sum % 10 == 0;
}

bool my_number_valid(std::string_view digits) {
  if (digits.size() != 12) return false;
  for (char c : digits)
    if (c < '0' || c > '9') return false;
  // P_n: n-th digit from the right excluding the check digit; Q_n = n+1 (n <= 6), n-5 (n >= 7).
  int sum = 0;
  for (int n = 1; n <= 11; ++n) {
    int p = digits[11 - n] - '0';
    int q = n <= 6 ? n + 1 : n - 5;
    sum += p * q;
  }
  int r = sum % 11;
  int check = r <= 1 ? 0 : 11 - r;
  return check == digits[11] - '0';
}

bool card_prefix_known(std::string_view d) {
  auto pre = [&](size_t n) {
    int v = 0;
    for (size_t k = 0; k < n && k < d.size(); ++k) v = v * 10 + (d[k] - '0');
    return d.size() >= n ? v : -1;
  };
  size_t len = d.size();
  if (len < 13 || len > 19) return false;
  if (d[0] == '4') return len == 13 || len == 16 || len == 19;                  // Visa
  int p2 = pre(2), p4 = pre(4), p3 = pre(3), p6 = pre(6);
  if ((p2 >= 51 && p2 <= 55) || (p4 >= 2221 && p4 <= 2720)) return len == 16;    // Mastercard
  if (p2 == 34 || p2 == 37) return len == 15;                                    // Amex
  if (p4 == 6011 || p2 == 65 || (p3 >= 644 && p3 <= 649) || (p6 >= 622126 && p6 <= 622925))
    return len >= 16 && len <= 19;                                               // Discover
  if (p4 >= 3528 && p4 <= 3589) return len >= 16 && len <= 19;                  // JCB
  if (p2 == 36 || p2 == 38 || p2 == 39 || (p3 >= 300 && p3 <= 305)) return len >= 14 && len <= 19;  // Diners
  if (p2 == 62) return len >= 16 && len <= 19;                                   // UnionPay
  return false;
}

std::vector<DlpMatch> find_sensitive_numbers(std::string_view text, const DlpOptions& opt) {
  std::vector<DlpMatch> out;
  if (!opt.enabled) return out;
  // A candidate is a maximal run of digits where single spaces or hyphens may separate
  // groups. Full-width digits U+FF10..U+FF19 (EF BC 90..99) count as digits.
  auto digit_at = [&](size_t i, size_t* len) -> int {
    unsigned char c = static_cast<unsigned char>(text[i]);
    if (c >= '0' && c <= '9') {
      *len = 1;
      return c - '0';
    }
    if (c == 0xEF && i + 2 < text.size() && static_cast<unsigned char>(text[i + 1]) == 0xBC) {
      unsigned char c2 = static_cast<unsigned char>(text[i + 2]);
      if (c2 >= 0x90 && c2 <= 0x99) {
        *len = 3;
        return c2 - 0x90;
      }
    }
    return -1;
  };
  // Group separators: space, hyphen, and their full-width / typographic forms
  // (U+FF0D, U+2010..U+2015, U+3000, U+2212). Returns the separator's length or 0.
  auto separator_at = [&](size_t i) -> size_t {
    unsigned char c = static_cast<unsigned char>(text[i]);
    if (c == ' ' || c == '-') return 1;
    if (i + 2 >= text.size()) return 0;
    unsigned char c1 = static_cast<unsigned char>(text[i + 1]);
    unsigned char c2 = static_cast<unsigned char>(text[i + 2]);
    if (c == 0xEF && c1 == 0xBC && c2 == 0x8D) return 3;                // U+FF0D
    if (c == 0xE2 && c1 == 0x80 && c2 >= 0x90 && c2 <= 0x95) return 3;  // U+2010..U+2015
    if (c == 0xE3 && c1 == 0x80 && c2 == 0x80) return 3;                // U+3000
    if (c == 0xE2 && c1 == 0x88 && c2 == 0x92) return 3;                // U+2212
    return 0;
  };
  auto is_word_byte = [&](size_t i) {
    unsigned char c = static_cast<unsigned char>(text[i]);
    return std::isalpha(c) != 0;
  };
  size_t i = 0;
  while (i < text.size() && out.size() < 64) {
    size_t len = 0;
    if (digit_at(i, &len) < 0) {
      ++i;
      continue;
    }
    // Runs glued to letters (order ids like "INV4111...") are not candidates.
    bool glued = i > 0 && is_word_byte(i - 1);
    std::string digits;
    size_t j = i;
    while (j < text.size() && digits.size() <= 20) {
      int d = digit_at(j, &len);
      if (d >= 0) {
        digits.push_back(static_cast<char>('0' + d));
        j += len;
        continue;
      }
      size_t sep = separator_at(j);
      if (sep > 0 && j + sep < text.size() && digit_at(j + sep, &len) >= 0) {
        j += sep;
        continue;
      }
      break;
    }
    if (j < text.size() && is_word_byte(j)) glued = true;
    if (!glued) {
      if (opt.payment_cards && digits.size() >= 13 && digits.size() <= 19 &&
          card_prefix_known(digits) && luhn_valid(digits)) {
        out.push_back({"payment-card", mask(digits)});
      } else if (opt.my_number && digits.size() == 12 && my_number_valid(digits)) {
        out.push_back({"my-number", mask(digits)});
      }
    }
    i = j > i ? j : i + 1;
  }
  return out;
}

std::string received_from_host(std::string_view received) {
  size_t end = 0;
  std::string helo = word_after(received, "from", &end);
  if (helo.empty()) return {};
  // RFC 5321 §4.4: From-domain = "FROM" FWS Extended-Domain, where Extended-Domain may be
  // "Domain FWS ( TCP-info )" and TCP-info names what the receiving host saw.
  std::string low = to_lower(received);
  size_t p = end;
  while (p < low.size() && std::isspace(static_cast<unsigned char>(low[p]))) ++p;
  if (p < low.size() && low[p] == '(') {
    size_t b = p + 1, e = b;
    while (e < low.size() && !std::isspace(static_cast<unsigned char>(low[e])) && low[e] != ')' &&
           low[e] != '[')
      ++e;
    std::string tcp = low.substr(b, e - b);
    if (!tcp.empty() && tcp.find('.') != std::string::npos && tcp != "unknown" &&
        !std::isdigit(static_cast<unsigned char>(tcp.back())))
      return tcp;
  }
  return helo;
}

std::string received_by_host(std::string_view received) { return word_after(received, "by"); }

size_t received_keyword(std::string_view low, std::string_view kw, size_t from) {
  for (size_t pos = low.find(kw, from); pos != std::string_view::npos; pos = low.find(kw, pos + kw.size())) {
    size_t end = pos + kw.size();
    if ((pos == 0 || std::isspace(static_cast<unsigned char>(low[pos - 1]))) && end < low.size() &&
        std::isspace(static_cast<unsigned char>(low[end])))
      return pos;
  }
  return std::string_view::npos;
}

bool host_in_domain(std::string_view host, std::string_view domain) {
  if (host.empty() || domain.empty()) return false;
  if (host.size() == domain.size()) return iequals(host, domain);
  if (host.size() < domain.size() + 1) return false;
  return host[host.size() - domain.size() - 1] == '.' &&
         iequals(host.substr(host.size() - domain.size()), domain);
}

bool domains_aligned(std::string_view a, std::string_view b) {
  return host_in_domain(a, b) || host_in_domain(b, a);
}

bool sender_not_forged(const SenderEvidence& e, const std::vector<std::string>& trusted_hosts,
                       std::string* why) {
  auto say = [&](std::string s) {
    if (why) *why = std::move(s);
  };
  std::string from_dom = to_lower(domain_of(e.from_address));
  std::string env_dom = to_lower(domain_of(e.envelope_sender));
  if (from_dom.empty()) {
    say("no From domain");
    return false;
  }
  if (e.authenticated) {
    say("sender authenticated");
    return true;
  }
  if (!domains_aligned(env_dom, from_dom)) {
    say("From domain " + from_dom + " differs from envelope sender domain '" + env_dom + "'");
    return false;
  }
  if (e.spf_pass) {
    say("SPF passed the client for " + env_dom);
    return true;
  }
  if (host_in_domain(e.client_host, from_dom)) {
    say("client " + e.client_host + " is in " + from_dom);
    return true;
  }
  // Walk the Received chain from the newest: hops between our trusted hosts are skipped;
  // the first hop a trusted host received from an outside host names the handoff host.
  for (const auto& r : e.received) {
    std::string by = received_by_host(r);
    std::string from = received_from_host(r);
    if (!host_trusted(by, trusted_hosts)) break;  // written by someone we do not trust
    if (host_trusted(from, trusted_hosts)) continue;
    if (host_in_domain(from, from_dom)) {
      say("handoff host " + from + " is in " + from_dom);
      return true;
    }
    say("handoff host '" + from + "' is not in " + from_dom);
    return false;
  }
  say("no trusted Received hop from " + from_dom);
  return false;
}

std::string attachment_block_reason(const AttachmentFacts& a, const DomainPolicy& p) {
  std::string name = to_lower(a.name);
  while (!name.empty() && (name.back() == ' ' || name.back() == '.')) name.pop_back();  // "x.exe."
  size_t dot = name.rfind('.');
  if (dot != std::string::npos) {
    std::string ext = name.substr(dot + 1);
    // An Internet shortcut whose every target is a web page is a link in a file (its URL is
    // scanned with the message's links); one that points anywhere else is "internet_shortcut",
    // executable content, and stays blocked below even where .url is not.
    const bool web_link = ext == "url" && a.sniffed_type == "web_shortcut";
    for (const auto& b : p.blocked_extensions)
      if (ext == to_lower(b) && !web_link) return "extension ." + ext;
  }
  for (const auto& t : p.blocked_types) {
    std::string lt = to_lower(t);
    if (lt == a.declared_type) return "declared type " + lt;
    if (lt == a.sniffed_type) return "content type " + lt;
  }
  if (p.block_executable_content && a.executable) return "executable content (" + a.sniffed_type + ")";
  return {};
}

double threshold_score(const Verdict& v, const DomainPolicy& d, bool* classifier_set_aside) {
  if (classifier_set_aside) *classifier_set_aside = false;
  if (!d.classifier_needs_rule) return v.score;
  double classifier = 0, others = 0;
  for (const auto& c : v.contributions) {
    if ((c.kind == ContributionKind::kRule || c.kind == ContributionKind::kMeta) && c.score >= kCorroboratingRuleScore)
      return v.score;
    (c.kind == ContributionKind::kClassifier ? classifier : others) += c.score;
  }
  if (classifier <= 0) return v.score;
  if (classifier_set_aside) *classifier_set_aside = true;
  return others;
}

Verdict decide(const Analysis& an, const Policy& policy) {
  Verdict v = an.verdict;
  const DomainPolicy& d = policy.domain;
  if (!d.sender_memory) {  // filter.sender_memory = no, or the domain's setting
    std::erase_if(v.contributions, [&](const Contribution& c) {
      if (std::find(std::begin(kMemoryIds), std::end(kMemoryIds), c.id) == std::end(kMemoryIds)) return false;
      v.score -= c.score;
      return true;
    });
  }
  auto policy_hit = [&](std::string id, std::string desc, std::string detail) {
    v.contributions.push_back({std::move(id), 0, std::move(desc), std::move(detail),
                               ContributionKind::kPolicy});
  };
  if (v.fault) {
    v.action = Action::kDeliver;
    v.reason = "filter fault, delivered unfiltered: " + v.fault_note;
    return v;
  }
  if (an.size > d.max_message_bytes) {
    v.action = Action::kReject;
    v.reason = "message of " + std::to_string(an.size) + " bytes exceeds " +
               std::to_string(d.max_message_bytes);
    policy_hit("POLICY_MAX_SIZE", "Message larger than the domain allows", v.reason);
    return v;
  }
  std::vector<const DlpMatch*> dlp;
  for (const auto& m : an.dlp) {
    if ((m.kind == "payment-card" && d.dlp.payment_cards) || (m.kind == "my-number" && d.dlp.my_number))
      dlp.push_back(&m);
  }
  if (an.sender.authenticated && d.dlp.enabled && dlp.size() >= std::max<size_t>(1, d.dlp.min_matches)) {
    v.action = Action::kHold;
    std::string detail;
    for (const auto* m : dlp) detail += (detail.empty() ? "" : ", ") + m->kind + " " + m->masked;
    v.reason = "outbound message contains " + std::to_string(dlp.size()) + " protected number(s)";
    policy_hit("POLICY_DLP", "Outbound data-loss pattern (card number or My Number)", detail);
    return v;
  }
  const std::string& sender = an.sender.from_address.empty() ? an.sender.envelope_sender
                                                             : an.sender.from_address;
  const std::string* blocked = policy.user ? policy.user->block.match(sender) : nullptr;
  bool user_level = blocked != nullptr;
  if (!blocked) blocked = d.block.match(sender);
  if (!blocked && !an.sender.envelope_sender.empty()) {
    blocked = policy.user ? policy.user->block.match(an.sender.envelope_sender) : nullptr;
    user_level = blocked != nullptr;
    if (!blocked) blocked = d.block.match(an.sender.envelope_sender);
  }
  if (blocked) {
    v.action = d.block_action;
    v.reason = std::string("sender on the ") + (user_level ? "user's" : "domain's") +
               " block list (" + *blocked + ")";
    policy_hit("POLICY_BLOCKLIST", "Sender is on a block list", *blocked);
    return v;
  }
  for (const auto& a : an.attachments) {
    std::string why = attachment_block_reason(a, d);
    if (!why.empty()) {
      v.action = d.blocked_attachment_action;
      v.reason = "blocked attachment " + a.name + ": " + why;
      policy_hit("POLICY_BLOCKED_ATTACHMENT", "Attachment type not allowed", a.name + ": " + why);
      return v;
    }
  }
  const std::string* allowed = policy.user ? policy.user->allow.match(sender) : nullptr;
  user_level = allowed != nullptr;
  if (!allowed) allowed = d.allow.match(sender);
  if (allowed) {
    std::string why;
    if (sender_not_forged(an.sender, d.trusted_hosts, &why)) {
      v.action = Action::kDeliver;
      v.reason = std::string("sender on the ") + (user_level ? "user's" : "domain's") +
                 " allow list (" + *allowed + "), " + why;
      policy_hit("POLICY_ALLOWLIST", "Sender is on an allow list", *allowed + "; " + why);
      return v;
    }
    v.notes.push_back("allow entry " + *allowed + " ignored: " + why);
  }
  // Step 7. The score the thresholds judge: all of it, or, when the classifier is pushing
  // toward spam and no rule of weight agrees, the score without the classifier's points.
  bool set_aside = false;
  double judged = threshold_score(v, d, &set_aside);
  std::string uncorroborated;
  if (set_aside)
    uncorroborated = " (" + fmt(v.score) + " with the classifier, which no rule of score >= " +
                     fmt(kCorroboratingRuleScore) + " corroborates)";
  auto action_at = [&](double score) {
    if (score >= d.reject_threshold) return Action::kReject;
    if (score >= d.quarantine_threshold) return Action::kQuarantine;
    if (score >= d.junk_threshold) return Action::kJunk;
    return Action::kDeliver;
  };
  v.action = action_at(judged);
  // The threshold the judged score reached, or the junk threshold it stayed under.
  auto [comparison, threshold, level] =
      v.action == Action::kReject       ? std::tuple(" >= ", d.reject_threshold, "reject")
      : v.action == Action::kQuarantine ? std::tuple(" >= ", d.quarantine_threshold, "quarantine")
      : v.action == Action::kJunk       ? std::tuple(" >= ", d.junk_threshold, "junk")
                                        : std::tuple(" < ", d.junk_threshold, "junk");
  v.reason = "score " + fmt(judged) + uncorroborated + comparison + level + " threshold " + fmt(threshold);
  if (set_aside && action_at(v.score) != v.action)
    policy_hit(std::string(kClassifierAloneId), "Only the classifier says spam: its points do not count alone",
               "the full score would have meant " + std::string(action_name(action_at(v.score))));
  return v;
}

}  // namespace tsubame::filter
