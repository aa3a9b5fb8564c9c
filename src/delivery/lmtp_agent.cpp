// The only place where LMTP delivery meets sockets and the clock: a coroutine driver
// around the sans-I/O smtp::client in its LMTP dialect, over a Unix or TCP socket.

#include "delivery/lmtp_agent.hpp"

#include <spdlog/spdlog.h>

#include <algorithm>
#include <array>
#include <boost/asio/as_tuple.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/generic/stream_protocol.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/local/stream_protocol.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/asio/write.hpp>
#include <chrono>
#include <ctime>
#include <expected>
#include <future>
#include <optional>

#include "queue/delivery_metrics.hpp"

namespace posthorn::delivery {

namespace asio = boost::asio;
using asio::awaitable;

namespace {

constexpr auto k_tuple = asio::as_tuple(asio::use_awaitable);
// An idle connection is kept this long for the next batch, then closed with QUIT (Dovecot
// itself closes LMTP clients idle for some minutes).
constexpr auto k_idle_keep = std::chrono::seconds(30);
constexpr std::size_t k_idle_max = 4;

smtp::client_outcome connection_outcome(std::string_view dsn, std::string text) {
  return smtp::client_outcome{queue::rcpt_status::Deferred, std::string(dsn), std::move(text), 0,
                              smtp::outcome_source::Connection};
}

// Due for local delivery: pending, or deferred and its retry time reached.
bool wants_local(const queue::recipient& r, std::int64_t now) {
  return r.local && (r.status == queue::rcpt_status::Pending ||
                     (r.status == queue::rcpt_status::Deferred && r.next_attempt <= now));
}

}  // namespace

lmtp_target lmtp_target::from(const config::mailbox_config& m) {
  lmtp_target t;
  t.text = m.lmtp;
  if (!m.lmtp_socket.empty()) {
    t.unix_path = m.lmtp_socket.string();
  } else {
    t.host = m.lmtp_endpoint.host;
    t.port = m.lmtp_endpoint.port;
  }
  return t;
}

// One LMTP connection, reusable for several transactions. Runs on one strand.
class lmtp_connection : public std::enable_shared_from_this<lmtp_connection> {
 public:
  lmtp_connection(asio::any_io_executor ex, std::string hostname)
      : ex_(ex), hostname_(std::move(hostname)), sock_(ex), timer_(ex) {}
  ~lmtp_connection() { close(); }

  // Connects and reads the greeting, then LHLO. On failure the outcome says why.
  awaitable<std::expected<void, smtp::client_outcome>> connect(const lmtp_target& t) {
    auto self = shared_from_this();
    client_.emplace(hostname_, false, nullptr, smtp::client_dialect::Lmtp);
    std::vector<std::pair<asio::generic::stream_protocol::endpoint, std::string>> eps;
    if (!t.unix_path.empty()) {
      relay_ = "unix:" + t.unix_path;
      eps.emplace_back(asio::local::stream_protocol::endpoint(t.unix_path), relay_);
    } else {
      asio::ip::tcp::resolver resolver(ex_);
      auto [ec, found] = co_await resolver.async_resolve(t.host, std::to_string(t.port), k_tuple);
      if (ec) {
        client_.reset();
        co_return std::unexpected(
            connection_outcome("4.4.3", "LMTP server " + t.host + ": " + ec.message()));
      }
      for (const auto& e : found) {
        const auto ep = e.endpoint();
        eps.emplace_back(ep,
                         t.host + "[" + ep.address().to_string() + "]:" + std::to_string(t.port));
      }
    }
    std::string why = "no address";
    for (const auto& [ep, name] : eps) {
      relay_ = name;
      boost::system::error_code ec;
      close();
      sock_.open(ep.protocol(), ec);
      if (!ec) {
        arm(timeouts_.connect);
        std::tie(ec) = co_await sock_.async_connect(ep, k_tuple);
        disarm();
      }
      if (ec || timed_out_) {
        why = timed_out_ ? std::string("timed out") : ec.message();
        close();
        continue;
      }
      const smtp::client_action a = co_await drive(smtp::client_action::Read);
      if (a == smtp::client_action::Ready) {
        co_return std::expected<void, smtp::client_outcome>{};
      }
      auto f = failure().value_or(
          connection_outcome("4.4.2", "lost connection with " + relay_ + " while connecting"));
      client_.reset();
      co_return std::unexpected(f);
    }
    client_.reset();
    co_return std::unexpected(
        connection_outcome("4.4.1", "connect to LMTP server " + relay_ + ": " + why));
  }

