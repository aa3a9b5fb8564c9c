#pragma once
// Password hashes as /etc/shadow and Dovecot passwd-files hold them, through
// crypt(3) (libxcrypt): yescrypt "$y$" for new hashes; SHA512-CRYPT "$6$", bcrypt
// "$2b$"/"$2y$" and the other libxcrypt methods are verified. Blocking (by design
// slow): never call on an event-loop thread.

#include <string>
#include <string_view>

#include "common/error.hpp"

namespace posthorn::auth {

// A new yescrypt hash with a random salt.
result<std::string> hash_password(std::string_view password);

// True when `password` matches `hash`. Constant-time comparison; false for an empty
// or unsupported hash ("*", "!", "").
bool verify_password(std::string_view password, std::string_view hash);

}  // namespace posthorn::auth
