#pragma once
// Address lists as message headers carry them (RFC 5322 §3.4 with the obsolete forms of
// §4.4 that real mail still holds, RFC 6532 for UTF-8): what `sendmail -t` reads from
// To, Cc and Bcc, and what sendmail's command line accepts as recipients. No I/O.

#include <cstddef>
#include <expected>
#include <string>
#include <string_view>
#include <vector>

#include "mail/address.hpp"

namespace posthorn::mail {

struct address_list_error {
  std::size_t offset = 0;  // where in the text the parser gave up
  std::string message;     // "expected '>'", ...
};

// Parses an address-list: mailboxes ("Name <a@b>", "a@b (comment)", "<a@b>"), groups
// ("team: a@b, c@d;", "undisclosed-recipients:;"), quoted strings and comments
// anywhere CFWS may stand, empty list elements (RFC 5322 §4.4 obs-addr-list) and
// source routes in angle addresses (ignored, as RFC 5321 §C says). Display names and
// comments are dropped; the addresses come back in order, local parts decoded.
//
// A local part without "@domain" is sendmail's habit ("root" means root at this host):
// it gets `default_domain`, or is refused when that is empty. Every address must also
// be a valid SMTP mailbox (RFC 5321 §4.1.2, UTF-8 allowed). Folding (CRLF followed by
// WSP) counts as white space.
std::expected<std::vector<address>, address_list_error> parse_address_list(
    std::string_view text, std::string_view default_domain);

}  // namespace posthorn::mail
