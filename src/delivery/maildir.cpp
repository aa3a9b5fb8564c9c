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

// The octets a message keeps once each CRLF line end becomes LF (lf_writer).
std::uint64_t lf_size(std::string_view message) {
  std::uint64_t crlf = 0;
  for (std::size_t at = message.find("\r\n"); at != std::string_view::npos;
       at = message.find("\r\n", at + 2)) {
    ++crlf;
  }
  return message.size() - crlf;
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
// A Maildir++ folder (<mailbox>/.<name>) also gets its mailbox made first and an empty
// `maildirfolder` file, which marks it as a folder for Dovecot and Courier.
int make_maildir(const fs::path& box) {
  const bool folder = box.filename().string().starts_with('.');
  if (folder) {
    if (const int err = make_maildir(box.parent_path()); err != 0) {
      return err;
    }
  }
  for (const char* sub : {"tmp", "new", "cur"}) {
    if (const int err = io::make_dirs(box / sub, k_dir_mode); err != 0) {
      return err;
    }
  }
  if (folder) {
    const fs::path mark = box / "maildirfolder";
    const int fd = ::open(mark.c_str(), O_WRONLY | O_CREAT | O_CLOEXEC, k_file_mode);
    if (fd < 0) {
      return errno;
    }
    ::close(fd);
  }
  return 0;
}

int open_new(const fs::path& p) {
  return ::open(p.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, k_file_mode);
}

// Puts a finished tmp/ file into new/ as a hard link, keeping the tmp/ name as the crash
// marker; renames it on file systems without hard links. Creates a missing new/.
int publish_link(const fs::path& tmp, const fs::path& target, const fs::path& box) {
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

// Maildir names hold no '/' and no ':' (the info separator), escaped as octal per
// https://cr.yp.to/proto/maildir.html; ',' too, since Dovecot reads ",S=" after the host.
std::string maildir_host_name(std::string_view hostname) {
  std::string out;
  for (const char c : hostname) {
    if (c == '/' || c == ':' || c == ',') {
      out += fmt::format("\\{:03o}", static_cast<unsigned char>(c));
    } else {
      out += c;
    }
  }
  return out.empty() ? std::string("localhost") : out;
}

struct maildir::item {
  std::size_t rcpt = 0;
  fs::path box;              // the mailbox folder
  fs::path marker;           // tmp/<id>.R<n>.<host>: the octets, until cleanup()
  fs::path target;           // the name in new/
  std::string headers;       // Return-Path: and Delivered-To:
  std::size_t source = 0;    // the writer whose marker holds the octets; for a duplicate,
                             // the item it follows
  std::uint64_t size = 0;    // octets of the file: headers and the message with LF ends
  bool writer = false;       // its marker was written, not linked
  bool done_before = false;  // its new/ name exists: an earlier attempt delivered it
  bool linked = false;       // this attempt made its new/ name
  bool duplicate = false;    // the same mailbox again in one group: one copy serves
  result<void> status;
};

maildir::maildir(fs::path root, std::string hostname)
    : root_(std::move(root)),
      hostname_(std::move(hostname)),
      name_host_(maildir_host_name(hostname_)) {}

maildir::maildir(maildir&&) noexcept = default;
maildir::~maildir() = default;

void maildir::begin(const queue::envelope& env) {
  env_ = &env;
  rcpts_.clear();
  items_.clear();
  message_ = {};
}

void maildir::add_recipient(std::size_t rcpt) { rcpts_.push_back(rcpt); }

void maildir::body(std::string_view message) { message_ = message; }

void maildir::abort() {
  env_ = nullptr;
  rcpts_.clear();
  items_.clear();
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

// With a queue id the names are the same at every attempt for this recipient.
fs::path maildir::marker_path(const fs::path& box, std::size_t rcpt) const {
  if (env_->id.empty()) {
    return box / "tmp" / unique_name();
  }
  return box / "tmp" / fmt::format("{}.R{}.{}", env_->id, rcpt, name_host_);
}

fs::path maildir::target_path(const item& it) const {
  if (env_->id.empty()) {
    return it.box / "new" / fmt::format("{},S={}", unique_name(), it.size);
  }
  return it.box / "new" / fmt::format("{},S={}", it.marker.filename().string(), it.size);
}

result<std::uint64_t> maildir::write_file(const fs::path& path, std::string_view headers,
                                          flush_mode mode) {
  const fs::path box = path.parent_path().parent_path();
  io::unique_fd fd(open_new(path));
  if (!fd && errno == EEXIST) {
    // A marker an attempt cut short left (its name is the same at every attempt): it
    // may be half written, so it is written again. Nothing else makes that name.
    ::unlink(path.c_str());
    fd.reset(open_new(path));
  }
  if (!fd && errno == ENOENT) {
    if (const int err = make_maildir(box); err != 0) {
      return fail(fs_error("create", err));
    }
    fd.reset(open_new(path));
  }
  if (!fd) {
    return fail(fs_error("create", errno));
  }
  lf_writer out(fd.get(), buffer_);
  out.put(headers);
  out.put_lf(message_);
  int err = out.finish();
  const char* step = "write";
  if (err == 0 && mode == flush_mode::PerFile && ::fsync(fd.get()) != 0) {
    err = errno;
    step = "fsync";
  }
  if (err == 0) {
    err = fd.close();
    step = "close";
  }
  if (err != 0) {
    ::unlink(path.c_str());
    return fail(fs_error(step, err));
  }
  return out.size();
}

void maildir::prepare(flush_mode mode) {
  items_.clear();
  if (env_ == nullptr) {
    return;
  }
  const std::string return_path =
      env_->sender.empty() ? std::string("<>") : "<" + one_line(env_->sender.str()) + ">";
  // Known before anything is written: the size is part of the name a retry looks for.
  const std::uint64_t body_size = lf_size(message_);
  // Recipients with the same Delivered-To get the same octets: one file, hard links.
  std::unordered_map<std::string, std::size_t> writer_of;  // Delivered-To -> item
  // Delivered-To -> (mailbox, item) of the first recipient there
  std::unordered_map<std::string, std::vector<std::pair<fs::path, std::size_t>>> boxes_of;
  items_.reserve(rcpts_.size());
  for (const std::size_t index : rcpts_) {
    item it;
    it.rcpt = index;
    if (index >= env_->recipients.size()) {
      it.status = fail(error::perm("5.1.1", "no such recipient"));
      items_.push_back(std::move(it));
      continue;
    }
    const queue::recipient& r = env_->recipients[index];
    const mail::address& named = r.original.empty() ? r.address : r.original;
    const std::string delivered_to = one_line(named.str());
    it.box = mailbox_path(r.address);
    if (it.box.empty()) {
      it.status = fail(error::perm("5.1.1", "mailbox name not allowed"));
      items_.push_back(std::move(it));
      continue;
    }
    if (env_->junk && !junk_folder_.empty()) {
      it.box /= "." + junk_folder_;
    }
    auto& boxes = boxes_of[delivered_to];
    auto seen = std::ranges::find(boxes, it.box, &std::pair<fs::path, std::size_t>::first);
    if (seen != boxes.end()) {
      it.duplicate = true;
      it.source = seen->second;
      items_.push_back(std::move(it));
      continue;
    }
    boxes.emplace_back(it.box, items_.size());
    it.marker = marker_path(it.box, index);
    it.headers = fmt::format("Return-Path: {}\nDelivered-To: {}\n", return_path, delivered_to);
    it.size = it.headers.size() + body_size;
    if (!env_->id.empty()) {
      it.target = target_path(it);
    }
    auto w = writer_of.find(delivered_to);
    if (w != writer_of.end()) {
      it.source = w->second;
      items_.push_back(std::move(it));
      continue;
    }
    auto size = write_file(it.marker, it.headers, mode);
    if (!size) {
      it.status = fail(std::move(size.error()));
      items_.push_back(std::move(it));
      continue;
    }
    it.writer = true;
    it.source = items_.size();
    writer_of[delivered_to] = items_.size();
    items_.push_back(std::move(it));
  }
}

// Links (or writes) this recipient's marker, then links it into new/. The marker is
// complete and durable before its new/ name exists, so a kill between the two steps
// leaves a recipient the next attempt delivers, never one it counts as delivered.
void maildir::publish_one(item& it) {
  if (!it.writer) {
    const item& src = items_[it.source];
    bool linked = false;
    if (src.status) {
      int rc = ::link(src.marker.c_str(), it.marker.c_str());
      if (rc != 0 && errno == EEXIST) {
        ::unlink(it.marker.c_str());  // left by an attempt cut short: maybe half written
        rc = ::link(src.marker.c_str(), it.marker.c_str());
      }
      if (rc != 0 && errno == ENOENT) {
        make_maildir(it.box);  // an error shows in write_file below
        rc = ::link(src.marker.c_str(), it.marker.c_str());
      }
      linked = rc == 0;
    }
    if (!linked) {
      // The shared file could not be written, or not linked here (EXDEV, EMLINK, ...):
      // an own copy, flushed at once, since the caller's first flush is behind us.
      auto size = write_file(it.marker, it.headers, flush_mode::PerFile);
      if (!size) {
        it.status = fail(std::move(size.error()));
        return;
      }
    }
  }
  if (it.target.empty()) {
    it.target = target_path(it);
  }
  const int err = publish_link(it.marker, it.target, it.box);
  if (err == EEXIST && !env_->id.empty()) {
    // The name is this message's and this recipient's alone: an attempt that died
    // before the spool learnt of it made it. "Delivered" is read from that name, never
    // from the link count of the marker: the members' markers share one inode, so a
    // count cannot tell which of them reached new/.
    it.done_before = true;
    return;
  }
  if (err != 0) {
    ::unlink(it.marker.c_str());
    it.status = fail(fs_error("link", err));
    return;
  }
  it.linked = true;
}

void maildir::publish(flush_mode mode) {
  std::vector<fs::path> to_sync;  // new/ folders to fsync in PerFile mode
  for (item& it : items_) {
    if (!it.status || it.duplicate) {
      continue;
    }
    publish_one(it);
    // A link an earlier attempt made may not have been made durable before it died.
    fs::path dir = it.box / "new";
    if (it.status && std::ranges::find(to_sync, dir) == to_sync.end()) {
      to_sync.push_back(std::move(dir));
    }
  }
  if (mode != flush_mode::PerFile) {
    return;
  }
  for (const fs::path& dir : to_sync) {
    if (const int err = io::fsync_dir(dir); err != 0) {
      // Not known to be durable: deferring may duplicate it, which is allowed; losing is not.
      for (item& it : items_) {
        if (!it.status || it.duplicate || it.box / "new" != dir) {
          continue;
        }
        if (it.linked) {
          ::unlink(it.target.c_str());
          ::unlink(it.marker.c_str());
        }
        it.status = fail(fs_error("fsync", err));
      }
    }
  }
}

std::vector<outcome> maildir::outcomes() const {
  std::vector<outcome> out;
  out.reserve(items_.size());
  for (const item& it : items_) {
    // A duplicate is delivered by the copy it shares, and only then.
    out.push_back(outcome{it.rcpt, it.duplicate ? items_[it.source].status : it.status});
  }
  return out;
}

void maildir::cleanup() {
  for (const item& it : items_) {
    if (!it.marker.empty() && it.status) {
      ::unlink(it.marker.c_str());
    }
  }
  abort();
}

void maildir::fail_all(const error& e) {
  for (item& it : items_) {
    if (!it.status || it.duplicate) {
      continue;
    }
    if (it.linked) {
      ::unlink(it.target.c_str());
    }
    if (!it.marker.empty()) {
      ::unlink(it.marker.c_str());
    }
    it.status = fail(e);
  }
}

std::vector<outcome> maildir::commit() {
  prepare(flush_mode::PerFile);
  publish(flush_mode::PerFile);
  std::vector<outcome> out = outcomes();
  cleanup();
  return out;
}

}  // namespace posthorn::delivery
