#pragma once
// The field and text syntax of delivery status notifications, without the queue: the
// Action values (RFC 3464 §2.3.3), status codes (RFC 3463), typed fields, RFC 5322 folding,
// addresses in report fields (RFC 6533), and the parts of an original message a report
// returns. queue/bounce.hpp builds the reports from a queued message with these.

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "mail/address.hpp"

namespace posthorn::mail {

// The Action of one recipient (RFC 3464 §2.3.3).
enum class dsn_action : std::uint8_t { Failed, Delayed, Delivered, Relayed, Expanded };

// "failed", "delayed", "delivered", "relayed", "expanded".
std::string_view action_name(dsn_action a);

namespace dsn_fields {

inline constexpr std::string_view k_crlf = "\r\n";

std::string_view trim(std::string_view s);             // spaces and tabs at both ends
bool iequals(std::string_view a, std::string_view b);  // ASCII case-insensitive
bool has_8bit(std::string_view s);

// Text from peers and the queue made fit for one header field or text line: line breaks and
// tabs become spaces and runs of spaces one; other controls become '?'; octets above 127 stay
// only where UTF-8 is allowed (RFC 6533 §6.2 for the global report) and the text is valid UTF-8.
std::string clean_text(std::string_view text, bool utf8);

// An atom-like token: a DSN address-type, diagnostic-type or mta-name-type (RFC 3464 §2.1.2).
bool is_type_token(std::string_view s);
// RFC 5321 §4.2: three digits, 2..5 first, then the end, a space or a hyphen.
bool is_smtp_reply(std::string_view s);
// "c.sss.ddd" (RFC 3463 §2): class 2, 4 or 5, one to three digits each after it.
bool is_status_code(std::string_view s);
// The enhanced status code after the reply code ("550 5.1.1 ..."), "" when there is none.
std::string_view enhanced_code_of(std::string_view reply);
// 5.0.0 for Failed, 4.0.0 for Delayed, 2.0.0 for the successes.
std::string_view default_status(dsn_action a);
// RFC 3464 §2.3.4 with RFC 3463 §3.5: whether `status` is a valid code of the action's class.
bool status_fits(dsn_action a, std::string_view status);

// RFC 6533 §3 utf-8-addr-xtext: pure ASCII, so it fits a message/delivery-status part.
std::string utf8_addr_xtext(std::string_view addr);

// Appends "Name: value" and CRLF, folded at 78 columns where the words allow (RFC 5322
// §2.2.3), never a line over 998 octets. The value is expected clean (clean_text()).
void append_field(std::string& out, std::string_view name, std::string_view value);
// Appends `text` as lines of at most 78 columns where its words allow: the first line starts
// with `first`, the others with `indent`.
void append_wrapped(std::string& out, std::string_view first, std::string_view indent,
                    std::string_view text);

// The original message (line ends CRLF, LF or CR):
// true when it can travel as 8bit MIME content (no NUL, no line over 998 octets);
bool transportable(std::string_view message);
// its header lines, up to the empty line that ends them;
std::vector<std::string_view> header_lines(std::string_view message);
// the whole of it with CRLF line ends and a final CRLF;
std::string full_content(std::string_view message);
// its header section with CRLF line ends, NULs as '?', long lines cut into continuations;
std::string headers_content(std::string_view message);
// its Message-ID ("<...>") for In-Reply-To and References, "" when none can be repeated.
std::string original_message_id(std::string_view message);

// 64-bit FNV-1a, for a boundary that differs per report without a random source.
std::uint64_t fnv1a(std::string_view s, std::uint64_t h = 0xcbf29ce484222325ULL);
std::string hex64(std::uint64_t v);
// Our hostname as it may appear in Reporting-MTA, From and Message-ID.
std::string host_name(std::string_view host);
// A HELO argument that reads as a host name or address literal, for Received-From-MTA.
bool plausible_host(std::string_view s);
// Characters of `unique` kept in the Message-ID's left part (RFC 5322 §3.6.4 dot-atom-text).
std::string id_text(std::string_view unique);

// "type; value": a leading "type;" in `given` is kept when it is a token, otherwise
// `default_type` is put in front.
std::string typed_value(std::string_view given, std::string_view default_type, bool utf8);
// Diagnostic-Code: "smtp; " for what reads as an SMTP reply, "x-posthorn; " otherwise.
std::string diagnostic_value(std::string_view given, bool utf8);
// The diagnostic as a person reads it: without its type.
std::string diagnostic_text(std::string_view typed);
// Original-Recipient from ORCPT "addr-type;xtext" (RFC 3461 §6.3 (d)): the type kept, the
// address xtext-decoded when that gives text the report may carry, else kept as given.
std::string original_recipient_value(std::string_view orcpt, bool utf8);
// The address an ORCPT-style value names, decoded ("" when it is not an address we can read).
std::string original_recipient_address(std::string_view orcpt);
// Final-Recipient (RFC 3464 §2.3.2; RFC 6533 §3): "utf-8; addr" in a global report,
// "rfc822; addr" otherwise, a non-ASCII address in an ASCII report as utf-8-addr-xtext.
std::string final_recipient_value(const address& a, bool global);

}  // namespace dsn_fields
}  // namespace posthorn::mail
