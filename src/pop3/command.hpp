#pragma once
// POP3 command lines (RFC 1939 §3, RFC 2449 §4) without I/O: a keyword of three or four
// printable characters, case-insensitive, then arguments separated by spaces.

#include <cstdint>
#include <optional>
#include <string_view>

namespace posthorn::pop3 {

enum class verb : std::uint8_t {
  User,
  Pass,
  Apop,
  Auth,
  Capa,
  Stls,
  Stat,
  List,
  Retr,
  Dele,
  Noop,
  Rset,
  Top,
  Uidl,
  Quit,
  Unknown,
};

// RFC 2449 §4: a command line is at most 255 octets, CRLF included. Passwords and SASL
// initial responses get more room (RFC 5034 §4 lifts the limit for AUTH).
inline constexpr std::size_t k_max_command_line = 255;
inline constexpr std::size_t k_max_auth_line = 12288;

struct command {
  verb v = verb::Unknown;
  std::string_view keyword;  // as sent
  std::string_view args;     // after the keyword and its spaces; "" when none
};

// Splits one line (without its line end) into keyword and arguments. Never fails: an
// unknown or malformed keyword is verb::Unknown.
command parse_command(std::string_view line);

// The keyword in upper case ("RETR"); "" for Unknown.
std::string_view verb_name(verb v);

// A message number argument (RFC 1939 §3: msg is a decimal number, no sign, no leading
// junk): 1 to 4294967295; nullopt for anything else.
std::optional<std::uint32_t> parse_number(std::string_view text);
// A non-negative count (TOP's number of lines): 0 to 2^64-1; nullopt otherwise.
std::optional<std::uint64_t> parse_count(std::string_view text);

// Splits `text` at the first run of spaces: the first word and the rest (either may be "").
struct split_args {
  std::string_view first;
  std::string_view rest;
};
split_args split_first(std::string_view text);

}  // namespace posthorn::pop3
