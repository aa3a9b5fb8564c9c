// The /metrics HTTP listener against real sockets on loopback: what it answers, and how
// it bounds what a client can make it hold (request size, time, connections).

#include "admin/metrics_http.hpp"

#include <gtest/gtest.h>

#include <boost/asio/connect.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/read.hpp>
#include <boost/asio/write.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/http.hpp>

#include <chrono>
#include <thread>

namespace posthorn::admin {
namespace {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
using asio::ip::tcp;
using namespace std::chrono_literals;

class MetricsHttpTest : public testing::Test {
 protected:
  void start(metrics_http_options opts) {
    registry_.add_counter("posthorn_test_total", "A test counter.").inc(3);
    auto s = metrics_server::open(io_, host_port{"127.0.0.1", 0}, registry_, opts);
    ASSERT_TRUE(s.has_value()) << s.error().message;
    server_ = *s;
    server_->start();
    std::string addr = server_->address();
    port_ = static_cast<std::uint16_t>(std::stoi(addr.substr(addr.rfind(':') + 1)));
    thread_ = std::thread([this] { io_.run(); });
  }
  void TearDown() override {
    if (server_) {
      server_->close();
    }
    io_.stop();
    if (thread_.joinable()) {
      thread_.join();
    }
  }

  tcp::socket connect() {
    tcp::socket s(client_io_);
    s.connect(tcp::endpoint(asio::ip::make_address("127.0.0.1"), port_));
    return s;
  }

  // Sends `req` and reads one response.
  http::response<http::string_body> exchange(tcp::socket& s, std::string_view req) {
    asio::write(s, asio::buffer(req));
    http::response<http::string_body> res;
    http::read(s, buf_, res);
    return res;
  }

  // True when the server closes the connection (EOF or reset) within `within`.
  static bool closed_by_server(tcp::socket& s, std::chrono::milliseconds within) {
    auto until = std::chrono::steady_clock::now() + within;
    s.non_blocking(true);
    char c[512];
    while (std::chrono::steady_clock::now() < until) {
      boost::system::error_code ec;
      s.read_some(asio::buffer(c), ec);
      if (ec == asio::error::would_block) {
        std::this_thread::sleep_for(5ms);
        continue;
      }
      if (ec) {
        return true;  // eof or connection reset
      }
    }
    return false;
  }

