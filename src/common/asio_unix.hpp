#pragma once
// Unix stream sockets for local clients (the control socket, the sendmail submit
// socket): bound with their permissions from the first moment, and the peer's uid.

#include <sys/types.h>

#include <boost/asio/io_context.hpp>
#include <boost/asio/local/stream_protocol.hpp>

#include <filesystem>
#include <optional>

#include "common/error.hpp"

namespace posthorn {

// Binds and listens on `path` with file mode `mode`, never reachable with another mode
// and without touching the umask. A stale socket file left by a crash is replaced; a
// live one (a server answers on it) is an error.
result<boost::asio::local::stream_protocol::acceptor> bind_unix_acceptor(
    boost::asio::io_context& io, const std::filesystem::path& path, mode_t mode);

// The uid of the process at the other end (SO_PEERCRED); nullopt when unknown.
std::optional<uid_t> peer_uid(const boost::asio::local::stream_protocol::socket& s);

}  // namespace posthorn
