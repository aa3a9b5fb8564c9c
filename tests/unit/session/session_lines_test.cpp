// One CRLF-ended line is one command with one reply, whatever bare LF or CR it holds;
// VRFY and EXPN with the SMTPUTF8 parameter (RFC 6531 §3.7.4.2).

#include <gtest/gtest.h>

#include <string>

#include "session_driver.hpp"

namespace posthorn::smtp {
namespace {

using testing_support::session_driver;

class SessionLinesTest : public session_driver {};

constexpr std::string_view k_bare_lf =
    "500 5.5.2 Error: bare <LF> received; lines must end with <CR><LF>\r\n";

TEST_F(SessionLinesTest, ABareLfDoesNotSplitACommand) {
  // The text after the LF is not run: one reply for the whole line, then the next.
  const std::string script = "EHLO a\nMAIL FROM:<x@remote.test>\r\nNOOP\r\n";
  for (std::size_t cut = 0; cut <= script.size(); ++cut) {
    restart();
    EXPECT_EQ(
        run_pieces({std::string_view(script).substr(0, cut), std::string_view(script).substr(cut)}),
        std::string(k_bare_lf) + "250 2.0.0 Ok\r\n")
        << "cut at " << cut;
  }
  // Nothing of the line took effect: no EHLO, so MAIL is out of sequence.
  EXPECT_EQ(run("MAIL FROM:<x@remote.test>\r\n").substr(0, 10), "503 5.5.1 ");
  EXPECT_EQ(run("NOOP\nNOOP\r\n"), k_bare_lf);
  EXPECT_EQ(run("\n\r\n"), k_bare_lf);
  // SMTP smuggling shapes in command mode: one line, one reply, nothing runs.
  run("EHLO c\r\n");
  EXPECT_EQ(run("RSET\n.\nMAIL FROM:<evil@remote.test>\r\nNOOP\r\n"),
            std::string(k_bare_lf) + "250 2.0.0 Ok\r\n");
  EXPECT_EQ(run("MAIL FROM:<a@remote.test>\r\n"), "250 2.1.0 Ok\r\n");
}

TEST_F(SessionLinesTest, ABareCrIsOneReplyToo) {
  EXPECT_EQ(run("NOOP\rNOOP\r\nNOOP\r\n"),
            "500 5.5.2 Error: bare <CR> received; lines must end with <CR><LF>\r\n"
            "250 2.0.0 Ok\r\n");
}

TEST_F(SessionLinesTest, AnLfOnlyClientGetsOneReplyPerCrlf) {
  // Lines ended by LF alone pile up into one over-long line, answered once.
  std::string lf_lines;
  for (int i = 0; i < 200; ++i) {
    lf_lines += "NOOP\n";
  }
  EXPECT_EQ(run(lf_lines), "");
  EXPECT_EQ(run("\r\nNOOP\r\n"), "500 5.5.2 Error: command line too long\r\n250 2.0.0 Ok\r\n");
}

TEST_F(SessionLinesTest, VrfyAndExpnTakeTheSmtputf8Parameter) {
  run("EHLO c\r\n");
  EXPECT_EQ(run("EXPN team@example.test SMTPUTF8\r\n"),
            "250-2.1.5 <alice@example.test>\r\n250 2.1.5 <bob@example.test>\r\n");
  EXPECT_EQ(run("VRFY bob@example.test SMTPUTF8\r\n"), "250 2.1.5 <bob@example.test>\r\n");
  EXPECT_EQ(run("VRFY <bob@example.test> smtputf8\r\n"), "250 2.1.5 <bob@example.test>\r\n");
  EXPECT_EQ(run("VRFY bob SMTPUTF8\r\n"), "250 2.1.5 <bob@example.test>\r\n");
  EXPECT_EQ(run("VRFY nobody@example.test SMTPUTF8\r\n").substr(0, 10), "550 5.1.1 ");
  EXPECT_EQ(run("VRFY SMTPUTF8\r\n").substr(0, 10), "550 5.1.1 ");  // a name, no parameter
}

TEST_F(SessionLinesTest, Utf8RepliesOnlyForClientsThatSentSmtputf8) {
  run("EHLO c\r\n");
  EXPECT_EQ(run("VRFY j\xc3\xb6rg@example.test SMTPUTF8\r\n"),
            "250 2.1.5 <j\xc3\xb6rg@example.test>\r\n");
  EXPECT_EQ(run("EXPN intl@example.test SMTPUTF8\r\n"),
            "250-2.1.5 <j\xc3\xb6rg@example.test>\r\n250 2.1.5 <bob@example.test>\r\n");
  // RFC 6531 §3.7.4.2: without the parameter the reply may not hold UTF-8.
  EXPECT_EQ(run("EXPN intl@example.test\r\n"),
            "553 5.6.8 Error: the reply needs UTF-8; send the SMTPUTF8 parameter\r\n");
  EXPECT_EQ(run("VRFY j\xc3\xb6rg@example.test\r\n"),
            "553 5.6.8 Error: a UTF-8 string needs the SMTPUTF8 parameter\r\n");
  EXPECT_EQ(run("EXPN team@example.test\r\n"),
            "250-2.1.5 <alice@example.test>\r\n250 2.1.5 <bob@example.test>\r\n");
}

TEST_F(SessionLinesTest, Smtputf8ParameterNeedsEhlo) {
  run("HELO c\r\n");
  EXPECT_EQ(run("VRFY bob SMTPUTF8\r\n"), "555 5.5.4 Error: parameters need EHLO\r\n");
  EXPECT_EQ(run("VRFY bob\r\n"), "250 2.1.5 <bob@example.test>\r\n");
}

TEST_F(SessionLinesTest, DisabledVrfyAndExpnStaySilentWithTheParameter) {
  settings_.vrfy = false;
  settings_.expn = false;
  restart();
  run("EHLO c\r\n");
  EXPECT_EQ(run("VRFY bob SMTPUTF8\r\n").substr(0, 10), "252 2.1.5 ");
  EXPECT_EQ(run("EXPN team@example.test SMTPUTF8\r\n").substr(0, 10), "502 5.5.1 ");
}

}  // namespace
}  // namespace posthorn::smtp
