// The phases of a client connection: names for the log and the timeout of each
// (RFC 5321 §4.5.3.2).

#include "smtp/client/client.hpp"

namespace posthorn::smtp {

std::string_view describe(client_phase p) {
  switch (p) {
    case client_phase::Greeting:
      return "receiving the initial server greeting";
    case client_phase::Ehlo:
      return "sending EHLO/HELO";
    case client_phase::Starttls:
      return "sending STARTTLS";
    case client_phase::TlsHandshake:
      return "performing the TLS handshake";
    case client_phase::Auth:
      return "performing AUTH";
    case client_phase::Ready:
      return "idle";
    case client_phase::Rset:
      return "sending RSET";
    case client_phase::Mail:
      return "sending MAIL FROM";
    case client_phase::Rcpt:
      return "sending RCPT TO";
    case client_phase::DataInit:
      return "sending DATA";
    case client_phase::DataBlock:
      return "sending the message";
    case client_phase::DataTerm:
      return "sending end of data";
    case client_phase::Quit:
      return "sending QUIT";
    case client_phase::Closed:
      return "closed";
  }
  return "unknown";
}

client_timeouts::duration client_timeouts::for_phase(client_phase p) const {
  switch (p) {
    case client_phase::Greeting:
      return greeting;
    case client_phase::Ehlo:
      return ehlo;
    case client_phase::Starttls:
    case client_phase::TlsHandshake:
      return starttls;
    case client_phase::Auth:
      return auth;
    case client_phase::Rset:
    case client_phase::Mail:
      return mail;
    case client_phase::Rcpt:
      return rcpt;
    case client_phase::DataInit:
      return data_init;
    case client_phase::DataBlock:
      return data_block;
    case client_phase::DataTerm:
      return data_term;
    case client_phase::Quit:
      return quit;
    case client_phase::Ready:
    case client_phase::Closed:
      break;
  }
  return duration::zero();
}

}  // namespace posthorn::smtp
