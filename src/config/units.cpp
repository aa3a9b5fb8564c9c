// Durations and sizes as the config writes them (DESIGN.md §4.3), and the text of
// a config error.

#include <charconv>
#include <cstdint>
#include <limits>
#include <optional>
#include <string>
#include <string_view>

#include "config/config.hpp"

namespace posthorn::config {

namespace {

// Reads the decimal number at the start of `text` into `out`; returns how many
// characters it took (0 when there is no number or it overflows).
std::size_t read_number(std::string_view text, std::uint64_t& out) {
  std::size_t n = 0;
  while (n < text.size() && text[n] >= '0' && text[n] <= '9') {
    ++n;
  }
  if (n == 0) {
    return 0;
  }
  const auto [ptr, ec] = std::from_chars(text.data(), text.data() + n, out);
  if (ec != std::errc{} || ptr != text.data() + n) {
    return 0;
  }
  return n;
}

bool multiply(std::uint64_t a, std::uint64_t b, std::uint64_t& out) {
  if (a != 0 && b > std::numeric_limits<std::uint64_t>::max() / a) {
    return false;
  }
  out = a * b;
  return true;
}

}  // namespace

std::optional<seconds> parse_duration(std::string_view text) {
  // Units from largest to smallest: each may appear once and in this order, so
  // "1h20m" is fine while "20m1h" and "5m5m" are taken for typos.
  struct unit {
    char name;
    std::uint64_t seconds;
  };
  static constexpr unit k_units[] = {{'d', 86400}, {'h', 3600}, {'m', 60}, {'s', 1}};
  // Far beyond any sensible wait, and far below what seconds (int64) can hold.
  static constexpr std::uint64_t k_max = std::uint64_t{1} << 40;

  if (text.empty()) {
    return std::nullopt;
  }
  std::uint64_t total = 0;
  std::size_t next_unit = 0;
  while (!text.empty()) {
    std::uint64_t number = 0;
    const std::size_t digits = read_number(text, number);
    if (digits == 0 || digits == text.size()) {
      return std::nullopt;  // no number, or a number without a unit
    }
    const char name = text[digits];
    std::size_t u = next_unit;
    while (u < std::size(k_units) && k_units[u].name != name) {
      ++u;
    }
    if (u == std::size(k_units)) {
      return std::nullopt;
    }
    std::uint64_t part = 0;
    if (!multiply(number, k_units[u].seconds, part) || part > k_max || total + part > k_max) {
      return std::nullopt;
    }
    total += part;
    next_unit = u + 1;
    text.remove_prefix(digits + 1);
  }
  return seconds(static_cast<seconds::rep>(total));
}

std::optional<std::uint64_t> parse_size(std::string_view text) {
  std::uint64_t number = 0;
  const std::size_t digits = read_number(text, number);
  if (digits == 0) {
    return std::nullopt;
  }
  const std::string_view suffix = text.substr(digits);
  std::uint64_t factor = 1;
  if (suffix.empty()) {
    factor = 1;
  } else if (suffix == "k" || suffix == "K") {
    factor = 1000;
  } else if (suffix == "M") {
    factor = 1000 * 1000;
  } else if (suffix == "G") {
    factor = 1000 * 1000 * 1000;
  } else {
    return std::nullopt;
  }
  std::uint64_t size = 0;
  if (!multiply(number, factor, size)) {
    return std::nullopt;
  }
  return size;
}

std::string config_error::str() const {
  std::string out = file;
  if (line != 0) {
    out += ':';
    out += std::to_string(line);
  }
  out += ": ";
  if (!key.empty()) {
    out += key;
    out += ": ";
  }
  out += message;
  return out;
}

}  // namespace posthorn::config
