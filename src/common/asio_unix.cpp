#include "common/asio_unix.hpp"

#include <sys/socket.h>
#include <sys/stat.h>

#include <mutex>
#include <system_error>

namespace posthorn {

namespace asio = boost::asio;
using unix_socket = asio::local::stream_protocol;

namespace {
// umask is per process: two binds at once must not see each other's mask.
std::mutex umask_mu;
}  // namespace

result<unix_socket::acceptor> bind_unix_acceptor(asio::io_context& io,
                                                 const std::filesystem::path& path, mode_t mode) {
  boost::system::error_code ec;
  std::error_code fec;
  if (std::filesystem::exists(std::filesystem::symlink_status(path, fec))) {
    // A socket somebody still answers on belongs to a running server: leave it.
    unix_socket::socket probe(io);
    probe.connect(unix_socket::endpoint(path.string()), ec);
    if (!ec) {
      return fail(error::perm("", "another server is listening on " + path.string()));
    }
    std::filesystem::remove(path, fec);
  }
  unix_socket::acceptor acceptor(io);
  acceptor.open(unix_socket(), ec);
  if (!ec) {
    std::lock_guard lock(umask_mu);
    mode_t old = ::umask(static_cast<mode_t>(~mode & 0777));
    acceptor.bind(unix_socket::endpoint(path.string()), ec);
    ::umask(old);
  }
  if (!ec && ::chmod(path.c_str(), mode) != 0) {
    ec.assign(errno, boost::system::system_category());
  }
  if (!ec) {
    acceptor.listen(asio::socket_base::max_listen_connections, ec);
  }
  if (ec) {
    return fail(error::perm("", "cannot listen on " + path.string() + ": " + ec.message()));
  }
  return acceptor;
}

std::optional<uid_t> peer_uid(const unix_socket::socket& s) {
  ucred cred{};
  socklen_t len = sizeof cred;
  if (::getsockopt(const_cast<unix_socket::socket&>(s).native_handle(), SOL_SOCKET, SO_PEERCRED,
                   &cred, &len) != 0) {
    return std::nullopt;
  }
  return cred.uid;
}

}  // namespace posthorn
