// What the client does with each ESMTP extension the peer offers or does not offer:
// SIZE, SMTPUTF8, 8BITMIME, DSN, STARTTLS.

#include <gtest/gtest.h>

#include <string>

#include "script.hpp"
#include "smtp/client/client.hpp"

namespace posthorn::smtp {
namespace {

using queue::rcpt_status;
using test::for_each_cut;
using test::script;

constexpr std::string_view k_ascii = "Subject: hi\r\n\r\nplain\r\n";
constexpr std::string_view k_body_8bit =
    "Subject: hi\r\n\r\nGr\xc3\xbc\xc3\x9f"
    "e\r\n";
constexpr std::string_view k_header_utf8 =
    "Subject: Gr\xc3\xbc\xc3\x9f"
    "e\r\n\r\nhi\r\n";

std::string ehlo(std::initializer_list<std::string_view> keywords) {
  std::string r = "250-mx.example.net";
  for (const std::string_view k : keywords) {
    r += "\r\n250-";
    r += k;
  }
  r += "\r\n250 ENHANCEDSTATUSCODES\r\n";
  return r;
}

client_transaction txn(std::string_view message) {
  client_transaction t;
  t.sender = mail::address{"alice", "example.test"};
  t.recipients.push_back(client_recipient{mail::address{"bob", "example.net"}, 0, ""});
  t.message = message;
  return t;
}

void open(script& s, const std::string& ehlo_reply) {
  ASSERT_EQ(s.answer("220 mx.example.net ESMTP\r\n"), client_action::Read);
  ASSERT_EQ(s.written(), "EHLO client.example.test\r\n");
  ASSERT_EQ(s.answer(ehlo_reply), client_action::Ready);
}

// Begins `t` and returns the first line written ("" when nothing was).
std::string first_line(client& c, script& s, client_transaction t) {
  c.begin(std::move(t));
  const std::string w = s.written();
  return w.substr(0, w.find("\r\n"));
}

TEST(ClientSize, TooBigForThePeerFailsWithoutSending) {
  for_each_cut([](std::size_t cut) {
    client c("client.example.test", false);
    script s(c, cut);
    open(s, ehlo({"PIPELINING", "SIZE 20"}));
    EXPECT_EQ(c.begin(txn(k_ascii)), client_action::Ready);
    EXPECT_EQ(s.written(), "");
    auto r = c.take_result();
    ASSERT_TRUE(r);
    EXPECT_EQ(r->recipients[0].status, rcpt_status::Failed);
    EXPECT_EQ(r->recipients[0].dsn, "5.3.4");
    EXPECT_EQ(r->recipients[0].source, outcome_source::Local);
    EXPECT_EQ(r->recipients[0].code, 0);
    EXPECT_NE(r->recipients[0].reply.find("20 octets"), std::string::npos);
    // The connection stays usable, and nothing needs resetting.
    EXPECT_EQ(c.phase(), client_phase::Ready);
    client_transaction small = txn("x\r\n");
    EXPECT_EQ(first_line(c, s, small), "MAIL FROM:<alice@example.test> SIZE=3");
  });
}

TEST(ClientSize, NoLimitAndNoSize) {
  for (const std::string_view size : {"SIZE", "SIZE 0"}) {
    client c("client.example.test", false);
    script s(c, 0);
    open(s, ehlo({size}));
    client_transaction t = txn(k_ascii);
    t.size = 123456789;
    EXPECT_EQ(first_line(c, s, t), "MAIL FROM:<alice@example.test> SIZE=123456789");
  }
  client c("client.example.test", false);
  script s(c, 0);
  open(s, ehlo({"8BITMIME"}));
  EXPECT_EQ(first_line(c, s, txn(k_ascii)), "MAIL FROM:<alice@example.test>");
}

TEST(ClientSmtputf8, RefusedWhenThePeerLacksIt) {
  for_each_cut([](std::size_t cut) {
    client c("client.example.test", false);
    script s(c, cut);
    open(s, ehlo({"PIPELINING", "8BITMIME"}));
    client_transaction t = txn(k_ascii);
    t.smtputf8 = true;
    t.sender = mail::address{"j\xc3\xb6rg", "example.test"};
    EXPECT_EQ(c.begin(t), client_action::Ready);
    EXPECT_EQ(s.written(), "");
    auto r = c.take_result();
    EXPECT_EQ(r->recipients[0].status, rcpt_status::Failed);
    EXPECT_EQ(r->recipients[0].dsn, "5.6.7");
  });
}

TEST(ClientSmtputf8, UsedWhenOffered) {
  client c("client.example.test", false);
  script s(c, 0);
  open(s, ehlo({"8BITMIME", "SMTPUTF8"}));
  client_transaction t = txn(k_header_utf8);
  t.smtputf8 = true;
  t.body = queue::body_type::EightBitMime;
  t.recipients[0].address = mail::address{
      "b\xc3\xb6"
      "b",
      "b\xc3\xbc"
      "cher.example"};
  c.begin(t);
  EXPECT_EQ(s.written(), "MAIL FROM:<alice@example.test> BODY=8BITMIME SMTPUTF8\r\n");
  s.answer("250 ok\r\n");
  EXPECT_EQ(s.written(),
            "RCPT TO:<b\xc3\xb6"
            "b@b\xc3\xbc"
            "cher.example>\r\n");
}

// RFC 6857 (DESIGN.md §4.6): with an ASCII envelope, UTF-8 header fields are downgraded
// for a peer without SMTPUTF8 and UTF-8 domains go as A-labels; nothing bounces.
TEST(ClientSmtputf8, Utf8HeadersAreDowngradedAndDomainsGoAsALabels) {
  for_each_cut([](std::size_t cut) {
    client c("client.example.test", false);
    script s(c, cut);
    open(s, ehlo({"8BITMIME", "PIPELINING"}));
    client_transaction t = txn(k_header_utf8);
    t.smtputf8 = true;
    t.recipients[0].address.domain =
        "b\xc3\xbc"
        "cher.example";
    EXPECT_EQ(c.begin(t), client_action::Read);
    EXPECT_EQ(s.written(),
              "MAIL FROM:<alice@example.test>\r\nRCPT TO:<bob@xn--bcher-kva.example>\r\n"
              "DATA\r\n");
    client_action a = s.answer("250 ok\r\n250 ok\r\n354 go\r\n");
    EXPECT_EQ(s.send_message(a), "Subject: =?UTF-8?B?R3LDvMOfZQ==?=\r\n\r\nhi\r\n.\r\n");
    EXPECT_EQ(a, client_action::Read);
    EXPECT_EQ(s.answer("250 2.0.0 queued\r\n"), client_action::Ready);
    EXPECT_EQ(c.take_result()->recipients[0].status, rcpt_status::Delivered);
  });
}

TEST(ClientSmtputf8, DowngradedSizeAndEightBitBody) {
  client c("client.example.test", false);
  script s(c, 0);
  open(s, ehlo({"8BITMIME", "SIZE 1000"}));
  const std::string message =
      "Subject: Gr\xc3\xbc\xc3\x9f"
      "e\r\n\r\nGr\xc3\xbc\xc3\x9f"
      "e\r\n";
  client_transaction t = txn(message);
  t.smtputf8 = true;
  const std::string downgraded = "Subject: =?UTF-8?B?R3LDvMOfZQ==?=\r\n";
  const std::size_t size = downgraded.size() + message.size() - message.find("\r\n\r\n") - 2;
  EXPECT_EQ(first_line(c, s, t),
            "MAIL FROM:<alice@example.test> SIZE=" + std::to_string(size) + " BODY=8BITMIME");
}

TEST(ClientSmtputf8, AsciiOnlyMessagesAndALabels) {
  // Received with SMTPUTF8 but pure ASCII throughout: nothing needs it.
  client c("client.example.test", false);
  script s(c, 0);
  open(s, ehlo({"8BITMIME"}));
  client_transaction t = txn(k_ascii);
  t.smtputf8 = true;
  EXPECT_EQ(first_line(c, s, t), "MAIL FROM:<alice@example.test>");

  // A plain message to a UTF-8 domain: the domain goes as A-labels (RFC 6531 §3.2).
  client c2("client.example.test", false);
  script s2(c2, 0);
  open(s2, ehlo({"PIPELINING"}));
  client_transaction t2 = txn(k_ascii);
  t2.recipients[0].address.domain =
      "b\xc3\xbc"
      "cher.example";
  c2.begin(t2);
  EXPECT_EQ(s2.written(),
            "MAIL FROM:<alice@example.test>\r\nRCPT TO:<bob@xn--bcher-kva.example>\r\nDATA\r\n");
}

TEST(Client8bitmime, BodyParameterOnlyWhenOffered) {
  client c("client.example.test", false);
  script s(c, 0);
  open(s, ehlo({"8BITMIME"}));
  client_transaction t = txn(k_body_8bit);
  t.body = queue::body_type::EightBitMime;
  EXPECT_EQ(first_line(c, s, t), "MAIL FROM:<alice@example.test> BODY=8BITMIME");
}

TEST(Client8bitmime, EightBitToAPeerWithoutItFails) {
  for_each_cut([](std::size_t cut) {
    client c("client.example.test", false);
    script s(c, cut);
    open(s, ehlo({"PIPELINING"}));
    client_transaction t = txn(k_body_8bit);
    t.body = queue::body_type::EightBitMime;
    EXPECT_EQ(c.begin(t), client_action::Ready);
    EXPECT_EQ(s.written(), "");
    auto r = c.take_result();
    EXPECT_EQ(r->recipients[0].status, rcpt_status::Failed);
    EXPECT_EQ(r->recipients[0].dsn, "5.6.3");
  });
}

TEST(Client8bitmime, DeclaredEightBitButSevenBitContentGoesPlain) {
  client c("client.example.test", false);
  script s(c, 0);
  open(s, ehlo({"PIPELINING"}));
  client_transaction t = txn(k_ascii);
  t.body = queue::body_type::EightBitMime;
  EXPECT_EQ(first_line(c, s, t), "MAIL FROM:<alice@example.test>");
}

client_transaction dsn_txn() {
  client_transaction t = txn(k_ascii);
  t.ret = queue::dsn_ret::Hdrs;
  t.envid = "QQ314159+x=y";
  t.recipients[0].notify = queue::notify::Success | queue::notify::Failure;
  t.recipients[0].orcpt = "rfc822;bob@example.net";
  t.recipients.push_back(
      client_recipient{mail::address{"carol", "example.net"}, queue::notify::Never, ""});
  t.recipients.push_back(client_recipient{mail::address{"dave", "example.net"},
                                          queue::notify::Delay, "rfc822;bad value"});
  return t;
}

TEST(ClientDsn, ParametersPassedOnWhenOffered) {
  for_each_cut([](std::size_t cut) {
    client c("client.example.test", false);
    script s(c, cut);
    open(s, ehlo({"PIPELINING", "DSN"}));
    c.begin(dsn_txn());
    EXPECT_EQ(s.written(),
              "MAIL FROM:<alice@example.test> RET=HDRS ENVID=QQ314159+2Bx+3Dy\r\n"
              "RCPT TO:<bob@example.net> NOTIFY=SUCCESS,FAILURE ORCPT=rfc822;bob@example.net\r\n"
              "RCPT TO:<carol@example.net> NOTIFY=NEVER\r\n"
              "RCPT TO:<dave@example.net> NOTIFY=DELAY\r\n"
              "DATA\r\n");
    client_action a = s.answer("250 ok\r\n250 ok\r\n250 ok\r\n250 ok\r\n354 go\r\n");
    s.send_message(a);
    s.answer("250 ok\r\n");
    EXPECT_TRUE(c.take_result()->peer_dsn);
  });
}

TEST(ClientDsn, NoParametersWithoutDsn) {
  client c("client.example.test", false);
  script s(c, 0);
  open(s, ehlo({"PIPELINING"}));
  c.begin(dsn_txn());
  EXPECT_EQ(s.written(),
            "MAIL FROM:<alice@example.test>\r\n"
            "RCPT TO:<bob@example.net>\r\n"
            "RCPT TO:<carol@example.net>\r\n"
            "RCPT TO:<dave@example.net>\r\n"
            "DATA\r\n");
  client_action a = s.answer("250 ok\r\n250 ok\r\n250 ok\r\n250 ok\r\n354 go\r\n");
  s.send_message(a);
  s.answer("250 ok\r\n");
  EXPECT_FALSE(c.take_result()->peer_dsn);  // NOTIFY=SUCCESS earns a "relayed" DSN
}

TEST(ClientAddresses, NullSenderQuotedLocalPartsAndUnsendableAddresses) {
  client c("client.example.test", false);
  script s(c, 0);
  open(s, ehlo({"PIPELINING"}));
  client_transaction t = txn(k_ascii);
  t.sender = mail::address{};
  t.recipients[0].address = mail::address{"john doe", "example.net"};
  t.recipients.push_back(client_recipient{mail::address{"evil\r\nRSET", "example.net"}, 0, ""});
  c.begin(t);
  // A CR or LF inside an address never reaches the wire.
  EXPECT_EQ(s.written(), "MAIL FROM:<>\r\nRCPT TO:<\"john doe\"@example.net>\r\nDATA\r\n");
  client_action a = s.answer("250 ok\r\n250 ok\r\n354 go\r\n");
  s.send_message(a);
  s.answer("250 ok\r\n");
  auto r = c.take_result();
  EXPECT_EQ(r->recipients[0].status, rcpt_status::Delivered);
  EXPECT_EQ(r->recipients[1].status, rcpt_status::Failed);
  EXPECT_EQ(r->recipients[1].dsn, "5.1.3");
  EXPECT_EQ(r->recipients[1].source, outcome_source::Local);
}

TEST(ClientStarttls, UpgradesThenForgetsTheOldExtensions) {
  for_each_cut([](std::size_t cut) {
    client c("client.example.test", true);
    script s(c, cut);
    s.answer("220 mx.example.net ESMTP\r\n");
    EXPECT_EQ(s.written(), "EHLO client.example.test\r\n");
    EXPECT_EQ(s.answer(ehlo({"PIPELINING", "STARTTLS", "SIZE 1000"})), client_action::Read);
    EXPECT_EQ(s.written(), "STARTTLS\r\n");  // alone: it ends a group (RFC 3207 §4.2)
    EXPECT_EQ(c.phase(), client_phase::Starttls);
    // Whatever follows the 220 in the clear is not believed (RFC 3207 §4.2).
    EXPECT_EQ(s.answer("220 2.0.0 Ready to start TLS\r\n250 injected\r\n"),
              client_action::StartTls);
    EXPECT_EQ(c.phase(), client_phase::TlsHandshake);
    EXPECT_EQ(s.written(), "");
    EXPECT_EQ(c.tls_done(true), client_action::Read);
    EXPECT_TRUE(c.tls_active());
    EXPECT_EQ(s.written(), "EHLO client.example.test\r\n");
    EXPECT_FALSE(c.extensions().pipelining);
    EXPECT_EQ(s.answer(ehlo({"DSN", "STARTTLS"})), client_action::Ready);
    EXPECT_TRUE(c.extensions().dsn);
    EXPECT_FALSE(c.extensions().pipelining);
    EXPECT_FALSE(c.extensions().size);
    EXPECT_EQ(first_line(c, s, txn(k_ascii)), "MAIL FROM:<alice@example.test>");
  });
}

TEST(ClientStarttls, NotUsedWithoutTlsOrWhenRefused) {
  {
    client c("client.example.test", false);
    script s(c, 0);
    open(s, ehlo({"STARTTLS"}));
    EXPECT_FALSE(c.tls_active());
  }
  {
    client c("client.example.test", true);
    script s(c, 0);
    s.answer("220 mx\r\n");
    s.answer(ehlo({"STARTTLS"}));
    EXPECT_EQ(s.written(), "EHLO client.example.test\r\nSTARTTLS\r\n");
    EXPECT_EQ(s.answer("454 4.7.0 TLS not available\r\n"), client_action::Ready);
    EXPECT_FALSE(c.tls_active());
  }
  {
    client c("client.example.test", true);
    script s(c, 0);
    s.answer("220 mx\r\n");
    s.answer(ehlo({"STARTTLS"}));
    s.answer("220 go\r\n");
    EXPECT_EQ(c.tls_done(false, "wrong version number"), client_action::Close);
    ASSERT_TRUE(c.failure());
    EXPECT_EQ(c.failure()->dsn, "4.7.5");
    EXPECT_EQ(c.failure()->reply, "TLS handshake failed: wrong version number");
  }
}

}  // namespace
}  // namespace posthorn::smtp
