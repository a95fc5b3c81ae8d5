// tests/smtpd/outbound/client_test.cc: the outbound client state machine fed with server
// transcripts (no sockets): what it sends, and what it decides per recipient.
#include <gtest/gtest.h>

#include <string>

#include "smtpd/outbound/client.h"

namespace tsubame::smtp::outbound {
namespace {

ClientMessage message(std::vector<std::string> rcpts, std::string_view content = "Subject: hi\r\n\r\nbody\r\n") {
  ClientMessage m;
  m.helo_name = "mx.local.test";
  m.sender = "alice@local.test";
  for (auto& r : rcpts) m.recipients.push_back(ClientRecipient{r, "", ""});
  m.content = content;
  return m;
}

// Drives a client: each server() call feeds bytes and returns what the client sent.
struct Driver {
  explicit Driver(ClientMessage m, ClientOptions o = {}) : c(std::move(m), o) { c.on_connected(); }
  std::string server(std::string_view bytes) {
    last = c.on_data(bytes);
    return last.send;
  }
  Client c;
  Step last;
};

const char* kEhloFull =
    "250-mx.remote.test hello\r\n250-PIPELINING\r\n250-SIZE 1000000\r\n250-8BITMIME\r\n"
    "250-DSN\r\n250-SMTPUTF8\r\n250 ENHANCEDSTATUSCODES\r\n";
const char* kEhloPlain = "250-mx.remote.test hello\r\n250 ENHANCEDSTATUSCODES\r\n";

TEST(ReplyReader, MultiLineReplyIsJoinedAndEnhancedCodeParsed) {
  ReplyReader rr;
  Reply r;
  std::string_view in = "250-first\r\n250-second\r\n";
  EXPECT_EQ(rr.feed(in, r), ReplyReader::Status::kNeedMore);
  std::string_view rest = "250 2.0.0 last\r\n";
  ASSERT_EQ(rr.feed(rest, r), ReplyReader::Status::kReply);
  EXPECT_EQ(r.code, 250);
  ASSERT_EQ(r.lines.size(), 3u);
  EXPECT_EQ(r.lines[2], "2.0.0 last");
  std::string_view one = "451 4.2.1 try later\r\n";
  ASSERT_EQ(rr.feed(one, r), ReplyReader::Status::kReply);
  EXPECT_EQ(r.enhanced, "4.2.1");
  EXPECT_TRUE(r.temporary());
  EXPECT_EQ(r.summary(), "451 4.2.1 try later");
}

TEST(ReplyReader, SummaryIsCappedAtMaxReplyText) {
  ReplyReader rr;
  Reply r;
  std::string line = "550 " + std::string(kMaxReplyText * 2, 'y') + "\r\n";
  std::string_view in = line;
  ASSERT_EQ(rr.feed(in, r), ReplyReader::Status::kReply);
  EXPECT_EQ(r.summary().size(), kMaxReplyText);
}

TEST(ReplyReader, SplitAcrossReadsAndBareCode) {
  ReplyReader rr;
  Reply r;
  std::string_view a = "2", b = "20\r", c = "\n";
  EXPECT_EQ(rr.feed(a, r), ReplyReader::Status::kNeedMore);
  EXPECT_EQ(rr.feed(b, r), ReplyReader::Status::kNeedMore);
  ASSERT_EQ(rr.feed(c, r), ReplyReader::Status::kReply);
  EXPECT_EQ(r.code, 220);
}

TEST(ReplyReader, MalformedAndMismatchedAndOverlongAreErrors) {
  {
    ReplyReader rr;
    Reply r;
    std::string_view in = "hello there\r\n";
    EXPECT_EQ(rr.feed(in, r), ReplyReader::Status::kError);
  }
  {
    ReplyReader rr;
    Reply r;
    std::string_view in = "250-a\r\n251 b\r\n";
    EXPECT_EQ(rr.feed(in, r), ReplyReader::Status::kError);
  }
  {
    ReplyReader rr;
    Reply r;
    std::string big = "250 " + std::string(kMaxReplyLine, 'x') + "\r\n";
    std::string_view in = big;
    EXPECT_EQ(rr.feed(in, r), ReplyReader::Status::kError);
  }
  {
    ReplyReader rr;
    Reply r;
    std::string many;
    for (size_t i = 0; i < kMaxReplyLines + 1; ++i) many += "250-x\r\n";
    std::string_view in = many;
    EXPECT_EQ(rr.feed(in, r), ReplyReader::Status::kError);
  }
}

TEST(DotStuff, LeadingDotsDoubledLineEndsNormalisedTerminatorAdded) {
  EXPECT_EQ(dot_stuff("a\r\n.b\r\n..c\r\n"), "a\r\n..b\r\n...c\r\n.\r\n");
  EXPECT_EQ(dot_stuff("no newline"), "no newline\r\n.\r\n");
  EXPECT_EQ(dot_stuff(""), ".\r\n");
  // Bare LF and bare CR never reach the wire (no smuggled "\n.\n" end of data).
  EXPECT_EQ(dot_stuff("a\n.\nb\r.\rc"), "a\r\n..\r\nb\r\n..\r\nc\r\n.\r\n");
}

TEST(Crlf, NormaliseWithoutStuffing) {
  EXPECT_EQ(crlf_normalise("a\n.b\r\n..c\rd"), "a\r\n.b\r\n..c\r\nd\r\n");
  EXPECT_EQ(crlf_normalise(""), "");
}

TEST(Client, ChunkingPipelinedSendsBdatLastInTheGroup) {
  Driver d(message({"bob@remote.test", "carol@remote.test"}));
  d.server("220 ready\r\n");
  // RFC 3030 §4.2: BDAT pipelined after the RCPTs; no dot-stuffing, counted octets.
  EXPECT_EQ(d.server("250-hi\r\n250-PIPELINING\r\n250 CHUNKING\r\n"),
            "MAIL FROM:<alice@local.test>\r\nRCPT TO:<bob@remote.test>\r\nRCPT TO:<carol@remote.test>\r\n"
            "BDAT 21 LAST\r\nSubject: hi\r\n\r\nbody\r\n");
  EXPECT_EQ(d.c.timeout_s(), kMailTimeoutS);
  EXPECT_EQ(d.server("250 ok\r\n250 ok\r\n550 5.1.1 unknown\r\n"), "");
  EXPECT_EQ(d.c.timeout_s(), kDataTermTimeoutS);
  EXPECT_EQ(d.server("250 2.0.0 ok\r\n"), "QUIT\r\n");
  EXPECT_TRUE(d.c.chunked());
  EXPECT_EQ(d.c.results()[0].outcome, Outcome::kDelivered);
  EXPECT_EQ(d.c.results()[1].outcome, Outcome::kPermanent);
}

TEST(Client, ChunkingWithoutPipeliningAfterRcptsAndDotsUnstuffed) {
  Driver d(message({"bob@remote.test"}, "a\n.b\r\n"));
  d.server("220 ready\r\n");
  d.server("250-hi\r\n250 CHUNKING\r\n");
  d.server("250 ok\r\n");
  EXPECT_EQ(d.server("250 ok\r\n"), "BDAT 7 LAST\r\na\r\n.b\r\n");
  EXPECT_EQ(d.server("552 5.3.4 too big\r\n"), "QUIT\r\n");
  EXPECT_EQ(d.c.results()[0].outcome, Outcome::kPermanent);
}

TEST(Client, ChunkingCanBeTurnedOff) {
  ClientOptions o;
  o.use_chunking = false;
  Driver d(message({"bob@remote.test"}), o);
  d.server("220 ready\r\n");
  EXPECT_EQ(d.server("250-hi\r\n250-PIPELINING\r\n250 CHUNKING\r\n"),
            "MAIL FROM:<alice@local.test>\r\nRCPT TO:<bob@remote.test>\r\nDATA\r\n");
}

TEST(Client, PlainSessionWithoutPipeliningOneCommandAtATime) {
  Driver d(message({"bob@remote.test", "carol@remote.test"}));
  EXPECT_EQ(d.c.timeout_s(), kGreetingTimeoutS);
  EXPECT_EQ(d.server("220 mx.remote.test ESMTP\r\n"), "EHLO mx.local.test\r\n");
  EXPECT_EQ(d.server(kEhloPlain), "MAIL FROM:<alice@local.test>\r\n");
  EXPECT_EQ(d.c.timeout_s(), kMailTimeoutS);
  EXPECT_EQ(d.server("250 2.1.0 ok\r\n"), "RCPT TO:<bob@remote.test>\r\n");
  EXPECT_EQ(d.c.timeout_s(), kRcptTimeoutS);
  EXPECT_EQ(d.server("250 2.1.5 ok\r\n"), "RCPT TO:<carol@remote.test>\r\n");
  EXPECT_EQ(d.server("550 5.1.1 no such user\r\n"), "DATA\r\n");
  EXPECT_EQ(d.c.timeout_s(), kDataInitTimeoutS);
  EXPECT_EQ(d.server("354 go ahead\r\n"), "Subject: hi\r\n\r\nbody\r\n.\r\n");
  EXPECT_EQ(d.c.timeout_s(), kDataTermTimeoutS);
  EXPECT_EQ(d.server("250 2.0.0 queued as X\r\n"), "QUIT\r\n");
  d.server("221 bye\r\n");
  EXPECT_TRUE(d.c.finished());
  EXPECT_FALSE(d.c.host_failed());
  EXPECT_EQ(d.c.results()[0].outcome, Outcome::kDelivered);
  EXPECT_EQ(d.c.results()[0].reply.summary(), "250 2.0.0 queued as X");
  EXPECT_EQ(d.c.results()[1].outcome, Outcome::kPermanent);
  EXPECT_EQ(d.c.results()[1].reply.enhanced, "5.1.1");
}

TEST(Client, PipeliningSendsMailRcptDataAsOneGroup) {
  ClientMessage m = message({"bob@remote.test", "carol@remote.test"});
  m.recipients[0].notify = "SUCCESS,FAILURE";
  m.recipients[0].orcpt = "rfc822;bob@remote.test";
  m.ret = "HDRS";
  m.envid = "ENV1";
  Driver d(std::move(m));
  d.server("220 ready\r\n");
  // RFC 2920 §3.1 group; DSN (RFC 3461) and SIZE (RFC 1870) parameters passed.
  EXPECT_EQ(d.server(kEhloFull),
            "MAIL FROM:<alice@local.test> SIZE=21 RET=HDRS ENVID=ENV1\r\n"
            "RCPT TO:<bob@remote.test> NOTIFY=SUCCESS,FAILURE ORCPT=rfc822;bob@remote.test\r\n"
            "RCPT TO:<carol@remote.test>\r\nDATA\r\n");
  EXPECT_TRUE(d.c.pipelined());
  // Replies may come in one read or several.
  EXPECT_EQ(d.server("250 ok\r\n250 ok\r\n451 4.2.1 "), "");
  EXPECT_EQ(d.server("busy\r\n354 go\r\n"), "Subject: hi\r\n\r\nbody\r\n.\r\n");
  EXPECT_EQ(d.server("250 2.0.0 ok\r\n"), "QUIT\r\n");
  EXPECT_EQ(d.c.results()[0].outcome, Outcome::kDelivered);
  EXPECT_EQ(d.c.results()[1].outcome, Outcome::kTemporary);
  EXPECT_EQ(d.c.results()[1].reply.summary(), "451 4.2.1 busy");
  EXPECT_TRUE(d.c.dsn_supported());
}

TEST(Client, PipelinedGroupWithEveryRcptRefusedEndsDataEmpty) {
  Driver d(message({"bob@remote.test"}));
  d.server("220 ready\r\n");
  d.server(kEhloFull);
  // A server that (wrongly) answers 354 although no recipient was accepted gets "." only.
  EXPECT_EQ(d.server("250 ok\r\n550 5.1.1 unknown\r\n354 go\r\n"), ".\r\n");
  EXPECT_EQ(d.server("554 5.5.1 no valid recipients\r\n"), "QUIT\r\n");
  EXPECT_EQ(d.c.results()[0].outcome, Outcome::kPermanent);
  EXPECT_EQ(d.c.results()[0].reply.enhanced, "5.1.1");
}

TEST(Client, PipelinedDataRefusedAfterRcptsRefused) {
  Driver d(message({"bob@remote.test"}));
  d.server("220 ready\r\n");
  d.server(kEhloFull);
  EXPECT_EQ(d.server("250 ok\r\n550 5.1.1 unknown\r\n503 5.5.1 no recipients\r\n"), "QUIT\r\n");
  EXPECT_EQ(d.c.results()[0].outcome, Outcome::kPermanent);
  EXPECT_EQ(d.c.results()[0].reply.code, 550);  // the RCPT reply decided, not DATA's
}

TEST(Client, MailFromRefusedDecidesEveryRecipient) {
  Driver d(message({"bob@remote.test", "carol@remote.test"}));
  d.server("220 ready\r\n");
  d.server(kEhloPlain);
  EXPECT_EQ(d.server("553 5.7.1 sender refused\r\n"), "QUIT\r\n");
  for (auto& r : d.c.results()) {
    EXPECT_EQ(r.outcome, Outcome::kPermanent);
    EXPECT_EQ(r.reply.code, 553);
  }
}

TEST(Client, FinalDotTemporaryFailureIsTemporaryForAcceptedRecipients) {
  Driver d(message({"bob@remote.test"}));
  d.server("220 ready\r\n");
  d.server(kEhloPlain);
  d.server("250 ok\r\n");
  d.server("250 ok\r\n");
  d.server("354 go\r\n");
  EXPECT_EQ(d.server("452 4.3.1 insufficient storage\r\n"), "QUIT\r\n");
  EXPECT_EQ(d.c.results()[0].outcome, Outcome::kTemporary);
}

TEST(Client, EhloRefusedFallsBackToHeloWithoutExtensions) {
  Driver d(message({"bob@remote.test"}, "8bit: \xC3\xA9\r\n"));
  d.server("220 old server\r\n");
  EXPECT_EQ(d.server("502 5.5.2 what?\r\n"), "HELO mx.local.test\r\n");
  // No 8BITMIME after HELO: 8-bit content cannot go (RFC 6152 §3).
  EXPECT_EQ(d.server("250 hi\r\n"), "QUIT\r\n");
  EXPECT_EQ(d.c.results()[0].outcome, Outcome::kPermanent);
  EXPECT_EQ(d.c.results()[0].reply.enhanced, "5.6.3");
}

TEST(Client, HeloSessionSendsNoParameters) {
  ClientMessage m = message({"bob@remote.test"});
  m.recipients[0].notify = "NEVER";
  m.ret = "FULL";
  Driver d(std::move(m));
  d.server("220 old server\r\n");
  d.server("500 unknown\r\n");
  EXPECT_EQ(d.server("250 hi\r\n"), "MAIL FROM:<alice@local.test>\r\n");
  EXPECT_EQ(d.server("250 ok\r\n"), "RCPT TO:<bob@remote.test>\r\n");
  EXPECT_FALSE(d.c.dsn_supported());
}

TEST(Client, EightBitContentGetsBodyParameter) {
  Driver d(message({"bob@remote.test"}, "Subject: caf\xC3\xA9\r\n\r\n"));
  d.server("220 ready\r\n");
  std::string sent = d.server(kEhloFull);
  EXPECT_NE(sent.find(" BODY=8BITMIME"), std::string::npos) << sent;
  EXPECT_EQ(sent.find(" SMTPUTF8"), std::string::npos) << sent;
}

TEST(Client, Utf8AddressNeedsSmtpUtf8) {
  {
    Driver d(message({"j\xC3\xBCrgen@remote.test"}));
    d.server("220 ready\r\n");
    std::string sent = d.server(kEhloFull);
    EXPECT_NE(sent.find(" SMTPUTF8"), std::string::npos) << sent;
  }
  {
    Driver d(message({"j\xC3\xBCrgen@remote.test"}));
    d.server("220 ready\r\n");
    EXPECT_EQ(d.server(kEhloPlain), "QUIT\r\n");
    EXPECT_EQ(d.c.results()[0].outcome, Outcome::kPermanent);
    EXPECT_EQ(d.c.results()[0].reply.enhanced, "5.6.7");
    EXPECT_TRUE(d.c.results()[0].reply.local);  // our verdict, not the server's
    EXPECT_EQ(d.c.results()[0].reply.summary().rfind("550 5.6.7 non-ASCII", 0), 0u);
  }
}

TEST(Client, MessageOverAdvertisedSizeIsNotSent) {
  std::string big(2000, 'x');
  Driver d(message({"bob@remote.test"}, big));
  d.server("220 ready\r\n");
  EXPECT_EQ(d.server("250-hi\r\n250 SIZE 1000\r\n"), "QUIT\r\n");
  EXPECT_EQ(d.c.results()[0].outcome, Outcome::kPermanent);
  EXPECT_EQ(d.c.results()[0].reply.enhanced, "5.3.4");
}

TEST(Client, GreetingRefusedIsAHostFailure) {
  Driver d(message({"bob@remote.test"}));
  EXPECT_EQ(d.server("554 5.3.2 no service\r\n"), "QUIT\r\n");
  EXPECT_TRUE(d.c.host_failed());
  EXPECT_EQ(d.c.host_error().code, 554);
  EXPECT_EQ(d.c.results()[0].outcome, Outcome::kPending);  // the next MX may take it
}

TEST(Client, ServiceClosing421MidTransactionLeavesRecipientsPending) {
  Driver d(message({"bob@remote.test"}));
  d.server("220 ready\r\n");
  d.server(kEhloPlain);
  d.server("250 ok\r\n");
  d.server("421 4.3.2 shutting down\r\n");
  EXPECT_TRUE(d.last.close);
  EXPECT_TRUE(d.c.finished());
  EXPECT_TRUE(d.c.host_failed());
  EXPECT_EQ(d.c.results()[0].outcome, Outcome::kPending);
  EXPECT_EQ(d.c.results()[0].reply.code, 421);
}

TEST(Client, GarbageReplyIsAProtocolError) {
  Driver d(message({"bob@remote.test"}));
  d.server("HTTP/1.1 400 Bad Request\r\n");
  EXPECT_TRUE(d.last.close);
  EXPECT_TRUE(d.c.host_failed());
  EXPECT_EQ(d.c.host_error().enhanced, "4.5.0");
}

TEST(Client, TimeoutAndCloseAreHostFailures) {
  {
    Driver d(message({"bob@remote.test"}));
    d.server("220 ready\r\n");
    Step s = d.c.on_timeout();
    EXPECT_TRUE(s.close);
    EXPECT_TRUE(d.c.host_failed());
    EXPECT_EQ(d.c.host_error().enhanced, "4.4.2");
  }
  {
    Driver d(message({"bob@remote.test"}));
    d.server("220 ready\r\n");
    d.server(kEhloPlain);
    d.server("250 ok\r\n250 ok\r\n354 go\r\n");
    d.c.on_closed("reset");
    EXPECT_TRUE(d.c.host_failed());
    EXPECT_EQ(d.c.results()[0].outcome, Outcome::kPending);
  }
}

TEST(Client, QuitTimeoutAfterDecisionsIsNotAFailure) {
  Driver d(message({"bob@remote.test"}));
  d.server("220 ready\r\n");
  d.server(kEhloPlain);
  d.server("250 ok\r\n250 ok\r\n354 go\r\n");
  d.server("250 ok\r\n");
  EXPECT_EQ(d.c.timeout_s(), kQuitTimeoutS);
  d.c.on_timeout();
  EXPECT_TRUE(d.c.finished());
  EXPECT_FALSE(d.c.host_failed());
  EXPECT_EQ(d.c.results()[0].outcome, Outcome::kDelivered);
}

TEST(Client, StartTlsWhenOfferedThenEhloAgain) {
  Driver d(message({"bob@remote.test"}));
  d.server("220 ready\r\n");
  EXPECT_EQ(d.server("250-hi\r\n250-STARTTLS\r\n250 PIPELINING\r\n"), "STARTTLS\r\n");
  d.server("220 2.0.0 go ahead\r\n");
  EXPECT_TRUE(d.last.start_tls);
  EXPECT_EQ(d.c.timeout_s(), kTlsHandshakeTimeoutS);
  Step s = d.c.on_tls_done(true, false, "TLSv1.3");
  EXPECT_EQ(s.send, "EHLO mx.local.test\r\n");  // RFC 3207 §4.2
  EXPECT_TRUE(d.c.tls_active());
  EXPECT_FALSE(d.c.tls_verified());
  // Extensions from before TLS are forgotten; STARTTLS is not offered again.
  EXPECT_EQ(d.server(kEhloPlain), "MAIL FROM:<alice@local.test>\r\n");
}

TEST(Client, StartTlsRefusedContinuesInClear) {
  Driver d(message({"bob@remote.test"}));
  d.server("220 ready\r\n");
  d.server("250-hi\r\n250 STARTTLS\r\n");
  EXPECT_EQ(d.server("454 4.7.0 TLS not available\r\n"), "MAIL FROM:<alice@local.test>\r\n");
  EXPECT_FALSE(d.c.tls_active());
}

TEST(Client, StartTlsNotTriedWithoutContextAndRequiredTlsFails) {
  ClientOptions no_tls;
  no_tls.try_tls = false;
  Driver d(message({"bob@remote.test"}), no_tls);
  d.server("220 ready\r\n");
  EXPECT_EQ(d.server("250-hi\r\n250 STARTTLS\r\n"), "MAIL FROM:<alice@local.test>\r\n");

  ClientOptions req;
  req.require_tls = true;
  Driver r(message({"bob@remote.test"}), req);
  r.server("220 ready\r\n");
  EXPECT_EQ(r.server(kEhloPlain), "QUIT\r\n");
  EXPECT_TRUE(r.c.host_failed());
}

TEST(Client, InjectedBytesAfterStartTls220AreRefused) {
  Driver d(message({"bob@remote.test"}));
  d.server("220 ready\r\n");
  d.server("250-hi\r\n250 STARTTLS\r\n");
  d.server("220 go ahead\r\n250 injected\r\n");
  EXPECT_FALSE(d.last.start_tls);
  EXPECT_TRUE(d.last.close);
  EXPECT_TRUE(d.c.host_failed());
  // The TLS attempt failed: same outcome as a broken handshake, whatever the read split.
  EXPECT_TRUE(d.c.tls_failed());
  EXPECT_TRUE(d.c.results().empty() || d.c.results()[0].outcome == Outcome::kPending);
}

TEST(Client, FailedTlsHandshakeAsksForAPlainRetry) {
  Driver d(message({"bob@remote.test"}));
  d.server("220 ready\r\n");
  d.server("250-hi\r\n250 STARTTLS\r\n");
  d.server("220 go ahead\r\n");
  Step s = d.c.on_tls_done(false, false, "handshake failure");
  EXPECT_TRUE(s.close);
  EXPECT_TRUE(d.c.tls_failed());
  EXPECT_TRUE(d.c.host_failed());
}

TEST(Client, DotStuffedContentOnTheWire) {
  Driver d(message({"bob@remote.test"}, "line\r\n.hidden\r\n.\r\nend"));
  d.server("220 ready\r\n");
  d.server(kEhloPlain);
  d.server("250 ok\r\n");
  d.server("250 ok\r\n");
  EXPECT_EQ(d.server("354 go\r\n"), "line\r\n..hidden\r\n..\r\nend\r\n.\r\n");
}

TEST(Client, NullSenderIsSentAsEmptyPath) {
  ClientMessage m = message({"bob@remote.test"});
  m.sender = "";
  Driver d(std::move(m));
  d.server("220 ready\r\n");
  EXPECT_EQ(d.server(kEhloPlain), "MAIL FROM:<>\r\n");
}

TEST(Limits, TimeoutsAreRfc5321Minimums) {
  // RFC 5321 §4.5.3.2.1 .. §4.5.3.2.6
  EXPECT_EQ(kGreetingTimeoutS, 300);
  EXPECT_EQ(kMailTimeoutS, 300);
  EXPECT_EQ(kRcptTimeoutS, 300);
  EXPECT_EQ(kDataInitTimeoutS, 120);
  EXPECT_EQ(kDataBlockTimeoutS, 180);
  EXPECT_EQ(kDataTermTimeoutS, 600);
  ClientTimeouts t;
  EXPECT_EQ(t.data_term, kDataTermTimeoutS);
  EXPECT_EQ(kMaxRcptsPerTransaction, 100u);  // RFC 5321 §4.5.3.1.8 (hit in the integration test)
}

}  // namespace
}  // namespace tsubame::smtp::outbound
