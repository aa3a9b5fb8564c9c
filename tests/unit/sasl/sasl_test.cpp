// SASL PLAIN and LOGIN as RFC 4954 runs them: vectors, "=" and "*", bad base64, the
// authorization identity rules, limits, and strict base64.

#include "auth/sasl.hpp"

#include <gtest/gtest.h>

#include <string>
#include <variant>

namespace posthorn::auth {
namespace {

using namespace std::string_literals;

std::string b64(std::string_view s) { return base64_encode(s); }

const sasl_challenge& challenge_of(const sasl_step& step) {
  EXPECT_TRUE(std::holds_alternative<sasl_challenge>(step));
  static const sasl_challenge none{"<not a challenge>"};
  return std::holds_alternative<sasl_challenge>(step) ? std::get<sasl_challenge>(step) : none;
}

void expect_verify(const sasl_exchange& ex, std::string_view authzid, std::string_view authcid,
                   std::string_view password) {
  ASSERT_TRUE(ex.done());
  const sasl_step step = ex.current();
  ASSERT_TRUE(std::holds_alternative<sasl_verify>(step));
  const auto& v = std::get<sasl_verify>(step);
  EXPECT_EQ(v.authzid, authzid);
  EXPECT_EQ(v.authcid, authcid);
  EXPECT_EQ(v.password, password);
}

void expect_failed(const sasl_exchange& ex, int code, std::string_view enhanced) {
  ASSERT_TRUE(ex.done());
  const sasl_step step = ex.current();
  ASSERT_TRUE(std::holds_alternative<sasl_failed>(step));
  const auto& f = std::get<sasl_failed>(step);
  EXPECT_EQ(f.code, code);
  EXPECT_EQ(f.enhanced, enhanced);
  EXPECT_FALSE(f.text.empty());
}

// Mechanism names.

TEST(SaslMechanism, NamesAreCaseInsensitive) {
  EXPECT_EQ(parse_mechanism("PLAIN"), mechanism::Plain);
  EXPECT_EQ(parse_mechanism("plain"), mechanism::Plain);
  EXPECT_EQ(parse_mechanism("Login"), mechanism::Login);
  EXPECT_EQ(parse_mechanism("CRAM-MD5"), std::nullopt);
  EXPECT_EQ(parse_mechanism("PLAINX"), std::nullopt);
  EXPECT_EQ(parse_mechanism(""), std::nullopt);
  EXPECT_EQ(mechanism_name(mechanism::Plain), "PLAIN");
  EXPECT_EQ(mechanism_name(mechanism::Login), "LOGIN");
  EXPECT_EQ(advertised_mechanisms(), "PLAIN LOGIN");
}

// PLAIN (RFC 4616).

TEST(SaslPlain, InitialResponse) {
  // RFC 4616 §4 style: "\0tim\0tanstaaftanstaaf".
  const auto ex = sasl_exchange::start(mechanism::Plain, "AHRpbQB0YW5zdGFhZnRhbnN0YWFm");
  expect_verify(ex, "", "tim", "tanstaaftanstaaf");
}

TEST(SaslPlain, NoInitialResponseAsksWithAnEmptyChallenge) {
  auto ex = sasl_exchange::start(mechanism::Plain, std::nullopt);
  EXPECT_FALSE(ex.done());
  EXPECT_EQ(challenge_of(ex.current()).text, "");
  ex.respond(b64("\0alice@example.test\0secret"s));
  expect_verify(ex, "", "alice@example.test", "secret");
}

TEST(SaslPlain, AuthzidEqualToAuthcidIsAccepted) {
  const auto ex =
      sasl_exchange::start(mechanism::Plain, b64("Alice@Example.test\0alice@example.test\0pw"s));
  expect_verify(ex, "Alice@Example.test", "alice@example.test", "pw");
}

TEST(SaslPlain, OtherAuthzidIsRefused) {
  // RFC 4616 §2: no proxy authorization here.
  const auto ex =
      sasl_exchange::start(mechanism::Plain, b64("bob@example.test\0alice@example.test\0pw"s));
  expect_failed(ex, 535, "5.7.8");
}

TEST(SaslPlain, PasswordMayHoldAnyOctetButNul) {
  const std::string pw = "p\xc3\xa4ss w:rd\x01\xff";
  const auto ex = sasl_exchange::start(mechanism::Plain, b64("\0alice\0"s + pw));
  expect_verify(ex, "", "alice", pw);
}

TEST(SaslPlain, MalformedMessagesAreRefused) {
  for (const std::string& message :
       {""s, "alice"s, "\0alice"s, "\0alice\0"s, "\0\0secret"s, "\0alice\0sec\0ret"s,
        "\0al\nice\0secret"s, "\0al\x7fice\0secret"s, "x\x01y\0alice\0secret"s}) {
    const auto ex = sasl_exchange::start(mechanism::Plain, b64(message));
    expect_failed(ex, 535, "5.7.8");
  }
}

TEST(SaslPlain, EmptyInitialResponseIsAnEmptyMessage) {
  // RFC 4954 §4: "=" is a zero-length initial response, which PLAIN cannot use.
  const auto ex = sasl_exchange::start(mechanism::Plain, "=");
  expect_failed(ex, 535, "5.7.8");
}

TEST(SaslPlain, BadBase64) {
  for (const char* bad :
       {"AHRpbQB0YW5zdGFhZnRhbnN0YWFm=", "AHRpbQB0YW5zdGFhZnRhbnN0YWF",
        "AHRpbQB0 YW5zdGFhZnRhbnN0YWFm", "AHRp\r\nbQB0YW5zdGFhZnRhbnN0YWFm",
        " AHRpbQB0YW5zdGFhZnRhbnN0YWFm", "AHRpbQB0YW5zdGFhZnRhbnN0YWFm ",
        "AHRpbQB0YW5zdGFhZnRhbnN0YW=m", "AH!pbQB0YW5zdGFhZnRhbnN0YWFm", "*", "===="}) {
    const auto ex = sasl_exchange::start(mechanism::Plain, std::string_view(bad));
    expect_failed(ex, 501, "5.5.2");
  }
}

TEST(SaslPlain, CancelWithStar) {
  auto ex = sasl_exchange::start(mechanism::Plain, std::nullopt);
  ex.respond("*");
  expect_failed(ex, 501, "5.7.0");
}

TEST(SaslPlain, BadBase64AfterChallenge) {
  auto ex = sasl_exchange::start(mechanism::Plain, std::nullopt);
  ex.respond("=");  // "=" means empty only as an initial response
  expect_failed(ex, 501, "5.5.2");
}

TEST(SaslPlain, Limits) {
  const std::string id(k_max_identity, 'a');
  const std::string pw(k_max_password, 'p');
  expect_verify(sasl_exchange::start(mechanism::Plain, b64("\0"s + id + "\0"s + pw)), "", id, pw);
  expect_failed(sasl_exchange::start(mechanism::Plain, b64("\0"s + id + "a\0"s + pw)), 535,
                "5.7.8");
  expect_failed(sasl_exchange::start(mechanism::Plain, b64("\0"s + id + "\0"s + pw + "p")), 535,
                "5.7.8");
  // RFC 4954 §4 line limit: 500 5.5.6.
  const std::string long_line(k_max_response_line + 4, 'A');
  expect_failed(sasl_exchange::start(mechanism::Plain, std::string_view(long_line)), 500, "5.5.6");
  auto ex = sasl_exchange::start(mechanism::Plain, std::nullopt);
  ex.respond(long_line);
  expect_failed(ex, 500, "5.5.6");
}

TEST(SaslPlain, RespondAfterTheEndChangesNothing) {
  auto ex = sasl_exchange::start(mechanism::Plain, b64("\0alice\0secret"s));
  ex.respond(b64("\0bob\0other"s));
  expect_verify(ex, "", "alice", "secret");
  auto failed = sasl_exchange::start(mechanism::Plain, "!!!!");
  failed.respond(b64("\0bob\0other"s));
  expect_failed(failed, 501, "5.5.2");
}

TEST(SaslPlain, ExchangeSurvivesAMove) {
  auto ex = sasl_exchange::start(mechanism::Plain, b64("\0al\0pw"s));
  sasl_exchange moved = std::move(ex);
  expect_verify(moved, "", "al", "pw");
}

// LOGIN (draft-murchison-sasl-login).

TEST(SaslLogin, TwoChallenges) {
  auto ex = sasl_exchange::start(mechanism::Login, std::nullopt);
  EXPECT_EQ(challenge_of(ex.current()).text, "VXNlcm5hbWU6");  // "Username:"
  ex.respond(b64("alice@example.test"));
  EXPECT_FALSE(ex.done());
  EXPECT_EQ(challenge_of(ex.current()).text, "UGFzc3dvcmQ6");  // "Password:"
  ex.respond(b64("secret"));
  expect_verify(ex, "", "alice@example.test", "secret");
}

TEST(SaslLogin, InitialResponseIsTheUserName) {
  auto ex = sasl_exchange::start(mechanism::Login, b64("alice"));
  EXPECT_EQ(challenge_of(ex.current()).text, "UGFzc3dvcmQ6");
  ex.respond(b64("secret"));
  expect_verify(ex, "", "alice", "secret");
}

TEST(SaslLogin, EmptyUserOrPasswordIsRefused) {
  expect_failed(sasl_exchange::start(mechanism::Login, "="), 535, "5.7.8");
  auto ex = sasl_exchange::start(mechanism::Login, std::nullopt);
  ex.respond("");
  expect_failed(ex, 535, "5.7.8");
  auto ex2 = sasl_exchange::start(mechanism::Login, b64("alice"));
  ex2.respond("");
  expect_failed(ex2, 535, "5.7.8");
}

TEST(SaslLogin, NulInUserOrPasswordIsRefused) {
  expect_failed(sasl_exchange::start(mechanism::Login, b64("ali\0ce"s)), 535, "5.7.8");
  auto ex = sasl_exchange::start(mechanism::Login, b64("alice"));
  ex.respond(b64("sec\0ret"s));
  expect_failed(ex, 535, "5.7.8");
}

TEST(SaslLogin, CancelAtEitherStep) {
  auto ex = sasl_exchange::start(mechanism::Login, std::nullopt);
  ex.respond("*");
  expect_failed(ex, 501, "5.7.0");
  auto ex2 = sasl_exchange::start(mechanism::Login, b64("alice"));
  ex2.respond("*");
  expect_failed(ex2, 501, "5.7.0");
}

TEST(SaslLogin, BadBase64AtEitherStep) {
  auto ex = sasl_exchange::start(mechanism::Login, std::nullopt);
  ex.respond("YWxpY2U");  // missing padding
  expect_failed(ex, 501, "5.5.2");
  auto ex2 = sasl_exchange::start(mechanism::Login, b64("alice"));
  ex2.respond("c2VjcmV0\t");
  expect_failed(ex2, 501, "5.5.2");
}

// Base64 itself.

TEST(Base64, EncodeVectors) {
  // RFC 4648 §10.
  EXPECT_EQ(base64_encode(""), "");
  EXPECT_EQ(base64_encode("f"), "Zg==");
  EXPECT_EQ(base64_encode("fo"), "Zm8=");
  EXPECT_EQ(base64_encode("foo"), "Zm9v");
  EXPECT_EQ(base64_encode("foob"), "Zm9vYg==");
  EXPECT_EQ(base64_encode("fooba"), "Zm9vYmE=");
  EXPECT_EQ(base64_encode("foobar"), "Zm9vYmFy");
  EXPECT_EQ(base64_encode("\xff\xfe\x00"s), "//4A");
}

TEST(Base64, DecodeVectors) {
  for (const char* plain : {"", "f", "fo", "foo", "foob", "fooba", "foobar"}) {
    const auto d = base64_decode(base64_encode(plain));
    ASSERT_TRUE(d.has_value()) << plain;
    EXPECT_EQ(d->view(), plain);
  }
  const std::string all = [] {
    std::string s;
    for (int i = 0; i < 256; ++i) {
      s.push_back(static_cast<char>(i));
    }
    return s;
  }();
  const auto d = base64_decode(base64_encode(all));
  ASSERT_TRUE(d.has_value());
  EXPECT_EQ(d->view(), all);
}

TEST(Base64, StrictDecoding) {
  for (const char* bad : {"Zg", "Zg=", "Zg===", "Z===", "=Zg=", "Zg==Zg==", "Zm9v\n", "Zm 9v",
                          "Zm9v-_==", "Zh==", "Zm9=", "Zm-v"}) {
    EXPECT_FALSE(base64_decode(bad).has_value()) << bad;
  }
  // Unused bits must be zero (RFC 4648 §3.5): "Zh==" and "Zm9=" are non-canonical.
  EXPECT_TRUE(base64_decode("Zg==").has_value());
  EXPECT_TRUE(base64_decode("Zm8=").has_value());
  EXPECT_FALSE(base64_decode(std::string_view("Zm9v\0\0\0\0", 8)).has_value());
}

// secret wipes itself; these check the visible contract (contents and moves).
TEST(Secret, MoveLeavesTheSourceEmpty) {
  secret a("password");
  secret b = std::move(a);
  EXPECT_TRUE(a.empty());  // NOLINT(bugprone-use-after-move): the contract under test
  EXPECT_EQ(b.view(), "password");
  b.append(std::string(100, 'x'));
  EXPECT_EQ(b.size(), 108u);
  b.assign("short");
  EXPECT_EQ(b.view(), "short");
  const secret c = b.clone();
  EXPECT_EQ(c.view(), "short");
  b.clear();
  EXPECT_TRUE(b.empty());
}

}  // namespace
}  // namespace posthorn::auth
