#include "mail/downgrade.hpp"

#include <algorithm>
#include <array>
#include <cstdint>
#include <optional>
#include <vector>

#include "mail/address.hpp"

namespace posthorn::mail {
namespace {

constexpr std::size_t k_fold_at = 78;  // RFC 5322 §2.1.1: lines SHOULD be at most 78
// RFC 2047 §2: an encoded word is at most 75 characters. 39 octets of text make 52
// base64 characters, a word of 64: after "Subject: " it still fits a 78-column line.
constexpr std::size_t k_word_octets = 39;

bool has_8bit(std::string_view s) {
  return std::any_of(s.begin(), s.end(), [](char c) { return (c & 0x80) != 0; });
}

bool is_wsp(char c) { return c == ' ' || c == '\t'; }

std::string lower(std::string_view s) { return ascii_lower(s); }

std::string_view trim(std::string_view s) {
  while (!s.empty() && (is_wsp(s.front()) || s.front() == '\r' || s.front() == '\n')) {
    s.remove_prefix(1);
  }
  while (!s.empty() && (is_wsp(s.back()) || s.back() == '\r' || s.back() == '\n')) {
    s.remove_suffix(1);
  }
  return s;
}

std::string base64(std::string_view in) {
  static constexpr char k_alphabet[] =
      "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
  std::string out;
  out.reserve((in.size() + 2) / 3 * 4);
  std::size_t i = 0;
  for (; i + 3 <= in.size(); i += 3) {
    const std::uint32_t v = (static_cast<std::uint8_t>(in[i]) << 16) |
                            (static_cast<std::uint8_t>(in[i + 1]) << 8) |
                            static_cast<std::uint8_t>(in[i + 2]);
    out += k_alphabet[(v >> 18) & 63];
    out += k_alphabet[(v >> 12) & 63];
    out += k_alphabet[(v >> 6) & 63];
    out += k_alphabet[v & 63];
  }
  if (i < in.size()) {
    std::uint32_t v = static_cast<std::uint8_t>(in[i]) << 16;
    if (i + 1 < in.size()) {
      v |= static_cast<std::uint8_t>(in[i + 1]) << 8;
    }
    out += k_alphabet[(v >> 18) & 63];
    out += k_alphabet[(v >> 12) & 63];
    out += i + 1 < in.size() ? k_alphabet[(v >> 6) & 63] : '=';
    out += '=';
  }
  return out;
}

// Unfolds a field value (RFC 5322 §2.2.3: CRLF before WSP is removed) and drops any
// other CR or LF.
std::string unfold(std::string_view v) {
  std::string out;
  out.reserve(v.size());
  for (const char c : v) {
    if (c != '\r' && c != '\n') {
      out += c;
    }
  }
  return out;
}

// "Name: value" folded at spaces so that lines stay near k_fold_at; a piece longer than
// a line stays whole (RFC 5322 §2.1.1 allows 998).
std::string fold(std::string_view name, std::string_view value) {
  std::string out(name);
  out += ':';
  std::size_t line = out.size();
  std::size_t i = 0;
  while (i < value.size()) {
    std::size_t j = value.find(' ', i + 1);
    if (j == std::string_view::npos) {
      j = value.size();
    }
    std::string_view piece = value.substr(i, j - i);  // starts with its space, except first
    if (i == 0) {
      if (line + 1 + piece.size() > k_fold_at) {
        out += "\r\n";  // a long name: the value starts on a continuation line
        line = 0;
      }
      out += ' ';
      ++line;
    } else if (line + piece.size() > k_fold_at && line > name.size() + 2) {
      out += "\r\n";
      line = 0;
    }
    out += piece;
    line += piece.size();
    i = j;
  }
  out += "\r\n";
  return out;
}

// Removes one level of quoting from a quoted-string's content ("a \"b\"" -> a "b").
std::string unquote(std::string_view s) {
  s = trim(s);
  if (s.size() < 2 || s.front() != '"' || s.back() != '"') {
    return std::string(s);
  }
  std::string out;
  for (std::size_t i = 1; i + 1 < s.size(); ++i) {
    if (s[i] == '\\' && i + 2 < s.size()) {
      ++i;
    }
    out += s[i];
  }
  return out;
}

// Unstructured text: the stretch from the first to the last word holding UTF-8 becomes
// encoded words; ASCII before and after stays as it is (RFC 2047 §5(1)).
std::string encode_unstructured(std::string_view value) {
  const std::string v = unfold(value);
  std::size_t first = std::string::npos;
  std::size_t last = 0;
  for (std::size_t i = 0; i < v.size(); ++i) {
    if ((v[i] & 0x80) != 0) {
      first = std::min(first, i);
      last = i;
    }
  }
  if (first == std::string::npos) {
    return std::string(trim(v));
  }
  // Widen to whole words.
  while (first > 0 && !is_wsp(v[first - 1])) {
    --first;
  }
  while (last + 1 < v.size() && !is_wsp(v[last + 1])) {
    ++last;
  }
  std::string out(trim(std::string_view(v).substr(0, first)));
  if (!out.empty()) {
    out += ' ';
  }
  out += encode_words(std::string_view(v).substr(first, last + 1 - first));
  const std::string_view rest = trim(std::string_view(v).substr(last + 1));
  if (!rest.empty()) {
    out += ' ';
    out += rest;
  }
  return out;
}

// A phrase (display name): quoted or not, with UTF-8: all of it as encoded words.
std::string encode_phrase(std::string_view phrase) {
  const std::string text = unquote(unfold(phrase));
  if (!has_8bit(text)) {
    return std::string(trim(phrase));
  }
  return encode_words(text);
}

// Scans structured text, calling `top(i)` for each octet outside quoted strings,
// comments and (when `angles`) angle brackets.
template <class F>
void scan_top(std::string_view s, bool angles, F top) {
  int depth = 0;  // comment nesting
  bool quoted = false;
  bool angle = false;
  for (std::size_t i = 0; i < s.size(); ++i) {
    const char c = s[i];
    if (quoted) {
      if (c == '\\') {
        ++i;
      } else if (c == '"') {
        quoted = false;
      }
      continue;
    }
    if (depth > 0) {
      if (c == '\\') {
        ++i;
      } else if (c == '(') {
        ++depth;
      } else if (c == ')') {
        --depth;
      }
      continue;
    }
    if (c == '"') {
      quoted = true;
    } else if (c == '(') {
      depth = 1;
    } else if (angles && c == '<') {
      angle = true;
    } else if (angles && angle) {
      if (c == '>') {
        angle = false;
      }
    } else {
      top(i);
    }
  }
}

// Comments removed (for the addr-spec of a mailbox without angle brackets).
std::string without_comments(std::string_view s) {
  std::string out;
  int depth = 0;
  bool quoted = false;
  for (std::size_t i = 0; i < s.size(); ++i) {
    const char c = s[i];
    if (depth == 0 && c == '"') {
      quoted = !quoted;
    } else if (!quoted && c == '(') {
      ++depth;
      continue;
    } else if (!quoted && depth > 0 && c == ')') {
      --depth;
      continue;
    } else if (c == '\\' && i + 1 < s.size() && (quoted || depth > 0)) {
      if (depth == 0) {
        out += c;
        out += s[i + 1];
      }
      ++i;
      continue;
    }
    if (depth == 0) {
      out += c;
    }
  }
  return std::string(trim(out));
}

// One mailbox of an address field. nullopt: it has no ASCII form.
std::optional<std::string> downgrade_mailbox(std::string_view m) {
  m = trim(m);
  std::size_t lt = std::string_view::npos;
  std::size_t gt = std::string_view::npos;
  scan_top(m, false, [&](std::size_t i) {
    if (m[i] == '<' && lt == std::string_view::npos) {
      lt = i;
    } else if (m[i] == '>' && lt != std::string_view::npos && gt == std::string_view::npos) {
      gt = i;
    }
  });
  std::string_view display;
  std::string addr;
  if (lt != std::string_view::npos && gt != std::string_view::npos) {
    display = trim(m.substr(0, lt));
    addr = std::string(trim(m.substr(lt + 1, gt - lt - 1)));
    // A source route (RFC 5322 §4.4 obs-route) is dropped, as RFC 5321 §C allows.
    if (const std::size_t colon = addr.find(':');
        colon != std::string::npos && addr.starts_with('@')) {
      addr.erase(0, colon + 1);
    }
  } else {
    addr = without_comments(m);
  }
  const std::size_t at = addr.rfind('@');
  std::string local = at == std::string::npos ? addr : addr.substr(0, at);
  std::string domain = at == std::string::npos ? std::string() : addr.substr(at + 1);
  if (has_8bit(local)) {
    return std::nullopt;
  }
  if (has_8bit(domain)) {
    std::string bare = domain;
    const bool literal = bare.starts_with('[');
    auto ascii = literal ? std::nullopt : domain_to_ascii(bare);
    if (!ascii) {
      return std::nullopt;
    }
    domain = std::move(*ascii);
  }
  const std::string spec = at == std::string::npos ? local : local + "@" + domain;
  if (display.empty()) {
    return lt == std::string_view::npos ? spec : "<" + spec + ">";
  }
  return encode_phrase(display) + " <" + spec + ">";
}

// An address field's value: mailboxes and groups (RFC 5322 §3.4).
std::string downgrade_address_list(std::string_view value) {
  const std::string v = unfold(value);
  const std::string_view sv = v;
  std::string out;
  bool in_group = false;
  bool group_has_member = false;
  bool top_has_element = false;
  std::size_t start = 0;
  const auto emit_mailbox = [&](std::string_view text) {
    if (trim(text).empty()) {
      return;
    }
    std::string piece;
    if (!has_8bit(text)) {
      piece = std::string(trim(text));
    } else if (auto m = downgrade_mailbox(text)) {
      piece = std::move(*m);
    } else if (in_group) {
      piece = "(" + encode_words(trim(text)) + ")";  // RFC 2047 §5(2): words in comments
    } else {
      // RFC 6857: the mailbox has no ASCII form; an empty group carries it, readable.
      piece = encode_words(trim(text)) + " :;";
    }
    if (in_group) {
      out += group_has_member ? ", " : " ";
      group_has_member = true;
    } else {
      out += top_has_element ? ", " : "";
      top_has_element = true;
    }
    out += piece;
  };
  scan_top(sv, true, [&](std::size_t i) {
    const char c = sv[i];
    if (c == ':' && !in_group) {
      out += top_has_element ? ", " : "";
      top_has_element = true;
      out += encode_phrase(sv.substr(start, i - start)) + ":";
      in_group = true;
      group_has_member = false;
      start = i + 1;
    } else if (c == ',') {
      emit_mailbox(sv.substr(start, i - start));
      start = i + 1;
    } else if (c == ';' && in_group) {
      emit_mailbox(sv.substr(start, i - start));
      out += ";";
      in_group = false;
      start = i + 1;
    }
  });
  emit_mailbox(sv.substr(start));
  if (in_group) {
    out += ";";
  }
  return out;
}

// Received: and other trace text: UTF-8 comments and "for <utf-8 address>" removed,
// UTF-8 domains as A-labels (RFC 6857 §3.2); whatever else holds UTF-8 is dropped.
std::string downgrade_trace(std::string_view value) {
  const std::string v = unfold(value);
  // Split into comments and words, keeping the separators' positions simple: every
  // piece is re-joined with one space.
  std::vector<std::string> pieces;
  std::size_t i = 0;
  while (i < v.size()) {
    if (is_wsp(v[i])) {
      ++i;
      continue;
    }
    std::size_t j = i;
    if (v[i] == '(') {
      int depth = 0;
      for (; j < v.size(); ++j) {
        if (v[j] == '\\') {
          ++j;
        } else if (v[j] == '(') {
          ++depth;
        } else if (v[j] == ')' && --depth == 0) {
          ++j;
          break;
        }
      }
    } else {
      while (j < v.size() && !is_wsp(v[j]) && v[j] != '(') {
        ++j;
      }
    }
    pieces.emplace_back(v.substr(i, std::min(j, v.size()) - i));
    i = j;
  }
  std::string out;
  for (std::size_t k = 0; k < pieces.size(); ++k) {
    std::string p = pieces[k];
    if (has_8bit(p)) {
      if (p.starts_with('(')) {
        continue;
      }
      std::string tail;
      while (!p.empty() && (p.back() == ';' || p.back() == ',')) {
        tail.insert(tail.begin(), p.back());
        p.pop_back();
      }
      const bool is_address = p.find('@') != std::string::npos || p.starts_with('<');
      std::optional<std::string> ascii = is_address ? std::nullopt : domain_to_ascii(p);
      if (!ascii) {
        // "for <ü@x>": the clause goes with its address.
        if (lower(out).ends_with(" for") || lower(out) == "for") {
          out.erase(out.size() - 3);
          while (!out.empty() && out.back() == ' ') {
            out.pop_back();
          }
        }
        if (!tail.empty()) {
          out += tail;
        }
        continue;
      }
      p = *ascii + tail;
    }
    if (!out.empty() && !p.starts_with(';')) {
      out += ' ';
    }
    out += p;
  }
  return out;
}

// RFC 2231 §4: attribute*=utf-8''%XX..., split into attribute*0*, *1* ... when long.
std::string rfc2231(std::string_view name, std::string_view value) {
  static constexpr char k_hex[] = "0123456789ABCDEF";
  std::vector<std::string> units;  // one octet each, so that splits fall between them
  for (const char c : value) {
    const auto u = static_cast<unsigned char>(c);
    // RFC 2231 §7 attribute-char: any CHAR except SPACE, CTLs, "*", "'", "%", tspecials.
    const bool plain = u > 0x20 && u < 0x7f &&
                       std::string_view("*'%()<>@,;:\\\"/[]?=").find(c) == std::string_view::npos;
    units.push_back(plain ? std::string(1, c) : std::string{'%', k_hex[u >> 4], k_hex[u & 15]});
  }
  std::string enc;
  for (const std::string& unit : units) {
    enc += unit;
  }
  const std::string head = "utf-8''";
  if (name.size() + head.size() + enc.size() < 60) {
    return std::string(name) + "*=" + head + enc;
  }
  std::string out;
  std::string part = head;
  std::size_t n = 0;
  for (const std::string& unit : units) {
    if (part.size() + unit.size() > 50) {
      out +=
          (out.empty() ? "" : "; ") + std::string(name) + "*" + std::to_string(n++) + "*=" + part;
      part.clear();
    }
    part += unit;
  }
  out += (out.empty() ? "" : "; ") + std::string(name) + "*" + std::to_string(n) + "*=" + part;
  return out;
}

// Content-Type / Content-Disposition: parameters with UTF-8 in RFC 2231 form.
std::string downgrade_mime_params(std::string_view value) {
  const std::string v = unfold(value);
  const std::string_view sv = v;
  std::vector<std::string_view> parts;
  std::size_t start = 0;
  scan_top(sv, false, [&](std::size_t i) {
    if (sv[i] == ';') {
      parts.push_back(sv.substr(start, i - start));
      start = i + 1;
    }
  });
  parts.push_back(sv.substr(start));
  std::string out;
  for (std::size_t k = 0; k < parts.size(); ++k) {
    std::string_view p = trim(parts[k]);
    if (p.empty()) {
      continue;
    }
    std::string piece(p);
    if (has_8bit(p)) {
      const std::size_t eq = p.find('=');
      if (k == 0 || eq == std::string_view::npos) {
        continue;  // a media type or a parameter without a value has no encoded form
      }
      std::string_view attr = trim(p.substr(0, eq));
      // RFC 2045 §5.1: the attribute is a token; a broken one, or one already in RFC 2231
      // form (whose value is ASCII by definition), cannot be repaired: it is dropped.
      const bool token = !attr.empty() && std::all_of(attr.begin(), attr.end(), [](char c) {
        const auto u = static_cast<unsigned char>(c);
        return u > 32 && u < 127 &&
               std::string_view("()<>@,;:\\\"/[]?=*'%").find(c) == std::string_view::npos;
      });
      if (!token) {
        continue;
      }
      piece = rfc2231(attr, unquote(p.substr(eq + 1)));
    }
    out += out.empty() ? "" : "; ";
    out += piece;
  }
  return out;
}

enum class field_kind : std::uint8_t { Address, Unstructured, Keywords, Ids, Trace, Mime, Other };

field_kind kind_of(std::string_view lname) {
  static constexpr std::array<std::string_view, 13> k_address = {"from",
                                                                 "sender",
                                                                 "reply-to",
                                                                 "to",
                                                                 "cc",
                                                                 "bcc",
                                                                 "resent-from",
                                                                 "resent-sender",
                                                                 "resent-to",
                                                                 "resent-cc",
                                                                 "resent-bcc",
                                                                 "resent-reply-to",
                                                                 "disposition-notification-to"};
  static constexpr std::array<std::string_view, 6> k_unstructured = {
      "subject", "comments", "content-description", "organization", "thread-topic", "x-mailer"};
  if (std::find(k_address.begin(), k_address.end(), lname) != k_address.end()) {
    return field_kind::Address;
  }
  if (std::find(k_unstructured.begin(), k_unstructured.end(), lname) != k_unstructured.end()) {
    return field_kind::Unstructured;
  }
  if (lname == "keywords") {
    return field_kind::Keywords;
  }
  if (lname == "message-id" || lname == "in-reply-to" || lname == "references") {
    return field_kind::Ids;
  }
  if (lname == "received") {
    return field_kind::Trace;
  }
  if (lname == "content-type" || lname == "content-disposition") {
    return field_kind::Mime;
  }
  return field_kind::Other;
}

// One field (name, raw value after the colon) with UTF-8 in it: its ASCII form, possibly
// renamed, or "" to drop it.
std::string downgrade_field(std::string_view name, std::string_view raw) {
  const std::string lname = lower(name);
  switch (kind_of(lname)) {
    case field_kind::Address:
      return fold(name, downgrade_address_list(raw));
    case field_kind::Unstructured:
      return fold(name, encode_unstructured(raw));
    case field_kind::Keywords: {
      std::string out;
      std::string v = unfold(raw);
      std::size_t start = 0;
      const std::string_view sv = v;
      const auto add = [&](std::string_view phrase) {
        out += out.empty() ? "" : ", ";
        out += encode_phrase(phrase);
      };
      scan_top(sv, false, [&](std::size_t i) {
        if (sv[i] == ',') {
          add(sv.substr(start, i - start));
          start = i + 1;
        }
      });
      add(sv.substr(start));
      return fold(name, out);
    }
    case field_kind::Ids: {
      // RFC 6857 §3.3: the original name would promise a msg-id; these carry the text.
      const std::string renamed = lname == "message-id"    ? "Downgraded-Message-Id"
                                  : lname == "in-reply-to" ? "Downgraded-In-Reply-To"
                                                           : "Downgraded-References";
      return fold(renamed, encode_words(trim(unfold(raw))));
    }
    case field_kind::Trace:
      return fold(name, downgrade_trace(raw));
    case field_kind::Mime:
      return fold(name, downgrade_mime_params(raw));
    case field_kind::Other:
      if (lname == "return-path") {
        return {};
      }
      return fold("Downgraded-" + std::string(name), encode_words(trim(unfold(raw))));
  }
  return {};
}

// Appends one raw field (name: value lines, as received) to `out`, downgraded if needed.
void emit_field(std::string_view field, std::string& out) {
  if (!has_8bit(field)) {
    // Copied as received, with LF line ends made CRLF.
    for (std::size_t i = 0; i < field.size(); ++i) {
      if (field[i] == '\n' && (i == 0 || field[i - 1] != '\r')) {
        out += '\r';
      }
      out += field[i];
    }
    if (!out.ends_with("\r\n")) {
      out += "\r\n";
    }
    return;
  }
  const std::size_t colon = field.find(':');
  if (colon == std::string_view::npos || colon == 0) {
    return;  // not a field at all: nothing to keep
  }
  const std::string_view name = trim(field.substr(0, colon));
  // RFC 5322 §2.2 ftext: a name outside it means this is no field; it cannot be sent.
  if (name.empty() || !std::all_of(name.begin(), name.end(), [](char c) {
        const auto u = static_cast<unsigned char>(c);
        return u >= 33 && u <= 126;
      })) {
    return;
  }
  out += downgrade_field(name, field.substr(colon + 1));
}

}  // namespace

std::string encode_words(std::string_view text) {
  std::string out;
  std::size_t i = 0;
  while (i < text.size()) {
    std::size_t n = std::min(k_word_octets, text.size() - i);
    // Never split a UTF-8 sequence (RFC 2047 §5: each word stands alone).
    while (n > 0 && i + n < text.size() &&
           (static_cast<unsigned char>(text[i + n]) & 0xC0) == 0x80) {
      --n;
    }
    if (n == 0) {
      n = std::min(k_word_octets, text.size() - i);
    }
    out += out.empty() ? "" : " ";
    out += "=?UTF-8?B?" + base64(text.substr(i, n)) + "?=";
    i += n;
  }
  return out;
}

std::size_t header_section_end(std::string_view message) {
  if (message.starts_with("\r\n") || message.starts_with("\n")) {
    return 0;
  }
  const std::size_t crlf = message.find("\n\r\n");
  const std::size_t lf = message.find("\n\n");
  const std::size_t end = std::min(crlf, lf);
  return end == std::string_view::npos ? message.size() : end + 1;
}

std::string downgrade_header(std::string_view header) {
  std::string out;
  out.reserve(header.size() + header.size() / 4);
  std::size_t start = 0;
  std::size_t i = 0;
  while (i < header.size()) {
    const std::size_t nl = header.find('\n', i);
    const std::size_t next = nl == std::string_view::npos ? header.size() : nl + 1;
    // A field goes on while the next line starts with white space (folding).
    if (next < header.size() && is_wsp(header[next])) {
      i = next;
      continue;
    }
    emit_field(header.substr(start, next - start), out);
    start = next;
    i = next;
  }
  return out;
}

}  // namespace posthorn::mail
