#pragma once
// The Prometheus scrape endpoint (DESIGN.md §4.5): GET /metrics over HTTP/1.1 with
// Boost.Beast, on the server's io_context. Meant for a loopback address: it has no
// authentication and tells anyone who asks how busy the server is.

#include <boost/asio/io_context.hpp>

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>

#include "common/cidr.hpp"
#include "common/error.hpp"
#include "common/metrics.hpp"

namespace posthorn::admin {

struct metrics_http_options {
  // A request must arrive whole within this, and a response be taken within it; an
  // idle keep-alive connection is closed after it.
  std::chrono::steady_clock::duration timeout = std::chrono::seconds(10);
  std::size_t max_request = 8 * 1024;  // octets of request line, headers and body
  std::size_t max_connections = 32;    // more are closed at once
};

class metrics_server {
 public:
  // Binds and listens on `where`; errors name the address.
  static result<std::shared_ptr<metrics_server>> open(boost::asio::io_context& io,
                                                      const host_port& where,
                                                      const metrics::registry& reg,
                                                      metrics_http_options opts = {});
  ~metrics_server();

  // Starts accepting on the io_context.
  void start();
  // Stops accepting and closes the connections open now; thread-safe.
  void close();
  // "127.0.0.1:9464" as bound (the real port when 0 was asked for).
  std::string address() const;

  struct state;

 private:
  explicit metrics_server(std::shared_ptr<state> s) : state_(std::move(s)) {}
  std::shared_ptr<state> state_;  // shared with the coroutines, which may outlive us
};

}  // namespace posthorn::admin
