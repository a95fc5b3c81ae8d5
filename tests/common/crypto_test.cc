#include "common/crypto.h"

#include <gtest/gtest.h>

#include "common/bytes.h"

namespace tsubame::crypto {

TEST(Crypto, SealOpenRoundTripAndTamperDetection) {
  std::string key = random_bytes(kKeySize);
  std::string sealed = seal(key, "secret message", "ctx");
  EXPECT_EQ(sealed.size(), 14 + kSealOverhead);
  EXPECT_EQ(sealed.find("secret"), std::string::npos);
  auto back = open(key, sealed, "ctx");
  ASSERT_TRUE(back.is_ok());
  EXPECT_EQ(*back, "secret message");
  EXPECT_FALSE(open(key, sealed, "other ctx").is_ok());          // moved record
  EXPECT_FALSE(open(random_bytes(kKeySize), sealed, "ctx").is_ok());  // wrong key
  for (size_t i = 0; i < sealed.size(); i++) {
    std::string bad = sealed;
    bad[i] ^= 1;
    EXPECT_FALSE(open(key, bad, "ctx").is_ok()) << "bit flip at " << i;
  }
  EXPECT_FALSE(open(key, sealed.substr(0, 10), "ctx").is_ok());
}

TEST(Crypto, Rfc4231HmacVector) {
  // RFC 4231 test case 2
  EXPECT_EQ(to_hex(hmac_sha256("Jefe", "what do ya want for nothing?")),
            "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843");
  EXPECT_EQ(to_hex(sha256("abc")),
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
}

TEST(Crypto, HkdfSeparatesPurposes) {
  std::string master = random_bytes(32);
  EXPECT_NE(hkdf_sha256(master, "a"), hkdf_sha256(master, "b"));
  EXPECT_EQ(hkdf_sha256(master, "a"), hkdf_sha256(master, "a"));
  EXPECT_EQ(hkdf_sha256(master, "a", 16).size(), 16u);
}

TEST(Crypto, PasswordHashIsArgon2idAndVerifies) {
  PasswordParams fast{1, 1024, 1};  // small parameters keep the test quick
  auto h = hash_password("correct horse", fast);
  ASSERT_TRUE(h.is_ok());
  EXPECT_EQ(h->rfind("$argon2id$", 0), 0u);
  EXPECT_TRUE(verify_password("correct horse", *h));
  EXPECT_FALSE(verify_password("correct hors", *h));
  EXPECT_FALSE(verify_password("correct horse", "garbage"));
  EXPECT_NE(*h, *hash_password("correct horse", fast));  // salted
}

}  // namespace tsubame::crypto
