// imapd/parser.h: the IMAP command parser, a pure incremental state machine (bytes in,
// events out). No sockets, no clocks, no store: every case is a unit test on strings.
//
// Two layers:
//   1. Framing (Parser): splits the byte stream into commands. It finds lines, recognises a
//      literal announcement at the end of a line ({n}, {n+}, ~{n}, ~{n+}; RFC 9051 §4.3,
//      RFC 7888, RFC 3516), asks for a continuation for a synchronizing literal, reads the
//      literal octets, and enforces the limits of imapd/limits.h. A literal too large is
//      refused as soon as its announcement is seen, never after reading it.
//   2. Grammar (parse_command): turns one complete framed command into a typed Command
//      following the ABNF of RFC 9051 §9 (and RFC 3501 §9 for IMAP4rev1-only commands) plus
//      the extensions listed in imapd/README.md.
//
// How it fails: every malformed command becomes a ParseError event (tagged BAD with a
// readable reason, or NO [TOOBIG] for an APPEND over APPENDLIMIT); the parser then resumes
// at the next command. Only a refused non-synchronizing literal too large to discard ends
// the connection (ParseError::Kind::kBye, RFC 7888 §4). The parser never throws and never
// reads past its buffer.
//
// Usage (the session owns one Parser per connection):
//   parser.feed(bytes_from_socket);
//   while (auto ev = parser.next()) { ... handle *ev; maybe parser.expect_raw_line(); }
// next() is a pull so that the session can switch modes between commands (IDLE waiting for
// DONE, AUTHENTICATE waiting for a SASL response, limits after login, UTF-8 after ENABLE)
// even when the client pipelined the following bytes in the same packet.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <variant>
#include <vector>

#include "common/result.h"
#include "imapd/limits.h"

