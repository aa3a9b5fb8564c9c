// Delivery status notifications: RFC 3464 fields in an RFC 6522 multipart/report, RFC 6533 for
// SMTPUTF8 mail, RFC 3461 NOTIFY rules, and Python's email package as an independent reader.

#include <gtest/gtest.h>
#include <unistd.h>

#include <cstdlib>
#include <fstream>
#include <string>
#include <string_view>
#include <vector>

#include "queue/bounce.hpp"

namespace posthorn::queue {
namespace {

using mail::address;

constexpr std::int64_t k_now = 1795297860;      // Sat, 21 Nov 2026 21:51:00 UTC
constexpr std::int64_t k_arrival = 1795290000;  // Sat, 21 Nov 2026 19:40:00 UTC

const std::string k_message =
    "Received: from client.example.test by mx.example.test; Sat, 21 Nov 2026 19:40:00 +0000\r\n"
    "From: Alice <alice@example.test>\r\n"
    "To: bob@remote.test\r\n"
    "Subject: lunch\r\n"
    "Message-ID: <lunch.42@example.test>\r\n"
    "\r\n"
    "Shall we meet at noon?\r\n"
    "BODY-MARKER\r\n";

// A parsed MIME entity: header block (with CRLFs) and body.
struct entity {
  std::string headers;
  std::string body;
};

entity split_entity(std::string_view text) {
  const std::size_t blank = text.find("\r\n\r\n");
  if (blank == std::string_view::npos) {
    return {std::string(text), ""};
  }
  return {std::string(text.substr(0, blank + 2)), std::string(text.substr(blank + 4))};
}

// The value of the first field `name` in a header block (unfolded), "" when missing.
std::string field(std::string_view headers, std::string_view name) {
  const std::string needle = std::string(name) + ":";
  std::size_t pos = 0;
  while (pos < headers.size()) {
    const std::size_t end = headers.find("\r\n", pos);
    const std::string_view line = headers.substr(pos, end - pos);
    if (line.starts_with(needle)) {
      std::string value(line.substr(needle.size()));
      std::size_t next = end + 2;
      while (next < headers.size() && (headers[next] == ' ' || headers[next] == '\t')) {
        const std::size_t e = headers.find("\r\n", next);
        value += headers.substr(next, e - next);
        next = e + 2;
      }
      const std::size_t first = value.find_first_not_of(" \t");
      return first == std::string::npos ? "" : value.substr(first);
    }
    if (end == std::string_view::npos) {
      break;
    }
    pos = end + 2;
  }
  return "";
}

std::string boundary_of(const std::string& headers) {
  const std::string ct = field(headers, "Content-Type");
  const std::size_t b = ct.find("boundary=\"");
  if (b == std::string::npos) {
    return "";
  }
  const std::size_t start = b + 10;
  return ct.substr(start, ct.find('"', start) - start);
}

struct report {
  entity top;
  std::string boundary;
  std::vector<entity> parts;
};

report parse(const std::string& dsn) {
  report r;
  r.top = split_entity(dsn);
  r.boundary = boundary_of(r.top.headers);
  const std::string delimiter = "\r\n--" + r.boundary;
  std::string body = "\r\n" + r.top.body;
  std::size_t pos = body.find(delimiter);
  while (pos != std::string::npos) {
    const std::size_t start = pos + delimiter.size();
    if (body.compare(start, 2, "--") == 0) {
      EXPECT_EQ(body.substr(start), "--\r\n") << "close delimiter ends the message";
      break;
    }
    EXPECT_EQ(body.compare(start, 2, "\r\n"), 0);
    const std::size_t next = body.find(delimiter, start);
    EXPECT_NE(next, std::string::npos) << "every part is followed by a delimiter";
    if (next == std::string::npos) {
      break;
    }
    r.parts.push_back(split_entity(std::string_view(body).substr(start + 2, next - start - 2)));
    pos = next;
  }
  return r;
}

// The field groups of a delivery-status body: per-message first, then one per recipient.
std::vector<std::string> groups(const std::string& body) {
  std::vector<std::string> out;
  std::size_t pos = 0;
  while (pos < body.size()) {
    std::size_t end = body.find("\r\n\r\n", pos);
    if (end == std::string::npos) {
      out.push_back(body.substr(pos));
      break;
    }
    out.push_back(body.substr(pos, end + 2 - pos));
    pos = end + 4;
  }
  return out;
}

std::vector<std::string> lines_of(const std::string& text) {
  std::vector<std::string> out;
  std::size_t pos = 0;
  while (pos < text.size()) {
    const std::size_t end = text.find("\r\n", pos);
    if (end == std::string::npos) {
      out.push_back(text.substr(pos));
      break;
    }
    out.push_back(text.substr(pos, end - pos));
    pos = end + 2;
  }
  return out;
}

void expect_well_formed_lines(const std::string& dsn) {
  ASSERT_TRUE(dsn.ends_with("\r\n"));
  for (std::size_t i = 0; i < dsn.size(); ++i) {
    if (dsn[i] == '\n') {
      ASSERT_TRUE(i > 0 && dsn[i - 1] == '\r') << "bare LF at " << i;
    }
    if (dsn[i] == '\r') {
      ASSERT_TRUE(i + 1 < dsn.size() && dsn[i + 1] == '\n') << "bare CR at " << i;
    }
  }
  for (const std::string& l : lines_of(dsn)) {
    EXPECT_LE(l.size(), 998u) << l.substr(0, 60);
  }
}

class Dsn : public ::testing::Test {
 protected:
  void SetUp() override {
    ::setenv("TZ", "UTC", 1);
    ::tzset();
  }

