#pragma once
// The production resolver: libunbound in threaded async mode, its result pipe
// (ub_fd) watched by the Asio event loop, one ub_ctx per resolver.

#include <boost/asio/any_io_executor.hpp>
#include <chrono>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "common/error.hpp"
#include "dns/resolver.hpp"

namespace posthorn::dns {

struct unbound_options {
  // [dns] nameservers: "192.0.2.53", "127.0.0.1:5353", "[::1]:5353". Empty: the
  // system's resolvers from `resolv_conf`, and `hosts`.
  std::vector<std::string> nameservers;
  // A query unanswered after this long gives TempFail (libunbound has no deadline
  // of its own that a caller can set).
  std::chrono::milliseconds timeout{15'000};
  std::optional<std::uint64_t> seed;  // fixes the MX shuffle (tests)
  std::string resolv_conf = "/etc/resolv.conf";
  std::string hosts = "/etc/hosts";
};

class unbound_resolver final : public resolver {
 public:
  // A resolver whose handlers run on a strand of `executor`. Fails (permanent
  // error, for the config) on a malformed nameserver, or when libunbound cannot be
  // set up.
  static result<std::unique_ptr<unbound_resolver>> create(boost::asio::any_io_executor executor,
                                                          unbound_options options);
  // Lookups under way finish with TempFail. Destroy on the executor or while the
  // io_context is not running.
  ~unbound_resolver() override;
  unbound_resolver(const unbound_resolver&) = delete;
  unbound_resolver& operator=(const unbound_resolver&) = delete;

  executor_type get_executor() override;
  void resolve_mx(std::string domain, mx_handler done) override;
  void resolve_addrs(std::string host, addr_handler done) override;
  void lookup(std::string name, record_type type, lookup_handler done) override;

  // Where queries go, for the start-up log: "forwarding to 127.0.0.1@5353" or
  // "system resolvers (/etc/resolv.conf)".
  const std::string& description() const { return description_; }

 private:
  class source;
  unbound_resolver(std::shared_ptr<source> src, std::string description);

  std::shared_ptr<source> source_;
  std::string description_;
};

}  // namespace posthorn::dns
