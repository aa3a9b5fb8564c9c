#include "delivery/mx_filter.hpp"

#include <algorithm>

namespace posthorn::delivery {

mx_selection select_mx(const std::vector<mx_candidate>& candidates) {
  mx_selection out;
  std::uint16_t own = 0;
  for (const mx_candidate& c : candidates) {
    if (c.self && (!out.self_listed || c.preference < own)) {
      own = c.preference;
      out.self_listed = true;
    }
  }
  for (std::size_t i = 0; i < candidates.size(); ++i) {
    if (!out.self_listed || candidates[i].preference < own) {
      out.usable.push_back(i);
    }
  }
  return out;
}

}  // namespace posthorn::delivery
