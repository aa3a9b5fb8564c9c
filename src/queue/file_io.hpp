#pragma once
// POSIX file helpers shared by the spool and Maildir delivery: full writes across short
// writes and EINTR, directory fsync, and folder creation that makes each new entry
// durable (DESIGN.md §4.1). Functions return 0 or an errno value so that callers can map
// the cause (EDQUOT, ENOSPC, ...) onto their own status codes.

#include <sys/types.h>
#include <sys/uio.h>

#include <cstddef>
#include <filesystem>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace posthorn::queue::io {

// Owns a file descriptor and closes it once.
class unique_fd {
 public:
  unique_fd() = default;
  explicit unique_fd(int fd) : fd_(fd) {}
  unique_fd(unique_fd&& other) noexcept : fd_(std::exchange(other.fd_, -1)) {}
  unique_fd& operator=(unique_fd&& other) noexcept;
  unique_fd(const unique_fd&) = delete;
  unique_fd& operator=(const unique_fd&) = delete;
  ~unique_fd() { reset(); }

  int get() const { return fd_; }
  explicit operator bool() const { return fd_ >= 0; }
  void reset(int fd = -1);
  int release() { return std::exchange(fd_, -1); }  // the caller owns it now
  // Closes now and reports close(2)'s error: on NFS a failed write may surface only here.
  int close();

 private:
  int fd_ = -1;
};

// strerror(3) text for an errno value.
std::string errno_text(int err);

// Writes every octet of `data`.
int write_all(int fd, std::string_view data);
// Writes every octet the vectors describe; `iov` is consumed (modified) on the way.
int writev_all(int fd, struct iovec* iov, int count);
// Reads exactly `size` octets at `offset`; ENODATA when the file is shorter.
int pread_all(int fd, void* buf, std::size_t size, off_t offset);
// Makes the entries of a folder durable (creations, renames).
int fsync_dir(const std::filesystem::path& dir);
// Makes everything written on the file system holding `path` durable: file data,
// creations and renames, with one journal commit (syncfs(2)). One call covers a whole
// batch of messages where one fsync per file would cost a journal commit each
// (DESIGN.md §6). Reports write-back errors (Linux 5.8 and later).
int sync_filesystem(const std::filesystem::path& path);
// Creates `dir` and any missing parents with `mode`; after creating a folder, fsyncs
// its parent so the new entry survives a crash. An existing folder is fine; an existing
// non-folder is ENOTDIR.
int make_dirs(const std::filesystem::path& dir, mode_t mode);
// The names in a folder, without "." and "..".
int list_dir(const std::filesystem::path& dir, std::vector<std::string>& names);

}  // namespace posthorn::queue::io
