// tests/filter/mime_test_util.h: helpers shared by the mime_*_test.cc binaries.
#pragma once

#include <gtest/gtest.h>

#include <fstream>
#include <sstream>
#include <string>
#include <string_view>

#include "common/message_summary.h"

namespace tsubame::filter::testing {

inline std::string read_fixture(std::string_view name) {
  std::string path = std::string(TSUBAME_SOURCE_DIR) + "/tests/filter/fixtures/mime/" + std::string(name);
  std::ifstream in(path, std::ios::binary);
  EXPECT_TRUE(in.good()) << path;
  std::ostringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

// LF -> CRLF (the fixtures are stored with LF; SMTP delivers CRLF).
inline std::string to_crlf(std::string_view s) {
  std::string out;
  out.reserve(s.size() + s.size() / 20);
  for (size_t i = 0; i < s.size(); ++i) {
    if (s[i] == '\n' && (i == 0 || s[i - 1] != '\r')) out += '\r';
    out += s[i];
  }
  return out;
}

inline std::string_view slice(std::string_view raw, uint64_t b, uint64_t e) {
  return raw.substr(b, e - b);
}

// Structural invariants of a BodyPart tree against the raw message: offsets ordered and in
// range, size = body length, children inside the parent's body and in order, the MIME
// header of a non-root part ends with a blank line (or is empty), message/rfc822 parts
// have exactly one child that spans the part's body. strict=false skips the blank-line
// check (malformed input may end a part inside its header).
inline void check_offsets(std::string_view raw, const BodyPart& p, bool root = true,
                          bool strict = true) {
  ASSERT_LE(p.header_offset, p.body_offset);
  ASSERT_LE(p.body_offset, p.body_end);
  ASSERT_LE(p.body_end, raw.size());
  EXPECT_EQ(p.size, p.body_end - p.body_offset);
  std::string_view hdr = slice(raw, p.header_offset, p.body_offset);
  if (strict && !root && !hdr.empty()) {
    EXPECT_TRUE(hdr.ends_with("\n\n") || hdr.ends_with("\r\n\r\n") || hdr == "\n" || hdr == "\r\n")
        << "header: [" << hdr << "]";
  }
  uint64_t prev = p.body_offset;
  for (const auto& c : p.children) {
    EXPECT_GE(c.header_offset, prev);
    EXPECT_LE(c.body_end, p.body_end);
    prev = c.body_end;
    check_offsets(raw, c, false, strict);
  }
  if (p.is_message()) {
    ASSERT_EQ(p.children.size(), 1u);
    EXPECT_EQ(p.children[0].header_offset, p.body_offset);
    EXPECT_EQ(p.children[0].body_end, p.body_end);
    EXPECT_TRUE(p.envelope.has_value());
  }
  if (p.is_multipart()) {
    EXPECT_FALSE(p.children.empty());
  }
}

}  // namespace tsubame::filter::testing
