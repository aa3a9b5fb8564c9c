// One coroutine per SMTP connection: the only place where the session meets the
// socket, the clock, the committer and the blocking thread pool.

#include <spdlog/spdlog.h>

#include <algorithm>
#include <array>
#include <boost/asio/as_tuple.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/ssl.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/asio/write.hpp>
#include <chrono>
#include <ctime>
#include <expected>
#include <memory>
#include <mutex>
#include <optional>
#include <unordered_map>

#include "common/asio_unix.hpp"
#include "common/metrics.hpp"
#include "common/run_blocking.hpp"
#include "policy/credentials.hpp"
#include "queue/delivery_metrics.hpp"
#include "smtp/proto/proxy_header.hpp"
#include "smtp/server/connection_dovecot.hpp"
#include "smtp/server/listener.hpp"
#include "smtp/server/session.hpp"
#include "tls/session_info.hpp"

namespace posthorn::smtp {

namespace asio = boost::asio;
namespace ssl = boost::asio::ssl;
using asio::awaitable;
using asio::ip::tcp;
using unix_socket = asio::local::stream_protocol;

namespace {

constexpr auto k_tuple = asio::as_tuple(asio::use_awaitable);

// --- Metrics (STYLE.md 10; docs/operations.md lists them) ----------------------------

metrics::family<metrics::counter>& m_connections_total =
    metrics::default_registry().add_counter_family(
        "posthorn_connections_total", "SMTP connections accepted, by listener (refused included).",
        {"listener"});
metrics::family<metrics::gauge>& m_connections = metrics::default_registry().add_gauge_family(
    "posthorn_connections", "SMTP connections open now, by listener.", {"listener"});
metrics::family<metrics::counter>& m_connections_refused =
    metrics::default_registry().add_counter_family(
        "posthorn_connections_refused_total",
        "Connections refused with 421 for [limits] connections or connections_per_ip.",
        {"listener"});
metrics::family<metrics::counter>& m_tls_handshakes =
    metrics::default_registry().add_counter_family(
        "posthorn_tls_handshakes_total",
        "Server TLS handshakes (STARTTLS, implicit TLS) by result.", {"result"});
metrics::counter& m_tls_success = m_tls_handshakes.with({"success"});
metrics::counter& m_tls_failure = m_tls_handshakes.with({"failure"});
metrics::family<metrics::counter>& m_proxy_headers = metrics::default_registry().add_counter_family(
    "posthorn_proxy_headers_total",
    "PROXY protocol headers on listeners with proxy_protocol = true, by result (a refused "
    "one closes the connection).",
    {"result"});
metrics::counter& m_proxy_accepted = m_proxy_headers.with({"accepted"});
metrics::counter& m_proxy_refused = m_proxy_headers.with({"refused"});
metrics::family<metrics::counter>& m_xclient = metrics::default_registry().add_counter_family(
    "posthorn_xclient_total",
    "XCLIENT commands accepted, and those refused for the new address's connection limit.",
    {"result"});
metrics::counter& m_xclient_accepted = m_xclient.with({"accepted"});
metrics::counter& m_xclient_refused = m_xclient.with({"refused"});

// One listener's connection metrics, resolved once for all three.
struct listener_metrics {
  metrics::counter& total;
  metrics::gauge& open;
  metrics::counter& refused;
};

// One lookup per connection (like the per-IP count), nothing per command.
listener_metrics& metrics_for(const std::string& listener) {
  static std::mutex mu;
  static std::unordered_map<std::string, std::unique_ptr<listener_metrics>> known;
  std::lock_guard lock(mu);
  std::unique_ptr<listener_metrics>& m = known[listener];
  if (!m) {
    m.reset(new listener_metrics{m_connections_total.with({listener}),
                                 m_connections.with({listener}),
                                 m_connections_refused.with({listener})});
  }
  return *m;
}

// The session's window onto the spool; every call here is cheap and non-blocking.
class spool_env final : public session_env {
 public:
  spool_env(queue::spool& s, auth::failure_limiter* limiter, std::string ip)
      : spool_(s), limiter_(limiter), ip_(std::move(ip)) {}
  std::string new_queue_id() override { return spool_.new_id(); }
  queue::message_writer begin_message(const std::string& id) override { return spool_.begin(id); }
  std::uint64_t free_space() override { return spool_.free_space(); }
  std::int64_t now() override { return static_cast<std::int64_t>(std::time(nullptr)); }
  // XCLIENT named another client: AUTH failures count against it from now on.
  void set_ip(std::string ip) { ip_ = std::move(ip); }
  void auth_failure() override {
    if (limiter_ != nullptr) {
      limiter_->record_failure(ip_);
    }
  }

