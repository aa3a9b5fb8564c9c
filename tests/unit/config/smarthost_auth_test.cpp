// [relay] smarthost credentials and destination_concurrency: the password file read at
// load time (relative to the config file), and every mistake named by file, line and key.

#include <gtest/gtest.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <string>

#include "config/config.hpp"

namespace posthorn::config {
namespace {

class SmarthostAuth : public ::testing::Test {
 protected:
  void SetUp() override {
    // Per process and test: ctest runs tests of this binary in parallel.
    dir_ = fs::path(::testing::TempDir()) /
           ("posthorn_smarthost_auth_test." + std::to_string(::getpid()) + "." +
            ::testing::UnitTest::GetInstance()->current_test_info()->name());
    fs::remove_all(dir_);
    fs::create_directories(dir_ / "secrets");
  }
  void TearDown() override {
    std::error_code ec;
    fs::remove_all(dir_, ec);
  }

  void write(const fs::path& rel, std::string_view text) {
    std::ofstream out(dir_ / rel, std::ios::binary);
    out << text;
  }
  std::expected<config, config_error> load(std::string_view text) {
    return load_string(text, dir_ / "posthorn.toml");
  }

  fs::path dir_;
};

TEST_F(SmarthostAuth, DefaultsAreNoAuthAndTwenty) {
  auto cfg = load("");
  ASSERT_TRUE(cfg) << cfg.error().str();
  EXPECT_EQ(cfg->relay.smarthost_user, "");
  EXPECT_EQ(cfg->relay.smarthost_password, "");
  EXPECT_TRUE(cfg->relay.smarthost_password_file.empty());
  EXPECT_EQ(cfg->relay.destination_concurrency, 20u);
}

TEST_F(SmarthostAuth, PasswordFileFirstLineRelativeToTheConfig) {
  write("secrets/relay", "pa ss\r\nsecond line ignored\n");
  auto cfg = load(
      "[relay]\nsmarthost = \"relay.example.net:587\"\nsmarthost_user = \"alice\"\n"
      "smarthost_password_file = \"secrets/relay\"\ndestination_concurrency = 3\n");
  ASSERT_TRUE(cfg) << cfg.error().str();
  EXPECT_EQ(cfg->relay.smarthost_user, "alice");
  EXPECT_EQ(cfg->relay.smarthost_password, "pa ss");
  EXPECT_EQ(cfg->relay.smarthost_password_file, (fs::absolute(dir_) / "secrets/relay"));
  EXPECT_EQ(cfg->relay.destination_concurrency, 3u);
}

TEST_F(SmarthostAuth, PasswordInline) {
  auto cfg = load(
      "[relay]\nsmarthost = \"relay.example.net:587\"\nsmarthost_user = \"alice\"\n"
      "smarthost_password = \"inline\"\n");
  ASSERT_TRUE(cfg) << cfg.error().str();
  EXPECT_EQ(cfg->relay.smarthost_password, "inline");
}

TEST_F(SmarthostAuth, MissingPasswordFileNamesTheKey) {
  auto cfg = load(
      "[relay]\nsmarthost = \"relay.example.net:587\"\nsmarthost_user = \"alice\"\n"
      "smarthost_password_file = \"secrets/none\"\n");
  ASSERT_FALSE(cfg);
  EXPECT_EQ(cfg.error().key, "relay.smarthost_password_file");
  EXPECT_EQ(cfg.error().line, 4u);
  EXPECT_NE(cfg.error().message.find("cannot read"), std::string::npos) << cfg.error().str();
  EXPECT_NE(cfg.error().message.find("secrets/none"), std::string::npos) << cfg.error().str();
}

TEST_F(SmarthostAuth, DirectoryOrEmptyPasswordFile) {
  auto cfg = load(
      "[relay]\nsmarthost = \"r.example.net:587\"\nsmarthost_user = \"a\"\n"
      "smarthost_password_file = \"secrets\"\n");
  ASSERT_FALSE(cfg);
  EXPECT_EQ(cfg.error().key, "relay.smarthost_password_file");
  write("secrets/empty", "\nlater\n");
  cfg = load(
      "[relay]\nsmarthost = \"r.example.net:587\"\nsmarthost_user = \"a\"\n"
      "smarthost_password_file = \"secrets/empty\"\n");
  ASSERT_FALSE(cfg);
  EXPECT_EQ(cfg.error().key, "relay.smarthost_password_file");
  EXPECT_NE(cfg.error().message.find("first line"), std::string::npos);
}

TEST_F(SmarthostAuth, Inconsistencies) {
  write("secrets/relay", "pw\n");
  // User without password.
  auto cfg = load("[relay]\nsmarthost = \"r.example.net:587\"\nsmarthost_user = \"a\"\n");
  ASSERT_FALSE(cfg);
  EXPECT_EQ(cfg.error().key, "relay.smarthost_user");
  EXPECT_EQ(cfg.error().line, 3u);
  // Password without user.
  cfg = load("[relay]\nsmarthost = \"r.example.net:587\"\nsmarthost_password = \"pw\"\n");
  ASSERT_FALSE(cfg);
  EXPECT_EQ(cfg.error().key, "relay.smarthost_password");
  // Both forms of the password.
  cfg = load(
      "[relay]\nsmarthost = \"r.example.net:587\"\nsmarthost_user = \"a\"\n"
      "smarthost_password = \"pw\"\nsmarthost_password_file = \"secrets/relay\"\n");
  ASSERT_FALSE(cfg);
  EXPECT_EQ(cfg.error().key, "relay.smarthost_password_file");
  EXPECT_EQ(cfg.error().line, 5u);
  // Credentials without a smarthost: they would go nowhere (never to MX hosts).
  cfg = load("[relay]\nsmarthost_user = \"a\"\nsmarthost_password = \"pw\"\n");
  ASSERT_FALSE(cfg);
  EXPECT_EQ(cfg.error().key, "relay.smarthost_user");
  // Line breaks or NUL would break the AUTH exchange.
  cfg = load(
      "[relay]\nsmarthost = \"r.example.net:587\"\nsmarthost_user = \"a\\r\\nMAIL\"\n"
      "smarthost_password = \"pw\"\n");
  ASSERT_FALSE(cfg);
  EXPECT_EQ(cfg.error().key, "relay.smarthost_user");
  EXPECT_EQ(cfg.error().line, 3u);
}

TEST_F(SmarthostAuth, DestinationConcurrencyAtLeastOne) {
  auto cfg = load("[relay]\ndestination_concurrency = 0\n");
  ASSERT_FALSE(cfg);
  EXPECT_EQ(cfg.error().key, "relay.destination_concurrency");
  cfg = load("[relay]\ndestination_concurrency = \"5\"\n");
  ASSERT_FALSE(cfg);
  EXPECT_EQ(cfg.error().key, "relay.destination_concurrency");
}

TEST_F(SmarthostAuth, ErrorsNeverQuoteThePassword) {
  auto cfg = load("[relay]\nsmarthost_password = \"hunter2\"\n");
  ASSERT_FALSE(cfg);
  EXPECT_EQ(cfg.error().str().find("hunter2"), std::string::npos);
}

}  // namespace
}  // namespace posthorn::config
