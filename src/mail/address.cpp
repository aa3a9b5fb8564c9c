// RFC 5321 §4.1.2 paths and mailboxes, with the RFC 6531 extensions for UTF-8.

#include "mail/address.hpp"

#include <idn2.h>

#include <cstdlib>

#include "common/cidr.hpp"

namespace posthorn::mail {

namespace {

// RFC 5321 §4.5.3.1.1 and §4.5.3.1.2.
constexpr std::size_t k_max_local = 64;
constexpr std::size_t k_max_domain = 255;
// RFC 1035 §2.3.4: a DNS label.
constexpr std::size_t k_max_label = 63;

bool is_alpha(unsigned char c) { return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z'); }
bool is_digit(unsigned char c) { return c >= '0' && c <= '9'; }

// RFC 5322 §3.2.3 atext, ASCII part.
bool is_atext(unsigned char c) {
  if (is_alpha(c) || is_digit(c)) {
    return true;
  }
  constexpr std::string_view k_specials = "!#$%&'*+-/=?^_`{|}~";
  return k_specials.find(static_cast<char>(c)) != std::string_view::npos;
}

// RFC 5321 §4.1.2 qtextSMTP, ASCII part.
bool is_qtext(unsigned char c) {
  return c == 32 || c == 33 || (c >= 35 && c <= 91) || (c >= 93 && c <= 126);
}

bool in_range(unsigned char c, unsigned char lo, unsigned char hi) { return c >= lo && c <= hi; }

// Length of the well-formed UTF-8 sequence starting at s[i] (RFC 3629 §4), 0 when
// malformed: overlongs, surrogates and code points above U+10FFFF are refused.
std::size_t utf8_sequence(std::string_view s, std::size_t i) {
  const auto at = [&](std::size_t k) -> unsigned char {
    return i + k < s.size() ? static_cast<unsigned char>(s[i + k]) : 0;
  };
  const unsigned char c = at(0);
  if (c < 0x80) {
    return i < s.size() ? 1 : 0;
  }
  const auto cont = [&](std::size_t k) { return in_range(at(k), 0x80, 0xbf); };
  if (in_range(c, 0xc2, 0xdf)) {
    return cont(1) ? 2 : 0;
  }
  if (c == 0xe0) {
    return in_range(at(1), 0xa0, 0xbf) && cont(2) ? 3 : 0;
  }
  if (c == 0xed) {
    return in_range(at(1), 0x80, 0x9f) && cont(2) ? 3 : 0;
  }
  if (in_range(c, 0xe1, 0xef)) {
    return cont(1) && cont(2) ? 3 : 0;
  }
  if (c == 0xf0) {
    return in_range(at(1), 0x90, 0xbf) && cont(2) && cont(3) ? 4 : 0;
  }
  if (in_range(c, 0xf1, 0xf3)) {
    return cont(1) && cont(2) && cont(3) ? 4 : 0;
  }
  if (c == 0xf4) {
    return in_range(at(1), 0x80, 0x8f) && cont(2) && cont(3) ? 4 : 0;
  }
  return 0;
}

bool has_ace_label(std::string_view lower) {
  return lower.starts_with("xn--") || lower.find(".xn--") != std::string_view::npos;
}

// A recursive-descent reader over one path; functions return false after recording
// the error in err_.
class path_reader {
 public:
  path_reader(std::string_view text, bool utf8) : s_(text), utf8_(utf8) {}

  path_error error() const { return err_; }
  std::size_t pos() const { return pos_; }
  bool eof() const { return pos_ >= s_.size(); }
  unsigned char cur() const { return static_cast<unsigned char>(s_[pos_]); }
  bool take(char c) {
    if (!eof() && s_[pos_] == c) {
      ++pos_;
      return true;
    }
    return false;
  }
  bool fail(path_error e) {
    err_ = e;
    return false;
  }

  // Mailbox = Local-part "@" ( Domain / address-literal ), RFC 5321 §4.1.2.
  bool mailbox(address& out) {
    if (!local_part(out.local)) {
      return false;
    }
    if (!take('@')) {
      return fail(path_error::Syntax);
    }
    return domain(out.domain, true);
  }

  // A-d-l = At-domain *( "," At-domain ) ":" ; read and dropped (RFC 5321 §C).
  bool source_route() {
    std::string ignored;
    do {
      if (!take('@')) {
        return fail(path_error::Syntax);
      }
      if (!domain(ignored, false)) {
        return false;
      }
    } while (take(','));
    return take(':') ? true : fail(path_error::Syntax);
  }

  // Local-part = Dot-string / Quoted-string; `out` receives it decoded.
  bool local_part(std::string& out) {
    const std::size_t start = pos_;
    const bool ok = !eof() && cur() == '"' ? quoted_string(out) : dot_string(out);
    if (!ok) {
      return false;
    }
    // The limit applies to the local part as sent, quotes included.
    if (pos_ - start > k_max_local) {
      return fail(path_error::TooLong);
    }
    return true;
  }

  // Domain = sub-domain *("." sub-domain), RFC 6531 §3.3 adds U-labels.
  bool domain(std::string& out, bool allow_literal) {
    const std::size_t start = pos_;
    if (!eof() && cur() == '[') {
      return allow_literal ? address_literal(out) : fail(path_error::Syntax);
    }
    bool ascii = true;
    for (;;) {
      const std::size_t label_start = pos_;
      bool label_ascii = true;
      unsigned char last = 0;
      while (!eof()) {
        const unsigned char c = cur();
        if (c >= 0x80) {
          if (!non_ascii()) {
            return false;
          }
          label_ascii = false;
          last = c;
          continue;
        }
        if (!is_alpha(c) && !is_digit(c) && c != '-') {
          break;
        }
        // sub-domain = Let-dig [Ldh-str]: no hyphen first or last.
        if (c == '-' && pos_ == label_start) {
          return fail(path_error::Syntax);
        }
        last = c;
        ++pos_;
      }
      if (pos_ == label_start || last == '-') {
        return fail(path_error::Syntax);
      }
      if (label_ascii && pos_ - label_start > k_max_label) {
        return fail(path_error::TooLong);
      }
      ascii = ascii && label_ascii;
      if (!take('.')) {
        break;
      }
    }
    if (pos_ - start > k_max_domain) {
      return fail(path_error::TooLong);
    }
    out.assign(s_.substr(start, pos_ - start));
    // A U-label must be valid IDNA (RFC 6531 §3.3 refers to RFC 5890).
    if (!ascii && !domain_to_ascii(out)) {
      return fail(path_error::Syntax);
    }
    return true;
  }

 private:
  // One non-ASCII character: malformed UTF-8 is a syntax error; well-formed UTF-8
  // without SMTPUTF8 is the distinct Utf8 error (553 5.6.7).
  bool non_ascii() {
    const std::size_t n = utf8_sequence(s_, pos_);
    if (n == 0) {
      return fail(path_error::Syntax);
    }
    if (!utf8_) {
      return fail(path_error::Utf8);
    }
    pos_ += n;
    return true;
  }

  // Dot-string = Atom *("." Atom)
  bool dot_string(std::string& out) {
    const std::size_t start = pos_;
    bool need_atom = true;
    while (!eof()) {
      const unsigned char c = cur();
      if (c >= 0x80) {
        if (!non_ascii()) {
          return false;
        }
        need_atom = false;
      } else if (is_atext(c)) {
        ++pos_;
        need_atom = false;
      } else if (c == '.') {
        if (need_atom) {
          return fail(path_error::Syntax);
        }
        ++pos_;
        need_atom = true;
      } else {
        break;
      }
    }
    if (need_atom) {
      return fail(path_error::Syntax);
    }
    out.assign(s_.substr(start, pos_ - start));
    return true;
  }

  // Quoted-string = DQUOTE *QcontentSMTP DQUOTE; quoted-pairSMTP = "\" %d32-126.
  bool quoted_string(std::string& out) {
    out.clear();
    ++pos_;
    for (;;) {
      if (eof()) {
        return fail(path_error::Syntax);
      }
      const unsigned char c = cur();
      if (c == '"') {
        ++pos_;
        return true;
      }
      if (c == '\\') {
        ++pos_;
        if (eof() || cur() < 32 || cur() > 126) {
          return fail(path_error::Syntax);
        }
        out.push_back(static_cast<char>(cur()));
        ++pos_;
      } else if (c >= 0x80) {
        const std::size_t start = pos_;
        if (!non_ascii()) {
          return false;
        }
        out.append(s_.substr(start, pos_ - start));
      } else if (is_qtext(c)) {
        out.push_back(static_cast<char>(c));
        ++pos_;
      } else {
        return fail(path_error::Syntax);
      }
    }
  }

  // address-literal = "[" ( IPv4-address-literal / IPv6-address-literal ) "]".
  // General-address-literal has no standardized tag besides IPv6, so it is refused.
  bool address_literal(std::string& out) {
    const std::size_t start = pos_;
    const std::size_t close = s_.find(']', pos_);
    if (close == std::string_view::npos) {
      return fail(path_error::Syntax);
    }
    const std::string_view inner = s_.substr(pos_ + 1, close - pos_ - 1);
    bool ok = false;
    if (inner.size() > 5 && ascii_lower(inner.substr(0, 5)) == "ipv6:") {
      const std::string_view v6 = inner.substr(5);
      const auto ip = ip_address::parse(v6);
      ok = ip.has_value() && v6.find(':') != std::string_view::npos;
    } else {
      ok = ipv4_literal(inner);
    }
    if (!ok) {
      return fail(path_error::Syntax);
    }
    pos_ = close + 1;
    if (pos_ - start > k_max_domain) {
      return fail(path_error::TooLong);
    }
    out.assign(s_.substr(start, pos_ - start));
    return true;
  }

  // IPv4-address-literal = Snum 3("." Snum); Snum = 1*3DIGIT, 0 to 255.
  static bool ipv4_literal(std::string_view t) {
    for (int part = 0; part < 4; ++part) {
      if (part > 0) {
        if (t.empty() || t.front() != '.') {
          return false;
        }
        t.remove_prefix(1);
      }
      std::size_t n = 0;
      unsigned value = 0;
      while (n < t.size() && n < 4 && is_digit(static_cast<unsigned char>(t[n]))) {
        value = value * 10 + static_cast<unsigned>(t[n] - '0');
        ++n;
      }
      if (n == 0 || n > 3 || value > 255) {
        return false;
      }
      t.remove_prefix(n);
    }
    return t.empty();
  }

  std::string_view s_;
  std::size_t pos_ = 0;
  bool utf8_ = false;
  path_error err_ = path_error::Syntax;
};

std::string_view trim_blanks(std::string_view s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) {
    s.remove_prefix(1);
  }
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t')) {
    s.remove_suffix(1);
  }
  return s;
}

// What follows '>': nothing, or spaces and then ESMTP parameters (RFC 5321 §4.1.2).
std::optional<std::string_view> split_params(std::string_view rest) {
  if (rest.empty()) {
    return rest;
  }
  if (rest.front() != ' ') {
    return std::nullopt;
  }
  while (!rest.empty() && rest.front() == ' ') {
    rest.remove_prefix(1);
  }
  return rest;
}

}  // namespace

