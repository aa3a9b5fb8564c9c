#pragma once
// The results of DNS lookups for mail routing, without any I/O library: what
// delivery code and the sans-I/O parts may include (dns/resolver.hpp adds the
// asynchronous interface).

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "common/cidr.hpp"
#include "common/error.hpp"

namespace posthorn::dns {

// The outcome of a lookup. Ok carries data; the others say why there is none.
enum class dns_status {
  Ok,        // answered with data
  NoData,    // the name exists but has nothing usable (no MX and no A/AAAA; no address)
  NxDomain,  // the name does not exist (RCODE 3), or is not a valid domain name
  NullMx,    // the domain says it accepts no mail (RFC 7505); resolve_mx only
  TempFail,  // SERVFAIL, REFUSED, timeout, network trouble: try again later
};

std::string_view to_string(dns_status s);

// One host to try for a domain, in the order of mx_result::targets.
struct mx_target {
  std::string host;  // A-labels, lower case, no trailing dot
  std::uint16_t preference = 0;
  bool implicit = false;  // no MX: the domain itself (RFC 5321 §5.1)
  friend bool operator==(const mx_target&, const mx_target&) = default;
};

struct mx_result {
  dns_status status = dns_status::TempFail;
  // Ok only: ascending preference, in random order among equal preferences
  // (RFC 5321 §5.1); exactly one implicit target when the domain has no MX.
  std::vector<mx_target> targets;
  std::string detail;  // human readable, for logs and Diagnostic-Code; may be empty
};

struct addr_result {
  dns_status status = dns_status::TempFail;  // never NullMx
  // Ok only: the A records in answer order, then the AAAA records. Also Ok, with a
  // partial list, when one of the two lookups failed temporarily and the other
  // gave addresses.
  std::vector<ip_address> addrs;
  std::string detail;
};

// What a failed MX lookup means for the recipients of that domain (DESIGN.md §4.2):
// NullMx permanent 5.1.10 (the code RFC 7505 registers), NxDomain permanent 5.1.2,
// NoData permanent 5.4.4 (RFC 3463 §3.5: unable to route), TempFail temporary 4.4.3
// (RFC 3463 §3.5: directory server failure). nullopt for Ok. `domain` is named in
// the message.
std::optional<error> mx_error(const mx_result& r, std::string_view domain);

}  // namespace posthorn::dns
