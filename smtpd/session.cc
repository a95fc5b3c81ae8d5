// smtpd/session.cc: the SMTP server state machine (see session.h for the contract).
//
// Input handling, in one paragraph: in command mode a line ends ONLY at CRLF; a bare CR or
// bare LF inside it makes the line a syntax error, never a second command (no SMTP
// smuggling). An overlong line is discarded up to its CRLF and answered once with
// "500 5.5.2". In DATA mode the content is split at CRLF only; the end is a line that is
// exactly "." (CRLF.CRLF); dot-unstuffing applies at real line starts. Content bytes (DATA
// after unstuffing, BDAT as sent) go through one streaming checker that counts the size,
// measures line lengths and finds bare CR/LF; once a check fails nothing more is stored,
// the rest is read and discarded, and the transaction gets one reply at its end.
//
// Failure: every error is a reply; an exception escaping a handler becomes
// "421 4.3.0" and Close (guarded()).
#include "smtpd/session.h"

#include <algorithm>
#include <charconv>
#include <cstring>

#include "common/bytes.h"

namespace tsubame::smtp {
namespace {

constexpr std::string_view kCrlf = "\r\n";

bool istarts_with(std::string_view s, std::string_view prefix) {
  return s.size() >= prefix.size() && iequals(s.substr(0, prefix.size()), prefix);
}

bool is_atext(unsigned char c, bool utf8) {
  if (c >= 0x80) return utf8;  // RFC 6531 §3.3: UTF8-non-ascii in atext
  if (std::isalnum(c)) return true;
  return std::strchr("!#$%&'*+-/=?^_`{|}~", c) != nullptr && c != 0;
}

std::string to_upper_ascii(std::string_view s) {
  std::string out(s);
  for (char& c : out)
    if (c >= 'a' && c <= 'z') c = static_cast<char>(c - 'a' + 'A');
  return out;
}

bool has_non_ascii(std::string_view s) {
  return std::any_of(s.begin(), s.end(), [](char c) { return static_cast<unsigned char>(c) >= 0x80; });
}

// RFC 5321 §4.1.2 Domain / address-literal.
bool valid_domain(std::string_view d, bool utf8) {
  if (d.empty() || d.size() > kMaxDomain) return false;
  if (d.front() == '[') {
    if (d.size() < 3 || d.back() != ']') return false;
    for (char c : d.substr(1, d.size() - 2)) {
      auto u = static_cast<unsigned char>(c);
      if (u < 33 || u > 126 || c == '[' || c == ']' || c == '\\') return false;
    }
    return true;
  }
  for (std::string_view label : split(d, '.')) {
    if (label.empty() || label.size() > 63) return false;
    if (label.front() == '-' || label.back() == '-') return false;
    for (char c : label) {
      auto u = static_cast<unsigned char>(c);
      if (u >= 0x80) {
        if (!utf8) return false;
      } else if (!std::isalnum(u) && c != '-') {
        return false;
      }
    }
  }
  return true;
}

// EHLO/HELO argument: a domain or an address literal. Lenient like Postfix's default: any
// printable ASCII without spaces (many clients send a bare host name or a broken one).
bool valid_helo(std::string_view h) {
  if (h.empty() || h.size() > kMaxDomain) return false;
  return std::all_of(h.begin(), h.end(), [](char c) {
    auto u = static_cast<unsigned char>(c);
    return u > 32 && u < 127;
  });
}

struct Param {
  std::string_view key;
  std::string_view value;
  bool has_value = false;
};

enum class PathError { kOk, kSyntax, kAddress };

// Parses "FROM:<path> params" / "TO:<path> params" (RFC 5321 §4.1.1.2, §4.1.1.3, §4.1.2).
// The keyword is case-insensitive; one run of spaces after the colon is tolerated.
PathError parse_path_args(std::string_view args, std::string_view keyword, std::string& path,
                          std::vector<Param>& params) {
  if (!istarts_with(args, keyword)) return PathError::kSyntax;
  std::string_view rest = args.substr(keyword.size());
  while (!rest.empty() && rest.front() == ' ') rest.remove_prefix(1);
  if (rest.empty() || rest.front() != '<') return PathError::kSyntax;
  size_t i = 1;
  bool quoted = false;
  for (; i < rest.size(); ++i) {
    char c = rest[i];
    if (quoted && c == '\\' && i + 1 < rest.size()) {
      ++i;
      continue;
    }
    if (c == '"') quoted = !quoted;
    if (!quoted && c == '>') break;
  }
  if (i >= rest.size()) return PathError::kSyntax;
  std::string_view inner = rest.substr(1, i - 1);
  if (inner.size() + 2 > kMaxPath) return PathError::kAddress;
  // RFC 5321 §4.1.2, Appendix C: a source route "@a,@b:" is accepted and ignored.
  if (!inner.empty() && inner.front() == '@') {
    size_t colon = inner.find(':');
    if (colon == std::string_view::npos) return PathError::kAddress;
    inner.remove_prefix(colon + 1);
  }
  path.assign(inner);
  rest.remove_prefix(i + 1);
  if (!rest.empty() && rest.front() != ' ') return PathError::kSyntax;
  for (std::string_view p : split(rest, ' ')) {
    if (p.empty()) continue;
    Param param;
    size_t eq = p.find('=');
    param.key = p.substr(0, eq);
    if (eq != std::string_view::npos) {
      param.value = p.substr(eq + 1);
      param.has_value = true;
      if (param.value.empty()) return PathError::kSyntax;
    }
    if (param.key.empty()) return PathError::kSyntax;
    for (char c : param.key)
      if (!std::isalnum(static_cast<unsigned char>(c)) && c != '-') return PathError::kSyntax;
    // RFC 5321 §4.1.2 esmtp-value: %d33-60 / %d62-126 (RFC 6531 adds UTF-8).
    for (char c : param.value) {
      auto u = static_cast<unsigned char>(c);
      if (u < 33 || c == '=' || u == 127) return PathError::kSyntax;
    }
    params.push_back(param);
  }
  return PathError::kOk;
}

bool parse_u64(std::string_view s, uint64_t& out) {
  if (s.empty() || s.size() > 20) return false;
  auto [p, ec] = std::from_chars(s.data(), s.data() + s.size(), out);
  return ec == std::errc() && p == s.data() + s.size();
}

std::string format_reply(int code, std::string_view enhanced, std::string_view text) {
  std::string out = std::to_string(code);
  out += ' ';
  if (!enhanced.empty()) {
    out += enhanced;
    out += ' ';
  }
  out += text;
  out += kCrlf;
  return out;
}

}  // namespace

// ---- public helpers ----

bool valid_xtext(std::string_view s) {
  // RFC 3461 §4: xtext = *( xchar / hexchar ); xchar is 33..126 except "+" and "=";
  // hexchar is "+" followed by two upper-case hex digits.
  for (size_t i = 0; i < s.size(); ++i) {
    auto u = static_cast<unsigned char>(s[i]);
    if (u == '+') {
      if (i + 2 >= s.size()) return false;
      for (int k = 1; k <= 2; ++k) {
        char h = s[i + k];
        if (!((h >= '0' && h <= '9') || (h >= 'A' && h <= 'F'))) return false;
      }
      i += 2;
    } else if (u < 33 || u > 126 || u == '=') {
      return false;
    }
  }
  return true;
}

bool valid_mailbox(std::string_view address, bool utf8) {
  size_t at = address.rfind('@');
  if (at == std::string_view::npos || at == 0) return false;
  std::string_view local = address.substr(0, at);
  std::string_view domain = address.substr(at + 1);
  if (local.size() > kMaxLocalPart) return false;
  if (!valid_domain(domain, utf8)) return false;
  if (local.front() == '"') {
    // RFC 5321 §4.1.2 Quoted-string.
    if (local.size() < 2 || local.back() != '"') return false;
    std::string_view q = local.substr(1, local.size() - 2);
    for (size_t i = 0; i < q.size(); ++i) {
      auto u = static_cast<unsigned char>(q[i]);
      if (u == '\\') {
        if (++i >= q.size()) return false;
        auto e = static_cast<unsigned char>(q[i]);
        if (e < 32 || e > 126) return false;
      } else if (u == '"') {
        return false;
      } else if (u >= 0x80) {
        if (!utf8) return false;
      } else if (u < 32 || u > 126) {
        return false;
      }
    }
    return true;
  }
  // Dot-string: atoms separated by single dots.
  for (std::string_view atom : split(local, '.')) {
    if (atom.empty()) return false;
    for (char c : atom)
      if (!is_atext(static_cast<unsigned char>(c), utf8)) return false;
  }
  return true;
}

std::string Envelope::with_protocol() const {
  // RFC 3848 §1.
  if (!esmtp) return "SMTP";
  std::string p = "ESMTP";
  if (tls) p += 'S';
  if (!auth_user.empty()) p += 'A';
  return p;
}

std::string received_header(const Envelope& env, std::string_view our_host,
                            std::string_view queue_id, std::string_view date,
                            std::string_view tls) {
  // RFC 5321 §4.4: "from" the EHLO name with the client's address, "by" us, "with" the
  // protocol (RFC 3848), "id" the queue id, "for" the recipient when there is only one.
  std::string h = "Received: from ";
  h += env.helo.empty() ? std::string("unknown") : env.helo;
  h += " ([";
  h += env.client_ip;
  h += "])\r\n\t";
  if (!tls.empty()) {
    h += "(using ";
    h += tls;
    h += ")\r\n\t";
  }
  h += "by ";
  h += our_host;
  h += " with ";
  h += env.with_protocol();
  h += " id ";
  h += queue_id;
  if (env.recipients.size() == 1) {
    h += "\r\n\tfor <";
    h += env.recipients.front().address;
    h += '>';
  }
  h += "; ";
  h += date;
  h += kCrlf;
  return h;
}

std::string refusal_reply(std::string_view our_host, std::string_view reason) {
  std::string text(our_host);
  text += ' ';
  text += reason;
  return format_reply(421, "4.7.0", text);
}

ListenerPolicy ListenerPolicy::mx(bool tls_available) {
  ListenerPolicy p;
  p.kind = ListenerKind::kMx;
  p.tls_available = tls_available;
  return p;
}

ListenerPolicy ListenerPolicy::submission() {
  ListenerPolicy p;
  p.kind = ListenerKind::kSubmission;
  p.tls_available = true;
  p.require_tls = true;   // RFC 8314 §3.3 / RFC 3207 §4: no AUTH or MAIL in the clear
  p.require_auth = true;  // RFC 6409 §4.3
  return p;
}

ListenerPolicy ListenerPolicy::submissions() {
  ListenerPolicy p;
  p.kind = ListenerKind::kSubmissions;
  p.tls_available = true;
  p.implicit_tls = true;  // RFC 8314 §3.3
  p.require_tls = true;
  p.require_auth = true;
  return p;
}

// ---- the command table ----

const std::vector<Session::Command>& Session::command_table() {
  using S = Session;
  // RFC 2920 §3.1: EHLO, DATA, VRFY, EXPN, TURN, QUIT and NOOP end a pipelined group;
  // so do HELO, AUTH (RFC 4954 §4) and STARTTLS (RFC 3207 §4.2). BDAT does not (RFC 3030
  // §4.2 allows BDAT chunks to be pipelined).
  static const std::vector<Command> table = {
      {"EHLO", &S::cmd_ehlo, kAllowedBeforeTls | kEndsGroup},
      {"HELO", &S::cmd_helo, kAllowedBeforeTls | kEndsGroup},
      {"STARTTLS", &S::cmd_starttls, kAllowedBeforeTls | kEndsGroup},
      {"AUTH", &S::cmd_auth, kEndsGroup},
      {"MAIL", &S::cmd_mail, 0},
      {"RCPT", &S::cmd_rcpt, 0},
      {"DATA", &S::cmd_data, kEndsGroup},
      {"BDAT", &S::cmd_bdat, 0},
      {"RSET", &S::cmd_rset, kAllowedBeforeTls},
      {"NOOP", &S::cmd_noop, kAllowedBeforeTls | kEndsGroup},
      {"QUIT", &S::cmd_quit, kAllowedBeforeTls | kEndsGroup},
      {"HELP", &S::cmd_help, kAllowedBeforeTls | kEndsGroup},
      {"VRFY", &S::cmd_vrfy, kEndsGroup},
      {"EXPN", &S::cmd_not_implemented, kEndsGroup},
      {"ETRN", &S::cmd_not_implemented, kEndsGroup},
      {"TURN", &S::cmd_not_implemented, kEndsGroup},
      // Postfix's smtpd_forbidden_commands: a web client or proxy talking to us.
      {"GET", &S::cmd_forbidden, kAllowedBeforeTls | kForbidden},
      {"POST", &S::cmd_forbidden, kAllowedBeforeTls | kForbidden},
      {"HEAD", &S::cmd_forbidden, kAllowedBeforeTls | kForbidden},
      {"PUT", &S::cmd_forbidden, kAllowedBeforeTls | kForbidden},
      {"CONNECT", &S::cmd_forbidden, kAllowedBeforeTls | kForbidden},
  };
  return table;
}

// ---- construction, the outside interface ----

Session::Session(const Options& options, ListenerPolicy policy, std::string session_id,
                 std::string client_ip)
    : options_(options),
      policy_(policy),
      session_id_(std::move(session_id)),
      client_ip_(std::move(client_ip)),
      tls_(policy.implicit_tls),
      counters_(command_table().size()) {}

template <typename F>
void Session::guarded(F&& f) {
  if (closed_) return;
  try {
    f();
  } catch (...) {
    // Never let an exception cross into the event loop (style.md "Errors are values").
    if (!closed_) close_with(421, "4.3.0", options_.hostname + " Error: internal error");
  }
}

void Session::start() {
  guarded([&] {
    if (started_) return;
    if (!in_.empty()) {
      // RFC 5321 §4.3.1: the client must wait for the greeting. A client that talks first
      // is a spam engine that does not care about replies.
      close_with(554, "5.5.0", "Error: talking before the greeting");
      return;
    }
    started_ = true;
    send(format_reply(220, "", options_.hostname + " ESMTP Tsubame"));
  });
}

void Session::feed(std::string_view bytes) {
  guarded([&] {
    in_.append(bytes);
    if (!started_) return;  // judged by start()
    process();
  });
}

std::vector<Action> Session::take_actions() {
  std::vector<Action> out;
  out.swap(actions_);
  return out;
}

Phase Session::phase() const {
  if (closed_) return Phase::kClosed;
  if (!started_) return Phase::kGreeting;
  if (pending_ == Pending::kTls) return Phase::kTls;
  if (pending_ != Pending::kNone) return Phase::kWaiting;
  switch (mode_) {
    case Mode::kCommand: return Phase::kCommand;
    case Mode::kAuthLine: return Phase::kAuth;
    case Mode::kData: return Phase::kData;
    case Mode::kBdat: return Phase::kBdat;
  }
  return Phase::kCommand;
}

std::chrono::seconds Session::timeout() const {
  switch (phase()) {
    case Phase::kData:
    case Phase::kBdat: return options_.data_timeout;
    case Phase::kTls: return options_.tls_handshake_timeout;
    default: return options_.command_timeout;
  }
}

std::string Session::summary() const {
  std::string out;
  auto add = [&](std::string_view name, const Counter& c) {
    if (c.total == 0) return;
    if (!out.empty()) out += ' ';
    out += to_lower(name);
    out += '=';
    if (c.ok != c.total) {
      out += std::to_string(c.ok);
      out += '/';
    }
    out += std::to_string(c.total);
  };
  const auto& table = command_table();
  for (size_t i = 0; i < table.size(); ++i) add(table[i].verb, counters_[i]);
  add("unknown", unknown_);
  return out;
}

void Session::on_timeout() {
  guarded([&] { close_with(421, "4.4.2", options_.hostname + " Error: timeout exceeded"); });
}

void Session::on_shutdown() {
  guarded([&] { close_with(421, "4.3.2", options_.hostname + " Service shutting down"); });
}

// ---- replies ----

void Session::send(std::string bytes, std::chrono::milliseconds delay) {
  actions_.push_back(Send{std::move(bytes), delay});
}

void Session::reply(int code, std::string_view enhanced, std::string_view text,
                    bool count_error) {
  if (closed_) return;
  std::chrono::milliseconds delay = next_delay_;
  next_delay_ = {};
  if (code / 100 == 2 && current_cmd_ >= 0 && !cur_marked_) {
    counters_[static_cast<size_t>(current_cmd_)].ok++;
    cur_marked_ = true;
  }
  if (code >= 400 && count_error) {
    ++errors_;
    // Postfix smtpd_hard_error_limit: the reply becomes the final one.
    if (errors_ >= options_.max_errors) {
      send(format_reply(421, "4.7.0", options_.hostname + " Error: too many errors"),
           std::max(delay, options_.error_delay));
      actions_.push_back(Close{});
      closed_ = true;
      drop_input();
      return;
    }
    // Postfix smtpd_soft_error_limit: slow down a client that keeps making errors.
    if (errors_ >= options_.soft_error_limit) delay = std::max(delay, options_.error_delay);
  }
  send(format_reply(code, enhanced, text), delay);
}

void Session::reply_lines(int code, const std::vector<std::string>& lines) {
  std::string out;
  for (size_t i = 0; i < lines.size(); ++i) {
    out += std::to_string(code);
    out += i + 1 < lines.size() ? '-' : ' ';
    out += lines[i];
    out += kCrlf;
  }
  if (code / 100 == 2 && current_cmd_ >= 0 && !cur_marked_) {
    counters_[static_cast<size_t>(current_cmd_)].ok++;
    cur_marked_ = true;
  }
  send(std::move(out));
}

void Session::close_with(int code, std::string_view enhanced, std::string_view text) {
  if (closed_) return;
  send(format_reply(code, enhanced, text), next_delay_);
  next_delay_ = {};
  actions_.push_back(Close{});
  closed_ = true;
  drop_input();
  message_.clear();
}

void Session::sync_error() {
  // RFC 2920 §3.1, RFC 3207 §4.2: the client sent more after a command that must end a
  // pipelined group (or pipelined without PIPELINING). Whatever follows cannot be trusted
  // to be what the client meant as commands: this is how SMTP smuggling and the STARTTLS
  // command injection (CVE-2011-0411) work. Exim answers the same way.
  close_with(554, "5.5.0", "Error: SMTP protocol synchronization");
}

void Session::reset_transaction() {
  in_transaction_ = false;
  env_ = Envelope{};
  data_by_bdat_ = false;
  message_.clear();
  message_.shrink_to_fit();
  content_size_ = 0;
  line_len_ = 0;
  prev_cr_ = false;
  at_line_start_ = true;
  fault_ = DataFault::kNone;
}

void Session::reset_after_tls() {
  // RFC 3207 §4.2: after the handshake the server discards everything it learnt from the
  // client before it; the client starts again with EHLO.
  reset_transaction();
  helo_.clear();
  esmtp_ = false;
  auth_user_.clear();
  drop_input();
}

// ---- input ----

void Session::consume(size_t n) { off_ += n; }

void Session::drop_input() {
  in_.clear();
  off_ = 0;
}

void Session::process() {
  while (!closed_ && pending_ == Pending::kNone) {
    bool progressed = false;
    switch (mode_) {
      case Mode::kCommand: progressed = process_command_mode(); break;
      case Mode::kAuthLine: progressed = process_auth_mode(); break;
      case Mode::kData: progressed = process_data_mode(); break;
      case Mode::kBdat: progressed = process_bdat_mode(); break;
    }
    if (!progressed) break;
  }
  // One compaction per call, not one per line (a big DATA feed holds many lines).
  if (off_ > 0) {
    in_.erase(0, std::min(off_, in_.size()));
    off_ = 0;
  }
}

bool Session::process_command_mode() {
  std::string_view in = input();
  if (skipping_long_line_) {
    size_t pos = in.find(kCrlf);
    if (pos == std::string_view::npos) {
      // Keep a trailing CR: it may be the first half of the CRLF.
      consume(in.size() - (!in.empty() && in.back() == '\r' ? 1 : 0));
      return false;
    }
    consume(pos + 2);
    skipping_long_line_ = false;
    current_cmd_ = -1;
    cur_marked_ = false;
    unknown_.total++;
    // RFC 5321 §4.5.3.1.4, §4.2.4: 500 for a line that is too long.
    reply(500, "5.5.2", "Error: line too long");
    return true;
  }
  // RFC 4954 §4: AUTH lines may be longer than other command lines; so may MAIL and RCPT
  // with their extension parameters (limits.h, kMaxMailRcptLine).
  size_t limit = kMaxCommandLine;
  if (istarts_with(in, "AUTH ")) {
    limit = kMaxAuthLine;
  } else if (istarts_with(in, "MAIL ") || istarts_with(in, "RCPT ")) {
    limit = kMaxMailRcptLine;
  }
  size_t pos = in.find(kCrlf);
  if (pos == std::string_view::npos) {
    if (in.size() >= limit) {
      skipping_long_line_ = true;
      return true;
    }
    return false;
  }
  if (pos + 2 > limit) {
    consume(pos + 2);
    current_cmd_ = -1;
    cur_marked_ = false;
    unknown_.total++;
    reply(500, "5.5.2", "Error: line too long");
    return true;
  }
  std::string line(in.substr(0, pos));
  consume(pos + 2);
  dispatch(line);
  return true;
}

void Session::dispatch(std::string_view line) {
  ++progress_;
  current_cmd_ = -1;
  cur_marked_ = false;
  // RFC 5321 §2.3.8: CR and LF appear only together as a line end. A bare one inside a
  // command line does not end it; the whole line is refused.
  if (line.find_first_of(std::string_view("\r\n\0", 3)) != std::string_view::npos) {
    unknown_.total++;
    reply(500, "5.5.2", "Error: bare CR, LF or NUL in command line");
    return;
  }
  size_t sp = line.find(' ');
  std::string_view verb = line.substr(0, sp);
  std::string_view args = sp == std::string_view::npos ? std::string_view() : line.substr(sp + 1);
  const auto& table = command_table();
  auto it = std::find_if(table.begin(), table.end(),
                         [&](const Command& c) { return iequals(c.verb, verb); });
  if (it == table.end()) {
    unknown_.total++;
    reply(500, "5.5.2", "Error: command not recognized");
    return;
  }
  current_cmd_ = static_cast<int>(it - table.begin());
  counters_[static_cast<size_t>(current_cmd_)].total++;
  if (it->flags & kForbidden) {
    (this->*(it->handler))(args);
    return;
  }
  if (it->handler != &Session::cmd_bdat && !input().empty()) {
    // More input is already here. Allowed only for pipelinable commands after EHLO
    // advertised PIPELINING (RFC 2920 §3.1); QUIT simply ends the session.
    if (it->handler == &Session::cmd_quit) {
      cmd_quit(args);
      return;
    }
    if ((it->flags & kEndsGroup) || !esmtp_) {
      sync_error();
      return;
    }
  }
  if (policy_.require_tls && !tls_ && !(it->flags & kAllowedBeforeTls)) {
    // RFC 3207 §4: 530 when the server requires TLS first.
    reply(530, "5.7.0", "Must issue a STARTTLS command first");
    if (it->handler == &Session::cmd_bdat) {
      // The chunk must still be consumed (it is not a command); parse its size.
      bdat_ok_ = false;
      cmd_bdat(args);
    }
    return;
  }
  (this->*(it->handler))(args);
}

// ---- handlers ----

void Session::cmd_ehlo(std::string_view args) {
  args = trim(args);
  if (args.empty()) return reply(501, "5.5.4", "Syntax: EHLO hostname");
  if (!valid_helo(args)) return reply(501, "5.5.2", "Error: invalid EHLO hostname");
  // RFC 5321 §4.1.4: EHLO resets the transaction.
  reset_transaction();
  helo_.assign(args);
  esmtp_ = true;
  // RFC 2034 §3: no enhanced status code in the EHLO reply.
  std::vector<std::string> lines;
  lines.push_back(options_.hostname + " Hello " + helo_ + " [" + client_ip_ + "]");
  lines.push_back("PIPELINING");                                          // RFC 2920
  lines.push_back("SIZE " + std::to_string(options_.max_message_size));  // RFC 1870
  lines.push_back("8BITMIME");                                            // RFC 6152
  lines.push_back("SMTPUTF8");                                            // RFC 6531
  lines.push_back("ENHANCEDSTATUSCODES");                                 // RFC 2034
  lines.push_back("DSN");                                                 // RFC 3461
  lines.push_back("CHUNKING");                                            // RFC 3030
  if (policy_.tls_available && !tls_) lines.push_back("STARTTLS");        // RFC 3207
  if (tls_ || options_.allow_plaintext_auth) lines.push_back("AUTH PLAIN LOGIN");  // RFC 4954
  reply_lines(250, lines);
}

void Session::cmd_helo(std::string_view args) {
  args = trim(args);
  if (args.empty()) return reply(501, "5.5.4", "Syntax: HELO hostname");
  if (!valid_helo(args)) return reply(501, "5.5.2", "Error: invalid HELO hostname");
  reset_transaction();
  helo_.assign(args);
  esmtp_ = false;
  reply_lines(250, {options_.hostname});
}

void Session::cmd_mail(std::string_view args) {
  Envelope env;
  if (!check_mail(args, env)) return;
  policy_mail(std::move(env));
}

bool Session::check_mail(std::string_view args, Envelope& env) {
  // RFC 5321 §4.1.4: MAIL needs a greeting and no transaction in progress.
  if (helo_.empty()) return reply(503, "5.5.1", "Error: send HELO/EHLO first"), false;
  if (in_transaction_) return reply(503, "5.5.1", "Error: nested MAIL command"), false;
  if (policy_.require_auth && auth_user_.empty())
    return reply(530, "5.7.0", "Authentication required"), false;  // RFC 4954 §6
  std::string path;
  std::vector<Param> params;
  switch (parse_path_args(args, "FROM:", path, params)) {
    case PathError::kOk: break;
    case PathError::kSyntax: return reply(501, "5.5.4", "Syntax: MAIL FROM:<address>"), false;
    case PathError::kAddress: return reply(501, "5.1.7", "Bad sender address syntax"), false;
  }
  if (!params.empty() && !esmtp_)
    return reply(555, "5.5.4", "MAIL parameters need EHLO"), false;  // RFC 5321 §4.1.1.11
  auto dup = [&](bool seen) {
    if (seen) reply(501, "5.5.4", "Duplicate MAIL parameter");
    return seen;
  };
  bool seen_size = false, seen_body = false, seen_auth = false;
  for (const Param& p : params) {
    if (iequals(p.key, "SIZE")) {
      // RFC 1870 §6: a declared size over the limit is refused at MAIL.
      uint64_t n = 0;
      if (dup(seen_size)) return false;
      seen_size = true;
      if (!p.has_value || !parse_u64(p.value, n)) return reply(501, "5.5.4", "Bad SIZE parameter"), false;
      if (n > options_.max_message_size)
        return reply(552, "5.3.4", "Message size exceeds fixed maximum message size"), false;
      env.declared_size = n;
    } else if (iequals(p.key, "BODY")) {
      // RFC 6152 §3: BODY=7BIT / 8BITMIME. BINARYMIME is not offered.
      if (dup(seen_body)) return false;
      seen_body = true;
      if (!p.has_value || !(iequals(p.value, "7BIT") || iequals(p.value, "8BITMIME")))
        return reply(501, "5.5.4", "Unsupported BODY parameter"), false;
      env.body = to_upper_ascii(p.value);
    } else if (iequals(p.key, "SMTPUTF8")) {
      // RFC 6531 §3.4: no value.
      if (dup(env.smtputf8)) return false;
      if (p.has_value) return reply(501, "5.5.4", "SMTPUTF8 takes no value"), false;
      env.smtputf8 = true;
    } else if (iequals(p.key, "RET")) {
      // RFC 3461 §4.3.
      if (dup(!env.ret.empty())) return false;
      if (!p.has_value || !(iequals(p.value, "FULL") || iequals(p.value, "HDRS")))
        return reply(501, "5.5.4", "Bad RET parameter"), false;
      env.ret = to_upper_ascii(p.value);
    } else if (iequals(p.key, "ENVID")) {
      // RFC 3461 §4.4.
      if (dup(!env.envid.empty())) return false;
      if (!p.has_value || p.value.size() > kMaxEnvid || !valid_xtext(p.value))
        return reply(501, "5.5.4", "Bad ENVID parameter"), false;
      env.envid.assign(p.value);
    } else if (iequals(p.key, "AUTH")) {
      // RFC 4954 §5: accepted and not trusted (we never relay the identity onwards).
      if (dup(seen_auth)) return false;
      seen_auth = true;
      if (!p.has_value || !valid_xtext(p.value)) return reply(501, "5.5.4", "Bad AUTH parameter"), false;
    } else {
      // RFC 5321 §4.1.1.11: 555 for an unknown parameter.
      return reply(555, "5.5.4", "Unsupported MAIL parameter"), false;
    }
  }
  if (!path.empty()) {
    // RFC 6531 §3.5: a non-ASCII address without SMTPUTF8 is 553 5.6.7.
    if (has_non_ascii(path) && !env.smtputf8)
      return reply(553, "5.6.7", "Non-ASCII address needs SMTPUTF8"), false;
    if (!valid_mailbox(path, env.smtputf8))
      return reply(501, "5.1.7", "Bad sender address syntax"), false;
  }
  env.mail_from = std::move(path);
  env.session_id = session_id_;
  env.client_ip = client_ip_;
  env.helo = helo_;
  env.esmtp = esmtp_;
  env.tls = tls_;
  env.auth_user = auth_user_;
  return true;
}

void Session::policy_mail(Envelope env) {
  // An authenticated sender may only use their own addresses (Postfix
  // reject_sender_login_mismatch). The null sender stays allowed (bounces, receipts).
  if (!auth_user_.empty() && options_.enforce_sender_login && !env.mail_from.empty()) {
    env_ = std::move(env);
    pending_ = Pending::kSender;
    actions_.push_back(CheckSender{auth_user_, env_.mail_from});
    return;
  }
  proceed_mail(std::move(env));
}

void Session::on_sender_checked(bool owned) {
  guarded([&] {
    if (pending_ != Pending::kSender) return;
    pending_ = Pending::kNone;
    if (owned) {
      proceed_mail(std::move(env_));
    } else {
      std::string addr = env_.mail_from;
      env_ = Envelope{};
      reply(553, "5.7.1", "<" + addr + ">: Sender address rejected: not owned by user " + auth_user_);
    }
    process();
  });
}

void Session::proceed_mail(Envelope env) {
  env_ = std::move(env);
  in_transaction_ = true;
  reply(250, "2.1.0", "Ok");
}

void Session::cmd_rcpt(std::string_view args) {
  Recipient rcpt;
  if (!check_rcpt(args, rcpt)) return;
  policy_rcpt(std::move(rcpt));
}

bool Session::check_rcpt(std::string_view args, Recipient& rcpt) {
  if (!in_transaction_) return reply(503, "5.5.1", "Error: need MAIL command"), false;
  if (data_by_bdat_) return reply(503, "5.5.1", "Error: RCPT after BDAT"), false;  // RFC 3030 §2
  if (env_.recipients.size() >= options_.max_recipients)
    return reply(452, "4.5.3", "Error: too many recipients"), false;  // RFC 5321 §4.5.3.1.10
  std::string path;
  std::vector<Param> params;
  switch (parse_path_args(args, "TO:", path, params)) {
    case PathError::kOk: break;
    case PathError::kSyntax: return reply(501, "5.5.4", "Syntax: RCPT TO:<address>"), false;
    case PathError::kAddress: return reply(501, "5.1.3", "Bad recipient address syntax"), false;
  }
  bool seen_notify = false;
  for (const Param& p : params) {
    if (iequals(p.key, "NOTIFY")) {
      // RFC 3461 §4.1: NEVER, or a comma list of SUCCESS, FAILURE, DELAY.
      if (seen_notify) return reply(501, "5.5.4", "Duplicate RCPT parameter"), false;
      seen_notify = true;
      if (!p.has_value) return reply(501, "5.5.4", "Bad NOTIFY parameter"), false;
      for (std::string_view v : split(p.value, ',')) {
        if (iequals(v, "NEVER")) rcpt.notify_never = true;
        else if (iequals(v, "SUCCESS")) rcpt.notify_success = true;
        else if (iequals(v, "FAILURE")) rcpt.notify_failure = true;
        else if (iequals(v, "DELAY")) rcpt.notify_delay = true;
        else return reply(501, "5.5.4", "Bad NOTIFY parameter"), false;
      }
      if (rcpt.notify_never && (rcpt.notify_success || rcpt.notify_failure || rcpt.notify_delay))
        return reply(501, "5.5.4", "Bad NOTIFY parameter"), false;
    } else if (iequals(p.key, "ORCPT")) {
      // RFC 3461 §4.2: addr-type ";" xtext.
      if (!rcpt.orcpt.empty()) return reply(501, "5.5.4", "Duplicate RCPT parameter"), false;
      size_t semi = p.value.find(';');
      if (!p.has_value || p.value.size() > kMaxOrcpt || semi == std::string_view::npos ||
          semi == 0 || !valid_xtext(p.value.substr(semi + 1)))
        return reply(501, "5.5.4", "Bad ORCPT parameter"), false;
      rcpt.orcpt.assign(p.value);
    } else {
      return reply(555, "5.5.4", "Unsupported RCPT parameter"), false;
    }
  }
  if (!esmtp_ && !params.empty()) return reply(555, "5.5.4", "RCPT parameters need EHLO"), false;
  if (path.empty()) return reply(501, "5.1.3", "Bad recipient address syntax"), false;
  // RFC 5321 §4.1.1.3: "<Postmaster>" without a domain must be accepted.
  if (iequals(path, "postmaster")) {
    rcpt.address = "postmaster";
    return true;
  }
  if (has_non_ascii(path) && !env_.smtputf8)
    return reply(553, "5.6.7", "Non-ASCII address needs SMTPUTF8"), false;  // RFC 6531 §3.5
  if (!valid_mailbox(path, env_.smtputf8))
    return reply(501, "5.1.3", "Bad recipient address syntax"), false;
  rcpt.address = std::move(path);
  return true;
}

void Session::policy_rcpt(Recipient rcpt) {
  pending_rcpt_ = std::move(rcpt);
  pending_ = Pending::kRcpt;
  actions_.push_back(CheckRecipient{pending_rcpt_.address});
}

void Session::on_recipient_checked(RecipientStatus status) {
  guarded([&] {
    if (pending_ != Pending::kRcpt) return;
    pending_ = Pending::kNone;
    proceed_rcpt(status);
    process();
  });
}

void Session::proceed_rcpt(RecipientStatus status) {
  const std::string who = "<" + pending_rcpt_.address + ">: ";
  switch (status) {
    case RecipientStatus::kLocal:
      pending_rcpt_.local = true;
      break;
    case RecipientStatus::kRemote:
      // Relaying only for authenticated clients: never an open relay.
      if (auth_user_.empty()) return reply(554, "5.7.1", who + "Relay access denied");
      pending_rcpt_.local = false;
      break;
    case RecipientStatus::kUnknownLocal:
      return reply(550, "5.1.1", who + "Recipient address rejected: User unknown");
    case RecipientStatus::kDisabled:
      return reply(550, "5.2.1", who + "Recipient address rejected: Mailbox disabled");
    case RecipientStatus::kFull:
      return reply(452, "4.2.2", who + "Recipient address rejected: Mailbox full");
    case RecipientStatus::kTempFail:
      return reply(451, "4.3.0", who + "Temporary lookup failure");
  }
  auto same = [&](const Recipient& r) { return r.address == pending_rcpt_.address; };
  if (std::none_of(env_.recipients.begin(), env_.recipients.end(), same))
    env_.recipients.push_back(std::move(pending_rcpt_));
  reply(250, "2.1.5", "Ok");
}

bool Session::check_data(bool bdat) {
  if (!in_transaction_) return reply(503, "5.5.1", "Error: need MAIL command"), false;
  if (env_.recipients.empty())
    return reply(554, "5.5.1", "Error: no valid recipients"), false;  // RFC 5321 §3.3
  if (!bdat && data_by_bdat_)
    return reply(503, "5.5.1", "Error: DATA after BDAT"), false;  // RFC 3030 §3
  return true;
}

void Session::cmd_data(std::string_view args) {
  if (!args.empty()) return reply(501, "5.5.4", "Syntax: DATA");
  if (!check_data(false)) return;
  begin_content(false);
  mode_ = Mode::kData;
  // 354 is intermediate: no enhanced code (RFC 2034 §3 covers 2xx/4xx/5xx).
  send(format_reply(354, "", "End data with <CR><LF>.<CR><LF>"));
}

void Session::cmd_bdat(std::string_view args) {
  // RFC 3030 §2: "BDAT" SP chunk-size [ SP end-marker ].
  std::string_view size_text = args.substr(0, args.find(' '));
  std::string_view rest = size_text.size() < args.size() ? args.substr(size_text.size() + 1)
                                                         : std::string_view();
  uint64_t size = 0;
  bool last = false;
  if (!rest.empty()) {
    if (!iequals(rest, "LAST")) size_text = {};
    last = true;
  }
  if (!parse_u64(size_text, size)) {
    // Without a size the chunk's end is unknown: its bytes would be read as commands.
    bdat_ok_ = false;
    close_with(501, "5.5.4", "Syntax: BDAT chunk-size [LAST]; closing");
    return;
  }
  bool already_replied = policy_.require_tls && !tls_;  // dispatch() sent the 530
  bdat_remaining_ = size;
  bdat_last_ = last;
  mode_ = Mode::kBdat;
  bdat_err_code_ = 0;
  bdat_ok_ = false;
  if (already_replied) return;
  // Sequence checks; the reply is owed once the chunk has been read (RFC 3030 §2).
  if (!esmtp_) {
    bdat_err_code_ = 503, bdat_err_enh_ = "5.5.1", bdat_err_text_ = "Error: send EHLO first";
  } else if (!in_transaction_) {
    bdat_err_code_ = 503, bdat_err_enh_ = "5.5.1", bdat_err_text_ = "Error: need MAIL command";
  } else if (env_.recipients.empty()) {
    bdat_err_code_ = 554, bdat_err_enh_ = "5.5.1", bdat_err_text_ = "Error: no valid recipients";
  } else {
    bdat_ok_ = true;
    if (!data_by_bdat_) {
      begin_content(true);
      data_by_bdat_ = true;
    }
  }
}

void Session::cmd_rset(std::string_view args) {
  if (!trim(args).empty()) return reply(501, "5.5.4", "Syntax: RSET");
  reset_transaction();  // RFC 5321 §4.1.1.5
  reply(250, "2.0.0", "Ok");
}

void Session::cmd_noop(std::string_view) {
  reply(250, "2.0.0", "Ok");  // RFC 5321 §4.1.1.9: the argument is ignored
}

void Session::cmd_quit(std::string_view) {
  // RFC 5321 §4.1.1.10. Anything the client sent after QUIT is ignored.
  if (current_cmd_ >= 0 && !cur_marked_) {
    counters_[static_cast<size_t>(current_cmd_)].ok++;
    cur_marked_ = true;
  }
  close_with(221, "2.0.0", "Bye");
}

void Session::cmd_help(std::string_view) {
  reply(214, "2.0.0",
        "Commands: EHLO HELO MAIL RCPT DATA BDAT RSET NOOP QUIT HELP VRFY STARTTLS AUTH");
}

void Session::cmd_vrfy(std::string_view args) {
  if (trim(args).empty()) return reply(501, "5.5.4", "Syntax: VRFY address");
  // RFC 5321 §3.5.3: 252 when the server will not confirm the address.
  reply(252, "2.5.0", "Cannot VRFY user, but will accept message and attempt delivery");
}

void Session::cmd_not_implemented(std::string_view) {
  reply(502, "5.5.1", "Error: command not implemented");  // RFC 5321 §4.2.4
}

void Session::cmd_forbidden(std::string_view) {
  close_with(521, "5.7.0", "Error: this is an SMTP server");
}

void Session::cmd_starttls(std::string_view args) {
  if (!args.empty()) return reply(501, "5.5.4", "Syntax: STARTTLS");
  if (tls_) return reply(503, "5.5.1", "Error: TLS already active");
  if (!policy_.tls_available) return reply(502, "5.5.1", "Error: command not implemented");
  reply(220, "2.0.0", "Ready to start TLS");  // RFC 3207 §4
  pending_ = Pending::kTls;
  actions_.push_back(StartTls{});
}

void Session::on_tls_result(bool ok) {
  guarded([&] {
    if (pending_ != Pending::kTls) return;
    pending_ = Pending::kNone;
    if (!ok) {
      // Nothing can be said in the clear after a failed handshake.
      actions_.push_back(Close{});
      closed_ = true;
      drop_input();
      return;
    }
    tls_ = true;
    reset_after_tls();
    process();
  });
}

// ---- AUTH (RFC 4954, RFC 4616 PLAIN, draft-murchison-sasl-login LOGIN) ----

void Session::cmd_auth(std::string_view args) {
  if (!esmtp_) return reply(503, "5.5.1", "Error: send EHLO first");
  if (!auth_user_.empty()) return reply(503, "5.5.1", "Error: already authenticated");
  if (in_transaction_)
    return reply(503, "5.5.1", "Error: AUTH not allowed during a mail transaction");  // §4
  if (!tls_ && !options_.allow_plaintext_auth)
    return reply(538, "5.7.11", "Encryption required for requested authentication mechanism");
  size_t sp = args.find(' ');
  std::string_view mech = args.substr(0, sp);
  std::string_view initial = sp == std::string_view::npos ? std::string_view() : args.substr(sp + 1);
  if (mech.empty()) return reply(501, "5.5.4", "Syntax: AUTH mechanism [initial-response]");
  if (iequals(mech, "PLAIN")) {
    auth_step_ = AuthStep::kPlain;
    if (initial.empty()) {
      mode_ = Mode::kAuthLine;
      send("334 \r\n");
      return;
    }
    auth_line(initial);
    return;
  }
  if (iequals(mech, "LOGIN")) {
    if (initial.empty()) {
      auth_step_ = AuthStep::kLoginUser;
      mode_ = Mode::kAuthLine;
      send("334 VXNlcm5hbWU6\r\n");  // "Username:"
      return;
    }
    auth_step_ = AuthStep::kLoginUser;
    auth_line(initial);
    return;
  }
  reply(504, "5.5.4", "Unsupported authentication mechanism");
}

bool Session::process_auth_mode() {
  std::string_view in = input();
  size_t pos = in.find(kCrlf);
  if (pos == std::string_view::npos) {
    if (in.size() >= kMaxAuthLine) {
      // RFC 4954 §4: an over-long exchange line ends the exchange; the rest of the line is
      // skipped like an overlong command and answered "500 5.5.2".
      mode_ = Mode::kCommand;
      skipping_long_line_ = true;
      return true;
    }
    return false;
  }
  std::string line(in.substr(0, pos));
  consume(pos + 2);
  if (pos + 2 > kMaxAuthLine) {
    mode_ = Mode::kCommand;
    reply(500, "5.5.6", "Authentication exchange line is too long");
    return true;
  }
  if (!input().empty()) {
    // The client did not wait for our 334 (RFC 4954 §4 forbids pipelining here).
    sync_error();
    return true;
  }
  auth_line(line);
  return true;
}

void Session::auth_line(std::string_view line) {
  ++progress_;
  mode_ = Mode::kCommand;
  // RFC 4954 §4: "*" cancels the exchange: 501.
  if (line == "*") return reply(501, "5.0.0", "Authentication cancelled");
  std::optional<std::string> decoded;
  if (line == "=") {
    decoded = std::string();  // RFC 4954 §4: "=" is an empty initial response
  } else {
    decoded = base64_decode(line);
  }
  if (!decoded) return reply(501, "5.5.2", "Cannot decode AUTH response");
  switch (auth_step_) {
    case AuthStep::kPlain: {
      // RFC 4616 §2: [authzid] NUL authcid NUL passwd.
      const std::string& d = *decoded;
      size_t a = d.find('\0');
      size_t b = a == std::string::npos ? std::string::npos : d.find('\0', a + 1);
      if (b == std::string::npos || d.find('\0', b + 1) != std::string::npos)
        return reply(501, "5.5.2", "Invalid PLAIN response");
      Authenticate req{"PLAIN", d.substr(0, a), d.substr(a + 1, b - a - 1), d.substr(b + 1)};
      if (!req.authzid.empty() && req.authzid != req.user) {
        // No proxy authorization: acting as someone else is refused like a bad password.
        pending_auth_user_ = req.user;
        pending_ = Pending::kAuth;
        on_auth_result(AuthStatus::kBad);
        return;
      }
      pending_auth_user_ = req.user;
      pending_ = Pending::kAuth;
      req.tls = tls_;
      actions_.push_back(std::move(req));
      return;
    }
    case AuthStep::kLoginUser:
      auth_login_user_ = std::move(*decoded);
      auth_step_ = AuthStep::kLoginPassword;
      if (!tls_) {
        // In clear (allow_plaintext_auth): the user's domain may require TLS or forbid
        // LOGIN (store/settings.h); ask before the password crosses the wire.
        pending_auth_user_ = auth_login_user_;
        pending_ = Pending::kAuth;
        auth_policy_check_ = true;
        actions_.push_back(Authenticate{"LOGIN", "", auth_login_user_, "", false, true});
        return;
      }
      mode_ = Mode::kAuthLine;
      send("334 UGFzc3dvcmQ6\r\n");  // "Password:"
      return;
    case AuthStep::kLoginPassword: {
      pending_auth_user_ = auth_login_user_;
      pending_ = Pending::kAuth;
      actions_.push_back(Authenticate{"LOGIN", "", std::move(auth_login_user_), std::move(*decoded), tls_});
      auth_login_user_.clear();
      return;
    }
  }
}

void Session::on_auth_result(AuthStatus status) {
  guarded([&] {
    if (pending_ != Pending::kAuth) return;
    pending_ = Pending::kNone;
    std::string user = std::move(pending_auth_user_);
    pending_auth_user_.clear();
    if (auth_policy_check_) {
      auth_policy_check_ = false;
      if (status == AuthStatus::kOk) {  // the domain accepts LOGIN here: ask for the password
        mode_ = Mode::kAuthLine;
        send("334 UGFzc3dvcmQ6\r\n");  // "Password:"
        process();
        return;
      }
      auth_login_user_.clear();  // refused: the exchange ends here (reply below)
    }
    switch (status) {
      case AuthStatus::kOk:
        auth_user_ = std::move(user);
        reply(235, "2.7.0", "Authentication successful");
        break;
      case AuthStatus::kBad:
      case AuthStatus::kLocked:
      case AuthStatus::kEncryptionRequired:
      case AuthStatus::kMechanismTooWeak:
        // Slow down guessing; a locked account answers exactly like a bad password. A
        // domain-policy refusal is a failure like any other (same delay, same limit); it
        // depends on the login's domain only, so it does not tell whether the user exists.
        ++auth_failures_;
        next_delay_ = options_.auth_failure_delay;
        if (auth_failures_ >= options_.max_auth_failures) {
          ++errors_;
          close_with(421, "4.7.0", options_.hostname + " Error: too many authentication failures");
        } else if (status == AuthStatus::kEncryptionRequired) {
          // RFC 4954 §6: the mechanism (any, for this domain) needs an encrypted connection.
          reply(538, "5.7.11", "Encryption required for requested authentication mechanism");
        } else if (status == AuthStatus::kMechanismTooWeak) {
          // RFC 4954 §6: the domain's policy requires a stronger mechanism than this one.
          reply(534, "5.7.9", "Authentication mechanism is too weak");
        } else {
          reply(535, "5.7.8", "Authentication credentials invalid");
        }
        break;
      case AuthStatus::kTempFail:
        reply(454, "4.7.0", "Temporary authentication failure");
        break;
    }
    process();
  });
}

// ---- content: DATA and BDAT ----

void Session::begin_content(bool bdat) {
  message_.clear();
  content_size_ = 0;
  line_len_ = 0;
  prev_cr_ = false;
  at_line_start_ = true;
  fault_ = DataFault::kNone;
  env_.chunking = bdat;
  // A declared SIZE is a hint, not a promise: reserve at most kMaxReserve up front so
  // that idle sessions declaring large sizes cannot pin memory.
  constexpr size_t kMaxReserve = 1 << 20;
  message_.reserve(std::min<size_t>({env_.declared_size.value_or(64 * 1024),
                                     options_.max_message_size, kMaxReserve}));
}

void Session::content_write(std::string_view bytes) {
  auto emit = [&](std::string_view out) {
    content_size_ += out.size();
    if (content_size_ > options_.max_message_size) {
      // Counted, never stored: the bytes beyond the limit are dropped as they come.
      if (fault_ != DataFault::kSize) {
        fault_ = DataFault::kSize;
        message_.clear();
        message_.shrink_to_fit();
      }
      return;
    }
    if (fault_ == DataFault::kNone) message_.append(out);
  };
  auto fault = [&](DataFault f) {
    if (fault_ == DataFault::kNone) {
      fault_ = f;
      message_.clear();
      message_.shrink_to_fit();
    }
  };
  auto bare = [&] {
    // RFC 5321 §2.3.8: a bare CR or LF is not a line end. Refuse the message, or turn it
    // into CRLF when the operator chose to normalise.
    if (!options_.normalize_bare_newlines) fault(DataFault::kBareNewline);
    emit(kCrlf);
    line_len_ = 0;
  };
  size_t i = 0;
  while (i < bytes.size()) {
    if (prev_cr_) {
      prev_cr_ = false;
      if (bytes[i] == '\n') {
        emit(kCrlf);
        line_len_ = 0;
        ++i;
        continue;
      }
      bare();  // the CR was not followed by LF
    }
    size_t j = bytes.find_first_of(kCrlf, i);
    size_t end = j == std::string_view::npos ? bytes.size() : j;
    if (end > i) {
      line_len_ += end - i;
      // RFC 5321 §4.5.3.1.6: 998 octets of text plus CRLF.
      if (line_len_ > kMaxTextLine - 2) fault(DataFault::kLongLine);
      emit(bytes.substr(i, end - i));
    }
    if (j == std::string_view::npos) break;
    if (bytes[j] == '\r') {
      prev_cr_ = true;
    } else {
      bare();  // LF without CR
    }
    i = j + 1;
  }
}

void Session::content_finish() {
  if (prev_cr_) {
    prev_cr_ = false;
    if (!options_.normalize_bare_newlines) {
      if (fault_ == DataFault::kNone) {
        fault_ = DataFault::kBareNewline;
        message_.clear();
      }
    } else {
      content_write("\n");
    }
  }
}

bool Session::process_data_mode() {
  // RFC 5321 §4.1.1.4, §4.5.2: lines end at CRLF only; "." alone ends the data; a leading
  // dot is removed.
  std::string_view in = input();
  size_t pos = in.find(kCrlf);
  if (pos == std::string_view::npos) {
    // A partial line. Keep at most one text line's worth: pass the rest on (it is counted
    // and checked), keeping a trailing CR that may begin the CRLF.
    if (in.size() > kMaxTextLine) {
      size_t keep = in.back() == '\r' ? 1 : 0;
      std::string_view part = in.substr(0, in.size() - keep);
      consume(part.size());
      if (at_line_start_ && part.front() == '.') part.remove_prefix(1);
      content_write(part);
      at_line_start_ = false;
      return true;
    }
    return false;
  }
  std::string_view line = in.substr(0, pos);
  consume(pos + 2);
  if (at_line_start_ && line == ".") {
    end_of_message();
    return true;
  }
  if (at_line_start_ && !line.empty() && line.front() == '.') line.remove_prefix(1);
  content_write(line);
  content_write(kCrlf);
  at_line_start_ = true;
  return true;
}

bool Session::process_bdat_mode() {
  std::string_view in = input();
  size_t n = static_cast<size_t>(std::min<uint64_t>(bdat_remaining_, in.size()));
  if (n > 0) {
    if (bdat_ok_) content_write(in.substr(0, n));
    consume(n);
    bdat_remaining_ -= n;
  }
  if (bdat_remaining_ > 0) return false;
  mode_ = Mode::kCommand;
  if (!bdat_ok_) {
    if (bdat_err_code_ != 0) reply(bdat_err_code_, bdat_err_enh_, bdat_err_text_);
    bdat_err_code_ = 0;
    return true;
  }
  if (fault_ == DataFault::kSize) {
    // RFC 3030 §2: a failed chunk fails the transaction.
    reply(552, "5.3.4", "Message size exceeds fixed maximum message size");
    reset_transaction();
    return true;
  }
  if (bdat_last_) {
    end_of_message();
    return true;
  }
  reply(250, "2.0.0", std::to_string(content_size_) + " octets received");
  return true;
}

void Session::end_of_message() {
  ++progress_;
  mode_ = Mode::kCommand;
  content_finish();
  switch (fault_) {
    case DataFault::kSize:
      reply(552, "5.3.4", "Message size exceeds fixed maximum message size");  // RFC 1870
      reset_transaction();
      return;
    case DataFault::kLongLine:
      reply(554, "5.6.0", "Message line exceeds 1000 octets");  // RFC 5321 §4.5.3.1.6
      reset_transaction();
      return;
    case DataFault::kBareNewline:
      reply(550, "5.6.0", "Message contains bare CR or LF characters");  // RFC 5321 §2.3.8
      reset_transaction();
      return;
    case DataFault::kNone:
      break;
  }
  // Nothing is acknowledged before the glue reports the durable commit.
  pending_ = Pending::kDeliver;
  actions_.push_back(DeliverMessage{env_, std::move(message_)});
  message_.clear();
}

void Session::on_delivered(const DeliveryResult& result) {
  guarded([&] {
    if (pending_ != Pending::kDeliver) return;
    pending_ = Pending::kNone;
    switch (result.outcome) {
      case DeliveryResult::Outcome::kAccepted:
        reply(250, "2.0.0", "Ok: queued as " + result.queue_id);
        break;
      case DeliveryResult::Outcome::kRejected:
        reply(550, "5.7.1", result.reason.empty() ? "Message rejected" : result.reason, false);
        break;
      case DeliveryResult::Outcome::kTempFail:
        reply(451, "4.3.0", result.reason.empty() ? "Temporary failure, try again later" : result.reason,
              false);
        break;
    }
    reset_transaction();
    process();
  });
}

}  // namespace tsubame::smtp