 private:
  queue::spool& spool_;
  auth::failure_limiter* limiter_;
  std::string ip_;
};

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

bool in_networks(const std::vector<cidr>& networks, const std::string& ip) {
  auto a = ip_address::parse(ip);
  if (!a) {
    return false;
  }
  for (const cidr& n : networks) {
    if (n.contains(*a)) {
      return true;
    }
  }
  return false;
}

bool is_trusted(const config::config& cfg, const std::string& ip) {
  return in_networks(cfg.relay.trusted_networks, ip);
}

// The socket and its inactivity deadline. The timer is armed once per timeout period,
// not once per read: when it fires early (the deadline moved on) it re-arms itself, and
// when the deadline has passed it cancels the socket's pending operation.
template <class Socket>
struct watched_socket : std::enable_shared_from_this<watched_socket<Socket>> {
  explicit watched_socket(Socket s)
      : sock(std::move(s)), timer(sock.get_executor()), signal(sock.get_executor()) {}

  void extend(std::chrono::steady_clock::duration d) {
    deadline = std::chrono::steady_clock::now() + d;
    // A later deadline is picked up when the timer fires; an earlier one (DATA's own
    // timeout after a longer command timeout) needs the timer moved now.
    if (!armed || deadline < timer.expiry()) {
      arm();
    }
  }

  void arm() {
    armed = true;
    timer.expires_at(deadline);
    timer.async_wait(
        [w = this->weak_from_this(), gen = ++generation](boost::system::error_code ec) {
          auto self = w.lock();
          if (!self || gen != self->generation) {
            return;  // gone, or superseded by a later arm()
          }
          self->armed = false;
          if (ec || self->stopped) {
            return;
          }
          if (self->deadline > std::chrono::steady_clock::now()) {
            self->arm();
            return;
          }
          self->timed_out = true;
          boost::system::error_code ignored;
          self->sock.cancel(ignored);
        });
  }

  void stop() {
    stopped = true;
    timer.cancel();
  }

