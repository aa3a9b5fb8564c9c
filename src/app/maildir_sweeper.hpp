#pragma once
// Runs the Maildir tmp/ sweep (delivery/maildir_sweep.hpp) on the blocking pool, never on
// the event loop: once at start, after the spool's recovery, and then every 12 hours, so
// that files older than 36 hours go within 48. Markers a kill leaves always come with a
// restart, so the start-up sweep is the one that finds them.

#include <atomic>
#include <boost/asio/io_context.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/strand.hpp>
#include <boost/asio/thread_pool.hpp>
#include <chrono>
#include <functional>
#include <memory>

#include "config/config.hpp"
#include "queue/spool.hpp"

namespace posthorn::app {

class maildir_sweeper {
 public:
  using config_source = std::function<std::shared_ptr<const config::config>()>;

  // `config` gives the live config (maildir_root and hostname as last reloaded).
  maildir_sweeper(boost::asio::io_context& io, boost::asio::thread_pool& blocking,
                  config_source config, const queue::spool& spool);
  void start();  // the first sweep now, then every `k_period`
  void stop();   // no more sweeps; one under way ends at its next mailbox

  static constexpr std::chrono::hours k_period{12};

 private:
  void schedule();
  void sweep_now();

  boost::asio::thread_pool& blocking_;
  config_source config_;
  const queue::spool& spool_;
  // On a strand: stop() comes from the signal handler on any event-loop thread.
  boost::asio::steady_timer timer_;
  std::atomic<bool> stop_{false};
  std::atomic<bool> running_{false};  // one sweep at a time
};

}  // namespace posthorn::app
