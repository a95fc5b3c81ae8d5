// filter/policy.h: per-domain policy that turns a scored message into one action.
//
//   Analysis (score, contributions, attachments, size, sender evidence, DLP matches)
//        │
//        ▼ decide(): first rule that applies wins
//   1 fault inside the filter ............................ deliver (+ fault note)
//   2 size > max_message_bytes ........................... reject   POLICY_MAX_SIZE
//   3 authenticated sender + data-loss match ............. hold     POLICY_DLP
//   4 sender on a block list (user list, then domain) .... block_action (reject)  POLICY_BLOCKLIST
//   5 blocked attachment extension / type ................ blocked_attachment_action (quarantine)
//   6 sender on an allow list AND not forged ............. deliver  POLICY_ALLOWLIST
//   7 score >= reject / quarantine / junk threshold ...... reject / quarantine / junk
//     (with classifier_needs_rule, the classifier's points count only when a rule or meta
//     of score >= kCorroboratingRuleScore fired; otherwise POLICY_CLASSIFIER_ALONE notes
//     the action they would have given)
//   8 otherwise .......................................... deliver
//
// An allow entry is honoured only when the sender is not forged (sender_not_forged): the
// From header's domain matches the envelope sender's domain, and the host that handed the
// message to our trusted chain (the connecting client's verified name, or the first
// Received "from" host outside trusted_hosts, RFC 5321 §4.4) belongs to that domain; or the
// sender authenticated to us.
//
// Data-loss patterns: payment card numbers (13-19 digits, known issuer prefixes, Luhn
// check) and Japanese My Number (12 digits, check digit per the My Number Act's ordinance,
// article 5), in ASCII or full-width digits, separated by nothing, spaces or hyphens
// (full-width and typographic forms too).
//
// Pure functions and values; no failure modes beyond what the types allow.
#pragma once

#include <cstdint>
#include <limits>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "filter/verdict.h"