  awaitable<smtp::transaction_result> send(smtp::client_transaction t) {
    auto self = shared_from_this();
    if (!usable()) {
      smtp::transaction_result r;
      r.recipients.assign(t.recipients.size(),
                          failure().value_or(connection_outcome(
                              "4.4.2", "connection with " + relay_ + " is not usable")));
      co_return r;
    }
    ++transactions_;
    co_await drive(client_->begin(std::move(t)));
    std::optional<smtp::transaction_result> r = client_->take_result();
    co_return r ? std::move(*r) : smtp::transaction_result{};
  }

  awaitable<void> quit() {
    auto self = shared_from_this();
    if (client_ && client_->phase() != smtp::client_phase::Closed && sock_.is_open()) {
      co_await drive(client_->quit());
    }
    close();
  }

  void close() {
    disarm();
    boost::system::error_code ignored;
    if (sock_.is_open()) {
      sock_.shutdown(asio::socket_base::shutdown_both, ignored);
      sock_.close(ignored);
    }
  }

  bool usable() const {
    return client_ && client_->phase() == smtp::client_phase::Ready && sock_.is_open();
  }

  // Still open at the server's end after waiting idle: nothing to read yet (a closed
  // connection reads end-of-file, a 421 is unsolicited data).
  bool alive() {
    if (!usable()) {
      return false;
    }
    boost::system::error_code ec;
    sock_.non_blocking(true, ec);
    char c = 0;
    sock_.read_some(asio::buffer(&c, 1), ec);
    boost::system::error_code ignored;
    sock_.non_blocking(false, ignored);
    return ec == asio::error::would_block || ec == asio::error::try_again;
  }

  std::optional<smtp::client_outcome> failure() const {
    if (client_ && client_->failure()) {
      return client_->failure();
    }
    return std::nullopt;
  }
  const std::string& relay() const { return relay_; }
  std::uint32_t transactions() const { return transactions_; }

 private:
  std::string loss_text(const boost::system::error_code& ec) const {
    const smtp::client_phase p = client_ ? client_->phase() : smtp::client_phase::Greeting;
    std::string text = (timed_out_ ? "conversation with " : "lost connection with ") + relay_ +
                       (timed_out_ ? " timed out while " : " while ") +
                       std::string(smtp::describe(p));
    if (!timed_out_ && ec && ec != asio::error::eof) {
      text += " (" + ec.message() + ")";
    }
    return text;
  }

  void arm(smtp::client_timeouts::duration d) {
    timed_out_ = false;
    const std::uint64_t gen = ++generation_;
    if (d <= smtp::client_timeouts::duration::zero()) {
      return;
    }
    timer_.expires_after(d);
    timer_.async_wait([w = weak_from_this(), gen](const boost::system::error_code& ec) {
      auto self = w.lock();
      if (!self || ec || gen != self->generation_) {
        return;
      }
      self->timed_out_ = true;
      boost::system::error_code ignored;
      self->sock_.close(ignored);
    });
  }

  void disarm() {
    ++generation_;
    timer_.cancel();
  }

