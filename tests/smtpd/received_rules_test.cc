// tests/smtpd/received_rules_test.cc: the contract between the Received line our smtpd
// writes (smtpd/session.h received_header()) and the shipped rules that read it
// (conf/rules/72-relay-path.rules, RCVD_MX_HELO_WORD_PLAIN_SMTP: a single-word HELO over plain
// SMTP from a public address into our MX). The line is made by smtpd's own function, so a
// change to its format that the rule no longer matches fails here, not silently in
// production. The filter is opened on conf/rules as smtpd opens it.
#include <gtest/gtest.h>

#include <string>
#include <tuple>

#include "filter/filter.h"
#include "smtpd/session.h"

namespace tsubame::smtp {
namespace {

class ReceivedRulesTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    auto f = filter::Filter::open({std::string(TSUBAME_SOURCE_DIR) + "/conf/rules", {}, nullptr, {}, {}, {}});
    ASSERT_TRUE(f) << f.status().message();
    filter_ = f.value().release();
  }
  static void TearDownTestSuite() {
    delete filter_;
    filter_ = nullptr;
  }

  // A plain letter under the Received line smtpd writes for this client.
  static filter::Verdict scan_received(const std::string& helo, const std::string& ip, bool esmtp) {
    Envelope e;
    e.helo = helo;
    e.client_ip = ip;
    e.esmtp = esmtp;
    e.recipients.push_back(Recipient{"bob@ours.example"});
    std::string raw = received_header(e, "mx.ours.example", "Q7f3a9c2e1b", "Mon, 6 Jan 2025 10:00:02 +0900") +
                      "From: Alice <alice@partner.example>\r\nTo: bob@ours.example\r\n"
                      "Subject: Tuesday\r\nDate: Mon, 6 Jan 2025 10:00:00 +0900\r\n"
                      "Message-ID: <20250106.1@partner.example>\r\nMIME-Version: 1.0\r\n"
                      "Content-Type: text/plain\r\n\r\nHello Bob,\r\nsee you on Tuesday.\r\nAlice\r\n";
    return filter_->scan(raw, {}, {});
  }
  static inline filter::Filter* filter_ = nullptr;
};

TEST_F(ReceivedRulesTest, OneWordHeloOverPlainSmtpFromAPublicAddress) {
  filter::Verdict v = scan_received("DESKTOP7", "203.0.113.9", false);
  EXPECT_TRUE(v.has("RCVD_MX_HELO_WORD_PLAIN_SMTP")) << v.to_text();
  EXPECT_EQ(v.action, filter::Action::kDeliver) << "one trait alone stays under the junk threshold\n" << v.to_text();
}

TEST_F(ReceivedRulesTest, OrdinaryClientsStayQuiet) {
  for (const auto& [helo, ip, esmtp] : {std::tuple<std::string, std::string, bool>{"DESKTOP7", "203.0.113.9", true},
                                        {"mail.partner.example", "203.0.113.9", false},
                                        {"mail.partner.example", "203.0.113.9", true},
                                        {"printer", "192.168.1.20", false}}) {
    filter::Verdict v = scan_received(helo, ip, esmtp);
    for (const char* id : {"RCVD_MX_HELO_WORD_PLAIN_SMTP", "RCVD_HELO_FREEMAIL_FORGED", "RCVD_TRAIL_SHAPE_FORGED",
                           "RCVD_HELO_BARE_IP", "RCVD_DATE_FORGED"})
      EXPECT_FALSE(v.has(id)) << id << " for " << helo << " [" << ip << "] esmtp=" << esmtp << "\n" << v.to_text();
  }
}

}  // namespace
}  // namespace tsubame::smtp