  static dsn_request failure() {
    dsn_request req;
    req.reporting_mta = "mx.example.test";
    req.kind = dsn_kind::Failure;
    req.original.id = "4ABCDEF";
    req.original.sender = address{"alice", "example.test"};
    req.original.arrival = k_arrival;
    req.original.helo = "client.example.test";
    req.original.protocol = "ESMTP";
    dsn_recipient r;
    r.final_recipient = address{"bob", "remote.test"};
    r.action = dsn_action::Failed;
    r.status = "5.1.1";
    r.remote_mta = "dns; mx1.remote.test";
    r.diagnostic = "smtp; 550 5.1.1 <bob@remote.test>: user unknown";
    r.last_attempt = k_now - 60;
    req.recipients.push_back(r);
    req.message = k_message;
    req.unique = "4ABCDEF.1";
    req.now = k_now;
    req.utc_offset = 0;
    return req;
  }
};

TEST_F(Dsn, FailureHasTheHeadersOfAnAutomaticReply) {
  const std::string dsn = build_dsn(failure());
  expect_well_formed_lines(dsn);
  const report r = parse(dsn);
  const std::string& h = r.top.headers;
  EXPECT_EQ(field(h, "From"), "Mail Delivery System <MAILER-DAEMON@mx.example.test>");
  EXPECT_EQ(field(h, "To"), "<alice@example.test>");
  EXPECT_EQ(field(h, "Subject"), "Undelivered Mail Returned to Sender");
  EXPECT_EQ(field(h, "Date"), "Sat, 21 Nov 2026 21:51:00 +0000");
  EXPECT_EQ(field(h, "Message-ID"), "<4ABCDEF-1.1795297860@mx.example.test>");
  EXPECT_EQ(field(h, "In-Reply-To"), "<lunch.42@example.test>");
  EXPECT_EQ(field(h, "References"), "<lunch.42@example.test>");
  EXPECT_EQ(field(h, "Auto-Submitted"), "auto-replied");
  EXPECT_EQ(field(h, "MIME-Version"), "1.0");
  EXPECT_TRUE(field(h, "Content-Type")
                  .starts_with("multipart/report; report-type=delivery-status;\tboundary=\""));
  EXPECT_EQ(field(h, "Content-Transfer-Encoding"), "7bit");
}

TEST_F(Dsn, BoundaryIsWellFormedAndAbsentFromEveryPart) {
  const std::string dsn = build_dsn(failure());
  const report r = parse(dsn);
  ASSERT_FALSE(r.boundary.empty());
  EXPECT_LE(r.boundary.size(), 70u);  // RFC 2046 §5.1.1
  for (const char c : r.boundary) {
    EXPECT_TRUE(std::isalnum(static_cast<unsigned char>(c)) ||
                std::string_view("'()+_,-./:=?").find(c) != std::string_view::npos)
        << "not a bchar: " << c;
  }
  ASSERT_EQ(r.parts.size(), 3u);
  for (const entity& p : r.parts) {
    EXPECT_EQ(p.headers.find(r.boundary), std::string::npos);
    EXPECT_EQ(p.body.find(r.boundary), std::string::npos);
  }
}

TEST_F(Dsn, BoundaryChangesWhenTheContentHoldsIt) {
  dsn_request req = failure();
  const std::string first = parse(build_dsn(req)).boundary;
  const std::string tricky = k_message + "--" + first + "\r\n" + first + "--\r\n";
  req.message = tricky;
  const std::string dsn = build_dsn(req);
  const report r = parse(dsn);
  EXPECT_NE(r.boundary, first);
  ASSERT_EQ(r.parts.size(), 3u);
  EXPECT_NE(r.parts[2].body.find(first), std::string::npos) << "returned message intact";
  for (const entity& p : r.parts) {
    EXPECT_EQ(p.body.find(r.boundary), std::string::npos);
  }
}

TEST_F(Dsn, PartsHaveTheReportTypes) {
  const report r = parse(build_dsn(failure()));
  ASSERT_EQ(r.parts.size(), 3u);
  EXPECT_EQ(field(r.parts[0].headers, "Content-Type"), "text/plain; charset=us-ascii");
  EXPECT_EQ(field(r.parts[1].headers, "Content-Type"), "message/delivery-status");
  EXPECT_EQ(field(r.parts[2].headers, "Content-Type"), "message/rfc822");
  EXPECT_NE(r.parts[0].body.find("<bob@remote.test>: failed (5.1.1)"), std::string::npos);
  EXPECT_NE(r.parts[0].body.find("user unknown"), std::string::npos);
  EXPECT_NE(r.parts[0].body.find("mx1.remote.test"), std::string::npos);
  EXPECT_EQ(r.parts[2].body, k_message);
}

TEST_F(Dsn, DeliveryStatusHasPerMessageAndPerRecipientFields) {
  dsn_request req = failure();
  req.original.envid = "QQ314159";
  dsn_recipient second;
  second.final_recipient = address{"carol", "remote.test"};
  second.original_recipient = "rfc822;carol+2Blist@remote.test";
  second.action = dsn_action::Failed;
  second.status = "5.2.2";
  second.diagnostic = "552 5.2.2 mailbox full";
  req.recipients.push_back(second);

  const report r = parse(build_dsn(req));
  ASSERT_EQ(r.parts.size(), 3u);
  const auto g = groups(r.parts[1].body);
  ASSERT_EQ(g.size(), 3u);
  EXPECT_EQ(field(g[0], "Original-Envelope-Id"), "QQ314159");
  EXPECT_EQ(field(g[0], "Reporting-MTA"), "dns; mx.example.test");
  EXPECT_EQ(field(g[0], "Received-From-MTA"), "dns; client.example.test");
  EXPECT_EQ(field(g[0], "Arrival-Date"), "Sat, 21 Nov 2026 19:40:00 +0000");

  EXPECT_EQ(field(g[1], "Original-Recipient"), "") << "no ORCPT, no Original-Recipient";
  EXPECT_EQ(field(g[1], "Final-Recipient"), "rfc822; bob@remote.test");
  EXPECT_EQ(field(g[1], "Action"), "failed");
  EXPECT_EQ(field(g[1], "Status"), "5.1.1");
  EXPECT_EQ(field(g[1], "Remote-MTA"), "dns; mx1.remote.test");
  EXPECT_EQ(field(g[1], "Diagnostic-Code"), "smtp; 550 5.1.1 <bob@remote.test>: user unknown");
  EXPECT_EQ(field(g[1], "Last-Attempt-Date"), "Sat, 21 Nov 2026 21:50:00 +0000");
  EXPECT_EQ(field(g[1], "Will-Retry-Until"), "");

  EXPECT_EQ(field(g[2], "Original-Recipient"), "rfc822; carol+list@remote.test");
  EXPECT_EQ(field(g[2], "Final-Recipient"), "rfc822; carol@remote.test");
  EXPECT_EQ(field(g[2], "Status"), "5.2.2");
  EXPECT_EQ(field(g[2], "Remote-MTA"), "");
  EXPECT_EQ(field(g[2], "Diagnostic-Code"), "smtp; 552 5.2.2 mailbox full");

  // RFC 3464 §2.3: Final-Recipient, Action and Status are required; Original-Recipient first.
  EXPECT_TRUE(g[2].starts_with("Original-Recipient:"));
  EXPECT_LT(g[1].find("Final-Recipient:"), g[1].find("Action:"));
  EXPECT_LT(g[1].find("Action:"), g[1].find("Status:"));
}

TEST_F(Dsn, WithoutEnvidThereIsNoOriginalEnvelopeId) {
  const report r = parse(build_dsn(failure()));
  EXPECT_EQ(r.parts[1].body.find("Original-Envelope-Id"), std::string::npos);
  EXPECT_TRUE(r.parts[1].body.starts_with("Reporting-MTA: dns; mx.example.test\r\n"));
}

TEST_F(Dsn, AStatusThatDoesNotFitTheActionIsReplaced) {
  dsn_request req = failure();
  req.recipients[0].status = "2.0.0";
  req.recipients.push_back(req.recipients[0]);
  req.recipients[1].status = "banana";
  req.recipients.push_back(req.recipients[0]);
  req.recipients[2].status = "4.4.7";
  const auto g = groups(parse(build_dsn(req)).parts[1].body);
  ASSERT_EQ(g.size(), 4u);
  EXPECT_EQ(field(g[1], "Status"), "5.0.0");
  EXPECT_EQ(field(g[2], "Status"), "5.0.0");
  EXPECT_EQ(field(g[3], "Status"), "4.4.7") << "lifetime expired is a failure (DESIGN.md §4.2)";
}

TEST_F(Dsn, RetHdrsReturnsOnlyTheHeaders) {
  dsn_request req = failure();
  req.original.ret = queue::dsn_ret::Hdrs;
  EXPECT_EQ(returned_content(req), dsn_content::Headers);
  const report r = parse(build_dsn(req));
  ASSERT_EQ(r.parts.size(), 3u);
  EXPECT_EQ(field(r.parts[2].headers, "Content-Type"), "text/rfc822-headers");
  EXPECT_NE(r.parts[2].body.find("Subject: lunch\r\n"), std::string::npos);
  EXPECT_NE(r.parts[2].body.find("Message-ID: <lunch.42@example.test>\r\n"), std::string::npos);
  EXPECT_EQ(r.parts[2].body.find("BODY-MARKER"), std::string::npos);
  EXPECT_EQ(r.parts[2].body.find("noon"), std::string::npos);
}

TEST_F(Dsn, RetFullAndUnsetReturnTheWholeMessage) {
  dsn_request req = failure();
  EXPECT_EQ(returned_content(req), dsn_content::Full);
  req.original.ret = queue::dsn_ret::Full;
  EXPECT_EQ(returned_content(req), dsn_content::Full);
  const report r = parse(build_dsn(req));
  EXPECT_NE(r.parts[2].body.find("BODY-MARKER"), std::string::npos);
}

TEST_F(Dsn, ALargeMessageReturnsOnlyItsHeaders) {
  dsn_request req = failure();
  req.original.ret = queue::dsn_ret::Full;
  req.return_limit = k_message.size() - 1;
  EXPECT_EQ(returned_content(req), dsn_content::Headers);
  req.return_limit = k_message.size();
  EXPECT_EQ(returned_content(req), dsn_content::Full) << "exactly the limit is returned";
  EXPECT_EQ(k_default_return_limit, 100'000u);
}

TEST_F(Dsn, AMessageThatCannotTravelAsMimeReturnsOnlyItsHeaders) {
  dsn_request req = failure();
  const std::string long_line = k_message + std::string(1200, 'x') + "\r\n";
  req.message = long_line;
  EXPECT_EQ(returned_content(req), dsn_content::Headers);
  const std::string with_nul = k_message + std::string("a\0b\r\n", 5);
  req.message = with_nul;
  EXPECT_EQ(returned_content(req), dsn_content::Headers);
  expect_well_formed_lines(build_dsn(req));
}

TEST_F(Dsn, ReportsOtherThanFailuresReturnOnlyHeaders) {
  for (const dsn_kind k :
       {dsn_kind::Delay, dsn_kind::Delivered, dsn_kind::Relayed, dsn_kind::Expanded}) {
    dsn_request req = failure();
    req.kind = k;
    req.original.ret = queue::dsn_ret::Full;
    req.recipients[0].action = action_for(k);
    req.recipients[0].status = "";
    EXPECT_EQ(returned_content(req), dsn_content::Headers);
    const report r = parse(build_dsn(req));
    ASSERT_EQ(r.parts.size(), 3u);
    EXPECT_EQ(field(r.parts[2].headers, "Content-Type"), "text/rfc822-headers");
    EXPECT_EQ(field(groups(r.parts[1].body)[1], "Action"), action_name(action_for(k)));
  }
}

TEST_F(Dsn, WithoutTheMessageThereAreTwoParts) {
  dsn_request req = failure();
  req.message = {};
  EXPECT_EQ(returned_content(req), dsn_content::None);
  const report r = parse(build_dsn(req));
  ASSERT_EQ(r.parts.size(), 2u);
  EXPECT_EQ(field(r.top.headers, "In-Reply-To"), "");
}

TEST_F(Dsn, SubjectsByKind) {
  const std::vector<std::pair<dsn_kind, std::string>> cases = {
      {dsn_kind::Failure, "Undelivered Mail Returned to Sender"},
      {dsn_kind::Delay, "Delayed Mail (still being retried)"},
      {dsn_kind::Delivered, "Successful Mail Delivery Report"},
      {dsn_kind::Relayed, "Relayed Mail Delivery Report"},
      {dsn_kind::Expanded, "Expanded Mail Delivery Report"},
  };
  for (const auto& [kind, subject] : cases) {
    dsn_request req = failure();
    req.kind = kind;
    EXPECT_EQ(field(split_entity(build_dsn(req)).headers, "Subject"), subject);
  }
}

TEST_F(Dsn, DelayCarriesWillRetryUntil) {
  dsn_request req = failure();
  req.kind = dsn_kind::Delay;
  req.recipients[0].action = dsn_action::Delayed;
  req.recipients[0].status = "4.4.1";
  req.recipients[0].diagnostic = "smtp; 451 4.4.1 connection timed out";
  req.recipients[0].will_retry_until = k_arrival + 5 * 86400;
  const report r = parse(build_dsn(req));
  const auto g = groups(r.parts[1].body);
  ASSERT_EQ(g.size(), 2u);
  EXPECT_EQ(field(g[1], "Action"), "delayed");
  EXPECT_EQ(field(g[1], "Status"), "4.4.1");
  EXPECT_EQ(field(g[1], "Will-Retry-Until"), "Thu, 26 Nov 2026 19:40:00 +0000");
  EXPECT_NE(r.parts[0].body.find("Will retry until: Thu, 26 Nov 2026"), std::string::npos);
}

TEST_F(Dsn, SmtputfEightUsesTheGlobalTypes) {
  dsn_request req = failure();
  req.original.smtputf8 = true;
  req.original.sender = address{"jürgen", "bücher.example"};
  req.recipients[0].final_recipient = address{"用户", "例子.example"};
  req.recipients[0].diagnostic = "smtp; 550 5.1.1 用户不存在";
  const std::string utf8_message = "From: jürgen@bücher.example\r\nSubject: Grüße\r\n\r\nHallo\r\n";
  req.message = utf8_message;
  EXPECT_TRUE(dsn_is_global(req));

  const std::string dsn = build_dsn(req);
  expect_well_formed_lines(dsn);
  const report r = parse(dsn);
  EXPECT_EQ(field(r.top.headers, "To"), "<jürgen@bücher.example>");
  EXPECT_NE(field(r.top.headers, "Content-Type").find("report-type=global-delivery-status;"),
            std::string::npos);
  EXPECT_EQ(field(r.top.headers, "Content-Transfer-Encoding"), "8bit");
  ASSERT_EQ(r.parts.size(), 3u);
  EXPECT_EQ(field(r.parts[0].headers, "Content-Type"), "text/plain; charset=utf-8");
  EXPECT_EQ(field(r.parts[1].headers, "Content-Type"), "message/global-delivery-status");
  EXPECT_EQ(field(r.parts[2].headers, "Content-Type"), "message/global");
  EXPECT_EQ(field(r.parts[2].headers, "Content-Transfer-Encoding"), "8bit");
  const auto g = groups(r.parts[1].body);
  ASSERT_EQ(g.size(), 2u);
  EXPECT_EQ(field(g[1], "Final-Recipient"), "utf-8; 用户@例子.example");
  EXPECT_EQ(field(g[1], "Diagnostic-Code"), "smtp; 550 5.1.1 用户不存在");

  req.original.ret = queue::dsn_ret::Hdrs;
  const report h = parse(build_dsn(req));
  EXPECT_EQ(field(h.parts[2].headers, "Content-Type"), "message/global-headers");
  EXPECT_EQ(h.parts[2].body, "From: jürgen@bücher.example\r\nSubject: Grüße\r\n");
}

TEST_F(Dsn, AsciiReportsCarryUtf8AddressesAsXtext) {
  dsn_request req = failure();
  req.recipients[0].final_recipient = address{"jürgen", "example.test"};
  req.recipients[0].diagnostic = "smtp; 550 5.1.1 Ünknown\x07 user";
  const std::string dsn = build_dsn(req);
  const report r = parse(dsn);
  const auto g = groups(r.parts[1].body);
  // RFC 6533 §3 utf-8-addr-xtext: U+00FC as \x{FC}.
  EXPECT_EQ(field(g[1], "Final-Recipient"), "utf-8; j\\x{FC}rgen@example.test");
  EXPECT_EQ(field(g[1], "Diagnostic-Code"), "smtp; 550 5.1.1 ??nknown? user");
  for (const char c : r.parts[1].body) {
    EXPECT_LT(static_cast<unsigned char>(c), 0x80);
  }
}

TEST_F(Dsn, ALongDiagnosticIsFolded) {
  dsn_request req = failure();
  std::string text = "550 5.7.1";
  for (int i = 0; i < 300; ++i) {
    text += " word" + std::to_string(i);
  }
  req.recipients[0].diagnostic = "smtp; " + text;
  const std::string dsn = build_dsn(req);
  expect_well_formed_lines(dsn);
  const report r = parse(dsn);
  const std::string& body = r.parts[1].body;
  const std::size_t at = body.find("Diagnostic-Code:");
  ASSERT_NE(at, std::string::npos);
  std::size_t folds = 0;
  for (const std::string& l : lines_of(body)) {
    EXPECT_LE(l.size(), 78u) << l;
    folds += l.starts_with(" ") ? 1 : 0;
  }
  EXPECT_GT(folds, 10u);
  // Unfolding (RFC 5322 §2.2.3) gives the diagnostic back.
  EXPECT_EQ(field(groups(body)[1], "Diagnostic-Code"), "smtp; " + text);
}

TEST_F(Dsn, AnUnbreakableDiagnosticIsCutUnder998Octets) {
  dsn_request req = failure();
  const std::string word(3000, 'z');
  req.recipients[0].diagnostic = "smtp; 550 " + word;
  const std::string dsn = build_dsn(req);
  expect_well_formed_lines(dsn);
  const auto g = groups(parse(dsn).parts[1].body);
  std::string value = field(g[1], "Diagnostic-Code");
  std::erase(value, ' ');
  EXPECT_EQ(value, "smtp;550" + word);
}

TEST_F(Dsn, MultiLineRepliesAndControlsAreFlattened) {
  dsn_request req = failure();
  req.recipients[0].diagnostic = "smtp; 550-5.1.1 first\r\n550 5.1.1 second\tline";
  const auto g = groups(parse(build_dsn(req)).parts[1].body);
  EXPECT_EQ(field(g[1], "Diagnostic-Code"), "smtp; 550-5.1.1 first 550 5.1.1 second line");
}

TEST_F(Dsn, BareTypesAreFilledIn) {
  dsn_request req = failure();
  req.recipients[0].remote_mta = "mx1.remote.test";
  req.recipients[0].diagnostic = "550 5.1.1 no such user";
  req.recipients.push_back(req.recipients[0]);
  req.recipients[1].diagnostic = "mailbox is over quota";
  const auto g = groups(parse(build_dsn(req)).parts[1].body);
  EXPECT_EQ(field(g[1], "Remote-MTA"), "dns; mx1.remote.test");
  EXPECT_EQ(field(g[1], "Diagnostic-Code"), "smtp; 550 5.1.1 no such user");
  EXPECT_EQ(field(g[2], "Diagnostic-Code"), "x-posthorn; mailbox is over quota");
}

TEST_F(Dsn, ReturnedMessageGetsCrlfLineEnds) {
  dsn_request req = failure();
  const std::string lf = "From: a@example.test\nSubject: x\n\nline one\nline two";
  req.message = lf;
  const std::string dsn = build_dsn(req);
  expect_well_formed_lines(dsn);
  EXPECT_EQ(parse(dsn).parts[2].body,
            "From: a@example.test\r\nSubject: x\r\n\r\nline one\r\nline two\r\n");
}

TEST_F(Dsn, EightBitContentIsDeclared) {
  dsn_request req = failure();
  const std::string latin = k_message + "caf\xe9\r\n";
  req.message = latin;
  const report r = parse(build_dsn(req));
  EXPECT_EQ(field(r.top.headers, "Content-Transfer-Encoding"), "8bit");
  EXPECT_EQ(field(r.parts[2].headers, "Content-Transfer-Encoding"), "8bit");
  EXPECT_EQ(field(r.parts[1].headers, "Content-Transfer-Encoding"), "7bit");
}

TEST_F(Dsn, MessageIdsDifferPerReport) {
  dsn_request a = failure();
  dsn_request b = failure();
  b.unique = "4ABCDEF.2";
  const std::string ia = field(split_entity(build_dsn(a)).headers, "Message-ID");
  const std::string ib = field(split_entity(build_dsn(b)).headers, "Message-ID");
  EXPECT_NE(ia, ib);
  EXPECT_NE(parse(build_dsn(a)).boundary, parse(build_dsn(b)).boundary);
}

// The test runs Python's email package over the report, as a mail client would read it.
class PythonReads : public Dsn {
 protected:
  static int run(const std::string& dsn, const std::string& script) {
    char path[] = "/tmp/posthorn-dsn-XXXXXX";
    const int fd = ::mkstemp(path);
    if (fd < 0) {
      return -1;
    }
    ::close(fd);
    {
      std::ofstream f(path, std::ios::binary);
      f << dsn;
    }
    const std::string cmd = "/usr/bin/python3 -c '" + script + "' " + path;
    const int rc = std::system(cmd.c_str());
    ::unlink(path);
    return rc;
  }
};

// No single quotes inside: the script is passed in single quotes to the shell.
const std::string k_python_failure = R"PY(
import email, sys
m = email.message_from_binary_file(open(sys.argv[1], "rb"))
assert m.is_multipart(), "not multipart"
assert m.get_content_type() == "multipart/report", m.get_content_type()
assert m.get_param("report-type") == "delivery-status", m.get_param("report-type")
assert m["Auto-Submitted"] == "auto-replied"
parts = m.get_payload()
assert len(parts) == 3, len(parts)
assert parts[0].get_content_type() == "text/plain"
ds = parts[1]
assert ds.get_content_type() == "message/delivery-status", ds.get_content_type()
blocks = ds.get_payload()
assert len(blocks) == 3, len(blocks)
assert blocks[0]["Reporting-MTA"] == "dns; mx.example.test", blocks[0]["Reporting-MTA"]
assert blocks[1]["Status"] == "5.1.1", blocks[1]["Status"]
assert blocks[1]["Action"] == "failed"
assert blocks[1]["Final-Recipient"] == "rfc822; bob@remote.test"
assert blocks[2]["Status"] == "5.2.2", blocks[2]["Status"]
assert parts[2].get_content_type() == "message/rfc822", parts[2].get_content_type()
inner = parts[2].get_payload()[0]
assert inner["Subject"] == "lunch", inner["Subject"]
assert "BODY-MARKER" in inner.get_payload()
assert m.defects == [] and all(p.defects == [] for p in parts), "defects"
)PY";

TEST_F(PythonReads, AFailureReport) {
  dsn_request req = failure();
  dsn_recipient second = req.recipients[0];
  second.final_recipient = address{"carol", "remote.test"};
  second.status = "5.2.2";
  second.diagnostic = "smtp; 552 5.2.2 " + std::string(200, 'q') + " mailbox full";
  req.recipients.push_back(second);
  EXPECT_EQ(run(build_dsn(req), k_python_failure), 0);
}

const std::string k_python_headers = R"PY(
import email, sys
m = email.message_from_binary_file(open(sys.argv[1], "rb"))
assert m.get_content_type() == "multipart/report"
parts = m.get_payload()
assert parts[1].get_payload()[1]["Status"] == "5.1.1"
assert parts[2].get_content_type() == "text/rfc822-headers", parts[2].get_content_type()
text = parts[2].get_payload()
assert "Subject: lunch" in text and "BODY-MARKER" not in text, text
)PY";

TEST_F(PythonReads, AHeadersOnlyReport) {
  dsn_request req = failure();
  req.original.ret = queue::dsn_ret::Hdrs;
  EXPECT_EQ(run(build_dsn(req), k_python_headers), 0);
}

const std::string k_python_global = R"PY(
import email, sys
m = email.message_from_binary_file(open(sys.argv[1], "rb"))
assert m.is_multipart()
assert m.get_content_type() == "multipart/report"
assert m.get_param("report-type") == "global-delivery-status"
parts = m.get_payload()
types = [p.get_content_type() for p in parts]
assert types == ["text/plain", "message/global-delivery-status", "message/global"], types
raw = parts[1].as_bytes().decode("utf-8")
assert "Status: 5.1.1" in raw, raw
assert "Final-Recipient: utf-8; \u7528\u6237@example.test" in raw, raw
)PY";

