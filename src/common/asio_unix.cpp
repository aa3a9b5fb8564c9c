#include "common/asio_unix.hpp"

#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cstdlib>

#include <cerrno>
#include <cstring>
#include <system_error>

namespace posthorn {

namespace asio = boost::asio;
using unix_socket = asio::local::stream_protocol;

result<unix_socket::acceptor> bind_unix_acceptor(asio::io_context& io,
                                                 const std::filesystem::path& path, mode_t mode) {
  boost::system::error_code ec;
  std::error_code fec;
  if (std::filesystem::exists(std::filesystem::symlink_status(path, fec))) {
    // Left by a crash, or a server that is still running: only the latter answers.
    unix_socket::socket probe(io);
    probe.connect(unix_socket::endpoint(path.string()), ec);
    if (!ec) {
      return fail(error::perm("", "another server is listening on " + path.string()));
    }
  }
  // Bound inside a fresh private folder, given its mode there, then renamed into place:
  // the socket is never reachable with other permissions, and the process-wide umask
  // (which other threads' files depend on) is never touched.
  std::string tmpl = (path.parent_path() / ".socket.XXXXXX").string();
  if (::mkdtemp(tmpl.data()) == nullptr) {
    return fail(error::perm("", "cannot create a folder beside " + path.string() + ": " +
                                    std::strerror(errno)));
  }
  const std::filesystem::path tmp_dir = tmpl;
  const std::filesystem::path tmp = tmp_dir / "s";
  unix_socket::acceptor acceptor(io);
  acceptor.open(unix_socket(), ec);
  if (!ec) {
    acceptor.bind(unix_socket::endpoint(tmp.string()), ec);
  }
  if (!ec && ::chmod(tmp.c_str(), mode) != 0) {
    ec.assign(errno, boost::system::system_category());
  }
  // rename(2) replaces a stale socket file atomically.
  if (!ec && ::rename(tmp.c_str(), path.c_str()) != 0) {
    ec.assign(errno, boost::system::system_category());
  }
  if (!ec) {
    acceptor.listen(asio::socket_base::max_listen_connections, ec);
  }
  ::unlink(tmp.c_str());
  ::rmdir(tmp_dir.c_str());
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
