// The field and text syntax of delivery status notifications (RFC 3464, RFC 6533, RFC 5322
// folding) and the parts of the original message a report returns. No envelope, no queue.

#include "mail/dsn_fields.hpp"

#include <algorithm>
#include <cstdio>
#include <string>
#include <vector>

#include "mail/received.hpp"
#include "mail/xtext.hpp"

namespace posthorn::mail {

std::string_view action_name(dsn_action a) {
  switch (a) {
    case dsn_action::Failed:
      return "failed";
    case dsn_action::Delayed:
      return "delayed";
    case dsn_action::Delivered:
      return "delivered";
    case dsn_action::Relayed:
      return "relayed";
    case dsn_action::Expanded:
      break;
  }
  return "expanded";
}

namespace dsn_fields {

// RFC 5322 §2.1.1: lines SHOULD be at most 78 octets and MUST be at most 998 (CRLF excluded).
constexpr std::size_t k_fold_width = 78;
constexpr std::size_t k_max_line = 998;
// A word longer than this is cut so that a folded line stays under k_max_line with the longest
// field name in front of it.
constexpr std::size_t k_max_word = 900;
// A Message-ID longer than this is not echoed in In-Reply-To.
constexpr std::size_t k_max_msgid = 250;

bool is_digit(char c) { return c >= '0' && c <= '9'; }

bool is_alnum(char c) { return is_digit(c) || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z'); }

char lower(char c) { return c >= 'A' && c <= 'Z' ? static_cast<char>(c - 'A' + 'a') : c; }

bool iequals(std::string_view a, std::string_view b) {
  if (a.size() != b.size()) {
    return false;
  }
  for (std::size_t i = 0; i < a.size(); ++i) {
    if (lower(a[i]) != lower(b[i])) {
      return false;
    }
  }
  return true;
}

std::string_view trim(std::string_view s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) {
    s.remove_prefix(1);
  }
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t')) {
    s.remove_suffix(1);
  }
  return s;
}

bool has_8bit(std::string_view s) {
  for (const char c : s) {
    if (static_cast<unsigned char>(c) >= 0x80) {
      return true;
    }
  }
  return false;
}

// Text from peers and the queue made fit for one header field or text line: line breaks and
// tabs become spaces and runs of spaces one; other controls become '?'; octets above 127 stay
// only where UTF-8 is allowed (RFC 6533 §6.2 for the global report) and the text is valid UTF-8.
std::string clean_text(std::string_view text, bool utf8) {
  const bool keep_8bit = utf8 && valid_utf8(text);
  std::string out;
  out.reserve(text.size());
  bool space = false;
  for (const char ch : text) {
    const auto c = static_cast<unsigned char>(ch);
    if (c == ' ' || c == '\t' || c == '\r' || c == '\n') {
      space = !out.empty();
      continue;
    }
    if (space) {
      out.push_back(' ');
      space = false;
    }
    if (c < 0x20 || c == 0x7f || (c >= 0x80 && !keep_8bit)) {
      out.push_back('?');
    } else {
      out.push_back(ch);
    }
  }
  return out;
}

// An atom-like token: a DSN address-type, diagnostic-type or mta-name-type (RFC 3464 §2.1.2).
bool is_type_token(std::string_view s) {
  if (s.empty() || s.size() > 64) {
    return false;
  }
  for (const char c : s) {
    if (!is_alnum(c) && c != '-' && c != '_' && c != '.') {
      return false;
    }
  }
  return true;
}

// RFC 5321 §4.2: three digits, 2..5 first, then the end, a space or a hyphen.
bool is_smtp_reply(std::string_view s) {
  if (s.size() < 3 || s[0] < '2' || s[0] > '5' || !is_digit(s[1]) || !is_digit(s[2])) {
    return false;
  }
  return s.size() == 3 || s[3] == ' ' || s[3] == '-';
}

// "c.sss.ddd" (RFC 3463 §2): class 2, 4 or 5, one to three digits each after it.
bool is_status_code(std::string_view s) {
  if (s.size() < 5 || (s[0] != '2' && s[0] != '4' && s[0] != '5') || s[1] != '.') {
    return false;
  }
  std::size_t i = 2;
  for (int part = 0; part < 2; ++part) {
    std::size_t digits = 0;
    while (i < s.size() && is_digit(s[i])) {
      ++i;
      ++digits;
    }
    if (digits < 1 || digits > 3) {
      return false;
    }
    if (part == 0) {
      if (i >= s.size() || s[i] != '.') {
        return false;
      }
      ++i;
    }
  }
  return i == s.size();
}

// The enhanced status code after the reply code ("550 5.1.1 ..."), "" when there is none.
std::string_view enhanced_code_of(std::string_view reply) {
  if (!is_smtp_reply(reply) || reply.size() < 5) {
    return {};
  }
  std::string_view rest = reply.substr(4);
  const std::size_t end = rest.find_first_of(" \r\n");
  const std::string_view code = rest.substr(0, end);
  return is_status_code(code) ? code : std::string_view{};
}

std::string_view default_status(dsn_action a) {
  switch (a) {
    case dsn_action::Failed:
      return "5.0.0";
    case dsn_action::Delayed:
      return "4.0.0";
    case dsn_action::Delivered:
    case dsn_action::Relayed:
    case dsn_action::Expanded:
      break;
  }
  return "2.0.0";
}

// RFC 3464 §2.3.4 with RFC 3463 §3.5: a failure is permanent (5) or a temporary condition
// given up on (4, as 4.4.7); a delay is temporary; the other actions are successes.
bool status_fits(dsn_action a, std::string_view status) {
  if (!is_status_code(status)) {
    return false;
  }
  switch (a) {
    case dsn_action::Failed:
      return status[0] == '5' || status[0] == '4';
    case dsn_action::Delayed:
      return status[0] == '4';
    case dsn_action::Delivered:
    case dsn_action::Relayed:
    case dsn_action::Expanded:
      break;
  }
  return status[0] == '2';
}

// Code points of valid UTF-8 (checked by the caller with valid_utf8()).
std::vector<char32_t> code_points(std::string_view s) {
  std::vector<char32_t> out;
  for (std::size_t i = 0; i < s.size();) {
    const auto c = static_cast<unsigned char>(s[i]);
    std::size_t n = 1;
    char32_t cp = c;
    if (c >= 0xf0) {
      n = 4;
      cp = c & 0x07;
    } else if (c >= 0xe0) {
      n = 3;
      cp = c & 0x0f;
    } else if (c >= 0xc0) {
      n = 2;
      cp = c & 0x1f;
    }
    for (std::size_t k = 1; k < n && i + k < s.size(); ++k) {
      cp = (cp << 6) | (static_cast<unsigned char>(s[i + k]) & 0x3f);
    }
    out.push_back(cp);
    i += n;
  }
  return out;
}

// RFC 6533 §3 utf-8-addr-xtext: ASCII printables except '\', '+' and '=' stay; those, space,
// controls and every non-ASCII code point become "\x{HEX}". Pure ASCII, so it fits a
// message/delivery-status part.
std::string utf8_addr_xtext(std::string_view addr) {
  const std::string safe = valid_utf8(addr) ? std::string(addr) : clean_text(addr, false);
  std::string out;
  for (const char32_t cp : code_points(safe)) {
    if (cp > 0x20 && cp < 0x7f && cp != '\\' && cp != '+' && cp != '=') {
      out.push_back(static_cast<char>(cp));
    } else {
      char buf[16];
      std::snprintf(buf, sizeof buf, "\\x{%02X}", static_cast<unsigned>(cp));
      out += buf;
    }
  }
  return out;
}

// Appends "Name: value" and CRLF, folding before a space where a line would pass 78 columns
// (RFC 5322 §2.2.3) and cutting a word longer than k_max_word, so that no line passes 998
// octets. The value is expected clean (clean_text()).
void append_field(std::string& out, std::string_view name, std::string_view value) {
  out += name;
  out += ':';
  std::size_t col = name.size() + 1;
  bool first = true;
  auto emit = [&](std::string_view word) {
    if (!first && col + 1 + word.size() > k_fold_width) {
      out += k_crlf;
      col = 0;
    }
    out += ' ';
    out += word;
    col += 1 + word.size();
    first = false;
  };
  std::size_t pos = 0;
  while (pos < value.size()) {
    const std::size_t end = std::min(value.find(' ', pos), value.size());
    std::string_view word = value.substr(pos, end - pos);
    pos = end + 1;
    while (word.size() > k_max_word) {
      emit(word.substr(0, k_max_word));
      word.remove_prefix(k_max_word);
    }
    if (!word.empty()) {
      emit(word);
    }
  }
  out += k_crlf;
}

// Appends `text` as lines of at most 78 columns where its words allow: the first line starts
// with `first`, the others with `indent`.
void append_wrapped(std::string& out, std::string_view first, std::string_view indent,
                    std::string_view text) {
  out += first;
  std::size_t col = first.size();
  bool line_empty = true;
  std::size_t pos = 0;
  while (pos < text.size()) {
    const std::size_t end = std::min(text.find(' ', pos), text.size());
    std::string_view word = text.substr(pos, end - pos);
    pos = end + 1;
    while (!word.empty()) {
      const std::string_view piece = word.substr(0, k_max_word);
      word.remove_prefix(piece.size());
      if (!line_empty && col + 1 + piece.size() > k_fold_width) {
        out += k_crlf;
        out += indent;
        col = indent.size();
        line_empty = true;
      }
      if (!line_empty) {
        out += ' ';
        ++col;
      }
      out += piece;
      col += piece.size();
      line_empty = false;
    }
  }
  out += k_crlf;
}

// One line of the original message: its text and whether a line end (CR, LF or CRLF) followed.
struct raw_line {
  std::string_view text;
  bool terminated = false;
};

// Walks the lines of text whose line ends may be CRLF, bare LF or bare CR.
class line_reader {
 public:
  explicit line_reader(std::string_view text) : text_(text) {}

