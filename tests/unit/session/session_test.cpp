// The SMTP session driven command by command without sockets (DESIGN.md §5).

#include "smtp/server/session.hpp"

#include <gtest/gtest.h>

#include <filesystem>
#include <random>

#include "test_env.hpp"

namespace posthorn::smtp {
namespace {

namespace fs = std::filesystem;
using testing_support::test_env;

class SessionTest : public testing::Test {
 protected:
  void SetUp() override {
    auto acc = policy::accounts::from_text(
        {"example.test", "other.test"},
        "alice@example.test:\nbob@example.test:\nalice@other.test:\n",
        "team: alice, bob\nforward: carol@remote.test\nlist@example.test: alice, ghost\n",
        "old@example.test: new@elsewhere.test\n");
    ASSERT_TRUE(acc.has_value());
    accounts_ = *acc;
    settings_.hostname = "mx.example.test";
    make_session(false);
  }

  void make_session(bool trusted) {
    session_ = std::make_unique<session>(settings_, accounts_, *env_,
                                         peer_info{"192.0.2.7", "unknown", trusted});
    session_->greet();
    session_->output().clear();
  }

  // Feeds `input` in pieces of `step` octets (0 = all at once), carrying out the
  // session's actions as a driver would; returns everything it replied.
  std::string run(std::string_view input, std::size_t step = 0) {
    std::string replies;
    std::string pending;
    std::size_t pos = 0;
    while (true) {
      if (pending.empty()) {
        if (pos >= input.size()) {
          break;
        }
        std::size_t n = step == 0 ? input.size() - pos : std::min(step, input.size() - pos);
        pending.assign(input.substr(pos, n));
        pos += n;
      }
      std::string_view v = pending;
      action a = session_->feed(v);
      pending.erase(0, pending.size() - v.size());
      if (a == action::Spill) {
        session_->spill_done(session_->message().spill());
      } else if (a == action::Commit) {
        auto r = spool_->commit(session_->envelope(), std::move(session_->message()));
        if (r) {
          committed_.push_back(session_->envelope());
        }
        session_->commit_done(std::move(r));
      } else if (a == action::StartTls) {
        replies += session_->output();
        session_->output().clear();
        pending.clear();  // the driver drops what was pipelined after STARTTLS
        session_->tls_started("(using TLSv1.3 with cipher TEST)");
        continue;
      } else if (a == action::AuthVerify) {
        const auto& c = session_->auth_credentials();
        bool ok = c.authcid == "alice@example.test" && c.password == "secret";
        session_->auth_done(
            ok ? std::optional<mail::address>(mail::address{"alice", "example.test"})
               : std::nullopt);
      } else if (a == action::Close) {
        replies += session_->output();
        session_->output().clear();
        break;
      }
      replies += session_->output();
      session_->output().clear();
    }
    return replies;
  }

  std::string body_of(const queue::envelope& e) {
    auto m = spool_->open_message(e.id);
    EXPECT_TRUE(m.has_value());
    return std::string((*m)->contents());
  }

