#include "admin/metrics_http.hpp"

#include <spdlog/spdlog.h>

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/strand.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/core/tcp_stream.hpp>
#include <boost/beast/http.hpp>

#include <mutex>
#include <optional>
#include <unordered_map>
#include <vector>

namespace posthorn::admin {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
using asio::awaitable;
using asio::ip::tcp;

namespace {

constexpr auto k_tuple = asio::as_tuple(asio::use_awaitable);
// The content type of the text exposition format Prometheus asks for.
constexpr std::string_view k_content_type = "text/plain; version=0.0.4; charset=utf-8";

std::string endpoint_text(const tcp::endpoint& ep) {
  std::string host = ep.address().to_string();
  if (ep.address().is_v6()) {
    host = "[" + host + "]";
  }
  return host + ":" + std::to_string(ep.port());
}

}  // namespace

struct metrics_server::state {
  state(asio::io_context& io_, const metrics::registry& reg_, metrics_http_options opts_)
      : io(io_), reg(reg_), opts(opts_), strand(asio::make_strand(io_)), acceptor(strand) {}

  asio::io_context& io;
  const metrics::registry& reg;
  metrics_http_options opts;
  asio::strand<asio::io_context::executor_type> strand;  // the acceptor's
  tcp::acceptor acceptor;

