// RFC 5322 §3.4 address lists as `sendmail -t` reads them from To, Cc and Bcc.

#include "mail/address_list.hpp"

#include <gtest/gtest.h>

#include <string>
#include <vector>

namespace posthorn::mail {
namespace {

std::vector<std::string> parse_ok(std::string_view text, std::string_view domain = "") {
  auto r = parse_address_list(text, domain);
  EXPECT_TRUE(r.has_value()) << text << ": " << (r ? "" : r.error().message);
  std::vector<std::string> out;
  if (r) {
    for (const auto& a : *r) {
      out.push_back(a.local + "@" + a.domain);  // decoded, not re-quoted
    }
  }
  return out;
}

using list = std::vector<std::string>;

TEST(address_list, plain_addresses_and_commas) {
  EXPECT_EQ(parse_ok("alice@example.test"), list{"alice@example.test"});
  EXPECT_EQ(parse_ok(" alice@example.test , bob@example.test "),
            (list{"alice@example.test", "bob@example.test"}));
  EXPECT_EQ(parse_ok(""), list{});
  EXPECT_EQ(parse_ok("   \r\n\t"), list{});
}

TEST(address_list, display_names_are_dropped) {
  EXPECT_EQ(parse_ok("Alice Smith <alice@example.test>"), list{"alice@example.test"});
  EXPECT_EQ(parse_ok("<alice@example.test>"), list{"alice@example.test"});
  EXPECT_EQ(parse_ok("\"Smith, Alice\" <alice@example.test>, Bob <bob@example.test>"),
            (list{"alice@example.test", "bob@example.test"}));
  // obs-phrase: a '.' in a display name (RFC 5322 §4.1).
  EXPECT_EQ(parse_ok("John Q. Public <jqp@example.test>"), list{"jqp@example.test"});
  EXPECT_EQ(parse_ok("=?UTF-8?Q?J=C3=B6rg?= <j@example.test>"), list{"j@example.test"});
  EXPECT_EQ(parse_ok("\"a <b@c.test>, d\" <real@example.test>"), list{"real@example.test"});
}

TEST(address_list, comments_anywhere) {
  EXPECT_EQ(parse_ok("alice@example.test (Alice Smith)"), list{"alice@example.test"});
  EXPECT_EQ(parse_ok("(first) alice(x)@(y)example.test(z), bob@example.test"),
            (list{"alice@example.test", "bob@example.test"}));
  EXPECT_EQ(parse_ok("a@example.test (nested (comment, with) comma)"), list{"a@example.test"});
  EXPECT_EQ(parse_ok("a@example.test (escaped \\) paren, b@x.test)"), list{"a@example.test"});
  EXPECT_EQ(parse_ok("Pete(A nice \\) chap) <pete(his account)@silly.test(his host)>"),
            list{"pete@silly.test"});
}

TEST(address_list, groups) {
  EXPECT_EQ(parse_ok("undisclosed-recipients:;"), list{});
  EXPECT_EQ(parse_ok("Undisclosed recipients: ;"), list{});
  EXPECT_EQ(parse_ok("team: alice@example.test, Bob <bob@example.test>;, carol@example.test"),
            (list{"alice@example.test", "bob@example.test", "carol@example.test"}));
  EXPECT_EQ(parse_ok("A Group:Ed Jones <c@a.test>,joe@where.test,John <jdoe@one.test>;"),
            (list{"c@a.test", "joe@where.test", "jdoe@one.test"}));
  // A forgotten ';' at the very end is forgiven.
  EXPECT_EQ(parse_ok("team: alice@example.test"), list{"alice@example.test"});
  EXPECT_EQ(parse_ok("empty:; , x@example.test"), list{"x@example.test"});
}

TEST(address_list, quoted_local_parts_are_decoded) {
  EXPECT_EQ(parse_ok("\"john doe\"@example.test"), list{"john doe@example.test"});
  EXPECT_EQ(parse_ok("\"a\\\"b\"@example.test"), list{"a\"b@example.test"});
  EXPECT_EQ(parse_ok("\"bob\"@example.test"), list{"bob@example.test"});
  // obs-local-part: words joined by dots, spaces around the dots.
  EXPECT_EQ(parse_ok("john . \"q\" . public@example.test"), list{"john.q.public@example.test"});
  // Folding inside a quoted string is removed (RFC 5322 §3.2.4).
  EXPECT_EQ(parse_ok("\"a\r\n b\"@example.test"), list{"a b@example.test"});
}

TEST(address_list, domain_literals_and_routes) {
  EXPECT_EQ(parse_ok("user@[192.0.2.1]"), list{"user@[192.0.2.1]"});
  EXPECT_EQ(parse_ok("<user@[IPv6:2001:db8::1]>"), list{"user@[IPv6:2001:db8::1]"});
  EXPECT_EQ(parse_ok("<@a.test,@b.test:user@c.test>"), list{"user@c.test"});
  EXPECT_EQ(parse_ok("Name <@a.test, ,@b.test:user@c.test>"), list{"user@c.test"});
}

TEST(address_list, empty_elements_and_folding) {
  EXPECT_EQ(parse_ok(",,alice@example.test,,, bob@example.test,"),
            (list{"alice@example.test", "bob@example.test"}));
  EXPECT_EQ(parse_ok("alice@example.test,\r\n\tbob@example.test"),
            (list{"alice@example.test", "bob@example.test"}));
}

TEST(address_list, utf8_addresses) {
  EXPECT_EQ(parse_ok("jörg@bücher.test"), list{"jörg@bücher.test"});
  EXPECT_EQ(parse_ok("Jörg <jörg@example.test>"), list{"jörg@example.test"});
}

TEST(address_list, unqualified_addresses_get_the_default_domain) {
  EXPECT_EQ(parse_ok("root", "mx.example.test"), list{"root@mx.example.test"});
  EXPECT_EQ(parse_ok("root, alice@example.test, Bob <bob>", "mx.example.test"),
            (list{"root@mx.example.test", "alice@example.test", "bob@mx.example.test"}));
  EXPECT_EQ(parse_ok("team: root;", "h.test"), list{"root@h.test"});
  auto r = parse_address_list("root", "");
  ASSERT_FALSE(r);
  EXPECT_NE(r.error().message.find("no domain"), std::string::npos);
}

struct bad_vector {
  const char* text;
  const char* why;  // part of the message
};

TEST(address_list, bad_lists_are_refused_with_a_reason) {
  const bad_vector bad[] = {
      {"alice@", "domain"},
      {"@example.test", "address"},
      {"alice@example.test bob@example.test", "','"},
      {"Alice <alice@example.test> Bob <bob@example.test>", "','"},
      {"Alice Smith", "space in a local part"},
      {"<alice@example.test", "'>'"},
      {"<>", "empty"},
      {"alice@example..test", "domain"},
      {"alice..x@example.test", "word missing"},
      {".alice@example.test", "word missing"},
      {"alice.@example.test", "ending in '.'"},
      {"\"unterminated@example.test", "unterminated quoted"},
      {"alice@example.test (unterminated", "unterminated comment"},
      {"user@[192.0.2.1", "unterminated domain literal"},
      {"a: b: c@d.test;;", "group inside a group"},
      {": x@example.test;", "group without a name"},
      {"alice@example.test>", "','"},
      {"alice@-bad-.test", "not a valid mailbox"},
      {"\"ctl\x01\"@example.test", "control character"},
  };
  for (const auto& v : bad) {
    auto r = parse_address_list(v.text, "");
    ASSERT_FALSE(r) << v.text;
    EXPECT_NE(r.error().message.find(v.why), std::string::npos)
        << v.text << " -> " << r.error().message;
    EXPECT_LE(r.error().offset, std::string_view(v.text).size());
  }
}

}  // namespace
}  // namespace posthorn::mail
