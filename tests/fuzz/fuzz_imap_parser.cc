// tests/fuzz/fuzz_imap_parser.cc: libFuzzer target for imapd's command parser.
//
// Feeds: byte 0 picks the ParserOptions (authenticated, LITERAL+ or LITERAL-, UTF-8 mailbox
// names) and whether IDLE/AUTHENTICATE switch the parser to raw lines as the session does;
// byte 1 picks a chunk size; the rest is the client's byte stream, fed to imap::Parser in
// chunks of that size (framing: lines, {n}/{n+}/~{n} literals, limits) and drained with
// next() after each chunk, so parse_command runs on every framed command. A LOGIN switches
// the parser to the post-login limits, as imapd's session does.
// Asserts (__builtin_trap on violation): every error's tagged response (imapd/response.h
// tagged()/untagged(), as the session sends it) is one line ending in CRLF with no other CR
// or LF (no response injection); after a kBye error nothing more is parsed; the response
// writer round-trips what parsed: a SELECT/CREATE/DELETE... mailbox name written with
// append_mailbox() parses back to the same name, and STORE flags written with
// append_flag_list() parse back to the same flags.
#include <cstdint>
#include <string>
#include <string_view>
#include <variant>
#include <vector>

#include "imapd/parser.h"
#include "imapd/response.h"
#include "tests/fuzz/fuzz_util.h"

namespace {

using namespace tsubame::imap;
using tsubame::fuzz::require;

// One response line: ends in CRLF and holds no other CR or LF.
void check_line(const std::string& line) {
  require(line.size() >= 2 && line.ends_with("\r\n"), "response line does not end in CRLF");
  std::string_view body(line.data(), line.size() - 2);
  require(body.find_first_of("\r\n") == std::string_view::npos, "CR or LF inside a response line");
}

// Parses one complete command written by us (literals answered), with opts.
std::vector<ParseEvent> parse_all(std::string_view wire, const ParserOptions& opts) {
  Parser p(opts);
  p.feed(wire);
  std::vector<ParseEvent> out;
  while (auto ev = p.next()) out.push_back(std::move(*ev));
  return out;
}

const Command* only_command(const std::vector<ParseEvent>& evs) {
  const Command* c = nullptr;
  for (const auto& ev : evs) {
    if (std::holds_alternative<ContinuationRequest>(ev)) continue;
    if (c != nullptr) return nullptr;
    c = std::get_if<Command>(&ev);
    if (c == nullptr) return nullptr;
  }
  return c;
}

// Parses `wire` as an authenticated client's one command, which must be of `kind`; traps with
// `what` (and prints the wire) otherwise. Returns that command's arguments.
template <class Args>
Args parse_back(const std::string& wire, const ParserOptions& opts, CommandKind kind, const char* what) {
  ParserOptions po = opts;
  po.authenticated = true;
  auto evs = parse_all(wire, po);
  const Command* c = only_command(evs);
  if (c == nullptr || c->kind != kind) {
    std::fprintf(stderr, "wire: %s\n", wire.c_str());
    tsubame::fuzz::violated(what);
  }
  return c->as<Args>();
}

// The writer's encoding of a mailbox name parses back to the same name.
void roundtrip_mailbox(const std::string& name, const ParserOptions& opts) {
  if (name.empty()) return;
  EncodeOptions eo;
  eo.utf8 = opts.utf8_mailboxes;
  std::string wire = "r DELETE ";
  append_mailbox(wire, name, eo);
  wire += "\r\n";
  auto args = parse_back<MailboxArgs>(wire, opts, CommandKind::kDelete, "an encoded mailbox name does not parse back");
  require(args.mailbox == name, "an encoded mailbox name parses back different");
}

void roundtrip_flags(const std::vector<std::string>& flags, const ParserOptions& opts) {
  std::string wire = "r STORE 1 FLAGS ";
  append_flag_list(wire, flags);
  wire += "\r\n";
  auto args = parse_back<StoreArgs>(wire, opts, CommandKind::kStore, "an encoded flag list does not parse back");
  require(args.flags == flags, "an encoded flag list parses back different");
}

void check_command(const Command& c, const ParserOptions& opts) {
  if (const auto* s = std::get_if<SelectArgs>(&c.args)) roundtrip_mailbox(s->mailbox, opts);
  if (const auto* m = std::get_if<MailboxArgs>(&c.args)) roundtrip_mailbox(m->mailbox, opts);
  if (const auto* m = std::get_if<CreateArgs>(&c.args)) roundtrip_mailbox(m->mailbox, opts);
  if (const auto* r = std::get_if<RenameArgs>(&c.args)) {
    roundtrip_mailbox(r->from, opts);
    roundtrip_mailbox(r->to, opts);
  }
  if (const auto* s = std::get_if<StatusArgs>(&c.args)) roundtrip_mailbox(s->mailbox, opts);
  if (const auto* cp = std::get_if<CopyArgs>(&c.args)) roundtrip_mailbox(cp->mailbox, opts);
  if (const auto* a = std::get_if<AppendArgs>(&c.args)) roundtrip_mailbox(a->mailbox, opts);
  if (const auto* st = std::get_if<StoreArgs>(&c.args)) roundtrip_flags(st->flags, opts);
  // What a successful command's tagged reply carries of it.
  check_line(tagged(c.tag, "OK", "", std::string(command_name(c.kind)) + " completed"));
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size < 2) return 0;
  ParserOptions opts;
  opts.authenticated = (data[0] & 1) != 0;
  opts.literal_plus = (data[0] & 2) != 0;
  opts.utf8_mailboxes = (data[0] & 4) != 0;
  const bool raw_lines = (data[0] & 8) != 0;
  const size_t chunk = 1 + data[1] % 64 * 16;  // 1, 17, 33 ... 1009 octets
  std::string_view stream(reinterpret_cast<const char*>(data) + 2, size - 2);

  Parser parser(opts);
  bool bye = false;
  for (size_t off = 0; off < stream.size(); off += chunk) {
    parser.feed(stream.substr(off, chunk));
    while (auto ev = parser.next()) {
      require(!bye, "an event after a kBye error");
      if (auto* c = std::get_if<Command>(&*ev)) {
        check_command(*c, parser.options());
        if (c->kind == CommandKind::kLogin) parser.set_authenticated(true);
        if (raw_lines && (c->kind == CommandKind::kIdle ||
                          (c->kind == CommandKind::kAuthenticate &&
                           !c->as<AuthenticateArgs>().initial_response)))
          parser.expect_raw_line();
      } else if (auto* e = std::get_if<ParseError>(&*ev)) {
        parser.cancel_raw_line();
        if (e->kind == ParseError::Kind::kBye) {
          check_line(untagged("BYE " + e->text));
          bye = true;
        } else {
          check_line(tagged(e->tag, e->kind == ParseError::Kind::kNo ? "NO" : "BAD", e->code, e->text));
        }
      } else if (std::holds_alternative<ContinuationRequest>(*ev)) {
        check_line(continuation("Ready for literal data"));
      }
    }
    if (parser.closed()) break;
  }
  return 0;
}
