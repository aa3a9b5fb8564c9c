#pragma once
// Errors as values (STYLE.md 6): every failure the network, disk, DNS or a peer
// can cause says whether trying again later may help.

#include <expected>
#include <string>
#include <utility>

namespace posthorn {

// Temporary maps to 4xx replies and deferral, Permanent to 5xx and bounces.
enum class severity { Temporary, Permanent };

struct error {
  severity sev = severity::Temporary;
  std::string enhanced;  // RFC 3463 status, e.g. "4.3.0"; empty when none applies
  std::string message;   // human readable, safe to log and to put in a reply

  bool temporary() const { return sev == severity::Temporary; }
  bool permanent() const { return sev == severity::Permanent; }

  static error temp(std::string enhanced, std::string message) {
    return error{severity::Temporary, std::move(enhanced), std::move(message)};
  }
  static error perm(std::string enhanced, std::string message) {
    return error{severity::Permanent, std::move(enhanced), std::move(message)};
  }
};

template <class T>
using result = std::expected<T, error>;

// Shorthand for returning a failure from a function returning result<T>.
inline std::unexpected<error> fail(error e) { return std::unexpected<error>(std::move(e)); }

}  // namespace posthorn
