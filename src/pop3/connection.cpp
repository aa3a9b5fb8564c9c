// One coroutine per POP3 connection: the only place where pop3::session meets the
// socket, the clock, the Maildir and the blocking thread pool.

#include "pop3/connection.hpp"

#include <fcntl.h>
#include <spdlog/spdlog.h>
#include <unistd.h>

#include <array>
#include <boost/asio/as_tuple.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/ssl.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/thread_pool.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/asio/write.hpp>
#include <cerrno>
#include <chrono>
#include <cstring>
#include <memory>

#include "common/metrics.hpp"
#include "delivery/maildir.hpp"
#include "policy/credentials.hpp"
#include "pop3/encoder.hpp"
#include "pop3/maildrop.hpp"
#include "pop3/session.hpp"
#include "tls/session_info.hpp"

namespace posthorn::pop3 {

namespace asio = boost::asio;
namespace ssl = boost::asio::ssl;
using asio::awaitable;
using asio::ip::tcp;

namespace {

constexpr auto k_tuple = asio::as_tuple(asio::use_awaitable);
// RETR reads the file in pieces of this size: memory per session stays bounded.
constexpr std::size_t k_retr_chunk = 64 * 1024;

// --- Metrics (STYLE.md 10; docs/operations.md) -------------------------------------------

metrics::family<metrics::counter>& m_connections = metrics::default_registry().add_counter_family(
    "posthorn_pop3_connections_total", "POP3 connections accepted (refused included).", {});
metrics::counter& m_connections_total = m_connections.with({});
metrics::family<metrics::counter>& m_logins = metrics::default_registry().add_counter_family(
    "posthorn_pop3_logins_total", "POP3 logins by result (success, failure, blocked, in_use).",
    {"result"});
metrics::family<metrics::counter>& m_retrieved = metrics::default_registry().add_counter_family(
    "posthorn_pop3_retrieved_total", "Messages sent by POP3 RETR.", {});
metrics::counter& m_retrieved_total = m_retrieved.with({});

// Runs `f` on the blocking pool and resumes on the caller's executor.
template <class F>
awaitable<std::invoke_result_t<F>> run_blocking(asio::thread_pool& pool, F f) {
  using R = std::invoke_result_t<F>;
  co_return co_await asio::co_spawn(
      pool, [f = std::move(f)]() mutable -> awaitable<R> { co_return f(); }, asio::use_awaitable);
}

std::string peer_ip(const tcp::socket& sock) {
  boost::system::error_code ec;
  auto ep = sock.remote_endpoint(ec);
  if (ec) {
    return "unknown";
  }
  auto a = ep.address();
  if (a.is_v6() && a.to_v6().is_v4_mapped()) {
    return asio::ip::make_address_v4(asio::ip::v4_mapped, a.to_v6()).to_string();
  }
  return a.to_string();
}

// The socket and its inactivity deadline: when the deadline passes, the pending
// operation is cancelled and `timed_out` says why.
struct watched {
  explicit watched(tcp::socket s) : sock(std::move(s)), timer(sock.get_executor()) {}

  void arm(std::chrono::steady_clock::duration d) {
    timed_out = false;
    timer.expires_after(d);
    timer.async_wait([this, gen = ++generation](boost::system::error_code ec) {
      if (ec || gen != generation) {
        return;
      }
      timed_out = true;
      boost::system::error_code ignored;
      sock.cancel(ignored);
    });
  }
  void disarm() {
    ++generation;
    timer.cancel();
  }