std::string address::str() const {
  if (empty()) {
    return {};
  }
  std::string out;
  if (is_dot_string(local)) {
    out = local;
  } else {
    out.reserve(local.size() + 2);
    out.push_back('"');
    for (const char c : local) {
      if (c == '"' || c == '\\') {
        out.push_back('\\');
      }
      out.push_back(c);
    }
    out.push_back('"');
  }
  if (!domain.empty()) {
    out.push_back('@');
    out += domain;
  }
  return out;
}

bool address::needs_utf8() const { return !is_ascii(local) || !is_ascii(domain); }

std::expected<parsed_path, path_error> parse_path(std::string_view text, bool allow_null,
                                                  bool utf8) {
  path_reader r(text, utf8);
  if (!r.take('<')) {
    return std::unexpected(path_error::Syntax);
  }
  parsed_path out;
  if (r.take('>')) {
    if (!allow_null) {
      return std::unexpected(path_error::Syntax);
    }
  } else {
    if (!r.eof() && r.cur() == '@' && !r.source_route()) {
      return std::unexpected(r.error());
    }
    if (!r.mailbox(out.addr)) {
      return std::unexpected(r.error());
    }
    if (!r.take('>')) {
      return std::unexpected(path_error::Syntax);
    }
  }
  const auto params = split_params(text.substr(r.pos()));
  if (!params) {
    return std::unexpected(path_error::Syntax);
  }
  out.params = *params;
  return out;
}

