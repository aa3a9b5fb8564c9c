#include "delivery/maildir.hpp"

#include <fcntl.h>
#include <fmt/format.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <optional>
#include <unordered_map>
#include <utility>

#include "queue/file_io.hpp"

namespace posthorn::delivery {
namespace {

namespace io = queue::io;

constexpr mode_t k_dir_mode = 0700;
constexpr mode_t k_file_mode = 0600;
constexpr std::size_t k_buffer_size = 64 * 1024;
constexpr std::size_t k_name_max = 255;  // NAME_MAX on Linux file systems

// The Q<n> part of file names: unique within this process (maildir.html "Q").
std::atomic<std::uint64_t> g_deliveries{0};

error fs_error(std::string_view what, int err) {
  if (err == EDQUOT) {
    return error::temp("4.2.2", fmt::format("mailbox full ({})", io::errno_text(err)));
  }
  return error::temp("4.3.0", fmt::format("maildir {} failed: {}", what, io::errno_text(err)));
}

// One file name from an address part. '/', '%', control octets and a leading '.' are
// percent-encoded, so a name cannot climb out of its folder, name "." or "..", or hide
// as a dot file; '%' itself is encoded so that different parts never share a name.
std::string safe_component(std::string_view part, bool lower) {
  static constexpr char k_hex[] = "0123456789ABCDEF";
  std::string out;
  out.reserve(part.size());
  for (std::size_t i = 0; i < part.size(); ++i) {
    auto c = static_cast<unsigned char>(part[i]);
    if (lower && c >= 'A' && c <= 'Z') {
      c = static_cast<unsigned char>(c - 'A' + 'a');
    }
    if (c == '/' || c == '%' || c < 0x20 || c == 0x7F || (i == 0 && c == '.')) {
      out += '%';
      out += k_hex[c >> 4];
      out += k_hex[c & 0xF];
    } else {
      out += static_cast<char>(c);
    }
  }
  return out.size() > k_name_max ? std::string() : out;
}

// Maildir names hold no '/' and no ':' (the info separator), escaped as octal per
// https://cr.yp.to/proto/maildir.html; ',' too, since Dovecot reads ",S=" after the host.
std::string escape_host(std::string_view host) {
  std::string out;
  for (const char c : host) {
    if (c == '/' || c == ':' || c == ',') {
      out += fmt::format("\\{:03o}", static_cast<unsigned char>(c));
    } else {
      out += c;
    }
  }
  return out.empty() ? std::string("localhost") : out;
}

// A header field body never holds a line break, whatever an address contains.
std::string one_line(std::string s) {
  for (char& c : s) {
    if (c == '\r' || c == '\n') {
      c = ' ';
    }
  }
  return s;
}

// Streams octets into a file through one fixed buffer, turning CRLF into LF.
class lf_writer {
 public:
  lf_writer(int fd, std::string& buffer) : fd_(fd), buf_(buffer) {
    buf_.clear();
    buf_.reserve(k_buffer_size);
  }

  void put(std::string_view s) {
    while (!s.empty() && err_ == 0) {
      const std::size_t room = k_buffer_size - buf_.size();
      const std::size_t n = std::min(room, s.size());
      buf_.append(s.substr(0, n));
      s.remove_prefix(n);
      if (buf_.size() == k_buffer_size) {
        flush();
      }
    }
  }
  // A CR not followed by LF is kept: only the CRLF line end changes.
  void put_lf(std::string_view message) {
    while (!message.empty() && err_ == 0) {
      const std::size_t crlf = message.find("\r\n");
      if (crlf == std::string_view::npos) {
        put(message);
        return;
      }
      put(message.substr(0, crlf));
      put("\n");
      message.remove_prefix(crlf + 2);
    }
  }
  int finish() {
    flush();
    return err_;
  }
  std::uint64_t size() const { return written_ + buf_.size(); }

