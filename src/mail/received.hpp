#pragma once
// The Received: trace field we prepend to each accepted message (RFC 5321 §4.4,
// RFC 5322 §3.6.7) and the RFC 5322 §3.3 date it ends with.

#include <cstdint>
#include <string>
#include <string_view>

namespace posthorn::mail {

// "Sat, 21 Nov 2026 21:51:00 +0000" in the local time zone of this process.
std::string rfc5322_date(std::int64_t unix_seconds);
// The same with an explicit offset from UTC in seconds (east positive), e.g. 3600 for +0100.
std::string rfc5322_date(std::int64_t unix_seconds, int utc_offset_seconds);

struct received_info {
  std::string from_helo;    // HELO/EHLO argument; "" for local submission (no "from" clause)
  std::string client_name;  // reverse DNS name; "" is written as "unknown"
  std::string client_addr;  // "192.0.2.1" or "2001:db8::1"; written as [IPv6:...] for IPv6
  std::string by_host;      // our hostname
  std::string protocol;     // SMTP, ESMTP, ESMTPS, ESMTPSA, UTF8SMTP...; "" omits "with"
  std::string queue_id;     // "" omits "id"
  std::string for_rcpt;     // the one recipient, "" when none or several
  std::string tls_info;     // "" or "(using TLSv1.3 with cipher TLS_AES_256_GCM_SHA384)"
  std::int64_t when = 0;    // unix seconds
};

// The complete field, CRLF line ends, each line folded to at most 78 columns where the
// values allow (RFC 5322 §2.1.1):
//   Received: from <helo> (<client_name> [<addr>])\r\n
//   \t<tls_info>\r\n                                    (when present)
//   \tby <host> (posthorn) with ESMTP id <id>\r\n
//   \tfor <rcpt>; <date>\r\n
// Client-supplied text is made safe: controls become '?', and parentheses and
// backslashes inside comments are quoted.
std::string received_header(const received_info& info);

// True when `line` starts a Received: field (the name is case-insensitive).
bool is_received_header_line(std::string_view line);

}  // namespace posthorn::mail
