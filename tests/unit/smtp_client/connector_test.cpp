// The Asio connector against a scripted SMTP server on 127.0.0.1 (free ports only),
// checking the exact bytes the server receives.

#include "smtp/client/connector.hpp"

#include <gtest/gtest.h>
#include <openssl/evp.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ssl.hpp>
#include <boost/asio/this_coro.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/asio/write.hpp>
#include <memory>
#include <optional>
#include <string>
#include <vector>

namespace posthorn::smtp {
namespace {

namespace asio = boost::asio;
using asio::awaitable;
using asio::ip::tcp;
using queue::rcpt_status;

constexpr auto k_tuple = asio::as_tuple(asio::use_awaitable);

constexpr std::string_view k_message =
    "From: a@example.test\r\nSubject: hi\r\n\r\nHello.\r\n.dot line\r\n";

// How the scripted server behaves on one connection.
struct behaviour {
  std::string greeting = "220 mx.example.net ESMTP\r\n";
  std::string ehlo = "250-mx.example.net\r\n250-PIPELINING\r\n250-SIZE 1000000\r\n250 8BITMIME\r\n";
  std::string ehlo_after_tls = "250-mx.example.net\r\n250 PIPELINING\r\n";
  bool silent = false;        // never greet
  bool break_tls = false;     // answer STARTTLS with 220, then junk instead of a handshake
  bool drop_at_rcpt = false;  // close the connection at the first RCPT
  std::string mail_reply;     // instead of 250 to MAIL ("" = 250)
  std::string busy_reply;     // to RCPT of a local part starting "busy" ("" = 250)
  std::string rcpt_reply;     // to every other RCPT but "unknown" ("" = 250)
  std::string dot_reply;      // to the end of the data ("" = 250)
  bool drop_at_dot = false;   // close the connection instead of answering the end of data
};

// An SMTP server that follows a script and records what it receives.
class scripted_server {
 public:
  scripted_server(asio::io_context& io, std::vector<behaviour> script,
                  asio::ssl::context* tls = nullptr)
      : acceptor_(io, tcp::endpoint(asio::ip::make_address("127.0.0.1"), 0)),
        script_(std::move(script)),
        tls_(tls) {
    asio::co_spawn(io, accept_loop(), asio::detached);
  }

  client_endpoint endpoint() const {
    return client_endpoint{acceptor_.local_endpoint(), "mx.example.net"};
  }
  // What each connection received, decrypted after STARTTLS.
  const std::vector<std::string>& received() const { return received_; }

 private:
  awaitable<void> accept_loop() {
    while (true) {
      auto [ec, sock] = co_await acceptor_.async_accept(k_tuple);
      if (ec) {
        co_return;
      }
      const std::size_t index = received_.size();
      received_.emplace_back();
      const behaviour& b = script_[std::min(index, script_.size() - 1)];
      asio::co_spawn(acceptor_.get_executor(), serve(std::move(sock), b, index), asio::detached);
    }
  }

