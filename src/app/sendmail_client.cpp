// The blocking SMTP client of `sendmail` on the submission socket. One message per run,
// so plain blocking calls with socket timeouts are all it needs; replies are framed by
// the SMTP client's reply_reader and the message is dot-stuffed by its data_encoder.

#include "app/sendmail_client.hpp"

#include <poll.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <sysexits.h>
#include <unistd.h>

#include <cerrno>
#include <csignal>
#include <cstring>
#include <iostream>
#include <optional>

#include "mail/xtext.hpp"
#include "smtp/client/data_encoder.hpp"
#include "smtp/client/reply_reader.hpp"

namespace posthorn::app {

namespace {

// Generous: the server answers the end of DATA after an fsync, which may wait behind a
// busy disk (RFC 5321 §4.5.3.2.6 gives the client 10 minutes there).
constexpr int k_timeout_seconds = 600;
constexpr std::size_t k_write_block = 64 * 1024;

class submit_connection {
 public:
  submit_connection() = default;
  submit_connection(const submit_connection&) = delete;
  submit_connection& operator=(const submit_connection&) = delete;
  ~submit_connection() {
    if (fd_ >= 0) {
      ::close(fd_);
    }
  }

  // Connects to the socket; false with error() set when that fails.
  bool open(const std::filesystem::path& path) {
    sockaddr_un addr{};
    addr.sun_family = AF_UNIX;
    const std::string p = path.string();
    if (p.size() >= sizeof addr.sun_path) {
      error_ = "the socket path is longer than a Unix socket allows: " + p;
      return false;
    }
    std::memcpy(addr.sun_path, p.c_str(), p.size() + 1);
    fd_ = ::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd_ < 0) {
      error_ = std::string("socket: ") + std::strerror(errno);
      return false;
    }
    timeval tv{k_timeout_seconds, 0};
    ::setsockopt(fd_, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
    ::setsockopt(fd_, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv);
    if (::connect(fd_, reinterpret_cast<const sockaddr*>(&addr), sizeof addr) != 0) {
      error_ = "cannot connect to " + p + ": " + std::strerror(errno);
      if (errno == ENOENT || errno == ECONNREFUSED) {
        error_ += " (is `posthorn serve` running?)";
      } else if (errno == EACCES) {
        error_ += " (the socket or a folder above it is closed to this user)";
      }
      return false;
    }
    return true;
  }

  int fd() const { return fd_; }
  const std::string& error() const { return error_; }

  bool send(std::string_view data) {
    while (!data.empty()) {
      const ssize_t n = ::send(fd_, data.data(), data.size(), MSG_NOSIGNAL);
      if (n < 0) {
        if (errno == EINTR) {
          continue;
        }
        error_ = errno == EAGAIN ? "timed out writing to the server"
                                 : std::string("write: ") + std::strerror(errno);
        return false;
      }
      data.remove_prefix(static_cast<std::size_t>(n));
    }
    return true;
  }

  // The next whole reply; nullopt with error() set when the connection fails or the
  // peer does not speak SMTP (protocol_error() tells which).
  std::optional<smtp::reply> read_reply() {
    for (;;) {
      std::string_view view = buffer_;
      auto r = reader_.feed(view);
      buffer_.erase(0, buffer_.size() - view.size());
      if (!r) {
        error_ = "the server's reply is not SMTP: " + r.error();
        protocol_error_ = true;
        return std::nullopt;
      }
      if (*r) {
        return std::move(**r);
      }
      char chunk[4096];
      const ssize_t n = ::recv(fd_, chunk, sizeof chunk, 0);
      if (n < 0 && errno == EINTR) {
        continue;
      }
      if (n <= 0) {
        error_ = n == 0 ? "the server closed the connection"
                        : errno == EAGAIN ? "timed out waiting for the server"
                                          : std::string("read: ") + std::strerror(errno);
        return std::nullopt;
      }
      buffer_.append(chunk, static_cast<std::size_t>(n));
    }
  }

  bool protocol_error() const { return protocol_error_; }

 private:
  int fd_ = -1;
  std::string buffer_;
  smtp::reply_reader reader_;
  std::string error_;
  bool protocol_error_ = false;
};

// One dialogue; each step returns false after reporting, with exit_ set.
class dialogue {
 public:
  dialogue(submit_connection& c, const mail::submission& sub, const submit_params& p)
      : c_(c), sub_(sub), p_(p) {}

  int run() {
    const bool ok = greeting() && ehlo() && mail() && rcpts() && data();
    quit();
    return ok ? EX_OK : exit_;
  }

