// imapd/session.h: one IMAP connection as a state machine (RFC 9051 §3), without I/O.
//
//   greeting ─▶ not authenticated ─LOGIN/AUTHENTICATE─▶ authenticated ─SELECT─▶ selected
//        │              │ STARTTLS (TLS restarts the parser)     ▲  CLOSE/UNSELECT │
//        │              └──────────────── LOGOUT ───────────────┴────────────────┴─▶ logout
//
// The I/O adapter (libevent, TLS, timers) feeds client bytes to receive() and writes what it
// appends to `out`; it asks wants_start_tls() / wants_close() after each call, calls
// tls_started() after a STARTTLS handshake, poll() while idling (or after a delivery
// notification), and timeout() when timeout_seconds() elapse without a complete command.
//
// Commands come from a table (CommandKind -> allowed states, handler). A command in the wrong
// state gets a tagged BAD naming the state; a failing store call gets a tagged NO with the
// store's reason; nothing here throws. Every acknowledgement (OK after APPEND, STORE,
// EXPUNGE, COPY, MOVE) is sent only after the store call returned, i.e. after the durable
// commit (store/store.h). Mailbox changes made by other sessions are reported as untagged
// EXISTS / EXPUNGE (or VANISHED) / FETCH only where RFC 9051 §7.5.1 allows them: never
// while answering a FETCH, STORE or SEARCH by sequence number.
//
// Thread-safety: one Session per connection, used from one thread.
#pragma once

#include <cstdint>
#include <deque>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "common/message_summary.h"
#include "common/result.h"
#include "imapd/flag_journal.h"
#include "imapd/limits.h"
#include "imapd/parser.h"
#include "imapd/response.h"
#include "imapd/search_text.h"
#include "store/accounts.h"
#include "store/reports.h"
#include "store/store.h"

namespace tsubame::imap {

class SearchCache;

enum class SessionState { kNotAuthenticated, kAuthenticated, kSelected, kLogout };
std::string_view state_name(SessionState s);

struct SessionConfig {
  bool tls_active = false;            // implicit TLS (993) or already upgraded
  bool starttls_available = false;    // a TLS context exists: offer STARTTLS
  // RFC 9051 §6.2.3: without TLS, LOGIN and AUTHENTICATE are disabled (LOGINDISABLED)
  // unless the configuration allows plaintext (loopback tests, a TLS-terminating proxy).
  bool allow_plaintext_auth = false;
  bool literal_plus = true;           // advertise LITERAL+ (else LITERAL-)
  uint64_t append_limit = kMaxAppendSize;
  std::string source_ip;              // for the login history
  // Builds the MessageSummary (ENVELOPE, BODYSTRUCTURE, offsets) of an APPENDed message.
  // The MIME parse lives in filter/ (filter::parse_message); the daemon wires it here so
  // that imapd's library depends on common and store only. Unset: a minimal single-part
  // summary is built from the top-level header.
  std::function<Result<MessageSummary>(std::string_view raw)> summarize;
  // SEARCH TEXT / BODY / HEADER / FROM / SUBJECT ... (RFC 9051 §6.4.4) compare against the
  // decoded message (imapd/search_text.h); the daemon wires the filter's MIME parse
  // (imapd/filter_glue.h). Unset, or failing for a message: the raw octets are searched.
  TextExtractor extract_text;
  // The daemon's shared cache of decoded, folded searchable text (imapd/search_cache.h).
  // Unset: the text is extracted for each SEARCH.
  std::shared_ptr<SearchCache> search_cache;
  // Argon2id verification costs tens of milliseconds and tens of MiB: the daemon runs it on
  // a worker (take_password_check / password_checked) instead of the event loop. false:
  // verified inline (unit tests).
  bool async_password_check = false;
  // Argon2id hash of a random password made with the site's KDF settings (imapd/main.cc).
  // An unknown login is checked against it, a disabled user against their own hash, and both
  // are refused afterwards: the answer costs the same KDF work as a real check, so its timing
  // does not tell which logins exist. Empty: no decoy check (unit tests).
  std::string dummy_password_hash;
  // The search text of a mailbox's uncached messages is extracted off the event loop
  // (take_text_job / text_ready; needs extract_text and search_cache). false: inline.
  bool async_text = false;
  // Store writes (APPEND, STORE, COPY, MOVE, EXPUNGE, CLOSE's expunge) go to the daemon's
  // group-commit writer (imapd/writer.h) through take_write / write_done, so that the
  // writes of many sessions share one transaction and one fsync. false: each write is one
  // Store::write_batch call inline (unit tests), fully durable.
  bool async_writes = false;
  // imapd.flag_sync = journal (imapd/flag_journal.h), with async_writes: a STORE of system
  // flags (no keywords, no UNCHANGEDSINCE, CONDSTORE not enabled, no ordinary write in
  // flight) is predicted from the store plus the overlay, journaled, and answered at once;
  // the adapter takes its store write with take_early_writes(). Every other command waits
  // until each such STORE accepted before it (by any session) has committed, so reads never
  // miss an acknowledged change (flag_barrier / flags_settled). Null: off.
  FlagJournal* flag_journal = nullptr;
  FlagOverlay* flag_overlay = nullptr;
  // Failed-login lockout (store/accounts.h; the daemon passes security.lockout_*): the
  // site-wide thresholds; a domain's lockout_* settings (store/settings.h) override them.
  store::LockoutSettings lockout;
  // Called (on the loop thread) when this session's failed login locked the account: the
  // daemon publishes the "account.locked" webhook (common/webhook.h). Must not block.
  // Unset: nothing is told.
  std::function<void(const store::User& user, const store::LoginOutcome& outcome,
                     const std::string& source_ip)>
      on_account_locked;
};

// A password verification the adapter runs off the event loop.
struct PasswordCheck {
  std::string password;
  std::string hash;  // Argon2id PHC string
};

class Session {
 public:
  Session(store::Store& store, SessionConfig config);

