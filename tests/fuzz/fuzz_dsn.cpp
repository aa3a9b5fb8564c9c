// Fuzz target: the delivery report builder (queue::build_dsn, RFC 3464 in RFC 6522
// multipart/report) and the field syntax under it (src/mail/dsn_fields): it parses the
// original message (its header lines, Message-ID, whether it can travel as 8bit MIME)
// and quotes what peers said (Diagnostic-Code, Remote-MTA) and what clients gave (ENVID,
// ORCPT). All of that is outside input.
//
// Input layout: [kind] [flags] [4 lengths] envid, orcpt, diagnostic, remote-mta, then the
// original message (the rest).
// Invariants: only CRLF ends a line, no line over 998 octets (RFC 5322 §2.1.1), no NUL;
// octets above 127 only when the message, an address or a quoted field had them; the
// MIME boundary never occurs inside a part.

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

#include "fuzz_util.hpp"
#include "mail/dsn_fields.hpp"
#include "queue/bounce.hpp"

namespace {

using namespace posthorn;

std::string_view take(std::string_view& rest, std::size_t n) {
  n = std::min(n, rest.size());
  std::string_view out = rest.substr(0, n);
  rest.remove_prefix(n);
  return out;
}

void check_lines(std::string_view out) {
  std::size_t line = 0;
  for (std::size_t i = 0; i < out.size(); ++i) {
    const char c = out[i];
    FUZZ_CHECK(c != '\0');
    if (c == '\r') {
      FUZZ_CHECK(i + 1 < out.size() && out[i + 1] == '\n');
    } else if (c == '\n') {
      FUZZ_CHECK(i > 0 && out[i - 1] == '\r');
      line = 0;
      continue;
    }
    ++line;
    FUZZ_CHECK(line <= 999);  // 998 octets and the CR
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  fuzz::input in(data, size);
  const std::uint8_t kind = in.byte();
  const std::uint8_t flags = in.byte();
  std::size_t lens[4];
  for (auto& n : lens) {
    n = in.byte();
  }
  std::string_view rest = in.rest();
  const std::string_view envid = take(rest, lens[0]);
  const std::string_view orcpt = take(rest, lens[1]);
  const std::string_view diagnostic = take(rest, lens[2]);
  const std::string_view remote_mta = take(rest, lens[3]);
  const std::string_view message = rest;

  queue::dsn_request req;
  req.reporting_mta = "mx.example.test";
  req.kind = static_cast<queue::dsn_kind>(kind % 5);
  req.original.id = "0000000000fuzz";
  req.original.sender = mail::address{"alice", "example.test"};
  req.original.smtputf8 = (flags & 1) != 0;
  req.original.ret = static_cast<queue::dsn_ret>((flags >> 1) % 3);
  req.original.envid = std::string(envid);
  req.original.arrival = 1'700'000'000;
  req.message = message;
  req.return_limit = (flags & 8) ? 64 : queue::k_default_return_limit;
  req.unique = "0000000000fuzz.1";
  req.now = 1'700'000'100;
  req.utc_offset = 0;
  queue::dsn_recipient r;
  r.final_recipient =
      (flags & 16) ? mail::address{"jörg", "exämple.test"} : mail::address{"bob", "remote.test"};
  r.original_recipient = std::string(orcpt);
  r.action = queue::action_for(req.kind);
  r.diagnostic = std::string(diagnostic);
  r.remote_mta = std::string(remote_mta);
  r.last_attempt = (flags & 32) ? 1'700'000'050 : 0;
  req.recipients.push_back(r);
  if (flags & 64) {
    req.recipients.push_back(r);  // two field groups
  }

  const std::string out = queue::build_dsn(req);
  FUZZ_CHECK(!out.empty());
  check_lines(out);
  const bool eight_in = mail::dsn_fields::has_8bit(message) || mail::dsn_fields::has_8bit(envid) ||
                        mail::dsn_fields::has_8bit(orcpt) ||
                        mail::dsn_fields::has_8bit(diagnostic) ||
                        mail::dsn_fields::has_8bit(remote_mta) || (flags & 16) != 0;
  if (!eight_in) {
    FUZZ_CHECK(!mail::dsn_fields::has_8bit(out));
  }
  // The boundary: on the Content-Type line, and then only as delimiter lines.
  const std::size_t b = out.find("boundary=\"");
  FUZZ_CHECK(b != std::string::npos);
  const std::size_t e = out.find('"', b + 10);
  FUZZ_CHECK(e != std::string::npos);
  const std::string boundary = out.substr(b + 10, e - b - 10);
  FUZZ_CHECK(!boundary.empty());
  for (std::size_t at = out.find(boundary, e); at != std::string::npos;
       at = out.find(boundary, at + 1)) {
    FUZZ_CHECK(at >= 4 && out.compare(at - 4, 4, "\r\n--") == 0);
  }

  // The field helpers on their own.
  const bool utf8 = (flags & 1) != 0;
  for (const std::string& one_field : {mail::dsn_fields::clean_text(message.substr(0, 2000), utf8),
                                       mail::dsn_fields::diagnostic_value(diagnostic, utf8),
                                       mail::dsn_fields::typed_value(remote_mta, "dns", utf8),
                                       mail::dsn_fields::original_recipient_value(orcpt, utf8)}) {
    for (const char c : one_field) {
      FUZZ_CHECK(c != '\r' && c != '\n' && c != '\0');
    }
  }
  (void)mail::dsn_fields::header_lines(message);
  (void)mail::dsn_fields::original_message_id(message);
  (void)mail::dsn_fields::transportable(message);
  check_lines(mail::dsn_fields::headers_content(message));
  (void)mail::dsn_fields::original_recipient_address(orcpt);
  return 0;
}
