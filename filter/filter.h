// filter/filter.h: the filter's front door: scan(raw message, envelope, policy) -> Verdict.
//
//   raw ──parse_message()──▶ ParsedMessage ─┬─ build_scan_input() ─▶ Engine::scan ─▶ rule hits
//                                           ├─ compute_checks()  (check:NAME rules: link
//                                           │   text vs href host, missing/malformed headers)
//                                           ├─ build_classifier_input() ─▶ Classifier (BAYES)
//                                           └─ attachments, sender evidence, DLP numbers
//                                                    │
//                               Analysis ──decide(policy)──▶ Verdict {action, score, why}
//
// analyse() does the per-message work once; decide() (policy.h) can then be applied per
// recipient policy. scan() is both in one call.
//
// How it fails: never with an error. Any exception or Hyperscan error inside yields a
// verdict with action deliver, fault = true and a fault note, and is logged at error level
// ("filter fault: ..."); a fault never adds score. A classifier that cannot read its
// counts only adds a note. Thread-safety: scan/analyse run concurrently on any threads;
// reload() may run at the same time (engine.h).
#pragma once

#include <cstdint>
#include <filesystem>
#include <functional>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "common/result.h"
#include "filter/classifier.h"
#include "filter/engine.h"
#include "filter/mime.h"
#include "filter/policy.h"
#include "filter/verdict.h"

namespace tsubame {
class Config;
}
namespace tsubame::store {
class Store;
}

namespace tsubame::filter {

// The SPF result smtpd got for the transaction (RFC 7208 §2.6; smtpd/spf/spf.h evaluates it).
// kNotChecked: no check was made (authenticated submission, a client in
// smtpd.spf_skip_networks, smtpd.spf = no, `filter scan` without --spf, the corpus).
enum class SpfResult : uint8_t { kNotChecked, kNone, kNeutral, kPass, kFail, kSoftFail, kTempError, kPermError };
// "none", "neutral", "pass", "fail", "softfail", "temperror", "permerror"; "" for kNotChecked.
std::string_view spf_result_name(SpfResult r);
// The inverse of spf_result_name (case-insensitive); nullopt for anything else.
std::optional<SpfResult> parse_spf_result(std::string_view name);

// What smtpd knows about the SMTP transaction (RFC 5321 §3.3).
struct SmtpEnvelope {
  std::string mail_from;               // reverse-path without <>; empty for the null path
  std::vector<std::string> rcpt_to;
  std::string client_ip;
  std::string client_host;             // forward-confirmed reverse DNS name, or empty
  std::string helo;
  bool authenticated = false;          // submission with AUTH (outbound: DLP applies)
  std::string auth_user;
  uint32_t domain_id = 0;              // recipient domain for classifier counts (0 = global)
  SpfResult spf = SpfResult::kNotChecked;  // for the MAIL FROM domain (the HELO name when spf_helo)
  bool spf_helo = false;               // the HELO identity was checked (null reverse-path)
};

struct FilterOptions {
  std::filesystem::path rules;         // conf/rules or one .rules file
  std::filesystem::path cache_dir;     // compiled-database cache; empty = none
  store::Store* store = nullptr;       // token counts; null = no classifier
  ClassifierParams classifier;
  MimeLimits mime;
  // Called at the start of each stage ("parse", "rules", "classifier", "policy"). For
  // tracing and for tests of the fault path; an exception thrown here is a filter fault.
  std::function<void(std::string_view stage)> stage_hook;
};

// The options every program opens the filter with, from the configuration:
// general.rules_dir, general.cache_dir and filter.shared_mail_domains (added to the
// classifier's built-in list). The store and the rest are the caller's.
FilterOptions filter_options(const Config& cfg);

class Filter {
 public:
  static Result<std::unique_ptr<Filter>> open(FilterOptions options);

  // The whole filter for one message. Never fails (see above).
  Verdict scan(std::string_view raw, const SmtpEnvelope& env, const Policy& policy) const;

