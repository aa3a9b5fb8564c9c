#include "queue/file_io.hpp"

#include <dirent.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <climits>
#include <cstring>

namespace posthorn::queue::io {

unique_fd& unique_fd::operator=(unique_fd&& other) noexcept {
  if (this != &other) {
    reset(std::exchange(other.fd_, -1));
  }
  return *this;
}

void unique_fd::reset(int fd) {
  if (fd_ >= 0) {
    ::close(fd_);
  }
  fd_ = fd;
}

int unique_fd::close() {
  if (fd_ < 0) {
    return 0;
  }
  // Linux releases the descriptor even when close() fails, so it is never retried.
  const int rc = ::close(std::exchange(fd_, -1));
  return rc == 0 || errno == EINTR ? 0 : errno;
}

std::string errno_text(int err) {
  char buf[128];
  // GNU strerror_r returns the message, which may or may not live in `buf`.
  return std::string(::strerror_r(err, buf, sizeof buf));
}

int write_all(int fd, std::string_view data) {
  while (!data.empty()) {
    const ssize_t n = ::write(fd, data.data(), data.size());
    if (n < 0) {
      if (errno == EINTR) {
        continue;
      }
      return errno;
    }
    data.remove_prefix(static_cast<std::size_t>(n));
  }
  return 0;
}

int writev_all(int fd, struct iovec* iov, int count) {
  while (count > 0) {
    if (iov->iov_len == 0) {
      ++iov;
      --count;
      continue;
    }
    const ssize_t n = ::writev(fd, iov, count < IOV_MAX ? count : IOV_MAX);
    if (n < 0) {
      if (errno == EINTR) {
        continue;
      }
      return errno;
    }
    auto left = static_cast<std::size_t>(n);
    while (count > 0 && left >= iov->iov_len) {
      left -= iov->iov_len;
      ++iov;
      --count;
    }
    if (count > 0) {
      iov->iov_base = static_cast<char*>(iov->iov_base) + left;
      iov->iov_len -= left;
    }
  }
  return 0;
}

int pread_all(int fd, void* buf, std::size_t size, off_t offset) {
  auto* out = static_cast<char*>(buf);
  while (size > 0) {
    const ssize_t n = ::pread(fd, out, size, offset);
    if (n < 0) {
      if (errno == EINTR) {
        continue;
      }
      return errno;
    }
    if (n == 0) {
      return ENODATA;
    }
    out += n;
    size -= static_cast<std::size_t>(n);
    offset += n;
  }
  return 0;
}

int sync_filesystem(const std::filesystem::path& path) {
  unique_fd fd(::open(path.c_str(), O_RDONLY | O_CLOEXEC | O_DIRECTORY));
  if (!fd) {
    return errno;
  }
  return ::syncfs(fd.get()) == 0 ? 0 : errno;
}

int fsync_dir(const std::filesystem::path& dir) {
  unique_fd fd(::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC));
  if (!fd) {
    return errno;
  }
  if (::fsync(fd.get()) != 0) {
    return errno;
  }
  return fd.close();
}

int make_dirs(const std::filesystem::path& dir, mode_t mode) {
  if (::mkdir(dir.c_str(), mode) == 0) {
    return fsync_dir(dir.has_parent_path() ? dir.parent_path() : ".");
  }
  int err = errno;
  if (err == EEXIST) {
    struct stat st {};
    if (::stat(dir.c_str(), &st) != 0) {
      return errno;
    }
    return S_ISDIR(st.st_mode) ? 0 : ENOTDIR;
  }
  if (err != ENOENT || !dir.has_parent_path() || dir.parent_path() == dir) {
    return err;
  }
  if (const int rc = make_dirs(dir.parent_path(), mode); rc != 0) {
    return rc;
  }
  if (::mkdir(dir.c_str(), mode) != 0) {
    // Someone else created it in between: fine when it is a folder.
    return errno == EEXIST ? make_dirs(dir, mode) : errno;
  }
  return fsync_dir(dir.parent_path());
}

int list_dir(const std::filesystem::path& dir, std::vector<std::string>& names) {
  DIR* d = ::opendir(dir.c_str());
  if (d == nullptr) {
    return errno;
  }
  errno = 0;
  while (const dirent* e = ::readdir(d)) {
    const std::string_view name(e->d_name);
    if (name != "." && name != "..") {
      names.emplace_back(name);
    }
    errno = 0;
  }
  const int err = errno;
  ::closedir(d);
  return err;
}

}  // namespace posthorn::queue::io
