// tests/imapd/parser_test.cc: the IMAP parser on strings: every command form, literals of
// each kind, incremental input, and every bad input named in issue 5.
#include "imapd/parser.h"

#include <gtest/gtest.h>

#include <random>
#include <string>
#include <vector>

namespace tsubame::imap {
namespace {

using namespace std::string_literals;

ParserOptions authed() {
  ParserOptions o;
  o.authenticated = true;
  return o;
}

std::vector<ParseEvent> run(std::string_view input, ParserOptions o = authed(),
                            bool bytewise = false) {
  Parser p(o);
  std::vector<ParseEvent> out;
  auto drain = [&] {
    while (auto ev = p.next()) out.push_back(std::move(*ev));
  };
  if (bytewise) {
    for (char c : input) {
      p.feed(std::string_view(&c, 1));
      drain();
    }
  } else {
    p.feed(input);
    drain();
  }
  return out;
}

// Parses one command line (CRLF added) that must succeed, and returns it.
Command ok(std::string line, ParserOptions o = authed()) {
  auto evs = run(line + "\r\n", o);
  EXPECT_EQ(evs.size(), 1u) << line;
  if (evs.size() != 1) return {};
  if (auto* e = std::get_if<ParseError>(&evs[0])) {
    ADD_FAILURE() << line << " -> BAD " << e->text;
    return {};
  }
  return std::get<Command>(evs[0]);
}

// Parses one command line that must fail, and returns the error.
ParseError bad(std::string line, ParserOptions o = authed()) {
  auto evs = run(line + "\r\n", o);
  EXPECT_EQ(evs.size(), 1u) << line;
  if (evs.size() != 1 || !std::holds_alternative<ParseError>(evs[0])) {
    ADD_FAILURE() << line << " was accepted";
    return {};
  }
  return std::get<ParseError>(evs[0]);
}

template <typename T>
T args(std::string line, ParserOptions o = authed()) {
  Command c = ok(std::move(line), o);
  if (!std::holds_alternative<T>(c.args)) {
    ADD_FAILURE() << "wrong argument type";
    return T{};
  }
  return std::get<T>(c.args);
}

// ---------------------------------------------------------------------------------------
// Simple commands

TEST(ParserCommands, NoArgumentCommands) {
  const std::pair<const char*, CommandKind> cases[] = {
      {"CAPABILITY", CommandKind::kCapability}, {"NOOP", CommandKind::kNoop},
      {"LOGOUT", CommandKind::kLogout}, {"STARTTLS", CommandKind::kStartTls},
      {"NAMESPACE", CommandKind::kNamespace}, {"IDLE", CommandKind::kIdle},
      {"CHECK", CommandKind::kCheck}, {"CLOSE", CommandKind::kClose},
      {"UNSELECT", CommandKind::kUnselect}, {"EXPUNGE", CommandKind::kExpunge}};
  for (const auto& [name, kind] : cases) {
    Command c = ok(std::string("a1 ") + name);
    EXPECT_EQ(c.tag, "a1");
    EXPECT_EQ(c.kind, kind) << name;
    EXPECT_FALSE(c.uid);
    EXPECT_EQ(command_name(kind), name);
    ParseError e = bad(std::string("a2 ") + name + " extra");
    EXPECT_EQ(e.tag, "a2");
    EXPECT_EQ(e.kind, ParseError::Kind::kBad);
  }
}

TEST(ParserCommands, CommandNamesAreCaseInsensitive) {
  EXPECT_EQ(ok("x noop").kind, CommandKind::kNoop);
  EXPECT_EQ(ok("x CaPaBiLiTy").kind, CommandKind::kCapability);
  EXPECT_EQ(ok("x uid fetch 1 flags").kind, CommandKind::kFetch);
}

TEST(ParserCommands, TagRules) {
  EXPECT_EQ(ok("A.1]x NOOP").tag, "A.1]x");  // ASTRING-CHAR includes "]"
  EXPECT_EQ(bad("+a NOOP").tag, "*");        // "+" is not a tag character
  EXPECT_EQ(bad("a+b NOOP").tag, "*");
  EXPECT_EQ(bad("(a NOOP").tag, "*");
  EXPECT_EQ(bad("tag").text, "missing command");
  EXPECT_EQ(bad(std::string(kMaxTagLength + 1, 't') + " NOOP").tag, "*");
  EXPECT_EQ(ok(std::string(kMaxTagLength, 't') + " NOOP").tag, std::string(kMaxTagLength, 't'));
  auto e = bad("a1 FROBNICATE");
  EXPECT_EQ(e.tag, "a1");
  EXPECT_NE(e.text.find("unknown command FROBNICATE"), std::string::npos);
}

TEST(ParserCommands, EmptyLineIsBad) {
  auto evs = run("\r\na NOOP\r\n");
  ASSERT_EQ(evs.size(), 2u);
  EXPECT_EQ(std::get<ParseError>(evs[0]).tag, "*");
  EXPECT_EQ(std::get<Command>(evs[1]).kind, CommandKind::kNoop);
}

TEST(ParserCommands, BareLfIsAccepted) {
  auto evs = run("a NOOP\nb NOOP\r\n");
  ASSERT_EQ(evs.size(), 2u);
  EXPECT_EQ(std::get<Command>(evs[1]).tag, "b");
}

// ---------------------------------------------------------------------------------------
// Authentication commands

TEST(ParserCommands, LoginAtomQuotedLiteral) {
  auto l = args<LoginArgs>("a LOGIN fred secret");
  EXPECT_EQ(l.user, "fred");
  EXPECT_EQ(l.password, "secret");
  l = args<LoginArgs>(R"(a LOGIN "fred smith" "pa\"ss\\word")");
  EXPECT_EQ(l.user, "fred smith");
  EXPECT_EQ(l.password, "pa\"ss\\word");
  auto evs = run("a LOGIN {4}\r\nfred {6}\r\nse\r\nrt\r\n", ParserOptions{});
  ASSERT_EQ(evs.size(), 3u);
  EXPECT_EQ(std::get<ContinuationRequest>(evs[0]).literal_size, 4u);
  EXPECT_EQ(std::get<ContinuationRequest>(evs[1]).literal_size, 6u);
  auto c = std::get<Command>(evs[2]);
  EXPECT_EQ(c.as<LoginArgs>().user, "fred");
  EXPECT_EQ(c.as<LoginArgs>().password, "se\r\nrt");
  EXPECT_NE(bad("a LOGIN fred").text.find("expected a space"), std::string::npos);
  bad(R"(a LOGIN "fred" "bad\escape")");
  bad(R"(a LOGIN "unterminated)");
  bad("a LOGIN fred secret extra");
}

TEST(ParserCommands, AuthenticatePlainWithSaslIr) {
  auto a = args<AuthenticateArgs>("a AUTHENTICATE plain");
  EXPECT_EQ(a.mechanism, "PLAIN");
  EXPECT_FALSE(a.initial_response);
  a = args<AuthenticateArgs>("a AUTHENTICATE PLAIN AGZyZWQAc2VjcmV0");
  ASSERT_TRUE(a.initial_response);
  EXPECT_EQ(*a.initial_response, std::string("\0fred\0secret", 12));
  a = args<AuthenticateArgs>("a AUTHENTICATE PLAIN =");  // RFC 4959: empty response
  ASSERT_TRUE(a.initial_response);
  EXPECT_EQ(*a.initial_response, "");
  bad("a AUTHENTICATE PLAIN AGZy!");
  bad("a AUTHENTICATE PLAIN AGZ");  // not a multiple of 4
}

TEST(ParserCommands, Enable) {
  auto e = args<EnableArgs>("a ENABLE condstore QRESYNC IMAP4rev2");
  EXPECT_EQ(e.capabilities, (std::vector<std::string>{"CONDSTORE", "QRESYNC", "IMAP4REV2"}));
  bad("a ENABLE");
}

TEST(ParserCommands, Id) {
  auto i = args<IdArgs>("a ID NIL");
  EXPECT_TRUE(i.fields.empty());
  i = args<IdArgs>(R"(a ID ("name" "Thunderbird" "version" "115.0" "os" NIL))");
  ASSERT_EQ(i.fields.size(), 3u);
  EXPECT_EQ(i.fields[0].first, "name");
  EXPECT_EQ(i.fields[1].second, std::optional<std::string>("115.0"));
  EXPECT_FALSE(i.fields[2].second);
  EXPECT_TRUE(args<IdArgs>("a ID ()").fields.empty());
  bad("a ID (\"name\")");
  bad("a ID name");
}

TEST(ParserLimits, IdLimitsFromRfc2971) {
  std::string many = "a ID (";
  for (size_t i = 0; i <= kMaxIdPairs; ++i) many += "\"k" + std::to_string(i) + "\" \"v\" ";
  many.back() = ')';
  EXPECT_NE(bad(many).text.find("too many ID fields"), std::string::npos);
  bad("a ID (\"" + std::string(kMaxIdFieldLength + 1, 'k') + "\" \"v\")");
  ok("a ID (\"" + std::string(kMaxIdFieldLength, 'k') + "\" \"v\")");
  bad("a ID (\"k\" \"" + std::string(kMaxIdValueLength + 1, 'v') + "\")");
}

// ---------------------------------------------------------------------------------------
// Mailbox commands

TEST(ParserCommands, SelectExamineCondstoreQresync) {
  Command c = ok("a SELECT inbox");
  EXPECT_EQ(c.kind, CommandKind::kSelect);
  EXPECT_EQ(c.as<SelectArgs>().mailbox, "INBOX");
  c = ok("a EXAMINE \"Sent Items\" (CONDSTORE)");
  EXPECT_EQ(c.kind, CommandKind::kExamine);
  EXPECT_EQ(c.as<SelectArgs>().mailbox, "Sent Items");
  EXPECT_TRUE(c.as<SelectArgs>().condstore);
  // RFC 7162 §3.2.5.2 example
  auto s = args<SelectArgs>(
      "A02 SELECT INBOX (QRESYNC (67890007 20050715194045000 41,43:211,214:541 "
      "(1:15,20 2,12:13,17:20)))");
  ASSERT_TRUE(s.qresync);
  EXPECT_EQ(s.qresync->uidvalidity, 67890007u);
  EXPECT_EQ(s.qresync->modseq, 20050715194045000ull);
  ASSERT_TRUE(s.qresync->known_uids);
  EXPECT_EQ(s.qresync->known_uids->ranges.size(), 3u);
  ASSERT_TRUE(s.qresync->seq_match_seqs);
  EXPECT_EQ(s.qresync->seq_match_seqs->ranges.size(), 2u);
  EXPECT_EQ(s.qresync->seq_match_uids->ranges.size(), 3u);
  s = args<SelectArgs>("a SELECT INBOX (QRESYNC (1 2))");
  EXPECT_FALSE(s.qresync->known_uids);
  s = args<SelectArgs>("a SELECT INBOX (QRESYNC (1 2 (1:2 3:4)))");
  EXPECT_FALSE(s.qresync->known_uids);
  EXPECT_TRUE(s.qresync->seq_match_seqs);
  bad("a SELECT INBOX (QRESYNC (0 2))");
  bad("a SELECT INBOX (QRESYNC (1 0))");
  bad("a SELECT INBOX (QRESYNC (1 2 1:*))");
  bad("a SELECT INBOX (FOO)");
  bad("a SELECT INBOX (CONDSTORE");
  bad("a SELECT");
}

TEST(ParserCommands, CreateDeleteRenameSubscribe) {
  EXPECT_EQ(args<CreateArgs>("a CREATE Archive/2024").mailbox, "Archive/2024");
  auto cr = args<CreateArgs>("a CREATE MySpecial (USE (\\Drafts \\Sent))");
  EXPECT_EQ(cr.special_use, (std::vector<std::string>{"\\Drafts", "\\Sent"}));
  bad("a CREATE x (FOO (\\Drafts))");
  Command c = ok("a DELETE Trash");
  EXPECT_EQ(c.kind, CommandKind::kDelete);
  EXPECT_EQ(c.as<MailboxArgs>().mailbox, "Trash");
  auto r = args<RenameArgs>("a RENAME \"Old Name\" {8+}\r\nNew Name");
  EXPECT_EQ(r.from, "Old Name");
  EXPECT_EQ(r.to, "New Name");
  EXPECT_EQ(ok("a SUBSCRIBE x").kind, CommandKind::kSubscribe);
  EXPECT_EQ(ok("a UNSUBSCRIBE x").kind, CommandKind::kUnsubscribe);
  bad("a RENAME onlyone");
}

TEST(ParserCommands, ListBasicAndExtended) {
  auto l = args<ListArgs>("a LIST \"\" *");
  EXPECT_EQ(l.reference, "");
  EXPECT_EQ(l.patterns, std::vector<std::string>{"*"});
  EXPECT_FALSE(l.extended_syntax);
  l = args<ListArgs>("a LIST ~/Mail/ %");
  EXPECT_EQ(l.reference, "~/Mail/");
  EXPECT_EQ(l.patterns, std::vector<std::string>{"%"});
  l = args<ListArgs>("a LIST \"\" foo/*]");
  EXPECT_EQ(l.patterns, std::vector<std::string>{"foo/*]"});
  // RFC 5258 §6 examples
  l = args<ListArgs>("A02 LIST (SUBSCRIBED RECURSIVEMATCH) \"\" \"%\" RETURN (CHILDREN)");
  EXPECT_TRUE(l.extended_syntax);
  EXPECT_TRUE(l.select_subscribed);
  EXPECT_TRUE(l.select_recursive_match);
  EXPECT_TRUE(l.return_children);
  l = args<ListArgs>("a LIST \"\" (\"INBOX\" \"Drafts\" Sent/%)");
  EXPECT_EQ(l.patterns, (std::vector<std::string>{"INBOX", "Drafts", "Sent/%"}));
  l = args<ListArgs>("a LIST (SPECIAL-USE) \"\" * RETURN (SPECIAL-USE SUBSCRIBED)");
  EXPECT_TRUE(l.select_special_use);
  EXPECT_TRUE(l.return_special_use);
  EXPECT_TRUE(l.return_subscribed);
  l = args<ListArgs>("a LIST () \"\" % RETURN ()");
  EXPECT_TRUE(l.extended_syntax);
  // RFC 5819 LIST-STATUS
  l = args<ListArgs>("a LIST \"\" % RETURN (STATUS (MESSAGES UNSEEN UIDNEXT))");
  ASSERT_TRUE(l.return_status);
  EXPECT_EQ(*l.return_status, (std::vector<StatusItem>{StatusItem::kMessages,
                                                       StatusItem::kUnseen,
                                                       StatusItem::kUidNext}));
  l = args<ListArgs>("a LIST (REMOTE SUBSCRIBED) \"\" *");
  EXPECT_TRUE(l.select_remote);
  EXPECT_NE(bad("a LIST (RECURSIVEMATCH) \"\" *").text.find("RECURSIVEMATCH"), std::string::npos);
  bad("a LIST (BOGUS) \"\" *");
  bad("a LIST \"\" * RETURN (BOGUS)");
  bad("a LIST \"\" * WRONG (CHILDREN)");
  bad("a LIST \"\"");
  bad("a LIST \"\" (INBOX");
}

TEST(ParserCommands, Lsub) {
  Command c = ok("a LSUB \"#news.\" \"comp.mail.*\"");
  EXPECT_EQ(c.kind, CommandKind::kLsub);
  EXPECT_EQ(c.as<ListArgs>().reference, "#news.");
  EXPECT_EQ(c.as<ListArgs>().patterns, std::vector<std::string>{"comp.mail.*"});
  EXPECT_TRUE(c.as<ListArgs>().select_subscribed);
}

TEST(ParserCommands, Status) {
  auto s = args<StatusArgs>(
      "a STATUS blurdybloop (UIDNEXT MESSAGES UIDVALIDITY UNSEEN DELETED SIZE RECENT "
      "HIGHESTMODSEQ APPENDLIMIT)");
  EXPECT_EQ(s.mailbox, "blurdybloop");
  EXPECT_EQ(s.items.size(), 9u);
  EXPECT_EQ(s.items[0], StatusItem::kUidNext);
  EXPECT_EQ(s.items[8], StatusItem::kAppendLimit);
  EXPECT_EQ(args<StatusArgs>("a STATUS x (MESSAGES MESSAGES)").items.size(), 1u);
  bad("a STATUS x (BOGUS)");
  bad("a STATUS x ()");
  bad("a STATUS x MESSAGES");
}

TEST(ParserCommands, Namespace) { EXPECT_EQ(ok("a NAMESPACE").kind, CommandKind::kNamespace); }

// ---------------------------------------------------------------------------------------
// APPEND

TEST(ParserAppend, FlagsDateAndLiteral) {
  std::string msg = "Subject: hi\r\n\r\nbody\r\n";
  auto evs = run("A003 APPEND saved-messages (\\Seen $Junk) \"05-Jul-2024 02:44:25 -0700\" {" +
                 std::to_string(msg.size()) + "}\r\n" + msg + "\r\n");
  ASSERT_EQ(evs.size(), 2u);
  EXPECT_TRUE(std::holds_alternative<ContinuationRequest>(evs[0]));
  auto c = std::get<Command>(evs[1]);
  auto& a = c.as<AppendArgs>();
  EXPECT_EQ(a.mailbox, "saved-messages");
  EXPECT_EQ(a.flags, (std::vector<std::string>{"\\Seen", "$Junk"}));
  ASSERT_TRUE(a.date_time);
  EXPECT_EQ(a.date_time->date, (Date{2024, 7, 5}));
  EXPECT_EQ(a.date_time->zone_minutes, -420);
  EXPECT_EQ(a.message, msg);
  EXPECT_FALSE(a.binary);
}

TEST(ParserAppend, MinimalAndLiteralPlusAndLiteral8) {
  auto a = args<AppendArgs>("a APPEND INBOX {3+}\r\nabc");
  EXPECT_EQ(a.message, "abc");
  EXPECT_TRUE(a.flags.empty());
  EXPECT_FALSE(a.date_time);
  a = args<AppendArgs>("a APPEND INBOX () ~{4+}\r\na\0bc"s);
  EXPECT_TRUE(a.binary);
  EXPECT_EQ(a.message.size(), 4u);
  a = args<AppendArgs>("a APPEND INBOX \" 5-Jan-2020 00:00:00 +0000\" {1+}\r\nx");
  EXPECT_EQ(a.date_time->date.day, 5);
}

TEST(ParserAppend, Utf8Data) {  // RFC 6855 §4
  auto a = args<AppendArgs>("a APPEND INBOX (\\Seen) UTF8 (~{3+}\r\nabc)");
  EXPECT_TRUE(a.utf8);
  EXPECT_TRUE(a.binary);
  EXPECT_EQ(a.message, "abc");
  bad("a APPEND INBOX UTF8 ({3+}\r\nabc)");  // must be literal8
  bad("a APPEND INBOX UTF8 (~{3+}\r\nabc");   // unbalanced
  bad("a APPEND INBOX UTF9 (~{3+}\r\nabc)");
}

TEST(ParserAppend, BadForms) {
  bad("a APPEND INBOX \"abc\"");  // message must be a literal
  bad("a APPEND INBOX (\\Seen) \"05-Foo-2024 02:44:25 -0700\" {1+}\r\nx");
  bad("a APPEND INBOX \"31-Feb-2024 02:44:25 -0700\" {1+}\r\nx");
  bad("a APPEND INBOX \"05-Jul-2024 25:44:25 -0700\" {1+}\r\nx");
  bad("a APPEND INBOX (\\Recent) {1+}\r\nx");
  bad("a APPEND INBOX (\\Seen {1+}\r\nx");
  EXPECT_NE(bad("a APPEND INBOX {1+}\r\nx {1+}\r\ny").text.find("MULTIAPPEND"),
            std::string::npos);
}

TEST(ParserAppend, DateTimeToUnix) {
  auto a = args<AppendArgs>("a APPEND INBOX \"17-Jul-1996 02:44:25 -0700\" {1+}\r\nx");
  EXPECT_EQ(a.date_time->unix_seconds(), 837596665);
}

// ---------------------------------------------------------------------------------------
// SEARCH

TEST(ParserSearch, EveryKeyOfRfc9051) {
  auto s = args<SearchArgs>(
      "a SEARCH ALL ANSWERED BCC x BEFORE 1-Feb-1994 BODY \"y z\" CC c DELETED DRAFT FLAGGED "
      "FROM f HEADER X-Foo bar KEYWORD $Junk LARGER 100 NEW NOT SEEN OLD ON 2-Mar-2001 "
      "OR SEEN FLAGGED RECENT SEEN SENTBEFORE 1-Jan-2000 SENTON 2-Jan-2000 "
      "SENTSINCE \"3-Jan-2000\" SINCE 4-Jan-2000 SMALLER 5 SUBJECT s TEXT t TO to "
      "UID 1:* UNANSWERED UNDELETED UNDRAFT UNFLAGGED UNKEYWORD $x UNSEEN 2,4:6 "
      "(SEEN DELETED) MODSEQ 620162338 OLDER 60 YOUNGER 30");
  using K = SearchKey::Kind;
  const std::vector<K> want = {
      K::kAll, K::kAnswered, K::kBcc, K::kBefore, K::kBody, K::kCc, K::kDeleted, K::kDraft,
      K::kFlagged, K::kFrom, K::kHeader, K::kKeyword, K::kLarger, K::kNew, K::kNot, K::kOld,
      K::kOn, K::kOr, K::kRecent, K::kSeen, K::kSentBefore, K::kSentOn, K::kSentSince,
      K::kSince, K::kSmaller, K::kSubject, K::kText, K::kTo, K::kUid, K::kUnanswered,
      K::kUndeleted, K::kUndraft, K::kUnflagged, K::kUnkeyword, K::kUnseen, K::kSequenceSet,
      K::kAnd, K::kModSeq, K::kOlder, K::kYounger};
  ASSERT_EQ(s.key.kind, K::kAnd);
  ASSERT_EQ(s.key.children.size(), want.size());
  for (size_t i = 0; i < want.size(); ++i) EXPECT_EQ(s.key.children[i].kind, want[i]) << i;
  const auto& ch = s.key.children;
  EXPECT_EQ(ch[2].str, "x");
  EXPECT_EQ(ch[3].date, (Date{1994, 2, 1}));
  EXPECT_EQ(ch[4].str, "y z");
  EXPECT_EQ(ch[10].str, "X-Foo");
  EXPECT_EQ(ch[10].str2, "bar");
  EXPECT_EQ(ch[11].str, "$Junk");
  EXPECT_EQ(ch[12].number, 100u);
  EXPECT_EQ(ch[14].children[0].kind, K::kSeen);
  EXPECT_EQ(ch[17].children.size(), 2u);
  EXPECT_EQ(ch[17].children[1].kind, K::kFlagged);
  EXPECT_EQ(ch[22].date, (Date{2000, 1, 3}));
  EXPECT_EQ(ch[28].set.ranges[0], (SeqRange{1, SequenceSet::kStar}));
  EXPECT_EQ(ch[35].set.ranges.size(), 2u);
  EXPECT_EQ(ch[36].children.size(), 2u);
  EXPECT_EQ(ch[37].number, 620162338u);
  EXPECT_EQ(ch[38].number, 60u);
}

TEST(ParserSearch, CharsetReturnAndModseqEntry) {
  auto s = args<SearchArgs>("a SEARCH CHARSET utf-8 TEXT {6+}\r\n\xe6\x97\xa5\xe6\x9c\xac");
  EXPECT_EQ(s.charset, std::optional<std::string>("UTF-8"));
  EXPECT_EQ(s.key.children[0].str, "\xe6\x97\xa5\xe6\x9c\xac");
  EXPECT_FALSE(s.esearch);
  s = args<SearchArgs>("a SEARCH RETURN (MIN MAX COUNT) CHARSET US-ASCII UNSEEN");
  EXPECT_TRUE(s.esearch);
  EXPECT_TRUE(s.ret.min && s.ret.max && s.ret.count);
  EXPECT_FALSE(s.ret.all);
  s = args<SearchArgs>("a SEARCH RETURN () UNSEEN");  // RFC 4731: () means (ALL)
  EXPECT_TRUE(s.ret.all);
  s = args<SearchArgs>("a SEARCH RETURN (SAVE) UNSEEN");
  EXPECT_TRUE(s.ret.save);
  s = args<SearchArgs>("a SEARCH $");
  EXPECT_TRUE(s.key.children[0].set.saved);
  // RFC 7162 §3.1.5 example
  s = args<SearchArgs>("a SEARCH MODSEQ \"/flags/\\\\draft\" all 620162338");
  ASSERT_TRUE(s.key.children[0].modseq_entry);
  EXPECT_EQ(*s.key.children[0].modseq_entry, "/flags/\\draft");
  EXPECT_EQ(s.key.children[0].modseq_entry_type, "all");
  Command c = ok("a UID SEARCH UID 1:5 UNDELETED");
  EXPECT_TRUE(c.uid);
  EXPECT_EQ(c.kind, CommandKind::kSearch);
}

TEST(ParserSearch, BadSearches) {
  bad("a SEARCH");
  bad("a SEARCH BOGUS");
  bad("a SEARCH (SEEN");              // unbalanced
  bad("a SEARCH SEEN)");              // unbalanced
  bad("a SEARCH (SEEN))");            // unbalanced
  bad("a SEARCH ()");
  bad("a SEARCH OR SEEN");
  bad("a SEARCH BEFORE 32-Jan-2000");
  bad("a SEARCH BEFORE 1-Jan-00");
  bad("a SEARCH LARGER x");
  bad("a SEARCH RETURN (FOO) ALL");
  bad("a SEARCH MODSEQ \"/flags/x\" bogus 5");
  bad("a SEARCH UID 0");
  bad("a SEARCH YOUNGER 0");
  EXPECT_NE(bad("a SEARCH (SEEN").text.find("\")\""), std::string::npos);
}

// ---------------------------------------------------------------------------------------
// FETCH

TEST(ParserFetch, MacrosExpand) {
  using K = FetchItem::Kind;
  auto kinds = [](const FetchArgs& f) {
    std::vector<K> k;
    for (const auto& it : f.items) k.push_back(it.kind);
    return k;
  };
  EXPECT_EQ(kinds(args<FetchArgs>("a FETCH 1 ALL")),
            (std::vector<K>{K::kFlags, K::kInternalDate, K::kRfc822Size, K::kEnvelope}));
  EXPECT_EQ(kinds(args<FetchArgs>("a FETCH 1 fast")),
            (std::vector<K>{K::kFlags, K::kInternalDate, K::kRfc822Size}));
  EXPECT_EQ(kinds(args<FetchArgs>("a FETCH 1 FULL")),
            (std::vector<K>{K::kFlags, K::kInternalDate, K::kRfc822Size, K::kEnvelope,
                            K::kBody}));
  bad("a FETCH 1 (ALL)");  // macros are not fetch-atts
}

TEST(ParserFetch, EveryItem) {
  using K = FetchItem::Kind;
  auto f = args<FetchArgs>(
      "a FETCH 2:4 (ENVELOPE FLAGS INTERNALDATE RFC822 RFC822.HEADER RFC822.SIZE RFC822.TEXT "
      "BODY BODYSTRUCTURE UID MODSEQ BODY[] BODY.PEEK[HEADER] BINARY[1.2] BINARY.PEEK[] "
      "BINARY.SIZE[3] BODY[1.2.MIME] BODY[2.TEXT]<0.2048> BODY[HEADER.FIELDS (DATE FROM)] "
      "BODY.PEEK[1.HEADER.FIELDS.NOT (X-Spam)] BINARY[1]<10.20> BODY[4.2])");
  ASSERT_EQ(f.items.size(), 22u);
  const std::vector<K> want = {K::kEnvelope, K::kFlags, K::kInternalDate, K::kRfc822,
                               K::kRfc822Header, K::kRfc822Size, K::kRfc822Text, K::kBody,
                               K::kBodyStructure, K::kUid, K::kModSeq, K::kBodySection,
                               K::kBodySection, K::kBinary, K::kBinary, K::kBinarySize,
                               K::kBodySection, K::kBodySection, K::kBodySection,
                               K::kBodySection, K::kBinary, K::kBodySection};
  for (size_t i = 0; i < want.size(); ++i) EXPECT_EQ(f.items[i].kind, want[i]) << i;
  EXPECT_FALSE(f.items[11].peek);
  EXPECT_EQ(f.items[11].section, Section{});
  EXPECT_TRUE(f.items[12].peek);
  EXPECT_EQ(f.items[12].section.text, Section::Text::kHeader);
  EXPECT_EQ(f.items[13].section.part, (std::vector<uint32_t>{1, 2}));
  EXPECT_TRUE(f.items[14].peek);
  EXPECT_EQ(f.items[15].section.part, std::vector<uint32_t>{3});
  EXPECT_EQ(f.items[16].section.text, Section::Text::kMime);
  EXPECT_EQ(f.items[16].section.part, (std::vector<uint32_t>{1, 2}));
  EXPECT_EQ(f.items[17].section.text, Section::Text::kText);
  ASSERT_TRUE(f.items[17].partial);
  EXPECT_EQ(*f.items[17].partial, (Partial{0, 2048}));
  EXPECT_EQ(f.items[18].section.text, Section::Text::kHeaderFields);
  EXPECT_EQ(f.items[18].section.fields, (std::vector<std::string>{"DATE", "FROM"}));
  EXPECT_EQ(f.items[19].section.text, Section::Text::kHeaderFieldsNot);
  EXPECT_EQ(f.items[19].section.part, std::vector<uint32_t>{1});
  EXPECT_EQ(f.items[19].section.fields, std::vector<std::string>{"X-SPAM"});
  EXPECT_EQ(*f.items[20].partial, (Partial{10, 20}));
  EXPECT_EQ(f.items[21].section.part, (std::vector<uint32_t>{4, 2}));
  EXPECT_EQ(f.items[21].section.text, Section::Text::kNone);
}

TEST(ParserFetch, SingleItemAndModifiers) {
  auto f = args<FetchArgs>("a FETCH * BODY.PEEK[HEADER.FIELDS (Subject)]");
  ASSERT_EQ(f.items.size(), 1u);
  EXPECT_EQ(f.set.ranges[0].lo, SequenceSet::kStar);
  // RFC 7162 §3.1.4.1 and §3.2.6
  f = args<FetchArgs>("s100 UID FETCH 1:* (FLAGS) (CHANGEDSINCE 12345 VANISHED)");
  EXPECT_EQ(f.changed_since, std::optional<uint64_t>(12345));
  EXPECT_TRUE(f.vanished);
  f = args<FetchArgs>("a FETCH 1:* (FLAGS) (CHANGEDSINCE 1)");
  EXPECT_FALSE(f.vanished);
  bad("a FETCH 1:* (FLAGS) (VANISHED)");
  bad("a FETCH 1:* (FLAGS) (CHANGEDSINCE 1 VANISHED)");  // not UID FETCH
  bad("a UID FETCH 1:* (FLAGS) (VANISHED)");              // no CHANGEDSINCE
  bad("a FETCH 1 (FLAGS) (CHANGEDSINCE 0)");
  bad("a FETCH 1 (FLAGS) (BOGUS)");
}

TEST(ParserFetch, BadFetches) {
  bad("a FETCH 1 (FLAGS");        // unbalanced
  bad("a FETCH 1 FLAGS)");
  bad("a FETCH 1 ()");
  bad("a FETCH 1 BOGUS");
  bad("a FETCH 1 BODY[");
  bad("a FETCH 1 BODY[TEXT");
  bad("a FETCH 1 BODY[FOO]");
  bad("a FETCH 1 BODY[MIME]");    // MIME needs a part
  bad("a FETCH 1 BODY[0]");
  bad("a FETCH 1 BODY[1.]");
  bad("a FETCH 1 BODY[]<0.0>");
  bad("a FETCH 1 BODY[]<5>");
  bad("a FETCH 1 BODY.PEEK");
  bad("a FETCH 1 BINARY[TEXT]");
  bad("a FETCH 1 BINARY[1.MIME]");
  bad("a FETCH 1 BINARY.SIZE");
  bad("a FETCH 1 BODY[HEADER.FIELDS ()]");
  bad("a FETCH");
}

// ---------------------------------------------------------------------------------------
// STORE, COPY, MOVE, EXPUNGE

TEST(ParserStore, Forms) {
  auto s = args<StoreArgs>("A003 STORE 2:4 +FLAGS (\\Deleted)");
  EXPECT_EQ(s.mode, StoreArgs::Mode::kAdd);
  EXPECT_FALSE(s.silent);
  EXPECT_EQ(s.flags, std::vector<std::string>{"\\Deleted"});
  s = args<StoreArgs>("a STORE 1 -FLAGS.SILENT \\Seen $Junk");
  EXPECT_EQ(s.mode, StoreArgs::Mode::kRemove);
  EXPECT_TRUE(s.silent);
  EXPECT_EQ(s.flags, (std::vector<std::string>{"\\Seen", "$Junk"}));
  s = args<StoreArgs>("a STORE 1 flags ()");
  EXPECT_EQ(s.mode, StoreArgs::Mode::kReplace);
  EXPECT_TRUE(s.flags.empty());
  // RFC 7162 §3.1.3 example
  Command c = ok("d105 UID STORE 7,5,9 (UNCHANGEDSINCE 320162338) +FLAGS.SILENT (\\Deleted)");
  EXPECT_TRUE(c.uid);
  EXPECT_EQ(c.as<StoreArgs>().unchanged_since, std::optional<uint64_t>(320162338));
  EXPECT_EQ(c.as<StoreArgs>().set.ranges.size(), 3u);
  bad("a STORE 1 +FLAGS (\\Recent)");
  bad("a STORE 1 *FLAGS (\\Seen)");
  bad("a STORE 1 FLAGS");
  bad("a STORE 1 (UNCHANGEDSINCE x) FLAGS (\\Seen)");
  bad("a STORE 1 (FOO 1) FLAGS (\\Seen)");
  bad("a STORE 1 +FLAGS (\\Seen");
}

TEST(ParserStore, FlagLimits) {
  std::string many = "a STORE 1 +FLAGS (";
  for (size_t i = 0; i <= kMaxFlagsPerCommand; ++i) many += "k" + std::to_string(i) + " ";
  many.back() = ')';
  EXPECT_NE(bad(many).text.find("too many flags"), std::string::npos);
  bad("a STORE 1 +FLAGS (" + std::string(kMaxKeywordLength + 1, 'k') + ")");
  ok("a STORE 1 +FLAGS (" + std::string(kMaxKeywordLength, 'k') + ")");
}

TEST(ParserCommands, CopyMoveExpunge) {
  Command c = ok("a COPY 2:4 MEETING");
  EXPECT_EQ(c.kind, CommandKind::kCopy);
  EXPECT_EQ(c.as<CopyArgs>().mailbox, "MEETING");
  c = ok("a UID MOVE 42:69 foo");
  EXPECT_EQ(c.kind, CommandKind::kMove);
  EXPECT_TRUE(c.uid);
  c = ok("a MOVE $ Junk");
  EXPECT_TRUE(c.as<CopyArgs>().set.saved);
  c = ok("a UID EXPUNGE 3000:3002");
  EXPECT_EQ(c.kind, CommandKind::kExpunge);
  ASSERT_TRUE(c.as<ExpungeArgs>().uids);
  c = ok("a EXPUNGE");
  EXPECT_FALSE(c.as<ExpungeArgs>().uids);
  bad("a UID EXPUNGE");
  bad("a UID BOGUS 1");
  bad("a UID LOGIN a b");
  bad("a COPY 1");
}

// ---------------------------------------------------------------------------------------
// SORT, THREAD, QUOTA

TEST(ParserCommands, SortAndEsort) {
  auto s = args<SortArgs>("A282 SORT (SUBJECT REVERSE DATE) UTF-8 ALL");
  ASSERT_EQ(s.criteria.size(), 2u);
  EXPECT_EQ(s.criteria[0], (SortCriterion{SortCriterion::Key::kSubject, false}));
  EXPECT_EQ(s.criteria[1], (SortCriterion{SortCriterion::Key::kDate, true}));
  EXPECT_EQ(s.charset, "UTF-8");
  EXPECT_FALSE(s.esort);
  Command c = ok("a UID SORT RETURN (MIN COUNT) (ARRIVAL CC FROM SIZE TO DISPLAYFROM "
                 "DISPLAYTO) us-ascii SINCE 1-Feb-1994 NOT FROM \"Smith\"");
  EXPECT_TRUE(c.uid);
  EXPECT_TRUE(c.as<SortArgs>().esort);
  EXPECT_EQ(c.as<SortArgs>().criteria.size(), 7u);
  EXPECT_EQ(c.as<SortArgs>().key.children.size(), 2u);
  bad("a SORT (BOGUS) UTF-8 ALL");
  bad("a SORT (DATE) UTF-8");
  bad("a SORT DATE UTF-8 ALL");
  bad("a SORT (REVERSE) UTF-8 ALL");
}

TEST(ParserCommands, Thread) {
  auto t = args<ThreadArgs>("a THREAD references UTF-8 SINCE 5-MAR-2000");
  EXPECT_EQ(t.algorithm, "REFERENCES");
  EXPECT_EQ(t.key.children[0].kind, SearchKey::Kind::kSince);
  EXPECT_TRUE(ok("a UID THREAD ORDEREDSUBJECT UTF-8 ALL").uid);
  bad("a THREAD REFERENCES UTF-8");
}

TEST(ParserCommands, Quota) {
  Command c = ok("a GETQUOTA \"\"");
  EXPECT_EQ(c.kind, CommandKind::kGetQuota);
  EXPECT_EQ(c.as<QuotaRootArgs>().root, "");
  c = ok("a GETQUOTAROOT INBOX");
  EXPECT_EQ(c.kind, CommandKind::kGetQuotaRoot);
  EXPECT_EQ(c.as<MailboxArgs>().mailbox, "INBOX");
  auto q = args<SetQuotaArgs>("a SETQUOTA \"\" (STORAGE 512 message 1000)");
  EXPECT_EQ(q.limits, (std::vector<std::pair<std::string, uint64_t>>{{"STORAGE", 512},
                                                                     {"MESSAGE", 1000}}));
  bad("a SETQUOTA \"\" (STORAGE)");
}

// ---------------------------------------------------------------------------------------
// Sequence sets

TEST(SequenceSets, Valid) {
  auto s = parse_sequence_set("1:5,7,9:10,*:15,4294967295");
  ASSERT_TRUE(s);
  ASSERT_EQ(s->ranges.size(), 5u);
  EXPECT_EQ(s->ranges[3], (SeqRange{SequenceSet::kStar, 15}));
  EXPECT_TRUE(s->contains(16, 20));
  EXPECT_EQ(s->ranges[4].lo, 4294967295u);
  EXPECT_TRUE(s->contains(3, 20));
  EXPECT_TRUE(s->contains(7, 20));
  EXPECT_FALSE(s->contains(8, 20));
  EXPECT_TRUE(s->contains(20, 20));
  // RFC 9051 §9: "*:4" with 2 messages includes message 2.
  auto t = parse_sequence_set("4:*");
  EXPECT_TRUE(t->contains(2, 2));
  EXPECT_TRUE(t->contains(3, 2));
  EXPECT_FALSE(t->contains(5, 2));
  EXPECT_TRUE(parse_sequence_set("$")->saved);
  EXPECT_FALSE(parse_sequence_set("$", false));
}

TEST(SequenceSets, Invalid) {
  for (const char* s : {"", "0", "1:0", "0:5", "01", "1,,2", ",1", "1,", "1:", ":5", "1:2:3",
                        "4294967296", "99999999999999999999999", "1:$", "$,1", "**", "a"}) {
    EXPECT_FALSE(parse_sequence_set(s)) << s;
  }
  EXPECT_NE(bad("a FETCH 0 FLAGS").text.find("invalid sequence"), std::string::npos);
  bad("a FETCH 1:0 FLAGS");
  bad("a FETCH 1,,2 FLAGS");
  bad("a FETCH 1x FLAGS");
  bad("a FETCH 4294967296 FLAGS");
  bad("a UID STORE :5 +FLAGS x");
  bad("a COPY $,1 x");
}

TEST(ParserLimits, SequenceRanges) {
  std::string s;
  for (size_t i = 1; i <= kMaxSequenceRanges; ++i) s += std::to_string(i * 2) + ",";
  s.pop_back();
  EXPECT_TRUE(parse_sequence_set(s));
  EXPECT_FALSE(parse_sequence_set(s + ",1"));
  EXPECT_NE(bad("a FETCH " + s + ",1 FLAGS").text.find("too many ranges"), std::string::npos);
}

// ---------------------------------------------------------------------------------------
// Modified UTF-7 (RFC 3501 §5.1.3)

TEST(ModifiedUtf7, Rfc3501Example) {
  auto d = mutf7_decode("~peter/mail/&U,BTFw-/&ZeVnLIqe-");
  ASSERT_TRUE(d) << d.status().message();
  EXPECT_EQ(*d, "~peter/mail/\xe5\x8f\xb0\xe5\x8c\x97/\xe6\x97\xa5\xe6\x9c\xac\xe8\xaa\x9e");
  EXPECT_EQ(mutf7_encode(*d), "~peter/mail/&U,BTFw-/&ZeVnLIqe-");
}

TEST(ModifiedUtf7, RoundTrips) {
  for (const char* s : {"", "INBOX", "a&b", "&", "Entw\xc3\xbcrfe", "\xc3\xa9t\xc3\xa9",
                        "\xf0\x9f\x93\xa7 mail", "x\xe2\x82\xac\xe2\x82\xac\xe2\x82\xacy",
                        "Ol\xc3\xa1/\xe6\x97\xa5"}) {
    std::string enc = mutf7_encode(s);
    for (char c : enc) EXPECT_LT(static_cast<unsigned char>(c), 0x80) << s;
    auto d = mutf7_decode(enc);
    ASSERT_TRUE(d) << s << " -> " << enc << ": " << d.status().message();
    EXPECT_EQ(*d, s);
  }
  EXPECT_EQ(mutf7_encode("a&b"), "a&-b");
  EXPECT_EQ(mutf7_encode("\xc3\xa9"), "&AOk-");
  EXPECT_EQ(mutf7_encode("\xf0\x9f\x93\xa7"), "&2D3c5w-");
}

TEST(ModifiedUtf7, Invalid) {
  const char* cases[] = {
      "&",          // unterminated shift
      "&AOk",       // unterminated shift
      "&AOk-&AOk-", // adjacent shifts
      "&AGE-",      // encodes "a": printable ASCII must be direct
      "&A/k-",      // "/" is not modified base64
      "&AOl-",      // non-zero padding bits
      "&AO-",       // leftover bits too short for a unit, with non-zero bits
      "&2D0-",      // unpaired high surrogate
      "&3ec-",      // lone low surrogate
      "caf\xc3\xa9",// 8-bit octets
      "a\tb",       // control character
  };
  for (const char* s : cases) EXPECT_FALSE(mutf7_decode(s)) << s;
  EXPECT_EQ(*mutf7_decode("&-"), "&");
}

TEST(ModifiedUtf7, MailboxArgumentsAreDecoded) {
  EXPECT_EQ(args<SelectArgs>("a SELECT Entw&APw-rfe").mailbox, "Entw\xc3\xbcrfe");
  EXPECT_EQ(args<ListArgs>("a LIST &AOk- &AOk-/%").reference, "\xc3\xa9");
  EXPECT_EQ(args<ListArgs>("a LIST &AOk- &AOk-/%").patterns[0], "\xc3\xa9/%");
  ParseError e = bad("a SELECT &AGE-");
  EXPECT_EQ(e.tag, "a");
  EXPECT_NE(e.text.find("invalid mailbox name"), std::string::npos);
  EXPECT_NE(e.text.find("modified UTF-7"), std::string::npos);
  bad("a CREATE foo&bar");
  bad("a RENAME x &Jjo");
  bad("a COPY 1 &AOk-&AOk-");
  bad("a LIST \"\" &AOl-");
  bad("a STATUS \"caf\xc3\xa9\" (MESSAGES)");  // raw UTF-8 without UTF-8 mode
}

TEST(ModifiedUtf7, Utf8ModeTakesUtf8Names) {
  ParserOptions o = authed();
  o.utf8_mailboxes = true;
  EXPECT_EQ(args<SelectArgs>("a SELECT \"caf\xc3\xa9\"", o).mailbox, "caf\xc3\xa9");
  EXPECT_EQ(args<SelectArgs>("a SELECT &AOk-", o).mailbox, "&AOk-");  // "&" is just "&"
  bad("a SELECT {2+}\r\n\xc3\x28", o);  // invalid UTF-8
}

TEST(ParserCommands, InboxIsCaseInsensitive) {
  EXPECT_EQ(args<SelectArgs>("a SELECT iNbOx").mailbox, "INBOX");
  EXPECT_EQ(args<CopyArgs>("a COPY 1 \"inbox\"").mailbox, "INBOX");
  EXPECT_EQ(args<SelectArgs>("a SELECT inbox/sub").mailbox, "inbox/sub");
}

TEST(ParserLimits, MailboxNameLength) {
  ok("a SELECT " + std::string(kMaxMailboxNameLength, 'm'));
  bad("a SELECT " + std::string(kMaxMailboxNameLength + 1, 'm'));
}

// ---------------------------------------------------------------------------------------
// Literals

TEST(ParserLiterals, SynchronizingAsksForContinuation) {
  Parser p(authed());
  p.feed("a LOGIN {4}\r\n");
  auto ev = p.next();
  ASSERT_TRUE(ev);
  EXPECT_EQ(std::get<ContinuationRequest>(*ev).literal_size, 4u);
  EXPECT_FALSE(p.next());
  EXPECT_TRUE(p.in_command());
  p.feed("us");
  EXPECT_FALSE(p.next());
  p.feed("er pw\r\n");
  ev = p.next();
  ASSERT_TRUE(ev);
  EXPECT_EQ(std::get<Command>(*ev).as<LoginArgs>().user, "user");
  EXPECT_FALSE(p.in_command());
}

TEST(ParserLiterals, NonSynchronizingDoesNot) {
  auto evs = run("a LOGIN {4+}\r\nuser {2+}\r\npw\r\n");
  ASSERT_EQ(evs.size(), 1u);
  EXPECT_EQ(std::get<Command>(evs[0]).as<LoginArgs>().password, "pw");
}

TEST(ParserLiterals, LiteralContainingCrlfAndBraces) {
  auto evs = run("a SEARCH SUBJECT {8+}\r\n{3}\r\n\"x\" SEEN\r\n");
  ASSERT_EQ(evs.size(), 1u);
  auto c = std::get<Command>(evs[0]);
  EXPECT_EQ(c.as<SearchArgs>().key.children[0].str, "{3}\r\n\"x\"");
  EXPECT_EQ(c.as<SearchArgs>().key.children[1].kind, SearchKey::Kind::kSeen);
}

TEST(ParserLiterals, BraceInsideQuotedStringIsNotALiteral) {
  Command c = ok("a LOGIN user \"pw{5}\"");
  EXPECT_EQ(c.as<LoginArgs>().password, "pw{5}");
}

TEST(ParserLiterals, Literal8OnlyWhereAllowed) {
  EXPECT_NE(bad("a LOGIN ~{4+}\r\nuser pw").text.find("literal8"), std::string::npos);
}

TEST(ParserLiterals, ZeroLengthLiteral) {
  auto evs = run("a LOGIN {0}\r\n {0}\r\n\r\n");
  ASSERT_EQ(evs.size(), 3u);
  auto c = std::get<Command>(evs[2]);
  EXPECT_EQ(c.as<LoginArgs>().user, "");
  EXPECT_EQ(c.as<LoginArgs>().password, "");
}

TEST(ParserLiterals, FourGigabyteLiteralRefusedAtOnce) {
  // A synchronizing literal: BAD [TOOBIG] right after the announcement; the next line is a
  // new command.
  Parser p(authed());
  p.feed("a1 LOGIN {4294967296}\r\n");
  auto ev = p.next();
  ASSERT_TRUE(ev);
  auto e = std::get<ParseError>(*ev);
  EXPECT_EQ(e.tag, "a1");
  EXPECT_EQ(e.kind, ParseError::Kind::kBad);
  EXPECT_EQ(e.code, "TOOBIG");
  p.feed("a2 NOOP\r\n");
  ev = p.next();
  ASSERT_TRUE(ev);
  EXPECT_EQ(std::get<Command>(*ev).tag, "a2");
  // Absurdly many digits are just as big.
  e = bad("a1 LOGIN {99999999999999999999999999}");
  EXPECT_EQ(e.code, "TOOBIG");
}

TEST(ParserLiterals, AppendOverLimitIsNoToobig) {
  // RFC 7889 §4: NO [TOOBIG] before the message is read.
  auto evs = run("a1 APPEND INBOX (\\Seen) {4294967296}\r\na2 NOOP\r\n");
  ASSERT_EQ(evs.size(), 2u);
  auto e = std::get<ParseError>(evs[0]);
  EXPECT_EQ(e.tag, "a1");
  EXPECT_EQ(e.kind, ParseError::Kind::kNo);
  EXPECT_EQ(e.code, "TOOBIG");
  EXPECT_EQ(std::get<Command>(evs[1]).tag, "a2");
  // Exactly at the limit is fine.
  ParserOptions o = authed();
  o.append_limit = 10;
  evs = run("a APPEND INBOX {10}\r\n0123456789\r\nb APPEND INBOX {11}\r\n", o);
  ASSERT_EQ(evs.size(), 3u);
  EXPECT_EQ(std::get<Command>(evs[1]).as<AppendArgs>().message, "0123456789");
  EXPECT_EQ(std::get<ParseError>(evs[2]).kind, ParseError::Kind::kNo);
}

TEST(ParserLiterals, HugeNonSyncLiteralClosesConnection) {
  Parser p(authed());
  p.feed("a1 APPEND INBOX {4294967296+}\r\nxxxx");
  auto ev = p.next();
  ASSERT_TRUE(ev);
  EXPECT_EQ(std::get<ParseError>(*ev).kind, ParseError::Kind::kBye);
  EXPECT_TRUE(p.closed());
  p.feed("a2 NOOP\r\n");
  EXPECT_FALSE(p.next());
}

TEST(ParserLiterals, RefusedNonSyncLiteralIsDiscarded) {
  ParserOptions o = authed();
  o.append_limit = 10;
  auto evs = run("a1 APPEND INBOX {20+}\r\n01234567890123456789 trailing\r\na2 NOOP\r\n", o);
  ASSERT_EQ(evs.size(), 2u);
  EXPECT_EQ(std::get<ParseError>(evs[0]).code, "TOOBIG");
  EXPECT_EQ(std::get<Command>(evs[1]).tag, "a2");
}

TEST(ParserLimits, DiscardLimitForRefusedNonSyncLiterals) {
  ParserOptions o = authed();
  o.append_limit = 10;
  std::string body(kMaxDiscardLiteral, 'x');
  auto evs = run("a1 APPEND INBOX {" + std::to_string(body.size()) + "+}\r\n" + body +
                     "\r\na2 NOOP\r\n",
                 o);
  ASSERT_EQ(evs.size(), 2u);  // refused, discarded, and the stream goes on
  EXPECT_EQ(std::get<ParseError>(evs[0]).kind, ParseError::Kind::kNo);
  EXPECT_EQ(std::get<Command>(evs[1]).tag, "a2");
  evs = run("a1 APPEND INBOX {" + std::to_string(kMaxDiscardLiteral + 1) + "+}\r\nxx", o);
  ASSERT_EQ(evs.size(), 1u);
  EXPECT_EQ(std::get<ParseError>(evs[0]).kind, ParseError::Kind::kBye);
}

TEST(ParserLiterals, LiteralMinusLimitsNonSyncTo4096) {
  ParserOptions o = authed();
  o.literal_plus = false;
  std::string big(kMaxNonSyncLiteralLiteralMinus + 1, 'x');
  auto evs = run("a1 APPEND INBOX {" + std::to_string(big.size()) + "+}\r\n" + big +
                     "\r\na2 NOOP\r\n",
                 o);
  ASSERT_EQ(evs.size(), 2u);
  auto e = std::get<ParseError>(evs[0]);
  EXPECT_EQ(e.kind, ParseError::Kind::kBad);  // RFC 7888 §4
  EXPECT_EQ(e.code, "TOOBIG");
  EXPECT_EQ(std::get<Command>(evs[1]).tag, "a2");
  std::string fits(kMaxNonSyncLiteralLiteralMinus, 'x');
  evs = run("a1 APPEND INBOX {" + std::to_string(fits.size()) + "+}\r\n" + fits + "\r\n", o);
  ASSERT_EQ(evs.size(), 1u);
  EXPECT_EQ(std::get<Command>(evs[0]).as<AppendArgs>().message, fits);
  // LITERAL+ has no such limit.
  evs = run("a1 APPEND INBOX {" + std::to_string(big.size()) + "+}\r\n" + big + "\r\n");
  ASSERT_EQ(evs.size(), 1u);
  EXPECT_TRUE(std::holds_alternative<Command>(evs[0]));
}

TEST(ParserLimits, LiteralSizeBeforeAndAfterLogin) {
  std::string pre = "a LOGIN {" + std::to_string(kMaxLiteralSizePreAuth + 1) + "}";
  EXPECT_EQ(bad(pre, ParserOptions{}).code, "TOOBIG");
  auto evs = run("a LOGIN {" + std::to_string(kMaxLiteralSizePreAuth) + "}\r\n", ParserOptions{});
  ASSERT_EQ(evs.size(), 1u);
  EXPECT_TRUE(std::holds_alternative<ContinuationRequest>(evs[0]));
  EXPECT_EQ(bad("a SEARCH TEXT {" + std::to_string(kMaxLiteralSize + 1) + "}").code, "TOOBIG");
  evs = run("a SEARCH TEXT {" + std::to_string(kMaxLiteralSize) + "}\r\n");
  EXPECT_TRUE(std::holds_alternative<ContinuationRequest>(evs.at(0)));
}

TEST(ParserLimits, LiteralsPerCommand) {
  std::string cmd = "a SEARCH";
  for (size_t i = 0; i <= kMaxLiteralsPerCommand; ++i) cmd += " TEXT {1+}\r\nx";
  auto evs = run(cmd + "\r\nb NOOP\r\n");
  ASSERT_EQ(evs.size(), 2u);
  EXPECT_EQ(std::get<ParseError>(evs[0]).code, "TOOBIG");
  EXPECT_EQ(std::get<ParseError>(evs[0]).text, "too many literals in one command");
  EXPECT_EQ(std::get<Command>(evs.back()).tag, "b");
}

TEST(ParserLimits, CommandSize) {
  // Many literals, each under the literal limit, together over the command limit.
  size_t each = kMaxLiteralSize;
  size_t n = kMaxCommandSize / each + 1;
  std::string cmd = "a SEARCH";
  for (size_t i = 0; i < n; ++i) cmd += " TEXT {" + std::to_string(each) + "+}\r\n" + std::string(each, 'x');
  auto evs = run(cmd + "\r\nb NOOP\r\n");
  ASSERT_GE(evs.size(), 2u);
  EXPECT_EQ(std::get<ParseError>(evs[0]).text, "command is too long");
  EXPECT_EQ(std::get<Command>(evs.back()).tag, "b");
}

// ---------------------------------------------------------------------------------------
// Line limit, depth limit, resynchronisation

TEST(ParserLimits, LineTooLongWhole) {
  std::string longline = "a1 SEARCH TEXT " + std::string(kMaxLineLength, 'x');
  auto evs = run(longline + "\r\na2 NOOP\r\n");
  ASSERT_EQ(evs.size(), 2u);
  auto e = std::get<ParseError>(evs[0]);
  EXPECT_EQ(e.tag, "a1");
  EXPECT_EQ(e.text, "line is too long");
  EXPECT_EQ(std::get<Command>(evs[1]).tag, "a2");
  // Just under the limit parses.
  std::string fits = "a1 SEARCH TEXT " + std::string(kMaxLineLength - 15, 'x');
  ASSERT_EQ(fits.size(), kMaxLineLength);
  EXPECT_EQ(ok(fits).kind, CommandKind::kSearch);
}

TEST(ParserLimits, LineTooLongStreamed) {
  Parser p(authed());
  p.feed("a1 SEARCH TEXT ");
  std::string chunk(4096, 'x');
  std::optional<ParseEvent> ev;
  size_t fed = 0;
  while (!(ev = p.next())) {
    p.feed(chunk);
    fed += chunk.size();
    ASSERT_LE(fed, kMaxLineLength + 2 * chunk.size());
  }
  EXPECT_EQ(std::get<ParseError>(*ev).tag, "a1");
  EXPECT_EQ(std::get<ParseError>(*ev).code, "TOOBIG");
  // The rest of the overlong line is skipped; the buffer does not grow.
  for (int i = 0; i < 40; ++i) {
    p.feed(chunk);
    EXPECT_FALSE(p.next());
  }
  EXPECT_LT(p.buffered(), 2 * chunk.size());
  p.feed("yyy\r\na2 NOOP\r\n");
  ev = p.next();
  ASSERT_TRUE(ev);
  EXPECT_EQ(std::get<Command>(*ev).tag, "a2");
}

TEST(ParserLimits, LineLimitBeforeLogin) {
  std::string l = "a LOGIN " + std::string(kMaxLineLengthPreAuth, 'u') + " p";
  EXPECT_EQ(bad(l, ParserOptions{}).text, "line is too long");
  EXPECT_EQ(ok(l).kind, CommandKind::kLogin);
}

TEST(ParserLimits, NestingDepth) {
  auto nested = [](int depth) {
    std::string s = "a SEARCH ";
    for (int i = 0; i < depth; ++i) s += "(";
    s += "SEEN";
    for (int i = 0; i < depth; ++i) s += ")";
    return s;
  };
  EXPECT_EQ(ok(nested(kMaxNestingDepth)).kind, CommandKind::kSearch);
  EXPECT_NE(bad(nested(kMaxNestingDepth + 1)).text.find("nested too deeply"), std::string::npos);
  // NOT chains count too, so recursion is bounded.
  std::string nots = "a SEARCH";
  for (int i = 0; i < 1000; ++i) nots += " NOT";
  nots += " SEEN";
  EXPECT_NE(bad(nots).text.find("nested too deeply"), std::string::npos);
  // Deep parentheses many thousands long do not crash.
  bad("a SEARCH " + std::string(5000, '('));
}

TEST(ParserLimits, SearchKeyCount) {
  std::string s = "a SEARCH";
  for (size_t i = 0; i <= kMaxSearchKeys; ++i) s += " SEEN";
  EXPECT_NE(bad(s).text.find("too many search keys"), std::string::npos);
}

TEST(ParserLimits, FetchItemCount) {
  std::string s = "a FETCH 1 (";
  for (size_t i = 0; i <= kMaxFetchItems; ++i) s += "FLAGS ";
  s.back() = ')';
  EXPECT_NE(bad(s).text.find("too many FETCH items"), std::string::npos);
}

TEST(ParserResync, BadCommandsDoNotDerailTheStream) {
  auto evs = run(
      "a1 FETCH 1 (FLAGS\r\n"
      "a2 SELECT &AGE-\r\n"
      "a3 NOOP\r\n"
      "a4 SEARCH ((SEEN)\r\n"
      "a5 LOGIN {3}\r\n"  // continuation requested
      "abc def\r\n"
      "a6 CHECK\r\n");
  ASSERT_EQ(evs.size(), 7u);
  EXPECT_EQ(std::get<ParseError>(evs[0]).tag, "a1");
  EXPECT_EQ(std::get<ParseError>(evs[1]).tag, "a2");
  EXPECT_EQ(std::get<Command>(evs[2]).tag, "a3");
  EXPECT_EQ(std::get<ParseError>(evs[3]).tag, "a4");
  EXPECT_TRUE(std::holds_alternative<ContinuationRequest>(evs[4]));
  EXPECT_EQ(std::get<Command>(evs[5]).as<LoginArgs>().password, "def");
  EXPECT_EQ(std::get<Command>(evs[6]).kind, CommandKind::kCheck);
}

// ---------------------------------------------------------------------------------------
// Raw lines (IDLE / DONE, SASL)

TEST(ParserRawLines, IdleDoneInOnePacket) {
  Parser p(authed());
  p.feed("a IDLE\r\nDONE\r\nb NOOP\r\n");
  auto ev = p.next();
  ASSERT_TRUE(ev);
  EXPECT_EQ(std::get<Command>(*ev).kind, CommandKind::kIdle);
  p.expect_raw_line();
  ev = p.next();
  ASSERT_TRUE(ev);
  EXPECT_EQ(std::get<RawLine>(*ev).line, "DONE");
  ev = p.next();
  ASSERT_TRUE(ev);
  EXPECT_EQ(std::get<Command>(*ev).tag, "b");
}

TEST(ParserRawLines, SaslResponseIsNotParsed) {
  Parser p;
  p.feed("a AUTHENTICATE PLAIN\r\n");
  ASSERT_TRUE(std::holds_alternative<Command>(*p.next()));
  p.expect_raw_line();
  p.feed("AGZyZWQAc2VjcmV0\r\n");
  EXPECT_EQ(std::get<RawLine>(*p.next()).line, "AGZyZWQAc2VjcmV0");
}

// ---------------------------------------------------------------------------------------
// Incremental input: byte by byte gives the same events as all at once.

TEST(ParserIncremental, ByteByByteEqualsWhole) {
  const std::string transcript =
      "a0 CAPABILITY\r\n"
      "a1 LOGIN {4}\r\nfred {6+}\r\nsecret\r\n"
      "a2 ENABLE QRESYNC\r\n"
      "a3 SELECT INBOX (QRESYNC (1 2 1:10 (1:3 4:6)))\r\n"
      "a4 APPEND Drafts (\\Draft) \"01-Jan-2024 10:00:00 +0100\" {12}\r\nSubject: x\r\n\r\n"
      "a5 UID FETCH 1:* (FLAGS BODY.PEEK[HEADER.FIELDS (FROM TO)]<0.100>) (CHANGEDSINCE 5 "
      "VANISHED)\r\n"
      "a6 SEARCH RETURN (COUNT) CHARSET UTF-8 OR SUBJECT {3+}\r\n\xe6\x97\xa5 FROM x\r\n"
      "a7 FETCH 1 (FLAGS\r\n"
      "a8 STORE 1:3 +FLAGS.SILENT (\\Seen $Junk)\r\n"
      "a9 LIST (SUBSCRIBED) \"\" (INBOX &AOk-*) RETURN (STATUS (MESSAGES))\r\n"
      "b0 APPEND INBOX ~{5+}\r\nab\0cd\r\n"
      "b1 APPEND INBOX {99999999999}\r\n"
      "b2 SELECT &AGE-\r\n"
      "b3 ID (\"name\" \"x\")\r\n"
      "b4 LOGOUT\r\n"s;
  std::string t(transcript);
  auto whole = run(t);
  auto bytes = run(t, authed(), true);
  ASSERT_EQ(whole.size(), 17u);
  EXPECT_EQ(whole, bytes);
  // Also in two arbitrary splits.
  for (size_t cut : {1ul, 7ul, 100ul, 250ul, t.size() - 3}) {
    Parser p(authed());
    std::vector<ParseEvent> evs;
    p.feed(std::string_view(t).substr(0, cut));
    while (auto ev = p.next()) evs.push_back(std::move(*ev));
    p.feed(std::string_view(t).substr(cut));
    while (auto ev = p.next()) evs.push_back(std::move(*ev));
    EXPECT_EQ(evs, whole) << cut;
  }
}

// Random fragments of valid and invalid syntax, fed whole and in random chunks: the parser
// never crashes, never stalls with a complete line unanswered, and the split never matters.
TEST(ParserIncremental, RandomInputSplitsAgree) {
  const std::vector<std::string> frags = {
      "a1 ", "FETCH ", "UID ", "1:* ", "1,3:5 ", "0 ", "$ ", "(", ")", "FLAGS", " ", "\r\n",
      "\n", "{5}\r\n", "{3+}\r\n", "~{2+}\r\n", "{4294967296}\r\n", "{9999999+}\r\n",
      "\"q\\\"x\"", "\"unterminated", "BODY[", "HEADER.FIELDS (A B)", "]", "<0.5>", "SEARCH ",
      "OR ", "NOT ", "SEEN ", "LOGIN ", "SELECT ", "&AOk-", "&AGE-", "INBOX", "APPEND ",
      "IDLE", "DONE", "STORE ", "+FLAGS ", "\\Seen", "LIST ", "\"\" ", "*", "%", "xyz",
      std::string("\0", 1), "\xff\xfe", "}", "{", "abc}"};
  std::mt19937 rng(20261122);
  for (int iter = 0; iter < 400; ++iter) {
    std::string input;
    int n = 1 + static_cast<int>(rng() % 40);
    for (int i = 0; i < n; ++i) input += frags[rng() % frags.size()];
    input += "\r\nz9 NOOP\r\n";
    auto whole = run(input);
    Parser p(authed());
    std::vector<ParseEvent> split;
    size_t pos = 0;
    while (pos < input.size()) {
      size_t len = std::min<size_t>(input.size() - pos, 1 + rng() % 7);
      p.feed(std::string_view(input).substr(pos, len));
      pos += len;
      while (auto ev = p.next()) split.push_back(std::move(*ev));
    }
    ASSERT_EQ(whole, split) << "input: " << input;
    // Unless the stream ended inside a literal or the connection was closed, the final
    // NOOP is answered.
    if (!p.closed() && !p.in_command()) {
      ASSERT_FALSE(whole.empty());
    }
  }
}

}  // namespace
}  // namespace tsubame::imap
