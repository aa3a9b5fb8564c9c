// RFC 5322 §3.4 address lists, read in two steps: a lexer that turns the text into
// words, domain literals and specials (dropping white space, folding and comments, as
// CFWS may stand between any two tokens, §3.2.2, §4.4), and a recursive descent over
// those tokens.

#include "mail/address_list.hpp"

#include <optional>

namespace posthorn::mail {

namespace {

enum class tok_kind { Atom, Quoted, Literal, Special, End };

struct token {
  tok_kind kind = tok_kind::End;
  std::string text;  // Atom: the atom; Quoted: the content, decoded; Literal: "[...]"
  char ch = 0;       // Special: the character
  std::size_t offset = 0;
};

// RFC 5322 §3.2.3 atext, with RFC 6532 §3.2: any octet above 127 (UTF-8 is checked
// when the address is validated).
bool is_atom_char(unsigned char c) {
  if (c >= 0x80) {
    return true;
  }
  if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9')) {
    return true;
  }
  constexpr std::string_view k_atext = "!#$%&'*+-/=?^_`{|}~";
  return k_atext.find(static_cast<char>(c)) != std::string_view::npos;
}

bool is_wsp(char c) { return c == ' ' || c == '\t'; }
// CR and LF only occur in folding; treating them as white space is what unfolding does
// (RFC 5322 §2.2.3).
bool is_blank(char c) { return is_wsp(c) || c == '\r' || c == '\n'; }

// Control characters other than HT may not appear in quoted strings, comments or
// domain literals (RFC 5322 §3.2.4, §3.4.1; the obs- forms that allow them are not
// worth the trouble in an SMTP path).
bool is_control(unsigned char c) { return (c < 32 && c != '\t') || c == 127; }

class lexer {
 public:
  explicit lexer(std::string_view s) : s_(s) {}

  std::expected<std::vector<token>, address_list_error> run() {
    std::vector<token> out;
    for (;;) {
      if (!skip_cfws()) {
        return std::unexpected(err_);
      }
      if (pos_ >= s_.size()) {
        out.push_back(token{tok_kind::End, {}, 0, pos_});
        return out;
      }
      const char c = s_[pos_];
      token t;
      t.offset = pos_;
      if (c == '"') {
        t.kind = tok_kind::Quoted;
        if (!quoted(t.text)) {
          return std::unexpected(err_);
        }
      } else if (c == '[') {
        t.kind = tok_kind::Literal;
        if (!literal(t.text)) {
          return std::unexpected(err_);
        }
      } else if (is_atom_char(static_cast<unsigned char>(c))) {
        t.kind = tok_kind::Atom;
        while (pos_ < s_.size() && is_atom_char(static_cast<unsigned char>(s_[pos_]))) {
          t.text.push_back(s_[pos_++]);
        }
      } else {
        t.kind = tok_kind::Special;
        t.ch = c;
        ++pos_;
      }
      out.push_back(std::move(t));
    }
  }

 private:
  bool fail(std::string message) {
    err_ = address_list_error{pos_, std::move(message)};
    return false;
  }

  // White space, folding and comments (RFC 5322 §3.2.2); comments nest.
  bool skip_cfws() {
    for (;;) {
      while (pos_ < s_.size() && is_blank(s_[pos_])) {
        ++pos_;
      }
      if (pos_ >= s_.size() || s_[pos_] != '(') {
        return true;
      }
      const std::size_t start = pos_;
      int depth = 0;
      do {
        if (pos_ >= s_.size()) {
          pos_ = start;
          return fail("unterminated comment");
        }
        const char c = s_[pos_++];
        if (c == '\\') {
          ++pos_;  // quoted-pair: whatever follows is literal
        } else if (c == '(') {
          ++depth;
        } else if (c == ')') {
          --depth;
        }
      } while (depth > 0);
    }
  }

