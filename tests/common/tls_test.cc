#include "common/tls.h"

#include <gtest/gtest.h>
#include <sys/stat.h>

#include <cstdlib>
#include <filesystem>

namespace tsubame::tls {

class TlsTest : public ::testing::Test {
 protected:
  void SetUp() override {
    char tmpl[] = "/tmp/tsubame-tls-XXXXXX";
    dir_ = mkdtemp(tmpl);
  }
  void TearDown() override { std::filesystem::remove_all(dir_); }
  std::string dir_;
};

TEST_F(TlsTest, SelfSignedCertificateLoadsIntoServerContext) {
  std::string cert = dir_ + "/cert.pem", key = dir_ + "/key.pem";
  ASSERT_TRUE(generate_self_signed(cert, key, {"mail.example.test"}).is_ok());
  struct stat st;
  ASSERT_EQ(stat(key.c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 077, 0u) << "private key must not be readable by others";
  auto ctx = Context::server(cert, key);
  ASSERT_TRUE(ctx.is_ok()) << ctx.status().to_string();
  EXPECT_EQ(SSL_CTX_get_min_proto_version((*ctx)->get()), TLS1_2_VERSION);
  auto ctx13 = Context::server(cert, key, "1.3");
  ASSERT_TRUE(ctx13.is_ok());
  EXPECT_EQ(SSL_CTX_get_min_proto_version((*ctx13)->get()), TLS1_3_VERSION);
}

TEST_F(TlsTest, MissingOrMismatchedFilesAreClearErrors) {
  auto missing = Context::server(dir_ + "/nope.pem", dir_ + "/nope.key");
  ASSERT_FALSE(missing.is_ok());
  EXPECT_NE(missing.status().message().find("nope.pem"), std::string::npos);
  ASSERT_TRUE(generate_self_signed(dir_ + "/a.pem", dir_ + "/a.key", {"a"}).is_ok());
  ASSERT_TRUE(generate_self_signed(dir_ + "/b.pem", dir_ + "/b.key", {"b"}).is_ok());
  auto mismatch = Context::server(dir_ + "/a.pem", dir_ + "/b.key");
  ASSERT_FALSE(mismatch.is_ok());
}

TEST_F(TlsTest, ClientContextRefusesOldProtocols) {
  auto ctx = Context::client(false);
  ASSERT_TRUE(ctx.is_ok());
  EXPECT_EQ(SSL_CTX_get_min_proto_version((*ctx)->get()), TLS1_2_VERSION);
}

}  // namespace tsubame::tls
