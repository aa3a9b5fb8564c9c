// The server context through Boost.Asio's ssl::stream, as the connection driver uses it:
// two streams over a local socket pair, a handshake each side, data both ways.

#include <gtest/gtest.h>

#include <boost/asio/io_context.hpp>
#include <boost/asio/local/connect_pair.hpp>
#include <boost/asio/local/stream_protocol.hpp>
#include <boost/asio/read.hpp>
#include <boost/asio/ssl/stream.hpp>
#include <boost/asio/write.hpp>
#include <string>
#include <thread>

#include "tls/context.hpp"
#include "tls/session_info.hpp"
#include "tls_test_util.hpp"

namespace posthorn::tls {
namespace {

namespace asio = boost::asio;
using socket_t = asio::local::stream_protocol::socket;

TEST(TlsAsioStream, HandshakeAndDataOverASocketPair) {
  const test::temp_dir dir;
  server_settings settings;
  settings.cert = dir.path() / "cert.pem";
  settings.key = dir.path() / "key.pem";
  settings.self_signed = true;
  settings.hostname = "mx.example.test";
  auto store = context_store::create(settings);
  ASSERT_TRUE(store.has_value()) << store.error().message;
  auto client_ctx = make_client_context();
  ASSERT_TRUE(client_ctx.has_value());

  asio::io_context io;
  socket_t server_socket(io);
  socket_t client_socket(io);
  asio::local::connect_pair(server_socket, client_socket);
  // The context shared_ptr travels with the stream, as a session keeps it.
  const auto server_ctx = (*store)->current();
  asio::ssl::stream<socket_t> server(std::move(server_socket), *server_ctx);
  asio::ssl::stream<socket_t> client(std::move(client_socket), **client_ctx);

  boost::system::error_code server_ec;
  std::string received(5, '\0');
  std::thread server_side([&] {
    server.handshake(asio::ssl::stream_base::server, server_ec);
    if (!server_ec) {
      asio::read(server, asio::buffer(received), server_ec);
    }
    if (!server_ec) {
      asio::write(server, asio::buffer(std::string_view("250 ok")), server_ec);
    }
  });
  boost::system::error_code client_ec;
  client.handshake(asio::ssl::stream_base::client, client_ec);
  std::string reply(6, '\0');
  if (!client_ec) {
    asio::write(client, asio::buffer(std::string_view("EHLO ")), client_ec);
  }
  if (!client_ec) {
    asio::read(client, asio::buffer(reply), client_ec);
  }
  server_side.join();
  ASSERT_FALSE(client_ec) << client_ec.message();
  ASSERT_FALSE(server_ec) << server_ec.message();
  EXPECT_EQ(received, "EHLO ");
  EXPECT_EQ(reply, "250 ok");
  EXPECT_EQ(SSL_version(server.native_handle()), TLS1_3_VERSION);
  EXPECT_EQ(received_comment(server.native_handle()),
            "(using TLSv1.3 with cipher TLS_AES_256_GCM_SHA384)");
}

}  // namespace
}  // namespace posthorn::tls
