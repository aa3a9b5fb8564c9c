#pragma once
// Ways to cut a test vector into pieces (STYLE.md "Tests": split every vector at every
// byte offset, like Beast's parsegrind): whole, in two at every offset, byte by byte,
// and for short vectors in three at every pair of offsets.

#include <cstddef>
#include <string>
#include <string_view>
#include <vector>

namespace posthorn::smtp::test {

using pieces = std::vector<std::string_view>;

// Short vectors are also cut in three at every pair of offsets.
inline constexpr std::size_t k_three_way_max = 48;

inline std::vector<pieces> cuts(std::string_view s) {
  std::vector<pieces> out;
  out.push_back({s});
  for (std::size_t k = 1; k < s.size(); ++k) {
    out.push_back({s.substr(0, k), s.substr(k)});
  }
  pieces bytes;
  for (std::size_t k = 0; k < s.size(); ++k) {
    bytes.push_back(s.substr(k, 1));
  }
  out.push_back(bytes);
  if (s.size() <= k_three_way_max) {
    for (std::size_t i = 1; i < s.size(); ++i) {
      for (std::size_t j = i + 1; j < s.size(); ++j) {
        out.push_back({s.substr(0, i), s.substr(i, j - i), s.substr(j)});
      }
    }
  }
  return out;
}

// A readable name for a cut, for failure messages.
inline std::string describe(const pieces& p) {
  std::string d = "cut into";
  for (const std::string_view piece : p) {
    d += ' ';
    d += std::to_string(piece.size());
  }
  return p.size() > 8 ? "cut byte by byte" : d;
}

}  // namespace posthorn::smtp::test
