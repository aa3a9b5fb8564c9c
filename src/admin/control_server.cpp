#include "admin/control_server.hpp"

#include <spdlog/spdlog.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include <array>
#include <atomic>
#include <boost/asio/as_tuple.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/local/stream_protocol.hpp>
#include <boost/asio/read_until.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/strand.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/asio/write.hpp>
#include <chrono>
#include <cstdlib>
#include <cstring>

#include "admin/control_protocol.hpp"
#include "common/asio_unix.hpp"

namespace posthorn::admin {

namespace asio = boost::asio;
namespace fs = std::filesystem;
using asio::awaitable;
using unix_socket = asio::local::stream_protocol;

namespace {

constexpr auto k_tuple = asio::as_tuple(asio::use_awaitable);
// A client that says nothing (or reads nothing) for this long is dropped.
constexpr std::chrono::seconds k_idle{60};
constexpr std::chrono::seconds k_write{120};

// What a request produced: the reply line and, for `show`, the message after it.
struct handled {
  std::string head;
  std::unique_ptr<queue::message_reader> body;
};

const char* outcome_name(queue::scheduler::admin_outcome o) {
  switch (o) {
    case queue::scheduler::admin_outcome::Done:
      return "done";
    case queue::scheduler::admin_outcome::Later:
      return "later";
    case queue::scheduler::admin_outcome::Unchanged:
      return "unchanged";
    case queue::scheduler::admin_outcome::NotFound:
      return "not_found";
  }
  return "unknown";
}

std::string not_found(const std::string& id) {
  return error_reply("not_found", "no message " + id + " in the queue");
}

std::string outcome_reply(const result<queue::scheduler::admin_outcome>& r, const std::string& id) {
  if (!r) {
    return error_reply("failed", r.error().message);
  }
  if (*r == queue::scheduler::admin_outcome::NotFound) {
    return not_found(id);
  }
  return dump_line(nlohmann::ordered_json{{"ok", true}, {"result", outcome_name(*r)}});
}

// Blocking: runs on the pool.
handled handle(const control_request& req, queue::scheduler& sched, queue::spool& spool) {
  using op = control_op;
  switch (req.op) {
    case op::List: {
      nlohmann::ordered_json messages = nlohmann::ordered_json::array();
      nlohmann::ordered_json attempting = nlohmann::ordered_json::array();
      for (const queue::scheduler::listed& l : sched.snapshot()) {
        messages.push_back(envelope_json(l.env));
        if (l.attempting) {
          attempting.push_back(l.env.id);
        }
      }
      return {dump_line(nlohmann::ordered_json{
                  {"ok", true}, {"messages", std::move(messages)}, {"attempting", attempting}}),
              nullptr};
    }
    case op::Show: {
      auto l = sched.find(req.id);
      if (!l) {
        return {not_found(req.id), nullptr};
      }
      auto reader = spool.open_message(req.id);
      if (!reader) {
        return {not_found(req.id), nullptr};  // delivered or deleted meanwhile
      }
      std::uint64_t size = (*reader)->contents().size();
      return {dump_line(nlohmann::ordered_json{{"ok", true},
                                               {"envelope", envelope_json(l->env)},
                                               {"attempting", l->attempting},
                                               {"message_size", size}}),
              std::move(*reader)};
    }
    case op::Flush: {
      if (req.id.empty()) {
        std::size_t n = sched.flush_all();
        spdlog::info("event=flush messages={}", n);
        return {dump_line(nlohmann::ordered_json{{"ok", true}, {"flushed", n}}), nullptr};
      }
      auto o = sched.flush(req.id);
      if (o == queue::scheduler::admin_outcome::Done ||
          o == queue::scheduler::admin_outcome::Later) {
        spdlog::info("id={} event=flush", req.id);
      }
      return {outcome_reply(o, req.id), nullptr};
    }
    case op::Delete: {
      if (req.id == "ALL") {
        auto c = sched.delete_all();
        spdlog::info("event=delete-all deleted={} later={} failed={}", c.deleted, c.later,
                     c.failed);
        return {
            dump_line(nlohmann::ordered_json{
                {"ok", true}, {"deleted", c.deleted}, {"later", c.later}, {"failed", c.failed}}),
            nullptr};
      }
      return {outcome_reply(sched.delete_message(req.id), req.id), nullptr};
    }
    case op::Hold:
      return {outcome_reply(sched.hold(req.id), req.id), nullptr};
    case op::Release:
      return {outcome_reply(sched.release(req.id), req.id), nullptr};
  }
  return {error_reply("bad_request", "unknown op"), nullptr};
}

// A plain coroutine rather than a capturing lambda: g++ 12 destroys a coroutine
// lambda's by-value captures twice.
awaitable<handled> handle_on_pool(control_request req, queue::scheduler& sched,
                                  queue::spool& spool) {
  try {
    co_return handle(req, sched, spool);
  } catch (const std::exception& ex) {
    spdlog::error("control: {}", ex.what());
    co_return handled{error_reply("failed", "internal error"), nullptr};
  }
}

// The uid of the client (SO_PEERCRED); the socket's mode already keeps others out, this
// keeps them out should the mode ever be widened.
bool peer_allowed(unix_socket::socket& sock) {
  ucred cred{};
  socklen_t len = sizeof cred;
  if (::getsockopt(sock.native_handle(), SOL_SOCKET, SO_PEERCRED, &cred, &len) != 0) {
    return false;
  }
  return cred.uid == 0 || cred.uid == ::geteuid();
}

}  // namespace

struct control_server::state : std::enable_shared_from_this<control_server::state> {
  state(asio::io_context& io, asio::thread_pool& blocking, queue::scheduler& sched,
        queue::spool& spool, fs::path path)
      : io(io),
        blocking(blocking),
        sched(sched),
        spool(spool),
        path(std::move(path)),
        strand(asio::make_strand(io)),
        acceptor(strand) {}

