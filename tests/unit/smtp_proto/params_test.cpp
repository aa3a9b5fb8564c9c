#include "smtp/proto/params.hpp"

#include <gtest/gtest.h>

#include <limits>
#include <string>

#include "queue/envelope.hpp"

namespace posthorn::smtp {
namespace {

// params.hpp keeps its own copy of the NOTIFY bits so that smtp/proto does not depend
// on the queue; they must stay equal.
static_assert(notify_bits::k_never == queue::notify::Never);
static_assert(notify_bits::k_success == queue::notify::Success);
static_assert(notify_bits::k_failure == queue::notify::Failure);
static_assert(notify_bits::k_delay == queue::notify::Delay);

param_error mail_error(std::string_view text, const param_support& s = {}) {
  const auto r = parse_mail_params(text, s);
  EXPECT_FALSE(r.has_value()) << text;
  return r ? param_error{} : r.error();
}

param_error rcpt_error(std::string_view text, const param_support& s = {}) {
  const auto r = parse_rcpt_params(text, s);
  EXPECT_FALSE(r.has_value()) << text;
  return r ? param_error{} : r.error();
}

param_error unknown(std::string kw) { return {param_fault::Unknown, std::move(kw)}; }
param_error malformed(std::string kw) { return {param_fault::Malformed, std::move(kw)}; }
param_error duplicate(std::string kw) { return {param_fault::Duplicate, std::move(kw)}; }

TEST(MailParams, None) {
  for (const std::string_view text : {"", " ", "   "}) {
    const auto p = parse_mail_params(text);
    ASSERT_TRUE(p) << text;
    EXPECT_FALSE(p->size);
    EXPECT_EQ(p->body, body_kind::SevenBit);
    EXPECT_FALSE(p->smtputf8);
    EXPECT_FALSE(p->ret);
    EXPECT_FALSE(p->envid);
    EXPECT_FALSE(p->auth);
  }
}

TEST(MailParams, All) {
  const auto p = parse_mail_params(
      "SIZE=12345 BODY=8BITMIME SMTPUTF8 RET=HDRS ENVID=QQ314159+2Bx AUTH=e+3Dmc2@example.test");
  ASSERT_TRUE(p);
  EXPECT_EQ(p->size, 12345u);
  EXPECT_EQ(p->body, body_kind::EightBitMime);
  EXPECT_TRUE(p->smtputf8);
  EXPECT_EQ(p->ret, "HDRS");
  EXPECT_EQ(p->envid, "QQ314159+x");
  EXPECT_EQ(p->auth, "e=mc2@example.test");
}

TEST(MailParams, KeywordsAndKnownValuesAreCaseInsensitive) {
  const auto p = parse_mail_params("size=7 Body=binarymime smtpUTF8 ret=full");
  ASSERT_TRUE(p);
  EXPECT_EQ(p->size, 7u);
  EXPECT_EQ(p->body, body_kind::BinaryMime);
  EXPECT_TRUE(p->smtputf8);
  EXPECT_EQ(p->ret, "FULL");
  EXPECT_EQ(parse_mail_params("BODY=7bit")->body, body_kind::SevenBit);
}

TEST(MailParams, SpacesAreTolerated) {
  const auto p = parse_mail_params("  SIZE=1    BODY=7BIT  ");
  ASSERT_TRUE(p);
  EXPECT_EQ(p->size, 1u);
}

TEST(MailParams, Size) {
  EXPECT_EQ(parse_mail_params("SIZE=0")->size, 0u);
  EXPECT_EQ(parse_mail_params("SIZE=18446744073709551615")->size,
            std::numeric_limits<std::uint64_t>::max());
  // RFC 1870: up to 20 digits; beyond what fits it saturates (then "too big").
  EXPECT_EQ(parse_mail_params("SIZE=99999999999999999999")->size,
            std::numeric_limits<std::uint64_t>::max());
  EXPECT_EQ(parse_mail_params("SIZE=18446744073709551616")->size,
            std::numeric_limits<std::uint64_t>::max());
  EXPECT_EQ(mail_error("SIZE=100000000000000000000"), malformed("SIZE"));
  EXPECT_EQ(mail_error("SIZE"), malformed("SIZE"));
  EXPECT_EQ(mail_error("SIZE="), malformed("SIZE"));
  EXPECT_EQ(mail_error("SIZE=12k"), malformed("SIZE"));
  EXPECT_EQ(mail_error("SIZE=-1"), malformed("SIZE"));
  EXPECT_EQ(mail_error("SIZE=+1"), malformed("SIZE"));
}

TEST(MailParams, Malformed) {
  EXPECT_EQ(mail_error("BODY=9BIT"), malformed("BODY"));
  EXPECT_EQ(mail_error("BODY"), malformed("BODY"));
  EXPECT_EQ(mail_error("SMTPUTF8=yes"), malformed("SMTPUTF8"));
  EXPECT_EQ(mail_error("SMTPUTF8="), malformed("SMTPUTF8"));
  EXPECT_EQ(mail_error("RET=ALL"), malformed("RET"));
  EXPECT_EQ(mail_error("RET"), malformed("RET"));
  EXPECT_EQ(mail_error("ENVID=a+zz"), malformed("ENVID"));
  EXPECT_EQ(mail_error("ENVID=a+2"), malformed("ENVID"));
  EXPECT_EQ(mail_error("ENVID="), malformed("ENVID"));
  EXPECT_EQ(mail_error("ENVID=a+00b"), malformed("ENVID"));  // not printable once decoded
  EXPECT_EQ(mail_error("ENVID=\xc3\xa9"), malformed("ENVID"));
  EXPECT_EQ(mail_error("AUTH="), malformed("AUTH"));
  EXPECT_EQ(mail_error("AUTH=a+0Ab"), malformed("AUTH"));
  // A value holding '=' or a control character is not an esmtp-value.
  EXPECT_EQ(mail_error("SIZE=1=2"), malformed("SIZE"));
  EXPECT_EQ(mail_error("SIZE=1\t"), malformed("SIZE"));
  // Keyword syntax (RFC 5321 §4.1.2).
  EXPECT_EQ(mail_error("=1"), malformed(""));
  EXPECT_EQ(mail_error("-SIZE=1"), malformed(""));
  EXPECT_EQ(mail_error("SI_ZE=1"), malformed(""));
  EXPECT_EQ(mail_error("SIZE=1 \t"), malformed(""));
  EXPECT_EQ(mail_error("<x@y>"), malformed(""));
}

TEST(MailParams, EnvidLimit) {
  // RFC 3461 §4.4: at most 100 characters.
  const std::string ok(100, 'e');
  EXPECT_EQ(parse_mail_params("ENVID=" + ok)->envid, ok);
  EXPECT_EQ(mail_error("ENVID=" + ok + "e"), malformed("ENVID"));
  // The limit counts decoded characters.
  std::string encoded;
  for (int i = 0; i < 100; ++i) {
    encoded += "+20";
  }
  EXPECT_EQ(parse_mail_params("ENVID=" + encoded)->envid, std::string(100, ' '));
}

TEST(MailParams, AuthNullMailbox) { EXPECT_EQ(parse_mail_params("AUTH=<>")->auth, "<>"); }

TEST(MailParams, Unknown) {
  EXPECT_EQ(mail_error("FOO=bar"), unknown("FOO"));
  EXPECT_EQ(mail_error("size=1 x-custom"), unknown("X-CUSTOM"));
  EXPECT_EQ(mail_error("MT-PRIORITY=3"), unknown("MT-PRIORITY"));
  // RCPT parameters are unknown to MAIL.
  EXPECT_EQ(mail_error("NOTIFY=NEVER"), unknown("NOTIFY"));
  EXPECT_EQ(mail_error("ORCPT=rfc822;a@b"), unknown("ORCPT"));
  // Unknown is reported before a bad value.
  EXPECT_EQ(mail_error("FOO=\x01"), unknown("FOO"));
}

TEST(MailParams, Duplicates) {
  EXPECT_EQ(mail_error("SIZE=1 size=2"), duplicate("SIZE"));
  EXPECT_EQ(mail_error("SMTPUTF8 SMTPUTF8"), duplicate("SMTPUTF8"));
  EXPECT_EQ(mail_error("BODY=7BIT RET=FULL BODY=8BITMIME"), duplicate("BODY"));
}

TEST(MailParams, FirstErrorWins) {
  EXPECT_EQ(mail_error("SIZE=x FOO"), malformed("SIZE"));
  EXPECT_EQ(mail_error("FOO SIZE=x"), unknown("FOO"));
}

TEST(MailParams, OnlyAdvertisedExtensionsAreKnown) {
  param_support s;
  s.dsn = false;
  s.auth = false;
  s.smtputf8 = false;
  s.binarymime = false;
  EXPECT_EQ(mail_error("RET=FULL", s), unknown("RET"));
  EXPECT_EQ(mail_error("ENVID=x", s), unknown("ENVID"));
  EXPECT_EQ(mail_error("AUTH=<>", s), unknown("AUTH"));
  EXPECT_EQ(mail_error("SMTPUTF8", s), unknown("SMTPUTF8"));
  EXPECT_EQ(mail_error("BODY=BINARYMIME", s), malformed("BODY"));
  EXPECT_EQ(rcpt_error("NOTIFY=NEVER", s), unknown("NOTIFY"));
  EXPECT_EQ(parse_mail_params("BODY=8BITMIME SIZE=5", s)->body, body_kind::EightBitMime);

  s.eightbitmime = false;
  EXPECT_EQ(mail_error("BODY=8BITMIME", s), unknown("BODY"));
  s.size = false;
  EXPECT_EQ(mail_error("SIZE=1", s), unknown("SIZE"));
}

TEST(RcptParams, None) {
  const auto p = parse_rcpt_params("");
  ASSERT_TRUE(p);
  EXPECT_EQ(p->notify, 0);
  EXPECT_FALSE(p->orcpt);
}

TEST(RcptParams, Notify) {
  using namespace notify_bits;
  EXPECT_EQ(parse_rcpt_params("NOTIFY=NEVER")->notify, k_never);
  EXPECT_EQ(parse_rcpt_params("notify=never")->notify, k_never);
  EXPECT_EQ(parse_rcpt_params("NOTIFY=SUCCESS")->notify, k_success);
  EXPECT_EQ(parse_rcpt_params("NOTIFY=FAILURE,DELAY")->notify, k_failure | k_delay);
  EXPECT_EQ(parse_rcpt_params("NOTIFY=delay,Success,FAILURE")->notify,
            k_success | k_failure | k_delay);
  EXPECT_EQ(rcpt_error("NOTIFY=NEVER,SUCCESS"), malformed("NOTIFY"));
  EXPECT_EQ(rcpt_error("NOTIFY=SUCCESS,NEVER"), malformed("NOTIFY"));
  EXPECT_EQ(rcpt_error("NOTIFY="), malformed("NOTIFY"));
  EXPECT_EQ(rcpt_error("NOTIFY"), malformed("NOTIFY"));
  EXPECT_EQ(rcpt_error("NOTIFY=SUCCESS,"), malformed("NOTIFY"));
  EXPECT_EQ(rcpt_error("NOTIFY=,DELAY"), malformed("NOTIFY"));
  EXPECT_EQ(rcpt_error("NOTIFY=SOMETIMES"), malformed("NOTIFY"));
  EXPECT_EQ(rcpt_error("NOTIFY=NEVER NOTIFY=NEVER"), duplicate("NOTIFY"));
}

TEST(RcptParams, Orcpt) {
  // Stored as given, not decoded.
  EXPECT_EQ(parse_rcpt_params("ORCPT=rfc822;bob@example.test")->orcpt, "rfc822;bob@example.test");
  EXPECT_EQ(parse_rcpt_params("ORCPT=rfc822;b+2Bo+3Db@example.test")->orcpt,
            "rfc822;b+2Bo+3Db@example.test");
  EXPECT_EQ(parse_rcpt_params("ORCPT=utf-8;\xc3\xa9@example.test")->orcpt,
            "utf-8;\xc3\xa9@example.test");
  const auto both = parse_rcpt_params("NOTIFY=FAILURE ORCPT=RFC822;a@b");
  ASSERT_TRUE(both);
  EXPECT_EQ(both->notify, notify_bits::k_failure);
  EXPECT_EQ(both->orcpt, "RFC822;a@b");

  for (const std::string_view bad :
       {"ORCPT=bob@example.test", "ORCPT=;bob@example.test", "ORCPT=rfc822;", "ORCPT=rfc822;a+ZZ",
        "ORCPT=rfc822;a+0Ab", "ORCPT=rf(c;a@b", "ORCPT=rfc822;\xc3\xa9", "ORCPT"}) {
    EXPECT_EQ(rcpt_error(bad), malformed("ORCPT")) << bad;
  }
  // RFC 3461 §4.2: at most 500 characters.
  const std::string addr(493, 'a');
  EXPECT_TRUE(parse_rcpt_params("ORCPT=rfc822;" + addr));
  EXPECT_EQ(rcpt_error("ORCPT=rfc822;" + addr + "a"), malformed("ORCPT"));
  EXPECT_EQ(rcpt_error("ORCPT=rfc822;a ORCPT=rfc822;b"), duplicate("ORCPT"));
}

TEST(RcptParams, MailParametersAreUnknown) {
  EXPECT_EQ(rcpt_error("SIZE=1"), unknown("SIZE"));
  EXPECT_EQ(rcpt_error("BODY=8BITMIME"), unknown("BODY"));
  EXPECT_EQ(rcpt_error("SMTPUTF8"), unknown("SMTPUTF8"));
  EXPECT_EQ(rcpt_error("RET=FULL"), unknown("RET"));
  EXPECT_EQ(rcpt_error("XFORWARD=1"), unknown("XFORWARD"));
}

TEST(ParamError, Replies) {
  EXPECT_EQ(reply_for(unknown("FOO")).str(), "555 5.5.4 Unsupported parameter FOO\r\n");
  EXPECT_EQ(reply_for(malformed("SIZE")).str(), "501 5.5.4 Bad SIZE parameter\r\n");
  EXPECT_EQ(reply_for(malformed("")).str(), "501 5.5.4 Bad parameter syntax\r\n");
  EXPECT_EQ(reply_for(duplicate("BODY")).str(), "501 5.5.4 Duplicate BODY parameter\r\n");
  EXPECT_EQ(unknown("X").code(), 555);
  EXPECT_EQ(malformed("X").code(), 501);
  EXPECT_EQ(duplicate("X").code(), 501);
  EXPECT_EQ(duplicate("X").enhanced(), "5.5.4");
}

TEST(Xtext, Decode) {
  EXPECT_EQ(xtext_decode(""), "");
  EXPECT_EQ(xtext_decode("plain@example.test"), "plain@example.test");
  EXPECT_EQ(xtext_decode("a+2Bb+3Dc+20d"), "a+b=c d");
  EXPECT_EQ(xtext_decode("+2b+3d"), "+=");  // lower-case hex is tolerated
  EXPECT_EQ(xtext_decode("+00+FF"), std::string("\x00\xff", 2));
  for (const std::string_view bad :
       {"+", "+2", "a+", "+G0", "+0G", "a b", "a=b", "\x7f", "\xc3\xa9", "\t", "+ 20"}) {
    EXPECT_FALSE(xtext_decode(bad)) << bad;
  }
}

TEST(Xtext, Encode) {
  EXPECT_EQ(xtext_encode("a+b=c d"), "a+2Bb+3Dc+20d");
  EXPECT_EQ(xtext_encode("user@example.test"), "user@example.test");
  EXPECT_EQ(xtext_encode(std::string("\x00\x7f\xc3\xa9", 4)), "+00+7F+C3+A9");
  EXPECT_EQ(xtext_encode(""), "");
}

TEST(Xtext, RoundTripsEveryOctet) {
  std::string all;
  for (int c = 0; c < 256; ++c) {
    all.push_back(static_cast<char>(c));
  }
  const std::string encoded = xtext_encode(all);
  for (const char c : encoded) {
    const auto u = static_cast<unsigned char>(c);
    EXPECT_TRUE(u >= 33 && u <= 126 && c != '=');
  }
  EXPECT_EQ(xtext_decode(encoded), all);
}

}  // namespace
}  // namespace posthorn::smtp
