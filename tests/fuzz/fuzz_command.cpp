// Fuzz target: SMTP command framing and parsing (smtp::line_reader, parse_command,
// the MAIL/RCPT path and ESMTP parameters).
//
// Input layout: [limit selector] [param_support bits, bit 6: lf_mode::InLine]
// [4 chunk sizes] payload.
// The payload is fed to a line_reader in chunks; every line it returns is checked
// against a reference framing of the whole payload, then parsed as the session would.

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "fuzz_util.hpp"
#include "mail/address.hpp"
#include "smtp/proto/command.hpp"
#include "smtp/proto/params.hpp"

namespace {

using namespace posthorn;
using fuzz::chunker;

// What the reader must return for one line, worked out from the whole payload at once.
struct expected_line {
  std::string_view text;
  bool bare_lf = false;
  bool bare_cr = false;
  bool too_long = false;
};

constexpr std::size_t npos = std::string_view::npos;

std::size_t text_limit(std::size_t limit) { return limit >= 2 ? limit - 2 : 0; }

// The server's framing (lf_mode::InLine): only CRLF ends a line; bare CR and LF are
// content, and flagged. Over-long lines keep their first limit - 2 octets.
std::vector<expected_line> reference_crlf_lines(std::string_view s, std::size_t limit) {
  std::vector<expected_line> out;
  std::size_t start = 0;
  for (std::size_t end = s.find("\r\n"); end != npos; end = s.find("\r\n", start)) {
    const std::string_view content = s.substr(start, end - start);
    expected_line e;
    e.bare_lf = content.find('\n') != npos;
    e.bare_cr = content.find('\r') != npos;
    e.too_long = content.size() > text_limit(limit);
    e.text = content.substr(0, text_limit(limit));
    out.push_back(e);
    start = end + 2;
  }
  return out;
}

// lf_mode::EndsLine: only LF can end a line; a CR right before it makes the end CRLF,
// every other CR is content (and flagged). Over-long lines keep their first limit - 2
// octets.
std::vector<expected_line> reference_lines(std::string_view s, std::size_t limit) {
  std::vector<expected_line> out;
  std::size_t start = 0;
  for (std::size_t lf = s.find('\n'); lf != std::string_view::npos; lf = s.find('\n', start)) {
    std::string_view content = s.substr(start, lf - start);
    expected_line e;
    e.bare_lf = true;
    if (!content.empty() && content.back() == '\r') {
      content.remove_suffix(1);
      e.bare_lf = false;
    }
    e.bare_cr = content.find('\r') != std::string_view::npos;
    e.too_long = content.size() > text_limit(limit);
    e.text = content.substr(0, text_limit(limit));
    out.push_back(e);
    start = lf + 1;
  }
  return out;
}

// Octets the reader should hold of the unfinished line [line_start, consumed): all of
// it up to the limit, less a trailing CR (held back until the next octet shows whether
// it ends the line).
std::size_t reference_buffered(std::string_view s, std::size_t line_start, std::size_t consumed,
                               std::size_t limit) {
  std::size_t n = consumed - line_start;
  if (n > 0 && s[consumed - 1] == '\r') {
    --n;
  }
  return std::min(n, text_limit(limit));
}

char upper(char c) { return (c >= 'a' && c <= 'z') ? static_cast<char>(c - 'a' + 'A') : c; }

bool iequals(std::string_view a, std::string_view b) {
  if (a.size() != b.size()) {
    return false;
  }
  for (std::size_t i = 0; i < a.size(); ++i) {
    if (upper(a[i]) != upper(b[i])) {
      return false;
    }
  }
  return true;
}

// `part` lies inside `whole` (empty views are anywhere).
bool within(std::string_view whole, std::string_view part) {
  if (part.empty()) {
    return true;
  }
  return part.data() >= whole.data() && part.data() + part.size() <= whole.data() + whole.size();
}

std::string_view trim_blanks(std::string_view s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) {
    s.remove_prefix(1);
  }
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t')) {
    s.remove_suffix(1);
  }
  return s;
}

constexpr smtp::verb k_all_verbs[] = {
    smtp::verb::Helo, smtp::verb::Ehlo,     smtp::verb::Mail, smtp::verb::Rcpt, smtp::verb::Data,
    smtp::verb::Rset, smtp::verb::Noop,     smtp::verb::Quit, smtp::verb::Help, smtp::verb::Vrfy,
    smtp::verb::Expn, smtp::verb::Starttls, smtp::verb::Auth, smtp::verb::Bdat, smtp::verb::Etrn,
    smtp::verb::Send, smtp::verb::Soml,     smtp::verb::Saml, smtp::verb::Turn, smtp::verb::Xclient,
};

