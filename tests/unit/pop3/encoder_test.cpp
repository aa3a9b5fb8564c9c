// The POP3 message encoder and the CRLF size counter: the octets RETR sends before
// stuffing are exactly the size LIST gives, whatever the file holds and wherever reads end.

#include "pop3/encoder.hpp"

#include <gtest/gtest.h>

#include <string>

#include "mail/crlf_size.hpp"
#include "pop3/command.hpp"

namespace posthorn::pop3 {
namespace {

std::string encode(std::string_view file, std::optional<std::uint64_t> top = std::nullopt,
                   std::size_t cut = std::string::npos) {
  message_encoder e(top);
  std::string out;
  if (cut == std::string::npos || cut > file.size()) {
    e.feed(file, out);
  } else if (e.feed(file.substr(0, cut), out)) {
    e.feed(file.substr(cut), out);
  }
  e.finish(out);
  return out;
}

std::uint64_t crlf_size(std::string_view file, std::size_t cut = 0) {
  mail::crlf_size_counter c;
  c.feed(file.substr(0, cut));
  c.feed(file.substr(cut));
  return c.total();
}

// The octets of an encoded response before dot-stuffing and without the terminator.
std::size_t unstuffed_size(const std::string& encoded) {
  std::size_t n = encoded.size() - 3;  // ".\r\n"
  bool start = true;
  for (std::size_t i = 0; i + 3 < encoded.size(); ++i) {
    if (start && encoded[i] == '.') {
      --n;
    }
    start = encoded[i] == '\n';
  }
  return n;
}

TEST(Pop3Encoder, LfBecomesCrlfAndDotsAreStuffed) {
  EXPECT_EQ(encode("a\n.b\n..\n.\nc\n"), "a\r\n..b\r\n...\r\n..\r\nc\r\n.\r\n");
}

TEST(Pop3Encoder, CrlfStaysAndLoneCrStays) {
  EXPECT_EQ(encode("a\r\nb\rc\n"), "a\r\nb\rc\r\n.\r\n");
}

TEST(Pop3Encoder, LastLineWithoutLineEndGetsOne) {
  EXPECT_EQ(encode("a\nb"), "a\r\nb\r\n.\r\n");
  EXPECT_EQ(encode(""), ".\r\n");
  EXPECT_EQ(encode(".x"), "..x\r\n.\r\n");
}

TEST(Pop3Encoder, TopCountsBodyLinesAfterTheBlankLine) {
  const std::string m = "A: 1\nB: 2\n\nl1\n.l2\nl3\n";
  EXPECT_EQ(encode(m, 0), "A: 1\r\nB: 2\r\n\r\n.\r\n");
  EXPECT_EQ(encode(m, 1), "A: 1\r\nB: 2\r\n\r\nl1\r\n.\r\n");
  EXPECT_EQ(encode(m, 2), "A: 1\r\nB: 2\r\n\r\nl1\r\n..l2\r\n.\r\n");
  EXPECT_EQ(encode(m, 9), encode(m));
  // A header block ended by CRLF CRLF in the file.
  EXPECT_EQ(encode("A: 1\r\n\r\nbody\r\n", 0), "A: 1\r\n\r\n.\r\n");
  // No body at all: everything.
  EXPECT_EQ(encode("A: 1\n", 0), "A: 1\r\n.\r\n");
}

// Every split of every vector gives the same octets, and the counter's size.
TEST(Pop3Encoder, EverySplitGivesTheSameOctetsAndTheCountedSize) {
  const std::vector<std::string> files = {"Subject: x\n\nbody\n.\n..\n",
                                          "a\r\nb\r\n",
                                          "a\rb\r\r\n\n\n",
                                          "no end",
                                          ".",
                                          "\r",
                                          "\n.\n",
                                          "x\r",
                                          "A: b\n\n.\r\n.x\r\nend"};
  for (const std::string& f : files) {
    const std::string whole = encode(f);
    EXPECT_EQ(unstuffed_size(whole), crlf_size(f)) << f;
    for (std::size_t cut = 0; cut <= f.size(); ++cut) {
      EXPECT_EQ(encode(f, std::nullopt, cut), whole) << f << " cut " << cut;
      EXPECT_EQ(crlf_size(f, cut), crlf_size(f)) << f << " cut " << cut;
      for (std::uint64_t top : {0, 1, 2}) {
        EXPECT_EQ(encode(f, top, cut), encode(f, top)) << f << " top " << top << " cut " << cut;
      }
    }
  }
}

TEST(Pop3Command, KeywordsAreCaseInsensitiveAndArgumentsSplit) {
  command c = parse_command("rEtR 12");
  EXPECT_EQ(c.v, verb::Retr);
  EXPECT_EQ(c.args, "12");
  c = parse_command("TOP  1   5");
  EXPECT_EQ(c.v, verb::Top);
  EXPECT_EQ(split_first(c.args).first, "1");
  EXPECT_EQ(split_first(c.args).rest, "5");
  EXPECT_EQ(parse_command("RETRX 1").v, verb::Unknown);
  EXPECT_EQ(parse_command("").v, verb::Unknown);
  EXPECT_EQ(parse_command("PASS a b ").args, "a b ");
  EXPECT_EQ(verb_name(verb::Uidl), "UIDL");
}

TEST(Pop3Command, MessageNumbers) {
  EXPECT_EQ(parse_number("1"), 1u);
  EXPECT_EQ(parse_number("4294967295"), 4294967295u);
  EXPECT_FALSE(parse_number("4294967296"));
  EXPECT_FALSE(parse_number("0"));
  EXPECT_FALSE(parse_number("-1"));
  EXPECT_FALSE(parse_number("+1"));
  EXPECT_FALSE(parse_number(" 1"));
  EXPECT_FALSE(parse_number("1a"));
  EXPECT_FALSE(parse_number(""));
  EXPECT_EQ(parse_count("0"), 0u);
  EXPECT_FALSE(parse_count("123456789012345678901"));
}

}  // namespace
}  // namespace posthorn::pop3
