#include "common/bytes.h"

#include <gtest/gtest.h>

namespace tsubame {

TEST(Bytes, BigEndianKeysSortInNumericOrder) {
  EXPECT_LT(be64(1), be64(2));
  EXPECT_LT(be64(255), be64(256));
  EXPECT_LT(be32(0x00ffffff), be32(0x01000000));
  EXPECT_EQ(get_be64(be64(0x0102030405060708ull).data()), 0x0102030405060708ull);
}

TEST(Bytes, WriterReaderRoundTrip) {
  ByteWriter w;
  w.u8(7).u32(0xdeadbeef).u64(1ull << 40).varint(300).i64(-5).str("hello").str("");
  ByteReader r(w.data());
  uint8_t a; uint32_t b; uint64_t c, d; int64_t e; std::string f, g;
  ASSERT_TRUE(r.u8(a) && r.u32(b) && r.u64(c) && r.varint(d) && r.i64(e) && r.str(f) && r.str(g));
  EXPECT_EQ(a, 7); EXPECT_EQ(b, 0xdeadbeef); EXPECT_EQ(c, 1ull << 40); EXPECT_EQ(d, 300u);
  EXPECT_EQ(e, -5); EXPECT_EQ(f, "hello"); EXPECT_EQ(g, "");
  EXPECT_TRUE(r.done());
}

TEST(Bytes, ReaderRefusesTruncatedInput) {
  ByteWriter w;
  w.str("a long enough string");
  std::string data = w.take();
  data.resize(data.size() - 3);
  ByteReader r(data);
  std::string s;
  EXPECT_FALSE(r.str(s));
  uint64_t v;
  ByteReader bad("\xff\xff");
  EXPECT_FALSE(bad.varint(v));
}

TEST(Bytes, Base64Rfc4648Vectors) {
  const char* plain[] = {"", "f", "fo", "foo", "foob", "fooba", "foobar"};
  const char* enc[] = {"", "Zg==", "Zm8=", "Zm9v", "Zm9vYg==", "Zm9vYmE=", "Zm9vYmFy"};
  for (int i = 0; i < 7; i++) {
    EXPECT_EQ(base64_encode(plain[i]), enc[i]);
    EXPECT_EQ(base64_decode(enc[i]).value(), plain[i]);
  }
  EXPECT_FALSE(base64_decode("Zm9v!").has_value());
  EXPECT_FALSE(base64_decode("Z").has_value());
}

TEST(Bytes, HexDigitAndPercentDecode) {
  EXPECT_EQ(hex_digit('7'), 7);
  EXPECT_EQ(hex_digit('b'), 11);
  EXPECT_EQ(hex_digit('F'), 15);
  EXPECT_EQ(hex_digit('g'), -1);
  EXPECT_EQ(percent_decode("ilug%40linux.ie%7C17"), "ilug@linux.ie|17");
  EXPECT_EQ(percent_decode("%e2%82%ac"), "\xe2\x82\xac");
  // A '%' without two hex digits after it is kept as written, also at the very end.
  EXPECT_EQ(percent_decode("100% %zz %4"), "100% %zz %4");
  EXPECT_EQ(percent_decode("%41"), "A");
}

TEST(Bytes, HexAndConstantTimeEqual) {
  EXPECT_EQ(to_hex("\x01\xab"), "01ab");
  EXPECT_EQ(from_hex("01AB").value(), "\x01\xab");
  EXPECT_FALSE(from_hex("0g").has_value());
  EXPECT_TRUE(constant_time_equal("secret", "secret"));
  EXPECT_FALSE(constant_time_equal("secret", "secreT"));
  EXPECT_FALSE(constant_time_equal("secret", "secrets"));
}

TEST(Bytes, RandomBytesDiffer) {
  EXPECT_EQ(random_bytes(32).size(), 32u);
  EXPECT_NE(random_bytes(16), random_bytes(16));
}

TEST(Bytes, StringHelpers) {
  EXPECT_EQ(to_lower("MiXeD"), "mixed");
  EXPECT_TRUE(iequals("INBOX", "inbox"));
  EXPECT_EQ(trim("  x y \r\n"), "x y");
  auto parts = split("a,b,,c", ',');
  ASSERT_EQ(parts.size(), 4u);
  EXPECT_EQ(parts[2], "");
}

}  // namespace tsubame
