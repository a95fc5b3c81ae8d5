#include "common/message_summary.h"

#include <gtest/gtest.h>

namespace tsubame {

static MessageSummary sample() {
  MessageSummary s;
  s.envelope.subject = "=?UTF-8?B?44GT44KT?=";
  s.envelope.from.push_back({"Alice", std::nullopt, "alice", "example.com"});
  s.envelope.message_id = "<1@example.com>";
  s.body.type = "multipart";
  s.body.subtype = "mixed";
  s.body.params = {{"boundary", "xyz"}};
  BodyPart text;
  text.params = {{"charset", "utf-8"}};
  text.size = 10;
  text.lines = 1;
  BodyPart msg;
  msg.type = "message";
  msg.subtype = "rfc822";
  msg.envelope.emplace();
  msg.envelope->subject = "inner";
  msg.children.push_back(BodyPart{});
  s.body.children = {text, msg};
  s.size = 1234;
  s.references = {"<0@example.com>"};
  s.sent_date = 1700000000;
  s.has_attachments = true;
  return s;
}

TEST(MessageSummary, RoundTripKeepsEveryField) {
  MessageSummary s = sample();
  auto back = decode_summary(encode_summary(s));
  ASSERT_TRUE(back.is_ok()) << back.status().to_string();
  EXPECT_EQ(*back, s);
  EXPECT_TRUE(back->body.is_multipart());
  EXPECT_TRUE(back->body.children[1].is_message());
}

TEST(MessageSummary, CorruptInputIsAnErrorNotACrash) {
  std::string bytes = encode_summary(sample());
  for (size_t cut = 0; cut < bytes.size(); cut += 3) {
    auto r = decode_summary(std::string_view(bytes).substr(0, cut));
    EXPECT_FALSE(r.is_ok());
    EXPECT_EQ(r.status().code(), Code::kCorruption);
  }
  bytes[0] = 99;
  EXPECT_FALSE(decode_summary(bytes).is_ok());
}

}  // namespace tsubame
