#pragma once
// Where mail for a domain goes: MX lookups with the RFC 5321 §5.1 rules and
// address lookups, asynchronous on an Asio executor (DESIGN.md §1, delivery::remote).
//
// Implementations: dns::unbound_resolver (libunbound: production and integration
// tests) and dns::static_resolver (a programmable test double).

#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/awaitable.hpp>
#include <functional>
#include <string>

#include "dns/records.hpp"
#include "dns/types.hpp"

namespace posthorn::dns {

// The answer to one raw query.
struct lookup_answer {
  dns_status status = dns_status::TempFail;  // Ok, NoData, NxDomain or TempFail
  std::vector<std::string> rdata;            // Ok: one RDATA per record, wire format
  std::string detail;                        // why, when not Ok
};

using lookup_handler = std::move_only_function<void(lookup_answer)>;
using mx_handler = std::move_only_function<void(mx_result)>;
using addr_handler = std::move_only_function<void(addr_result)>;

// The interface delivery uses. Every method is thread-safe; every handler runs later
// (never inside the call) on get_executor(). Destroying a resolver with lookups under
// way completes them with TempFail; destroy it on its executor or while its
// io_context is not running, like any Asio I/O object.
class resolver {
 public:
  using executor_type = boost::asio::any_io_executor;

  virtual ~resolver() = default;

  virtual executor_type get_executor() = 0;

  // The mail exchangers of `domain`. U-labels are converted to A-labels and a
  // trailing dot is ignored; an address literal or a malformed name gives NxDomain.
  virtual void resolve_mx(std::string domain, mx_handler done) = 0;

  // The A and AAAA addresses of `host`. An IP address ("192.0.2.1", "::1", or an
  // address literal such as "[192.0.2.1]" or "[IPv6:::1]") is answered as it is.
  virtual void resolve_addrs(std::string host, addr_handler done) = 0;
  // One raw query (TXT for SPF, DKIM and DMARC, PTR for reverse DNS, A for DNS
  // lists): the RRset as the server gave it, through the same cache. `name` is
  // checked by raw_query_name() (no IDNA); an invalid name answers NxDomain.
  virtual void lookup(std::string name, record_type type, lookup_handler done) = 0;
};

// Coroutine forms: they resume on the awaiting coroutine's executor.
boost::asio::awaitable<mx_result> async_mx(resolver& r, std::string domain);
boost::asio::awaitable<addr_result> async_addrs(resolver& r, std::string host);
boost::asio::awaitable<lookup_answer> async_lookup(resolver& r, std::string name, record_type type);

// Blocking forms for worker threads. Never call them on a thread that runs the
// resolver's executor: they would wait for themselves.
mx_result wait_mx(resolver& r, std::string domain);
addr_result wait_addrs(resolver& r, std::string host);
lookup_answer wait_lookup(resolver& r, std::string name, record_type type);

}  // namespace posthorn::dns
