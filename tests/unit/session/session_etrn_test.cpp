// ETRN (RFC 1985) and the [domains] relay recipients, driven command by command: the
// replies in every state, the syntax, and what the session asks of the queue.

#include <gtest/gtest.h>

#include <filesystem>
#include <random>

#include "smtp/server/session.hpp"
#include "test_env.hpp"

namespace posthorn::smtp {
namespace {

namespace fs = std::filesystem;
using testing_support::test_env;

class SessionEtrnTest : public testing::Test {
 protected:
  void SetUp() override {
    auto acc = policy::accounts::from_text({"example.test"}, "alice@example.test:\n", "", "", "+",
                                           {"relay.test", ".backup.test"});
    ASSERT_TRUE(acc.has_value());
    accounts_ = *acc;
    settings_.hostname = "mx.example.test";
    settings_.max_errors = 0;
    make_session(false);
  }

  void make_session(bool trusted) {
    session_ = std::make_unique<session>(settings_, accounts_, *env_,
                                         peer_info{"192.0.2.7", "unknown", trusted});
    session_->greet();
    session_->output().clear();
  }

  // Feeds `input` as a driver would; an Etrn action is answered with `started_` (and
  // the request is recorded).
  std::string run(std::string_view input) {
    std::string replies;
    std::string pending(input);
    while (true) {
      std::string_view v = pending;
      action a = session_->feed(v);
      pending.erase(0, pending.size() - v.size());
      if (a == action::Etrn) {
        requests_.push_back(session_->etrn_wanted());
        session_->etrn_done(started_);
      } else if (a == action::Commit) {
        auto r = spool_->commit(session_->envelope(), std::move(session_->message()));
        if (r) {
          committed_.push_back(session_->envelope());
        }
        session_->commit_done(std::move(r));
      } else if (a == action::Spill) {
        session_->spill_done(session_->message().spill());
      }
      replies += session_->output();
      session_->output().clear();
      if (a == action::Close || (a == action::Read && pending.empty())) {
        break;
      }
    }
    return replies;
  }

