// filter/classifier.h: the statistical token classifier (Robinson-Fisher chi-square).
//
//   decoded subject, body text, selected headers, URL hosts, attachment types
//        │ tokenize_message(): words (lower-cased), adjacent word pairs (subject, body),
//        │ CJK character bigrams, each prefixed by where it came from, hashed to 64 bits,
//        │ de-duplicated
//        ▼
//   token hashes ──store (counts per token: spam, ham; per scope)──▶ TokenStat[]
//        │ token_probability(): Robinson's f(w) = (s*x + n*p(w)) / (s + n)
//        │ keep the max_tokens tokens farthest from 0.5 (and at least min_deviation away)
//        ▼ combine(): Fisher's chi-square on both tails, I = (1 + S - H) / 2
//                     (or a naive-Bayes log-odds sum, ClassifierParams::combination)
//   probability of spam ──classifier_points()──▶ contribution BAYES in the verdict
//
// The classifier abstains (contributes 0 and says so) until both spam and ham messages
// learned reach min_learned. Scope 0 holds global counts; a domain's scope holds counts
// learned from that domain's reports; a message is scored with the domain's counts when
// the domain has learned enough, else with the global counts.
//
// Token hashes are part of the stored data: the hash function (FNV-1a 64 then a
// SplitMix64 finaliser) and the prefixes must never change without retraining.
//
// Pure functions; thread-safe; no failure modes.
#pragma once

#include <cstdint>
#include <memory>
#include <span>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "common/result.h"

namespace tsubame::store {
class Store;
}