TEST_F(PythonReads, AGlobalReport) {
  dsn_request req = failure();
  req.original.smtputf8 = true;
  req.recipients[0].final_recipient = address{"用户", "example.test"};
  EXPECT_EQ(run(build_dsn(req), k_python_global), 0);
}

// RFC 3461 §4.1 NOTIFY, with DESIGN.md §4.2's default of FAILURE,DELAY.
TEST(WantsDsn, NotifyDecides) {
  namespace n = queue::notify;
  struct row {
    std::uint8_t notify;
    bool failure, delay, success;
  };
  const std::vector<row> rows = {
      {0, true, true, false},
      {n::Never, false, false, false},
      {n::Success, false, false, true},
      {n::Failure, true, false, false},
      {n::Delay, false, true, false},
      {n::Failure | n::Delay, true, true, false},
      {n::Success | n::Failure | n::Delay, true, true, true},
      {n::Never | n::Success, false, false, false},
  };
  for (const row& r : rows) {
    queue::recipient rcpt;
    rcpt.notify = r.notify;
    SCOPED_TRACE(static_cast<int>(r.notify));
    EXPECT_EQ(wants_dsn(rcpt, dsn_kind::Failure), r.failure);
    EXPECT_EQ(wants_dsn(rcpt, dsn_kind::Delay), r.delay);
    EXPECT_EQ(wants_dsn(rcpt, dsn_kind::Delivered), r.success);
    EXPECT_EQ(wants_dsn(rcpt, dsn_kind::Relayed), r.success);
    EXPECT_EQ(wants_dsn(rcpt, dsn_kind::Expanded), r.success);
  }
}