  tcp::socket sock;
  asio::steady_timer timer;
  std::uint64_t generation = 0;
  bool timed_out = false;
  bool waiting_for_input = false;
};

// A file opened for RETR, closed when done.
struct open_file {
  int fd = -1;
  ~open_file() {
    if (fd >= 0) {
      ::close(fd);
    }
  }
};

}  // namespace

// The one password check of POP3 logins (what [auth] dovecot_socket swaps): the users
// file through policy::credential_checker, crypt(3) on the blocking pool; SCRAM proofs
// are checked in the exchange, so only the account is looked up. Failures count toward
// the same [auth] limiter as SMTP AUTH, with the same growing delay before the reply.
enum class login_outcome { Success, Failure, Blocked };
struct login_check {
  login_outcome outcome = login_outcome::Failure;
  std::optional<mail::address> login;
};

awaitable<login_check> check_login(smtp::server_context& ctx,
                                   const std::shared_ptr<const policy::accounts>& accounts,
                                   const auth::sasl_verify& creds, const std::string& ip) {
  auth::failure_limiter* limiter = ctx.auth_limiter.get();
  if (limiter != nullptr && limiter->blocked(ip)) {
    spdlog::warn("event=auth-blocked client=[{}] protocol=pop3", ip);
    co_return login_check{login_outcome::Blocked, std::nullopt};
  }
  policy::credential_checker checker(accounts);
  std::optional<mail::address> login;
  if (creds.verified) {
    const policy::user* u = *creds.verified ? checker.find_login(creds.authcid) : nullptr;
    if (u != nullptr) {
      login = u->address;
    }
  } else {
    login = co_await run_blocking(ctx.blocking, [&checker, &creds] {
      return checker.authenticate(creds.authcid, creds.password);
    });
  }
  if (login) {
    spdlog::info("event=auth client=[{}] protocol=pop3 user=<{}>", ip, login->str());
    co_return login_check{login_outcome::Success, std::move(login)};
  }
  // The user name is logged, the password never (DESIGN.md §4.5).
  spdlog::warn("event=auth-failed client=[{}] protocol=pop3 user=\"{}\"", ip,
               std::string(creds.authcid));
  if (limiter != nullptr) {
    limiter->record_failure(ip);
    if (limiter->blocked(ip)) {
      co_return login_check{login_outcome::Blocked, std::nullopt};
    }
    if (auto delay = limiter->delay_before_reply(ip); delay.count() > 0) {
      asio::steady_timer pause(co_await asio::this_coro::executor, delay);
      co_await pause.async_wait(k_tuple);
    }
  }
  co_return login_check{login_outcome::Failure, std::nullopt};
}

namespace {

awaitable<void> run_connection(tcp::socket socket, smtp::server_context& ctx,
                               config::listen_config where) {
  // Held for the whole connection: a SIGHUP swaps them; this session keeps its own.
  const std::shared_ptr<const config::config> cfg_held = ctx.cfg.load();
  const config::config& cfg = *cfg_held;
  const std::shared_ptr<const policy::accounts> accounts = ctx.accounts.load();
  auto conn = std::make_shared<watched>(std::move(socket));
  tcp::socket& sock = conn->sock;
  boost::system::error_code ec;
  sock.set_option(tcp::no_delay(true), ec);
  const std::string ip = peer_ip(sock);
  const bool admitted = ctx.limits.acquire(ip);
  m_connections_total.inc();
  const auto timeout = cfg.limits.pop3_timeout;

  std::shared_ptr<ssl::context> tls_ctx = ctx.tls_context ? ctx.tls_context() : nullptr;
  session_settings settings;
  settings.hostname = cfg.hostname;
  settings.tls_available = tls_ctx != nullptr && where.role == config::listener_role::Pop3;
  settings.allow_plaintext_auth = where.allow_plaintext_auth;
  settings.max_errors = cfg.limits.errors;
  settings.scram_lookup =
      [accounts](std::string_view authcid) -> std::optional<auth::scram_secrets> {
    const policy::user* u = accounts ? policy::find_login(*accounts, authcid) : nullptr;
    // A locked account ("*", "!...") cannot log in with any mechanism.
    if (u == nullptr || u->hash.empty() || u->hash.front() == '*' || u->hash.front() == '!') {
      return std::nullopt;
    }
    return u->scram;
  };
  session s(std::move(settings));

  // A shutdown wakes the connection when it waits for a command.
  const std::uint64_t registration = ctx.connections.add([w = std::weak_ptr<watched>(conn)] {
    if (auto self = w.lock()) {
      asio::post(self->sock.get_executor(), [self] {
        if (self->waiting_for_input) {
          boost::system::error_code ignored;
          self->sock.cancel(ignored);
        }
      });
    }
  });
  struct cleanup {
    smtp::server_context& ctx;
    std::uint64_t id;
    std::string ip;
    bool admitted;
    ~cleanup() {
      ctx.connections.remove(id);
      if (admitted) {
        ctx.limits.release(ip);
      }
    }
  } at_end{ctx, registration, ip, admitted};

  std::unique_ptr<ssl::stream<tcp::socket&>> tls;
  std::vector<char> tls_buf;
  auto start_tls = [&]() -> awaitable<bool> {
    if (!tls_ctx) {
      co_return false;
    }
    tls = std::make_unique<ssl::stream<tcp::socket&>>(sock, *tls_ctx);
    conn->arm(cfg.limits.command_timeout);
    auto [hec] = co_await tls->async_handshake(ssl::stream_base::server, k_tuple);
    conn->disarm();
    if (hec || conn->timed_out) {
      spdlog::info("event=tls-failed client=[{}] protocol=pop3 reason=\"{}\"", ip,
                   conn->timed_out ? std::string("timeout") : hec.message());
      co_return false;
    }
    spdlog::info("event=tls client=[{}] protocol=pop3 {}", ip,
                 tls::received_comment(tls->native_handle()));
    tls::channel_binding_data cb = tls::channel_bindings(tls->native_handle(), true);
    s.tls_started(auth::channel_bindings{std::move(cb.exporter), std::move(cb.unique)});
    tls_buf.resize(16 * 1024);
    co_return true;
  };

  // Writes `data`; false when the client is gone or stopped reading for `timeout`. The
  // next piece is made only after this one is written (back-pressure).
  auto write = [&](std::string_view data) -> awaitable<bool> {
    if (data.empty()) {
      co_return true;
    }
    conn->arm(timeout);
    auto [wec, n] = tls ? co_await asio::async_write(*tls, asio::buffer(data), k_tuple)
                        : co_await asio::async_write(sock, asio::buffer(data), k_tuple);
    conn->disarm();
    co_return !wec && !conn->timed_out;
  };
  auto write_out = [&]() -> awaitable<bool> {
    const bool ok = co_await write(s.output());
    s.output().clear();
    if (s.output().capacity() > 256 * 1024) {
      s.output().shrink_to_fit();
    }
    co_return ok;
  };

  if (!admitted) {
    spdlog::warn("event=reject client=[{}] protocol=pop3 reason=\"too many connections\"", ip);
    s.output() = "-ERR [SYS/TEMP] Too many connections, try again later\r\n";
    co_await write_out();
    sock.close(ec);
    co_return;
  }
  if (where.role == config::listener_role::Pop3s) {
    // RFC 8314 §3.3: TLS from the first octet, then the greeting inside it.
    if (!co_await start_tls()) {
      sock.close(ec);
      co_return;
    }
  }
  spdlog::info("event=connect client=[{}] listener={} protocol=pop3", ip, where.address);
  s.greet();

  std::optional<mailbox_lock> lock;
  fs::path box;
  std::string user;
  std::string pending;
  auto feed_pending = [&]() {
    std::string_view v = pending;
    action a = s.feed(v);
    pending.erase(0, pending.size() - v.size());
    return a;
  };

  // Streams the message RETR or TOP asked for, after its "+OK" line.
  auto retrieve = [&]() -> awaitable<bool> {
    const retrieve_request req = s.retrieval();
    const message_info& m = s.messages()[req.index];
    auto opened = co_await run_blocking(ctx.blocking, [&]() -> result<int> {
      auto path = locate_message(box, m);
      if (!path) {
        return fail(path.error());
      }
      const int fd = ::open(path->c_str(), O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
      if (fd < 0) {
        return fail(error::temp("", path->filename().string() + ": " + std::strerror(errno)));
      }
      return fd;
    });
    if (!opened) {
      spdlog::warn("event=pop3-retr-failed client=[{}] user=<{}> reason=\"{}\"", ip, user,
                   opened.error().message);
      s.retrieve_failed();
      co_return true;
    }
    open_file file{*opened};
    s.retrieve_started();
    if (!co_await write_out()) {
      co_return false;
    }
    message_encoder enc(req.top_lines);
    std::string chunk(k_retr_chunk, '\0');
    std::string out;
    while (true) {
      const ssize_t n = co_await run_blocking(ctx.blocking, [&] {
        ssize_t got;
        do {
          got = ::read(file.fd, chunk.data(), chunk.size());
        } while (got < 0 && errno == EINTR);
        return got;
      });
      if (n < 0) {
        // The "+OK" and part of the message are out: the response cannot be completed
        // honestly, so the connection ends (the client sees no terminator and retries).
        spdlog::error("event=pop3-retr-failed client=[{}] user=<{}> reason=\"read: {}\"", ip, user,
                      std::strerror(errno));
        co_return false;
      }
      if (n == 0) {
        break;
      }
      out.clear();
      const bool more = enc.feed(std::string_view(chunk.data(), static_cast<std::size_t>(n)), out);
      if (!co_await write(out)) {
        co_return false;
      }
      if (!more) {
        break;
      }
    }
    out.clear();
    enc.finish(out);
    if (!co_await write(out)) {
      co_return false;
    }
    if (!req.top_lines) {
      m_retrieved_total.inc();
    }
    s.retrieve_done();
    co_return true;
  };

  bool clean_close = false;
  action a = action::Read;
  while (true) {
    if (a == action::Close) {
      clean_close = co_await write_out();
      break;
    }
    if (a == action::Flush) {
      if (!co_await write_out()) {
        break;
      }
      a = feed_pending();
      continue;
    }
    if (a == action::AuthVerify) {
      login_check r = co_await check_login(ctx, accounts, s.auth_credentials(), ip);
      if (r.outcome == login_outcome::Blocked) {
        m_logins.with({"blocked"}).inc();
        s.auth_blocked();
      } else {
        if (r.outcome == login_outcome::Failure) {
          m_logins.with({"failure"}).inc();
        }
        s.auth_done(std::move(r.login));
      }
      a = feed_pending();
      continue;
    }
    if (a == action::OpenMailbox) {
      user = s.login().str();
      box = delivery::maildir(cfg.mailbox.maildir_root, cfg.hostname).mailbox_path(s.login());
      const auto started = std::chrono::steady_clock::now();
      auto opened = co_await run_blocking(ctx.blocking, [&box] { return open_maildrop(box); });
      if (box.empty() || !opened) {
        const bool in_use = !box.empty() && opened.error().in_use;
        m_logins.with({in_use ? "in_use" : "failure"}).inc();
        spdlog::warn("event=pop3-open-failed client=[{}] user=<{}> in_use={} reason=\"{}\"", ip,
                     user, in_use ? "yes" : "no",
                     box.empty() ? std::string("no mailbox name") : opened.error().reason);
        s.mailbox_failed(in_use);
      } else {
        m_logins.with({"success"}).inc();
        const double ms =
            std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - started)
                .count();
        spdlog::info("event=pop3-login client=[{}] user=<{}> messages={} files_read={} ms={:.1f}",
                     ip, user, opened->messages.size(), opened->files_read, ms);
        lock.emplace(std::move(opened->lock));
        s.mailbox_opened(std::move(opened->messages));
      }
      a = feed_pending();
      continue;
    }
    if (a == action::Retrieve) {
      if (!co_await retrieve()) {
        break;
      }
      a = feed_pending();
      continue;
    }
    if (a == action::StartTls) {
      if (!co_await write_out()) {
        break;
      }
      // CVE-2011-0411: whatever the client pipelined after STLS is dropped unread.
      pending.clear();
      if (!co_await start_tls()) {
        break;
      }
      a = action::Read;
      continue;
    }
    if (a == action::Update) {
      // RFC 1939 §6: the deletions and seen marks of this session, then the lock goes.
      update_result r = co_await run_blocking(ctx.blocking, [&] {
        return apply_update(box, s.messages(), s.deleted(), s.retrieved());
      });
      spdlog::info("event=pop3-update client=[{}] user=<{}> deleted={} failed={}{}", ip, user,
                   r.deleted, r.failed,
                   r.reason.empty() ? std::string() : " reason=\"" + r.reason + "\"");
      lock.reset();
      s.update_done(r);
      a = feed_pending();
      continue;
    }
    // action::Read: flush, then wait for the next command.
    if (!co_await write_out()) {
      break;
    }
    if (ctx.stopping || ctx.closing_all) {
      s.shutdown();
      a = action::Close;
      continue;
    }
    conn->arm(timeout);
    conn->waiting_for_input = true;
    std::size_t n = 0;
    boost::system::error_code rec;
    if (tls) {
      auto [e, got] = co_await tls->async_read_some(asio::buffer(tls_buf), k_tuple);
      rec = e;
      n = got;
    } else {
      auto [e] = co_await sock.async_wait(tcp::socket::wait_read, k_tuple);
      rec = e;
    }
    conn->waiting_for_input = false;
    conn->disarm();
    if (conn->timed_out) {
      // RFC 1939 §3: the autologout timer; no UPDATE.
      s.timeout();
      a = action::Close;
      continue;
    }
    if (rec == asio::error::operation_aborted && (ctx.stopping || ctx.closing_all)) {
      a = action::Read;
      continue;
    }
    if (rec) {
      break;
    }
    std::string_view v;
    if (tls) {
      if (n == 0) {
        break;
      }
      v = std::string_view(tls_buf.data(), n);
    } else {
      // The read buffer exists only while reading, so idle connections hold none.
      static thread_local std::array<char, 16 * 1024> buf;
      n = sock.read_some(asio::buffer(buf), ec);
      if (ec == asio::error::would_block || ec == asio::error::try_again) {
        a = action::Read;
        continue;
      }
      if (ec || n == 0) {
        break;
      }
      v = std::string_view(buf.data(), n);
    }
    pending.append(v);
    a = feed_pending();
  }
  if (tls && clean_close) {
    conn->arm(std::chrono::seconds(2));
    co_await tls->async_shutdown(k_tuple);
    conn->disarm();
  }
  conn->disarm();
  sock.shutdown(tcp::socket::shutdown_both, ec);
  sock.close(ec);
  const session_stats& st = s.stats();
  // A dropped connection changes nothing (RFC 1939 §6): the lock goes with `lock`.
  spdlog::info(
      "event=disconnect client=[{}] protocol=pop3 user=<{}> retr={} top={} dele={} "
      "octets={} errors={} update={}",
      ip, user, st.retr, st.top, st.dele, st.retr_octets, st.errors,
      s.current_state() == state::Update ? "yes" : "no");
}

}  // namespace

void spawn_connection(tcp::socket socket, smtp::server_context& ctx,
                      const config::listen_config& where) {
  auto ex = socket.get_executor();
  asio::co_spawn(ex, run_connection(std::move(socket), ctx, where), [](std::exception_ptr e) {
    if (!e) {
      return;
    }
    try {
      std::rethrow_exception(e);
    } catch (const std::exception& ex) {
      spdlog::error("pop3 connection ended by an exception: {}", ex.what());
    }
  });
}

}  // namespace posthorn::pop3