  Socket sock;
  asio::steady_timer timer;
  // Wakes the connection when another thread (the committer) posts a result to it: the
  // posted function stores the result and cancels the wait, all on the strand.
  asio::steady_timer signal;
  std::optional<result<void>> commit_result;
  std::chrono::steady_clock::time_point deadline{};
  bool armed = false;
  std::uint64_t generation = 0;
  bool stopped = false;
  bool timed_out = false;
  bool waiting_for_input = false;  // in the wait for a client's bytes (a shutdown may cut it)
};

// Hands a message to the group committer and waits for the flush that covers it.
template <class Socket>
awaitable<result<void>> commit(watched_socket<Socket>& conn, queue::committer& c,
                               queue::envelope& env, queue::message_writer body) {
  auto ex = conn.sock.get_executor();
  conn.commit_result.reset();
  c.submit(&env, std::move(body), [self = conn.shared_from_this(), ex](result<void> r) {
    asio::post(ex, [self, r = std::move(r)]() mutable {
      self->commit_result = std::move(r);
      self->signal.cancel();
    });
  });
  // The posted function runs on this strand only while we wait, so it cannot be missed.
  while (!conn.commit_result) {
    conn.signal.expires_at(std::chrono::steady_clock::time_point::max());
    co_await conn.signal.async_wait(k_tuple);
  }
  co_return std::move(*conn.commit_result);
}

// Who is at the other end: the address (the key for per-client limits) and what the
// session knows of it.
struct peer_identity {
  std::string key;
  peer_info info;
};

peer_identity identify(tcp::socket& sock, const config::config& cfg) {
  std::string ip = peer_ip(sock);
  boost::system::error_code ec;
  sock.set_option(tcp::no_delay(true), ec);
  return {ip, peer_info{ip, "unknown", is_trusted(cfg, ip)}};
}

// A local submission: trusted like a network in trusted_networks; Received: shows the
// submitting uid in place of an address (what sendmail users expect to see).
peer_identity identify(unix_socket::socket& sock, const config::config&) {
  auto uid = peer_uid(sock);
  std::string who = uid ? "uid=" + std::to_string(*uid) : std::string("uid=unknown");
  return {"local " + who, peer_info{"", who, true}};
}

// Postfix's smtpd_upstream_proxy_timeout: a proxy sends its header at once.
constexpr std::chrono::seconds k_proxy_header_timeout{5};

// Reads a PROXY header (v1 or v2) off a fresh connection within `limit`. It peeks and
// then takes only the header's own octets, so what follows (SMTP, or the TLS handshake
// of an implicit-TLS listener) stays on the socket. The error says why there is none.
awaitable<std::expected<proxy_info, std::string>> read_proxy_header(
    watched_socket<tcp::socket>& conn, std::chrono::steady_clock::duration limit) {
  proxy_header_parser parser;
  std::array<char, 1024> buf;
  conn.extend(limit);
  while (true) {
    auto [wec] = co_await conn.sock.async_wait(tcp::socket::wait_read, k_tuple);
    if (conn.timed_out) {
      conn.timed_out = false;
      co_return std::unexpected(std::string("timeout"));
    }
    if (wec) {
      co_return std::unexpected(wec.message());
    }
    boost::system::error_code ec;
    const std::size_t n = conn.sock.receive(asio::buffer(buf), tcp::socket::message_peek, ec);
    if (ec == asio::error::would_block || ec == asio::error::try_again) {
      continue;
    }
    if (ec || n == 0) {
      co_return std::unexpected(ec ? ec.message() : std::string("closed before a header"));
    }
    std::string_view v(buf.data(), n);
    const std::size_t before = parser.consumed();
    const proxy_status st = parser.feed(v);
    if (st == proxy_status::Invalid) {
      co_return std::unexpected(std::string(parser.error()));
    }
    // The octets the parser took are in the socket's buffer: take them off it.
    const std::size_t take = parser.consumed() - before;
    const std::size_t got = conn.sock.receive(asio::buffer(buf.data(), take), 0, ec);
    if (ec || got != take) {
      co_return std::unexpected(std::string("short read"));
    }
    if (st == proxy_status::Done) {
      co_return parser.info();
    }
  }
}

// Runs the check chain for one step; the session supplies what it knows. A named
// coroutine, not a lambda inside run_connection: GCC 12 miscompiles capturing lambda
// coroutines there (see dns/resolver.cpp).
awaitable<check_verdict> run_check_step(check_chain& checks, session& s,
                                        config::listener_role role, check_step step,
                                        const peer_info& peer) {
  check_request r;
  r.step = step;
  r.role = role;
  r.peer = &peer;
  r.helo = s.helo_name();
  r.auth_user = &s.authenticated();
  r.tls = s.tls_active();
  queue::message_writer* message = nullptr;
  if (step != check_step::Connect && step != check_step::Helo) {
    r.sender = &s.sender();
  }
  if (step == check_step::Rcpt) {
    r.rcpt = &s.check_wanted().rcpt;
  }
  if (step == check_step::Message) {
    r.envelope = &s.envelope();
    r.message = &s.message();
    message = &s.message();
  }
  check_verdict v = co_await checks.run(r, message);
  if (v.refuse) {
    spdlog::info("event=check-refused client=[{}] step={} code={}{}{}", peer.addr, to_string(step),
                 v.refuse->code, v.log.empty() ? "" : " ", v.log);
  }
  co_return v;
}

template <class Socket>
awaitable<void> run_connection(Socket socket, server_context& ctx, config::listen_config where) {
  // Held for the whole connection: a SIGHUP swaps ctx.cfg, and this session keeps the
  // config it started with.
  const std::shared_ptr<const config::config> cfg_held = ctx.cfg.load();
  const config::config& cfg = *cfg_held;
  auto conn = std::make_shared<watched_socket<Socket>>(std::move(socket));
  Socket& sock = conn->sock;
  boost::system::error_code ec;
  sock.non_blocking(true, ec);
  peer_identity who = identify(sock, cfg);
  // The address the connection came from; a PROXY header or XCLIENT may name another
  // client, which is then the one used everywhere (trust, limits, logs, Received:).
  const std::string origin = who.key;
  if constexpr (std::is_same_v<Socket, tcp::socket>) {
    if (where.proxy_protocol) {
      auto hdr = co_await read_proxy_header(
          *conn, std::min<std::chrono::steady_clock::duration>(cfg.limits.command_timeout,
                                                               k_proxy_header_timeout));
      if (!hdr) {
        // No greeting: whatever is at the other end does not speak through a proxy.
        m_proxy_refused.inc();
        spdlog::warn("event=proxy-failed client=[{}] listener={} reason=\"{}\"", origin,
                     where.address, hdr.error());
        conn->stop();
        sock.close(ec);
        co_return;
      }
      m_proxy_accepted.inc();
      if (!hdr->local) {
        who = {hdr->src_addr, peer_info{hdr->src_addr, "unknown", is_trusted(cfg, hdr->src_addr)}};
      }
    }
  }
  std::string ip = who.key;
  bool admitted = ctx.limits.acquire(ip);
  listener_metrics& counted = metrics_for(where.address);
  counted.total.inc();
  if (!admitted) {
    counted.refused.inc();
  }
  metrics::gauge_hold open_now(admitted ? &counted.open : nullptr);
  spool_env env_api(ctx.spool, ctx.auth_limiter.get(), ip);
  session_settings settings = session_settings::from(cfg, where);
  std::shared_ptr<ssl::context> tls_ctx =
      ctx.tls_context && std::is_same_v<Socket, tcp::socket> ? ctx.tls_context() : nullptr;
  settings.tls_available = tls_ctx != nullptr && where.role != config::listener_role::Submissions;
  settings.xclient_allowed = in_networks(cfg.smtp.xclient_networks, ip);
  std::shared_ptr<const policy::accounts> accounts = ctx.accounts.load();
  // The checks of this connection (checks.hpp); the module set is the one at connect.
  const std::shared_ptr<const check_list> modules = ctx.checks.load();
  check_chain checks;
  if (modules && !modules->empty()) {
    checks = check_chain(*modules, where.role,
                         check_services{sock.get_executor(), ctx.resolver, &ctx.blocking});
  }
  settings.check_steps = checks.steps() & ~step_bit(check_step::Connect);
  session s(std::move(settings), accounts, env_api, std::move(who.info));

  // A shutdown wakes the connection when it waits for input (between commands, or in
  // the middle of a message); the loop then decides whether to end the session.
  std::uint64_t registration = ctx.connections.add([w = conn->weak_from_this()] {
    if (auto self = w.lock()) {
      asio::post(self->sock.get_executor(), [self] {
        if (self->waiting_for_input) {
          boost::system::error_code ignored;
          self->sock.cancel(ignored);
        }
      });
    }
  });

  struct unregister {
    connection_registry& r;
    std::uint64_t id;
    ~unregister() { r.remove(id); }
  } unregister_at_end{ctx.connections, registration};

  // After STARTTLS (or from the start on an implicit-TLS listener) all I/O goes through
  // this stream; its buffer is the connection's own, as reads complete on any thread.
  std::unique_ptr<ssl::stream<Socket&>> tls;
  std::vector<char> tls_buf;
  auto start_tls = [&]() -> awaitable<bool> {
    if (!tls_ctx) {
      co_return false;
    }
    tls = std::make_unique<ssl::stream<Socket&>>(sock, *tls_ctx);
    conn->extend(cfg.limits.command_timeout);
    auto [hec] = co_await tls->async_handshake(ssl::stream_base::server, k_tuple);
    if (hec || conn->timed_out) {
      m_tls_failure.inc();
      spdlog::info("event=tls-failed client=[{}] reason=\"{}\"", ip,
                   conn->timed_out ? std::string("timeout") : hec.message());
      co_return false;
    }
    m_tls_success.inc();
    std::string info = tls::received_comment(tls->native_handle());
    spdlog::info("event=tls client=[{}] {}", ip, info);
    tls::channel_binding_data cb = tls::channel_bindings(tls->native_handle(), true);
    s.tls_started(std::move(info),
                  auth::channel_bindings{std::move(cb.exporter), std::move(cb.unique)});
    tls_buf.resize(16 * 1024);
    co_return true;
  };

  if (admitted && where.role == config::listener_role::Submissions) {
    // RFC 8314 §3.3: TLS from the first octet, then the greeting inside it.
    if (!co_await start_tls()) {
      ctx.limits.release(ip);
      conn->stop();
      sock.close(ec);
      co_return;
    }
  }
  if (admitted) {
    if (origin != ip) {
      spdlog::info("event=connect client=[{}] listener={} proxy=[{}]", ip, where.address, origin);
    } else {
      spdlog::info("event=connect client=[{}] listener={}", ip, where.address);
    }
    std::optional<reply> refusal;
    if ((checks.steps() & step_bit(check_step::Connect)) != 0) {
      check_verdict v = co_await run_check_step(checks, s, where.role, check_step::Connect, s.peer());
      refusal = std::move(v.refuse);
    }
    if (refusal) {
      s.refuse_service(*refusal);
    } else {
      s.greet();
    }
  } else {
    spdlog::warn(
        "event=reject client=[{}] command=CONNECT code=421 dsn=4.7.0 "
        "reason=\"too many connections\"",
        ip);
    s.refuse(make_reply(421, "4.7.0", cfg.hostname + " Error: too many connections"));
  }

  // Writes the pending replies; false when the client is gone or stopped reading.
  auto write_out = [&]() -> awaitable<bool> {
    if (s.output().empty()) {
      co_return true;
    }
    conn->extend(cfg.limits.command_timeout);
    auto [wec, n] = tls ? co_await asio::async_write(*tls, asio::buffer(s.output()), k_tuple)
                        : co_await asio::async_write(sock, asio::buffer(s.output()), k_tuple);
    if (wec) {
      co_return false;
    }
    s.output().clear();
    if (s.output().capacity() > 64 * 1024) {
      s.output().shrink_to_fit();
    }
    co_return true;
  };

  std::string pending;  // input the session has not consumed yet
  auto feed_pending = [&]() {
    std::string_view v = pending;
    action a = s.feed(v);
    pending.erase(0, pending.size() - v.size());
    return a;
  };

  bool clean_close = false;  // the dialogue ended by the book (QUIT, 421), not by an error
  action a = s.closing() ? action::Close : action::Read;
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
    if (a == action::Spill) {
      auto r = co_await run_blocking(ctx.blocking, [&s] { return s.message().spill(); });
      s.spill_done(std::move(r));
      a = feed_pending();
      continue;
    }
    if (a == action::AuthVerify) {
      auth::failure_limiter* limiter = ctx.auth_limiter.get();
      if (limiter != nullptr && limiter->blocked(ip)) {
        spdlog::warn("event=auth-blocked client=[{}]", ip);
        s.auth_blocked();
        a = feed_pending();
        continue;
      }
      // crypt(3) is slow on purpose: off the event loop. The credentials are views into
      // the session's SASL exchange, which lives until auth_done().
      policy::credential_checker checker(accounts);
      const auth::sasl_verify& creds = s.auth_credentials();
      std::optional<mail::address> login;
      if (creds.verified) {
        // SCRAM checked the proof itself (two HMACs): nothing slow left to run.
        const policy::user* u = *creds.verified ? checker.find_login(creds.authcid) : nullptr;
        if (u != nullptr) {
          login = u->address;
        }
      } else if (!cfg.auth.dovecot_socket.empty()) {
        // Dovecot's passdb decides, asynchronously; when it cannot, 454 4.7.0.
        auto v = co_await dovecot_verify(sock.get_executor(), cfg, creds, ip, s.tls_active());
        if (!v) {
          spdlog::warn("event=auth-unavailable client=[{}] user=\"{}\" reason=\"{}\"", ip,
                       std::string(creds.authcid), v.error());
          s.auth_unavailable();
          a = feed_pending();
          continue;
        }
        login = std::move(*v);
      } else {
        login = co_await run_blocking(ctx.blocking, [&checker, &creds] {
          return checker.authenticate(creds.authcid, creds.password);
        });
      }
      if (login) {
        spdlog::info("event=auth client=[{}] user=<{}>", ip, login->str());
      } else {
        // The user name is logged, the password never (DESIGN.md §4.5).
        spdlog::warn("event=auth-failed client=[{}] user=\"{}\"", ip, std::string(creds.authcid));
        if (limiter != nullptr) {
          limiter->record_failure(ip);
          if (limiter->blocked(ip)) {
            s.auth_blocked();
            a = feed_pending();
            continue;
          }
          // A growing pause before each failure reply slows guessing down.
          if (auto delay = limiter->delay_before_reply(ip); delay.count() > 0) {
            asio::steady_timer pause(sock.get_executor(), delay);
            co_await pause.async_wait(k_tuple);
          }
        }
      }
      s.auth_done(std::move(login));
      a = feed_pending();
      continue;
    }
    if (a == action::NewClient) {
      // XCLIENT: the session now serves the client it names. Its address is judged as at
      // connect: trusted_networks, and the per-IP connection count moves to it.
      const client_change& ch = s.pending_client();
      const bool moved = ch.peer.addr == ip || ctx.limits.transfer(ip, ch.peer.addr);
      (moved ? m_xclient_accepted : m_xclient_refused).inc();
      spdlog::info(
          "event=xclient client=[{}] orig_client=[{}] name={} helo=\"{}\" login=<{}> "
          "proto={} port={} destaddr=[{}] destport={}{}",
          ch.peer.addr, ip, ch.peer.name, ch.helo, ch.login, ch.proto.empty() ? "-" : ch.proto,
          ch.port.empty() ? "-" : ch.port, ch.destaddr, ch.destport.empty() ? "-" : ch.destport,
          moved ? "" : " result=refused reason=\"too many connections\"");
      if (moved) {
        ip = ch.peer.addr;
        env_api.set_ip(ip);
      }
      const bool trusted = is_trusted(cfg, ch.peer.addr);
      // The new client meets the Connect checks as if it had just connected.
      std::optional<reply> refusal;
      if (moved && (checks.steps() & step_bit(check_step::Connect)) != 0) {
        peer_info next = ch.peer;
        next.trusted = trusted;
        check_verdict v = co_await run_check_step(checks, s, where.role, check_step::Connect, next);
        refusal = std::move(v.refuse);
      }
      s.client_done(trusted, moved, std::move(refusal));
      a = feed_pending();
      continue;
    }
    if (a == action::Etrn) {
      // RFC 1985: the scheduler looks through its whole queue under its lock, so off the
      // event loop. While shutting down no new delivery starts: 458.
      const etrn_request& req = s.etrn_wanted();
      std::optional<std::size_t> started;
      if (!ctx.stopping) {
        started = co_await run_blocking(ctx.blocking, [&ctx, &req] {
          return ctx.scheduler.flush_domain(req.domain, req.subdomains);
        });
      }
      s.etrn_done(started);
      a = feed_pending();
      continue;
    }
    if (a == action::StartTls) {
      if (!co_await write_out()) {
        break;
      }
      // CVE-2011-0411: whatever the client pipelined after STARTTLS is dropped unread.
      pending.clear();
      if (!co_await start_tls()) {
        break;
      }
      a = action::Read;
      continue;
    }
    if (a == action::Check) {
      check_verdict v = co_await run_check_step(checks, s, where.role, s.check_wanted().step, s.peer());
      a = s.check_done(std::move(v));
      if (a == action::Read) {
        a = feed_pending();
      }
      continue;
    }
    if (a == action::Commit) {
      queue::envelope& env = s.envelope();
      auto r = co_await commit(*conn, ctx.committer, env, std::move(s.message()));
      if (r) {
        spdlog::info("id={} event=queued from=<{}> nrcpt={} size={} client=[{}]{}{}{}{}", env.id,
                     env.sender.str(), env.recipients.size(), env.size, ip,
                     s.check_log().empty() ? "" : " ", s.check_log(), env.junk ? " junk=yes" : "",
                     env.held ? " held=yes" : "");
        // Alias members that name no account failed at acceptance: they bounce, and
        // the log and the metrics say so like for any other recipient.
        for (const queue::recipient& rc : env.recipients) {
          if (rc.status == queue::rcpt_status::Failed) {
            queue::note_delivery(env, rc, queue::delivery_outcome::Bounced, "none", env.arrival);
          }
        }
        ctx.scheduler.submit(env);
      } else {
        spdlog::error("id={} event=commit-failed reason=\"{}\"", env.id, r.error().message);
      }
      s.commit_done(std::move(r));
      a = feed_pending();
      continue;
    }
    // action::Read: all input consumed. Flush replies when the client's input runs
    // dry (RFC 2920 §3.2), then wait for more.
    if (!co_await write_out()) {
      break;
    }
    // Shutting down (RFC 5321 §3.8: 421 at any time): a session without a transaction
    // ends now; one in the middle of a transaction may finish it until closing_all.
    if (ctx.closing_all ||
        (ctx.stopping && s.mode() == input_mode::Command && s.current_phase() <= phase::Greeted)) {
      s.shutdown();
      a = action::Close;
      continue;
    }
    const bool in_message = s.mode() == input_mode::Data || s.mode() == input_mode::Bdat;
    conn->extend(in_message ? cfg.limits.data_timeout : cfg.limits.command_timeout);
    // The wait for input ends in bytes, a shutdown's wake-up (look at the session
    // again), the inactivity timeout, or the client gone.
    enum class wait_end { Input, Again, TimedOut, Gone };
    auto ended = [&](const boost::system::error_code& e, bool got_bytes) {
      if (conn->timed_out) {
        conn->timed_out = false;
        return wait_end::TimedOut;
      }
      if (e == asio::error::operation_aborted && (ctx.stopping || ctx.closing_all)) {
        return wait_end::Again;
      }
      return e || !got_bytes ? wait_end::Gone : wait_end::Input;
    };
    wait_end w;
    std::size_t n = 0;
    conn->waiting_for_input = true;
    if (tls) {
      auto [rec, got] = co_await tls->async_read_some(asio::buffer(tls_buf), k_tuple);
      n = got;
      w = ended(rec, got != 0);
    } else {
      auto [wec] = co_await sock.async_wait(Socket::wait_read, k_tuple);
      w = ended(wec, true);
    }
    conn->waiting_for_input = false;
    if (w == wait_end::Again) {
      a = action::Read;
      continue;
    }
    if (w == wait_end::TimedOut) {
      s.timeout();
      a = action::Close;
      continue;
    }
    if (w == wait_end::Gone) {
      break;
    }
    std::string_view v;
    if (tls) {
      v = std::string_view(tls_buf.data(), n);
    } else {
      // The read buffer exists only while reading, so idle connections hold none.
      static thread_local std::array<char, 64 * 1024> buf;
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
    a = s.feed(v);
    // Keep the rest before suspending: the thread-local buffer is not ours then.
    pending.assign(v);
  }
  if (tls && clean_close) {
    // close_notify, briefly: OpenSSL drops a session from its cache when the connection
    // ends without one, and a client could then not resume by session id.
    conn->timed_out = false;
    conn->extend(std::chrono::seconds(2));
    co_await tls->async_shutdown(k_tuple);
    SSL_set_shutdown(tls->native_handle(), SSL_SENT_SHUTDOWN | SSL_RECEIVED_SHUTDOWN);
  }
  conn->stop();
  sock.shutdown(Socket::shutdown_both, ec);
  sock.close(ec);
  if (admitted) {
    const auto& st = s.stats();
    ctx.limits.release(ip);
    // Postfix's per-verb counts: "ehlo=1 mail=1 rcpt=2/3 data=1 quit=1 commands=6/7".
    spdlog::info("event=disconnect client=[{}] {} errors={} messages={}{}", ip, st.summary(),
                 st.errors, st.messages, origin != ip ? " orig_client=[" + origin + "]" : "");
  }
}

template <class Socket>
void spawn(Socket socket, server_context& ctx, const config::listen_config& where) {
  auto ex = socket.get_executor();
  asio::co_spawn(ex, run_connection(std::move(socket), ctx, where), [](std::exception_ptr e) {
    if (!e) {
      return;
    }
    try {
      std::rethrow_exception(e);
    } catch (const std::exception& ex) {
      spdlog::error("connection ended by an exception: {}", ex.what());
    }
  });
}

}  // namespace

void spawn_connection(tcp::socket socket, server_context& ctx, const config::listen_config& where) {
  spawn(std::move(socket), ctx, where);
}

void spawn_connection(unix_socket::socket socket, server_context& ctx,
                      const config::listen_config& where) {
  spawn(std::move(socket), ctx, where);
}

}  // namespace posthorn::smtp
