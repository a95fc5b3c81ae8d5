#include "common/config.h"

#include <gtest/gtest.h>

#include <fstream>
#include <sstream>

namespace tsubame {

TEST(Config, DefaultsCoverEverySchemaKey) {
  Config c = Config::defaults("/base");
  EXPECT_EQ(c.str("general.data_dir"), "/base/data");
  EXPECT_EQ(c.integer("smtpd.max_message_size"), 25ll << 20);
  EXPECT_EQ(c.integer("imapd.idle_timeout"), 30 * 60);
  EXPECT_FALSE(c.boolean("security.allow_plaintext_auth"));
  EXPECT_EQ(c.endpoint("smtpd.listen_mx").port, 2525);
  EXPECT_EQ(c.endpoint("smtpd.listen_mx").host, "127.0.0.1");
}

TEST(Config, ParsesSectionsTypesAndRelativePaths) {
  auto c = Config::parse(
      "# comment\n[general]\ndata_dir = mydata\nhostname = mx.example.com\n\n"
      "[smtpd]\nmax_message_size = 10M\ncommand_timeout = 2m\nlisten_mx = [::1]:25\n"
      "listen_submissions =\n[log]\nconsole = no\n[httpd]\nwebhook_urls = https://a/x, https://b/y\n",
      "/etc/tsubame/tsubame.conf");
  ASSERT_TRUE(c.is_ok()) << c.status().to_string();
  EXPECT_EQ(c->str("general.data_dir"), "/etc/tsubame/mydata");
  EXPECT_EQ(c->str("general.hostname"), "mx.example.com");
  EXPECT_EQ(c->integer("smtpd.max_message_size"), 10ll << 20);
  EXPECT_EQ(c->integer("smtpd.command_timeout"), 120);
  EXPECT_EQ(c->endpoint("smtpd.listen_mx").host, "::1");
  EXPECT_FALSE(c->endpoint("smtpd.listen_submissions").enabled());
  EXPECT_FALSE(c->boolean("log.console"));
  EXPECT_EQ(c->list("httpd.webhook_urls"), (std::vector<std::string>{"https://a/x", "https://b/y"}));
}

// Each bad input names the file, the line, the key and why.
TEST(Config, RefusesBadInputWithFileLineKeyAndReason) {
  struct Case { const char* text; const char* expect; };
  const Case cases[] = {
      {"[general]\nbogus = 1\n", "t.conf:2: general.bogus: unknown key"},
      {"[nosuch]\n", "t.conf:1: unknown section [nosuch]"},
      {"[smtpd]\nmax_recipients = many\n", "t.conf:2: smtpd.max_recipients: not a number"},
      {"[smtpd]\nmax_recipients = 0\n", "t.conf:2: smtpd.max_recipients: out of range"},
      {"[smtpd]\nmax_message_size = 10X\n", "t.conf:2: smtpd.max_message_size: unknown unit"},
      {"[smtpd]\nlisten_mx = 127.0.0.1:99999\n", "t.conf:2: smtpd.listen_mx: port out of range"},
      {"[smtpd]\nbare_lf = sometimes\n", "t.conf:2: smtpd.bare_lf: must be one of: refuse, normalize"},
      {"[log]\nconsole = maybe\n", "t.conf:2: log.console: expected yes or no"},
      {"[log]\nlevel = info\nlevel = debug\n", "t.conf:3: log.level: duplicate key (first set on line 2)"},
      {"key = 1\n", "t.conf:1: key: key outside a [section]"},
      {"[log]\njust text\n", "t.conf:2: expected key = value"},
      {"[log\n", "t.conf:1: malformed section header"},
  };
  for (auto& tc : cases) {
    auto c = Config::parse(tc.text, "t.conf");
    ASSERT_FALSE(c.is_ok()) << tc.text;
    EXPECT_NE(c.status().message().find(tc.expect), std::string::npos)
        << "got: " << c.status().message() << "\nwanted: " << tc.expect;
  }
}

TEST(Config, SizesAndDurations) {
  EXPECT_EQ(*parse_size("4096"), 4096);
  EXPECT_EQ(*parse_size("512K"), 512 << 10);
  EXPECT_EQ(*parse_size("1g"), 1ll << 30);
  EXPECT_FALSE(parse_size("").is_ok());
  EXPECT_FALSE(parse_size("-1").is_ok());
  EXPECT_EQ(*parse_duration("90"), 90);
  EXPECT_EQ(*parse_duration("5m"), 300);
  EXPECT_EQ(*parse_duration("2d"), 172800);
  EXPECT_FALSE(parse_duration("5 minutes").is_ok());
}

// Found by tests/fuzz (fuzz_config_parse): a value ending in a NUL octet was taken for a
// unit (strchr finds the terminator) and read past the multiplier table.
TEST(Config, NulIsNotAUnit) {
  using namespace std::string_literals;
  EXPECT_FALSE(parse_size("10\0"s).is_ok());
  EXPECT_FALSE(parse_duration("10\0"s).is_ok());
  auto c = Config::parse("[smtpd]\nmax_message_size = 10\0\n"s, "/etc/tsubame/t.conf");
  EXPECT_FALSE(c.is_ok());
  EXPECT_EQ(*parse_size("10T"), 10ll << 40);  // the last unit of the table still reads
  EXPECT_EQ(*parse_duration("2w"), 2 * 604800);
}

// conf/tsubame.conf is the documented default file: it must list every key with its default,
// parse cleanly, and stay in step with the schema (regenerate with `tsubame config defaults`).
TEST(Config, ShippedDefaultFileMatchesSchema) {
  std::string path = std::string(TSUBAME_SOURCE_DIR) + "/conf/tsubame.conf";
  std::ifstream in(path);
  ASSERT_TRUE(in) << path;
  std::stringstream ss;
  ss << in.rdbuf();
  EXPECT_EQ(ss.str(), Config::render_default_file({}))
      << "conf/tsubame.conf is out of date: run build/bin/tsubame config defaults > conf/tsubame.conf";
  auto c = Config::load(path);
  ASSERT_TRUE(c.is_ok()) << c.status().to_string();
  for (auto& k : config_schema())
    EXPECT_NE(ss.str().find(std::string("# ") + k.description), std::string::npos) << k.name;
}

}  // namespace tsubame
