#pragma once
// RFC 5321 §5.1: an MTA that finds itself among a domain's MX hosts must not send the
// mail to itself, nor to any host whose preference is the same as its own or worse
// (higher); only the better ones are left. A backup MX ([domains] relay) relays to
// the primary this way, and keeps the mail queued when it is the best one left.

#include <cstddef>
#include <cstdint>
#include <vector>

namespace posthorn::delivery {

struct mx_candidate {
  std::uint16_t preference = 0;
  bool self = false;  // this server: our hostname, or an address and port we listen on
};

struct mx_selection {
  std::vector<std::size_t> usable;  // indices of the candidates to try, in their order
  bool self_listed = false;         // one of them was us
};

mx_selection select_mx(const std::vector<mx_candidate>& candidates);

}  // namespace posthorn::delivery
