// sendmail's command line: Postfix's sendmail(1) option set, getopt's habits.

#include "mail/sendmail_args.hpp"

#include <gtest/gtest.h>

#include <initializer_list>
#include <string>
#include <vector>

namespace posthorn::mail {
namespace {

std::expected<sendmail_args, std::string> parse(std::initializer_list<std::string_view> args,
                                                std::string_view program = "sendmail") {
  std::vector<std::string_view> v(args);
  return parse_sendmail_args(v, program);
}

using list = std::vector<std::string>;

TEST(sendmail_args, defaults_and_recipients) {
  auto a = parse({"alice@example.test", "bob"});
  ASSERT_TRUE(a);
  EXPECT_EQ(a->mode, sendmail_mode::Deliver);
  EXPECT_FALSE(a->extract_recipients);
  EXPECT_TRUE(a->dot_ends_input);
  EXPECT_FALSE(a->sender);
  EXPECT_EQ(a->recipients, (list{"alice@example.test", "bob"}));
}

TEST(sendmail_args, t_i_and_clusters) {
  auto a = parse({"-t", "-i"});
  ASSERT_TRUE(a);
  EXPECT_TRUE(a->extract_recipients);
  EXPECT_FALSE(a->dot_ends_input);
  a = parse({"-ti"});
  ASSERT_TRUE(a);
  EXPECT_TRUE(a->extract_recipients);
  EXPECT_FALSE(a->dot_ends_input);
  a = parse({"-oi"});
  ASSERT_TRUE(a);
  EXPECT_FALSE(a->dot_ends_input);
  a = parse({"-o", "i"});
  ASSERT_TRUE(a);
  EXPECT_FALSE(a->dot_ends_input);
}

TEST(sendmail_args, sender_forms) {
  auto a = parse({"-f", "me@example.test", "x@y.test"});
  ASSERT_TRUE(a);
  EXPECT_EQ(*a->sender, "me@example.test");
  EXPECT_EQ(a->recipients, list{"x@y.test"});
  a = parse({"-fme@example.test"});
  EXPECT_EQ(*a->sender, "me@example.test");
  a = parse({"-f", ""});
  EXPECT_EQ(*a->sender, "");
  a = parse({"-f<>"});
  EXPECT_EQ(*a->sender, "<>");
  a = parse({"-r", "bounce@example.test"});
  EXPECT_EQ(*a->sender, "bounce@example.test");
  // A value cluster: -t then -f with the rest as its value.
  a = parse({"-tfme@x.test"});
  EXPECT_TRUE(a->extract_recipients);
  EXPECT_EQ(*a->sender, "me@x.test");
  EXPECT_FALSE(parse({"-f"}));
}

TEST(sendmail_args, full_name_and_config) {
  auto a = parse({"-F", "Alice Smith", "-c", "/etc/p.toml", "x@y.test"});
  ASSERT_TRUE(a);
  EXPECT_EQ(*a->full_name, "Alice Smith");
  EXPECT_EQ(*a->config, "/etc/p.toml");
  a = parse({"-FAlice", "-C/x.toml"});
  EXPECT_EQ(*a->full_name, "Alice");
  EXPECT_EQ(*a->config, "/x.toml");
  a = parse({"--config=/y.toml"});
  EXPECT_EQ(*a->config, "/y.toml");
  a = parse({"--config", "/z.toml"});
  EXPECT_EQ(*a->config, "/z.toml");
}

TEST(sendmail_args, options_after_recipients_and_double_dash) {
  auto a = parse({"x@y.test", "-t", "-c", "f.toml"});
  ASSERT_TRUE(a);
  EXPECT_TRUE(a->extract_recipients);
  EXPECT_EQ(a->recipients, list{"x@y.test"});
  EXPECT_EQ(*a->config, "f.toml");
  a = parse({"-i", "--", "-t", "-weird@example.test"});
  ASSERT_TRUE(a);
  EXPECT_FALSE(a->extract_recipients);
  EXPECT_EQ(a->recipients, (list{"-t", "-weird@example.test"}));
  a = parse({"-"});  // as getopt: an operand
  EXPECT_EQ(a->recipients, list{"-"});
}

TEST(sendmail_args, modes) {
  EXPECT_EQ(parse({"-bs"})->mode, sendmail_mode::Smtp);
  EXPECT_EQ(parse({"-bp"})->mode, sendmail_mode::ListQueue);
  EXPECT_EQ(parse({"-b", "p"})->mode, sendmail_mode::ListQueue);
  EXPECT_EQ(parse({"-bm", "x@y.test"})->mode, sendmail_mode::Deliver);
  EXPECT_EQ(parse({"-bi"})->mode, sendmail_mode::Newaliases);
  EXPECT_EQ(parse({"-I"})->mode, sendmail_mode::Newaliases);
  EXPECT_EQ(parse({"-bh"})->mode, sendmail_mode::Nothing);
  EXPECT_EQ(parse({"--help"})->mode, sendmail_mode::Help);
  EXPECT_FALSE(parse({"-bd"}));
  EXPECT_FALSE(parse({"-bv"}));
  EXPECT_FALSE(parse({"-bx"}));
  EXPECT_EQ(parse({}, "mailq")->mode, sendmail_mode::ListQueue);
  EXPECT_EQ(parse({"-c", "x.toml"}, "mailq")->mode, sendmail_mode::ListQueue);
  EXPECT_EQ(parse({}, "newaliases")->mode, sendmail_mode::Newaliases);
}

TEST(sendmail_args, queue_runs) {
  auto a = parse({"-q"});
  ASSERT_TRUE(a);
  EXPECT_EQ(a->mode, sendmail_mode::Flush);
  EXPECT_EQ(a->flush_id, "");
  a = parse({"-qIABC123"});
  EXPECT_EQ(a->mode, sendmail_mode::Flush);
  EXPECT_EQ(a->flush_id, "ABC123");
  EXPECT_EQ(parse({"-qRexample.test"})->mode, sendmail_mode::Flush);
  EXPECT_EQ(parse({"-q30m", "x@y.test"})->mode, sendmail_mode::Deliver);  // interval: ignored
  EXPECT_FALSE(parse({"-qSexample.test"}));
  EXPECT_FALSE(parse({"-qI"}));
  EXPECT_FALSE(parse({"-qX"}));
}

TEST(sendmail_args, harmless_options_are_ignored) {
  auto a = parse({"-oem", "-odi", "-odb", "-oQ/var/spool", "-v", "-L", "tag", "-Am", "-Ac",
                  "-G", "-U", "-m", "-n", "-x", "-h", "17", "-O", "Opt=1", "-XV", "-X",
                  "/tmp/log", "-ee", "-psmtp", "-o7", "-o8", "x@y.test"});
  ASSERT_TRUE(a) << a.error();
  EXPECT_EQ(a->mode, sendmail_mode::Deliver);
  EXPECT_TRUE(a->dot_ends_input);
  EXPECT_EQ(a->recipients, list{"x@y.test"});
}

TEST(sendmail_args, dsn_options) {
  auto a = parse({"-N", "delay, failure", "-R", "hdrs", "-V", "env-42", "-B", "8bitmime"});
  ASSERT_TRUE(a) << a.error();
  EXPECT_EQ(a->notify, "DELAY,FAILURE");
  EXPECT_EQ(a->ret, "HDRS");
  EXPECT_EQ(a->envid, "env-42");
  EXPECT_TRUE(a->eight_bit_declared);
  EXPECT_EQ(parse({"-Nnever"})->notify, "NEVER");
  EXPECT_EQ(parse({"-Nsuccess,success"})->notify, "SUCCESS");
  EXPECT_FALSE(parse({"-N", "never,success"}));
  EXPECT_FALSE(parse({"-N", "sometimes"}));
  EXPECT_FALSE(parse({"-R", "most"}));
  EXPECT_FALSE(parse({"-B", "BINARYMIME"}));
  EXPECT_FALSE(parse({"-V", std::string(101, 'x')}));
  EXPECT_FALSE(parse({"-V", "a\tb"}));
}

TEST(sendmail_args, unknown_options_name_themselves) {
  auto a = parse({"-Z"});
  ASSERT_FALSE(a);
  EXPECT_NE(a.error().find("-Z"), std::string::npos);
  a = parse({"--frobnicate"});
  ASSERT_FALSE(a);
  EXPECT_NE(a.error().find("--frobnicate"), std::string::npos);
  a = parse({"-tZ"});
  ASSERT_FALSE(a);
}

TEST(sendmail_args, usage_text_names_the_main_options) {
  const std::string_view u = sendmail_usage();
  for (const char* opt : {"-t", "-f", "-F", "-i", "-bs", "-bp", "-q", "-c"}) {
    EXPECT_NE(u.find(opt), std::string_view::npos) << opt;
  }
}

}  // namespace
}  // namespace posthorn::mail