  std::optional<raw_line> next() {
    if (pos_ >= text_.size()) {
      return std::nullopt;
    }
    const std::size_t end = text_.find_first_of("\r\n", pos_);
    if (end == std::string_view::npos) {
      raw_line l{text_.substr(pos_), false};
      pos_ = text_.size();
      return l;
    }
    raw_line l{text_.substr(pos_, end - pos_), true};
    pos_ = end + 1;
    if (text_[end] == '\r' && pos_ < text_.size() && text_[pos_] == '\n') {
      ++pos_;
    }
    return l;
  }

 private:
  std::string_view text_;
  std::size_t pos_ = 0;
};

// True when the message can be carried as 8bit MIME content: no NUL and no line over 998
// octets (RFC 2045 §2.8, RFC 5322 §2.1.1).
bool transportable(std::string_view message) {
  if (message.find('\0') != std::string_view::npos) {
    return false;
  }
  line_reader lines(message);
  while (const auto l = lines.next()) {
    if (l->text.size() > k_max_line) {
      return false;
    }
  }
  return true;
}

// The header lines of the message (up to the empty line that ends them), unchanged.
std::vector<std::string_view> header_lines(std::string_view message) {
  std::vector<std::string_view> out;
  line_reader lines(message);
  while (const auto l = lines.next()) {
    if (l->text.empty()) {
      break;
    }
    out.push_back(l->text);
  }
  return out;
}

// The whole message with CRLF line ends and a final CRLF.
std::string full_content(std::string_view message) {
  std::string out;
  out.reserve(message.size() + 2);
  line_reader lines(message);
  while (const auto l = lines.next()) {
    out += l->text;
    out += k_crlf;
  }
  return out;
}

// The header section with CRLF line ends. A NUL becomes '?' and a line over 998 octets is cut
// into continuation lines, so that even a message that could not be returned whole gets its
// headers back in a well-formed part.
std::string headers_content(std::string_view message) {
  std::string out;
  for (std::string_view line : header_lines(message)) {
    bool first = true;
    while (first || !line.empty()) {
      const std::size_t room = first ? k_max_line : k_max_line - 1;
      const std::string_view piece = line.substr(0, room);
      line.remove_prefix(piece.size());
      if (!first) {
        out += '\t';
      }
      for (const char c : piece) {
        out.push_back(c == '\0' ? '?' : c);
      }
      out += k_crlf;
      first = false;
    }
  }
  return out;
}

// The original's Message-ID ("<...>") for In-Reply-To and References, "" when it has none
// that can be repeated safely.
std::string original_message_id(std::string_view message) {
  const auto lines = header_lines(message);
  for (std::size_t i = 0; i < lines.size(); ++i) {
    const std::string_view line = lines[i];
    const std::size_t colon = line.find(':');
    if (colon == std::string_view::npos || !iequals(trim(line.substr(0, colon)), "message-id")) {
      continue;
    }
    std::string value(line.substr(colon + 1));
    for (std::size_t k = i + 1; k < lines.size() && !lines[k].empty() &&
                                (lines[k].front() == ' ' || lines[k].front() == '\t');
         ++k) {
      value += lines[k];
    }
    const std::size_t open = value.find('<');
    const std::size_t close = value.find('>', open == std::string::npos ? 0 : open);
    if (open == std::string::npos || close == std::string::npos || close - open < 2 ||
        close - open + 1 > k_max_msgid) {
      return {};
    }
    const std::string id = value.substr(open, close - open + 1);
    for (std::size_t k = 1; k + 1 < id.size(); ++k) {
      const auto c = static_cast<unsigned char>(id[k]);
      if (c <= 0x20 || c >= 0x7f || c == '<' || c == '>') {
        return {};
      }
    }
    return id;
  }
  return {};
}

// 64-bit FNV-1a, for a boundary that differs per report without a random source.
std::uint64_t fnv1a(std::string_view s, std::uint64_t h) {
  for (const char c : s) {
    h ^= static_cast<unsigned char>(c);
    h *= 0x100000001b3ULL;
  }
  return h;
}

std::string hex64(std::uint64_t v) {
  char buf[17];
  std::snprintf(buf, sizeof buf, "%016llx", static_cast<unsigned long long>(v));
  return buf;
}

// Our hostname as it may appear in Reporting-MTA, From and Message-ID.
std::string host_name(std::string_view host) {
  std::string out;
  for (const char c : host) {
    if (is_alnum(c) || c == '-' || c == '.' || c == '[' || c == ']' || c == ':') {
      out.push_back(c);
    }
  }
  return out.empty() ? std::string("localhost") : out;
}

// A HELO argument that reads as a host name or address literal, for Received-From-MTA.
bool plausible_host(std::string_view s) {
  if (s.empty() || s.size() > 255) {
    return false;
  }
  for (const char c : s) {
    if (!is_alnum(c) && c != '-' && c != '.' && c != '[' && c != ']' && c != ':') {
      return false;
    }
  }
  return true;
}

// Characters of `unique` kept in the Message-ID's left part (RFC 5322 §3.6.4 dot-atom-text).
std::string id_text(std::string_view unique) {
  std::string out;
  for (const char c : unique) {
    out.push_back(is_alnum(c) || c == '-' || c == '_' || c == '+' || c == '=' ? c : '-');
  }
  return out;
}

// "type; value" from what the caller gave: a leading "type;" is kept when it is a token,
// otherwise `default_type` is put in front.
std::string typed_value(std::string_view given, std::string_view default_type, bool utf8) {
  given = trim(given);
  const std::size_t semi = given.find(';');
  if (semi != std::string_view::npos && is_type_token(trim(given.substr(0, semi)))) {
    return std::string(trim(given.substr(0, semi))) + "; " +
           clean_text(given.substr(semi + 1), utf8);
  }
  return std::string(default_type) + "; " + clean_text(given, utf8);
}

std::string diagnostic_value(std::string_view given, bool utf8) {
  const std::string_view t = trim(given);
  const std::size_t semi = t.find(';');
  if (semi != std::string_view::npos && is_type_token(trim(t.substr(0, semi)))) {
    return typed_value(t, "smtp", utf8);
  }
  return std::string(is_smtp_reply(t) ? "smtp" : "x-posthorn") + "; " + clean_text(t, utf8);
}

// The diagnostic as a person reads it: without its type.
std::string diagnostic_text(std::string_view typed) {
  const std::size_t semi = typed.find("; ");
  return std::string(semi == std::string_view::npos ? typed : typed.substr(semi + 2));
}

// Original-Recipient from ORCPT "addr-type;xtext" (RFC 3461 §6.3 (d)): the type kept, the
// address xtext-decoded when that gives text the report may carry, else kept as given.
std::string original_recipient_value(std::string_view orcpt, bool utf8) {
  orcpt = trim(orcpt);
  const std::size_t semi = orcpt.find(';');
  std::string_view type = "rfc822";
  std::string_view addr = orcpt;
  if (semi != std::string_view::npos && is_type_token(trim(orcpt.substr(0, semi)))) {
    type = trim(orcpt.substr(0, semi));
    addr = trim(orcpt.substr(semi + 1));
  }
  std::string value = clean_text(addr, false);
  if (const auto decoded = xtext_decode(addr)) {
    const std::string clean = clean_text(*decoded, utf8);
    if (clean == *decoded && !clean.empty()) {
      value = clean;
    } else if (iequals(type, "utf-8") && !utf8 && has_8bit(*decoded) && valid_utf8(*decoded)) {
      value = utf8_addr_xtext(*decoded);  // RFC 6533 §3 in an ASCII report
    }
  }
  return std::string(type) + "; " + value;
}

std::string original_recipient_address(std::string_view orcpt) {
  orcpt = trim(orcpt);
  const std::size_t semi = orcpt.find(';');
  std::string_view addr = orcpt;
  if (semi != std::string_view::npos && is_type_token(trim(orcpt.substr(0, semi)))) {
    addr = trim(orcpt.substr(semi + 1));
  }
  if (auto decoded = xtext_decode(addr)) {
    return std::move(*decoded);
  }
  return std::string(addr);
}

// Final-Recipient (RFC 3464 §2.3.2; RFC 6533 §3 for the utf-8 type): "utf-8; addr" in a global
// report, "rfc822; addr" otherwise, and a non-ASCII address in an ASCII report as
// utf-8-addr-xtext.
std::string final_recipient_value(const address& a, bool global) {
  const std::string s = a.str();
  if (global) {
    return "utf-8; " + clean_text(s, true);
  }
  if (has_8bit(s)) {
    return "utf-8; " + utf8_addr_xtext(s);
  }
  return "rfc822; " + clean_text(s, false);
}

}  // namespace dsn_fields
}  // namespace posthorn::mail
