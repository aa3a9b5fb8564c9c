// LMTP in (RFC 2033) on a listener with role lmtp: LHLO, local recipients only, and one
// reply per accepted RCPT after the message; every input also cut at every offset.

#include <gtest/gtest.h>

#include "session_driver.hpp"

namespace posthorn::smtp {
namespace {

class SessionLmtpTest : public testing_support::session_driver {
 protected:
  void SetUp() override {
    session_driver::SetUp();
    settings_.role = config::listener_role::Lmtp;
    settings_.tls_available = true;
    restart();
  }
};

constexpr std::string_view k_dialogue =
    "LHLO relay.example.net\r\n"
    "MAIL FROM:<sender@example.net>\r\n"
    "RCPT TO:<alice@example.test>\r\n"
    "RCPT TO:<nobody@example.test>\r\n"
    "RCPT TO:<team@example.test>\r\n"
    "DATA\r\n"
    "Subject: hi\r\n\r\nHello.\r\n.\r\n";

TEST_F(SessionLmtpTest, OneReplyPerAcceptedRecipientAtEveryCut) {
  for (std::size_t cut = 0; cut <= k_dialogue.size(); ++cut) {
    SCOPED_TRACE(cut);
    restart();
    committed_.clear();
    const std::string replies =
        cut == 0 ? run(k_dialogue)
                 : run_pieces({k_dialogue.substr(0, cut), k_dialogue.substr(cut)});
    ASSERT_EQ(committed_.size(), 1u) << replies;
    const std::string id = committed_[0].id;
    EXPECT_EQ(replies,
              "250-mx.example.test\r\n250-PIPELINING\r\n250-SIZE 35000000\r\n250-8BITMIME\r\n"
              "250-SMTPUTF8\r\n250-ENHANCEDSTATUSCODES\r\n250-DSN\r\n250 HELP\r\n"
              "250 2.1.0 Ok\r\n250 2.1.5 Ok\r\n"
              "550 5.1.1 <nobody@example.test>: Recipient address rejected: User unknown\r\n"
              "250 2.1.5 Ok\r\n"
              "354 End data with <CR><LF>.<CR><LF>\r\n"
              "250 2.0.0 <alice@example.test> Ok: queued as " +
                  id +
                  "\r\n"
                  "250 2.0.0 <team@example.test> Ok: queued as " +
                  id + "\r\n");
    EXPECT_NE(body_of(committed_[0]).find("with LMTP"), std::string::npos);
    ASSERT_EQ(committed_[0].recipients.size(), 2u);  // alice (once) and bob
    for (const auto& r : committed_[0].recipients) {
      EXPECT_TRUE(r.local);
    }
  }
}

TEST_F(SessionLmtpTest, NoRelayingEvenFromATrustedClient) {
  session_ = std::make_unique<session>(settings_, accounts_, *env_,
                                       peer_info{"127.0.0.1", "localhost", true});
  session_->greet();
  session_->output().clear();
  const std::string r =
      run("LHLO relay.example.net\r\nMAIL FROM:<a@example.net>\r\nRCPT TO:<x@remote.test>\r\n");
  EXPECT_NE(r.find("550 5.7.1 <x@remote.test>: Relaying denied\r\n"), std::string::npos) << r;
}

TEST_F(SessionLmtpTest, HeloEhloAuthStarttlsAreRefused) {
  EXPECT_EQ(run("EHLO a.example.net\r\n"),
            "500 5.5.1 Error: this is LMTP (RFC 2033): send LHLO\r\n");
  EXPECT_EQ(run("HELO a.example.net\r\n"),
            "500 5.5.1 Error: this is LMTP (RFC 2033): send LHLO\r\n");
  run("LHLO a.example.net\r\n");
  EXPECT_EQ(run("STARTTLS\r\n"), "502 5.5.1 Error: STARTTLS not implemented\r\n");
  EXPECT_EQ(run("AUTH PLAIN AGEAYg==\r\n"), "502 5.5.1 Error: AUTH not implemented\r\n");
}

TEST_F(SessionLmtpTest, RefusedMessageGetsTheRefusalForEachRecipient) {
  const std::string r =
      run("LHLO a.example.net\r\nMAIL FROM:<a@example.net>\r\nRCPT TO:<alice@example.test>\r\n"
          "RCPT TO:<bob@example.test>\r\nDATA\r\nSubject: x\r\n\r\nbare\nLF\r\n.\r\n");
  EXPECT_NE(r.find("550 5.6.0 <alice@example.test> Error: message contains bare"),
            std::string::npos)
      << r;
  EXPECT_NE(r.find("550 5.6.0 <bob@example.test> Error: message contains bare"), std::string::npos)
      << r;
  EXPECT_TRUE(committed_.empty());
}

TEST_F(SessionLmtpTest, LhloIsUnknownOnSmtpListeners) {
  settings_.role = config::listener_role::Mx;
  restart();
  EXPECT_EQ(run("LHLO a.example.net\r\n"), "500 5.5.2 Error: command not recognized\r\n");
}

}  // namespace
}  // namespace posthorn::smtp
