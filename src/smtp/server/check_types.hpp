#pragma once
// The sans-I/O half of the check seam (checks.hpp): the steps a session is checked at
// and the verdict that comes back. The session (no Asio) sees only this file.

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include "config/config.hpp"
#include "mail/address.hpp"
#include "queue/envelope.hpp"
#include "queue/spool.hpp"
#include "smtp/proto/reply.hpp"

namespace posthorn::smtp {

struct peer_info;

enum class check_step : std::uint8_t { Connect, Helo, Mail, Rcpt, Message };
inline constexpr unsigned step_bit(check_step s) { return 1u << static_cast<unsigned>(s); }
std::string_view to_string(check_step s);  // "connect", "helo", "mail", "rcpt", "message"

// What a check sees; the pointers are valid during the call only.
struct check_request {
  check_step step = check_step::Connect;
  config::listener_role role = config::listener_role::Mx;
  const peer_info* peer = nullptr;  // addr, name (reverse DNS or "unknown"), trusted
  std::string_view helo;            // "" before HELO/EHLO
  const std::optional<mail::address>* auth_user = nullptr;  // the AUTH login, if any
  bool tls = false;
  const mail::address* sender = nullptr;           // Mail, Rcpt, Message (empty: <>)
  const mail::address* rcpt = nullptr;             // Rcpt: the recipient asked about
  const queue::envelope* envelope = nullptr;       // Message: id, expanded recipients, ...
  const queue::message_writer* message = nullptr;  // Message: the octets, our Received: first
  double score = 0;  // Message: the spam score the modules before this one gave
};

struct check_verdict {
  std::optional<reply> refuse;  // a 4xx/5xx in place of the success reply; 421 closes
  std::string prepend;          // Message: header fields (each ending CRLF) put on top
  bool junk = false;            // Message: local recipients get it in the Junk folder
  bool hold = false;            // Message: queued on hold (a milter's quarantine)
  bool discard = false;         // Message: answered 250, nothing kept
  double score = 0;             // Message: added to the message's score
  std::string log;              // "spf=pass dkim=pass": joins the event=queued line

  // Folds `later` (the verdict of the next module) into this one.
  void merge(check_verdict later);
};

}  // namespace posthorn::smtp
