// The only place where the SMTP client meets sockets, TLS and the clock: one coroutine
// step at a time around the sans-I/O smtp::client.

#include "smtp/client/connector.hpp"

#include <openssl/ssl.h>

#include <algorithm>
#include <boost/asio/as_tuple.hpp>
#include <boost/asio/ssl/error.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/asio/write.hpp>
#include <chrono>
#include <utility>

namespace posthorn::smtp {

namespace asio = boost::asio;
using asio::awaitable;
using asio::ip::tcp;

namespace {

constexpr auto k_tuple = asio::as_tuple(asio::use_awaitable);

client_outcome connection_outcome(std::string_view dsn, std::string text) {
  return client_outcome{queue::rcpt_status::Deferred, std::string(dsn), std::move(text), 0,
                        outcome_source::Connection};
}

// RFC 6066 §3: SNI carries a DNS name, never an address literal.
bool sni_name(const std::string& host) {
  boost::system::error_code ec;
  asio::ip::make_address(host, ec);
  return !host.empty() && ec.failed();
}

}  // namespace

std::string relay_name(const client_endpoint& e) {
  const std::string ip = e.address.address().to_string();
  return (e.host.empty() ? ip : e.host) + "[" + ip + "]:" + std::to_string(e.address.port());
}

std::shared_ptr<client_connection> client_connection::create(
    asio::any_io_executor ex, std::string hostname, asio::ssl::context* tls,
    client_timeouts timeouts, std::shared_ptr<const client_credentials> credentials) {
  return std::make_shared<client_connection>(std::move(ex), std::move(hostname), tls, timeouts,
                                             std::move(credentials));
}

client_connection::client_connection(asio::any_io_executor ex, std::string hostname,
                                     asio::ssl::context* tls, client_timeouts timeouts,
                                     std::shared_ptr<const client_credentials> credentials)
    : ex_(ex),
      hostname_(std::move(hostname)),
      tls_ctx_(tls),
      timeouts_(timeouts),
      credentials_(std::move(credentials)),
      sock_(ex),
      timer_(ex) {}

client_connection::~client_connection() { close_socket(); }

bool client_connection::usable() const {
  return client_ && client_->phase() == client_phase::Ready && sock_.is_open();
}

std::optional<client_outcome> client_connection::failure() const {
  if (client_ && client_->failure()) {
    return client_->failure();
  }
  return connect_failure_;
}

void client_connection::arm(client_timeouts::duration d) {
  timed_out_ = false;
  const std::uint64_t gen = ++generation_;
  if (d <= client_timeouts::duration::zero()) {
    return;
  }
  timer_.expires_after(d);
  // The handler may run after this object is gone (weak_ptr) or after the operation it
  // was meant for has finished and another has started (generation): then it does
  // nothing. Closing the socket makes the pending operation complete with an error.
  timer_.async_wait([w = weak_from_this(), gen](const boost::system::error_code& ec) {
    auto self = w.lock();
    if (!self || ec || gen != self->generation_) {
      return;
    }
    self->timed_out_ = true;
    self->close_socket();
  });
}

void client_connection::disarm() {
  ++generation_;
  timer_.cancel();
}

void client_connection::close_socket() {
  boost::system::error_code ignored;
  if (sock_.is_open()) {
    sock_.shutdown(tcp::socket::shutdown_both, ignored);
    sock_.close(ignored);
  }
}

void client_connection::close() {
  disarm();
  close_socket();
}

std::string client_connection::loss_text(const boost::system::error_code& ec) const {
  const client_phase p = client_ ? client_->phase() : client_phase::Greeting;
  if (timed_out_) {
    return "conversation with " + relay_ + " timed out while " + std::string(describe(p));
  }
  std::string text = "lost connection with " + relay_ + " while " + std::string(describe(p));
  if (ec && ec != asio::error::eof && ec != asio::ssl::error::stream_truncated) {
    text += " (" + ec.message() + ")";
  }
  return text;
}

awaitable<std::expected<void, client_outcome>> client_connection::async_connect(
    client_endpoint where) {
  auto self = shared_from_this();
  close();
  tls_.reset();
  pending_.clear();
  tls_info_ = "no TLS";
  tls_failed_ = false;
  connect_failure_.reset();
  where_ = std::move(where);
  relay_ = relay_name(where_);
  client_.emplace(hostname_, tls_ctx_ != nullptr, credentials_);

  boost::system::error_code ec;
  sock_.open(where_.address.protocol(), ec);
  if (!ec) {
    arm(timeouts_.connect);
    std::tie(ec) = co_await sock_.async_connect(where_.address, k_tuple);
    disarm();
  }
  if (ec || timed_out_) {
    const std::string why = timed_out_ ? std::string("timed out") : ec.message();
    connect_failure_ = connection_outcome("4.4.1", "connect to " + relay_ + ": " + why);
    client_.reset();
    close_socket();
    co_return std::unexpected(*connect_failure_);
  }
  sock_.set_option(tcp::no_delay(true), ec);

  const client_action a = co_await drive(client_action::Read);
  if (a == client_action::Ready) {
    co_return std::expected<void, client_outcome>{};
  }
  co_return std::unexpected(failure().value_or(
      connection_outcome("4.4.2", "lost connection with " + relay_ + " while connecting")));
}

awaitable<transaction_result> client_connection::async_send(client_transaction t) {
  auto self = shared_from_this();
  if (!usable()) {
    transaction_result r;
    const client_outcome o = failure().value_or(
        connection_outcome("4.4.2", "connection with " + relay_ + " is not usable"));
    r.recipients.assign(t.recipients.size(), o);
    co_return r;
  }
  co_await drive(client_->begin(std::move(t)));
  std::optional<transaction_result> r = client_->take_result();
  if (!r) {
    // Cannot happen: begin() always ends in a result. Defer rather than lose mail.
    transaction_result none;
    co_return none;
  }
  co_return std::move(*r);
}

awaitable<void> client_connection::async_quit() {
  auto self = shared_from_this();
  if (client_ && client_->phase() != client_phase::Closed && sock_.is_open()) {
    co_await drive(client_->quit());
  }
  close();
}

awaitable<bool> client_connection::write_out() {
  std::string& out = client_->output();
  if (out.empty()) {
    co_return true;
  }
  // The phase names what the written bytes wait for (a reply, or the next data block).
  arm(timeouts_.for_phase(client_->phase()));
  boost::system::error_code ec;
  if (tls_) {
    std::tie(ec, std::ignore) = co_await asio::async_write(*tls_, asio::buffer(out), k_tuple);
  } else {
    std::tie(ec, std::ignore) = co_await asio::async_write(sock_, asio::buffer(out), k_tuple);
  }
  disarm();
  out.clear();
  if (out.capacity() > 256 * 1024) {
    out.shrink_to_fit();
  }
  if (ec) {
    client_->connection_lost(loss_text(ec));
    co_return false;
  }
  co_return true;
}

awaitable<bool> client_connection::read_more() {
  arm(timeouts_.for_phase(client_->phase()));
  boost::system::error_code ec;
  std::size_t n = 0;
  if (tls_) {
    std::tie(ec, n) = co_await tls_->async_read_some(asio::buffer(buf_), k_tuple);
  } else {
    std::tie(ec, n) = co_await sock_.async_read_some(asio::buffer(buf_), k_tuple);
  }
  disarm();
  if (ec || n == 0) {
    client_->connection_lost(loss_text(ec));
    co_return false;
  }
  pending_.append(buf_.data(), n);
  co_return true;
}

awaitable<client_action> client_connection::handshake() {
  if (tls_ctx_ == nullptr) {
    co_return client_->tls_done(false, "no TLS context");
  }
  tls_ = std::make_unique<tls_stream>(sock_, *tls_ctx_);
  // Opportunistic TLS: any certificate will do (DESIGN.md §4.2); a policy that wants
  // verification (DANE, MTA-STS) sets it up on the context and the stream.
  tls_->set_verify_mode(asio::ssl::verify_none);
  if (sni_name(where_.host)) {
    SSL_set_tlsext_host_name(tls_->native_handle(), where_.host.c_str());
  }
  arm(timeouts_.starttls);
  auto [ec] = co_await tls_->async_handshake(asio::ssl::stream_base::client, k_tuple);
  disarm();
  if (ec || timed_out_) {
    tls_failed_ = true;
    tls_.reset();
    close_socket();
    co_return client_->tls_done(false, timed_out_ ? std::string("timed out") : ec.message());
  }
  SSL* ssl = tls_->native_handle();
  tls_info_ = std::string("TLS established: ") + SSL_get_version(ssl) + " cipher " +
              SSL_get_cipher_name(ssl);
  // RFC 3207 §4.2: nothing read in the clear survives the handshake.
  pending_.clear();
  co_return client_->tls_done(true);
}

awaitable<client_action> client_connection::drive(client_action a) {
  while (true) {
    if (a == client_action::Close) {
      // A QUIT may be waiting on the way out; not waited for, and failures do not matter.
      if (!client_->output().empty() && sock_.is_open()) {
        arm(std::min(timeouts_.quit, client_timeouts::duration(std::chrono::seconds(10))));
        boost::system::error_code ec;
        if (tls_) {
          std::tie(ec, std::ignore) =
              co_await asio::async_write(*tls_, asio::buffer(client_->output()), k_tuple);
        } else {
          std::tie(ec, std::ignore) =
              co_await asio::async_write(sock_, asio::buffer(client_->output()), k_tuple);
        }
        disarm();
      }
      client_->output().clear();
      close();
      co_return a;
    }
    if (!co_await write_out()) {
      a = client_action::Close;
      continue;
    }
    switch (a) {
      case client_action::Ready:
        co_return a;
      case client_action::Write:
        a = client_->more();
        break;
      case client_action::StartTls:
        a = co_await handshake();
        break;
      case client_action::Read:
        if (pending_.empty() && !co_await read_more()) {
          a = client_action::Close;
          break;
        }
        {
          std::string_view v = pending_;
          a = client_->feed(v);
          pending_.erase(0, pending_.size() - v.size());
        }
        break;
      case client_action::Close:
        break;
    }
  }
}

namespace {

// Which of two reasons a recipient is still deferred to keep: a peer's own 4xx about it
// (451 4.2.1 mailbox busy, 452 4.2.2 over quota) says more than a later host that could
// not be reached at all; otherwise the later reason is the fresher one.
bool more_informative(const std::optional<client_outcome>& held, const client_outcome& next) {
  if (!held || held->status != queue::rcpt_status::Deferred) {
    return true;
  }
  return !(held->source == outcome_source::Peer && next.source != outcome_source::Peer);
}

}  // namespace

// GCC 12 warns, wrongly, that Asio's coroutine frame (aligned_alloc in
// awaitable_frame_base::operator new) is freed by a mismatched operator delete.
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wmismatched-new-delete"
awaitable<delivery_report> deliver(asio::any_io_executor ex, std::vector<client_endpoint> endpoints,
                                   std::string hostname,
                                   std::vector<client_transaction> transactions,
                                   asio::ssl::context* tls, client_timeouts timeouts,
                                   std::shared_ptr<const client_credentials> credentials) {
  delivery_report rep;
  const std::size_t n = transactions.size();
  rep.results.resize(n);
  // Per transaction: its recipients still to be tried, what is known of each so far, and
  // the host that said it.
  std::vector<std::vector<std::size_t>> todo(n);
  std::vector<std::vector<std::optional<client_outcome>>> known(n);
  for (std::size_t i = 0; i < n; ++i) {
    for (std::size_t k = 0; k < transactions[i].recipients.size(); ++k) {
      todo[i].push_back(k);
    }
    known[i].resize(transactions[i].recipients.size());
    rep.results[i].relays.resize(transactions[i].recipients.size());
  }
  const auto anything_left = [&todo] {
    for (const auto& t : todo) {
      if (!t.empty()) {
        return true;
      }
    }
    return false;
  };
  const auto note = [&](std::size_t i, std::size_t k, const client_outcome& o,
                        const std::string& relay) {
    if (more_informative(known[i][k], o)) {
      known[i][k] = o;
      rep.results[i].relays[k] = relay;
    }
  };
  const auto set_all_left = [&](const client_outcome& o, const std::string& relay) {
    for (std::size_t i = 0; i < n; ++i) {
      for (const std::size_t k : todo[i]) {
        note(i, k, o, relay);
      }
    }
  };

  // RFC 5321 §5.1: the addresses are tried in order "until a delivery attempt succeeds".
  // A recipient leaves the list when a host decides it for good (2xx, 5xx, or our own
  // permanent verdict); a 4xx from the peer (to RCPT, MAIL, DATA or the end of the data),
  // a 421 or a broken connection leave it for the next host in the same attempt, as
  // Exim and Postfix do. When every host was tried, the most informative 4xx stays.
  for (const client_endpoint& where : endpoints) {
    if (!anything_left()) {
      break;
    }
    auto conn = client_connection::create(ex, hostname, tls, timeouts, credentials);
    auto connected = co_await conn->async_connect(where);
    // Credentials never go in the clear: no second try without TLS for them.
    if (!connected && conn->tls_failed() && !credentials) {
      // Opportunistic TLS: a host whose handshake fails gets the mail in the clear.
      rep.tried.push_back(conn->relay() + ": " + connected.error().reply +
                          "; trying again without TLS");
      conn = client_connection::create(ex, hostname, nullptr, timeouts);
      connected = co_await conn->async_connect(where);
    }
    if (!connected) {
      rep.tried.push_back(conn->relay() + ": " + connected.error().reply);
      set_all_left(connected.error(), conn->relay());
      continue;
    }
    rep.relay = conn->relay();
    rep.tls = conn->tls_info();
    std::string deferred_here;  // the first 4xx this host gave, for the log
    std::size_t deferred_count = 0;
    for (std::size_t i = 0; i < n; ++i) {
      if (todo[i].empty()) {
        continue;
      }
      if (!conn->usable()) {
        break;
      }
      client_transaction sub = transactions[i];
      sub.recipients.clear();
      for (const std::size_t k : todo[i]) {
        sub.recipients.push_back(transactions[i].recipients[k]);
      }
      const transaction_result r = co_await conn->async_send(std::move(sub));
      std::vector<std::size_t> again;
      for (std::size_t j = 0; j < todo[i].size() && j < r.recipients.size(); ++j) {
        const std::size_t k = todo[i][j];
        const client_outcome& o = r.recipients[j];
        note(i, k, o, conn->relay());
        if (o.status != queue::rcpt_status::Deferred) {
          continue;
        }
        // Nothing was decided for this recipient here. A connection that broke after
        // the final dot may have left the message with the peer (RFC 1047): the next
        // host then risks a duplicate, never a loss.
        again.push_back(k);
        if (o.source == outcome_source::Peer) {
          ++deferred_count;
          if (deferred_here.empty()) {
            deferred_here = o.reply;
          }
        }
      }
      if (r.data_sent && !again.empty() && conn->failure()) {
        rep.tried.push_back(conn->relay() +
                            ": connection lost after the end of the data; the next host may "
                            "deliver the message a second time (RFC 1047)");
      }
      rep.results[i].peer_dsn = r.peer_dsn;
      rep.results[i].data_sent = rep.results[i].data_sent || r.data_sent;
      todo[i] = std::move(again);
    }
    if (deferred_count > 0) {
      rep.tried.push_back(conn->relay() + ": " + deferred_here + " (" +
                          std::to_string(deferred_count) + " recipient(s) deferred)");
    }
    if (auto f = conn->failure(); f && anything_left()) {
      rep.tried.push_back(conn->relay() + ": " + f->reply);
      set_all_left(*f, conn->relay());
    }
    co_await conn->async_quit();
  }

  const client_outcome none = connection_outcome("4.4.1", "no host to deliver to");
  for (std::size_t i = 0; i < n; ++i) {
    rep.results[i].recipients.reserve(known[i].size());
    for (std::optional<client_outcome>& o : known[i]) {
      rep.results[i].recipients.push_back(o ? std::move(*o) : none);
    }
  }
  co_return rep;
}
#pragma GCC diagnostic pop

}  // namespace posthorn::smtp
