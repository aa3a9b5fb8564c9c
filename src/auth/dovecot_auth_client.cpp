// The only place where the Dovecot auth protocol meets a socket and the clock.

#include "auth/dovecot_auth_client.hpp"

#include <unistd.h>

#include <array>
#include <boost/asio/as_tuple.hpp>
#include <boost/asio/local/stream_protocol.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/asio/write.hpp>
#include <memory>

namespace posthorn::auth {

namespace asio = boost::asio;
using asio::awaitable;
using unix_socket = asio::local::stream_protocol;

namespace {

constexpr auto k_tuple = asio::as_tuple(asio::use_awaitable);

// The socket and the deadline that closes it; the timer's handler holds it weakly.
struct attempt : std::enable_shared_from_this<attempt> {
  explicit attempt(asio::any_io_executor ex) : sock(ex), timer(ex) {}
  unix_socket::socket sock;
  asio::steady_timer timer;
  bool timed_out = false;

  void arm(std::chrono::milliseconds d) {
    timer.expires_after(d);
    timer.async_wait([w = weak_from_this()](const boost::system::error_code& ec) {
      auto self = w.lock();
      if (ec || !self) {
        return;
      }
      self->timed_out = true;
      boost::system::error_code ignored;
      self->sock.close(ignored);
    });
  }
  ~attempt() {
    timer.cancel();
    boost::system::error_code ignored;
    sock.close(ignored);
  }
};

dovecot::check_result temp(std::string reason) {
  return dovecot::check_result{dovecot::verdict::TempFail, "", std::move(reason)};
}

}  // namespace

awaitable<dovecot::check_result> dovecot_check_plain(
    asio::any_io_executor ex, std::filesystem::path socket, std::string_view user,
    std::string_view password, dovecot::request_info info, std::chrono::milliseconds timeout) {
  // The command is rendered before the first suspension: the views may not outlive it.
  constexpr std::uint32_t k_id = 1;
  secret request = dovecot::client_codec::auth_plain(k_id, info, user, password);
  auto a = std::make_shared<attempt>(ex);
  a->arm(timeout);
  const auto why = [&a, &socket](const boost::system::error_code& ec) {
    return a->timed_out ? "Dovecot auth at " + socket.string() + " timed out"
                        : "Dovecot auth at " + socket.string() + ": " + ec.message();
  };

  boost::system::error_code ec;
  std::tie(ec) = co_await a->sock.async_connect(unix_socket::endpoint(socket.string()), k_tuple);
  if (ec || a->timed_out) {
    co_return temp(why(ec));
  }
  // The handshake: ours, then the server's (VERSION, MECH..., DONE); the request only
  // after DONE, as Dovecot expects.
  const std::string hello = dovecot::client_codec::hello(static_cast<std::uint32_t>(::getpid()));
  std::tie(ec, std::ignore) = co_await asio::async_write(a->sock, asio::buffer(hello), k_tuple);
  if (ec || a->timed_out) {
    co_return temp(why(ec));
  }
  dovecot::client_codec codec;
  std::array<char, 4096> buf{};
  std::string_view in;
  bool sent = false;
  while (true) {
    if (in.empty()) {
      std::size_t n = 0;
      std::tie(ec, n) = co_await a->sock.async_read_some(asio::buffer(buf), k_tuple);
      if (ec || n == 0 || a->timed_out) {
        co_return temp(why(ec ? ec : asio::error::make_error_code(asio::error::eof)));
      }
      in = std::string_view(buf.data(), n);
    }
    auto e = codec.feed(in);
    if (!e) {
      co_return temp(e.error());
    }
    if (!*e) {
      continue;
    }
    if ((*e)->k == dovecot::client_codec::event::kind::Ready && !sent) {
      sent = true;
      std::tie(ec, std::ignore) = co_await asio::async_write(
          a->sock, asio::buffer(request.view().data(), request.size()), k_tuple);
      request.clear();
      if (ec || a->timed_out) {
        co_return temp(why(ec));
      }
    } else if ((*e)->k == dovecot::client_codec::event::kind::Done && (*e)->id == k_id) {
      co_return std::move((*e)->result);
    }
  }
}

}  // namespace posthorn::auth
