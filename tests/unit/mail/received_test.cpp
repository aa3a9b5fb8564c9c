// The Received: field (RFC 5321 §4.4) and RFC 5322 §3.3 dates.

#include "mail/received.hpp"

#include <gtest/gtest.h>

#include <cstdlib>
#include <ctime>
#include <string>
#include <vector>

namespace posthorn::mail {
namespace {

constexpr std::int64_t k_when = 1795297860;  // Sat, 21 Nov 2026 21:51:00 UTC

class Received : public ::testing::Test {
 protected:
  void SetUp() override {
    ::setenv("TZ", "UTC", 1);
    ::tzset();
  }
};

received_info basic() {
  received_info i;
  i.from_helo = "client.example.test";
  i.client_name = "client.example.test";
  i.client_addr = "192.0.2.1";
  i.by_host = "mx.example.test";
  i.protocol = "ESMTP";
  i.queue_id = "4ABCDEF";
  i.for_rcpt = "alice@example.test";
  i.when = k_when;
  return i;
}

std::vector<std::string> lines_of(const std::string& field) {
  std::vector<std::string> out;
  std::size_t start = 0;
  while (start < field.size()) {
    const std::size_t end = field.find("\r\n", start);
    EXPECT_NE(end, std::string::npos) << "field must end with CRLF";
    if (end == std::string::npos) {
      break;
    }
    out.push_back(field.substr(start, end - start));
    start = end + 2;
  }
  return out;
}

std::size_t columns(const std::string& line) {
  std::size_t col = 0;
  for (const char c : line) {
    col = c == '\t' ? (col / 8 + 1) * 8 : col + 1;
  }
  return col;
}

// Checks the folding rules and returns the field unfolded onto one line.
std::string check_and_unfold(const std::string& field) {
  EXPECT_TRUE(field.ends_with("\r\n"));
  const auto lines = lines_of(field);
  std::string flat;
  for (std::size_t i = 0; i < lines.size(); ++i) {
    const std::string& l = lines[i];
    EXPECT_EQ(l.find_first_of("\r\n"), std::string::npos);
    if (i > 0) {
      EXPECT_TRUE(l.starts_with("\t")) << l;
      EXPECT_GT(l.size(), 1u) << "a folded line must not be blank";
      flat += " " + l.substr(1);
    } else {
      EXPECT_TRUE(l.starts_with("Received: ")) << l;
      flat += l;
    }
  }
  return flat;
}

TEST_F(Received, Date) {
  EXPECT_EQ(rfc5322_date(0, 0), "Thu, 1 Jan 1970 00:00:00 +0000");
  EXPECT_EQ(rfc5322_date(k_when, 0), "Sat, 21 Nov 2026 21:51:00 +0000");
  EXPECT_EQ(rfc5322_date(k_when, 3600), "Sat, 21 Nov 2026 22:51:00 +0100");
  EXPECT_EQ(rfc5322_date(k_when, -(5 * 3600 + 1800)), "Sat, 21 Nov 2026 16:21:00 -0530");
  EXPECT_EQ(rfc5322_date(k_when, 3 * 3600), "Sun, 22 Nov 2026 00:51:00 +0300");
  EXPECT_EQ(rfc5322_date(951782400, 0), "Tue, 29 Feb 2000 00:00:00 +0000");
  EXPECT_EQ(rfc5322_date(k_when), "Sat, 21 Nov 2026 21:51:00 +0000");
}

TEST_F(Received, DateInLocalZone) {
  ::setenv("TZ", "CET-1CEST,M3.5.0,M10.5.0/3", 1);
  ::tzset();
  EXPECT_EQ(rfc5322_date(k_when), "Sat, 21 Nov 2026 22:51:00 +0100");
  EXPECT_EQ(rfc5322_date(1783000000), "Thu, 2 Jul 2026 15:46:40 +0200");
}

TEST_F(Received, Basic) {
  EXPECT_EQ(received_header(basic()),
            "Received: from client.example.test (client.example.test [192.0.2.1])\r\n"
            "\tby mx.example.test (posthorn) with ESMTP id 4ABCDEF\r\n"
            "\tfor <alice@example.test>; Sat, 21 Nov 2026 21:51:00 +0000\r\n");
}

TEST_F(Received, WithoutRecipientOrName) {
  auto i = basic();
  i.for_rcpt.clear();
  i.client_name.clear();
  EXPECT_EQ(received_header(i),
            "Received: from client.example.test (unknown [192.0.2.1])\r\n"
            "\tby mx.example.test (posthorn) with ESMTP id 4ABCDEF;\r\n"
            "\tSat, 21 Nov 2026 21:51:00 +0000\r\n");
}

TEST_F(Received, TlsAndIpv6) {
  auto i = basic();
  i.client_addr = "2001:db8::25";
  i.protocol = "ESMTPS";
  i.tls_info = "(using TLSv1.3 with cipher TLS_AES_256_GCM_SHA384)";
  EXPECT_EQ(received_header(i),
            "Received: from client.example.test (client.example.test [IPv6:2001:db8::25])\r\n"
            "\t(using TLSv1.3 with cipher TLS_AES_256_GCM_SHA384)\r\n"
            "\tby mx.example.test (posthorn) with ESMTPS id 4ABCDEF\r\n"
            "\tfor <alice@example.test>; Sat, 21 Nov 2026 21:51:00 +0000\r\n");
}

TEST_F(Received, LocalSubmissionHasNoFromClause) {
  received_info i;
  i.by_host = "mx.example.test";
  i.protocol = "local";
  i.queue_id = "Q1";
  i.when = k_when;
  EXPECT_EQ(received_header(i),
            "Received: by mx.example.test (posthorn) with local id Q1;\r\n"
            "\tSat, 21 Nov 2026 21:51:00 +0000\r\n");
}

TEST_F(Received, FoldsLongLines) {
  auto i = basic();
  i.from_helo = "a-rather-long-client-host-name.subdomain.example.test";
  i.client_name = "another-quite-long-reverse-name.isp.example.test";
  i.for_rcpt = "a.very.long.recipient.local.part@a.long.domain.name.example.test";
  i.tls_info =
      "(using TLSv1.3 with cipher TLS_AES_256_GCM_SHA384 (256/256 bits) key-exchange X25519 "
      "server-signature RSA-PSS (2048 bits) server-digest SHA256)";
  const std::string field = received_header(i);
  for (const auto& l : lines_of(field)) {
    EXPECT_LE(columns(l), 78u) << l;
  }
  EXPECT_EQ(check_and_unfold(field),
            "Received: from a-rather-long-client-host-name.subdomain.example.test "
            "(another-quite-long-reverse-name.isp.example.test [192.0.2.1]) " +
                i.tls_info +
                " by mx.example.test (posthorn) with ESMTP id 4ABCDEF for "
                "<a.very.long.recipient.local.part@a.long.domain.name.example.test>; Sat, 21 "
                "Nov 2026 21:51:00 +0000");
}

TEST_F(Received, OverlongWordStaysWhole) {
  auto i = basic();
  i.from_helo = std::string(100, 'h') + ".test";
  const std::string field = received_header(i);
  const std::string flat = check_and_unfold(field);
  EXPECT_NE(flat.find(i.from_helo), std::string::npos);
}

TEST_F(Received, ClientTextIsMadeSafe) {
  auto i = basic();
  i.from_helo = "evil\r\nX-Injected: yes (a;b)";
  i.client_name = "name(with)\\parens";
  i.for_rcpt = "\"john doe\"@example.test";
  const std::string field = received_header(i);
  const std::string flat = check_and_unfold(field);
  EXPECT_EQ(flat.find("X-Injected: "), std::string::npos);
  EXPECT_NE(flat.find("from evil??X-Injected:?yes??a?b? "), std::string::npos) << flat;
  EXPECT_NE(flat.find("(name\\(with\\)\\\\parens [192.0.2.1])"), std::string::npos) << flat;
  EXPECT_NE(flat.find("for <\"john doe\"@example.test>;"), std::string::npos) << flat;

  i = basic();
  i.from_helo = "h\xc3\xa9lo.test";
  EXPECT_NE(received_header(i).find("from h??lo.test "), std::string::npos);
  i.protocol = "UTF8SMTP";
  EXPECT_NE(received_header(i).find("from h\xc3\xa9lo.test "), std::string::npos);
}

TEST(IsReceivedHeaderLine, Names) {
  EXPECT_TRUE(is_received_header_line("Received: from x"));
  EXPECT_TRUE(is_received_header_line("received:from x"));
  EXPECT_TRUE(is_received_header_line("RECEIVED \t: x"));
  EXPECT_FALSE(is_received_header_line("Received-SPF: pass"));
  EXPECT_FALSE(is_received_header_line("X-Received: from x"));
  EXPECT_FALSE(is_received_header_line("Received"));
  EXPECT_FALSE(is_received_header_line("\tReceived: continuation"));
  EXPECT_FALSE(is_received_header_line(""));
}

}  // namespace
}  // namespace posthorn::mail
