#include "pop3/maildrop.hpp"

#include <dirent.h>
#include <fcntl.h>
#include <openssl/evp.h>
#include <sys/file.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <cerrno>
#include <charconv>
#include <cstring>
#include <mutex>
#include <optional>
#include <set>
#include <unordered_map>

#include "mail/crlf_size.hpp"

namespace posthorn::pop3 {

namespace {

// Mailboxes held by a session of this process.
std::mutex g_locks_mu;
std::set<std::string> g_locked;

// CRLF sizes of files without ",W=", by "<mailbox>/<unique name>". Bounded: when full it
// starts again (a mailbox of foreign files is then read once more, never unboundedly).
constexpr std::size_t k_size_cache_max = 200'000;
std::mutex g_cache_mu;
std::unordered_map<std::string, std::uint64_t> g_sizes;

constexpr std::size_t k_read_chunk = 64 * 1024;

std::string errno_text(int e) { return std::strerror(e); }

// The unique name: before the first ',' (size fields) or ':' (the info, flags).
std::string_view unique_part(std::string_view name) {
  return name.substr(0, name.find_first_of(",:"));
}

// The part before ':' (the info), which stays when flags change.
std::string_view base_part(std::string_view name) { return name.substr(0, name.find(':')); }

// The value of ",W=<n>" in the base name.
std::optional<std::uint64_t> virtual_size(std::string_view name) {
  std::string_view base = base_part(name);
  for (std::size_t at = base.find(",W="); at != std::string_view::npos;
       at = base.find(",W=", at + 1)) {
    std::string_view digits = base.substr(at + 3);
    digits = digits.substr(0, digits.find(','));
    std::uint64_t n = 0;
    auto [end, ec] = std::from_chars(digits.data(), digits.data() + digits.size(), n);
    if (ec == std::errc() && end == digits.data() + digits.size() && !digits.empty()) {
      return n;
    }
  }
  return std::nullopt;
}

// Reads the file once and counts its CRLF size.
result<std::uint64_t> count_file(const fs::path& path) {
  const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
  if (fd < 0) {
    return fail(error::temp("", path.filename().string() + ": " + errno_text(errno)));
  }
  mail::crlf_size_counter c;
  std::array<char, k_read_chunk> buf;
  while (true) {
    const ssize_t n = ::read(fd, buf.data(), buf.size());
    if (n < 0 && errno == EINTR) {
      continue;
    }
    if (n < 0) {
      const int e = errno;
      ::close(fd);
      return fail(error::temp("", path.filename().string() + ": " + errno_text(e)));
    }
    if (n == 0) {
      break;
    }
    c.feed(std::string_view(buf.data(), static_cast<std::size_t>(n)));
  }
  ::close(fd);
  return c.total();
}

// Lists the file names in `dir` (no dot files); ENOENT is an empty folder.
result<std::vector<std::string>> list_dir(const fs::path& dir) {
  std::vector<std::string> out;
  DIR* d = ::opendir(dir.c_str());
  if (d == nullptr) {
    if (errno == ENOENT) {
      return out;
    }
    return fail(error::temp("", dir.string() + ": " + errno_text(errno)));
  }
  while (const dirent* e = ::readdir(d)) {
    if (e->d_name[0] == '.') {
      continue;
    }
    if (e->d_type != DT_REG && e->d_type != DT_UNKNOWN) {
      continue;
    }
    out.emplace_back(e->d_name);
  }
  ::closedir(d);
  return out;
}

bool fsync_dir(const fs::path& dir) {
  const int fd = ::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (fd < 0) {
    return errno == ENOENT;
  }
  const bool ok = ::fsync(fd) == 0;
  ::close(fd);
  return ok;
}

}  // namespace

struct maildrop_access {
  static std::expected<mailbox_lock, open_failure> lock(const fs::path& box) {
    mailbox_lock l;
    std::string key = box.lexically_normal().string();
    {
      std::lock_guard g(g_locks_mu);
      if (!g_locked.insert(key).second) {
        return std::unexpected(open_failure{true, "held by another session of this server"});
      }
    }
    l.key_ = std::move(key);
    const int fd =
        ::open((box / k_lock_file).c_str(), O_RDWR | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0600);
    if (fd < 0) {
      if (errno == ENOENT) {
        return l;  // no mailbox folder yet: nothing delivered, nothing to guard on disk
      }
      return std::unexpected(
          open_failure{false, std::string(k_lock_file) + ": " + errno_text(errno)});
    }
    l.fd_ = fd;
    if (::flock(fd, LOCK_EX | LOCK_NB) != 0) {
      const int e = errno;
      if (e == EWOULDBLOCK) {
        return std::unexpected(open_failure{true, "held by another process"});
      }
      return std::unexpected(open_failure{false, std::string("flock: ") + errno_text(e)});
    }
    return l;
  }
};

mailbox_lock::mailbox_lock(mailbox_lock&& other) noexcept
    : key_(std::move(other.key_)), fd_(other.fd_) {
  other.key_.clear();
  other.fd_ = -1;
}

mailbox_lock& mailbox_lock::operator=(mailbox_lock&& other) noexcept {
  if (this != &other) {
    release();
    key_ = std::move(other.key_);
    fd_ = other.fd_;
    other.key_.clear();
    other.fd_ = -1;
  }
  return *this;
}

mailbox_lock::~mailbox_lock() { release(); }

void mailbox_lock::release() {
  if (fd_ >= 0) {
    ::close(fd_);  // drops the flock
    fd_ = -1;
  }
  if (!key_.empty()) {
    std::lock_guard g(g_locks_mu);
    g_locked.erase(key_);
    key_.clear();
  }
}

std::string unique_id_for(std::string_view unique_name) {
  // RFC 1939 §7: 1 to 70 characters in the range 0x21 to 0x7E.
  const bool usable = !unique_name.empty() && unique_name.size() <= 70 &&
                      std::ranges::all_of(unique_name, [](char c) { return c > 0x20 && c < 0x7f; });
  if (usable) {
    return std::string(unique_name);
  }
  std::array<unsigned char, EVP_MAX_MD_SIZE> md{};
  unsigned int len = 0;
  EVP_Digest(unique_name.data(), unique_name.size(), md.data(), &len, EVP_sha256(), nullptr);
  static constexpr char k_hex[] = "0123456789abcdef";
  std::string out = "h";
  for (unsigned i = 0; i < 20 && i < len; ++i) {
    out += k_hex[md[i] >> 4];
    out += k_hex[md[i] & 15];
  }
  return out;
}

std::string with_seen_flag(std::string_view name) {
  const std::size_t colon = name.find(':');
  if (colon == std::string_view::npos) {
    return std::string(name) + ":2,S";
  }
  std::string_view info = name.substr(colon + 1);
  if (!info.starts_with("2,")) {
    return std::string(name);  // an experimental ":1," info: leave it alone
  }
  std::string flags(info.substr(2));
  if (flags.find('S') != std::string::npos) {
    return std::string(name);
  }
  // Maildir flags are kept in ASCII order (cr.yp.to/proto/maildir.html).
  flags.insert(std::ranges::upper_bound(flags, 'S'), 'S');
  return std::string(name.substr(0, colon)) + ":2," + flags;
}

std::size_t size_cache_entries() {
  std::lock_guard g(g_cache_mu);
  return g_sizes.size();
}

std::expected<opened_maildrop, open_failure> open_maildrop(const fs::path& box) {
  opened_maildrop out;
  auto lock = maildrop_access::lock(box);
  if (!lock) {
    return std::unexpected(std::move(lock.error()));
  }
  out.lock = std::move(*lock);
  const std::string box_key = box.lexically_normal().string() + "/";
  for (const bool cur : {false, true}) {
    const fs::path dir = box / (cur ? "cur" : "new");
    auto names = list_dir(dir);
    if (!names) {
      return std::unexpected(open_failure{false, names.error().message});
    }
    for (std::string& name : *names) {
      message_info m;
      if (auto w = virtual_size(name)) {
        m.size = *w;
      } else {
        const std::string key = box_key + std::string(base_part(name));
        std::optional<std::uint64_t> cached;
        {
          std::lock_guard g(g_cache_mu);
          if (auto it = g_sizes.find(key); it != g_sizes.end()) {
            cached = it->second;
          }
        }
        if (!cached) {
          auto counted = count_file(dir / name);
          if (!counted) {
            // Gone since the listing (another reader expunged it): not in the snapshot.
            if (!fs::exists(dir / name)) {
              continue;
            }
            return std::unexpected(open_failure{false, counted.error().message});
          }
          ++out.files_read;
          cached = *counted;
          std::lock_guard g(g_cache_mu);
          if (g_sizes.size() >= k_size_cache_max) {
            g_sizes.clear();
          }
          g_sizes.emplace(key, *counted);
        }
        m.size = *cached;
      }
      m.name = std::move(name);
      m.in_cur = cur;
      out.messages.push_back(std::move(m));
    }
  }
  // Delivery order: our names and Dovecot's begin with the time of arrival. For one
  // unique name in both folders, the one in cur/ first (it keeps the plain id).
  std::ranges::sort(out.messages, [](const message_info& a, const message_info& b) {
    const std::string_view ua = unique_part(a.name), ub = unique_part(b.name);
    if (ua != ub) {
      return ua < ub;
    }
    if (a.in_cur != b.in_cur) {
      return a.in_cur;
    }
    return a.name < b.name;
  });
  std::string_view previous;
  unsigned repeat = 1;
  for (message_info& m : out.messages) {
    const std::string_view u = unique_part(m.name);
    m.uid = unique_id_for(u);
    if (u == previous) {
      m.uid += "-" + std::to_string(++repeat);
    } else {
      repeat = 1;
    }
    previous = u;
  }
  return out;
}

result<fs::path> locate_message(const fs::path& box, const message_info& m) {
  fs::path at = box / (m.in_cur ? "cur" : "new") / m.name;
  if (::access(at.c_str(), F_OK) == 0) {
    return at;
  }
  // Moved since login: the same base name (before ':') in cur/ or new/.
  const std::string_view base = base_part(m.name);
  for (const char* sub : {"cur", "new"}) {
    auto names = list_dir(box / sub);
    if (!names) {
      return fail(names.error());
    }
    for (const std::string& n : *names) {
      if (base_part(n) == base) {
        return box / sub / n;
      }
    }
  }
  return fail(error::perm("", "message " + m.name + " is gone"));
}

update_result apply_update(const fs::path& box, const std::vector<message_info>& messages,
                           const std::vector<bool>& deleted, const std::vector<bool>& retrieved) {
  update_result r;
  bool touched = false;
  for (std::size_t i = 0; i < messages.size(); ++i) {
    const bool del = i < deleted.size() && deleted[i];
    const bool seen = i < retrieved.size() && retrieved[i];
    if (!del && !seen) {
      continue;
    }
    auto path = locate_message(box, messages[i]);
    if (!path) {
      if (del) {
        ++r.deleted;  // removed by someone else already: what DELE asked for
      }
      continue;
    }
    touched = true;
    if (del) {
      if (::unlink(path->c_str()) == 0 || errno == ENOENT) {
        ++r.deleted;
      } else {
        ++r.failed;
        r.reason = path->filename().string() + ": " + errno_text(errno);
      }
      continue;
    }
    const std::string name = path->filename().string();
    const std::string marked = with_seen_flag(name);
    const bool in_new = path->parent_path().filename() == "new";
    if (marked == name && !in_new) {
      continue;
    }
    const fs::path to = box / "cur" / marked;
    if (::rename(path->c_str(), to.c_str()) != 0 && errno != ENOENT) {
      // Not marked seen: the message stays as it was, which loses nothing.
      r.reason = name + ": " + errno_text(errno);
    }
  }
  if (touched) {
    // The removals and moves are durable before "+OK" says so.
    if (!fsync_dir(box / "new") || !fsync_dir(box / "cur")) {
      r.reason = "fsync: " + errno_text(errno);
    }
  }
  return r;
}

}  // namespace posthorn::pop3