 private:
  // Reports a failed step. `sent` says whether the message may have reached the queue.
  bool lost(std::string_view step) {
    if (data_sent_) {
      std::cerr << "sendmail: " << c_.error() << " after the whole message was sent; it may "
                << "or may not have been queued (check with mailq)\n";
    } else {
      std::cerr << "sendmail: " << c_.error() << " while " << step
                << "; the message was NOT sent\n";
    }
    exit_ = c_.protocol_error() ? EX_PROTOCOL : EX_TEMPFAIL;
    return false;
  }

  // A refusal: 4xx is temporary (EX_TEMPFAIL), 5xx permanent: for the session itself the
  // service is unavailable, for the transaction the data (an address, the message) is bad.
  bool refused(const smtp::reply& r, std::string_view what, bool session) {
    std::cerr << "sendmail: " << what << ": " << smtp::one_line(r) << '\n';
    exit_ = r.temporary() ? EX_TEMPFAIL : session ? EX_UNAVAILABLE : EX_DATAERR;
    return false;
  }

  void not_sent() const {
    std::cerr << "sendmail: the message was NOT sent"
              << (exit_ == EX_TEMPFAIL ? " (temporary failure: try again later)" : "") << '\n';
  }

  bool greeting() {
    auto r = c_.read_reply();
    if (!r) {
      return lost("waiting for the greeting");
    }
    if (r->code != 220) {
      refused(*r, "the server refused the connection", true);
      not_sent();
      return false;
    }
    return true;
  }

  bool ehlo() {
    if (!c_.send("EHLO " + p_.ehlo_name + "\r\n")) {
      return lost("sending EHLO");
    }
    auto r = c_.read_reply();
    if (!r) {
      return lost("waiting for the reply to EHLO");
    }
    if (r->code != 250) {
      refused(*r, "EHLO", true);
      not_sent();
      return false;
    }
    ext_ = smtp::parse_ehlo(*r);
    return true;
  }

  bool mail() {
    if (sub_.smtputf8 && !ext_.smtputf8) {
      std::cerr << "sendmail: an address is not ASCII and the server does not offer "
                   "SMTPUTF8; the message was NOT sent\n";
      exit_ = EX_UNAVAILABLE;
      return false;
    }
    std::string cmd = "MAIL FROM:<" + sub_.sender.str() + ">";
    if (ext_.size) {
      cmd += " SIZE=" + std::to_string(sub_.message.size());
    }
    // RFC 6152 §3: declare 8-bit content; without 8BITMIME there is nothing better to do
    // than to send it as it is.
    if ((sub_.eight_bit || p_.eight_bit_declared) && ext_.eightbitmime) {
      cmd += " BODY=8BITMIME";
    }
    if (sub_.smtputf8) {
      cmd += " SMTPUTF8";  // RFC 6531 §3.4
    }
    if (ext_.dsn) {  // RFC 3461 §4.3, §4.4
      if (!p_.ret.empty()) {
        cmd += " RET=" + p_.ret;
      }
      if (!p_.envid.empty()) {
        cmd += " ENVID=" + mail::xtext_encode(p_.envid);
      }
    }
    if (!c_.send(cmd + "\r\n")) {
      return lost("sending MAIL FROM");
    }
    auto r = c_.read_reply();
    if (!r) {
      return lost("waiting for the reply to MAIL FROM");
    }
    if (r->code != 250) {
      refused(*r, "sender <" + sub_.sender.str() + "> refused", false);
      not_sent();
      return false;
    }
    return true;
  }

  // Every recipient is tried so that the user learns of all refusals at once; any
  // refusal fails the submission before DATA (as Postfix's sendmail fails, nothing is
  // sent to the others either).
  bool rcpts() {
    bool all_ok = true;
    for (const auto& a : sub_.recipients) {
      std::string cmd = "RCPT TO:<" + a.str() + ">";
      if (ext_.dsn && !p_.notify.empty()) {
        cmd += " NOTIFY=" + p_.notify;
      }
      if (!c_.send(cmd + "\r\n")) {
        return lost("sending RCPT TO");
      }
      auto r = c_.read_reply();
      if (!r) {
        return lost("waiting for the reply to RCPT TO");
      }
      if (r->code != 250 && r->code != 251) {
        const int before = exit_;
        refused(*r, "recipient <" + a.str() + "> refused", false);
        // A permanent refusal outweighs a temporary one.
        if (before == EX_DATAERR) {
          exit_ = EX_DATAERR;
        }
        all_ok = false;
      }
    }
    if (!all_ok) {
      not_sent();
    }
    return all_ok;
  }

