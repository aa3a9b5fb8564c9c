// Random inputs over the octets that matter (CR, LF, '.', letters) checked against
// plain, non-streaming models of the two readers, each input cut every way.

#include <gtest/gtest.h>

#include <algorithm>
#include <random>
#include <string>
#include <vector>

#include "grind.hpp"
#include "smtp/proto/command.hpp"
#include "smtp/proto/data_reader.hpp"

namespace posthorn::smtp {
namespace {

constexpr int k_rounds = 1500;
constexpr std::size_t k_max_len = 24;

std::string random_input(std::mt19937& rng) {
  static constexpr char k_alphabet[] = {'\r', '\n', '.', 'a', 'R', '\r', '\n', '.'};
  std::uniform_int_distribution<std::size_t> len(0, k_max_len);
  std::uniform_int_distribution<std::size_t> pick(0, sizeof k_alphabet - 1);
  std::string s(len(rng), ' ');
  for (char& c : s) {
    c = k_alphabet[pick(rng)];
  }
  return s;
}

// ---- DATA --------------------------------------------------------------------------

struct data_result {
  bool ended = false;
  std::string out;
  std::string rest;
  bool bare = false;
  friend bool operator==(const data_result&, const data_result&) = default;
};

// RFC 5321 §4.5.2 read naively over the whole input.
data_result data_model(std::string_view in) {
  data_result r;
  bool line_start = true;
  std::size_t i = 0;
  while (i < in.size()) {
    const std::string_view at = in.substr(i);
    if (line_start && at.front() == '.') {
      if (at.starts_with(".\r\n")) {
        r.ended = true;
        r.rest = std::string(at.substr(3));
        return r;
      }
      if (at == "." || at == ".\r") {
        return r;  // undecided until more arrives
      }
      ++i;  // a stuffing dot
      line_start = false;
      continue;
    }
    if (at.starts_with("\r\n")) {
      r.out += "\r\n";
      i += 2;
      line_start = true;
      continue;
    }
    if (at == "\r") {
      return r;  // undecided until more arrives
    }
    if (at.front() == '\r' || at.front() == '\n') {
      r.bare = true;
    }
    r.out += at.front();
    ++i;
    line_start = false;
  }
  return r;
}

data_result data_stream(const test::pieces& parts) {
  data_reader reader;
  data_result r;
  for (const std::string_view part : parts) {
    if (r.ended) {
      r.rest.append(part);
      continue;
    }
    std::string_view in = part;
    r.ended = reader.feed(in, r.out);
    r.rest.append(in);
  }
  r.bare = reader.bare_cr_or_lf();
  return r;
}

TEST(Model, DataReaderAgreesWithTheNaiveReading) {
  std::mt19937 rng(20240101);
  for (int round = 0; round < k_rounds; ++round) {
    const std::string input = random_input(rng);
    const data_result expected = data_model(input);
    for (const test::pieces& p : test::cuts(input)) {
      const data_result got = data_stream(p);
      ASSERT_EQ(got, expected) << ::testing::PrintToString(input) << " " << test::describe(p);
    }
  }
}

// ---- command lines -----------------------------------------------------------------

struct framed {
  std::string text;
  bool bare_lf = false;
  bool bare_cr = false;
  bool too_long = false;
  friend bool operator==(const framed&, const framed&) = default;
};

struct framing {
  std::vector<framed> lines;
  std::size_t buffered = 0;
  friend bool operator==(const framing&, const framing&) = default;
};

framing lines_model(std::string_view in, std::size_t limit) {
  framing f;
  while (true) {
    const std::size_t lf = in.find('\n');
    std::string_view content = in.substr(0, lf);
    if (lf == std::string_view::npos) {
      if (content.ends_with('\r')) {
        content.remove_suffix(1);  // may become CRLF
      }
      f.buffered = std::min(content.size(), limit - 2);
      return f;
    }
    framed l;
    l.bare_lf = !content.ends_with('\r');
    if (!l.bare_lf) {
      content.remove_suffix(1);
    }
    l.bare_cr = content.find('\r') != std::string_view::npos;
    l.too_long = content.size() > limit - 2;
    l.text = std::string(content.substr(0, limit - 2));
    f.lines.push_back(l);
    in.remove_prefix(lf + 1);
  }
}

// The server's framing: only CRLF ends a line; bare CR and LF stay in it, flagged.
framing crlf_lines_model(std::string_view in, std::size_t limit) {
  framing f;
  while (true) {
    const std::size_t end = in.find("\r\n");
    std::string_view content = in.substr(0, end);
    if (end == std::string_view::npos) {
      if (content.ends_with('\r')) {
        content.remove_suffix(1);  // may become CRLF
      }
      f.buffered = std::min(content.size(), limit - 2);
      return f;
    }
    framed l;
    l.bare_lf = content.find('\n') != std::string_view::npos;
    l.bare_cr = content.find('\r') != std::string_view::npos;
    l.too_long = content.size() > limit - 2;
    l.text = std::string(content.substr(0, limit - 2));
    f.lines.push_back(l);
    in.remove_prefix(end + 2);
  }
}

framing lines_stream(const test::pieces& parts, std::size_t limit, lf_mode lf = lf_mode::EndsLine) {
  line_reader reader(limit, lf);
  framing f;
  for (const std::string_view part : parts) {
    std::string_view in = part;
    while (!in.empty()) {
      if (const std::optional<line> l = reader.feed(in)) {
        f.lines.push_back({std::string(l->text), l->bare_lf, l->bare_cr, l->too_long});
      }
    }
  }
  f.buffered = reader.buffered();
  return f;
}

TEST(Model, LineReaderAgreesWithTheNaiveFraming) {
  std::mt19937 rng(19820821);
  for (const std::size_t limit :
       {std::size_t{2}, std::size_t{3}, std::size_t{6}, std::size_t{512}}) {
    for (int round = 0; round < k_rounds; ++round) {
      const std::string input = random_input(rng);
      const framing expected = lines_model(input, limit);
      for (const test::pieces& p : test::cuts(input)) {
        const framing got = lines_stream(p, limit);
        ASSERT_EQ(got, expected) << ::testing::PrintToString(input) << " limit " << limit << " "
                                 << test::describe(p);
      }
    }
  }
}

TEST(Model, CommandLineReaderAgreesWithTheNaiveCrlfFraming) {
  std::mt19937 rng(20260106);
  for (const std::size_t limit :
       {std::size_t{2}, std::size_t{3}, std::size_t{6}, std::size_t{512}}) {
    for (int round = 0; round < k_rounds; ++round) {
      const std::string input = random_input(rng);
      const framing expected = crlf_lines_model(input, limit);
      for (const test::pieces& p : test::cuts(input)) {
        const framing got = lines_stream(p, limit, lf_mode::InLine);
        ASSERT_EQ(got, expected) << ::testing::PrintToString(input) << " limit " << limit << " "
                                 << test::describe(p);
      }
    }
  }
}

}  // namespace
}  // namespace posthorn::smtp
