#include "smtp/client/reply_reader.hpp"

#include <charconv>

namespace posthorn::smtp {
namespace {

bool is_digit(char c) { return c >= '0' && c <= '9'; }

// RFC 3463 §2: class "." subject "." detail, 1-3 digits each, at the start of `text`
// and followed by a space or the end. Returns its length, 0 when there is none.
std::size_t enhanced_prefix(std::string_view text, char cls) {
  if (text.size() < 5 || text[0] != cls || text[1] != '.') {
    return 0;
  }
  std::size_t i = 2;
  for (int part = 0; part < 2; ++part) {
    const std::size_t start = i;
    while (i < text.size() && is_digit(text[i]) && i - start < 4) {
      ++i;
    }
    const std::size_t n = i - start;
    if (n == 0 || n > 3) {
      return 0;
    }
    if (part == 0) {
      if (i >= text.size() || text[i] != '.') {
        return 0;
      }
      ++i;
    }
  }
  if (i < text.size() && text[i] != ' ') {
    return 0;
  }
  return i;
}

std::string upper(std::string_view s) {
  std::string out(s);
  for (char& c : out) {
    if (c >= 'a' && c <= 'z') {
      c = static_cast<char>(c - 'a' + 'A');
    }
  }
  return out;
}

// Splits on runs of spaces (and tabs, which some servers put in EHLO lines).
std::vector<std::string_view> words(std::string_view s) {
  std::vector<std::string_view> out;
  std::size_t i = 0;
  while (i < s.size()) {
    while (i < s.size() && (s[i] == ' ' || s[i] == '\t')) {
      ++i;
    }
    const std::size_t start = i;
    while (i < s.size() && s[i] != ' ' && s[i] != '\t') {
      ++i;
    }
    if (i > start) {
      out.push_back(s.substr(start, i - start));
    }
  }
  return out;
}

}  // namespace

void reply_reader::reset() {
  lines_reader_.reset();
  code_ = 0;
  lines_.clear();
}

std::expected<std::optional<reply>, std::string> reply_reader::feed(std::string_view& in) {
  while (!in.empty()) {
    const std::optional<line> l = lines_reader_.feed(in);
    if (!l) {
      break;
    }
    // RFC 5321 §4.2: Reply-line = *( Reply-code "-" [ textstring ] CRLF )
    //                              Reply-code [ SP textstring ] CRLF
    // with Reply-code %x32-35 %x30-35 %x30-39. A bare LF ends a line here too (the
    // line reader flags it): being lenient with what a peer says costs nothing.
    const std::string_view t = l->text;
    if (t.size() < 3 || t[0] < '2' || t[0] > '5' || t[1] < '0' || t[1] > '5' || !is_digit(t[2]) ||
        (t.size() > 3 && t[3] != ' ' && t[3] != '-')) {
      reset();
      return std::unexpected("malformed reply line");
    }
    int code = 0;
    std::from_chars(t.data(), t.data() + 3, code);
    if (!lines_.empty() && code != code_) {
      // RFC 5321 §4.2.1: every line of a multi-line reply carries the same code.
      reset();
      return std::unexpected("reply lines with different codes");
    }
    code_ = code;
    if (lines_.size() == k_reply_max_lines) {
      reset();
      return std::unexpected("reply longer than " + std::to_string(k_reply_max_lines) + " lines");
    }
    lines_.emplace_back(t.size() > 4 ? t.substr(4) : std::string_view{});
    const bool last = t.size() == 3 || t[3] == ' ';
    if (!last) {
      continue;
    }
    reply r;
    r.code = code_;
    // RFC 2034 §4: the enhanced code starts the text of every line; it is taken off
    // the lines that carry it and kept once.
    const char cls = static_cast<char>('0' + code_ / 100);
    if (const std::size_t n = enhanced_prefix(lines_.front(), cls); n > 0) {
      r.enhanced = lines_.front().substr(0, n);
      for (std::string& text : lines_) {
        if (text.starts_with(r.enhanced) && enhanced_prefix(text, cls) == n) {
          text.erase(0, n < text.size() ? n + 1 : n);
        }
      }
    }
    r.lines = std::move(lines_);
    lines_.clear();
    code_ = 0;
    return std::optional<reply>(std::move(r));
  }
  return std::optional<reply>{};
}

std::string one_line(const reply& r) {
  std::string out = std::to_string(r.code);
  if (!r.enhanced.empty()) {
    out += ' ';
    out += r.enhanced;
  }
  for (const std::string& text : r.lines) {
    if (text.empty()) {
      continue;
    }
    out += ' ';
    for (const char c : text) {
      const auto u = static_cast<unsigned char>(c);
      out.push_back(u < 0x20 || u == 0x7f ? ' ' : c);
    }
  }
  return out;
}

std::string status_of(const reply& r) {
  const char cls = static_cast<char>('0' + r.code / 100);
  if (!r.enhanced.empty() && r.enhanced.front() == cls) {
    return r.enhanced;
  }
  return std::string(1, cls) + ".0.0";
}

peer_extensions parse_ehlo(const reply& r) {
  peer_extensions ext;
  ext.esmtp = true;
  for (std::size_t i = 1; i < r.lines.size(); ++i) {
    std::vector<std::string_view> w = words(r.lines[i]);
    if (w.empty()) {
      continue;
    }
    std::string keyword = upper(w.front());
    std::vector<std::string_view> args(w.begin() + 1, w.end());
    // Some old servers write "AUTH=LOGIN PLAIN" (before RFC 2554 was final).
    // A bare "AUTH=" names no mechanism (found by fuzz_reply: it used to add "").
    if (keyword.starts_with("AUTH=")) {
      if (const std::string_view first = std::string_view(w.front()).substr(5); !first.empty()) {
        args.insert(args.begin(), first);
      }
      keyword = "AUTH";
    }
    if (keyword == "PIPELINING") {
      ext.pipelining = true;
    } else if (keyword == "SIZE") {
      ext.size = true;
      std::uint64_t n = 0;
      // RFC 1870 §4: "SIZE" alone or "SIZE 0" means no fixed maximum.
      if (!args.empty()) {
        const std::string_view a = args.front();
        const auto [ptr, ec] = std::from_chars(a.data(), a.data() + a.size(), n);
        ext.size_limit = (ec == std::errc{} && ptr == a.data() + a.size()) ? n : 0;
      }
    } else if (keyword == "8BITMIME") {
      ext.eightbitmime = true;
    } else if (keyword == "SMTPUTF8") {
      ext.smtputf8 = true;
    } else if (keyword == "DSN") {
      ext.dsn = true;
    } else if (keyword == "STARTTLS") {
      ext.starttls = true;
    } else if (keyword == "CHUNKING") {
      ext.chunking = true;
    } else if (keyword == "BINARYMIME") {
      ext.binarymime = true;
    } else if (keyword == "ENHANCEDSTATUSCODES") {
      ext.enhanced_status_codes = true;
    } else if (keyword == "AUTH") {
      for (const std::string_view a : args) {
        std::string mech = upper(a);
        bool seen = false;
        for (const std::string& m : ext.auth) {
          seen = seen || m == mech;
        }
        if (!seen) {
          ext.auth.push_back(std::move(mech));
        }
      }
    }
  }
  return ext;
}

}  // namespace posthorn::smtp
