#pragma once
// The command lines the client writes (RFC 5321 §4.1.1, §4.1.2) with their ESMTP
// parameters, and the checks that decide a transaction before anything is sent.
// Internal to smtp/client; no I/O.

#include <optional>
#include <string>
#include <string_view>

#include "mail/address.hpp"
#include "smtp/client/client.hpp"
#include "smtp/client/reply_reader.hpp"

namespace posthorn::smtp::detail {

// The path between the angle brackets: the local part quoted when it is not a
// dot-string, the domain as A-labels unless `utf8` (RFC 6531 §3.2). nullopt when the
// address cannot be written that way, or holds octets that would break the command line.
std::optional<std::string> render_path(const mail::address& a, bool utf8);

// What begin() decided about a transaction before sending it.
struct mail_plan {
  bool use_utf8 = false;    // SMTPUTF8 on MAIL (RFC 6531 §3.4)
  bool body_8bit = false;   // BODY=8BITMIME (RFC 6152 §3)
  bool dsn = false;         // DSN parameters passed on (RFC 3461 §4)
  bool bdat = false;        // the message goes in BDAT chunks (RFC 3030 CHUNKING)
  bool binarymime = false;  // BODY=BINARYMIME, sent verbatim (RFC 3030 §3)
  bool downgrade = false;   // the header section goes out downgraded (RFC 6857)
  std::string failure_dsn;  // set: the whole transaction fails here with this status
  std::string failure_text;
};

// Applies RFC 1870 (SIZE), RFC 6531 (SMTPUTF8), RFC 6152 (8BITMIME) and RFC 3030
// (CHUNKING, BINARYMIME) to a transaction and what the peer offers.
mail_plan plan_transaction(const client_transaction& t, const peer_extensions& ext);

// "MAIL FROM:<path> SIZE=n BODY=8BITMIME SMTPUTF8 RET=HDRS ENVID=xtext\r\n".
std::string mail_command(const client_transaction& t, const mail_plan& plan,
                         const peer_extensions& ext, const std::string& path);

// "RCPT TO:<path> NOTIFY=FAILURE,DELAY ORCPT=rfc822;xtext\r\n".
std::string rcpt_command(const client_recipient& r, const mail_plan& plan, const std::string& path);

}  // namespace posthorn::smtp::detail