  testing_support::temp_spool world_{"session"};
  const std::filesystem::path& dir_ = world_.dir();
  queue::spool* spool_ = world_.spool();
  test_env* env_ = world_.env();
  std::shared_ptr<const policy::accounts> accounts_;
  session_settings settings_;
  std::unique_ptr<session> session_;
  std::vector<queue::envelope> committed_;
};

TEST_F(SessionTest, GreetingNamesHost) {
  session s(settings_, accounts_, *env_, peer_info{});
  s.greet();
  EXPECT_EQ(s.output(), "220 mx.example.test ESMTP posthorn\r\n");
}

TEST_F(SessionTest, EhloAdvertisesExtensions) {
  EXPECT_EQ(run("EHLO client.test\r\n"),
            "250-mx.example.test\r\n250-PIPELINING\r\n250-SIZE 35000000\r\n250-8BITMIME\r\n"
            "250-BINARYMIME\r\n250-SMTPUTF8\r\n250-ENHANCEDSTATUSCODES\r\n250-DSN\r\n"
            "250-CHUNKING\r\n250-ETRN\r\n250 HELP\r\n");
}

TEST_F(SessionTest, VerbsAreCaseInsensitive) {
  EXPECT_EQ(run("helo client.test\r\nnOoP\r\n"), "250 mx.example.test\r\n250 2.0.0 Ok\r\n");
}

TEST_F(SessionTest, SequenceErrors) {
  settings_.max_errors = 0;
  make_session(false);
  EXPECT_EQ(run("MAIL FROM:<a@b.test>\r\n"), "503 5.5.1 Error: send HELO/EHLO first\r\n");
  EXPECT_EQ(run("RCPT TO:<alice@example.test>\r\n"), "503 5.5.1 Error: send HELO/EHLO first\r\n");
  EXPECT_EQ(run("DATA\r\n"), "503 5.5.1 Error: send HELO/EHLO first\r\n");
  run("EHLO c\r\n");
  EXPECT_EQ(run("RCPT TO:<alice@example.test>\r\n"), "503 5.5.1 Error: need MAIL command\r\n");
  EXPECT_EQ(run("DATA\r\n"), "503 5.5.1 Error: need MAIL command\r\n");
  run("MAIL FROM:<a@b.test>\r\n");
  EXPECT_EQ(run("MAIL FROM:<a@b.test>\r\n"), "503 5.5.1 Error: nested MAIL command\r\n");
  EXPECT_EQ(run("DATA\r\n"), "503 5.5.1 Error: need RCPT command\r\n");
  EXPECT_EQ(run("RCPT TO:<nobody@example.test>\r\n").substr(0, 10), "550 5.1.1 ");
  EXPECT_EQ(run("DATA\r\n"), "554 5.5.1 Error: no valid recipients\r\n");
  EXPECT_EQ(run("RSET\r\n"), "250 2.0.0 Ok\r\n");
  EXPECT_EQ(run("RCPT TO:<alice@example.test>\r\n"), "503 5.5.1 Error: need MAIL command\r\n");
}

TEST_F(SessionTest, ObsoleteAndUnknownVerbs) {
  for (const char* v : {"SEND", "SOML", "SAML", "TURN"}) {
    EXPECT_EQ(run(std::string(v) + " FROM:<a@b>\r\n").substr(0, 10), "502 5.5.1 ") << v;
  }
  EXPECT_EQ(run("FROB\r\n"), "500 5.5.2 Error: command not recognized\r\n");
}

TEST_F(SessionTest, BareLineEndsInCommandsAreRefusedWithoutDesync) {
  // Only CRLF ends a line: "NOOP<LF>NOOP" is one line and gets one reply.
  EXPECT_EQ(run("NOOP\nNOOP\r\nNOOP\r\n"),
            "500 5.5.2 Error: bare <LF> received; lines must end with <CR><LF>\r\n"
            "250 2.0.0 Ok\r\n");
  EXPECT_EQ(run("NO\rOP\r\nNOOP\r\n").substr(0, 10), "500 5.5.2 ");
}

TEST_F(SessionTest, CommandLineLimitIs512WithCrlf) {
  std::string ok = "NOOP " + std::string(505, 'x') + "\r\n";  // 512 octets
  ASSERT_EQ(ok.size(), 512u);
  EXPECT_EQ(run(ok), "250 2.0.0 Ok\r\n");
  std::string too_long = "NOOP " + std::string(506, 'x') + "\r\nNOOP\r\n";
  EXPECT_EQ(run(too_long), "500 5.5.2 Error: command line too long\r\n250 2.0.0 Ok\r\n");
}

TEST_F(SessionTest, HttpFirstLineClosesConnection) {
  EXPECT_EQ(run("GET / HTTP/1.1\r\nHost: x\r\n\r\n").substr(0, 4), "554 ");
  EXPECT_TRUE(session_->closing());
}

TEST_F(SessionTest, DeliversMessageWithReceivedHeader) {
  std::string r =
      run("EHLO client.test\r\nMAIL FROM:<sender@remote.test>\r\nRCPT TO:<alice@example.test>\r\n"
          "DATA\r\n");
  EXPECT_EQ(r, std::string("250-mx.example.test\r\n250-PIPELINING\r\n250-SIZE 35000000\r\n") +
                   "250-8BITMIME\r\n250-BINARYMIME\r\n250-SMTPUTF8\r\n250-ENHANCEDSTATUSCODES\r\n" +
                   "250-DSN\r\n250-CHUNKING\r\n250-ETRN\r\n250 HELP\r\n" +
                   "250 2.1.0 Ok\r\n250 2.1.5 Ok\r\n354 End data with <CR><LF>.<CR><LF>\r\n");
  r = run("Subject: hi\r\n\r\n..dot\r\nbody\r\n.\r\n");
  ASSERT_EQ(committed_.size(), 1u);
  const queue::envelope& e = committed_[0];
  EXPECT_EQ(r, "250 2.0.0 Ok: queued as " + e.id + "\r\n");
  EXPECT_EQ(e.sender.str(), "sender@remote.test");
  ASSERT_EQ(e.recipients.size(), 1u);
  EXPECT_EQ(e.recipients[0].address.str(), "alice@example.test");
  EXPECT_TRUE(e.recipients[0].local);
  EXPECT_EQ(e.protocol, "ESMTP");
  std::string body = body_of(e);
  EXPECT_EQ(body.rfind("Received: from client.test (unknown [192.0.2.7])", 0), 0u) << body;
  EXPECT_NE(body.find("id " + e.id), std::string::npos);
  EXPECT_NE(body.find("for <alice@example.test>"), std::string::npos);
  EXPECT_EQ(body.substr(body.find("Subject:")), "Subject: hi\r\n\r\n.dot\r\nbody\r\n");
}

TEST_F(SessionTest, SameResultWhenFedByteByByte) {
  std::string script =
      "EHLO c\r\nMAIL FROM:<>\r\nRCPT TO:<bob@example.test>\r\nDATA\r\nA: b\r\n\r\nx\r\n.\r\n"
      "QUIT\r\n";
  std::string whole = run(script);
  ASSERT_EQ(committed_.size(), 1u);
  make_session(false);
  std::string bytewise = run(script, 1);
  ASSERT_EQ(committed_.size(), 2u);
  auto strip_id = [](std::string s, const std::string& id) {
    return s.replace(s.find(id), id.size(), "ID");
  };
  EXPECT_EQ(strip_id(whole, committed_[0].id), strip_id(bytewise, committed_[1].id));
  EXPECT_TRUE(committed_[1].sender.empty());
}

TEST_F(SessionTest, PipelinedTransactionIsAnsweredInOrder) {
  std::string r =
      run("EHLO c\r\nMAIL FROM:<a@remote.test>\r\nRCPT TO:<alice@example.test>\r\n"
          "RCPT TO:<nobody@example.test>\r\nRCPT TO:<bob@example.test>\r\nDATA\r\n");
  EXPECT_NE(r.find("250 2.1.0 Ok\r\n250 2.1.5 Ok\r\n550 5.1.1 <nobody@example.test>: "
                   "Recipient address rejected: User unknown\r\n250 2.1.5 Ok\r\n354 "),
            std::string::npos)
      << r;
}

TEST_F(SessionTest, SmugglingSequencesDoNotEndDataAndMessageIsRefused) {
  run("EHLO c\r\nMAIL FROM:<a@remote.test>\r\nRCPT TO:<alice@example.test>\r\nDATA\r\n");
  std::string r = run("Subject: x\r\n\r\nhello\n.\nMAIL FROM:<evil@x.test>\r\n.\r\n");
  EXPECT_EQ(r.substr(0, 10), "550 5.6.0 ");
  EXPECT_TRUE(committed_.empty());
  // The session is still usable.
  r = run("MAIL FROM:<a@remote.test>\r\nRCPT TO:<alice@example.test>\r\nDATA\r\nok\r\n.\r\n");
  EXPECT_EQ(committed_.size(), 1u);
  EXPECT_NE(r.find("250 2.0.0 Ok: queued as"), std::string::npos);
}

TEST_F(SessionTest, RecipientPolicy) {
  run("EHLO c\r\nMAIL FROM:<a@remote.test>\r\n");
  EXPECT_EQ(run("RCPT TO:<carol@remote.test>\r\n"),
            "550 5.7.1 <carol@remote.test>: Relaying denied\r\n");
  EXPECT_EQ(run("RCPT TO:<old@example.test>\r\n"),
            "551 5.1.6 <old@example.test>: User has moved; please try <new@elsewhere.test>\r\n");
  EXPECT_EQ(run("RCPT TO:<Alice+tag@EXAMPLE.test>\r\n"), "250 2.1.5 Ok\r\n");
  EXPECT_EQ(run("RCPT TO:<\"bob\"@example.test>\r\n"), "250 2.1.5 Ok\r\n");
  EXPECT_EQ(run("RCPT TO:<@relay.test,@other.test:team@example.test>\r\n"), "250 2.1.5 Ok\r\n");
  EXPECT_EQ(run("RCPT TO:<Postmaster>\r\n").substr(0, 4), "550 ");  // no postmaster defined
  EXPECT_EQ(run("RCPT TO:<bad address>\r\n"), "501 5.1.3 Error: bad recipient address syntax\r\n");
}

// Sender-specified routing through a local domain (percent hack, bang path, a quoted
// "@") is a relay attempt from an untrusted client, even when what follows names a local
// user; a trusted client gets the usual lookup (no such user here).
TEST_F(SessionTest, SenderSpecifiedRoutingIsARelayAttempt) {
  run("EHLO c\r\nMAIL FROM:<a@remote.test>\r\n");
  for (const std::string_view rcpt :
       {"carol%remote.test@example.test", "alice%example.test@example.test",
        "remote.test!carol@example.test", "\"carol@remote.test\"@example.test",
        "\"alice@example.test\"@example.test"}) {
    const std::string r = run("RCPT TO:<" + std::string(rcpt) + ">\r\n");
    EXPECT_EQ(r.substr(0, 10), "550 5.7.1 ") << rcpt << ": " << r;
    EXPECT_NE(r.find("Relaying denied"), std::string::npos) << r;
  }
  make_session(true);
  run("EHLO c\r\nMAIL FROM:<a@example.test>\r\n");
  EXPECT_EQ(run("RCPT TO:<carol%remote.test@example.test>\r\n").substr(0, 10), "550 5.1.1 ");
}

TEST_F(SessionTest, TrustedClientMayRelay) {
  make_session(true);
  EXPECT_EQ(run("EHLO c\r\nMAIL FROM:<a@example.test>\r\nRCPT TO:<carol@remote.test>\r\n"
                "DATA\r\nx\r\n.\r\n")
                    .find("250 2.0.0 Ok: queued as") != std::string::npos,
            true);
  ASSERT_EQ(committed_.size(), 1u);
  EXPECT_FALSE(committed_[0].recipients[0].local);
}

TEST_F(SessionTest, AliasExpansionKeepsOriginalAndFailsUnknownMembers) {
  run("EHLO c\r\nMAIL FROM:<a@remote.test>\r\nRCPT TO:<team@example.test>\r\n"
      "RCPT TO:<list@example.test>\r\nDATA\r\nx\r\n.\r\n");
  ASSERT_EQ(committed_.size(), 1u);
  const auto& rs = committed_[0].recipients;
  ASSERT_EQ(rs.size(), 3u);  // alice, bob (team); ghost (list, unknown); alice deduplicated
  EXPECT_EQ(rs[0].address.str(), "alice@example.test");
  EXPECT_EQ(rs[0].original.str(), "team@example.test");
  EXPECT_EQ(rs[1].address.str(), "bob@example.test");
  EXPECT_EQ(rs[2].address.str(), "ghost@example.test");
  EXPECT_EQ(rs[2].status, queue::rcpt_status::Failed);
}

// A 250 at RCPT must end in a delivery or a bounce: an alias that expands to nobody is
// refused at RCPT, never queued with no recipient (DESIGN.md §4.2).
TEST_F(SessionTest, AliasThatLeavesNobodyIsRefusedAtRcpt) {
  auto acc = policy::accounts::from_text(
      {"example.test"}, "alice@example.test:\nbob@example.test:\n",
      "loop1: loop2\nloop2: loop1\nghosts: ghost, spook\nmoved: old, gone\n"
      "half: ghost, loop1\nlst: bob, ghost\nteam: alice, bob\n",
      "old@example.test: new@elsewhere.test\ngone@example.test: z@elsewhere.test\n");
  ASSERT_TRUE(acc.has_value());
  accounts_ = *acc;
  make_session(false);
  run("EHLO c\r\nMAIL FROM:<a@remote.test>\r\n");
  EXPECT_EQ(run("RCPT TO:<loop1@example.test>\r\n"),
            "550 5.4.6 <loop1@example.test>: Recipient address rejected: alias loop\r\n");
  EXPECT_EQ(run("RCPT TO:<half@example.test>\r\n").substr(0, 10), "550 5.4.6 ");
  EXPECT_EQ(run("RCPT TO:<ghosts@example.test>\r\n"),
            "550 5.1.1 <ghosts@example.test>: Recipient address rejected: User unknown\r\n");
  EXPECT_EQ(run("RCPT TO:<moved@example.test>\r\n"),
            "550 5.1.6 <moved@example.test>: Recipient address rejected: all members have "
            "moved\r\n");
  EXPECT_EQ(run("DATA\r\n"), "554 5.5.1 Error: no valid recipients\r\n");
  EXPECT_TRUE(committed_.empty());

  // Duplicates collapsed across RCPTs leave each member once, never an empty message.
  EXPECT_EQ(run("RCPT TO:<team@example.test>\r\nRCPT TO:<alice@example.test>\r\n"
                "RCPT TO:<lst@example.test>\r\n"),
            "250 2.1.5 Ok\r\n250 2.1.5 Ok\r\n250 2.1.5 Ok\r\n");
  EXPECT_NE(run("DATA\r\nx\r\n.\r\n").find("250 2.0.0 Ok: queued as"), std::string::npos);
  ASSERT_EQ(committed_.size(), 1u);
  const auto& rs = committed_[0].recipients;
  ASSERT_EQ(rs.size(), 3u);
  EXPECT_EQ(rs[0].address.str(), "alice@example.test");
  EXPECT_EQ(rs[0].original.str(), "team@example.test");
  EXPECT_EQ(rs[1].address.str(), "bob@example.test");
  EXPECT_EQ(rs[2].address.str(), "ghost@example.test");
  EXPECT_EQ(rs[2].original.str(), "lst@example.test");
  EXPECT_EQ(rs[2].status, queue::rcpt_status::Failed);
}

// A relocated member of a list that still has others bounces with its new address.
TEST_F(SessionTest, RelocatedListMemberBouncesWithItsNewAddress) {
  auto acc =
      policy::accounts::from_text({"example.test"}, "bob@example.test:\n", "crew: bob, old\n",
                                  "old@example.test: new@elsewhere.test\n");
  ASSERT_TRUE(acc.has_value());
  accounts_ = *acc;
  make_session(false);
  run("EHLO c\r\nMAIL FROM:<a@remote.test>\r\nRCPT TO:<crew@example.test>\r\n"
      "DATA\r\nx\r\n.\r\n");
  ASSERT_EQ(committed_.size(), 1u);
  const auto& rs = committed_[0].recipients;
  ASSERT_EQ(rs.size(), 2u);
  EXPECT_EQ(rs[1].address.str(), "old@example.test");
  EXPECT_EQ(rs[1].status, queue::rcpt_status::Failed);
  EXPECT_EQ(rs[1].last_reply,
            "551 5.1.6 <old@example.test>: User has moved; please try <new@elsewhere.test>");
}

TEST_F(SessionTest, SizeLimits) {
  settings_.message_size = 100;
  make_session(false);
  run("EHLO c\r\n");
  EXPECT_EQ(run("MAIL FROM:<a@remote.test> SIZE=101\r\n").substr(0, 10), "552 5.3.4 ");
  EXPECT_EQ(run("MAIL FROM:<a@remote.test> SIZE=100\r\n"), "250 2.1.0 Ok\r\n");
  run("RCPT TO:<alice@example.test>\r\nDATA\r\n");
  // Exactly the limit is accepted: 98 octets + CRLF... = 100.
  std::string exact = std::string(98, 'a') + "\r\n.\r\n";
  EXPECT_NE(run(exact).find("250 2.0.0 Ok: queued as"), std::string::npos);
  run("MAIL FROM:<a@remote.test>\r\nRCPT TO:<alice@example.test>\r\nDATA\r\n");
  std::string over = std::string(99, 'a') + "\r\n.\r\nNOOP\r\n";
  EXPECT_EQ(run(over), "552 5.3.4 Error: message size exceeds fixed limit\r\n250 2.0.0 Ok\r\n");
  EXPECT_EQ(committed_.size(), 1u);
}

TEST_F(SessionTest, LargeMessageIsSpilledAndKeptWhole) {
  env_->memory_limit = 4096;
  run("EHLO c\r\nMAIL FROM:<a@remote.test>\r\nRCPT TO:<alice@example.test>\r\nDATA\r\n");
  std::string body;
  for (int i = 0; i < 20000; ++i) {
    body += "line " + std::to_string(i) + "\r\n";
  }
  std::string r = run(body + ".\r\n", 1000);
  ASSERT_EQ(committed_.size(), 1u) << r;
  std::string stored = body_of(committed_[0]);
  EXPECT_EQ(stored.substr(stored.find("line 0\r\n")), body);
}

TEST_F(SessionTest, TooManyRecipients) {
  settings_.max_recipients = 2;
  make_session(false);
  std::string r =
      run("EHLO c\r\nMAIL FROM:<a@remote.test>\r\nRCPT TO:<alice@example.test>\r\n"
          "RCPT TO:<bob@example.test>\r\nRCPT TO:<team@example.test>\r\n");
  EXPECT_NE(r.find("452 4.5.3 Error: too many recipients\r\n"), std::string::npos);
}

TEST_F(SessionTest, TooManyErrorsCloses) {
  settings_.max_errors = 3;
  make_session(false);
  std::string r = run("X\r\nY\r\nZ\r\nNOOP\r\n");
  EXPECT_EQ(r,
            "500 5.5.2 Error: command not recognized\r\n500 5.5.2 Error: command not "
            "recognized\r\n500 5.5.2 Error: command not recognized\r\n421 4.7.0 "
            "mx.example.test Error: too many errors\r\n");
  EXPECT_TRUE(session_->closing());
}

TEST_F(SessionTest, LoopDetectionAtHundredReceived) {
  std::string hops;
  for (int i = 0; i < 100; ++i) {
    hops += "Received: from x by y; Sat, 21 Nov 2026 00:00:00 +0000\r\n";
  }
  run("EHLO c\r\nMAIL FROM:<a@remote.test>\r\nRCPT TO:<alice@example.test>\r\nDATA\r\n");
  EXPECT_NE(run(hops + "\r\nbody\r\n.\r\n").find("250 2.0.0"), std::string::npos);
  run("MAIL FROM:<a@remote.test>\r\nRCPT TO:<alice@example.test>\r\nDATA\r\n");
  EXPECT_EQ(run(hops + "Received: one more\r\n\r\nbody\r\n.\r\n").substr(0, 10), "554 5.4.6 ");
}

TEST_F(SessionTest, Utf8NeedsSmtputf8) {
  run("EHLO c\r\n");
  EXPECT_EQ(run("MAIL FROM:<jörg@remote.test>\r\n").substr(0, 10), "553 5.6.7 ");
  EXPECT_EQ(run("MAIL FROM:<a@remote.test>\r\n"), "250 2.1.0 Ok\r\n");
  EXPECT_EQ(run("RCPT TO:<jörg@example.test>\r\n").substr(0, 10), "553 5.6.7 ");
  run("RSET\r\n");
  EXPECT_EQ(run("MAIL FROM:<jörg@remote.test> SMTPUTF8\r\n"), "250 2.1.0 Ok\r\n");
}

TEST_F(SessionTest, ParametersNeedEhloAndMustBeKnown) {
  run("HELO c\r\n");
  EXPECT_EQ(run("MAIL FROM:<a@remote.test> SIZE=10\r\n").substr(0, 10), "555 5.5.4 ");
  run("EHLO c\r\n");
  EXPECT_EQ(run("MAIL FROM:<a@remote.test> FOO=bar\r\n").substr(0, 10), "555 5.5.4 ");
  EXPECT_EQ(run("MAIL FROM:<a@remote.test> BODY=8BITMIME\r\n"), "250 2.1.0 Ok\r\n");
}

TEST_F(SessionTest, LowDiskSpaceRefusedBeforeData) {
  run("EHLO c\r\n");
  env_->free = 10;
  settings_.min_free_space = 1000;
  make_session(false);
  run("EHLO c\r\n");
  EXPECT_EQ(run("MAIL FROM:<a@remote.test>\r\n").substr(0, 10), "452 4.3.1 ");
}

TEST_F(SessionTest, VrfyAndExpn) {
  settings_.expn = true;
  make_session(false);
  run("EHLO c\r\n");
  EXPECT_EQ(run("VRFY <bob@example.test>\r\n"), "250 2.1.5 <bob@example.test>\r\n");
  EXPECT_EQ(run("VRFY bob@example.test\r\n"), "250 2.1.5 <bob@example.test>\r\n");
  EXPECT_EQ(run("VRFY \"bob\"@example.test\r\n"), "250 2.1.5 <bob@example.test>\r\n");
  EXPECT_EQ(run("VRFY bob\r\n"), "250 2.1.5 <bob@example.test>\r\n");
  EXPECT_EQ(run("VRFY alice\r\n").substr(0, 10), "553-5.1.4 ");
  EXPECT_EQ(run("VRFY nobody@example.test\r\n").substr(0, 10), "550 5.1.1 ");
  EXPECT_EQ(run("VRFY forward@example.test\r\n"),
            "251 2.1.5 User not local; will forward to <carol@remote.test>\r\n");
  EXPECT_EQ(run("EXPN team@example.test\r\n"),
            "250-2.1.5 <alice@example.test>\r\n250 2.1.5 <bob@example.test>\r\n");
  settings_.vrfy = false;
  settings_.expn = false;
  make_session(false);
  EXPECT_EQ(run("VRFY bob@example.test\r\n").substr(0, 10), "252 2.1.5 ");
  EXPECT_EQ(run("EXPN team@example.test\r\n").substr(0, 10), "502 5.5.1 ");
}

TEST_F(SessionTest, HelpAndQuit) {
  std::string r = run("HELP\r\n");
  EXPECT_EQ(r.substr(0, 10), "214-2.0.0 ");
  EXPECT_NE(r.find("214 2.0.0 End of HELP info\r\n"), std::string::npos);
  EXPECT_EQ(run("HELP mail\r\n").substr(0, 10), "214-2.0.0 ");
  EXPECT_EQ(run("HELP frob\r\n").substr(0, 10), "504 5.5.4 ");
  EXPECT_EQ(run("QUIT\r\n"), "221 mx.example.test closing connection\r\n");
  EXPECT_TRUE(session_->closing());
}

TEST_F(SessionTest, StartTlsForgetsStateAndDropsPipelinedInput) {
  settings_.tls_available = true;
  make_session(false);
  std::string r = run("EHLO c\r\nSTARTTLS\r\nNOOP\r\n");
  EXPECT_NE(r.find("250-STARTTLS\r\n"), std::string::npos);
  EXPECT_NE(r.find("220 2.0.0 Ready to start TLS\r\n"), std::string::npos);
  EXPECT_EQ(r.find("250 2.0.0 Ok"), std::string::npos) << r;  // NOOP never answered
  EXPECT_TRUE(session_->tls_active());
  EXPECT_EQ(run("MAIL FROM:<a@remote.test>\r\n"), "503 5.5.1 Error: send HELO/EHLO first\r\n");
  r = run("EHLO c\r\n");
  EXPECT_EQ(r.find("STARTTLS"), std::string::npos);  // not offered again
  EXPECT_NE(r.find("250-AUTH SCRAM-SHA-256 PLAIN LOGIN\r\n"), std::string::npos);
  EXPECT_EQ(run("STARTTLS\r\n"), "503 5.5.1 Error: TLS already active\r\n");
}

TEST_F(SessionTest, AuthNeedsTlsAndChecksCredentials) {
  settings_.tls_available = true;
  make_session(false);
  std::string r = run("EHLO c\r\n");
  EXPECT_EQ(r.find("AUTH"), std::string::npos);
  EXPECT_EQ(run("AUTH PLAIN AGFsaWNlQGV4YW1wbGUudGVzdABzZWNyZXQ=\r\n").substr(0, 11),
            "538 5.7.11 ");
  run("STARTTLS\r\n");
  run("EHLO c\r\n");
  // "\0alice@example.test\0wrong"
  EXPECT_EQ(run("AUTH PLAIN AGFsaWNlQGV4YW1wbGUudGVzdAB3cm9uZw==\r\n").substr(0, 10), "535 5.7.8 ");
  EXPECT_EQ(run("AUTH PLAIN\r\n"), "334 \r\n");
  EXPECT_EQ(run("*\r\n").substr(0, 4), "501 ");
  EXPECT_EQ(env_->auth_failures, 0);  // a cancel is not a guess
  EXPECT_EQ(run("AUTH PLAIN !!!!\r\n").substr(0, 10), "501 5.5.2 ");
  EXPECT_EQ(env_->auth_failures, 1);  // a botched exchange counts toward the limiter
  EXPECT_EQ(run("AUTH LOGIN\r\n").substr(0, 4), "334 ");
  EXPECT_EQ(run("YWxpY2VAZXhhbXBsZS50ZXN0\r\n").substr(0, 4), "334 ");
  EXPECT_EQ(run("c2VjcmV0\r\n"), "235 2.7.0 Authentication successful\r\n");
  EXPECT_EQ(run("AUTH PLAIN\r\n"), "503 5.5.1 Error: already authenticated\r\n");
  // Authenticated: may relay.
  run("MAIL FROM:<alice@example.test>\r\n");
  EXPECT_EQ(run("RCPT TO:<carol@remote.test>\r\n"), "250 2.1.5 Ok\r\n");
}

TEST_F(SessionTest, SubmissionRequiresAuthAndOwnSenderAndAddsHeaders) {
  settings_.tls_available = true;
  settings_.role = config::listener_role::Submission;
  make_session(false);
  run("EHLO c\r\nSTARTTLS\r\n");
  run("EHLO c\r\n");
  EXPECT_EQ(run("MAIL FROM:<alice@example.test>\r\n"),
            "530 5.7.0 Error: authentication required\r\n");
  EXPECT_EQ(run("AUTH PLAIN AGFsaWNlQGV4YW1wbGUudGVzdABzZWNyZXQ=\r\n").substr(0, 4), "235 ");
  EXPECT_EQ(run("MAIL FROM:<bob@example.test>\r\n").substr(0, 10), "553 5.7.1 ");
  EXPECT_EQ(run("MAIL FROM:<alice+list@example.test>\r\n"), "250 2.1.0 Ok\r\n");
  run("RCPT TO:<bob@example.test>\r\nDATA\r\n");
  EXPECT_NE(run("Subject: hi\r\n\r\nbody\r\n.\r\n").find("250 2.0.0"), std::string::npos);
  ASSERT_EQ(committed_.size(), 1u);
  EXPECT_EQ(committed_[0].auth_user, "alice@example.test");
  EXPECT_EQ(committed_[0].protocol, "ESMTPSA");
  std::string body = body_of(committed_[0]);
  std::size_t subject = body.find("Subject: hi\r\n");
  ASSERT_NE(subject, std::string::npos);
  // Date and Message-ID go at the end of the header section, before the body.
  std::size_t date = body.find("\r\nDate: ");
  std::size_t mid = body.find("\r\nMessage-ID: <" + committed_[0].id + "@mx.example.test>\r\n");
  EXPECT_GT(date, subject);
  EXPECT_GT(mid, subject);
  EXPECT_NE(body.find(">\r\n\r\nbody\r\n"), std::string::npos) << body;
}

TEST_F(SessionTest, TimeoutAnswers421) {
  session_->timeout();
  EXPECT_EQ(session_->output(), "421 4.4.2 mx.example.test Error: timeout exceeded\r\n");
  EXPECT_TRUE(session_->closing());
}

}  // namespace
}  // namespace posthorn::smtp
