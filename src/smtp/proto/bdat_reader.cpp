#include "smtp/proto/bdat_reader.hpp"

#include <algorithm>
#include <charconv>

namespace posthorn::smtp {

std::optional<bdat_args> parse_bdat_args(std::string_view arg) {
  // Runs of spaces are tolerated, as for the other commands' arguments.
  auto next_word = [&arg]() {
    while (!arg.empty() && arg.front() == ' ') {
      arg.remove_prefix(1);
    }
    const std::size_t end = std::min(arg.find(' '), arg.size());
    std::string_view word = arg.substr(0, end);
    arg.remove_prefix(end);
    return word;
  };
  const std::string_view size = next_word();
  const std::string_view marker = next_word();
  if (!next_word().empty() || size.empty() || size.size() > 20) {
    return std::nullopt;
  }
  bdat_args out;
  for (const char c : size) {
    if (c < '0' || c > '9') {
      return std::nullopt;
    }
  }
  const auto [end, ec] = std::from_chars(size.data(), size.data() + size.size(), out.size);
  if (ec != std::errc() || end != size.data() + size.size()) {
    return std::nullopt;  // beyond 2^64 - 1
  }
  if (!marker.empty()) {
    if (marker.size() != 4) {
      return std::nullopt;
    }
    for (std::size_t i = 0; i < 4; ++i) {
      const char c = marker[i];
      if ((c & ~0x20) != "LAST"[i]) {
        return std::nullopt;
      }
    }
    out.last = true;
  }
  return out;
}

void bdat_reader::reset(std::uint64_t limit) {
  scan_.reset(limit);
  left_ = 0;
  received_ = 0;
  keep_ = false;
}

void bdat_reader::start_chunk(std::uint64_t size, bool keep) {
  left_ = size;
  keep_ = keep;
}

bool bdat_reader::feed(std::string_view& in, std::string& out) {
  const std::size_t n = left_ < in.size() ? static_cast<std::size_t>(left_) : in.size();
  if (keep_) {
    scan_.raw(in.substr(0, n), out);
    received_ += n;
  }
  in.remove_prefix(n);
  left_ -= n;
  return left_ == 0;
}

}  // namespace posthorn::smtp