namespace tsubame::imap {

// ---------------------------------------------------------------------------------------
// Modified UTF-7 (RFC 3501 §5.1.3) and UTF-8 helpers.

// Decodes a mailbox name in modified UTF-7 to UTF-8. InvalidArgument with a reason for: 8-bit
// octets, a "&" shift that is not closed by "-", base64 that is not modified base64, a shifted
// run that encodes printable US-ASCII (must be sent directly), an empty shift other than "&-",
// two adjacent shifts ("&AGE-&AGI-": RFC 3501 requires one), non-zero padding bits, or
// unpaired UTF-16 surrogates.
Result<std::string> mutf7_decode(std::string_view in);
// Encodes valid UTF-8 to modified UTF-7. Invalid UTF-8 sequences are encoded as U+FFFD.
std::string mutf7_encode(std::string_view utf8);
// True if s is well-formed UTF-8 (no overlongs, no surrogates, at most U+10FFFF).
bool is_valid_utf8(std::string_view s);

// ---------------------------------------------------------------------------------------
// Value types.

// RFC 9051 §9 "sequence-set". Numbers are 1..2^32-1; kStar stands for "*" (the largest
// number in use), which is why 0 (never a valid seq-number) is used for it.
struct SeqRange {
  uint32_t lo = 0;  // as written; lo may be greater than hi ("5:1" means "1:5")
  uint32_t hi = 0;
  bool operator==(const SeqRange&) const = default;
};
struct SequenceSet {
  static constexpr uint32_t kStar = 0;
  bool saved = false;            // "$": the result of the last SEARCH RETURN (SAVE), RFC 5182
  std::vector<SeqRange> ranges;  // empty when saved
  // Does the set contain n, given that "*" stands for `largest`? RFC 9051 §9: "*:4" and
  // "4:*" are the same; if largest < 4, "4:*" also contains largest.
  bool contains(uint32_t n, uint32_t largest) const;
  bool operator==(const SequenceSet&) const = default;
};
// Parses a sequence set alone (also used for QRESYNC known-uids). `allow_saved` admits "$".
Result<SequenceSet> parse_sequence_set(std::string_view s, bool allow_saved = true);

// A calendar date (SEARCH BEFORE/ON/SINCE...): RFC 9051 §9 "date".
struct Date {
  int year = 0, month = 0, day = 0;  // month 1..12
  bool operator==(const Date&) const = default;
};
// RFC 9051 §9 "date-time": "17-Jul-1996 02:44:25 -0700".
struct DateTime {
  Date date;
  int hour = 0, minute = 0, second = 0;
  int zone_minutes = 0;  // east of UTC, e.g. -0700 is -420
  int64_t unix_seconds() const;
  bool operator==(const DateTime&) const = default;
};

// ---------------------------------------------------------------------------------------
// Command arguments.

enum class CommandKind {
  kCapability, kNoop, kLogout, kStartTls, kAuthenticate, kLogin, kEnable, kSelect, kExamine,
  kCreate, kDelete, kRename, kSubscribe, kUnsubscribe, kList, kLsub, kNamespace, kStatus,
  kAppend, kIdle, kCheck, kClose, kUnselect, kExpunge, kSearch, kFetch, kStore, kCopy, kMove,
  kSort, kThread, kId, kGetQuota, kGetQuotaRoot, kSetQuota,
};
std::string_view command_name(CommandKind k);

struct AuthenticateArgs {
  std::string mechanism;                       // upper-cased, e.g. "PLAIN"
  std::optional<std::string> initial_response; // SASL-IR (RFC 4959), base64 decoded; "=" is ""
  bool operator==(const AuthenticateArgs&) const = default;
};
struct LoginArgs {
  std::string user;
  std::string password;
  bool operator==(const LoginArgs&) const = default;
};
struct EnableArgs {
  std::vector<std::string> capabilities;  // upper-cased
  bool operator==(const EnableArgs&) const = default;
};
// SELECT/EXAMINE parameters: RFC 7162 §3.1.8 (CONDSTORE), §3.2.5 (QRESYNC).
struct QresyncParams {
  uint32_t uidvalidity = 0;
  uint64_t modseq = 0;
  std::optional<SequenceSet> known_uids;
  std::optional<SequenceSet> seq_match_seqs;  // seq-match-data: known sequence numbers
  std::optional<SequenceSet> seq_match_uids;  //                 and their UIDs
  bool operator==(const QresyncParams&) const = default;
};
struct SelectArgs {
  std::string mailbox;  // UTF-8; "INBOX" normalised to upper case
  bool condstore = false;
  std::optional<QresyncParams> qresync;
  bool operator==(const SelectArgs&) const = default;
};
struct MailboxArgs {  // DELETE, SUBSCRIBE, UNSUBSCRIBE, GETQUOTAROOT
  std::string mailbox;
  bool operator==(const MailboxArgs&) const = default;
};
struct CreateArgs {
  std::string mailbox;
  std::vector<std::string> special_use;  // RFC 6154 §3 CREATE ... (USE (\Drafts))
  bool operator==(const CreateArgs&) const = default;
};
struct RenameArgs {
  std::string from, to;
  bool operator==(const RenameArgs&) const = default;
};

// LIST (RFC 9051 §6.3.9, RFC 5258 LIST-EXTENDED, RFC 5819 LIST-STATUS, RFC 6154) and LSUB.
enum class StatusItem { kMessages, kUidNext, kUidValidity, kUnseen, kDeleted, kSize, kRecent,
                        kHighestModSeq, kAppendLimit };
struct ListArgs {
  std::string reference;              // UTF-8
  std::vector<std::string> patterns;  // UTF-8, with wildcards % and *
  bool extended_syntax = false;       // selection or return options, or a pattern list
  // selection options
  bool select_subscribed = false, select_remote = false, select_recursive_match = false,
       select_special_use = false;
  // return options
  bool return_subscribed = false, return_children = false, return_special_use = false;
  std::optional<std::vector<StatusItem>> return_status;  // RETURN (STATUS (...))
  bool operator==(const ListArgs&) const = default;
};
struct StatusArgs {
  std::string mailbox;
  std::vector<StatusItem> items;
  bool operator==(const StatusArgs&) const = default;
};

struct AppendArgs {
  std::string mailbox;
  std::vector<std::string> flags;  // as written ("\Seen", "$Junk")
  std::optional<DateTime> date_time;
  std::string message;             // the literal's octets
  bool binary = false;             // sent as literal8 ~{n} (RFC 3516 §4.4)
  bool utf8 = false;               // "UTF8 (~{n}...)" (RFC 6855 §4)
  bool operator==(const AppendArgs&) const = default;
};

// SEARCH keys: RFC 9051 §6.4.4 plus MODSEQ (RFC 7162 §3.1.5), OLDER/YOUNGER (RFC 5032).
struct SearchKey {
  enum class Kind {
    kAll, kAnswered, kBcc, kBefore, kBody, kCc, kDeleted, kDraft, kFlagged, kFrom, kHeader,
    kKeyword, kLarger, kNew, kNot, kOld, kOn, kOr, kRecent, kSeen, kSentBefore, kSentOn,
    kSentSince, kSince, kSmaller, kSubject, kText, kTo, kUid, kUnanswered, kUndeleted,
    kUndraft, kUnflagged, kUnkeyword, kUnseen, kSequenceSet, kAnd, kModSeq, kOlder, kYounger,
  };
  Kind kind = Kind::kAll;
  std::string str;         // BCC/BODY/CC/FROM/SUBJECT/TEXT/TO value; HEADER field; KEYWORD
  std::string str2;        // HEADER value
  uint64_t number = 0;     // LARGER/SMALLER octets, MODSEQ value, OLDER/YOUNGER seconds
  Date date;               // BEFORE/ON/SINCE/SENT*
  SequenceSet set;         // UID and sequence-set keys
  std::vector<SearchKey> children;  // AND (list), NOT (one), OR (two)
  // MODSEQ "/flags/\Seen" "all" (optional entry-name and entry-type-req)
  std::optional<std::string> modseq_entry;
  std::string modseq_entry_type;  // "priv", "shared" or "all"
  bool operator==(const SearchKey&) const = default;
};
// ESEARCH return options (RFC 4731, RFC 9051 §6.4.4), SAVE (RFC 5182).
struct SearchReturn {
  bool min = false, max = false, all = false, count = false, save = false;
  bool any() const { return min || max || all || count || save; }
  bool operator==(const SearchReturn&) const = default;
};
struct SearchArgs {
  std::optional<std::string> charset;  // upper-cased
  bool esearch = false;                // a RETURN clause was given (even "RETURN ()")
  SearchReturn ret;
  SearchKey key;                       // kAnd of the top-level keys
  bool operator==(const SearchArgs&) const = default;
};

// SORT (RFC 5256, ESORT RFC 5267, DISPLAY RFC 5957) and THREAD.
struct SortCriterion {
  enum class Key { kArrival, kCc, kDate, kFrom, kSize, kSubject, kTo, kDisplayFrom,
                   kDisplayTo };
  Key key = Key::kArrival;
  bool reverse = false;
  bool operator==(const SortCriterion&) const = default;
};
struct SortArgs {
  bool esort = false;
  SearchReturn ret;
  std::vector<SortCriterion> criteria;
  std::string charset;  // upper-cased
  SearchKey key;
  bool operator==(const SortArgs&) const = default;
};
struct ThreadArgs {
  std::string algorithm;  // upper-cased: "REFERENCES", "ORDEREDSUBJECT"
  std::string charset;
  SearchKey key;
  bool operator==(const ThreadArgs&) const = default;
};

// FETCH: RFC 9051 §6.4.5 and §9 "fetch-att"; BINARY (RFC 3516); MODSEQ (RFC 7162).
struct Section {
  enum class Text { kNone, kHeader, kHeaderFields, kHeaderFieldsNot, kText, kMime };
  std::vector<uint32_t> part;       // "1.2.3"; empty for the whole message
  Text text = Text::kNone;
  std::vector<std::string> fields;  // HEADER.FIELDS (...) names, upper-cased
  bool operator==(const Section&) const = default;
};
struct Partial {  // RFC 9051 §9 "partial" (64-bit here: a message may exceed 4 GiB one day)
  uint64_t offset = 0;
  uint64_t length = 0;  // nz-number
  bool operator==(const Partial&) const = default;
};
struct FetchItem {
  enum class Kind {
    kEnvelope, kFlags, kInternalDate, kRfc822, kRfc822Header, kRfc822Size, kRfc822Text,
    kBody,           // BODY without a section: the non-extensible BODYSTRUCTURE
    kBodyStructure,
    kUid, kBodySection, kBinary, kBinarySize, kModSeq,
  };
  Kind kind = Kind::kFlags;
  bool peek = false;               // BODY.PEEK / BINARY.PEEK
  Section section;                 // kBodySection; kBinary/kBinarySize use section.part only
  std::optional<Partial> partial;  // <offset.length>
  bool operator==(const FetchItem&) const = default;
};
struct FetchArgs {
  SequenceSet set;
  std::vector<FetchItem> items;
  std::optional<uint64_t> changed_since;  // RFC 7162 §3.1.4.1
  bool vanished = false;                  // RFC 7162 §3.2.6 (UID FETCH only)
  bool operator==(const FetchArgs&) const = default;
};

struct StoreArgs {
  enum class Mode { kReplace, kAdd, kRemove };
  SequenceSet set;
  Mode mode = Mode::kReplace;
  bool silent = false;
  std::vector<std::string> flags;
  std::optional<uint64_t> unchanged_since;  // RFC 7162 §3.1.3
  bool operator==(const StoreArgs&) const = default;
};
struct CopyArgs {  // COPY and MOVE
  SequenceSet set;
  std::string mailbox;
  bool operator==(const CopyArgs&) const = default;
};
struct ExpungeArgs {
  std::optional<SequenceSet> uids;  // UID EXPUNGE (RFC 4315 §2.1)
  bool operator==(const ExpungeArgs&) const = default;
};
struct IdArgs {  // RFC 2971; nullopt values are NIL, an absent list is "ID NIL"
  std::vector<std::pair<std::string, std::optional<std::string>>> fields;
  bool operator==(const IdArgs&) const = default;
};
struct QuotaRootArgs {  // GETQUOTA
  std::string root;
  bool operator==(const QuotaRootArgs&) const = default;
};
struct SetQuotaArgs {  // RFC 9208 §4.1.3
  std::string root;
  std::vector<std::pair<std::string, uint64_t>> limits;  // resource (upper-cased), limit
  bool operator==(const SetQuotaArgs&) const = default;
};

using CommandArgs =
    std::variant<std::monostate, AuthenticateArgs, LoginArgs, EnableArgs, SelectArgs,
                 MailboxArgs, CreateArgs, RenameArgs, ListArgs, StatusArgs, AppendArgs,
                 SearchArgs, SortArgs, ThreadArgs, FetchArgs, StoreArgs, CopyArgs,
                 ExpungeArgs, IdArgs, QuotaRootArgs, SetQuotaArgs>;

struct Command {
  std::string tag;
  CommandKind kind = CommandKind::kNoop;
  bool uid = false;  // UID FETCH/STORE/COPY/MOVE/SEARCH/SORT/THREAD/EXPUNGE
  CommandArgs args;
  template <typename T> const T& as() const { return std::get<T>(args); }
  bool operator==(const Command&) const = default;
};

// ---------------------------------------------------------------------------------------
// Parser events.

struct ParseError {
  enum class Kind { kBad, kNo, kBye };
  std::string tag;   // "*" when the tag could not be read
  Kind kind = Kind::kBad;
  std::string code;  // response code without brackets ("TOOBIG", "CLIENTBUG"), or empty
  std::string text;  // readable reason
  bool operator==(const ParseError&) const = default;
};
// A synchronizing literal was announced and accepted: send "+ ..." (RFC 9051 §7.5).
struct ContinuationRequest {
  uint64_t literal_size = 0;
  bool operator==(const ContinuationRequest&) const = default;
};
// A line delivered raw after expect_raw_line(): "DONE" after IDLE, or a SASL response.
struct RawLine {
  std::string line;
  bool operator==(const RawLine&) const = default;
};
using ParseEvent = std::variant<Command, ParseError, ContinuationRequest, RawLine>;

struct ParserOptions {
  bool authenticated = false;  // selects the post-login limits
  // true: LITERAL+ is advertised (RFC 7888 §3); false: LITERAL- (non-synchronizing literals
  // at most 4096 octets).
  bool literal_plus = true;
  // Mailbox names are UTF-8 (IMAP4rev2 or UTF8=ACCEPT enabled, RFC 9051 §5.1) instead of
  // modified UTF-7.
  bool utf8_mailboxes = false;
  uint64_t append_limit = kMaxAppendSize;
};

// One complete framed command: its lines (each but the last ends with a literal
// announcement) and the octets of each literal, in order.
struct FramedCommand {
  std::vector<std::string> lines;
  std::vector<std::string> literals;
};
// The grammar layer alone: a typed command or a ParseError (tagged BAD).
std::variant<Command, ParseError> parse_command(const FramedCommand& cmd,
                                                const ParserOptions& opts);
// `partial` is a command received up to a literal announcement (its last line ends with
// {n}); its literals so far are complete. Returns the tagged BAD the whole command will get
// whatever the literal holds (the grammar failed at or before the announcement), or nullopt
// when the command may still be valid. `partial` is restored before returning.
std::optional<ParseError> check_command_prefix(FramedCommand& partial, const ParserOptions& opts);

class Parser {
 public:
  explicit Parser(ParserOptions opts = {}) : opts_(opts) {}