  awaitable<void> serve(tcp::socket sock, behaviour b, std::size_t index) {
    std::unique_ptr<asio::ssl::stream<tcp::socket&>> tls;
    auto write = [&](std::string_view s) -> awaitable<bool> {
      boost::system::error_code ec;
      if (tls) {
        std::tie(ec, std::ignore) = co_await asio::async_write(*tls, asio::buffer(s), k_tuple);
      } else {
        std::tie(ec, std::ignore) = co_await asio::async_write(sock, asio::buffer(s), k_tuple);
      }
      co_return !ec;
    };
    std::array<char, 4096> buf;
    auto read = [&]() -> awaitable<std::size_t> {
      boost::system::error_code ec;
      std::size_t n = 0;
      if (tls) {
        std::tie(ec, n) = co_await tls->async_read_some(asio::buffer(buf), k_tuple);
      } else {
        std::tie(ec, n) = co_await sock.async_read_some(asio::buffer(buf), k_tuple);
      }
      co_return ec ? 0 : n;
    };

    if (b.silent) {
      while (co_await read() > 0) {
      }
      co_return;
    }
    if (!co_await write(b.greeting) || !b.greeting.starts_with("220")) {
      co_return;
    }
    std::string in;
    bool data = false;
    while (true) {
      const std::size_t n = co_await read();
      if (n == 0) {
        co_return;
      }
      received_[index].append(buf.data(), n);
      in.append(buf.data(), n);
      std::string out;
      while (true) {
        if (data) {
          // The end of data is CRLF "." CRLF, or "." CRLF right at the start.
          const std::size_t end = in.starts_with(".\r\n") ? 0 : in.find("\r\n.\r\n");
          if (end == std::string::npos) {
            break;
          }
          in.erase(0, end == 0 ? 3 : end + 5);
          data = false;
          if (b.drop_at_dot) {
            co_return;
          }
          out += b.dot_reply.empty() ? "250 2.0.0 Ok: queued as 4711\r\n" : b.dot_reply;
          continue;
        }
        const std::size_t eol = in.find("\r\n");
        if (eol == std::string::npos) {
          break;
        }
        const std::string line = in.substr(0, eol);
        in.erase(0, eol + 2);
        const std::string verb = line.substr(0, 4);
        if (verb == "EHLO") {
          out += tls ? b.ehlo_after_tls : b.ehlo;
        } else if (verb == "HELO") {
          out += "250 mx.example.net\r\n";
        } else if (verb == "STAR") {
          if (!co_await write("220 2.0.0 Ready to start TLS\r\n")) {
            co_return;
          }
          if (b.break_tls || tls_ == nullptr) {
            co_await write("this is not a TLS record\r\n");
            co_return;
          }
          tls = std::make_unique<asio::ssl::stream<tcp::socket&>>(sock, *tls_);
          auto [ec] = co_await tls->async_handshake(asio::ssl::stream_base::server, k_tuple);
          if (ec) {
            co_return;
          }
          in.clear();
          received_[index] += "<TLS>";
        } else if (verb == "MAIL") {
          out += b.mail_reply.empty() ? "250 2.0.0 Ok\r\n" : b.mail_reply;
        } else if (verb == "RSET") {
          out += "250 2.0.0 Ok\r\n";
        } else if (verb == "RCPT") {
          if (b.drop_at_rcpt) {
            co_return;
          }
          if (line.find("unknown") != std::string::npos) {
            out += "550 5.1.1 <unknown@example.net>: Recipient address rejected\r\n";
          } else if (line.find("<busy") != std::string::npos && !b.busy_reply.empty()) {
            out += b.busy_reply;
          } else {
            out += b.rcpt_reply.empty() ? "250 2.1.5 Ok\r\n" : b.rcpt_reply;
          }
        } else if (verb == "DATA") {
          out += "354 End data with <CR><LF>.<CR><LF>\r\n";
          data = true;
        } else if (verb == "QUIT") {
          co_await write(out + "221 2.0.0 Bye\r\n");
          co_return;
        } else {
          out += "502 5.5.2 Error: command not recognized\r\n";
        }
      }
      if (!out.empty() && !co_await write(out)) {
        co_return;
      }
    }
  }