namespace tsubame::filter {

inline constexpr size_t kMaxTokensPerMessage = 20000;  // distinct hashes per message
inline constexpr size_t kMaxTokenBytes = 40;           // longer words become a "long word" token
inline constexpr size_t kMinTokenBytes = 2;
inline constexpr size_t kClassifierTextCap = 512 * 1024;  // body bytes tokenised
inline constexpr double kUncertainBand = 0.05;  // |p - 0.5| below this: "uncertain" in detail
// Token counts a Classifier keeps in memory per scope before it starts over (at most 2^21
// 16-byte slots, 32 MiB).
inline constexpr size_t kTokenCacheEntries = 1u << 20;
// After a scope's counts changed (a learn anywhere), how long a Classifier looks tokens up
// one by one before it reads the whole scope into memory again (Classifier, "Count cache").
inline constexpr uint64_t kTokenSnapshotRetryNs = 30'000'000'000ull;

struct ClassifierInput {
  std::string_view subject;
  std::string_view body;
  std::vector<std::pair<std::string_view, std::string_view>> headers;  // selected headers
  std::vector<std::string_view> urls;  // link targets, tokenised with prefix "u"
  std::vector<std::string> extras;  // whole tokens: "urlhost:example.com", "hn:x-mailer" ...
  // Who sent it, for the sender memory (sender_key()): "" when the message has no From
  // address. Not a token of the word counts: learned beside them, scored apart.
  std::string sender;
  // The From domain with the same network (sender_domain_key()): "" without a From domain
  // or without a public origin network. Used only for a domain that is not a shared mailbox
  // provider (ClassifierParams::shared_mail_domains; sender_tokens()).
  std::string sender_domain;
};

// Headers whose values feed the classifier (lower case). Every header's name feeds it as a
// presence token ("hn:NAME") except those a filter on the way may have added (x-spam-*), the
// trace fields below, and the fields a list manager adds (List-*, Precedence, Sender,
// Errors-To, X-Loop, X-BeenThere, X-Mailman-Version, Mailing-List, X-Mailing-List; filter.cc
// list_field()), which give nothing at all: they name the list, which spam sent through a
// list shares with the list's ham (on split A the values cost 6 false negatives and 6 false
// positives on the time folds, the presence tokens 9 misses at 0.3% FP; filter/README.md).
inline constexpr std::string_view kClassifierHeaders[] = {
    "from", "reply-to", "to", "cc", "x-mailer", "user-agent", "content-type", "message-id",
    "x-priority", "x-msmail-priority", "importance", "x-mimeole", "organization",
    "return-path", "content-transfer-encoding", "mime-version"};

// Trace fields the receiving side adds (RFC 5321 §4.4 Received and Return-Path, delivery
// agents' and virus scanners' stamps, mail-reader status): they describe the recipient's
// own infrastructure, not the sender, so they give no tokens, not even presence tokens.
inline constexpr std::string_view kTraceHeaders[] = {
    "received", "delivered-to", "x-original-to", "delivery-date", "x-virus-scanned", "x-status",
    "x-keywords", "x-uid", "status", "x-authentication-warning", "envelope-to", "x-envelope-to"};

uint64_t token_hash(std::string_view prefix, std::string_view token);
// The hash of a whole extra token (ClassifierInput::extras: "hn:x-mailer", "rule:ID" ...),
// as tokenize_message() gives it.
uint64_t extra_token_hash(std::string_view extra);
uint64_t pair_hash(uint64_t first, uint64_t second);

// Appends the hashes of the tokens of one text (words, pairs, CJK bigrams) to out.
// With pairs = false only single words (and CJK bigrams) are produced.
void tokenize_text(std::string_view text, std::string_view prefix, std::vector<uint64_t>& out,
                   bool pairs = true);
// The writing systems that make up a real share of a text's letters, for the classifier's
// "script:NAME" tokens: which languages a deployment's spam and ham come in is something it
// learns (a Chinese or Cyrillic text whose words it has never seen still has a script it has).
// Names: latin-ext (accented Latin letters), cyrillic, greek, han, kana, hangul, arabic,
// hebrew, thai, other; plain ASCII Latin gives none. A script counts when it is at least
// kScriptMinPercent of the letters of the first kScriptSampleBytes, and the text has
// kScriptMinLetters letters or more.
inline constexpr size_t kScriptSampleBytes = 64 * 1024;
inline constexpr size_t kScriptMinLetters = 20;
inline constexpr size_t kScriptMinPercent = 10;
std::vector<std::string_view> text_scripts(std::string_view text);

// A byte of a host name as mail writes it: letters, digits, '-' and '.'.
bool host_char(char c);

// The id of a List-Id field value, lower case: RFC 2919 §3's [phrase] "<" list-label "."
// list-id-namespace ">", the label not empty, the namespace a dotted name, only host bytes
// and '_' ("Irish Linux Users' Group <ilug.linux.ie>" -> "ilug.linux.ie"); "" for any other
// shape. The label is the list's name and the namespace its host (the posting address
// "ilug@linux.ie", by the convention of Mailman, Majordomo, Sympa and Google Groups).
std::string list_id(std::string_view value);

// Mailing-list footers. A list manager appends the same footer (the list's name, address,
// subscription link, often a sponsor's advertisement) to every message it passes on, spam
// sent to the list included; like the list header fields it names the list, not what the
// message is, so the classifier leaves it out. list_hosts() collects the host names that
// identify a list from its header fields: the namespace of list_id() ("ilug.linux.ie" ->
// "linux.ie") and the hosts of the mailto: and http(s) URLs of
// List-Post, List-Unsubscribe, List-Subscribe, List-Help, List-Archive and List-Owner
// (RFC 2369 §3). No list fields, no hosts; at most kMaxListHosts (the first found), which
// bounds the footer search on a header stuffed with addresses.
inline constexpr size_t kMaxListHosts = 8;
std::vector<std::string> list_hosts(
    std::span<const std::pair<std::string_view, std::string_view>> headers);
// Where the list footer starts in body text, within its last kListFooterWindow bytes: the
// earliest separator line ("--", "-- ", or five or more of one of _ - = * ~) after which the
// rest of the body names one of the list's hosts. body.size() when there is none (or no
// hosts). The window holds the footers seen on split A (Mailman 150-250 bytes, with
// SourceForge's sponsor block 310-460, Yahoo! Groups' 390-700) but not a whole post: at
// 2 KiB a line of asterisks near the top of a short newsletter took its text away with the
// footer. A footer without a separator (majordomo's closing "To unsubscribe ..." paragraph)
// stays: taking the last short paragraph as well cost one false positive on A.
inline constexpr size_t kListFooterWindow = 1024;
// A separator inside a line (a footer after </html>, whose line breaks HTML collapsed): a
// run of at least this many of one of _ - = * ~ between blanks.
inline constexpr size_t kInlineSeparatorRun = 20;
size_t list_footer_start(std::string_view body, std::span<const std::string> hosts);

// All tokens of a message, sorted and de-duplicated, at most kMaxTokensPerMessage.
std::vector<uint64_t> tokenize_message(const ClassifierInput& in);

// Sender memory (session 10; filter/README.md "Sender memory"). A message's sender is its
// From address together with the network it was first handed to the Internet from:
// sender_key("ann@example.com", "192.0/16") = "ann@example.com|192.0/16" (the address lower
// case; the network "" when no Received field names a public address). Learning a message
// counts its sender as spam or ham in the same store and scopes as its words
// (sender_token_hash(), prefix "x", "sender:KEY"); scoring reads that one count and does not
// put it into the word combination. A sender learned as ham (at least
// ClassifierParams::sender_min_ham times) and never as spam takes points off
// (sender_points()): mail from a correspondent, a list poster or a newsletter this
// deployment has accepted before is not filed as junk on its words alone. One spam learned
// from the key and it takes nothing off. Spam rarely comes from a sender's own network with
// a known address: forging the address is easy, forging the network the address's real mail
// comes from is not.
std::string sender_key(std::string_view from_address, std::string_view origin_network);
// The network part of a sender_key() ("192.0/16"; "" when it names none).
std::string_view sender_key_network(std::string_view key);
uint64_t sender_token_hash(std::string_view key);
//
// Domain memory (session 11): the same for the From address's domain and the same network,
// sender_domain_key("Example.COM", "192.0/16") = "@example.com|192.0/16" ("" when either is
// empty: a domain's mail is trusted only with the network it comes from). It covers a sender
// whose every message has its own From address (a newsletter whose mailer writes a per-copy
// address, "Online#3.19725.55-a8yagb1nx5rykdrr.1@newsletter.online.com") and a colleague of a
// known correspondent. It is not used for a domain of a shared mailbox provider (free mail,
// ISPs), whose addresses belong to anyone: shared_mail_domain().
std::string sender_domain_key(std::string_view from_domain, std::string_view origin_network);
// The domain of a sender_domain_key() ("example.com"; "" for an address key or "").
std::string_view sender_key_domain(std::string_view key);
// Whether domain is one of list or a subdomain of one (both lower case).
bool shared_mail_domain(std::string_view domain, std::span<const std::string> list);
// The shared mailbox providers filter.shared_mail_domains names by default.
extern const char* const kSharedMailDomainsDefault;  // comma-separated
// A comma- or blank-separated list of domains, lower case, a leading "@" or "." dropped.
std::vector<std::string> split_domain_list(std::string_view list);
struct ClassifierParams;
// The message's sender-memory tokens: the address key's (0 without a From address) and the
// domain key's (0 without one, or when its domain is shared under p). What learn() adds to
// the counts and what scoring looks up.
struct SenderTokens {
  uint64_t address = 0;
  uint64_t domain = 0;
};
SenderTokens sender_tokens(const ClassifierInput& in, const ClassifierParams& p);

// Every token of a message with a readable name ("subject:free", "click here",
// "from:hotmail", "url:www", "hn:x-mailer"), sorted by hash: what a postmaster or the tuning
// harness reads to see why the classifier said what it did. Both walk the message the same
// way (classifier.cc for_each_token), so the hashes are exactly tokenize_message()'s, before
// its cap of kMaxTokensPerMessage. Slower than tokenize_message(); never on the scoring path.
struct NamedToken {
  uint64_t hash = 0;
  std::string name;
};
std::vector<NamedToken> named_tokens(const ClassifierInput& in);

struct TokenStat {
  uint64_t spam = 0;
  uint64_t ham = 0;
};

// How the selected token probabilities become one probability.
//   kChiSquare: Fisher's method on both tails (Robinson); abstains at 0.5 when the evidence
//               is strong both ways.
//   kLogOdds:   naive-Bayes log-odds sum L = sum ln(f / (1 - f)) over the selected tokens,
//               probability = 1 / (1 + exp(-L * log_odds_scale / sqrt(n))); mixed evidence
//               goes to whichever side is stronger.
//   kChiSquareThenLogOdds: chi-square, but where it is uncertain (|p - 0.5| < kUncertainBand)
//               the log-odds sum decides.
enum class Combination { kChiSquare, kLogOdds, kChiSquareThenLogOdds };

struct ClassifierParams {
  uint64_t min_learned = 200;     // spam and ham messages each, before it speaks
  double strength = 0.45;         // Robinson's s (tuned on split A, see filter/README.md)
  double unknown = 0.5;           // Robinson's x: the probability of an unseen token
  double balance = 0.0;           // 0: n = spam + ham counts; 1: the larger class's counts
                                  // scaled to the smaller class's size (token_probability)
  double min_deviation = 0.05;    // ignore tokens with |f - 0.5| below this
  size_t max_tokens = 300;        // most interesting tokens used
  Combination combination = Combination::kChiSquare;
  double log_odds_scale = 1.0;    // kLogOdds only
  double spam_points = 6.5;       // score at probability 1 (above the junk threshold alone;
                                  // 8 until session 5, filter/README.md "Session 5")
  double ham_points = 1.0;        // negative score at probability 0 (2 until session 9)
  double points_power = 1.5;      // points = sign(x) |x|^power * (spam|ham)_points, x = 2p - 1
  // Sender memory (sender_points()): points off for a sender learned as ham at least
  // sender_min_ham times and never as spam, per doubling of (1 + the ham count), at most
  // sender_max_points. 0 per doubling turns it off.
  uint64_t sender_min_ham = 1;
  double sender_points_per_doubling = 2.0;
  double sender_max_points = 4.0;
  // Domains whose From addresses the domain memory does not trust as a group (lower case;
  // a subdomain of one counts too). Default: kSharedMailDomainsDefault.
  std::vector<std::string> shared_mail_domains = split_domain_list(kSharedMailDomainsDefault);
  // A scope with at most this many tokens is read into memory whole (Classifier, "Count
  // cache"); 0 looks every token up on its own. Not a scoring parameter: same scores.
  size_t snapshot_max_tokens = kTokenCacheEntries;
};

// Counts that have learned enough of both classes (min_learned each) for the classifier to
// speak; below that it abstains (combine(), Classifier, the tuning harness).
inline bool learned_enough(TokenStat totals, const ClassifierParams& p) {
  return totals.spam >= p.min_learned && totals.ham >= p.min_learned;
}
double token_probability(TokenStat t, TokenStat totals, const ClassifierParams& p);
// The positions in stats of the (at most) n learned tokens (counts not 0/0) farthest from
// 0.5 under totals, strongest first: what combine() weighs most. Classifier::explain and the
// tuning harness's --explain read a score through it.
std::vector<size_t> strongest_tokens(std::span<const TokenStat> stats, TokenStat totals,
                                     const ClassifierParams& p, size_t n);
// Survival function of the chi-square distribution with an even number of degrees of freedom.
double chi2q(double x2, unsigned dof);

struct ClassifierScore {
  bool abstained = true;
  double probability = 0.5;
  size_t tokens_used = 0;
  double points = 0;       // what it adds to the verdict
  bool uncertain = false;  // spoke, but the evidence was strong both ways (|p - 0.5| < 0.05)
  std::string detail;      // "p=0.998, 87 tokens, global counts (4120 spam / 3876 ham)"
  // Sender memory: the counts it judged by in the scope scored with (0/0 while abstaining or
  // without a sender), what they are worth (sender_memory(), <= 0), and whether they are the
  // domain key's rather than the address key's.
  TokenStat sender;
  double sender_points = 0;
  bool sender_by_domain = false;
};

// Combines token statistics (one per token, unknown tokens as {0,0}) into a score.
ClassifierScore combine(std::span<const TokenStat> stats, TokenStat totals,
                        const ClassifierParams& p);
// Verdict points for a probability: x = 2p - 1, points = |x|^points_power * spam_points for
// x > 0 and -|x|^points_power * ham_points for x < 0. With the defaults (power 1.5, 6.5 and 1)
// the classifier alone reaches 5 (the configured junk default) at p = 0.92; a larger power
// flattens the uncertain middle.
double classifier_points(double probability, const ClassifierParams& p);
// The sender memory's points for a sender's learned counts: 0 unless ham >= sender_min_ham
// and spam == 0, else -min(sender_max_points, sender_points_per_doubling * log2(1 + ham)):
// with the defaults -2 after one ham (one "not junk" report), -3.17 after two, -4 from three.
double sender_points(TokenStat sender, const ClassifierParams& p);
// The memory of one message from its address key's and domain key's counts: nothing when the
// address was ever learned as spam; else the larger discount of the two (sender_points()
// each, so a domain once learned as spam gives nothing of its own). Ties go to the address.
struct SenderMemory {
  TokenStat counts;
  double points = 0;
  bool by_domain = false;
};
SenderMemory sender_memory(TokenStat address, TokenStat domain, const ClassifierParams& p);

// The classifier bound to the token counts of a store (store/tokens.h). Thread-safe.
//
// Count cache: looking every token up in LMDB was half of the scan time, so counts read
// once are kept in memory per scope, tagged with the scope's update counter
// (store::TokenCounts::updates, which every learn or unlearn in any process increments in
// the same transaction as the counts), so the first classification after a learn anywhere
// starts the scope's cache over; a learn through this object clears it at once. At most
// kTokenCacheEntries per scope.
//
// Whole-scope snapshots: a scope of at most params.snapshot_max_tokens tokens is read into
// the cache whole, in one read transaction together with its update counter, so a token the
// snapshot lacks has counts 0/0 and no lookup reaches LMDB at all (a message's unseen tokens
// were most of the lookups). When the counter moves, the scope is looked up token by token
// as before, and read whole again once kTokenSnapshotRetryNs have passed since the last
// read, so a stream of reports does not make every scan read the whole scope. Scores are
// the same either way; only the cost differs.
class Classifier {
 public:
  Classifier(store::Store& store, ClassifierParams params);
  ~Classifier();

