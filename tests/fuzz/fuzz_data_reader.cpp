// Fuzz target: the DATA reader (smtp::data_reader): end of data, dot-unstuffing, the
// size limit, bare CR/LF detection and the Received: count, fed in chunks.
//
// Input layout: [limit selector] [4 chunk sizes] payload. The payload may hold several
// messages back to back: after each end of data the reader is reset and reads on, as
// the session does for pipelined transactions.

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

#include "fuzz_util.hpp"
#include "smtp/proto/data_reader.hpp"

namespace {

using namespace posthorn;
using fuzz::chunker;

constexpr std::size_t npos = std::string_view::npos;

// Payloads up to this size are checked after every chunk; longer ones only at their
// end, so that byte-sized chunks do not make a run quadratic.
constexpr std::size_t k_check_every_chunk_max = 512;

// Offset just past the end-of-data marker in `s`, or npos. RFC 5321 §4.1.1.4: the data
// ends with a line holding only ".", so CRLF "." CRLF, or "." CRLF at the very start
// (the CRLF that ended the DATA command precedes it).
std::size_t reference_end(std::string_view s) {
  if (s.starts_with(".\r\n")) {
    return 3;
  }
  const std::size_t at = s.find("\r\n.\r\n");
  return at == npos ? npos : at + 5;
}

// RFC 5321 §4.5.2 done the simple way: split at CRLF, drop one leading '.' per line.
std::string reference_unstuff(std::string_view s) {
  std::string out;
  std::size_t start = 0;
  for (;;) {
    const std::size_t crlf = s.find("\r\n", start);
    std::string_view line = s.substr(start, crlf == npos ? npos : crlf - start);
    if (line.starts_with('.')) {
      line.remove_prefix(1);
    }
    out.append(line);
    if (crlf == npos) {
      return out;
    }
    out.append("\r\n");
    start = crlf + 2;
  }
}

// A CR not followed by LF, or an LF not preceded by CR.
bool reference_bare(std::string_view s) {
  for (std::size_t i = 0; i < s.size(); ++i) {
    if (s[i] == '\r' && (i + 1 == s.size() || s[i + 1] != '\n')) {
      return true;
    }
    if (s[i] == '\n' && (i == 0 || s[i - 1] != '\r')) {
      return true;
    }
  }
  return false;
}

char lower(char c) { return (c >= 'A' && c <= 'Z') ? static_cast<char>(c - 'A' + 'a') : c; }

struct header_facts {
  unsigned received = 0;
  bool in_headers = true;
};

// Counts "Received:" fields in the header section of the unstuffed message: complete
// lines up to the first empty one. Field names longer than 32 octets are not looked
// at (the reader bounds what it keeps); white space before the colon is allowed
// (RFC 5322 §4.5.3).
header_facts reference_headers(std::string_view msg) {
  header_facts h;
  std::size_t start = 0;
  for (std::size_t crlf = msg.find("\r\n"); crlf != npos; crlf = msg.find("\r\n", start)) {
    const std::string_view line = msg.substr(start, crlf - start);
    start = crlf + 2;
    if (line.empty()) {
      h.in_headers = false;
      break;
    }
    const std::size_t colon = line.find(':');
    if (colon == npos || colon > 32) {
      continue;
    }
    std::string_view name = line.substr(0, colon);
    while (!name.empty() && (name.back() == ' ' || name.back() == '\t')) {
      name.remove_suffix(1);
    }
    constexpr std::string_view k_received = "received";
    bool match = name.size() == k_received.size();
    for (std::size_t i = 0; match && i < name.size(); ++i) {
      match = lower(name[i]) == k_received[i];
    }
    if (match) {
      ++h.received;
    }
  }
  return h;
}

void check_output(const std::string& out, const std::string& want, std::uint64_t limit) {
  if (limit == 0 || want.size() <= limit) {
    FUZZ_CHECK(out == want);
  } else {
    FUZZ_CHECK(out.size() == limit);
    FUZZ_CHECK(std::string_view(want).starts_with(out));
  }
}

// The reader returned true after taking `consumed` (this message's octets, marker
// included).
void check_done(std::string_view consumed, const std::string& out, const smtp::data_reader& r,
                std::uint64_t limit) {
  FUZZ_CHECK(reference_end(consumed) == consumed.size());
  const std::string_view body = consumed.substr(0, consumed.size() - 3);  // less ".\r\n"
  const std::string want = reference_unstuff(body);
  FUZZ_CHECK(r.size() == want.size());
  check_output(out, want, limit);
  FUZZ_CHECK(r.over_limit() == (limit != 0 && want.size() > limit));
  FUZZ_CHECK(r.bare_cr_or_lf() == reference_bare(body));
  const header_facts h = reference_headers(want);
  FUZZ_CHECK(r.received_headers() == h.received);
  FUZZ_CHECK(r.in_headers() == h.in_headers);
}

// The reader took all of `consumed` and has not seen the end yet.
void check_pending(std::string_view consumed, const std::string& out, const smtp::data_reader& r,
                   std::uint64_t limit) {
  FUZZ_CHECK(reference_end(consumed) == npos);
  // A trailing CR is held back until the next octet tells whether it ends a line.
  const bool held_cr = consumed.ends_with('\r');
  const std::string all = reference_unstuff(consumed);
  const std::string want = held_cr ? all.substr(0, all.size() - 1) : all;
  FUZZ_CHECK(r.size() == want.size());
  check_output(out, want, limit);
  FUZZ_CHECK(r.bare_cr_or_lf() ==
             reference_bare(held_cr ? consumed.substr(0, consumed.size() - 1) : consumed));
}

std::uint64_t pick_limit(std::uint8_t b) {
  switch (b & 3) {
    case 0:
      return 0;  // no limit
    case 1:
      return b >> 2;  // 0..63: the limit falls inside short messages
    case 2:
      return 64 + (b >> 2) * 16;
    default:
      return 35'000'000;
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  fuzz::input in(data, size);
  const std::uint64_t limit = pick_limit(in.byte());
  chunker chunks(in);
  const std::string_view payload = chunks.payload();

  smtp::data_reader reader(limit);
  std::string out;
  std::size_t msg_start = 0;  // where the current message begins in the payload
  std::string_view chunk;
  while (chunks.next(chunk)) {
    const std::size_t chunk_end = chunks.chunk_start() + chunk.size();
    std::string_view rest = chunk;
    for (;;) {
      const std::size_t before = rest.size();
      const bool done = reader.feed(rest, out);
      FUZZ_CHECK(rest.size() <= before);
      const std::size_t consumed_end = chunk_end - rest.size();
      const std::string_view consumed = payload.substr(msg_start, consumed_end - msg_start);
      if (!done) {
        FUZZ_CHECK(rest.empty());
        if (payload.size() <= k_check_every_chunk_max || consumed_end == payload.size()) {
          check_pending(consumed, out, reader, limit);
        }
        break;
      }
      check_done(consumed, out, reader, limit);
      // Once done, the reader takes nothing more until reset.
      std::string_view again = rest;
      const std::size_t out_size = out.size();
      FUZZ_CHECK(reader.feed(again, out));
      FUZZ_CHECK(again.size() == rest.size() && out.size() == out_size);
      // What follows is the next transaction's data, as after a pipelined DATA.
      reader.reset(limit);
      out.clear();
      msg_start = consumed_end;
      if (rest.empty()) {
        break;
      }
    }
  }
  return 0;
}
