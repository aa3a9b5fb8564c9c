// CHUNKING and BINARYMIME (RFC 3030) on the client side: BDAT chunks with exact sizes,
// no dot-stuffing, pipelined chunks, refusals; BINARYMIME only to peers offering it.

#include <gtest/gtest.h>

#include <string>

#include "script.hpp"
#include "smtp/client/client.hpp"

namespace posthorn::smtp {
namespace {

using queue::rcpt_status;
using test::for_each_cut;
using test::script;

constexpr std::string_view k_message = "Subject: hi\r\n\r\n.dot line\r\nend\r\n";

client_transaction txn(std::string_view message, std::size_t rcpts = 1) {
  client_transaction t;
  t.sender = mail::address{"alice", "example.test"};
  for (std::size_t i = 0; i < rcpts; ++i) {
    t.recipients.push_back(
        client_recipient{mail::address{"r" + std::to_string(i), "example.net"}, 0, ""});
  }
  t.message = message;
  return t;
}

void open(script& s, std::string_view keywords) {
  ASSERT_EQ(s.answer("220 mx.example.net ESMTP\r\n"), client_action::Read);
  ASSERT_EQ(s.written(), "EHLO client.example.test\r\n");
  ASSERT_EQ(
      s.answer("250-mx.example.net\r\n" + std::string(keywords) + "250 ENHANCEDSTATUSCODES\r\n"),
      client_action::Ready);
}

TEST(ClientChunking, SmallMessageIsOneLastChunkWithoutDotStuffing) {
  for_each_cut([](std::size_t cut) {
    client c("client.example.test", false);
    script s(c, cut);
    open(s, "250-PIPELINING\r\n250-CHUNKING\r\n");
    EXPECT_EQ(c.begin(txn(k_message)), client_action::Read);
    EXPECT_EQ(s.written(), "MAIL FROM:<alice@example.test>\r\nRCPT TO:<r0@example.net>\r\n");
    // The chunk waits for the last RCPT reply.
    client_action a = s.answer("250 2.1.0 ok\r\n250 2.1.5 ok\r\n");
    EXPECT_EQ(a, client_action::Write);
    EXPECT_EQ(s.send_message(a),
              "BDAT " + std::to_string(k_message.size()) + " LAST\r\n" + std::string(k_message));
    EXPECT_EQ(a, client_action::Read);
    EXPECT_EQ(c.phase(), client_phase::DataTerm);
    EXPECT_EQ(s.answer("250 2.0.0 Ok: queued as 1\r\n"), client_action::Ready);
    auto r = c.take_result();
    ASSERT_TRUE(r);
    EXPECT_EQ(r->recipients[0].status, rcpt_status::Delivered);
    EXPECT_EQ(r->recipients[0].reply, "250 2.0.0 Ok: queued as 1");
    EXPECT_TRUE(r->data_sent);
  });
}

// 200 KiB: four chunks of at most 64 KiB, pipelined; the octets add up exactly.
TEST(ClientChunking, LargeMessageGoesInPipelinedChunks) {
  std::string message = "Subject: big\r\n\r\n";
  while (message.size() < 200 * 1024) {
    message += ".a line that DATA would dot-stuff\r\n";
  }
  client c("client.example.test", false);
  script s(c, 0);
  open(s, "250-PIPELINING\r\n250-CHUNKING\r\n");
  c.begin(txn(message));
  s.written();
  client_action a = s.answer("250 ok\r\n250 ok\r\n");
  const std::string wire = s.send_message(a);
  EXPECT_EQ(a, client_action::Read);
  // Take the chunks apart again.
  std::string got;
  std::size_t pos = 0;
  std::size_t chunks = 0;
  bool last = false;
  while (pos < wire.size()) {
    const std::size_t eol = wire.find("\r\n", pos);
    ASSERT_NE(eol, std::string::npos);
    const std::string cmd = wire.substr(pos, eol - pos);
    ASSERT_TRUE(cmd.starts_with("BDAT ")) << cmd;
    ASSERT_FALSE(last) << "nothing after LAST";
    last = cmd.ends_with(" LAST");
    const std::size_t n = std::stoul(cmd.substr(5));
    EXPECT_LE(n, 64u * 1024);
    got += wire.substr(eol + 2, n);
    pos = eol + 2 + n;
    ++chunks;
  }
  EXPECT_TRUE(last);
  EXPECT_EQ(chunks, 4u);
  EXPECT_EQ(got, message);
  EXPECT_EQ(s.answer("250 ok\r\n250 ok\r\n250 ok\r\n250 2.0.0 queued\r\n"), client_action::Ready);
  EXPECT_EQ(c.take_result()->recipients[0].status, rcpt_status::Delivered);
}

// Without PIPELINING each chunk waits for the reply to the one before (RFC 3030 §4.2).
TEST(ClientChunking, LockStepWithoutPipelining) {
  const std::string message(70 * 1024, 'x');
  client c("client.example.test", false);
  script s(c, 0);
  open(s, "250-CHUNKING\r\n");
  c.begin(txn(message));
  EXPECT_EQ(s.written(), "MAIL FROM:<alice@example.test>\r\n");
  EXPECT_EQ(s.answer("250 ok\r\n"), client_action::Read);
  EXPECT_EQ(s.written(), "RCPT TO:<r0@example.net>\r\n");
  client_action a = s.answer("250 ok\r\n");
  ASSERT_EQ(a, client_action::Write);
  a = c.more();
  EXPECT_EQ(a, client_action::Read);
  EXPECT_EQ(s.written(), "BDAT 65536\r\n" + message.substr(0, 65536));
  a = s.answer("250 2.0.0 65536 octets\r\n");
  ASSERT_EQ(a, client_action::Write);
  a = c.more();
  EXPECT_EQ(s.written(), "BDAT " + std::to_string(message.size() - 65536 + 2) + " LAST\r\n" +
                             message.substr(65536) + "\r\n");
  EXPECT_EQ(a, client_action::Read);
  EXPECT_EQ(s.answer("250 2.0.0 queued\r\n"), client_action::Ready);
}

TEST(ClientChunking, RefusedChunkFailsTheTransactionAndStopsSending) {
  const std::string message(150 * 1024, 'y');
  client c("client.example.test", false);
  script s(c, 0);
  open(s, "250-CHUNKING\r\n");
  c.begin(txn(message));
  s.answer("250 ok\r\n");
  ASSERT_EQ(s.answer("250 ok\r\n"), client_action::Write);
  EXPECT_EQ(c.more(), client_action::Read);
  s.written();
  EXPECT_EQ(s.answer("552 5.3.4 Message too big\r\n"), client_action::Ready);
  EXPECT_EQ(s.written(), "");
  auto r = c.take_result();
  EXPECT_EQ(r->recipients[0].status, rcpt_status::Failed);
  EXPECT_EQ(r->recipients[0].dsn, "5.3.4");
  EXPECT_FALSE(r->data_sent);
  // The next transaction starts with RSET (RFC 3030 §2).
  c.begin(txn("x\r\n"));
  EXPECT_EQ(s.written(), "RSET\r\n");
}

TEST(ClientChunking, NoChunkWhenEveryRecipientIsRefused) {
  client c("client.example.test", false);
  script s(c, 0);
  open(s, "250-PIPELINING\r\n250-CHUNKING\r\n");
  c.begin(txn(k_message, 2));
  s.written();
  EXPECT_EQ(s.answer("250 ok\r\n550 5.1.1 no\r\n451 4.3.0 later\r\n"), client_action::Ready);
  EXPECT_EQ(s.written(), "");
  auto r = c.take_result();
  EXPECT_EQ(r->recipients[0].dsn, "5.1.1");
  EXPECT_EQ(r->recipients[1].status, rcpt_status::Deferred);
  EXPECT_EQ(r->recipients[1].source, outcome_source::Peer);
}

TEST(ClientBinaryMime, NeedsChunkingAndBinaryMimeAtThePeer) {
  const std::string binary = std::string("Subject: bin\r\n\r\n") + '\0' + "\r\x01\n\xff" + "x";
  for (const std::string_view keywords :
       {"250-PIPELINING\r\n250-8BITMIME\r\n", "250-CHUNKING\r\n250-8BITMIME\r\n",
        "250-BINARYMIME\r\n"}) {
    client c("client.example.test", false);
    script s(c, 0);
    open(s, keywords);
    client_transaction t = txn(binary);
    t.body = queue::body_type::BinaryMime;
    EXPECT_EQ(c.begin(t), client_action::Ready);
    EXPECT_EQ(s.written(), "");
    auto r = c.take_result();
    EXPECT_EQ(r->recipients[0].status, rcpt_status::Failed);
    EXPECT_EQ(r->recipients[0].dsn, "5.6.3");
    EXPECT_EQ(r->recipients[0].source, outcome_source::Local);
    EXPECT_NE(r->recipients[0].reply.find("the peer does not support BINARYMIME"),
              std::string::npos);
  }
  // Both offered: BODY=BINARYMIME and every octet as it is.
  client c("client.example.test", false);
  script s(c, 0);
  open(s, "250-PIPELINING\r\n250-CHUNKING\r\n250-BINARYMIME\r\n250-8BITMIME\r\n");
  client_transaction t = txn(binary);
  t.body = queue::body_type::BinaryMime;
  c.begin(t);
  EXPECT_EQ(s.written(),
            "MAIL FROM:<alice@example.test> BODY=BINARYMIME\r\nRCPT TO:<r0@example.net>\r\n");
  client_action a = s.answer("250 ok\r\n250 ok\r\n");
  EXPECT_EQ(s.send_message(a), "BDAT " + std::to_string(binary.size()) + " LAST\r\n" + binary);
}

}  // namespace
}  // namespace posthorn::smtp
