#pragma once
// The network side of the SMTP client (DESIGN.md §1): a TCP connection with timeouts
// that drives the sans-I/O smtp::client, upgrades to TLS on STARTTLS, and carries as many
// transactions as the caller likes; and deliver(), which tries the hosts of a
// destination in order until one takes the mail.
//
// Threading: a connection and its timer use the executor given to it; every coroutine
// here must run on that same executor (a strand, or an io_context run by one thread), so
// that the timer's handler and the coroutine never touch the socket at the same time.

#include <array>
#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/awaitable.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/ssl/context.hpp>
#include <boost/asio/ssl/stream.hpp>
#include <boost/asio/steady_timer.hpp>
#include <cstdint>
#include <expected>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "smtp/client/client.hpp"

namespace posthorn::smtp {

// One address to try and the host name it belongs to (logs, Remote-MTA, TLS SNI).
struct client_endpoint {
  boost::asio::ip::tcp::endpoint address;
  std::string host;  // "mx1.example.net"; may be empty (then the address is the name)
};

// "mx1.example.net[192.0.2.1]:25", as Postfix writes relay= in its log.
std::string relay_name(const client_endpoint& e);

// One SMTP connection to one host, reusable for several transactions.
class client_connection : public std::enable_shared_from_this<client_connection> {
 public:
  // `hostname` is ours (EHLO). With `tls` (may be null) STARTTLS is used when offered,
  // without checking the peer's certificate (opportunistic, DESIGN.md §4.2). With
  // `credentials` the connection logs in after STARTTLS (see smtp::client).
  static std::shared_ptr<client_connection> create(
      boost::asio::any_io_executor ex, std::string hostname, boost::asio::ssl::context* tls,
      client_timeouts timeouts = {}, std::shared_ptr<const client_credentials> credentials = {});
  ~client_connection();

  // Connects, reads the greeting, says EHLO (or HELO) and runs STARTTLS when it can.
  // On failure the connection is closed and the outcome says why (source Connection):
  // 4.4.1 when the TCP connect failed or timed out, the peer's reply for a refused
  // greeting or EHLO/HELO, 4.7.5 for a failed TLS handshake (see tls_failed()).
  boost::asio::awaitable<std::expected<void, client_outcome>> async_connect(client_endpoint where);
  // Sends one transaction; the connection stays usable() unless it failed.
  boost::asio::awaitable<transaction_result> async_send(client_transaction t);
  // QUIT, waiting at most timeouts.quit for the 221, then close.
  boost::asio::awaitable<void> async_quit();
  // Closes at once.
  void close();

  bool usable() const;
  // "TLS established: TLSv1.3 cipher TLS_AES_256_GCM_SHA384" or "no TLS".
  const std::string& tls_info() const { return tls_info_; }
  // The last async_connect() failed in the TLS handshake: the host may take mail in the
  // clear (deliver() retries it so, as Postfix does for opportunistic TLS).
  bool tls_failed() const { return tls_failed_; }
  const std::string& relay() const { return relay_; }
  // The protocol state: extensions, greeting, transactions sent.
  const client* protocol() const { return client_ ? &*client_ : nullptr; }
  std::optional<client_outcome> failure() const;

  client_connection(boost::asio::any_io_executor ex, std::string hostname,
                    boost::asio::ssl::context* tls, client_timeouts timeouts,
                    std::shared_ptr<const client_credentials> credentials = {});

 private:
  using tls_stream = boost::asio::ssl::stream<boost::asio::ip::tcp::socket&>;

  boost::asio::awaitable<client_action> drive(client_action a);
  boost::asio::awaitable<bool> write_out();
  boost::asio::awaitable<bool> read_more();
  boost::asio::awaitable<client_action> handshake();
  std::string loss_text(const boost::system::error_code& ec) const;
  void arm(client_timeouts::duration d);
  void disarm();
  void close_socket();

  boost::asio::any_io_executor ex_;
  std::string hostname_;
  boost::asio::ssl::context* tls_ctx_;
  client_timeouts timeouts_;
  std::shared_ptr<const client_credentials> credentials_;
  boost::asio::ip::tcp::socket sock_;
  std::unique_ptr<tls_stream> tls_;
  boost::asio::steady_timer timer_;
  std::uint64_t generation_ = 0;  // guards the timer's handler against a stale firing
  bool timed_out_ = false;
  std::optional<client> client_;
  std::optional<client_outcome> connect_failure_;  // failures before the client existed
  client_endpoint where_;
  std::string relay_;
  std::string tls_info_ = "no TLS";
  bool tls_failed_ = false;
  std::string pending_;  // reply bytes read but not consumed yet
  std::array<char, 4096> buf_{};
};

// What deliver() did.
struct delivery_report {
  std::vector<transaction_result> results;  // one per transaction, in the given order
  std::string relay;                        // the host that took the transactions; "" if none did
  std::string tls;                          // that connection's tls_info()
  std::vector<std::string> tried;  // "relay: reason" for every host that failed, for the log
};

// Delivers `transactions` to the first of `endpoints` that takes them (MX order), all on
// one connection per host. A host is skipped on connection failure, a 4xx/5xx greeting or
// EHLO, or a failed handshake (retried once in the clear first, unless there are
// credentials: they never go in the clear). Recipients a host deferred (a 4xx to their
// RCPT, to MAIL or to the data, a 421, a broken connection) go on to the next host in the
// same call; those it accepted or refused with 5xx are done. Recipients no host decided
// keep the most informative deferral (a peer's 4xx over a later connection failure).
// `credentials`: log in to every host (a smarthost's addresses); null for MX hosts.
boost::asio::awaitable<delivery_report> deliver(
    boost::asio::any_io_executor ex, std::vector<client_endpoint> endpoints, std::string hostname,
    std::vector<client_transaction> transactions, boost::asio::ssl::context* tls,
    client_timeouts timeouts = {}, std::shared_ptr<const client_credentials> credentials = {});

}  // namespace posthorn::smtp
