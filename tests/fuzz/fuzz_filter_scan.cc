// tests/fuzz/fuzz_filter_scan.cc: libFuzzer target for the whole filter on one raw message.
//
// Feeds: the input bytes as a raw RFC 5322 message to parse_message() (MimeLimits defaults),
// then to the rule scan of the DEFAULT rule set (conf/rules, compiled once in
// LLVMFuzzerInitialize) through Filter::analyse_parsed(), the path `tsubame filter scan`
// takes after its parse (no store: the classifier is off), then decide() with the default
// policy, and the classifier's tokeniser (classifier_input() + tokenize_message()) on the
// same parse.
// Asserts (__builtin_trap on violation, filter/README.md "Invariants"): parse_message
// never fails; every decoded text field is valid UTF-8 (header values, subject, display
// names, body_text, hidden_text, text parts, link href/text, attachment file names,
// nested messages' headers); the summary's offsets are ordered and inside the message, a
// multipart has a child and a message/rfc822 exactly one spanning its body; the summary
// encodes and decodes to itself; the analysis is not a fault; the verdict's JSON parses.
// Rules path: $TSUBAME_FUZZ_RULES, else TSUBAME_SOURCE_DIR/conf/rules.
#include <cstdint>
#include <cstdlib>
#include <memory>
#include <string>
#include <string_view>

#include <nlohmann/json.hpp>

#include "common/message_summary.h"
#include "filter/classifier.h"
#include "filter/filter.h"
#include "filter/mime.h"
#include "filter/policy.h"
#include "tests/fuzz/fuzz_util.h"

namespace {

using tsubame::BodyPart;
using tsubame::fuzz::require;
using tsubame::fuzz::valid_utf8;
namespace filter = tsubame::filter;

filter::Filter* g_filter = nullptr;

void check_headers(const filter::MessageHeaders& h) {
  for (const auto& f : h.headers) require(valid_utf8(f.value), "header value is not UTF-8");
  require(valid_utf8(h.subject), "subject is not UTF-8");
  auto mailbox = [](const filter::Mailbox& m) { require(valid_utf8(m.display_name), "display name is not UTF-8"); };
  if (h.from) mailbox(*h.from);
  if (h.sender) mailbox(*h.sender);
  if (h.return_path) mailbox(*h.return_path);
  for (const auto* list : {&h.from_all, &h.to, &h.cc, &h.reply_to})
    for (const auto& m : *list) mailbox(m);
}

// tests/filter/mime_test_util.h check_offsets(), non-strict (malformed input may end a part
// inside its header), as traps.
void check_part(std::string_view raw, const BodyPart& p, unsigned depth) {
  require(depth < 1000, "summary nests without bound");
  require(p.header_offset <= p.body_offset, "part header_offset > body_offset");
  require(p.body_offset <= p.body_end, "part body_offset > body_end");
  require(p.body_end <= raw.size(), "part body_end past the message");
  require(p.size == p.body_end - p.body_offset, "part size != body length");
  uint64_t prev = p.body_offset;
  for (const auto& c : p.children) {
    require(c.header_offset >= prev, "child starts before its predecessor ends");
    require(c.body_end <= p.body_end, "child ends after its parent");
    prev = c.body_end;
    check_part(raw, c, depth + 1);
  }
  if (p.is_message()) {
    require(p.children.size() == 1, "message/rfc822 part without exactly one child");
    require(p.children[0].header_offset == p.body_offset, "message child does not start at the body");
    require(p.children[0].body_end == p.body_end, "message child does not end with the body");
    require(p.envelope.has_value(), "message/rfc822 part without an envelope");
  }
  if (p.is_multipart()) require(!p.children.empty(), "multipart without a child");
}

}  // namespace

extern "C" int LLVMFuzzerInitialize(int*, char***) {
  const char* env = std::getenv("TSUBAME_FUZZ_RULES");
  std::string rules = env != nullptr ? env : TSUBAME_SOURCE_DIR "/conf/rules";
  filter::FilterOptions o;
  o.rules = rules;
  auto f = filter::Filter::open(std::move(o));
  if (!f.is_ok()) {
    std::fprintf(stderr, "fuzz_filter_scan: cannot open the filter on %s: %s\n", rules.c_str(),
                 f.status().to_string().c_str());
    std::abort();
  }
  g_filter = f.value().release();  // lives as long as the process
  return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::string_view raw(reinterpret_cast<const char*>(data), size);
  auto parsed = filter::parse_message(raw, filter::MimeLimits{});
  require(parsed.is_ok(), "parse_message failed");
  const filter::ParsedMessage& m = *parsed;

  // Decoded text is valid UTF-8 (filter/README.md, "Invariants").
  check_headers(m);
  for (const auto& n : m.nested) check_headers(n.headers);
  require(valid_utf8(m.body_text), "body_text is not UTF-8");
  require(valid_utf8(m.hidden_text), "hidden_text is not UTF-8");
  for (const auto& t : m.text_parts) require(valid_utf8(t.text), "text part is not UTF-8");
  for (const auto& l : m.links) {
    require(valid_utf8(l.href), "link href is not UTF-8");
    require(valid_utf8(l.text), "link text is not UTF-8");
  }
  for (const auto& a : m.attachments) require(valid_utf8(a.filename), "attachment file name is not UTF-8");

  // The summary imapd serves from: offsets, and a lossless encoding.
  require(m.summary.size == raw.size(), "summary size != message size");
  require(m.header_end == m.summary.body.body_offset, "header_end != root body_offset");
  check_part(raw, m.summary.body, 0);
  auto decoded = tsubame::decode_summary(tsubame::encode_summary(m.summary));
  require(decoded.is_ok(), "summary does not decode");
  require(*decoded == m.summary, "summary does not decode to itself");

  // The rule scan and the decision, as `tsubame filter scan` runs them.
  filter::SmtpEnvelope env;
  env.mail_from = "sender@example.org";
  env.rcpt_to = {"user@example.com"};
  env.client_ip = "192.0.2.7";
  env.helo = "client.example.org";
  filter::Analysis a = g_filter->analyse_parsed(m, env);
  require(!a.verdict.fault, "the analysis is a filter fault");
  filter::Verdict v = filter::decide(a, filter::Policy{});
  require(!v.fault, "the decision is a filter fault");
  auto json = nlohmann::json::parse(v.to_json(), nullptr, /*allow_exceptions=*/false);
  require(!json.is_discarded(), "verdict JSON does not parse");
  (void)v.to_text();

  // The classifier's tokeniser on what it would read of this message.
  filter::ClassifierInput in = filter::classifier_input(m, a.verdict);
  auto tokens = filter::tokenize_message(in);
  require(tokens.size() <= filter::kMaxTokensPerMessage, "more tokens than kMaxTokensPerMessage");
  return 0;
}
