// tests/smtpd/session_test.cc: the SMTP state machine, command by command, limit by limit.
// No sockets: the Harness (harness.h) plays the glue.
#include <gtest/gtest.h>

#include <string>

#include "common/bytes.h"
#include "smtpd/limits.h"
#include "smtpd/session.h"
#include "tests/smtpd/harness.h"

namespace tsubame::smtp {
namespace {

using testing::Harness;
using testing::test_options;

bool starts_with(const std::string& s, std::string_view p) { return s.rfind(p, 0) == 0; }

std::string plain(std::string_view user, std::string_view pass) {
  std::string raw;
  raw += '\0';
  raw += user;
  raw += '\0';
  raw += pass;
  return base64_encode(raw);
}

// ---- greeting, EHLO, HELO ----

TEST(Session, GreetingNamesHost) {
  Harness h;
  EXPECT_EQ(h.start(), "220 mx.example.com ESMTP Tsubame\r\n");
}

TEST(Session, TalkingBeforeGreetingIsRefusedAndClosed) {
  Harness h;
  h.session.feed("EHLO early\r\n");
  EXPECT_TRUE(h.session.take_actions().empty());  // judged at start()
  std::string out = h.start();
  EXPECT_TRUE(starts_with(out, "554 5.5.0 ")) << out;
  EXPECT_TRUE(h.closed);
}

TEST(Session, EhloAdvertisesExtensions) {
  Harness h;
  h.start();
  std::string out = h.talk("EHLO client.example.org\r\n");
  EXPECT_TRUE(starts_with(out, "250-mx.example.com Hello client.example.org [192.0.2.1]\r\n"));
  for (const char* ext : {"PIPELINING", "SIZE 26214400", "8BITMIME", "SMTPUTF8",
                          "ENHANCEDSTATUSCODES", "DSN", "CHUNKING", "STARTTLS"})
    EXPECT_TRUE(out.find(std::string("250-") + ext + "\r\n") != std::string::npos ||
                out.find(std::string("250 ") + ext + "\r\n") != std::string::npos)
        << ext;
  // No AUTH before TLS by default (RFC 4954 §4: plaintext passwords).
  EXPECT_EQ(out.find("AUTH"), std::string::npos);
  // The last line uses a space.
  EXPECT_NE(out.rfind("\r\n250 "), std::string::npos);
}

TEST(Session, EhloAfterTlsAdvertisesAuthNotStarttls) {
  Harness h;
  h.start();
  h.talk("EHLO c\r\n");
  EXPECT_EQ(h.talk("STARTTLS\r\n"), "220 2.0.0 Ready to start TLS\r\n");
  EXPECT_EQ(h.tls_starts, 1);
  std::string out = h.talk("EHLO c\r\n");
  EXPECT_EQ(out.find("STARTTLS"), std::string::npos);
  EXPECT_NE(out.find("AUTH PLAIN LOGIN"), std::string::npos);
}

TEST(Session, EhloAndHeloNeedAnArgument) {
  Harness h;
  h.start();
  EXPECT_EQ(h.talk("EHLO\r\n"), "501 5.5.4 Syntax: EHLO hostname\r\n");
  EXPECT_EQ(h.talk("HELO   \r\n"), "501 5.5.4 Syntax: HELO hostname\r\n");
  EXPECT_EQ(h.talk("HELO client\r\n"), "250 mx.example.com\r\n");
}

TEST(Session, HeloSessionRejectsEsmtpParameters) {
  Harness h;
  h.start();
  h.talk("HELO client\r\n");
  EXPECT_TRUE(starts_with(h.talk("MAIL FROM:<a@b.example> SIZE=10\r\n"), "555 5.5.4"));
  EXPECT_EQ(h.talk("MAIL FROM:<a@b.example>\r\n"), "250 2.1.0 Ok\r\n");
}

TEST(Session, CommandsAreCaseInsensitive) {
  Harness h;
  h.start();
  EXPECT_TRUE(starts_with(h.talk("ehlo c\r\n"), "250-"));
  EXPECT_EQ(h.talk("mail from:<a@b.example>\r\n"), "250 2.1.0 Ok\r\n");
  EXPECT_EQ(h.talk("rcpt to:<bob@example.com>\r\n"), "250 2.1.5 Ok\r\n");
}

// ---- simple commands ----

TEST(Session, NoopRsetHelpVrfyQuit) {
  Harness h;
  h.start();
  EXPECT_EQ(h.talk("NOOP\r\n"), "250 2.0.0 Ok\r\n");
  EXPECT_EQ(h.talk("NOOP anything\r\n"), "250 2.0.0 Ok\r\n");
  EXPECT_EQ(h.talk("RSET\r\n"), "250 2.0.0 Ok\r\n");
  EXPECT_TRUE(starts_with(h.talk("RSET x\r\n"), "501 5.5.4"));
  EXPECT_TRUE(starts_with(h.talk("HELP\r\n"), "214 2.0.0 "));
  EXPECT_EQ(h.talk("VRFY alice\r\n"),
            "252 2.5.0 Cannot VRFY user, but will accept message and attempt delivery\r\n");
  EXPECT_TRUE(starts_with(h.talk("VRFY\r\n"), "501 5.5.4"));
  EXPECT_EQ(h.talk("EXPN staff\r\n"), "502 5.5.1 Error: command not implemented\r\n");
  EXPECT_EQ(h.talk("QUIT\r\n"), "221 2.0.0 Bye\r\n");
  EXPECT_TRUE(h.closed);
  EXPECT_EQ(h.session.phase(), Phase::kClosed);
}

TEST(Session, UnknownCommand) {
  Harness h;
  h.start();
  EXPECT_EQ(h.talk("FOO bar\r\n"), "500 5.5.2 Error: command not recognized\r\n");
  EXPECT_FALSE(h.closed);
}

TEST(Session, HttpRequestClosesTheConnection) {
  Harness h;
  h.start();
  EXPECT_TRUE(starts_with(h.talk("GET / HTTP/1.0\r\n"), "521 5.7.0"));
  EXPECT_TRUE(h.closed);
}

TEST(Session, NothingAfterClose) {
  Harness h;
  h.start();
  h.talk("QUIT\r\n");
  EXPECT_EQ(h.talk("NOOP\r\n"), "");
}

// ---- the mail transaction ----

TEST(Session, FullTransactionDeliversUnstuffedData) {
  Harness h;
  h.ready();
  EXPECT_EQ(h.talk("MAIL FROM:<carol@remote.example>\r\n"), "250 2.1.0 Ok\r\n");
  EXPECT_EQ(h.talk("RCPT TO:<alice@example.com>\r\n"), "250 2.1.5 Ok\r\n");
  EXPECT_EQ(h.talk("DATA\r\n"), "354 End data with <CR><LF>.<CR><LF>\r\n");
  EXPECT_EQ(h.talk("Subject: hi\r\n\r\n..leading dot\r\n.\r\n"), "250 2.0.0 Ok: queued as Q1\r\n");
  ASSERT_EQ(h.delivered.size(), 1u);
  EXPECT_EQ(h.delivered[0].data, "Subject: hi\r\n\r\n.leading dot\r\n");
  const Envelope& e = h.delivered[0].envelope;
  EXPECT_EQ(e.mail_from, "carol@remote.example");
  ASSERT_EQ(e.recipients.size(), 1u);
  EXPECT_EQ(e.recipients[0].address, "alice@example.com");
  EXPECT_TRUE(e.recipients[0].local);
  EXPECT_EQ(e.helo, "client.example.org");
  EXPECT_EQ(e.client_ip, "192.0.2.1");
  EXPECT_EQ(e.with_protocol(), "ESMTP");
  // A second transaction on the same session.
  EXPECT_EQ(h.talk("MAIL FROM:<>\r\n"), "250 2.1.0 Ok\r\n");
  EXPECT_EQ(h.talk("RCPT TO:<bob@example.com>\r\n"), "250 2.1.5 Ok\r\n");
  h.talk("DATA\r\n");
  EXPECT_EQ(h.talk("x\r\n.\r\n"), "250 2.0.0 Ok: queued as Q2\r\n");
  EXPECT_EQ(h.delivered[1].envelope.mail_from, "");
  h.talk("QUIT\r\n");
  EXPECT_EQ(h.session.summary(), "ehlo=1 mail=2 rcpt=2 data=2 quit=1");
}

TEST(Session, NoAcknowledgementBeforeDurableCommit) {
  Harness h;
  h.ready();
  h.auto_answer = false;
  h.talk("MAIL FROM:<a@b.example>\r\n");
  EXPECT_EQ(h.talk("RCPT TO:<alice@example.com>\r\n"), "");  // waiting for the lookup
  EXPECT_EQ(h.session.phase(), Phase::kWaiting);
  h.session.on_recipient_checked(RecipientStatus::kLocal);
  h.pump();
  EXPECT_EQ(h.take(), "250 2.1.5 Ok\r\n");
  h.talk("DATA\r\n");
  EXPECT_EQ(h.talk("body\r\n.\r\nQUIT\r\n"), "");  // nothing until the store commits
  ASSERT_EQ(h.delivered.size(), 1u);
  EXPECT_FALSE(h.closed);
  DeliveryResult r;
  r.queue_id = "4F2A";
  h.session.on_delivered(r);
  h.pump();
  EXPECT_EQ(h.take(), "250 2.0.0 Ok: queued as 4F2A\r\n221 2.0.0 Bye\r\n");
  EXPECT_TRUE(h.closed);
}

TEST(Session, DeliveryRejectAndTempFail) {
  Harness h;
  h.ready();
  h.talk("MAIL FROM:<a@b.example>\r\nRCPT TO:<alice@example.com>\r\nDATA\r\n");
  EXPECT_EQ(h.talk("REJECTME\r\n.\r\n"), "550 5.7.1 Message rejected: spam score 12.5\r\n");
  h.talk("MAIL FROM:<a@b.example>\r\nRCPT TO:<alice@example.com>\r\nDATA\r\n");
  EXPECT_TRUE(starts_with(h.talk("TEMPFAILME\r\n.\r\n"), "451 4.3.0 "));
  // After either, the transaction is over.
  EXPECT_EQ(h.talk("RCPT TO:<alice@example.com>\r\n"), "503 5.5.1 Error: need MAIL command\r\n");
}

TEST(Session, BadSequences) {
  Harness h;
  h.start();
  EXPECT_EQ(h.talk("MAIL FROM:<a@b.example>\r\n"), "503 5.5.1 Error: send HELO/EHLO first\r\n");
  h.talk("EHLO c\r\n");
  EXPECT_EQ(h.talk("RCPT TO:<alice@example.com>\r\n"), "503 5.5.1 Error: need MAIL command\r\n");
  EXPECT_EQ(h.talk("DATA\r\n"), "503 5.5.1 Error: need MAIL command\r\n");
  EXPECT_EQ(h.talk("MAIL FROM:<a@b.example>\r\n"), "250 2.1.0 Ok\r\n");
  EXPECT_EQ(h.talk("MAIL FROM:<a@b.example>\r\n"), "503 5.5.1 Error: nested MAIL command\r\n");
  EXPECT_EQ(h.talk("DATA\r\n"), "554 5.5.1 Error: no valid recipients\r\n");
  EXPECT_TRUE(starts_with(h.talk("DATA x\r\n"), "501 5.5.4"));
  // RSET ends the transaction.
  h.talk("RSET\r\n");
  EXPECT_EQ(h.talk("RCPT TO:<alice@example.com>\r\n"), "503 5.5.1 Error: need MAIL command\r\n");
  // EHLO ends it too (RFC 5321 §4.1.4).
  h.talk("MAIL FROM:<a@b.example>\r\n");
  h.talk("EHLO again\r\n");
  EXPECT_EQ(h.talk("RCPT TO:<alice@example.com>\r\n"), "503 5.5.1 Error: need MAIL command\r\n");
}

TEST(Session, MailSyntax) {
  Harness h;
  h.ready();
  EXPECT_TRUE(starts_with(h.talk("MAIL alice@example.com\r\n"), "501 5.5.4"));
  EXPECT_TRUE(starts_with(h.talk("MAIL FROM:alice@example.com\r\n"), "501 5.5.4"));
  EXPECT_TRUE(starts_with(h.talk("MAIL FROM:<alice@example.com\r\n"), "501 5.5.4"));
  EXPECT_TRUE(starts_with(h.talk("MAIL FROM:<not an address>\r\n"), "501 5.1.7"));
  EXPECT_TRUE(starts_with(h.talk("MAIL FROM:<a..b@example.com>\r\n"), "501 5.1.7"));
  EXPECT_TRUE(starts_with(h.talk("MAIL FROM:<a@-bad.example>\r\n"), "501 5.1.7"));
  EXPECT_TRUE(starts_with(h.talk("MAIL FROM:<a@b.example> FOO=1\r\n"), "555 5.5.4"));
  EXPECT_TRUE(starts_with(h.talk("MAIL FROM:<a@b.example>SIZE=1\r\n"), "501 5.5.4"));
  // A space after the colon and a source route are tolerated.
  EXPECT_EQ(h.talk("MAIL FROM: <@relay.example:a@b.example>\r\n"), "250 2.1.0 Ok\r\n");
}

TEST(Session, PathLengthLimit) {
  Harness h;
  h.ready();
  // RFC 5321 §4.5.3.1.3: 256 octets including the brackets.
  std::string local(64, 'a');
  std::string domain;
  while (domain.size() < kMaxPath) domain += "abcdefghij.";
  domain += "example";
  EXPECT_TRUE(starts_with(h.talk("MAIL FROM:<" + local + "@" + domain + ">\r\n"), "501 5.1.7"));
  // RFC 5321 §4.5.3.1.1: local part at most 64.
  EXPECT_TRUE(starts_with(h.talk("MAIL FROM:<" + std::string(kMaxLocalPart + 1, 'a') + "@b.example>\r\n"),
                          "501 5.1.7"));
  EXPECT_EQ(h.talk("MAIL FROM:<" + std::string(kMaxLocalPart, 'a') + "@b.example>\r\n"),
            "250 2.1.0 Ok\r\n");
}

TEST(Session, DomainAndOrcptLimits) {
  // RFC 5321 §4.5.3.1.2: a domain of at most 255 octets.
  std::string domain;
  while (domain.size() + 10 <= kMaxDomain) domain += "abcdefghi.";
  domain += "ex";
  ASSERT_LE(domain.size(), kMaxDomain);
  EXPECT_TRUE(valid_mailbox("a@" + domain, false));
  EXPECT_FALSE(valid_mailbox("a@" + domain + std::string(kMaxDomain + 1 - domain.size(), 'x'), false));
  // RFC 3461 §4.2: ORCPT at most 500 characters.
  Harness h;
  h.ready();
  h.talk("MAIL FROM:<a@b.example>\r\n");
  std::string orcpt = "rfc822;" + std::string(kMaxOrcpt - 7, 'o');
  EXPECT_EQ(h.talk("RCPT TO:<alice@example.com> ORCPT=" + orcpt + "\r\n"), "250 2.1.5 Ok\r\n");
  EXPECT_TRUE(starts_with(h.talk("RCPT TO:<bob@example.com> ORCPT=" + orcpt + "o\r\n"), "501 5.5.4"));
}

TEST(Session, ProgressMovesOnlyOnCompletedLines) {
  Harness h;
  h.ready();
  uint64_t p = h.session.progress();
  h.talk("NO");
  h.talk("O");
  EXPECT_EQ(h.session.progress(), p);  // a trickled command does not extend its deadline
  h.talk("P\r\n");
  EXPECT_EQ(h.session.progress(), p + 1);
}

TEST(Session, QuotedLocalPartAndAddressLiteral) {
  EXPECT_TRUE(valid_mailbox("\"john doe\"@example.com", false));
  EXPECT_TRUE(valid_mailbox("\"a\\\"b\"@example.com", false));
  EXPECT_TRUE(valid_mailbox("user@[192.0.2.1]", false));
  EXPECT_TRUE(valid_mailbox("user@[IPv6:2001:db8::1]", false));
  EXPECT_FALSE(valid_mailbox("user@", false));
  EXPECT_FALSE(valid_mailbox("@example.com", false));
  EXPECT_FALSE(valid_mailbox(".user@example.com", false));
  EXPECT_FALSE(valid_mailbox("us er@example.com", false));
  EXPECT_FALSE(valid_mailbox("j\xc3\xb6rg@example.com", false));
  EXPECT_TRUE(valid_mailbox("j\xc3\xb6rg@example.com", true));
}

TEST(Session, SizeDeclaredAtMail) {
  Options o = test_options();
  o.max_message_size = 1000;
  Harness h(ListenerPolicy::mx(true), o);
  h.ready();
  EXPECT_EQ(h.talk("MAIL FROM:<a@b.example> SIZE=1001\r\n"),
            "552 5.3.4 Message size exceeds fixed maximum message size\r\n");
  EXPECT_TRUE(starts_with(h.talk("MAIL FROM:<a@b.example> SIZE=x\r\n"), "501 5.5.4"));
  EXPECT_EQ(h.talk("MAIL FROM:<a@b.example> SIZE=1000\r\n"), "250 2.1.0 Ok\r\n");
}

TEST(Session, MailParametersKept) {
  Harness h;
  h.ready();
  EXPECT_EQ(h.talk("MAIL FROM:<a@b.example> BODY=8BITMIME SMTPUTF8 RET=HDRS ENVID=QQ+2Bx "
                   "AUTH=<>\r\n"),
            "250 2.1.0 Ok\r\n");
  EXPECT_EQ(h.talk("RCPT TO:<alice@example.com> NOTIFY=SUCCESS,FAILURE "
                   "ORCPT=rfc822;alice+40example.com\r\n"),
            "250 2.1.5 Ok\r\n");
  h.talk("DATA\r\n");
  h.talk("x\r\n.\r\n");
  ASSERT_EQ(h.delivered.size(), 1u);
  const Envelope& e = h.delivered[0].envelope;
  EXPECT_EQ(e.body, "8BITMIME");
  EXPECT_TRUE(e.smtputf8);
  EXPECT_EQ(e.ret, "HDRS");
  EXPECT_EQ(e.envid, "QQ+2Bx");
  const Recipient& r = e.recipients[0];
  EXPECT_TRUE(r.notify_success);
  EXPECT_TRUE(r.notify_failure);
  EXPECT_FALSE(r.notify_delay);
  EXPECT_FALSE(r.notify_never);
  EXPECT_EQ(r.orcpt, "rfc822;alice+40example.com");
}

TEST(Session, DsnParameterErrors) {
  Harness h;
  h.ready();
  EXPECT_TRUE(starts_with(h.talk("MAIL FROM:<a@b.example> RET=ALL\r\n"), "501 5.5.4"));
  EXPECT_TRUE(starts_with(h.talk("MAIL FROM:<a@b.example> ENVID=" + std::string(kMaxEnvid + 1, 'x') + "\r\n"),
                          "501 5.5.4"));
  EXPECT_TRUE(starts_with(h.talk("MAIL FROM:<a@b.example> BODY=BINARYMIME\r\n"), "501 5.5.4"));
  EXPECT_TRUE(starts_with(h.talk("MAIL FROM:<a@b.example> SIZE=1 SIZE=2\r\n"), "501 5.5.4"));
  h.talk("MAIL FROM:<a@b.example>\r\n");
  EXPECT_TRUE(starts_with(h.talk("RCPT TO:<alice@example.com> NOTIFY=NEVER,SUCCESS\r\n"), "501 5.5.4"));
  EXPECT_TRUE(starts_with(h.talk("RCPT TO:<alice@example.com> NOTIFY=SOMETIMES\r\n"), "501 5.5.4"));
  EXPECT_TRUE(starts_with(h.talk("RCPT TO:<alice@example.com> ORCPT=noseparator\r\n"), "501 5.5.4"));
  EXPECT_TRUE(starts_with(h.talk("RCPT TO:<alice@example.com> XFOO=1\r\n"), "555 5.5.4"));
  EXPECT_EQ(h.talk("RCPT TO:<alice@example.com> NOTIFY=NEVER\r\n"), "250 2.1.5 Ok\r\n");
  EXPECT_TRUE(valid_xtext("abc+2B"));
  EXPECT_FALSE(valid_xtext("abc+2"));
  EXPECT_FALSE(valid_xtext("a=b"));
  EXPECT_FALSE(valid_xtext("a+zz"));
}

TEST(Session, NonAsciiAddressNeedsSmtputf8) {
  Harness h;
  h.ready();
  EXPECT_TRUE(starts_with(h.talk("MAIL FROM:<j\xc3\xb6rg@b.example>\r\n"), "553 5.6.7"));
  EXPECT_EQ(h.talk("MAIL FROM:<j\xc3\xb6rg@b.example> SMTPUTF8\r\n"), "250 2.1.0 Ok\r\n");
}

// ---- RCPT policy ----

TEST(Session, RecipientPolicy) {
  Harness h;
  h.ready();
  h.talk("MAIL FROM:<a@b.example>\r\n");
  EXPECT_EQ(h.talk("RCPT TO:<nobody@example.com>\r\n"),
            "550 5.1.1 <nobody@example.com>: Recipient address rejected: User unknown\r\n");
  EXPECT_EQ(h.talk("RCPT TO:<someone@elsewhere.example>\r\n"),
            "554 5.7.1 <someone@elsewhere.example>: Relay access denied\r\n");
  EXPECT_TRUE(starts_with(h.talk("RCPT TO:<disabled@example.com>\r\n"), "550 5.2.1"));
  EXPECT_TRUE(starts_with(h.talk("RCPT TO:<full@example.com>\r\n"), "452 4.2.2"));
  EXPECT_TRUE(starts_with(h.talk("RCPT TO:<tempfail@example.com>\r\n"), "451 4.3.0"));
  EXPECT_TRUE(starts_with(h.talk("RCPT TO:<>\r\n"), "501 5.1.3"));
  EXPECT_TRUE(starts_with(h.talk("RCPT TO:<bad address>\r\n"), "501 5.1.3"));
  // RFC 5321 §4.1.1.3: <postmaster> without a domain.
  EXPECT_EQ(h.talk("RCPT TO:<Postmaster>\r\n"), "250 2.1.5 Ok\r\n");
  EXPECT_EQ(h.checked.back(), "postmaster");
}

TEST(Session, AuthenticatedClientMayRelay) {
  Harness h;
  h.ready(true, true);
  EXPECT_EQ(h.talk("MAIL FROM:<alice@example.com>\r\n"), "250 2.1.0 Ok\r\n");
  EXPECT_EQ(h.talk("RCPT TO:<someone@elsewhere.example>\r\n"), "250 2.1.5 Ok\r\n");
  h.talk("DATA\r\n");
  h.talk("hi\r\n.\r\n");
  ASSERT_EQ(h.delivered.size(), 1u);
  EXPECT_FALSE(h.delivered[0].envelope.recipients[0].local);
  EXPECT_EQ(h.delivered[0].envelope.auth_user, "alice@example.com");
  EXPECT_EQ(h.delivered[0].envelope.with_protocol(), "ESMTPSA");
}

TEST(Session, AuthenticatedSenderMustOwnAddress) {
  Harness h;
  h.ready(true, true);
  EXPECT_EQ(h.talk("MAIL FROM:<ceo@example.com>\r\n"),
            "553 5.7.1 <ceo@example.com>: Sender address rejected: not owned by user "
            "alice@example.com\r\n");
  EXPECT_EQ(h.talk("MAIL FROM:<sales@example.com>\r\n"), "250 2.1.0 Ok\r\n");
}

TEST(Session, SenderLoginCheckCanBeOff) {
  Options o = test_options();
  o.enforce_sender_login = false;
  Harness h(ListenerPolicy::mx(true), o);
  h.ready(true, true);
  EXPECT_EQ(h.talk("MAIL FROM:<ceo@example.com>\r\n"), "250 2.1.0 Ok\r\n");
}

TEST(Session, DuplicateRecipientKeptOnce) {
  Harness h;
  h.ready();
  h.talk("MAIL FROM:<a@b.example>\r\n");
  h.talk("RCPT TO:<alice@example.com>\r\n");
  EXPECT_EQ(h.talk("RCPT TO:<alice@example.com>\r\n"), "250 2.1.5 Ok\r\n");
  h.talk("DATA\r\n");
  h.talk("x\r\n.\r\n");
  EXPECT_EQ(h.delivered.at(0).envelope.recipients.size(), 1u);
}

TEST(Session, RecipientLimit) {
  Options o = test_options();
  o.max_recipients = 2;
  Harness h(ListenerPolicy::mx(true), o);
  h.ready();
  h.talk("MAIL FROM:<a@b.example>\r\n");
  h.talk("RCPT TO:<alice@example.com>\r\n");
  h.talk("RCPT TO:<bob@example.com>\r\n");
  EXPECT_EQ(h.talk("RCPT TO:<postmaster>\r\n"), "452 4.5.3 Error: too many recipients\r\n");
  EXPECT_EQ(kDefaultMaxRecipients, kMinRecipientsRfc);  // RFC 5321 §4.5.3.1.8 minimum
}

TEST(Session, MillionRecipientsEndInErrorLimit) {
  Options o = test_options();
  o.max_recipients = 3;
  Harness h(ListenerPolicy::mx(true), o);
  h.ready();
  h.talk("MAIL FROM:<a@b.example>\r\n");
  h.talk("RCPT TO:<alice@example.com>\r\n");
  h.talk("RCPT TO:<bob@example.com>\r\n");
  h.talk("RCPT TO:<postmaster>\r\n");
  std::string all;
  for (int i = 0; i < 1000 && !h.closed; ++i)
    all += h.talk("RCPT TO:<user" + std::to_string(i) + "@example.com>\r\n");
  EXPECT_TRUE(h.closed);
  EXPECT_NE(all.find("421 4.7.0 mx.example.com Error: too many errors\r\n"), std::string::npos);
  EXPECT_EQ(h.session.errors(), o.max_errors);
  EXPECT_NE(all.find("452 4.5.3 Error: too many recipients\r\n"), std::string::npos);
  EXPECT_EQ(h.checked.size(), 3u);  // the store is not asked once the limit is reached
}

// ---- DATA content: size, lines, smuggling ----

struct DataCase {
  Harness h;
  explicit DataCase(Options o = test_options()) : h(ListenerPolicy::mx(true), std::move(o)) {
    h.ready();
    h.talk("MAIL FROM:<a@b.example>\r\nRCPT TO:<alice@example.com>\r\nDATA\r\n");
  }
};

TEST(Session, SizeLimitCheckedWhileStreaming) {
  Options o = test_options();
  o.max_message_size = 10000;
  DataCase d(o);
  std::string line(98, 'x');
  line += "\r\n";
  // 200 lines of 100 bytes = 20000 bytes: over the limit after 100 lines.
  for (int i = 0; i < 200; ++i) EXPECT_EQ(d.h.talk(line), "");
  EXPECT_EQ(d.h.talk(".\r\n"), "552 5.3.4 Message size exceeds fixed maximum message size\r\n");
  EXPECT_TRUE(d.h.delivered.empty());
  EXPECT_FALSE(d.h.closed);
  // Exactly at the limit is fine.
  d.h.talk("MAIL FROM:<a@b.example>\r\nRCPT TO:<alice@example.com>\r\nDATA\r\n");
  for (int i = 0; i < 100; ++i) d.h.talk(line);
  EXPECT_EQ(d.h.talk(".\r\n"), "250 2.0.0 Ok: queued as Q1\r\n");
  EXPECT_EQ(d.h.delivered.at(0).data.size(), 10000u);
}

TEST(Session, SizeLimitDoesNotBufferBeyondLimit) {
  Options o = test_options();
  o.max_message_size = 1000;
  DataCase d(o);
  std::string big;
  for (int i = 0; i < 10000; ++i) big += "0123456789abcdef\r\n";
  d.h.talk(big);
  EXPECT_LT(d.h.session.backlog(), 2 * kMaxTextLine);
  EXPECT_TRUE(starts_with(d.h.talk(".\r\n"), "552 5.3.4"));
}

TEST(Session, LongTextLineFailsTransactionOnce) {
  DataCase d;
  EXPECT_EQ(d.h.talk(std::string(kMaxTextLine - 2, 'a') + "\r\n"), "");  // 1000 with CRLF: ok
  EXPECT_EQ(d.h.talk(std::string(kMaxTextLine - 1, 'b') + "\r\nmore\r\n"), "");
  EXPECT_EQ(d.h.talk(".\r\n"), "554 5.6.0 Message line exceeds 1000 octets\r\n");
  EXPECT_TRUE(d.h.delivered.empty());
}

TEST(Session, TenMegabyteLineDoesNotGrowBuffer) {
  DataCase d;
  std::string chunk(64 * 1024, 'z');
  for (int i = 0; i < 160; ++i) {
    EXPECT_EQ(d.h.talk(chunk), "");
    EXPECT_LE(d.h.session.backlog(), kMaxTextLine + 1);
  }
  EXPECT_EQ(d.h.talk("\r\n.\r\n"), "554 5.6.0 Message line exceeds 1000 octets\r\n");
}

TEST(Session, LineEndingSplitAcrossReads) {
  DataCase d;
  EXPECT_EQ(d.h.talk("hello\r"), "");
  EXPECT_EQ(d.h.talk("\nworld\r\n.\r"), "");
  EXPECT_EQ(d.h.talk("\n"), "250 2.0.0 Ok: queued as Q1\r\n");
  EXPECT_EQ(d.h.delivered.at(0).data, "hello\r\nworld\r\n");
}

TEST(Session, SmugglingBareLfDotBareLfDoesNotEndData) {
  DataCase d;
  // "\n.\n" is not an end of data; the "MAIL FROM" after it is message text.
  EXPECT_EQ(d.h.talk("text\n.\nMAIL FROM:<evil@x.example>\r\nRCPT TO:<bob@example.com>\r\n"), "");
  EXPECT_TRUE(d.h.delivered.empty());
  EXPECT_EQ(d.h.talk(".\r\n"), "550 5.6.0 Message contains bare CR or LF characters\r\n");
  EXPECT_EQ(d.h.session.summary(), "ehlo=1 mail=1 rcpt=1 data=0/1");
}

TEST(Session, SmugglingBareCrDotBareCrDoesNotEndData) {
  DataCase d;
  EXPECT_EQ(d.h.talk("text\r.\rMAIL FROM:<evil@x.example>\r\n"), "");
  EXPECT_EQ(d.h.talk(".\r\n"), "550 5.6.0 Message contains bare CR or LF characters\r\n");
}

TEST(Session, SmugglingCrlfDotBareLfDoesNotEndData) {
  DataCase d;
  EXPECT_EQ(d.h.talk("text\r\n.\nMAIL FROM:<evil@x.example>\r\n"), "");
  EXPECT_EQ(d.h.talk("RCPT TO:<bob@example.com>\r\nDATA\r\n"), "");
  EXPECT_EQ(d.h.talk(".\r\n"), "550 5.6.0 Message contains bare CR or LF characters\r\n");
  EXPECT_TRUE(d.h.delivered.empty());
}

TEST(Session, SmugglingBareLfDotCrlfDoesNotEndData) {
  DataCase d;
  EXPECT_EQ(d.h.talk("text\n.\r\nMAIL FROM:<evil@x.example>\r\n"), "");
  EXPECT_TRUE(d.h.delivered.empty());
  EXPECT_EQ(d.h.talk(".\r\n"), "550 5.6.0 Message contains bare CR or LF characters\r\n");
}

TEST(Session, BareNewlinesNormalisedWhenConfigured) {
  Options o = test_options();
  o.normalize_bare_newlines = true;
  DataCase d(o);
  EXPECT_EQ(d.h.talk("a\nb\rc\r\n.\r\n"), "250 2.0.0 Ok: queued as Q1\r\n");
  EXPECT_EQ(d.h.delivered.at(0).data, "a\r\nb\r\nc\r\n");
}

TEST(Session, DotStuffingOnlyAtLineStart) {
  DataCase d;
  EXPECT_EQ(d.h.talk("..\r\n.x\r\na.b\r\n...\r\n.\r\n"), "250 2.0.0 Ok: queued as Q1\r\n");
  EXPECT_EQ(d.h.delivered.at(0).data, ".\r\nx\r\na.b\r\n..\r\n");
}

TEST(Session, EmptyMessage) {
  DataCase d;
  EXPECT_EQ(d.h.talk(".\r\n"), "250 2.0.0 Ok: queued as Q1\r\n");
  EXPECT_EQ(d.h.delivered.at(0).data, "");
}

// ---- command lines ----

TEST(Session, OverlongCommandLineResyncsAtCrlf) {
  Harness h;
  h.ready();
  std::string line = "NOOP " + std::string(kMaxCommandLine, 'x') + "\r\n";
  EXPECT_EQ(h.talk(line), "500 5.5.2 Error: line too long\r\n");
  EXPECT_EQ(h.talk("NOOP\r\n"), "250 2.0.0 Ok\r\n");
  // Exactly 512 with CRLF is accepted.
  std::string max = "NOOP " + std::string(kMaxCommandLine - 7, 'x') + "\r\n";
  ASSERT_EQ(max.size(), kMaxCommandLine);
  EXPECT_EQ(h.talk(max), "250 2.0.0 Ok\r\n");
  EXPECT_EQ(h.talk("NOOP " + std::string(kMaxCommandLine - 6, 'x') + "\r\n"),
            "500 5.5.2 Error: line too long\r\n");
}

TEST(Session, MailAndRcptLinesMayCarryLongParameters) {
  Harness h;
  h.ready();
  std::string envid(kMaxEnvid, 'e');
  std::string auth(400, 'a');
  std::string mail = "MAIL FROM:<a@b.example> ENVID=" + envid + " AUTH=" + auth + "\r\n";
  ASSERT_GT(mail.size(), kMaxCommandLine);
  EXPECT_EQ(h.talk(mail), "250 2.1.0 Ok\r\n");
  std::string rcpt = "RCPT TO:<alice@example.com> " + std::string(kMaxMailRcptLine, 'x') + "\r\n";
  EXPECT_EQ(h.talk(rcpt), "500 5.5.2 Error: line too long\r\n");
}

TEST(Session, OverlongLineArrivingInPiecesIsSkipped) {
  Harness h;
  h.ready();
  for (int i = 0; i < 100; ++i) {
    EXPECT_EQ(h.talk(std::string(1000, 'y')), "");
    EXPECT_LE(h.session.backlog(), kMaxCommandLine);
  }
  EXPECT_EQ(h.talk("\r\nNOOP\r\n"), "500 5.5.2 Error: line too long\r\n250 2.0.0 Ok\r\n");
}

TEST(Session, BareLfNeverEndsACommand) {
  Harness h;
  h.ready();
  EXPECT_EQ(h.talk("NOOP\n"), "");  // waits for CRLF
  EXPECT_EQ(h.talk("QUIT\r\n"), "500 5.5.2 Error: bare CR, LF or NUL in command line\r\n");
  EXPECT_FALSE(h.closed);
  EXPECT_EQ(h.talk("RSET\rQUIT\r\n"), "500 5.5.2 Error: bare CR, LF or NUL in command line\r\n");
  EXPECT_FALSE(h.closed);
}

// ---- pipelining ----

TEST(Session, PipelinedTransaction) {
  Harness h;
  h.ready();
  std::string out = h.talk(
      "MAIL FROM:<a@b.example>\r\nRCPT TO:<alice@example.com>\r\nRCPT TO:<nobody@example.com>\r\n"
      "RCPT TO:<bob@example.com>\r\nDATA\r\n");
  EXPECT_EQ(out,
            "250 2.1.0 Ok\r\n250 2.1.5 Ok\r\n"
            "550 5.1.1 <nobody@example.com>: Recipient address rejected: User unknown\r\n"
            "250 2.1.5 Ok\r\n354 End data with <CR><LF>.<CR><LF>\r\n");
  EXPECT_EQ(h.talk("x\r\n.\r\nQUIT\r\n"), "250 2.0.0 Ok: queued as Q1\r\n221 2.0.0 Bye\r\n");
  EXPECT_EQ(h.delivered.at(0).envelope.recipients.size(), 2u);
  EXPECT_EQ(h.session.summary(), "ehlo=1 mail=1 rcpt=2/3 data=1 quit=1");
}

TEST(Session, DataPipelinedAfterDataCommandIsRefused) {
  Harness h;
  h.ready();
  std::string out = h.talk("MAIL FROM:<a@b.example>\r\nRCPT TO:<alice@example.com>\r\nDATA\r\nbody\r\n.\r\n");
  EXPECT_NE(out.find("554 5.5.0 Error: SMTP protocol synchronization\r\n"), std::string::npos);
  EXPECT_TRUE(h.closed);
  EXPECT_TRUE(h.delivered.empty());
}

TEST(Session, DataCommandFailingWithPipelinedBodyDoesNotRunBodyAsCommands) {
  Harness h;
  h.ready();
  // No recipient: DATA would fail, and "RCPT ..." below must not be run as a command.
  std::string out = h.talk("MAIL FROM:<a@b.example>\r\nDATA\r\nRCPT TO:<bob@example.com>\r\n");
  EXPECT_TRUE(h.checked.empty());
  EXPECT_TRUE(h.closed);
  EXPECT_NE(out.find("554 5.5.0"), std::string::npos);
}

TEST(Session, CommandsAfterStarttlsAreRefused) {
  Harness h;
  h.start();
  h.talk("EHLO c\r\n");
  std::string out = h.talk("STARTTLS\r\nMAIL FROM:<a@b.example>\r\n");
  EXPECT_EQ(out, "554 5.5.0 Error: SMTP protocol synchronization\r\n");
  EXPECT_EQ(h.tls_starts, 0);
  EXPECT_TRUE(h.closed);
}

TEST(Session, PipeliningAfterHeloIsRefused) {
  Harness h;
  h.start();
  h.talk("HELO c\r\n");
  EXPECT_TRUE(starts_with(h.talk("MAIL FROM:<a@b.example>\r\nRCPT TO:<alice@example.com>\r\n"),
                          "554 5.5.0"));
  EXPECT_TRUE(h.closed);
}

TEST(Session, PipelinedEhloIsRefused) {
  Harness h;
  h.start();
  EXPECT_TRUE(starts_with(h.talk("EHLO c\r\nMAIL FROM:<a@b.example>\r\n"), "554 5.5.0"));
  EXPECT_TRUE(h.closed);
}

TEST(Session, CommandsAfterQuitAreIgnored) {
  Harness h;
  h.ready();
  EXPECT_EQ(h.talk("QUIT\r\nMAIL FROM:<a@b.example>\r\n"), "221 2.0.0 Bye\r\n");
  EXPECT_TRUE(h.closed);
  EXPECT_TRUE(h.checked.empty());
}

TEST(Session, BacklogHeldWhileActionPending) {
  Harness h;
  h.ready();
  h.auto_answer = false;
  h.talk("MAIL FROM:<a@b.example>\r\nRCPT TO:<alice@example.com>\r\nRCPT TO:<bob@example.com>\r\n");
  EXPECT_EQ(h.checked.size(), 1u);
  EXPECT_GT(h.session.backlog(), 0u);
  h.session.on_recipient_checked(RecipientStatus::kLocal);
  h.pump();
  EXPECT_EQ(h.checked.size(), 2u);
  // An answer nobody asked for is ignored.
  h.session.on_delivered(DeliveryResult{});
  h.session.on_recipient_checked(RecipientStatus::kLocal);
  h.session.on_recipient_checked(RecipientStatus::kLocal);
  h.pump();
  EXPECT_EQ(h.take(), "250 2.1.5 Ok\r\n250 2.1.5 Ok\r\n");
}

// ---- BDAT ----

TEST(Session, BdatChunks) {
  Harness h;
  h.ready();
  h.talk("MAIL FROM:<a@b.example>\r\nRCPT TO:<alice@example.com>\r\n");
  EXPECT_EQ(h.talk("BDAT 7\r\nhello\r\n"), "250 2.0.0 7 octets received\r\n");
  EXPECT_EQ(h.talk("BDAT 9 LAST\r\nworld\r\n\r\n"), "250 2.0.0 Ok: queued as Q1\r\n");
  ASSERT_EQ(h.delivered.size(), 1u);
  EXPECT_EQ(h.delivered[0].data, "hello\r\nworld\r\n\r\n");
  EXPECT_TRUE(h.delivered[0].envelope.chunking);
}

TEST(Session, BdatPipelinedWithDotLinesIsNotUnstuffed) {
  Harness h;
  h.ready();
  std::string out = h.talk(
      "MAIL FROM:<a@b.example>\r\nRCPT TO:<alice@example.com>\r\nBDAT 6\r\n.\r\n.\r\nBDAT 0 LAST\r\nQUIT\r\n");
  EXPECT_EQ(out,
            "250 2.1.0 Ok\r\n250 2.1.5 Ok\r\n250 2.0.0 6 octets received\r\n"
            "250 2.0.0 Ok: queued as Q1\r\n221 2.0.0 Bye\r\n");
  EXPECT_EQ(h.delivered.at(0).data, ".\r\n.\r\n");
}

TEST(Session, BdatChunkSplitAcrossReads) {
  Harness h;
  h.ready();
  h.talk("MAIL FROM:<a@b.example>\r\nRCPT TO:<alice@example.com>\r\n");
  EXPECT_EQ(h.talk("BDAT 12 LAST\r\nab"), "");
  EXPECT_EQ(h.session.phase(), Phase::kBdat);
  EXPECT_EQ(h.talk("cd\r\nQUIT\r\n"), "250 2.0.0 Ok: queued as Q1\r\n");
  EXPECT_EQ(h.delivered.at(0).data, "abcd\r\nQUIT\r\n");
}

TEST(Session, BdatWithoutTransactionStillConsumesChunk) {
  Harness h;
  h.ready();
  // The chunk looks like commands; it must be read as data and discarded.
  std::string chunk = "RCPT TO:<bob@example.com>\r\nXXXX";
  EXPECT_EQ(h.talk("BDAT " + std::to_string(chunk.size()) + "\r\n" + chunk),
            "503 5.5.1 Error: need MAIL command\r\n");
  EXPECT_TRUE(h.checked.empty());
  EXPECT_EQ(h.talk("NOOP\r\n"), "250 2.0.0 Ok\r\n");
}

TEST(Session, BdatBadSizeCloses) {
  Harness h;
  h.ready();
  h.talk("MAIL FROM:<a@b.example>\r\nRCPT TO:<alice@example.com>\r\n");
  EXPECT_TRUE(starts_with(h.talk("BDAT many\r\nstuff"), "501 5.5.4"));
  EXPECT_TRUE(h.closed);
  Harness h2;
  h2.ready();
  EXPECT_TRUE(starts_with(h2.talk("BDAT 5 NOTLAST\r\n"), "501 5.5.4"));
  EXPECT_TRUE(h2.closed);
}

TEST(Session, BdatSizeLimitFailsTransaction) {
  Options o = test_options();
  o.max_message_size = 10;
  Harness h(ListenerPolicy::mx(true), o);
  h.ready();
  h.talk("MAIL FROM:<a@b.example>\r\nRCPT TO:<alice@example.com>\r\n");
  EXPECT_EQ(h.talk("BDAT 20\r\n0123456789abcdefghij"),
            "552 5.3.4 Message size exceeds fixed maximum message size\r\n");
  // The transaction is gone; a further chunk is consumed and refused.
  EXPECT_EQ(h.talk("BDAT 3 LAST\r\nabc"), "503 5.5.1 Error: need MAIL command\r\n");
  EXPECT_TRUE(h.delivered.empty());
}

TEST(Session, DataAfterBdatIsBadSequence) {
  Harness h;
  h.ready();
  h.talk("MAIL FROM:<a@b.example>\r\nRCPT TO:<alice@example.com>\r\n");
  h.talk("BDAT 3\r\nabc");
  EXPECT_EQ(h.talk("DATA\r\n"), "503 5.5.1 Error: DATA after BDAT\r\n");
  EXPECT_EQ(h.talk("RCPT TO:<bob@example.com>\r\n"), "503 5.5.1 Error: RCPT after BDAT\r\n");
}

TEST(Session, BdatBareLfRefused) {
  Harness h;
  h.ready();
  h.talk("MAIL FROM:<a@b.example>\r\nRCPT TO:<alice@example.com>\r\n");
  EXPECT_EQ(h.talk("BDAT 4 LAST\r\na\nb\r"),
            "550 5.6.0 Message contains bare CR or LF characters\r\n");
}

// ---- STARTTLS ----

TEST(Session, StarttlsResetsSessionState) {
  Harness h;
  h.start();
  h.talk("EHLO c\r\n");
  h.talk("STARTTLS\r\n");
  EXPECT_TRUE(h.session.tls_active());
  // RFC 3207 §4.2: EHLO again first.
  EXPECT_EQ(h.talk("MAIL FROM:<a@b.example>\r\n"), "503 5.5.1 Error: send HELO/EHLO first\r\n");
  h.talk("EHLO c\r\n");
  EXPECT_EQ(h.talk("STARTTLS\r\n"), "503 5.5.1 Error: TLS already active\r\n");
}

TEST(Session, StarttlsUnavailableOrFailed) {
  Harness h(ListenerPolicy::mx(false));
  h.ready();
  EXPECT_EQ(h.talk("STARTTLS\r\n"), "502 5.5.1 Error: command not implemented\r\n");
  Harness h2;
  h2.tls_ok = false;
  h2.ready();
  EXPECT_EQ(h2.talk("STARTTLS\r\n"), "220 2.0.0 Ready to start TLS\r\n");
  EXPECT_TRUE(h2.closed);
}

TEST(Session, SubmissionRequiresTlsThenAuth) {
  Harness h(ListenerPolicy::submission());
  h.start();
  h.talk("EHLO c\r\n");
  EXPECT_EQ(h.talk("MAIL FROM:<alice@example.com>\r\n"),
            "530 5.7.0 Must issue a STARTTLS command first\r\n");
  EXPECT_EQ(h.talk("AUTH PLAIN " + plain("alice@example.com", "secret") + "\r\n"),
            "530 5.7.0 Must issue a STARTTLS command first\r\n");
  h.talk("STARTTLS\r\n");
  h.talk("EHLO c\r\n");
  EXPECT_EQ(h.talk("MAIL FROM:<alice@example.com>\r\n"), "530 5.7.0 Authentication required\r\n");
  EXPECT_EQ(h.talk("AUTH PLAIN " + plain("alice@example.com", "secret") + "\r\n"),
            "235 2.7.0 Authentication successful\r\n");
  EXPECT_EQ(h.talk("MAIL FROM:<alice@example.com>\r\n"), "250 2.1.0 Ok\r\n");
}

TEST(Session, SubmissionsHasTlsFromTheStart) {
  Harness h(ListenerPolicy::submissions());
  h.start();
  std::string out = h.talk("EHLO c\r\n");
  EXPECT_EQ(out.find("STARTTLS"), std::string::npos);
  EXPECT_NE(out.find("AUTH PLAIN LOGIN"), std::string::npos);
  EXPECT_TRUE(starts_with(h.talk("AUTH PLAIN " + plain("alice@example.com", "secret") + "\r\n"), "235"));
}

// ---- AUTH ----

TEST(Session, AuthRefusedWithoutTls) {
  Harness h;
  h.ready();
  EXPECT_EQ(h.talk("AUTH PLAIN " + plain("alice@example.com", "secret") + "\r\n"),
            "538 5.7.11 Encryption required for requested authentication mechanism\r\n");
  EXPECT_TRUE(h.auths.empty());
}

TEST(Session, AuthPlaintextAllowedByOption) {
  Options o = test_options();
  o.allow_plaintext_auth = true;
  Harness h(ListenerPolicy::mx(false), o);
  h.start();
  EXPECT_NE(h.talk("EHLO c\r\n").find("AUTH PLAIN LOGIN"), std::string::npos);
  EXPECT_TRUE(starts_with(h.talk("AUTH PLAIN " + plain("alice@example.com", "secret") + "\r\n"), "235"));
}

TEST(Session, AuthPlainWithoutInitialResponse) {
  Harness h;
  h.ready(true);
  EXPECT_EQ(h.talk("AUTH PLAIN\r\n"), "334 \r\n");
  EXPECT_EQ(h.talk(plain("alice@example.com", "secret") + "\r\n"),
            "235 2.7.0 Authentication successful\r\n");
  EXPECT_EQ(h.session.auth_user(), "alice@example.com");
  ASSERT_EQ(h.auths.size(), 1u);
  EXPECT_EQ(h.auths[0].mechanism, "PLAIN");
  EXPECT_EQ(h.auths[0].password, "secret");
  EXPECT_EQ(h.talk("AUTH PLAIN\r\n"), "503 5.5.1 Error: already authenticated\r\n");
}

TEST(Session, AuthLoginBothForms) {
  Harness h;
  h.ready(true);
  EXPECT_EQ(h.talk("AUTH LOGIN\r\n"), "334 VXNlcm5hbWU6\r\n");
  EXPECT_EQ(h.talk(base64_encode("alice@example.com") + "\r\n"), "334 UGFzc3dvcmQ6\r\n");
  EXPECT_EQ(h.talk(base64_encode("secret") + "\r\n"), "235 2.7.0 Authentication successful\r\n");
  Harness h2;
  h2.ready(true);
  EXPECT_EQ(h2.talk("AUTH LOGIN " + base64_encode("alice@example.com") + "\r\n"), "334 UGFzc3dvcmQ6\r\n");
  EXPECT_EQ(h2.talk(base64_encode("secret") + "\r\n"), "235 2.7.0 Authentication successful\r\n");
  EXPECT_EQ(h2.auths.at(0).mechanism, "LOGIN");
}

TEST(Session, AuthCancelAndGarbage) {
  Harness h;
  h.ready(true);
  h.talk("AUTH LOGIN\r\n");
  EXPECT_EQ(h.talk("*\r\n"), "501 5.0.0 Authentication cancelled\r\n");
  h.talk("AUTH PLAIN\r\n");
  EXPECT_EQ(h.talk("not base64!\r\n"), "501 5.5.2 Cannot decode AUTH response\r\n");
  EXPECT_EQ(h.talk("AUTH PLAIN " + base64_encode("no-nuls") + "\r\n"),
            "501 5.5.2 Invalid PLAIN response\r\n");
  EXPECT_EQ(h.talk("AUTH CRAM-MD5\r\n"), "504 5.5.4 Unsupported authentication mechanism\r\n");
  EXPECT_TRUE(starts_with(h.talk("AUTH\r\n"), "501 5.5.4"));
  EXPECT_TRUE(h.auths.empty());
  // Back in command mode.
  EXPECT_EQ(h.talk("NOOP\r\n"), "250 2.0.0 Ok\r\n");
}

TEST(Session, AuthEmptyInitialResponse) {
  Harness h;
  h.ready(true);
  EXPECT_EQ(h.talk("AUTH PLAIN =\r\n"), "501 5.5.2 Invalid PLAIN response\r\n");
}

TEST(Session, AuthFailuresAreDelayedAndLimited) {
  Options o = test_options();
  o.auth_failure_delay = std::chrono::milliseconds(1500);
  Harness h(ListenerPolicy::mx(true), o);
  h.ready(true);
  h.delays.clear();
  EXPECT_EQ(h.talk("AUTH PLAIN " + plain("alice@example.com", "wrong") + "\r\n"),
            "535 5.7.8 Authentication credentials invalid\r\n");
  EXPECT_EQ(h.delays.back(), std::chrono::milliseconds(1500));
  // A locked account answers exactly like a wrong password.
  EXPECT_EQ(h.talk("AUTH PLAIN " + plain("locked@example.com", "x") + "\r\n"),
            "535 5.7.8 Authentication credentials invalid\r\n");
  EXPECT_TRUE(starts_with(h.talk("AUTH PLAIN " + plain("alice@example.com", "again") + "\r\n"),
                          "421 4.7.0"));
  EXPECT_TRUE(h.closed);
  EXPECT_EQ(h.auths.size(), static_cast<size_t>(kDefaultMaxAuthFailures));
}

// Per-domain policy (store/settings.h tls_required, auth_mechanisms): the backend decides
// after the exchange (the identity is only known then); the session maps its answer.
TEST(Session, AuthCarriesWhetherTlsIsActive) {
  Options o = test_options();
  o.allow_plaintext_auth = true;
  Harness clear(ListenerPolicy::mx(true), o);
  clear.ready(false);
  clear.talk("AUTH PLAIN " + plain("alice@example.com", "secret") + "\r\n");
  Harness tls(ListenerPolicy::mx(true), o);
  tls.ready(true);
  tls.talk("AUTH LOGIN " + base64_encode("alice@example.com") + "\r\n");
  tls.talk(base64_encode("secret") + "\r\n");
  ASSERT_EQ(clear.auths.size(), 1u);
  ASSERT_EQ(tls.auths.size(), 1u);
  EXPECT_FALSE(clear.auths[0].tls);
  EXPECT_TRUE(tls.auths[0].tls);
}

TEST(Session, DomainRequiringTlsGets538AfterTheExchange) {
  Options o = test_options();
  o.allow_plaintext_auth = true;  // the global config allows clear text; the domain does not
  o.auth_failure_delay = std::chrono::milliseconds(700);
  Harness h(ListenerPolicy::mx(true), o);
  h.ready(false);
  h.delays.clear();
  // RFC 4954 §6: 538 5.7.11, delayed like any failure.
  EXPECT_EQ(h.talk("AUTH PLAIN " + plain("bob@tls.example", "secret") + "\r\n"),
            "538 5.7.11 Encryption required for requested authentication mechanism\r\n");
  EXPECT_EQ(h.delays.back(), std::chrono::milliseconds(700));
  EXPECT_TRUE(h.session.auth_user().empty());
  // Another domain's user still logs in in clear.
  EXPECT_EQ(h.talk("AUTH PLAIN " + plain("alice@example.com", "secret") + "\r\n"),
            "235 2.7.0 Authentication successful\r\n");
}

TEST(Session, AuthLoginInClearAsksTheDomainBeforeThePassword) {
  Options o = test_options();
  o.allow_plaintext_auth = true;
  Harness h(ListenerPolicy::mx(true), o);
  h.ready(false);
  // A domain requiring TLS: refused right after the user name; no "Password:" prompt, so
  // the password is never sent in clear.
  EXPECT_EQ(h.talk("AUTH LOGIN " + base64_encode("bob@tls.example") + "\r\n"),
            "538 5.7.11 Encryption required for requested authentication mechanism\r\n");
  ASSERT_EQ(h.auths.size(), 1u);
  EXPECT_TRUE(h.auths[0].policy_only);
  EXPECT_TRUE(h.auths[0].password.empty());
  // Back in command mode: the next line is a command, not a password.
  EXPECT_EQ(h.talk("NOOP\r\n"), "250 2.0.0 Ok\r\n");
  h.talk("AUTH LOGIN\r\n");
  EXPECT_EQ(h.talk(base64_encode("carol@plain.example") + "\r\n"),
            "534 5.7.9 Authentication mechanism is too weak\r\n");
  // A domain that accepts it: the policy check, then the password as usual.
  h.auths.clear();
  EXPECT_EQ(h.talk("AUTH LOGIN " + base64_encode("alice@example.com") + "\r\n"), "334 UGFzc3dvcmQ6\r\n");
  EXPECT_EQ(h.talk(base64_encode("secret") + "\r\n"), "235 2.7.0 Authentication successful\r\n");
  ASSERT_EQ(h.auths.size(), 2u);
  EXPECT_TRUE(h.auths[0].policy_only);
  EXPECT_FALSE(h.auths[1].policy_only);
  EXPECT_EQ(h.auths[1].password, "secret");
}

TEST(Session, AuthLoginUnderTlsAsksNoPolicyFirst) {
  Harness h;
  h.ready(true);
  EXPECT_EQ(h.talk("AUTH LOGIN " + base64_encode("alice@example.com") + "\r\n"), "334 UGFzc3dvcmQ6\r\n");
  EXPECT_TRUE(h.auths.empty());
}

TEST(Session, MechanismTheDomainForbidsGets534) {
  Harness h;
  h.ready(true);
  h.talk("AUTH LOGIN\r\n");
  h.talk(base64_encode("carol@plain.example") + "\r\n");
  // RFC 4954 §6: 534 5.7.9.
  EXPECT_EQ(h.talk(base64_encode("secret") + "\r\n"), "534 5.7.9 Authentication mechanism is too weak\r\n");
  EXPECT_TRUE(h.session.auth_user().empty());
  EXPECT_EQ(h.talk("AUTH PLAIN " + plain("carol@plain.example", "x") + "\r\n"),
            "535 5.7.8 Authentication credentials invalid\r\n");
}

TEST(Session, PolicyRefusalsCountTowardTheAuthFailureLimit) {
  Options o = test_options();
  o.allow_plaintext_auth = true;
  Harness h(ListenerPolicy::mx(true), o);
  h.ready(false);
  for (unsigned i = 1; i < kDefaultMaxAuthFailures; ++i)
    EXPECT_TRUE(starts_with(h.talk("AUTH PLAIN " + plain("bob@tls.example", "secret") + "\r\n"), "538"));
  EXPECT_TRUE(starts_with(h.talk("AUTH PLAIN " + plain("bob@tls.example", "secret") + "\r\n"), "421 4.7.0"));
  EXPECT_TRUE(h.closed);
}

TEST(Session, AuthzidMustMatch) {
  Harness h;
  h.ready(true);
  std::string raw = std::string("bob@example.com") + '\0' + "alice@example.com" + '\0' + "secret";
  EXPECT_TRUE(starts_with(h.talk("AUTH PLAIN " + base64_encode(raw) + "\r\n"), "535 5.7.8"));
  EXPECT_TRUE(h.session.auth_user().empty());
}

TEST(Session, AuthNotDuringTransactionOrBeforeEhlo) {
  Harness h;
  h.start();
  h.talk("HELO c\r\n");
  EXPECT_EQ(h.talk("AUTH PLAIN\r\n"), "503 5.5.1 Error: send EHLO first\r\n");
  Harness h2;
  h2.ready(true);
  h2.talk("MAIL FROM:<a@b.example>\r\n");
  EXPECT_TRUE(starts_with(h2.talk("AUTH PLAIN\r\n"), "503 5.5.1"));
}

TEST(Session, AuthPipelinedContinuationIsRefused) {
  Harness h;
  h.ready(true);
  h.talk("AUTH LOGIN\r\n");
  EXPECT_TRUE(starts_with(h.talk(base64_encode("alice@example.com") + "\r\n" +
                                 base64_encode("secret") + "\r\n"),
                          "554 5.5.0"));
  EXPECT_TRUE(h.closed);
}

TEST(Session, AuthLineMayExceedCommandLimit) {
  Harness h;
  h.ready(true);
  std::string long_pass(2000, 'p');
  EXPECT_EQ(h.talk("AUTH PLAIN " + plain("alice@example.com", long_pass) + "\r\n"),
            "535 5.7.8 Authentication credentials invalid\r\n");
  EXPECT_EQ(h.auths.at(0).password, long_pass);
  std::string too_long(kMaxAuthLine, 'A');
  EXPECT_EQ(h.talk("AUTH PLAIN " + too_long + "\r\n"), "500 5.5.2 Error: line too long\r\n");
}

// ---- errors, timeouts, shutdown ----

TEST(Session, ErrorLimitCloses) {
  Options o = test_options();
  o.max_errors = 5;
  o.soft_error_limit = 3;
  o.error_delay = std::chrono::milliseconds(700);
  Harness h(ListenerPolicy::mx(true), o);
  h.ready();
  h.delays.clear();
  for (int i = 0; i < 4; ++i) EXPECT_TRUE(starts_with(h.talk("BOGUS\r\n"), "500 5.5.2"));
  EXPECT_EQ(h.delays[0], std::chrono::milliseconds(0));
  EXPECT_EQ(h.delays[2], std::chrono::milliseconds(700));  // from the soft limit on
  EXPECT_EQ(h.talk("BOGUS\r\n"), "421 4.7.0 mx.example.com Error: too many errors\r\n");
  EXPECT_TRUE(h.closed);
  EXPECT_EQ(h.session.summary(), "ehlo=1 unknown=0/5");
}

TEST(Session, DefaultErrorLimits) {
  Harness h;
  h.ready();
  int replies = 0;
  while (!h.closed && replies < 1000) {
    h.talk("BOGUS\r\n");
    ++replies;
  }
  EXPECT_EQ(replies, static_cast<int>(kDefaultMaxErrors));
  EXPECT_LT(kDefaultSoftErrorLimit, kDefaultMaxErrors);
}

TEST(Session, TimeoutsFollowPhase) {
  Harness h;
  EXPECT_EQ(h.session.phase(), Phase::kGreeting);
  h.ready();
  EXPECT_EQ(h.session.timeout(), kDefaultCommandTimeout);
  h.talk("MAIL FROM:<a@b.example>\r\nRCPT TO:<alice@example.com>\r\nDATA\r\n");
  EXPECT_EQ(h.session.phase(), Phase::kData);
  EXPECT_EQ(h.session.timeout(), kDefaultDataTimeout);
  h.session.on_timeout();
  h.pump();
  EXPECT_EQ(h.take(), "421 4.4.2 mx.example.com Error: timeout exceeded\r\n");
  EXPECT_TRUE(h.closed);
}

TEST(Session, TlsHandshakeTimeoutApplies) {
  Harness h;
  h.ready();
  h.auto_answer = false;
  h.talk("STARTTLS\r\n");
  EXPECT_EQ(h.session.phase(), Phase::kTls);
  EXPECT_EQ(h.session.timeout(), kDefaultTlsHandshakeTimeout);
}

TEST(Session, Shutdown) {
  Harness h;
  h.ready();
  h.session.on_shutdown();
  h.pump();
  EXPECT_EQ(h.take(), "421 4.3.2 mx.example.com Service shutting down\r\n");
  EXPECT_TRUE(h.closed);
}

TEST(Session, GarbageBytesNeverCrash) {
  Harness h;
  h.ready();
  std::string garbage;
  uint64_t x = 88172645463325252ull;
  for (int i = 0; i < 200000; ++i) {
    x ^= x << 13;
    x ^= x >> 7;
    x ^= x << 17;
    garbage += static_cast<char>(x & 0xff);
  }
  for (size_t i = 0; i < garbage.size() && !h.closed; i += 997) h.talk(garbage.substr(i, 997));
  EXPECT_LE(h.session.errors(), h.options.max_errors);
  EXPECT_LE(h.session.backlog(), kMaxAuthLine);
}

// ---- helpers for the glue ----

TEST(Session, ReceivedHeader) {
  Envelope e;
  e.helo = "client.example.org";
  e.client_ip = "192.0.2.1";
  e.esmtp = true;
  e.tls = true;
  e.recipients.push_back(Recipient{"alice@example.com"});
  EXPECT_EQ(received_header(e, "mx.example.com", "Q7", "Sun, 22 Nov 2026 04:00:00 +0000"),
            "Received: from client.example.org ([192.0.2.1])\r\n\tby mx.example.com with ESMTPS id Q7"
            "\r\n\tfor <alice@example.com>; Sun, 22 Nov 2026 04:00:00 +0000\r\n");
  e.recipients.push_back(Recipient{"bob@example.com"});
  EXPECT_EQ(received_header(e, "h", "Q", "D").find("for <"), std::string::npos);
  EXPECT_EQ(received_header(e, "h", "Q", "D", "TLSv1.3 with cipher TLS_AES_128_GCM_SHA256"),
            "Received: from client.example.org ([192.0.2.1])\r\n\t(using TLSv1.3 with cipher "
            "TLS_AES_128_GCM_SHA256)\r\n\tby h with ESMTPS id Q; D\r\n");
}

TEST(Session, RefusalReply) {
  EXPECT_EQ(refusal_reply("mx.example.com", "Error: too many connections from your address"),
            "421 4.7.0 mx.example.com Error: too many connections from your address\r\n");
}

TEST(Session, CommandTableFlags) {
  for (const auto& c : Session::command_table()) {
    if (c.verb == "DATA" || c.verb == "EHLO" || c.verb == "QUIT" || c.verb == "STARTTLS" ||
        c.verb == "AUTH" || c.verb == "NOOP") {
      EXPECT_TRUE(c.flags & Session::kEndsGroup) << c.verb;
    }
    if (c.verb == "MAIL" || c.verb == "RCPT" || c.verb == "BDAT" || c.verb == "AUTH") {
      EXPECT_FALSE(c.flags & Session::kAllowedBeforeTls) << c.verb;
    }
  }
}

}  // namespace
}  // namespace tsubame::smtp