TEST(WantsDsn, NeverToTheNullSender) {
  queue::envelope env;
  queue::recipient rcpt;
  rcpt.notify = queue::notify::Failure | queue::notify::Success;
  EXPECT_FALSE(wants_dsn(env, rcpt, dsn_kind::Failure));
  EXPECT_FALSE(wants_dsn(env, rcpt, dsn_kind::Delivered));
  env.sender = address{"alice", "example.test"};
  EXPECT_TRUE(wants_dsn(env, rcpt, dsn_kind::Failure));
  EXPECT_TRUE(wants_dsn(env, rcpt, dsn_kind::Delivered));
  EXPECT_FALSE(wants_dsn(env, rcpt, dsn_kind::Delay));
}

TEST(DsnReportFor, TakesTheQueueState) {
  recipient q;
  q.address = address{"bob", "lists.example.test"};
  q.original = address{"team", "example.test"};
  q.orcpt = "rfc822;team@example.test";
  q.last_reply = "550 5.1.1 <bob@lists.example.test>: no such user";
  dsn_recipient r = dsn_report_for(q, dsn_action::Failed);
  // RFC 3464 §2.3.2: the member that failed, not the list the sender wrote.
  EXPECT_EQ(r.final_recipient, (address{"bob", "lists.example.test"}));
  EXPECT_EQ(r.original_recipient, "rfc822;team@example.test");
  EXPECT_EQ(r.action, dsn_action::Failed);
  EXPECT_EQ(r.status, "5.1.1");
  EXPECT_EQ(r.diagnostic, "smtp; 550 5.1.1 <bob@lists.example.test>: no such user");

  q.original = {};
  q.orcpt = "";
  q.last_reply = "451 4.4.1 connection timed out";
  r = dsn_report_for(q, dsn_action::Failed);
  EXPECT_EQ(r.final_recipient, q.address);
  EXPECT_EQ(r.original_recipient, "rfc822;bob@lists.example.test");
  EXPECT_EQ(r.status, "4.4.7") << "given up after temporary failures";
  r = dsn_report_for(q, dsn_action::Delayed);
  EXPECT_EQ(r.status, "4.4.1");

  q.last_reply = "554 transaction failed";
  EXPECT_EQ(dsn_report_for(q, dsn_action::Failed).status, "5.0.0");
  q.last_reply = "550 2.1.5 odd";  // enhanced code of another class than the reply
  EXPECT_EQ(dsn_report_for(q, dsn_action::Failed).status, "5.0.0");
  q.last_reply = "mailbox locked";
  r = dsn_report_for(q, dsn_action::Failed);
  EXPECT_EQ(r.status, "5.0.0");
  EXPECT_EQ(r.diagnostic, "x-posthorn; mailbox locked");
  q.last_reply = "250 2.0.0 ok";
  EXPECT_EQ(dsn_report_for(q, dsn_action::Delivered).status, "2.0.0");
  q.last_reply = "";
  r = dsn_report_for(q, dsn_action::Relayed);
  EXPECT_EQ(r.status, "2.0.0");
  EXPECT_EQ(r.diagnostic, "");
}

