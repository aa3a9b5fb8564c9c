// AUTH SCRAM-SHA-256(-PLUS) through the session without sockets: the mechanism list, the
// exchange's 334 steps, the verdict handed to the driver (no password to hash), the
// server-final 334 and the empty line before 235, and the failure paths.

#include <gtest/gtest.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>

#include <filesystem>
#include <random>

#include "auth/sasl.hpp"
#include "auth/scram.hpp"
#include "smtp/server/session.hpp"
#include "test_env.hpp"

namespace posthorn::smtp {
namespace {

namespace fs = std::filesystem;
using testing_support::test_env;

// RFC 7677 §3's secrets ("pencil", 4096 iterations), given to alice.
constexpr std::string_view k_users =
    "alice@example.test:$y$unused:scram-sha-256=4096,W22ZaJ0SNY7soEsUEjb6gQ==,"
    "WG5d8oPm3OtcPnkdi4Uo7BkeZkBFzpcXkuLmtbsT4qY=,wfPLwcE6nTWhTAmQ7tl2KeoiWGPlZqQxSrmfPwDl2dU=\n"
    "bob@example.test:$y$unused\n";

std::string b64(std::string_view s) { return auth::base64_encode(s); }
std::string unb64(std::string_view s) {
  const auto d = auth::base64_decode(s);
  return d ? std::string(d->view()) : std::string();
}

std::string hmac(std::string_view key, std::string_view data) {
  unsigned char out[32];
  unsigned int len = 0;
  HMAC(EVP_sha256(), key.data(), static_cast<int>(key.size()),
       reinterpret_cast<const unsigned char*>(data.data()), data.size(), out, &len);
  return std::string(reinterpret_cast<const char*>(out), len);
}

// The client's final message for `server_first`, from the password (RFC 5802 §3).
std::string client_final(std::string_view bare, std::string_view server_first,
                         std::string_view gs2_and_cbind, std::string_view password,
                         std::string* server_signature) {
  const std::string sf(server_first);
  const std::string nonce = sf.substr(2, sf.find(",s=") - 2);
  const std::string salt =
      unb64(sf.substr(sf.find(",s=") + 3, sf.find(",i=") - sf.find(",s=") - 3));
  const int iterations = std::stoi(sf.substr(sf.find(",i=") + 3));
  unsigned char salted[32];
  PKCS5_PBKDF2_HMAC(password.data(), static_cast<int>(password.size()),
                    reinterpret_cast<const unsigned char*>(salt.data()),
                    static_cast<int>(salt.size()), iterations, EVP_sha256(), 32, salted);
  const std::string salted_s(reinterpret_cast<const char*>(salted), 32);
  const std::string client_key = hmac(salted_s, "Client Key");
  unsigned char stored[32];
  unsigned int len = 0;
  EVP_Digest(client_key.data(), client_key.size(), stored, &len, EVP_sha256(), nullptr);
  const std::string without_proof = "c=" + b64(gs2_and_cbind) + ",r=" + nonce;
  const std::string auth_message = std::string(bare) + "," + sf + "," + without_proof;
  const std::string signature =
      hmac(std::string(reinterpret_cast<const char*>(stored), 32), auth_message);
  std::string proof(32, '\0');
  for (std::size_t i = 0; i < 32; ++i) {
    proof[i] = static_cast<char>(client_key[i] ^ signature[i]);
  }
  if (server_signature != nullptr) {
    *server_signature = hmac(hmac(salted_s, "Server Key"), auth_message);
  }
  return without_proof + ",p=" + b64(proof);
}

class SessionScram : public testing::Test {
 protected:
  void SetUp() override {
    auto acc = policy::accounts::from_text({"example.test"}, k_users, "", "");
    ASSERT_TRUE(acc.has_value()) << acc.error().message;
    accounts_ = *acc;
    settings_.hostname = "mx.example.test";
    settings_.role = config::listener_role::Submission;
    settings_.tls_available = true;
    session_ = std::make_unique<session>(settings_, accounts_, *env_,
                                         peer_info{"192.0.2.7", "unknown", false});
    session_->greet();
    session_->output().clear();
  }

  void start_tls(auth::channel_bindings cb) {
    run("EHLO c\r\nSTARTTLS\r\n");
    session_->tls_started("(using TLSv1.3 with cipher TEST)", std::move(cb));
  }

  // Feeds one chunk, acting on AuthVerify as the driver does for SCRAM's verdicts.
  std::string run(std::string_view input) {
    std::string replies;
    std::string pending(input);
    while (true) {
      std::string_view v = pending;
      const action a = session_->feed(v);
      pending.erase(0, pending.size() - v.size());
      replies += session_->output();
      session_->output().clear();
      if (a == action::AuthVerify) {
        const auth::sasl_verify& c = session_->auth_credentials();
        EXPECT_TRUE(c.verified.has_value());
        EXPECT_EQ(c.password, "");
        ++verdicts_;
        session_->auth_done(c.verified.value_or(false) ? std::optional<mail::address>(
                                                             mail::address{"alice", "example.test"})
                                                       : std::nullopt);
        continue;
      }
      if (a == action::StartTls || a == action::Close || pending.empty()) {
        return replies;
      }
    }
  }

  // The text of the single "334 " reply in `r`.
  static std::string challenge(const std::string& r) {
    EXPECT_TRUE(r.starts_with("334 ")) << r;
    return r.size() >= 6 ? r.substr(4, r.size() - 6) : std::string();
  }

