#pragma once
// ESMTP parameters after the path of MAIL FROM and RCPT TO (RFC 5321 §4.1.2):
// SIZE (RFC 1870), BODY (RFC 6152, RFC 3030), SMTPUTF8 (RFC 6531), AUTH (RFC 4954),
// RET, ENVID, NOTIFY and ORCPT (RFC 3461). No I/O: text in, values or an error out.

#include <cstdint>
#include <expected>
#include <optional>
#include <string>
#include <string_view>

#include "mail/xtext.hpp"
#include "smtp/proto/reply.hpp"

namespace posthorn::smtp {

// BODY= of MAIL FROM; absent means 7BIT.
enum class body_kind : std::uint8_t { SevenBit, EightBitMime, BinaryMime };

// NOTIFY bits (RFC 3461 §4.1); the same values as queue::notify, 0 = not given.
namespace notify_bits {
inline constexpr std::uint8_t k_never = 1;
inline constexpr std::uint8_t k_success = 2;
inline constexpr std::uint8_t k_failure = 4;
inline constexpr std::uint8_t k_delay = 8;
}  // namespace notify_bits

// What MAIL FROM carried after its path.
struct mail_params {
  std::optional<std::uint64_t> size;  // SIZE=; saturates at the largest uint64
  body_kind body = body_kind::SevenBit;
  bool smtputf8 = false;
  std::optional<std::string> ret;    // "FULL" or "HDRS", upper case
  std::optional<std::string> envid;  // xtext-decoded (RFC 3461 §4.4)
  std::optional<std::string> auth;   // xtext-decoded mailbox, or "<>" (RFC 4954 §5)
};

// What RCPT TO carried after its path.
struct rcpt_params {
  std::uint8_t notify = 0;           // notify_bits; 0 = NOTIFY not given
  std::optional<std::string> orcpt;  // "addr-type;xtext" exactly as given (RFC 3461 §4.2)
};

enum class param_fault : std::uint8_t {
  Unknown,    // keyword not recognised or not advertised: 555 5.5.4
  Malformed,  // bad keyword syntax or bad value: 501 5.5.4
  Duplicate,  // the same keyword twice: 501 5.5.4
};

// Why a parameter list was refused, and so which reply applies.
struct param_error {
  param_fault fault = param_fault::Malformed;
  std::string keyword;  // upper case; empty when the keyword itself was malformed

  int code() const { return fault == param_fault::Unknown ? 555 : 501; }
  std::string_view enhanced() const { return "5.5.4"; }
  std::string text() const;  // human-readable, safe for a reply
  friend bool operator==(const param_error&, const param_error&) = default;
};

// The reply for a refused parameter list: 555 5.5.4 or 501 5.5.4 (RFC 5321 §4.1.1.11).
reply reply_for(const param_error& e);

// The extensions the session advertises; keywords of the others count as unknown.
struct param_support {
  bool size = true;
  bool eightbitmime = true;
  bool binarymime = true;  // needs CHUNKING advertised (RFC 3030 §3)
  bool smtputf8 = true;
  bool dsn = true;
  bool auth = true;
};

// Parses MAIL FROM parameters: keyword[=value] separated by spaces, keywords
// case-insensitive. Runs of spaces and leading or trailing spaces are tolerated.
std::expected<mail_params, param_error> parse_mail_params(std::string_view text,
                                                          const param_support& support = {});

// Parses RCPT TO parameters (NOTIFY, ORCPT), as parse_mail_params.
std::expected<rcpt_params, param_error> parse_rcpt_params(std::string_view text,
                                                          const param_support& support = {});

// xtext helpers live in mail/ (the DSN builder needs them too).
using mail::xtext_decode;
using mail::xtext_encode;

}  // namespace posthorn::smtp
