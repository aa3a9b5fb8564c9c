#include "common/domain_name.hpp"

namespace posthorn {

bool plausible_domain_name(std::string_view name) {
  if (name.empty() || name.size() > 253) {
    return false;
  }
  std::size_t label = 0;
  for (const char c : name) {
    const auto u = static_cast<unsigned char>(c);
    if (c == '.') {
      if (label == 0) {
        return false;
      }
      label = 0;
      continue;
    }
    const bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
                    c == '-' || c == '_' || u >= 0x80;
    if (!ok || ++label > 63) {
      return false;
    }
  }
  return label != 0;
}

}  // namespace posthorn