// Without ORCPT the address given in RCPT TO is recorded (RFC 3461 §4.2), xtext-encoded; an
// ORCPT the client gave is kept as given.
TEST(DsnReportFor, RecordsTheAddressGivenWhenThereIsNoOrcpt) {
  recipient q;
  q.address = address{"ghost", "example.test"};
  q.original = address{"lst", "example.test"};
  EXPECT_EQ(original_recipient_of(q), "rfc822;lst@example.test");
  q.original = address{"a+b=c", "example.test"};
  EXPECT_EQ(original_recipient_of(q), "rfc822;a+2Bb+3Dc@example.test");
  q.original = address{"jürgen", "example.test"};
  EXPECT_EQ(original_recipient_of(q), "utf-8;j+C3+BCrgen@example.test");
  q.orcpt = "rfc822;Lst@Example.TEST";
  EXPECT_EQ(original_recipient_of(q), "rfc822;Lst@Example.TEST");
}

// The bounce for a list member: the field group names the member as Final-Recipient and the
// list as Original-Recipient, and the explanation for a person names both.
TEST_F(Dsn, ListMemberIsTheFinalRecipientAndTheListTheOriginal) {
  recipient member;
  member.address = address{"ghost", "example.test"};
  member.original = address{"lst", "example.test"};
  member.status = rcpt_status::Failed;
  member.last_reply = "550 5.1.1 <ghost@example.test>: User unknown";
  dsn_request req = failure();
  req.recipients = {dsn_report_for(member, dsn_action::Failed)};
  const report r = parse(build_dsn(req));
  ASSERT_EQ(r.parts.size(), 3u);
  const auto g = groups(r.parts[1].body);
  ASSERT_EQ(g.size(), 2u);
  EXPECT_EQ(field(g[1], "Original-Recipient"), "rfc822; lst@example.test");
  EXPECT_EQ(field(g[1], "Final-Recipient"), "rfc822; ghost@example.test");
  EXPECT_EQ(field(g[1], "Status"), "5.1.1");
  EXPECT_NE(r.parts[0].body.find("<ghost@example.test> (expanded from <lst@example.test>): "
                                 "failed (5.1.1)"),
            std::string::npos)
      << r.parts[0].body;

  // Delay warnings and success reports name the member and the list the same way.
  for (const dsn_kind kind : {dsn_kind::Delay, dsn_kind::Delivered, dsn_kind::Relayed}) {
    member.last_reply = kind == dsn_kind::Delay ? "451 4.2.2 mailbox full" : "250 2.0.0 ok";
    dsn_request other = failure();
    other.kind = kind;
    other.recipients = {dsn_report_for(member, action_for(kind))};
    const report o = parse(build_dsn(other));
    ASSERT_GE(o.parts.size(), 2u);
    const auto og = groups(o.parts[1].body);
    ASSERT_EQ(og.size(), 2u);
    EXPECT_EQ(field(og[1], "Final-Recipient"), "rfc822; ghost@example.test");
    EXPECT_EQ(field(og[1], "Original-Recipient"), "rfc822; lst@example.test");
    EXPECT_NE(o.parts[0].body.find("<ghost@example.test> (expanded from <lst@example.test>)"),
              std::string::npos)
        << o.parts[0].body;
  }
  member.last_reply = "550 5.1.1 <ghost@example.test>: User unknown";

  // A direct recipient is not "expanded from" itself.
  member.original = member.address;
  req.recipients = {dsn_report_for(member, dsn_action::Failed)};
  const report direct = parse(build_dsn(req));
  EXPECT_NE(direct.parts[0].body.find("<ghost@example.test>: failed (5.1.1)"), std::string::npos);
  EXPECT_EQ(field(groups(direct.parts[1].body)[1], "Original-Recipient"),
            "rfc822; ghost@example.test");

  // In an ASCII report a UTF-8 original address is utf-8-addr-xtext (RFC 6533 §3).
  member.original = address{"jürgen", "example.test"};
  req.recipients = {dsn_report_for(member, dsn_action::Failed)};
  const report utf8 = parse(build_dsn(req));
  EXPECT_EQ(field(groups(utf8.parts[1].body)[1], "Original-Recipient"),
            "utf-8; j\\x{FC}rgen@example.test");
}

}  // namespace
}  // namespace posthorn::queue