  const ClassifierParams& params() const { return params_; }

  // Learns (delta +1) or unlearns (delta -1) one message as spam or ham, in the global
  // scope and, when domain_id != 0, in that domain's scope too. Callers record what a
  // message was trained as (store::Reported) so that a repeated report changes nothing.
  Status learn(const ClassifierInput& in, bool spam, uint32_t domain_id, int delta = +1);
  Status learn_tokens(std::span<const uint64_t> tokens, bool spam, uint32_t domain_id, int delta);

  // Scores a message with the domain's counts when that domain has learned enough, else
  // with the global counts; abstains when neither has.
  Result<ClassifierScore> classify(const ClassifierInput& in, uint32_t domain_id) const;
  // sender: sender_tokens() of the message (0 for none).
  Result<ClassifierScore> classify_tokens(std::span<const uint64_t> tokens, uint32_t domain_id,
                                          SenderTokens sender = {}) const;

  // Why the classifier scored a message as it did: the n tokens farthest from 0.5 under the
  // counts classify() would use (a domain's once it has learned enough, else the global
  // ones), strongest first, each with its readable name, f(w) and counts. Empty while the
  // classifier abstains. For `tsubame filter scan --explain`; a postmaster's "why".
  struct TokenEvidence {
    std::string name;
    double probability = 0.5;  // f(w)
    TokenStat counts;
  };
  Result<std::vector<TokenEvidence>> explain(const ClassifierInput& in, uint32_t domain_id, size_t n) const;

