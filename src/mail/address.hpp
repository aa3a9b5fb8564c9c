#pragma once
// Mailbox addresses as SMTP carries them (RFC 5321 §4.1.2, RFC 6531 for UTF-8).

#include <expected>
#include <optional>
#include <string>
#include <string_view>

#include "common/error.hpp"

namespace posthorn::mail {

struct address {
  std::string local;   // decoded: quotes and backslash escapes removed ("bob" -> bob)
  std::string domain;  // as given; compare with same_domain() / normalize_domain()

  bool empty() const { return local.empty() && domain.empty(); }  // the null path <>
  // local@domain, quoting the local part when it is not a dot-atom.
  std::string str() const;
  // Any octet above 127 in the local part or domain (needs SMTPUTF8).
  bool needs_utf8() const;
  friend bool operator==(const address&, const address&) = default;
};

enum class path_error {
  Syntax,   // not a valid path: 501 5.1.3 / 5.1.7
  Utf8,     // non-ASCII without SMTPUTF8: 553 5.6.7
  TooLong,  // local part > 64 or domain > 255 octets: 501 5.5.4 (RFC 5321 §4.5.3.1)
};

struct parsed_path {
  address addr;             // empty for "<>" when allowed
  std::string_view params;  // what follows the closing '>', leading spaces removed
};

// Parses "<local@domain>" (also "<@route,@route:local@domain>", the route ignored
// per RFC 5321 §C) at the start of `text`, the argument after "FROM:" / "TO:".
// `allow_null` admits "<>"; `utf8` admits UTF-8 in local part and domain.
// Angle brackets are required, as RFC 5321 says. Address literals ("[192.0.2.1]",
// "[IPv6:2001:db8::1]") are kept in `domain` with their brackets.
std::expected<parsed_path, path_error> parse_path(std::string_view text, bool allow_null,
                                                  bool utf8);

// RFC 5321 §4.1.1.3: "RCPT TO:<Postmaster>" (any case, no domain) must be accepted.
// Returns the params after it when `text` is that path; nullopt otherwise.
std::optional<std::string_view> parse_postmaster_path(std::string_view text);

// Parses a bare "local@domain" (quoted local parts allowed), as in VRFY, config
// files and aliases; with `allow_brackets` also "<local@domain>".
std::optional<address> parse_address(std::string_view text, bool allow_brackets = true);

// Parses a whole string as a local part (dot-string or quoted-string, UTF-8 allowed)
// and returns it decoded; nullopt when it is not one or longer than 64 octets.
std::optional<std::string> parse_local_part(std::string_view text);

// True when `local` can be written without quotes (RFC 5321 Dot-string, RFC 6531 atext).
bool is_dot_string(std::string_view local);

// A key for maps and duplicate checks: ascii_lower(local) + "@" + normalize_domain(domain).
std::string address_key(const address& a);

// Domains compare equal after normalize_domain() (case, trailing dot, A- vs U-labels).
bool same_domain(std::string_view a, std::string_view b);

// Lower-case ASCII; A-labels (xn--) turned into U-labels; a trailing dot removed.
// Returns the input lower-cased when IDNA conversion fails.
std::string normalize_domain(std::string_view domain);

// The domain as A-labels (for DNS and for peers without SMTPUTF8); nullopt if invalid.
std::optional<std::string> domain_to_ascii(std::string_view domain);

// Lower-cases ASCII letters only (local parts are matched case-insensitively).
std::string ascii_lower(std::string_view s);

bool is_ascii(std::string_view s);

// True when `s` is well-formed UTF-8 (no overlongs, no surrogates).
bool valid_utf8(std::string_view s);

}  // namespace posthorn::mail
