// The POP3 session driven command by command (RFC 1939, 2449, 2595, 5034), without
// sockets: every command, its error paths, pipelining, and input cut at every offset.

#include <gtest/gtest.h>

#include <string>

#include "auth/sasl.hpp"
#include "pop3_driver.hpp"

namespace posthorn::pop3 {
namespace {

using testing_support::pop3_driver;

class Pop3SessionTest : public pop3_driver {
 protected:
  void SetUp() override {
    add_message("1000.A.host,S=30,W=32", "Subject: one\n\nfirst body\n", "1000.A.host");
    add_message("1001.B.host,S=40,W=44", "Subject: two\n\nline 1\n.dot\nline 3\n", "1001.B.host");
    restart();
  }
  std::string login() { return run(login_script()); }
};

TEST_F(Pop3SessionTest, GreetingNamesTheHostAndOffersNoApopTimestamp) {
  session s(settings_);
  s.greet();
  EXPECT_EQ(s.output(), "+OK pop.example.test POP3 server ready\r\n");
}

TEST_F(Pop3SessionTest, UserPassLogsInAndReportsTheMaildrop) {
  EXPECT_EQ(run("USER alice@example.test\r\n"), "+OK\r\n");
  EXPECT_EQ(
      run("PASS secret\r\n"),
      "+OK Logged in, 2 messages (" + std::to_string(box_[0].size + box_[1].size) + " octets)\r\n");
  EXPECT_EQ(s_->current_state(), state::Transaction);
  EXPECT_EQ(s_->login().str(), "alice@example.test");
}

TEST_F(Pop3SessionTest, WrongPasswordIsAuthErrorAndUserMustBeSentAgain) {
  EXPECT_EQ(run("USER alice@example.test\r\nPASS wrong\r\n"),
            "+OK\r\n-ERR [AUTH] Authentication failed\r\n");
  EXPECT_EQ(run("PASS secret\r\n"), "-ERR Send USER first\r\n");
  EXPECT_EQ(s_->current_state(), state::Authorization);
  EXPECT_EQ(opens_, 0);
}

TEST_F(Pop3SessionTest, PasswordMayHoldSpaces) {
  password_ = "two words ";
  restart();
  EXPECT_EQ(run("USER alice\r\nPASS two words \r\n").substr(0, 18), "+OK\r\n+OK Logged in");
}

TEST_F(Pop3SessionTest, UnknownUserLooksLikeAWrongPassword) {
  EXPECT_EQ(run("USER nobody@example.test\r\nPASS secret\r\n"),
            "+OK\r\n-ERR [AUTH] Authentication failed\r\n");
}

TEST_F(Pop3SessionTest, UserWithoutNameAndPassWithoutUser) {
  EXPECT_EQ(run("USER\r\n"), "-ERR USER needs a name\r\n");
  EXPECT_EQ(run("PASS x\r\n"), "-ERR Send USER first\r\n");
}

TEST_F(Pop3SessionTest, NoPasswordOverPlaintextUnlessAllowed) {
  settings_.allow_plaintext_auth = false;
  restart();
  const std::string refused =
      "-ERR [AUTH] Plaintext authentication disallowed on non-secure (SSL/TLS) connections.\r\n";
  EXPECT_EQ(run("USER alice\r\n"), refused);
  EXPECT_EQ(run("PASS secret\r\n"), refused);
  EXPECT_EQ(run("AUTH PLAIN\r\n"), refused);
  const std::string capa = run("CAPA\r\n");
  EXPECT_EQ(capa.find("USER\r\n"), std::string::npos) << capa;
  EXPECT_EQ(capa.find("SASL"), std::string::npos) << capa;
  EXPECT_NE(capa.find("STLS\r\n"), std::string::npos) << capa;
  // After STLS both are offered and work.
  EXPECT_EQ(run("STLS\r\n"), "+OK Begin TLS negotiation now\r\n");
  EXPECT_TRUE(s_->tls_active());
  const std::string after = run("CAPA\r\n");
  EXPECT_NE(after.find("USER\r\n"), std::string::npos) << after;
  EXPECT_NE(after.find("SASL PLAIN LOGIN\r\n"), std::string::npos) << after;
  EXPECT_EQ(after.find("STLS"), std::string::npos) << after;
  EXPECT_EQ(login().substr(0, 18), "+OK\r\n+OK Logged in");
}

TEST_F(Pop3SessionTest, CapaListsTheCapabilities) {
  EXPECT_EQ(run("CAPA\r\n"),
            "+OK Capability list follows\r\nTOP\r\nUSER\r\nSASL PLAIN LOGIN\r\n"
            "RESP-CODES\r\nAUTH-RESP-CODE\r\nPIPELINING\r\nUIDL\r\nSTLS\r\n"
            "IMPLEMENTATION posthorn\r\n.\r\n");
  login();
  // In TRANSACTION: no USER, SASL or STLS (RFC 2449 §5).
  EXPECT_EQ(run("CAPA\r\n"),
            "+OK Capability list follows\r\nTOP\r\nRESP-CODES\r\nAUTH-RESP-CODE\r\nPIPELINING\r\n"
            "UIDL\r\nIMPLEMENTATION posthorn\r\n.\r\n");
}

TEST_F(Pop3SessionTest, WithoutScramLookupOnlyPasswordMechanisms) {
  const std::string capa = run("CAPA\r\n");
  EXPECT_NE(capa.find("SASL PLAIN LOGIN\r\n"), std::string::npos) << capa;
  EXPECT_EQ(run("AUTH SCRAM-SHA-256\r\n"), "-ERR Unsupported authentication mechanism\r\n");
}

TEST_F(Pop3SessionTest, StlsErrors) {
  settings_.tls_available = false;
  restart();
  EXPECT_EQ(run("STLS\r\n"), "-ERR STLS is not available\r\n");
  settings_.tls_available = true;
  restart();
  EXPECT_EQ(run("USER alice\r\nSTLS\r\n"), "+OK\r\n-ERR STLS after USER\r\n");
  restart();
  run("STLS\r\n");
  EXPECT_EQ(run("STLS\r\n"), "-ERR TLS is already active\r\n");
  login();
  EXPECT_EQ(run("STLS\r\n"), "-ERR Command not valid after login\r\n");
}

// CVE-2011-0411: commands pipelined after STLS are not run.
TEST_F(Pop3SessionTest, InputAfterStlsIsDropped) {
  EXPECT_EQ(run("STLS\r\nUSER alice\r\nPASS secret\r\n"), "+OK Begin TLS negotiation now\r\n");
  EXPECT_EQ(verifications_, 0);
  EXPECT_EQ(run("PASS secret\r\n"), "-ERR Send USER first\r\n");
}

TEST_F(Pop3SessionTest, AuthPlainWithInitialResponse) {
  const std::string ir = auth::base64_encode(std::string("\0alice@example.test\0secret", 26));
  EXPECT_EQ(run("AUTH PLAIN " + ir + "\r\n").substr(0, 16), "+OK Logged in, 2");
}

TEST_F(Pop3SessionTest, AuthPlainWithChallengeAndFailure) {
  EXPECT_EQ(run("AUTH PLAIN\r\n"), "+ \r\n");
  const std::string bad = auth::base64_encode(std::string("\0alice\0nope", 11));
  EXPECT_EQ(run(bad + "\r\n"), "-ERR [AUTH] Authentication failed\r\n");
  EXPECT_EQ(s_->current_state(), state::Authorization);
}

TEST_F(Pop3SessionTest, AuthLoginTwoChallenges) {
  EXPECT_EQ(run("AUTH LOGIN\r\n"), "+ VXNlcm5hbWU6\r\n");
  EXPECT_EQ(run(auth::base64_encode("alice") + "\r\n"), "+ UGFzc3dvcmQ6\r\n");
  EXPECT_EQ(run(auth::base64_encode("secret") + "\r\n").substr(0, 13), "+OK Logged in");
}

TEST_F(Pop3SessionTest, AuthCancelAndBadBase64AndUnknownMechanism) {
  EXPECT_EQ(run("AUTH PLAIN\r\n*\r\n"), "+ \r\n-ERR Authentication cancelled\r\n");
  EXPECT_EQ(run("AUTH PLAIN\r\n!!!\r\n").substr(0, 16), "+ \r\n-ERR [AUTH] ");
  EXPECT_EQ(run("AUTH CRAM-MD5\r\n"), "-ERR Unsupported authentication mechanism\r\n");
  EXPECT_EQ(run("AUTH SCRAM-SHA-256-PLUS\r\n"), "-ERR Unsupported authentication mechanism\r\n");
  EXPECT_EQ(verifications_, 0);
}

TEST_F(Pop3SessionTest, BareAuthListsMechanisms) {
  EXPECT_EQ(run("AUTH\r\n"), "+OK\r\nPLAIN\r\nLOGIN\r\n.\r\n");
}

TEST_F(Pop3SessionTest, TooManyFailuresCloses) {
  blocked_ = true;
  restart();
  EXPECT_EQ(run("USER alice\r\nPASS x\r\nNOOP\r\n"),
            "+OK\r\n-ERR [AUTH] Too many failed logins, try again later\r\n");
  EXPECT_TRUE(closed_);
}

TEST_F(Pop3SessionTest, MailboxInUseStaysInAuthorization) {
  mailbox_error_ = true;
  restart();
  EXPECT_EQ(login(), "+OK\r\n-ERR [IN-USE] Mailbox is locked by another POP3 session\r\n");
  EXPECT_EQ(s_->current_state(), state::Authorization);
  mailbox_error_ = false;
  EXPECT_EQ(login(), "+OK\r\n-ERR [SYS/TEMP] Mailbox cannot be opened now, try again later\r\n");
  mailbox_error_.reset();
  EXPECT_EQ(login().substr(0, 18), "+OK\r\n+OK Logged in");
}

TEST_F(Pop3SessionTest, TransactionCommandsNeedLogin) {
  for (const char* c : {"STAT", "LIST", "RETR 1", "DELE 1", "NOOP", "RSET", "TOP 1 0", "UIDL"}) {
    EXPECT_EQ(run(std::string(c) + "\r\n"), "-ERR Not logged in\r\n") << c;
    restart();
  }
}

TEST_F(Pop3SessionTest, AuthorizationCommandsAfterLogin) {
  login();
  for (const char* c : {"USER a", "PASS b", "AUTH PLAIN", "APOP a b"}) {
    EXPECT_EQ(run(std::string(c) + "\r\n"), "-ERR Command not valid after login\r\n") << c;
  }
}

TEST_F(Pop3SessionTest, ApopAndUnknownCommands) {
  EXPECT_EQ(run("APOP alice 0123456789abcdef0123456789abcdef\r\n"),
            "-ERR APOP is not supported\r\n");
  EXPECT_EQ(run("XYZZY\r\n"), "-ERR Unknown command\r\n");
  EXPECT_EQ(run("\r\n"), "-ERR Unknown command\r\n");
}

TEST_F(Pop3SessionTest, StatListUidl) {
  login();
  const std::uint64_t a = box_[0].size, b = box_[1].size;
  EXPECT_EQ(run("STAT\r\n"), "+OK 2 " + std::to_string(a + b) + "\r\n");
  EXPECT_EQ(run("LIST\r\n"), "+OK 2 messages (" + std::to_string(a + b) + " octets)\r\n1 " +
                                 std::to_string(a) + "\r\n2 " + std::to_string(b) + "\r\n.\r\n");
  EXPECT_EQ(run("LIST 2\r\n"), "+OK 2 " + std::to_string(b) + "\r\n");
  EXPECT_EQ(run("UIDL\r\n"),
            "+OK Unique-ID listing follows\r\n1 1000.A.host\r\n2 1001.B.host\r\n.\r\n");
  EXPECT_EQ(run("uidl 1\r\n"), "+OK 1 1000.A.host\r\n");
}

TEST_F(Pop3SessionTest, MessageNumberErrors) {
  settings_.max_errors = 0;
  restart();
  login();
  EXPECT_EQ(run("LIST 3\r\n"), "-ERR There is no message 3\r\n");
  EXPECT_EQ(run("LIST 0\r\n"), "-ERR Invalid message number\r\n");
  EXPECT_EQ(run("LIST -1\r\n"), "-ERR Invalid message number\r\n");
  EXPECT_EQ(run("LIST 1x\r\n"), "-ERR Invalid message number\r\n");
  EXPECT_EQ(run("LIST 99999999999999999999999\r\n"), "-ERR Invalid message number\r\n");
  EXPECT_EQ(run("LIST 1 2\r\n"), "-ERR Too many arguments\r\n");
  EXPECT_EQ(run("RETR\r\n"), "-ERR Invalid message number\r\n");
  EXPECT_EQ(run("RETR 1 2\r\n"), "-ERR Too many arguments\r\n");
  EXPECT_EQ(run("DELE\r\n"), "-ERR Invalid message number\r\n");
  EXPECT_EQ(run("TOP 1\r\n"), "-ERR TOP needs a message number and a line count\r\n");
  EXPECT_EQ(run("TOP 1 x\r\n"), "-ERR Invalid line count\r\n");
  EXPECT_EQ(run("TOP 3 1\r\n"), "-ERR There is no message 3\r\n");
}

TEST_F(Pop3SessionTest, RetrSendsCrlfDotStuffedAndExactOctets) {
  login();
  EXPECT_EQ(run("RETR 2\r\n"), "+OK " + std::to_string(box_[1].size) +
                                   " octets\r\nSubject: two\r\n\r\nline 1\r\n..dot\r\nline 3\r\n"
                                   ".\r\n");
  EXPECT_EQ(std::string("Subject: two\r\n\r\nline 1\r\n.dot\r\nline 3\r\n").size(), box_[1].size);
}

TEST_F(Pop3SessionTest, TopSendsHeaderAndLines) {
  login();
  EXPECT_EQ(run("TOP 2 0\r\n"), "+OK Top of message follows\r\nSubject: two\r\n\r\n.\r\n");
  EXPECT_EQ(run("TOP 2 2\r\n"),
            "+OK Top of message follows\r\nSubject: two\r\n\r\nline 1\r\n..dot\r\n.\r\n");
  EXPECT_EQ(run("TOP 2 100\r\n"),
            "+OK Top of message follows\r\nSubject: two\r\n\r\nline 1\r\n"
            "..dot\r\nline 3\r\n.\r\n");
}

TEST_F(Pop3SessionTest, RetrOfAVanishedFileIsSysTemp) {
  files_.erase(box_[0].name);
  login();
  EXPECT_EQ(run("RETR 1\r\n"), "-ERR [SYS/TEMP] Message 1 cannot be read now\r\n");
  EXPECT_EQ(run("NOOP\r\n"), "+OK\r\n");
}

TEST_F(Pop3SessionTest, DeleHidesTheMessageAndRsetBringsItBack) {
  login();
  const std::uint64_t b = box_[1].size;
  EXPECT_EQ(run("DELE 1\r\n"), "+OK Marked to be deleted\r\n");
  EXPECT_EQ(run("DELE 1\r\n"), "-ERR Message 1 is deleted\r\n");
  EXPECT_EQ(run("RETR 1\r\n"), "-ERR Message 1 is deleted\r\n");
  EXPECT_EQ(run("LIST 1\r\n"), "-ERR Message 1 is deleted\r\n");
  EXPECT_EQ(run("STAT\r\n"), "+OK 1 " + std::to_string(b) + "\r\n");
  EXPECT_EQ(run("LIST\r\n"), "+OK 1 messages (" + std::to_string(b) + " octets)\r\n2 " +
                                 std::to_string(b) + "\r\n.\r\n");
  EXPECT_EQ(run("UIDL\r\n"), "+OK Unique-ID listing follows\r\n2 1001.B.host\r\n.\r\n");
  EXPECT_EQ(run("RSET\r\n"),
            "+OK 2 messages (" + std::to_string(box_[0].size + b) + " octets)\r\n");
  EXPECT_EQ(run("STAT\r\n"), "+OK 2 " + std::to_string(box_[0].size + b) + "\r\n");
}

TEST_F(Pop3SessionTest, QuitAppliesDeletionsAndSeenMarks) {
  login();
  run("RETR 2\r\nDELE 1\r\nTOP 1 0\r\n");
  EXPECT_EQ(run("QUIT\r\n"), "+OK Logging out, 1 deleted, 1 left\r\n");
  EXPECT_TRUE(closed_);
  ASSERT_EQ(updates_.size(), 1u);
  EXPECT_EQ(updates_[0].deleted, (std::vector<bool>{true, false}));
  EXPECT_EQ(updates_[0].retrieved, (std::vector<bool>{false, true}));
}

TEST_F(Pop3SessionTest, RsetForgetsDeletionsAndSeenMarks) {
  login();
  run("RETR 2\r\nDELE 1\r\nRSET\r\n");
  run("QUIT\r\n");
  ASSERT_EQ(updates_.size(), 1u);
  EXPECT_EQ(updates_[0].deleted, (std::vector<bool>{false, false}));
  EXPECT_EQ(updates_[0].retrieved, (std::vector<bool>{false, false}));
}

TEST_F(Pop3SessionTest, QuitBeforeLoginChangesNothing) {
  EXPECT_EQ(run("QUIT\r\n"), "+OK Logging out\r\n");
  EXPECT_TRUE(closed_);
  EXPECT_TRUE(updates_.empty());
}

TEST_F(Pop3SessionTest, TimeoutAndShutdownCloseWithoutUpdate) {
  login();
  run("DELE 1\r\n");
  s_->timeout();
  EXPECT_EQ(s_->output(), "-ERR Disconnected for inactivity\r\n");
  EXPECT_TRUE(s_->closing());
  EXPECT_TRUE(updates_.empty());
  restart();
  s_->shutdown();
  EXPECT_EQ(s_->output(), "-ERR [SYS/TEMP] Server shutting down\r\n");
}

TEST_F(Pop3SessionTest, TooManyErrorsClose) {
  settings_.max_errors = 3;
  restart();
  EXPECT_EQ(run("A\r\nB\r\nC\r\nNOOP\r\n"),
            "-ERR Unknown command\r\n-ERR Unknown command\r\n-ERR Unknown command\r\n"
            "-ERR Too many invalid commands, closing\r\n");
  EXPECT_TRUE(closed_);
}

TEST_F(Pop3SessionTest, OverlongLineIsRefusedAndTheNextLineWorks) {
  EXPECT_EQ(run(std::string(20000, 'A') + "\r\nCAPA\r\n").substr(0, 43),
            "-ERR Line too long\r\n+OK Capability list fol");
}

TEST_F(Pop3SessionTest, CommandsAreCaseInsensitiveAndBareLfEndsALine) {
  EXPECT_EQ(run("user alice\npass secret\nstat\n").substr(0, 18), "+OK\r\n+OK Logged in");
}

// RFC 2449 §6.6: pipelined commands get their replies in order, wherever reads end.
TEST_F(Pop3SessionTest, PipelinedSessionSplitAtEveryOffset) {
  const std::string script = login_script() +
                             "STAT\r\nLIST\r\nUIDL 2\r\nRETR 2\r\nDELE 1\r\n"
                             "TOP 2 1\r\nNOOP\r\nQUIT\r\n";
  restart();
  const std::string whole = run(script);
  ASSERT_TRUE(closed_);
  EXPECT_NE(whole.find("..dot"), std::string::npos);
  for (std::size_t cut = 0; cut <= script.size(); ++cut) {
    restart();
    const std::string_view v = script;
    EXPECT_EQ(run_pieces({v.substr(0, cut), v.substr(cut)}), whole) << "cut at " << cut;
    ASSERT_EQ(updates_.size(), 1u);
  }
  restart();
  std::vector<std::string_view> bytes;
  for (std::size_t i = 0; i < script.size(); ++i) {
    bytes.push_back(std::string_view(script).substr(i, 1));
  }
  EXPECT_EQ(run_pieces(bytes), whole);
}

// A big listing is produced in pieces: pending output stays near the limit.
TEST_F(Pop3SessionTest, LongListingsAreFlushedInPieces) {
  box_.clear();
  for (int i = 0; i < 5000; ++i) {
    add_message("m" + std::to_string(100000 + i), "x\n", "u" + std::to_string(i));
  }
  settings_.output_limit = 1024;
  restart();
  login();
  flushes_ = 0;
  std::string_view in = "UIDL\r\nLIST\r\nNOOP\r\n";
  std::string out;
  std::size_t most = 0;
  while (true) {
    const action a = s_->feed(in);
    most = std::max(most, s_->output().size());
    out += s_->output();
    s_->output().clear();
    if (a == action::Read) {
      break;
    }
    ASSERT_EQ(a, action::Flush);
  }
  EXPECT_LT(most, 1024u + 64);
  EXPECT_NE(out.find("\r\n5000 u4999\r\n.\r\n+OK 5000 messages"), std::string::npos);
  EXPECT_TRUE(out.ends_with("\r\n5000 3\r\n.\r\n+OK\r\n"));
}

// SCRAM-SHA-256 (RFC 7677) over POP3: the proof is checked in the exchange; the
// server-final message comes as a "+" challenge answered by an empty line.
TEST_F(Pop3SessionTest, ScramLoginEndsWithServerFinalAndEmptyLine) {
  auto secrets = auth::scram_derive("pencil", "0123456789abcdef", 4096);
  ASSERT_TRUE(secrets);
  settings_.scram_lookup =
      [s = *secrets](std::string_view who) -> std::optional<auth::scram_secrets> {
    if (who == "alice") {
      return s;
    }
    return std::nullopt;
  };
  restart();
  EXPECT_NE(run("CAPA\r\n").find("SASL SCRAM-SHA-256 PLAIN LOGIN\r\n"), std::string::npos);
  const std::string first =
      run("AUTH SCRAM-SHA-256 " + auth::base64_encode("n,,n=alice,r=abc") + "\r\n");
  ASSERT_EQ(first.substr(0, 2), "+ ");
  auto server_first = auth::base64_decode(first.substr(2, first.size() - 4));
  ASSERT_TRUE(server_first);
  EXPECT_EQ(server_first->view().substr(0, 5), "r=abc");
  // A wrong proof: refused.
  std::string sf(server_first->view());
  std::string nonce = sf.substr(2, sf.find(',') - 2);
  std::string bad = "c=biws,r=" + nonce + ",p=" + auth::base64_encode(std::string(32, 'x'));
  EXPECT_EQ(run(auth::base64_encode(bad) + "\r\n"), "-ERR [AUTH] Authentication failed\r\n");
}

}  // namespace
}  // namespace posthorn::pop3
