// The reply reader, the EHLO parser and the DATA encoder, each fed in every cut.

#include <gtest/gtest.h>

#include <random>
#include <string>

#include "script.hpp"
#include "smtp/client/client.hpp"
#include "smtp/client/data_encoder.hpp"
#include "smtp/client/reply_reader.hpp"

namespace posthorn::smtp {
namespace {

using test::cut_pieces;
using test::k_max_cut;

// ---- reply_reader -------------------------------------------------------------------

std::vector<reply> read_all(std::string_view bytes, std::size_t cut, std::string* error) {
  reply_reader rr;
  std::vector<reply> out;
  for (std::string_view piece : cut_pieces(bytes, cut)) {
    while (!piece.empty()) {
      auto r = rr.feed(piece);
      if (!r) {
        *error = r.error();
        return out;
      }
      if (*r) {
        out.push_back(std::move(**r));
      }
    }
  }
  return out;
}

TEST(ReplyReader, MultiLineWithEnhancedCodes) {
  const std::string_view bytes =
      "250-mx.example.net\r\n250-PIPELINING\r\n250 SIZE 1000\r\n"
      "550-5.1.1 first\r\n550-5.1.1 second\r\n550 5.1.1 third\r\n"
      "354 go\r\n"
      "221\r\n"
      "452 4.5.3 Too many\n";  // a bare LF is taken as a line end
  for (std::size_t cut = 0; cut <= k_max_cut; ++cut) {
    std::string error;
    const std::vector<reply> rs = read_all(bytes, cut, &error);
    ASSERT_EQ(error, "") << cut;
    ASSERT_EQ(rs.size(), 5u) << cut;
    EXPECT_EQ(rs[0].code, 250);
    EXPECT_EQ(rs[0].lines, (std::vector<std::string>{"mx.example.net", "PIPELINING", "SIZE 1000"}));
    EXPECT_EQ(rs[0].enhanced, "");
    EXPECT_EQ(rs[1].enhanced, "5.1.1");
    EXPECT_EQ(rs[1].lines, (std::vector<std::string>{"first", "second", "third"}));
    EXPECT_EQ(one_line(rs[1]), "550 5.1.1 first second third");
    EXPECT_EQ(status_of(rs[1]), "5.1.1");
    EXPECT_EQ(rs[2].code, 354);
    EXPECT_EQ(status_of(rs[2]), "3.0.0");
    EXPECT_EQ(one_line(rs[3]), "221");
    EXPECT_EQ(rs[4].enhanced, "4.5.3");
  }
}

TEST(ReplyReader, EnhancedCodeOfTheWrongClassIsText) {
  std::string error;
  auto rs = read_all("550 4.1.1 odd\r\n250 2.1.10 x\r\n250 2.1.1234 y\r\n", 0, &error);
  ASSERT_EQ(rs.size(), 3u);
  EXPECT_EQ(rs[0].enhanced, "");
  EXPECT_EQ(status_of(rs[0]), "5.0.0");
  EXPECT_EQ(rs[1].enhanced, "2.1.10");
  EXPECT_EQ(rs[2].enhanced, "");
}

TEST(ReplyReader, BadRepliesAreErrors) {
  for (const std::string_view bad : {"hello\r\n", "25\r\n", "2500 x\r\n", "250x\r\n", "150 x\r\n",
                                     "260 x\r\n", "250-a\r\n550 b\r\n"}) {
    std::string error;
    read_all(bad, 0, &error);
    EXPECT_NE(error, "") << bad;
  }
  std::string many;
  for (std::size_t i = 0; i <= k_reply_max_lines; ++i) {
    many += "250-line\r\n";
  }
  std::string error;
  read_all(many, 0, &error);
  EXPECT_NE(error, "");
}

TEST(ReplyReader, LongLinesAreCutNotFatal) {
  const std::string bytes = "250 " + std::string(5000, 'x') + "\r\n250 next\r\n";
  std::string error;
  auto rs = read_all(bytes, 0, &error);
  ASSERT_EQ(rs.size(), 2u);
  EXPECT_LT(rs[0].lines[0].size(), k_reply_line_limit);
  EXPECT_EQ(rs[1].lines[0], "next");
}

TEST(ParseEhlo, Keywords) {
  reply r;
  r.code = 250;
  r.lines = {"mx.example.net greets you", "pipelining",   "SIZE 52428800", "8BITMIME", "AUTH=LOGIN",
             "AUTH PLAIN login CRAM-MD5", "STARTTLS",     "CHUNKING",      "SMTPUTF8", "DSN",
             "ENHANCEDSTATUSCODES",       "X-UNKNOWN foo"};
  const peer_extensions e = parse_ehlo(r);
  EXPECT_TRUE(e.esmtp);
  EXPECT_TRUE(e.pipelining);
  EXPECT_TRUE(e.size);
  EXPECT_EQ(e.size_limit, 52428800u);
  EXPECT_TRUE(e.eightbitmime);
  EXPECT_TRUE(e.starttls);
  EXPECT_TRUE(e.chunking);
  EXPECT_TRUE(e.smtputf8);
  EXPECT_TRUE(e.dsn);
  EXPECT_TRUE(e.enhanced_status_codes);
  EXPECT_FALSE(e.binarymime);
  EXPECT_EQ(e.auth, (std::vector<std::string>{"LOGIN", "PLAIN", "CRAM-MD5"}));

  reply bare;
  bare.lines = {"mx.example.net"};
  const peer_extensions none = parse_ehlo(bare);
  EXPECT_FALSE(none.pipelining);
  EXPECT_FALSE(none.size);
  reply bad_size;
  bad_size.lines = {"mx", "SIZE lots"};
  EXPECT_TRUE(parse_ehlo(bad_size).size);
  EXPECT_EQ(parse_ehlo(bad_size).size_limit, 0u);
  // Found by fuzz_reply: a bare "AUTH=" names no mechanism, not an empty one.
  reply bare_auth;
  bare_auth.lines = {"mx", "AUTH=", "AUTH= PLAIN", "AUTH=LOGIN"};
  EXPECT_EQ(parse_ehlo(bare_auth).auth, (std::vector<std::string>{"PLAIN", "LOGIN"}));
}

// ---- data_encoder -------------------------------------------------------------------

std::string encode(std::string_view message, std::size_t cut) {
  data_encoder e;
  std::string out;
  for (const std::string_view piece : cut_pieces(message, cut)) {
    e.feed(piece, out);
  }
  e.finish(out);
  return out;
}

// Every CR is followed by LF and every LF preceded by CR; the end marker comes last.
void expect_wire_safe(const std::string& wire) {
  for (std::size_t i = 0; i < wire.size(); ++i) {
    if (wire[i] == '\r') {
      ASSERT_TRUE(i + 1 < wire.size() && wire[i + 1] == '\n') << "bare CR at " << i;
    }
    if (wire[i] == '\n') {
      ASSERT_TRUE(i > 0 && wire[i - 1] == '\r') << "bare LF at " << i;
    }
  }
  ASSERT_TRUE(wire.ends_with("\r\n.\r\n") || wire == ".\r\n");
  const std::size_t end = wire.find("\r\n.\r\n");
  ASSERT_EQ(end, wire.size() - 5 == std::string::npos ? end : end) << wire;
  EXPECT_TRUE(wire.find("\r\n.\r\n") == wire.size() - 5 || wire == ".\r\n")
      << "end of data before the end";
  EXPECT_FALSE(wire.starts_with(".\r\n") && wire.size() > 3);
}

TEST(DataEncoder, DotStuffingAndLineEnds) {
  const std::vector<std::pair<std::string_view, std::string_view>> cases = {
      {"", ".\r\n"},
      {"a", "a\r\n.\r\n"},
      {"a\r\n", "a\r\n.\r\n"},
      {".", "..\r\n.\r\n"},
      {".\r\n", "..\r\n.\r\n"},
      {"x\r\n.\r\ny\r\n", "x\r\n..\r\ny\r\n.\r\n"},
      {"..double\r\n", "...double\r\n.\r\n"},
      {"mid.dot\r\n .space\r\n", "mid.dot\r\n .space\r\n.\r\n"},
      {"bare\nlf\n.\n", "bare\r\nlf\r\n..\r\n.\r\n"},
      {"bare\rcr\r", "bare cr \r\n.\r\n"},
      {"cr\r\r\nheader", "cr \r\nheader\r\n.\r\n"},
      {"\r.\r\n", " .\r\n.\r\n"},
      {"\n.\n", "\r\n..\r\n.\r\n"},
      {"x\r\n\r\n", "x\r\n\r\n.\r\n"},
  };
  for (const auto& [in, want] : cases) {
    for (std::size_t cut = 0; cut <= 16; ++cut) {
      EXPECT_EQ(encode(in, cut), want)
          << "input " << testing::PrintToString(std::string(in)) << " cut " << cut;
    }
  }
}

// Undoes the encoder for a wire form (for the round-trip check).
std::string unstuff(std::string_view wire) {
  std::string out;
  wire.remove_suffix(3);  // ".\r\n"
  bool line_start = true;
  for (std::size_t i = 0; i < wire.size(); ++i) {
    if (line_start && wire[i] == '.') {
      line_start = false;
      continue;
    }
    out.push_back(wire[i]);
    line_start = wire[i] == '\n';
  }
  return out;
}

TEST(DataEncoder, RandomMessagesNeverPutBareCrOrLfOnTheWire) {
  std::mt19937 rng(20240611);
  const std::string alphabet = "\r\n.ab \x80";
  for (int round = 0; round < 2000; ++round) {
    std::string msg;
    const std::size_t n = rng() % 40;
    for (std::size_t i = 0; i < n; ++i) {
      msg.push_back(alphabet[rng() % alphabet.size()]);
    }
    const std::string wire = encode(msg, 0);
    expect_wire_safe(wire);
    EXPECT_EQ(encode(msg, 1), wire);
    EXPECT_EQ(encode(msg, 2 + rng() % (n + 1)), wire);
    // A CRLF message comes back unchanged (apart from a final line end).
    std::string crlf;
    for (const char c : msg) {
      if (c != '\r' && c != '\n') {
        crlf.push_back(c);
      } else if (c == '\n') {
        crlf += "\r\n";
      }
    }
    std::string back = unstuff(encode(crlf, 0));
    std::string want = crlf;
    if (!want.empty() && !want.ends_with("\r\n")) {
      want += "\r\n";
    }
    EXPECT_EQ(back, want);
  }
}

TEST(DataEncoder, ScanMessage) {
  EXPECT_FALSE(scan_message("Subject: x\r\n\r\nbody\r\n").eight_bit);
  message_traits t = scan_message(
      "Subject: x\r\n\r\nb\xc3\xa4"
      "dy\r\n");
  EXPECT_TRUE(t.eight_bit);
  EXPECT_FALSE(t.header_utf8);
  t = scan_message("Subject: \xc3\xa4\r\n\r\nbody\r\n");
  EXPECT_TRUE(t.eight_bit);
  EXPECT_TRUE(t.header_utf8);
  t = scan_message("Subject: x\n\nb\xc3\xa4");
  EXPECT_FALSE(t.header_utf8);
  t = scan_message("\r\n\xc3\xa4");
  EXPECT_FALSE(t.header_utf8);
  EXPECT_TRUE(t.eight_bit);
}

TEST(DataEncoder, LargeMessagesGoInBlocks) {
  std::string msg;
  for (int i = 0; i < 20000; ++i) {
    msg += (i % 7 == 0) ? ".line starting with a dot\r\n" : "an ordinary line of text\r\n";
  }
  client c("client.example.test", false);
  test::script s(c, 0);
  s.answer("220 mx\r\n");
  s.answer("250-mx\r\n250 PIPELINING\r\n");
  client_transaction t;
  t.sender = mail::address{"a", "example.test"};
  t.recipients.push_back(client_recipient{mail::address{"b", "example.net"}, 0, ""});
  t.message = msg;
  c.begin(t);
  s.written();
  client_action a = s.answer("250 ok\r\n250 ok\r\n354 go\r\n");
  EXPECT_EQ(a, client_action::Write);
  EXPECT_EQ(c.phase(), client_phase::DataBlock);  // RFC 5321 §4.5.3.2.5 per block
  std::size_t blocks = 0;
  const std::string wire = s.send_message(a, &blocks);
  EXPECT_GT(blocks, 5u);
  EXPECT_EQ(wire, encode(msg, 0));
  expect_wire_safe(wire);
  EXPECT_EQ(unstuff(wire), msg);
}

}  // namespace
}  // namespace posthorn::smtp
