#pragma once
// Remote delivery (DESIGN.md §1): recipients grouped by domain, the domain's mail
// servers found in DNS (or the smarthost), and one SMTP transaction per message and
// domain, all of a batch's messages for a domain on one connection. Runs on the event
// loop; the scheduler hands it a batch and learns when every outcome is in.

#include <atomic>
#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/awaitable.hpp>
#include <boost/asio/ssl/context.hpp>
#include <cstddef>
#include <deque>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <utility>
#include <vector>

#include "config/config.hpp"
#include "dns/resolver.hpp"
#include "queue/scheduler.hpp"
#include "smtp/client/client.hpp"

namespace posthorn::delivery {

// At most `limit` connections at once per destination (a domain, or the smarthost),
// across every batch the agent runs ([relay] destination_concurrency). Batches run on
// strands of a multi-threaded io_context, so the counts sit behind a mutex; a coroutine
// that must wait sleeps on its own timer, which the one handing it a slot cancels on
// that coroutine's executor.
class destination_limiter {
 public:
  explicit destination_limiter(std::size_t limit) : limit_(limit == 0 ? 1 : limit) {}

  // A held slot; frees it when destroyed.
  class slot {
   public:
    slot() = default;
    slot(destination_limiter* owner, std::string dest) : owner_(owner), dest_(std::move(dest)) {}
    slot(slot&& o) noexcept : owner_(std::exchange(o.owner_, nullptr)), dest_(std::move(o.dest_)) {}
    slot& operator=(slot&& o) noexcept;
    slot(const slot&) = delete;
    slot& operator=(const slot&) = delete;
    ~slot() { reset(); }
    void reset();

   private:
    destination_limiter* owner_ = nullptr;
    std::string dest_;
  };

  // A new limit (config reload): a higher one admits waiters at once; with a lower one,
  // connections already open stay and the next ones wait until below it.
  void set_limit(std::size_t limit);
  // Waits until `dest` has fewer than `limit` connections, then holds one.
  boost::asio::awaitable<slot> acquire(std::string dest);
  // Connections held for `dest` now (tests, metrics).
  std::size_t active(const std::string& dest) const;

 private:
  struct waiter;
  struct entry {
    std::size_t active = 0;
    std::deque<std::shared_ptr<waiter>> waiting;  // first come, first served
  };
  void release(const std::string& dest);

  std::size_t limit_;
  mutable std::mutex mu_;
  std::map<std::string, entry> entries_;  // only destinations in use
};

class remote_agent {
 public:
  // `client_tls` (may be null) is used for opportunistic STARTTLS.
  remote_agent(boost::asio::any_io_executor ex, std::shared_ptr<const config::config> cfg,
               dns::resolver& resolver, std::shared_ptr<boost::asio::ssl::context> client_tls);

  // Starts delivering; returns at once. Each listed recipient ends Delivered, Deferred or
  // Failed with last_reply set and attempts counted; then `done` runs (on the executor).
  void deliver(std::vector<queue::scheduler::remote_attempt>& batch, std::function<void()> done);

  // A reloaded config for the batches that start from now on (thread-safe); batches
  // under way finish with the one they started with.
  void reconfigure(std::shared_ptr<const config::config> cfg);

 private:
  // What a batch takes from the config, swapped whole by reconfigure().
  struct settings {
    std::shared_ptr<const config::config> cfg;
    // The smarthost login; null when there is none (never given to MX hosts).
    std::shared_ptr<const smtp::client_credentials> smarthost_credentials;
  };
  static std::shared_ptr<const settings> make_settings(std::shared_ptr<const config::config> cfg);

  boost::asio::any_io_executor ex_;
  std::atomic<std::shared_ptr<const settings>> settings_;
  dns::resolver& resolver_;
  std::shared_ptr<boost::asio::ssl::context> client_tls_;
  destination_limiter limiter_;
};

}  // namespace posthorn::delivery
