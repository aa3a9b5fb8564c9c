// The I/O-free parts: query names, address literals, RDATA codecs (every truncation
// refused) and the RFC 5321 §5.1 / RFC 7505 ordering of an MX RRset.

#include "dns/records.hpp"

#include <gtest/gtest.h>

#include <algorithm>
#include <map>
#include <set>

namespace posthorn::dns {
namespace {

std::string bytes(std::initializer_list<int> values) {
  std::string out;
  for (const int v : values) {
    out.push_back(static_cast<char>(v));
  }
  return out;
}

TEST(query_name, lower_cases_and_drops_the_trailing_dot) {
  EXPECT_EQ(query_name("Example.TEST."), "example.test");
  EXPECT_EQ(query_name("mx1.example.test"), "mx1.example.test");
  EXPECT_EQ(query_name("_mta-sts.example.test"), "_mta-sts.example.test");
}

TEST(query_name, converts_u_labels_to_a_labels) {
  EXPECT_EQ(query_name("bücher.test"), "xn--bcher-kva.test");
  EXPECT_EQ(query_name("xn--bcher-kva.test"), "xn--bcher-kva.test");
}

TEST(query_name, refuses_what_is_no_host_name) {
  for (const char* bad : {"", ".", "..", "a..b", ".a", "[127.0.0.1]", "[IPv6:::1]", "a b.test",
                          "a\\.b.test", "a\"b.test", "a/b", "\xff\xfe.test"}) {
    EXPECT_FALSE(query_name(bad)) << bad;
  }
  const std::string label63(63, 'a');
  EXPECT_TRUE(query_name(label63 + ".test"));
  EXPECT_FALSE(query_name(label63 + "a.test"));
  // 253 characters is the longest name (RFC 1035 §2.3.4: 255 octets on the wire).
  std::string longest = label63 + "." + label63 + "." + label63 + "." + std::string(61, 'b');
  ASSERT_EQ(longest.size(), 253u);
  EXPECT_TRUE(query_name(longest));
  EXPECT_FALSE(query_name(longest + "b"));
}

TEST(address_literal, takes_bare_addresses_and_rfc_5321_literals) {
  EXPECT_EQ(address_literal("127.0.0.2"), ip_address::parse("127.0.0.2"));
  EXPECT_EQ(address_literal("::1"), ip_address::parse("::1"));
  EXPECT_EQ(address_literal("[192.0.2.1]"), ip_address::parse("192.0.2.1"));
  EXPECT_EQ(address_literal("[IPv6:2001:db8::1]"), ip_address::parse("2001:db8::1"));
  EXPECT_EQ(address_literal("[ipv6:::1]"), ip_address::parse("::1"));
  EXPECT_FALSE(address_literal("mx1.example.test"));
  EXPECT_FALSE(address_literal("[2001:db8::1]"));  // RFC 5321 §4.1.3 wants the tag
  EXPECT_FALSE(address_literal("[IPv6:192.0.2.1]"));
  EXPECT_FALSE(address_literal("[]"));
  EXPECT_FALSE(address_literal("[127.0.0.1"));
}

TEST(mx_rdata, round_trips) {
  const auto rdata = encode_mx_rdata(10, "MX1.Example.test.");
  ASSERT_TRUE(rdata);
  EXPECT_EQ(*rdata, bytes({0,   10,  3,   'm', 'x', '1', 7,   'e', 'x', 'a',
                           'm', 'p', 'l', 'e', 4,   't', 'e', 's', 't', 0}));
  EXPECT_EQ(parse_mx_rdata(*rdata), (mx_record{10, "mx1.example.test"}));
  const auto null_mx = encode_mx_rdata(0, ".");
  ASSERT_TRUE(null_mx);
  EXPECT_EQ(*null_mx, bytes({0, 0, 0}));
  EXPECT_EQ(parse_mx_rdata(*null_mx), (mx_record{0, ""}));
  EXPECT_EQ(parse_mx_rdata(bytes({0xff, 0xfe, 1, 'a', 0})), (mx_record{0xfffe, "a"}));
}

TEST(mx_rdata, refuses_every_truncation_and_trailing_garbage) {
  const auto rdata = *encode_mx_rdata(20, "mx2.example.test");
  for (std::size_t n = 0; n < rdata.size(); ++n) {
    EXPECT_FALSE(parse_mx_rdata(rdata.substr(0, n))) << n;
  }
  EXPECT_FALSE(parse_mx_rdata(rdata + '\0'));
  EXPECT_FALSE(parse_mx_rdata(rdata + 'x'));
}

TEST(mx_rdata, refuses_pointers_and_odd_labels) {
  EXPECT_FALSE(parse_mx_rdata(bytes({0, 1, 0xc0, 0x0c})));           // compression
  EXPECT_FALSE(parse_mx_rdata(bytes({0, 1, 3, 'a', '.', 'b', 0})));  // dot in a label
  EXPECT_FALSE(parse_mx_rdata(bytes({0, 1, 3, 'a', ' ', 'b', 0})));  // space
  EXPECT_FALSE(parse_mx_rdata(bytes({0, 1, 64})));                   // label too long
  EXPECT_FALSE(encode_mx_rdata(1, "a..b"));
}

TEST(address_rdata, parses_a_and_aaaa_of_the_right_size_only) {
  EXPECT_EQ(parse_address_rdata(record_type::A, bytes({127, 0, 0, 2})),
            ip_address::parse("127.0.0.2"));
  std::string v6(16, '\0');
  v6[15] = 1;
  EXPECT_EQ(parse_address_rdata(record_type::Aaaa, v6), ip_address::parse("::1"));
  EXPECT_FALSE(parse_address_rdata(record_type::A, bytes({127, 0, 0})));
  EXPECT_FALSE(parse_address_rdata(record_type::A, v6));
  EXPECT_FALSE(parse_address_rdata(record_type::Aaaa, bytes({127, 0, 0, 2})));
  EXPECT_FALSE(parse_address_rdata(record_type::Mx, bytes({127, 0, 0, 2})));
  for (const char* text : {"192.0.2.1", "2001:db8::1", "::ffff:0:1"}) {
    const auto a = *ip_address::parse(text);
    const auto type = a.v4() ? record_type::A : record_type::Aaaa;
    EXPECT_EQ(parse_address_rdata(type, encode_address_rdata(a)), a) << text;
  }
}

std::vector<std::string> hosts(const mx_result& r) {
  std::vector<std::string> out;
  for (const auto& t : r.targets) {
    out.push_back(t.host);
  }
  return out;
}

TEST(order_mx, sorts_by_preference) {
  std::mt19937_64 rng(1);
  const auto r = order_mx("example.test", {{30, "c.test"}, {10, "a.test"}, {20, "b.test"}}, rng);
  ASSERT_EQ(r.status, dns_status::Ok);
  EXPECT_EQ(hosts(r), (std::vector<std::string>{"a.test", "b.test", "c.test"}));
  EXPECT_EQ(r.targets[0].preference, 10);
  EXPECT_EQ(r.targets[2].preference, 30);
  EXPECT_FALSE(r.targets[0].implicit);
}

TEST(order_mx, shuffles_equal_preferences_and_only_those) {
  std::set<std::vector<std::string>> seen;
  for (std::uint64_t seed = 0; seed < 200; ++seed) {
    std::mt19937_64 rng(seed);
    const auto r = order_mx(
        "example.test",
        {{10, "a.test"}, {10, "b.test"}, {10, "c.test"}, {5, "first.test"}, {20, "last.test"}},
        rng);
    ASSERT_EQ(r.status, dns_status::Ok);
    const auto h = hosts(r);
    ASSERT_EQ(h.size(), 5u);
    EXPECT_EQ(h.front(), "first.test");
    EXPECT_EQ(h.back(), "last.test");
    seen.insert(std::vector<std::string>(h.begin() + 1, h.end() - 1));
  }
  EXPECT_EQ(seen.size(), 6u);  // every order of the three equal hosts turns up
}

TEST(order_mx, the_same_seed_gives_the_same_order) {
  const std::vector<mx_record> records{
      {10, "a.test"}, {10, "b.test"}, {10, "c.test"}, {10, "d.test"}};
  std::mt19937_64 one(42);
  std::mt19937_64 two(42);
  EXPECT_EQ(hosts(order_mx("x.test", records, one)), hosts(order_mx("x.test", records, two)));
}

TEST(order_mx, lists_each_host_once_at_its_best_preference) {
  std::mt19937_64 rng(3);
  const auto r = order_mx("example.test", {{20, "a.test"}, {10, "b.test"}, {5, "a.test"}}, rng);
  ASSERT_EQ(r.status, dns_status::Ok);
  ASSERT_EQ(r.targets.size(), 2u);
  EXPECT_EQ(r.targets[0], (mx_target{"a.test", 5, false}));
  EXPECT_EQ(r.targets[1], (mx_target{"b.test", 10, false}));
}

TEST(order_mx, a_lone_root_exchange_is_a_null_mx) {
  std::mt19937_64 rng(0);
  const auto r = order_mx("nullmx.test", {{0, ""}}, rng);
  EXPECT_EQ(r.status, dns_status::NullMx);
  EXPECT_TRUE(r.targets.empty());
  EXPECT_NE(r.detail.find("RFC 7505"), std::string::npos);
  EXPECT_EQ(order_mx("nullmx.test", {{10, ""}}, rng).status, dns_status::NullMx);
}

TEST(order_mx, a_root_exchange_beside_real_hosts_is_dropped) {
  std::mt19937_64 rng(0);
  const auto r = order_mx("mixed.test", {{0, ""}, {10, "mx.mixed.test"}}, rng);
  ASSERT_EQ(r.status, dns_status::Ok);
  EXPECT_EQ(hosts(r), (std::vector<std::string>{"mx.mixed.test"}));
}

TEST(order_mx, no_records_is_no_data) {
  std::mt19937_64 rng(0);
  EXPECT_EQ(order_mx("x.test", {}, rng).status, dns_status::NoData);
}

TEST(mx_error, maps_each_failure_to_its_status) {
  EXPECT_FALSE(mx_error({dns_status::Ok, {}, {}}, "a.test"));
  const std::map<dns_status, std::pair<bool, std::string>> expected{
      {dns_status::NullMx, {true, "5.1.10"}},
      {dns_status::NxDomain, {true, "5.1.2"}},
      {dns_status::NoData, {true, "5.4.4"}},
      {dns_status::TempFail, {false, "4.4.3"}},
  };
  for (const auto& [status, want] : expected) {
    const auto e = mx_error({status, {}, "why"}, "a.test");
    ASSERT_TRUE(e) << to_string(status);
    EXPECT_EQ(e->permanent(), want.first) << to_string(status);
    EXPECT_EQ(e->enhanced, want.second) << to_string(status);
    EXPECT_NE(e->message.find("a.test"), std::string::npos) << e->message;
  }
}

}  // namespace
}  // namespace posthorn::dns

