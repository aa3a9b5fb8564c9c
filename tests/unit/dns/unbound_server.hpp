#pragma once
// A real `unbound` serving a test zone on a free loopback port, for the libunbound
// resolver tests. It never recurses (local-zone "." static, DESIGN.md §3) and only
// listens on 127.0.0.1. A missing unbound binary is an error, not a skip:
// scripts/bootstrap installs it.

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <signal.h>
#include <spawn.h>
#include <stdlib.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <memory>
#include <optional>
#include <sstream>
#include <string>
#include <system_error>
#include <thread>
#include <vector>

extern char** environ;

namespace posthorn::dns::test {

namespace fs = std::filesystem;

// A socket closed when it goes out of scope.
class fd_guard {
 public:
  explicit fd_guard(int fd) : fd_(fd) {}
  ~fd_guard() {
    if (fd_ >= 0) {
      ::close(fd_);
    }
  }
  fd_guard(const fd_guard&) = delete;
  fd_guard& operator=(const fd_guard&) = delete;
  int get() const { return fd_; }

 private:
  int fd_;
};

inline sockaddr_in loopback(std::uint16_t port) {
  sockaddr_in sa{};
  sa.sin_family = AF_INET;
  sa.sin_port = htons(port);
  sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  return sa;
}

// A port free for both UDP and TCP on 127.0.0.1 right now (the kernel picks it).
inline std::optional<std::uint16_t> free_port() {
  for (int attempt = 0; attempt < 20; ++attempt) {
    fd_guard udp(::socket(AF_INET, SOCK_DGRAM, 0));
    sockaddr_in sa = loopback(0);
    if (udp.get() < 0 || ::bind(udp.get(), reinterpret_cast<sockaddr*>(&sa), sizeof sa) != 0) {
      continue;
    }
    socklen_t len = sizeof sa;
    if (::getsockname(udp.get(), reinterpret_cast<sockaddr*>(&sa), &len) != 0) {
      continue;
    }
    const std::uint16_t port = ntohs(sa.sin_port);
    fd_guard tcp(::socket(AF_INET, SOCK_STREAM, 0));
    sockaddr_in ta = loopback(port);
    if (tcp.get() >= 0 && ::bind(tcp.get(), reinterpret_cast<sockaddr*>(&ta), sizeof ta) == 0) {
      return port;
    }
  }
  return std::nullopt;
}

// A UDP socket on loopback that never answers: a nameserver that times out.
class silent_server {
 public:
  silent_server() : fd_(::socket(AF_INET, SOCK_DGRAM, 0)) {
    sockaddr_in sa = loopback(0);
    socklen_t len = sizeof sa;
    if (fd_.get() >= 0 && ::bind(fd_.get(), reinterpret_cast<sockaddr*>(&sa), sizeof sa) == 0 &&
        ::getsockname(fd_.get(), reinterpret_cast<sockaddr*>(&sa), &len) == 0) {
      port_ = ntohs(sa.sin_port);
    }
  }
  std::uint16_t port() const { return port_; }
  std::string address() const { return "127.0.0.1:" + std::to_string(port_); }

