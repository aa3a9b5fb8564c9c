// The persistent key behind SCRAM's made-up salts (state_dir/scram-salt.key).

#include <fcntl.h>
#include <openssl/crypto.h>
#include <openssl/rand.h>
#include <unistd.h>

#include <array>
#include <cerrno>
#include <cstring>
#include <string>

#include "auth/scram.hpp"

namespace posthorn::auth {

namespace {

constexpr std::size_t k_key_size = 32;

error io_error(const std::string& what, const std::filesystem::path& file, int err) {
  return error::temp("", what + " " + file.string() + ": " + std::strerror(err));
}

}  // namespace

result<void> load_scram_fake_salt_key(const std::filesystem::path& file) {
  std::array<unsigned char, k_key_size> key{};
  int fd = ::open(file.c_str(), O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
  if (fd >= 0) {
    std::size_t got = 0;
    while (got < key.size()) {
      const ssize_t n = ::read(fd, key.data() + got, key.size() - got);
      if (n < 0 && errno == EINTR) {
        continue;
      }
      if (n <= 0) {
        break;
      }
      got += static_cast<std::size_t>(n);
    }
    ::close(fd);
    if (got != key.size()) {
      return fail(
          error::temp("", file.string() + ": expected " + std::to_string(k_key_size) + " octets"));
    }
  } else if (errno == ENOENT) {
    if (RAND_bytes(key.data(), static_cast<int>(key.size())) != 1) {
      return fail(error::temp("", "cannot make a random key"));
    }
    fd = ::open(file.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW, 0600);
    if (fd < 0) {
      return fail(io_error("cannot create", file, errno));
    }
    const bool ok =
        ::write(fd, key.data(), key.size()) == static_cast<ssize_t>(key.size()) && ::fsync(fd) == 0;
    const int err = errno;
    ::close(fd);
    if (!ok) {
      ::unlink(file.c_str());
      return fail(io_error("cannot write", file, err));
    }
  } else {
    return fail(io_error("cannot open", file, errno));
  }
  set_scram_fake_salt_key(std::string(reinterpret_cast<const char*>(key.data()), key.size()));
  OPENSSL_cleanse(key.data(), key.size());
  return {};
}

}  // namespace posthorn::auth