  metrics::registry registry_;
  asio::io_context io_;
  asio::io_context client_io_;
  std::shared_ptr<metrics_server> server_;
  std::thread thread_;
  std::uint16_t port_ = 0;
  beast::flat_buffer buf_;
};

constexpr std::string_view k_get = "GET /metrics HTTP/1.1\r\nHost: x\r\n\r\n";

TEST_F(MetricsHttpTest, GetMetricsRendersTheRegistry) {
  start({});
  tcp::socket s = connect();
  auto res = exchange(s, k_get);
  EXPECT_EQ(res.result(), http::status::ok);
  EXPECT_EQ(res[http::field::content_type], "text/plain; version=0.0.4; charset=utf-8");
  EXPECT_EQ(res.body(),
            "# HELP posthorn_test_total A test counter.\n"
            "# TYPE posthorn_test_total counter\n"
            "posthorn_test_total 3\n");
  EXPECT_TRUE(res.keep_alive());
  // Keep-alive: the same connection answers again, with what the registry says now.
  registry_.add_counter("posthorn_test_total", "A test counter.").inc();
  res = exchange(s, "GET /metrics?name=x HTTP/1.1\r\nHost: x\r\n\r\n");
  EXPECT_EQ(res.result(), http::status::ok);
  EXPECT_NE(res.body().find("posthorn_test_total 4\n"), std::string::npos);
}

TEST_F(MetricsHttpTest, OtherPathsAndMethods) {
  start({});
  tcp::socket s = connect();
  EXPECT_EQ(exchange(s, "GET /other HTTP/1.1\r\nHost: x\r\n\r\n").result(), http::status::not_found);
  EXPECT_EQ(exchange(s, "GET / HTTP/1.1\r\nHost: x\r\n\r\n").result(), http::status::not_found);
  auto res = exchange(s, "POST /metrics HTTP/1.1\r\nHost: x\r\nContent-Length: 3\r\n\r\nx=1");
  EXPECT_EQ(res.result(), http::status::method_not_allowed);
  EXPECT_EQ(res[http::field::allow], "GET, HEAD");
  // HEAD: the headers GET would have, without the body.
  asio::write(s, asio::buffer(std::string_view("HEAD /metrics HTTP/1.1\r\nHost: x\r\n\r\n")));
  http::response_parser<http::empty_body> head;
  head.skip(true);
  http::read_header(s, buf_, head);
  EXPECT_EQ(head.get().result(), http::status::ok);
  EXPECT_EQ(head.get()[http::field::content_length], "100");
  // The connection is still in step: no body followed the HEAD response.
  EXPECT_EQ(exchange(s, k_get).result(), http::status::ok);
}

TEST_F(MetricsHttpTest, ConnectionCloseIsHonoured) {
  start({});
  tcp::socket s = connect();
  auto res = exchange(s, "GET /metrics HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n");
  EXPECT_EQ(res.result(), http::status::ok);
  EXPECT_FALSE(res.keep_alive());
  EXPECT_TRUE(closed_by_server(s, 2000ms));
}

TEST_F(MetricsHttpTest, OversizedRequestIsRefusedAndClosed) {
  start({.max_request = 1024});
  tcp::socket s = connect();
  std::string req = "GET /metrics HTTP/1.1\r\nHost: x\r\nX-Big: " + std::string(900, 'x') +
                    "\r\nX-More: " + std::string(900, 'y') + "\r\n\r\n";
  asio::write(s, asio::buffer(req));
  // 413, unless the reset for the unread rest overtook it; closed either way, at once.
  http::response<http::string_body> res;
  boost::system::error_code ec;
  http::read(s, buf_, res, ec);
  if (!ec) {
    EXPECT_EQ(res.result(), http::status::payload_too_large);
  }
  EXPECT_TRUE(closed_by_server(s, 2000ms));
  tcp::socket again = connect();
  EXPECT_EQ(exchange(again, k_get).result(), http::status::ok);
}

TEST_F(MetricsHttpTest, MalformedRequestGets400) {
  start({});
  tcp::socket s = connect();
  auto res = exchange(s, "GET /metrics HTTP/1.1\r\nHost x\r\n\r\n");
  EXPECT_EQ(res.result(), http::status::bad_request);
  EXPECT_TRUE(closed_by_server(s, 2000ms));
}

TEST_F(MetricsHttpTest, SlowAndIdleClientsAreCutOff) {
  start({.timeout = 300ms});
  tcp::socket slow = connect();
  asio::write(slow, asio::buffer(std::string_view("GET /metr")));  // and nothing more
  tcp::socket idle = connect();
  EXPECT_EQ(exchange(idle, k_get).result(), http::status::ok);  // then stays silent
  // The server ends both (a bounded wait for that event, not a measurement): the 300 ms
  // timeout is what closes them, as a client never hangs up by itself here.
  EXPECT_TRUE(closed_by_server(slow, 10000ms));
  EXPECT_TRUE(closed_by_server(idle, 10000ms));
}

TEST_F(MetricsHttpTest, ConnectionsBeyondTheLimitAreClosed) {
  start({.max_connections = 2});
  tcp::socket a = connect();
  tcp::socket b = connect();
  EXPECT_EQ(exchange(a, k_get).result(), http::status::ok);
  EXPECT_EQ(exchange(b, k_get).result(), http::status::ok);
  tcp::socket c = connect();
  EXPECT_TRUE(closed_by_server(c, 2000ms));
  a.close();
  // Once one has gone, another is served (its slot is freed when its coroutine ends).
  bool served = false;
  for (int i = 0; i < 100 && !served; ++i) {
    tcp::socket d = connect();
    asio::write(d, asio::buffer(k_get));
    http::response<http::string_body> res;
    boost::system::error_code ec;
    http::read(d, buf_, res, ec);
    served = !ec && res.result() == http::status::ok;
    buf_.clear();
    if (!served) {
      std::this_thread::sleep_for(10ms);
    }
  }
  EXPECT_TRUE(served);
}

TEST_F(MetricsHttpTest, CloseEndsOpenConnectionsAndStopsAccepting) {
  start({});
  tcp::socket s = connect();
  EXPECT_EQ(exchange(s, k_get).result(), http::status::ok);
  server_->close();
  EXPECT_TRUE(closed_by_server(s, 2000ms));
  // The listening socket is closed: a new connection is refused (or closed at once).
  std::this_thread::sleep_for(50ms);
  tcp::socket late(client_io_);
  boost::system::error_code ec;
  late.connect(tcp::endpoint(asio::ip::make_address("127.0.0.1"), port_), ec);
  if (!ec) {
    EXPECT_TRUE(closed_by_server(late, 2000ms));
  }
}

TEST_F(MetricsHttpTest, AddressInUseIsAnError) {
  start({});
  auto second = metrics_server::open(io_, host_port{"127.0.0.1", port_}, registry_);
  ASSERT_FALSE(second.has_value());
  EXPECT_NE(second.error().message.find("127.0.0.1:" + std::to_string(port_)), std::string::npos);
}

}  // namespace
}  // namespace posthorn::admin
