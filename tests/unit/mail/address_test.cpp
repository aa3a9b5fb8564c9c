// RFC 5321 §4.1.2 path syntax, RFC 6531 UTF-8 addresses, IDNA helpers.

#include "mail/address.hpp"

#include <gtest/gtest.h>

#include <string>

namespace posthorn::mail {
namespace {

struct good_vector {
  const char* text;
  const char* local;
  const char* domain;
  const char* params;
};

// Valid with SMTPUTF8 off (so also with it on).
const good_vector k_good[] = {
    {"<alice@example.test>", "alice", "example.test", ""},
    {"<Alice.Smith@Example.TEST>", "Alice.Smith", "Example.TEST", ""},
    {"<a!#$%&'*+-/=?^_`{|}~@x.test>", "a!#$%&'*+-/=?^_`{|}~", "x.test", ""},
    {"<alice@example.test> SIZE=100 BODY=8BITMIME", "alice", "example.test",
     "SIZE=100 BODY=8BITMIME"},
    {"<alice@example.test>   SIZE=1", "alice", "example.test", "SIZE=1"},
    {"<alice@example.test>   ", "alice", "example.test", ""},
    {"<\"bob\"@example.test>", "bob", "example.test", ""},
    {"<\"john doe\"@x.test>", "john doe", "x.test", ""},
    {"<\"a\\\"b\\\\c\"@x.test>", "a\"b\\c", "x.test", ""},
    {"<\"\\a\"@x.test>", "a", "x.test", ""},
    {"<\"a..b\"@x.test>", "a..b", "x.test", ""},
    {"<\"\"@x.test>", "", "x.test", ""},
    {"<@a.test,@b.test:user@c.test>", "user", "c.test", ""},
    {"<@a.test:user@c.test> NOTIFY=NEVER", "user", "c.test", "NOTIFY=NEVER"},
    {"<user@[192.0.2.1]>", "user", "[192.0.2.1]", ""},
    {"<user@[IPv6:2001:db8::1]>", "user", "[IPv6:2001:db8::1]", ""},
    {"<user@[ipv6:::ffff:192.0.2.1]>", "user", "[ipv6:::ffff:192.0.2.1]", ""},
    {"<user@x1-2.test>", "user", "x1-2.test", ""},
    {"<user@localhost>", "user", "localhost", ""},
    {"<user@xn--bcher-kva.test>", "user", "xn--bcher-kva.test", ""},
};

TEST(ParsePath, GoodVectors) {
  for (const auto& v : k_good) {
    for (const bool utf8 : {false, true}) {
      const auto p = parse_path(v.text, false, utf8);
      ASSERT_TRUE(p.has_value()) << v.text;
      EXPECT_EQ(p->addr.local, v.local) << v.text;
      EXPECT_EQ(p->addr.domain, v.domain) << v.text;
      EXPECT_EQ(p->params, v.params) << v.text;
    }
  }
}

TEST(ParsePath, StrRoundTrips) {
  for (const auto& v : k_good) {
    const auto p = parse_path(v.text, false, false);
    ASSERT_TRUE(p.has_value()) << v.text;
    const auto again = parse_path("<" + p->addr.str() + ">", false, false);
    ASSERT_TRUE(again.has_value()) << p->addr.str();
    EXPECT_EQ(again->addr, p->addr) << p->addr.str();
  }
}

TEST(ParsePath, QuotingInStr) {
  EXPECT_EQ((address{"bob", "example.test"}.str()), "bob@example.test");
  EXPECT_EQ((address{"john doe", "x.test"}.str()), "\"john doe\"@x.test");
  EXPECT_EQ((address{"a\"b\\c", "x.test"}.str()), "\"a\\\"b\\\\c\"@x.test");
  EXPECT_EQ((address{"a..b", "x.test"}.str()), "\"a..b\"@x.test");
  EXPECT_EQ((address{"", "x.test"}.str()), "\"\"@x.test");
  EXPECT_EQ((address{"pöstmaster", "x.test"}.str()), "pöstmaster@x.test");
  EXPECT_EQ(address{}.str(), "");
}

TEST(ParsePath, NullPath) {
  const auto p = parse_path("<>", true, false);
  ASSERT_TRUE(p.has_value());
  EXPECT_TRUE(p->addr.empty());
  EXPECT_EQ(p->params, "");

  const auto q = parse_path("<> SIZE=10 RET=HDRS", true, false);
  ASSERT_TRUE(q.has_value());
  EXPECT_TRUE(q->addr.empty());
  EXPECT_EQ(q->params, "SIZE=10 RET=HDRS");

  EXPECT_EQ(parse_path("<>", false, false).error(), path_error::Syntax);
  EXPECT_EQ(parse_path("<>x", true, false).error(), path_error::Syntax);
}

TEST(ParsePath, SyntaxErrors) {
  const char* bad[] = {
      "",
      "<",
      "alice@example.test",
      "<alice@example.test",
      "<alice@example.test>SIZE=1",
      "<alice@example.test>\tSIZE=1",
      "<alice@example.test>>",
      "<alice>",
      "<alice@>",
      "<@example.test>",
      "<a b@x.test>",
      "<a..b@x.test>",
      "<.a@x.test>",
      "<a.@x.test>",
      "<a@b@x.test>",
      "<a@-x.test>",
      "<a@x-.test>",
      "<a@x..test>",
      "<a@.x.test>",
      "<a@x.test.>",
      "<a@x_y.test>",
      "<a@x test>",
      "<\"unterminated@x.test>",
      "<\"a\\",
      "<\"tab\there\"@x.test>",
      "<a\\b@x.test>",
      "<a@[192.0.2.1>",
      "<a@[256.0.0.1]>",
      "<a@[1.2.3]>",
      "<a@[1.2.3.4.5]>",
      "<a@[1234.2.3.4]>",
      "<a@[IPv6:zz::1]>",
      "<a@[IPv6:1.2.3.4]>",
      "<a@[tag:content]>",
      "<a@[]>",
      "<@a.test,user@c.test>",
      "<@a.test user@c.test>",
      "<@:user@c.test>",
      "<@[1.2.3.4]:user@c.test>",
      "<@a.test,:user@c.test>",
      " <a@x.test>",
      "<a@x.test\r>",
  };
  for (const char* b : bad) {
    const auto p = parse_path(b, true, true);
    EXPECT_FALSE(p.has_value()) << b;
    if (!p.has_value()) {
      EXPECT_EQ(p.error(), path_error::Syntax) << b;
    }
  }
  // An embedded NUL (not covered by the C strings above).
  const std::string nul("<a\0b@x.test>", 12);
  EXPECT_EQ(parse_path(nul, true, true).error(), path_error::Syntax);
}

TEST(ParsePath, LengthLimits) {
  const std::string l64(64, 'a');
  const std::string l65(65, 'a');
  EXPECT_TRUE(parse_path("<" + l64 + "@x.test>", false, false).has_value());
  EXPECT_EQ(parse_path("<" + l65 + "@x.test>", false, false).error(), path_error::TooLong);
  // The quotes count: 62 octets quoted is 64 on the wire.
  EXPECT_TRUE(parse_path("<\"" + std::string(62, 'a') + "\"@x.test>", false, false));
  EXPECT_EQ(parse_path("<\"" + std::string(63, 'a') + "\"@x.test>", false, false).error(),
            path_error::TooLong);

  // 4 labels of 63 plus 3 dots = 255 octets.
  const std::string label(63, 'b');
  const std::string d255 = label + "." + label + "." + label + "." + label;
  ASSERT_EQ(d255.size(), 255u);
  EXPECT_TRUE(parse_path("<a@" + d255 + ">", false, false).has_value());
  EXPECT_EQ(parse_path("<a@" + d255 + "c>", false, false).error(), path_error::TooLong);
  EXPECT_EQ(parse_path("<a@" + std::string(64, 'b') + ".test>", false, false).error(),
            path_error::TooLong);
}

TEST(ParsePath, Utf8) {
  const char* good[] = {
      "<用户@例子.测试>",        "<ü@x.test>", "<alice@bücher.test>", "<\"ü ü\"@x.test>",
      "<@bücher.test:a@x.test>",
  };
  for (const char* g : good) {
    const auto on = parse_path(g, false, true);
    EXPECT_TRUE(on.has_value()) << g;
    if (on.has_value()) {
      EXPECT_TRUE(on->addr.needs_utf8() || std::string(g).starts_with("<@")) << g;
    }
    EXPECT_EQ(parse_path(g, false, false).error(), path_error::Utf8) << g;
  }
  EXPECT_EQ(parse_path("<\"ü ü\"@x.test>", false, true)->addr.local, "ü ü");

  // Malformed UTF-8 is a syntax error whether SMTPUTF8 was given or not.
  const char* malformed[] = {
      "<\xff@x.test>",              // never valid
      "<\xc0\xaf@x.test>",          // overlong '/'
      "<\xed\xa0\x80@x.test>",      // UTF-16 surrogate
      "<\xf4\x90\x80\x80@x.test>",  // above U+10FFFF
      "<a\xc3@x.test>",             // truncated sequence
      "<a@b\xc3.test>",
      "<\"\xe2\x82\"@x.test>",
  };
  for (const char* m : malformed) {
    EXPECT_EQ(parse_path(m, false, true).error(), path_error::Syntax) << m;
    EXPECT_EQ(parse_path(m, false, false).error(), path_error::Syntax) << m;
  }
  // A quoted pair escapes ASCII only.
  EXPECT_EQ(parse_path("<\"\\ü\"@x.test>", false, true).error(), path_error::Syntax);
  // Not a valid IDNA label (a disallowed symbol).
  EXPECT_EQ(parse_path("<a@\xe2\x98\x83\xe2\x80\x8d.test>", false, true).error(),
            path_error::Syntax);
}

TEST(ParsePath, EveryTruncationFailsCleanly) {
  for (const auto& v : k_good) {
    const std::string_view text = v.text;
    const std::size_t close = text.find('>');
    for (std::size_t n = 0; n <= close; ++n) {
      EXPECT_FALSE(parse_path(text.substr(0, n), true, true).has_value()) << text.substr(0, n);
    }
  }
}

TEST(ParsePath, Postmaster) {
  EXPECT_EQ(parse_postmaster_path("<Postmaster>"), std::optional<std::string_view>(""));
  EXPECT_EQ(parse_postmaster_path("<POSTMASTER> NOTIFY=NEVER"),
            std::optional<std::string_view>("NOTIFY=NEVER"));
  EXPECT_FALSE(parse_postmaster_path("<postmaster@x.test>"));
  EXPECT_FALSE(parse_postmaster_path("<postmaster>x"));
  EXPECT_FALSE(parse_postmaster_path("<postmaste>"));
  EXPECT_FALSE(parse_path("<Postmaster>", false, false).has_value());
}

TEST(ParseAddress, BareAndBracketed) {
  auto a = parse_address("alice@example.test");
  ASSERT_TRUE(a);
  EXPECT_EQ(*a, (address{"alice", "example.test"}));
  a = parse_address("  <alice@example.test>  ");
  ASSERT_TRUE(a);
  EXPECT_EQ(*a, (address{"alice", "example.test"}));
  a = parse_address("\"bob\"@example.test");
  ASSERT_TRUE(a);
  EXPECT_EQ(a->local, "bob");
  a = parse_address("<@relay.test:carol@example.test>");
  ASSERT_TRUE(a);
  EXPECT_EQ(a->local, "carol");
  a = parse_address("jörg@bücher.test");
  ASSERT_TRUE(a);
  EXPECT_EQ(a->domain, "bücher.test");

  EXPECT_FALSE(parse_address("alice"));
  EXPECT_FALSE(parse_address("<>"));
  EXPECT_FALSE(parse_address("<alice@example.test>", false));
  EXPECT_FALSE(parse_address("<alice@example.test> SIZE=1"));
  EXPECT_FALSE(parse_address("alice@example.test extra"));
  EXPECT_FALSE(parse_address("alice@"));
  EXPECT_FALSE(parse_address(""));
}

TEST(ParseLocalPart, Forms) {
  EXPECT_EQ(parse_local_part("bob"), std::optional<std::string>("bob"));
  EXPECT_EQ(parse_local_part("\"john doe\""), std::optional<std::string>("john doe"));
  EXPECT_EQ(parse_local_part("jörg"), std::optional<std::string>("jörg"));
  EXPECT_FALSE(parse_local_part("a..b"));
  EXPECT_FALSE(parse_local_part("a b"));
  EXPECT_FALSE(parse_local_part("a@b"));
  EXPECT_FALSE(parse_local_part(""));
  EXPECT_FALSE(parse_local_part(std::string(65, 'x')));
}

TEST(IsDotString, Cases) {
  EXPECT_TRUE(is_dot_string("a.b"));
  EXPECT_TRUE(is_dot_string("a+tag"));
  EXPECT_TRUE(is_dot_string("ü"));
  EXPECT_FALSE(is_dot_string(""));
  EXPECT_FALSE(is_dot_string(".a"));
  EXPECT_FALSE(is_dot_string("a."));
  EXPECT_FALSE(is_dot_string("a..b"));
  EXPECT_FALSE(is_dot_string("a b"));
  EXPECT_FALSE(is_dot_string("a\"b"));
  EXPECT_FALSE(is_dot_string("\xff"));
}

TEST(Domains, Normalize) {
  EXPECT_EQ(normalize_domain("Example.TEST"), "example.test");
  EXPECT_EQ(normalize_domain("example.test."), "example.test");
  EXPECT_EQ(normalize_domain("xn--bcher-kva.test"), "bücher.test");
  EXPECT_EQ(normalize_domain("XN--BCHER-KVA.Test"), "bücher.test");
  EXPECT_EQ(normalize_domain("bücher.test"), "bücher.test");
  EXPECT_EQ(normalize_domain("BÜCHER.test"), "bücher.test");
  EXPECT_EQ(normalize_domain("[IPv6:2001:DB8::1]"), "[ipv6:2001:db8::1]");
  // Not valid IDNA: returned lower-cased, unchanged otherwise.
  EXPECT_EQ(normalize_domain("XN--A.test"), "xn--a.test");
  EXPECT_EQ(normalize_domain(""), "");
  EXPECT_TRUE(same_domain("Bücher.Test.", "xn--bcher-kva.test"));
  EXPECT_FALSE(same_domain("a.test", "b.test"));
}

TEST(Domains, ToAscii) {
  EXPECT_EQ(domain_to_ascii("bücher.test"), std::optional<std::string>("xn--bcher-kva.test"));
  EXPECT_EQ(domain_to_ascii("例子.测试"), std::optional<std::string>("xn--fsqu00a.xn--0zwm56d"));
  EXPECT_EQ(domain_to_ascii("Example.test"), std::optional<std::string>("Example.test"));
  EXPECT_EQ(domain_to_ascii("xn--bcher-kva.test"),
            std::optional<std::string>("xn--bcher-kva.test"));
  EXPECT_EQ(domain_to_ascii("[192.0.2.1]"), std::optional<std::string>("[192.0.2.1]"));
  EXPECT_FALSE(domain_to_ascii(""));
  EXPECT_FALSE(domain_to_ascii("b\xffs.test"));
  EXPECT_FALSE(domain_to_ascii("[192.0.2.1"));
}

TEST(AddressKey, CaseInsensitive) {
  EXPECT_EQ(address_key({"Alice", "Example.TEST"}), "alice@example.test");
  EXPECT_EQ(address_key({"Alice", "xn--bcher-kva.test"}), address_key({"alice", "Bücher.test"}));
}

TEST(Text, Helpers) {
  EXPECT_EQ(ascii_lower("AbC-ÄÖ"), "abc-ÄÖ");
  EXPECT_TRUE(is_ascii("plain text"));
  EXPECT_FALSE(is_ascii("ü"));
  EXPECT_TRUE(valid_utf8(""));
  EXPECT_TRUE(valid_utf8("ascii"));
  EXPECT_TRUE(valid_utf8("ü€😀"));
  EXPECT_TRUE(valid_utf8("\xf4\x8f\xbf\xbf"));  // U+10FFFF
  EXPECT_FALSE(valid_utf8("\x80"));
  EXPECT_FALSE(valid_utf8("\xc1\xbf"));
  EXPECT_FALSE(valid_utf8("\xe0\x80\xaf"));
  EXPECT_FALSE(valid_utf8("\xed\xbf\xbf"));
  EXPECT_FALSE(valid_utf8("\xf0\x80\x80\xaf"));
  EXPECT_FALSE(valid_utf8("\xf5\x80\x80\x80"));
  EXPECT_FALSE(valid_utf8("\xe2\x82"));
  EXPECT_TRUE((address{"a", "b.test"}.needs_utf8()) == false);
  EXPECT_TRUE((address{"a", "bü.test"}.needs_utf8()));
}

}  // namespace
}  // namespace posthorn::mail
