// [mailbox] lmtp, [auth] dovecot_socket and role "lmtp" (DESIGN.md §4.6): defaults, values,
// and the key named for a mistake.

#include <gtest/gtest.h>

#include "config/config.hpp"

namespace posthorn::config {
namespace {

const fs::path k_origin = "/etc/posthorn/posthorn.toml";

TEST(MailboxKeys, DefaultsWriteMaildirsAndUseTheUsersFile) {
  auto cfg = load_string("", k_origin);
  ASSERT_TRUE(cfg) << cfg.error().str();
  EXPECT_EQ(cfg->mailbox.lmtp, "");
  EXPECT_TRUE(cfg->mailbox.lmtp_socket.empty());
  EXPECT_EQ(cfg->mailbox.lmtp_endpoint.port, 0);
  EXPECT_TRUE(cfg->auth.dovecot_socket.empty());
}

TEST(MailboxKeys, LmtpUnixSocketIsResolvedAgainstTheConfigFolder) {
  auto cfg = load_string("[mailbox]\nlmtp = \"unix:run/lmtp\"\n[auth]\n"
                         "dovecot_socket = \"/run/dovecot/auth-client\"\n",
                         k_origin);
  ASSERT_TRUE(cfg) << cfg.error().str();
  EXPECT_EQ(cfg->mailbox.lmtp, "unix:run/lmtp");
  EXPECT_EQ(cfg->mailbox.lmtp_socket, "/etc/posthorn/run/lmtp");
  EXPECT_EQ(cfg->auth.dovecot_socket, "/run/dovecot/auth-client");
}

TEST(MailboxKeys, LmtpHostPort) {
  auto cfg = load_string("[mailbox]\nlmtp = \"127.0.0.1:24\"\n", k_origin);
  ASSERT_TRUE(cfg) << cfg.error().str();
  EXPECT_TRUE(cfg->mailbox.lmtp_socket.empty());
  EXPECT_EQ(cfg->mailbox.lmtp_endpoint.host, "127.0.0.1");
  EXPECT_EQ(cfg->mailbox.lmtp_endpoint.port, 24);
}

TEST(MailboxKeys, MistakesNameTheKey) {
  for (const char* bad : {"\"unix:\"", "\"nohost\"", "\"host:0\"", "24"}) {
    SCOPED_TRACE(bad);
    auto e = load_string(std::string("[mailbox]\nlmtp = ") + bad + "\n", k_origin);
    ASSERT_FALSE(e);
    EXPECT_EQ(e.error().key, "mailbox.lmtp");
    EXPECT_EQ(e.error().line, 2u);
  }
}

TEST(MailboxKeys, RoleLmtp) {
  auto cfg = load_string("[[listen]]\naddress = \"127.0.0.1:2424\"\nrole = \"lmtp\"\n", k_origin);
  ASSERT_TRUE(cfg) << cfg.error().str();
  EXPECT_EQ(cfg->listen[0].role, listener_role::Lmtp);
  auto e = load_string("[[listen]]\naddress = \"127.0.0.1:2424\"\nrole = \"lmpt\"\n", k_origin);
  ASSERT_FALSE(e);
  EXPECT_EQ(e.error().key, "listen[0].role");
}

}  // namespace
}  // namespace posthorn::config