  // "* OK [CAPABILITY ...] ..." (RFC 9051 §7.1.1 greeting).
  std::string greeting();
  // Feeds client bytes and appends every response to out.
  void receive(std::string_view bytes, std::string& out);
  // STARTTLS: after the "OK Begin TLS" has been written, the adapter performs the handshake
  // and calls tls_started(); bytes received before the handshake are discarded (RFC 9051
  // §6.2.1, no command injection into the TLS session).
  bool wants_start_tls() const { return start_tls_pending_; }
  void tls_started();
  // The adapter closes the connection once `out` is flushed.
  bool wants_close() const { return state_ == SessionState::kLogout; }
  // While idling: report changes of the selected mailbox (a delivery, another session).
  void poll(std::string& out);
  bool idling() const { return idle_tag_.has_value(); }
  // RFC 9051 §5.4: the autologout timer; the adapter calls timeout() when it fires.
  int64_t timeout_seconds() const;
  void timeout(std::string& out);

  // With SessionConfig::async_password_check: a LOGIN/AUTHENTICATE waits for a password
  // verification. The adapter takes it (once), runs crypto::verify_password on a worker and
  // calls password_checked() with the result; input is held until then.
  std::optional<PasswordCheck> take_password_check();
  void password_checked(bool ok, std::string& out);

  // With SessionConfig::async_text: a SEARCH / SORT / THREAD by text over a mailbox with
  // kMinAsyncTextMessages or more messages whose text is not in the search cache waits
  // while the adapter runs the job on a worker (extract_text_job, search_cache.h); the
  // adapter then calls text_ready() and the command runs on the warm cache.
  struct TextJob {
    uint64_t user_id = 0;
    uint64_t mailbox_id = 0;
    std::vector<std::pair<uint32_t, uint64_t>> messages;  // uid, blob id: not in the cache
  };
  std::optional<TextJob> take_text_job();
  void text_ready(std::string& out);

  // With SessionConfig::async_writes: a command waits for its store write. The adapter
  // takes the request (once), hands it to the group-commit writer and calls write_done()
  // on the loop thread with its outcome; the command then completes (untagged responses,
  // tagged reply) and the input held meanwhile is processed, so a session's commands stay
  // in order (RFC 9051 §5.5) and its OK follows the commit.
  std::optional<store::WriteRequest> take_write();
  void write_done(store::WriteOutcome outcome, std::string& out);
  bool write_pending() const { return pending_write_ != nullptr; }

