// Fuzz target: the BDAT reader (smtp::bdat_reader, RFC 3030) and parse_bdat_args: chunks
// of announced sizes taken verbatim, kept or dropped, fed in reads whose ends fall
// anywhere; the content scanner's facts (size, limit, bare CR/LF, header section,
// Received: count) against a whole-buffer reference.
//
// Input layout: [limit selector] [8 chunk plan bytes] [4 read sizes] payload. A plan
// byte announces a chunk of (b & 0x7f) octets, dropped when the top bit is set. The
// payload holds the chunks back to back, then whatever follows them (the next commands).

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "fuzz_util.hpp"
#include "smtp/proto/bdat_reader.hpp"

namespace {

using namespace posthorn;
using fuzz::chunker;

constexpr std::size_t npos = std::string_view::npos;

// A CR not followed by LF, or an LF not preceded by CR (a CR at the very end is bare:
// the message is complete).
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
  std::uint64_t header_end = 0;
};

// Every CRLF in the content is a line end; the header section ends at the first empty
// line (or with the content).
header_facts reference_headers(std::string_view msg) {
  header_facts h;
  h.header_end = msg.size();
  // The last line may lack its CRLF: BDAT content need not end with one.
  std::size_t start = 0;
  while (start < msg.size()) {
    const std::size_t crlf = msg.find("\r\n", start);
    const std::string_view line = msg.substr(start, crlf == npos ? npos : crlf - start);
    if (line.empty()) {
      h.in_headers = false;
      h.header_end = start;
      break;
    }
    start = crlf == npos ? msg.size() : crlf + 2;
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

std::uint64_t pick_limit(std::uint8_t b) {
  switch (b & 3) {
    case 0:
      return 0;
    case 1:
      return b >> 2;
    case 2:
      return 64 + (b >> 2) * 16;
    default:
      return 35'000'000;
  }
}

// The chunk arguments round-trip through parse_bdat_args, and nothing else parses.
void check_args(std::string_view text) {
  const auto a = smtp::parse_bdat_args(text);
  if (!a) {
    return;
  }
  const std::string again = std::to_string(a->size) + (a->last ? " LAST" : "");
  const auto b = smtp::parse_bdat_args(again);
  FUZZ_CHECK(b && *b == *a);
  for (const char c : text) {
    FUZZ_CHECK(c == ' ' || (c >= '0' && c <= '9') || c == 'L' || c == 'l' || c == 'A' || c == 'a' ||
               c == 'S' || c == 's' || c == 'T' || c == 't');
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  fuzz::input in(data, size);
  const std::uint64_t limit = pick_limit(in.byte());
  struct planned {
    std::uint64_t size;
    bool keep;
  };
  std::vector<planned> plan;
  for (int i = 0; i < 8; ++i) {
    const std::uint8_t b = in.byte();
    plan.push_back({static_cast<std::uint64_t>(b & 0x7f), (b & 0x80) == 0});
  }
  chunker chunks(in);
  const std::string_view payload = chunks.payload();
  check_args(payload.substr(0, 64));

  // The reference: the kept octets and where the chunks end.
  std::string kept;
  std::size_t total = 0;
  bool complete = true;
  for (const planned& p : plan) {
    if (total + p.size > payload.size()) {
      complete = false;
    }
    if (p.keep) {
      kept.append(payload.substr(std::min(total, payload.size()), p.size));
    }
    total += p.size;
  }

  smtp::bdat_reader reader;
  reader.reset(limit);
  std::string out;
  std::string rest;
  std::size_t next = 0;
  bool reading = false;
  auto start_next = [&] {
    if (next < plan.size()) {
      reader.start_chunk(plan[next].size, plan[next].keep);
      ++next;
      reading = true;
    } else {
      reading = false;
    }
  };
  start_next();
  auto run_empty_chunks = [&] {
    std::string_view none;
    while (reading && reader.left() == 0) {
      FUZZ_CHECK(reader.feed(none, out));
      start_next();
    }
  };
  run_empty_chunks();
  std::string_view chunk;
  while (chunks.next(chunk)) {
    std::string_view v = chunk;
    while (!v.empty()) {
      if (!reading) {
        rest.append(v);
        break;
      }
      const std::size_t before = v.size();
      const std::uint64_t left = reader.left();
      const bool done = reader.feed(v, out);
      FUZZ_CHECK(before - v.size() == std::min<std::uint64_t>(left, before));
      FUZZ_CHECK(done == (reader.left() == 0));
      if (!done) {
        FUZZ_CHECK(v.empty());
        break;
      }
      start_next();
      run_empty_chunks();
    }
  }
  FUZZ_CHECK(complete == !reading);
  if (!complete) {
    FUZZ_CHECK(rest.empty());
    FUZZ_CHECK(kept.starts_with(out));
    return 0;
  }
  reader.finish(out);
  FUZZ_CHECK(rest == payload.substr(total));
  const smtp::content_scanner& c = reader.content();
  FUZZ_CHECK(c.size() == kept.size());
  if (limit == 0 || kept.size() <= limit) {
    FUZZ_CHECK(out == kept);
    FUZZ_CHECK(!c.over_limit());
  } else {
    FUZZ_CHECK(out == kept.substr(0, limit));
    FUZZ_CHECK(c.over_limit());
  }
  FUZZ_CHECK(c.bare_cr_or_lf() == reference_bare(kept));
  const header_facts h = reference_headers(kept);
  FUZZ_CHECK(c.received_headers() == h.received);
  FUZZ_CHECK(c.in_headers() == h.in_headers);
  FUZZ_CHECK(c.header_end() == h.header_end);
  return 0;
}
