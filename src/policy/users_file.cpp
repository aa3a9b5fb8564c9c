#include "policy/users_file.hpp"

#include <fcntl.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <functional>
#include <string>
#include <utility>

namespace posthorn::policy::users_file {

namespace fs = std::filesystem;

namespace {

constexpr mode_t k_file_mode = 0640;  // the server's group reads it; hashes stay private

std::string lower(std::string_view s) {
  std::string out(s);
  for (char& c : out) {
    if (c >= 'A' && c <= 'Z') {
      c = static_cast<char>(c - 'A' + 'a');
    }
  }
  return out;
}

error io_error(std::string what, const fs::path& path, int err) {
  return error::temp("", what + " " + path.string() + ": " + std::strerror(err));
}

// Closes a file descriptor when it goes out of scope.
struct fd_guard {
  int fd = -1;
  explicit fd_guard(int f) : fd(f) {}
  ~fd_guard() {
    if (fd >= 0) {
      ::close(fd);
    }
  }
  fd_guard(const fd_guard&) = delete;
  fd_guard& operator=(const fd_guard&) = delete;
};

// One line of the file, split when it holds a user.
struct parsed_line {
  std::string text;           // as read, without the line break
  std::optional<entry> user;  // nullopt for comments, blank and unreadable lines
  std::string after_hash;     // ":uid:gid:..." when the line has Dovecot-style extra fields
};

constexpr std::string_view k_scram_prefix = "scram-sha-256=";

bool is_scram_field(std::string_view field) {
  return field.size() >= k_scram_prefix.size() &&
         lower(field.substr(0, k_scram_prefix.size())) == k_scram_prefix;
}

// The value of the first scram-sha-256= field in ":f1:f2..." ("" when none).
std::string scram_of(std::string_view after_hash) {
  while (!after_hash.empty()) {
    after_hash.remove_prefix(1);  // the ':'
    const auto end = after_hash.find(':');
    const std::string_view field = after_hash.substr(0, end);
    if (is_scram_field(field)) {
      return std::string(field.substr(k_scram_prefix.size()));
    }
    after_hash = end == std::string_view::npos ? std::string_view() : after_hash.substr(end);
  }
  return {};
}

// ":f1:f2..." with its scram-sha-256= field set to `scram` (in place, else first), or
// removed when `scram` is empty.
std::string with_scram(std::string_view after_hash, std::string_view scram) {
  std::string out;
  bool placed = false;
  while (!after_hash.empty()) {
    after_hash.remove_prefix(1);
    const auto end = after_hash.find(':');
    const std::string_view field = after_hash.substr(0, end);
    if (is_scram_field(field)) {
      if (!placed && !scram.empty()) {
        out += ":" + std::string(k_scram_prefix) + std::string(scram);
      }
      placed = true;
    } else {
      out += ":" + std::string(field);
    }
    after_hash = end == std::string_view::npos ? std::string_view() : after_hash.substr(end);
  }
  if (!placed && !scram.empty()) {
    out.insert(0, ":" + std::string(k_scram_prefix) + std::string(scram));
  }
  return out;
}

result<void> check_fields(std::string_view hash, std::string_view scram) {
  if (hash.find_first_of(":\n\r") != std::string_view::npos ||
      scram.find_first_of(":\n\r") != std::string_view::npos) {
    return fail(error::perm("", "a hash cannot hold ':' or a line break"));
  }
  return {};
}

parsed_line parse_line(std::string text, std::size_t number) {
  parsed_line out;
  std::string_view view(text);
  if (!view.empty() && view.back() == '\r') {
    view.remove_suffix(1);
  }
  const auto first = view.find_first_not_of(" \t");
  if (first == std::string_view::npos || view[first] == '#') {
    out.text = std::move(text);
    return out;
  }
  const auto colon = view.find(':');
  if (colon == std::string_view::npos) {
    out.text = std::move(text);  // not "address:hash"; the server's loader reports it
    return out;
  }
  std::string_view address = view.substr(0, colon);
  while (!address.empty() && (address.back() == ' ' || address.back() == '\t')) {
    address.remove_suffix(1);
  }
  address.remove_prefix(std::min(first, address.size()));
  if (normalize_address(address)) {
    entry e;
    e.address = std::string(address);
    e.line = number;
    const std::string_view rest = view.substr(colon + 1);
    const auto end = rest.find(':');
    e.hash = std::string(rest.substr(0, end));
    if (end != std::string_view::npos) {
      out.after_hash = std::string(rest.substr(end));
      e.scram = scram_of(out.after_hash);
    }
    out.user = std::move(e);
  }
  out.text = std::move(text);
  return out;
}

struct file_contents {
  bool exists = false;
  struct stat info {};
  std::vector<parsed_line> lines;
};

result<file_contents> read_file(const fs::path& path) {
  file_contents out;
  const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) {
    if (errno == ENOENT) {
      return out;
    }
    return fail(io_error("cannot open", path, errno));
  }
  fd_guard guard(fd);
  if (::fstat(fd, &out.info) != 0) {
    return fail(io_error("cannot stat", path, errno));
  }
  out.exists = true;
  std::string data;
  char buf[8192];
  for (;;) {
    const ssize_t n = ::read(fd, buf, sizeof buf);
    if (n < 0) {
      if (errno == EINTR) {
        continue;
      }
      return fail(io_error("cannot read", path, errno));
    }
    if (n == 0) {
      break;
    }
    data.append(buf, static_cast<std::size_t>(n));
  }
  std::size_t start = 0;
  std::size_t number = 1;
  while (start < data.size()) {
    auto end = data.find('\n', start);
    if (end == std::string::npos) {
      end = data.size();
    }
    out.lines.push_back(parse_line(data.substr(start, end - start), number++));
    start = end + 1;
  }
  return out;
}

result<void> write_all(int fd, std::string_view data, const fs::path& path) {
  while (!data.empty()) {
    const ssize_t n = ::write(fd, data.data(), data.size());
    if (n < 0) {
      if (errno == EINTR) {
        continue;
      }
      return fail(io_error("cannot write", path, errno));
    }
    data.remove_prefix(static_cast<std::size_t>(n));
  }
  return {};
}

// Writes `lines` to a temp file beside `path` and renames it over `path`, with an fsync
// of the file before and of the folder after the rename, so a crash leaves either the
// old or the new file, never a torn one.
result<void> replace_file(const fs::path& path, const file_contents& old,
                          const std::vector<std::string>& lines) {
  std::string data;
  for (const auto& l : lines) {
    data += l;
    data += '\n';
  }
  const fs::path dir = path.parent_path().empty() ? fs::path(".") : path.parent_path();
  const fs::path temp =
      dir / ("." + path.filename().string() + ".tmp." + std::to_string(::getpid()));
  // Editors hold the folder lock, so a temp file of this name is left over from a crash.
  ::unlink(temp.c_str());
  const int fd = ::open(temp.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, k_file_mode);
  if (fd < 0) {
    return fail(io_error("cannot create", temp, errno));
  }
  bool keep_temp = false;
  auto result = [&]() -> posthorn::result<void> {
    fd_guard guard(fd);
    // The umask must not widen or narrow the mode the server relies on.
    if (::fchmod(fd, k_file_mode) != 0) {
      return fail(io_error("cannot chmod", temp, errno));
    }
    // Keep the owner and group of the file being replaced (the server's group reads it).
    if (old.exists && (old.info.st_uid != ::geteuid() || old.info.st_gid != ::getegid()) &&
        ::fchown(fd, old.info.st_uid, old.info.st_gid) != 0) {
      return fail(io_error("cannot keep the owner and group of", path, errno));
    }
    if (auto w = write_all(fd, data, temp); !w) {
      return w;
    }
    if (::fsync(fd) != 0) {
      return fail(io_error("cannot fsync", temp, errno));
    }
    if (::rename(temp.c_str(), path.c_str()) != 0) {
      return fail(io_error("cannot rename into place", path, errno));
    }
    keep_temp = true;  // it is the users file now
    return {};
  }();
  if (!keep_temp) {
    ::unlink(temp.c_str());
  }
  if (!result) {
    return result;
  }
  const int dir_fd = ::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (dir_fd < 0) {
    return fail(io_error("cannot open", dir, errno));
  }
  fd_guard dir_guard(dir_fd);
  if (::fsync(dir_fd) != 0) {
    return fail(io_error("cannot fsync", dir, errno));
  }
  return {};
}

// Reads the file under an exclusive lock on its folder, lets `edit` change the lines,
// and writes the result back. The lock is on the folder because the file itself is
// replaced by rename, which a lock on the old file would not cover.
result<void> edit_file(
    const fs::path& given,
    const std::function<result<void>(file_contents&, std::vector<std::string>&)>& edit) {
  // Edit the file a symlink points to rather than replacing the link.
  std::error_code ec;
  fs::path path = fs::weakly_canonical(given, ec);
  if (ec) {
    path = given;
  }
  const fs::path dir = path.parent_path().empty() ? fs::path(".") : path.parent_path();
  const int dir_fd = ::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (dir_fd < 0) {
    return fail(io_error("cannot open", dir, errno));
  }
  fd_guard dir_guard(dir_fd);
  while (::flock(dir_fd, LOCK_EX) != 0) {
    if (errno != EINTR) {
      return fail(io_error("cannot lock", dir, errno));
    }
  }
  auto contents = read_file(path);
  if (!contents) {
    return fail(contents.error());
  }
  std::vector<std::string> lines;
  if (auto e = edit(*contents, lines); !e) {
    return e;
  }
  return replace_file(path, *contents, lines);
}

bool same_address(std::string_view a, std::string_view b) { return lower(a) == lower(b); }

}  // namespace

