#include "smtp/proto/command.hpp"

#include <algorithm>
#include <array>

#include "smtp/proto/line_end.hpp"

namespace posthorn::smtp {
namespace {

struct verb_entry {
  std::string_view name;
  verb v;
};

constexpr std::array<verb_entry, 20> k_verbs{{
    {"HELO", verb::Helo}, {"EHLO", verb::Ehlo}, {"MAIL", verb::Mail}, {"RCPT", verb::Rcpt},
    {"DATA", verb::Data}, {"RSET", verb::Rset}, {"NOOP", verb::Noop}, {"QUIT", verb::Quit},
    {"HELP", verb::Help}, {"VRFY", verb::Vrfy}, {"EXPN", verb::Expn}, {"STARTTLS", verb::Starttls},
    {"AUTH", verb::Auth}, {"BDAT", verb::Bdat}, {"ETRN", verb::Etrn}, {"SEND", verb::Send},
    {"SOML", verb::Soml}, {"SAML", verb::Saml}, {"TURN", verb::Turn}, {"XCLIENT", verb::Xclient},
}};

char upper(char c) { return (c >= 'a' && c <= 'z') ? static_cast<char>(c - 'a' + 'A') : c; }

// `canonical` is upper case already.
bool equals_upper(std::string_view s, std::string_view canonical) {
  if (s.size() != canonical.size()) {
    return false;
  }
  for (std::size_t i = 0; i < s.size(); ++i) {
    if (upper(s[i]) != canonical[i]) {
      return false;
    }
  }
  return true;
}

// The line end takes two octets (CRLF); whatever the limit, a line may hold no more
// text than limit - 2 (RFC 5321 §4.5.3.1.4 counts the CRLF in the 512).
std::size_t text_limit(std::size_t limit) { return limit >= 2 ? limit - 2 : 0; }

}  // namespace

command parse_command(std::string_view line) {
  command cmd;
  const std::size_t space = line.find(' ');
  cmd.name = line.substr(0, space);
  if (space != std::string_view::npos) {
    std::string_view arg = line.substr(space + 1);
    while (!arg.empty() && (arg.back() == ' ' || arg.back() == '\t')) {
      arg.remove_suffix(1);
    }
    cmd.arg = arg;
  }
  for (const verb_entry& e : k_verbs) {
    if (equals_upper(cmd.name, e.name)) {
      cmd.v = e.v;
      break;
    }
  }
  return cmd;
}

std::string_view verb_name(verb v) {
  for (const verb_entry& e : k_verbs) {
    if (e.v == v) {
      return e.name;
    }
  }
  return {};
}

void line_reader::reset() {
  buf_.clear();
  line_.clear();
  overflow_ = false;
  last_was_cr_ = false;
  saw_bare_lf_ = false;
  saw_bare_cr_ = false;
}

void line_reader::append(std::string_view text) {
  const std::size_t room = text_limit(limit_) - std::min(buf_.size(), text_limit(limit_));
  if (text.size() > room) {
    overflow_ = true;
    text = text.substr(0, room);
  }
  buf_.append(text);
}

std::optional<line> line_reader::feed(std::string_view& in) {
  // The previous line's text lived in line_ and is no longer promised to anyone.
  line_.clear();
  while (!in.empty()) {
    if (last_was_cr_) {
      // A CR held back from an earlier octet (maybe an earlier feed()): only an LF
      // right after it makes it part of a CRLF line end.
      last_was_cr_ = false;
      if (in.front() == '\n') {
        in.remove_prefix(1);
        return finish();
      }
      saw_bare_cr_ = true;
      append("\r");
      continue;
    }
    const std::size_t i = detail::find_cr_or_lf(in);
    append(in.substr(0, i));
    if (i == in.size()) {
      in.remove_prefix(i);
      break;
    }
    const char end = in[i];
    in.remove_prefix(i + 1);
    if (end == '\n') {
      saw_bare_lf_ = true;
      if (lf_ == lf_mode::EndsLine) {
        return finish();
      }
      // RFC 5321 §2.3.8: a bare LF does not end a line. It stays in the line, which
      // the session then refuses whole: the text after it is never run as a command.
      append("\n");
      continue;
    }
    last_was_cr_ = true;
  }
  return std::nullopt;
}

line line_reader::finish() {
  line_.swap(buf_);
  buf_.clear();
  line out;
  out.text = line_;
  out.bare_lf = saw_bare_lf_;
  out.bare_cr = saw_bare_cr_;
  out.too_long = overflow_;
  overflow_ = false;
  saw_bare_lf_ = false;
  saw_bare_cr_ = false;
  return out;
}

}  // namespace posthorn::smtp