  testing_support::temp_spool world_{"etrn"};
  const std::filesystem::path& dir_ = world_.dir();
  queue::spool* spool_ = world_.spool();
  test_env* env_ = world_.env();
  std::shared_ptr<const policy::accounts> accounts_;
  session_settings settings_;
  std::unique_ptr<session> session_;
  std::vector<queue::envelope> committed_;
  std::vector<etrn_request> requests_;
  std::optional<std::size_t> started_ = 3;
};

TEST_F(SessionEtrnTest, EhloAdvertisesEtrn) {
  EXPECT_NE(run("EHLO client.test\r\n").find("\r\n250-ETRN\r\n"), std::string::npos);
}

TEST_F(SessionEtrnTest, EtrnBeforeHeloIsASequenceError) {
  EXPECT_EQ(run("ETRN relay.test\r\n"), "503 5.5.1 Error: send HELO/EHLO first\r\n");
  EXPECT_TRUE(requests_.empty());
}

TEST_F(SessionEtrnTest, EtrnStartsTheDomainsQueueAndSaysHowManyMessages) {
  EXPECT_NE(run("EHLO c\r\nETRN relay.test\r\n")
                .find("\r\n253 2.0.0 OK, 3 pending messages for node relay.test started\r\n"),
            std::string::npos);
  ASSERT_EQ(requests_.size(), 1u);
  EXPECT_EQ(requests_[0].domain, "relay.test");
  EXPECT_FALSE(requests_[0].subdomains);
  EXPECT_EQ(run("ETRN Relay.Test.\r\n"),
            "253 2.0.0 OK, 3 pending messages for node Relay.Test started\r\n");
  started_ = 0;
  EXPECT_EQ(run("ETRN relay.test\r\n"),
            "251 2.0.0 OK, no messages waiting for node relay.test\r\n");
  started_ = std::nullopt;  // the queue is shutting down
  EXPECT_EQ(run("ETRN relay.test\r\n"),
            "458 4.3.0 Unable to queue messages for node relay.test\r\n");
}

TEST_F(SessionEtrnTest, EtrnWorksAfterHeloToo) {
  EXPECT_EQ(
      run("HELO c\r\nETRN relay.test\r\n"),
      "250 mx.example.test\r\n253 2.0.0 OK, 3 pending messages for node relay.test started\r\n");
}

TEST_F(SessionEtrnTest, AtDomainAsksForTheDomainAndItsSubdomains) {
  run("EHLO c\r\n");
  EXPECT_EQ(run("ETRN @relay.test\r\n"),
            "253 2.0.0 OK, 3 pending messages for node relay.test started\r\n");
  ASSERT_EQ(requests_.size(), 1u);
  EXPECT_EQ(requests_[0].domain, "relay.test");
  EXPECT_TRUE(requests_[0].subdomains);
  // ".backup.test" covers the names below backup.test: @backup.test asks for them.
  EXPECT_EQ(run("ETRN @backup.test\r\n").substr(0, 4), "253 ");
  EXPECT_EQ(run("ETRN a.backup.test\r\n").substr(0, 4), "253 ");
  EXPECT_EQ(run("ETRN @test\r\n").substr(0, 4), "253 ");
  // backup.test itself is not relayed for.
  EXPECT_EQ(run("ETRN backup.test\r\n"),
            "459 4.7.1 Node backup.test not allowed: not a domain we relay for\r\n");
}

TEST_F(SessionEtrnTest, OnlyRelayDomainsMayBeStarted) {
  run("EHLO c\r\n");
  EXPECT_EQ(run("ETRN other.test\r\n"),
            "459 4.7.1 Node other.test not allowed: not a domain we relay for\r\n");
  EXPECT_EQ(run("ETRN example.test\r\n"),
            "459 4.7.1 Node example.test not allowed: not a domain we relay for\r\n");
  EXPECT_EQ(run("ETRN sub.relay.test\r\n").substr(0, 4), "459 ");
  EXPECT_EQ(run("ETRN #queue1\r\n"),
            "459 4.5.4 Node #queue1 not allowed: named queues are not supported\r\n");
  EXPECT_TRUE(requests_.empty());
}

TEST_F(SessionEtrnTest, SyntaxErrors) {
  run("EHLO c\r\n");
  for (const char* bad :
       {"ETRN\r\n", "ETRN  \r\n", "ETRN relay.test extra\r\n", "ETRN @\r\n", "ETRN relay..test\r\n",
        "ETRN <relay.test>\r\n", "ETRN [127.0.0.1]\r\n", "ETRN .relay.test\r\n"}) {
    EXPECT_EQ(run(bad), "501 5.5.4 Syntax: ETRN [@]<domain>\r\n") << bad;
  }
  EXPECT_TRUE(requests_.empty());
}

TEST_F(SessionEtrnTest, NotInsideAMailTransaction) {
  run("EHLO c\r\nMAIL FROM:<a@b.test>\r\n");
  EXPECT_EQ(run("ETRN relay.test\r\n"), "503 5.5.1 Error: MAIL transaction in progress\r\n");
  EXPECT_EQ(run("RCPT TO:<alice@example.test>\r\n"), "250 2.1.5 Ok\r\n");
  EXPECT_EQ(run("ETRN relay.test\r\n"), "503 5.5.1 Error: MAIL transaction in progress\r\n");
  EXPECT_EQ(run("RSET\r\nETRN relay.test\r\n"),
            "250 2.0.0 Ok\r\n253 2.0.0 OK, 3 pending messages for node relay.test started\r\n");
}

TEST_F(SessionEtrnTest, PipelinedCommandsAfterEtrnAreAnsweredInOrder) {
  run("EHLO c\r\n");
  EXPECT_EQ(run("ETRN relay.test\r\nNOOP\r\nETRN other.test\r\nQUIT\r\n"),
            "253 2.0.0 OK, 3 pending messages for node relay.test started\r\n"
            "250 2.0.0 Ok\r\n"
            "459 4.7.1 Node other.test not allowed: not a domain we relay for\r\n"
            "221 mx.example.test closing connection\r\n");
  EXPECT_EQ(requests_.size(), 1u);
}

TEST_F(SessionEtrnTest, RelayDomainRecipientsAreAcceptedFromAnyoneAndRelayed) {
  run("EHLO c\r\nMAIL FROM:<someone@elsewhere.test>\r\n");
  EXPECT_EQ(run("RCPT TO:<bob@relay.test>\r\n"), "250 2.1.5 Ok\r\n");
  EXPECT_EQ(run("RCPT TO:<carol@x.backup.test>\r\n"), "250 2.1.5 Ok\r\n");
  // Still no open relay: other domains, subdomains not listed, the bare ".x" parent.
  EXPECT_EQ(run("RCPT TO:<dave@other.test>\r\n"),
            "550 5.7.1 <dave@other.test>: Relaying denied\r\n");
  EXPECT_EQ(run("RCPT TO:<dave@sub.relay.test>\r\n"),
            "550 5.7.1 <dave@sub.relay.test>: Relaying denied\r\n");
  EXPECT_EQ(run("RCPT TO:<dave@backup.test>\r\n"),
            "550 5.7.1 <dave@backup.test>: Relaying denied\r\n");
  EXPECT_EQ(run("DATA\r\n").substr(0, 4), "354 ");
  EXPECT_EQ(run("Subject: x\r\n\r\nhi\r\n.\r\n").rfind("250 2.0.0 Ok: queued as ", 0), 0u);
  ASSERT_EQ(committed_.size(), 1u);
  ASSERT_EQ(committed_[0].recipients.size(), 2u);
  EXPECT_EQ(committed_[0].recipients[0].address.str(), "bob@relay.test");
  EXPECT_FALSE(committed_[0].recipients[0].local);
  EXPECT_FALSE(committed_[0].recipients[1].local);
}

TEST_F(SessionEtrnTest, VrfyAndExpnOfARelayDomainAddress) {
  settings_.expn = true;
  make_session(false);
  run("EHLO c\r\n");
  EXPECT_EQ(run("VRFY bob@relay.test\r\n"),
            "252 2.1.5 Cannot VRFY remote user, but will attempt delivery\r\n");
  EXPECT_EQ(run("EXPN bob@relay.test\r\n"),
            "550 5.1.1 <bob@relay.test>: no such user or mailing list here\r\n");
}

TEST_F(SessionEtrnTest, HelpKnowsEtrn) {
  EXPECT_EQ(run("HELP ETRN\r\n").substr(0, 15), "214-2.0.0 ETRN ");
}

}  // namespace
}  // namespace posthorn::smtp
