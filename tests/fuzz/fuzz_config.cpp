// Fuzz target: the config loader (config::load_string: toml++ and our schema checks) and
// the duration and size parsers. A config file is written by a person; a mistake in it
// must come back as an error naming the file, never as a crash or an exception.
//
// Input layout: the whole input is the file's text.
// Invariants: load_string returns a config or an error (no exception escapes); an error
// names a file and has a message; parse_duration and parse_size agree with
// themselves on what they print back.

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

#include "config/config.hpp"
#include "fuzz_util.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  using namespace posthorn;
  const std::string_view text(reinterpret_cast<const char*>(data), size);
  // A folder that does not exist: relative paths resolve there, and nothing is read.
  const auto cfg = config::load_string(text, "/nonexistent-posthorn-fuzz/posthorn.toml");
  if (!cfg) {
    const config::config_error& e = cfg.error();
    FUZZ_CHECK(!e.message.empty());
    FUZZ_CHECK(!e.file.empty());
    FUZZ_CHECK(e.str().find(e.file) == 0);
  }
  if (size <= 64) {
    if (const auto d = config::parse_duration(text)) {
      FUZZ_CHECK(d->count() >= 0);
      const std::string again = std::to_string(d->count()) + "s";
      const auto d2 = config::parse_duration(again);
      FUZZ_CHECK(!d2 || *d2 == *d);
    }
    if (const auto n = config::parse_size(text)) {
      const auto n2 = config::parse_size(std::to_string(*n));
      FUZZ_CHECK(!n2 || *n2 == *n);
    }
  }
  return 0;
}
