// IP addresses, CIDR networks and host:port endpoints (common/cidr.hpp).

#include "common/cidr.hpp"
#include "mail/address.hpp"

#include <gtest/gtest.h>

namespace posthorn {
namespace {

ip_address ip(std::string_view text) {
  const auto a = ip_address::parse(text);
  EXPECT_TRUE(a.has_value()) << text;
  return a.value_or(ip_address{});
}

TEST(IpAddress, ParseAndPrint) {
  const struct {
    const char* text;
    const char* str;
    bool v4;
  } vectors[] = {
      {"127.0.0.1", "127.0.0.1", true},
      {"0.0.0.0", "0.0.0.0", true},
      {"255.255.255.255", "255.255.255.255", true},
      {"::1", "::1", false},
      {"::", "::", false},
      {"2001:DB8:0:0:0:0:0:1", "2001:db8::1", false},
      {"fe80::1:2", "fe80::1:2", false},
      {"::ffff:192.0.2.1", "192.0.2.1", true},  // IPv4-mapped is IPv4
      {"2001:db8::192.0.2.1", "2001:db8::c000:201", false},
  };
  for (const auto& v : vectors) {
    const auto a = ip_address::parse(v.text);
    ASSERT_TRUE(a.has_value()) << v.text;
    EXPECT_EQ(a->str(), v.str) << v.text;
    EXPECT_EQ(a->v4(), v.v4) << v.text;
  }
  EXPECT_EQ(ip("192.0.2.1"), ip("::ffff:192.0.2.1"));
}

TEST(IpAddress, Rejects) {
  const char* bad[] = {"",          "1.2.3",     "1.2.3.4.5",  "256.1.1.1", "01.2.3.4",
                       "1.2.3.4 ",  " 1.2.3.4",  "[::1]",      "::1::2",    "fe80::1%eth0",
                       "1.2.3.4/8", "localhost", "0x7f.0.0.1", ":::1",      "12345::"};
  for (const char* b : bad) {
    EXPECT_FALSE(ip_address::parse(b).has_value()) << b;
  }
  EXPECT_FALSE(ip_address::parse(std::string(100, '1')).has_value());
}

TEST(Cidr, ParseContainsStr) {
  const auto lo = cidr::parse("127.0.0.0/8");
  ASSERT_TRUE(lo);
  EXPECT_EQ(lo->prefix, 104u);
  EXPECT_EQ(lo->str(), "127.0.0.0/8");
  EXPECT_TRUE(lo->contains(ip("127.0.0.1")));
  EXPECT_TRUE(lo->contains(ip("127.255.255.255")));
  EXPECT_TRUE(lo->contains(ip("::ffff:127.1.2.3")));
  EXPECT_FALSE(lo->contains(ip("128.0.0.1")));
  EXPECT_FALSE(lo->contains(ip("::1")));

  const auto v6lo = cidr::parse("::1/128");
  ASSERT_TRUE(v6lo);
  EXPECT_EQ(v6lo->str(), "::1/128");
  EXPECT_TRUE(v6lo->contains(ip("::1")));
  EXPECT_FALSE(v6lo->contains(ip("::2")));

  const auto net = cidr::parse("2001:db8::/32");
  ASSERT_TRUE(net);
  EXPECT_TRUE(net->contains(ip("2001:db8:ffff::1")));
  EXPECT_FALSE(net->contains(ip("2001:db9::1")));

  const auto odd = cidr::parse("192.168.1.0/23");  // host bits are cleared
  ASSERT_TRUE(odd);
  EXPECT_EQ(odd->str(), "192.168.0.0/23");
  EXPECT_TRUE(odd->contains(ip("192.168.1.200")));
  EXPECT_FALSE(odd->contains(ip("192.168.2.1")));

  const auto host = cidr::parse("192.0.2.7");
  ASSERT_TRUE(host);
  EXPECT_EQ(host->prefix, 128u);
  EXPECT_EQ(host->str(), "192.0.2.7/32");
  EXPECT_TRUE(host->contains(ip("192.0.2.7")));
  EXPECT_FALSE(host->contains(ip("192.0.2.8")));

  const auto all4 = cidr::parse("0.0.0.0/0");
  ASSERT_TRUE(all4);
  EXPECT_TRUE(all4->contains(ip("203.0.113.9")));
  EXPECT_FALSE(all4->contains(ip("2001:db8::1")));

  const auto all = cidr::parse("::/0");
  ASSERT_TRUE(all);
  EXPECT_TRUE(all->contains(ip("203.0.113.9")));
  EXPECT_TRUE(all->contains(ip("2001:db8::1")));
  EXPECT_EQ(all->str(), "::/0");

  const auto mapped = cidr::parse("::ffff:10.0.0.0/104");
  ASSERT_TRUE(mapped);
  EXPECT_EQ(mapped->str(), "10.0.0.0/8");
  EXPECT_TRUE(mapped->contains(ip("10.9.8.7")));
}

TEST(Cidr, Rejects) {
  const char* bad[] = {"",         "/8",           "1.2.3.4/",   "1.2.3.4/33",
                       "::/129",   "1.2.3.4/-1",   "1.2.3.4/+8", "1.2.3.4/8x",
                       "1.2.3/24", "10.0.0.0/8/8", "1.2.3.4/ 8", "1.2.3.4/0008"};
  for (const char* b : bad) {
    EXPECT_FALSE(cidr::parse(b).has_value()) << b;
  }
}

TEST(HostPort, Parse) {
  const struct {
    const char* text;
    const char* host;
    std::uint16_t port;
  } good[] = {
      {"127.0.0.1:2525", "127.0.0.1", 2525},
      {"[::1]:25", "::1", 25},
      {"[2001:db8::1]:587", "2001:db8::1", 587},
      {"localhost:25", "localhost", 25},
      {"mx.example.test:65535", "mx.example.test", 65535},
      {"smtp_relay.example.test:1", "smtp_relay.example.test", 1},
  };
  for (const auto& g : good) {
    const auto hp = host_port::parse(g.text);
    ASSERT_TRUE(hp.has_value()) << g.text;
    EXPECT_EQ(hp->host, g.host) << g.text;
    EXPECT_EQ(hp->port, g.port) << g.text;
  }
  const char* bad[] = {
      "",         "localhost",   "::1:25",   "[::1]25", "[::1]",        "[::1]:",       "host:",
      "host:0",   "host:65536",  "host:abc", ":25",     "[example]:25", "[1.2.3.4]:25", "host:25x",
      "host: 25", "host:123456", "ho st:25", "host:-1", "-host:25",     "[::1:25"};
  for (const char* b : bad) {
    EXPECT_FALSE(host_port::parse(b).has_value()) << b;
  }
}

}  // namespace
}  // namespace posthorn

// Found by fuzz_address: inet_pton stopped at the NUL and the rest was accepted.
TEST(ip_address_nul, text_with_a_nul_is_refused) {
  using posthorn::ip_address;
  EXPECT_FALSE(ip_address::parse(std::string_view("::1\0\xff", 5)).has_value());
  EXPECT_FALSE(ip_address::parse(std::string_view("127.0.0.1\0x", 11)).has_value());
  EXPECT_FALSE(
      posthorn::mail::parse_address(std::string_view("r@[IPv6:::\0\xc3]", 15)).has_value());
}
