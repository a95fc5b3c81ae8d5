// tests/store/replies_test.cc: sent Message-IDs for the reply memory (store/replies.h):
// recorded and found with or without angle brackets, expiry and its extension, purge of
// expired records only, refusals, and no Message-ID text on disk.
#include "store/replies.h"

#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "store/store.h"
#include "tests/store/test_util.h"

namespace tsubame::store {
namespace {

using testing::TempStore;

constexpr int64_t kDay = 24 * 3600 * 1000LL;
constexpr int64_t kNow = 1'700'000'000'000LL;

Result<bool> known(Store& st, std::vector<std::string> ids, int64_t now = kNow) {
  return replies_to_sent(st, ids, now);
}

TEST(Replies, SentIdIsKnownWithOrWithoutBrackets) {
  TempStore t;
  ASSERT_TRUE(remember_sent(*t, " <quote-42@ours.example>\r\n", kNow).is_ok());
  EXPECT_TRUE(*known(*t, {"quote-42@ours.example"}));
  EXPECT_TRUE(*known(*t, {"<other@elsewhere.example>", "<quote-42@ours.example>"}));
  EXPECT_FALSE(*known(*t, {"quote-43@ours.example"}));
  EXPECT_FALSE(*known(*t, {"QUOTE-42@ours.example"})) << "an id is compared as written";
  EXPECT_FALSE(*known(*t, {}));
  EXPECT_FALSE(*known(*t, {"", "<>"}));
}

TEST(Replies, RecordsExpireAndASecondRecordExtends) {
  TempStore t;
  ASSERT_TRUE(remember_sent(*t, "<a@ours.example>", kNow, 10 * kDay).is_ok());
  EXPECT_TRUE(*known(*t, {"a@ours.example"}, kNow + 10 * kDay - 1));
  EXPECT_FALSE(*known(*t, {"a@ours.example"}, kNow + 10 * kDay));
  ASSERT_TRUE(remember_sent(*t, "<a@ours.example>", kNow + 5 * kDay, 10 * kDay).is_ok());
  EXPECT_TRUE(*known(*t, {"a@ours.example"}, kNow + 12 * kDay));
  // An older record never shortens a later expiry.
  ASSERT_TRUE(remember_sent(*t, "<a@ours.example>", kNow, 1).is_ok());
  EXPECT_TRUE(*known(*t, {"a@ours.example"}, kNow + 12 * kDay));
  EXPECT_EQ(kSentRetentionMs, 183 * kDay);
}

TEST(Replies, PurgeRemovesOnlyExpiredRecords) {
  TempStore t;
  ASSERT_TRUE(remember_sent(*t, "<old-1@ours.example>", kNow, kDay).is_ok());
  ASSERT_TRUE(remember_sent(*t, "<old-2@ours.example>", kNow, 2 * kDay).is_ok());
  ASSERT_TRUE(remember_sent(*t, "<new@ours.example>", kNow, 30 * kDay).is_ok());
  auto n = purge_sent(*t, kNow + 3 * kDay);
  ASSERT_TRUE(n.is_ok()) << n.status().to_string();
  EXPECT_EQ(*n, 2u);
  EXPECT_TRUE(*known(*t, {"new@ours.example"}, kNow + 3 * kDay));
  // Purged records are gone even for a clock that goes back.
  EXPECT_FALSE(*known(*t, {"old-2@ours.example"}, kNow));
  EXPECT_EQ(*purge_sent(*t, kNow + 3 * kDay), 0u);
}

TEST(Replies, RefusesEmptyAndOverlongIdsAndLooksUpAtMostTheCap) {
  TempStore t;
  EXPECT_EQ(remember_sent(*t, "", kNow).code(), Code::kInvalidArgument);
  EXPECT_EQ(remember_sent(*t, " <> ", kNow).code(), Code::kInvalidArgument);
  const std::string huge = "<" + std::string(kMaxMessageIdBytes + 1, 'x') + "@ours.example>";
  EXPECT_EQ(remember_sent(*t, huge, kNow).code(), Code::kInvalidArgument);
  EXPECT_FALSE(*known(*t, {huge}));
  ASSERT_TRUE(remember_sent(*t, "<late@ours.example>", kNow).is_ok());
  std::vector<std::string> many(kMaxReplyLookups, "<unknown@elsewhere.example>");
  many.push_back("<late@ours.example>");
  EXPECT_FALSE(*known(*t, many)) << "ids past kMaxReplyLookups are not read";
  many.erase(many.begin());
  EXPECT_TRUE(*known(*t, many));
}

TEST(Replies, OnlyAnHmacOfTheIdIsOnDisk) {
  TempStore t;
  ASSERT_TRUE(remember_sent(*t, "<secret-thread-zq7@ours.example>", kNow).is_ok());
  t.close();
  const std::string file = testing::slurp(t.dir() + "/data/data.mdb");
  ASSERT_FALSE(file.empty());
  EXPECT_EQ(file.find("secret-thread-zq7"), std::string::npos);
  t.open();
  EXPECT_TRUE(*known(*t, {"secret-thread-zq7@ours.example"}));
}

}  // namespace
}  // namespace tsubame::store