namespace posthorn::dns {
namespace {

TEST(raw_query_name, takes_what_spf_macros_and_dns_lists_make) {
  EXPECT_EQ(raw_query_name("_DMARC.Example.Test."), "_dmarc.example.test");
  EXPECT_EQ(raw_query_name("a+b=c.2.0.0.127.bl.test"), "a+b=c.2.0.0.127.bl.test");
  EXPECT_FALSE(raw_query_name(""));
  EXPECT_FALSE(raw_query_name("a..b"));
  EXPECT_FALSE(raw_query_name("a b.test"));
  EXPECT_FALSE(raw_query_name("a\\b.test"));
  EXPECT_FALSE(raw_query_name(std::string(64, 'a') + ".test"));
  EXPECT_TRUE(raw_query_name(std::string(63, 'a') + ".test"));
}

TEST(reverse_name, ipv4_ipv6_and_dns_list_forms) {
  EXPECT_EQ(reverse_name(*ip_address::parse("192.0.2.10")), "10.2.0.192.in-addr.arpa");
  EXPECT_EQ(reverse_name(*ip_address::parse("127.0.0.2"), "bl.example.test"),
            "2.0.0.127.bl.example.test");
  EXPECT_EQ(reverse_name(*ip_address::parse("2001:db8::1")),
            "1.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.8.b.d.0.1.0.0.2.ip6.arpa");
}

TEST(txt_rdata, joins_character_strings_and_splits_long_text) {
  const std::string two = std::string("\x03v=s") + "\x05pf1 a";
  EXPECT_EQ(parse_txt_rdata(two), "v=spf1 a");
  const std::string text(600, 'k');
  const std::string wire = encode_txt_rdata(text);
  EXPECT_EQ(wire.size(), 600u + 3u);
  EXPECT_EQ(parse_txt_rdata(wire), text);
  EXPECT_EQ(encode_txt_rdata(""), std::string(1, '\0'));
  EXPECT_EQ(parse_txt_rdata(std::string(1, '\0')), "");
  for (std::size_t cut = 1; cut < wire.size(); ++cut) {
    if (cut == 256 || cut == 512) {
      continue;  // a cut at a string boundary is a valid shorter record
    }
    EXPECT_FALSE(parse_txt_rdata(wire.substr(0, cut))) << cut;
  }
  EXPECT_FALSE(parse_txt_rdata(""));
}

TEST(ptr_rdata, round_trips) {
  const auto wire = encode_ptr_rdata("Mail.Example.Test.");
  ASSERT_TRUE(wire);
  EXPECT_EQ(parse_ptr_rdata(*wire), "mail.example.test");
  EXPECT_FALSE(parse_ptr_rdata(wire->substr(0, wire->size() - 1)));
  EXPECT_FALSE(encode_ptr_rdata(""));
}

}  // namespace
}  // namespace posthorn::dns
