#pragma once
// SMTP AUTH checked by Dovecot's auth service ([auth] dovecot_socket): the connection
// driver's AuthVerify step when Dovecot holds the passwords.

#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/awaitable.hpp>
#include <expected>
#include <optional>
#include <string>
#include <string_view>

#include "auth/sasl.hpp"
#include "config/config.hpp"
#include "mail/address.hpp"

namespace posthorn::smtp {

// The account Dovecot logged in (its user= name; a name without "@" is taken in the first
// local domain), nullopt for a wrong password or unknown user, or an error text when the
// password could not be checked (the session answers 454 4.7.0).
boost::asio::awaitable<std::expected<std::optional<mail::address>, std::string>> dovecot_verify(
    boost::asio::any_io_executor ex, const config::config& cfg, const auth::sasl_verify& creds,
    std::string_view client_ip, bool tls);

}  // namespace posthorn::smtp
