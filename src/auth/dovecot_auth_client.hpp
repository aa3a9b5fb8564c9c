#pragma once
// Password checks by Dovecot's auth service (DESIGN.md §4.6 `[auth] dovecot_socket`), over
// its auth-client Unix socket, on the event loop: nothing blocks a thread while Dovecot
// thinks (its passdb may be SQL or LDAP, and it delays failures on purpose).
//
// One function for every protocol that checks passwords (SMTP AUTH, POP3): each check
// opens its own connection (a local socket: the handshake costs one round trip), runs
// the handshake and one AUTH PLAIN, and closes it.

#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/awaitable.hpp>
#include <chrono>
#include <filesystem>
#include <string_view>

#include "auth/dovecot_auth.hpp"

namespace posthorn::auth {

// Longest a check may take before it counts as a temporary failure (454 4.7.0 in SMTP).
// Dovecot's auth_failure_delay (2s by default) is part of every failed check.
inline constexpr std::chrono::milliseconds k_dovecot_timeout = std::chrono::seconds(15);

// Asks Dovecot whether `password` is `user`'s. TempFail when the socket cannot be reached,
// the dialogue breaks or times out, or Dovecot says "temp"; never throws. Runs on `ex`.
boost::asio::awaitable<dovecot::check_result> dovecot_check_plain(
    boost::asio::any_io_executor ex, std::filesystem::path socket, std::string_view user,
    std::string_view password, dovecot::request_info info,
    std::chrono::milliseconds timeout = k_dovecot_timeout);

}  // namespace posthorn::auth
