#include "pop3/command.hpp"

#include <array>
#include <charconv>
#include <utility>

namespace posthorn::pop3 {

namespace {

constexpr std::array<std::pair<std::string_view, verb>, 15> k_verbs{{
    {"USER", verb::User},
    {"PASS", verb::Pass},
    {"APOP", verb::Apop},
    {"AUTH", verb::Auth},
    {"CAPA", verb::Capa},
    {"STLS", verb::Stls},
    {"STAT", verb::Stat},
    {"LIST", verb::List},
    {"RETR", verb::Retr},
    {"DELE", verb::Dele},
    {"NOOP", verb::Noop},
    {"RSET", verb::Rset},
    {"TOP", verb::Top},
    {"UIDL", verb::Uidl},
    {"QUIT", verb::Quit},
}};

char upper(char c) { return c >= 'a' && c <= 'z' ? static_cast<char>(c - 'a' + 'A') : c; }

bool equal_nocase(std::string_view a, std::string_view b) {
  if (a.size() != b.size()) {
    return false;
  }
  for (std::size_t i = 0; i < a.size(); ++i) {
    if (upper(a[i]) != b[i]) {
      return false;
    }
  }
  return true;
}

std::string_view skip_spaces(std::string_view s) {
  std::size_t i = 0;
  while (i < s.size() && s[i] == ' ') {
    ++i;
  }
  return s.substr(i);
}

}  // namespace

split_args split_first(std::string_view text) {
  text = skip_spaces(text);
  const std::size_t sp = text.find(' ');
  if (sp == std::string_view::npos) {
    return {text, {}};
  }
  return {text.substr(0, sp), skip_spaces(text.substr(sp))};
}

command parse_command(std::string_view line) {
  command c;
  const std::size_t sp = line.find(' ');
  c.keyword = line.substr(0, sp);
  if (sp != std::string_view::npos) {
    c.args = skip_spaces(line.substr(sp));
  }
  for (const auto& [name, v] : k_verbs) {
    if (equal_nocase(c.keyword, name)) {
      c.v = v;
      break;
    }
  }
  return c;
}

std::string_view verb_name(verb v) {
  for (const auto& [name, known] : k_verbs) {
    if (known == v) {
      return name;
    }
  }
  return {};
}

std::optional<std::uint64_t> parse_count(std::string_view text) {
  if (text.empty() || text.size() > 20) {
    return std::nullopt;
  }
  std::uint64_t n = 0;
  auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), n);
  if (ec != std::errc() || end != text.data() + text.size()) {
    return std::nullopt;
  }
  return n;
}

std::optional<std::uint32_t> parse_number(std::string_view text) {
  auto n = parse_count(text);
  if (!n || *n == 0 || *n > 0xffffffffu) {
    return std::nullopt;
  }
  return static_cast<std::uint32_t>(*n);
}

}  // namespace posthorn::pop3
