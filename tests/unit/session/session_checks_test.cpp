// The check seam from the session's side (checks.hpp): at the steps the checks want,
// the session holds its 250 back, a refusal takes its place and undoes the command,
// and at the end of a message the verdict decides commit, refusal, discard, junk and
// hold. checker_ stands in for the modules; the spool is real.

#include <gtest/gtest.h>

#include "session_driver.hpp"

namespace posthorn::smtp {
namespace {

using testing_support::session_driver;

class SessionChecksTest : public session_driver {
 protected:
  void use_steps(std::initializer_list<check_step> steps) {
    settings_.check_steps = 0;
    for (check_step s : steps) {
      settings_.check_steps |= step_bit(s);
    }
    restart();
  }
  static check_verdict refused(int code, const char* enhanced, const char* text) {
    check_verdict v;
    v.refuse = make_reply(code, enhanced, text);
    return v;
  }
};

constexpr std::string_view k_message = "DATA\r\nSubject: hi\r\n\r\nbody\r\n.\r\n";

TEST_F(SessionChecksTest, NoStepsNoChecks) {
  use_steps({});
  const std::string r =
      run_pieces({"EHLO c.test\r\nMAIL FROM:<a@remote.test>\r\n"
                  "RCPT TO:<alice@example.test>\r\n",
                  k_message});
  EXPECT_EQ(checks_, 0);
  EXPECT_NE(r.find("250 2.0.0 Ok: queued as"), std::string::npos) << r;
  ASSERT_EQ(committed_.size(), 1u);
}

TEST_F(SessionChecksTest, EveryWantedStepIsAskedInOrder) {
  use_steps({check_step::Helo, check_step::Mail, check_step::Rcpt, check_step::Message});
  std::vector<std::string> seen;
  checker_ = [&](session& s) {
    const auto& w = s.check_wanted();
    seen.push_back(std::string(to_string(w.step)) + ":" + std::string(s.helo_name()) + ":" +
                   s.sender().str() + ":" + w.rcpt.str());
    return check_verdict{};
  };
  const std::string r =
      run_pieces({"EHLO c.test\r\nMAIL FROM:<a@remote.test>\r\n"
                  "RCPT TO:<alice@example.test>\r\nRCPT TO:<bob@example.test>\r\n",
                  k_message});
  EXPECT_EQ(seen, (std::vector<std::string>{"helo:c.test::", "mail:c.test:a@remote.test:",
                                            "rcpt:c.test:a@remote.test:alice@example.test",
                                            "rcpt:c.test:a@remote.test:bob@example.test",
                                            "message:c.test:a@remote.test:"}));
  EXPECT_NE(r.find("250-mx.example.test"), std::string::npos) << r;
  EXPECT_NE(r.find("250 2.1.0 Ok"), std::string::npos) << r;
  EXPECT_NE(r.find("250 2.0.0 Ok: queued as"), std::string::npos) << r;
  ASSERT_EQ(committed_.size(), 1u);
  EXPECT_EQ(committed_[0].recipients.size(), 2u);
}

TEST_F(SessionChecksTest, RefusedMailStartsNoTransaction) {
  use_steps({check_step::Mail});
  int n = 0;
  checker_ = [&](session&) {
    return ++n == 1 ? refused(550, "5.7.23", "SPF fail") : check_verdict{};
  };
  const std::string r =
      run_pieces({"EHLO c.test\r\nMAIL FROM:<a@remote.test>\r\n"
                  "RCPT TO:<alice@example.test>\r\n"
                  "MAIL FROM:<b@remote.test>\r\nRCPT TO:<alice@example.test>\r\n",
                  k_message});
  EXPECT_NE(r.find("550 5.7.23 SPF fail\r\n503 5.5.1 Error: need MAIL command\r\n"),
            std::string::npos)
      << r;
  ASSERT_EQ(committed_.size(), 1u);
  EXPECT_EQ(committed_[0].sender.str(), "b@remote.test");
}

TEST_F(SessionChecksTest, RefusedRcptAddsNoRecipient) {
  use_steps({check_step::Rcpt});
  checker_ = [&](session& s) {
    return s.check_wanted().rcpt.local == "bob" ? refused(451, "4.7.1", "Greylisted, try later")
                                                : check_verdict{};
  };
  const std::string r =
      run_pieces({"EHLO c.test\r\nMAIL FROM:<a@remote.test>\r\n"
                  "RCPT TO:<bob@example.test>\r\nRCPT TO:<alice@example.test>\r\n",
                  k_message});
  EXPECT_NE(r.find("451 4.7.1 Greylisted, try later\r\n250 2.1.5 Ok\r\n"), std::string::npos) << r;
  ASSERT_EQ(committed_.size(), 1u);
  ASSERT_EQ(committed_[0].recipients.size(), 1u);
  EXPECT_EQ(committed_[0].recipients[0].address.str(), "alice@example.test");
}

TEST_F(SessionChecksTest, EveryRcptRefusedMeansNoValidRecipients) {
  use_steps({check_step::Rcpt});
  checker_ = [&](session&) { return refused(450, "4.7.1", "Rate limit"); };
  const std::string r =
      run_pieces({"EHLO c.test\r\nMAIL FROM:<a@remote.test>\r\n"
                  "RCPT TO:<bob@example.test>\r\nDATA\r\n"});
  EXPECT_NE(r.find("450 4.7.1 Rate limit\r\n554 5.5.1"), std::string::npos) << r;
  EXPECT_TRUE(committed_.empty());
}

TEST_F(SessionChecksTest, RefusedHeloLeavesTheSessionUngreeted) {
  use_steps({check_step::Helo});
  checker_ = [&](session& s) {
    return s.helo_name() == "bad.test" ? refused(550, "5.7.1", "Go away") : check_verdict{};
  };
  const std::string r =
      run_pieces({"EHLO bad.test\r\nMAIL FROM:<a@remote.test>\r\nEHLO good.test\r\n"
                  "MAIL FROM:<a@remote.test>\r\n"});
  EXPECT_NE(r.find("550 5.7.1 Go away\r\n503 5.5.1 Error: send HELO/EHLO first\r\n250-"),
            std::string::npos)
      << r;
  EXPECT_NE(r.find("250 2.1.0 Ok"), std::string::npos) << r;
}

TEST_F(SessionChecksTest, FourTwentyOneCloses) {
  use_steps({check_step::Mail});
  checker_ = [&](session&) { return refused(421, "4.7.0", "mx.example.test Too many messages"); };
  const std::string r = run_pieces({"EHLO c.test\r\nMAIL FROM:<a@remote.test>\r\nNOOP\r\n"});
  EXPECT_TRUE(r.ends_with("421 4.7.0 mx.example.test Too many messages\r\n")) << r;
  EXPECT_TRUE(session_->closing());
}

TEST_F(SessionChecksTest, MessageRefusedAfterDataThenTheNextOneIsTaken) {
  use_steps({check_step::Message});
  int n = 0;
  checker_ = [&](session&) {
    return ++n == 1 ? refused(550, "5.7.1", "Rejected by DMARC policy") : check_verdict{};
  };
  const std::string r = run_pieces(
      {"EHLO c.test\r\nMAIL FROM:<a@remote.test>\r\n"
       "RCPT TO:<alice@example.test>\r\n",
       k_message, "MAIL FROM:<a@remote.test>\r\nRCPT TO:<alice@example.test>\r\n", k_message});
  EXPECT_NE(r.find("550 5.7.1 Rejected by DMARC policy\r\n250 2.1.0 Ok"), std::string::npos) << r;
  ASSERT_EQ(committed_.size(), 1u);
}

TEST_F(SessionChecksTest, PrependJunkAndHoldReachTheQueue) {
  use_steps({check_step::Message});
  checker_ = [&](session& s) {
    check_verdict v;
    EXPECT_EQ(s.envelope().recipients.size(), 1u);
    v.prepend = "Authentication-Results: mx.example.test; spf=pass\r\n";
    v.junk = true;
    v.hold = true;
    v.log = "spf=pass";
    return v;
  };
  run_pieces(
      {"EHLO c.test\r\nMAIL FROM:<a@remote.test>\r\nRCPT TO:<alice@example.test>\r\n", k_message});
  ASSERT_EQ(committed_.size(), 1u);
  EXPECT_TRUE(committed_[0].junk);
  EXPECT_TRUE(committed_[0].held);
  const std::string body = body_of(committed_[0]);
  EXPECT_TRUE(body.starts_with("Authentication-Results: mx.example.test; spf=pass\r\nReceived: "))
      << body;
  auto loaded = spool_->load(committed_[0].id);
  ASSERT_TRUE(loaded.has_value());
  EXPECT_TRUE(loaded->junk);
  EXPECT_EQ(loaded->size, body.size());
}

TEST_F(SessionChecksTest, DiscardAnswers250AndKeepsNothing) {
  use_steps({check_step::Message});
  checker_ = [&](session&) {
    check_verdict v;
    v.discard = true;
    return v;
  };
  const std::string r =
      run_pieces({"EHLO c.test\r\nMAIL FROM:<a@remote.test>\r\n"
                  "RCPT TO:<alice@example.test>\r\n",
                  k_message, "MAIL FROM:<a@remote.test>\r\n"});
  EXPECT_NE(r.find("250 2.0.0 Ok: queued as"), std::string::npos) << r;
  EXPECT_NE(r.find("250 2.1.0 Ok"), std::string::npos) << r;
  EXPECT_TRUE(committed_.empty());
}

TEST_F(SessionChecksTest, RefusedServiceAnswersOnlyQuit) {
  use_steps({});
  session_ = std::make_unique<session>(settings_, accounts_, *env_,
                                       peer_info{"192.0.2.7", "unknown", false});
  session_->refuse_service(make_reply(
      554, "5.7.1", "Service unavailable; client [192.0.2.7] blocked using bl.example.test"));
  std::string r = session_->output();
  session_->output().clear();
  r += run_pieces({"EHLO c.test\r\nMAIL FROM:<a@remote.test>\r\nQUIT\r\n"});
  EXPECT_EQ(r,
            "554 5.7.1 Service unavailable; client [192.0.2.7] blocked using bl.example.test\r\n"
            "503 5.5.1 Error: service refused; send QUIT\r\n"
            "503 5.5.1 Error: service refused; send QUIT\r\n"
            "221 mx.example.test closing connection\r\n");
}

TEST_F(SessionChecksTest, PipelinedCommandsWaitForTheVerdict) {
  use_steps({check_step::Rcpt});
  checker_ = [&](session& s) {
    return s.check_wanted().rcpt.local == "bob" ? refused(550, "5.7.1", "No") : check_verdict{};
  };
  // One read holds the whole transaction: the verdicts come in command order.
  const std::string r =
      run_pieces({"EHLO c.test\r\nMAIL FROM:<a@remote.test>\r\n"
                  "RCPT TO:<alice@example.test>\r\nRCPT TO:<bob@example.test>\r\n"
                  "DATA\r\nSubject: x\r\n\r\nx\r\n.\r\nQUIT\r\n"});
  EXPECT_NE(r.find("250 2.1.0 Ok\r\n250 2.1.5 Ok\r\n550 5.7.1 No\r\n354 "), std::string::npos) << r;
  EXPECT_NE(r.find("250 2.0.0 Ok: queued as"), std::string::npos) << r;
  ASSERT_EQ(committed_.size(), 1u);
  EXPECT_EQ(committed_[0].recipients.size(), 1u);
}

}  // namespace
}  // namespace posthorn::smtp
