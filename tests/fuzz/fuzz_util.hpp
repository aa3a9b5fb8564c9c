#pragma once
// Shared by the fuzz targets: reading control bytes off the front of an input, cutting
// the rest into chunks whose sizes the input chose, and failing loudly on a broken
// invariant (abort, so libFuzzer saves the input as a crash).

#include <algorithm>
#include <array>
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <string_view>

namespace posthorn::fuzz {

// An invariant did not hold: print what and where, then abort.
[[noreturn]] inline void fail(const char* what, const char* file, int line) {
  std::fprintf(stderr, "fuzz invariant broken at %s:%d: %s\n", file, line, what);
  std::fflush(stderr);
  std::abort();
}

}  // namespace posthorn::fuzz

// Kept on in every build type: an invariant is the point of the target, not a debug aid.
#define FUZZ_CHECK(cond)                                 \
  do {                                                   \
    if (!(cond)) {                                       \
      ::posthorn::fuzz::fail(#cond, __FILE__, __LINE__); \
    }                                                    \
  } while (false)

namespace posthorn::fuzz {

// The fuzz input as a stream of control bytes followed by a payload.
class input {
 public:
  input(const std::uint8_t* data, std::size_t size)
      : rest_(reinterpret_cast<const char*>(data), size) {}

  // The next control byte; 0 once the input is used up, so short inputs still run.
  std::uint8_t byte() {
    if (rest_.empty()) {
      return 0;
    }
    const auto b = static_cast<std::uint8_t>(rest_.front());
    rest_.remove_prefix(1);
    return b;
  }

  // Whatever was not taken as control bytes.
  std::string_view rest() const { return rest_; }

 private:
  std::string_view rest_;
};

// Cuts a payload into chunks whose sizes cycle through a few control bytes, so that a
// line end, a dot or a CR falls on every kind of boundary. A size byte with the top
// bit set means "everything that is left"; 0 means an empty chunk (never twice in a
// row, so the walk always moves on).
class chunker {
 public:
  static constexpr std::size_t k_sizes = 4;

  // Takes the size bytes off `in`; the payload is what is left of it.
  explicit chunker(input& in) {
    for (auto& s : sizes_) {
      s = in.byte();
    }
    payload_ = in.rest();
  }

  // The next chunk, or false once the payload is used up.
  bool next(std::string_view& chunk) {
    if (pos_ >= payload_.size()) {
      return false;
    }
    const std::uint8_t b = sizes_[turn_++ % k_sizes];
    std::size_t n = (b & 0x80) ? payload_.size() - pos_ : b;
    if (n == 0 && last_was_empty_) {
      n = 1;
    }
    n = std::min(n, payload_.size() - pos_);
    last_was_empty_ = n == 0;
    start_ = pos_;
    chunk = payload_.substr(pos_, n);
    pos_ += n;
    return true;
  }

  // Offset in the payload of the chunk last returned by next().
  std::size_t chunk_start() const { return start_; }
  std::string_view payload() const { return payload_; }

 private:
  std::string_view payload_;
  std::array<std::uint8_t, k_sizes> sizes_{};
  std::size_t pos_ = 0;
  std::size_t start_ = 0;
  std::size_t turn_ = 0;
  bool last_was_empty_ = false;
};

}  // namespace posthorn::fuzz