std::optional<std::string> normalize_address(std::string_view address) {
  const auto at = address.rfind('@');
  if (at == std::string_view::npos || at == 0 || at + 1 == address.size()) {
    return std::nullopt;
  }
  for (const char c : address) {
    const auto u = static_cast<unsigned char>(c);
    if (u <= ' ' || u == 0x7f || c == ':' || c == '#') {
      return std::nullopt;
    }
  }
  const std::string_view local = address.substr(0, at);
  const bool quoted = local.size() >= 2 && local.front() == '"' && local.back() == '"';
  if (!quoted && local.find('@') != std::string_view::npos) {
    return std::nullopt;  // RFC 5321 §4.1.2: '@' in a local part needs quotes
  }
  const std::string_view domain = address.substr(at + 1);
  if (domain.front() == '.' || domain.find("..") != std::string_view::npos) {
    return std::nullopt;
  }
  return std::string(address.substr(0, at + 1)) + lower(domain);
}

result<std::vector<entry>> list(const fs::path& path) {
  auto contents = read_file(path);
  if (!contents) {
    return fail(contents.error());
  }
  std::vector<entry> out;
  for (auto& l : contents->lines) {
    if (l.user) {
      out.push_back(std::move(*l.user));
    }
  }
  return out;
}

result<void> add(const fs::path& path, std::string_view address, std::string_view hash,
                 std::string_view scram) {
  const auto normalized = normalize_address(address);
  if (!normalized) {
    return fail(error::perm("", "\"" + std::string(address) + "\" is not an address"));
  }
  if (auto ok = check_fields(hash, scram); !ok) {
    return ok;
  }
  return edit_file(path, [&](file_contents& c, std::vector<std::string>& lines) -> result<void> {
    for (auto& l : c.lines) {
      if (l.user && same_address(l.user->address, *normalized)) {
        return fail(error::perm(
            "", *normalized + " already exists (line " + std::to_string(l.user->line) + ")"));
      }
      lines.push_back(std::move(l.text));
    }
    lines.push_back(*normalized + ":" + std::string(hash) + with_scram({}, scram));
    return {};
  });
}

result<void> set_password(const fs::path& path, std::string_view address, std::string_view hash,
                          std::string_view scram) {
  if (auto ok = check_fields(hash, scram); !ok) {
    return ok;
  }
  return edit_file(path, [&](file_contents& c, std::vector<std::string>& lines) -> result<void> {
    bool found = false;
    for (auto& l : c.lines) {
      if (l.user && same_address(l.user->address, address)) {
        found = true;
        lines.push_back(l.user->address + ":" + std::string(hash) +
                        with_scram(l.after_hash, scram));
      } else {
        lines.push_back(std::move(l.text));
      }
    }
    if (!found) {
      return fail(error::perm("", "no such user: " + std::string(address)));
    }
    return {};
  });
}

result<void> remove(const fs::path& path, std::string_view address) {
  return edit_file(path, [&](file_contents& c, std::vector<std::string>& lines) -> result<void> {
    bool found = false;
    for (auto& l : c.lines) {
      if (l.user && same_address(l.user->address, address)) {
        found = true;
      } else {
        lines.push_back(std::move(l.text));
      }
    }
    if (!found) {
      return fail(error::perm("", "no such user: " + std::string(address)));
    }
    return {};
  });
}

}  // namespace posthorn::policy::users_file