  asio::io_context& io;
  asio::thread_pool& blocking;
  queue::scheduler& sched;
  queue::spool& spool;
  fs::path path;
  // The acceptor and every client run on one strand: control traffic is light, and the
  // spool work is on the blocking pool anyway.
  asio::strand<asio::io_context::executor_type> strand;
  unix_socket::acceptor acceptor;
  std::atomic<bool> closed{false};
  bool bound = false;

  awaitable<void> accept_loop();
  awaitable<void> serve_client(unix_socket::socket sock);
};

namespace {

void log_exception(std::exception_ptr e) {
  if (!e) {
    return;
  }
  try {
    std::rethrow_exception(e);
  } catch (const std::exception& ex) {
    spdlog::error("control: {}", ex.what());
  } catch (...) {
    spdlog::error("control: unknown failure");
  }
}

}  // namespace

awaitable<void> control_server::state::accept_loop() {
  auto self = shared_from_this();
  while (!closed.load()) {
    auto [ec, sock] = co_await acceptor.async_accept(k_tuple);
    if (ec) {
      if (ec == asio::error::operation_aborted || closed.load()) {
        co_return;
      }
      spdlog::warn("control: accept: {}", ec.message());
      // EMFILE and the like: pause rather than spin.
      asio::steady_timer pause(strand, std::chrono::milliseconds(100));
      co_await pause.async_wait(k_tuple);
      continue;
    }
    asio::co_spawn(strand, self->serve_client(std::move(sock)), log_exception);
  }
}

awaitable<void> control_server::state::serve_client(unix_socket::socket client) {
  auto self = shared_from_this();
  if (!peer_allowed(client)) {
    spdlog::warn("control: refused a client of another user");
    co_return;
  }
  // The deadline cancels the socket's operation when it passes; the timer's handler
  // holds the socket weakly, as it may run after this coroutine has ended.
  auto sock_ptr = std::make_shared<unix_socket::socket>(std::move(client));
  unix_socket::socket& sock = *sock_ptr;
  asio::steady_timer timer(sock.get_executor());
  auto arm = [&](std::chrono::seconds d) {
    timer.expires_after(d);
    timer.async_wait([w = std::weak_ptr<unix_socket::socket>(sock_ptr)](boost::system::error_code e) {
      if (auto s = w.lock(); s && !e) {
        boost::system::error_code ignored;
        s->cancel(ignored);
      }
    });
  };
  std::string buf;
  while (true) {
    arm(k_idle);
    auto [ec, n] = co_await asio::async_read_until(
        sock, asio::dynamic_buffer(buf, k_max_request + 1), '\n', k_tuple);
    timer.cancel();
    if (ec == asio::error::not_found) {
      // The buffer filled without a line end: refuse and hang up (no resync).
      co_await asio::async_write(sock, asio::buffer(error_reply("bad_request", "request too long")),
                                 k_tuple);
      co_return;
    }
    if (ec) {
      co_return;  // the client went away
    }
    std::string line = buf.substr(0, n - 1);
    buf.erase(0, n);
    if (!line.empty() && line.back() == '\r') {
      line.pop_back();
    }
    handled out;
    auto req = parse_request(line);
    if (!req) {
      out.head = error_reply("bad_request", req.error().message);
    } else {
      // The spool and the scheduler's lock are for the blocking pool, never this loop.
      out = co_await asio::co_spawn(blocking, handle_on_pool(*req, sched, spool),
                                    asio::use_awaitable);
    }
    std::array<asio::const_buffer, 2> bufs{
        asio::buffer(out.head),
        out.body ? asio::buffer(out.body->contents()) : asio::const_buffer()};
    arm(k_write);
    auto [wec, written] = co_await asio::async_write(sock, bufs, k_tuple);
    timer.cancel();
    if (wec) {
      co_return;  // gone, or too slow to read its answer
    }
  }
}

control_server::control_server(asio::io_context& io, asio::thread_pool& blocking,
                               queue::scheduler& scheduler, queue::spool& spool, fs::path path)
    : state_(std::make_shared<state>(io, blocking, scheduler, spool, std::move(path))) {}

control_server::~control_server() { close(); }

const fs::path& control_server::path() const { return state_->path; }

result<void> control_server::open() {
  const fs::path& path = state_->path;
  auto bound = bind_unix_acceptor(state_->io, path, 0600);
  if (!bound) {
    return fail(bound.error());
  }
  state_->acceptor = std::move(*bound);
  state_->bound = true;
  return {};
}

void control_server::start() {
  asio::co_spawn(state_->strand, state_->accept_loop(), log_exception);
}

void control_server::close() {
  if (state_->closed.exchange(true)) {
    return;
  }
  if (state_->bound) {
    // On the strand, where the accept loop runs. When the io_context has stopped already
    // this never runs, and the acceptor closes with the state.
    asio::post(state_->strand, [s = state_] {
      boost::system::error_code ignored;
      s->acceptor.close(ignored);
    });
    ::unlink(state_->path.c_str());
  }
}

}  // namespace posthorn::admin
