// The session's per-verb counters (the disconnect line), its metrics and its reject
// lines in the mail log, driven command by command without sockets.

#include <gtest/gtest.h>
#include <spdlog/sinks/ostream_sink.h>
#include <spdlog/spdlog.h>

#include <filesystem>
#include <random>
#include <sstream>

#include "common/metrics.hpp"
#include "smtp/server/session.hpp"
#include "test_env.hpp"

namespace posthorn::smtp {
namespace {

namespace fs = std::filesystem;
using testing_support::test_env;

// "AUTH PLAIN" payloads: \0alice@example.test\0secret and \0alice@example.test\0wrong.
constexpr std::string_view k_good_plain = "AGFsaWNlQGV4YW1wbGUudGVzdABzZWNyZXQ=";
constexpr std::string_view k_bad_plain = "AGFsaWNlQGV4YW1wbGUudGVzdAB3cm9uZw==";

// The value of one sample in the process's metrics, 0 when absent.
std::uint64_t metric(const std::string& series) {
  std::string text = metrics::default_registry().render();
  std::istringstream in(text);
  for (std::string line; std::getline(in, line);) {
    if (line.size() > series.size() && line.compare(0, series.size(), series) == 0 &&
        line[series.size()] == ' ') {
      return std::stoull(line.substr(series.size() + 1));
    }
  }
  return 0;
}

class SessionCountersTest : public testing::Test {
 protected:
  void SetUp() override {
    auto acc = policy::accounts::from_text({"example.test"},
                                           "alice@example.test:\nbob@example.test:\n", "", "");
    ASSERT_TRUE(acc.has_value());
    accounts_ = *acc;
    settings_.hostname = "mx.example.test";
    settings_.message_size = 1000;
    settings_.max_errors = 0;
    settings_.tls_available = true;
    session_ = std::make_unique<session>(settings_, accounts_, *env_,
                                         peer_info{"192.0.2.7", "unknown", false});
    session_->greet();
    session_->output().clear();
    // The mail log goes to a string for the test's length.
    previous_ = spdlog::default_logger();
    auto sink = std::make_shared<spdlog::sinks::ostream_sink_mt>(log_);
    auto logger = std::make_shared<spdlog::logger>("test", sink);
    logger->set_pattern("%v");
    logger->set_level(spdlog::level::info);
    spdlog::set_default_logger(logger);
  }
  void TearDown() override { spdlog::set_default_logger(previous_); }

  // Feeds `input` and carries out the session's actions as a driver would.
  std::string run(std::string_view input) {
    std::string replies;
    std::string pending(input);
    while (true) {
      std::string_view v = pending;
      action a = session_->feed(v);
      pending.erase(0, pending.size() - v.size());
      if (a == action::Commit) {
        auto r = spool_->commit(session_->envelope(), std::move(session_->message()));
        session_->commit_done(std::move(r));
      } else if (a == action::Spill) {
        session_->spill_done(session_->message().spill());
      } else if (a == action::StartTls) {
        replies += session_->output();
        session_->output().clear();
        pending.clear();
        session_->tls_started("(using TLSv1.3 with cipher TEST)");
        continue;
      } else if (a == action::AuthVerify) {
        const auto& c = session_->auth_credentials();
        bool ok = c.authcid == "alice@example.test" && c.password == "secret";
        session_->auth_done(
            ok ? std::optional<mail::address>(mail::address{"alice", "example.test"})
               : std::nullopt);
      }
      replies += session_->output();
      session_->output().clear();
      if (a == action::Close || (a == action::Read && pending.empty())) {
        break;
      }
    }
    return replies;
  }

  std::string summary() const { return session_->stats().summary(); }

