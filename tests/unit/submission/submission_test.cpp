// sendmail's input rules (line ends, the lone dot), the header split, and the headers
// a submission gets (RFC 5322 §3.6).

#include "mail/submission.hpp"

#include <gtest/gtest.h>

#include <string>

namespace posthorn::mail {
namespace {

// Feeds `in` split at `cut` (and whole when cut == npos); returns the message and
// whether the input ended at a lone dot.
std::pair<std::string, bool> collect(std::string_view in, bool dot_ends,
                                     std::size_t cut = std::string_view::npos) {
  input_collector c(dot_ends);
  bool ended = false;
  if (cut == std::string_view::npos) {
    ended = c.feed(in);
  } else {
    ended = c.feed(in.substr(0, cut));
    if (!ended) {
      ended = c.feed(in.substr(cut));
    }
  }
  if (!ended) {
    c.finish();
  }
  return {c.message(), ended};
}

struct collect_vector {
  const char* in;
  bool dot_ends;
  const char* out;
  bool ended_by_dot;
};

const collect_vector k_collect[] = {
    // Line ends: LF and CRLF become CRLF; a lone CR becomes a space.
    {"a\nb\n", true, "a\r\nb\r\n", false},
    {"a\r\nb\r\n", true, "a\r\nb\r\n", false},
    {"a\r\nb\nc", true, "a\r\nb\r\nc\r\n", false},
    {"a\rb\n", true, "a b\r\n", false},
    {"a\r\r\nb\n", true, "a \r\nb\r\n", false},
    {"a\r", true, "a\r\n", false},
    {"", true, "", false},
    {"\n\n", true, "\r\n\r\n", false},
    // The lone dot ends the input; what follows is not read.
    {"a\n.\nb\n", true, "a\r\n", true},
    {"a\r\n.\r\nb\r\n", true, "a\r\n", true},
    {"a\n.", true, "a\r\n", false},  // a final "." without a line end (EOF) ends it too
    {".\n", true, "", true},
    // Only a line holding nothing but one dot.
    {"a\n..\n.x\n. \n", true, "a\r\n..\r\n.x\r\n. \r\n", false},
    // -i: the dot is text.
    {"a\n.\nb\n", false, "a\r\n.\r\nb\r\n", false},
    {"a\n.", false, "a\r\n.\r\n", false},
};

TEST(input_collector, vectors_split_at_every_offset) {
  for (const auto& v : k_collect) {
    const std::string_view in = v.in;
    const auto whole = collect(in, v.dot_ends);
    EXPECT_EQ(whole.first, v.out) << "input: " << testing::PrintToString(v.in);
    EXPECT_EQ(whole.second, v.ended_by_dot) << testing::PrintToString(v.in);
    for (std::size_t cut = 0; cut <= in.size(); ++cut) {
      const auto split = collect(in, v.dot_ends, cut);
      EXPECT_EQ(split.first, v.out) << testing::PrintToString(v.in) << " cut at " << cut;
      EXPECT_EQ(split.second, v.ended_by_dot) << testing::PrintToString(v.in) << " at " << cut;
    }
  }
}

TEST(input_collector, byte_by_byte) {
  input_collector c(true);
  const std::string in = "Subject: x\r\n\nbody\r\n.\r\nnot this\n";
  bool ended = false;
  for (const char ch : in) {
    if (c.feed(std::string_view(&ch, 1))) {
      ended = true;
      break;
    }
  }
  EXPECT_TRUE(ended);
  EXPECT_EQ(c.message(), "Subject: x\r\n\r\nbody\r\n");
}

TEST(split_message, fields_folding_and_body) {
  const std::string m = "Subject: hello\r\n  world\r\nTo: a@b.test\r\n\r\nbody\r\n";
  const auto l = split_message(m);
  ASSERT_EQ(l.fields.size(), 2u);
  EXPECT_EQ(l.fields[0].name, "Subject");
  EXPECT_EQ(l.fields[0].value, " hello\r\n  world");
  EXPECT_EQ(l.fields[1].name, "To");
  EXPECT_EQ(l.fields[1].value, " a@b.test");
  EXPECT_TRUE(l.separator);
  EXPECT_EQ(m.substr(l.body_begin), "body\r\n");
  EXPECT_EQ(m.substr(l.fields[0].begin, l.fields[0].end - l.fields[0].begin),
            "Subject: hello\r\n  world\r\n");
}

TEST(split_message, obsolete_space_before_colon_and_empty_values) {
  const auto l = split_message("Subject : x\r\nX-Empty:\r\n\r\n");
  ASSERT_EQ(l.fields.size(), 2u);
  EXPECT_EQ(l.fields[0].name, "Subject");
  EXPECT_EQ(l.fields[1].name, "X-Empty");
  EXPECT_EQ(l.fields[1].value, "");
}

TEST(split_message, no_separator) {
  // Text that is no header field starts the body.
  std::string m = "Subject: x\r\nHello there\r\n";
  auto l = split_message(m);
  ASSERT_EQ(l.fields.size(), 1u);
  EXPECT_FALSE(l.separator);
  EXPECT_EQ(m.substr(l.body_begin), "Hello there\r\n");
  // No header at all.
  m = "Just text: not quite\r\n";  // a space in the name: not a field
  l = split_message(m);
  EXPECT_TRUE(l.fields.empty());
  EXPECT_EQ(l.body_begin, 0u);
  // A first line starting with white space is no continuation of anything.
  l = split_message(" indented\r\n");
  EXPECT_TRUE(l.fields.empty());
  // Header only, no body.
  m = "Subject: x\r\n";
  l = split_message(m);
  EXPECT_EQ(l.fields.size(), 1u);
  EXPECT_EQ(l.body_begin, m.size());
  EXPECT_FALSE(l.separator);
  // A field without a final CRLF.
  l = split_message("Subject: x");
  ASSERT_EQ(l.fields.size(), 1u);
  EXPECT_EQ(l.fields[0].value, " x");
}

TEST(field_name_is, case_insensitive) {
  EXPECT_TRUE(field_name_is("bcc", "Bcc"));
  EXPECT_TRUE(field_name_is("MESSAGE-ID", "Message-ID"));
  EXPECT_FALSE(field_name_is("Bccx", "Bcc"));
}

TEST(rfc5322_date, format) {
  std::tm t{};
  t.tm_year = 2025 - 1900;
  t.tm_mon = 1;
  t.tm_mday = 3;
  t.tm_wday = 1;
  t.tm_hour = 4;
  t.tm_min = 5;
  t.tm_sec = 6;
  EXPECT_EQ(rfc5322_date(t, 3600), "Mon, 3 Feb 2025 04:05:06 +0100");
  EXPECT_EQ(rfc5322_date(t, 0), "Mon, 3 Feb 2025 04:05:06 +0000");
  EXPECT_EQ(rfc5322_date(t, -(9 * 3600 + 30 * 60)), "Mon, 3 Feb 2025 04:05:06 -0930");
  EXPECT_EQ(rfc5322_date(t, 5 * 3600 + 45 * 60), "Mon, 3 Feb 2025 04:05:06 +0545");
}

TEST(make_message_id, unique_parts_and_host) {
  std::tm t{};
  t.tm_year = 2025 - 1900;
  t.tm_mon = 11;
  t.tm_mday = 31;
  t.tm_hour = 23;
  t.tm_min = 59;
  t.tm_sec = 58;
  EXPECT_EQ(make_message_id(t, 4242, 0x5f3a9c1e2b7d8a60ull, "mx.example.test"),
            "<20251231235958.4242.5f3a9c1e2b7d8a60@mx.example.test>");
  EXPECT_NE(make_message_id(t, 4242, 1, "h"), make_message_id(t, 4242, 2, "h"));
}

TEST(display_name, phrase_quoting_and_encoding) {
  EXPECT_EQ(display_name("Alice Smith"), "Alice Smith");
  EXPECT_EQ(display_name("  Alice  "), "Alice");
  EXPECT_EQ(display_name(""), "");
  EXPECT_EQ(display_name("   "), "");
  EXPECT_EQ(display_name("Smith, Alice"), "\"Smith, Alice\"");
  EXPECT_EQ(display_name("A \"B\" C\\"), "\"A \\\"B\\\" C\\\\\"");
  EXPECT_EQ(display_name("John Q. Public"), "\"John Q. Public\"");
  EXPECT_EQ(display_name("line\nbreak"), "line break");
  EXPECT_EQ(display_name("=?x?="), "\"=?x?=\"");
  EXPECT_EQ(display_name("Jörg"), "=?UTF-8?B?SsO2cmc=?=");
  // Long names are split into encoded words of at most 75 characters, between whole
  // UTF-8 sequences.
  const std::string long_name(40, 'x');
  const std::string name = display_name(long_name + "ööööö");
  EXPECT_NE(name.find("?=\r\n =?UTF-8?B?"), std::string::npos) << name;
  std::size_t start = 0;
  while (start < name.size()) {
    std::size_t end = name.find("\r\n ", start);
    if (end == std::string::npos) {
      end = name.size();
    }
    EXPECT_LE(end - start, 75u);
    start = end + 3;
  }
}

submission_options base_options() {
  submission_options o;
  o.login = "alice";
  o.hostname = "mx.example.test";
  o.date = "Mon, 3 Feb 2025 04:05:06 +0100";
  o.message_id = "<1.2.3@mx.example.test>";
  return o;
}

std::vector<std::string> keys(const submission& s) {
  std::vector<std::string> out;
  for (const auto& a : s.recipients) {
    out.push_back(a.str());
  }
  return out;
}

using list = std::vector<std::string>;

TEST(prepare_submission, adds_date_message_id_and_from_when_missing) {
  auto o = base_options();
  o.recipients = {address{"bob", "example.test"}};
  auto s = prepare_submission("Subject: hi\r\n\r\nbody\r\n", o);
  ASSERT_TRUE(s) << s.error().message;
  EXPECT_EQ(s->message,
            "Subject: hi\r\n"
            "From: alice@mx.example.test\r\n"
            "Date: Mon, 3 Feb 2025 04:05:06 +0100\r\n"
            "Message-ID: <1.2.3@mx.example.test>\r\n"
            "\r\nbody\r\n");
  EXPECT_EQ(s->sender.str(), "alice@mx.example.test");
  EXPECT_EQ(keys(*s), list{"bob@example.test"});
  EXPECT_FALSE(s->eight_bit);
  EXPECT_FALSE(s->smtputf8);
}

TEST(prepare_submission, keeps_existing_headers_case_insensitively) {
  auto o = base_options();
  o.recipients = {address{"bob", "example.test"}};
  const std::string m =
      "from: Me <me@example.test>\r\nDATE: Sun, 2 Feb 2025 00:00:00 +0000\r\n"
      "message-id: <x@y>\r\n\r\nbody\r\n";
  auto s = prepare_submission(m, o);
  ASSERT_TRUE(s);
  EXPECT_EQ(s->message, m);
}

TEST(prepare_submission, from_uses_full_name_and_sender) {
  auto o = base_options();
  o.recipients = {address{"bob", "example.test"}};
  o.full_name = "Alice Smith";
  auto s = prepare_submission("\r\nbody\r\n", o);
  ASSERT_TRUE(s);
  EXPECT_TRUE(s->message.starts_with("From: Alice Smith <alice@mx.example.test>\r\n"))
      << s->message;
  // -f: the envelope sender, and the From: made for it.
  o.sender = address{"list-owner", "example.test"};
  s = prepare_submission("\r\nbody\r\n", o);
  ASSERT_TRUE(s);
  EXPECT_EQ(s->sender.str(), "list-owner@example.test");
  EXPECT_TRUE(s->message.starts_with("From: Alice Smith <list-owner@example.test>\r\n"));
  // -f '': the null sender; From: names the user.
  o.sender = address{};
  o.full_name.clear();
  s = prepare_submission("\r\nbody\r\n", o);
  ASSERT_TRUE(s);
  EXPECT_TRUE(s->sender.empty());
  EXPECT_TRUE(s->message.starts_with("From: alice@mx.example.test\r\n"));
}

TEST(prepare_submission, extracts_to_cc_bcc_and_removes_bcc) {
  auto o = base_options();
  o.extract_recipients = true;
  const std::string m =
      "To: Bob <bob@example.test>, carol@example.test\r\n"
      "Cc: team: dave@example.test;\r\n"
      "BCC: eve@example.test,\r\n"
      " frank@example.test\r\n"
      "Subject: x\r\n"
      "bcc: (second) gina@example.test\r\n"
      "\r\n"
      "To: not@a.header.test\r\n";
  auto s = prepare_submission(m, o);
  ASSERT_TRUE(s) << s.error().message;
  EXPECT_EQ(keys(*s), (list{"bob@example.test", "carol@example.test", "dave@example.test",
                            "eve@example.test", "frank@example.test", "gina@example.test"}));
  EXPECT_EQ(s->message.find("eve@"), std::string::npos) << s->message;
  EXPECT_EQ(s->message.find("frank@"), std::string::npos);
  EXPECT_EQ(s->message.find("gina@"), std::string::npos);
  EXPECT_TRUE(s->message.starts_with("To: Bob <bob@example.test>, carol@example.test\r\n"
                                     "Cc: team: dave@example.test;\r\n"
                                     "Subject: x\r\n"
                                     "From: "));
  EXPECT_TRUE(s->message.ends_with("\r\n\r\nTo: not@a.header.test\r\n"));
}

TEST(prepare_submission, command_line_recipients_are_added_to_extracted_ones) {
  auto o = base_options();
  o.extract_recipients = true;
  o.recipients = {address{"zed", "example.test"}, address{"BOB", "Example.Test"}};
  auto s = prepare_submission("To: bob@example.test\r\n\r\nx\r\n", o);
  ASSERT_TRUE(s);
  // Duplicates (case-insensitively) are sent once.
  EXPECT_EQ(keys(*s), (list{"bob@example.test", "zed@example.test"}));
}

TEST(prepare_submission, without_t_headers_are_not_recipients_but_bcc_goes) {
  auto o = base_options();
  o.recipients = {address{"zed", "example.test"}};
  auto s = prepare_submission("To: bob@example.test\r\nBcc: eve@example.test\r\n\r\nx\r\n", o);
  ASSERT_TRUE(s);
  EXPECT_EQ(keys(*s), list{"zed@example.test"});
  EXPECT_EQ(s->message.find("Bcc"), std::string::npos);
}

TEST(prepare_submission, resent_headers_take_precedence_with_t) {
  auto o = base_options();
  o.extract_recipients = true;
  auto s = prepare_submission(
      "To: old@example.test\r\nResent-To: new@example.test\r\n"
      "Resent-Bcc: hidden@example.test\r\n\r\nx\r\n",
      o);
  ASSERT_TRUE(s);
  EXPECT_EQ(keys(*s), (list{"new@example.test", "hidden@example.test"}));
  EXPECT_EQ(s->message.find("hidden"), std::string::npos);
}

TEST(prepare_submission, unqualified_header_addresses_get_the_hostname) {
  auto o = base_options();
  o.extract_recipients = true;
  auto s = prepare_submission("To: root, Bob <bob>\r\n\r\nx\r\n", o);
  ASSERT_TRUE(s);
  EXPECT_EQ(keys(*s), (list{"root@mx.example.test", "bob@mx.example.test"}));
}

TEST(prepare_submission, no_recipients_is_a_data_error) {
  auto o = base_options();
  o.extract_recipients = true;
  auto s = prepare_submission("Subject: nobody\r\n\r\nx\r\n", o);
  ASSERT_FALSE(s);
  EXPECT_TRUE(s.error().permanent());
  EXPECT_NE(s.error().message.find("no recipient"), std::string::npos);
  s = prepare_submission("To: undisclosed-recipients:;\r\n\r\nx\r\n", o);
  ASSERT_FALSE(s);
}

TEST(prepare_submission, a_bad_address_header_fails_and_names_the_field) {
  auto o = base_options();
  o.extract_recipients = true;
  auto s = prepare_submission("To: good@example.test\r\nCc: Alice <broken\r\n\r\nx\r\n", o);
  ASSERT_FALSE(s);
  EXPECT_NE(s.error().message.find("Cc"), std::string::npos) << s.error().message;
  // Without -t the header is not read, so it does not matter.
  o.extract_recipients = false;
  o.recipients = {address{"bob", "example.test"}};
  EXPECT_TRUE(prepare_submission("Cc: Alice <broken\r\n\r\nx\r\n", o));
}

TEST(prepare_submission, message_without_separator_or_header) {
  auto o = base_options();
  o.recipients = {address{"bob", "example.test"}};
  o.date.clear();
  o.message_id.clear();
  // Only text: our headers, then an empty line, then the text.
  auto s = prepare_submission("Hello Bob,\r\nsee you.\r\n", o);
  ASSERT_TRUE(s);
  EXPECT_EQ(s->message, "From: alice@mx.example.test\r\n\r\nHello Bob,\r\nsee you.\r\n");
  // A header, then text without the empty line.
  s = prepare_submission("Subject: x\r\nHello\r\n", o);
  ASSERT_TRUE(s);
  EXPECT_EQ(s->message, "Subject: x\r\nFrom: alice@mx.example.test\r\n\r\nHello\r\n");
  // Only a header, no body: no empty line is invented.
  s = prepare_submission("Subject: x\r\n", o);
  ASSERT_TRUE(s);
  EXPECT_EQ(s->message, "Subject: x\r\nFrom: alice@mx.example.test\r\n");
  // Nothing at all.
  s = prepare_submission("", o);
  ASSERT_TRUE(s);
  EXPECT_EQ(s->message, "From: alice@mx.example.test\r\n");
  // A last field without CRLF.
  s = prepare_submission("Subject: x", o);
  ASSERT_TRUE(s);
  EXPECT_EQ(s->message, "Subject: x\r\nFrom: alice@mx.example.test\r\n");
}

TEST(prepare_submission, leading_mbox_from_line_is_dropped) {
  auto o = base_options();
  o.recipients = {address{"bob", "example.test"}};
  auto s = prepare_submission(
      "From alice Thu Feb 13 12:00:00 2025\r\nFrom: a@example.test\r\nDate: x\r\n"
      "Message-ID: <y>\r\n\r\nFrom here on\r\n",
      o);
  ASSERT_TRUE(s);
  EXPECT_EQ(s->message,
            "From: a@example.test\r\nDate: x\r\nMessage-ID: <y>\r\n\r\nFrom here on\r\n");
}

TEST(prepare_submission, eight_bit_and_smtputf8) {
  auto o = base_options();
  o.recipients = {address{"bob", "example.test"}};
  auto s = prepare_submission("Subject: Grüße\r\n\r\nbody\r\n", o);
  ASSERT_TRUE(s);
  EXPECT_TRUE(s->eight_bit);
  EXPECT_FALSE(s->smtputf8);  // only the envelope asks for SMTPUTF8
  o.recipients = {address{"jörg", "example.test"}};
  s = prepare_submission("\r\nbody\r\n", o);
  ASSERT_TRUE(s);
  EXPECT_FALSE(s->eight_bit);
  EXPECT_TRUE(s->smtputf8);
}

}  // namespace
}  // namespace posthorn::mail
