// tests/store/replies_test.cc: sent Message-IDs for the reply memory and recipients for the
// correspondent memory (store/replies.h): recorded and found with or without angle brackets,
// expiry and its extension, purge of expired records only, skips of malformed entries, and no
// Message-ID or address text on disk.
#include "store/replies.h"

#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "common/bytes.h"
#include "store/store.h"
#include "tests/store/mail_fixture.h"
#include "tests/store/test_util.h"

namespace tsubame::store {
namespace {

using testing::TempStore;

constexpr int64_t kDay = 24 * 3600 * 1000LL;
constexpr int64_t kNow = 1'700'000'000'000LL;

// What smtpd records of a submission with this Message-ID and no outside recipient.
Status sent(Store& st, std::string_view id, int64_t now, int64_t retention = kSentRetentionMs) {
  return remember_submission(st, id, {}, now, retention);
}

Result<bool> known(Store& st, std::vector<std::string> ids, int64_t now = kNow) {
  return replies_to_sent(st, ids, now);
}

TEST(Replies, SentIdIsKnownWithOrWithoutBrackets) {
  TempStore t;
  ASSERT_TRUE(sent(*t, " <quote-42@ours.example>\r\n", kNow).is_ok());
  EXPECT_TRUE(*known(*t, {"quote-42@ours.example"}));
  EXPECT_TRUE(*known(*t, {"<other@elsewhere.example>", "<quote-42@ours.example>"}));
  EXPECT_FALSE(*known(*t, {"quote-43@ours.example"}));
  EXPECT_FALSE(*known(*t, {"QUOTE-42@ours.example"})) << "an id is compared as written";
  EXPECT_FALSE(*known(*t, {}));
  EXPECT_FALSE(*known(*t, {"", "<>"}));
}

TEST(Replies, RecordsExpireAndASecondRecordExtends) {
  TempStore t;
  ASSERT_TRUE(sent(*t, "<a@ours.example>", kNow, 10 * kDay).is_ok());
  EXPECT_TRUE(*known(*t, {"a@ours.example"}, kNow + 10 * kDay - 1));
  EXPECT_FALSE(*known(*t, {"a@ours.example"}, kNow + 10 * kDay));
  ASSERT_TRUE(sent(*t, "<a@ours.example>", kNow + 5 * kDay, 10 * kDay).is_ok());
  EXPECT_TRUE(*known(*t, {"a@ours.example"}, kNow + 12 * kDay));
  // An older record never shortens a later expiry.
  ASSERT_TRUE(sent(*t, "<a@ours.example>", kNow, 1).is_ok());
  EXPECT_TRUE(*known(*t, {"a@ours.example"}, kNow + 12 * kDay));
  EXPECT_EQ(kSentRetentionMs, 183 * kDay);
}

TEST(Replies, PurgeRemovesOnlyExpiredRecords) {
  TempStore t;
  ASSERT_TRUE(sent(*t, "<old-1@ours.example>", kNow, kDay).is_ok());
  ASSERT_TRUE(sent(*t, "<old-2@ours.example>", kNow, 2 * kDay).is_ok());
  ASSERT_TRUE(sent(*t, "<new@ours.example>", kNow, 30 * kDay).is_ok());
  auto n = purge_sent(*t, kNow + 3 * kDay);
  ASSERT_TRUE(n.is_ok()) << n.status().to_string();
  EXPECT_EQ(*n, 2u);
  EXPECT_TRUE(*known(*t, {"new@ours.example"}, kNow + 3 * kDay));
  // Purged records are gone even for a clock that goes back.
  EXPECT_FALSE(*known(*t, {"old-2@ours.example"}, kNow));
  EXPECT_EQ(*purge_sent(*t, kNow + 3 * kDay), 0u);
}

TEST(Replies, SkipsEmptyAndOverlongIdsAndLooksUpAtMostTheCap) {
  TempStore t;
  // A submission's bad Message-ID is skipped, not an error: the mail was accepted.
  ASSERT_TRUE(sent(*t, "", kNow).is_ok());
  ASSERT_TRUE(sent(*t, " <> ", kNow).is_ok());
  EXPECT_FALSE(*known(*t, {"", "<>"}));
  const std::string huge = "<" + std::string(kMaxMessageIdBytes + 1, 'x') + "@ours.example>";
  ASSERT_TRUE(sent(*t, huge, kNow).is_ok());
  EXPECT_FALSE(*known(*t, {huge}));
  ASSERT_TRUE(sent(*t, "<late@ours.example>", kNow).is_ok());
  std::vector<std::string> many(kMaxReplyLookups, "<unknown@elsewhere.example>");
  many.push_back("<late@ours.example>");
  EXPECT_FALSE(*known(*t, many)) << "ids past kMaxReplyLookups are not read";
  many.erase(many.begin());
  EXPECT_TRUE(*known(*t, many));
}

TEST(Replies, OnlyAnHmacOfTheIdIsOnDisk) {
  TempStore t;
  ASSERT_TRUE(sent(*t, "<secret-thread-zq7@ours.example>", kNow).is_ok());
  t.close();
  const std::string file = testing::slurp(t.dir() + "/data/data.mdb");
  ASSERT_FALSE(file.empty());
  EXPECT_EQ(file.find("secret-thread-zq7"), std::string::npos);
  t.open();
  EXPECT_TRUE(*known(*t, {"secret-thread-zq7@ours.example"}));
}

// ---- correspondents ----

Result<bool> wrote_to(Store& st, std::string_view address, int64_t now = kNow) {
  return correspondent_known(st, address, now);
}

TEST(Correspondents, ASubmissionRecordsItsIdAndRecipientsAtOnce) {
  TempStore t;
  EXPECT_FALSE(*wrote_to(*t, "buyer@customer.example")) << "nothing recorded yet";
  const std::vector<std::string> rcpts = {"Buyer@Customer.Example", "<cfo@customer.example>"};
  ASSERT_TRUE(remember_submission(*t, "<quote-7@ours.example>", rcpts, kNow).is_ok());
  EXPECT_TRUE(*known(*t, {"quote-7@ours.example"}));
  EXPECT_TRUE(*wrote_to(*t, "buyer@customer.example")) << "compared case-insensitively";
  EXPECT_TRUE(*wrote_to(*t, " <CFO@customer.example>\r\n"));
  EXPECT_FALSE(*wrote_to(*t, "ceo@customer.example"));
  EXPECT_FALSE(*wrote_to(*t, "buyer@customer.example.evil"));
  EXPECT_FALSE(*wrote_to(*t, ""));
  // A submission without a Message-ID still records its recipients, and the reverse.
  ASSERT_TRUE(remember_submission(*t, "", std::vector<std::string>{"new@partner.example"}, kNow).is_ok());
  EXPECT_TRUE(*wrote_to(*t, "new@partner.example"));
  ASSERT_TRUE(remember_submission(*t, "<note-8@ours.example>", {}, kNow).is_ok());
  EXPECT_TRUE(*known(*t, {"note-8@ours.example"}));
  EXPECT_TRUE(remember_submission(*t, "", {}, kNow).is_ok()) << "nothing to record is no error";
}

TEST(Correspondents, MalformedEntriesAreSkippedAndTheRestRecorded) {
  TempStore t;
  const std::string long_address = std::string(kMaxAddressBytes, 'a') + "@x.example";
  const std::vector<std::string> rcpts = {"", "no-at-sign", "@customer.example", "buyer@", long_address,
                                          "ok@customer.example"};
  const std::string huge_id = "<" + std::string(kMaxMessageIdBytes + 1, 'x') + ">";
  ASSERT_TRUE(remember_submission(*t, huge_id, rcpts, kNow).is_ok()) << "the mail was accepted: skip, not fail";
  EXPECT_TRUE(*wrote_to(*t, "ok@customer.example"));
  EXPECT_FALSE(*known(*t, {huge_id}));
  for (const std::string& bad : rcpts) {
    if (bad == "ok@customer.example") continue;
    EXPECT_FALSE(*wrote_to(*t, bad)) << bad;
  }
  // One call records at most kMaxCorrespondentsPerMessage recipients.
  std::vector<std::string> many;
  for (size_t i = 0; i <= kMaxCorrespondentsPerMessage; ++i) many.push_back("r" + std::to_string(i) + "@list.example");
  ASSERT_TRUE(remember_submission(*t, "", many, kNow).is_ok());
  EXPECT_TRUE(*wrote_to(*t, many[kMaxCorrespondentsPerMessage - 1]));
  EXPECT_FALSE(*wrote_to(*t, many.back()));
}

TEST(Correspondents, ExpireExtendAndPurgeApartFromTheSentIds) {
  TempStore t;
  const std::vector<std::string> old_rcpt = {"old@customer.example"};
  const std::vector<std::string> new_rcpt = {"new@customer.example"};
  ASSERT_TRUE(remember_submission(*t, "<id-1@ours.example>", old_rcpt, kNow, kDay).is_ok());
  ASSERT_TRUE(remember_submission(*t, "", new_rcpt, kNow, 10 * kDay).is_ok());
  EXPECT_TRUE(*wrote_to(*t, "old@customer.example", kNow + kDay - 1));
  EXPECT_FALSE(*wrote_to(*t, "old@customer.example", kNow + kDay));
  // Writing again extends; an older send never shortens.
  ASSERT_TRUE(remember_submission(*t, "", new_rcpt, kNow + 5 * kDay, 10 * kDay).is_ok());
  ASSERT_TRUE(remember_submission(*t, "", new_rcpt, kNow, 1).is_ok());
  EXPECT_TRUE(*wrote_to(*t, "new@customer.example", kNow + 12 * kDay));
  auto n = purge_correspondents(*t, kNow + 2 * kDay);
  ASSERT_TRUE(n.is_ok()) << n.status().to_string();
  EXPECT_EQ(*n, 1u);
  EXPECT_FALSE(*wrote_to(*t, "old@customer.example", kNow));
  EXPECT_TRUE(*wrote_to(*t, "new@customer.example", kNow + 2 * kDay));
  EXPECT_TRUE(*known(*t, {"id-1@ours.example"}, kNow)) << "the sent id is purged by purge_sent() alone";
  EXPECT_EQ(*purge_sent(*t, kNow + 2 * kDay), 1u);
  EXPECT_EQ(*purge_correspondents(*t, kNow + 2 * kDay), 0u);
}

TEST(Correspondents, OnlyAnHmacOfTheAddressIsOnDisk) {
  TempStore t;
  ASSERT_TRUE(remember_submission(*t, "", std::vector<std::string>{"secret-partner-q9@customer.example"}, kNow).is_ok());
  t.close();
  const std::string file = testing::slurp(t.dir() + "/data/data.mdb");
  ASSERT_FALSE(file.empty());
  EXPECT_EQ(file.find("secret-partner-q9"), std::string::npos);
  t.open();
  EXPECT_TRUE(*wrote_to(*t, "secret-partner-q9@customer.example"));
}

// ---- a mail program's copy in \Sent ----

class SentCopies : public testing::MailTest {
 protected:
  // A copy of a message alice sent, as her mail program appends it: To a partner and a
  // colleague here (example.com is this store's domain), Cc another partner, Bcc a third.
  static MessageSummary sent_summary(const std::string& tag) {
    MessageSummary s = testing::summary_for(tag, "alice@example.com", 100);
    auto addr = [](const char* mailbox, const char* host) {
      MailAddress a;
      a.mailbox = mailbox;
      a.host = host;
      return a;
    };
    s.envelope.to = {addr("partner", "Customer.Example"), addr("bob", "EXAMPLE.com")};
    s.envelope.cc = {MailAddress{}, addr("buyer", "customer.example"), MailAddress{}};  // a group's marks
    s.envelope.bcc = {addr("auditor", "firm.example")};
    s.envelope.message_id = "<" + tag + "@example.com>";
    return s;
  }
  Result<DeliveredCopy> append_to(const std::string& mailbox, const std::string& tag, int64_t internal_date = 0) {
    const std::string raw = testing::raw_message(tag, "text", "alice@example.com");
    return store().append(alice, box(alice, mailbox).id, raw, sent_summary(tag), 0, {}, internal_date);
  }
};

TEST_F(SentCopies, AnAppendToSentRecordsItsIdAndOutsideRecipients) {
  ASSERT_TRUE(append_to("Sent", "copy-1").is_ok());
  const int64_t now = unix_now_ms();
  EXPECT_TRUE(*replies_to_sent(store(), std::vector<std::string>{"copy-1@example.com"}, now));
  for (const char* a : {"partner@customer.example", "buyer@customer.example", "auditor@firm.example"})
    EXPECT_TRUE(*correspondent_known(store(), a, now)) << a;
  EXPECT_FALSE(*correspondent_known(store(), "bob@example.com", now)) << "a user here is never vouched for";
  EXPECT_TRUE(*replies_to_sent(store(), std::vector<std::string>{"copy-1@example.com"}, now + kSentRetentionMs - 5000)) << "kept as long as a submission's";
  EXPECT_FALSE(*replies_to_sent(store(), std::vector<std::string>{"copy-1@example.com"}, now + kSentRetentionMs + 5000));
}

TEST_F(SentCopies, AMigratedCopyCountsFromItsInternalDate) {
  const int64_t now_s = unix_now_ms() / 1000;
  const int64_t day_s = 24 * 3600;
  // Sent 100 days ago (an old Sent folder copied in): known for the rest of its 183 days.
  ASSERT_TRUE(append_to("Sent", "copy-100d", now_s - 100 * day_s).is_ok());
  const int64_t now = unix_now_ms();
  const std::vector<std::string> id100 = {"copy-100d@example.com"};
  EXPECT_TRUE(*replies_to_sent(store(), id100, now));
  EXPECT_FALSE(*replies_to_sent(store(), id100, now + 84 * kDay)) << "183 days from the send, not from the append";
  // Sent two years ago: past the retention, nothing is recorded.
  ASSERT_TRUE(append_to("Sent", "copy-2y", now_s - 730 * day_s).is_ok());
  EXPECT_FALSE(*replies_to_sent(store(), std::vector<std::string>{"copy-2y@example.com"}, now));
  // A date in the future counts from now.
  ASSERT_TRUE(append_to("Sent", "copy-future", now_s + 400 * day_s).is_ok());
  const std::vector<std::string> idf = {"copy-future@example.com"};
  EXPECT_TRUE(*replies_to_sent(store(), idf, now + 182 * kDay));
  EXPECT_FALSE(*replies_to_sent(store(), idf, now + 184 * kDay));
}

TEST_F(SentCopies, OtherMailboxesRecordNothing) {
  for (const char* mailbox : {"INBOX", "Drafts"}) ASSERT_TRUE(append_to(mailbox, std::string("not-sent-") + mailbox).is_ok());
  const int64_t now = unix_now_ms();
  EXPECT_FALSE(*correspondent_known(store(), "partner@customer.example", now));
  EXPECT_FALSE(*replies_to_sent(store(), std::vector<std::string>{"not-sent-INBOX@example.com", "not-sent-Drafts@example.com"}, now));
}

TEST_F(SentCopies, TheBatchPathRecordsTooAndARefusedAppendRecordsNothing) {
  // imapd's writer: APPEND goes through write_batch.
  const std::string raw = testing::raw_message("copy-2", "text", "alice@example.com");
  AppendRequest ok{alice, box(alice, "Sent").id, raw, sent_summary("copy-2"), 0, {}, 0};
  AppendRequest bad = ok;  // another user's mailbox: refused, and its id stays unknown
  bad.user_id = bob;
  bad.summary = sent_summary("copy-3");
  auto out = store().write_batch({WriteRequest{ok}, WriteRequest{bad}});
  ASSERT_EQ(out.size(), 2u);
  EXPECT_TRUE(out[0].status.is_ok()) << out[0].status.to_string();
  EXPECT_FALSE(out[1].status.is_ok());
  const int64_t now = unix_now_ms();
  EXPECT_TRUE(*replies_to_sent(store(), std::vector<std::string>{"copy-2@example.com"}, now));
  EXPECT_FALSE(*replies_to_sent(store(), std::vector<std::string>{"copy-3@example.com"}, now));
  EXPECT_TRUE(*correspondent_known(store(), "partner@customer.example", now));
}

}  // namespace
}  // namespace tsubame::store