  // quoted-string (RFC 5322 §3.2.4): the content without quotes, quoted-pairs decoded,
  // folding removed and the white space around it kept.
  bool quoted(std::string& out) {
    const std::size_t start = pos_++;
    while (pos_ < s_.size()) {
      const char c = s_[pos_];
      if (c == '"') {
        ++pos_;
        return true;
      }
      if (c == '\r' || c == '\n') {
        ++pos_;  // unfolding
        continue;
      }
      if (c == '\\') {
        if (pos_ + 1 >= s_.size() || is_control(static_cast<unsigned char>(s_[pos_ + 1]))) {
          return fail("bad quoted pair in a quoted string");
        }
        out.push_back(s_[pos_ + 1]);
        pos_ += 2;
        continue;
      }
      if (is_control(static_cast<unsigned char>(c))) {
        return fail("control character in a quoted string");
      }
      out.push_back(c);
      ++pos_;
    }
    pos_ = start;
    return fail("unterminated quoted string");
  }

  // domain-literal (RFC 5322 §3.4.1), kept with its brackets and without white space.
  bool literal(std::string& out) {
    const std::size_t start = pos_++;
    out.push_back('[');
    while (pos_ < s_.size()) {
      const char c = s_[pos_++];
      if (c == ']') {
        out.push_back(']');
        return true;
      }
      if (is_blank(c)) {
        continue;
      }
      if (c == '[' || c == '\\' || is_control(static_cast<unsigned char>(c))) {
        --pos_;
        return fail("bad character in a domain literal");
      }
      out.push_back(c);
    }
    pos_ = start;
    return fail("unterminated domain literal");
  }

  std::string_view s_;
  std::size_t pos_ = 0;
  address_list_error err_;
};

class list_parser {
 public:
  list_parser(std::vector<token> tokens, std::string_view default_domain)
      : t_(std::move(tokens)), default_domain_(default_domain) {}

  std::expected<std::vector<address>, address_list_error> run() {
    std::vector<address> out;
    for (;;) {
      while (special(',')) {  // obs-addr-list: empty elements
        ++pos_;
      }
      if (at_end()) {
        return out;
      }
      if (!address_item(out, false)) {
        return std::unexpected(err_);
      }
      if (special(',')) {
        ++pos_;
        continue;
      }
      if (at_end()) {
        return out;
      }
      fail(unexpected_what("',' between addresses"));
      return std::unexpected(err_);
    }
  }

 private:
  const token& cur() const { return t_[pos_]; }
  bool at_end() const { return cur().kind == tok_kind::End; }
  bool special(char c) const { return cur().kind == tok_kind::Special && cur().ch == c; }
  bool is_word(const token& t) const {
    return t.kind == tok_kind::Atom || t.kind == tok_kind::Quoted;
  }

  bool fail(std::string message) {
    err_ = address_list_error{cur().offset, std::move(message)};
    return false;
  }

  std::string unexpected_what(std::string_view expected) const {
    std::string m = "expected " + std::string(expected);
    if (at_end()) {
      return m + " before the end";
    }
    if (cur().kind == tok_kind::Special) {
      m += ", found '";
      m.push_back(cur().ch);
      m += "'";
    } else {
      m += ", found \"" + cur().text + "\"";
    }
    return m;
  }

  // address = mailbox / group (RFC 5322 §3.4). A phrase comes first in every form but
  // the bare addr-spec, whose local part looks the same; what follows tells them apart.
  bool address_item(std::vector<address>& out, bool in_group) {
    const std::size_t start = pos_;
    while (is_word(cur()) || special('.')) {  // obs-phrase allows '.'
      ++pos_;
    }
    const std::size_t phrase_end = pos_;
    if (special('<')) {  // name-addr; the display name is not needed
      return angle_addr(out);
    }
    if (special(':')) {
      if (in_group) {
        return fail("a group inside a group");
      }
      if (start == phrase_end) {
        return fail("a group without a name");
      }
      ++pos_;
      return group_members(out);
    }
    if (special('@')) {
      if (start == phrase_end) {
        return fail("expected an address, found '@' without a local part");
      }
      address a;
      if (!local_part(start, phrase_end, a.local)) {
        return false;
      }
      ++pos_;
      if (!domain(a.domain)) {
        return false;
      }
      return push(out, std::move(a), t_[start].offset);
    }
    if (start != phrase_end && (at_end() || special(',') || (in_group && special(';')))) {
      address a;
      if (!local_part(start, phrase_end, a.local)) {
        return false;
      }
      return push(out, std::move(a), t_[start].offset);
    }
    return fail(unexpected_what("an address"));
  }