void check_param_error(const smtp::param_error& e) {
  FUZZ_CHECK(e.code() == 501 || e.code() == 555);
  FUZZ_CHECK((e.fault == smtp::param_fault::Unknown) == (e.code() == 555));
  FUZZ_CHECK(!e.text().empty());
  FUZZ_CHECK(e.text().find_first_of("\r\n") == std::string::npos);  // safe for a reply
  for (const char c : e.keyword) {
    FUZZ_CHECK(c < 'a' || c > 'z');  // keywords are reported upper case
  }
  const smtp::reply r = smtp::reply_for(e);
  FUZZ_CHECK(r.code == e.code());
  FUZZ_CHECK(r.enhanced == "5.5.4");
}

void check_xtext(std::string_view text) {
  const std::string encoded = smtp::xtext_encode(text);
  const auto back = smtp::xtext_decode(encoded);
  FUZZ_CHECK(back.has_value() && *back == text);
  if (const auto decoded = smtp::xtext_decode(text)) {
    FUZZ_CHECK(decoded->size() <= text.size());
    FUZZ_CHECK(smtp::xtext_decode(smtp::xtext_encode(*decoded)) == decoded);
  }
}

bool same(const smtp::mail_params& a, const smtp::mail_params& b) {
  return a.size == b.size && a.body == b.body && a.smtputf8 == b.smtputf8 && a.ret == b.ret &&
         a.envid == b.envid && a.auth == b.auth;
}

void check_mail_params(std::string_view text, const smtp::param_support& support) {
  const auto p = smtp::parse_mail_params(text, support);
  if (!p) {
    check_param_error(p.error());
    return;
  }
  FUZZ_CHECK(!p->size || support.size);
  FUZZ_CHECK(!p->smtputf8 || support.smtputf8);
  FUZZ_CHECK(p->body != smtp::body_kind::EightBitMime || support.eightbitmime);
  FUZZ_CHECK(p->body != smtp::body_kind::BinaryMime || support.binarymime);
  FUZZ_CHECK(!p->ret || *p->ret == "FULL" || *p->ret == "HDRS");
  FUZZ_CHECK(!p->envid || p->envid->size() <= 100);
  FUZZ_CHECK(!p->auth || !p->auth->empty());
  // Advertising more extensions never turns an accepted list into a refused one.
  const auto full = smtp::parse_mail_params(text, smtp::param_support{});
  FUZZ_CHECK(full.has_value() && same(*full, *p));
}

void check_rcpt_params(std::string_view text, const smtp::param_support& support) {
  const auto p = smtp::parse_rcpt_params(text, support);
  if (!p) {
    check_param_error(p.error());
    return;
  }
  FUZZ_CHECK(p->notify == 0 || support.dsn);
  // RFC 3461 §4.1: NEVER stands alone.
  FUZZ_CHECK(!(p->notify & smtp::notify_bits::k_never) || p->notify == smtp::notify_bits::k_never);
  FUZZ_CHECK(!p->orcpt || (p->orcpt->size() <= 500 && p->orcpt->find(';') != std::string::npos));
  const auto full = smtp::parse_rcpt_params(text, smtp::param_support{});
  FUZZ_CHECK(full.has_value() && full->notify == p->notify && full->orcpt == p->orcpt);
}

// The path after "FROM:" / "TO:", parsed as the session does.
void check_path_arg(std::string_view arg, bool rcpt, const smtp::param_support& support) {
  arg = trim_blanks(arg);
  if (rcpt) {
    if (const auto pm = mail::parse_postmaster_path(arg)) {
      FUZZ_CHECK(within(arg, *pm));
      check_rcpt_params(*pm, support);
    }
  }
  const auto path = mail::parse_path(arg, /*allow_null=*/!rcpt, /*utf8=*/true);
  if (!path) {
    return;
  }
  FUZZ_CHECK(within(arg, path->params));
  FUZZ_CHECK(path->params.empty() || path->params.front() != ' ');
  FUZZ_CHECK(rcpt ? !path->addr.empty() : true);
  if (rcpt) {
    check_rcpt_params(path->params, support);
  } else {
    check_mail_params(path->params, support);
  }
}

