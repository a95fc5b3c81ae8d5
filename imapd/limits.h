// imapd/limits.h: every limit of the IMAP daemon, named once, each with a test.
//
// The parser takes a ParserLimits value (smaller before login, as Dovecot and Stalwart do);
// the session takes the timeouts and counters. Nothing here allocates or fails; a limit that
// is hit always yields one reply (tagged BAD, NO [TOOBIG], or an untagged BYE and close), as
// documented beside each constant.
#pragma once

#include <chrono>
#include <cstddef>
#include <cstdint>

namespace tsubame::imap {

// ---- command framing (parser) ----

// One line of a command, without its CRLF and without literal data. RFC 9051 §4 does not
// cap lines; RFC 7162 §4 asks servers to accept at least 8192 octets in a command line so
// that long sequence sets from CONDSTORE/QRESYNC clients fit. Past it: tagged BAD, the rest
// of the line is skipped and parsing resumes at the next line.
inline constexpr size_t kMaxLineLength = 64 * 1024;
// Before authentication a client has no business sending long lines.
inline constexpr size_t kMaxLineLengthPreAuth = 8 * 1024;

// A whole command: all its lines plus all literal data except an APPEND message literal.
// Past it: tagged BAD [TOOBIG].
inline constexpr size_t kMaxCommandSize = 1024 * 1024;

// A literal in any command other than APPEND's message (a LOGIN password, a SEARCH string).
// Past it: tagged BAD [TOOBIG] before any literal byte is read (RFC 9051 §7.1 TOOBIG).
inline constexpr uint64_t kMaxLiteralSize = 256 * 1024;
// Before authentication: LOGIN and AUTHENTICATE arguments only.
inline constexpr uint64_t kMaxLiteralSizePreAuth = 8 * 1024;
// APPEND's message literal, advertised as APPENDLIMIT (RFC 7889 §3). Past it: tagged
// NO [TOOBIG] (RFC 7889 §4) without reading the literal.
inline constexpr uint64_t kMaxAppendSize = 64ull * 1024 * 1024;

// RFC 7888 §4: with LITERAL- a non-synchronizing literal may carry at most 4096 octets.
inline constexpr uint64_t kMaxNonSyncLiteralLiteralMinus = 4096;

// A refused non-synchronizing literal is sent anyway by the client; the parser reads and
// discards it to stay in sync (RFC 7888 §4 allows either discarding or closing). A refused
// non-synchronizing literal larger than this is not worth reading: untagged BYE and close.
inline constexpr uint64_t kMaxDiscardLiteral = 1024 * 1024;

// Literals in one command (APPEND has one or two, a SEARCH may have several).
inline constexpr size_t kMaxLiteralsPerCommand = 64;

// Depth of nested parenthesised lists (SEARCH (OR (...)), FETCH (BODY[...]), ID lists,
// QRESYNC parameters). Past it: tagged BAD. Bounds the parser's recursion.
inline constexpr int kMaxNestingDepth = 16;

// Ranges in one sequence set ("1:5,7,9:*" has three). Past it: tagged BAD.
inline constexpr size_t kMaxSequenceRanges = 8192;

// Search keys in one SEARCH/SORT/THREAD command, counting nested ones. Past it: tagged BAD.
inline constexpr size_t kMaxSearchKeys = 1024;

// Items in one FETCH attribute list or one STORE flag list.
inline constexpr size_t kMaxFetchItems = 128;
inline constexpr size_t kMaxFlagsPerCommand = 128;
// A keyword (flag atom) longer than this is refused with BAD.
inline constexpr size_t kMaxKeywordLength = 128;

// Mailbox names: bytes of the decoded UTF-8 name (the store also bounds the hierarchy depth).
inline constexpr size_t kMaxMailboxNameLength = 1024;

// RFC 2971 §3.3: at most 30 field-value pairs, field names at most 30 octets, values at most
// 1024 octets. A longer ID is refused with BAD.
inline constexpr size_t kMaxIdPairs = 30;
inline constexpr size_t kMaxIdFieldLength = 30;
inline constexpr size_t kMaxIdValueLength = 1024;

// Tag length; tags are atoms without '+' (RFC 9051 §9 "tag").
inline constexpr size_t kMaxTagLength = 64;

// ---- session ----

// RFC 9051 §5.4: an autologout timer of at least 30 minutes after login (IDLE included:
// RFC 2177 asks clients to re-issue IDLE at least every 29 minutes).
inline constexpr std::chrono::seconds kIdleTimeout{30 * 60};
// Before login: RFC 9051 §5.4 allows a shorter timer. 60 s is enough for any real client.
inline constexpr std::chrono::seconds kPreAuthTimeout{60};
// A literal or line that stops arriving: the same timers apply; the deadline is not reset by
// the bytes of a partial command (Postfix's rule), so a trickling client cannot hold a slot
// (Session::in_command(), used by the daemon's timer).

// Failed LOGIN/AUTHENTICATE attempts per connection. Past it: untagged BYE and close. The
// account lockout across connections is the store's (shared with smtpd).
inline constexpr int kMaxFailedLogins = 3;

// Commands answered with BAD on one connection before the server gives up: BYE and close.
inline constexpr int kMaxBadCommands = 20;

// SASL: one AUTHENTICATE response line (base64). A longer one cancels the AUTHENTICATE
// with a tagged BAD.
inline constexpr size_t kMaxSaslResponseLength = 4 * 1024;

// ---- smtpd's delivery notifications (server.cc) ----

// One datagram "deliver USER_ID MAILBOX_ID" (with its terminating NUL in our buffer); a
// longer one is dropped unread.
inline constexpr size_t kMaxNotifyDatagram = 128;
// Datagrams read per wake-up of the loop; more stay queued for the next turn, so a flood
// on the socket cannot starve the connections.
inline constexpr int kMaxNotifyDatagramsPerWake = 256;

// ---- group commit (writer.h) ----

// Requests (APPEND, STORE, COPY/MOVE, EXPUNGE of different sessions) gathered into one
// write transaction. More wait for the next batch (never refused). At most the store's
// kMaxBatchMessages.
inline constexpr size_t kMaxWriteBatch = 256;
// APPENDed octets in one batch: a batch closes once it holds this much (a single larger
// message still gets its own batch), so one commit never buffers more than this.
inline constexpr uint64_t kMaxWriteBatchBytes = 64ull * 1024 * 1024;
// After a flag-only batch committed with its meta page unsynced (store::BatchSync::
// kFlagsDeferred), the writer syncs the store once it has had nothing to do for this long:
// the window in which a system crash may undo acknowledged flag changes. Any later commit
// closes the window earlier.
inline constexpr std::chrono::milliseconds kMetaSyncDelay{20};

// STOREs acknowledged early (imapd.flag_sync = journal) and not yet committed, over all
// sessions. Beyond it a STORE takes the ordinary path and waits for its commit: a client
// pipelining STOREs faster than the disk syncs is slowed to the disk's pace instead of
// growing the writer's queue and the overlay without bound.
inline constexpr uint64_t kMaxEarlyFlagWrites = 4096;

// ---- SEARCH (search_cache.h) ----

// A SEARCH/SORT/THREAD by text whose mailbox has at least this many messages not yet in the
// search cache has their text extracted on the worker pool first (about 36 µs a message):
// the event loop, and so every other session, is not held up meanwhile. Fewer are
// extracted inline.
inline constexpr size_t kMinAsyncTextMessages = 64;

// Decoded, case-folded searchable text kept for the daemon's sessions (LRU). About 1.2x the
// text size of the messages searched; a message above an eighth of it is never cached.
inline constexpr size_t kSearchCacheBytes = 64 * 1024 * 1024;

}  // namespace tsubame::imap