 private:
  fd_guard fd_;
  std::uint16_t port_ = 0;
};

// True when a DNS server on 127.0.0.1:port answers a query (any RCODE).
inline bool answers(std::uint16_t port) {
  fd_guard s(::socket(AF_INET, SOCK_DGRAM, 0));
  if (s.get() < 0) {
    return false;
  }
  timeval tv{0, 200'000};
  ::setsockopt(s.get(), SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
  // RFC 1035 §4.1: ID 0x5053, RD, one question: example.test IN A.
  const std::string query(
      "\x50\x53\x01\x00\x00\x01\x00\x00\x00\x00\x00\x00"
      "\x07"
      "example"
      "\x04"
      "test"
      "\x00"
      "\x00\x01\x00\x01",
      30);
  sockaddr_in sa = loopback(port);
  if (::sendto(s.get(), query.data(), query.size(), 0, reinterpret_cast<sockaddr*>(&sa),
               sizeof sa) < 0) {
    return false;
  }
  char reply[512];
  const ssize_t n = ::recv(s.get(), reply, sizeof reply, 0);
  return n >= 12 && reply[0] == '\x50' && reply[1] == '\x53';
}

inline std::optional<std::string> find_unbound() {
  std::vector<std::string> dirs{"/usr/sbin", "/usr/local/sbin", "/sbin"};
  if (const char* path = std::getenv("PATH")) {
    std::stringstream ss(path);
    std::string dir;
    while (std::getline(ss, dir, ':')) {
      dirs.push_back(dir);
    }
  }
  for (const auto& dir : dirs) {
    const fs::path p = fs::path(dir) / "unbound";
    if (!dir.empty() && ::access(p.c_str(), X_OK) == 0) {
      return p.string();
    }
  }
  return std::nullopt;
}

class unbound_server {
 public:
  // Starts unbound with `zone` (unbound.conf server: lines) added to a config that
  // serves only 127.0.0.1 and never recurses. On failure returns null and says why.
  static std::unique_ptr<unbound_server> start(const std::string& zone, std::string& why) {
    const auto binary = find_unbound();
    if (!binary) {
      why = "the unbound binary is not installed (scripts/bootstrap installs it)";
      return nullptr;
    }
    std::string pattern = (fs::temp_directory_path() / "posthorn-dns-XXXXXX").string();
    if (::mkdtemp(pattern.data()) == nullptr) {
      why = "mkdtemp failed";
      return nullptr;
    }
    std::unique_ptr<unbound_server> server(new unbound_server(pattern));
    // Another program may take the port between free_port() and unbound's bind.
    for (int attempt = 0; attempt < 5; ++attempt) {
      const auto port = free_port();
      if (!port) {
        why = "no free loopback port";
        return nullptr;
      }
      if (server->launch(*binary, zone, *port, why)) {
        return server;
      }
    }
    return nullptr;
  }

  ~unbound_server() {
    stop();
    std::error_code ec;
    fs::remove_all(dir_, ec);
  }
  unbound_server(const unbound_server&) = delete;
  unbound_server& operator=(const unbound_server&) = delete;

  std::uint16_t port() const { return port_; }
  std::string address() const { return "127.0.0.1:" + std::to_string(port_); }

 private:
  explicit unbound_server(fs::path dir) : dir_(std::move(dir)) {}

  bool launch(const std::string& binary, const std::string& zone, std::uint16_t port,
              std::string& why) {
    const fs::path conf = dir_ / "unbound.conf";
    const fs::path log = dir_ / "unbound.log";
    {
      std::ofstream out(conf);
      out << "server:\n"
          << "  interface: 127.0.0.1\n"
          << "  port: " << port << "\n"
          << "  do-ip6: no\n"
          << "  so-reuseport: no\n"
          << "  num-threads: 1\n"
          << "  do-daemonize: no\n"
          << "  username: \"\"\n"
          << "  chroot: \"\"\n"
          << "  pidfile: \"\"\n"
          << "  directory: \"" << dir_.string() << "\"\n"
          << "  use-syslog: no\n"
          << "  logfile: \"\"\n"
          << "  verbosity: 1\n"
          << "  module-config: \"iterator\"\n"
          << "  access-control: 127.0.0.0/8 allow\n"
          << "  do-not-query-localhost: no\n"
          << "  local-zone: \".\" static\n"
          << zone;
    }
    posix_spawn_file_actions_t actions;
    posix_spawn_file_actions_init(&actions);
    posix_spawn_file_actions_addopen(&actions, 1, log.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
    posix_spawn_file_actions_adddup2(&actions, 1, 2);
    std::vector<std::string> args{binary, "-d", "-c", conf.string()};
    std::vector<char*> argv;
    for (auto& a : args) {
      argv.push_back(a.data());
    }
    argv.push_back(nullptr);
    pid_t pid = -1;
    const int rc = posix_spawn(&pid, binary.c_str(), &actions, nullptr, argv.data(), environ);
    posix_spawn_file_actions_destroy(&actions);
    if (rc != 0) {
      why = "cannot start " + binary + ": " + std::strerror(rc);
      return false;
    }
    pid_ = pid;
    port_ = port;
    const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(15);
    while (std::chrono::steady_clock::now() < deadline) {
      if (answers(port)) {
        return true;
      }
      int status = 0;
      if (::waitpid(pid_, &status, WNOHANG) == pid_) {
        pid_ = -1;
        why = "unbound exited at start: " + read(log);
        return false;
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(50));
    }
    stop();
    why = "unbound did not answer within 15 s: " + read(log);
    return false;
  }

  void stop() {
    if (pid_ <= 0) {
      return;
    }
    ::kill(pid_, SIGTERM);
    for (int i = 0; i < 100; ++i) {
      if (::waitpid(pid_, nullptr, WNOHANG) == pid_) {
        pid_ = -1;
        return;
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(20));
    }
    ::kill(pid_, SIGKILL);
    ::waitpid(pid_, nullptr, 0);
    pid_ = -1;
  }

  static std::string read(const fs::path& p) {
    std::ifstream in(p);
    return std::string(std::istreambuf_iterator<char>(in), {});
  }

  fs::path dir_;
  pid_t pid_ = -1;
  std::uint16_t port_ = 0;
};

}  // namespace posthorn::dns::test