  testing_support::temp_spool world_{"counters"};
  const std::filesystem::path& dir_ = world_.dir();
  queue::spool* spool_ = world_.spool();
  test_env* env_ = world_.env();
  std::shared_ptr<const policy::accounts> accounts_;
  session_settings settings_;
  std::unique_ptr<session> session_;
  std::ostringstream log_;
  std::shared_ptr<spdlog::logger> previous_;
};

TEST_F(SessionCountersTest, NoCommandsIsCommandsZero) { EXPECT_EQ(summary(), "commands=0"); }

TEST_F(SessionCountersTest, PostfixStyleSummaryWithRefusedRecipient) {
  run("EHLO client.test\r\nMAIL FROM:<s@remote.test>\r\nRCPT TO:<alice@example.test>\r\n"
      "RCPT TO:<nobody@example.test>\r\nRCPT TO:<bob@example.test>\r\nDATA\r\n");
  run("Subject: x\r\n\r\nbody\r\n.\r\nQUIT\r\n");
  EXPECT_EQ(summary(), "ehlo=1 mail=1 rcpt=2/3 data=1 quit=1 commands=6/7");
  EXPECT_EQ(session_->stats().messages, 1u);
}

TEST_F(SessionCountersTest, UnparsedAndUnknownLinesCountAsUnknown) {
  // "NOOP<LF>HELO c" is one line (only CRLF ends a line): refused whole.
  run("FROB\r\nNOOP " + std::string(600, 'x') + "\r\nNOOP\nHELO c\r\nHELO c\r\n");
  EXPECT_EQ(summary(), "helo=1 unknown=0/3 commands=1/4");
}

TEST_F(SessionCountersTest, DataCountsTheReplyAfterTheMessage) {
  run("EHLO c\r\nMAIL FROM:<s@remote.test>\r\nRCPT TO:<alice@example.test>\r\nDATA\r\n");
  std::string r = run(std::string(2000, 'x') + "\r\n.\r\n");
  EXPECT_EQ(r.substr(0, 10), "552 5.3.4 ");
  EXPECT_EQ(summary(), "ehlo=1 mail=1 rcpt=1 data=0/1 commands=3/4");
  run("DATA\r\n");  // no transaction any more: 503
  EXPECT_EQ(summary(), "ehlo=1 mail=1 rcpt=1 data=0/2 commands=3/5");
}

TEST_F(SessionCountersTest, AuthExchangeCountsOnceWithItsFinalReply) {
  run("EHLO c\r\nSTARTTLS\r\n");
  run("EHLO c\r\n");
  EXPECT_EQ(run("AUTH LOGIN\r\n").substr(0, 4), "334 ");
  EXPECT_EQ(run("YWxpY2VAZXhhbXBsZS50ZXN0\r\n").substr(0, 4), "334 ");  // alice@example.test
  EXPECT_EQ(run("d3Jvbmc=\r\n").substr(0, 4), "535 ");                  // wrong
  EXPECT_EQ(run("AUTH PLAIN " + std::string(k_good_plain) + "\r\n").substr(0, 4), "235 ");
  EXPECT_EQ(summary(), "ehlo=2 starttls=1 auth=1/2 commands=4/5");
}

TEST_F(SessionCountersTest, MetricsCountCommandsMessagesBytesAndAuth) {
  const std::uint64_t rcpt_5xx =
      metric("posthorn_smtp_commands_total{verb=\"RCPT\",class=\"5xx\"}");
  const std::uint64_t rcpt_2xx =
      metric("posthorn_smtp_commands_total{verb=\"RCPT\",class=\"2xx\"}");
  const std::uint64_t unknown =
      metric("posthorn_smtp_commands_total{verb=\"unknown\",class=\"5xx\"}");
  const std::uint64_t accepted = metric("posthorn_messages_accepted_total");
  const std::uint64_t rejected = metric("posthorn_messages_rejected_total");
  const std::uint64_t bytes = metric("posthorn_received_bytes_total");
  const std::uint64_t auth_ok = metric("posthorn_auth_total{result=\"success\"}");
  const std::uint64_t auth_bad = metric("posthorn_auth_total{result=\"failure\"}");

  run("EHLO c\r\nFROB\r\nMAIL FROM:<s@remote.test>\r\nRCPT TO:<alice@example.test>\r\n"
      "RCPT TO:<nobody@example.test>\r\nDATA\r\n");
  run("Subject: x\r\n\r\n..body\r\n.\r\n");  // 21 octets after unstuffing
  run("MAIL FROM:<s@remote.test>\r\nRCPT TO:<alice@example.test>\r\nDATA\r\n");
  run(std::string(1001, 'y') + "\r\n.\r\n");  // over the limit of 1000
  run("STARTTLS\r\n");
  run("EHLO c\r\nAUTH PLAIN " + std::string(k_bad_plain) + "\r\nAUTH PLAIN " +
      std::string(k_good_plain) + "\r\n");

  EXPECT_EQ(metric("posthorn_smtp_commands_total{verb=\"RCPT\",class=\"5xx\"}") - rcpt_5xx, 1u);
  EXPECT_EQ(metric("posthorn_smtp_commands_total{verb=\"RCPT\",class=\"2xx\"}") - rcpt_2xx, 2u);
  EXPECT_EQ(metric("posthorn_smtp_commands_total{verb=\"unknown\",class=\"5xx\"}") - unknown, 1u);
  EXPECT_EQ(metric("posthorn_messages_accepted_total") - accepted, 1u);
  EXPECT_EQ(metric("posthorn_messages_rejected_total") - rejected, 1u);
  EXPECT_EQ(metric("posthorn_received_bytes_total") - bytes, 21u + 1003u);
  EXPECT_EQ(metric("posthorn_auth_total{result=\"success\"}") - auth_ok, 1u);
  EXPECT_EQ(metric("posthorn_auth_total{result=\"failure\"}") - auth_bad, 1u);
}

TEST_F(SessionCountersTest, RejectLinesNameClientCommandCodeAndReason) {
  run("EHLO c\r\nMAIL FROM:<s@remote.test>\r\nRCPT TO:<nobody@example.test>\r\n"
      "RCPT TO:<x@elsewhere.test>\r\nFROB\r\n");
  EXPECT_EQ(log_.str(),
            "event=reject client=[192.0.2.7] command=RCPT code=550 dsn=5.1.1 "
            "reason=\"<nobody@example.test>: Recipient address rejected: User unknown\" "
            "from=<s@remote.test>\n"
            "event=reject client=[192.0.2.7] command=RCPT code=550 dsn=5.7.1 "
            "reason=\"<x@elsewhere.test>: Relaying denied\" from=<s@remote.test>\n"
            "event=reject client=[192.0.2.7] command=unknown code=500 dsn=5.5.2 "
            "reason=\"Error: command not recognized\" from=<s@remote.test>\n");
}

TEST_F(SessionCountersTest, RefusedMessageIsLoggedWithItsQueueId) {
  run("EHLO c\r\nMAIL FROM:<s@remote.test>\r\nRCPT TO:<alice@example.test>\r\nDATA\r\n");
  log_.str("");
  run(std::string(1001, 'y') + "\r\n.\r\n");
  std::string line = log_.str();
  ASSERT_EQ(line.substr(0, 3), "id=") << line;
  EXPECT_NE(line.find(" event=reject client=[192.0.2.7] command=DATA code=552 dsn=5.3.4 "
                      "reason=\"Error: message size exceeds fixed limit\" from=<s@remote.test>\n"),
            std::string::npos)
      << line;
}

TEST_F(SessionCountersTest, QuotesInTheReasonAreEscaped) {
  run("EHLO c\r\nMAIL FROM:<s@remote.test>\r\nRCPT TO:<\"no body\"@example.test>\r\n");
  EXPECT_NE(log_.str().find("reason=\"<\\\"no body\\\"@example.test>: Recipient address "
                            "rejected: User unknown\""),
            std::string::npos)
      << log_.str();
}

TEST_F(SessionCountersTest, AuthPayloadsNeverReachTheLog) {
  run("EHLO c\r\nSTARTTLS\r\n");
  run("EHLO c\r\nAUTH PLAIN " + std::string(k_bad_plain) + "\r\nAUTH PLAIN !!!!\r\n");
  run("AUTH LOGIN\r\n");
  run("YWxpY2VAZXhhbXBsZS50ZXN0\r\nd3Jvbmc=\r\n");
  std::string log = log_.str();
  EXPECT_NE(log.find("command=AUTH code=535 dsn=5.7.8"), std::string::npos) << log;
  for (std::string_view secret :
       {k_bad_plain, std::string_view("!!!!"), std::string_view("YWxpY2VAZXhhbXBsZS50ZXN0"),
        std::string_view("d3Jvbmc="), std::string_view("wrong")}) {
    EXPECT_EQ(log.find(secret), std::string::npos) << secret << " in " << log;
  }
}

}  // namespace
}  // namespace posthorn::smtp