std::optional<std::string_view> parse_postmaster_path(std::string_view text) {
  constexpr std::string_view k_postmaster = "<postmaster>";
  if (text.size() < k_postmaster.size() ||
      ascii_lower(text.substr(0, k_postmaster.size())) != k_postmaster) {
    return std::nullopt;
  }
  return split_params(text.substr(k_postmaster.size()));
}

std::optional<address> parse_address(std::string_view text, bool allow_brackets) {
  text = trim_blanks(text);
  if (allow_brackets && text.starts_with('<')) {
    auto p = parse_path(text, false, true);
    if (!p || !p->params.empty()) {
      return std::nullopt;
    }
    return std::move(p->addr);
  }
  path_reader r(text, true);
  address a;
  if (!r.mailbox(a) || !r.eof()) {
    return std::nullopt;
  }
  return a;
}

std::optional<std::string> parse_local_part(std::string_view text) {
  path_reader r(text, true);
  std::string local;
  if (!r.local_part(local) || !r.eof()) {
    return std::nullopt;
  }
  return local;
}

bool is_dot_string(std::string_view local) {
  if (local.empty() || local.front() == '.' || local.back() == '.') {
    return false;
  }
  for (std::size_t i = 0; i < local.size();) {
    const auto c = static_cast<unsigned char>(local[i]);
    if (c >= 0x80) {
      const std::size_t n = utf8_sequence(local, i);
      if (n == 0) {
        return false;
      }
      i += n;
      continue;
    }
    if (c == '.' && local[i + 1] == '.') {
      return false;
    }
    if (c != '.' && !is_atext(c)) {
      return false;
    }
    ++i;
  }
  return true;
}

