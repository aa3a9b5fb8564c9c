#pragma once
// The sendmail command's side of the server's submission socket (cfg.submit_socket()):
// a blocking SMTP dialogue over a Unix stream socket, and the -bs bridge between
// stdin/stdout and that socket. The server does everything else (trust by peer uid,
// Received:, the durable commit before 250).

#include <filesystem>
#include <string>

#include "mail/submission.hpp"

namespace posthorn::app {

// What sendmail asks of the server beyond the prepared message.
struct submit_params {
  std::string ehlo_name;            // our name in EHLO
  bool eight_bit_declared = false;  // -B 8BITMIME
  std::string notify;               // -N, for every RCPT (only when the server has DSN)
  std::string ret;                  // -R
  std::string envid;                // -V, decoded
};

// Submits the message; returns the sysexits code (0 when the server said 250 to the
// end of DATA, so the message is durably queued). Every failure is explained on stderr,
// with the server's reply when there is one, and says whether the message was sent.
int submit_message(const std::filesystem::path& socket, const mail::submission& sub,
                   const submit_params& params);

// -bs: copies stdin to the socket and the socket to stdout until the server closes the
// connection. Returns the sysexits code.
int bridge_smtp(const std::filesystem::path& socket);

}  // namespace posthorn::app
