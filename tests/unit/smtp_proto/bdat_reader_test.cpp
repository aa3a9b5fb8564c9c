// The BDAT reader (RFC 3030 §2) and the content scanner it shares with DATA: every
// vector split at every byte offset.

#include "smtp/proto/bdat_reader.hpp"

#include <gtest/gtest.h>

#include <random>
#include <string>
#include <vector>

#include "grind.hpp"
#include "smtp/proto/data_reader.hpp"

namespace posthorn::smtp {
namespace {

// ---- parse_bdat_args ---------------------------------------------------------------

TEST(BdatArgs, SizeAndLast) {
  EXPECT_EQ(parse_bdat_args("0"), (bdat_args{0, false}));
  EXPECT_EQ(parse_bdat_args("1000"), (bdat_args{1000, false}));
  EXPECT_EQ(parse_bdat_args("1000 LAST"), (bdat_args{1000, true}));
  EXPECT_EQ(parse_bdat_args("0 last"), (bdat_args{0, true}));
  EXPECT_EQ(parse_bdat_args("7 LaSt"), (bdat_args{7, true}));
  EXPECT_EQ(parse_bdat_args("  12   LAST "), (bdat_args{12, true}));
  EXPECT_EQ(parse_bdat_args("007"), (bdat_args{7, false}));
  EXPECT_EQ(parse_bdat_args("18446744073709551615"), (bdat_args{18446744073709551615ULL, false}));
}

TEST(BdatArgs, AnythingElseIsRefused) {
  for (const std::string_view bad :
       {"", " ", "x", "-1", "+1", "1x", "1.5", "0x10", "1 LASTX", "1 LAS", "1 LAST x", "1 FIRST",
        "LAST", "LAST 1", "1\tLAST", "18446744073709551616", "99999999999999999999",
        "000000000000000000001", "\xef\xbc\x91"}) {
    EXPECT_FALSE(parse_bdat_args(bad).has_value()) << ::testing::PrintToString(bad);
  }
}

// ---- content_scanner: raw (BDAT) agrees with framed (DATA) -------------------------

struct scanned {
  std::string out;
  std::uint64_t size = 0;
  bool bare = false;
  unsigned received = 0;
  unsigned seen = 0;
  std::uint64_t header_end = 0;
  bool in_headers = true;
  friend bool operator==(const scanned&, const scanned&) = default;
};

std::ostream& operator<<(std::ostream& os, const scanned& s) {
  return os << ::testing::PrintToString(s.out) << " size=" << s.size << " bare=" << s.bare
            << " received=" << s.received << " seen=" << s.seen << " header_end=" << s.header_end
            << " in_headers=" << s.in_headers;
}

scanned summary(const content_scanner& c, std::string out) {
  return {std::move(out),   c.size(),       c.bare_cr_or_lf(), c.received_headers(),
          c.seen_headers(), c.header_end(), c.in_headers()};
}

scanned scan_raw(const test::pieces& parts, std::uint64_t limit) {
  content_scanner c(limit);
  std::string out;
  for (const std::string_view p : parts) {
    c.raw(p, out);
  }
  c.finish(out);
  return summary(c, std::move(out));
}

// The same content sent with DATA: dot-stuffed, CRLF.CRLF added; what DATA's reader
// makes of it is what the raw reading must give.
scanned scan_as_data(std::string_view content, std::uint64_t limit) {
  std::string wire;
  bool line_start = true;
  for (std::size_t i = 0; i < content.size(); ++i) {
    if (line_start && content[i] == '.') {
      wire += '.';
    }
    wire += content[i];
    line_start = content[i] == '\n' && i > 0 && content[i - 1] == '\r';
  }
  if (!content.empty() && !content.ends_with("\r\n")) {
    return {};  // not sendable with DATA unchanged: no reference
  }
  wire += ".\r\n";
  data_reader r(limit);
  std::string out;
  std::string_view in = wire;
  EXPECT_TRUE(r.feed(in, out));
  EXPECT_TRUE(in.empty());
  return summary(r.content(), std::move(out));
}

void expect_same_as_data(std::string_view content, std::uint64_t limit = 0) {
  const scanned want = scan_as_data(content, limit);
  for (const test::pieces& p : test::cuts(content)) {
    ASSERT_EQ(scan_raw(p, limit), want) << test::describe(p);
  }
}

TEST(ContentScanner, RawReadingMatchesData) {
  expect_same_as_data("");
  expect_same_as_data("\r\n");
  expect_same_as_data("Subject: x\r\n\r\nbody\r\n");
  expect_same_as_data(
      "Received: a\r\nreceived : b\r\nDate: now\r\nMessage-ID: <x>\r\n"
      "From: f\r\n\r\nReceived: not a header\r\n");
  expect_same_as_data("A: 1\r\n\r\n.\r\n..\r\n.x\r\n");
  expect_same_as_data("A: 1\r\nB: 2\r\n");  // no body: fields go at the end
  // Bare LF and CR: content, flagged, and the same framing as DATA makes of them.
  expect_same_as_data("A: 1\n\r\nx\r\n");
  expect_same_as_data("A: 1\r\r\n\r\nx\r\n");
  expect_same_as_data("A\r\rB\r\n\r\n\n.\n\r\n");
  // Over the limit: output stops, counting goes on.
  expect_same_as_data("Subject: long\r\n\r\n0123456789\r\n", 20);
}

TEST(ContentScanner, ATrailingCrIsBareOnlyAtTheEnd) {
  content_scanner c;
  std::string out;
  c.raw("A: 1\r", out);
  EXPECT_FALSE(c.bare_cr_or_lf());
  EXPECT_EQ(out, "A: 1");
  c.raw("\n", out);
  EXPECT_FALSE(c.bare_cr_or_lf());
  c.raw("x\r", out);
  c.finish(out);
  EXPECT_TRUE(c.bare_cr_or_lf());
  EXPECT_EQ(out, "A: 1\r\nx\r");
  EXPECT_EQ(c.size(), 8u);
}

TEST(ContentScanner, RandomContentAgreesWithDataEveryCut) {
  std::mt19937 rng(3030);
  static constexpr char k_alphabet[] = {'\r', '\n', '.', 'R', ':', 'a', '\r', '\n'};
  std::uniform_int_distribution<std::size_t> len(0, 20);
  std::uniform_int_distribution<std::size_t> pick(0, sizeof k_alphabet - 1);
  for (int round = 0; round < 1500; ++round) {
    std::string s(len(rng), ' ');
    for (char& ch : s) {
      ch = k_alphabet[pick(rng)];
    }
    s += "\r\n";  // DATA can carry it unchanged
    expect_same_as_data(s, round % 3 == 0 ? 8 : 0);
  }
}

// ---- bdat_reader -------------------------------------------------------------------

struct chunked {
  std::string out;
  std::string rest;  // what followed the chunks (the next commands)
  bool bare = false;
};

// Feeds `wire` cut as given to a reader expecting chunks of the given sizes (kept or
// not), as the session would: each chunk starts once the previous one is complete.
chunked read_chunks(const test::pieces& parts,
                    const std::vector<std::pair<std::uint64_t, bool>>& chunks) {
  bdat_reader r;
  r.reset(0);
  chunked got;
  std::size_t next = 0;
  bool reading = false;
  auto start_next = [&] {
    if (!reading && next < chunks.size()) {
      r.start_chunk(chunks[next].first, chunks[next].second);
      ++next;
      reading = true;
    }
  };
  start_next();
  for (const std::string_view part : parts) {
    std::string_view in = part;
    while (true) {
      if (reading) {
        if (r.feed(in, got.out)) {
          reading = false;
          start_next();
          continue;
        }
      }
      if (!reading) {
        got.rest.append(in);
        in = {};
      }
      if (in.empty()) {
        break;
      }
    }
  }
  // Zero-octet chunks at the end complete without input.
  while (reading && r.left() == 0) {
    std::string_view none;
    r.feed(none, got.out);
    reading = false;
    start_next();
  }
  r.finish(got.out);
  got.bare = r.content().bare_cr_or_lf();
  return got;
}

TEST(BdatReader, TakesExactlyTheAnnouncedOctetsWhereverTheReadsEnd) {
  const std::string first = "Subject: a\r\n\r\n.\r\n";
  const std::string second = "QUIT\r\nend\r\n";
  const std::string wire = first + second + "NOOP\r\n";
  for (const test::pieces& p : test::cuts(wire)) {
    const chunked got = read_chunks(p, {{first.size(), true}, {0, true}, {second.size(), true}});
    ASSERT_EQ(got.out, first + second) << test::describe(p);
    ASSERT_EQ(got.rest, "NOOP\r\n") << test::describe(p);
    ASSERT_FALSE(got.bare);
  }
}

TEST(BdatReader, AChunkNotKeptIsConsumedAndDropped) {
  const std::string wire = "dropped\r\nkept\r\nQUIT\r\n";
  for (const test::pieces& p : test::cuts(wire)) {
    const chunked got = read_chunks(p, {{9, false}, {6, true}});
    ASSERT_EQ(got.out, "kept\r\n") << test::describe(p);
    ASSERT_EQ(got.rest, "QUIT\r\n") << test::describe(p);
  }
}

TEST(BdatReader, ACrlfSplitAcrossChunksIsOneLineEnd) {
  const std::string wire = "A: 1\r\n\r\nx\r\n";
  for (const test::pieces& p : test::cuts(wire)) {
    const chunked got = read_chunks(p, {{5, true}, {1, true}, {6, true}});
    ASSERT_EQ(got.out, wire) << test::describe(p);
    ASSERT_FALSE(got.bare) << test::describe(p);
  }
}

TEST(BdatReader, HugeAnnouncedSizeIsCountedNotBuffered) {
  bdat_reader r;
  r.reset(1000);
  r.start_chunk(1'000'000'000'000ULL, true);
  const std::string block(65536, 'x');
  std::string out;
  for (int i = 0; i < 32; ++i) {
    std::string_view in = block;
    EXPECT_FALSE(r.feed(in, out));
    EXPECT_TRUE(in.empty());
  }
  EXPECT_EQ(out.size(), 1000u);  // output stops at the limit
  EXPECT_TRUE(r.content().over_limit());
  EXPECT_EQ(r.content().size(), 32u * 65536u);
  EXPECT_EQ(r.left(), 1'000'000'000'000ULL - 32u * 65536u);
  EXPECT_EQ(r.received(), 32u * 65536u);
}

TEST(BdatReader, ReceivedCountsAHeldBackCr) {
  bdat_reader r;
  r.reset(0);
  std::string out;
  r.start_chunk(5, true);
  std::string_view in = "A: 1\r";
  EXPECT_TRUE(r.feed(in, out));
  EXPECT_EQ(r.received(), 5u);
  EXPECT_EQ(r.content().size(), 4u);  // the CR waits for the next chunk
  r.start_chunk(3, false);
  in = "xyz";
  EXPECT_TRUE(r.feed(in, out));
  EXPECT_EQ(r.received(), 5u);  // dropped chunks are not received content
}

}  // namespace
}  // namespace posthorn::smtp