  // SessionConfig::flag_journal: STOREs acknowledged early. The adapter takes them (once, in
  // order), submits them to the writer with their journal sequence number, and calls
  // early_write_done() with each outcome, in the same order. A session that waits for them
  // before its next command returns the overlay count to wait for from flag_barrier(); the
  // adapter calls flags_settled() once FlagOverlay::completed_seq() has reached it.
  struct EarlyWrite {
    store::StoreFlagsRequest request;
    uint64_t journal_seq = 0;
  };
  std::vector<EarlyWrite> take_early_writes();
  void early_write_done(const store::WriteOutcome& outcome);
  std::optional<uint64_t> flag_barrier() const;
  void flags_settled(std::string& out);

  // Commands received by name, for the one-line summary logged at disconnect (Postfix's
  // "ehlo=1 mail=1 quit=1"): "login=1 select=1 fetch=3 logout=1 bad=1".
  std::string summary() const;

  SessionState state() const { return state_; }
  // A command is partly received (a line without its end, or a literal being read): the
  // daemon does not extend the autologout deadline for such bytes.
  bool in_command() const { return parser_.in_command(); }
  std::string capabilities() const;
  uint64_t user_id() const { return user_.id; }

 private:
  struct Selected {
    store::Mailbox box;
    bool read_only = false;
    std::vector<uint32_t> uids;          // index = sequence number - 1
    uint64_t known_modseq = 0;           // changes up to here have been reported
    std::unordered_map<uint32_t, uint64_t> self_reported;  // uid -> modseq we already sent
    std::vector<std::string> keywords;   // announced in FLAGS (sorted; add_keywords)
  };

  void handle(ParseEvent ev, std::string& out);
  void handle_raw_line(const std::string& line, std::string& out);
  void execute(const Command& c, std::string& out);
  void bad(std::string_view tag, std::string_view text, std::string& out);

  // handlers
  void cmd_capability(const Command& c, std::string& out);
  void cmd_logout(const Command& c, std::string& out);
  void cmd_starttls(const Command& c, std::string& out);
  void cmd_login(const Command& c, std::string& out);
  void cmd_authenticate(const Command& c, std::string& out);
  void cmd_enable(const Command& c, std::string& out);
  void cmd_id(const Command& c, std::string& out);
  void cmd_select(const Command& c, std::string& out);
  void cmd_create(const Command& c, std::string& out);
  void cmd_delete(const Command& c, std::string& out);
  void cmd_rename(const Command& c, std::string& out);
  void cmd_subscribe(const Command& c, std::string& out);
  void cmd_list(const Command& c, std::string& out);
  void cmd_namespace(const Command& c, std::string& out);
  void cmd_status(const Command& c, std::string& out);
  void cmd_append(const Command& c, std::string& out);
  void cmd_idle(const Command& c, std::string& out);
  void cmd_close(const Command& c, std::string& out);
  void cmd_expunge(const Command& c, std::string& out);
  void cmd_search(const Command& c, std::string& out);
  void cmd_fetch(const Command& c, std::string& out);
  void cmd_store(const Command& c, std::string& out);
  // The early path of STORE (SessionConfig::flag_journal); false: take the ordinary one.
  bool store_early(const Command& c, const store::StoreFlagsRequest& req, std::string& out);
  void cmd_copy(const Command& c, std::string& out);
  void cmd_quota(const Command& c, std::string& out);
  void cmd_sort(const Command& c, std::string& out);  // SORT and THREAD
  // SessionConfig::async_text: true if the command now waits for a text job (it runs again
  // from text_ready()).
  bool defer_for_text(const Command& c, const SearchKey& key, const std::vector<store::Message>& msgs);

