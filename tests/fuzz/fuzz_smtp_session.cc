// tests/fuzz/fuzz_smtp_session.cc: libFuzzer target for smtpd's protocol state machine.
//
// Feeds: byte 0 picks the listener (MX with or without STARTTLS, submission, implicit-TLS
// submission) and options (plaintext AUTH allowed, bare newlines normalised, a small
// message size limit, and line mode); bytes 1-2 pick a split point; the rest is the
// client's byte stream, fed to smtp::Session::feed() (smtpd/session.h) after start() in
// two pieces split there. In line mode each piece is fed one line (up to LF) at a time, as
// a client that waits for each reply sends it: without it, most streams end at the
// RFC 2920 synchronisation check (a command after EHLO in the same packet) and the fuzzer
// never reaches a transaction.
// Every action is drained and the asynchronous ones are answered at once with fixed
// results, so the machine progresses: recipients local unless the local part starts with
// 'x' (unknown) or the domain is not example.com (remote); a sender is owned when it
// starts with "alice"; AUTH succeeds for user alice with password "secret"; STARTTLS
// succeeds; every message is accepted. A shutdown ends the session.
// Asserts (__builtin_trap on violation): every Send is a sequence of replies
// (RFC 5321 §4.2: three digits, ' ' or '-', text, CRLF) with no bare CR or LF and no line
// over 512 octets (§4.5.3.1.5), a multiline reply keeps its code; at most one
// asynchronous action is pending at a time (session.h); nothing but Sends follows a Close,
// and the session says closed() once it emitted Close.
#include <cstdint>
#include <string>
#include <string_view>
#include <variant>
#include <vector>

#include "smtpd/session.h"
#include "tests/fuzz/fuzz_util.h"

namespace {

using namespace tsubame::smtp;
using tsubame::fuzz::require;

// RFC 5321 §4.2: Reply-line = *( Reply-code "-" [ textstring ] CRLF )
//                             Reply-code [ SP textstring ] CRLF
void check_replies(std::string_view bytes) {
  require(!bytes.empty(), "an empty Send");
  std::string_view code;
  while (!bytes.empty()) {
    size_t eol = bytes.find("\r\n");
    require(eol != std::string_view::npos, "a reply without CRLF");
    std::string_view line = bytes.substr(0, eol);
    bytes.remove_prefix(eol + 2);
    require(line.size() + 2 <= 512, "a reply line over 512 octets (RFC 5321 §4.5.3.1.5)");
    require(line.find_first_of("\r\n") == std::string_view::npos, "a bare CR or LF in a reply");
    require(line.size() >= 3 && line[0] >= '2' && line[0] <= '5' && line[1] >= '0' && line[1] <= '9' &&
                line[2] >= '0' && line[2] <= '9',
            "a reply line without a reply code");
    require(line.size() == 3 || line[3] == ' ' || line[3] == '-', "a reply code not followed by SP or '-'");
    if (!code.empty()) require(line.substr(0, 3) == code, "a multiline reply changes its code");
    bool more = line.size() > 3 && line[3] == '-';
    code = more ? line.substr(0, 3) : std::string_view();
  }
  require(code.empty(), "a multiline reply without its last line");
}

// What DeliverMessage carries (session.h): CRLF line ends only (RFC 5321 §2.3.8, a bare
// CR or LF is refused or rewritten), no text line over 1000 octets with its CRLF
// (§4.5.3.1.6), no more octets than the size limit (RFC 1870).
void check_message(std::string_view data, size_t max_size) {
  require(data.size() <= max_size, "a delivered message over the size limit");
  size_t line = 0;
  for (size_t i = 0; i < data.size(); ++i) {
    if (data[i] == '\r') {
      require(i + 1 < data.size() && data[i + 1] == '\n', "a bare CR in a delivered message");
    } else if (data[i] == '\n') {
      require(i > 0 && data[i - 1] == '\r', "a bare LF in a delivered message");
      line = 0;
      continue;
    }
    require(++line <= 999, "a delivered line over 1000 octets with its CRLF");
  }
}

struct Driver {
  Session& s;
  size_t max_size = 0;  // Options::max_message_size
  bool closed = false;

