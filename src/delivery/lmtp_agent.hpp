#pragma once
// Local delivery over LMTP (RFC 2033, DESIGN.md §4.6 `[mailbox] lmtp`): instead of writing
// the Maildirs, the local recipients of a batch are handed to an LMTP server (Dovecot's
// lmtp, for Sieve and quotas) on one connection, with one outcome per recipient. The
// sans-I/O smtp::client does the dialogue in its LMTP dialect; this is its driver over a
// Unix or TCP socket, and a small pool that keeps an idle connection for the next batch.

#include <boost/asio/awaitable.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/strand.hpp>
#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "config/config.hpp"
#include "queue/scheduler.hpp"
#include "smtp/client/client.hpp"

namespace posthorn::delivery {

class lmtp_connection;

// Where the LMTP server listens, from `[mailbox] lmtp`.
struct lmtp_target {
  std::string text;       // as configured, the pool's key
  std::string unix_path;  // "unix:/path"; empty for TCP
  std::string host;       // "host:port"
  std::uint16_t port = 0;
  static lmtp_target from(const config::mailbox_config& m);
};

class lmtp_agent {
 public:
  // The connections run on a strand of `io`. `hostname` goes on LHLO.
  explicit lmtp_agent(boost::asio::io_context& io);
  ~lmtp_agent();
  lmtp_agent(const lmtp_agent&) = delete;
  lmtp_agent& operator=(const lmtp_agent&) = delete;

  // Blocking (a scheduler worker): every due local recipient of `batch` is offered to the
  // LMTP server of `cfg`, and ends Delivered, Deferred (4xx, server unreachable, lost
  // connection) or Failed (5xx), with last_reply and the mail log line; then `record`
  // runs. An LMTP 250 means the server has stored the message (RFC 2033 §4.2).
  // `now` (unix seconds) decides which deferred recipients are due.
  void deliver(const config::config& cfg, std::vector<queue::scheduler::attempt>& batch,
               std::int64_t now, const std::function<void()>& record);

  // Idle connections kept now (tests).
  std::size_t idle() const;

 private:
  struct idle_entry;
  boost::asio::awaitable<std::vector<smtp::transaction_result>> run(
      lmtp_target target, std::string hostname, std::vector<smtp::client_transaction> txns,
      std::shared_ptr<std::string> relay);
  boost::asio::awaitable<std::shared_ptr<lmtp_connection>> checkout(const lmtp_target& target);
  void checkin(const lmtp_target& target, std::shared_ptr<lmtp_connection> conn);

  boost::asio::io_context& io_;
  boost::asio::strand<boost::asio::io_context::executor_type> strand_;
  std::vector<std::shared_ptr<idle_entry>> idle_;  // on the strand only
  mutable std::mutex count_mu_;
  std::size_t idle_count_ = 0;
};

}  // namespace posthorn::delivery
