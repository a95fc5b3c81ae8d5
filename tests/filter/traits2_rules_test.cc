// tests/filter/traits2_rules_test.cc: the shipped conf/rules/66-traits2.rules on messages we
// write ourselves: every rule and meta there fires on the trait it describes (Received lines
// that bulk-mailing software writes or forges, Outlook-shaped Message-IDs and boundaries with
// made-up time stamps, impossible Date zones, address-list file names as recipients, padded
// subjects, X-Library, bulk-mailing programs in X-Mailer, a web page sent as the whole
// message) and stays quiet on the nearest legitimate form (a bracketed address literal, an
// internal relay on a LAN address, a genuine Outlook Message-ID and boundary, a half-hour
// zone, a folded subject, a page beside its text alternative ...). A failure names the rule
// and prints the verdict.
#include <gtest/gtest.h>

#include <initializer_list>
#include <string>

#include "filter/filter.h"

#include "tests/filter/default_rules_fixture.h"

namespace tsubame::filter {
namespace {

// A plain message; extra header lines, the Date, the Message-ID and the subject vary.
std::string message(const std::string& extra_headers, const std::string& subject = "Meeting notes",
                    const std::string& date = "Mon, 6 Jan 2025 10:00:00 +0900",
                    const std::string& message_id = "<20250106.1@partner.example>") {
  return "From: Alice <alice@partner.example>\r\nTo: bob@ours.example\r\nDate: " + date +
         "\r\nMessage-ID: " + message_id + "\r\nSubject: " + subject +
         "\r\nMIME-Version: 1.0\r\nContent-Type: text/plain; charset=us-ascii\r\n" + extra_headers +
         "\r\nHello Bob,\r\nsee you on Tuesday.\r\nAlice\r\n";
}

// A multipart/alternative message with the given boundary.
std::string multipart(const std::string& boundary) {
  return "From: Alice <alice@partner.example>\r\nTo: bob@ours.example\r\n"
         "Date: Mon, 6 Jan 2025 10:00:00 +0900\r\nMessage-ID: <20250106.2@partner.example>\r\n"
         "Subject: Agenda\r\nMIME-Version: 1.0\r\n"
         "Content-Type: multipart/alternative;\r\n\tboundary=\"" + boundary + "\"\r\n\r\n"
         "--" + boundary + "\r\nContent-Type: text/plain; charset=us-ascii\r\n\r\nAgenda attached.\r\n"
         "--" + boundary + "\r\nContent-Type: text/html; charset=us-ascii\r\n\r\n"
         "<html><body><p>Agenda attached.</p></body></html>\r\n"
         "--" + boundary + "--\r\n";
}

class Traits2RulesTest : public testing::DefaultRulesTest {
 protected:
  static Verdict scan(const std::string& raw) { return filter_->scan(raw, {}, {}); }
  // `rule` fires on the message make() builds from each of `fires`, and on none of `quiet`.
  template <typename Make>
  static void expect_rule(const char* rule, std::initializer_list<const char*> fires,
                          std::initializer_list<const char*> quiet, Make make) {
    for (const char* in : fires) {
      Verdict v = scan(make(in));
      EXPECT_TRUE(v.has(rule)) << rule << ": " << in << "\n" << v.to_text();
    }
    for (const char* in : quiet) {
      Verdict v = scan(make(in));
      EXPECT_FALSE(v.has(rule)) << rule << ": " << in << "\n" << v.to_text();
    }
  }
};

const char* const kAllTraits2[] = {
    "RCVD_HELO_BARE_IP",    "RCVD_DATE_FORGED",      "MSGID_OE_BAD_FILETIME",
    "RCPT_LIST_FILE_NAME",  "SUBJ_PADDED_TAG",       "BOUNDARY_NEXTPART_FORGED",
    "DATE_IMPOSSIBLE_ZONE", "XLIBRARY_PRESENT",      "XMAILER_BULK_TOOL",
    "HTML_PAGE_PASTED",     "FORGERY_SEVERAL",
};

TEST_F(Traits2RulesTest, PlainMessagesHitNoTrait) {
  const std::string relayed =
      "Received: from mail.partner.example (mail.partner.example [192.0.2.10])\r\n"
      "\tby mx.ours.example (Postfix) with ESMTPS id 4Q1x2y3z4;\r\n"
      "\tMon,  6 Jan 2025 10:00:02 +0900 (JST)\r\n"
      "Received: from [10.1.2.3] (unknown [198.51.100.7])\r\n"
      "\tby mail.partner.example with ESMTPSA id abc123; Mon, 6 Jan 2025 10:00:01 +0900\r\n";
  for (const std::string& raw : {message(""), message(relayed), multipart("b1_5f0c3a9e")}) {
    Verdict v = scan(raw);
    testing::expect_quiet(v, kAllTraits2);
  }
}

TEST_F(Traits2RulesTest, HeloWithABareIpAddress) {
  // Postfix, sendmail (folded) and Exchange record the HELO before the TCP-info.
  expect_rule(
      "RCVD_HELO_BARE_IP",
      {
          "Received: from 200.161.16.132 (unknown [210.19.113.130]) by mx.ours.example (Postfix) "
          "with SMTP id 694632EE5A; Thu, 22 Aug 2002 11:12:57 -0400\r\n",
          "Received: from 65.121.97.140\r\n\t([65.121.97.140]) by mx.ours.example (8.12.9/8.12.9) "
          "with SMTP id PAA20958; Wed, 21 Aug 2002 15:56:44 +0800\r\n",
          "Received: from 217.35.130.233 (host217-35-130-233.in-addr.isp.example\r\n"
          "    [217.35.130.233]) by mx.ours.example with SMTP (Microsoft Exchange Internet Mail "
          "Service Version 5.5.2653.13) id QYY194N; Thu, 22 Aug 2002 11:37:45 -0500\r\n",
          // 172.32/16 is outside RFC 1918's 172.16/12.
          "Received: from 172.32.1.1 (unknown [172.32.1.1]) by mx.ours.example (Postfix) with SMTP "
          "id 1; Mon, 6 Jan 2025 10:00:00 +0900\r\n",
      },
      {
          // RFC 5321 section 4.1.3 address literal: in brackets, as it should be.
          "Received: from [203.0.113.5] (unknown [203.0.113.5]) by mx.ours.example (Postfix) with "
          "ESMTP id 1; Mon, 6 Jan 2025 10:00:00 +0900\r\n",
          // An internal relay greeting with its LAN address (RFC 1918, loopback).
          "Received: from 192.168.30.220 ([192.168.30.220]) by 192.168.1.2; Mon, 6 Jan 2025 "
          "10:00:00 +0900\r\n",
          "Received: from 10.0.0.5 (gw.partner.example [10.0.0.5]) by mail.partner.example with "
          "ESMTP id 2; Mon, 6 Jan 2025 10:00:00 +0900\r\n",
          "Received: from 172.16.4.4 ([172.16.4.4]) by mail.partner.example with ESMTP id 3; Mon, 6 "
          "Jan 2025 10:00:00 +0900\r\n",
          "Received: from 127.0.0.1 (localhost [127.0.0.1]) by mail.partner.example with ESMTP id 4; "
          "Mon, 6 Jan 2025 10:00:00 +0900\r\n",
          // qmail writes the peer's address first and the HELO after it.
          "Received: from 65.189.7.13 (HELO mail.partner.example) by smtp.isp.example "
          "(209.228.33.241) with SMTP; 17 Sep 2002 21:21:48 -0700\r\n",
          // Webmail: the client's address, no SMTP greeting at all.
          "Received: from 216.30.74.2 by webmail.isp.example with HTTP; Fri, 23 Aug 2002 01:20:23 "
          "GMT\r\n",
      },
      [](const char* rcvd) { return message(rcvd); });
}

TEST_F(Traits2RulesTest, ReceivedDateNoServerWrites) {
  expect_rule(
      "RCVD_DATE_FORGED",
      {
          "Received: from unknown (52.127.142.42) by rly-xl04.mx.isp.example with smtp; Aug, 22 "
          "2002 8:02:13 AM +0400\r\n",
          "Received: from [159.218.252.32] by n7.groups.isp.example with SMTP; Aug, 24 2002 "
          "12:01:28 PM -0000\r\n",
          "Received: from [94.219.35.7] by relay.isp.example with local; 23 Aug 0102 02:37:19 "
          "-0300\r\n",
      },
      {
          "Received: from mail.partner.example (mail.partner.example [192.0.2.10]) by "
          "mx.ours.example (Postfix) with ESMTP id 1; Thu, 22 Aug 2002 08:02:13 +0400 (MSD)\r\n",
          "Received: (qmail 8720 invoked by uid 0); 22 Aug 2002 11:46:29 -0000\r\n",
          "Received: from host.partner.example ([192.0.2.11]) by exch.partner.example with "
          "Microsoft SMTPSVC(6.0.3790.0); Thu, 22 Aug 2002 13:36:20 +0100\r\n",
      },
      [](const char* rcvd) { return message(rcvd); });
}

TEST_F(Traits2RulesTest, OutlookMessageIdWithoutItsTimeStamp) {
  for (const char* id : {"<000c52d43aad$4242a0b5$4ad47ca8@fyiink>",
                         "<0000047b4e66$00005044$0000547b@mxs.mail.example>",
                         "<022d72e64d0d$4237d1c8$4ce86ed6@okowid>"}) {
    Verdict v = scan(message("", "Meeting notes", "Mon, 6 Jan 2025 10:00:00 +0900", id));
    EXPECT_TRUE(v.has("MSGID_OE_BAD_FILETIME")) << id << "\n" << v.to_text();
  }
  // Genuine ones: the high half of the FILETIME (01c2.... in 2002, 01db.... in 2025).
  for (const char* id : {"<000a01c25e3f$1a2b3c4d$0100007f@workstation>",
                         "<005801c24a00$1e226060$73c04144@leslie>",
                         "<000601db6019$3a9f6c80$afde4580$@partner.example>"}) {
    Verdict v = scan(message("X-Mailer: Microsoft Outlook Express 6.00.2800.1106\r\n"
                             "X-MimeOLE: Produced By Microsoft MimeOLE V6.00.2800.1106\r\n",
                             "Meeting notes", "Mon, 6 Jan 2025 10:00:00 +0900", id));
    EXPECT_FALSE(v.has("MSGID_OE_BAD_FILETIME")) << id << "\n" << v.to_text();
  }
}

TEST_F(Traits2RulesTest, RecipientIsAnAddressListFileName) {
  for (const char* hdr : {"Cc: 0913.9.TXT@ours.example, 0913.10.TXT@ours.example\r\n",
                          "Cc: <C:`Bulk.AdzNorton.txt@ours.example>\r\n",
                          "Cc: HK010.csv@ours.example\r\n"}) {
    Verdict v = scan(message(hdr));
    EXPECT_TRUE(v.has("RCPT_LIST_FILE_NAME")) << hdr << "\n" << v.to_text();
  }
  std::string to_list = message("");
  to_list.replace(to_list.find("To: bob@ours.example"), 20, "To: <SPAIN.TXT@ours.example>");
  Verdict t = scan(to_list);
  EXPECT_TRUE(t.has("RCPT_LIST_FILE_NAME")) << t.to_text();
  for (const char* hdr : {"Cc: \"notes.txt\" <carol@ours.example>\r\n",
                          "Cc: dave.txtile@ours.example, erin@txt.example\r\n"}) {
    Verdict v = scan(message(hdr));
    EXPECT_FALSE(v.has("RCPT_LIST_FILE_NAME")) << hdr << "\n" << v.to_text();
  }
}

TEST_F(Traits2RulesTest, SubjectPaddedBeforeATag) {
  for (const char* subject : {"Get the Child Support You Deserve                     10.132",
                              "The DEBT-$AVER Program              SKYXTGM",
                              "Rates available!\t\t\t\t\t\t\t\t\t\t\tmoode"}) {
    Verdict v = scan(message("", subject));
    EXPECT_TRUE(v.has("SUBJ_PADDED_TAG")) << subject << "\n" << v.to_text();
  }
  // A folded subject is unfolded with its one tab or few spaces; double spaces are typing.
  for (const char* subject : {"Quarterly report for the\r\n\tsales team",
                              "Quarterly report for the\r\n        sales team",
                              "Budget  2025  (draft)", "Meeting notes"}) {
    Verdict v = scan(message("", subject));
    EXPECT_FALSE(v.has("SUBJ_PADDED_TAG")) << subject << "\n" << v.to_text();
  }
}

TEST_F(Traits2RulesTest, NextPartBoundaryThatIsNotOutlooks) {
  for (const char* b : {"----=_NextPart_000_00B2_83B03D1E.C6530E24", "----=_NextPart_QXVROEFEFX",
                        "----_NextPart_3402248108"}) {
    Verdict v = scan(multipart(b));
    EXPECT_TRUE(v.has("BOUNDARY_NEXTPART_FORGED")) << b << "\n" << v.to_text();
  }
  // Outlook / Outlook Express, a bulk program's larger counter, and Exchange.
  for (const char* b : {"----=_NextPart_000_0005_01C24A00.1B2C3D4E",
                        "----=_NextPart_000_3257B2_01C249FA.18BC9920",
                        "----_=_NextPart_001_01DB6019.3A9F6C80"}) {
    Verdict v = scan(multipart(b));
    EXPECT_FALSE(v.has("BOUNDARY_NEXTPART_FORGED")) << b << "\n" << v.to_text();
  }
}

TEST_F(Traits2RulesTest, DateZoneThatDoesNotExist) {
  for (const char* date : {"Wed, 21 Aug 2002 20:31:57 -1600", "Thu, 22 Aug 2002 09:00:00 +0417",
                           "Thu, 22 Aug 2002 09:00:00 -1300", "Thu, 22 Aug 2002 09:00 +1900"}) {
    Verdict v = scan(message("", "Meeting notes", date));
    EXPECT_TRUE(v.has("DATE_IMPOSSIBLE_ZONE")) << date << "\n" << v.to_text();
  }
  // Real zones: half and three-quarter hours, the extremes (Line Islands, Baker Island).
  for (const char* date : {"Mon, 6 Jan 2025 10:00:00 +0900", "Mon, 6 Jan 2025 10:00:00 +0530",
                           "Mon, 6 Jan 2025 10:00:00 +0545", "Mon, 6 Jan 2025 10:00:00 +1245",
                           "Mon, 6 Jan 2025 10:00:00 +1400", "Mon, 6 Jan 2025 10:00:00 -1200",
                           "Mon, 6 Jan 2025 10:00:00 -0930", "Mon, 6 Jan 2025 10:00:00 GMT"}) {
    Verdict v = scan(message("", "Meeting notes", date));
    EXPECT_FALSE(v.has("DATE_IMPOSSIBLE_ZONE")) << date << "\n" << v.to_text();
  }
}

TEST_F(Traits2RulesTest, BuiltByAProgrammingLibrary) {
  Verdict v = scan(message("X-Library: Indy 8.0.25\r\n"));
  EXPECT_TRUE(v.has("XLIBRARY_PRESENT")) << v.to_text();
  EXPECT_EQ(v.action, Action::kDeliver) << v.to_text();  // one weak sign alone
  Verdict e = scan(message("X-Library:\r\n"));
  EXPECT_FALSE(e.has("XLIBRARY_PRESENT")) << e.to_text();
}

TEST_F(Traits2RulesTest, BulkMailingProgramInXMailer) {
  for (const char* mailer : {"QuickSender 1.05", "Atlas Mailer 2.0", "Easy DM free"}) {
    Verdict v = scan(message(std::string("X-Mailer: ") + mailer + "\r\n"));
    EXPECT_TRUE(v.has("XMAILER_BULK_TOOL")) << mailer << "\n" << v.to_text();
  }
  for (const char* mailer : {"Microsoft Outlook 16.0", "Mozilla Thunderbird 128.5.0",
                             "Easy Diary Mail 2.1"}) {
    Verdict v = scan(message(std::string("X-Mailer: ") + mailer + "\r\n"));
    EXPECT_FALSE(v.has("XMAILER_BULK_TOOL")) << mailer << "\n" << v.to_text();
  }
}

// A message that is one HTML part with the given transfer encoding and body.
std::string html_only(const std::string& encoding, const std::string& html) {
  return "From: Alice <alice@partner.example>\r\nTo: bob@ours.example\r\n"
         "Date: Mon, 6 Jan 2025 10:00:00 +0900\r\nMessage-ID: <20250106.3@partner.example>\r\n"
         "Subject: News\r\nMIME-Version: 1.0\r\nContent-Type: text/html; charset=iso-8859-1\r\n"
         "Content-Transfer-Encoding: " + encoding + "\r\n\r\n" + html;
}

TEST_F(Traits2RulesTest, WebPageSentAsTheWholeMessage) {
  const std::string page =
      "<html><head><meta http-equiv=\"Content-Type\" content=\"text/html; charset=iso-8859-1\">"
      "<title>News</title></head><body><p>Our news of the week.</p></body></html>\r\n";
  Verdict v = scan(html_only("7bit", page));
  EXPECT_TRUE(v.has("HTML_PAGE_PASTED")) << v.to_text();
  EXPECT_EQ(v.action, Action::kDeliver) << v.to_text();
  // Quoted-printable writes the attribute's "=" as "=3D".
  Verdict q = scan(html_only("quoted-printable",
                             "<html><head><META http-equiv=3D\"Content-Type\" content=3D\"text/html; "
                             "charset=3Diso-8859-1\"></head><body><p>Our news.</p></body></html>\r\n"));
  EXPECT_TRUE(q.has("HTML_PAGE_PASTED")) << q.to_text();
  // HTML without the page head, and the same page beside a text/plain part (what Outlook
  // Express sends), do not count.
  Verdict n = scan(html_only("7bit", "<html><body><p>Our news of the week.</p></body></html>\r\n"));
  EXPECT_FALSE(n.has("HTML_PAGE_PASTED")) << n.to_text();
  const std::string b = "----=_NextPart_000_0005_01C24A00.1B2C3D4E";
  std::string alt = multipart(b);
  alt.replace(alt.find("<html><body>"), 12,
              "<html><head><meta http-equiv=\"Content-Type\" content=\"text/html\"></head><body>");
  Verdict a = scan(alt);
  EXPECT_FALSE(a.has("HTML_PAGE_PASTED")) << a.to_text();
}

TEST_F(Traits2RulesTest, TwoForgeriesMakeTheMeta) {
  const std::string helo_ip =
      "Received: from 200.161.16.132 (unknown [210.19.113.130]) by mx.ours.example (Postfix) with "
      "SMTP id 1; Wed, 21 Aug 2002 20:31:59 -0400\r\n";
  Verdict one = scan(message(helo_ip));
  EXPECT_TRUE(one.has("RCVD_HELO_BARE_IP")) << one.to_text();
  EXPECT_FALSE(one.has("FORGERY_SEVERAL")) << one.to_text();
  Verdict two = scan(message(helo_ip, "Meeting notes", "Wed, 21 Aug 2002 20:31:57 -1600"));
  EXPECT_TRUE(two.has("DATE_IMPOSSIBLE_ZONE")) << two.to_text();
  EXPECT_TRUE(two.has("FORGERY_SEVERAL")) << two.to_text();
  // Each trait stays well under the junk threshold; two of them together still do not junk
  // an otherwise clean message on their own.
  EXPECT_EQ(two.action, Action::kDeliver) << two.to_text();
}

}  // namespace
}  // namespace tsubame::filter