namespace tsubame::filter {

// Sender list entries: "user@example.com" (one address), "example.com" (the domain),
// ".example.com" (the domain and every subdomain). Compared case-insensitively.
struct SenderList {
  std::vector<std::string> entries;
  // The entry that matches address (local@domain), or nullptr.
  const std::string* match(std::string_view address) const;
};

struct DlpOptions {
  bool enabled = true;
  bool payment_cards = true;
  bool my_number = true;
  size_t min_matches = 1;  // hold when at least this many numbers are found
};

// The least score of a rule or meta that lets the classifier's points count toward an action
// when DomainPolicy::classifier_needs_rule is set: a trait of spam in its own right, not one
// of the bulk-mail markers (0.1-0.4: an unsubscribe line, a tracking pixel, "click here")
// that every newsletter a business subscribed to carries (filter/README.md, "Policy").
inline constexpr double kCorroboratingRuleScore = 0.5;
// The policy contribution that notes the classifier's points were set aside and what the full
// score would have meant. It records how the score was judged, not an action a policy step
// chose (the tuning harness re-judges such verdicts at other thresholds).
inline constexpr std::string_view kClassifierAloneId = "POLICY_CLASSIFIER_ALONE";
// The classifier's sender memory (classifier.h sender_key(); filter.h sender_contribution()):
// points off for a sender learned as ham before and never as spam.
inline constexpr std::string_view kSenderKnownId = "SENDER_KNOWN";
// The reply memory (store/replies.h; filter.h reply_contribution()): points off for a reply
// to a message a user here sent. Together with SENDER_KNOWN it takes off at most
// kMemoryMaxPoints: a hijacked thread from a known correspondent is still judged by its rules.
inline constexpr std::string_view kReplyToSentId = "REPLY_TO_SENT";
inline constexpr double kMemoryMaxPoints = 4.0;
// The correspondent memory (store/replies.h; filter.h correspondent_contribution()): points
// off for mail from an outside address a user here sent mail to. Fewer than the reply
// memory's: a From address is easier to forge than a Message-ID is to guess, so only
// borderline mail is moved, and mail its rules condemn still goes to Junk.
inline constexpr std::string_view kCorrespondentKnownId = "CORRESPONDENT_KNOWN";
inline constexpr double kCorrespondentMaxPoints = 2.0;
// ... unless SPF passed the client for an envelope sender aligned with the From domain
// (smtpd/spf): then the From domain is as authenticated as DMARC's relaxed SPF alignment
// makes it, and the memory may take what the others left of kMemoryMaxPoints.
inline constexpr double kCorrespondentSpfPassMaxPoints = kMemoryMaxPoints;
// Every memory's contribution: together they take off at most kMemoryMaxPoints, and
// sender_memory = no drops them all.
inline constexpr std::string_view kMemoryIds[] = {kSenderKnownId, kReplyToSentId, kCorrespondentKnownId};

struct DomainPolicy {
  double junk_threshold = 5.0;   // = the config default filter.junk_threshold (common/config.cc)
  // The classifier alone never files mail as spam: its points count toward junk, quarantine
  // and reject only when a rule agrees (kCorroboratingRuleScore). = filter.classifier_needs_rule.
  bool classifier_needs_rule = true;
  // The memories' points (kMemoryIds: the sender, reply and correspondent memories) count;
  // off: decide() drops those contributions. = filter.sender_memory.
  bool sender_memory = true;
  double quarantine_threshold = std::numeric_limits<double>::infinity();  // off by default
  double reject_threshold = 15.0;
  uint64_t max_message_bytes = 50ull << 20;
  // File name extensions (lower case, no dot); matches the last extension of a name.
  std::vector<std::string> blocked_extensions = {
      "exe", "scr", "com", "pif", "bat", "cmd", "vbs", "vbe", "js", "jse", "wsf", "wsh",
      "hta", "lnk", "cpl", "msi", "msp", "jar", "ps1", "psm1", "reg", "chm", "iso", "img",
      "vhd", "vhdx", "application", "gadget", "scf", "url", "xll", "one"};
  // Declared MIME types ("application/x-msdownload") or sniffed type names ("pe", "hta").
  std::vector<std::string> blocked_types = {"application/x-msdownload",
                                            "application/x-dosexec",
                                            "application/hta", "application/x-ms-shortcut"};
  bool block_executable_content = true;  // sniffed content that runs code on open (file_type_is_executable)
  Action blocked_attachment_action = Action::kQuarantine;
  SenderList allow, block;
  Action block_action = Action::kReject;
  std::vector<std::string> trusted_hosts;  // our own MX/relay names for the Received chain
  DlpOptions dlp;
};

struct UserPolicy {
  SenderList allow, block;
};

struct Policy {
  DomainPolicy domain;
  std::optional<UserPolicy> user;  // the recipient's own lists, when deciding per user
};

// ---- data-loss checks ----
bool luhn_valid(std::string_view digits);          // digits only
bool my_number_valid(std::string_view digits);     // exactly 12 digits
bool card_prefix_known(std::string_view digits);   // issuer prefix and length plausible

struct DlpMatch {
  std::string kind;    // "payment-card" or "my-number"
  std::string masked;  // all but the last four digits replaced by '*'
};
// Finds card and My Number candidates in UTF-8 text (ASCII and full-width digits).
std::vector<DlpMatch> find_sensitive_numbers(std::string_view text, const DlpOptions& opt);

// ---- forgery check for allow entries ----
struct SenderEvidence {
  std::string from_address;      // From header address (local@domain)
  std::string envelope_sender;   // MAIL FROM reverse-path, may be empty (bounce)
  std::string client_host;       // verified reverse DNS name of the connecting client
  std::vector<std::string> received;  // Received values, newest first
  bool authenticated = false;    // the sender authenticated (submission)
  bool spf_pass = false;         // SPF passed the client for the envelope sender's domain
};
// The host a Received value says the message came from: the TCP-info name in parentheses
// when present ("from helo (rdns [ip])"), otherwise the HELO name. Empty if none.
std::string received_from_host(std::string_view received);
std::string received_by_host(std::string_view received);
// Where the keyword `kw` ("from", "by"; lower case) stands as a word in `low`, a lower-cased
// Received value, at or after `from`: at the start or after white space, and followed by
// white space. npos when it does not.
size_t received_keyword(std::string_view low, std::string_view kw, size_t from = 0);
// True when host equals domain or is a subdomain of it (case-insensitive).
bool host_in_domain(std::string_view host, std::string_view domain);
// True when either domain is the other or a subdomain of it (the From and envelope sender
// domains of one sender: bounces.shop.example sends for shop.example). False if either is empty.
bool domains_aligned(std::string_view a, std::string_view b);
bool sender_not_forged(const SenderEvidence& e, const std::vector<std::string>& trusted_hosts,
                       std::string* why);

// ---- the decision ----
struct AttachmentFacts {
  std::string name;           // decoded file name
  std::string declared_type;  // lower case
  std::string sniffed_type;   // file_type_name of the sniffed type
  bool executable = false;    // sniffed type runs code on open
};

struct Analysis {
  Verdict verdict;                       // contributions and score so far (rules, BAYES)
  uint64_t size = 0;                     // raw message octets
  std::vector<AttachmentFacts> attachments;
  SenderEvidence sender;
  std::vector<DlpMatch> dlp;             // filled only for authenticated senders
};

// The blocked-attachment reason for one attachment, or "" when it is allowed.
std::string attachment_block_reason(const AttachmentFacts& a, const DomainPolicy& p);

// The score step 7 compares with the thresholds: the verdict's score, less the classifier's
// points when d.classifier_needs_rule sets them aside (they are positive and no rule or meta
// of score >= kCorroboratingRuleScore fired). *classifier_set_aside (if given) says whether.
double threshold_score(const Verdict& v, const DomainPolicy& d, bool* classifier_set_aside = nullptr);

// Applies the policy to an analysis and returns the final verdict (steps above).
Verdict decide(const Analysis& analysis, const Policy& policy);

}  // namespace tsubame::filter
