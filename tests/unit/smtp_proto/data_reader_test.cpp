#include "smtp/proto/data_reader.hpp"

#include <gtest/gtest.h>

#include <ostream>
#include <string>
#include <utility>
#include <vector>

#include "grind.hpp"

namespace posthorn::smtp {
namespace {

struct outcome {
  bool ended = false;
  std::string out;
  std::string rest;  // input left after the end of data (pipelined commands)
  std::uint64_t size = 0;
  bool bare = false;
  unsigned received = 0;
  bool in_headers = true;
  friend bool operator==(const outcome&, const outcome&) = default;
};

std::ostream& operator<<(std::ostream& os, const outcome& o) {
  return os << "{ended=" << o.ended << " out=\"" << o.out << "\" rest=\"" << o.rest
            << "\" size=" << o.size << " bare=" << o.bare << " received=" << o.received
            << " in_headers=" << o.in_headers << "}";
}

outcome read(const test::pieces& parts, std::uint64_t limit) {
  data_reader reader(limit);
  outcome o;
  for (const std::string_view part : parts) {
    std::string_view in = part;
    if (o.ended) {
      o.rest.append(in);
      continue;
    }
    const bool ended = reader.feed(in, o.out);
    if (ended) {
      o.ended = true;
      o.rest.append(in);
      // Once ended, the reader takes nothing more.
      std::string_view again = in;
      EXPECT_TRUE(reader.feed(again, o.out));
      EXPECT_EQ(again.size(), in.size());
    } else {
      EXPECT_TRUE(in.empty());
    }
  }
  o.size = reader.size();
  o.bare = reader.bare_cr_or_lf();
  o.received = reader.received_headers();
  o.in_headers = reader.in_headers();
  if (limit != 0) {
    EXPECT_EQ(reader.over_limit(), o.size > limit);
  }
  return o;
}

// Reads `input` cut every way and expects the same outcome each time.
outcome expect_data(std::string_view input, std::string_view out, bool ended,
                    std::string_view rest = "", bool bare = false, std::uint64_t limit = 0) {
  outcome first;
  bool have_first = false;
  for (const test::pieces& p : test::cuts(input)) {
    const outcome o = read(p, limit);
    EXPECT_EQ(o.ended, ended) << test::describe(p);
    EXPECT_EQ(o.out, out) << test::describe(p);
    EXPECT_EQ(o.rest, rest) << test::describe(p);
    EXPECT_EQ(o.bare, bare) << test::describe(p);
    if (!have_first) {
      first = o;
      have_first = true;
    } else if (o != first) {
      ADD_FAILURE() << test::describe(p) << " gave " << o << ", whole gave " << first;
      break;
    }
    if (::testing::Test::HasFailure()) {
      break;
    }
  }
  return first;
}

TEST(DataReader, EmptyMessage) {
  // The start of the data counts as just after a CRLF (RFC 5321 §4.1.1.4).
  const outcome o = expect_data(".\r\n", "", true);
  EXPECT_EQ(o.size, 0u);
  expect_data("\r\n.\r\n", "\r\n", true);
}

TEST(DataReader, SimpleMessage) {
  const std::string_view msg = "Subject: hi\r\n\r\nHello.\r\n";
  const outcome o = expect_data(std::string(msg) + ".\r\n", msg, true);
  EXPECT_EQ(o.size, msg.size());
  EXPECT_FALSE(o.in_headers);
}

TEST(DataReader, TheLastCrlfBelongsToTheMessage) {
  // A message cannot end without CRLF: the CRLF before the dot is its last line end.
  expect_data("abc\r\n.\r\n", "abc\r\n", true);
  // "abc." is not a dot line, so this is not the end.
  expect_data("abc.\r\n", "abc.\r\n", false);
  expect_data("abc\r\n.", "abc\r\n", false);
  expect_data("abc\r\n.\r", "abc\r\n", false);
}

TEST(DataReader, DotUnstuffing) {
  // RFC 5321 §4.5.2: a leading '.' on a line is removed.
  expect_data("..\r\n.\r\n", ".\r\n", true);
  expect_data("..abc\r\n.\r\n", ".abc\r\n", true);
  expect_data("a\r\n...\r\nb\r\n.\r\n", "a\r\n..\r\nb\r\n", true);
  expect_data(".x\r\n.\r\n", "x\r\n", true);
  // Dots elsewhere stay.
  expect_data("a.b\r\n .\r\na.\r\n.\r\n", "a.b\r\n .\r\na.\r\n", true);
  // Size counts octets after unstuffing.
  const outcome o = expect_data("..\r\n..\r\n.\r\n", ".\r\n.\r\n", true);
  EXPECT_EQ(o.size, 6u);
}

TEST(DataReader, PipelinedBytesStayInInput) {
  expect_data("a\r\n.\r\nQUIT\r\n", "a\r\n", true, "QUIT\r\n");
  expect_data(".\r\nMAIL FROM:<>\r\nRCPT TO:<b@example.test>\r\n", "", true,
              "MAIL FROM:<>\r\nRCPT TO:<b@example.test>\r\n");
  // Another end marker after the end is the session's business.
  expect_data("x\r\n.\r\n.\r\n", "x\r\n", true, ".\r\n");
}

TEST(DataReader, SmugglingSequencesNeverEndData) {
  // SMTP smuggling: each of these must be message content, flag the message, and leave
  // the smuggled command inside it; only the real CRLF.CRLF ends the data.
  const std::vector<std::pair<std::string, std::string>> sequences = {
      // sequence, what the message holds for it after unstuffing
      {"\n.\n", "\n.\n"},         {"\r.\r", "\r.\r"},         {"\r\n.\n", "\r\n\n"},
      {"\n.\r\n", "\n.\r\n"},     {"\r\n.\r", "\r\n\r"},      {"\r.\r\n", "\r.\r\n"},
      {"\n\n.\n\n", "\n\n.\n\n"}, {"\r\r.\r\r", "\r\r.\r\r"},
  };
  const std::string smuggled = "MAIL FROM:<evil@example.test>";
  for (const auto& [seq, held] : sequences) {
    SCOPED_TRACE(::testing::PrintToString(seq));
    const std::string input = "Subject: x\r\n\r\nbody" + seq + smuggled + "\r\n.\r\nQUIT\r\n";
    const std::string out = "Subject: x\r\n\r\nbody" + held + smuggled + "\r\n";
    expect_data(input, out, true, "QUIT\r\n", true);
  }
}

TEST(DataReader, BareCrAndLfAreFlagged) {
  expect_data("a\rb\r\n.\r\n", "a\rb\r\n", true, "", true);
  expect_data("a\nb\r\n.\r\n", "a\nb\r\n", true, "", true);
  expect_data("\n.\r\n", "\n.\r\n", false, "", true);
  expect_data("\r.\r\n", "\r.\r\n", false, "", true);
  expect_data("a\r\r\n.\r\n", "a\r\r\n", true, "", true);
  // Not flagged: only CRLF.
  expect_data("a\r\nb\r\n.\r\n", "a\r\nb\r\n", true, "", false);
  // A stuffed line that carries a bare CR.
  expect_data(".\rX\r\n.\r\n", "\rX\r\n", true, "", true);
}

TEST(DataReader, SizeLimit) {
  const std::string body = "0123456789\r\n0123456789\r\n";  // 24 octets
  // Exactly the limit is accepted.
  outcome o = expect_data(body + ".\r\n", body, true, "", false, 24);
  EXPECT_EQ(o.size, 24u);

  // Past the limit: output stops at the limit, reading goes on to the end.
  o = expect_data(body + ".\r\nNOOP\r\n", body.substr(0, 23), true, "NOOP\r\n", false, 23);
  EXPECT_EQ(o.size, 24u);
  o = expect_data(body + ".\r\n", body.substr(0, 5), true, "", false, 5);
  EXPECT_EQ(o.size, 24u);

  data_reader r(5);
  std::string out;
  std::string_view in = "..........\r\n.\r\n";
  EXPECT_TRUE(r.feed(in, out));
  EXPECT_TRUE(r.over_limit());
  EXPECT_EQ(r.size(), 11u);
  EXPECT_EQ(out, ".....");

  data_reader unlimited;
  EXPECT_FALSE(unlimited.over_limit());
}

TEST(DataReader, LargeBodyStreams) {
  std::string line(998, 'x');
  line += "\r\n";
  data_reader r(0);
  std::uint64_t total = 0;
  std::string out;
  for (int i = 0; i < 2000; ++i) {
    std::string_view in = line;
    EXPECT_FALSE(r.feed(in, out));
    total += line.size();
    out.clear();  // the session hands output on; the reader keeps no copy
  }
  std::string_view end = ".\r\n";
  EXPECT_TRUE(r.feed(end, out));
  EXPECT_EQ(r.size(), total);
  EXPECT_TRUE(out.empty());
}

TEST(DataReader, CountsReceivedHeaders) {
  const std::string msg =
      "Received: from a by b; Mon, 1 Jan 2024 00:00:00 +0000\r\n"
      "received:from c\r\n"
      "RECEIVED : obsolete spacing\r\n"
      "X-Received: not this one\r\n"
      " Received: a folded line is not a field\r\n"
      "Received-SPF: pass\r\n"
      "Subject: Received: in a value\r\n"
      "ReCeIvEd:\r\n"
      "\r\n"
      "Received: in the body\r\n";
  const outcome o = expect_data(msg + ".\r\n", msg, true);
  EXPECT_EQ(o.received, 4u);
  EXPECT_FALSE(o.in_headers);
}

TEST(DataReader, ReceivedCountingStopsAtTheFirstEmptyLine) {
  outcome o = expect_data("Received: x\r\n", "Received: x\r\n", false);
  EXPECT_EQ(o.received, 1u);
  EXPECT_TRUE(o.in_headers);

  // No header section at all.
  o = expect_data("\r\nReceived: x\r\n.\r\n", "\r\nReceived: x\r\n", true);
  EXPECT_EQ(o.received, 0u);
  EXPECT_FALSE(o.in_headers);

  // A line that only looks empty across a bare LF does not end the headers.
  o = expect_data("A: b\r\n\n\r\nReceived: y\r\n.\r\n", "A: b\r\n\n\r\nReceived: y\r\n", true, "",
                  true);
  EXPECT_EQ(o.received, 1u);

  // A long field name is not collected whole.
  const std::string long_name(5000, 'R');
  o = expect_data(long_name + ": v\r\nReceived: z\r\n.\r\n", long_name + ": v\r\nReceived: z\r\n",
                  true);
  EXPECT_EQ(o.received, 1u);

  // The field name is read after unstuffing.
  o = expect_data(".Received: x\r\n.\r\n", "Received: x\r\n", true);
  EXPECT_EQ(o.received, 1u);
}

TEST(DataReader, ManyReceivedHeaders) {
  std::string msg;
  for (int i = 0; i < 150; ++i) {
    msg += "Received: from hop" + std::to_string(i) + "\r\n";
  }
  msg += "\r\nbody\r\n";
  data_reader r;
  std::string out;
  const std::string input = msg + ".\r\n";
  std::string_view in = input;
  EXPECT_TRUE(r.feed(in, out));
  EXPECT_EQ(r.received_headers(), 150u);
}

TEST(DataReader, ResetStartsOver) {
  data_reader r(3);
  std::string out;
  const std::string first = "Received: a\r\nx\ny\r\n.\r\n";
  std::string_view in = first;
  EXPECT_TRUE(r.feed(in, out));
  EXPECT_TRUE(r.bare_cr_or_lf());
  EXPECT_TRUE(r.over_limit());
  EXPECT_EQ(r.received_headers(), 1u);

  r.reset(0);
  out.clear();
  EXPECT_EQ(r.size(), 0u);
  EXPECT_FALSE(r.bare_cr_or_lf());
  EXPECT_FALSE(r.over_limit());
  EXPECT_EQ(r.received_headers(), 0u);
  EXPECT_TRUE(r.in_headers());
  in = ".\r\n";
  EXPECT_TRUE(r.feed(in, out));
  EXPECT_EQ(out, "");
}

}  // namespace
}  // namespace posthorn::smtp

namespace posthorn::smtp {
namespace {

TEST(data_reader_headers, notes_fields_and_where_the_header_section_ends) {
  data_reader r;
  std::string out;
  std::string_view in = "From: a@b\r\nmessage-ID : <x@y>\r\n\r\nDate: not a header\r\n.\r\n";
  ASSERT_TRUE(r.feed(in, out));
  EXPECT_EQ(r.seen_headers(), data_reader::k_seen_from | data_reader::k_seen_message_id);
  EXPECT_EQ(out.substr(0, r.header_end()), "From: a@b\r\nmessage-ID : <x@y>\r\n");
}

TEST(data_reader_headers, without_a_body_the_section_ends_at_the_end) {
  data_reader r;
  std::string out;
  std::string_view in = "Subject: x\r\n.\r\n";
  ASSERT_TRUE(r.feed(in, out));
  EXPECT_EQ(r.seen_headers(), 0u);
  EXPECT_EQ(r.header_end(), out.size());
}

}  // namespace
}  // namespace posthorn::smtp
