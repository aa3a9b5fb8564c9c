#include "smtp/proto/reply.hpp"

#include <gtest/gtest.h>

#include <string>

namespace posthorn::smtp {
namespace {

TEST(Reply, RendersOneLine) {
  EXPECT_EQ(make_reply(250, "2.1.0", "Ok").str(), "250 2.1.0 Ok\r\n");
  EXPECT_EQ(make_reply(354, "", "End data with <CR><LF>.<CR><LF>").str(),
            "354 End data with <CR><LF>.<CR><LF>\r\n");
  EXPECT_EQ(make_reply(220, "", "mx.example.test ESMTP posthorn").str(),
            "220 mx.example.test ESMTP posthorn\r\n");
}

TEST(Reply, RendersMultiLineWithEnhancedCodeOnEveryLine) {
  reply r;
  r.code = 250;
  r.lines = {"mx.example.test", "PIPELINING", "SIZE 35000000"};
  EXPECT_EQ(r.str(), "250-mx.example.test\r\n250-PIPELINING\r\n250 SIZE 35000000\r\n");

  r.code = 550;
  r.enhanced = "5.1.1";
  r.lines = {"first", "second"};
  EXPECT_EQ(r.str(), "550-5.1.1 first\r\n550 5.1.1 second\r\n");
}

TEST(Reply, RenderAppends) {
  std::string out = "pending\r\n";
  make_reply(250, "2.0.0", "Ok").render(out);
  make_reply(221, "", "Bye").render(out);
  EXPECT_EQ(out, "pending\r\n250 2.0.0 Ok\r\n221 Bye\r\n");
}

TEST(Reply, EmptyText) {
  EXPECT_EQ(make_reply(250, "2.0.0", "").str(), "250 2.0.0\r\n");
  EXPECT_EQ(make_reply(250, "", "").str(), "250\r\n");
  reply r;
  r.code = 250;
  r.lines.clear();
  EXPECT_EQ(r.str(), "250\r\n");
  r.lines = {"", ""};
  EXPECT_EQ(r.str(), "250-\r\n250\r\n");
}

TEST(Reply, TextCannotBreakFraming) {
  // An error message holding a line end must not inject a second reply line.
  EXPECT_EQ(make_reply(550, "5.7.1", "no\r\n250 ok").str(), "550 5.7.1 no  250 ok\r\n");
  EXPECT_EQ(make_reply(451, "4.3.0", std::string("a\0b\nc", 5)).str(), "451 4.3.0 a b c\r\n");
  EXPECT_EQ(make_reply(250, "", "tab\there").str(), "250 tab\there\r\n");
  // UTF-8 text passes (RFC 6531 §3.7.4).
  EXPECT_EQ(make_reply(250, "", "caf\xc3\xa9").str(), "250 caf\xc3\xa9\r\n");
}

TEST(Reply, Classes) {
  EXPECT_TRUE(make_reply(250, "2.0.0", "").positive());
  EXPECT_TRUE(make_reply(354, "", "").positive());
  EXPECT_FALSE(make_reply(250, "2.0.0", "").temporary());
  EXPECT_TRUE(make_reply(451, "4.3.0", "").temporary());
  EXPECT_FALSE(make_reply(451, "4.3.0", "").positive());
  EXPECT_FALSE(make_reply(550, "5.1.1", "").temporary());
  EXPECT_FALSE(make_reply(550, "5.1.1", "").positive());
}

TEST(EnhancedMeaning, KnownCodes) {
  EXPECT_EQ(enhanced_meaning("2.0.0"), "Other undefined Status");
  EXPECT_EQ(enhanced_meaning("5.1.1"), "Bad destination mailbox address");
  EXPECT_EQ(enhanced_meaning("4.1.1"), "Bad destination mailbox address");
  EXPECT_EQ(enhanced_meaning("2.1.5"), "Destination address valid");
  EXPECT_EQ(enhanced_meaning("5.1.10"), "Recipient address has null MX");
  EXPECT_EQ(enhanced_meaning("4.3.1"), "Mail system full");
  EXPECT_EQ(enhanced_meaning("5.3.4"), "Message too big for system");
  EXPECT_EQ(enhanced_meaning("5.4.6"), "Routing loop detected");
  EXPECT_EQ(enhanced_meaning("4.4.7"), "Delivery time expired");
  EXPECT_EQ(enhanced_meaning("4.5.3"), "Too many recipients");
  EXPECT_EQ(enhanced_meaning("5.5.4"), "Invalid command arguments");
  EXPECT_EQ(enhanced_meaning("5.6.7"),
            "Non-ASCII addresses not permitted for that sender/recipient");
  EXPECT_EQ(enhanced_meaning("5.7.1"), "Delivery not authorized, message refused");
  EXPECT_EQ(enhanced_meaning("5.7.8"), "Authentication credentials invalid");
  EXPECT_EQ(enhanced_meaning("5.7.11"),
            "Encryption required for requested authentication mechanism");
  EXPECT_EQ(enhanced_meaning("5.7.27"), "Sender address has null MX");
}

TEST(EnhancedMeaning, EveryDefinedSubjectHasItsOtherCode) {
  for (int subject = 0; subject <= 7; ++subject) {
    const std::string code = "5." + std::to_string(subject) + ".0";
    EXPECT_FALSE(enhanced_meaning(code).empty()) << code;
  }
}

TEST(EnhancedMeaning, UnknownOrMalformed) {
  for (const std::string_view code :
       {"", "5", "5.1", "5.1.", "5..1", ".1.1", "3.1.1", "6.1.1", "5.8.0", "5.1.99", "5.01.1",
        "5.1.01", "5.1000.1", "5.1.1 ", " 5.1.1", "5.1.1.1", "5-1-1", "5.a.1", "25.1.1"}) {
    EXPECT_EQ(enhanced_meaning(code), "") << code;
  }
}

TEST(ReplyFor, TemporaryErrors) {
  reply r = reply_for(error::temp("", "Local error"));
  EXPECT_EQ(r.str(), "451 4.3.0 Local error\r\n");
  EXPECT_EQ(reply_for(error::temp("4.3.1", "Disk full")).str(), "452 4.3.1 Disk full\r\n");
  EXPECT_EQ(reply_for(error::temp("4.5.3", "Too many")).str(), "452 4.5.3 Too many\r\n");
  EXPECT_EQ(reply_for(error::temp("4.4.1", "No answer")).str(), "451 4.4.1 No answer\r\n");
  EXPECT_EQ(reply_for(error::temp("4.7.0", "Later")).code, 451);
}

TEST(ReplyFor, PermanentErrors) {
  EXPECT_EQ(reply_for(error::perm("", "Failed")).str(), "554 5.3.0 Failed\r\n");
  EXPECT_EQ(reply_for(error::perm("5.1.1", "Unknown user")).code, 550);
  EXPECT_EQ(reply_for(error::perm("5.1.10", "Null MX")).code, 550);
  EXPECT_EQ(reply_for(error::perm("5.7.1", "Relaying denied")).code, 550);
  EXPECT_EQ(reply_for(error::perm("5.7.27", "Null MX")).code, 550);
  EXPECT_EQ(reply_for(error::perm("5.3.4", "Too big")).code, 552);
  EXPECT_EQ(reply_for(error::perm("5.1.3", "Bad syntax")).code, 553);
  EXPECT_EQ(reply_for(error::perm("5.6.7", "Needs SMTPUTF8")).code, 553);
  EXPECT_EQ(reply_for(error::perm("5.4.6", "Loop")).str(), "554 5.4.6 Loop\r\n");
  EXPECT_EQ(reply_for(error::perm("5.5.4", "Args")).code, 554);
  EXPECT_EQ(reply_for(error::perm("5.3.2", "Closed")).code, 554);
}

TEST(ReplyFor, SeverityDecidesTheClass) {
  // An error's code that disagrees with its severity takes the severity's class.
  EXPECT_EQ(reply_for(error::temp("5.1.1", "x")).str(), "451 4.1.1 x\r\n");
  EXPECT_EQ(reply_for(error::perm("4.3.4", "x")).str(), "552 5.3.4 x\r\n");
  EXPECT_EQ(reply_for(error::perm("2.0.0", "x")).str(), "554 5.0.0 x\r\n");
  // A malformed code falls back to the default.
  EXPECT_EQ(reply_for(error::perm("5.x", "x")).str(), "554 5.3.0 x\r\n");
  EXPECT_EQ(reply_for(error::temp("banana", "x")).str(), "451 4.3.0 x\r\n");
}

TEST(ReplyFor, EmptyMessageUsesTheCodesMeaning) {
  EXPECT_EQ(reply_for(error::perm("5.1.1", "")).str(),
            "550 5.1.1 Bad destination mailbox address\r\n");
  EXPECT_EQ(reply_for(error::temp("", "")).str(),
            "451 4.3.0 Other or undefined mail system status\r\n");
}

}  // namespace
}  // namespace posthorn::smtp
