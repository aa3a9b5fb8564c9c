// The client state machine in its LMTP dialect (RFC 2033): LHLO, no HELO fallback, no
// BDAT, and one reply per accepted recipient after the data; every answer cut at every
// offset.

#include <gtest/gtest.h>

#include <string>

#include "script.hpp"
#include "smtp/client/client.hpp"

namespace posthorn::smtp {
namespace {

using queue::rcpt_status;
using test::for_each_cut;
using test::script;

constexpr std::string_view k_message = "Subject: hi\r\n\r\nHello.\r\n";

client_transaction txn(std::vector<std::string> locals) {
  client_transaction t;
  t.sender = mail::address{"alice", "example.net"};
  for (const std::string& l : locals) {
    t.recipients.push_back(client_recipient{mail::address{l, "example.test"}, 0, ""});
  }
  t.message = k_message;
  return t;
}

void open(script& s, std::string_view lhlo_reply) {
  ASSERT_EQ(s.answer("220 box.example.test Dovecot ready.\r\n"), client_action::Read);
  ASSERT_EQ(s.written(), "LHLO mx.example.test\r\n");
  ASSERT_EQ(s.answer(lhlo_reply), client_action::Ready);
}

constexpr std::string_view k_lhlo =
    "250-box.example.test\r\n250-8BITMIME\r\n250-CHUNKING\r\n250-ENHANCEDSTATUSCODES\r\n"
    "250 PIPELINING\r\n";

TEST(ClientLmtp, OneReplyPerAcceptedRecipientAfterTheData) {
  for_each_cut([](std::size_t cut) {
    client c("mx.example.test", false, nullptr, client_dialect::Lmtp);
    script s(c, cut);
    open(s, k_lhlo);
    EXPECT_FALSE(c.extensions().chunking) << "BDAT is not used over LMTP";
    client_action a = c.begin(txn({"carol", "nobody", "dave", "erin"}));
    ASSERT_EQ(a, client_action::Read);
    EXPECT_EQ(s.written(),
              "MAIL FROM:<alice@example.net>\r\n"
              "RCPT TO:<carol@example.test>\r\nRCPT TO:<nobody@example.test>\r\n"
              "RCPT TO:<dave@example.test>\r\nRCPT TO:<erin@example.test>\r\nDATA\r\n");
    a = s.answer(
        "250 2.1.0 OK\r\n250 2.1.5 OK\r\n550 5.1.1 <nobody@example.test> User doesn't exist\r\n"
        "250 2.1.5 OK\r\n250 2.1.5 OK\r\n354 OK\r\n");
    std::string data = s.send_message(a);
    EXPECT_TRUE(data.ends_with("Hello.\r\n.\r\n")) << data;
    ASSERT_EQ(a, client_action::Read);
    // RFC 2033 §4.2: carol, dave and erin, in RCPT order; the first alone is not the end.
    a = s.answer("250 2.0.0 <carol@example.test> Saved\r\n");
    EXPECT_EQ(a, client_action::Read);
    a = s.answer(
        "452 4.2.2 <dave@example.test> Quota exceeded\r\n"
        "250 2.0.0 <erin@example.test> Saved\r\n");
    ASSERT_EQ(a, client_action::Ready);
    auto r = c.take_result();
    ASSERT_TRUE(r);
    ASSERT_EQ(r->recipients.size(), 4u);
    EXPECT_EQ(r->recipients[0].status, rcpt_status::Delivered);
    EXPECT_EQ(r->recipients[1].status, rcpt_status::Failed);
    EXPECT_EQ(r->recipients[1].dsn, "5.1.1");
    EXPECT_EQ(r->recipients[2].status, rcpt_status::Deferred);
    EXPECT_EQ(r->recipients[2].dsn, "4.2.2");
    EXPECT_EQ(r->recipients[3].status, rcpt_status::Delivered);
  });
}

TEST(ClientLmtp, ConnectionLostBetweenRepliesDefersOnlyTheUnanswered) {
  client c("mx.example.test", false, nullptr, client_dialect::Lmtp);
  script s(c, 0);
  open(s, k_lhlo);
  client_action a = c.begin(txn({"carol", "dave"}));
  s.written();
  a = s.answer("250 2.1.0 OK\r\n250 2.1.5 OK\r\n250 2.1.5 OK\r\n354 OK\r\n");
  s.send_message(a);
  a = s.answer("250 2.0.0 <carol@example.test> Saved\r\n");
  ASSERT_EQ(a, client_action::Read);
  EXPECT_EQ(c.connection_lost("lost connection"), client_action::Close);
  auto r = c.take_result();
  ASSERT_TRUE(r);
  EXPECT_EQ(r->recipients[0].status, rcpt_status::Delivered);
  EXPECT_EQ(r->recipients[1].status, rcpt_status::Deferred);
  EXPECT_TRUE(r->data_sent);
}

TEST(ClientLmtp, RefusedLhloFailsWithoutHelo) {
  client c("mx.example.test", false, nullptr, client_dialect::Lmtp);
  script s(c, 0);
  ASSERT_EQ(s.answer("220 box LMTP\r\n"), client_action::Read);
  ASSERT_EQ(s.written(), "LHLO mx.example.test\r\n");
  EXPECT_EQ(s.answer("500 5.5.1 Unknown command\r\n"), client_action::Close);
  ASSERT_TRUE(c.failure());
  EXPECT_EQ(c.failure()->status, rcpt_status::Failed);
}

}  // namespace
}  // namespace posthorn::smtp
