// XCLIENT attribute parsing (Postfix's XCLIENT_README).

#include "smtp/proto/xclient.hpp"

#include <gtest/gtest.h>

namespace posthorn::smtp {
namespace {

using kind = xclient_attr::kind;

TEST(ParseXclient, EveryAttribute) {
  auto r = parse_xclient(
      "ADDR=192.0.2.1 NAME=mail.example.net HELO=helo.example.net PROTO=esmtp "
      "LOGIN=alice@example.test PORT=4000 DESTADDR=IPV6:2001:db8::25 DESTPORT=25");
  ASSERT_TRUE(r.has_value()) << r.error().text;
  EXPECT_EQ(r->addr.value, "192.0.2.1");
  EXPECT_EQ(r->name.value, "mail.example.net");
  EXPECT_EQ(r->helo.value, "helo.example.net");
  EXPECT_EQ(r->proto.value, "ESMTP");
  EXPECT_EQ(r->login.value, "alice@example.test");
  EXPECT_EQ(r->port.value, "4000");
  EXPECT_EQ(r->destaddr.value, "2001:db8::25");
  EXPECT_EQ(r->destport.value, "25");
}

TEST(ParseXclient, NamesAreCaseInsensitiveAndTheLastValueCounts) {
  auto r = parse_xclient("addr=192.0.2.1  Addr=192.0.2.2");
  ASSERT_TRUE(r.has_value());
  EXPECT_EQ(r->addr.value, "192.0.2.2");
  EXPECT_FALSE(r->name.given());
}

TEST(ParseXclient, AddressForms) {
  EXPECT_EQ(parse_xclient("ADDR=IPV6:2001:DB8:0::1")->addr.value, "2001:db8::1");
  EXPECT_EQ(parse_xclient("ADDR=ipv6:::1")->addr.value, "::1");
  EXPECT_EQ(parse_xclient("ADDR=2001:db8::1")->addr.value, "2001:db8::1");
  EXPECT_EQ(parse_xclient("ADDR=IPV6:::ffff:192.0.2.1")->addr.value, "192.0.2.1");
  EXPECT_FALSE(parse_xclient("ADDR=IPV6:192.0.2.1").has_value());
  EXPECT_FALSE(parse_xclient("ADDR=192.0.2.1.5").has_value());
  EXPECT_FALSE(parse_xclient("ADDR=[192.0.2.1]").has_value());
  EXPECT_FALSE(parse_xclient("ADDR=host.example").has_value());
}

TEST(ParseXclient, SpecialValues) {
  auto r = parse_xclient("ADDR=[UNAVAILABLE] NAME=[TEMPUNAVAIL] LOGIN=[UNAVAILABLE]");
  ASSERT_TRUE(r.has_value());
  EXPECT_EQ(r->addr.k, kind::Unavailable);
  EXPECT_EQ(r->name.k, kind::TempUnavail);
  EXPECT_EQ(r->login.k, kind::Unavailable);
  EXPECT_FALSE(r->addr.has_value());
  EXPECT_TRUE(r->addr.given());
}

TEST(ParseXclient, XtextIsDecoded) {
  EXPECT_EQ(parse_xclient("HELO=a+2Bb")->helo.value, "a+b");
  EXPECT_EQ(parse_xclient("LOGIN=a+3Db@example.test")->login.value, "a=b@example.test");
  EXPECT_EQ(parse_xclient("NAME=+5BUNAVAILABLE+5D")->name.k, kind::Unavailable);
  EXPECT_EQ(parse_xclient("HELO=a+2").error().text, "Bad HELO syntax: not xtext");
  EXPECT_EQ(parse_xclient("HELO=a+20b").error().text, "Bad HELO syntax");  // a space
}

TEST(ParseXclient, Refused) {
  EXPECT_EQ(parse_xclient("").error().text, "Syntax: XCLIENT attribute=value...");
  EXPECT_EQ(parse_xclient("   ").error().text, "Syntax: XCLIENT attribute=value...");
  EXPECT_EQ(parse_xclient("ADDR").error().text, "Syntax: XCLIENT attribute=value...");
  EXPECT_EQ(parse_xclient("=x").error().text, "Syntax: XCLIENT attribute=value...");
  EXPECT_EQ(parse_xclient("REVERSE_NAME=x").error().text,
            "Bad XCLIENT attribute name: REVERSE_NAME");
  EXPECT_EQ(parse_xclient("NAME=").error().text, "Bad NAME syntax");
  EXPECT_EQ(parse_xclient("NAME=-x.example").error().text, "Bad NAME syntax");
  EXPECT_EQ(parse_xclient("NAME=" + std::string(256, 'a')).error().text, "Bad NAME syntax");
  EXPECT_EQ(parse_xclient("PROTO=LMTP").error().text, "Bad PROTO syntax");
  EXPECT_EQ(parse_xclient("PORT=-1").error().text, "Bad PORT syntax");
  EXPECT_EQ(parse_xclient("DESTPORT=123456").error().text, "Bad DESTPORT syntax");
  EXPECT_EQ(parse_xclient("DESTADDR=x").error().text, "Bad DESTADDR syntax");
}

}  // namespace
}  // namespace posthorn::smtp
