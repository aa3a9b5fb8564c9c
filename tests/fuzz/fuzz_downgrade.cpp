// Fuzz target: the RFC 6857 header downgrade (src/mail/downgrade) that rewrites a UTF-8
// header section for a peer without SMTPUTF8, and the RFC 2047 encoded words it makes.
// The header section is whatever the client sent.
//
// Input layout: [cut] payload. The payload is a header section; `cut` (a percentage)
// also gives a prefix that is encoded as words on its own.
// Invariants: the downgraded header is pure ASCII and every LF in it ends a CRLF; encoded
// words
// are ASCII, at most 75 characters each, separated by single spaces.

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

#include "fuzz_util.hpp"
#include "mail/downgrade.hpp"

namespace {

bool ascii(std::string_view s) {
  for (const char c : s) {
    if (static_cast<unsigned char>(c) > 127) {
      return false;
    }
  }
  return true;
}

bool crlf_only(std::string_view s) {
  for (std::size_t i = 0; i < s.size(); ++i) {
    if (s[i] == '\r' && (i + 1 >= s.size() || s[i + 1] != '\n')) {
      return false;
    }
    if (s[i] == '\n' && (i == 0 || s[i - 1] != '\r')) {
      return false;
    }
  }
  return true;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  using namespace posthorn;
  posthorn::fuzz::input in(data, size);
  const std::uint8_t cut = in.byte();
  const std::string_view payload = in.rest();

  const std::size_t end = mail::header_section_end(payload);
  FUZZ_CHECK(end <= payload.size());
  const std::string_view header = payload.substr(0, end);
  const std::string out = mail::downgrade_header(header);
  FUZZ_CHECK(ascii(out));
  for (std::size_t i = 0; i < out.size(); ++i) {
    FUZZ_CHECK(out[i] != '\n' || (i > 0 && out[i - 1] == '\r'));  // the result uses CRLF
  }
  if (ascii(header) && crlf_only(header)) {
    FUZZ_CHECK(crlf_only(out));
  }

  const std::string_view text = payload.substr(0, payload.size() * (cut % 101) / 100);
  const std::string words = mail::encode_words(text);
  FUZZ_CHECK(ascii(words));
  std::size_t start = 0;
  while (start < words.size()) {
    std::size_t space = words.find(' ', start);
    if (space == std::string::npos) {
      space = words.size();
    }
    const std::string_view word(words.data() + start, space - start);
    FUZZ_CHECK(!word.empty() && word.size() <= 75);
    FUZZ_CHECK(word.starts_with("=?UTF-8?") && word.ends_with("?="));
    start = space + 1;
  }
  return 0;
}
