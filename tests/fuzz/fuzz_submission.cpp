// Fuzz target: what `sendmail` does to untrusted message text (mail/submission,
// mail/address_list): RFC 5322 address lists, the input collector, the header split and
// prepare_submission with -t.
//
// Input layout: byte 0 chooses where the input is cut for the collector's second feed
// and whether the lone-dot rule is on; the rest is the message text (and also the text
// of an address list). Main invariants: the collector's output does not depend on how
// the input was cut and holds CRLF line ends only; every address the list parser hands
// out is a valid SMTP path that prints and parses back to itself; with -t no Bcc field
// survives.

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

#include "fuzz_util.hpp"
#include "mail/address_list.hpp"
#include "mail/submission.hpp"

namespace {

using namespace posthorn;

void check_list(std::string_view text, std::string_view default_domain) {
  const auto r = mail::parse_address_list(text, default_domain);
  if (!r) {
    FUZZ_CHECK(r.error().offset <= text.size());
    FUZZ_CHECK(!r.error().message.empty());
    return;
  }
  for (const auto& a : *r) {
    FUZZ_CHECK(!a.domain.empty());
    const std::string path = "<" + a.str() + ">";
    const auto back = mail::parse_path(path, false, true);
    FUZZ_CHECK(back.has_value() && back->addr == a);
  }
}

bool crlf_only(std::string_view s) {
  for (std::size_t i = 0; i < s.size(); ++i) {
    if (s[i] == '\r' && (i + 1 >= s.size() || s[i + 1] != '\n')) {
      return false;
    }
    if (s[i] == '\n' && (i == 0 || s[i - 1] != '\r')) {
      return false;
    }
  }
  return true;
}

std::string collect(std::string_view in, bool dot_ends, std::size_t cut) {
  mail::input_collector c(dot_ends);
  bool ended = c.feed(in.substr(0, cut));
  if (!ended) {
    ended = c.feed(in.substr(cut));
  }
  if (!ended) {
    c.finish();
  }
  return c.take_message();
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  if (size == 0) {
    return 0;
  }
  const std::uint8_t control = data[0];
  const std::string_view text(reinterpret_cast<const char*>(data + 1), size - 1);

  check_list(text, "");
  check_list(text, "host.test");

  const bool dot_ends = (control & 0x80) != 0;
  const std::size_t cut = text.empty() ? 0 : (control & 0x7f) % (text.size() + 1);
  const std::string whole = collect(text, dot_ends, text.size());
  FUZZ_CHECK(collect(text, dot_ends, cut) == whole);
  FUZZ_CHECK(crlf_only(whole));
  FUZZ_CHECK(whole.empty() || whole.ends_with("\r\n"));

  const auto layout = mail::split_message(whole);
  std::size_t pos = 0;
  for (const auto& f : layout.fields) {
    FUZZ_CHECK(f.begin == pos && f.end > f.begin && f.end <= whole.size());
    FUZZ_CHECK(!f.name.empty());
    pos = f.end;
  }
  FUZZ_CHECK(layout.header_end == pos);
  FUZZ_CHECK(layout.body_begin >= layout.header_end && layout.body_begin <= whole.size());

  mail::submission_options o;
  o.extract_recipients = true;
  o.recipients = {mail::address{"cmd", "line.test"}};
  o.login = "user";
  o.hostname = "host.test";
  o.date = "Mon, 3 Feb 2025 04:05:06 +0100";
  o.message_id = "<id@host.test>";
  const auto s = mail::prepare_submission(whole, o);
  if (s) {
    FUZZ_CHECK(!s->recipients.empty());
    FUZZ_CHECK(crlf_only(s->message));
    const auto out = mail::split_message(s->message);
    bool from = false;
    for (const auto& f : out.fields) {
      FUZZ_CHECK(!mail::field_name_is(f.name, "Bcc"));
      FUZZ_CHECK(!mail::field_name_is(f.name, "Resent-Bcc"));
      from = from || mail::field_name_is(f.name, "From");
    }
    FUZZ_CHECK(from);
  }
  return 0;
}
