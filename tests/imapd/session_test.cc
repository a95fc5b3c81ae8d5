// tests/imapd/session_test.cc: whole IMAP sessions (client lines in, server lines out) on a
// real store in a temporary directory. No sockets: the session is a pure state machine.
#include "imapd/session.h"

#include <gtest/gtest.h>

#include <cstdlib>
#include <filesystem>
#include <memory>

#include "common/crypto.h"
#include "imapd/filter_glue.h"
#include "imapd/search_cache.h"
#include "store/accounts.h"
#include "store/reports.h"
#include "store/settings.h"
#include "tests/imapd/temp_store.h"

namespace tsubame::imap {
namespace {

bool has(const std::string& out, std::string_view s) {
  return out.find(s) != std::string::npos;
}

// A message and the summary the filter would store beside it.
struct TestMessage {
  std::string raw;
  MessageSummary summary;
};

TestMessage simple_message(const std::string& subject, const std::string& body) {
  TestMessage m;
  std::string header = "From: Bob <bob@example.org>\r\nTo: alice@example.com\r\nSubject: " +
                       subject + "\r\nDate: Mon, 1 Jan 2024 10:00:00 +0000\r\n"
                       "Message-ID: <" + subject.substr(0, 3) + "@example.org>\r\n\r\n";
  m.raw = header + body;
  m.summary.envelope.subject = subject;
  m.summary.envelope.date = "Mon, 1 Jan 2024 10:00:00 +0000";
  m.summary.envelope.from = {MailAddress{"Bob", std::nullopt, "bob", "example.org"}};
  m.summary.envelope.to = {MailAddress{std::nullopt, std::nullopt, "alice", "example.com"}};
  m.summary.body.params = {{"CHARSET", "US-ASCII"}};
  m.summary.body.body_offset = header.size();
  m.summary.body.body_end = m.raw.size();
  m.summary.body.size = body.size();
  m.summary.body.lines = 1;
  m.summary.size = m.raw.size();
  m.summary.sent_date = 1704103200;
  return m;
}

// multipart/mixed: part 1 text/plain, part 2 application/octet-stream in base64.
TestMessage multipart_message() {
  TestMessage m;
  std::string header = "From: bob@example.org\r\nSubject: with attachment\r\n"
                       "Content-Type: multipart/mixed; boundary=XX\r\n\r\n";
  std::string p1h = "Content-Type: text/plain\r\n\r\n";
  std::string p1b = "hello part one\r\n";
  std::string p2h = "Content-Type: application/octet-stream\r\nContent-Transfer-Encoding: base64\r\n\r\n";
  std::string p2b = "AAECAw==\r\n";  // 00 01 02 03
  m.raw = header + "--XX\r\n" + p1h + p1b + "--XX\r\n" + p2h + p2b + "--XX--\r\n";
  MessageSummary& s = m.summary;
  s.envelope.subject = "with attachment";
  s.size = m.raw.size();
  s.body.type = "MULTIPART";
  s.body.subtype = "MIXED";
  s.body.params = {{"BOUNDARY", "XX"}};
  s.body.body_offset = header.size();
  s.body.body_end = m.raw.size();
  BodyPart a;
  a.header_offset = header.size() + 6;
  a.body_offset = a.header_offset + p1h.size();
  a.body_end = a.body_offset + p1b.size();
  a.size = p1b.size();
  a.lines = 1;
  BodyPart b;
  b.type = "APPLICATION";
  b.subtype = "OCTET-STREAM";
  b.encoding = "BASE64";
  b.header_offset = a.body_end + 6;
  b.body_offset = b.header_offset + p2h.size();
  b.body_end = b.body_offset + p2b.size();
  b.size = p2b.size();
  s.body.children = {a, b};
  return m;
}

class SessionTest : public ::testing::Test {
 protected:
  void SetUp() override {
    ASSERT_TRUE(ts_.open("session", /*plaintext_login=*/true));
    dir_ = ts_.dir;
    store_ = ts_.store.get();
    user_ = ts_.alice;
    inbox_ = ts_.inbox;
  }

  SessionConfig plain_config() {
    SessionConfig c;
    c.allow_plaintext_auth = true;
    c.source_ip = "192.0.2.7";
    return c;
  }
  std::unique_ptr<Session> session(SessionConfig c) {
    return std::make_unique<Session>(*store_, std::move(c));
  }
  std::unique_ptr<Session> logged_in() {
    auto s = session(plain_config());
    std::string out = send(*s, "a0 LOGIN alice@example.com secret\r\n");
    EXPECT_TRUE(has(out, "a0 OK")) << out;
    return s;
  }
  std::unique_ptr<Session> selected(std::string_view cmd = "s1 SELECT INBOX\r\n") {
    auto s = logged_in();
    std::string out = send(*s, cmd);
    EXPECT_TRUE(has(out, "s1 OK")) << out;
    return s;
  }
  static std::string send(Session& s, std::string_view in) {
    std::string out;
    s.receive(in, out);
    return out;
  }
  uint32_t deliver(const TestMessage& m, uint32_t flags = 0) {
    store::IncomingMessage in;
    in.raw = m.raw;
    in.summary = m.summary;
    in.internal_date = 1704103200;
    store::DeliveryTarget t;
    t.user_id = user_;
    t.flags = flags;
    in.targets.push_back(t);
    auto r = store_->deliver({in});
    EXPECT_TRUE(r) << r.status().to_string();
    return r ? (*r)[0].copies[0].uid : 0;
  }

