// The keys of secure submission (issue 3): [tls] session_tickets, [[listen]]
// allow_plaintext_auth, [auth] and [submission]: defaults, values, mistakes.

#include <gtest/gtest.h>

#include <filesystem>
#include <string>

#include "config/config.hpp"

namespace posthorn::config {
namespace {

using std::chrono::minutes;

const fs::path k_origin = "/etc/posthorn/posthorn.toml";

config load_ok(std::string_view text) {
  auto cfg = load_string(text, k_origin);
  EXPECT_TRUE(cfg.has_value()) << (cfg ? "" : cfg.error().str());
  return cfg ? *cfg : config{};
}

void expect_bad_at(std::string_view text, std::size_t line, std::string_view key) {
  auto cfg = load_string(text, k_origin);
  ASSERT_FALSE(cfg.has_value()) << "accepted:\n" << text;
  EXPECT_EQ(cfg.error().file, k_origin.string()) << cfg.error().str();
  EXPECT_EQ(cfg.error().line, line) << cfg.error().str();
  EXPECT_EQ(cfg.error().key, key) << cfg.error().str();
}

TEST(ConfigSecureSubmission, Defaults) {
  const config cfg = load_ok("");
  EXPECT_TRUE(cfg.tls.session_tickets);
  ASSERT_EQ(cfg.listen.size(), 1u);
  EXPECT_FALSE(cfg.listen[0].allow_plaintext_auth);
  EXPECT_EQ(cfg.auth.max_failures, 5u);
  EXPECT_EQ(cfg.auth.failure_window, minutes(15));
  EXPECT_EQ(cfg.submission.sender_policy, sender_rule::Own);
}

TEST(ConfigSecureSubmission, EveryKeyIsRead) {
  const config cfg = load_ok(R"(
[[listen]]
address = "127.0.0.1:587"
role = "submission"
allow_plaintext_auth = true

[[listen]]
address = "127.0.0.1:465"
role = "submissions"

[tls]
session_tickets = false

[auth]
max_failures = 3
failure_window = "1h"

[submission]
sender_policy = "domain"
)");
  ASSERT_EQ(cfg.listen.size(), 2u);
  EXPECT_TRUE(cfg.listen[0].allow_plaintext_auth);
  EXPECT_FALSE(cfg.listen[1].allow_plaintext_auth);
  EXPECT_FALSE(cfg.tls.session_tickets);
  EXPECT_EQ(cfg.auth.max_failures, 3u);
  EXPECT_EQ(cfg.auth.failure_window, minutes(60));
  EXPECT_EQ(cfg.submission.sender_policy, sender_rule::Domain);
}

TEST(ConfigSecureSubmission, SenderPolicies) {
  EXPECT_EQ(load_ok("[submission]\nsender_policy = \"own\"\n").submission.sender_policy,
            sender_rule::Own);
  EXPECT_EQ(load_ok("[submission]\nsender_policy = \"any\"\n").submission.sender_policy,
            sender_rule::Any);
}

TEST(ConfigSecureSubmission, ZeroMaxFailuresTurnsBlockingOff) {
  EXPECT_EQ(load_ok("[auth]\nmax_failures = 0\n").auth.max_failures, 0u);
}

TEST(ConfigSecureSubmission, Mistakes) {
  expect_bad_at("[submission]\nsender_policy = \"mine\"\n", 2, "submission.sender_policy");
  expect_bad_at("[submission]\nsender_policy = \"Own\"\n", 2, "submission.sender_policy");
  expect_bad_at("[submission]\nsender_policy = true\n", 2, "submission.sender_policy");
  expect_bad_at("[submission]\nsenders = \"own\"\n", 2, "submission.senders");
  expect_bad_at("[auth]\nmax_failures = -1\n", 2, "auth.max_failures");
  expect_bad_at("[auth]\nmax_failures = \"5\"\n", 2, "auth.max_failures");
  expect_bad_at("[auth]\nfailure_window = \"0s\"\n", 2, "auth.failure_window");
  expect_bad_at("[auth]\nfailure_window = \"15 minutes\"\n", 2, "auth.failure_window");
  expect_bad_at("[auth]\nmechanisms = [\"PLAIN\"]\n", 2, "auth.mechanisms");
  expect_bad_at("[tls]\nsession_tickets = \"no\"\n", 2, "tls.session_tickets");
  expect_bad_at("[[listen]]\naddress = \"127.0.0.1:25\"\nallow_plaintext_auth = 1\n", 3,
                "listen[0].allow_plaintext_auth");
}

TEST(ConfigSecureSubmission, DevConfigOffersAllThreePortsWithSelfSignedTls) {
  auto cfg = load_file(fs::path(POSTHORN_SOURCE_DIR) / "config" / "dev.toml");
  ASSERT_TRUE(cfg) << cfg.error().str();
  ASSERT_EQ(cfg->listen.size(), 3u);
  EXPECT_EQ(cfg->listen[0].address, "127.0.0.1:2525");
  EXPECT_EQ(cfg->listen[0].role, listener_role::Mx);
  EXPECT_EQ(cfg->listen[1].address, "127.0.0.1:2587");
  EXPECT_EQ(cfg->listen[1].role, listener_role::Submission);
  EXPECT_EQ(cfg->listen[2].address, "127.0.0.1:2465");
  EXPECT_EQ(cfg->listen[2].role, listener_role::Submissions);
  EXPECT_TRUE(cfg->tls.self_signed);
  const fs::path var = (fs::path(POSTHORN_SOURCE_DIR) / "var").lexically_normal();
  EXPECT_EQ(cfg->tls.cert, var / "tls" / "cert.pem");
  EXPECT_EQ(cfg->tls.key, var / "tls" / "key.pem");
}

TEST(ConfigSecureSubmission, ExampleConfigListsTheDefaults) {
  auto cfg = load_file(fs::path(POSTHORN_SOURCE_DIR) / "config" / "example.toml");
  ASSERT_TRUE(cfg) << cfg.error().str();
  const config defaults;
  EXPECT_EQ(cfg->tls.session_tickets, defaults.tls.session_tickets);
  ASSERT_FALSE(cfg->listen.empty());
  EXPECT_EQ(cfg->listen[0].allow_plaintext_auth, false);
  EXPECT_EQ(cfg->auth.max_failures, defaults.auth.max_failures);
  EXPECT_EQ(cfg->auth.failure_window, defaults.auth.failure_window);
  EXPECT_EQ(cfg->submission.sender_policy, defaults.submission.sender_policy);
}

}  // namespace
}  // namespace posthorn::config
