#pragma once
// A resolver answering from a table, for unit tests of delivery (STYLE.md: DNS is
// injectable). It runs the same MX and address logic as unbound_resolver and
// answers asynchronously on its executor, like the real one.

#include <boost/asio/any_io_executor.hpp>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "dns/records.hpp"
#include "dns/resolver.hpp"

namespace posthorn::dns {

class static_resolver final : public resolver {
 public:
  // Answers run on a strand of `executor`; `seed` fixes the MX shuffle.
  explicit static_resolver(boost::asio::any_io_executor executor,
                           std::optional<std::uint64_t> seed = std::nullopt);
  ~static_resolver() override;
  static_resolver(const static_resolver&) = delete;
  static_resolver& operator=(const static_resolver&) = delete;

  executor_type get_executor() override;
  void resolve_mx(std::string domain, mx_handler done) override;
  void resolve_addrs(std::string host, addr_handler done) override;
  void lookup(std::string name, record_type type, lookup_handler done) override;

  // The table; thread-safe, and may change between lookups. Names are taken as
  // resolve_mx takes them (case, a trailing dot and U-labels do not matter). A name
  // with any record exists: other types give NoData; unknown names give NxDomain.
  // Each returns false, adding nothing, when the name or value is invalid.
  bool add_mx(std::string_view domain, std::uint16_t preference, std::string_view host);
  bool add_null_mx(std::string_view domain);                     // MX 0 "." (RFC 7505 §3)
  bool add_address(std::string_view host, std::string_view ip);  // A or AAAA by its form
  bool add_rdata(std::string_view name, record_type type, std::string rdata);  // raw, any bytes
  bool add_name(std::string_view name);                          // exists without records
  bool add_txt(std::string_view name, std::string_view text);    // one TXT record
  bool add_ptr(std::string_view name, std::string_view target);  // e.g. "1.0.0.127.in-addr.arpa"

  // Programmed failures, before any record: every query for `name` (and `type`)
  // answers `status` (TempFail, NxDomain or NoData).
  bool fail(std::string_view name, record_type type, dns_status status);
  bool fail(std::string_view name, dns_status status);

  void clear();  // records, failures and the query log

  // The queries asked so far, oldest first, as "name TYPE" (e.g. "example.test MX").
  std::vector<std::string> queries() const;

 private:
  class source;
  std::shared_ptr<source> source_;
};

}  // namespace posthorn::dns
