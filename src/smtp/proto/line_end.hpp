#pragma once
// Internal to smtp/proto: the scan shared by the command and DATA readers.

#include <cstddef>
#include <cstring>
#include <string_view>

namespace posthorn::smtp::detail {

// Offset of the first CR or LF in `s`, or s.size() when there is none. memchr keeps
// message bodies at vector speed; the LF search stops at the first CR, so both scans
// stay within one line.
inline std::size_t find_cr_or_lf(std::string_view s) {
  const char* base = s.data();
  const void* cr = s.empty() ? nullptr : std::memchr(base, '\r', s.size());
  const std::size_t until =
      cr ? static_cast<std::size_t>(static_cast<const char*>(cr) - base) : s.size();
  const void* lf = until == 0 ? nullptr : std::memchr(base, '\n', until);
  return lf ? static_cast<std::size_t>(static_cast<const char*>(lf) - base) : until;
}

}  // namespace posthorn::smtp::detail
