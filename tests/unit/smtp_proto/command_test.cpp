#include "smtp/proto/command.hpp"

#include <gtest/gtest.h>

#include <cctype>
#include <ostream>
#include <string>
#include <utility>
#include <vector>

#include "grind.hpp"

namespace posthorn::smtp {
namespace {

// ---- parse_command ----------------------------------------------------------------

TEST(ParseCommand, EveryVerbInAnyCase) {
  const std::vector<std::pair<std::string, verb>> verbs = {
      {"HELO", verb::Helo}, {"EHLO", verb::Ehlo},       {"MAIL", verb::Mail},
      {"RCPT", verb::Rcpt}, {"DATA", verb::Data},       {"RSET", verb::Rset},
      {"NOOP", verb::Noop}, {"QUIT", verb::Quit},       {"HELP", verb::Help},
      {"VRFY", verb::Vrfy}, {"EXPN", verb::Expn},       {"STARTTLS", verb::Starttls},
      {"AUTH", verb::Auth}, {"BDAT", verb::Bdat},       {"ETRN", verb::Etrn},
      {"SEND", verb::Send}, {"SOML", verb::Soml},       {"SAML", verb::Saml},
      {"TURN", verb::Turn}, {"XCLIENT", verb::Xclient},
  };
  for (const auto& [name, v] : verbs) {
    std::string lower = name;
    std::string mixed = name;
    for (std::size_t i = 0; i < name.size(); ++i) {
      lower[i] = static_cast<char>(std::tolower(static_cast<unsigned char>(name[i])));
      mixed[i] = i % 2 == 1 ? lower[i] : name[i];
    }
    for (const std::string& spelled : {name, lower, mixed}) {
      const command c = parse_command(spelled);
      EXPECT_EQ(c.v, v) << spelled;
      EXPECT_EQ(c.name, spelled);
      EXPECT_EQ(c.arg, "");
    }
    EXPECT_EQ(verb_name(v), name);
  }
  EXPECT_EQ(verb_name(verb::Unknown), "");
}

TEST(ParseCommand, Arguments) {
  command c = parse_command("MAIL FROM:<alice@example.test> SIZE=100");
  EXPECT_EQ(c.v, verb::Mail);
  EXPECT_EQ(c.name, "MAIL");
  EXPECT_EQ(c.arg, "FROM:<alice@example.test> SIZE=100");

  c = parse_command("rcpt TO:<bob@example.test>");
  EXPECT_EQ(c.v, verb::Rcpt);
  EXPECT_EQ(c.name, "rcpt");
  EXPECT_EQ(c.arg, "TO:<bob@example.test>");

  c = parse_command("EHLO client.example.test   ");
  EXPECT_EQ(c.v, verb::Ehlo);
  EXPECT_EQ(c.arg, "client.example.test");

  c = parse_command("HELP \t ");
  EXPECT_EQ(c.v, verb::Help);
  EXPECT_EQ(c.arg, "");

  c = parse_command("NOOP ");
  EXPECT_EQ(c.v, verb::Noop);
  EXPECT_EQ(c.arg, "");

  // Only the first space separates; what follows it is the argument as sent.
  c = parse_command("HELP  topic");
  EXPECT_EQ(c.arg, " topic");
}

TEST(ParseCommand, UnknownVerbs) {
  for (const std::string_view line :
       {"", " ", "MAILX", "MAI", "FOO bar", "DATA\t", "GET / HTTP/1.1", "\x01\x02", "MA IL"}) {
    const command c = parse_command(line);
    EXPECT_EQ(c.v, verb::Unknown) << line;
  }
  const command c = parse_command("XYZZY plugh");
  EXPECT_EQ(c.name, "XYZZY");
  EXPECT_EQ(c.arg, "plugh");
}

// ---- line_reader -------------------------------------------------------------------

struct framed {
  std::string text;
  bool bare_lf = false;
  bool bare_cr = false;
  bool too_long = false;
  friend bool operator==(const framed&, const framed&) = default;
};

std::ostream& operator<<(std::ostream& os, const framed& f) {
  return os << "{\"" << f.text << "\" lf=" << f.bare_lf << " cr=" << f.bare_cr
            << " long=" << f.too_long << "}";
}

struct framing {
  std::vector<framed> lines;
  std::size_t buffered = 0;  // held of an unfinished line at the end
};

framing frame(const test::pieces& parts, std::size_t limit, lf_mode lf = lf_mode::EndsLine) {
  line_reader reader(limit, lf);
  framing out;
  for (const std::string_view part : parts) {
    std::string_view in = part;
    while (!in.empty()) {
      const std::size_t before = in.size();
      const std::optional<line> l = reader.feed(in);
      if (l) {
        EXPECT_LT(in.size(), before);
        EXPECT_EQ(reader.buffered(), 0u);
        EXPECT_LE(l->text.size(), limit - 2);
        out.lines.push_back({std::string(l->text), l->bare_lf, l->bare_cr, l->too_long});
      } else {
        EXPECT_TRUE(in.empty());
      }
      // Memory stays bounded by the limit whatever the input.
      EXPECT_LE(reader.buffered(), limit);
    }
  }
  out.buffered = reader.buffered();
  return out;
}

// Frames `input` cut every way and expects the same lines each time.
void expect_lines(std::string_view input, const std::vector<framed>& expected,
                  std::size_t buffered = 0, std::size_t limit = 512,
                  lf_mode lf = lf_mode::EndsLine) {
  for (const test::pieces& p : test::cuts(input)) {
    const framing f = frame(p, limit, lf);
    ASSERT_EQ(f.lines, expected) << test::describe(p);
    ASSERT_EQ(f.buffered, buffered) << test::describe(p);
  }
}

TEST(LineReader, CrlfLines) {
  expect_lines("NOOP\r\n", {{"NOOP"}});
  expect_lines("EHLO a\r\nMAIL FROM:<>\r\n\r\nQUIT\r\n",
               {{"EHLO a"}, {"MAIL FROM:<>"}, {""}, {"QUIT"}});
  expect_lines("\r\n\r\n", {{""}, {""}});
}

TEST(LineReader, UnfinishedLineStaysBuffered) {
  expect_lines("", {}, 0);
  expect_lines("NOOP", {}, 4);
  expect_lines("NOOP\r\nQU", {{"NOOP"}}, 2);
  // A trailing CR is held back, not counted: it may be the start of CRLF.
  expect_lines("NOOP\r", {}, 4);
}

TEST(LineReader, BareLfEndsLineButIsFlagged) {
  expect_lines("NOOP\n", {{"NOOP", true, false, false}});
  expect_lines("A\nB\r\nC\n", {{"A", true}, {"B"}, {"C", true}});
  expect_lines("\n", {{"", true}});
}

// The server's command reader: only CRLF ends a line, so a line with a bare LF is one
// line (one command, one reply), never two.
void expect_commands(std::string_view input, const std::vector<framed>& expected,
                     std::size_t buffered = 0, std::size_t limit = 512) {
  expect_lines(input, expected, buffered, limit, lf_mode::InLine);
}

TEST(LineReader, InLineModeKeepsABareLfInsideTheLine) {
  expect_commands("EHLO a\nMAIL FROM:<x>\r\n", {{"EHLO a\nMAIL FROM:<x>", true, false, false}});
  expect_commands("NOOP\n", {}, 5);
  expect_commands("\n\r\n", {{"\n", true}});
  expect_commands("A\nB\r\nC\r\nD\n", {{"A\nB", true}, {"C"}}, 2);
  // The flag belongs to its line only.
  expect_commands("A\n\r\nNOOP\r\n", {{"A\n", true}, {"NOOP"}});
  // SMTP smuggling shapes are one line each: nothing after the bare LF runs.
  expect_commands("DATA\n.\nQUIT\r\n", {{"DATA\n.\nQUIT", true}});
  expect_commands("A\r\nB\r\n", {{"A"}, {"B"}});
  // CR, bare LF, CR LF: both flags, one line.
  expect_commands("A\r\n\r\n", {{"A"}, {""}});
  expect_commands("A\r\rB\nC\r\n", {{"A\r\rB\nC", true, true, false}});
}

TEST(LineReader, InLineModeStaysBounded) {
  // An LF-only client never ends a line: the line is cut at the limit and answered
  // once (too long) when a CRLF finally comes.
  std::string lf_lines;
  for (int i = 0; i < 200; ++i) {
    lf_lines += "NOOP\n";
  }
  expect_commands(lf_lines + "\r\nQUIT\r\n",
                  {{lf_lines.substr(0, 510), true, false, true}, {"QUIT"}});
  const std::string fits(509, 'x');
  expect_commands(fits + "\n\r\n", {{fits + "\n", true, false, false}});
  expect_commands(fits + "\n\n\r\n", {{fits + "\n", true, false, true}});
}

TEST(LineReader, BareCrIsFlagged) {
  expect_lines("NO\rOP\r\n", {{"NO\rOP", false, true, false}});
  expect_lines("NOOP\r\r\n", {{"NOOP\r", false, true, false}});
  expect_lines("\r\r\r\n", {{"\r\r", false, true, false}});
  // CR then a bare LF: the CR is not part of a line end.
  expect_lines("A\r\rB\n", {{"A\r\rB", true, true, false}});
  // The flag belongs to its line only.
  expect_lines("A\rB\r\nC\r\n", {{"A\rB", false, true, false}, {"C"}});
}

TEST(LineReader, LimitCountsTheLineEnd) {
  // RFC 5321 §4.5.3.1.4: 512 octets including CRLF.
  const std::string fits(510, 'x');
  expect_lines(fits + "\r\n", {{fits}});
  const std::string over(511, 'y');
  expect_lines(over + "\r\n", {{std::string(510, 'y'), false, false, true}});
  // A line exactly at the limit but ended by a bare LF keeps its flag.
  expect_lines(fits + "\n", {{fits, true, false, false}});
}

TEST(LineReader, LinesAfterAnOverlongLineAreFramed) {
  const std::string big(3000, 'z');
  expect_lines(big + "\r\nNOOP\r\n" + big + "\nQUIT\r\n",
               {{std::string(510, 'z'), false, false, true},
                {"NOOP"},
                {std::string(510, 'z'), true, false, true},
                {"QUIT"}});
  // A bare CR in the dropped part is still reported.
  expect_lines(big + "\rq\r\nNOOP\r\n", {{std::string(510, 'z'), false, true, true}, {"NOOP"}});
  // A held-back CR at the boundary of the limit.
  const std::string edge(510, 'e');
  expect_lines(edge + "\r\r\n", {{edge, false, true, true}});
  expect_lines(edge + "\rX\r\n", {{edge, false, true, true}});
}

TEST(LineReader, OtherLimits) {
  const std::string auth(12286, 'A');
  expect_lines(auth + "\r\n", {{auth}}, 0, 12288);
  expect_lines(auth + "A\r\n", {{auth, false, false, true}}, 0, 12288);

  line_reader r(16);
  EXPECT_EQ(r.limit(), 16u);
  r.set_limit(12288);
  EXPECT_EQ(r.limit(), 12288u);
}

TEST(LineReader, ResetDropsAPartialLine) {
  line_reader r;
  std::string_view in = "MAIL FROM:<evil@example.test>\r\nRCPT TO:<x";
  std::optional<line> l = r.feed(in);
  ASSERT_TRUE(l);
  EXPECT_EQ(l->text, "MAIL FROM:<evil@example.test>");
  EXPECT_FALSE(r.feed(in));
  EXPECT_GT(r.buffered(), 0u);
  r.reset();
  EXPECT_EQ(r.buffered(), 0u);
  in = "EHLO a\r\n";
  l = r.feed(in);
  ASSERT_TRUE(l);
  EXPECT_EQ(l->text, "EHLO a");
  EXPECT_FALSE(l->bare_cr || l->bare_lf || l->too_long);

  // A held-back CR and an overflow are forgotten too.
  r.set_limit(8);
  in = "0123456789\r";
  EXPECT_FALSE(r.feed(in));
  r.reset();
  in = "\nNOOP\r\n";
  l = r.feed(in);
  ASSERT_TRUE(l);
  EXPECT_EQ(l->text, "");
  EXPECT_TRUE(l->bare_lf);
  EXPECT_FALSE(l->too_long);
}

TEST(LineReader, HugeInputStaysBounded) {
  line_reader r;
  const std::string chunk(65536, 'x');
  for (int i = 0; i < 64; ++i) {
    std::string_view in = chunk;
    EXPECT_FALSE(r.feed(in));
    EXPECT_LE(r.buffered(), 512u);
  }
  std::string_view in = "\r\nNOOP\r\n";
  std::optional<line> l = r.feed(in);
  ASSERT_TRUE(l);
  EXPECT_TRUE(l->too_long);
  l = r.feed(in);
  ASSERT_TRUE(l);
  EXPECT_EQ(l->text, "NOOP");
  EXPECT_FALSE(l->too_long);
}

TEST(LineReader, TextIsValidAfterTheCallerReusesItsBuffer) {
  line_reader r;
  std::string buffer = "NO";
  std::string_view in = buffer;
  EXPECT_FALSE(r.feed(in));
  buffer = "OP\r\n";
  in = buffer;
  const std::optional<line> l = r.feed(in);
  buffer.assign(buffer.size(), '#');
  ASSERT_TRUE(l);
  EXPECT_EQ(l->text, "NOOP");
}

}  // namespace
}  // namespace posthorn::smtp