  RecipientStatus lookup(const std::string& a) {
    size_t at = a.rfind('@');
    if (at == std::string::npos) return a == "postmaster" ? RecipientStatus::kLocal : RecipientStatus::kUnknownLocal;
    if (a.substr(at + 1) != "example.com") return RecipientStatus::kRemote;
    if (a.starts_with("full")) return RecipientStatus::kFull;
    if (a.starts_with("x")) return RecipientStatus::kUnknownLocal;
    return RecipientStatus::kLocal;
  }

  void pump() {
    for (int rounds = 0;; ++rounds) {
      require(rounds < 100000, "the session keeps emitting actions");
      std::vector<Action> actions = s.take_actions();
      if (actions.empty()) return;
      int async = 0;
      for (const Action& a : actions)
        if (!std::holds_alternative<Send>(a) && !std::holds_alternative<Close>(a)) ++async;
      require(async <= 1, "more than one asynchronous action pending");
      for (Action& a : actions) run(a);
    }
  }

  void run(Action& a) {
    if (auto* send = std::get_if<Send>(&a)) {
      check_replies(send->bytes);
      return;
    }
    require(!closed, "an action other than Send after Close");
    if (std::holds_alternative<Close>(a)) {
      closed = true;
      require(s.closed(), "Close emitted but the session is not closed");
    } else if (std::holds_alternative<StartTls>(a)) {
      s.on_tls_result(true);
    } else if (auto* rc = std::get_if<CheckRecipient>(&a)) {
      s.on_recipient_checked(lookup(rc->address));
    } else if (auto* cs = std::get_if<CheckSender>(&a)) {
      s.on_sender_checked(cs->address.starts_with("alice"));
    } else if (auto* au = std::get_if<Authenticate>(&a)) {
      if (au->policy_only) return s.on_auth_result(AuthStatus::kOk);
      bool ok = au->user == "alice" && au->password == "secret";
      s.on_auth_result(ok ? AuthStatus::kOk : AuthStatus::kBad);
    } else if (auto* d = std::get_if<DeliverMessage>(&a)) {
      require(!d->envelope.recipients.empty(), "a delivery without recipients");
      check_message(d->data, max_size);
      DeliveryResult r;
      r.queue_id = "Q1";
      s.on_delivered(r);
    }
  }
};

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size < 3) return 0;
  Options o;
  o.hostname = "mx.example.com";
  o.error_delay = std::chrono::milliseconds(0);
  o.auth_failure_delay = std::chrono::milliseconds(0);
  o.allow_plaintext_auth = (data[0] & 4) != 0;
  o.normalize_bare_newlines = (data[0] & 8) != 0;
  if ((data[0] & 16) != 0) o.max_message_size = 200;
  ListenerPolicy policy;
  switch (data[0] & 3) {
    case 0: policy = ListenerPolicy::mx(true); break;
    case 1: policy = ListenerPolicy::mx(false); break;
    case 2: policy = ListenerPolicy::submission(); break;
    default: policy = ListenerPolicy::submissions(); break;
  }
  std::string_view stream(reinterpret_cast<const char*>(data) + 3, size - 3);
  size_t split = (static_cast<size_t>(data[1]) << 8 | data[2]) % (stream.size() + 1);

  Session s(o, policy, "F1", "192.0.2.1");
  Driver d{s, o.max_message_size};
  s.start();
  d.pump();
  const bool line_mode = (data[0] & 32) != 0;
  for (std::string_view piece : {stream.substr(0, split), stream.substr(split)}) {
    while (!piece.empty()) {
      size_t n = piece.size();
      if (line_mode) {
        size_t lf = piece.find('\n');
        if (lf != std::string_view::npos) n = lf + 1;
      }
      s.feed(piece.substr(0, n));
      d.pump();
      piece.remove_prefix(n);
    }
  }
  s.on_shutdown();
  d.pump();
  require(s.closed(), "the session is open after on_shutdown()");
  (void)s.summary();
  return 0;
}
