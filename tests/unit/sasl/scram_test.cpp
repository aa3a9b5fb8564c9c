// SCRAM-SHA-256 (RFC 7677, RFC 5802): the RFC 7677 §3 exchange byte for byte, the stored
// secrets, channel binding and downgrade rules, and malformed input at every length.

#include "auth/scram.hpp"

#include <gtest/gtest.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>

#include <string>
#include <variant>

#include "auth/sasl.hpp"

namespace posthorn::auth {
namespace {

// RFC 7677 §3.
constexpr std::string_view k_client_first = "n,,n=user,r=rOprNGfwEbeRWgbNEkqO";
constexpr std::string_view k_server_nonce = "%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0";
constexpr std::string_view k_server_first =
    "r=rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0,s=W22ZaJ0SNY7soEsUEjb6gQ==,i=4096";
constexpr std::string_view k_client_final =
    "c=biws,r=rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0,"
    "p=dHzbZapWIk4jUhN+Ute9ytag9zjfMHgsqmmiz7AndVQ=";
constexpr std::string_view k_server_final = "v=6rriTRBi23WpRR/wtup+mMhUZUn/dB5nLTJRsjl95G4=";

scram_secrets rfc_secrets() {
  const auto salt = base64_decode("W22ZaJ0SNY7soEsUEjb6gQ==");
  auto s = scram_derive("pencil", salt->view(), 4096);
  EXPECT_TRUE(s.has_value());
  return *s;
}

scram_options rfc_options() {
  scram_options o;
  o.server_nonce = std::string(k_server_nonce);
  o.lookup = [](std::string_view name) -> std::optional<scram_secrets> {
    if (name == "user") {
      return rfc_secrets();
    }
    return std::nullopt;
  };
  return o;
}

std::string b64(std::string_view s) { return base64_encode(s); }

std::string challenge(const sasl_exchange& ex) {
  const sasl_step step = ex.current();
  EXPECT_TRUE(std::holds_alternative<sasl_challenge>(step));
  return std::holds_alternative<sasl_challenge>(step) ? std::get<sasl_challenge>(step).text : "";
}

std::string decoded(std::string_view text) {
  const auto d = base64_decode(text);
  return d ? std::string(d->view()) : std::string("<bad base64>");
}

TEST(Scram, Rfc7677ExampleServerSide) {
  scram_server server(rfc_options());
  ASSERT_EQ(server.client_first(k_client_first), scram_server::status::Continue);
  EXPECT_EQ(server.server_first(), k_server_first);
  EXPECT_EQ(server.authcid(), "user");
  EXPECT_EQ(server.authzid(), "");
  ASSERT_EQ(server.client_final(k_client_final), scram_server::status::Verdict);
  EXPECT_TRUE(server.proof_ok());
  EXPECT_EQ(server.server_final(), k_server_final);
}

TEST(Scram, Rfc7677ExampleThroughTheSaslExchange) {
  auto ex = sasl_exchange::start(mechanism::ScramSha256, std::nullopt, rfc_options());
  EXPECT_EQ(challenge(ex), "");  // the client speaks first
  ex.respond(b64(k_client_first));
  EXPECT_EQ(decoded(challenge(ex)), k_server_first);
  ex.respond(b64(k_client_final));
  ASSERT_TRUE(ex.done());
  const sasl_step step = ex.current();
  ASSERT_TRUE(std::holds_alternative<sasl_verify>(step));
  const auto& v = std::get<sasl_verify>(step);
  EXPECT_EQ(v.authcid, "user");
  EXPECT_EQ(v.password, "");
  EXPECT_EQ(v.verified, std::optional<bool>(true));
  EXPECT_EQ(decoded(ex.success_data()), k_server_final);
}

TEST(Scram, InitialResponseCarriesTheClientFirstMessage) {
  auto ex = sasl_exchange::start(mechanism::ScramSha256, b64(k_client_first), rfc_options());
  EXPECT_EQ(decoded(challenge(ex)), k_server_first);
}

TEST(Scram, WithoutOptionsTheMechanismIsUnavailable) {
  const auto ex = sasl_exchange::start(mechanism::ScramSha256, std::nullopt);
  ASSERT_TRUE(ex.done());
  EXPECT_EQ(std::get<sasl_failed>(ex.current()).code, 504);
}

TEST(Scram, MechanismNames) {
  EXPECT_EQ(parse_mechanism("scram-sha-256"), mechanism::ScramSha256);
  EXPECT_EQ(parse_mechanism("SCRAM-SHA-256-PLUS"), mechanism::ScramSha256Plus);
  EXPECT_EQ(parse_mechanism("SCRAM-SHA-1"), std::nullopt);
  EXPECT_EQ(mechanism_name(mechanism::ScramSha256Plus), "SCRAM-SHA-256-PLUS");
  EXPECT_EQ(advertised_mechanisms_with_scram(true), "SCRAM-SHA-256-PLUS SCRAM-SHA-256 PLAIN LOGIN");
  EXPECT_EQ(advertised_mechanisms_with_scram(false), "SCRAM-SHA-256 PLAIN LOGIN");
}

TEST(Scram, StoredSecretsMatchTheRfcAndRoundTrip) {
  const scram_secrets s = rfc_secrets();
  const std::string field = scram_format(s);
  // gsasl --mkpasswd --mechanism SCRAM-SHA-256 --password pencil --iteration-count 4096
  //   --salt W22ZaJ0SNY7soEsUEjb6gQ== prints the same values.
  EXPECT_EQ(field,
            "4096,W22ZaJ0SNY7soEsUEjb6gQ==,WG5d8oPm3OtcPnkdi4Uo7BkeZkBFzpcXkuLmtbsT4qY=,"
            "wfPLwcE6nTWhTAmQ7tl2KeoiWGPlZqQxSrmfPwDl2dU=");
  const auto back = scram_parse(field);
  ASSERT_TRUE(back.has_value());
  EXPECT_EQ(back->iterations, 4096u);
  EXPECT_EQ(back->salt, s.salt);
  EXPECT_EQ(back->stored_key, s.stored_key);
  EXPECT_EQ(back->server_key, s.server_key);
}

TEST(Scram, BadStoredFieldsAreRefused) {
  const std::string keys =
      "W22ZaJ0SNY7soEsUEjb6gQ==,WG5d8oPm3OtcPnkdi4Uo7BkeZkBFzpcXkuLmtbsT4qY=,"
      "wfPLwcE6nTWhTAmQ7tl2KeoiWGPlZqQxSrmfPwDl2dU=";
  EXPECT_FALSE(scram_parse("4095," + keys));  // RFC 7677 §4 minimum
  EXPECT_FALSE(scram_parse("99999999999," + keys));
  EXPECT_FALSE(scram_parse("x4096," + keys));
  EXPECT_FALSE(scram_parse("4096," + keys + ",extra"));
  EXPECT_FALSE(scram_parse("4096,W22ZaJ0SNY7soEsUEjb6gQ==,AAAA,AAAA"));  // short keys
  EXPECT_FALSE(
      scram_parse("4096,,WG5d8oPm3OtcPnkdi4Uo7BkeZkBFzpcXkuLmtbsT4qY=,"
                  "wfPLwcE6nTWhTAmQ7tl2KeoiWGPlZqQxSrmfPwDl2dU="));
  EXPECT_FALSE(scram_parse(""));
  EXPECT_TRUE(scram_parse("4096," + keys));
}

TEST(Scram, MadeSecretsUseARandomSaltAndTheDefaultCount) {
  const auto a = scram_make("pencil", k_scram_min_iterations);
  const auto b = scram_make("pencil", k_scram_min_iterations);
  ASSERT_TRUE(a && b);
  EXPECT_EQ(a->salt.size(), k_scram_salt_size);
  EXPECT_NE(a->salt, b->salt);
  EXPECT_NE(a->stored_key, b->stored_key);
  EXPECT_GE(k_scram_default_iterations, k_scram_min_iterations);
}

TEST(Scram, Saslprep) {
  EXPECT_EQ(saslprep("pencil")->view(), "pencil");
  EXPECT_EQ(saslprep("I\xc2\xad"
                     "X")
                ->view(),
            "IX");  // RFC 4013 §3: SOFT HYPHEN
  EXPECT_EQ(saslprep("a\xc2\xa0"
                     "b")
                ->view(),
            "a b");                                                       // NO-BREAK SPACE
  EXPECT_EQ(saslprep("\xc3\xa9t\xc3\xa9")->view(), "\xc3\xa9t\xc3\xa9");  // été, NFC already
  EXPECT_FALSE(saslprep("\x07"));                                         // RFC 4013 §3: BEL
  EXPECT_FALSE(saslprep("a\x7f"));
  EXPECT_FALSE(saslprep("\xff"));          // not UTF-8
  EXPECT_FALSE(saslprep("\xed\xa0\x80"));  // a surrogate
  EXPECT_FALSE(saslprep("\xc0\xaf"));      // overlong
  EXPECT_FALSE(saslprep("\xee\x80\x80"));  // private use
  EXPECT_FALSE(saslprep("\xc2\xad"));      // nothing left
  EXPECT_FALSE(saslprep(""));
}

TEST(Scram, WrongPasswordIsAVerdictNotAMatch) {
  scram_server server(rfc_options());
  ASSERT_EQ(server.client_first(k_client_first), scram_server::status::Continue);
  std::string bad(k_client_final);
  bad[bad.size() - 3] = bad[bad.size() - 3] == 'A' ? 'B' : 'A';
  ASSERT_EQ(server.client_final(bad), scram_server::status::Verdict);
  EXPECT_FALSE(server.proof_ok());
  EXPECT_EQ(server.server_final(), "");
}

TEST(Scram, UnknownUserLooksLikeARealOneAndFailsAtTheEnd) {
  const auto first_for = [](std::string_view name, std::string key) {
    scram_options o = rfc_options();
    o.fake_salt_key = std::move(key);
    scram_server server(std::move(o));
    EXPECT_EQ(server.client_first("n,,n=" + std::string(name) + ",r=abc"),
              scram_server::status::Continue);
    return server.server_first();
  };
  const std::string a = first_for("nobody", "k1");
  EXPECT_EQ(a, first_for("nobody", "k1"));  // the same salt each time
  EXPECT_EQ(a, first_for("NoBody", "k1"));  // names compare case-insensitively
  EXPECT_NE(a, first_for("someone", "k1"));
  EXPECT_NE(a, first_for("nobody", "k2"));
  EXPECT_NE(a.find(",i=" + std::to_string(k_scram_default_iterations)), std::string::npos);
  // The salt has a real salt's length: 16 octets, 24 base64 characters.
  const auto s = a.find(",s=");
  EXPECT_EQ(a.find(",i=") - s - 3, 24u);

  scram_options o = rfc_options();
  scram_server server(std::move(o));
  ASSERT_EQ(server.client_first("n,,n=nobody,r=rOprNGfwEbeRWgbNEkqO"),
            scram_server::status::Continue);
  // Even the RFC's proof (right for "user") gets a verdict, not a match.
  ASSERT_EQ(server.client_final(k_client_final), scram_server::status::Verdict);
  EXPECT_FALSE(server.proof_ok());
}

TEST(Scram, WrongNonceEchoFails) {
  scram_server server(rfc_options());
  ASSERT_EQ(server.client_first(k_client_first), scram_server::status::Continue);
  std::string bad(k_client_final);
  bad.replace(bad.find("k0,p="), 2, "k1");
  EXPECT_EQ(server.client_final(bad), scram_server::status::Failed);
  EXPECT_FALSE(server.proof_ok());
}

TEST(Scram, AuthzidMustBeTheUser) {
  scram_server same(rfc_options());
  EXPECT_EQ(same.client_first("n,a=User,n=user,r=abc"), scram_server::status::Continue);
  EXPECT_EQ(same.authzid(), "User");
  scram_server other(rfc_options());
  EXPECT_EQ(other.client_first("n,a=admin,n=user,r=abc"), scram_server::status::Failed);
  EXPECT_FALSE(other.malformed());
}

TEST(Scram, SaslnameEscapes) {
  scram_options o = rfc_options();
  std::string seen;
  o.lookup = [&seen](std::string_view name) -> std::optional<scram_secrets> {
    seen = std::string(name);
    return std::nullopt;
  };
  scram_server server(std::move(o));
  EXPECT_EQ(server.client_first("n,,n=a=2Cb=3Dc,r=abc"), scram_server::status::Continue);
  EXPECT_EQ(seen, "a,b=c");
  scram_server bad(rfc_options());
  EXPECT_EQ(bad.client_first("n,,n=a=2Db,r=abc"), scram_server::status::Failed);
  EXPECT_TRUE(bad.malformed());
}

TEST(Scram, MandatoryExtensionsAreRefused) {
  scram_server server(rfc_options());
  EXPECT_EQ(server.client_first("n,,m=ext,n=user,r=abc"), scram_server::status::Failed);
  EXPECT_EQ(server.error(), "extensions-not-supported");
}

// Channel binding (RFC 5802 §6, RFC 9266, RFC 5929).

// A client side of the exchange, computed from the password, for the -PLUS tests.
std::string client_final_for(const scram_server& server, std::string_view client_first_bare,
                             std::string_view c_data, std::string_view password) {
  const std::string& sf = server.server_first();
  const std::string nonce = sf.substr(2, sf.find(",s=") - 2);
  const std::string salt_b64 = sf.substr(sf.find(",s=") + 3, sf.find(",i=") - sf.find(",s=") - 3);
  const auto iterations = static_cast<std::uint32_t>(std::stoul(sf.substr(sf.find(",i=") + 3)));
  const auto salt = base64_decode(salt_b64);
  const auto keys = scram_derive(password, salt->view(), iterations);
  const std::string without_proof = "c=" + b64(c_data) + ",r=" + nonce;
  const std::string auth_message = std::string(client_first_bare) + "," + sf + "," + without_proof;
  // ClientKey is needed: recompute it from SaltedPassword the long way.
  unsigned char salted[32];
  PKCS5_PBKDF2_HMAC(password.data(), static_cast<int>(password.size()),
                    reinterpret_cast<const unsigned char*>(salt->view().data()),
                    static_cast<int>(salt->size()), static_cast<int>(iterations), EVP_sha256(), 32,
                    salted);
  unsigned char client_key[32];
  unsigned int len = 0;
  HMAC(EVP_sha256(), salted, 32, reinterpret_cast<const unsigned char*>("Client Key"), 10,
       client_key, &len);
  unsigned char signature[32];
  HMAC(EVP_sha256(), keys->stored_key.data(), 32,
       reinterpret_cast<const unsigned char*>(auth_message.data()), auth_message.size(), signature,
       &len);
  std::string proof(32, '\0');
  for (int i = 0; i < 32; ++i) {
    proof[i] = static_cast<char>(client_key[i] ^ signature[i]);
  }
  return without_proof + ",p=" + b64(proof);
}

scram_options plus_options() {
  scram_options o;
  o.plus = true;
  o.plus_offered = true;
  o.bindings.tls_exporter = std::string(32, 'E');
  o.bindings.tls_unique = std::string(12, 'U');
  o.lookup = [](std::string_view) -> std::optional<scram_secrets> { return rfc_secrets(); };
  return o;
}

TEST(ScramPlus, TlsExporterBindingSucceeds) {
  scram_server server(plus_options());
  ASSERT_EQ(server.client_first("p=tls-exporter,,n=user,r=abc"), scram_server::status::Continue);
  const std::string final_msg =
      client_final_for(server, "n=user,r=abc", "p=tls-exporter,," + std::string(32, 'E'), "pencil");
  ASSERT_EQ(server.client_final(final_msg), scram_server::status::Verdict);
  EXPECT_TRUE(server.proof_ok());
}

TEST(ScramPlus, TlsUniqueBindingSucceeds) {
  scram_server server(plus_options());
  ASSERT_EQ(server.client_first("p=tls-unique,,n=user,r=abc"), scram_server::status::Continue);
  const std::string final_msg =
      client_final_for(server, "n=user,r=abc", "p=tls-unique,," + std::string(12, 'U'), "pencil");
  ASSERT_EQ(server.client_final(final_msg), scram_server::status::Verdict);
  EXPECT_TRUE(server.proof_ok());
}

TEST(ScramPlus, WrongBindingDataIsRefused) {
  scram_server server(plus_options());
  ASSERT_EQ(server.client_first("p=tls-exporter,,n=user,r=abc"), scram_server::status::Continue);
  const std::string final_msg =
      client_final_for(server, "n=user,r=abc", "p=tls-exporter,," + std::string(32, 'X'), "pencil");
  EXPECT_EQ(server.client_final(final_msg), scram_server::status::Failed);
  EXPECT_EQ(server.error(), "channel-bindings-dont-match");
  EXPECT_FALSE(server.proof_ok());
}

TEST(ScramPlus, UnavailableBindingTypeIsRefused) {
  scram_options o = plus_options();
  o.bindings.tls_unique.clear();  // TLS 1.3
  scram_server server(std::move(o));
  EXPECT_EQ(server.client_first("p=tls-unique,,n=user,r=abc"), scram_server::status::Failed);
  EXPECT_EQ(server.error(), "unsupported-channel-binding-type");
  scram_server other(plus_options());
  EXPECT_EQ(other.client_first("p=tls-server-end-point,,n=user,r=abc"),
            scram_server::status::Failed);
}

TEST(ScramPlus, DowngradeIsRefused) {
  // RFC 5802 §6: "y" says the client could bind but thought we could not.
  scram_options o = plus_options();
  o.plus = false;
  scram_server server(o);
  EXPECT_EQ(server.client_first("y,,n=user,r=abc"), scram_server::status::Failed);
  EXPECT_EQ(server.error(), "server-does-support-channel-binding");
  // Without TLS (no -PLUS offered) "y" is fine.
  o.plus_offered = false;
  scram_server plain(o);
  EXPECT_EQ(plain.client_first("y,,n=user,r=abc"), scram_server::status::Continue);
  // "n" is always fine for SCRAM-SHA-256.
  o.plus_offered = true;
  scram_server n(o);
  EXPECT_EQ(n.client_first("n,,n=user,r=abc"), scram_server::status::Continue);
}

TEST(ScramPlus, FlagMustMatchTheMechanism) {
  scram_server plus(plus_options());
  EXPECT_EQ(plus.client_first("n,,n=user,r=abc"), scram_server::status::Failed);
  scram_options o = plus_options();
  o.plus = false;
  scram_server plain(std::move(o));
  EXPECT_EQ(plain.client_first("p=tls-exporter,,n=user,r=abc"), scram_server::status::Failed);
}

TEST(ScramPlus, NoBindingClientMustNotSendBindingData) {
  scram_options o = plus_options();
  o.plus = false;
  scram_server server(std::move(o));
  ASSERT_EQ(server.client_first("n,,n=user,r=abc"), scram_server::status::Continue);
  // c= must be exactly base64("n,,"): "biws".
  const std::string final_msg =
      client_final_for(server, "n=user,r=abc", "n,," + std::string(32, 'E'), "pencil");
  EXPECT_EQ(server.client_final(final_msg), scram_server::status::Failed);
}

// Malformed input: every prefix of every message, and odd variants, give a clean answer.

TEST(ScramMalformed, EveryTruncationOfTheClientFirstMessage) {
  for (std::size_t n = 0; n < k_client_first.size(); ++n) {
    scram_server server(rfc_options());
    const auto st = server.client_first(k_client_first.substr(0, n));
    // "n,,n=user,r=r" and longer are complete messages with a shorter nonce.
    if (n >= std::string_view("n,,n=user,r=r").size()) {
      EXPECT_EQ(st, scram_server::status::Continue) << n;
    } else {
      EXPECT_EQ(st, scram_server::status::Failed) << n;
    }
  }
}

TEST(ScramMalformed, EveryTruncationOfTheClientFinalMessage) {
  for (std::size_t n = 0; n < k_client_final.size(); ++n) {
    scram_server server(rfc_options());
    ASSERT_EQ(server.client_first(k_client_first), scram_server::status::Continue);
    EXPECT_EQ(server.client_final(k_client_final.substr(0, n)), scram_server::status::Failed) << n;
    EXPECT_FALSE(server.proof_ok());
  }
}

TEST(ScramMalformed, EveryTruncationThroughTheExchange) {
  const std::string first = b64(k_client_first);
  const std::string final_msg = b64(k_client_final);
  for (std::size_t n = 0; n <= final_msg.size(); ++n) {
    auto ex = sasl_exchange::start(mechanism::ScramSha256, first, rfc_options());
    ex.respond(std::string_view(final_msg).substr(0, n));
    ASSERT_TRUE(ex.done());
    const sasl_step step = ex.current();
    if (n == final_msg.size()) {
      EXPECT_EQ(std::get<sasl_verify>(step).verified, std::optional<bool>(true));
    } else {
      EXPECT_TRUE(std::holds_alternative<sasl_failed>(step)) << n;
    }
  }
}

TEST(ScramMalformed, OddMessages) {
  const std::string_view firsts[] = {
      "",
      "n",
      "n,",
      "x,,n=user,r=abc",
      "p=,,n=user,r=abc",
      "p=tls exporter,,n=user,r=abc",
      "n,a=,n=user,r=abc",
      "n,a=user",
      "n,,n=,r=abc",
      "n,,r=abc,n=user",
      "n,,n=user",
      "n,,n=user,r=",
      "n,,n=user,r=a\x01",
      "n,,n=us\x01r,r=a",
      "n,,n=user,r=abc,1=x",
      "n,,n=\xff,r=abc",
      std::string_view("n,,n=u\0,r=abc", 13),
  };
  for (const auto f : firsts) {
    scram_server server(rfc_options());
    EXPECT_EQ(server.client_first(f), scram_server::status::Failed) << f;
  }
  const std::string_view finals[] = {
      "",
      "p=AAAA",
      "c=biws,p=dHzbZapWIk4jUhN+Ute9ytag9zjfMHgsqmmiz7AndVQ=",
      "r=rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0,c=biws,"
      "p=dHzbZapWIk4jUhN+Ute9ytag9zjfMHgsqmmiz7AndVQ=",
      "c=b!ws,r=rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0,"
      "p=dHzbZapWIk4jUhN+Ute9ytag9zjfMHgsqmmiz7AndVQ=",
      "c=biws,r=rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0,p=AAAA",
  };
  for (const auto f : finals) {
    scram_server server(rfc_options());
    ASSERT_EQ(server.client_first(k_client_first), scram_server::status::Continue);
    EXPECT_EQ(server.client_final(f), scram_server::status::Failed) << f;
  }
  // Out of order: a final message first, a second first message.
  scram_server early(rfc_options());
  EXPECT_EQ(early.client_final(k_client_final), scram_server::status::Failed);
  scram_server twice(rfc_options());
  ASSERT_EQ(twice.client_first(k_client_first), scram_server::status::Continue);
  ASSERT_EQ(twice.client_final(k_client_final), scram_server::status::Verdict);
  EXPECT_EQ(twice.client_final(k_client_final), scram_server::status::Failed);
}

TEST(ScramMalformed, CancelAndBadBase64) {
  auto ex = sasl_exchange::start(mechanism::ScramSha256, b64(k_client_first), rfc_options());
  ex.respond("*");
  EXPECT_EQ(std::get<sasl_failed>(ex.current()).code, 501);
  auto bad = sasl_exchange::start(mechanism::ScramSha256, "!!!!", rfc_options());
  EXPECT_EQ(std::get<sasl_failed>(bad.current()).enhanced, "5.5.2");
}

}  // namespace
}  // namespace posthorn::auth
