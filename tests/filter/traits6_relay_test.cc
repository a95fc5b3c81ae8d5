// tests/filter/traits6_relay_test.cc: the shipped conf/rules/72-relay-path.rules on messages
// we write ourselves: each rule fires on the relay-path trait it describes (a HELO that
// claims a free-mail provider from a home line or an unnamed address, trail lines in shapes
// no mail server writes, a single-word HELO over plain SMTP in the line our own smtpd writes
// for the hop into our MX) and stays quiet on the nearest legitimate line (the provider's own
// relay, qmail, Yahoo Groups, Courier, Exim and Postfix lines, our own line for an EHLO
// client, a LAN device, an authenticated user). A failure names the rule and the line and
// prints the verdict.
#include <gtest/gtest.h>

#include <initializer_list>
#include <string>

#include "filter/filter.h"

#include "tests/filter/default_rules_fixture.h"

namespace tsubame::filter {
namespace {

// A plain message with the given Received lines on top.
std::string message(const std::string& received) {
  return received +
         "From: Alice <alice@partner.example>\r\nTo: bob@ours.example\r\n"
         "Date: Mon, 6 Jan 2025 10:00:00 +0900\r\nMessage-ID: <20250106.1@partner.example>\r\n"
         "Subject: Meeting notes\r\nMIME-Version: 1.0\r\n"
         "Content-Type: text/plain; charset=us-ascii\r\n\r\n"
         "Hello Bob,\r\nsee you on Tuesday.\r\nAlice\r\n";
}

// The line our smtpd writes (smtpd/session.cc received_header(): "from HELO ([ip])", folded
// before "by" and "for", "with" the RFC 3848 protocol, "id" the queue id).
std::string our_line(const std::string& helo, const std::string& ip, const std::string& proto) {
  return "Received: from " + helo + " ([" + ip + "])\r\n\tby mx.ours.example with " + proto +
         " id Q7f3a9c2e1b\r\n\tfor <bob@ours.example>; Mon, 6 Jan 2025 10:00:02 +0900\r\n";
}

class Traits6RelayTest : public testing::DefaultRulesTest {
 protected:
  static Verdict scan(const std::string& raw) { return filter_->scan(raw, {}, {}); }
  static void expect_rule(const char* rule, std::initializer_list<std::string> fires,
                          std::initializer_list<std::string> quiet) {
    for (const std::string& in : fires) {
      Verdict v = scan(message(in));
      EXPECT_TRUE(v.has(rule)) << rule << ": " << in << "\n" << v.to_text();
    }
    for (const std::string& in : quiet) {
      Verdict v = scan(message(in));
      EXPECT_FALSE(v.has(rule)) << rule << ": " << in << "\n" << v.to_text();
    }
  }
};

const char* const kAllTraits6[] = {
    "RCVD_HELO_FREEMAIL_FORGED",
    "RCVD_TRAIL_SHAPE_FORGED",
    "RCVD_MX_HELO_WORD_PLAIN_SMTP",
};

TEST_F(Traits6RelayTest, OrdinaryTrailsHitNoTrait) {
  // A partner's relay into our MX over EHLO and TLS, its user authenticated from home; a
  // mailing list; a free-mail user's message through the provider's own relays.
  const std::string partner =
      our_line("mail.partner.example", "192.0.2.10", "ESMTPS") +
      "Received: from [10.1.2.3] (dsl-198-51-100-7.home.isp.example [198.51.100.7])\r\n"
      "\tby mail.partner.example (Postfix) with ESMTPSA id 4Q1x2y3z4;\r\n"
      "\tMon,  6 Jan 2025 10:00:01 +0900 (JST)\r\n";
  const std::string list =
      our_line("lists.example.org", "203.0.113.40", "ESMTP") +
      "Received: from home-pc (cpe-203-0-113-77.cable.isp.example [203.0.113.77])\r\n"
      "\tby smtp.isp.example with esmtp (Exim 4.96) id 1tUa2b-000Xyz-2C\r\n"
      "\tfor list@lists.example.org; Mon, 06 Jan 2025 01:00:00 +0000\r\n";
  const std::string freemail =
      our_line("sonic305-20.consmr.mail.ne1.yahoo.com", "66.163.185.146", "ESMTPS") +
      "Received: from sonic.gate.mail.ne1.yahoo.com by sonic305.consmr.mail.ne1.yahoo.com "
      "with HTTP; Mon, 6 Jan 2025 01:00:00 +0000\r\n";
  for (const std::string& rcvd : {std::string(), partner, list, freemail}) {
    Verdict v = scan(message(rcvd));
    testing::expect_quiet(v, kAllTraits6);
  }
}

TEST_F(Traits6RelayTest, HeloClaimsFreeMailFromAnotherHost) {
  expect_rule(
      "RCVD_HELO_FREEMAIL_FORGED",
      {
          // sendmail, no reverse name
          "Received: from yahoo.com ([211.185.47.189]) by mx.ours.example (8.11.6/8.11.6) with "
          "SMTP id VAA27898; Mon, 26 Aug 2002 21:39:06 +0100\r\n",
          // a home line's reverse name (the address in it, dsl, pool)
          "Received: from hotmail.com (200-171-13-198.dsl.isp.example [200.171.13.198])\r\n"
          "\tby mx.ours.example (8.11.6/8.11.6) with SMTP id g8G0EvC04523\r\n",
          "Received: from AOL.COM (157.Red-80-32-90.pooles.isp.example [80.32.90.157]) by "
          "mx.ours.example (Postfix) with SMTP id 1; Mon, 9 Sep 2002 18:50:55 +0100\r\n",
          "Received: from lycos.com (host90-107.pool10716.isp.example [80.20.107.90]) by "
          "mx.ours.example with ESMTP id 2; Mon, 6 Jan 2025 10:00:00 +0900\r\n",
          // Postfix without a reverse name
          "Received: from excite.com (unknown [200.204.182.45]) by mx.ours.example (Postfix) "
          "with SMTP id 3; Mon, 6 Jan 2025 10:00:00 +0900\r\n",
          // the line our own smtpd writes
          our_line("gmail.com", "198.51.100.23", "SMTP"),
          our_line("hotmail.co.uk", "198.51.100.24", "ESMTP"),
      },
      {
          // the provider's own relay greets with its apex but has its own reverse name
          "Received: from hotmail.com (f160.law15.hotmail.com [64.4.23.160]) by "
          "mx.ours.example (Postfix) with ESMTP id 95D1D294099; Thu, 22 Aug 2002 18:18:38 -0700\r\n",
          "Received: from yahoo.com (sonic305-20.consmr.mail.ne1.yahoo.com [66.163.185.146]) by "
          "mx.ours.example (Postfix) with ESMTPS id 1; Mon, 6 Jan 2025 10:00:00 +0900\r\n",
          // qmail does not look up the reverse name: the genuine relay then looks like this
          "Received: from unknown (HELO hotmail.com) (64.4.17.59) by mta3.grp.isp.example with "
          "SMTP; 7 Oct 2002 11:51:33 -0000\r\n",
          // a provider host name as HELO, and names that merely begin like a provider's
          our_line("mail-sor-f41.google.com", "209.85.220.41", "ESMTPS"),
          "Received: from mail.com.au (dsl-203-0-113-9.isp.example [203.0.113.9]) by "
          "mx.ours.example with ESMTP id 4; Mon, 6 Jan 2025 10:00:00 +0900\r\n",
          "Received: from gmailer.partner.example (dsl-203-0-113-9.isp.example [203.0.113.9]) "
          "by mx.ours.example with ESMTP id 5; Mon, 6 Jan 2025 10:00:00 +0900\r\n",
          // a free-mail user submitting from home: the HELO is the PC, not the provider
          "Received: from home-pc (dsl-203-0-113-9.isp.example [203.0.113.9]) by "
          "smtp.mail.yahoo.com with ESMTPA id 6; Mon, 6 Jan 2025 10:00:00 +0900\r\n",
      });
}

TEST_F(Traits6RelayTest, TrailLinesNoServerWrites) {
  expect_rule(
      "RCVD_TRAIL_SHAPE_FORGED",
      {
          // (a) a client known by its address only, no program, no queue id
          "Received: from [159.218.252.32] by n7.groups.isp.example with SMTP; Tue, 17 Sep "
          "2002 15:31:06 -0000\r\n",
          "Received: from [24.163.167.18] by rly-yk04.isp.example with QMQP; Tue, 24 Sep 2002 "
          "04:35:34 +0100\r\n",
          "Received: from [134.157.123.133] by relay.isp.example with local; 02 Sep 2002 "
          "09:12:28 +0800\r\n",
          // (b) qmail's shape with a protocol qmail never writes
          "Received: from unknown (167.41.186.23) by relay.isp.example with smtp; Tue, 24 Sep "
          "2002 21:36:44 -0900\r\n",
          "Received: from unknown (HELO mail.isp.example) (78.165.116.169) by smtp4.isp.example "
          "with esmtp; Sat, 21 Sep 2002 19:34:32 -0700\r\n",
          "Received: from unknown (HELO hd.isp.example) (161.186.12.179)by mx.isp.example with "
          "local; 14 Sep 2002 09:36:29 -0500\r\n",
          // (c) sendmail's shape with neither version nor queue id
          "Received: from mail.isp.example ([98.143.227.108]) by rly-xr02.isp.example with "
          "asmtp; 10 Sep 2002 12:22:19 +0500\r\n",
          "Received: from rly-yk04.isp.example ([113.219.240.171]) by rly-xr01.isp.example with "
          "local; 24 Sep 2002 05:40:58 +0800\r\n",
          "Received: from m10.grp.isp.example ([43.250.30.9]) by smtp4.isp.example with QMQP; "
          "Tue, 27 Aug 2002 19:33:07 -1000\r\n",
          // (d) NNFMP from a named host
          "Received: from unknown (74.38.244.167) by asy100.isp.example with NNFMP; Tue, 17 Sep "
          "2002 11:39:32 +1200\r\n",
      },
      {
          // Yahoo Groups' own lines
          "Received: from [66.218.67.196] by n20.grp.scd.yahoo.com with NNFMP; 22 Aug 2002 "
          "11:46:30 -0000\r\n",
          "Received: from unknown (66.218.66.217) by m3.grp.scd.yahoo.com with QMQP; 22 Aug "
          "2002 11:46:29 -0000\r\n",
          // qmail
          "Received: from unknown (HELO mail.partner.example) (192.0.2.27) by mta2.isp.example "
          "with SMTP; 22 Aug 2002 11:46:29 -0000\r\n",
          "Received: (qmail 11764 invoked from network); 22 Aug 2002 11:46:29 -0000\r\n",
          // Courier writes "with esmtp;" with no queue id
          "Received: from yoda (12-231-69-107.client.isp.example [::ffff:12.231.69.107])\r\n"
          "  (AUTH: CRAM-MD5 user@partner.example) by mail.partner.example with esmtp; Thu, 19 "
          "Sep 2002 22:13:32 -0700\r\n",
          "Received: from mail.partner.example ([192.0.2.10]) by mx.ours.example with esmtp; "
          "Mon, 6 Jan 2025 10:00:00 +0900\r\n",
          // Exim local submission, Postfix, webmail, our own line
          "Received: from rick by lists.partner.example with local (Exim 3.35 #1 (Debian)) id "
          "17yrJU-0003Ph-00 for list@partner.example; Tue, 1 Oct 2002 10:00:00 -0700\r\n",
          "Received: from mail.partner.example (unknown [192.0.2.10]) by mx.ours.example "
          "(Postfix) with SMTP id 1; Mon, 6 Jan 2025 10:00:00 +0900\r\n",
          "Received: from 213.123.174.21 by lw11fd.law11.hotmail.msn.com with HTTP; Fri, 23 "
          "Aug 2002 01:20:23 GMT\r\n",
          our_line("mail.partner.example", "192.0.2.10", "ESMTP"),
          // a bare-IP HELO in this shape is RCVD_HELO_BARE_IP's, not scored twice
          "Received: from 34.57.158.148 ([34.57.158.148]) by rly-xr02.isp.example with local; "
          "Tue, 17 Sep 2002 10:46:38 -0000\r\n",
      });
}

TEST_F(Traits6RelayTest, SingleWordHeloOverPlainSmtpIntoOurMx) {
  expect_rule("RCVD_MX_HELO_WORD_PLAIN_SMTP",
              {
                  our_line("john000", "202.64.208.252", "SMTP"),
                  our_line("c448022-c", "12.243.62.67", "SMTP"),
                  our_line("ACCESS-W5961WAE", "211.5.54.44", "SMTP"),
                  // 172.32/16 and 192.169/16 are public
                  our_line("vic", "172.32.1.1", "SMTP"),
                  our_line("vic", "192.169.3.4", "SMTP"),
              },
              {
                  // EHLO, a FQDN, an address literal, an authenticated user
                  our_line("john000", "202.64.208.252", "ESMTP"),
                  our_line("mail.partner.example", "192.0.2.10", "SMTP"),
                  our_line("[202.64.208.252]", "202.64.208.252", "SMTP"),
                  our_line("laptop", "202.64.208.252", "ESMTPSA"),
                  // a printer or an office box on the LAN (RFC 1918, loopback, link-local)
                  our_line("NPI1A2B3C", "192.168.1.50", "SMTP"),
                  our_line("scanner", "10.0.0.7", "SMTP"),
                  our_line("nas", "172.16.4.4", "SMTP"),
                  our_line("localhost", "127.0.0.1", "SMTP"),
                  our_line("pc", "169.254.6.22", "SMTP"),
              });
}

TEST_F(Traits6RelayTest, OneForgedLineStaysUnderTheJunkThreshold) {
  // The worst single line: a free-mail HELO in a forged shape with a forged date trips this
  // file's two Received rules and RCVD_DATE_FORGED, 1.5 + 1.0 + 1.5 = 4.0.
  Verdict v = scan(message(
      "Received: from yahoo.com ([211.185.47.189]) by rly-xr02.isp.example with local; Sep, "
      "17 2002 10:46:38 AM -0000\r\n"));
  EXPECT_TRUE(v.has("RCVD_HELO_FREEMAIL_FORGED")) << v.to_text();
  EXPECT_TRUE(v.has("RCVD_TRAIL_SHAPE_FORGED")) << v.to_text();
  EXPECT_TRUE(v.has("RCVD_DATE_FORGED")) << v.to_text();
  EXPECT_LT(v.score, 5.0) << v.to_text();
  EXPECT_EQ(v.action, Action::kDeliver) << v.to_text();

  // The three traits of this file on one spamware trail add up with the rest.
  Verdict w = scan(message(our_line("john000", "202.64.208.252", "SMTP") +
                           "Received: from hotmail.com (dsl-200-171-13-198.isp.example "
                           "[200.171.13.198]) by relay.isp.example with esmtp; 22 Aug 2002 "
                           "11:12:57 +0400\r\n"
                           "Received: from [176.244.234.14] by relay2.isp.example with SMTP; 22 "
                           "Aug 2002 06:50:51 +1200\r\n"));
  for (const char* id : kAllTraits6) EXPECT_TRUE(w.has(id)) << id << "\n" << w.to_text();
}

}  // namespace
}  // namespace tsubame::filter
