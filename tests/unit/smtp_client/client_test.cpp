// The client state machine against scripted servers, every answer cut at every offset.

#include "smtp/client/client.hpp"

#include <gtest/gtest.h>

#include <string>

#include "script.hpp"

namespace posthorn::smtp {
namespace {

using queue::rcpt_status;
using test::for_each_cut;
using test::script;

constexpr std::string_view k_message =
    "From: a@example.test\r\nTo: b@example.net\r\nSubject: hi\r\n\r\nHello.\r\n";

constexpr std::string_view k_ehlo_full =
    "250-mx.example.net Hello\r\n"
    "250-PIPELINING\r\n"
    "250-SIZE 10240000\r\n"
    "250-8BITMIME\r\n"
    "250-DSN\r\n"
    "250-ENHANCEDSTATUSCODES\r\n"
    "250 SMTPUTF8\r\n";

constexpr std::string_view k_ehlo_plain =
    "250-mx.example.net\r\n"
    "250 ENHANCEDSTATUSCODES\r\n";

mail::address addr(std::string local, std::string domain) {
  return mail::address{std::move(local), std::move(domain)};
}

client_transaction txn(std::vector<std::string> rcpts, std::string_view message = k_message) {
  client_transaction t;
  t.sender = addr("alice", "example.test");
  for (const std::string& r : rcpts) {
    t.recipients.push_back(client_recipient{addr(r, "example.net"), 0, ""});
  }
  t.message = message;
  return t;
}

// Greeting and EHLO with the given EHLO reply; the client is Ready afterwards.
void open(script& s, std::string_view ehlo_reply) {
  ASSERT_EQ(s.answer("220 mx.example.net ESMTP\r\n"), client_action::Read);
  ASSERT_EQ(s.written(), "EHLO client.example.test\r\n");
  ASSERT_EQ(s.answer(ehlo_reply), client_action::Ready);
  ASSERT_EQ(s.written(), "");
}

TEST(ClientGreeting, TemporaryGreetingFailsTheConnection) {
  for_each_cut([](std::size_t cut) {
    client c("client.example.test", false);
    script s(c, cut);
    EXPECT_EQ(c.phase(), client_phase::Greeting);
    EXPECT_EQ(s.answer("450-4.3.2 busy\r\n450 4.3.2 try later\r\n"), client_action::Close);
    EXPECT_EQ(s.written(), "QUIT\r\n");  // RFC 5321 §3.1, not waited for
    ASSERT_TRUE(c.failure());
    EXPECT_EQ(c.failure()->status, rcpt_status::Deferred);
    EXPECT_EQ(c.failure()->source, outcome_source::Connection);
    EXPECT_EQ(c.failure()->code, 450);
    EXPECT_EQ(c.failure()->dsn, "4.3.2");
    EXPECT_EQ(c.failure()->reply, "450 4.3.2 busy try later");
    EXPECT_EQ(c.phase(), client_phase::Closed);
  });
}

TEST(ClientGreeting, NoServiceGreetingIsPermanent) {
  for_each_cut([](std::size_t cut) {
    client c("client.example.test", false);
    script s(c, cut);
    EXPECT_EQ(s.answer("554 no SMTP service here\r\n"), client_action::Close);
    ASSERT_TRUE(c.failure());
    EXPECT_EQ(c.failure()->status, rcpt_status::Failed);
    EXPECT_EQ(c.failure()->dsn, "5.0.0");
    EXPECT_EQ(c.failure()->reply, "554 no SMTP service here");
  });
}

TEST(ClientGreeting, ClosingGreetingGetsNoQuit) {
  client c("client.example.test", false);
  script s(c, 0);
  EXPECT_EQ(s.answer("421 4.7.0 too many connections\r\n"), client_action::Close);
  EXPECT_EQ(s.written(), "");  // RFC 5321 §3.8: the server is gone
  ASSERT_TRUE(c.failure());
  EXPECT_EQ(c.failure()->status, rcpt_status::Deferred);
}

TEST(ClientGreeting, MalformedGreetingIsAProtocolError) {
  for (const std::string_view bad :
       {"hello there\r\n", "22 x\r\n", "220xfoo\r\n", "650 no\r\n", "250-a\r\n251 b\r\n"}) {
    client c("client.example.test", false);
    script s(c, 0);
    EXPECT_EQ(s.answer(bad), client_action::Close) << bad;
    ASSERT_TRUE(c.failure());
    EXPECT_EQ(c.failure()->dsn, "4.5.0");
    EXPECT_TRUE(c.failure()->reply.starts_with("protocol error")) << c.failure()->reply;
  }
}

TEST(ClientEhlo, FallsBackToHeloAndSendsInLockStep) {
  for_each_cut([](std::size_t cut) {
    client c("client.example.test", false);
    script s(c, cut);
    EXPECT_EQ(s.answer("220-mx.example.net ESMTP\r\n220 welcome\r\n"), client_action::Read);
    EXPECT_EQ(s.written(), "EHLO client.example.test\r\n");
    EXPECT_EQ(c.phase(), client_phase::Ehlo);
    EXPECT_EQ(s.answer("502 5.5.2 Error: command not recognized\r\n"), client_action::Read);
    EXPECT_EQ(s.written(), "HELO client.example.test\r\n");
    EXPECT_EQ(s.answer("250 mx.example.net\r\n"), client_action::Ready);
    EXPECT_FALSE(c.extensions().esmtp);
    EXPECT_EQ(c.greeting().lines.size(), 2u);

    // Without PIPELINING every command waits for its reply (RFC 5321 §4.3).
    client_action a = c.begin(txn({"bob", "carol"}));
    EXPECT_EQ(a, client_action::Read);
    EXPECT_EQ(s.written(), "MAIL FROM:<alice@example.test>\r\n");
    EXPECT_EQ(c.phase(), client_phase::Mail);
    EXPECT_EQ(s.answer("250 ok\r\n"), client_action::Read);
    EXPECT_EQ(s.written(), "RCPT TO:<bob@example.net>\r\n");
    EXPECT_EQ(c.phase(), client_phase::Rcpt);
    EXPECT_EQ(s.answer("550 no such user\r\n"), client_action::Read);
    EXPECT_EQ(s.written(), "RCPT TO:<carol@example.net>\r\n");
    EXPECT_EQ(s.answer("250 ok\r\n"), client_action::Read);
    EXPECT_EQ(s.written(), "DATA\r\n");
    EXPECT_EQ(c.phase(), client_phase::DataInit);
    // A message that fits in one block goes out with the dot at once (one write).
    a = s.answer("354 go ahead\r\n");
    EXPECT_EQ(a, client_action::Read);
    EXPECT_EQ(s.send_message(a), std::string(k_message) + ".\r\n");
    EXPECT_EQ(a, client_action::Read);
    EXPECT_EQ(c.phase(), client_phase::DataTerm);
    EXPECT_EQ(s.answer("250 queued as 4711\r\n"), client_action::Ready);
    auto r = c.take_result();
    ASSERT_TRUE(r);
    ASSERT_EQ(r->recipients.size(), 2u);
    EXPECT_EQ(r->recipients[0].status, rcpt_status::Failed);
    EXPECT_EQ(r->recipients[0].reply, "550 no such user");
    EXPECT_EQ(r->recipients[0].dsn, "5.0.0");
    EXPECT_EQ(r->recipients[0].source, outcome_source::Peer);
    EXPECT_EQ(r->recipients[1].status, rcpt_status::Delivered);
    EXPECT_EQ(r->recipients[1].reply, "250 queued as 4711");
    EXPECT_TRUE(r->data_sent);
    EXPECT_FALSE(c.take_result());
  });
}

TEST(ClientEhlo, HostnameCannotBreakTheLine) {
  client c("evil\r\nRSET x", false);
  script s(c, 0);
  s.answer("220 mx\r\n");
  EXPECT_EQ(s.written(), "EHLO evilRSETx\r\n");
}

TEST(ClientEhlo, TemporaryEhloFailureClosesAndHeloFailureToo) {
  {
    client c("client.example.test", false);
    script s(c, 0);
    s.answer("220 mx\r\n");
    s.written();
    EXPECT_EQ(s.answer("451 4.3.0 later\r\n"), client_action::Close);
    EXPECT_EQ(c.failure()->status, rcpt_status::Deferred);
  }
  {
    client c("client.example.test", false);
    script s(c, 0);
    s.answer("220 mx\r\n");
    s.answer("500 what\r\n");
    EXPECT_EQ(s.written(), "EHLO client.example.test\r\nHELO client.example.test\r\n");
    EXPECT_EQ(s.answer("550 go away\r\n"), client_action::Close);
    EXPECT_EQ(c.failure()->status, rcpt_status::Failed);
    EXPECT_EQ(c.failure()->reply, "550 go away");
  }
}

TEST(ClientPipelining, OneGroupAndMixedRecipientOutcomes) {
  for_each_cut([](std::size_t cut) {
    client c("client.example.test", false);
    script s(c, cut);
    open(s, k_ehlo_full);
    EXPECT_TRUE(c.extensions().pipelining);
    EXPECT_EQ(c.extensions().size_limit, 10240000u);

    client_action a = c.begin(txn({"bob", "carol", "dave", "erin"}));
    EXPECT_EQ(a, client_action::Read);
    // RFC 2920 §3.1: MAIL, every RCPT and DATA in one write, DATA last.
    EXPECT_EQ(s.written(),
              "MAIL FROM:<alice@example.test> SIZE=" + std::to_string(k_message.size()) +
                  "\r\n"
                  "RCPT TO:<bob@example.net>\r\n"
                  "RCPT TO:<carol@example.net>\r\n"
                  "RCPT TO:<dave@example.net>\r\n"
                  "RCPT TO:<erin@example.net>\r\n"
                  "DATA\r\n");
    a = s.answer(
        "250 2.1.0 Ok\r\n"
        "250 2.1.5 Ok\r\n"
        "550-5.1.1 <carol@example.net>: Recipient address rejected:\r\n"
        "550 5.1.1 User unknown in virtual mailbox table\r\n"
        "450 4.2.0 <dave@example.net>: greylisted\r\n"
        "250 2.1.5 Ok\r\n"
        "354 End data with <CR><LF>.<CR><LF>\r\n");
    EXPECT_EQ(s.send_message(a), std::string(k_message) + ".\r\n");
    EXPECT_EQ(s.answer("250 2.0.0 Ok: queued as 9C1F\r\n"), client_action::Ready);
    auto r = c.take_result();
    ASSERT_TRUE(r);
    ASSERT_EQ(r->recipients.size(), 4u);
    EXPECT_EQ(r->recipients[0].status, rcpt_status::Delivered);
    EXPECT_EQ(r->recipients[0].reply, "250 2.0.0 Ok: queued as 9C1F");
    EXPECT_EQ(r->recipients[0].dsn, "2.0.0");
    EXPECT_EQ(r->recipients[1].status, rcpt_status::Failed);
    EXPECT_EQ(r->recipients[1].reply,
              "550 5.1.1 <carol@example.net>: Recipient address rejected: User unknown in "
              "virtual mailbox table");
    EXPECT_EQ(r->recipients[1].dsn, "5.1.1");
    EXPECT_EQ(r->recipients[1].code, 550);
    EXPECT_EQ(r->recipients[2].status, rcpt_status::Deferred);
    EXPECT_EQ(r->recipients[2].dsn, "4.2.0");
    EXPECT_EQ(r->recipients[3].status, rcpt_status::Delivered);
    EXPECT_TRUE(r->peer_dsn);
  });
}

TEST(ClientPipelining, FinalReplyDecidesForAcceptedRecipients) {
  client c("client.example.test", false);
  script s(c, 0);
  open(s, k_ehlo_full);
  c.begin(txn({"bob", "carol"}));
  s.written();
  client_action a = s.answer("250 ok\r\n250 ok\r\n550 5.1.1 no\r\n354 go\r\n");
  s.send_message(a);
  EXPECT_EQ(s.answer("554 5.7.1 spam\r\n"), client_action::Ready);
  auto r = c.take_result();
  EXPECT_EQ(r->recipients[0].status, rcpt_status::Failed);
  EXPECT_EQ(r->recipients[0].reply, "554 5.7.1 spam");
  EXPECT_EQ(r->recipients[1].reply, "550 5.1.1 no");
}

TEST(ClientPipelining, AllRecipientsRefusedButDataAccepted) {
  for_each_cut([](std::size_t cut) {
    client c("client.example.test", false);
    script s(c, cut);
    open(s, k_ehlo_full);
    c.begin(txn({"bob", "carol"}));
    s.written();
    // RFC 2920 §3.1: the client must look at DATA's reply; after a 354 a lone dot.
    EXPECT_EQ(s.answer("250 ok\r\n550 5.1.1 no\r\n451 4.3.0 later\r\n354 go\r\n"),
              client_action::Read);
    EXPECT_EQ(s.written(), ".\r\n");
    EXPECT_EQ(s.answer("554 5.5.1 no valid recipients\r\n"), client_action::Ready);
    auto r = c.take_result();
    EXPECT_EQ(r->recipients[0].status, rcpt_status::Failed);
    EXPECT_EQ(r->recipients[1].status, rcpt_status::Deferred);
    EXPECT_EQ(r->recipients[1].reply, "451 4.3.0 later");
    EXPECT_FALSE(r->data_sent);
  });
}

TEST(ClientPipelining, AllRecipientsRefusedAndDataRefused) {
  client c("client.example.test", false);
  script s(c, 0);
  open(s, k_ehlo_full);
  c.begin(txn({"bob"}));
  s.written();
  EXPECT_EQ(s.answer("250 ok\r\n550 5.1.1 no\r\n554 5.5.1 no valid recipients\r\n"),
            client_action::Ready);
  EXPECT_EQ(s.written(), "");
  EXPECT_EQ(c.take_result()->recipients[0].reply, "550 5.1.1 no");
}

TEST(ClientPipelining, RefusedMailDecidesForEveryRecipient) {
  for_each_cut([](std::size_t cut) {
    client c("client.example.test", false);
    script s(c, cut);
    open(s, k_ehlo_full);
    c.begin(txn({"bob", "carol"}));
    s.written();
    EXPECT_EQ(s.answer("553 5.7.1 <alice@example.test>: Sender address rejected\r\n"
                       "503 5.5.1 need MAIL\r\n503 5.5.1 need MAIL\r\n503 5.5.1 need RCPT\r\n"),
              client_action::Ready);
    auto r = c.take_result();
    for (const client_outcome& o : r->recipients) {
      EXPECT_EQ(o.status, rcpt_status::Failed);
      EXPECT_EQ(o.reply, "553 5.7.1 <alice@example.test>: Sender address rejected");
    }
  });
}

TEST(ClientLockStep, RefusedMailSendsNoRecipientsAndAllRefusedSendsNoData) {
  client c("client.example.test", false);
  script s(c, 0);
  open(s, k_ehlo_plain);
  c.begin(txn({"bob", "carol"}));
  EXPECT_EQ(s.written(), "MAIL FROM:<alice@example.test>\r\n");
  EXPECT_EQ(s.answer("451 4.3.0 try later\r\n"), client_action::Ready);
  EXPECT_EQ(s.written(), "");
  auto r = c.take_result();
  EXPECT_EQ(r->recipients[1].status, rcpt_status::Deferred);

  // RSET first on the reused connection (RFC 5321 §4.1.1.5), then no DATA when every
  // recipient is refused.
  c.begin(txn({"bob"}));
  EXPECT_EQ(s.written(), "RSET\r\n");
  EXPECT_EQ(c.phase(), client_phase::Rset);
  s.answer("250 ok\r\n");
  EXPECT_EQ(s.written(), "MAIL FROM:<alice@example.test>\r\n");
  s.answer("250 ok\r\n");
  EXPECT_EQ(s.written(), "RCPT TO:<bob@example.net>\r\n");
  EXPECT_EQ(s.answer("550 no\r\n"), client_action::Ready);
  EXPECT_EQ(s.written(), "");
}

TEST(ClientReuse, RsetLeadsTheNextPipelinedGroup) {
  for_each_cut([](std::size_t cut) {
    client c("client.example.test", false);
    script s(c, cut);
    open(s, k_ehlo_full);
    for (int i = 0; i < 3; ++i) {
      client_action a = c.begin(txn({"bob"}));
      EXPECT_EQ(a, client_action::Read);
      const std::string group = s.written();
      EXPECT_EQ(group.starts_with("RSET\r\nMAIL FROM:"), i > 0) << group;
      a = s.answer(std::string(i > 0 ? "250 2.0.0 Ok\r\n" : "") + "250 ok\r\n250 ok\r\n354 go\r\n");
      s.send_message(a);
      EXPECT_EQ(s.answer("250 2.0.0 queued\r\n"), client_action::Ready);
      EXPECT_EQ(c.take_result()->recipients[0].status, rcpt_status::Delivered);
    }
    EXPECT_EQ(c.transactions(), 3u);
    EXPECT_EQ(c.quit(), client_action::Read);
    EXPECT_EQ(s.written(), "QUIT\r\n");
    EXPECT_EQ(c.phase(), client_phase::Quit);
    EXPECT_EQ(s.answer("221 2.0.0 Bye\r\n"), client_action::Close);
    EXPECT_FALSE(c.failure());
  });
}

TEST(ClientReuse, RefusedRsetFailsTheConnection) {
  client c("client.example.test", false);
  script s(c, 0);
  open(s, k_ehlo_full);
  c.begin(txn({"bob"}));
  s.written();
  client_action a = s.answer("250 ok\r\n250 ok\r\n354 go\r\n");
  s.send_message(a);
  s.answer("250 ok\r\n");
  c.take_result();
  c.begin(txn({"bob"}));
  s.written();
  EXPECT_EQ(s.answer("454 4.3.0 confused\r\n"), client_action::Close);
  auto r = c.take_result();
  EXPECT_EQ(r->recipients[0].status, rcpt_status::Deferred);
  EXPECT_EQ(r->recipients[0].source, outcome_source::Connection);
}

TEST(ClientPipelining, WindowBoundsTheCommandsInFlight) {
  client c("client.example.test", false);
  script s(c, 0);
  open(s, k_ehlo_full);
  std::vector<std::string> many;
  for (int i = 0; i < 250; ++i) {
    many.push_back("u" + std::to_string(i));
  }
  c.begin(txn(many));
  auto lines = [](const std::string& w) {
    std::size_t n = 0;
    for (std::size_t p = 0; (p = w.find("\r\n", p)) != std::string::npos; p += 2) {
      ++n;
    }
    return n;
  };
  EXPECT_EQ(lines(s.written()), 100u);  // MAIL and 99 RCPTs
  std::string replies;
  for (int i = 0; i < 100; ++i) {
    replies += "250 ok\r\n";
  }
  s.answer(replies);
  std::string next = s.written();
  EXPECT_EQ(lines(next), 100u);
  s.answer(replies);
  next = s.written();
  EXPECT_EQ(lines(next), 52u);  // the last 51 RCPTs and DATA
  EXPECT_TRUE(next.ends_with("RCPT TO:<u249@example.net>\r\nDATA\r\n"));
  std::string rest;
  for (int i = 0; i < 51; ++i) {
    rest += "250 ok\r\n";
  }
  client_action a = s.answer(rest + "354 go\r\n");
  s.send_message(a);
  s.answer("250 ok\r\n");
  auto r = c.take_result();
  ASSERT_EQ(r->recipients.size(), 250u);
  for (const client_outcome& o : r->recipients) {
    EXPECT_EQ(o.status, rcpt_status::Delivered);
  }
}

TEST(ClientConnection, LostMidTransactionKeepsDecidedOutcomes) {
  client c("client.example.test", false);
  script s(c, 0);
  open(s, k_ehlo_full);
  c.begin(txn({"bob", "carol", "dave"}));
  s.written();
  EXPECT_EQ(s.answer("250 ok\r\n250 ok\r\n550 5.1.1 unknown\r\n"), client_action::Read);
  EXPECT_EQ(c.phase(), client_phase::Rcpt);
  EXPECT_EQ(c.connection_lost("conversation with mx timed out while sending RCPT TO"),
            client_action::Close);
  auto r = c.take_result();
  ASSERT_TRUE(r);
  EXPECT_EQ(r->recipients[0].status, rcpt_status::Deferred);
  EXPECT_EQ(r->recipients[0].source, outcome_source::Connection);
  EXPECT_EQ(r->recipients[0].dsn, "4.4.2");
  EXPECT_EQ(r->recipients[0].reply, "conversation with mx timed out while sending RCPT TO");
  EXPECT_EQ(r->recipients[1].status, rcpt_status::Failed);
  EXPECT_EQ(r->recipients[1].source, outcome_source::Peer);
  EXPECT_EQ(r->recipients[2].status, rcpt_status::Deferred);
  EXPECT_FALSE(r->data_sent);
  EXPECT_EQ(c.phase(), client_phase::Closed);
  // The closed connection takes no more transactions.
  EXPECT_EQ(c.begin(txn({"bob"})), client_action::Close);
  EXPECT_EQ(c.take_result()->recipients[0].status, rcpt_status::Deferred);
}

TEST(ClientConnection, ServerClosingMidPipelineDefersTheRest) {
  for_each_cut([](std::size_t cut) {
    client c("client.example.test", false);
    script s(c, cut);
    open(s, k_ehlo_full);
    c.begin(txn({"bob", "carol"}));
    s.written();
    EXPECT_EQ(s.answer("250 ok\r\n550 5.1.1 unknown\r\n421 4.3.2 shutting down\r\n"),
              client_action::Close);
    EXPECT_EQ(s.written(), "");
    auto r = c.take_result();
    EXPECT_EQ(r->recipients[0].status, rcpt_status::Failed);
    EXPECT_EQ(r->recipients[1].status, rcpt_status::Deferred);
    EXPECT_EQ(r->recipients[1].reply, "421 4.3.2 shutting down");
    EXPECT_EQ(r->recipients[1].source, outcome_source::Connection);
  });
}

TEST(ClientConnection, LostAfterTheDotMayHaveDelivered) {
  client c("client.example.test", false);
  script s(c, 0);
  open(s, k_ehlo_full);
  c.begin(txn({"bob"}));
  s.written();
  client_action a = s.answer("250 ok\r\n250 ok\r\n354 go\r\n");
  s.send_message(a);
  EXPECT_EQ(c.phase(), client_phase::DataTerm);
  c.connection_lost("lost connection while sending end of data");
  auto r = c.take_result();
  EXPECT_TRUE(r->data_sent);  // RFC 1047: the peer may have it
  EXPECT_EQ(r->recipients[0].status, rcpt_status::Deferred);
}

TEST(ClientConnection, UnsolicitedReplyWhileIdleIsAProtocolError) {
  client c("client.example.test", false);
  script s(c, 0);
  open(s, k_ehlo_full);
  EXPECT_EQ(s.answer("250 surprise\r\n"), client_action::Close);
  EXPECT_TRUE(c.failure());
  client c2("client.example.test", false);
  script s2(c2, 0);
  open(s2, k_ehlo_full);
  EXPECT_EQ(s2.answer("421 4.4.2 idle timeout\r\n"), client_action::Close);
  EXPECT_EQ(c2.failure()->reply, "421 4.4.2 idle timeout");
}

TEST(ClientConnection, ExtraReplyAfterTheTransactionIsAProtocolError) {
  client c("client.example.test", false);
  script s(c, 0);
  open(s, k_ehlo_full);
  c.begin(txn({"bob"}));
  s.written();
  client_action a = s.answer("250 ok\r\n250 ok\r\n354 go\r\n");
  s.send_message(a);
  EXPECT_EQ(s.answer("250 ok\r\n250 extra\r\n"), client_action::Close);
  // The transaction had its answer before the stray reply.
  auto r = c.take_result();
  EXPECT_EQ(r->recipients[0].status, rcpt_status::Delivered);
}

TEST(ClientConnection, ReplyToDataOtherThan354) {
  client c("client.example.test", false);
  script s(c, 0);
  open(s, k_ehlo_full);
  c.begin(txn({"bob"}));
  s.written();
  EXPECT_EQ(s.answer("250 ok\r\n250 ok\r\n250 what\r\n"), client_action::Close);
  EXPECT_EQ(c.take_result()->recipients[0].status, rcpt_status::Deferred);

  client c2("client.example.test", false);
  script s2(c2, 0);
  open(s2, k_ehlo_full);
  c2.begin(txn({"bob"}));
  s2.written();
  EXPECT_EQ(s2.answer("250 ok\r\n250 ok\r\n451 4.3.0 disk full\r\n"), client_action::Ready);
  EXPECT_EQ(c2.take_result()->recipients[0].reply, "451 4.3.0 disk full");
}

TEST(ClientQuit, QuitWithoutReplyAndMidTransaction) {
  client c("client.example.test", false);
  script s(c, 0);
  open(s, k_ehlo_full);
  c.quit();
  EXPECT_EQ(s.written(), "QUIT\r\n");
  EXPECT_EQ(c.connection_lost("eof"), client_action::Close);
  EXPECT_FALSE(c.failure());

  client c2("client.example.test", false);
  script s2(c2, 0);
  open(s2, k_ehlo_full);
  c2.begin(txn({"bob"}));
  s2.written();
  EXPECT_EQ(c2.quit(), client_action::Close);
  EXPECT_EQ(s2.written(), "QUIT\r\n");
  EXPECT_EQ(c2.take_result()->recipients[0].status, rcpt_status::Deferred);
}

TEST(ClientPhase, TimeoutsFollowRfc5321) {
  const client_timeouts t;
  EXPECT_EQ(t.for_phase(client_phase::Greeting), std::chrono::minutes(5));
  EXPECT_EQ(t.for_phase(client_phase::Mail), std::chrono::minutes(5));
  EXPECT_EQ(t.for_phase(client_phase::Rcpt), std::chrono::minutes(5));
  EXPECT_EQ(t.for_phase(client_phase::DataInit), std::chrono::minutes(2));
  EXPECT_EQ(t.for_phase(client_phase::DataBlock), std::chrono::minutes(3));
  EXPECT_EQ(t.for_phase(client_phase::DataTerm), std::chrono::minutes(10));
  EXPECT_EQ(t.for_phase(client_phase::Ready), client_timeouts::duration::zero());
  EXPECT_EQ(describe(client_phase::DataTerm), "sending end of data");
}

}  // namespace
}  // namespace posthorn::smtp
