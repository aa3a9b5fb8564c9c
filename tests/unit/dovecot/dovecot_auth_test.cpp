// The Dovecot auth protocol codec (auth/dovecot_auth.hpp): the handshake, replies to
// AUTH, escaping; every server text also fed in pieces at every offset.

#include "auth/dovecot_auth.hpp"

#include <gtest/gtest.h>

#include <string>

namespace posthorn::auth::dovecot {
namespace {

constexpr std::string_view k_handshake =
    "VERSION\t1\t2\nMECH\tPLAIN\tplaintext\nMECH\tLOGIN\tplaintext\nSPID\t4242\nCUID\t7\n"
    "COOKIE\t0123456789abcdef\nDONE\n";

// Feeds `text` split at `cut` (0 = whole) and collects the events.
std::vector<client_codec::event> run(client_codec& c, std::string_view text, std::size_t cut,
                                     std::string* error = nullptr) {
  std::vector<client_codec::event> out;
  std::vector<std::string_view> pieces;
  if (cut == 0 || cut >= text.size()) {
    pieces.push_back(text);
  } else {
    pieces.push_back(text.substr(0, cut));
    pieces.push_back(text.substr(cut));
  }
  for (std::string_view in : pieces) {
    while (!in.empty()) {
      auto e = c.feed(in);
      if (!e) {
        if (error != nullptr) {
          *error = e.error();
        }
        return out;
      }
      if (*e) {
        out.push_back(**e);
      }
    }
  }
  return out;
}

TEST(DovecotAuth, HandshakeThenOkAtEveryCut) {
  const std::string text = std::string(k_handshake) + "OK\t1\tuser=carol@example.test\n";
  for (std::size_t cut = 0; cut <= text.size(); ++cut) {
    SCOPED_TRACE(cut);
    client_codec c;
    auto ev = run(c, text, cut);
    ASSERT_EQ(ev.size(), 2u);
    EXPECT_EQ(ev[0].k, client_codec::event::kind::Ready);
    EXPECT_EQ(ev[1].k, client_codec::event::kind::Done);
    EXPECT_EQ(ev[1].id, 1u);
    EXPECT_EQ(ev[1].result.v, verdict::Ok);
    EXPECT_EQ(ev[1].result.user, "carol@example.test");
    EXPECT_EQ(c.mechanisms(), (std::vector<std::string>{"PLAIN", "LOGIN"}));
  }
}

TEST(DovecotAuth, FailAndTemporaryFail) {
  client_codec c;
  auto ev = run(c,
                std::string(k_handshake) +
                    "FAIL\t3\tuser=carol@example.test\treason=Password mismatch\n"
                    "FAIL\t4\ttemp\treason=passdb down\n",
                0);
  ASSERT_EQ(ev.size(), 3u);
  EXPECT_EQ(ev[1].id, 3u);
  EXPECT_EQ(ev[1].result.v, verdict::Fail);
  EXPECT_EQ(ev[1].result.reason, "Password mismatch");
  EXPECT_EQ(ev[2].id, 4u);
  EXPECT_EQ(ev[2].result.v, verdict::TempFail);
}

TEST(DovecotAuth, WrongMajorVersionAndNoPlainAreErrors) {
  std::string error;
  client_codec c1;
  run(c1, "VERSION\t2\t0\nMECH\tPLAIN\nDONE\n", 0, &error);
  EXPECT_NE(error.find("version"), std::string::npos) << error;
  error.clear();
  client_codec c2;
  auto ev = run(c2, "VERSION\t1\t2\nMECH\tCRAM-MD5\nDONE\n", 0, &error);
  EXPECT_TRUE(ev.empty());
  EXPECT_NE(error.find("PLAIN"), std::string::npos) << error;
}

TEST(DovecotAuth, OverlongLineIsAnError) {
  client_codec c;
  std::string error;
  run(c, std::string(k_max_line + 10, 'x'), 0, &error);
  EXPECT_FALSE(error.empty());
}

TEST(DovecotAuth, AuthPlainCarriesTheEscapedFieldsAndTheBase64Response) {
  request_info info;
  info.remote_ip = "127.0.0.1";
  info.secured = true;
  const secret line = client_codec::auth_plain(9, info, "carol@example.test", "pw");
  // base64("\0carol@example.test\0pw")
  EXPECT_EQ(line.view(),
            "AUTH\t9\tPLAIN\tservice=smtp\tsecured\trip=127.0.0.1\t"
            "resp=AGNhcm9sQGV4YW1wbGUudGVzdABwdw==\n");
  EXPECT_EQ(client_codec::hello(77), "VERSION\t1\t2\nCPID\t77\n");
}

TEST(DovecotAuth, EscapeRoundTrips) {
  const std::string raw = std::string("a\tb\nc\rd\001e");
  EXPECT_EQ(escape(raw), "a\001tb\001nc\001rd\0011e");
  EXPECT_EQ(unescape(escape(raw)), raw);
}

}  // namespace
}  // namespace posthorn::auth::dovecot
