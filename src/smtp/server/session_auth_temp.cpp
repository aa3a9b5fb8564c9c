// AUTH whose password check could not be made (Dovecot's auth service down or too slow,
// [auth] dovecot_socket): the client is told to try again later, which is not a failed
// login and does not count toward the failure limits (RFC 4954 §6: 454 4.7.0).

#include "smtp/server/session.hpp"

namespace posthorn::smtp {

void session::auth_unavailable() {
  verify_pending_ = false;
  verify_ = {};
  sasl_.reset();
  scram_login_.reset();
  reply_with(454, "4.7.0", "Temporary authentication failure");
}

}  // namespace posthorn::smtp
