#include "smtp/server/listener.hpp"

#include <spdlog/spdlog.h>

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/ip/v6_only.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/strand.hpp>
#include <boost/asio/use_awaitable.hpp>

#include "common/asio_unix.hpp"

namespace posthorn::smtp {

namespace asio = boost::asio;
using asio::ip::tcp;

bool connection_limits::acquire(const std::string& ip) {
  std::lock_guard lock(mu_);
  if (total_ != 0 && active_.load() >= total_) {
    return false;
  }
  std::uint32_t& n = by_ip_[ip];
  if (per_ip_ != 0 && n >= per_ip_) {
    if (n == 0) {
      by_ip_.erase(ip);
    }
    return false;
  }
  ++n;
  ++active_;
  return true;
}

bool connection_limits::transfer(const std::string& from, const std::string& to) {
  std::lock_guard lock(mu_);
  auto it = by_ip_.find(to);
  if (per_ip_ != 0 && it != by_ip_.end() && it->second >= per_ip_) {
    return false;
  }
  ++by_ip_[to];
  auto old = by_ip_.find(from);
  if (old != by_ip_.end() && --old->second == 0) {
    by_ip_.erase(old);
  }
  return true;
}

void connection_limits::release(const std::string& ip) {
  std::lock_guard lock(mu_);
  auto it = by_ip_.find(ip);
  if (it != by_ip_.end() && --it->second == 0) {
    by_ip_.erase(it);
  }
  --active_;
}

namespace {

// Accepts until the acceptor is closed; each connection gets its own strand.
template <class Acceptor>
void accept_loop(asio::io_context& io, Acceptor& acceptor, server_context& ctx,
                 const config::listen_config& where) {
  asio::co_spawn(
      io,
      [&]() -> asio::awaitable<void> {
        while (acceptor.is_open()) {
          auto [ec, socket] = co_await acceptor.async_accept(asio::make_strand(io),
                                                             asio::as_tuple(asio::use_awaitable));
          if (ec) {
            if (ec == asio::error::operation_aborted || !acceptor.is_open()) {
              co_return;
            }
            // EMFILE and friends: log, pause briefly, keep serving the others.
            spdlog::warn("accept on {} failed: {}", where.address, ec.message());
            asio::steady_timer t(io, std::chrono::milliseconds(100));
            co_await t.async_wait(asio::use_awaitable);
            continue;
          }
          spawn_connection(std::move(socket), ctx, where);
        }
      },
      asio::detached);
}

}  // namespace

std::uint64_t connection_registry::add(std::function<void()> wake) {
  std::lock_guard lock(mu_);
  std::uint64_t id = next_++;
  wakers_.emplace(id, std::move(wake));
  return id;
}

void connection_registry::remove(std::uint64_t id) {
  std::lock_guard lock(mu_);
  wakers_.erase(id);
}

void connection_registry::wake_all() {
  std::lock_guard lock(mu_);
  for (auto& [id, wake] : wakers_) {
    wake();
  }
}

std::size_t connection_registry::size() const {
  std::lock_guard lock(mu_);
  return wakers_.size();
}

listener::listener(asio::io_context& io, server_context& ctx, config::listen_config where)
    : io_(io), ctx_(ctx), where_(std::move(where)), acceptor_(io) {}

result<void> listener::open() {
  boost::system::error_code ec;
  auto addr = asio::ip::make_address(where_.endpoint.host, ec);
  if (ec) {
    // A host name: resolve it once at start.
    tcp::resolver resolver(io_);
    auto results = resolver.resolve(where_.endpoint.host, std::to_string(where_.endpoint.port), ec);
    if (ec || results.empty()) {
      return fail(error::perm("", "cannot resolve listen address " + where_.address));
    }
    addr = results.begin()->endpoint().address();
  }
  tcp::endpoint ep(addr, where_.endpoint.port);
  acceptor_.open(ep.protocol(), ec);
  if (!ec) {
    acceptor_.set_option(tcp::acceptor::reuse_address(true), ec);
  }
  if (!ec && ep.address().is_v6()) {
    acceptor_.set_option(asio::ip::v6_only(true), ec);
  }
  if (!ec) {
    acceptor_.bind(ep, ec);
  }
  if (!ec) {
    acceptor_.listen(asio::socket_base::max_listen_connections, ec);
  }
  if (ec) {
    return fail(error::perm("", "cannot listen on " + where_.address + ": " + ec.message()));
  }
  return {};
}

std::uint16_t listener::port() const {
  boost::system::error_code ec;
  auto ep = acceptor_.local_endpoint(ec);
  return ec ? 0 : ep.port();
}

void listener::start() { accept_loop(io_, acceptor_, ctx_, where_); }

void listener::close() {
  boost::system::error_code ec;
  acceptor_.close(ec);
}

local_listener::local_listener(asio::io_context& io, server_context& ctx,
                               std::filesystem::path path)
    : io_(io), ctx_(ctx), path_(std::move(path)) {
  where_.address = path_.string();
  where_.role = config::listener_role::Mx;
}

local_listener::~local_listener() { close(); }

result<void> local_listener::open() {
  // Any local user may submit, as with sendmail(1); who did is in Received: (uid).
  auto a = bind_unix_acceptor(io_, path_, 0666);
  if (!a) {
    return fail(a.error());
  }
  acceptor_.emplace(std::move(*a));
  return {};
}

void local_listener::start() {
  if (acceptor_) {
    accept_loop(io_, *acceptor_, ctx_, where_);
  }
}

void local_listener::close() {
  if (!acceptor_ || !acceptor_->is_open()) {
    return;
  }
  boost::system::error_code ec;
  acceptor_->close(ec);
  std::error_code fec;
  std::filesystem::remove(path_, fec);
}

}  // namespace posthorn::smtp
