#include "app/maildir_sweeper.hpp"

#include <spdlog/spdlog.h>
#include <sys/stat.h>

#include <boost/asio/post.hpp>
#include <ctime>
#include <filesystem>

#include "delivery/maildir_sweep.hpp"

namespace posthorn::app {

namespace fs = std::filesystem;

maildir_sweeper::maildir_sweeper(boost::asio::io_context& io, boost::asio::thread_pool& blocking,
                                 config_source config, const queue::spool& spool)
    : blocking_(blocking),
      config_(std::move(config)),
      spool_(spool),
      timer_(boost::asio::make_strand(io)) {}

void maildir_sweeper::start() {
  sweep_now();
  boost::asio::post(timer_.get_executor(), [this] { schedule(); });
}

void maildir_sweeper::stop() {
  stop_ = true;
  boost::asio::post(timer_.get_executor(), [this] { timer_.cancel(); });
}

void maildir_sweeper::schedule() {
  timer_.expires_after(k_period);
  timer_.async_wait([this](const boost::system::error_code& ec) {
    if (ec || stop_) {
      return;
    }
    sweep_now();
    schedule();
  });
}

void maildir_sweeper::sweep_now() {
  if (running_.exchange(true)) {
    return;  // the last one is still reading the Maildirs
  }
  boost::asio::post(blocking_, [this] {
    const std::shared_ptr<const config::config> cfg = config_();
    delivery::sweep_options o;
    o.root = cfg->mailbox.maildir_root;
    o.hostname = cfg->hostname;
    // A committed message is spool/active/<id> until it is removed (spool.hpp): one
    // lstat, safe beside the scheduler, and a message removed meanwhile only means its
    // markers are dropped now rather than at the next sweep.
    const fs::path active = spool_.dir() / "active";
    o.queued = [&active](const std::string& id) {
      struct stat st {};
      return ::lstat((active / id).c_str(), &st) == 0;
    };
    o.now = static_cast<std::int64_t>(std::time(nullptr));
    o.stop = &stop_;
    const auto started = std::chrono::steady_clock::now();
    const delivery::sweep_stats s = delivery::sweep_maildir_tmp(o);
    const auto ms = std::chrono::duration_cast<std::chrono::milliseconds>(
        std::chrono::steady_clock::now() - started);
    spdlog::info("event=maildir_sweep mailboxes={} markers={} stale={} errors={} ms={}",
                 s.mailboxes, s.markers, s.stale, s.errors, ms.count());
    running_ = false;
  });
}

}  // namespace posthorn::app
