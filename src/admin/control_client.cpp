#include "admin/control_client.hpp"

#include <sys/socket.h>
#include <sys/time.h>
#include <sys/un.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include "queue/file_io.hpp"

namespace posthorn::admin {

namespace {

// Long enough for a listing or a `delete ALL` of a big queue, short of hanging forever
// on a wedged server.
constexpr int k_timeout_seconds = 300;

error io_failure(const std::filesystem::path& socket, const char* what, int err) {
  return error::temp("", std::string(what) + " " + socket.string() + ": " + std::strerror(err));
}

}  // namespace

result<control_reply> control_call(const std::filesystem::path& socket,
                                   const control_request& req) {
  sockaddr_un addr{};
  addr.sun_family = AF_UNIX;
  const std::string path = socket.string();
  if (path.size() >= sizeof addr.sun_path) {
    return fail(error::perm("", "control socket path too long: " + path));
  }
  std::memcpy(addr.sun_path, path.c_str(), path.size() + 1);

  queue::io::unique_fd fd(::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0));
  if (fd.get() < 0) {
    return fail(io_failure(socket, "socket for", errno));
  }
  timeval tv{k_timeout_seconds, 0};
  ::setsockopt(fd.get(), SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
  ::setsockopt(fd.get(), SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv);
  if (::connect(fd.get(), reinterpret_cast<const sockaddr*>(&addr), sizeof addr) != 0) {
    int err = errno;
    if (err == ENOENT || err == ECONNREFUSED || err == ENOTDIR) {
      return fail(error::temp("", "posthorn is not running (no control socket at " + path + ")"));
    }
    return fail(io_failure(socket, "cannot connect to", err));
  }

  std::string line = encode_request(req) + "\n";
  for (std::size_t off = 0; off < line.size();) {
    ssize_t n = ::send(fd.get(), line.data() + off, line.size() - off, MSG_NOSIGNAL);
    if (n < 0) {
      if (errno == EINTR) {
        continue;
      }
      return fail(io_failure(socket, "cannot send to", errno));
    }
    off += static_cast<std::size_t>(n);
  }

  // The reply line, then (show) exactly message_size octets.
  std::string buf;
  std::size_t line_end = std::string::npos;
  std::size_t want = 0;
  bool have_head = false;
  control_reply reply;
  char chunk[65536];
  while (true) {
    if (!have_head) {
      line_end = buf.find('\n');
      if (line_end != std::string::npos) {
        reply.head = nlohmann::ordered_json::parse(buf.substr(0, line_end), nullptr, false);
        if (reply.head.is_discarded() || !reply.head.is_object()) {
          return fail(error::temp("", "unreadable reply on " + path));
        }
        have_head = true;
        buf.erase(0, line_end + 1);
        if (auto it = reply.head.find("message_size");
            it != reply.head.end() && it->is_number_unsigned()) {
          want = it->get<std::size_t>();
          buf.reserve(want);
        }
      }
    }
    if (have_head && buf.size() >= want) {
      buf.resize(want);
      reply.body = std::move(buf);
      return reply;
    }
    ssize_t n = ::recv(fd.get(), chunk, sizeof chunk, 0);
    if (n < 0) {
      if (errno == EINTR) {
        continue;
      }
      if (errno == EAGAIN || errno == EWOULDBLOCK) {
        return fail(error::temp(
            "", "no reply on " + path + " within " + std::to_string(k_timeout_seconds) + "s"));
      }
      return fail(io_failure(socket, "cannot read from", errno));
    }
    if (n == 0) {
      return fail(error::temp("", "the server closed " + path + " before its reply ended"));
    }
    buf.append(chunk, static_cast<std::size_t>(n));
  }
}

}  // namespace posthorn::admin
