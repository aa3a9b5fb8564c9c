// CHUNKING and BINARYMIME on the server (RFC 3030): BDAT chunks go the same way into
// the spool as DATA, taken verbatim; the session stays in step whatever a chunk holds.

#include <gtest/gtest.h>

#include <string>

#include "session_driver.hpp"

namespace posthorn::smtp {
namespace {

using testing_support::session_driver;

constexpr std::string_view k_envelope =
    "EHLO c\r\nMAIL FROM:<a@remote.test>\r\nRCPT TO:<alice@example.test>\r\n";
constexpr std::string_view k_envelope_replies = "250 2.1.0 Ok\r\n250 2.1.5 Ok\r\n";

std::string bdat(std::string_view octets, bool last) {
  return "BDAT " + std::to_string(octets.size()) + (last ? " LAST" : "") + "\r\n" +
         std::string(octets);
}

// The replies after the EHLO reply.
std::string after_ehlo(const std::string& replies) {
  const std::size_t end = replies.find("250 HELP\r\n");
  return end == std::string::npos ? replies : replies.substr(end + 10);
}

class SessionBdatTest : public session_driver {};

TEST_F(SessionBdatTest, EhloOffersChunkingAndBinarymime) {
  const std::string r = run("EHLO c\r\n");
  EXPECT_NE(r.find("250-CHUNKING\r\n"), std::string::npos) << r;
  EXPECT_NE(r.find("250-BINARYMIME\r\n"), std::string::npos) << r;
  EXPECT_EQ(run("HELP BDAT\r\n").substr(0, 15), "214-2.0.0 BDAT ");
}

// One chunk with LAST, cut at every offset: the same reply and the same octets.
TEST_F(SessionBdatTest, SingleChunkIsQueuedVerbatimWhereverTheReadsEnd) {
  // Dots at line starts stay (no unstuffing); CRLF.CRLF does not end anything.
  const std::string content = "Subject: chunk\r\n\r\n.leading dot\r\n.\r\nQUIT\r\nend\r\n";
  const std::string script = std::string(k_envelope) + bdat(content, true) + "NOOP\r\n";
  for (std::size_t cut = 0; cut <= script.size(); ++cut) {
    restart();
    committed_.clear();
    const std::string r =
        run_pieces({std::string_view(script).substr(0, cut), std::string_view(script).substr(cut)});
    ASSERT_EQ(committed_.size(), 1u) << "cut at " << cut;
    EXPECT_EQ(after_ehlo(r), std::string(k_envelope_replies) + "250 2.0.0 Ok: queued as " +
                                 committed_[0].id + "\r\n250 2.0.0 Ok\r\n")
        << "cut at " << cut;
    EXPECT_EQ(content_of(committed_[0]), content) << "cut at " << cut;
  }
  // Byte by byte.
  restart();
  committed_.clear();
  std::vector<std::string_view> bytes;
  for (std::size_t i = 0; i < script.size(); ++i) {
    bytes.push_back(std::string_view(script).substr(i, 1));
  }
  run_pieces(bytes);
  ASSERT_EQ(committed_.size(), 1u);
  EXPECT_EQ(content_of(committed_[0]), content);
  EXPECT_EQ(committed_[0].protocol, "ESMTP");
  EXPECT_NE(body_of(committed_[0]).find("with ESMTP id " + committed_[0].id), std::string::npos);
}

TEST_F(SessionBdatTest, ManyChunksAndAnEmptyLastChunk) {
  run(k_envelope);
  EXPECT_EQ(run(bdat("Subject: many\r\n", false)), "250 2.0.0 Ok: 15 octets received\r\n");
  EXPECT_EQ(run(bdat("\r\nfirst ", false)), "250 2.0.0 Ok: 23 octets received\r\n");
  EXPECT_EQ(run("BDAT 0\r\n"), "250 2.0.0 Ok: 23 octets received\r\n");
  EXPECT_EQ(run(bdat("line\r\n", false)), "250 2.0.0 Ok: 29 octets received\r\n");
  const std::string r = run("BDAT 0 LAST\r\n");
  ASSERT_EQ(committed_.size(), 1u);
  EXPECT_EQ(r, "250 2.0.0 Ok: queued as " + committed_[0].id + "\r\n");
  EXPECT_EQ(content_of(committed_[0]), "Subject: many\r\n\r\nfirst line\r\n");
  // The transaction is over: the next BDAT has no MAIL.
  EXPECT_EQ(run(bdat("x", true)), "503 5.5.1 Error: need MAIL command\r\n");
}

TEST_F(SessionBdatTest, LowerCaseLastAndBdatZeroLastAlone) {
  run(k_envelope);
  const std::string r = run("bdat 0 last\r\n");
  ASSERT_EQ(committed_.size(), 1u);
  EXPECT_EQ(r, "250 2.0.0 Ok: queued as " + committed_[0].id + "\r\n");
  EXPECT_EQ(content_of(committed_[0]), "");
}

TEST_F(SessionBdatTest, PipelinedChunksAndQuitInOneRead) {
  const std::string r = run(std::string(k_envelope) + bdat("A: 1\r\n", false) +
                            bdat("\r\nbody\r\n", true) + "QUIT\r\n");
  ASSERT_EQ(committed_.size(), 1u);
  EXPECT_EQ(after_ehlo(r), std::string(k_envelope_replies) +
                               "250 2.0.0 Ok: 6 octets received\r\n"
                               "250 2.0.0 Ok: queued as " +
                               committed_[0].id + "\r\n221 mx.example.test closing connection\r\n");
  EXPECT_TRUE(session_->closing());
  EXPECT_EQ(content_of(committed_[0]), "A: 1\r\n\r\nbody\r\n");
}

TEST_F(SessionBdatTest, WithoutATransactionTheOctetsAreStillConsumed) {
  // Before EHLO, before MAIL, before RCPT: each chunk is read whole and refused, and
  // what it held ("QUIT") is never a command.
  EXPECT_EQ(run(bdat("QUIT\r\n", true) + "NOOP\r\n"),
            "503 5.5.1 Error: send HELO/EHLO first\r\n250 2.0.0 Ok\r\n");
  EXPECT_EQ(after_ehlo(run("EHLO c\r\n" + bdat("QUIT\r\n", false) + "NOOP\r\n")),
            "503 5.5.1 Error: need MAIL command\r\n250 2.0.0 Ok\r\n");
  EXPECT_EQ(run("MAIL FROM:<a@remote.test>\r\n" + bdat("QUIT\r\n", true) + "NOOP\r\n"),
            "250 2.1.0 Ok\r\n503 5.5.1 Error: need RCPT command\r\n250 2.0.0 Ok\r\n");
  EXPECT_EQ(run("RCPT TO:<nobody@example.test>\r\n" + bdat("x", true)).substr(0, 4), "550 ");
  EXPECT_EQ(run(bdat("x", true)),
            "503 5.5.1 Error: an earlier BDAT of this transaction "
            "failed; send RSET\r\n");
  EXPECT_FALSE(session_->closing());
  EXPECT_TRUE(committed_.empty());
}

TEST_F(SessionBdatTest, DataAfterBdatAndBdatAfterDataAre503) {
  run(k_envelope);
  EXPECT_EQ(run(bdat("A: 1\r\n", false)), "250 2.0.0 Ok: 6 octets received\r\n");
  EXPECT_EQ(run("DATA\r\n"),
            "503 5.5.1 Error: BDAT and DATA cannot be mixed in one transaction\r\n");
  // RFC 3030 §3: the transaction must be reset; later chunks are read and refused.
  EXPECT_EQ(run(bdat("\r\nx\r\n", true) + "NOOP\r\n"),
            "503 5.5.1 Error: an earlier BDAT of this transaction failed; send RSET\r\n"
            "250 2.0.0 Ok\r\n");
  EXPECT_TRUE(committed_.empty());
  EXPECT_EQ(run("RSET\r\n"), "250 2.0.0 Ok\r\n");

  // DATA refused before 354 (no recipient yet), then BDAT in the same transaction.
  run("MAIL FROM:<a@remote.test>\r\nRCPT TO:<alice@example.test>\r\n");
  EXPECT_EQ(run("DATA extra\r\n"), "501 5.5.4 Syntax: DATA\r\n");
  EXPECT_EQ(run(bdat("A: 1\r\n\r\n", true)),
            "503 5.5.1 Error: BDAT and DATA cannot be mixed in one transaction\r\n");
  EXPECT_TRUE(committed_.empty());

  // After RSET a whole new transaction with BDAT works.
  run("RSET\r\nMAIL FROM:<a@remote.test>\r\nRCPT TO:<alice@example.test>\r\n");
  run(bdat("A: 1\r\n\r\nok\r\n", true));
  ASSERT_EQ(committed_.size(), 1u);
  EXPECT_EQ(content_of(committed_[0]), "A: 1\r\n\r\nok\r\n");
}

TEST_F(SessionBdatTest, BinarymimeNeedsBdatAndKeepsEveryOctet) {
  run("EHLO c\r\n");
  EXPECT_EQ(run("MAIL FROM:<a@remote.test> BODY=BINARYMIME\r\n"), "250 2.1.0 Ok\r\n");
  run("RCPT TO:<alice@example.test>\r\n");
  EXPECT_EQ(run("DATA\r\n"), "503 5.5.1 Error: BODY=BINARYMIME needs BDAT, not DATA\r\n");
  // Told to use BDAT, the client can.
  std::string binary =
      "Content-Type: application/octet-stream\r\n"
      "Content-Transfer-Encoding: binary\r\n\r\n";
  for (int c = 0; c < 256; ++c) {
    binary += static_cast<char>(c);
  }
  binary += "\n.\n\r.\r\n.\r\n";
  run(bdat(binary.substr(0, 100), false));
  const std::string r = run(bdat(binary.substr(100), true));
  ASSERT_EQ(committed_.size(), 1u) << r;
  EXPECT_EQ(committed_[0].body, queue::body_type::BinaryMime);
  EXPECT_EQ(content_of(committed_[0]), binary);
}

TEST_F(SessionBdatTest, BareLineEndsIn8bitBodiesAreRefusedAfterTheLastChunk) {
  // Not a framing matter in BDAT, but an RFC 5322 message has CRLF lines only; the
  // same refusal as for DATA keeps the spool free of smuggling shapes.
  run(k_envelope);
  EXPECT_EQ(run(bdat("A: 1\r\n\r\nhello\n.\n", false)), "250 2.0.0 Ok: 16 octets received\r\n");
  EXPECT_EQ(run(bdat("end\r\n", true)).substr(0, 10), "550 5.6.0 ");
  EXPECT_TRUE(committed_.empty());
  // A CR at the very end of the last chunk is bare too.
  run("MAIL FROM:<a@remote.test>\r\nRCPT TO:<alice@example.test>\r\n");
  EXPECT_EQ(run(bdat("A: 1\r\n\r\nx\r", true)).substr(0, 10), "550 5.6.0 ");
  // A CRLF split across two chunks is a line end.
  run("MAIL FROM:<a@remote.test>\r\nRCPT TO:<alice@example.test>\r\n");
  EXPECT_EQ(run(bdat("A: 1\r", false)), "250 2.0.0 Ok: 5 octets received\r\n");
  run(bdat("\n\r\nx\r\n", true));
  ASSERT_EQ(committed_.size(), 1u);
  EXPECT_EQ(content_of(committed_[0]), "A: 1\r\n\r\nx\r\n");
}

TEST_F(SessionBdatTest, TotalOverTheLimitIs552AtLastAndTheSessionStaysInStep) {
  settings_.message_size = 100;
  restart();
  run(k_envelope);
  const std::string sixty(60, 'x');
  EXPECT_EQ(run(bdat(sixty, false)), "250 2.0.0 Ok: 60 octets received\r\n");
  EXPECT_EQ(run(bdat(sixty, false)), "250 2.0.0 Ok: 120 octets received\r\n");
  EXPECT_EQ(run(bdat(sixty, true) + "NOOP\r\n"),
            "552 5.3.4 Error: message size exceeds fixed limit\r\n250 2.0.0 Ok\r\n");
  EXPECT_TRUE(committed_.empty());
  // Exactly the limit is accepted.
  run("MAIL FROM:<a@remote.test>\r\nRCPT TO:<alice@example.test>\r\n");
  run(bdat(std::string(50, 'y'), false) + bdat(std::string(50, 'y'), true));
  ASSERT_EQ(committed_.size(), 1u);
  EXPECT_EQ(content_of(committed_[0]), std::string(100, 'y'));
}

TEST_F(SessionBdatTest, LargeChunksAreSpilledAndKeptWhole) {
  env_->memory_limit = 4096;
  restart();
  run(k_envelope);
  std::string content = "Subject: big\r\n\r\n";
  for (int i = 0; content.size() < 100'000; ++i) {
    content += "line " + std::to_string(i) + " of a chunked message\r\n";
  }
  const std::string script =
      bdat(content.substr(0, 40'000), false) + bdat(content.substr(40'000), true);
  // In 1000-octet reads, as a socket would deliver them.
  std::vector<std::string_view> reads;
  for (std::size_t at = 0; at < script.size(); at += 1000) {
    reads.push_back(std::string_view(script).substr(at, 1000));
  }
  run_pieces(reads);
  ASSERT_EQ(committed_.size(), 1u);
  EXPECT_GT(spills_, 0);
  EXPECT_EQ(content_of(committed_[0]), content);
}

TEST_F(SessionBdatTest, LoopDetectionCountsReceivedFieldsInChunks) {
  run(k_envelope);
  std::string header;
  for (int i = 0; i < 101; ++i) {
    header += "Received: from hop" + std::to_string(i) + "\r\n";
  }
  const std::string r = run(bdat(header, false) + bdat("\r\nbody\r\n", true));
  EXPECT_EQ(r.substr(r.find("\r\n") + 2), "554 5.4.6 Error: too many hops (mail loop?)\r\n");
  EXPECT_TRUE(committed_.empty());
}

TEST_F(SessionBdatTest, BadSizeSyntaxIs501AndCloses) {
  // The octet count is unknown, so the session cannot stay in step: 501, then 421.
  for (const std::string_view bad :
       {"BDAT\r\n", "BDAT x\r\n", "BDAT -1\r\n", "BDAT 1x\r\n", "BDAT 10 LASTX\r\n",
        "BDAT 10 LAST more\r\n", "BDAT 18446744073709551616\r\n",
        "BDAT 000000000000000000001\r\n"}) {
    restart();
    run(k_envelope);
    EXPECT_EQ(run(bad),
              "501 5.5.4 Syntax: BDAT <size> [LAST]\r\n"
              "421 4.7.0 mx.example.test Error: BDAT size unknown, closing connection\r\n")
        << bad;
    EXPECT_TRUE(session_->closing());
  }
}

TEST_F(SessionBdatTest, BdatIsCounted) {
  run(std::string(k_envelope) + bdat("x", false) + bdat("\r\n", true) + "DATA\r\nQUIT\r\n");
  EXPECT_EQ(session_->stats().summary(),
            "ehlo=1 mail=1 rcpt=1 data=0/1 bdat=2 quit=1 commands=6/7");
}

}  // namespace
}  // namespace posthorn::smtp
