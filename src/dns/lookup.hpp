#pragma once
// What both resolvers share: a lookup_source answers single queries (name, type)
// with raw RDATA, and resolve_mx_with / resolve_addrs_with build the RFC 5321 §5.1
// answers on top of it, so the test double runs the same routing logic as libunbound.

#include <boost/asio/any_io_executor.hpp>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <random>
#include <string>
#include <vector>

#include "dns/records.hpp"
#include "dns/resolver.hpp"

namespace posthorn::dns {

// A source of raw answers, owned by shared_ptr so that handlers under way keep it
// alive. Everything but the constructor runs on executor() only.
class lookup_source : public std::enable_shared_from_this<lookup_source> {
 public:
  // `executor` should be a strand (or a single-threaded context): the source's state
  // is touched from it only. `seed` fixes the MX shuffle for tests.
  lookup_source(boost::asio::any_io_executor executor, std::optional<std::uint64_t> seed);
  virtual ~lookup_source() = default;
  lookup_source(const lookup_source&) = delete;
  lookup_source& operator=(const lookup_source&) = delete;

  const boost::asio::any_io_executor& executor() const { return executor_; }
  std::mt19937_64& rng() { return rng_; }

  // Asks for `name` (already a query_name()) and `type`. Called on executor();
  // `done` runs on executor(), never inside this call.
  virtual void lookup(const std::string& name, record_type type, lookup_handler done) = 0;

 private:
  boost::asio::any_io_executor executor_;
  std::mt19937_64 rng_;
};

// The resolver::resolve_mx and resolve_addrs behaviour on top of a source; callable
// from any thread; `done` runs on src->executor().
void resolve_mx_with(std::shared_ptr<lookup_source> src, std::string domain, mx_handler done);
void resolve_addrs_with(std::shared_ptr<lookup_source> src, std::string host, addr_handler done);
// resolver::lookup on top of a source: the name checked by raw_query_name (an invalid
// one answers NxDomain), then asked as it is.
void lookup_with(std::shared_ptr<lookup_source> src, std::string name, record_type type,
                 lookup_handler done);

}  // namespace posthorn::dns