  // Parse, rules, checks, classifier and facts for the policy; no decision yet.
  Analysis analyse(std::string_view raw, const SmtpEnvelope& env) const;
  Analysis analyse_parsed(const ParsedMessage& msg, const SmtpEnvelope& env) const;

  // Trains the classifier on one raw message (delta +1 learn, -1 unlearn).
  Status learn(std::string_view raw, bool spam, uint32_t domain_id, int delta = +1);

  // scan(), and the classifier's n strongest tokens for the message (Classifier::explain)
  // from the same parse, rule pass and classifier input: `tsubame filter scan --explain`, a
  // postmaster's "why". `tokens` is empty while the classifier abstains, when the filter has
  // no classifier, and on a fault; a failed lookup adds a note to the verdict instead.
  struct Explained {
    Verdict verdict;
    std::vector<Classifier::TokenEvidence> tokens;
  };
  Explained scan_explained(std::string_view raw, const SmtpEnvelope& env, const Policy& policy, size_t n) const;

  Status reload() { return engine_->reload(); }
  const Engine& engine() const { return *engine_; }
  // The classifier's parameters it was opened with (also without a store).
  const ClassifierParams& classifier_params() const { return options_.classifier; }
  const Classifier* classifier() const { return classifier_.get(); }

 private:
  Filter() = default;
  // What --explain asks of one analysis: the n strongest classifier tokens, filled in.
  struct ExplainRequest {
    size_t n = 0;
    std::vector<Classifier::TokenEvidence> tokens;
  };
  Analysis analyse_with(std::string_view raw, const SmtpEnvelope& env, ExplainRequest* explain) const;
  Analysis analyse_parsed_with(const ParsedMessage& msg, const SmtpEnvelope& env, ExplainRequest* explain) const;
  void analyse_into(const ParsedMessage& msg, const SmtpEnvelope& env, Analysis& out, ExplainRequest* explain) const;
  Verdict decide_or_fault(const Analysis& a, const Policy& policy) const;
  // The rules stage: adds every rule and meta hit to v (or marks v a fault).
  void scan_rules(const ParsedMessage& msg, const SmtpEnvelope& env, Verdict& v) const;
  // Parse, rules, classifier input for learn() (filter.cc).
  template <class Use>
  auto with_classifier_input(std::string_view raw, std::string_view what, Use&& use) const
      -> decltype(use(std::declval<const ClassifierInput&>()));
  FilterOptions options_;
  std::unique_ptr<Engine> engine_;
  std::unique_ptr<Classifier> classifier_;
};

// ---- building blocks, public for tools and tests ----

// check:html-little-text fires for a message with no text/plain part, an HTML <a href>
// link, and fewer non-space bytes of visible text (body_text) than this.
inline constexpr size_t kLittleTextBytes = 200;

// Line statistics of the decoded body (body_text) that check:exclaim-lines reads. Lines are
// split at '\n'; blank lines and quoted lines (first non-space byte '>') are left out, so
// quoting an exclaiming message in a reply does not make the reply exclaim. At most
// kTextStatsMaxBytes of the body are read.
inline constexpr size_t kTextStatsMaxBytes = 512 * 1024;
struct TextStats {
  size_t lines = 0;          // non-blank, unquoted lines
  size_t exclaim_lines = 0;  // those whose last non-space byte is '!'
};
TextStats text_stats(std::string_view text);

// check:exclaim-lines: at least kExclaimLinesMin lines end in '!' and they are at least
// kExclaimLinesPercent % of the lines: a pitch made of exclaimed claims, not one "Thanks!"
// (at 10 % two of split A's commercial newsletters fired; at 15 % none).
inline constexpr size_t kExclaimLinesMin = 5;
inline constexpr size_t kExclaimLinesPercent = 15;

// check:list-address-in-link looks at the first kMaxListAddressLinks links only (bounds the
// work on a message stuffed with links).
inline constexpr size_t kMaxListAddressLinks = 200;

// ---- round 7: traits computed over the parsed message (check:date-future)

// The time the receiving side stamped: the date-time after the last ';' of the topmost
// (newest) Received field whose stamp parses (RFC 5321 §4.4: each relay prepends a trace
// line "; date-time" at the moment it takes the message; RFC 5322 §3.6.7 the field's syntax).
// Only the first kReceivedStampMaxFields fields are read (a forged trail can be long);
// nullopt when none of them has a stamp that parses.
inline constexpr size_t kReceivedStampMaxFields = 8;
std::optional<int64_t> received_stamp(const ParsedMessage& msg);

// check:date-future: the Date field (RFC 5322 §3.6.1, the moment the author sent it) is
// more than kDateFutureMinSeconds and at most kDateFutureMaxSeconds after the receiving
// side's stamp (received_stamp()). Bulk senders date their mail hours ahead (often through
// a zone written wrong on purpose) so that it sorts at the top of a mailbox ordered by date;
// a mail program takes the date from the sender's clock, which is right to within minutes,
// or off by a few hours (of A's 2,625 ham one is between 2 h and a week ahead: 5.6 h, a
// New Zealand clock set wrong). A date more than a week ahead is a clock set to a wrong
// month or year (a list ham of A is dated 2028), not a sorting trick, and DATE_FAR_FUTURE
// (00-headers) scores decades.
inline constexpr int64_t kDateFutureMinSeconds = 6 * 3600;
inline constexpr int64_t kDateFutureMaxSeconds = 7 * 24 * 3600;
bool date_future(const ParsedMessage& msg);

// ---- round 8: traits computed over the parsed message, second pass (check:mailer-forged,
// check:filetime-stale)

// The family of the mail program a message names in X-Mailer, or else in User-Agent (the
// fields where mail programs write their name; RFC 5322 §3.6.8 optional fields). Only
// names in a fixed table count (named_mail_program() in filter.cc, matched as whole words
// without regard to case): a name outside it, or no such field, is kNone. At most
// kMailerNameMaxBytes of each field value are read.
enum class MailProgram : uint8_t {
  kNone,
  kMicrosoft,  // Outlook, Outlook Express, Windows (Live) Mail, Entourage, CDO ("Microsoft ...")
  kTheBat,     // The Bat!
  kEudora,     // Eudora
  kOther,      // another named program: Mozilla, Thunderbird, Netscape, SeaMonkey, Apple Mail,
               // Pegasus Mail, Mutt, KMail, Evolution, Sylpheed, Claws Mail, Pine, Alpine,
               // Opera, Mulberry, Gnus
};
inline constexpr size_t kMailerNameMaxBytes = 256;
MailProgram named_mail_program(const ParsedMessage& msg);

// The shape of a Message-ID (RFC 5322 §3.6.4, "<" id-left "@" id-right ">") where it is the
// fingerprint of the program that wrote it; kOther for every other shape (the shapes relays
// write when they add a missing field, webmail, servers, the programs with a UUID) and for
// an id-left longer than kMessageIdShapeMaxBytes.
//   kMicrosoft  <hex12$hex8$hex8@...>: Microsoft's mail library (Outlook Express, Outlook,
//               Windows Mail): a counter and a FILETIME, "<000801c24e3f$5d1b3a20$0200a8c0@pc>"
//   kTheBat     <digits.YYYYMMDDhhmmss@...>: "<1030019517.20020822123456@example.com>"
//   kEudora     <v.v.v.v[.v[.v]].YYYYMMDDhhmmss.hex8@...>: "<5.1.0.14.2.20020822123456.00a1b2c3@>"
//   kLetters    at least kMessageIdLettersMin lower-case ASCII letters and nothing else
//               ("<vewaeurtngep@...>"): no mail program or server writes an id without a
//               digit or a separator; bulk-mailing software draws random letters
enum class MessageIdShape : uint8_t { kOther, kMicrosoft, kTheBat, kEudora, kLetters };
inline constexpr size_t kMessageIdShapeMaxBytes = 128;
inline constexpr size_t kMessageIdLettersMin = 6;
MessageIdShape message_id_shape(std::string_view id);

// check:mailer-forged: the message names a mail program (named_mail_program()) and its
// Message-ID has the fingerprint of another one (message_id_shape()): a Microsoft-shaped id
// under The Bat!, Eudora, Mozilla ..., a The Bat! or Eudora id under any other program, or a
// random-letter id under any named program. A mail program writes its own Message-ID (or
// none, when a relay adds one in the relay's shape, which is kOther); bulk-mailing software
// writes the X-Mailer of a well-known program, drawn per copy from a list, beside the one
// Message-ID generator it has. Only positive contradictions count: an id rewritten by a
// relay or a mail service (kOther) never fires.
bool mailer_forged(const ParsedMessage& msg);

// Microsoft's mail library (Outlook, Outlook Express, Exchange, Windows Mail) writes the
// moment it built the message, a Windows FILETIME (100 ns since 1601-01-01), into its MIME
// boundaries ("----=_NextPart_000_0019_01C24E1D.D6A7A420": high and low half, in the
// sender's local time) and its Message-IDs ("<000801c24e3f$5d1b3a20$0200a8c0@pc>": the high
// half after a 4-digit counter, the low half after '$', in UTC). These return that moment
// in unix seconds when the value has the shape and the high half starts with 01 (the years
// 1829 to 2057; other values are random digits that BOUNDARY_NEXTPART_FORGED and
// MSGID_OE_BAD_FILETIME score); nullopt otherwise.
std::optional<int64_t> boundary_filetime(std::string_view boundary);
std::optional<int64_t> message_id_filetime(std::string_view id);

// check:filetime-stale: the FILETIME of the Message-ID or of a multipart boundary of the
// message itself (not of an attached message/rfc822, which has its own Date) is more than
// kFiletimeStaleSeconds from the Date. The program writes the FILETIME and the Date from the
// same clock at the same moment (of A's ham, boundaries are within 7 hours, the zone, and
// Message-IDs within a day); bulk mail copies the headers of a message captured once
// ("----=_NextPart_000_01BC2B74.89D1CCC0", an Outlook 97 boundary from 1997 under a 2002
// Date) into every copy, with a fresh Date. At most the first kFiletimeMaxBoundaries
// multipart parts (in document order) are read.
inline constexpr int64_t kFiletimeStaleSeconds = 30 * 24 * 3600;
inline constexpr size_t kFiletimeMaxBoundaries = 16;
bool filetime_stale(const ParsedMessage& msg);

// Scope texts of a parsed message; views point into msg (and into storage).
ScanInput build_scan_input(const ParsedMessage& msg);
// Names of the check:NAME tests that fire for this message (rules.h kCheckNames).
std::vector<std::string> compute_checks(const ParsedMessage& msg, const SmtpEnvelope& env);
ClassifierInput build_classifier_input(const ParsedMessage& msg);

// Sender memory (classifier.h sender_key()): the network the message was first handed to
// the Internet from. Walking Received fields (newest first in `received`) from the oldest,
// the first whose from-clause (RFC 5321 §4.4 "FROM" Extended-Domain, the text before " by ")
// names a public address: the last IPv4 dotted quad or bracketed IPv6 address in that
// clause (the TCP-info the receiving host saw; a HELO literal comes first) -> its /16 for
// IPv4 ("192.0/16"), its /32 for IPv6 ("2001:db8/32"). Private, loopback, link-local,
// shared (100.64/10), unspecified and multicast addresses are skipped. "" when none of the
// first kOriginMaxReceived fields names one. The oldest field is the sender's own side (its
// first relay), so the network stays the same however the mail is forwarded afterwards.
inline constexpr size_t kOriginMaxReceived = 32;
std::string origin_network(std::span<const std::string> received);
// The verdict's line for the sender memory (kind classifier, points <= 0): SENDER_KNOWN with
// the counts of the key it judged by (sender_key() or sender_domain_key()); the detail names
// the network, and for a domain key the domain, not the address, which the message itself
// shows.
Contribution sender_contribution(std::string_view key, TokenStat counts, double points);
// The Message-IDs a message answers, without angle brackets: In-Reply-To's, then References'
// from the newest, no repeats, at most store::kMaxReplyLookups.
std::vector<std::string> referenced_message_ids(const ParsedMessage& msg);
// The verdict's line for a reply to a message sent from here (kind classifier): what is left
// of kMemoryMaxPoints after the memories' points so far (memory_points <= 0: SENDER_KNOWN),
// 0 when they took them all.
Contribution reply_contribution(double memory_points);
// Whether a message's From may take the correspondent memory's points: it has an address,
// the envelope sender is in the From address's domain or its parent or subdomain (the
// alignment sender_not_forged() also asks first), and SPF did not say the envelope sender's
// domain forbids the client (fail, softfail). The null path and a missing envelope
// (`filter scan` without --mail-from) never are.
bool correspondent_eligible(const ParsedMessage& msg, const SmtpEnvelope& env);
// The verdict's line for mail from an address a user here wrote to (kind classifier): at
// most kCorrespondentMaxPoints (kCorrespondentSpfPassMaxPoints when SPF passed the aligned
// envelope sender: the From domain is then authenticated), and no more than is left of
// kMemoryMaxPoints after the other memories' points (memory_points <= 0: SENDER_KNOWN and
// REPLY_TO_SENT together).
Contribution correspondent_contribution(double memory_points, bool spf_pass = false);
// The rules and metas a verdict carries become classifier tokens ("rule:OFFER_GUARANTEE"):
// the counts learn which rules, and which rules beside which words, mark this deployment's
// spam and ham, and chi-square weighs them with the words (filter/README.md, "Rule tokens").
// Helpers (__X) are not in a verdict and give none.
void add_rule_tokens(const Verdict& v, ClassifierInput& in);
// What the classifier reads of a message, everywhere it reads one (scanning, learning,
// explaining, the tuning harness): build_classifier_input() and the rules it hit.
ClassifierInput classifier_input(const ParsedMessage& msg, const Verdict& rules);

// Host of a URL ("https://user@Host.Example:8080/x" -> "host.example"); empty if none.
std::string url_host(std::string_view url);
// A host name written in link text ("www.paypal.com", "https://bank.example/login"), or "".
std::string host_in_text(std::string_view text);
// The registrable part of a host, by a small heuristic ("a.b.example.co.jp" -> "example.co.jp").
std::string base_domain(std::string_view host);
// True when an HTML link's visible text is itself a URL or www. host (one word) whose base
// domain differs from the href's, and the href is not a click tracker (click_tracker_href).
bool link_text_host_mismatch(const Link& link);
// True when `href` is a click-tracking redirector: it carries a destination URL (after / ? &
// = or *, percent-encoded or not) whose base domain is text_host's, or a path step named for
// the click (kClickTrackerSteps, with an optional .ext of 2-5 letters) is followed by / or ?.
// Reads at most kClickTrackerScanBytes of the href after its host, and of that at most
// kClickTrackerMaxDests written destinations, kClickTrackerDestBytes of each (a link with
// hundreds of "/http" in it costs no more than one with eight).
bool click_tracker_href(std::string_view href, std::string_view text_host);
inline constexpr size_t kClickTrackerScanBytes = 2048;
inline constexpr size_t kClickTrackerMaxDests = 8;
inline constexpr size_t kClickTrackerDestBytes = 512;
inline constexpr std::string_view kClickTrackerSteps[] = {"r",     "click",    "clicks", "clickthru", "clickthrough",
                                                          "redirect", "redir", "track",  "trk"};
// True when one of the message's standard fields (From, To, Cc, Subject, Date, Message-ID,
// MIME-Version, Content-Type ... kCaseCheckedFields in filter.cc) has its name written with
// a capital inside a lower-case word ("MiME-Version", "SuBject"). RFC 5322 §1.2.2 makes
// names case-insensitive, and mail programs write each word of a name in lower case, in
// capitals or capitalised ("Message-Id", "MIME-version", "CONTENT-TYPE"); names cased at
// random are bulk-mailing software varying its output per copy.
bool header_name_case_forged(const ParsedMessage& msg);

}  // namespace tsubame::filter
