// smtpd/outbound/client.cc: the outbound SMTP client state machine (see client.h).
// Failure: nothing here does I/O or throws; every server misbehaviour becomes a Reply kept
// as the host error or a recipient's result.
#include "smtpd/outbound/client.h"

#include <algorithm>
#include <cctype>

namespace tsubame::smtp::outbound {
namespace {

std::string upper(std::string_view s) {
  std::string out(s);
  for (char& c : out) c = char(std::toupper(static_cast<unsigned char>(c)));
  return out;
}

// A local reply for an event that has no server reply (timeout, closed connection).
Reply local_reply(int code, std::string enhanced, std::string text) {
  Reply r;
  r.code = code;
  r.enhanced = std::move(enhanced);
  r.lines.push_back(std::move(text));
  r.local = true;
  return r;
}

// RFC 3463 §2: class.subject.detail, with the class matching the reply's first digit.
std::string parse_enhanced(int code, std::string_view text) {
  size_t i = 0;
  auto digits = [&](size_t max) {
    size_t start = i;
    while (i < text.size() && std::isdigit(static_cast<unsigned char>(text[i])) && i - start < max) ++i;
    return i - start;
  };
  if (digits(1) != 1) return {};
  if (text[0] - '0' != code / 100) return {};
  if (i >= text.size() || text[i++] != '.' || digits(3) == 0) return {};
  if (i >= text.size() || text[i++] != '.' || digits(3) == 0) return {};
  if (i < text.size() && text[i] != ' ') return {};
  return std::string(text.substr(0, i));
}

}  // namespace

std::string Reply::summary() const {
  std::string s = code ? std::to_string(code) : std::string("000");
  std::string first = lines.empty() ? std::string() : lines.front();
  if (!enhanced.empty() && first.compare(0, enhanced.size(), enhanced) != 0) s += " " + enhanced;
  if (!first.empty()) s += " " + first;
  if (s.size() > kMaxReplyText) s.resize(kMaxReplyText);
  return s;
}

ReplyReader::Status ReplyReader::feed(std::string_view& in, Reply& out) {
  while (!in.empty()) {
    size_t nl = in.find('\n');
    size_t take = nl == std::string_view::npos ? in.size() : nl + 1;
    if (line_.size() + take > kMaxReplyLine) {
      error_ = "reply line longer than " + std::to_string(kMaxReplyLine) + " octets";
      return Status::kError;
    }
    line_.append(in.substr(0, take));
    in.remove_prefix(take);
    if (nl == std::string_view::npos) return Status::kNeedMore;
    // A reply line: "ddd" [("-" / " ") text] CRLF. A bare LF is tolerated from servers.
    std::string_view l(line_);
    l.remove_suffix(1);
    if (!l.empty() && l.back() == '\r') l.remove_suffix(1);
    if (l.size() < 3 || !std::isdigit(static_cast<unsigned char>(l[0])) ||
        !std::isdigit(static_cast<unsigned char>(l[1])) ||
        !std::isdigit(static_cast<unsigned char>(l[2])) || l[0] < '2' || l[0] > '5' ||
        (l.size() > 3 && l[3] != ' ' && l[3] != '-')) {
      error_ = "malformed reply line";
      return Status::kError;
    }
    int code = (l[0] - '0') * 100 + (l[1] - '0') * 10 + (l[2] - '0');
    bool more = l.size() > 3 && l[3] == '-';
    std::string text(l.size() > 4 ? l.substr(4) : std::string_view());
    line_.clear();
    if (cur_.lines.empty()) {
      cur_.code = code;
      cur_.enhanced = parse_enhanced(code, text);
    } else if (code != cur_.code) {
      // RFC 5321 §4.2.1: every line of a multi-line reply carries the same code.
      error_ = "multi-line reply changes its code";
      return Status::kError;
    }
    if (cur_.lines.size() >= kMaxReplyLines) {
      error_ = "reply longer than " + std::to_string(kMaxReplyLines) + " lines";
      return Status::kError;
    }
    cur_.lines.push_back(std::move(text));
    if (!more) {
      out = std::move(cur_);
      cur_ = Reply();
      return Status::kReply;
    }
  }
  return Status::kNeedMore;
}

std::string dot_stuff(std::string_view content) {
  std::string out;
  out.reserve(content.size() + content.size() / 64 + 8);
  bool line_start = true;
  for (size_t i = 0; i < content.size(); ++i) {
    char c = content[i];
    if (c == '\r' || c == '\n') {
      // CRLF, bare LF and bare CR all end a line (RFC 5321 §2.3.8: only CRLF goes out).
      if (c == '\r' && i + 1 < content.size() && content[i + 1] == '\n') ++i;
      out += "\r\n";
      line_start = true;
      continue;
    }
    if (line_start && c == '.') out += '.';  // RFC 5321 §4.5.2
    out += c;
    line_start = false;
  }
  if (!line_start) out += "\r\n";
  out += ".\r\n";
  return out;
}

std::string crlf_normalise(std::string_view content) {
  std::string out = dot_stuff(content);
  out.resize(out.size() - 3);  // drop ".\r\n"
  // Undo the stuffing: every line that starts with ".." had one '.' added.
  std::string plain;
  plain.reserve(out.size());
  bool line_start = true;
  for (size_t i = 0; i < out.size(); ++i) {
    if (line_start && out[i] == '.') ++i;
    plain += out[i];
    line_start = out[i] == '\n';
  }
  return plain;
}

bool has_8bit(std::string_view s) {
  return std::any_of(s.begin(), s.end(), [](char c) { return static_cast<unsigned char>(c) > 0x7F; });
}

const char* outcome_name(Outcome o) {
  switch (o) {
    case Outcome::kPending: return "pending";
    case Outcome::kDelivered: return "delivered";
    case Outcome::kTemporary: return "temporary";
    case Outcome::kPermanent: return "permanent";
  }
  return "?";
}

Client::Client(ClientMessage message, ClientOptions options)
    : msg_(std::move(message)), opt_(options) {
  results_.resize(msg_.recipients.size());
  rcpt_ok_.assign(msg_.recipients.size(), false);
}

Step Client::on_connected() {
  if (state_ == State::kConnecting) state_ = State::kGreeting;
  return {};
}

int64_t Client::timeout_s() const {
  const ClientTimeouts& t = opt_.timeouts;
  switch (state_) {
    case State::kConnecting: return kConnectTimeoutS;
    case State::kGreeting: return t.greeting;          // RFC 5321 §4.5.3.2.1
    case State::kEhlo:
    case State::kHelo:
    case State::kStartTls: return t.mail;
    case State::kTlsHandshake: return t.tls;
    case State::kTransaction: {
      if (expect_.empty()) return t.mail;
      switch (expect_.front().what) {
        case Expect::kMail: return t.mail;             // §4.5.3.2.2
        case Expect::kRcpt: return t.rcpt;             // §4.5.3.2.3
        case Expect::kData: return t.data_init;        // §4.5.3.2.4
        case Expect::kDataEnd: return t.data_term;     // §4.5.3.2.6
      }
      return t.mail;
    }
    case State::kQuit: return t.quit;
    case State::kDone: return 0;
  }
  return 0;
}

Step Client::on_data(std::string_view bytes) {
  Step out;
  while (!bytes.empty() && state_ != State::kDone) {
    Reply r;
    auto st = reader_.feed(bytes, r);
    if (st == ReplyReader::Status::kNeedMore) break;
    if (st == ReplyReader::Status::kError) {
      Step s = fail_host(local_reply(0, "4.5.0", "protocol error: " + reader_.error()), false);
      out.send += s.send;
      out.close = true;
      return out;
    }
    Step s = handle(r);
    out.send += s.send;
    if (s.close) {
      out.close = true;
      return out;
    }
    if (s.start_tls) {
      // RFC 3207 §4.2 / CVE-2011-0411: nothing may follow the 220 in clear text; bytes
      // that did were injected before the handshake and must not be trusted.
      // The TLS attempt has failed either way (a server that sends text cannot have sent
      // a handshake), so this counts as a failed handshake: the runner may retry in clear,
      // whether the text came in the same read as the 220 or after it.
      if (!bytes.empty() || reader_.partial()) {
        tls_failed_ = true;
        Step f = fail_host(local_reply(0, "4.7.5", "TLS handshake failed: data after 220 to STARTTLS"), false);
        return Step{std::move(f.send), false, true};
      }
      out.start_tls = true;
      return out;
    }
  }
  return out;
}

Step Client::handle(const Reply& r) {
  switch (state_) {
    case State::kConnecting:
    case State::kGreeting:
      // RFC 5321 §3.1: 220 opens the session; 554 (or anything else) refuses it: QUIT.
      if (r.code != 220) return fail_host(r, true);
      state_ = State::kEhlo;
      return Step{"EHLO " + msg_.helo_name + "\r\n"};
    case State::kEhlo:
      if (r.code == 250) {
        parse_ehlo(r);
        return after_hello();
      }
      // RFC 5321 §3.2: a server that does not know EHLO answers 5xx; fall back to HELO.
      if (r.permanent() && !tls_active_) {
        state_ = State::kHelo;
        return Step{"HELO " + msg_.helo_name + "\r\n"};
      }
      return fail_host(r, true);
    case State::kHelo:
      if (r.code != 250) return fail_host(r, true);
      ext_esmtp_ = false;
      return after_hello();
    case State::kStartTls:
      if (r.code == 220) {  // RFC 3207 §4: 220 Ready to start TLS
        state_ = State::kTlsHandshake;
        return Step{{}, true, false};
      }
      if (r.code == 421) return fail_host(r, false);
      // Opportunistic: STARTTLS refused (454 / 501), carry on in clear unless TLS is required.
      if (opt_.require_tls) return fail_host(r, true);
      tls_note_ = "STARTTLS refused: " + r.summary();
      return begin_transaction();
    case State::kTlsHandshake:
      // Text where the server's TLS handshake should be: the handshake has failed. The bytes
      // are never acted on (RFC 3207 §4: nothing before TLS is trusted); as for any failed
      // opportunistic handshake, the runner may retry in clear. Whether they arrive in the
      // same read as the 220 or after it must not change the outcome.
      tls_failed_ = true;
      return fail_host(local_reply(0, "4.7.5", "TLS handshake failed: the server sent text instead of a TLS handshake"), false);
    case State::kTransaction:
      return handle_transaction(r);
    case State::kQuit:
      state_ = State::kDone;
      return Step{{}, false, true};
    case State::kDone:
      return {};
  }
  return {};
}

void Client::parse_ehlo(const Reply& r) {
  ext_esmtp_ = true;
  ext_pipelining_ = ext_8bitmime_ = ext_smtputf8_ = ext_dsn_ = ext_starttls_ = ext_size_ = false;
  ext_chunking_ = false;
  ext_size_limit_ = 0;
  // RFC 5321 §4.1.1.1: the first line greets; each further line is "keyword [params]".
  for (size_t i = 1; i < r.lines.size(); ++i) {
    std::string_view l = r.lines[i];
    size_t sp = l.find(' ');
    std::string key = upper(l.substr(0, sp));
    std::string_view param = sp == std::string_view::npos ? std::string_view() : l.substr(sp + 1);
    if (key == "PIPELINING") ext_pipelining_ = true;          // RFC 2920
    else if (key == "8BITMIME") ext_8bitmime_ = true;         // RFC 6152
    else if (key == "SMTPUTF8") ext_smtputf8_ = true;         // RFC 6531
    else if (key == "DSN") ext_dsn_ = true;                   // RFC 3461
    else if (key == "STARTTLS") ext_starttls_ = true;         // RFC 3207
    else if (key == "CHUNKING") ext_chunking_ = true;         // RFC 3030
    else if (key == "SIZE") {                                 // RFC 1870 §4
      ext_size_ = true;
      uint64_t n = 0;
      bool ok = !param.empty() && param.size() < 19;
      for (char c : param) ok = ok && std::isdigit(static_cast<unsigned char>(c)) && (n = n * 10 + uint64_t(c - '0'), true);
      ext_size_limit_ = ok ? n : 0;
    }
  }
}

Step Client::after_hello() {
  // RFC 3207 §4: opportunistic STARTTLS when offered and we have a client context.
  if (!tls_active_ && ext_starttls_ && opt_.try_tls) {
    state_ = State::kStartTls;
    return Step{"STARTTLS\r\n"};
  }
  if (!tls_active_ && opt_.require_tls)
    return fail_host(local_reply(0, "4.7.4", "TLS required but not offered"), true);
  return begin_transaction();
}

Step Client::on_tls_done(bool ok, bool verified, std::string_view note) {
  if (state_ != State::kTlsHandshake) return {};
  tls_note_.assign(note);
  if (!ok) {
    tls_failed_ = true;
    return fail_host(local_reply(0, "4.7.5", "TLS handshake failed: " + std::string(note)), false);
  }
  tls_active_ = true;
  tls_verified_ = verified;
  // RFC 3207 §4.2: forget what was learnt before TLS and say EHLO again.
  ext_pipelining_ = ext_8bitmime_ = ext_smtputf8_ = ext_dsn_ = ext_starttls_ = ext_size_ = false;
  ext_chunking_ = false;
  state_ = State::kEhlo;
  return Step{"EHLO " + msg_.helo_name + "\r\n"};
}

std::string Client::mail_command() const {
  std::string cmd = "MAIL FROM:<" + msg_.sender + ">";
  if (!ext_esmtp_) return cmd + "\r\n";
  if (ext_size_) cmd += " SIZE=" + std::to_string(msg_.content.size());  // RFC 1870 §6
  if (ext_8bitmime_ && has_8bit(msg_.content)) cmd += " BODY=8BITMIME";    // RFC 6152 §3
  if (ext_smtputf8_ && (has_8bit(msg_.sender) ||
                        std::any_of(msg_.recipients.begin(), msg_.recipients.end(),
                                    [](const ClientRecipient& r) { return has_8bit(r.address); })))
    cmd += " SMTPUTF8";  // RFC 6531 §3.4
  if (ext_dsn_) {        // RFC 3461 §4.3, §4.4: passed on as received
    if (!msg_.ret.empty()) cmd += " RET=" + msg_.ret;
    if (!msg_.envid.empty()) cmd += " ENVID=" + msg_.envid;
  }
  return cmd + "\r\n";
}

std::string Client::rcpt_command(size_t i) const {
  const ClientRecipient& r = msg_.recipients[i];
  std::string cmd = "RCPT TO:<" + r.address + ">";
  if (ext_esmtp_ && ext_dsn_) {  // RFC 3461 §4.1, §4.2
    if (!r.notify.empty()) cmd += " NOTIFY=" + r.notify;
    if (!r.orcpt.empty()) cmd += " ORCPT=" + r.orcpt;
  }
  return cmd + "\r\n";
}

Step Client::begin_transaction() {
  state_ = State::kTransaction;
  // Checks that make this host unable to take the message at all: permanent for it.
  bool utf8 = has_8bit(msg_.sender) ||
              std::any_of(msg_.recipients.begin(), msg_.recipients.end(),
                          [](const ClientRecipient& r) { return has_8bit(r.address); });
  if (utf8 && !ext_smtputf8_)  // RFC 6531 §3.2: no downgrade of addresses; RFC 6533 5.6.7
    return fail_all(local_reply(550, "5.6.7", "non-ASCII address and the server does not offer SMTPUTF8"));
  if (has_8bit(msg_.content) && !ext_8bitmime_)  // RFC 6152 §3: no 8-bit data without 8BITMIME
    return fail_all(local_reply(554, "5.6.3", "8-bit message and the server does not offer 8BITMIME"));
  if (ext_size_ && ext_size_limit_ > 0 && msg_.content.size() > ext_size_limit_)  // RFC 1870 §6
    return fail_all(local_reply(552, "5.3.4", "message size " + std::to_string(msg_.content.size()) +
                                                  " exceeds the server's limit " +
                                                  std::to_string(ext_size_limit_)));
  if (msg_.recipients.empty()) return quit();
  Step out;
  out.send = mail_command();
  expect_.push_back({Expect::kMail});
  if (ext_pipelining_) {
    // RFC 2920 §3.1: MAIL, RCPT and DATA may be sent as one group; DATA ends the group.
    for (size_t i = 0; i < msg_.recipients.size(); ++i) {
      out.send += rcpt_command(i);
      expect_.push_back({Expect::kRcpt, i});
    }
    next_rcpt_ = msg_.recipients.size();
    if (ext_chunking_ && opt_.use_chunking) {
      // RFC 3030 §4.2: BDAT may be pipelined; with no valid recipient the server still
      // reads the chunk and refuses it (503/554), so the byte count keeps us in sync.
      out.send += bdat_command();
      expect_.push_back({Expect::kDataEnd});
    } else {
      out.send += "DATA\r\n";
      expect_.push_back({Expect::kData});
    }
  }
  return out;
}

std::string Client::bdat_command() {
  bdat_ = true;
  data_sent_ = true;
  std::string chunk = crlf_normalise(msg_.content);
  // RFC 3030 §2: "BDAT" SP chunk-size SP "LAST" CRLF, then exactly chunk-size octets.
  return "BDAT " + std::to_string(chunk.size()) + " LAST\r\n" + chunk;
}

void Client::decide(size_t i, const Reply& r) {
  if (results_[i].outcome != Outcome::kPending) return;
  results_[i].reply = r;
  results_[i].outcome = r.positive() ? Outcome::kDelivered
                        : r.temporary() ? Outcome::kTemporary
                                        : Outcome::kPermanent;
}

size_t Client::accepted() const { return size_t(std::count(rcpt_ok_.begin(), rcpt_ok_.end(), true)); }

Step Client::fail_all(const Reply& r) {
  for (size_t i = 0; i < results_.size(); ++i) decide(i, r);
  return quit();
}

Step Client::handle_transaction(const Reply& r) {
  if (expect_.empty())  // RFC 5321 §4.2: a reply to nothing
    return fail_host(local_reply(0, "4.5.0", "protocol error: unexpected reply " + r.summary()), false);
  Pending p = expect_.front();
  expect_.erase(expect_.begin());
  // 421: the server is closing the channel (RFC 5321 §3.8); undecided recipients wait.
  if (r.code == 421) return fail_host(r, false);
  switch (p.what) {
    case Expect::kMail:
      if (!r.positive()) {
        mail_failed_ = true;
        for (size_t i = 0; i < results_.size(); ++i) decide(i, r);
      }
      break;
    case Expect::kRcpt:
      if (mail_failed_) break;  // pipelined RCPTs after a failed MAIL: already decided
      if (r.code == 250 || r.code == 251) rcpt_ok_[p.index] = true;
      else decide(p.index, r);
      break;
    case Expect::kData:
      if (r.code == 354) {
        if (accepted() == 0 || mail_failed_) {
          // RFC 2920 §3.1: DATA went out in the group but nobody was accepted; end it empty.
          dummy_data_ = true;
          expect_.push_back({Expect::kDataEnd});
          return Step{".\r\n"};
        }
        data_sent_ = true;
        expect_.push_back({Expect::kDataEnd});
        return Step{dot_stuff(msg_.content)};
      }
      for (size_t i = 0; i < results_.size(); ++i)
        if (rcpt_ok_[i]) decide(i, r);
      return quit();
    case Expect::kDataEnd:
      if (!dummy_data_)
        for (size_t i = 0; i < results_.size(); ++i)
          if (rcpt_ok_[i]) decide(i, r);
      return quit();
  }
  if (!expect_.empty()) return {};  // more pipelined replies due
  return next_command();
}

Step Client::next_command() {
  if (mail_failed_) return quit();
  if (next_rcpt_ < msg_.recipients.size()) {  // one RCPT at a time without PIPELINING
    size_t i = next_rcpt_++;
    expect_.push_back({Expect::kRcpt, i});
    return Step{rcpt_command(i)};
  }
  if (accepted() == 0) return quit();
  if (ext_chunking_ && opt_.use_chunking) {
    expect_.push_back({Expect::kDataEnd});
    return Step{bdat_command()};
  }
  expect_.push_back({Expect::kData});
  return Step{"DATA\r\n"};
}

Step Client::quit() {
  state_ = State::kQuit;
  expect_.clear();
  return Step{"QUIT\r\n"};
}

Step Client::fail_host(Reply r, bool send_quit) {
  host_failed_ = true;
  host_error_ = std::move(r);
  // Recipients accepted at RCPT but with no reply to the data yet stay pending.
  for (auto& x : results_)
    if (x.outcome == Outcome::kPending) x.reply = host_error_;
  expect_.clear();
  if (send_quit) {
    state_ = State::kQuit;
    return Step{"QUIT\r\n"};
  }
  state_ = State::kDone;
  return Step{{}, false, true};
}

Step Client::on_timeout() {
  if (state_ == State::kDone) return {};
  if (state_ == State::kQuit) {  // decisions are made; QUIT's reply is a courtesy
    state_ = State::kDone;
    return Step{{}, false, true};
  }
  return fail_host(local_reply(0, "4.4.2", "timeout waiting for the server"), false);
}

Step Client::on_closed(std::string_view why) {
  if (state_ == State::kDone) return {};
  if (state_ == State::kQuit) {
    state_ = State::kDone;
    return {};
  }
  Step s = fail_host(local_reply(0, "4.4.2", "connection lost: " + std::string(why)), false);
  s.close = true;
  return s;
}

}  // namespace tsubame::smtp::outbound
