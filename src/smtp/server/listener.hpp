#pragma once
// The network side of the SMTP server: listeners accept connections and run one
// coroutine per connection around a sans-I/O smtp::session (DESIGN.md §1).

#include <atomic>
#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/local/stream_protocol.hpp>
#include <boost/asio/ssl/context.hpp>
#include <boost/asio/thread_pool.hpp>
#include <filesystem>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <unordered_map>

#include "auth/limiter.hpp"
#include "config/config.hpp"
#include "policy/accounts.hpp"
#include "queue/committer.hpp"
#include "queue/scheduler.hpp"
#include "queue/spool.hpp"
#include "smtp/server/checks.hpp"

namespace posthorn::smtp {

// Connection counts for [limits] connections and connections_per_ip.
class connection_limits {
 public:
  connection_limits(std::uint32_t total, std::uint32_t per_ip) : total_(total), per_ip_(per_ip) {}
  // False (and nothing counted) when either limit is reached.
  bool acquire(const std::string& ip);
  void release(const std::string& ip);
  // The connection now counts for `to` instead of `from` (XCLIENT named another client);
  // false (and nothing changed) when `to` is at connections_per_ip.
  bool transfer(const std::string& from, const std::string& to);
  std::uint32_t active() const { return active_.load(); }
  // New limits (config reload); connections already admitted stay.
  void set(std::uint32_t total, std::uint32_t per_ip) {
    std::lock_guard lock(mu_);
    total_ = total;
    per_ip_ = per_ip;
  }

 private:
  std::uint32_t total_, per_ip_;  // under mu_
  std::atomic<std::uint32_t> active_{0};
  std::mutex mu_;
  std::unordered_map<std::string, std::uint32_t> by_ip_;
};

// The connections alive, so that a shutdown can wake those waiting for input.
class connection_registry {
 public:
  // `wake` is called from any thread; it must post to the connection's own executor.
  std::uint64_t add(std::function<void()> wake);
  void remove(std::uint64_t id);
  void wake_all();
  std::size_t size() const;

 private:
  mutable std::mutex mu_;
  std::uint64_t next_ = 0;
  std::unordered_map<std::uint64_t, std::function<void()>> wakers_;
};

// What every connection shares. Lives as long as the listeners.
struct server_context {
  // Swapped whole by a SIGHUP reload; a connection loads it once and keeps it.
  std::atomic<std::shared_ptr<const config::config>> cfg;
  // Users, aliases and relocated users; SIGHUP swaps in a new set while sessions keep
  // the one they started with.
  std::atomic<std::shared_ptr<const policy::accounts>> accounts;
  queue::spool& spool;
  queue::committer& committer;
  queue::scheduler& scheduler;
  boost::asio::thread_pool& blocking;  // fsync, file I/O, crypt: never the event loop
  connection_limits limits;
  // SIGTERM: `stopping` closes idle sessions (421 4.3.2) at their next wait for a command
  // while transactions under way go on; `closing_all` (after [limits] shutdown_timeout)
  // ends every session at once. Both are followed by connections.wake_all().
  std::atomic<bool> stopping{false};
  std::atomic<bool> closing_all{false};
  connection_registry connections;
  // The current server TLS context (replaced on reload); empty or null: no TLS.
  std::function<std::shared_ptr<boost::asio::ssl::context>()> tls_context;
  // AUTH failures per client address (brute-force defence); null = no limits.
  std::shared_ptr<auth::failure_limiter> auth_limiter;
  // The check modules (checks.hpp), in order; swapped whole by a reload while sessions
  // keep the set they started with. Null or empty: no checks.
  std::atomic<std::shared_ptr<const check_list>> checks;
  // DNS for the checks (the delivery resolver); null when there is none.
  dns::resolver* resolver = nullptr;
};

class listener {
 public:
  listener(boost::asio::io_context& io, server_context& ctx, config::listen_config where);
  // Binds and listens; errors name the address.
  result<void> open();
  // Starts accepting on the io_context.
  void start();
  void close();
  std::uint16_t port() const;

 private:
  boost::asio::io_context& io_;
  server_context& ctx_;
  config::listen_config where_;
  boost::asio::ip::tcp::acceptor acceptor_;
};

// Local submission (`posthorn sendmail`): ESMTP on a Unix socket (mode 0666) for any
// local user; the peer may relay, and Received: names its uid. No TLS, no AUTH.
class local_listener {
 public:
  local_listener(boost::asio::io_context& io, server_context& ctx, std::filesystem::path path);
  ~local_listener();
  result<void> open();
  void start();
  void close();  // stops accepting and removes the socket file

 private:
  boost::asio::io_context& io_;
  server_context& ctx_;
  std::filesystem::path path_;
  config::listen_config where_;
  std::optional<boost::asio::local::stream_protocol::acceptor> acceptor_;
};

// Runs one SMTP connection to its end (connection.cpp).
void spawn_connection(boost::asio::ip::tcp::socket socket, server_context& ctx,
                      const config::listen_config& where);
void spawn_connection(boost::asio::local::stream_protocol::socket socket, server_context& ctx,
                      const config::listen_config& where);

}  // namespace posthorn::smtp
