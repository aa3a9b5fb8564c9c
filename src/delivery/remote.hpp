#pragma once
// Remote delivery (DESIGN.md §1): recipients grouped by domain, the domain's mail
// servers found in DNS (or the smarthost), and one SMTP transaction per message and
// domain, all of a batch's messages for a domain on one connection. Runs on the event
// loop; the scheduler hands it a batch and learns when every outcome is in.

#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/ssl/context.hpp>

#include <functional>
#include <memory>
#include <vector>

#include "config/config.hpp"
#include "dns/resolver.hpp"
#include "queue/scheduler.hpp"

namespace posthorn::delivery {

class remote_agent {
 public:
  // `client_tls` (may be null) is used for opportunistic STARTTLS.
  remote_agent(boost::asio::any_io_executor ex, std::shared_ptr<const config::config> cfg,
               dns::resolver& resolver, std::shared_ptr<boost::asio::ssl::context> client_tls);

  // Starts delivering; returns at once. Each listed recipient ends Delivered, Deferred or
  // Failed with last_reply set and attempts counted; then `done` runs (on the executor).
  void deliver(std::vector<queue::scheduler::remote_attempt>& batch, std::function<void()> done);

 private:
  boost::asio::any_io_executor ex_;
  std::shared_ptr<const config::config> cfg_;
  dns::resolver& resolver_;
  std::shared_ptr<boost::asio::ssl::context> client_tls_;
};

}  // namespace posthorn::delivery