  // helpers
  struct Hit {
    uint32_t seq = 0;
    store::Message msg;
    std::optional<MessageSummary> summary;  // loaded when the search needed it, or asked for
  };
  // The messages of `msgs` (the selected mailbox's, as listed) matching `key`, in sequence order.
  std::vector<Hit> search_hits(const SearchKey& key, bool load_summaries,
                               std::vector<store::Message> msgs);
  void login(std::string_view tag, const std::string& user, const std::string& password,
             std::string_view mechanism, std::string& out);
  void finish_login(bool password_ok, std::string& out);
  void process(std::string& out);  // runs parsed events until input or a pause runs out
  Result<std::vector<size_t>> resolve(const SequenceSet& set, bool uid) const;
  void sync(std::string& out, bool allow_expunge);
  // The selected mailbox no longer exists: BYE, and the session ends.
  bool selected_gone(std::string& out);
  void report_expunged(const std::vector<uint32_t>& uids, std::string& out);
  bool status_items_refused(const Command& c, const std::vector<StatusItem>& items, std::string& out) const;
  void status_items(const store::Mailbox& box, const std::vector<StatusItem>& items,
                    std::string& out) const;
  void unselect();
  // "FLAGS (...)": the system flags, $Junk, $NotJunk and the mailbox's keywords in use.
  static std::string flags_line(const std::vector<std::string>& keywords);
  // Adds to the sorted `known` the keywords it lacks ($Junk and $NotJunk are always in
  // FLAGS and never kept); true if any was added.
  static bool add_keywords(std::vector<std::string>& known, const std::vector<std::string>& keywords);
  // Announces keywords the client has not been told of (a new untagged FLAGS).
  void note_keywords(const std::vector<std::string>& keywords, std::string& out);
  // Issue 5 §5: junk reports on MOVE/COPY into or out of Junk and on $Junk / $NotJunk.
  enum class Place { kOther, kJunk, kTrash };
  Place place_of(const store::Mailbox& box) const;
  void report(uint64_t mailbox_id, const std::vector<uint32_t>& uids, store::Reported as,
              std::string_view reason);
  EncodeOptions enc() const { return EncodeOptions{utf8_}; }
  // Runs a store write: inline (Store::write_batch) or through the adapter's writer; `done`
  // completes the command with the outcome (it may use sel_: the session is paused).
  using WriteDone = std::function<void(store::WriteOutcome& outcome, std::string& out)>;
  void write(store::WriteRequest request, WriteDone done, std::string& out);

  store::Store& store_;
  SessionConfig cfg_;
  Parser parser_;
  SessionState state_ = SessionState::kNotAuthenticated;
  store::User user_;
  std::optional<Selected> sel_;
  std::optional<std::string> idle_tag_;
  std::optional<std::string> auth_tag_;  // AUTHENTICATE waiting for the SASL response
  bool start_tls_pending_ = false;
  struct PendingLogin {
    std::string tag;
    store::User user;
    store::LoginEvent event;
    std::optional<PasswordCheck> check;  // not yet taken by the adapter
    bool refused = false;                // event.result says why, without a password check
    store::LockoutSettings lockout;      // the login's domain's (store/settings.h)
    std::string code, text;              // a domain-policy refusal's NO [code] text
  };
  std::optional<PendingLogin> pending_login_;
  struct PendingWrite {
    std::optional<store::WriteRequest> request;  // not yet taken by the adapter
    WriteDone done;
  };
  std::unique_ptr<PendingWrite> pending_write_;  // on the heap: idle sessions stay small
  struct Early {  // SessionConfig::flag_journal state, on the heap (most sessions never STORE)
    std::vector<EarlyWrite> out;  // not yet taken by the adapter
    struct Prediction {
      uint64_t mailbox_id = 0;
      std::vector<FlagOverlay::Change> changes;
    };
    std::deque<Prediction> predictions;  // submitted, outcome not back; in order
    std::unique_ptr<ParseEvent> held;    // the command waiting for the barrier
    uint64_t barrier = 0;
  };
  std::unique_ptr<Early> early_;
  struct PendingText {
    std::optional<TextJob> job;  // not yet taken by the adapter
    Command command;             // runs again once the job is done
  };
  std::unique_ptr<PendingText> pending_text_;
  bool text_warmed_ = false;  // the command being re-run after its text job: no second job
  bool condstore_ = false;  // RFC 7162 §3.1: enabled by ENABLE or a CONDSTORE-using command
  bool qresync_ = false;
  bool rev2_ = false;       // ENABLE IMAP4rev2
  bool utf8_ = false;       // UTF-8 mailbox names and quoted strings
  std::vector<uint32_t> saved_uids_;  // RFC 5182 SEARCHRES
  std::string client_id_;             // from ID, for the login history
  std::vector<std::pair<std::string, uint32_t>> counters_;  // command name -> count, in order seen
  int failed_logins_ = 0;
  int bad_commands_ = 0;
};

// Runs a Session::TextJob (on a worker thread): the decoded, folded text of each message
// not yet in `cache` goes into it, as Session::search_hits would have put it. A message
// that cannot be read or parsed is skipped (the search then reads it inline and falls back
// to its raw octets). `stop` is asked every 64 messages. Returns how many were extracted.
size_t extract_search_text(store::Store& store, const TextExtractor& extract, SearchCache& cache,
                           const Session::TextJob& job, const std::function<bool()>& stop = {});

}  // namespace tsubame::imap