  // Reads the counts the domain's mail is scored with (as classify() picks them) into memory
  // whole, if they fit: what a daemon does at start so that its first scans are as fast as
  // the rest. Ok when nothing needed reading (abstaining, or too large: the per-token path
  // serves those); an error only when the store cannot be read.
  Status warm(uint32_t domain_id = 0) const;

  // What the count cache did since construction (for tests and metrics).
  struct CacheStats {
    uint64_t snapshots = 0;      // whole scopes read into memory
    uint64_t token_lookups = 0;  // tokens looked up in the store one by one
  };
  CacheStats cache_stats() const;

 private:
  struct CountCache;
  Status lookup_counts(uint32_t scope, uint64_t updates, std::span<const uint64_t> tokens,
                       std::vector<TokenStat>& out) const;
  // Fills out from the cache and lists in missing_at the positions it could not; true when
  // the scope's cache is a whole snapshot at `updates`.
  bool counts_from_cache(uint32_t scope, uint64_t updates, std::span<const uint64_t> tokens,
                         std::vector<TokenStat>& out, std::vector<size_t>& missing_at) const;
  // Reads the scope whole into the cache if it fits and was not read in the last
  // kTokenSnapshotRetryNs; true when the cache is then a whole snapshot at `updates`.
  bool read_scope_whole(uint32_t scope, uint64_t updates) const;
  struct Counts {  // the scope a message is scored with
    uint32_t scope = 0;
    TokenStat totals;
    uint64_t updates = 0;
  };
  Result<Counts> counts_for(uint32_t domain_id) const;
  store::Store& store_;
  ClassifierParams params_;
  std::unique_ptr<CountCache> cache_;
};

}  // namespace tsubame::filter
