// XCLIENT in the session, driven command by command without sockets: who may use it,
// its replies, and the client the session serves afterwards (Received:, relaying, AUTH).

#include <gtest/gtest.h>

#include <filesystem>
#include <random>

#include "smtp/server/session.hpp"
#include "test_env.hpp"

namespace posthorn::smtp {
namespace {

namespace fs = std::filesystem;
using testing_support::test_env;

class XclientTest : public testing::Test {
 protected:
  void SetUp() override {
    auto acc = policy::accounts::from_text({"example.test"},
                                           "alice@example.test:\nbob@example.test:\n", "", "");
    ASSERT_TRUE(acc.has_value());
    accounts_ = *acc;
    settings_.hostname = "mx.example.test";
    settings_.xclient_allowed = true;
    make_session(/*trusted=*/true);
  }

  void make_session(bool trusted) {
    session_ = std::make_unique<session>(settings_, accounts_, *env_,
                                         peer_info{"127.0.0.1", "localhost", trusted});
    session_->greet();
    session_->output().clear();
  }

  // Feeds `input` whole, acting as the driver: 127.0.0.0/8 is trusted, and the new
  // client is admitted unless `admit` says otherwise.
  std::string run(std::string_view input) {
    std::string replies;
    std::string_view v = input;
    while (true) {
      action a = session_->feed(v);
      replies += session_->output();
      session_->output().clear();
      if (a == action::NewClient) {
        changes_.push_back(session_->pending_client());
        const std::string& addr = session_->pending_client().peer.addr;
        session_->client_done(addr.starts_with("127."), admit_);
        continue;
      }
      if (a == action::Commit) {
        auto r = spool_->commit(session_->envelope(), std::move(session_->message()));
        if (r) {
          committed_.push_back(session_->envelope());
        }
        session_->commit_done(std::move(r));
        continue;
      }
      if (a == action::Spill) {
        session_->spill_done(session_->message().spill());
        continue;
      }
      if (a == action::Read && !v.empty()) {
        continue;
      }
      replies += session_->output();
      session_->output().clear();
      return replies;
    }
  }

  std::string body_of(const queue::envelope& e) {
    auto m = spool_->open_message(e.id);
    EXPECT_TRUE(m.has_value());
    return std::string((*m)->contents());
  }