  // The connections open now, so close() can end them; each is used on its own strand.
  std::mutex mu;
  bool closed = false;
  std::uint64_t next_id = 0;
  std::unordered_map<std::uint64_t, std::weak_ptr<beast::tcp_stream>> conns;
};

namespace {

using state = metrics_server::state;

// The answer to one request (for HEAD, only its header is sent).
http::response<http::string_body> respond(const state& st,
                                          const http::request<http::string_body>& req) {
  http::response<http::string_body> res;
  res.version(req.version());
  res.keep_alive(req.keep_alive());
  res.set(http::field::server, "posthorn");
  std::string_view target(req.target().data(), req.target().size());
  std::string_view path = target.substr(0, target.find('?'));
  if (req.method() != http::verb::get && req.method() != http::verb::head) {
    res.result(http::status::method_not_allowed);
    res.set(http::field::allow, "GET, HEAD");
    res.set(http::field::content_type, "text/plain; charset=utf-8");
    res.body() = "method not allowed\n";
  } else if (path != "/metrics") {
    res.result(http::status::not_found);
    res.set(http::field::content_type, "text/plain; charset=utf-8");
    res.body() = "not found; try /metrics\n";
  } else {
    res.result(http::status::ok);
    res.set(http::field::content_type, k_content_type);
    st.reg.render(res.body());
  }
  res.prepare_payload();
  return res;
}

// A bare error response for a request that could not be read whole; the connection
// closes after it.
http::response<http::string_body> refusal(http::status status, std::string body) {
  http::response<http::string_body> res{status, 11};
  res.set(http::field::server, "posthorn");
  res.set(http::field::content_type, "text/plain; charset=utf-8");
  res.keep_alive(false);
  res.body() = std::move(body);
  res.prepare_payload();
  return res;
}

awaitable<void> serve_connection(std::shared_ptr<state> st,
                                 std::shared_ptr<beast::tcp_stream> stream, std::uint64_t id) {
  // The buffer's cap bounds what a client can make us hold, whatever it sends.
  beast::flat_buffer buf(st->opts.max_request);
  while (true) {
    http::request_parser<http::string_body> parser;
    parser.header_limit(static_cast<std::uint32_t>(st->opts.max_request));
    parser.body_limit(st->opts.max_request);
    // One deadline for the whole request: a client trickling bytes is cut off too.
    stream->expires_after(st->opts.timeout);
    auto [ec, n] = co_await http::async_read(*stream, buf, parser, k_tuple);
    if (ec) {
      std::optional<http::response<http::string_body>> last;
      if (ec == http::error::header_limit || ec == http::error::body_limit ||
          ec == http::error::buffer_overflow) {
        last = refusal(http::status::payload_too_large, "request too large\n");
      } else if (ec.category() == http::make_error_code(http::error::bad_target).category() &&
                 ec != http::error::end_of_stream && ec != http::error::partial_message) {
        // Malformed HTTP; a client that just went away (or timed out) gets nothing.
        last = refusal(http::status::bad_request, "bad request\n");
      }
      if (last) {
        stream->expires_after(st->opts.timeout);
        co_await http::async_write(*stream, *last, k_tuple);
      }
      break;
    }
    const http::request<http::string_body>& req = parser.get();
    http::response<http::string_body> res = respond(*st, req);
    stream->expires_after(st->opts.timeout);
    if (req.method() == http::verb::head) {
      http::response_serializer<http::string_body> sr{res};
      auto [wec, wn] = co_await http::async_write_header(*stream, sr, k_tuple);
      if (wec) {
        break;
      }
    } else {
      auto [wec, wn] = co_await http::async_write(*stream, res, k_tuple);
      if (wec) {
        break;
      }
    }
    if (!res.keep_alive()) {
      break;
    }
  }
  boost::system::error_code ignored;
  stream->socket().shutdown(tcp::socket::shutdown_send, ignored);
  stream->close();
  std::lock_guard lock(st->mu);
  st->conns.erase(id);
}

awaitable<void> accept_loop(std::shared_ptr<state> st) {
  while (st->acceptor.is_open()) {
    auto [ec, accepted] = co_await st->acceptor.async_accept(asio::make_strand(st->io), k_tuple);
    if (ec) {
      if (ec == asio::error::operation_aborted || !st->acceptor.is_open()) {
        co_return;
      }
      // EMFILE and friends: the SMTP listeners need the descriptors more; wait a little.
      spdlog::warn("accept on the metrics listener failed: {}", ec.message());
      asio::steady_timer t(st->strand, std::chrono::milliseconds(100));
      co_await t.async_wait(k_tuple);
      continue;
    }
    auto stream = std::make_shared<beast::tcp_stream>(tcp::socket(std::move(accepted)));
    std::uint64_t id = 0;
    {
      std::lock_guard lock(st->mu);
      if (st->closed || st->conns.size() >= st->opts.max_connections) {
        stream->close();  // a scraper needs one connection; more is a misbehaving client
        continue;
      }
      id = st->next_id++;
      st->conns.emplace(id, stream);
    }
    auto ex = stream->get_executor();
    asio::co_spawn(ex, serve_connection(st, std::move(stream), id), asio::detached);
  }
}

}  // namespace

result<std::shared_ptr<metrics_server>> metrics_server::open(asio::io_context& io,
                                                              const host_port& where,
                                                              const metrics::registry& reg,
                                                              metrics_http_options opts) {
  auto st = std::make_shared<state>(io, reg, opts);
  const std::string text = where.host + ":" + std::to_string(where.port);
  boost::system::error_code ec;
  auto addr = asio::ip::make_address(where.host, ec);
  if (ec) {
    // A host name ("localhost"): resolved once at start, like the SMTP listeners.
    tcp::resolver resolver(io);
    auto found = resolver.resolve(where.host, std::to_string(where.port), ec);
    if (ec || found.empty()) {
      return fail(error::perm("", "cannot resolve metrics address " + text));
    }
    addr = found.begin()->endpoint().address();
  }
  if (!addr.is_loopback()) {
    // Allowed (a private network may be where Prometheus is), but worth a word: anyone
    // who reaches it sees the server's traffic figures.
    spdlog::warn("the metrics listener on {} is not on loopback and has no authentication",
                 text);
  }
  tcp::endpoint ep(addr, where.port);
  tcp::acceptor& a = st->acceptor;
  a.open(ep.protocol(), ec);
  if (!ec) {
    a.set_option(tcp::acceptor::reuse_address(true), ec);
  }
  if (!ec) {
    a.bind(ep, ec);
  }
  if (!ec) {
    a.listen(asio::socket_base::max_listen_connections, ec);
  }
  if (ec) {
    return fail(error::perm("", "cannot listen on " + text + " (metrics): " + ec.message()));
  }
  return std::shared_ptr<metrics_server>(new metrics_server(std::move(st)));
}

metrics_server::~metrics_server() { close(); }

void metrics_server::start() {
  asio::co_spawn(state_->strand, accept_loop(state_), asio::detached);
}

void metrics_server::close() {
  std::vector<std::shared_ptr<beast::tcp_stream>> open;
  {
    std::lock_guard lock(state_->mu);
    if (state_->closed) {
      return;
    }
    state_->closed = true;
    for (auto& [id, w] : state_->conns) {
      if (auto s = w.lock()) {
        open.push_back(std::move(s));
      }
    }
  }
  // Each object is touched on its own strand only.
  asio::post(state_->strand, [st = state_] {
    boost::system::error_code ec;
    st->acceptor.close(ec);
  });
  for (auto& s : open) {
    auto ex = s->get_executor();
    asio::post(ex, [s] { s->close(); });
  }
}

std::string metrics_server::address() const {
  boost::system::error_code ec;
  auto ep = state_->acceptor.local_endpoint(ec);
  return ec ? std::string("?") : endpoint_text(ep);
}

}  // namespace posthorn::admin