  bool data() {
    if (!c_.send("DATA\r\n")) {
      return lost("sending DATA");
    }
    auto r = c_.read_reply();
    if (!r) {
      return lost("waiting for the reply to DATA");
    }
    if (r->code != 354) {
      refused(*r, "DATA", false);
      not_sent();
      return false;
    }
    smtp::data_encoder enc;
    std::string out;
    std::string_view rest = sub_.message;
    while (!rest.empty()) {
      const std::size_t n = std::min(rest.size(), k_write_block);
      out.clear();
      enc.feed(rest.substr(0, n), out);
      rest.remove_prefix(n);
      if (!c_.send(out)) {
        return lost("sending the message");
      }
    }
    out.clear();
    enc.finish(out);
    if (!c_.send(out)) {
      return lost("sending the message");
    }
    data_sent_ = true;
    r = c_.read_reply();
    if (!r) {
      return lost("waiting for the reply to the message");
    }
    if (r->code != 250) {
      refused(*r, "message refused", false);
      not_sent();
      return false;
    }
    return true;
  }

  // The transaction is settled whatever QUIT brings; a QUIT after a failure also
  // drops a transaction under way (RFC 5321 §4.1.1.10).
  void quit() {
    if (c_.send("QUIT\r\n")) {
      (void)c_.read_reply();
    }
  }

  submit_connection& c_;
  const mail::submission& sub_;
  const submit_params& p_;
  smtp::peer_extensions ext_;
  bool data_sent_ = false;
  int exit_ = EX_SOFTWARE;
};

bool write_all(int fd, const char* data, std::size_t size) {
  while (size > 0) {
    const ssize_t n = ::write(fd, data, size);
    if (n < 0) {
      if (errno == EINTR) {
        continue;
      }
      return false;
    }
    data += n;
    size -= static_cast<std::size_t>(n);
  }
  return true;
}

}  // namespace

int submit_message(const std::filesystem::path& socket, const mail::submission& sub,
                   const submit_params& params) {
  submit_connection c;
  if (!c.open(socket)) {
    std::cerr << "sendmail: " << c.error() << "\nsendmail: the message was NOT queued\n";
    return EX_TEMPFAIL;
  }
  return dialogue(c, sub, params).run();
}

int bridge_smtp(const std::filesystem::path& socket) {
  // A client that goes away must not kill us with SIGPIPE halfway through a write.
  std::signal(SIGPIPE, SIG_IGN);
  submit_connection c;
  if (!c.open(socket)) {
    std::cerr << "sendmail: " << c.error() << '\n';
    // The SMTP client on stdin/stdout understands this better than an empty stream.
    const std::string_view busy = "421 4.3.2 posthorn is not running, try again later\r\n";
    (void)write_all(STDOUT_FILENO, busy.data(), busy.size());
    return EX_TEMPFAIL;
  }
  // The socket is blocking with a timeout; poll says when each side has something.
  pollfd fds[2] = {{STDIN_FILENO, POLLIN, 0}, {c.fd(), POLLIN, 0}};
  bool stdin_open = true;
  char buf[16384];
  for (;;) {
    fds[0].fd = stdin_open ? STDIN_FILENO : -1;
    if (::poll(fds, 2, -1) < 0) {
      if (errno == EINTR) {
        continue;
      }
      std::cerr << "sendmail: poll: " << std::strerror(errno) << '\n';
      return EX_OSERR;
    }
    if (fds[1].revents & (POLLIN | POLLHUP | POLLERR)) {
      const ssize_t n = ::recv(c.fd(), buf, sizeof buf, 0);
      if (n < 0 && errno == EINTR) {
        continue;
      }
      if (n <= 0) {
        return EX_OK;  // the server ended the session (after QUIT, or 421)
      }
      if (!write_all(STDOUT_FILENO, buf, static_cast<std::size_t>(n))) {
        return EX_IOERR;  // nobody reads our output any more
      }
    }
    if (stdin_open && (fds[0].revents & (POLLIN | POLLHUP | POLLERR))) {
      const ssize_t n = ::read(STDIN_FILENO, buf, sizeof buf);
      if (n < 0 && errno == EINTR) {
        continue;
      }
      if (n <= 0) {
        // End of input: the server sees the end of the stream and closes its side
        // (a transaction under way is dropped, never committed).
        stdin_open = false;
        ::shutdown(c.fd(), SHUT_WR);
        continue;
      }
      if (!c.send(std::string_view(buf, static_cast<std::size_t>(n)))) {
        std::cerr << "sendmail: " << c.error() << '\n';
        return EX_TEMPFAIL;
      }
    }
  }
}

}  // namespace posthorn::app