  awaitable<bool> write_out() {
    std::string& out = client_->output();
    if (out.empty()) {
      co_return true;
    }
    arm(timeouts_.for_phase(client_->phase()));
    auto [ec, n] = co_await asio::async_write(sock_, asio::buffer(out), k_tuple);
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

  awaitable<bool> read_more() {
    arm(timeouts_.for_phase(client_->phase()));
    auto [ec, n] = co_await sock_.async_read_some(asio::buffer(buf_), k_tuple);
    disarm();
    if (ec || n == 0) {
      client_->connection_lost(loss_text(ec));
      co_return false;
    }
    pending_.append(buf_.data(), n);
    co_return true;
  }

  awaitable<smtp::client_action> drive(smtp::client_action a) {
    while (true) {
      if (a == smtp::client_action::Close) {
        // A QUIT may be waiting on the way out; its reply does not matter.
        if (!client_->output().empty() && sock_.is_open()) {
          arm(std::chrono::seconds(10));
          co_await asio::async_write(sock_, asio::buffer(client_->output()), k_tuple);
          disarm();
        }
        client_->output().clear();
        close();
        co_return a;
      }
      if (!co_await write_out()) {
        a = smtp::client_action::Close;
        continue;
      }
      switch (a) {
        case smtp::client_action::Ready:
          co_return a;
        case smtp::client_action::Write:
          a = client_->more();
          break;
        case smtp::client_action::StartTls:
          a = client_->tls_done(false, "no TLS on LMTP connections");  // never offered
          break;
        case smtp::client_action::Read:
          if (pending_.empty() && !co_await read_more()) {
            a = smtp::client_action::Close;
            break;
          }
          {
            std::string_view v = pending_;
            a = client_->feed(v);
            pending_.erase(0, pending_.size() - v.size());
          }
          break;
        case smtp::client_action::Close:
          break;
      }
    }
  }

  asio::any_io_executor ex_;
  std::string hostname_;
  smtp::client_timeouts timeouts_;
  asio::generic::stream_protocol::socket sock_;
  asio::steady_timer timer_;
  std::uint64_t generation_ = 0;
  bool timed_out_ = false;
  std::optional<smtp::client> client_;
  std::string relay_;
  std::string pending_;
  std::uint32_t transactions_ = 0;
  std::array<char, 4096> buf_{};
};

struct lmtp_agent::idle_entry {
  explicit idle_entry(asio::any_io_executor ex) : timer(ex) {}
  std::string key;
  std::shared_ptr<lmtp_connection> conn;
  asio::steady_timer timer;
};

lmtp_agent::lmtp_agent(asio::io_context& io) : io_(io), strand_(asio::make_strand(io)) {}

lmtp_agent::~lmtp_agent() {
  for (auto& e : idle_) {
    e->timer.cancel();
    e->conn->close();
  }
}

std::size_t lmtp_agent::idle() const {
  std::lock_guard lock(count_mu_);
  return idle_count_;
}

awaitable<std::shared_ptr<lmtp_connection>> lmtp_agent::checkout(const lmtp_target& target) {
  std::shared_ptr<lmtp_connection> found;
  for (auto it = idle_.begin(); it != idle_.end();) {
    if ((*it)->key != target.text) {
      ++it;
      continue;
    }
    std::shared_ptr<idle_entry> e = *it;
    it = idle_.erase(it);
    e->timer.cancel();
    if (!found && e->conn->alive()) {
      found = e->conn;
    } else {
      e->conn->close();
    }
  }
  {
    std::lock_guard lock(count_mu_);
    idle_count_ = idle_.size();
  }
  co_return found;
}

void lmtp_agent::checkin(const lmtp_target& target, std::shared_ptr<lmtp_connection> conn) {
  auto e = std::make_shared<idle_entry>(strand_);
  e->key = target.text;
  e->conn = std::move(conn);
  idle_.push_back(e);
  if (idle_.size() > k_idle_max) {
    std::shared_ptr<idle_entry> oldest = idle_.front();
    idle_.erase(idle_.begin());
    oldest->timer.cancel();
    asio::co_spawn(strand_, oldest->conn->quit(), asio::detached);
  }
  {
    std::lock_guard lock(count_mu_);
    idle_count_ = idle_.size();
  }
  e->timer.expires_after(k_idle_keep);
  e->timer.async_wait(
      [this, w = std::weak_ptr<idle_entry>(e)](const boost::system::error_code& ec) {
        auto entry = w.lock();
        if (ec || !entry) {
          return;
        }
        std::erase(idle_, entry);
        {
          std::lock_guard lock(count_mu_);
          idle_count_ = idle_.size();
        }
        asio::co_spawn(strand_, entry->conn->quit(), asio::detached);
      });
}

awaitable<std::vector<smtp::transaction_result>> lmtp_agent::run(
    lmtp_target target, std::string hostname, std::vector<smtp::client_transaction> txns,
    std::shared_ptr<std::string> relay) {
  std::vector<smtp::transaction_result> results(txns.size());
  std::shared_ptr<lmtp_connection> conn = co_await checkout(target);
  bool reused = conn != nullptr;
  for (std::size_t i = 0; i < txns.size(); ++i) {
    std::optional<smtp::client_outcome> failed;
    for (int tries = 0; tries < 2; ++tries) {
      if (!conn) {
        conn = std::make_shared<lmtp_connection>(strand_, hostname);
        auto c = co_await conn->connect(target);
        reused = false;
        if (!c) {
          failed = c.error();
          // A refused greeting or LHLO is the server's trouble (or ours: a wrong
          // [mailbox] lmtp), never a verdict on the recipients: they wait.
          if (failed->status == queue::rcpt_status::Failed) {
            failed->status = queue::rcpt_status::Deferred;
            failed->dsn = "4.3.0";
            failed->reply = "LMTP server refused the session: " + failed->reply;
            failed->code = 0;
          }
          *relay = conn->relay();
          conn.reset();
          break;
        }
      }
      smtp::transaction_result r = co_await conn->send(txns[i]);
      const bool stale = reused && !r.data_sent && conn->failure() &&
                         std::all_of(r.recipients.begin(), r.recipients.end(), [](const auto& o) {
                           return o.source == smtp::outcome_source::Connection;
                         });
      reused = false;
      if (stale && tries == 0) {
        // The server closed the kept connection just as we spoke: a fresh one.
        conn.reset();
        continue;
      }
      *relay = conn->relay();
      r.relays.assign(r.recipients.size(), conn->relay());
      results[i] = std::move(r);
      if (!conn->usable()) {
        if (auto f = conn->failure()) {
          spdlog::info("event=lmtp-failed relay={} reason=\"{}\"", conn->relay(), f->reply);
        }
        conn.reset();
      }
      break;
    }
    if (failed) {
      spdlog::info("event=lmtp-failed relay={} reason=\"{}\"", *relay, failed->reply);
      for (std::size_t j = i; j < txns.size(); ++j) {
        results[j].recipients.assign(txns[j].recipients.size(), *failed);
        results[j].relays.assign(txns[j].recipients.size(), *relay);
      }
      break;
    }
  }
  if (conn && conn->usable()) {
    checkin(target, std::move(conn));
  }
  co_return results;
}

void lmtp_agent::deliver(const config::config& cfg, std::vector<queue::scheduler::attempt>& batch,
                         std::int64_t now, const std::function<void()>& record) {
  std::vector<smtp::client_transaction> txns;
  std::vector<std::size_t> txn_attempt;
  std::vector<std::vector<std::size_t>> txn_rcpts;
  for (std::size_t a = 0; a < batch.size(); ++a) {
    const queue::envelope& env = *batch[a].env;
    std::vector<std::size_t> rcpts;
    for (std::size_t i = 0; i < env.recipients.size(); ++i) {
      if (wants_local(env.recipients[i], now)) {
        rcpts.push_back(i);
      }
    }
    if (rcpts.empty()) {
      continue;
    }
    txns.push_back(smtp::make_transaction(env, rcpts, batch[a].message->contents()));
    txn_attempt.push_back(a);
    txn_rcpts.push_back(std::move(rcpts));
  }
  if (txns.empty()) {
    record();
    return;
  }

  // The dialogue runs on the event loop; this worker waits for it as it would for the
  // disk. If the event loop stops (shutdown) the wait ends: nothing is recorded as
  // delivered that the server did not confirm.
  auto done = std::make_shared<std::promise<std::vector<smtp::transaction_result>>>();
  auto fut = done->get_future();
  auto relay = std::make_shared<std::string>();
  asio::co_spawn(strand_, run(lmtp_target::from(cfg.mailbox), cfg.hostname, txns, relay),
                 [done](std::exception_ptr e, std::vector<smtp::transaction_result> r) {
                   if (e) {
                     try {
                       std::rethrow_exception(e);
                     } catch (const std::exception& ex) {
                       spdlog::error("LMTP delivery ended by an exception: {}", ex.what());
                     }
                     r.clear();
                   }
                   done->set_value(std::move(r));
                 });
  std::vector<smtp::transaction_result> results;
  while (true) {
    if (fut.wait_for(std::chrono::milliseconds(100)) == std::future_status::ready) {
      results = fut.get();
      break;
    }
    if (io_.stopped()) {
      break;
    }
  }

  const std::int64_t when = static_cast<std::int64_t>(std::time(nullptr));
  for (std::size_t t = 0; t < txns.size(); ++t) {
    queue::envelope& env = *batch[txn_attempt[t]].env;
    const smtp::transaction_result* tr = t < results.size() ? &results[t] : nullptr;
    for (std::size_t k = 0; k < txn_rcpts[t].size(); ++k) {
      queue::recipient& r = env.recipients[txn_rcpts[t][k]];
      ++r.attempts;
      std::string relay_name = *relay;
      if (tr == nullptr || k >= tr->recipients.size()) {
        r.status = queue::rcpt_status::Deferred;
        r.last_reply = "451 4.3.0 LMTP delivery did not finish";
      } else {
        const smtp::client_outcome& o = tr->recipients[k];
        r.status = o.status;
        r.last_reply = o.reply;
        if (o.code == 0 && !o.dsn.empty()) {
          r.last_reply = std::string(o.status == queue::rcpt_status::Failed ? "550 " : "451 ") +
                         o.dsn + " " + o.reply;
        }
        if (k < tr->relays.size() && !tr->relays[k].empty()) {
          relay_name = tr->relays[k];
        }
      }
      r.relayed = false;
      // DSN Remote-MTA names a host; a Unix socket has none.
      r.remote_mta =
          relay_name.starts_with("unix:") ? "" : relay_name.substr(0, relay_name.find('['));
      queue::note_delivery(env, r, queue::outcome_of(r.status), relay_name, when);
    }
  }
  record();
}

}  // namespace posthorn::delivery