  testing_support::temp_spool world_{"xclient"};
  const std::filesystem::path& dir_ = world_.dir();
  queue::spool* spool_ = world_.spool();
  test_env* env_ = world_.env();
  std::shared_ptr<const policy::accounts> accounts_;
  session_settings settings_;
  std::unique_ptr<session> session_;
  std::vector<queue::envelope> committed_;
  std::vector<client_change> changes_;
  bool admit_ = true;
};

constexpr std::string_view k_greeting = "220 mx.example.test ESMTP posthorn\r\n";

TEST_F(XclientTest, AdvertisedOnlyToAllowedClients) {
  EXPECT_NE(run("EHLO proxy.test\r\n")
                .find("250-XCLIENT ADDR NAME HELO PROTO LOGIN PORT DESTADDR DESTPORT\r\n"),
            std::string::npos);
  settings_.xclient_allowed = false;
  make_session(true);
  EXPECT_EQ(run("EHLO proxy.test\r\n").find("XCLIENT"), std::string::npos);
}

TEST_F(XclientTest, RefusedOutsideXclientNetworks) {
  settings_.xclient_allowed = false;
  make_session(true);
  run("EHLO proxy.test\r\n");
  EXPECT_EQ(run("XCLIENT ADDR=192.0.2.1\r\n"), "550 5.7.0 Error: insufficient authorization\r\n");
  EXPECT_EQ(run("XCLIENT\r\n"), "550 5.7.0 Error: insufficient authorization\r\n");
  EXPECT_TRUE(changes_.empty());
  EXPECT_EQ(session_->peer().addr, "127.0.0.1");
}

TEST_F(XclientTest, SetsTheClientAndGreetsAgain) {
  run("EHLO proxy.test\r\n");
  EXPECT_EQ(run("XCLIENT ADDR=192.0.2.1 NAME=mail.example.net HELO=mail.example.net\r\n"),
            k_greeting);
  ASSERT_EQ(changes_.size(), 1u);
  EXPECT_EQ(changes_[0].peer.addr, "192.0.2.1");
  EXPECT_EQ(changes_[0].peer.name, "mail.example.net");
  EXPECT_EQ(session_->peer().addr, "192.0.2.1");
  EXPECT_FALSE(session_->peer().trusted);
  // As if the client had just connected: HELO/EHLO first.
  EXPECT_EQ(run("MAIL FROM:<a@example.net>\r\n"), "503 5.5.1 Error: send HELO/EHLO first\r\n");
  run("EHLO proxy.test\r\n");
  EXPECT_EQ(run("MAIL FROM:<a@example.net>\r\nRCPT TO:<x@remote.test>\r\n"),
            "250 2.1.0 Ok\r\n550 5.7.1 <x@remote.test>: Relaying denied\r\n");
  run("RCPT TO:<alice@example.test>\r\nDATA\r\nSubject: t\r\n\r\nhi\r\n.\r\n");
  ASSERT_EQ(committed_.size(), 1u);
  const std::string body = body_of(committed_[0]);
  // The HELO XCLIENT gave stays, though the proxy said EHLO proxy.test after it.
  EXPECT_TRUE(
      body.starts_with("Received: from mail.example.net (mail.example.net "
                       "[192.0.2.1])\r\n\tby mx.example.test (posthorn) with ESMTP id "))
      << body;
  EXPECT_EQ(committed_[0].client_addr, "192.0.2.1");
  EXPECT_EQ(committed_[0].helo, "mail.example.net");
}

TEST_F(XclientTest, Ipv6AddressAndProto) {
  EXPECT_EQ(run("XCLIENT ADDR=IPV6:2001:DB8::1 PROTO=smtp HELO=[IPv6:2001:db8::1]\r\n"),
            k_greeting);
  EXPECT_EQ(session_->peer().addr, "2001:db8::1");
  EXPECT_EQ(session_->peer().name, "unknown");  // a new ADDR forgets the old name
  run("EHLO proxy.test\r\nMAIL FROM:<a@example.net>\r\nRCPT TO:<alice@example.test>\r\n"
      "DATA\r\nSubject: t\r\n\r\nhi\r\n.\r\n");
  ASSERT_EQ(committed_.size(), 1u);
  EXPECT_TRUE(body_of(committed_[0])
                  .starts_with("Received: from [IPv6:2001:db8::1] (unknown [IPv6:2001:db8::1])"
                               "\r\n\tby mx.example.test (posthorn) with SMTP id "))
      << body_of(committed_[0]);
}

TEST_F(XclientTest, LoginAuthenticatesTheSession) {
  run("XCLIENT ADDR=192.0.2.9 LOGIN=alice\r\nEHLO proxy.test\r\n");
  ASSERT_TRUE(session_->authenticated().has_value());
  EXPECT_EQ(session_->authenticated()->str(), "alice@example.test");
  EXPECT_EQ(run("MAIL FROM:<alice@example.test>\r\nRCPT TO:<x@remote.test>\r\n"),
            "250 2.1.0 Ok\r\n250 2.1.5 Ok\r\n");
  run("DATA\r\nSubject: t\r\n\r\nhi\r\n.\r\n");
  ASSERT_EQ(committed_.size(), 1u);
  EXPECT_EQ(committed_[0].auth_user, "alice@example.test");
  EXPECT_EQ(committed_[0].protocol, "ESMTPA");
  // The sender policy applies to the login as to an AUTH one.
  EXPECT_EQ(run("MAIL FROM:<bob@example.test>\r\n").substr(0, 10), "553 5.7.1 ");
}

TEST_F(XclientTest, WithoutLoginTheSessionIsNotAuthenticated) {
  run("XCLIENT LOGIN=bob@example.test\r\n");
  ASSERT_TRUE(session_->authenticated().has_value());
  run("XCLIENT ADDR=192.0.2.9\r\n");
  EXPECT_FALSE(session_->authenticated().has_value());
  run("XCLIENT LOGIN=[UNAVAILABLE]\r\n");
  EXPECT_FALSE(session_->authenticated().has_value());
}

TEST_F(XclientTest, UnavailableValues) {
  EXPECT_EQ(run("XCLIENT ADDR=[UNAVAILABLE] NAME=[TEMPUNAVAIL] HELO=[UNAVAILABLE]\r\n"),
            k_greeting);
  EXPECT_EQ(session_->peer().addr, "unknown");
  EXPECT_EQ(session_->peer().name, "unknown");
  EXPECT_FALSE(session_->peer().trusted);
}

TEST_F(XclientTest, XtextValues) {
  EXPECT_EQ(run("XCLIENT HELO=a+2Bb.example ADDR=192.0.2.3\r\nEHLO x\r\n").substr(0, 4), "220 ");
  run("MAIL FROM:<>\r\nRCPT TO:<alice@example.test>\r\nDATA\r\n\r\nhi\r\n.\r\n");
  ASSERT_EQ(committed_.size(), 1u);
  EXPECT_EQ(committed_[0].helo, "a+b.example");
}

TEST_F(XclientTest, NotInATransaction) {
  run("EHLO proxy.test\r\nMAIL FROM:<a@example.net>\r\n");
  EXPECT_EQ(run("XCLIENT ADDR=192.0.2.1\r\n"), "503 5.5.1 Error: MAIL transaction in progress\r\n");
  EXPECT_TRUE(changes_.empty());
  EXPECT_EQ(session_->peer().addr, "127.0.0.1");
  // After RSET it is allowed again.
  EXPECT_EQ(run("RSET\r\nXCLIENT ADDR=192.0.2.1\r\n"),
            std::string("250 2.0.0 Ok\r\n") + std::string(k_greeting));
}

TEST_F(XclientTest, BadSyntax) {
  settings_.max_errors = 0;
  make_session(true);
  const std::pair<std::string, std::string> cases[] = {
      {"XCLIENT\r\n", "501 5.5.4 Syntax: XCLIENT attribute=value...\r\n"},
      {"XCLIENT ADDR\r\n", "501 5.5.4 Syntax: XCLIENT attribute=value...\r\n"},
      {"XCLIENT =1\r\n", "501 5.5.4 Syntax: XCLIENT attribute=value...\r\n"},
      {"XCLIENT FOO=bar\r\n", "501 5.5.4 Bad XCLIENT attribute name: FOO\r\n"},
      {"XCLIENT ADDR=192.0.2\r\n", "501 5.5.4 Bad ADDR syntax\r\n"},
      {"XCLIENT ADDR=IPV6:192.0.2.1\r\n", "501 5.5.4 Bad ADDR syntax\r\n"},
      {"XCLIENT ADDR=\r\n", "501 5.5.4 Bad ADDR syntax\r\n"},
      {"XCLIENT NAME=bad..name\r\n", "501 5.5.4 Bad NAME syntax\r\n"},
      {"XCLIENT NAME=a+20b\r\n", "501 5.5.4 Bad NAME syntax\r\n"},
      {"XCLIENT PROTO=LMTP\r\n", "501 5.5.4 Bad PROTO syntax\r\n"},
      {"XCLIENT PORT=65536\r\n", "501 5.5.4 Bad PORT syntax\r\n"},
      {"XCLIENT HELO=a+2\r\n", "501 5.5.4 Bad HELO syntax: not xtext\r\n"},
      {"XCLIENT HELO=a+0Ab\r\n", "501 5.5.4 Bad HELO syntax\r\n"},
      {"XCLIENT LOGIN=nobody\r\n", "501 5.5.4 Bad LOGIN syntax: not an account address\r\n"},
      {"XCLIENT ADDR=192.0.2.1 NAME=ok.example BOGUS=1\r\n",
       "501 5.5.4 Bad XCLIENT attribute name: BOGUS\r\n"},
  };
  for (const auto& [cmd, want] : cases) {
    EXPECT_EQ(run(cmd), want) << cmd;
  }
  EXPECT_TRUE(changes_.empty());
  EXPECT_EQ(session_->peer().addr, "127.0.0.1");
}

TEST_F(XclientTest, RefusedByTheConnectionLimitCloses) {
  admit_ = false;
  EXPECT_EQ(run("XCLIENT ADDR=192.0.2.1\r\n"),
            "421 4.7.0 mx.example.test Error: too many connections from 192.0.2.1\r\n");
  EXPECT_TRUE(session_->closing());
  EXPECT_EQ(session_->peer().addr, "127.0.0.1");
}

TEST_F(XclientTest, CountedAsACommand) {
  run("EHLO proxy.test\r\nXCLIENT ADDR=192.0.2.1\r\nEHLO x\r\nXCLIENT FOO=1\r\n");
  EXPECT_EQ(session_->stats().summary(), "ehlo=2 xclient=1/2 commands=3/4");
}

}  // namespace
}  // namespace posthorn::smtp
