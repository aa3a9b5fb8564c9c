#pragma once
// The one seam through which the checks of a message (mail authentication, DNS lists,
// greylisting, rate limits, milters, DKIM signing, the spam verdict) reach an SMTP
// session. The session stays sans-I/O: at a step a check wants, it returns
// action::Check, the connection driver runs the chain below (coroutines, DNS, the
// blocking pool) and hands the merged verdict back with check_done().
//
// Modules run in a fixed order, each at the steps it asks for: the first refusal wins
// and later modules are not asked; at the Message step each module's header fields
// are put on top of the message before the next one reads it (so a signer sees what
// the checks before it added); scores add; junk, hold and discard OR together.

#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/awaitable.hpp>
#include <boost/asio/thread_pool.hpp>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "dns/resolver.hpp"
#include "smtp/server/check_types.hpp"

namespace posthorn::smtp {

// One per connection, made by a check_module; runs on the connection's executor.
class connection_checks {
 public:
  virtual ~connection_checks() = default;
  virtual boost::asio::awaitable<check_verdict> run(const check_request& r) = 0;
};

// What a module may use.
struct check_services {
  boost::asio::any_io_executor executor;         // the connection's
  dns::resolver* resolver = nullptr;             // null: no DNS configured
  boost::asio::thread_pool* blocking = nullptr;  // disk and CPU work: run_blocking()
};

// One per server, built from the config at start (and at reload).
class check_module {
 public:
  virtual ~check_module() = default;
  virtual std::string_view name() const = 0;  // for logs: "mailauth", "milter", ...
  virtual unsigned steps(config::listener_role role) const = 0;  // step_bit()s
  virtual std::unique_ptr<connection_checks> open(const check_services& s) = 0;
};

using check_list = std::vector<std::shared_ptr<check_module>>;

// The modules of one connection, in order.
class check_chain {
 public:
  check_chain() = default;
  check_chain(const check_list& modules, config::listener_role role, const check_services& s);

  unsigned steps() const { return steps_; }  // the union of the modules' steps
  bool empty() const { return links_.empty(); }

  // Runs every module that wants `r.step`, in order. At the Message step `message` is
  // the writer `r.message` points to: each module's `prepend` is put on top of it
  // (on the blocking pool when it was spilled) before the next module runs. A message
  // that cannot be rewritten is refused 451 4.3.0.
  boost::asio::awaitable<check_verdict> run(check_request r, queue::message_writer* message);

 private:
  struct link {
    std::unique_ptr<connection_checks> checks;
    unsigned steps = 0;
    std::string_view name;
  };
  std::vector<link> links_;
  unsigned steps_ = 0;
  boost::asio::thread_pool* blocking_ = nullptr;
};

}  // namespace posthorn::smtp
