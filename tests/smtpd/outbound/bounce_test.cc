// tests/smtpd/outbound/bounce_test.cc: the RFC 3464 DSN structure (parsed back with the
// filter's MIME parser), NOTIFY rules (RFC 3461 §4.1), RET, xtext and the original's size cap.
#include <gtest/gtest.h>

#include <string>

#include "common/bytes.h"
#include "filter/mime.h"
#include "smtpd/outbound/bounce.h"
#include "smtpd/outbound/limits.h"

namespace tsubame::smtp::outbound {
namespace {

const char* kOriginal = "From: alice@local.test\r\nTo: bob@remote.test\r\nSubject: lunch\r\n\r\nsee you at noon\r\n";

DsnInput input() {
  DsnInput in;
  in.reporting_mta = "mx.local.test";
  in.queue_id = "0123456789ABCDEFGH";
  in.original_sender = "alice@local.test";
  in.arrival_ms = 1'700'000'000'000;
  in.now_ms = 1'700'000'100'000;
  DsnRecipient r;
  r.address = "bob@remote.test";
  r.orcpt = "rfc822;Bob+2Bx@remote.test";
  r.action = std::string(kActionFailed);
  r.status = "5.1.1";
  r.remote_mta = "mx.remote.test";
  r.diagnostic = "550 5.1.1 no such user";
  r.last_attempt_ms = in.now_ms;
  in.recipients.push_back(r);
  in.original = kOriginal;
  return in;
}

std::string part_text(const std::string& raw, const BodyPart& p) {
  return raw.substr(p.body_offset, p.body_end - p.body_offset);
}

TEST(Dsn, MultipartReportWithThreeParts) {
  std::string dsn = build_dsn(input());
  auto parsed = filter::parse_message(dsn);
  ASSERT_TRUE(parsed.is_ok());
  const BodyPart& root = parsed->summary.body;
  EXPECT_EQ(to_lower(root.type), "multipart");
  EXPECT_EQ(to_lower(root.subtype), "report");
  bool report_type = false;
  for (auto& [k, v] : root.params) report_type = report_type || (to_lower(k) == "report-type" && v == "delivery-status");
  EXPECT_TRUE(report_type);
  ASSERT_EQ(root.children.size(), 3u);
  EXPECT_EQ(to_lower(root.children[0].subtype), "plain");
  EXPECT_EQ(to_lower(root.children[1].type), "message");
  EXPECT_EQ(to_lower(root.children[1].subtype), "delivery-status");
  EXPECT_EQ(to_lower(root.children[2].subtype), "rfc822");

  std::string status = part_text(dsn, root.children[1]);
  EXPECT_NE(status.find("Reporting-MTA: dns; mx.local.test\r\n"), std::string::npos) << status;
  EXPECT_NE(status.find("Arrival-Date: Tue, 14 Nov 2023 22:13:20 +0000\r\n"), std::string::npos) << status;
  EXPECT_NE(status.find("Final-Recipient: rfc822; bob@remote.test\r\n"), std::string::npos);
  EXPECT_NE(status.find("Original-Recipient: rfc822; Bob+x@remote.test\r\n"), std::string::npos) << status;
  EXPECT_NE(status.find("Action: failed\r\n"), std::string::npos);
  EXPECT_NE(status.find("Status: 5.1.1\r\n"), std::string::npos);
  EXPECT_NE(status.find("Remote-MTA: dns; mx.remote.test\r\n"), std::string::npos);
  EXPECT_NE(status.find("Diagnostic-Code: smtp; 550 5.1.1 no such user\r\n"), std::string::npos);
  EXPECT_NE(status.find("Last-Attempt-Date: "), std::string::npos);
  EXPECT_NE(part_text(dsn, root.children[2]).find("see you at noon"), std::string::npos);

  EXPECT_EQ(dsn.rfind("From: Mail Delivery System <MAILER-DAEMON@mx.local.test>\r\n", 0), 0u);
  EXPECT_NE(dsn.find("\r\nTo: <alice@local.test>\r\n"), std::string::npos);
  EXPECT_NE(dsn.find("\r\nAuto-Submitted: auto-replied\r\n"), std::string::npos);
  // Every line ends in CRLF.
  for (size_t i = 0; i < dsn.size(); ++i) {
    if (dsn[i] == '\n') {
      ASSERT_TRUE(i > 0 && dsn[i - 1] == '\r') << "bare LF at " << i;
    }
  }
}

TEST(Dsn, RetHdrsReturnsHeadersOnly) {
  DsnInput in = input();
  in.ret = "HDRS";
  in.envid = "ENV+2B1";
  std::string dsn = build_dsn(in);
  EXPECT_NE(dsn.find("Content-Type: text/rfc822-headers"), std::string::npos);
  EXPECT_NE(dsn.find("Subject: lunch"), std::string::npos);
  EXPECT_EQ(dsn.find("see you at noon"), std::string::npos);
  EXPECT_NE(dsn.find("Original-Envelope-Id: ENV+1\r\n"), std::string::npos);
}

TEST(Dsn, LargeOriginalIsCutToHeaders) {
  DsnInput in = input();
  in.ret = "FULL";
  std::string big = std::string(kOriginal) + std::string(kMaxBounceOriginal, 'x');
  in.original = big;
  std::string dsn = build_dsn(in);
  EXPECT_NE(dsn.find("text/rfc822-headers"), std::string::npos);
  EXPECT_LT(dsn.size(), 16384u);
}

TEST(Dsn, RelayedReportHasItsOwnSubject) {
  DsnInput in = input();
  in.recipients[0].action = std::string(kActionRelayed);
  in.recipients[0].status = "2.0.0";
  std::string dsn = build_dsn(in);
  EXPECT_NE(dsn.find("Subject: Delivery Status Notification (Relayed)"), std::string::npos);
  EXPECT_NE(dsn.find("Action: relayed\r\n"), std::string::npos);
}

TEST(Dsn, NotifyRules) {
  EXPECT_TRUE(wants_dsn("", kActionFailed));  // RFC 3461 §4.1 default: failures
  EXPECT_FALSE(wants_dsn("", kActionRelayed));
  EXPECT_FALSE(wants_dsn("NEVER", kActionFailed));
  EXPECT_TRUE(wants_dsn("SUCCESS,FAILURE", kActionFailed));
  EXPECT_FALSE(wants_dsn("SUCCESS", kActionFailed));
  EXPECT_TRUE(wants_dsn("success", kActionRelayed));
  EXPECT_TRUE(wants_dsn("FAILURE,DELAY", kActionDelayed));
  EXPECT_FALSE(should_bounce(""));  // never bounce a bounce
  EXPECT_TRUE(should_bounce("alice@local.test"));
}

TEST(Dsn, StatusAndXtextAndDate) {
  EXPECT_EQ(status_for(550, "5.1.1", true), "5.1.1");
  EXPECT_EQ(status_for(550, "", true), "5.0.0");
  EXPECT_EQ(status_for(451, "", false), "4.0.0");
  EXPECT_EQ(xtext_decode("a+2Bb+3Dc"), "a+b=c");
  EXPECT_EQ(xtext_decode("bad+zz"), "bad+zz");
  EXPECT_EQ(rfc5322_date(0), "Thu, 01 Jan 1970 00:00:00 +0000");
}

}  // namespace
}  // namespace tsubame::smtp::outbound