  testing::TempStore ts_;
  std::string dir_;
  store::Store* store_ = nullptr;
  uint64_t user_ = 0;
  uint64_t inbox_ = 0;
};

// ---- greeting, capabilities, states ----

TEST_F(SessionTest, GreetingAdvertisesLoginDisabledWithoutTls) {
  auto s = session(SessionConfig{});
  std::string g = s->greeting();
  EXPECT_EQ(g.rfind("* OK [CAPABILITY IMAP4rev1 IMAP4rev2", 0), 0u) << g;
  EXPECT_TRUE(has(g, "LOGINDISABLED"));
  EXPECT_FALSE(has(g, "AUTH=PLAIN"));
  std::string out = send(*s, "a LOGIN alice@example.com secret\r\n");
  EXPECT_EQ(out, "a NO [PRIVACYREQUIRED] LOGIN is disabled before STARTTLS\r\n");
  out = send(*s, "b AUTHENTICATE PLAIN AGFsaWNlQGV4YW1wbGUuY29tAHNlY3JldA==\r\n");
  EXPECT_TRUE(has(out, "b NO [PRIVACYREQUIRED]"));
  EXPECT_EQ(s->state(), SessionState::kNotAuthenticated);
}

TEST_F(SessionTest, TlsEnablesAuthPlain) {
  SessionConfig c;
  c.tls_active = true;
  auto s = session(c);
  std::string out = send(*s, "c CAPABILITY\r\n");
  EXPECT_TRUE(has(out, "AUTH=PLAIN"));
  EXPECT_TRUE(has(out, "SASL-IR"));
  EXPECT_FALSE(has(out, "LOGINDISABLED"));
  EXPECT_FALSE(has(out, "STARTTLS"));
  EXPECT_TRUE(has(out, "c OK CAPABILITY completed\r\n"));
}

TEST_F(SessionTest, StartTlsDiscardsInjectedCommands) {
  SessionConfig c;
  c.starttls_available = true;
  auto s = session(c);
  EXPECT_TRUE(has(s->greeting(), " STARTTLS"));
  // A command pipelined after STARTTLS in clear text must not run (CVE-2011-0411 class).
  std::string out = send(*s, "t1 STARTTLS\r\nt2 LOGIN alice@example.com secret\r\n");
  EXPECT_EQ(out, "t1 OK Begin TLS negotiation now\r\n");
  EXPECT_TRUE(s->wants_start_tls());
  EXPECT_EQ(send(*s, "t3 NOOP\r\n"), "");
  s->tls_started();
  EXPECT_FALSE(s->wants_start_tls());
  out = send(*s, "t4 CAPABILITY\r\n");
  EXPECT_FALSE(has(out, "STARTTLS"));
  EXPECT_TRUE(has(out, "AUTH=PLAIN"));
  out = send(*s, "t5 STARTTLS\r\n");
  EXPECT_TRUE(has(out, "t5 BAD"));
  EXPECT_TRUE(has(send(*s, "t6 LOGIN alice@example.com secret\r\n"), "t6 OK"));
}

TEST_F(SessionTest, CommandsInTheWrongState) {
  auto s = session(plain_config());
  EXPECT_EQ(send(*s, "a FETCH 1 FLAGS\r\n"),
            "a BAD FETCH is not valid in the not authenticated state\r\n");
  EXPECT_TRUE(has(send(*s, "b SELECT INBOX\r\n"), "b BAD SELECT is not valid"));
  EXPECT_TRUE(has(send(*s, "c ENABLE CONDSTORE\r\n"), "c BAD"));
  EXPECT_TRUE(has(send(*s, "d LOGIN alice@example.com secret\r\n"), "d OK"));
  EXPECT_TRUE(has(send(*s, "e LOGIN alice@example.com secret\r\n"),
                  "e BAD LOGIN is not valid in the authenticated state"));
  EXPECT_TRUE(has(send(*s, "f UID STORE 1 +FLAGS \\Seen\r\n"),
                  "f BAD UID STORE is not valid in the authenticated state"));
  EXPECT_TRUE(has(send(*s, "g CLOSE\r\n"), "g BAD"));
  EXPECT_TRUE(has(send(*s, "h SORT (DATE) UTF-8 ALL\r\n"),
                  "h BAD SORT is not valid in the authenticated state"));
  EXPECT_TRUE(has(send(*s, "i NOOP\r\n"), "i OK"));
  EXPECT_EQ(s->state(), SessionState::kAuthenticated);
}

// ---- authentication and the login history ----

TEST_F(SessionTest, LoginSuccessAndHistoryWithClientId) {
  auto s = session(plain_config());
  std::string out = send(*s, "i ID (\"name\" \"imaplib\" \"version\" \"3.11\")\r\n");
  EXPECT_TRUE(has(out, "* ID (\"name\" \"Tsubame\""));
  out = send(*s, "a LOGIN alice@example.com secret\r\n");
  EXPECT_EQ(out.rfind("a OK [CAPABILITY IMAP4rev1", 0), 0u) << out;
  EXPECT_EQ(s->state(), SessionState::kAuthenticated);
  EXPECT_EQ(s->timeout_seconds(), kIdleTimeout.count());
  store::Accounts acc(*store_);
  auto h = acc.history(user_);
  ASSERT_TRUE(h);
  ASSERT_EQ(h->size(), 1u);
  EXPECT_EQ((*h)[0].event.result, store::LoginResult::kSuccess);
  EXPECT_EQ((*h)[0].event.source_ip, "192.0.2.7");
  EXPECT_EQ((*h)[0].event.client_id, "imaplib/3.11");
  EXPECT_EQ((*h)[0].event.protocol, store::LoginProtocol::kImap);
}

TEST_F(SessionTest, FailedLoginsAreRecordedAndEndTheConnection) {
  auto s = session(plain_config());
  EXPECT_EQ(s->timeout_seconds(), kPreAuthTimeout.count());
  for (int i = 1; i < kMaxFailedLogins; ++i) {
    std::string out = send(*s, "a LOGIN alice@example.com wrong\r\n");
    EXPECT_EQ(out, "a NO [AUTHENTICATIONFAILED] Authentication failed\r\n");
  }
  std::string out = send(*s, "b LOGIN nobody@example.com x\r\n");
  EXPECT_TRUE(has(out, "b NO [AUTHENTICATIONFAILED]"));
  EXPECT_TRUE(has(out, "* BYE Too many failed logins"));
  EXPECT_TRUE(s->wants_close());
  store::Accounts acc(*store_);
  auto h = acc.history(user_);
  ASSERT_TRUE(h);
  EXPECT_EQ(h->size(), static_cast<size_t>(kMaxFailedLogins - 1));
  EXPECT_EQ((*h)[0].event.result, store::LoginResult::kBadPassword);
  auto unknown = acc.history(0);
  ASSERT_TRUE(unknown);
  ASSERT_EQ(unknown->size(), 1u);
  EXPECT_EQ((*unknown)[0].event.result, store::LoginResult::kUnknownUser);
}

TEST_F(SessionTest, AsyncPasswordCheckHoldsPipelinedCommands) {
  SessionConfig c = plain_config();
  c.async_password_check = true;
  auto s = session(c);
  // The KDF runs elsewhere; the NOOP pipelined behind LOGIN waits for it.
  EXPECT_EQ(send(*s, "a LOGIN alice@example.com secret\r\nb NOOP\r\n"), "");
  auto check = s->take_password_check();
  ASSERT_TRUE(check);
  EXPECT_EQ(check->password, "secret");
  EXPECT_FALSE(s->take_password_check());  // taken once
  EXPECT_EQ(send(*s, "c NOOP\r\n"), "");  // still held
  std::string out;
  s->password_checked(crypto::verify_password(check->password, check->hash), out);
  EXPECT_EQ(out.rfind("a OK [CAPABILITY", 0), 0u) << out;
  EXPECT_TRUE(has(out, "Logged in\r\nb OK NOOP completed\r\nc OK NOOP completed\r\n")) << out;
  // A wrong password through the same path.
  auto t = session(c);
  send(*t, "d LOGIN alice@example.com nope\r\n");
  auto check2 = t->take_password_check();
  ASSERT_TRUE(check2);
  out.clear();
  t->password_checked(crypto::verify_password(check2->password, check2->hash), out);
  EXPECT_EQ(out, "d NO [AUTHENTICATIONFAILED] Authentication failed\r\n");
  // Without a decoy hash configured, unknown users are refused at once.
  EXPECT_TRUE(has(send(*t, "e LOGIN nobody@example.com x\r\n"), "e NO [AUTHENTICATIONFAILED]"));
  EXPECT_FALSE(t->take_password_check());
}

TEST_F(SessionTest, UnknownAndDisabledLoginsCostAPasswordCheckAndAreRefused) {
  // With the daemon's decoy hash, an unknown login goes through the same KDF check as a real
  // one (its timing tells nothing), and is refused even when the decoy "matches".
  SessionConfig c = plain_config();
  c.async_password_check = true;
  auto decoy = crypto::hash_password("decoy-password", crypto::PasswordParams{1, 1024, 1});
  ASSERT_TRUE(decoy);
  c.dummy_password_hash = *decoy;
  auto s = session(c);
  EXPECT_EQ(send(*s, "a LOGIN nobody@example.com decoy-password\r\n"), "");
  auto check = s->take_password_check();
  ASSERT_TRUE(check);
  EXPECT_EQ(check->hash, *decoy);
  std::string out;
  s->password_checked(crypto::verify_password(check->password, check->hash), out);
  EXPECT_EQ(out, "a NO [AUTHENTICATIONFAILED] Authentication failed\r\n");
  EXPECT_EQ(s->state(), SessionState::kNotAuthenticated);
  // A disabled user with the right password: checked against their own hash, refused.
  ASSERT_TRUE(store_->set_disabled(user_, true).is_ok());
  auto t = session(c);
  EXPECT_EQ(send(*t, "b LOGIN alice@example.com secret\r\n"), "");
  auto check2 = t->take_password_check();
  ASSERT_TRUE(check2);
  EXPECT_NE(check2->hash, *decoy);
  out.clear();
  t->password_checked(crypto::verify_password(check2->password, check2->hash), out);
  EXPECT_EQ(out, "b NO [AUTHENTICATIONFAILED] Authentication failed\r\n");
  EXPECT_EQ(t->state(), SessionState::kNotAuthenticated);
  // Both are in the login history as what they were, not as bad passwords.
  auto h = store::Accounts(*store_).recent(10);
  ASSERT_TRUE(h);
  ASSERT_GE(h->size(), 2u);
  EXPECT_EQ((*h)[0].event.result, store::LoginResult::kDisabled);
  EXPECT_EQ((*h)[1].event.result, store::LoginResult::kUnknownUser);
}

TEST_F(SessionTest, LockedAccountIsRefusedEvenWithTheRightPassword) {
  store::Accounts acc(*store_);
  store::LoginEvent ev;
  ev.login = "alice@example.com";
  ev.user_id = user_;
  ev.result = store::LoginResult::kBadPassword;
  ev.protocol = store::LoginProtocol::kSmtp;  // lockout is shared with smtpd
  for (int i = 0; i < 5; ++i) ASSERT_TRUE(acc.record_login(ev));
  auto s = session(plain_config());
  EXPECT_TRUE(has(send(*s, "a LOGIN alice@example.com secret\r\n"), "a NO [AUTHENTICATIONFAILED]"));
  EXPECT_EQ(s->state(), SessionState::kNotAuthenticated);
}

TEST_F(SessionTest, AuthenticatePlainWithSaslIrAndContinuation) {
  auto s = session(plain_config());
  // "\0alice@example.com\0secret"
  std::string ir = "AGFsaWNlQGV4YW1wbGUuY29tAHNlY3JldA==";
  EXPECT_TRUE(has(send(*s, "a AUTHENTICATE PLAIN " + ir + "\r\n"), "a OK [CAPABILITY"));
  auto t = session(plain_config());
  EXPECT_EQ(send(*t, "b AUTHENTICATE PLAIN\r\n"), "+ \r\n");
  EXPECT_TRUE(has(send(*t, ir + "\r\n"), "b OK"));
  EXPECT_EQ(t->state(), SessionState::kAuthenticated);
  auto u = session(plain_config());
  send(*u, "c AUTHENTICATE PLAIN\r\n");
  EXPECT_EQ(send(*u, "*\r\n"), "c BAD AUTHENTICATE cancelled\r\n");
  send(*u, "d AUTHENTICATE PLAIN\r\n");
  EXPECT_TRUE(has(send(*u, "!!!\r\n"), "d BAD invalid base64"));
  // authzid different from authcid
  EXPECT_TRUE(has(send(*u, "e AUTHENTICATE PLAIN Ym9iAGFsaWNlQGV4YW1wbGUuY29tAHNlY3JldA==\r\n"),
                  "e NO [AUTHORIZATIONFAILED]"));
  EXPECT_TRUE(has(send(*u, "f AUTHENTICATE CRAM-MD5\r\n"), "f NO [CANNOT]"));
}

TEST_F(SessionTest, OverlongSaslResponsesCancelAuthenticate) {
  auto s = session(plain_config());
  EXPECT_EQ(send(*s, "a AUTHENTICATE PLAIN\r\n"), "+ \r\n");
  EXPECT_EQ(send(*s, std::string(kMaxSaslResponseLength + 1, 'A') + "\r\n"),
            "a BAD SASL response is too long\r\n");
  // Longer than the pre-login line limit: the parser refuses the line, the session ends
  // the AUTHENTICATE with its tag and the next command is parsed normally.
  EXPECT_EQ(send(*s, "b AUTHENTICATE PLAIN\r\n"), "+ \r\n");
  EXPECT_EQ(send(*s, std::string(kMaxLineLengthPreAuth + 1, 'A') + "\r\n"),
            "b BAD line is too long\r\n");
  EXPECT_EQ(send(*s, "c NOOP\r\n"), "c OK NOOP completed\r\n");
  EXPECT_FALSE(s->in_command());
  send(*s, "d LOGIN {5}\r\nali");
  EXPECT_TRUE(s->in_command());  // the daemon does not extend the deadline now
}

TEST_F(SessionTest, LogoutAndTimeout) {
  auto s = logged_in();
  EXPECT_EQ(send(*s, "z LOGOUT\r\n"), "* BYE Logging out\r\nz OK LOGOUT completed\r\n");
  EXPECT_TRUE(s->wants_close());
  EXPECT_EQ(send(*s, "y NOOP\r\n"), "");
  auto t = session(plain_config());
  std::string out;
  t->timeout(out);
  EXPECT_EQ(out, "* BYE Autologout; idle for too long\r\n");
  EXPECT_TRUE(t->wants_close());
}

TEST_F(SessionTest, SummaryCountsCommands) {
  deliver(simple_message("one", "x\r\n"));
  auto s = selected();
  send(*s, "a FETCH 1 FLAGS\r\nb UID FETCH 1 FLAGS\r\nc FETCH 1 UID\r\nd BOGUS\r\ne LOGOUT\r\n");
  EXPECT_EQ(s->summary(), "login=1 select=1 fetch=2 uid_fetch=1 logout=1 bad=1");
}

TEST_F(SessionTest, TooManyBadCommandsEndTheSession) {
  auto s = session(plain_config());
  std::string out;
  for (int i = 0; i < kMaxBadCommands; ++i) out += send(*s, "x BOGUS\r\n");
  EXPECT_TRUE(has(out, "* BYE Too many invalid commands"));
  EXPECT_TRUE(s->wants_close());
}

TEST_F(SessionTest, BadInputKeepsTheSessionGoing) {
  auto s = logged_in();
  std::string out = send(*s, "a1 APPEND INBOX {4294967296}\r\n");
  EXPECT_EQ(out, "a1 NO [TOOBIG] message is larger than APPENDLIMIT " +
                     std::to_string(kMaxAppendSize) + "\r\n");
  out = send(*s, "a2 SELECT &AGE-\r\n");
  EXPECT_TRUE(has(out, "a2 BAD SELECT: invalid mailbox name"));
  out = send(*s, "a3 LIST \"\" (INBOX\r\n");
  EXPECT_TRUE(has(out, "a3 BAD LIST: unbalanced parentheses"));
  EXPECT_TRUE(has(send(*s, "a4 NOOP\r\n"), "a4 OK NOOP completed"));
}

// ---- mailboxes ----

TEST_F(SessionTest, MailboxManagementAndList) {
  auto s = logged_in();
  EXPECT_TRUE(has(send(*s, "c1 CREATE Projects/2024\r\n"), "c1 OK"));
  EXPECT_TRUE(has(send(*s, "c2 CREATE Entw&APw-rfe\r\n"), "c2 OK"));
  EXPECT_TRUE(has(send(*s, "c3 CREATE INBOX\r\n"), "c3 NO [ALREADYEXISTS]"));
  EXPECT_TRUE(has(send(*s, "c4 CREATE Projects/2024\r\n"), "c4 NO"));
  std::string out = send(*s, "l1 LIST \"\" *\r\n");
  EXPECT_TRUE(has(out, "* LIST (\\HasNoChildren) \"/\" INBOX\r\n")) << out;
  EXPECT_TRUE(has(out, "* LIST (\\HasNoChildren \\Sent) \"/\" Sent\r\n")) << out;
  EXPECT_TRUE(has(out, "* LIST (\\HasNoChildren \\Junk) \"/\" Junk\r\n")) << out;
  EXPECT_TRUE(has(out, "\"/\" Projects/2024\r\n")) << out;
  EXPECT_TRUE(has(out, "\"/\" Entw&APw-rfe\r\n")) << out;  // modified UTF-7 on the wire
  EXPECT_TRUE(has(out, "l1 OK LIST completed"));
  out = send(*s, "l2 LIST \"\" %\r\n");
  EXPECT_FALSE(has(out, "Projects/2024")) << out;
  out = send(*s, "l3 LIST \"\" \"\"\r\n");
  EXPECT_EQ(out, "* LIST (\\Noselect) \"/\" \"\"\r\nl3 OK LIST completed\r\n");
  out = send(*s, "l4 LIST (SPECIAL-USE) \"\" * RETURN (STATUS (MESSAGES UIDNEXT))\r\n");
  EXPECT_FALSE(has(out, "INBOX")) << out;
  EXPECT_TRUE(has(out, "* STATUS Trash (MESSAGES 0 UIDNEXT 1)")) << out;
  EXPECT_TRUE(has(send(*s, "r1 RENAME Projects/2024 Archive2024\r\n"), "r1 OK"));
  EXPECT_TRUE(has(send(*s, "u1 SUBSCRIBE Archive2024\r\n"), "u1 OK"));
  out = send(*s, "l5 LSUB \"\" *\r\n");
  EXPECT_TRUE(has(out, "* LSUB () \"/\" Archive2024\r\n")) << out;
  out = send(*s, "l6 LIST (SUBSCRIBED) \"\" Arch*\r\n");
  EXPECT_TRUE(has(out, "\\Subscribed) \"/\" Archive2024")) << out;
  EXPECT_TRUE(has(send(*s, "d1 DELETE Archive2024\r\n"), "d1 OK"));
  EXPECT_TRUE(has(send(*s, "d2 DELETE Archive2024\r\n"), "d2 NO [NONEXISTENT]"));
  // RFC 9051 §6.3.7: the subscription outlives the mailbox; LIST (SUBSCRIBED) says so with
  // \NonExistent (RFC 5258 §3.1), LSUB with \Noselect, a plain LIST not at all.
  out = send(*s, "l8 LIST (SUBSCRIBED) \"\" Arch*\r\n");
  EXPECT_EQ(out, "* LIST (\\NonExistent \\Subscribed) \"/\" Archive2024\r\nl8 OK LIST completed\r\n");
  out = send(*s, "l9 LSUB \"\" *\r\n");
  EXPECT_TRUE(has(out, "* LSUB (\\Noselect) \"/\" Archive2024\r\n")) << out;
  EXPECT_FALSE(has(send(*s, "l10 LIST \"\" Arch*\r\n"), "Archive2024"));
  EXPECT_TRUE(has(send(*s, "u2 SUBSCRIBE Someday\r\n"), "u2 OK"));
  EXPECT_TRUE(has(send(*s, "c9 CREATE Someday\r\n"), "c9 OK"));
  out = send(*s, "l11 LIST (SUBSCRIBED) \"\" Someday\r\n");
  EXPECT_EQ(out, "* LIST (\\HasNoChildren \\Subscribed) \"/\" Someday\r\nl11 OK LIST completed\r\n");
  EXPECT_TRUE(has(send(*s, "u3 UNSUBSCRIBE Archive2024\r\n"), "u3 OK"));
  EXPECT_TRUE(has(send(*s, "u4 UNSUBSCRIBE Archive2024\r\n"), "u4 NO"));
  EXPECT_FALSE(has(send(*s, "l12 LSUB \"\" *\r\n"), "Archive2024"));
  EXPECT_TRUE(has(send(*s, "d3 DELETE INBOX\r\n"), "d3 NO"));
  out = send(*s, "n1 NAMESPACE\r\n");
  EXPECT_EQ(out, "* NAMESPACE ((\"\" \"/\")) NIL NIL\r\nn1 OK NAMESPACE completed\r\n");
  // IMAP4rev2: names in UTF-8.
  EXPECT_TRUE(has(send(*s, "e1 ENABLE IMAP4rev2\r\n"), "* ENABLED IMAP4REV2"));
  out = send(*s, "l7 LIST \"\" Entw*\r\n");
  EXPECT_TRUE(has(out, "\"/\" \"Entw\xc3\xbcrfe\"\r\n")) << out;
}

TEST_F(SessionTest, StatusAndQuota) {
  deliver(simple_message("one", "x\r\n"));
  deliver(simple_message("two", "y\r\n"), store::kSeen);
  auto s = logged_in();
  std::string out = send(*s, "s STATUS INBOX (MESSAGES UNSEEN UIDNEXT RECENT APPENDLIMIT)\r\n");
  EXPECT_EQ(out, "* STATUS INBOX (MESSAGES 2 UNSEEN 1 UIDNEXT 3 RECENT 0 APPENDLIMIT " +
                     std::to_string(kMaxAppendSize) + ")\r\ns OK STATUS completed\r\n");
  EXPECT_TRUE(has(send(*s, "t STATUS Nope (MESSAGES)\r\n"), "t NO [NONEXISTENT]"));
  // IMAP4rev2 has no RECENT status item (RFC 9051 §6.3.11): a syntax error once enabled,
  // in STATUS and in LIST RETURN (STATUS ...); the other items still answer.
  EXPECT_TRUE(has(send(*s, "e ENABLE IMAP4rev2\r\n"), "* ENABLED IMAP4REV2"));
  out = send(*s, "s2 STATUS INBOX (MESSAGES RECENT)\r\n");
  EXPECT_EQ(out.rfind("s2 BAD ", 0), 0u) << out;  // nothing untagged before it
  out = send(*s, "l LIST \"\" INBOX RETURN (STATUS (RECENT))\r\n");
  EXPECT_EQ(out.rfind("l BAD ", 0), 0u) << out;
  EXPECT_EQ(send(*s, "s3 STATUS INBOX (MESSAGES)\r\n"), "* STATUS INBOX (MESSAGES 2)\r\ns3 OK STATUS completed\r\n");
  out = send(*s, "q GETQUOTAROOT INBOX\r\n");
  // No quota: no quota root (a QUOTA response needs a resource, RFC 9208 §5.1).
  EXPECT_TRUE(has(out, "* QUOTAROOT INBOX\r\nq OK")) << out;
  EXPECT_TRUE(has(send(*s, "q2 GETQUOTA \"\"\r\n"), "q2 NO [NONEXISTENT]"));
  ASSERT_TRUE(store_->set_quota(user_, 10 * 1024 * 1024).is_ok());
  out = send(*s, "r GETQUOTA \"\"\r\n");
  EXPECT_TRUE(has(out, "* QUOTA \"\" (STORAGE 1 10240)")) << out;
  EXPECT_TRUE(has(send(*s, "u SETQUOTA \"\" (STORAGE 1)\r\n"), "u NO [NOPERM]"));
}

// ---- SELECT, FETCH, STORE ----

TEST_F(SessionTest, SelectReportsTheMailbox) {
  deliver(simple_message("one", "x\r\n"), store::kSeen);
  deliver(simple_message("two", "y\r\n"));
  auto s = logged_in();
  std::string out = send(*s, "s1 SELECT inbox\r\n");
  EXPECT_TRUE(has(out, "* FLAGS (\\Answered \\Flagged \\Deleted \\Seen \\Draft"));
  EXPECT_TRUE(has(out, "* OK [PERMANENTFLAGS (\\Answered \\Flagged \\Deleted \\Seen \\Draft \\*)]"));
  EXPECT_TRUE(has(out, "* 2 EXISTS\r\n"));
  EXPECT_TRUE(has(out, "* 0 RECENT\r\n"));
  EXPECT_TRUE(has(out, "* OK [UNSEEN 2]"));
  EXPECT_TRUE(has(out, "* OK [UIDVALIDITY "));
  EXPECT_TRUE(has(out, "* OK [UIDNEXT 3]"));
  EXPECT_TRUE(has(out, "s1 OK [READ-WRITE] SELECT completed\r\n"));
  EXPECT_EQ(s->state(), SessionState::kSelected);
  out = send(*s, "s2 EXAMINE Sent\r\n");
  EXPECT_TRUE(has(out, "* OK [CLOSED]"));
  EXPECT_TRUE(has(out, "* 0 EXISTS"));
  EXPECT_TRUE(has(out, "s2 OK [READ-ONLY] EXAMINE completed"));
  out = send(*s, "s3 SELECT Nope\r\n");
  EXPECT_TRUE(has(out, "s3 NO [NONEXISTENT]"));
  EXPECT_EQ(s->state(), SessionState::kAuthenticated);  // RFC 9051 §6.3.2
}

TEST_F(SessionTest, FetchItems) {
  TestMessage m = simple_message("Hello there", "Hi Alice,\r\n");
  deliver(m);
  auto s = selected();
  std::string out = send(*s, "f1 FETCH 1 (FLAGS UID RFC822.SIZE INTERNALDATE)\r\n");
  EXPECT_EQ(out, "* 1 FETCH (FLAGS () UID 1 RFC822.SIZE " + std::to_string(m.raw.size()) +
                     " INTERNALDATE \" 1-Jan-2024 10:00:00 +0000\")\r\nf1 OK FETCH completed\r\n");
  out = send(*s, "f2 FETCH 1 ENVELOPE\r\n");
  EXPECT_TRUE(has(out, "* 1 FETCH (ENVELOPE (\"Mon, 1 Jan 2024 10:00:00 +0000\" \"Hello there\" "
                       "((\"Bob\" NIL \"bob\" \"example.org\")) ((\"Bob\" NIL \"bob\" "
                       "\"example.org\")) ((\"Bob\" NIL \"bob\" \"example.org\")) ((NIL NIL "
                       "\"alice\" \"example.com\")) NIL NIL NIL NIL))")) << out;
  out = send(*s, "f3 FETCH 1 (BODY BODYSTRUCTURE)\r\n");
  EXPECT_TRUE(has(out, "BODY (\"TEXT\" \"PLAIN\" (\"CHARSET\" \"US-ASCII\") NIL NIL \"7BIT\" 11 1) "
                       "BODYSTRUCTURE (\"TEXT\" \"PLAIN\" (\"CHARSET\" \"US-ASCII\") NIL NIL "
                       "\"7BIT\" 11 1 NIL NIL NIL NIL)")) << out;
  // BODY.PEEK does not set \Seen; the header fields come back with the blank line.
  out = send(*s, "f4 FETCH 1 (BODY.PEEK[HEADER.FIELDS (SUBJECT)])\r\n");
  EXPECT_EQ(out, "* 1 FETCH (BODY[HEADER.FIELDS (SUBJECT)] {24}\r\nSubject: Hello there\r\n\r\n)"
                 "\r\nf4 OK FETCH completed\r\n");
  out = send(*s, "f5 FETCH 1 (BODY.PEEK[TEXT]<3.5>)\r\n");
  EXPECT_EQ(out, "* 1 FETCH (BODY[TEXT]<3> {5}\r\nAlice)\r\nf5 OK FETCH completed\r\n");
  out = send(*s, "f6 FETCH 1 FLAGS\r\n");
  EXPECT_TRUE(has(out, "FLAGS ()"));
  // BODY[] sets \Seen and reports the new flags (RFC 9051 §6.4.5).
  out = send(*s, "f7 FETCH 1 BODY[]\r\n");
  EXPECT_TRUE(has(out, "* 1 FETCH (BODY[] {" + std::to_string(m.raw.size()) + "}\r\n" + m.raw +
                           " FLAGS (\\Seen))")) << out;
  // The session does not report its own change again on NOOP.
  EXPECT_EQ(send(*s, "n NOOP\r\n"), "n OK NOOP completed\r\n");
  out = send(*s, "f8 UID FETCH 1 RFC822.HEADER\r\n");
  EXPECT_TRUE(has(out, "* 1 FETCH (UID 1 RFC822.HEADER {"));
  out = send(*s, "f9 FETCH 1 FAST\r\n");
  EXPECT_TRUE(has(out, "* 1 FETCH (FLAGS (\\Seen) INTERNALDATE"));
}

TEST_F(SessionTest, FetchMultipartSectionsAndBinary) {
  TestMessage m = multipart_message();
  deliver(m);
  auto s = selected();
  std::string out = send(*s, "f1 FETCH 1 (BODY.PEEK[1] BODY.PEEK[2.MIME])\r\n");
  EXPECT_TRUE(has(out, "BODY[1] {16}\r\nhello part one\r\n")) << out;
  EXPECT_TRUE(has(out, "BODY[2.MIME] {77}\r\nContent-Type: application/octet-stream")) << out;
  out = send(*s, "f2 FETCH 1 (BINARY.PEEK[2] BINARY.SIZE[2])\r\n");
  EXPECT_EQ(out, std::string("* 1 FETCH (BINARY[2] ~{4}\r\n\0\x01\x02\x03", 31) +
                     " BINARY.SIZE[2] 4)\r\nf2 OK FETCH completed\r\n");
  out = send(*s, "f3 FETCH 1 BODY.PEEK[3]\r\n");
  EXPECT_TRUE(has(out, "BODY[3] {0}\r\n)")) << out;
  out = send(*s, "f4 FETCH 1 BODYSTRUCTURE\r\n");
  EXPECT_TRUE(has(out, "\"MIXED\" (\"BOUNDARY\" \"XX\") NIL NIL NIL)")) << out;
}

TEST_F(SessionTest, FetchRangesAndBadSequenceNumbers) {
  deliver(simple_message("one", "x\r\n"));
  deliver(simple_message("two", "y\r\n"));
  auto s = selected();
  std::string out = send(*s, "a FETCH 3 FLAGS\r\n");
  EXPECT_EQ(out, "a BAD invalid message sequence number (mailbox has 2 messages)\r\n");
  out = send(*s, "b UID FETCH 99 FLAGS\r\n");  // a UID out of range is no error
  EXPECT_EQ(out, "b OK UID FETCH completed\r\n");
  out = send(*s, "c FETCH 2:* UID\r\n");
  EXPECT_EQ(out, "* 2 FETCH (UID 2)\r\nc OK FETCH completed\r\n");
  out = send(*s, "d UID FETCH 2:* FLAGS\r\n");
  EXPECT_EQ(out, "* 2 FETCH (UID 2 FLAGS ())\r\nd OK UID FETCH completed\r\n");
}

TEST_F(SessionTest, StoreFlags) {
  deliver(simple_message("one", "x\r\n"));
  deliver(simple_message("two", "y\r\n"));
  auto s = selected();
  std::string out = send(*s, "a STORE 1:2 +FLAGS (\\Flagged $Junk)\r\n");
  EXPECT_EQ(out, "* 1 FETCH (FLAGS (\\Flagged $Junk))\r\n* 2 FETCH (FLAGS (\\Flagged $Junk))\r\n"
                 "a OK STORE completed\r\n");
  out = send(*s, "b STORE 1 -FLAGS.SILENT (\\Flagged)\r\n");
  EXPECT_EQ(out, "b OK STORE completed\r\n");
  out = send(*s, "c UID STORE 2 FLAGS (\\Seen)\r\n");
  EXPECT_EQ(out, "* 2 FETCH (UID 2 FLAGS (\\Seen))\r\nc OK UID STORE completed\r\n");
  EXPECT_TRUE(has(send(*s, "d STORE 1 +FLAGS (\\Bogus)\r\n"), "d BAD unknown system flag"));
  out = send(*s, "e FETCH 1:2 FLAGS\r\n");
  EXPECT_EQ(out, "* 1 FETCH (FLAGS ($Junk))\r\n* 2 FETCH (FLAGS (\\Seen))\r\ne OK FETCH completed\r\n");
  // CONDSTORE: MODSEQ appears and UNCHANGEDSINCE fails for a newer message.
  out = send(*s, "f FETCH 1 (MODSEQ)\r\n");
  EXPECT_TRUE(has(out, "* 1 FETCH (MODSEQ ("));
  out = send(*s, "g STORE 1:2 (UNCHANGEDSINCE 1) +FLAGS (\\Answered)\r\n");
  EXPECT_TRUE(has(out, "g OK [MODIFIED 1:2]")) << out;
  auto ex = selected("s1 EXAMINE INBOX\r\n");
  EXPECT_TRUE(has(send(*ex, "h STORE 1 +FLAGS (\\Seen)\r\n"), "h NO [READ-ONLY]"));
}

// ---- SEARCH ----

// RFC 9051 §6.4.4 over decoded content: transfer encodings, RFC 2047 words, charsets and
// HTML are undone by the filter's MIME parse (SessionConfig::extract_text); a string that
// only appears in the encoded form does not match.
TEST_F(SessionTest, SearchMatchesDecodedContentInAnyCharset) {
  auto deliver_raw = [&](const std::string& raw) {
    TestMessage m;
    m.raw = raw;
    auto sum = filter_summarize(raw);
    ASSERT_TRUE(sum) << sum.status().to_string();
    m.summary = *sum;
    deliver(m);
  };
  // 1: base64 UTF-8 body.
  deliver_raw("From: a@example.org\r\nSubject: one\r\n"
              "Content-Type: text/plain; charset=utf-8\r\nContent-Transfer-Encoding: base64\r\n\r\n"
              "R3LDvMOfZSBhdXMgTcO8bmNoZW4sIFN0cmHDn2U=\r\n");
  // 2: quoted-printable ISO-8859-1 body.
  deliver_raw("From: b@example.org\r\nSubject: two\r\n"
              "Content-Type: text/plain; charset=ISO-8859-1\r\n"
              "Content-Transfer-Encoding: quoted-printable\r\n\r\n"
              "Caf=E9 cr=E8me br=FBl=E9e =E0 Paris\r\n");
  // 3: ISO-2022-JP subject in an RFC 2047 encoded-word.
  deliver_raw("From: c@example.org\r\nSubject: =?ISO-2022-JP?B?GyRCRnxLXDhsJE43b0w+GyhC?=\r\n"
              "Content-Type: text/plain; charset=us-ascii\r\n\r\nplain body\r\n");
  // 4: HTML only.
  deliver_raw("From: d@example.org\r\nSubject: four\r\n"
              "Content-Type: text/html; charset=utf-8\r\n\r\n"
              "<html><body><p>Lunch at the <b>caf&eacute;</b> in Ｔｏｋｙｏ</p></body></html>\r\n");
  SessionConfig cfg = plain_config();
  cfg.extract_text = filter_extract_text;
  auto s = session(cfg);
  ASSERT_TRUE(has(send(*s, "a0 LOGIN alice@example.com secret\r\n"), "a0 OK"));
  ASSERT_TRUE(has(send(*s, "s1 SELECT INBOX\r\n"), "s1 OK"));
  auto search = [&](std::string_view cmd) {
    std::string out = send(*s, std::string(cmd) + "\r\n");
    size_t a = out.find("* SEARCH");
    EXPECT_NE(a, std::string::npos) << out;
    EXPECT_TRUE(has(out, "OK SEARCH completed")) << out;
    return a == std::string::npos ? out : out.substr(a, out.find("\r\n", a) - a);
  };
  // base64 UTF-8: the decoded words, folded (ü/Ü), are found; the base64 is not.
  EXPECT_EQ(search("b1 SEARCH CHARSET UTF-8 BODY \"M\xC3\x9CNCHEN\""), "* SEARCH 1");
  EXPECT_EQ(search("b2 SEARCH TEXT \"Gr\xC3\xBC\xC3\x9F" "e\""), "* SEARCH 1");
  EXPECT_EQ(search("b3 SEARCH BODY R3LDvMOf"), "* SEARCH");
  // QP ISO-8859-1: converted to UTF-8; "=E9" only exists encoded.
  EXPECT_EQ(search("q1 SEARCH CHARSET UTF-8 BODY \"BR\xC3\x9BL\xC3\x89" "E\""), "* SEARCH 2");
  EXPECT_EQ(search("q2 SEARCH TEXT \"caf\xC3\xA9 cr\xC3\xA8me\""), "* SEARCH 2");
  EXPECT_EQ(search("q3 SEARCH BODY cr=E8me"), "* SEARCH");
  // ISO-2022-JP encoded-word: SUBJECT, HEADER and TEXT see the decoded subject.
  EXPECT_EQ(search("j1 SEARCH CHARSET UTF-8 SUBJECT \"\xE4\xBB\xB6\xE5\x90\x8D\""), "* SEARCH 3");
  EXPECT_EQ(search("j2 SEARCH HEADER Subject \"\xE6\x97\xA5\xE6\x9C\xAC\xE8\xAA\x9E\""), "* SEARCH 3");
  EXPECT_EQ(search("j3 SEARCH TEXT \"\xE6\x97\xA5\xE6\x9C\xAC\""), "* SEARCH 3");
  EXPECT_EQ(search("j4 SEARCH SUBJECT GyRCRnxL"), "* SEARCH");
  // HTML only: the rendered text (entities decoded, full-width folded), not the markup.
  EXPECT_EQ(search("h1 SEARCH BODY \"THE CAF\xC3\x89 IN\""), "* SEARCH 4");
  EXPECT_EQ(search("h2 SEARCH TEXT \"\xEF\xBC\xB4\xEF\xBC\xAF\xEF\xBC\xAB\xEF\xBC\xB9\xEF\xBC\xAF\""),
            "* SEARCH 4");
  EXPECT_EQ(search("h3 SEARCH BODY eacute"), "* SEARCH");
  EXPECT_EQ(search("h4 SEARCH BODY \"<b>\""), "* SEARCH");
  // Header names are part of TEXT; US-ASCII is accepted.
  EXPECT_EQ(search("t1 SEARCH CHARSET US-ASCII TEXT subject"), "* SEARCH 1 2 3 4");
  // Other charsets: the criteria are converted to UTF-8 (iconv) before matching; their
  // 8-bit strings come as literals (RFC 9051 §4.3: a quoted string is ASCII or UTF-8).
  EXPECT_EQ(search("c1 SEARCH CHARSET ISO-8859-1 BODY {6+}\r\nbr\xFBl\xE9" "e"), "* SEARCH 2");
  EXPECT_EQ(search("c2 SEARCH CHARSET ISO-2022-JP SUBJECT {10+}\r\n\x1B$B7oL>\x1B(B"),
            "* SEARCH 3");
  EXPECT_EQ(search("c3 SEARCH CHARSET KOI8-R OR BODY {3+}\r\n\xE4\xCF\xCD TEXT z-nothing"),
            "* SEARCH");
  EXPECT_TRUE(has(send(*s, "c4 SEARCH CHARSET X-NO-SUCH-CHARSET TEXT x\r\n"),
                  "c4 NO [BADCHARSET (UTF-8 US-ASCII)]"));
  EXPECT_TRUE(has(send(*s, "c5 SEARCH CHARSET UTF-16 TEXT {1+}\r\nx\r\n"),
                  "c5 NO a search string is not valid UTF-16"));
  EXPECT_TRUE(has(send(*s, "c6 SORT (DATE) ISO-8859-1 BODY {4+}\r\ncaf\xE9\r\n"), "* SORT 2 4"));
}


TEST_F(SessionTest, Search) {
  deliver(simple_message("apples", "red fruit\r\n"), store::kSeen);
  deliver(simple_message("bananas", "yellow fruit\r\n"));
  deliver(simple_message("cherries", "red stone fruit\r\n"), store::kFlagged);
  auto s = selected();
  EXPECT_EQ(send(*s, "a SEARCH UNSEEN\r\n"), "* SEARCH 2 3\r\na OK SEARCH completed\r\n");
  EXPECT_EQ(send(*s, "b SEARCH SUBJECT BANANA\r\n"), "* SEARCH 2\r\nb OK SEARCH completed\r\n");
  EXPECT_EQ(send(*s, "c SEARCH BODY red NOT FLAGGED\r\n"), "* SEARCH 1\r\nc OK SEARCH completed\r\n");
  EXPECT_EQ(send(*s, "d SEARCH OR SEEN FLAGGED\r\n"), "* SEARCH 1 3\r\nd OK SEARCH completed\r\n");
  EXPECT_EQ(send(*s, "e UID SEARCH FROM bob 2:*\r\n"), "* SEARCH 2 3\r\ne OK UID SEARCH completed\r\n");
  EXPECT_EQ(send(*s, "f SEARCH HEADER Message-ID <che\r\n"), "* SEARCH 3\r\nf OK SEARCH completed\r\n");
  EXPECT_EQ(send(*s, "g SEARCH SINCE 1-Jan-2024 BEFORE 2-Jan-2024 SENTON 1-Jan-2024\r\n"),
            "* SEARCH 1 2 3\r\ng OK SEARCH completed\r\n");
  EXPECT_EQ(send(*s, "h SEARCH RETURN (MIN MAX COUNT ALL) TEXT fruit\r\n"),
            "* ESEARCH (TAG \"h\") MIN 1 MAX 3 COUNT 3 ALL 1:3\r\nh OK SEARCH completed\r\n");
  EXPECT_EQ(send(*s, "i SEARCH RETURN (COUNT) KEYWORD $Nothing\r\n"),
            "* ESEARCH (TAG \"i\") COUNT 0\r\ni OK SEARCH completed\r\n");
  // RFC 5182 SEARCHRES: SAVE alone answers nothing; "$" reuses the result.
  EXPECT_EQ(send(*s, "j SEARCH RETURN (SAVE) UNSEEN\r\n"), "j OK SEARCH completed\r\n");
  EXPECT_EQ(send(*s, "k FETCH $ UID\r\n"), "* 2 FETCH (UID 2)\r\n* 3 FETCH (UID 3)\r\nk OK FETCH completed\r\n");
  EXPECT_TRUE(has(send(*s, "l SEARCH CHARSET X-NO-SUCH-CHARSET ALL\r\n"),
                  "l NO [BADCHARSET (UTF-8 US-ASCII)]"));
  EXPECT_TRUE(has(send(*s, "m SEARCH MODSEQ 1\r\n"), "* SEARCH 1 2 3 (MODSEQ "));
}

TEST_F(SessionTest, SortAndThread) {
  deliver(simple_message("Re: cherries", "c\r\n"));
  deliver(simple_message("apples", "a\r\n"));
  deliver(simple_message("bananas", "b\r\n"));
  auto s = selected();
  EXPECT_EQ(send(*s, "a SORT (SUBJECT) UTF-8 ALL\r\n"), "* SORT 2 3 1\r\na OK SORT completed\r\n");
  EXPECT_EQ(send(*s, "b UID SORT (REVERSE SUBJECT) US-ASCII NOT SUBJECT apples\r\n"),
            "* SORT 1 3\r\nb OK UID SORT completed\r\n");
  EXPECT_EQ(send(*s, "c SORT RETURN (MIN COUNT) (SUBJECT) UTF-8 ALL\r\n"),
            "* ESEARCH (TAG \"c\") MIN 2 COUNT 3\r\nc OK SORT completed\r\n");
  EXPECT_TRUE(has(send(*s, "d SORT (SUBJECT) X-NO-SUCH-CHARSET ALL\r\n"), "d NO [BADCHARSET"));
  std::string out = send(*s, "e THREAD ORDEREDSUBJECT UTF-8 ALL\r\n");
  EXPECT_EQ(out, "* THREAD (1)(2)(3)\r\ne OK THREAD completed\r\n");
  out = send(*s, "f THREAD REFERENCES UTF-8 ALL\r\n");
  EXPECT_TRUE(has(out, "* THREAD (")) << out;
  EXPECT_TRUE(has(send(*s, "g THREAD BOGUS UTF-8 ALL\r\n"), "g BAD unsupported thread algorithm"));
  EXPECT_EQ(send(*s, "h SORT (SUBJECT) UTF-8 SUBJECT nothing-matches\r\n"),
            "* SORT\r\nh OK SORT completed\r\n");
}

// ---- COPY, MOVE, EXPUNGE, APPEND ----

TEST_F(SessionTest, CopyMoveExpunge) {
  deliver(simple_message("one", "x\r\n"));
  deliver(simple_message("two", "y\r\n"));
  deliver(simple_message("three", "z\r\n"));
  auto s = selected();
  auto archive = store_->find_mailbox(user_, "Trash");
  ASSERT_TRUE(archive);
  std::string v = std::to_string(archive->uidvalidity);
  EXPECT_EQ(send(*s, "c COPY 1:2 Trash\r\n"), "c OK [COPYUID " + v + " 1:2 1:2] COPY completed\r\n");
  EXPECT_TRUE(has(send(*s, "d COPY 1 Nowhere\r\n"), "d NO [TRYCREATE]"));
  std::string out = send(*s, "m UID MOVE 2 Trash\r\n");
  EXPECT_EQ(out, "* OK [COPYUID " + v + " 2 3] Moved\r\n* 2 EXPUNGE\r\nm OK UID MOVE completed\r\n");
  EXPECT_TRUE(has(send(*s, "f STORE 1 +FLAGS.SILENT (\\Deleted)\r\n"), "f OK"));
  out = send(*s, "e EXPUNGE\r\n");
  EXPECT_EQ(out, "* 1 EXPUNGE\r\ne OK EXPUNGE completed\r\n");
  EXPECT_EQ(send(*s, "g FETCH 1:* UID\r\n"), "* 1 FETCH (UID 3)\r\ng OK FETCH completed\r\n");
  // CLOSE expunges silently; UNSELECT would not.
  EXPECT_TRUE(has(send(*s, "h STORE 1 +FLAGS.SILENT (\\Deleted)\r\n"), "h OK"));
  EXPECT_EQ(send(*s, "i CLOSE\r\n"), "i OK CLOSE completed\r\n");
  EXPECT_EQ(s->state(), SessionState::kAuthenticated);
  auto box = store_->find_mailbox(user_, "INBOX");
  EXPECT_EQ(box->messages, 0u);
}

TEST_F(SessionTest, UidExpungeOnlyThoseGiven) {
  deliver(simple_message("one", "x\r\n"), store::kDeleted);
  deliver(simple_message("two", "y\r\n"), store::kDeleted);
  auto s = selected();
  EXPECT_EQ(send(*s, "a UID EXPUNGE 2\r\n"), "* 2 EXPUNGE\r\na OK EXPUNGE completed\r\n");
  EXPECT_EQ(send(*s, "b FETCH 1:* UID\r\n"), "* 1 FETCH (UID 1)\r\nb OK FETCH completed\r\n");
}

TEST_F(SessionTest, AppendWithLiteralAndAppendUid) {
  auto s = selected();
  std::string msg = "From: a@example.com\r\nSubject: appended\r\n\r\nbody\r\n";
  std::string out = send(*s, "a APPEND INBOX (\\Seen) \"05-Jul-2024 02:44:25 -0700\" {" +
                                 std::to_string(msg.size()) + "}\r\n");
  EXPECT_EQ(out, "+ Ready for literal data\r\n");
  out = send(*s, msg + "\r\n");
  auto box = store_->find_mailbox(user_, "INBOX");
  EXPECT_EQ(out, "* 1 EXISTS\r\na OK [APPENDUID " + std::to_string(box->uidvalidity) +
                     " 1] APPEND completed\r\n");
  out = send(*s, "b FETCH 1 (FLAGS INTERNALDATE BODY.PEEK[HEADER.FIELDS (SUBJECT)] ENVELOPE)\r\n");
  EXPECT_TRUE(has(out, "FLAGS (\\Seen) INTERNALDATE \" 5-Jul-2024 09:44:25 +0000\"")) << out;
  EXPECT_TRUE(has(out, "Subject: appended")) << out;
  EXPECT_TRUE(has(out, "ENVELOPE (NIL \"appended\"")) << out;
  EXPECT_TRUE(has(send(*s, "c APPEND Nowhere {1+}\r\nx\r\n"), "c NO [TRYCREATE]"));
}

TEST_F(SessionTest, Utf8Accept) {  // RFC 6855
  auto s = logged_in();
  EXPECT_TRUE(has(send(*s, "a APPEND INBOX UTF8 (~{3+}\r\nabc)\r\n"),
                  "a BAD APPEND UTF8 needs ENABLE UTF8=ACCEPT"));
  EXPECT_TRUE(has(send(*s, "b ENABLE UTF8=ACCEPT\r\n"), "* ENABLED UTF8=ACCEPT"));
  EXPECT_TRUE(has(send(*s, "c APPEND INBOX UTF8 (~{3+}\r\nabc)\r\n"), "c OK [APPENDUID"));
  EXPECT_TRUE(has(send(*s, "d CREATE \"Entw\xc3\xbcrfe\"\r\n"), "d OK"));
  EXPECT_TRUE(has(send(*s, "e LIST \"\" Entw*\r\n"), "\"/\" \"Entw\xc3\xbcrfe\"\r\n"));
}

TEST_F(SessionTest, AppendUsesTheConfiguredSummarizer) {
  SessionConfig c = plain_config();
  int calls = 0;
  c.summarize = [&](std::string_view raw) -> Result<MessageSummary> {
    ++calls;
    MessageSummary sum;
    sum.envelope.subject = "from the parser";
    sum.size = raw.size();
    sum.body.body_end = raw.size();
    return sum;
  };
  auto s = session(c);
  send(*s, "a LOGIN alice@example.com secret\r\n");
  EXPECT_TRUE(has(send(*s, "b APPEND INBOX {3+}\r\nabc\r\n"), "b OK [APPENDUID"));
  EXPECT_EQ(calls, 1);
  send(*s, "c SELECT INBOX\r\n");
  EXPECT_TRUE(has(send(*s, "d FETCH 1 ENVELOPE\r\n"), "\"from the parser\""));
}

// ---- junk reports (issue 5 §5) ----

TEST_F(SessionTest, MovingIntoAndOutOfJunkReports) {
  deliver(simple_message("spammy", "buy now\r\n"));
  deliver(simple_message("fine", "hello\r\n"));
  auto s = selected();
  store::Reports reports(*store_);
  EXPECT_TRUE(has(send(*s, "m1 MOVE 1 Junk\r\n"), "m1 OK"));
  auto list = reports.list();
  ASSERT_TRUE(list);
  ASSERT_EQ(list->size(), 1u);
  auto junk = store_->find_mailbox(user_, "Junk");
  EXPECT_EQ((*list)[0].kind, store::ReportKind::kSpam);
  EXPECT_EQ((*list)[0].mailbox_id, junk->id);
  EXPECT_EQ((*list)[0].reporter, user_);
  EXPECT_EQ(store_->get_message(junk->id, 1)->reported, store::Reported::kSpam);
  // Out of Junk to a normal folder: not spam.
  send(*s, "s2 SELECT Junk\r\n");
  EXPECT_TRUE(has(send(*s, "m2 MOVE 1 INBOX\r\n"), "m2 OK"));
  list = reports.list();
  ASSERT_EQ(list->size(), 2u);
  EXPECT_EQ((*list)[0].kind, store::ReportKind::kNotSpam);  // newest first
  // Back into Junk and then to Trash: one more spam report, nothing for Trash.
  send(*s, "s3 SELECT INBOX\r\n");
  EXPECT_TRUE(has(send(*s, "m3 UID MOVE 3 Junk\r\n"), "m3 OK")) ;
  send(*s, "s4 SELECT Junk\r\n");
  EXPECT_TRUE(has(send(*s, "m4 MOVE 1 Trash\r\n"), "m4 OK"));
  EXPECT_EQ(reports.list()->size(), 3u);
}

TEST_F(SessionTest, JunkKeywordsReportOnce) {
  deliver(simple_message("spammy", "buy now\r\n"));
  auto s = selected();
  store::Reports reports(*store_);
  EXPECT_TRUE(has(send(*s, "a STORE 1 +FLAGS ($Junk)\r\n"), "a OK"));
  EXPECT_EQ(reports.list()->size(), 1u);
  EXPECT_TRUE(has(send(*s, "b STORE 1 -FLAGS ($Junk)\r\n"), "b OK"));
  EXPECT_TRUE(has(send(*s, "c STORE 1 +FLAGS ($Junk)\r\n"), "c OK"));
  EXPECT_EQ(reports.list()->size(), 1u);  // already reported as spam: nothing new
  EXPECT_TRUE(has(send(*s, "d STORE 1 FLAGS ($NotJunk)\r\n"), "d OK"));
  auto list = reports.list();
  ASSERT_EQ(list->size(), 2u);
  EXPECT_EQ((*list)[0].kind, store::ReportKind::kNotSpam);
  EXPECT_EQ(store_->get_message(inbox_, 1)->reported, store::Reported::kHam);
}

// ---- concurrency: two sessions, IDLE ----

TEST_F(SessionTest, OtherSessionsChangesAreReportedWhereAllowed) {
  deliver(simple_message("one", "x\r\n"));
  deliver(simple_message("two", "y\r\n"));
  auto a = selected();
  auto b = selected();
  EXPECT_TRUE(has(send(*b, "b1 STORE 1 +FLAGS.SILENT (\\Deleted)\r\n"), "b1 OK"));
  EXPECT_TRUE(has(send(*b, "b2 EXPUNGE\r\n"), "* 1 EXPUNGE"));
  deliver(simple_message("three", "z\r\n"));
  // While answering FETCH by sequence number, no EXPUNGE (RFC 9051 §7.5.1): message 1 is
  // gone, so it is simply not returned.
  std::string out = send(*a, "a1 FETCH 1:2 UID\r\n");
  EXPECT_EQ(out, "* 2 FETCH (UID 2)\r\na1 OK FETCH completed\r\n");
  // NOOP reports the expunge, then the new message.
  out = send(*a, "a2 NOOP\r\n");
  EXPECT_EQ(out, "* 1 EXPUNGE\r\n* 2 EXISTS\r\na2 OK NOOP completed\r\n");
  // A flag change by b reaches a as an untagged FETCH.
  send(*b, "b3 STORE 1 +FLAGS (\\Flagged)\r\n");
  out = send(*a, "a3 NOOP\r\n");
  EXPECT_EQ(out, "* 1 FETCH (UID 2 FLAGS (\\Flagged))\r\na3 OK NOOP completed\r\n");
  EXPECT_EQ(send(*a, "a4 FETCH 1:* UID\r\n"),
            "* 1 FETCH (UID 2)\r\n* 2 FETCH (UID 3)\r\na4 OK FETCH completed\r\n");
}

TEST_F(SessionTest, IdleWakesOnDelivery) {
  auto s = selected();
  EXPECT_EQ(send(*s, "i IDLE\r\n"), "+ idling\r\n");
  EXPECT_TRUE(s->idling());
  std::string out;
  s->poll(out);
  EXPECT_EQ(out, "");
  deliver(simple_message("new mail", "hello\r\n"));
  s->poll(out);
  EXPECT_EQ(out, "* 1 EXISTS\r\n");
  EXPECT_EQ(send(*s, "DONE\r\n"), "i OK IDLE terminated\r\n");
  EXPECT_FALSE(s->idling());
  send(*s, "j IDLE\r\n");
  EXPECT_TRUE(has(send(*s, "NOT-DONE\r\n"), "j BAD expected DONE"));
}

TEST_F(SessionTest, QresyncVanished) {
  deliver(simple_message("one", "x\r\n"), store::kDeleted);
  deliver(simple_message("two", "y\r\n"));
  auto s = logged_in();
  EXPECT_TRUE(has(send(*s, "q SELECT INBOX (QRESYNC (1 1))\r\n"), "q BAD"));
  EXPECT_TRUE(has(send(*s, "e ENABLE QRESYNC\r\n"), "* ENABLED QRESYNC"));
  auto box = store_->find_mailbox(user_, "INBOX");
  uint64_t ms = box->highest_modseq;
  send(*s, "s SELECT INBOX\r\n");
  EXPECT_EQ(send(*s, "x EXPUNGE\r\n"), "* VANISHED 1\r\nx OK EXPUNGE completed\r\n");
  std::string out = send(*s, "f UID FETCH 1:* FLAGS (CHANGEDSINCE " + std::to_string(ms) +
                                 " VANISHED)\r\n");
  EXPECT_EQ(out, "* VANISHED (EARLIER) 1\r\nf OK UID FETCH completed\r\n");
  // Reselect with QRESYNC from the old state: the expunged UID comes back as VANISHED.
  out = send(*s, "r SELECT INBOX (QRESYNC (" + std::to_string(box->uidvalidity) + " " +
                     std::to_string(ms) + " 1:2))\r\n");
  EXPECT_TRUE(has(out, "* VANISHED (EARLIER) 1\r\n")) << out;
  EXPECT_TRUE(has(out, "r OK [READ-WRITE]")) << out;
}

TEST_F(SessionTest, SearchBodyLooksIntoAttachedMessages) {
  std::string raw =
      "From: a@example.org\r\nSubject: forwarded\r\nMIME-Version: 1.0\r\n"
      "Content-Type: multipart/mixed; boundary=B\r\n\r\n"
      "--B\r\nContent-Type: text/plain\r\n\r\nsee below\r\n"
      "--B\r\nContent-Type: message/rfc822\r\n\r\n"
      "From: Carol <carol@example.net>\r\nSubject: =?UTF-8?Q?Gr=C3=BC=C3=9Fe_aus_Kyoto?=\r\n"
      "Content-Type: text/plain\r\n\r\ninner words here\r\n"
      "--B--\r\n";
  TestMessage m;
  m.raw = raw;
  auto sum = filter_summarize(raw);
  ASSERT_TRUE(sum) << sum.status().to_string();
  m.summary = *sum;
  deliver(m);
  deliver(simple_message("plain", "nothing attached\r\n"));
  SessionConfig cfg = plain_config();
  cfg.extract_text = filter_extract_text;
  auto s = session(cfg);
  ASSERT_TRUE(has(send(*s, "a0 LOGIN alice@example.com secret\r\n"), "a0 OK"));
  ASSERT_TRUE(has(send(*s, "s1 SELECT INBOX\r\n"), "s1 OK"));
  // The attached message's header (decoded) and body are in the outer message's body.
  EXPECT_EQ(send(*s, "a SEARCH BODY \"aus kyoto\"\r\n"), "* SEARCH 1\r\na OK SEARCH completed\r\n");
  EXPECT_EQ(send(*s, "b SEARCH BODY carol@example.net\r\n"), "* SEARCH 1\r\nb OK SEARCH completed\r\n");
  EXPECT_EQ(send(*s, "c SEARCH TEXT \"inner words\"\r\n"), "* SEARCH 1\r\nc OK SEARCH completed\r\n");
  // ... but not in its header: header keys see the top-level fields only.
  EXPECT_EQ(send(*s, "d SEARCH SUBJECT kyoto\r\n"), "* SEARCH\r\nd OK SEARCH completed\r\n");
  EXPECT_EQ(send(*s, "e SEARCH FROM carol\r\n"), "* SEARCH\r\ne OK SEARCH completed\r\n");
  EXPECT_EQ(send(*s, "f SEARCH BODY forwarded\r\n"), "* SEARCH\r\nf OK SEARCH completed\r\n");
}

// ---- group commit (SessionConfig::async_writes) ----

TEST_F(SessionTest, AsyncWriteHoldsTheCommandAndWhatFollowsUntilTheCommit) {
  deliver(simple_message("one", "x\r\n"));
  SessionConfig cfg = plain_config();
  cfg.async_writes = true;
  auto s = session(cfg);
  ASSERT_TRUE(has(send(*s, "a0 LOGIN alice@example.com secret\r\n"), "a0 OK"));
  ASSERT_TRUE(has(send(*s, "s1 SELECT INBOX\r\n"), "s1 OK"));
  // STORE and a pipelined NOOP: nothing is answered before the write's outcome.
  EXPECT_EQ(send(*s, "a STORE 1 +FLAGS (\\Flagged)\r\nb NOOP\r\n"), "");
  EXPECT_TRUE(s->write_pending());
  auto req = s->take_write();
  ASSERT_TRUE(req.has_value());
  EXPECT_FALSE(s->take_write().has_value());  // taken once
  ASSERT_TRUE(std::holds_alternative<store::StoreFlagsRequest>(*req));
  // Not yet committed: the store still has the old flags.
  EXPECT_EQ(store_->get_message(inbox_, 1)->flags, 0u);
  auto outcome = store_->write_batch({*req});
  std::string out;
  s->write_done(std::move(outcome[0]), out);
  EXPECT_EQ(out, "* 1 FETCH (FLAGS (\\Flagged))\r\na OK STORE completed\r\nb OK NOOP completed\r\n");
  EXPECT_FALSE(s->write_pending());
  // A store error is the command's NO, and the session goes on.
  EXPECT_EQ(send(*s, "c EXPUNGE\r\n"), "");
  auto ex = s->take_write();
  ASSERT_TRUE(ex.has_value());
  store::WriteOutcome failed;
  failed.status = Status::io_error("disk on fire");
  out.clear();
  s->write_done(std::move(failed), out);
  EXPECT_TRUE(has(out, "c NO")) << out;
  EXPECT_TRUE(has(send(*s, "d NOOP\r\n"), "d OK")) ;
}

TEST_F(SessionTest, WritesOfTwoSessionsShareOneBatch) {
  deliver(simple_message("one", "x\r\n"));
  SessionConfig cfg = plain_config();
  cfg.async_writes = true;
  auto a = session(cfg), b = session(cfg);
  for (auto* s : {a.get(), b.get()}) {
    ASSERT_TRUE(has(send(*s, "l LOGIN alice@example.com secret\r\n"), "l OK"));
    ASSERT_TRUE(has(send(*s, "s SELECT INBOX\r\n"), "s OK"));
  }
  std::string msg = "From: a@example.com\r\nSubject: appended\r\n\r\nbody\r\n";
  EXPECT_EQ(send(*a, "a1 APPEND INBOX {" + std::to_string(msg.size()) + "+}\r\n" + msg + "\r\n"),
            "");
  EXPECT_EQ(send(*b, "b1 UID STORE 1 +FLAGS.SILENT (\\Seen)\r\n"), "");
  std::vector<store::WriteRequest> batch{*a->take_write(), *b->take_write()};
  auto outcomes = store_->write_batch(batch);
  ASSERT_EQ(outcomes.size(), 2u);
  std::string out_a, out_b;
  a->write_done(std::move(outcomes[0]), out_a);
  b->write_done(std::move(outcomes[1]), out_b);
  auto box = store_->find_mailbox(user_, "INBOX");
  // APPEND: EXISTS (and B's flag change, which may be reported here) before the tagged OK.
  EXPECT_TRUE(has(out_a, "* 2 EXISTS\r\n")) << out_a;
  EXPECT_TRUE(has(out_a, "a1 OK [APPENDUID " + std::to_string(box->uidvalidity) + " 2]")) << out_a;
  // UID STORE may report other sessions' changes (RFC 9051 §7.5.1): the new message.
  EXPECT_EQ(out_b, "* 2 EXISTS\r\nb1 OK UID STORE completed\r\n");
  EXPECT_EQ(store_->get_message(inbox_, 1)->flags, uint32_t(store::kSeen));
}

// Found by the RFC conformance sweep (tests/imapd/imapd_conformance_test.py has the wire
// side): each assertion is the RFC's words.
TEST_F(SessionTest, ConformanceFixes) {
  for (const char* subj : {"aa one", "bb two", "aa three", "bb four"})
    deliver(simple_message(subj, "x\r\n"));
  auto s = logged_in();
  auto other = logged_in();
  // RFC 9051 §6.3.2: SELECT's LIST response (IMAP4rev2) has accurate attributes.
  ASSERT_TRUE(has(send(*s, "e ENABLE IMAP4rev2\r\n"), "e OK"));
  std::string out = send(*s, "s1 SELECT Sent\r\n");
  EXPECT_TRUE(has(out, "* LIST (\\HasNoChildren \\Sent) \"/\" Sent\r\n")) << out;
  // RFC 9051 §6.3.9: "%" returns a hierarchy level that is no mailbox, with \Noselect.
  ASSERT_TRUE(has(send(*s, "c1 CREATE Par/Child\r\n"), "c1 OK"));
  ASSERT_TRUE(has(send(*s, "c2 DELETE Par\r\n"), "c2 OK"));
  out = send(*s, "l1 LIST \"\" %\r\n");
  EXPECT_TRUE(has(out, "* LIST (\\Noselect \\HasChildren) \"/\" Par\r\n")) << out;
  EXPECT_FALSE(has(send(*s, "l2 LIST \"\" *\r\n"), "\"/\" Par\r\n"));  // "*" lists the mailboxes
  EXPECT_FALSE(has(send(*s, "l3 LIST \"\" %/%\r\n"), "Noselect"));
  ASSERT_TRUE(has(send(*s, "s2 SELECT INBOX\r\n"), "s2 OK"));
  // RFC 5182 §2.4: SAVE with MIN saves only the minimum.
  EXPECT_TRUE(has(send(*s, "r1 SEARCH RETURN (SAVE MIN) SUBJECT bb\r\n"), "MIN 2"));
  out = send(*s, "r2 FETCH $ UID\r\n");
  EXPECT_TRUE(has(out, "* 2 FETCH (UID 2)")) << out;
  EXPECT_FALSE(has(out, "* 4 FETCH")) << out;
  EXPECT_TRUE(has(send(*s, "r3 SEARCH RETURN (SAVE MIN MAX) ALL\r\n"), "MIN 1 MAX 4"));
  out = send(*s, "r4 FETCH $ UID\r\n");
  EXPECT_TRUE(has(out, "* 1 FETCH (UID 1)") && has(out, "* 4 FETCH (UID 4)")) << out;
  EXPECT_FALSE(has(out, "* 2 FETCH")) << out;
  // RFC 5182 §2.1: a SAVE answered NO empties $; so does a successful SELECT.
  EXPECT_TRUE(has(send(*s, "r5 SEARCH RETURN (SAVE) CHARSET X-BOGUS ALL\r\n"), "r5 NO [BADCHARSET"));
  EXPECT_EQ(send(*s, "r6 FETCH $ UID\r\n"), "r6 OK FETCH completed\r\n");
  ASSERT_TRUE(has(send(*s, "r7 SEARCH RETURN (SAVE) ALL\r\n"), "r7 OK"));
  ASSERT_TRUE(has(send(*s, "r8 SELECT INBOX\r\n"), "r8 OK"));
  EXPECT_EQ(send(*s, "r9 FETCH $ UID\r\n"), "r9 OK FETCH completed\r\n");
  // RFC 7162 §3.1.5: SORT with MODSEQ gives the highest MODSEQ of the matches.
  out = send(*s, "o1 SORT (ARRIVAL) UTF-8 MODSEQ 1\r\n");
  EXPECT_TRUE(has(out, "* SORT 1 2 3 4 (MODSEQ ")) << out;
  // RFC 9051 §7.3.5: FLAGS lists keywords in use; a new one is announced before its FETCH.
  out = send(*s, "k1 STORE 1 +FLAGS ($Forwarded)\r\n");
  EXPECT_TRUE(has(out, "* FLAGS (\\Answered \\Flagged \\Deleted \\Seen \\Draft $Junk $NotJunk $Forwarded)\r\n* 1 FETCH"))
      << out;
  EXPECT_FALSE(has(send(*s, "k2 STORE 2 +FLAGS ($Forwarded)\r\n"), "* FLAGS"));  // known now
  out = send(*other, "k3 EXAMINE INBOX\r\n");
  EXPECT_TRUE(has(out, "* FLAGS (\\Answered \\Flagged \\Deleted \\Seen \\Draft $Junk $NotJunk $Forwarded)\r\n")) << out;
  // RFC 5322 §2.3: an APPEND with bare LF line ends is stored with CRLF.
  std::string lf = "From: a@example.com\nSubject: lf\n\nline one\nline two\n";
  ASSERT_TRUE(has(send(*s, "p1 APPEND INBOX {" + std::to_string(lf.size()) + "+}\r\n" + lf + "\r\n"), "p1 OK"));
  out = send(*s, "p2 FETCH 5 (RFC822.SIZE BODY.PEEK[])\r\n");
  std::string crlf = "From: a@example.com\r\nSubject: lf\r\n\r\nline one\r\nline two\r\n";
  EXPECT_TRUE(has(out, "RFC822.SIZE " + std::to_string(crlf.size()))) << out;
  EXPECT_TRUE(has(out, "{" + std::to_string(crlf.size()) + "}\r\n" + crlf)) << out;
  // RFC 9051 §9 (seq-number): SEARCH by a sequence number beyond the mailbox is BAD, as for
  // FETCH; UIDs beyond it are simply not found.
  EXPECT_TRUE(has(send(*s, "b1 SEARCH 9\r\n"), "b1 BAD"));
  EXPECT_TRUE(has(send(*s, "b2 SEARCH OR 1 (NOT 7:9)\r\n"), "b2 BAD"));
  // (IMAP4rev2 is enabled in this session: ESEARCH answers.)
  EXPECT_EQ(send(*s, "b3 SEARCH UID 90:99\r\n"), "* ESEARCH (TAG \"b3\")\r\nb3 OK SEARCH completed\r\n");
  EXPECT_EQ(send(*s, "b4 SEARCH 2:*\r\n"), "* ESEARCH (TAG \"b4\") ALL 2:5\r\nb4 OK SEARCH completed\r\n");
  // A selected mailbox deleted by another session: BYE, not NO [SERVERBUG] with an id.
  ASSERT_TRUE(has(send(*other, "c3 CREATE Victim\r\n"), "c3 OK"));
  ASSERT_TRUE(has(send(*s, "v1 SELECT Victim\r\n"), "v1 OK"));
  ASSERT_TRUE(has(send(*other, "d1 DELETE Victim\r\n"), "d1 OK"));
  out = send(*s, "v2 FETCH 1:* FLAGS\r\n");
  EXPECT_EQ(out, "* BYE Selected mailbox was deleted, have to disconnect\r\n");
  EXPECT_TRUE(s->wants_close());
}

// ---- early STORE through the flag journal (SessionConfig::flag_journal) ----

class EarlyStoreTest : public SessionTest {
 protected:
  void SetUp() override {
    SessionTest::SetUp();
    auto j = FlagJournal::open(dir_ + "/imapd-flags.journal");
    ASSERT_TRUE(j) << j.status().to_string();
    journal_ = std::move(*j);
  }
  void TearDown() override {
    journal_.reset();
    SessionTest::TearDown();
  }
  SessionConfig early_config() {
    SessionConfig c = plain_config();
    c.async_writes = true;
    c.flag_journal = journal_.get();
    c.flag_overlay = &overlay_;
    return c;
  }
  std::unique_ptr<Session> selected(SessionConfig c) {
    auto s = session(std::move(c));
    EXPECT_TRUE(has(send(*s, "l LOGIN alice@example.com secret\r\n"), "l OK"));
    EXPECT_TRUE(has(send(*s, "s SELECT INBOX\r\n"), "s OK"));
    return s;
  }
  // What the server does with a session's early writes: one batch, then the outcomes back
  // in order, the overlay told first.
  void commit_early(Session& s) {
    auto writes = s.take_early_writes();
    std::vector<store::WriteRequest> batch;
    uint64_t seq = 0;
    for (auto& w : writes) {
      batch.push_back(w.request);
      seq = std::max(seq, w.journal_seq);
    }
    auto outcomes = store_->write_batch(batch, store::BatchSync::kFlagsDeferred, seq);
    for (auto& o : outcomes) {
      overlay_.completed();
      s.early_write_done(o);
    }
  }
  std::unique_ptr<FlagJournal> journal_;
  FlagOverlay overlay_;
};

TEST_F(EarlyStoreTest, AnsweredAtOnceAndReadsWaitForTheCommit) {
  deliver(simple_message("one", "x\r\n"));
  deliver(simple_message("two", "y\r\n"));
  auto a = selected(early_config());
  auto b = selected(early_config());
  // The reply comes before the store has it; the journal has it.
  EXPECT_EQ(send(*a, "a1 STORE 1 +FLAGS (\\Flagged)\r\n"),
            "* 1 FETCH (FLAGS (\\Flagged))\r\na1 OK STORE completed\r\n");
  EXPECT_EQ(store_->get_message(inbox_, 1)->flags, 0u);
  EXPECT_EQ(journal_->read_all()->size(), 1u);
  // Another session's read waits for it (no answer yet) ...
  EXPECT_EQ(send(*b, "b1 FETCH 1 FLAGS\r\n"), "");
  ASSERT_TRUE(b->flag_barrier().has_value());
  EXPECT_EQ(*b->flag_barrier(), 1u);
  // ... while further STOREs are predicted from the pending one (and a no-op sends nothing).
  std::string second = send(*a, "a2 UID STORE 1:2 +FLAGS (\\Seen)\r\n");
  EXPECT_TRUE(has(second, "* 1 FETCH (UID 1 FLAGS (")) << second;
  EXPECT_TRUE(has(second, "\\Flagged")) << second;
  EXPECT_TRUE(has(second, "* 2 FETCH (UID 2 FLAGS (\\Seen))")) << second;
  EXPECT_TRUE(has(second, "a2 OK UID STORE completed")) << second;
  EXPECT_EQ(send(*a, "a3 STORE 2 +FLAGS (\\Seen)\r\n"), "a3 OK STORE completed\r\n");
  commit_early(*a);
  EXPECT_EQ(store_->get_message(inbox_, 1)->flags, uint32_t(store::kFlagged | store::kSeen));
  EXPECT_EQ(*store_->flag_journal_seq(), 3u);
  std::string out;
  b->flags_settled(out);
  EXPECT_TRUE(has(out, "b1 OK FETCH completed")) << out;
  EXPECT_TRUE(has(out, "\\Flagged")) << out;
  EXPECT_TRUE(has(out, "\\Seen")) << out;
  EXPECT_FALSE(b->flag_barrier().has_value());
  // A already told its client; its next sync repeats nothing.
  EXPECT_EQ(send(*a, "a4 NOOP\r\n"), "a4 OK NOOP completed\r\n");
}

TEST_F(EarlyStoreTest, TheOtherCasesTakeTheSyncedPath) {
  deliver(simple_message("one", "x\r\n"));
  auto s = selected(early_config());
  // Keywords (reports, the keyword limit) are the store's to decide.
  EXPECT_EQ(send(*s, "a STORE 1 +FLAGS ($Forwarded)\r\n"), "");
  EXPECT_TRUE(s->write_pending());
  EXPECT_TRUE(s->take_early_writes().empty());
  auto w = s->take_write();
  ASSERT_TRUE(w.has_value());
  std::string out;
  s->write_done(store_->write_batch({*w})[0], out);
  EXPECT_TRUE(has(out, "a OK")) << out;
  // While an ordinary write is in flight, a prediction could miss it.
  overlay_.ordinary_submitted();
  EXPECT_EQ(send(*s, "b STORE 1 +FLAGS (\\Seen)\r\n"), "");
  EXPECT_TRUE(s->write_pending());
  out.clear();
  s->write_done(store_->write_batch({*s->take_write()})[0], out);
  overlay_.ordinary_done();
  EXPECT_TRUE(has(out, "b OK")) << out;
  // CONDSTORE needs the MODSEQ the commit assigns.
  ASSERT_TRUE(has(send(*s, "c SELECT INBOX (CONDSTORE)\r\n"), "c OK"));
  EXPECT_EQ(send(*s, "d STORE 1 +FLAGS (\\Flagged)\r\n"), "");
  EXPECT_TRUE(s->write_pending());
  EXPECT_TRUE(s->take_early_writes().empty());
  EXPECT_EQ(journal_->read_all()->size(), 0u);
  out.clear();
  s->write_done(store_->write_batch({*s->take_write()})[0], out);
  EXPECT_TRUE(has(out, "d OK")) << out;
  // kMaxEarlyFlagWrites already waiting for the disk: the next STORE waits for its commit.
  auto t = selected(early_config());
  for (uint64_t i = 0; i < kMaxEarlyFlagWrites; i++) overlay_.accept(inbox_, {});
  EXPECT_EQ(send(*t, "e STORE 1 +FLAGS (\\Draft)\r\n"), "");
  EXPECT_TRUE(t->write_pending());
  EXPECT_TRUE(t->take_early_writes().empty());
}

TEST_F(EarlyStoreTest, AnotherWritersChangeIsReportedWhenThePredictionMissedIt) {
  deliver(simple_message("one", "x\r\n"));
  auto s = selected(early_config());
  EXPECT_EQ(send(*s, "a STORE 1 +FLAGS (\\Flagged)\r\n"),
            "* 1 FETCH (FLAGS (\\Flagged))\r\na OK STORE completed\r\n");
  // Another process (the web UI, the CLI) answers the message before the commit.
  ASSERT_TRUE(store_->store_flags(inbox_, {1}, store::FlagMode::kAdd, store::kAnswered, {}));
  commit_early(*s);
  std::string out = send(*s, "b NOOP\r\n");
  EXPECT_TRUE(has(out, "* 1 FETCH (")) << out;
  EXPECT_TRUE(has(out, "\\Answered")) << out;
  EXPECT_TRUE(has(out, "\\Flagged")) << out;
}

// SessionConfig::async_text: a cold text search over kMinAsyncTextMessages or more messages
// waits for a text job (which the daemon runs on a worker), then answers from the cache.
TEST_F(SessionTest, ColdTextSearchWaitsForItsTextJob) {
  for (size_t i = 0; i < kMinAsyncTextMessages + 6; i++)
    deliver(simple_message("note " + std::to_string(i), i % 7 == 0 ? "the harbor at dawn\r\n" : "nothing\r\n"));
  auto cache = std::make_shared<SearchCache>();
  SessionConfig cfg = plain_config();
  cfg.extract_text = filter_extract_text;
  cfg.search_cache = cache;
  cfg.async_text = true;
  auto s = session(cfg);
  ASSERT_TRUE(has(send(*s, "l LOGIN alice@example.com secret\r\n"), "l OK"));
  ASSERT_TRUE(has(send(*s, "s SELECT INBOX\r\n"), "s OK"));
  // A flag search needs no text: answered at once.
  EXPECT_TRUE(has(send(*s, "a SEARCH UNSEEN\r\n"), "a OK"));
  EXPECT_FALSE(s->take_text_job().has_value());
  // The text search and the command pipelined behind it wait.
  EXPECT_EQ(send(*s, "b SEARCH BODY harbor\r\nc NOOP\r\n"), "");
  auto job = s->take_text_job();
  ASSERT_TRUE(job.has_value());
  EXPECT_FALSE(s->take_text_job().has_value());  // taken once
  EXPECT_EQ(job->messages.size(), kMinAsyncTextMessages + 6);
  EXPECT_EQ(extract_search_text(*store_, cfg.extract_text, *cache, *job), kMinAsyncTextMessages + 6);
  std::string out;
  s->text_ready(out);
  std::string want = "* SEARCH";
  for (size_t i = 0; i < kMinAsyncTextMessages + 6; i += 7) want += " " + std::to_string(i + 1);
  EXPECT_EQ(out, want + "\r\nb OK SEARCH completed\r\nc OK NOOP completed\r\n");
  // Warm now: no job, the same answer; SORT by text as well.
  EXPECT_EQ(send(*s, "d SEARCH BODY harbor\r\n"), want + "\r\nd OK SEARCH completed\r\n");
  EXPECT_TRUE(has(send(*s, "e SORT (ARRIVAL) UTF-8 BODY harbor\r\n"), "e OK"));
  EXPECT_FALSE(s->take_text_job().has_value());
  // A stop request ends a job early.
  SearchCache cold;
  EXPECT_EQ(extract_search_text(*store_, cfg.extract_text, cold, *job, [] { return true; }), 63u);
}

TEST_F(SessionTest, SearchCacheGivesTheSameAnswersAndNeverCrossesUsers) {
  // One delivery to alice and bob: one blob, shared.
  auto hash = crypto::hash_password("secret", crypto::PasswordParams{1, 1024, 1});
  ASSERT_TRUE(hash);
  auto bob = store_->add_user("bob@example.com", *hash);
  ASSERT_TRUE(bob);
  TestMessage m = simple_message("lunch plans", "meet at the harbor\r\n");
  store::IncomingMessage in;
  in.raw = m.raw;
  in.summary = m.summary;
  store::DeliveryTarget ta, tb;
  ta.user_id = user_;
  tb.user_id = bob->id;
  in.targets = {ta, tb};
  auto r = store_->deliver({in});
  ASSERT_TRUE(r);
  deliver(simple_message("other", "nothing here\r\n"));
  uint64_t blob = (*r)[0].blob_id;

  auto cache = std::make_shared<SearchCache>();
  auto run = [&](const std::string& user, std::shared_ptr<SearchCache> c, const std::string& cmd) {
    SessionConfig cfg = plain_config();
    cfg.extract_text = filter_extract_text;
    cfg.search_cache = std::move(c);
    auto s = session(cfg);
    EXPECT_TRUE(has(send(*s, "l LOGIN " + user + " secret\r\n"), "l OK"));
    EXPECT_TRUE(has(send(*s, "s SELECT INBOX\r\n"), "s OK"));
    return send(*s, cmd + "\r\n");
  };
  const char* searches[] = {"a SEARCH BODY HARBOR", "b SEARCH FROM bob", "c SEARCH SUBJECT lunch",
                            "d SEARCH TEXT \"subject: other\"", "e SEARCH HEADER To alice",
                            "f SEARCH OR BODY nothing SUBJECT plans", "g SEARCH BODY absent",
                            "h SEARCH HEADER X-None \"\"", "i SEARCH TEXT \"\""};
  for (const char* q : searches) {
    std::string plain = run("alice@example.com", nullptr, q);
    EXPECT_EQ(run("alice@example.com", cache, q), plain) << q;  // cold cache
    EXPECT_EQ(run("alice@example.com", cache, q), plain) << q;  // warm cache
  }
  EXPECT_GT(cache->stats().hits, 0u);
  // An entry of alice's (here planted with other text, in a fresh cache) is never found for
  // bob's copy of the same blob: bob's search decodes his own message.
  cache = std::make_shared<SearchCache>();
  SearchText planted;
  planted.body = "alice-only-secret";
  cache->put(user_, blob, std::make_shared<const FoldedText>(fold_search_text(planted)));
  EXPECT_EQ(run("alice@example.com", cache, "x SEARCH BODY alice-only-secret"),
            "* SEARCH 1\r\nx OK SEARCH completed\r\n");
  EXPECT_EQ(run("bob@example.com", cache, "x SEARCH BODY alice-only-secret"),
            "* SEARCH\r\nx OK SEARCH completed\r\n");
  EXPECT_EQ(run("bob@example.com", cache, "y SEARCH BODY harbor"),
            "* SEARCH 1\r\ny OK SEARCH completed\r\n");
}

}  // namespace
}  // namespace tsubame::imap