  // group = display-name ":" [group-list] ";" (RFC 5322 §3.4); "undisclosed:;" has
  // none. A missing ';' at the very end is forgiven: mailers forget it.
  bool group_members(std::vector<address>& out) {
    for (;;) {
      while (special(',')) {
        ++pos_;
      }
      if (special(';')) {
        ++pos_;
        return true;
      }
      if (at_end()) {
        return true;
      }
      if (!address_item(out, true)) {
        return false;
      }
      if (!special(',') && !special(';') && !at_end()) {
        return fail(unexpected_what("',' or ';' in a group"));
      }
    }
  }

  // angle-addr = "<" [obs-route] addr-spec ">" (RFC 5322 §3.4, §4.4).
  bool angle_addr(std::vector<address>& out) {
    const std::size_t open = pos_++;
    if (special('>')) {
      return fail("an empty address <>");
    }
    if (special('@') && !obs_route()) {
      return false;
    }
    const std::size_t start = pos_;
    while (is_word(cur()) || special('.')) {
      ++pos_;
    }
    address a;
    if (start == pos_) {
      return fail(unexpected_what("an address after '<'"));
    }
    if (!local_part(start, pos_, a.local)) {
      return false;
    }
    if (special('@')) {
      ++pos_;
      if (!domain(a.domain)) {
        return false;
      }
    }
    if (!special('>')) {
      return fail(unexpected_what("'>'"));
    }
    ++pos_;
    return push(out, std::move(a), t_[open].offset);
  }

  // obs-route = obs-domain-list ":" ; obs-domain-list = *(CFWS / ",") "@" domain
  // *("," [CFWS] ["@" domain]). The route is ignored (RFC 5321 §C).
  bool obs_route() {
    std::string ignored;
    for (;;) {
      if (special('@')) {
        ++pos_;
        if (!domain(ignored)) {
          return false;
        }
      }
      if (special(',')) {
        ++pos_;
        continue;
      }
      if (special(':')) {
        ++pos_;
        return true;
      }
      return fail(unexpected_what("':' after a source route"));
    }
  }

  // local-part = dot-atom / quoted-string / obs-local-part (word *("." word)), decoded:
  // quoted strings lose their quotes, the words are joined by dots.
  bool local_part(std::size_t begin, std::size_t end, std::string& out) {
    bool want_word = true;
    for (std::size_t i = begin; i < end; ++i) {
      const token& t = t_[i];
      if (want_word != is_word(t)) {
        pos_ = i;
        return fail(want_word ? "a word missing in a local part (two dots, or a dot at an end)"
                              : "a space in a local part (quote it, or a ',' is missing)");
      }
      out += is_word(t) ? t.text : ".";
      want_word = !want_word;
    }
    if (want_word) {
      pos_ = end - 1;
      return fail("a local part ending in '.'");
    }
    return true;
  }

  // domain = dot-atom / domain-literal (RFC 5322 §3.4.1).
  bool domain(std::string& out) {
    if (cur().kind == tok_kind::Literal) {
      out = cur().text;
      ++pos_;
      return true;
    }
    for (;;) {
      if (cur().kind != tok_kind::Atom) {
        return fail(unexpected_what("a domain"));
      }
      out += cur().text;
      ++pos_;
      if (!special('.')) {
        return true;
      }
      out.push_back('.');
      ++pos_;
    }
  }

  // Qualifies the address and checks that SMTP can carry it.
  bool push(std::vector<address>& out, address a, std::size_t offset) {
    if (a.domain.empty()) {
      if (default_domain_.empty()) {
        err_ = address_list_error{offset, "\"" + a.local + "\" has no domain"};
        return false;
      }
      a.domain = default_domain_;
    }
    const std::string path = "<" + a.str() + ">";
    if (!parse_path(path, false, true)) {
      err_ = address_list_error{offset, "not a valid mailbox: " + a.str()};
      return false;
    }
    out.push_back(std::move(a));
    return true;
  }

  std::vector<token> t_;
  std::string_view default_domain_;
  std::size_t pos_ = 0;
  address_list_error err_;
};

}  // namespace

std::expected<std::vector<address>, address_list_error> parse_address_list(
    std::string_view text, std::string_view default_domain) {
  auto tokens = lexer(text).run();
  if (!tokens) {
    return std::unexpected(std::move(tokens.error()));
  }
  return list_parser(std::move(*tokens), default_domain).run();
}

}  // namespace posthorn::mail
