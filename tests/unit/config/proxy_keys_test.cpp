// [smtp] xclient_networks and [[listen]] proxy_protocol (DESIGN.md §4.6): defaults, values,
// and the file, line and key named for a mistake.

#include <gtest/gtest.h>

#include "config/config.hpp"
#include "config/restart.hpp"

namespace posthorn::config {
namespace {

const fs::path k_origin = "/etc/posthorn/posthorn.toml";

TEST(ProxyKeys, DefaultsAreOff) {
  auto cfg = load_string("", k_origin);
  ASSERT_TRUE(cfg) << cfg.error().str();
  EXPECT_TRUE(cfg->smtp.xclient_networks.empty());
  ASSERT_EQ(cfg->listen.size(), 1u);
  EXPECT_FALSE(cfg->listen[0].proxy_protocol);
}

TEST(ProxyKeys, AreRead) {
  auto cfg = load_string(
      "[[listen]]\naddress = \"127.0.0.1:2526\"\nproxy_protocol = true\n"
      "[[listen]]\naddress = \"[::1]:2526\"\n"
      "[smtp]\nxclient_networks = [\"127.0.0.1\", \"10.0.0.0/8\", \"::1/128\"]\n",
      k_origin);
  ASSERT_TRUE(cfg) << cfg.error().str();
  ASSERT_EQ(cfg->listen.size(), 2u);
  EXPECT_TRUE(cfg->listen[0].proxy_protocol);
  EXPECT_FALSE(cfg->listen[1].proxy_protocol);
  EXPECT_EQ(cfg->listen[1].endpoint.host, "::1");
  ASSERT_EQ(cfg->smtp.xclient_networks.size(), 3u);
  EXPECT_EQ(cfg->smtp.xclient_networks[0].str(), "127.0.0.1/32");
  EXPECT_EQ(cfg->smtp.xclient_networks[1].str(), "10.0.0.0/8");
  EXPECT_EQ(cfg->smtp.xclient_networks[2].str(), "::1/128");
}

TEST(ProxyKeys, MistakesNameTheKey) {
  auto e = load_string("[smtp]\nxclient_networks = [\"127.0.0.1\",\n \"not-a-net\"]\n", k_origin);
  ASSERT_FALSE(e);
  EXPECT_EQ(e.error().line, 3u);
  EXPECT_EQ(e.error().key, "smtp.xclient_networks[1]");
  e = load_string("[smtp]\nxclient_networks = \"127.0.0.1\"\n", k_origin);
  ASSERT_FALSE(e);
  EXPECT_EQ(e.error().key, "smtp.xclient_networks");
  e = load_string("[[listen]]\naddress = \"127.0.0.1:25\"\nproxy_protocol = \"yes\"\n", k_origin);
  ASSERT_FALSE(e);
  EXPECT_EQ(e.error().line, 3u);
  EXPECT_EQ(e.error().key, "listen[0].proxy_protocol");
}

TEST(ProxyKeys, ChangingProxyProtocolNeedsARestart) {
  auto a = load_string("[[listen]]\naddress = \"127.0.0.1:25\"\n", k_origin);
  auto b = load_string("[[listen]]\naddress = \"127.0.0.1:25\"\nproxy_protocol = true\n", k_origin);
  ASSERT_TRUE(a && b);
  EXPECT_EQ(restart_needed(*a, *b), std::vector<std::string>{"listen"});
  // xclient_networks is read by each new connection: a reload suffices.
  auto c = load_string("[smtp]\nxclient_networks = [\"127.0.0.1\"]\n", k_origin);
  auto d = load_string("", k_origin);
  ASSERT_TRUE(c && d);
  EXPECT_TRUE(restart_needed(*c, *d).empty());
}

}  // namespace
}  // namespace posthorn::config