  testing_support::temp_spool world_{"session-scram"};
  const std::filesystem::path& dir_ = world_.dir();
  queue::spool* spool_ = world_.spool();
  test_env* env_ = world_.env();
  std::shared_ptr<const policy::accounts> accounts_;
  session_settings settings_;
  std::unique_ptr<session> session_;
  int verdicts_ = 0;
};

TEST_F(SessionScram, AdvertisedWithPlusOnlyWhenThereIsBindingData) {
  start_tls({});
  EXPECT_NE(run("EHLO c\r\n").find("250-AUTH SCRAM-SHA-256 PLAIN LOGIN\r\n"), std::string::npos);
  EXPECT_EQ(run("AUTH SCRAM-SHA-256-PLUS\r\n"),
            "504 5.5.4 Error: unrecognized authentication type\r\n");
}

TEST_F(SessionScram, FullExchangeEndsWithTheServerSignatureAnd235) {
  start_tls({std::string(32, 'E'), {}});
  EXPECT_NE(run("EHLO c\r\n").find("250-AUTH SCRAM-SHA-256-PLUS SCRAM-SHA-256 PLAIN LOGIN\r\n"),
            std::string::npos);
  const std::string bare = "n=alice@example.test,r=clientnonce";
  const std::string sf =
      unb64(challenge(run("AUTH SCRAM-SHA-256-PLUS " + b64("p=tls-exporter,," + bare) + "\r\n")));
  ASSERT_TRUE(sf.starts_with("r=clientnonce")) << sf;
  EXPECT_NE(sf.find(",s=W22ZaJ0SNY7soEsUEjb6gQ==,i=4096"), std::string::npos) << sf;
  std::string signature;
  const std::string cf =
      client_final(bare, sf, "p=tls-exporter,," + std::string(32, 'E'), "pencil", &signature);
  EXPECT_EQ(unb64(challenge(run(b64(cf) + "\r\n"))), "v=" + b64(signature));
  EXPECT_EQ(verdicts_, 1);
  EXPECT_FALSE(session_->authenticated());  // not before the client's empty answer
  EXPECT_EQ(run("\r\n"), "235 2.7.0 Authentication successful\r\n");
  ASSERT_TRUE(session_->authenticated());
  EXPECT_EQ(session_->authenticated()->str(), "alice@example.test");
}

TEST_F(SessionScram, WrongPasswordIs535AfterTheVerdict) {
  start_tls({});
  run("EHLO c\r\n");
  const std::string bare = "n=alice@example.test,r=abc";
  const std::string sf = unb64(challenge(run("AUTH SCRAM-SHA-256 " + b64("n,," + bare) + "\r\n")));
  const std::string cf = client_final(bare, sf, "n,,", "wrong", nullptr);
  EXPECT_EQ(run(b64(cf) + "\r\n"), "535 5.7.8 Error: authentication credentials invalid\r\n");
  EXPECT_EQ(verdicts_, 1);
  EXPECT_FALSE(session_->authenticated());
}

TEST_F(SessionScram, UserWithoutSecretsFailsLikeAWrongPassword) {
  start_tls({});
  run("EHLO c\r\n");
  const std::string bare = "n=bob,r=abc";
  const std::string sf = unb64(challenge(run("AUTH SCRAM-SHA-256 " + b64("n,," + bare) + "\r\n")));
  EXPECT_NE(sf.find(",i=" + std::to_string(auth::k_scram_default_iterations)), std::string::npos);
  const std::string cf = client_final(bare, sf, "n,,", "pencil", nullptr);
  EXPECT_EQ(run(b64(cf) + "\r\n"), "535 5.7.8 Error: authentication credentials invalid\r\n");
  EXPECT_EQ(verdicts_, 1);
}

TEST_F(SessionScram, CancelAfterTheServerSignatureDoesNotLogIn) {
  start_tls({});
  run("EHLO c\r\n");
  const std::string bare = "n=alice,r=abc";
  const std::string sf =
      unb64(challenge(run("AUTH SCRAM-SHA-256\r\n" + b64("n,," + bare) + "\r\n").substr(6)));
  const std::string cf = client_final(bare, sf, "n,,", "pencil", nullptr);
  EXPECT_TRUE(run(b64(cf) + "\r\n").starts_with("334 "));
  EXPECT_EQ(run("*\r\n"), "501 5.7.0 Error: authentication cancelled\r\n");
  EXPECT_FALSE(session_->authenticated());
  EXPECT_EQ(run("NOOP\r\n"), "250 2.0.0 Ok\r\n");
}

TEST_F(SessionScram, DowngradeAndMalformedMessagesFailWithoutAVerdict) {
  start_tls({std::string(32, 'E'), {}});
  run("EHLO c\r\n");
  const std::string r = run("AUTH SCRAM-SHA-256 " + b64("y,,n=alice,r=abc") + "\r\n");
  EXPECT_TRUE(r.starts_with("535 5.7.8 ")) << r;
  EXPECT_NE(r.find("server-does-support-channel-binding"), std::string::npos) << r;
  EXPECT_TRUE(run("AUTH SCRAM-SHA-256 " + b64("n,,r=abc") + "\r\n").starts_with("501 5.5.2 "));
  EXPECT_EQ(verdicts_, 0);
  EXPECT_EQ(env_->auth_failures, 2);
}

}  // namespace
}  // namespace posthorn::smtp
