// The client's AUTH (RFC 4954) for a smarthost: PLAIN preferred, LOGIN otherwise, only
// after TLS, and every refusal a temporary failure that names no credential.

#include <gtest/gtest.h>

#include <memory>
#include <string>

#include "script.hpp"
#include "smtp/client/client.hpp"

namespace posthorn::smtp {
namespace {

using queue::rcpt_status;
using test::for_each_cut;
using test::script;

// base64("\0alice@example.test\0s3cret pass"), base64(user), base64(password).
constexpr std::string_view k_plain = "AGFsaWNlQGV4YW1wbGUudGVzdABzM2NyZXQgcGFzcw==";
constexpr std::string_view k_user64 = "YWxpY2VAZXhhbXBsZS50ZXN0";
constexpr std::string_view k_pass64 = "czNjcmV0IHBhc3M=";

std::shared_ptr<const client_credentials> creds() {
  auto c = std::make_shared<client_credentials>();
  c->user = "alice@example.test";
  c->password.assign("s3cret pass");
  return c;
}

std::string ehlo(std::initializer_list<std::string_view> keywords) {
  std::string r = "250-smarthost.example.net";
  for (const std::string_view k : keywords) {
    r += "\r\n250-";
    r += k;
  }
  r += "\r\n250 ENHANCEDSTATUSCODES\r\n";
  return r;
}

client_transaction txn() {
  client_transaction t;
  t.sender = mail::address{"alice", "example.test"};
  t.recipients.push_back(client_recipient{mail::address{"bob", "example.net"}, 0, ""});
  t.message = "Subject: hi\r\n\r\nhi\r\n";
  return t;
}

// Greeting, EHLO, STARTTLS and the handshake; returns what the second EHLO gets back.
client_action up_to_tls(client& c, script& s, const std::string& second_ehlo) {
  EXPECT_EQ(s.answer("220 smarthost.example.net ESMTP\r\n"), client_action::Read);
  EXPECT_EQ(s.written(), "EHLO client.example.test\r\n");
  EXPECT_EQ(s.answer(ehlo({"STARTTLS", "PIPELINING"})), client_action::Read);
  EXPECT_EQ(s.written(), "STARTTLS\r\n");
  EXPECT_EQ(s.answer("220 2.0.0 go ahead\r\n"), client_action::StartTls);
  EXPECT_EQ(c.tls_done(true), client_action::Read);
  EXPECT_EQ(s.written(), "EHLO client.example.test\r\n");
  return s.answer(second_ehlo);
}

// Nothing the client says in its outcome may reveal the password or its encodings.
void expect_no_secret(const client_outcome& o) {
  for (const std::string_view needle : {std::string_view("s3cret"), k_plain, k_pass64}) {
    EXPECT_EQ(o.reply.find(needle), std::string::npos) << o.reply;
  }
}

TEST(ClientAuth, PlainPreferredWithInitialResponseAfterTls) {
  for_each_cut([](std::size_t cut) {
    client c("client.example.test", true, creds());
    script s(c, cut);
    EXPECT_EQ(up_to_tls(c, s, ehlo({"PIPELINING", "AUTH LOGIN PLAIN"})), client_action::Read);
    EXPECT_EQ(s.written(), "AUTH PLAIN " + std::string(k_plain) + "\r\n");
    EXPECT_EQ(c.phase(), client_phase::Auth);
    EXPECT_FALSE(c.authenticated());
    EXPECT_EQ(s.answer("235 2.7.0 Authentication successful\r\n"), client_action::Ready);
    EXPECT_TRUE(c.authenticated());
    EXPECT_TRUE(c.extensions().pipelining);
    c.begin(txn());
    const std::string w = s.written();
    EXPECT_EQ(w.substr(0, w.find("\r\n")), "MAIL FROM:<alice@example.test>");
  });
}

TEST(ClientAuth, LoginWhenPlainIsNotOffered) {
  for_each_cut([](std::size_t cut) {
    client c("client.example.test", true, creds());
    script s(c, cut);
    EXPECT_EQ(up_to_tls(c, s, ehlo({"AUTH=LOGIN", "AUTH LOGIN CRAM-MD5"})), client_action::Read);
    EXPECT_EQ(s.written(), "AUTH LOGIN\r\n");
    EXPECT_EQ(s.answer("334 VXNlcm5hbWU6\r\n"), client_action::Read);
    EXPECT_EQ(s.written(), std::string(k_user64) + "\r\n");
    EXPECT_EQ(s.answer("334 UGFzc3dvcmQ6\r\n"), client_action::Read);
    EXPECT_EQ(s.written(), std::string(k_pass64) + "\r\n");
    EXPECT_EQ(c.phase(), client_phase::Auth);
    EXPECT_EQ(s.answer("235 2.7.0 ok\r\n"), client_action::Ready);
    EXPECT_TRUE(c.authenticated());
  });
}

TEST(ClientAuth, NeverWithoutTls) {
  // The peer offers no STARTTLS.
  {
    client c("client.example.test", true, creds());
    script s(c, 0);
    s.answer("220 smarthost\r\n");
    s.written();
    EXPECT_EQ(s.answer(ehlo({"AUTH PLAIN LOGIN"})), client_action::Close);
    EXPECT_EQ(s.written(), "QUIT\r\n");
    ASSERT_TRUE(c.failure());
    EXPECT_EQ(c.failure()->status, rcpt_status::Deferred);
    EXPECT_EQ(c.failure()->dsn, "4.7.0");
    EXPECT_EQ(c.failure()->reply, "smarthost requires TLS for AUTH");
    EXPECT_EQ(c.failure()->source, outcome_source::Connection);
    EXPECT_EQ(s.wire().find("AUTH"), std::string::npos);
  }
  // We cannot do TLS.
  {
    client c("client.example.test", false, creds());
    script s(c, 0);
    s.answer("220 smarthost\r\n");
    EXPECT_EQ(s.written(), "EHLO client.example.test\r\n");
    EXPECT_EQ(s.answer(ehlo({"STARTTLS", "AUTH PLAIN"})), client_action::Close);
    EXPECT_EQ(c.failure()->dsn, "4.7.0");
    EXPECT_EQ(s.written(), "QUIT\r\n");
  }
  // STARTTLS refused.
  {
    client c("client.example.test", true, creds());
    script s(c, 0);
    s.answer("220 smarthost\r\n");
    s.answer(ehlo({"STARTTLS", "AUTH PLAIN"}));
    EXPECT_EQ(s.written(), "EHLO client.example.test\r\nSTARTTLS\r\n");
    EXPECT_EQ(s.answer("454 4.7.0 TLS not available\r\n"), client_action::Close);
    EXPECT_EQ(c.failure()->reply, "smarthost requires TLS for AUTH");
    EXPECT_EQ(s.written(), "QUIT\r\n");
  }
  // HELO only.
  {
    client c("client.example.test", true, creds());
    script s(c, 0);
    s.answer("220 smarthost\r\n");
    s.answer("502 5.5.1 no EHLO\r\n");
    EXPECT_EQ(s.answer("250 smarthost\r\n"), client_action::Close);
    EXPECT_EQ(c.failure()->dsn, "4.7.0");
  }
}

TEST(ClientAuth, BadCredentialsAreTemporaryAndNameNoSecret) {
  for_each_cut([](std::size_t cut) {
    client c("client.example.test", true, creds());
    script s(c, cut);
    up_to_tls(c, s, ehlo({"AUTH PLAIN"}));
    s.written();
    EXPECT_EQ(s.answer("535 5.7.8 Authentication credentials invalid\r\n"), client_action::Close);
    EXPECT_EQ(s.written(), "QUIT\r\n");
    ASSERT_TRUE(c.failure());
    const client_outcome& f = *c.failure();
    EXPECT_EQ(f.status, rcpt_status::Deferred);
    EXPECT_EQ(f.dsn, "4.7.0");
    EXPECT_EQ(f.code, 0);
    EXPECT_EQ(f.reply, "smarthost refused our AUTH (535 5.7.8 Authentication credentials invalid)");
    EXPECT_EQ(f.source, outcome_source::Connection);
    expect_no_secret(f);
    EXPECT_FALSE(c.authenticated());
    // A transaction begun now defers every recipient with that reason.
    EXPECT_EQ(c.begin(txn()), client_action::Close);
    auto r = c.take_result();
    ASSERT_TRUE(r);
    ASSERT_EQ(r->recipients.size(), 1U);
    EXPECT_EQ(r->recipients[0].status, rcpt_status::Deferred);
    EXPECT_EQ(r->recipients[0].dsn, "4.7.0");
  });
}

TEST(ClientAuth, OtherRefusals) {
  // 4xx keeps the peer's status; LOGIN refused at the password.
  {
    client c("client.example.test", true, creds());
    script s(c, 0);
    up_to_tls(c, s, ehlo({"AUTH LOGIN"}));
    s.answer("334 VXNlcm5hbWU6\r\n");
    s.answer("334 UGFzc3dvcmQ6\r\n");
    EXPECT_EQ(s.answer("454 4.7.0 Temporary authentication failure\r\n"), client_action::Close);
    EXPECT_EQ(c.failure()->status, rcpt_status::Deferred);
    EXPECT_EQ(c.failure()->dsn, "4.7.0");
    EXPECT_EQ(c.failure()->reply,
              "smarthost refused our AUTH (454 4.7.0 Temporary authentication failure)");
    expect_no_secret(*c.failure());
  }
  // 504 to AUTH LOGIN: still only deferred.
  {
    client c("client.example.test", true, creds());
    script s(c, 0);
    up_to_tls(c, s, ehlo({"AUTH LOGIN"}));
    EXPECT_EQ(s.answer("504 5.5.4 Unrecognized authentication type\r\n"), client_action::Close);
    EXPECT_EQ(c.failure()->status, rcpt_status::Deferred);
    EXPECT_EQ(c.failure()->dsn, "4.7.0");
  }
  // No mechanism we know.
  {
    client c("client.example.test", true, creds());
    script s(c, 0);
    EXPECT_EQ(up_to_tls(c, s, ehlo({"AUTH CRAM-MD5 XOAUTH2"})), client_action::Close);
    EXPECT_EQ(c.failure()->dsn, "4.7.0");
    EXPECT_EQ(s.written(), "QUIT\r\n");
  }
  // A challenge after PLAIN's initial response: the dialogue is out of step.
  {
    client c("client.example.test", true, creds());
    script s(c, 0);
    up_to_tls(c, s, ehlo({"AUTH PLAIN"}));
    s.written();
    EXPECT_EQ(s.answer("334 \r\n"), client_action::Close);
    EXPECT_EQ(c.failure()->dsn, "4.5.0");
    expect_no_secret(*c.failure());
  }
  // 421 during AUTH.
  {
    client c("client.example.test", true, creds());
    script s(c, 0);
    up_to_tls(c, s, ehlo({"AUTH PLAIN"}));
    s.written();
    EXPECT_EQ(s.answer("421 4.3.2 shutting down\r\n"), client_action::Close);
    EXPECT_EQ(c.failure()->dsn, "4.3.2");
    EXPECT_EQ(s.written(), "");
  }
}

TEST(ClientAuth, NoCredentialsNoAuth) {
  client c("client.example.test", true);
  script s(c, 0);
  EXPECT_EQ(up_to_tls(c, s, ehlo({"AUTH PLAIN LOGIN"})), client_action::Ready);
  EXPECT_FALSE(c.authenticated());
  EXPECT_EQ(s.written(), "");
}

}  // namespace
}  // namespace posthorn::smtp