std::string address_key(const address& a) {
  std::string key = ascii_lower(a.local);
  key.push_back('@');
  key += normalize_domain(a.domain);
  return key;
}

bool same_domain(std::string_view a, std::string_view b) {
  return normalize_domain(a) == normalize_domain(b);
}

std::string normalize_domain(std::string_view domain) {
  std::string lower = ascii_lower(domain);
  if (lower.size() > 1 && lower.back() == '.') {
    lower.pop_back();
  }
  if (lower.starts_with('[') || (is_ascii(lower) && !has_ace_label(lower))) {
    return lower;
  }
  // Through the A-label form and back, so that "BÜCHER.test", "bücher.test" and
  // "xn--bcher-kva.test" all come out as "bücher.test" (UTS #46 mapping).
  const auto ascii = domain_to_ascii(lower);
  if (!ascii) {
    return lower;
  }
  char* unicode = nullptr;
  if (idn2_to_unicode_8z8z(ascii->c_str(), &unicode, 0) != IDN2_OK || unicode == nullptr) {
    return lower;
  }
  std::string out(unicode);
  idn2_free(unicode);
  return out;
}

std::optional<std::string> domain_to_ascii(std::string_view domain) {
  if (domain.empty() || domain.find('\0') != std::string_view::npos) {
    return std::nullopt;
  }
  if (domain.starts_with('[')) {
    if (!domain.ends_with(']')) {
      return std::nullopt;
    }
    return std::string(domain);
  }
  if (is_ascii(domain) && !has_ace_label(ascii_lower(domain))) {
    return std::string(domain);
  }
  if (!valid_utf8(domain)) {
    return std::nullopt;
  }
  const std::string input(domain);
  std::uint8_t* out = nullptr;
  const int rc = idn2_lookup_u8(reinterpret_cast<const std::uint8_t*>(input.c_str()), &out,
                                IDN2_NONTRANSITIONAL);
  if (rc != IDN2_OK || out == nullptr) {
    return std::nullopt;
  }
  std::string result(reinterpret_cast<const char*>(out));
  idn2_free(out);
  return result;
}

std::string ascii_lower(std::string_view s) {
  std::string out(s);
  for (char& c : out) {
    if (c >= 'A' && c <= 'Z') {
      c = static_cast<char>(c - 'A' + 'a');
    }
  }
  return out;
}

bool is_ascii(std::string_view s) {
  for (const char c : s) {
    if (static_cast<unsigned char>(c) >= 0x80) {
      return false;
    }
  }
  return true;
}

bool valid_utf8(std::string_view s) {
  for (std::size_t i = 0; i < s.size();) {
    const std::size_t n = utf8_sequence(s, i);
    if (n == 0) {
      return false;
    }
    i += n;
  }
  return true;
}

}  // namespace posthorn::mail
