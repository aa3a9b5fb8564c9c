#pragma once
// The network side of the POP3 server: one coroutine per connection on a listener with
// role pop3 or pop3s, around a sans-I/O pop3::session (DESIGN.md §1). Listeners are
// smtp::listener's; they hand POP3 connections here.

#include <boost/asio/ip/tcp.hpp>
#include <optional>
#include <string>

#include "auth/sasl.hpp"
#include "config/config.hpp"
#include "mail/address.hpp"
#include "smtp/server/listener.hpp"

namespace posthorn::pop3 {

// Runs one POP3 connection to its end.
void spawn_connection(boost::asio::ip::tcp::socket socket, smtp::server_context& ctx,
                      const config::listen_config& where);

}  // namespace posthorn::pop3