 private:
  void flush() {
    if (err_ == 0 && !buf_.empty()) {
      err_ = io::write_all(fd_, buf_);
      written_ += buf_.size();
    }
    buf_.clear();
  }
  int fd_;
  std::string& buf_;
  std::uint64_t written_ = 0;
  int err_ = 0;
};

// Creates <box>/{tmp,new,cur} and any missing parent (the domain folder), each new
// folder made durable in its parent (DESIGN.md §4.1).
int make_maildir(const fs::path& box) {
  for (const char* sub : {"tmp", "new", "cur"}) {
    if (const int err = io::make_dirs(box / sub, k_dir_mode); err != 0) {
      return err;
    }
  }
  return 0;
}

int open_new(const fs::path& p) {
  return ::open(p.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, k_file_mode);
}

// Puts a finished tmp/ file into new/ as a hard link, keeping the tmp/ name until new/ is
// durable; renames it on file systems without hard links. Creates a missing new/.
int publish(const fs::path& tmp, const fs::path& target, const fs::path& box) {
  int rc = ::link(tmp.c_str(), target.c_str());
  if (rc != 0 && errno == ENOENT) {
    if (const int err = make_maildir(box); err != 0) {
      return err;
    }
    rc = ::link(tmp.c_str(), target.c_str());
  }
  if (rc == 0) {
    return 0;
  }
  if (errno != EPERM && errno != EOPNOTSUPP && errno != EMLINK) {
    return errno;
  }
  return ::rename(tmp.c_str(), target.c_str()) == 0 ? 0 : errno;
}

}  // namespace

struct maildir::written {
  fs::path path;  // in new/; empty when an earlier attempt had delivered it
  std::uint64_t size = 0;
};

maildir::maildir(fs::path root, std::string hostname)
    : root_(std::move(root)), hostname_(std::move(hostname)), name_host_(escape_host(hostname_)) {}

void maildir::begin(const queue::envelope& env) {
  env_ = &env;
  rcpts_.clear();
  message_ = {};
}

void maildir::add_recipient(std::size_t rcpt) { rcpts_.push_back(rcpt); }

void maildir::body(std::string_view message) { message_ = message; }

void maildir::abort() {
  env_ = nullptr;
  rcpts_.clear();
  message_ = {};
}

fs::path maildir::mailbox_path(const mail::address& a) const {
  const std::string domain = safe_component(a.domain, true);
  const std::string local = safe_component(a.local, false);
  if (domain.empty() || local.empty()) {
    return {};
  }
  return root_ / domain / local;
}

std::string maildir::unique_name() const {
  timespec now{};
  ::clock_gettime(CLOCK_REALTIME, &now);
  return fmt::format("{}.M{}P{}Q{}.{}", now.tv_sec, now.tv_nsec / 1000, ::getpid(),
                     g_deliveries.fetch_add(1, std::memory_order_relaxed) + 1, name_host_);
}

result<maildir::written> maildir::write_file(const fs::path& box, std::string_view headers,
                                             std::size_t rcpt) {
  const std::string name = unique_name();
  // With a queue id, the tmp/ name is the same at every attempt for this recipient, and
  // the tmp/ file lives on (as a second link) until new/ is durable. An attempt cut short
  // after its link into new/ (kill -9 before the spool records it) thus leaves a tmp/
  // file with two links, and the next attempt does not deliver the message again.
  const fs::path tmp =
      box / "tmp" /
      (env_->id.empty() ? name : fmt::format("{}.R{}.{}", env_->id, rcpt, name_host_));
  io::unique_fd fd(open_new(tmp));
  if (!fd && errno == ENOENT) {
    if (const int err = make_maildir(box); err != 0) {
      return fail(fs_error("create", err));
    }
    fd.reset(open_new(tmp));
  }
  if (!fd && errno == EEXIST && !env_->id.empty()) {
    struct stat st {};
    if (::lstat(tmp.c_str(), &st) == 0 && S_ISREG(st.st_mode) && st.st_nlink > 1) {
      if (const int err = io::fsync_dir(box / "new"); err != 0) {
        return fail(fs_error("fsync", err));
      }
      ::unlink(tmp.c_str());
      return written{};  // the earlier attempt delivered it
    }
    ::unlink(tmp.c_str());  // what an attempt that died while writing left
    fd.reset(open_new(tmp));
  }
  if (!fd) {
    return fail(fs_error("create", errno));
  }
  lf_writer out(fd.get(), buffer_);
  out.put(headers);
  out.put_lf(message_);
  int err = out.finish();
  const char* step = "write";
  if (err == 0 && ::fsync(fd.get()) != 0) {
    err = errno;
    step = "fsync";
  }
  if (err == 0) {
    err = fd.close();
    step = "close";
  }
  written w{box / "new" / fmt::format("{},S={}", name, out.size()), out.size()};
  if (err == 0) {
    err = publish(tmp, w.path, box);
    step = "link";
  }
  if (err != 0) {
    ::unlink(tmp.c_str());
    return fail(fs_error(step, err));
  }
  if (err = io::fsync_dir(box / "new"); err != 0) {
    // Not known to be durable: deferring may duplicate it, which is allowed; losing is not.
    ::unlink(w.path.c_str());
    ::unlink(tmp.c_str());
    return fail(fs_error("fsync", err));
  }
  ::unlink(tmp.c_str());
  return w;
}

result<void> maildir::link_file(const fs::path& box, const written& source) {
  const fs::path target = box / "new" / fmt::format("{},S={}", unique_name(), source.size);
  int rc = ::link(source.path.c_str(), target.c_str());
  if (rc != 0 && errno == ENOENT) {
    if (const int err = make_maildir(box); err != 0) {
      return fail(fs_error("create", err));
    }
    rc = ::link(source.path.c_str(), target.c_str());
  }
  if (rc != 0) {
    return fail(fs_error("link", errno));
  }
  if (const int err = io::fsync_dir(box / "new"); err != 0) {
    ::unlink(target.c_str());
    return fail(fs_error("fsync", err));
  }
  return {};
}

std::vector<outcome> maildir::commit() {
  std::vector<outcome> out;
  if (env_ == nullptr) {
    return out;
  }
  out.reserve(rcpts_.size());
  const std::string return_path =
      env_->sender.empty() ? std::string("<>") : "<" + one_line(env_->sender.str()) + ">";

  // Recipients with the same Delivered-To get the same octets: one file, hard links.
  struct group {
    std::string headers;
    std::optional<written> source;  // the first file written, which the others link to
    std::vector<fs::path> boxes;    // mailboxes that have it
  };
  std::unordered_map<std::string, group> groups;
  for (const std::size_t index : rcpts_) {
    outcome o{index, {}};
    if (index >= env_->recipients.size()) {
      o.status = fail(error::perm("5.1.1", "no such recipient"));
      out.push_back(std::move(o));
      continue;
    }
    const queue::recipient& r = env_->recipients[index];
    const mail::address& named = r.original.empty() ? r.address : r.original;
    std::string delivered_to = one_line(named.str());
    const fs::path box = mailbox_path(r.address);
    if (box.empty()) {
      o.status = fail(error::perm("5.1.1", "mailbox name not allowed"));
      out.push_back(std::move(o));
      continue;
    }
    auto [it, fresh] = groups.try_emplace(delivered_to);
    group& g = it->second;
    if (fresh) {
      g.headers = fmt::format("Return-Path: {}\nDelivered-To: {}\n", return_path, delivered_to);
    }
    if (std::ranges::find(g.boxes, box) != g.boxes.end()) {
      out.push_back(std::move(o));  // the same mailbox twice: one copy is enough
      continue;
    }
    bool linked = false;
    if (g.source) {
      // EXDEV (another file system), EMLINK, ...: write a copy instead.
      linked = link_file(box, *g.source).has_value();
    }
    if (!linked) {
      auto file = write_file(box, g.headers, index);
      if (!file) {
        o.status = fail(std::move(file.error()));
        out.push_back(std::move(o));
        continue;
      }
      if (!g.source && !file->path.empty()) {
        g.source = std::move(*file);
      }
    }
    g.boxes.push_back(box);
    out.push_back(std::move(o));
  }
  abort();
  return out;
}

}  // namespace posthorn::delivery