  // Appends bytes; never fails (the buffer holds at most one line limit plus one pending
  // literal chunk beyond what next() has consumed).
  void feed(std::string_view bytes);
  // The next event, or nullopt when more bytes are needed (or after a kBye error).
  std::optional<ParseEvent> next();

  // The next complete line (IDLE's DONE, a SASL response) is returned as RawLine, not parsed.
  void expect_raw_line() { raw_line_ = true; }
  // Withdraws expect_raw_line() (the raw line was refused, e.g. too long).
  void cancel_raw_line() { raw_line_ = false; }
  bool expecting_raw_line() const { return raw_line_; }
  void set_authenticated(bool v) { opts_.authenticated = v; }
  void set_utf8_mailboxes(bool v) { opts_.utf8_mailboxes = v; }
  const ParserOptions& options() const { return opts_; }
  // Bytes fed but not consumed yet (for the session's input back-pressure).
  size_t buffered() const { return buf_.size() - pos_; }
  // True while a command is partly received (a line without its end, or inside a literal).
  bool in_command() const;
  bool closed() const { return closed_; }

 private:
  enum class State { kLine, kLiteral, kDiscardLiteral, kSkipLine };
  std::optional<ParseEvent> on_line(std::string line);
  ParseError fail_command(ParseError::Kind kind, std::string code, std::string text);
  void reset_command();
  size_t line_limit() const;
  std::string peek_tag() const;
  bool is_append() const;

  ParserOptions opts_;
  std::string buf_;
  size_t pos_ = 0;
  State state_ = State::kLine;
  FramedCommand cur_;
  size_t cur_size_ = 0;
  uint64_t literal_left_ = 0;
  bool raw_line_ = false;
  bool closed_ = false;
  std::string skip_tail_;  // last octets of a skipped line, to spot a literal announcement
};

}  // namespace tsubame::imap