void check_command(std::string_view text, const smtp::param_support& support) {
  const smtp::command cmd = smtp::parse_command(text);
  FUZZ_CHECK(within(text, cmd.name));
  FUZZ_CHECK(within(text, cmd.arg));
  const std::size_t space = text.find(' ');
  FUZZ_CHECK(cmd.name == text.substr(0, space));
  if (space == std::string_view::npos) {
    FUZZ_CHECK(cmd.arg.empty());
  } else {
    const std::string_view after = text.substr(space + 1);
    FUZZ_CHECK(after.starts_with(cmd.arg));
    FUZZ_CHECK(cmd.arg.empty() || (cmd.arg.back() != ' ' && cmd.arg.back() != '\t'));
    for (const char c : after.substr(cmd.arg.size())) {
      FUZZ_CHECK(c == ' ' || c == '\t');
    }
  }
  if (cmd.v == smtp::verb::Unknown) {
    FUZZ_CHECK(smtp::verb_name(cmd.v).empty());
    for (const smtp::verb v : k_all_verbs) {
      FUZZ_CHECK(!iequals(cmd.name, smtp::verb_name(v)));
    }
  } else {
    FUZZ_CHECK(iequals(cmd.name, smtp::verb_name(cmd.v)));
  }

  if (cmd.v == smtp::verb::Mail && iequals(cmd.arg.substr(0, 5), "FROM:")) {
    check_path_arg(cmd.arg.substr(5), false, support);
  } else if (cmd.v == smtp::verb::Rcpt && iequals(cmd.arg.substr(0, 3), "TO:")) {
    check_path_arg(cmd.arg.substr(3), true, support);
  }
  // Whatever the verb, the parameter parsers must cope with any argument.
  check_mail_params(cmd.arg, support);
  check_rcpt_params(cmd.arg, support);
  check_xtext(cmd.arg);
}

std::size_t pick_limit(std::uint8_t b) {
  switch (b & 3) {
    case 0:
      return 512;  // commands, RFC 5321 §4.5.3.1.4
    case 1:
      return 12288;  // AUTH responses
    case 2:
      return b >> 2;  // tiny limits, down to 0, 1 and 2
    default:
      return 64 + (b >> 2) * 8;
  }
}

smtp::param_support pick_support(std::uint8_t b) {
  smtp::param_support s;
  s.size = !(b & 1);
  s.eightbitmime = !(b & 2);
  s.binarymime = !(b & 4);
  s.smtputf8 = !(b & 8);
  s.dsn = !(b & 16);
  s.auth = !(b & 32);
  return s;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  fuzz::input in(data, size);
  const std::size_t limit = pick_limit(in.byte());
  const std::uint8_t support_bits = in.byte();
  const smtp::param_support support = pick_support(support_bits);
  // Bit 6: the server's command framing, where a bare LF does not end a line.
  const smtp::lf_mode lf = (support_bits & 64) ? smtp::lf_mode::InLine : smtp::lf_mode::EndsLine;
  chunker chunks(in);
  const std::string_view payload = chunks.payload();
  const std::vector<expected_line> want = lf == smtp::lf_mode::InLine
                                              ? reference_crlf_lines(payload, limit)
                                              : reference_lines(payload, limit);

  smtp::line_reader reader(limit, lf);
  FUZZ_CHECK(reader.limit() == limit);
  std::size_t seen = 0;
  std::size_t line_start = 0;  // where the line being framed began in the payload
  std::string_view chunk;
  while (chunks.next(chunk)) {
    const std::size_t chunk_end = chunks.chunk_start() + chunk.size();
    std::string_view rest = chunk;
    for (;;) {
      const std::size_t before = rest.size();
      const auto got = reader.feed(rest);
      FUZZ_CHECK(rest.size() <= before);
      if (!got) {
        // No line end yet: everything was taken.
        FUZZ_CHECK(rest.empty());
        FUZZ_CHECK(reader.buffered() == reference_buffered(payload, line_start, chunk_end, limit));
        break;
      }
      // A line ends exactly at its LF: the octet before the rest is that LF, and in
      // InLine mode the CR before it.
      const std::size_t consumed = chunk_end - rest.size();
      FUZZ_CHECK(consumed > line_start && payload[consumed - 1] == '\n');
      if (lf == smtp::lf_mode::InLine) {
        FUZZ_CHECK(consumed - line_start >= 2 && payload[consumed - 2] == '\r');
        FUZZ_CHECK(payload.substr(line_start, consumed - line_start - 1).find("\r\n") == npos);
      } else {
        FUZZ_CHECK(payload.substr(line_start, consumed - line_start - 1).find('\n') == npos);
      }
      line_start = consumed;
      FUZZ_CHECK(seen < want.size());
      const expected_line& e = want[seen++];
      FUZZ_CHECK(got->text.size() <= text_limit(limit));
      FUZZ_CHECK(got->text == e.text);
      FUZZ_CHECK(got->bare_lf == e.bare_lf);
      FUZZ_CHECK(got->bare_cr == e.bare_cr);
      FUZZ_CHECK(got->too_long == e.too_long);
      if (!got->too_long) {
        check_command(got->text, support);
      }
    }
  }
  FUZZ_CHECK(seen == want.size());
  return 0;
}