  tcp::acceptor acceptor_;
  std::vector<behaviour> script_;
  asio::ssl::context* tls_;
  std::vector<std::string> received_;
};

// A server context with a throwaway self-signed certificate.
void use_self_signed(asio::ssl::context& ctx) {
  EVP_PKEY* key = EVP_EC_gen("P-256");
  X509* x = X509_new();
  X509_set_version(x, 2);
  ASN1_INTEGER_set(X509_get_serialNumber(x), 1);
  X509_gmtime_adj(X509_getm_notBefore(x), -3600);
  X509_gmtime_adj(X509_getm_notAfter(x), 3600);
  X509_set_pubkey(x, key);
  X509_NAME* name = X509_get_subject_name(x);
  X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_ASC,
                             reinterpret_cast<const unsigned char*>("mx.example.net"), -1, -1, 0);
  X509_set_issuer_name(x, name);
  X509_sign(x, key, EVP_sha256());
  SSL_CTX_use_certificate(ctx.native_handle(), x);
  SSL_CTX_use_PrivateKey(ctx.native_handle(), key);
  X509_free(x);
  EVP_PKEY_free(key);
}

client_transaction txn(std::vector<std::string> rcpts) {
  client_transaction t;
  t.sender = mail::address{"alice", "example.test"};
  for (const std::string& r : rcpts) {
    t.recipients.push_back(client_recipient{mail::address{r, "example.net"}, 0, ""});
  }
  t.message = k_message;
  return t;
}

client_timeouts short_timeouts() {
  client_timeouts t;
  t.connect = std::chrono::seconds(5);
  t.greeting = std::chrono::milliseconds(300);
  return t;
}

delivery_report run_deliver(asio::io_context& io, std::vector<client_endpoint> endpoints,
                            std::vector<client_transaction> txns, asio::ssl::context* tls,
                            client_timeouts timeouts = short_timeouts()) {
  std::optional<delivery_report> report;
  asio::co_spawn(io,
                 deliver(io.get_executor(), std::move(endpoints), "client.example.test",
                         std::move(txns), tls, timeouts),
                 [&](std::exception_ptr e, delivery_report r) {
                   if (e) {
                     std::rethrow_exception(e);
                   }
                   report = std::move(r);
                   io.stop();
                 });
  io.run_for(std::chrono::seconds(20));
  EXPECT_TRUE(report) << "deliver() did not finish";
  return report.value_or(delivery_report{});
}

// A port on 127.0.0.1 where nobody listens.
client_endpoint closed_port(asio::io_context& io) {
  tcp::acceptor a(io, tcp::endpoint(asio::ip::make_address("127.0.0.1"), 0));
  client_endpoint e{a.local_endpoint(), "down.example.net"};
  a.close();
  return e;
}

std::string expected_group(std::string_view rcpts_and_data) {
  return "MAIL FROM:<alice@example.test> SIZE=" + std::to_string(k_message.size()) + "\r\n" +
         std::string(rcpts_and_data);
}

const std::string k_wire_message =
    "From: a@example.test\r\nSubject: hi\r\n\r\nHello.\r\n..dot line\r\n.\r\n";

TEST(Connector, TwoTransactionsOnOnePipelinedConnection) {
  asio::io_context io;
  scripted_server server(io, {behaviour{}});
  const delivery_report rep =
      run_deliver(io, {server.endpoint()}, {txn({"bob", "unknown"}), txn({"carol"})}, nullptr);
  ASSERT_EQ(server.received().size(), 1u);
  EXPECT_EQ(server.received()[0],
            "EHLO client.example.test\r\n" +
                expected_group("RCPT TO:<bob@example.net>\r\nRCPT TO:<unknown@example.net>\r\n"
                               "DATA\r\n") +
                k_wire_message + "RSET\r\n" +
                expected_group("RCPT TO:<carol@example.net>\r\nDATA\r\n") + k_wire_message +
                "QUIT\r\n");
  ASSERT_EQ(rep.results.size(), 2u);
  ASSERT_EQ(rep.results[0].recipients.size(), 2u);
  EXPECT_EQ(rep.results[0].recipients[0].status, rcpt_status::Delivered);
  EXPECT_EQ(rep.results[0].recipients[0].reply, "250 2.0.0 Ok: queued as 4711");
  EXPECT_EQ(rep.results[0].recipients[1].status, rcpt_status::Failed);
  EXPECT_EQ(rep.results[0].recipients[1].dsn, "5.1.1");
  EXPECT_EQ(rep.results[1].recipients[0].status, rcpt_status::Delivered);
  EXPECT_EQ(rep.tls, "no TLS");
  EXPECT_EQ(rep.relay,
            "mx.example.net[127.0.0.1]:" + std::to_string(server.endpoint().address.port()));
  EXPECT_TRUE(rep.tried.empty());
}

TEST(Connector, NextHostAfterRefusedConnectAndTemporaryGreeting) {
  asio::io_context io;
  behaviour busy;
  busy.greeting = "421 4.3.2 Service not available\r\n";
  scripted_server refusing(io, {busy});
  scripted_server good(io, {behaviour{}});
  const delivery_report rep = run_deliver(
      io, {closed_port(io), refusing.endpoint(), good.endpoint()}, {txn({"bob"})}, nullptr);
  ASSERT_EQ(rep.tried.size(), 2u);
  EXPECT_NE(rep.tried[0].find("connect to down.example.net[127.0.0.1]"), std::string::npos)
      << rep.tried[0];
  EXPECT_NE(rep.tried[1].find("421 4.3.2 Service not available"), std::string::npos);
  EXPECT_EQ(rep.results[0].recipients[0].status, rcpt_status::Delivered);
  ASSERT_EQ(good.received().size(), 1u);
  EXPECT_TRUE(good.received()[0].starts_with("EHLO client.example.test\r\nMAIL FROM:"));
}

TEST(Connector, EveryHostDownDefersWithTheLastReason) {
  asio::io_context io;
  const delivery_report rep = run_deliver(io, {closed_port(io)}, {txn({"bob"})}, nullptr);
  ASSERT_EQ(rep.results[0].recipients.size(), 1u);
  const client_outcome& o = rep.results[0].recipients[0];
  EXPECT_EQ(o.status, rcpt_status::Deferred);
  EXPECT_EQ(o.dsn, "4.4.1");
  EXPECT_EQ(o.source, outcome_source::Connection);
  EXPECT_TRUE(o.reply.starts_with("connect to down.example.net[127.0.0.1]:")) << o.reply;
  EXPECT_EQ(rep.relay, "");
}

TEST(Connector, GreetingTimeout) {
  asio::io_context io;
  behaviour silent;
  silent.silent = true;
  scripted_server server(io, {silent});
  const delivery_report rep = run_deliver(io, {server.endpoint()}, {txn({"bob"})}, nullptr);
  const client_outcome& o = rep.results[0].recipients[0];
  EXPECT_EQ(o.status, rcpt_status::Deferred);
  EXPECT_EQ(o.dsn, "4.4.2");
  EXPECT_EQ(o.reply, "conversation with mx.example.net[127.0.0.1]:" +
                         std::to_string(server.endpoint().address.port()) +
                         " timed out while receiving the initial server greeting");
}

TEST(Connector, LostConnectionMovesRecipientsToTheNextHost) {
  asio::io_context io;
  behaviour dropping;
  dropping.drop_at_rcpt = true;
  scripted_server first(io, {dropping});
  scripted_server second(io, {behaviour{}});
  const delivery_report rep =
      run_deliver(io, {first.endpoint(), second.endpoint()}, {txn({"bob", "carol"})}, nullptr);
  EXPECT_EQ(rep.results[0].recipients[0].status, rcpt_status::Delivered);
  EXPECT_EQ(rep.results[0].recipients[1].status, rcpt_status::Delivered);
  ASSERT_EQ(rep.tried.size(), 1u);
  EXPECT_NE(rep.tried[0].find("lost connection with mx.example.net"), std::string::npos)
      << rep.tried[0];
  ASSERT_EQ(second.received().size(), 1u);
  EXPECT_NE(second.received()[0].find("RCPT TO:<carol@example.net>"), std::string::npos);
}

std::string port_of(const scripted_server& s) {
  return std::to_string(s.endpoint().address.port());
}

// RFC 5321 §5.1: "until a delivery attempt succeeds". A host that defers every recipient
// hands them all to the next host in the same call.
TEST(Connector, FirstHostDefersEveryRecipientTheNextTakesThem) {
  asio::io_context io;
  behaviour deferring;
  deferring.rcpt_reply = "451 4.3.0 Try again later\r\n";
  scripted_server first(io, {deferring});
  scripted_server second(io, {behaviour{}});
  const delivery_report rep =
      run_deliver(io, {first.endpoint(), second.endpoint()}, {txn({"bob", "carol"})}, nullptr);
  ASSERT_EQ(rep.results[0].recipients.size(), 2u);
  for (const client_outcome& o : rep.results[0].recipients) {
    EXPECT_EQ(o.status, rcpt_status::Delivered);
    EXPECT_EQ(o.reply, "250 2.0.0 Ok: queued as 4711");
  }
  const std::string second_relay = "mx.example.net[127.0.0.1]:" + port_of(second);
  EXPECT_EQ(rep.results[0].relays, std::vector<std::string>({second_relay, second_relay}));
  ASSERT_EQ(first.received().size(), 1u);
  // The scripted server answers 354 even without recipients; then only a lone dot goes
  // out (RFC 2920 §3.1), never the message.
  EXPECT_EQ(first.received()[0].find("Subject: hi"), std::string::npos) << first.received()[0];
  ASSERT_EQ(second.received().size(), 1u);
  EXPECT_EQ(second.received()[0],
            "EHLO client.example.test\r\n" +
                expected_group("RCPT TO:<bob@example.net>\r\nRCPT TO:<carol@example.net>\r\n"
                               "DATA\r\n") +
                k_wire_message + "QUIT\r\n");
  ASSERT_EQ(rep.tried.size(), 1u);
  EXPECT_NE(rep.tried[0].find("451 4.3.0 Try again later (2 recipient(s) deferred)"),
            std::string::npos)
      << rep.tried[0];
}

// Partial success: what the first host accepted or refused for good is done there; only
// its 4xx recipients go on, so each recipient is delivered exactly once.
TEST(Connector, OnlyTheDeferredRecipientsGoToTheNextHost) {
  asio::io_context io;
  behaviour partial;
  partial.busy_reply = "452 4.2.2 Mailbox full\r\n";
  scripted_server first(io, {partial});
  scripted_server second(io, {behaviour{}});
  const delivery_report rep = run_deliver(io, {first.endpoint(), second.endpoint()},
                                          {txn({"bob", "busy", "unknown"})}, nullptr);
  ASSERT_EQ(rep.results[0].recipients.size(), 3u);
  EXPECT_EQ(rep.results[0].recipients[0].status, rcpt_status::Delivered);
  EXPECT_EQ(rep.results[0].recipients[1].status, rcpt_status::Delivered);
  EXPECT_EQ(rep.results[0].recipients[2].status, rcpt_status::Failed);
  EXPECT_EQ(rep.results[0].recipients[2].dsn, "5.1.1");
  const std::string first_relay = "mx.example.net[127.0.0.1]:" + port_of(first);
  const std::string second_relay = "mx.example.net[127.0.0.1]:" + port_of(second);
  EXPECT_EQ(rep.results[0].relays,
            std::vector<std::string>({first_relay, second_relay, first_relay}));
  ASSERT_EQ(second.received().size(), 1u);
  EXPECT_EQ(second.received()[0], "EHLO client.example.test\r\n" +
                                      expected_group("RCPT TO:<busy@example.net>\r\nDATA\r\n") +
                                      k_wire_message + "QUIT\r\n");
}

// A 4xx to MAIL or to the end of the data fails the whole transaction at that host.
TEST(Connector, TemporaryRefusalOfMailOrDataGoesToTheNextHost) {
  for (const bool at_mail : {true, false}) {
    SCOPED_TRACE(at_mail ? "MAIL" : "end of data");
    asio::io_context io;
    behaviour refusing;
    (at_mail ? refusing.mail_reply : refusing.dot_reply) = "451 4.3.0 Local problem\r\n";
    scripted_server first(io, {refusing});
    scripted_server second(io, {behaviour{}});
    const delivery_report rep =
        run_deliver(io, {first.endpoint(), second.endpoint()}, {txn({"bob"})}, nullptr);
    EXPECT_EQ(rep.results[0].recipients[0].status, rcpt_status::Delivered);
    ASSERT_EQ(second.received().size(), 1u);
    EXPECT_NE(second.received()[0].find("RCPT TO:<bob@example.net>"), std::string::npos);
  }
}

// RFC 1047: the connection died after the final dot, before its reply. The first host
// may have the message; the next one is tried anyway (a duplicate is better than a loss).
TEST(Connector, LostAfterTheFinalDotTriesTheNextHost) {
  asio::io_context io;
  behaviour dropping;
  dropping.drop_at_dot = true;
  scripted_server first(io, {dropping});
  scripted_server second(io, {behaviour{}});
  const delivery_report rep =
      run_deliver(io, {first.endpoint(), second.endpoint()}, {txn({"bob"})}, nullptr);
  EXPECT_EQ(rep.results[0].recipients[0].status, rcpt_status::Delivered);
  EXPECT_TRUE(rep.results[0].data_sent);
  ASSERT_EQ(second.received().size(), 1u);
  EXPECT_NE(second.received()[0].find("Subject: hi"), std::string::npos);
  bool warned = false;
  for (const std::string& t : rep.tried) {
    warned = warned || t.find("RFC 1047") != std::string::npos;
  }
  EXPECT_TRUE(warned);
}

// Every host deferred or was down: the peer's 4xx about the recipient stays, not the
// later "connection refused".
TEST(Connector, EveryHostDefersKeepsThePeersReply) {
  asio::io_context io;
  behaviour deferring;
  deferring.rcpt_reply = "450 4.2.1 Mailbox busy\r\n";
  scripted_server first(io, {deferring});
  const delivery_report rep =
      run_deliver(io, {first.endpoint(), closed_port(io)}, {txn({"bob"})}, nullptr);
  const client_outcome& o = rep.results[0].recipients[0];
  EXPECT_EQ(o.status, rcpt_status::Deferred);
  EXPECT_EQ(o.reply, "450 4.2.1 Mailbox busy");
  EXPECT_EQ(o.dsn, "4.2.1");
  EXPECT_EQ(o.source, outcome_source::Peer);
  EXPECT_EQ(rep.results[0].relays[0], "mx.example.net[127.0.0.1]:" + port_of(first));
}

TEST(Connector, StarttlsThenEhloAgain) {
  asio::io_context io;
  asio::ssl::context server_ctx(asio::ssl::context::tls_server);
  use_self_signed(server_ctx);
  asio::ssl::context client_ctx(asio::ssl::context::tls_client);
  behaviour b;
  b.ehlo = "250-mx.example.net\r\n250-PIPELINING\r\n250 STARTTLS\r\n";
  scripted_server server(io, {b}, &server_ctx);
  const delivery_report rep = run_deliver(io, {server.endpoint()}, {txn({"bob"})}, &client_ctx);
  EXPECT_TRUE(rep.tls.starts_with("TLS established: TLSv1.3 cipher TLS_")) << rep.tls;
  EXPECT_EQ(rep.results[0].recipients[0].status, rcpt_status::Delivered);
  ASSERT_EQ(server.received().size(), 1u);
  EXPECT_EQ(server.received()[0],
            "EHLO client.example.test\r\nSTARTTLS\r\n<TLS>EHLO client.example.test\r\n"
            "MAIL FROM:<alice@example.test>\r\nRCPT TO:<bob@example.net>\r\nDATA\r\n" +
                k_wire_message + "QUIT\r\n");
}

TEST(Connector, FailedHandshakeIsRetriedInTheClear) {
  asio::io_context io;
  asio::ssl::context client_ctx(asio::ssl::context::tls_client);
  behaviour broken;
  broken.ehlo = "250-mx.example.net\r\n250 STARTTLS\r\n";
  broken.break_tls = true;
  scripted_server server(io, {broken});
  const delivery_report rep = run_deliver(io, {server.endpoint()}, {txn({"bob"})}, &client_ctx);
  ASSERT_EQ(rep.tried.size(), 1u);
  EXPECT_NE(rep.tried[0].find("TLS handshake failed"), std::string::npos) << rep.tried[0];
  EXPECT_NE(rep.tried[0].find("trying again without TLS"), std::string::npos);
  EXPECT_EQ(rep.tls, "no TLS");
  EXPECT_EQ(rep.results[0].recipients[0].status, rcpt_status::Delivered);
  ASSERT_EQ(server.received().size(), 2u);
  EXPECT_EQ(server.received()[1],
            "EHLO client.example.test\r\nMAIL FROM:<alice@example.test>\r\n"
            "RCPT TO:<bob@example.net>\r\nDATA\r\n" +
                k_wire_message + "QUIT\r\n");
}

TEST(Connector, ConnectionObjectIsReusable) {
  asio::io_context io;
  behaviour lockstep;
  lockstep.ehlo = "250 mx.example.net\r\n";
  scripted_server server(io, {lockstep});
  std::vector<transaction_result> results;
  std::string tls;
  std::uint32_t sent = 0;
  // GCC 12 cannot compile braced lists of string literals inside a coroutine lambda:
  // everything is prepared outside and checked afterwards.
  const client_transaction first = txn({"bob"});
  const client_transaction second = txn({"carol"});
  bool connected = false, usable_between = false, usable_after = true;
  auto run = [&]() -> awaitable<void> {
    auto conn = client_connection::create(co_await asio::this_coro::executor, "client.example.test",
                                          nullptr, short_timeouts());
    connected = (co_await conn->async_connect(server.endpoint())).has_value();
    results.push_back(co_await conn->async_send(first));
    usable_between = conn->usable();
    results.push_back(co_await conn->async_send(second));
    sent = conn->protocol()->transactions();
    tls = conn->tls_info();
    co_await conn->async_quit();
    usable_after = conn->usable();
  };
  asio::co_spawn(io, run(), [&](std::exception_ptr e) {
    if (e) {
      std::rethrow_exception(e);
    }
    io.stop();
  });
  io.run_for(std::chrono::seconds(20));
  EXPECT_TRUE(connected);
  EXPECT_TRUE(usable_between);
  EXPECT_FALSE(usable_after);
  ASSERT_EQ(results.size(), 2u);
  EXPECT_EQ(results[0].recipients[0].status, rcpt_status::Delivered);
  EXPECT_EQ(results[1].recipients[0].status, rcpt_status::Delivered);
  EXPECT_EQ(sent, 2u);
  EXPECT_EQ(tls, "no TLS");
  ASSERT_EQ(server.received().size(), 1u);
  // Lock-step (no PIPELINING), with RSET before the second transaction.
  EXPECT_EQ(server.received()[0],
            "EHLO client.example.test\r\nMAIL FROM:<alice@example.test>\r\n"
            "RCPT TO:<bob@example.net>\r\nDATA\r\n" +
                k_wire_message +
                "RSET\r\nMAIL FROM:<alice@example.test>\r\nRCPT TO:<carol@example.net>\r\n"
                "DATA\r\n" +
                k_wire_message + "QUIT\r\n");
}

}  // namespace
}  // namespace posthorn::smtp
