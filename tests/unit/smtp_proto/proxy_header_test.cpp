// The PROXY protocol header parser, every vector split at every byte offset (STYLE.md
// "Tests"), with SMTP after the header that the parser must leave alone.

#include "smtp/proto/proxy_header.hpp"

#include <gtest/gtest.h>

#include <cstdint>
#include <string>
#include <vector>

#include "grind.hpp"

namespace posthorn::smtp {
namespace {

const std::string k_after = "EHLO client.example.net\r\n";

// Feeds `bytes` (a header, then k_after) in the pieces of every cut; checks that each
// cut gives the same verdict and never consumes past the header.
struct outcome {
  proxy_status status;
  proxy_info info;
  std::string error;
};

outcome grind(const std::string& header, bool with_after = true) {
  const std::string bytes = with_after ? header + k_after : header;
  std::optional<outcome> first;
  for (const test::pieces& p : test::cuts(bytes)) {
    proxy_header_parser parser;
    std::string left;  // what the parser did not take, in order
    for (std::string_view piece : p) {
      if (parser.status() == proxy_status::NeedMore) {
        parser.feed(piece);
      }
      left += piece;
    }
    outcome o{parser.status(), parser.info(), std::string(parser.error())};
    if (o.status == proxy_status::Done) {
      EXPECT_EQ(parser.consumed(), header.size()) << test::describe(p);
      EXPECT_EQ(left, bytes.substr(header.size())) << test::describe(p);
    }
    if (!first) {
      first = o;
      continue;
    }
    EXPECT_EQ(o.status, first->status) << test::describe(p);
    EXPECT_EQ(o.info.src_addr, first->info.src_addr) << test::describe(p);
    EXPECT_EQ(o.info.src_port, first->info.src_port) << test::describe(p);
    EXPECT_EQ(o.info.dst_addr, first->info.dst_addr) << test::describe(p);
    EXPECT_EQ(o.info.local, first->info.local) << test::describe(p);
    EXPECT_EQ(o.error, first->error) << test::describe(p);
  }
  return *first;
}

std::string be16(std::uint16_t v) {
  return std::string{static_cast<char>(v >> 8), static_cast<char>(v & 0xff)};
}

// A v2 header: version/command octet, family octet, then the block (its length is
// written in front of it).
std::string v2(std::uint8_t ver_cmd, std::uint8_t family, const std::string& block) {
  std::string h(proxy_header_parser::k_v2_signature);
  h += static_cast<char>(ver_cmd);
  h += static_cast<char>(family);
  h += be16(static_cast<std::uint16_t>(block.size()));
  return h + block;
}

std::string octets(std::initializer_list<int> v) {
  std::string s;
  for (int b : v) {
    s += static_cast<char>(b);
  }
  return s;
}

// ---- version 1 -----------------------------------------------------------------------

TEST(ProxyHeaderV1, Tcp4) {
  const outcome o = grind("PROXY TCP4 192.0.2.1 198.51.100.2 56324 25\r\n");
  ASSERT_EQ(o.status, proxy_status::Done) << o.error;
  EXPECT_EQ(o.info.version, 1);
  EXPECT_FALSE(o.info.local);
  EXPECT_EQ(o.info.src_addr, "192.0.2.1");
  EXPECT_EQ(o.info.dst_addr, "198.51.100.2");
  EXPECT_EQ(o.info.src_port, 56324);
  EXPECT_EQ(o.info.dst_port, 25);
}

TEST(ProxyHeaderV1, Tcp6) {
  const outcome o = grind("PROXY TCP6 2001:db8::1 2001:DB8:0::2 0 65535\r\n");
  ASSERT_EQ(o.status, proxy_status::Done) << o.error;
  EXPECT_EQ(o.info.src_addr, "2001:db8::1");
  EXPECT_EQ(o.info.dst_addr, "2001:db8::2");
  EXPECT_EQ(o.info.src_port, 0);
  EXPECT_EQ(o.info.dst_port, 65535);
}

TEST(ProxyHeaderV1, UnknownKeepsTheSocketPeer) {
  for (const std::string h :
       {"PROXY UNKNOWN\r\n", "PROXY UNKNOWN ffff:f...f:ffff ffff:f...f:ffff 65535 65535\r\n"}) {
    const outcome o = grind(h);
    ASSERT_EQ(o.status, proxy_status::Done) << h;
    EXPECT_TRUE(o.info.local);
    EXPECT_EQ(o.info.src_addr, "");
  }
}

TEST(ProxyHeaderV1, LongestLineIs107Octets) {
  std::string h = "PROXY UNKNOWN ";
  h += std::string(107 - h.size() - 2, 'x') + "\r\n";
  ASSERT_EQ(h.size(), 107u);
  EXPECT_EQ(grind(h).status, proxy_status::Done);
  std::string longer = "PROXY UNKNOWN ";
  longer += std::string(108 - longer.size() - 2, 'x') + "\r\n";
  EXPECT_EQ(grind(longer).status, proxy_status::Invalid);
  // Without a line end at all, the parser gives up at the limit, not later.
  proxy_header_parser p;
  std::string endless(4096, 'x');
  endless.replace(0, 6, "PROXY ");
  std::string_view v = endless;
  EXPECT_EQ(p.feed(v), proxy_status::Invalid);
  EXPECT_LE(p.consumed(), proxy_header_parser::k_v1_max);
}

TEST(ProxyHeaderV1, Refused) {
  const std::vector<std::string> bad = {
      "EHLO client.example.net\r\n",                 // no header at all
      "proxy TCP4 192.0.2.1 192.0.2.2 1 2\r\n",      // the signature is upper case
      "PROXY TCP4 192.0.2.1 192.0.2.2 1 2\n",        // bare LF
      "PROXY TCP4 192.0.2.1 192.0.2.2 1 2\r\r\n",    // CR without LF
      "PROXY TCP4 192.0.2.1 192.0.2.2 1\r\n",        // a field missing
      "PROXY TCP4 192.0.2.1 192.0.2.2 1 2 3\r\n",    // one too many
      "PROXY TCP4  192.0.2.1 192.0.2.2 1 2\r\n",     // two spaces
      "PROXY TCP4 192.0.2.1 192.0.2.2 1 2 \r\n",     // trailing space
      "PROXY TCP5 192.0.2.1 192.0.2.2 1 2\r\n",      // no such protocol
      "PROXY TCP4 2001:db8::1 192.0.2.2 1 2\r\n",    // IPv6 under TCP4
      "PROXY TCP6 192.0.2.1 2001:db8::2 1 2\r\n",    // IPv4 under TCP6
      "PROXY TCP4 192.0.2.256 192.0.2.2 1 2\r\n",    // not an address
      "PROXY TCP4 192.0.2.1 192.0.2.2 01 2\r\n",     // leading zero
      "PROXY TCP4 192.0.2.1 192.0.2.2 1 65536\r\n",  // port too large
      "PROXY TCP4 192.0.2.1 192.0.2.2 -1 2\r\n",     // not a number
      "PROXY\r\n",                                   // nothing
      "PROXY \r\n",                                  // empty protocol
      std::string("PROXY TCP4 192.0.2.1") + '\0' + " 192.0.2.2 1 2\r\n",  // NUL
  };
  for (const std::string& h : bad) {
    const outcome o = grind(h, false);
    EXPECT_EQ(o.status, proxy_status::Invalid) << h;
    EXPECT_FALSE(o.error.empty()) << h;
  }
}

TEST(ProxyHeaderV1, FailsAtTheFirstWrongOctet) {
  proxy_header_parser p;
  std::string_view v = "GET / HTTP/1.0\r\n";
  EXPECT_EQ(p.feed(v), proxy_status::Invalid);
  EXPECT_EQ(p.consumed(), 0u);
  EXPECT_EQ(p.error(), "no PROXY header");
  EXPECT_EQ(p.feed(v), proxy_status::Invalid);  // stays refused
}

// ---- version 2 -----------------------------------------------------------------------

TEST(ProxyHeaderV2, Tcp4) {
  const std::string block = octets({192, 0, 2, 1, 198, 51, 100, 2}) + be16(56324) + be16(25);
  const outcome o = grind(v2(0x21, 0x11, block));
  ASSERT_EQ(o.status, proxy_status::Done) << o.error;
  EXPECT_EQ(o.info.version, 2);
  EXPECT_FALSE(o.info.local);
  EXPECT_EQ(o.info.src_addr, "192.0.2.1");
  EXPECT_EQ(o.info.dst_addr, "198.51.100.2");
  EXPECT_EQ(o.info.src_port, 56324);
  EXPECT_EQ(o.info.dst_port, 25);
}

TEST(ProxyHeaderV2, Tcp6WithTlvsSkipped) {
  std::string block = octets({0x20, 0x01, 0x0d, 0xb8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 7});
  block += octets({0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff, 127, 0, 0, 1});  // IPv4-mapped
  block += be16(1234) + be16(587);
  // PP2_TYPE_AUTHORITY "mx.example.test", then a NOOP TLV.
  block += octets({0x02}) + be16(15) + "mx.example.test" + octets({0x04}) + be16(3) + "abc";
  const outcome o = grind(v2(0x21, 0x21, block));
  ASSERT_EQ(o.status, proxy_status::Done) << o.error;
  EXPECT_EQ(o.info.src_addr, "2001:db8::7");
  EXPECT_EQ(o.info.dst_addr, "127.0.0.1");
  EXPECT_EQ(o.info.src_port, 1234);
  EXPECT_EQ(o.info.dst_port, 587);
}

TEST(ProxyHeaderV2, LocalAndNonIpFamiliesKeepTheSocketPeer) {
  for (const std::string& h : {v2(0x20, 0x00, ""), v2(0x20, 0x11, std::string(12, 'x')),
                               v2(0x21, 0x00, ""), v2(0x21, 0x31, std::string(216, '\0'))}) {
    const outcome o = grind(h);
    ASSERT_EQ(o.status, proxy_status::Done) << o.error;
    EXPECT_TRUE(o.info.local);
    EXPECT_EQ(o.info.src_addr, "");
  }
}

TEST(ProxyHeaderV2, LongTlvAreaIsSkippedWithoutBeingKept) {
  const std::string block =
      octets({192, 0, 2, 1, 192, 0, 2, 2}) + be16(1) + be16(2) + std::string(60000, 'T');
  const std::string h = v2(0x21, 0x11, block) + k_after;
  proxy_header_parser p;
  std::string_view v = h;
  ASSERT_EQ(p.feed(v), proxy_status::Done);
  EXPECT_EQ(v, k_after);
  EXPECT_EQ(p.info().src_addr, "192.0.2.1");
}

TEST(ProxyHeaderV2, Refused) {
  const std::string inet = octets({192, 0, 2, 1, 192, 0, 2, 2}) + be16(1) + be16(2);
  std::string bad_sig = v2(0x21, 0x11, inet);
  bad_sig[7] = 'X';
  const std::vector<std::string> bad = {
      bad_sig,
      v2(0x11, 0x11, inet),                       // version 1 in a v2 header
      v2(0x22, 0x11, inet),                       // command 2
      v2(0x21, 0x12, inet),                       // UDP
      v2(0x21, 0x41, inet),                       // no such family
      v2(0x21, 0x11, inet.substr(0, 8)),          // block too short for IPv4
      v2(0x21, 0x21, inet + std::string(20, 0)),  // too short for IPv6 (32 < 36)
      "\r\n\r\nQUIT\r\n",                         // close, but no
  };
  for (const std::string& h : bad) {
    const outcome o = grind(h, false);
    EXPECT_EQ(o.status, proxy_status::Invalid) << testing::PrintToString(h);
  }
}

}  // namespace
}  // namespace posthorn::smtp
