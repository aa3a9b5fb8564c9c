// RFC 6857 downgrading of header sections, with vectors worked out from the RFC's rules
// (base64 of the UTF-8 text, RFC 2047 §4.1; RFC 2231 §4 percent-encoding; IDNA A-labels).

#include "mail/downgrade.hpp"

#include <gtest/gtest.h>

#include <string>

namespace posthorn::mail {
namespace {

void expect_ascii_lines(const std::string& out) {
  std::size_t line = 0;
  for (std::size_t i = 0; i < out.size(); ++i) {
    EXPECT_EQ(static_cast<unsigned char>(out[i]) & 0x80, 0) << "octet " << i << " of " << out;
    if (out[i] == '\n') {
      EXPECT_TRUE(i > 0 && out[i - 1] == '\r') << "bare LF at " << i;
      line = 0;
    } else if (out[i] != '\r') {
      ++line;
    }
  }
  EXPECT_TRUE(out.empty() || out.ends_with("\r\n")) << out;
}

std::string down(std::string_view header) {
  std::string out = downgrade_header(header);
  expect_ascii_lines(out);
  return out;
}

TEST(Downgrade, AsciiFieldsAreKeptByteForByte) {
  const std::string h =
      "Received: from a.example.net\r\n\tby b.example.net; Thu, 1 Jan 2026 00:00:00 +0000\r\n"
      "From: Alice <alice@example.test>\r\nSubject: plain\r\n";
  EXPECT_EQ(down(h), h);
}

TEST(Downgrade, UnstructuredSubjectBecomesEncodedWords) {
  EXPECT_EQ(down("Subject: Grüße aus Köln\r\n"),
            "Subject: =?UTF-8?B?R3LDvMOfZSBhdXMgS8O2bG4=?=\r\n");
  // ASCII words before and after the UTF-8 stretch stay readable.
  EXPECT_EQ(down("Subject: Re: Grüße [list]\r\n"),
            "Subject: Re: =?UTF-8?B?R3LDvMOfZQ==?= [list]\r\n");
  // Folded input is unfolded first.
  EXPECT_EQ(down("Subject: Grüße\r\n aus Köln\r\n"),
            "Subject: =?UTF-8?B?R3LDvMOfZSBhdXMgS8O2bG4=?=\r\n");
}

TEST(Downgrade, LongTextIsSplitIntoWordsOfAtMost75AndFolded) {
  std::string text;
  for (int i = 0; i < 40; ++i) {
    text += "äöü ";
  }
  const std::string out = down("Subject: " + text + "\r\n");
  std::size_t start = 0;
  while (start < out.size()) {
    const std::size_t end = out.find("\r\n", start);
    ASSERT_NE(end, std::string::npos);
    EXPECT_LE(end - start, 78u) << out.substr(start, end - start);
    start = end + 2;
  }
  for (std::size_t at = out.find("=?"); at != std::string::npos; at = out.find("=?", at + 2)) {
    const std::size_t close = out.find("?=", at + 10);
    ASSERT_NE(close, std::string::npos);
    EXPECT_LE(close + 2 - at, 75u);
    at = close;
  }
  EXPECT_EQ(encode_words("ä"), "=?UTF-8?B?w6Q=?=");
  // A character is never cut between two words: a word holds 39 octets, so the split
  // falls after 19 two-octet characters (38 octets).
  std::string e23;
  for (int i = 0; i < 23; ++i) {
    e23 += "é";
  }
  const std::string word = encode_words(e23);
  EXPECT_EQ(word.find(' '), 64u) << word;  // "=?UTF-8?B?" + base64 of 38 octets + "?="
}

TEST(Downgrade, DisplayNamesAndDomainsOfAddressFields) {
  EXPECT_EQ(down("From: Jörg Müller <joerg@example.test>\r\n"),
            "From: =?UTF-8?B?SsO2cmcgTcO8bGxlcg==?= <joerg@example.test>\r\n");
  EXPECT_EQ(down("From: \"Jörg Müller\" <joerg@example.test>\r\n"),
            "From: =?UTF-8?B?SsO2cmcgTcO8bGxlcg==?= <joerg@example.test>\r\n");
  EXPECT_EQ(down("To: bob@bücher.example, Carol <carol@example.test>\r\n"),
            "To: bob@xn--bcher-kva.example, Carol <carol@example.test>\r\n");
  EXPECT_EQ(down("Cc: Jörg Müller <joerg@bücher.example>\r\n"),
            "Cc: =?UTF-8?B?SsO2cmcgTcO8bGxlcg==?= <joerg@xn--bcher-kva.example>\r\n");
}

TEST(Downgrade, MailboxWithUtf8LocalPartBecomesAnEmptyGroup) {
  EXPECT_EQ(down("From: Ü <ü@example.test>\r\n"),
            "From: =?UTF-8?B?w5wgPMO8QGV4YW1wbGUudGVzdD4=?= :;\r\n");
  EXPECT_EQ(down("To: a@example.test, <ü@example.test>\r\n"),
            "To: a@example.test, =?UTF-8?B?PMO8QGV4YW1wbGUudGVzdD4=?= :;\r\n");
  // Groups do not nest: inside one, the member is kept as an encoded comment.
  EXPECT_EQ(down("To: team: a@b.test, ü@c.test;\r\n"),
            "To: team: a@b.test, (=?UTF-8?B?w7xAYy50ZXN0?=);\r\n");
  EXPECT_EQ(down("To: Grüße: a@b.test;\r\n"), "To: =?UTF-8?B?R3LDvMOfZQ==?=: a@b.test;\r\n");
}

TEST(Downgrade, MessageIdsAreRenamed) {
  EXPECT_EQ(down("Message-ID: <ü@example.test>\r\n"),
            "Downgraded-Message-Id: =?UTF-8?B?PMO8QGV4YW1wbGUudGVzdD4=?=\r\n");
  EXPECT_EQ(down("In-Reply-To: <ü@example.test>\r\nReferences: <ü@example.test>\r\n"),
            "Downgraded-In-Reply-To: =?UTF-8?B?PMO8QGV4YW1wbGUudGVzdD4=?=\r\n"
            "Downgraded-References: =?UTF-8?B?PMO8QGV4YW1wbGUudGVzdD4=?=\r\n");
}

TEST(Downgrade, ReceivedLosesUtf8ForClauseAndCommentsAndGetsALabels) {
  EXPECT_EQ(down("Received: from a.example (Grüße) by mx.bücher.example with ESMTP id 1\r\n"
                 "\tfor <ü@x.test>; Thu, 1 Jan 2026 00:00:00 +0000\r\n"),
            "Received: from a.example by mx.xn--bcher-kva.example with ESMTP id 1; Thu, 1\r\n"
            " Jan 2026 00:00:00 +0000\r\n");
}

TEST(Downgrade, MimeParametersUseRfc2231) {
  EXPECT_EQ(down("Content-Type: application/pdf; name=\"résumé.pdf\"\r\n"),
            "Content-Type: application/pdf; name*=utf-8''r%C3%A9sum%C3%A9.pdf\r\n");
  EXPECT_EQ(down("Content-Disposition: attachment; filename=\"ü ä.txt\"\r\n"),
            "Content-Disposition: attachment; filename*=utf-8''%C3%BC%20%C3%A4.txt\r\n");
  // Long values are continued (RFC 2231 §3).
  std::string name;
  for (int i = 0; i < 30; ++i) {
    name += "é";
  }
  const std::string out = down("Content-Type: text/plain; name=\"" + name + "\"\r\n");
  EXPECT_NE(out.find("name*0*=utf-8''%C3%A9"), std::string::npos) << out;
  EXPECT_NE(out.find("name*1*=%C3%A9"), std::string::npos) << out;
}

TEST(Downgrade, OtherFieldsAreRenamedAndReturnPathDropped) {
  EXPECT_EQ(down("X-Foo: ä\r\nReturn-Path: <ü@example.test>\r\nSubject: x\r\n"),
            "Downgraded-X-Foo: =?UTF-8?B?w6Q=?=\r\nSubject: x\r\n");
}

TEST(Downgrade, LineEndsAndHeaderEnd) {
  EXPECT_EQ(down("Subject: ä\nTo: a@b.test\n"), "Subject: =?UTF-8?B?w6Q=?=\r\nTo: a@b.test\r\n");
  EXPECT_EQ(header_section_end("A: b\r\nC: d\r\n\r\nbody\r\n"), 12u);
  EXPECT_EQ(header_section_end("A: b\n\nbody\n"), 5u);
  EXPECT_EQ(header_section_end("\r\nbody"), 0u);
  EXPECT_EQ(header_section_end("A: b\r\n"), 6u);
}

// Bad input never crashes and never leaves a non-ASCII octet or a bare line end: random
// header sections built from the characters the parsers care about.
TEST(Downgrade, RandomHeadersComeOutAscii) {
  static constexpr std::string_view k_alphabet[] = {"a",
                                                    "Z",
                                                    "0",
                                                    " ",
                                                    "\t",
                                                    ":",
                                                    ";",
                                                    ",",
                                                    "@",
                                                    "<",
                                                    ">",
                                                    "(",
                                                    ")",
                                                    "\"",
                                                    "\\",
                                                    "=",
                                                    "*",
                                                    "'",
                                                    "%",
                                                    ".",
                                                    "\r\n",
                                                    "\n",
                                                    "\r\n ",
                                                    "\xc3\xbc",
                                                    "\xc3",
                                                    "\xbc",
                                                    "\xff",
                                                    "\xe2\x82\xac",
                                                    "From: ",
                                                    "To: ",
                                                    "Subject: ",
                                                    "Received: ",
                                                    "Content-Type: ",
                                                    "Message-ID: ",
                                                    "X-A: "};
  std::uint64_t state = 0x9e3779b97f4a7c15ULL;
  const auto next = [&state] {
    state ^= state << 13;
    state ^= state >> 7;
    state ^= state << 17;
    return state;
  };
  for (int round = 0; round < 5000; ++round) {
    std::string h;
    const std::size_t n = next() % 60;
    for (std::size_t i = 0; i < n; ++i) {
      h += k_alphabet[next() % std::size(k_alphabet)];
    }
    SCOPED_TRACE(h);
    down(h);
    if (::testing::Test::HasFailure()) {
      return;
    }
  }
}

}  // namespace
}  // namespace posthorn::mail
