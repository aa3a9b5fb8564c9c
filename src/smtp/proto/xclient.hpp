#pragma once
// The XCLIENT command's attributes (Postfix's XCLIENT_README): a trusted proxy or filter
// tells the server which client it speaks for. No I/O: the argument text in, decoded
// and checked values (or the reason for a 501) out.

#include <cstdint>
#include <expected>
#include <string>
#include <string_view>

namespace posthorn::smtp {

// What EHLO lists after "XCLIENT" (for clients allowed to use it).
inline constexpr std::string_view k_xclient_attributes =
    "ADDR NAME HELO PROTO LOGIN PORT DESTADDR DESTPORT";

// One attribute: absent, a value, or one of the special values.
struct xclient_attr {
  enum class kind { Absent, Value, Unavailable, TempUnavail };
  kind k = kind::Absent;
  std::string value;  // decoded (xtext); normalised: ADDR and DESTADDR as textual IPs,
                      // PROTO upper case
  bool given() const { return k != kind::Absent; }
  bool has_value() const { return k == kind::Value; }
};

struct xclient_request {
  xclient_attr addr;      // the client's IP ("IPV6:" prefix removed)
  xclient_attr name;      // its verified reverse DNS name
  xclient_attr helo;      // what it said in HELO/EHLO
  xclient_attr proto;     // SMTP or ESMTP
  xclient_attr login;     // the SASL login name it authenticated with
  xclient_attr port;      // its TCP port (decimal)
  xclient_attr destaddr;  // the address it connected to
  xclient_attr destport;  // the port it connected to
};

// Why an XCLIENT argument was refused: the text of a 501 5.5.4 reply.
struct xclient_error {
  std::string text;
};

// Parses "ATTR=value ATTR=value ..." (names case-insensitive, values xtext; a repeated
// attribute's last value counts, as in Postfix).
std::expected<xclient_request, xclient_error> parse_xclient(std::string_view arg);

}  // namespace posthorn::smtp
