// Names of statuses and the one mapping from a failed MX lookup to an error.

#include "dns/types.hpp"

namespace posthorn::dns {

std::string_view to_string(dns_status s) {
  switch (s) {
    case dns_status::Ok:
      return "ok";
    case dns_status::NoData:
      return "no data";
    case dns_status::NxDomain:
      return "nxdomain";
    case dns_status::NullMx:
      return "null mx";
    case dns_status::TempFail:
      return "temporary failure";
  }
  return "?";
}

std::optional<error> mx_error(const mx_result& r, std::string_view domain) {
  const std::string name(domain);
  auto with_detail = [&](std::string text) {
    if (!r.detail.empty()) {
      text += " (" + r.detail + ")";
    }
    return text;
  };
  switch (r.status) {
    case dns_status::Ok:
      return std::nullopt;
    case dns_status::NullMx:
      return error::perm("5.1.10", "Domain " + name + " accepts no mail (null MX, RFC 7505)");
    case dns_status::NxDomain:
      return error::perm("5.1.2", with_detail("Domain " + name + " does not exist"));
    case dns_status::NoData:
      return error::perm("5.4.4",
                         with_detail("Domain " + name + " has no mail exchanger and no address"));
    case dns_status::TempFail:
      return error::temp("4.4.3", with_detail("DNS lookup for " + name + " failed temporarily"));
  }
  return error::temp("4.4.3", "DNS lookup for " + name + " failed");
}

}  // namespace posthorn::dns
