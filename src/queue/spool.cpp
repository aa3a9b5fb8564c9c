#include "queue/spool.hpp"

#include <fcntl.h>
#include <fmt/format.h>
#include <spdlog/spdlog.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <sys/uio.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <chrono>
#include <cstdio>
#include <unordered_set>
#include <utility>

#include "queue/codec.hpp"
#include "queue/crc32c.hpp"
#include "queue/file_io.hpp"

namespace posthorn::queue {
namespace {

constexpr const char* k_incoming = "incoming";
constexpr const char* k_active = "active";
constexpr const char* k_status = "status";
constexpr const char* k_corrupt = "corrupt";
constexpr mode_t k_dir_mode = 0700;
constexpr mode_t k_file_mode = 0600;
constexpr std::string_view k_base62 =
    "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";
constexpr std::size_t k_stamp_digits = 10;  // 62^10 microseconds: beyond the year 28000

// Every id in this process gets its own microsecond stamp (DESIGN.md §6: no lock).
std::atomic<std::uint64_t> g_last_stamp{0};
std::atomic<std::uint64_t> g_tmp_counter{0};

error io_error(std::string_view what, int err) {
  return error::temp("4.3.0", fmt::format("queue file {} failed: {}", what, io::errno_text(err)));
}

error corrupt_error(std::string_view id) {
  return error::perm("", fmt::format("queue file {} is damaged", id));
}

bool valid_id(std::string_view id) {
  return !id.empty() && id.size() <= 64 && std::ranges::all_of(id, [](char c) {
    return (c >= '0' && c <= '9') || (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z');
  });
}

int open_new(const fs::path& p) {
  return ::open(p.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, k_file_mode);
}

// rename(2) that never replaces a file already there: a queue file is never overwritten.
int rename_noreplace(const fs::path& from, const fs::path& to) {
  if (::renameat2(AT_FDCWD, from.c_str(), AT_FDCWD, to.c_str(), RENAME_NOREPLACE) == 0) {
    return 0;
  }
  if (errno != EINVAL && errno != ENOSYS) {
    return errno;
  }
  // File systems without RENAME_NOREPLACE: link(2) refuses an existing name as well.
  if (::link(from.c_str(), to.c_str()) != 0) {
    return errno;
  }
  ::unlink(from.c_str());
  return 0;
}

// A read-only mapping of a whole file.
class mapping {
 public:
  mapping() = default;
  mapping(void* base, std::size_t size) : base_(base), size_(size) {}
  mapping(mapping&& o) noexcept
      : base_(std::exchange(o.base_, nullptr)), size_(std::exchange(o.size_, 0)) {}
  mapping& operator=(mapping&& o) noexcept {
    std::swap(base_, o.base_);
    std::swap(size_, o.size_);
    return *this;
  }
  ~mapping() {
    if (base_ != nullptr) {
      ::munmap(base_, size_);
    }
  }
  std::string_view view() const { return {static_cast<const char*>(base_), size_}; }

 private:
  void* base_ = nullptr;
  std::size_t size_ = 0;
};

class mapped_message final : public message_reader {
 public:
  mapped_message(mapping map, std::string_view message) : map_(std::move(map)), message_(message) {}
  std::uint64_t size() const override { return message_.size(); }
  std::string_view contents() const override { return message_; }

 private:
  mapping map_;
  std::string_view message_;
};

struct checked_file {
  mapping map;
  codec::trailer layout;
  envelope env;
};

// Maps active/<id> and checks it: layout and meta checksum always; the envelope when
// `want_envelope`; the message checksum when `full`. A damaged file is a permanent error,
// an I/O failure a temporary one.
result<checked_file> read_checked(const fs::path& path, std::string_view id, bool want_envelope,
                                  bool full) {
  io::unique_fd fd(::open(path.c_str(), O_RDONLY | O_CLOEXEC | O_NOFOLLOW));
  if (!fd) {
    if (errno == ENOENT) {
      return fail(error::perm("", fmt::format("no queue file {}", id)));
    }
    return fail(errno == ELOOP ? corrupt_error(id) : io_error("open", errno));
  }
  struct stat st {};
  if (::fstat(fd.get(), &st) != 0) {
    return fail(io_error("stat", errno));
  }
  if (!S_ISREG(st.st_mode) ||
      static_cast<std::uint64_t>(st.st_size) < codec::k_header_size + codec::k_trailer_size) {
    return fail(corrupt_error(id));
  }
  const auto size = static_cast<std::size_t>(st.st_size);
  void* base = ::mmap(nullptr, size, PROT_READ, MAP_SHARED, fd.get(), 0);
  if (base == MAP_FAILED) {
    return fail(io_error("mmap", errno));
  }
  checked_file out{mapping(base, size), {}, {}};
  const std::string_view file = out.map.view();
  const std::string_view header = file.substr(0, codec::k_header_size);
  const std::string_view trailer = file.substr(size - codec::k_trailer_size);
  const auto layout = codec::decode_layout(size, header, trailer);
  if (!layout) {
    return fail(corrupt_error(id));
  }
  out.layout = *layout;
  const std::string_view env_bytes = file.substr(layout->envelope_offset, layout->envelope_size);
  if (!codec::meta_crc_ok(*layout, header, env_bytes, trailer)) {
    return fail(corrupt_error(id));
  }
  if (want_envelope) {
    auto env = codec::decode_envelope(env_bytes);
    if (!env || env->id != id || env->size != layout->message_size) {
      return fail(corrupt_error(id));
    }
    out.env = std::move(*env);
  }
  if (full) {
    const std::string_view message = file.substr(layout->message_offset, layout->message_size);
    if (crc32c(0, message) != layout->message_crc) {
      return fail(corrupt_error(id));
    }
  }
  return out;
}

// Merges status/<id> into `env`. A missing or unreadable-as-status file leaves the
// committed state: at worst a recipient is tried again (a duplicate, never a loss).
result<void> merge_status(const fs::path& path, envelope& env) {
  io::unique_fd fd(::open(path.c_str(), O_RDONLY | O_CLOEXEC | O_NOFOLLOW));
  if (!fd) {
    return errno == ENOENT || errno == ELOOP ? result<void>() : fail(io_error("open", errno));
  }
  struct stat st {};
  if (::fstat(fd.get(), &st) != 0) {
    return fail(io_error("stat", errno));
  }
  std::string bytes(static_cast<std::size_t>(st.st_size), '\0');
  if (const int err = io::pread_all(fd.get(), bytes.data(), bytes.size(), 0); err != 0) {
    return err == ENODATA ? result<void>() : fail(io_error("read", err));
  }
  codec::apply_status(bytes, env);
  return {};
}

}  // namespace

// ---- message_writer ----

message_writer::message_writer(fs::path incoming_file, std::size_t memory_limit)
    : path_(std::move(incoming_file)), limit_(memory_limit) {}

message_writer::message_writer(message_writer&& o) noexcept
    : path_(std::move(o.path_)),
      fd_(std::exchange(o.fd_, -1)),
      mem_(std::move(o.mem_)),
      limit_(o.limit_),
      size_(std::exchange(o.size_, 0)),
      spilled_(std::exchange(o.spilled_, 0)),
      crc_(std::exchange(o.crc_, 0)),
      failed_(std::exchange(o.failed_, false)) {
  o.path_.clear();
  o.mem_.clear();
}

message_writer& message_writer::operator=(message_writer&& o) noexcept {
  if (this != &o) {
    discard();
    path_ = std::move(o.path_);
    fd_ = std::exchange(o.fd_, -1);
    mem_ = std::move(o.mem_);
    limit_ = o.limit_;
    size_ = std::exchange(o.size_, 0);
    spilled_ = std::exchange(o.spilled_, 0);
    crc_ = std::exchange(o.crc_, 0);
    failed_ = std::exchange(o.failed_, false);
    o.path_.clear();
    o.mem_.clear();
  }
  return *this;
}

message_writer::~message_writer() { discard(); }

void message_writer::append(std::string_view octets) {
  mem_.append(octets);
  size_ += octets.size();
}

bool message_writer::insert(std::uint64_t offset, std::string_view octets) {
  if (offset < spilled_ || offset - spilled_ > mem_.size()) {
    return false;  // that part is on disk already (or past the end)
  }
  mem_.insert(static_cast<std::size_t>(offset - spilled_), octets);
  size_ += octets.size();
  return true;
}

result<void> message_writer::prepend(std::string_view octets) {
  if (octets.empty()) {
    return {};
  }
  if (failed_) {
    return fail(error::temp("4.3.0", "queue file write failed earlier"));
  }
  if (spilled_ == 0) {
    mem_.insert(0, octets);
    size_ += octets.size();
    return {};
  }
  // The spilled part is on disk: write the new octets and then the old ones to a new
  // file, and put it in the old one's place. The CRC is recomputed on the way.
  fs::path next = path_;
  next += ".p";
  io::unique_fd out(open_new(next));
  if (out.get() < 0) {
    return fail(io_error("create", errno));
  }
  auto abandon = [&](std::string_view what, int err) {
    ::unlink(next.c_str());
    return fail(io_error(what, err));
  };
  const std::string header = codec::encode_header();
  if (const int err = io::write_all(out.get(), header); err != 0) {
    return abandon("write", err);
  }
  if (const int err = io::write_all(out.get(), octets); err != 0) {
    return abandon("write", err);
  }
  std::uint32_t crc = crc32c(0, octets);
  std::string buf(64 * 1024, '\0');
  io::unique_fd in(::open(path_.c_str(), O_RDONLY | O_CLOEXEC));  // fd_ is write-only
  if (!in) {
    return abandon("open", errno);
  }
  for (std::uint64_t done = 0; done < spilled_;) {
    const auto n = static_cast<std::size_t>(std::min<std::uint64_t>(buf.size(), spilled_ - done));
    const auto at = static_cast<off_t>(codec::k_header_size + done);
    if (const int err = io::pread_all(in.get(), buf.data(), n, at); err != 0) {
      return abandon("read", err);
    }
    const std::string_view part(buf.data(), n);
    if (const int err = io::write_all(out.get(), part); err != 0) {
      return abandon("write", err);
    }
    crc = crc32c(crc, part);
    done += n;
  }
  if (::rename(next.c_str(), path_.c_str()) != 0) {
    return abandon("rename", errno);
  }
  ::close(fd_);
  fd_ = out.release();
  spilled_ += octets.size();
  size_ += octets.size();
  crc_ = crc;
  return {};
}

result<void> read_message(const message_writer& w,
                          const std::function<void(std::string_view)>& chunk) {
  constexpr std::size_t k_chunk = 64 * 1024;
  if (w.spilled_ > 0) {
    io::unique_fd in(::open(w.path_.c_str(), O_RDONLY | O_CLOEXEC));  // w.fd_ is write-only
    if (!in) {
      return fail(io_error("open", errno));
    }
    std::string buf(static_cast<std::size_t>(std::min<std::uint64_t>(k_chunk, w.spilled_)), '\0');
    for (std::uint64_t done = 0; done < w.spilled_;) {
      const auto n =
          static_cast<std::size_t>(std::min<std::uint64_t>(buf.size(), w.spilled_ - done));
      const auto at = static_cast<off_t>(codec::k_header_size + done);
      if (const int err = io::pread_all(in.get(), buf.data(), n, at); err != 0) {
        return fail(io_error("read", err));
      }
      chunk(std::string_view(buf.data(), n));
      done += n;
    }
  }
  for (std::size_t at = 0; at < w.mem_.size(); at += k_chunk) {
    chunk(std::string_view(w.mem_).substr(at, k_chunk));
  }
  return {};
}

bool message_writer::wants_spill() const {
  return !path_.empty() && !mem_.empty() && mem_.size() >= limit_;
}

result<void> message_writer::spill() {
  if (failed_) {
    return fail(error::temp("4.3.0", "queue file write failed earlier"));
  }
  if (path_.empty()) {
    return fail(error::temp("4.3.0", "message has no queue file"));
  }
  if (mem_.empty() && fd_ >= 0) {
    return {};
  }
  std::string header;
  if (fd_ < 0) {
    fd_ = open_new(path_);
    if (fd_ < 0) {
      return fail(io_error("create", errno));
    }
    header = codec::encode_header();
  }
  iovec iov[2] = {{header.data(), header.size()}, {mem_.data(), mem_.size()}};
  if (const int err = io::writev_all(fd_, iov, 2); err != 0) {
    // The file's contents are unknown now; commit() must refuse it.
    failed_ = true;
    return fail(io_error("write", err));
  }
  crc_ = crc32c(crc_, mem_);
  spilled_ += mem_.size();
  mem_.clear();
  return {};
}

std::uint64_t message_writer::size() const { return size_; }

void message_writer::discard() {
  if (fd_ >= 0) {
    ::close(fd_);
    fd_ = -1;
    ::unlink(path_.c_str());
  }
  mem_.clear();
  if (mem_.capacity() > limit_) {
    mem_.shrink_to_fit();
  }
  size_ = 0;
  spilled_ = 0;
  crc_ = 0;
  failed_ = false;
}

// ---- spool ----

spool::spool(fs::path dir) : dir_(std::move(dir)) {
  const auto pid = static_cast<std::size_t>(::getpid());
  pid_tag_ = {k_base62[(pid / 62) % 62], k_base62[pid % 62]};
}

result<std::unique_ptr<spool>> spool::open(const fs::path& dir) {
  for (const char* sub : {k_incoming, k_active, k_status, k_corrupt}) {
    if (const int err = io::make_dirs(dir / sub, k_dir_mode); err != 0) {
      return fail(error::temp("4.3.0", fmt::format("cannot create spool folder {}: {}",
                                                   (dir / sub).string(), io::errno_text(err))));
    }
  }
  return std::unique_ptr<spool>(new spool(dir));
}

std::string spool::new_id() {
  using namespace std::chrono;
  const auto now = static_cast<std::uint64_t>(
      duration_cast<microseconds>(system_clock::now().time_since_epoch()).count());
  std::uint64_t last = g_last_stamp.load(std::memory_order_relaxed);
  std::uint64_t stamp = 0;
  do {
    stamp = std::max(now, last + 1);
  } while (!g_last_stamp.compare_exchange_weak(last, stamp, std::memory_order_relaxed));
  // Fixed width, and the alphabet is in ASCII order: ids sort as their stamps do.
  std::string id(k_stamp_digits, '0');
  for (std::size_t i = k_stamp_digits; i-- > 0;) {
    id[i] = k_base62[stamp % 62];
    stamp /= 62;
  }
  id += pid_tag_;
  return id;
}

message_writer spool::begin(const std::string& id, std::size_t memory_limit) {
  return message_writer(dir_ / k_incoming / id, memory_limit);
}

result<fs::path> spool::stage(envelope& env, message_writer& w, bool sync) {
  if (w.failed_) {
    w.discard();
    return fail(error::temp("4.3.0", "queue file write failed earlier"));
  }
  if (env.id.empty() && !w.path_.empty()) {
    env.id = w.path_.filename().string();
  }
  if (!valid_id(env.id)) {
    w.discard();
    return fail(error::temp("4.3.0", "invalid queue id"));
  }
  if (w.path_.empty()) {
    w.path_ = dir_ / k_incoming / env.id;
  }
  env.size = w.size_;

  const std::string header = codec::encode_header();
  const bool header_written = w.fd_ >= 0;
  if (!header_written) {
    w.fd_ = open_new(w.path_);
    if (w.fd_ < 0) {
      const int err = errno;
      w.discard();
      return fail(io_error("create", err));
    }
  }
  codec::trailer t;
  t.message_size = w.size_;
  t.envelope_offset = t.message_offset + w.size_;
  t.message_crc = crc32c(w.crc_, w.mem_);
  const std::string env_bytes = codec::encode_envelope(env);
  t.envelope_size = env_bytes.size();
  const std::string trailer = codec::encode_trailer(t, header, env_bytes);

  // The body goes out from where it already is: no copy into a file buffer.
  iovec iov[4];
  int n = 0;
  if (!header_written) {
    iov[n++] = {const_cast<char*>(header.data()), header.size()};
  }
  iov[n++] = {w.mem_.data(), w.mem_.size()};
  iov[n++] = {const_cast<char*>(env_bytes.data()), env_bytes.size()};
  iov[n++] = {const_cast<char*>(trailer.data()), trailer.size()};
  int err = io::writev_all(w.fd_, iov, n);
  const char* step = "write";
  if (err == 0 && sync && ::fdatasync(w.fd_) != 0) {
    // Never retried: after a failed fsync the page cache may claim data the disk lacks.
    err = errno;
    step = "fsync";
  }
  if (err == 0) {
    io::unique_fd fd(std::exchange(w.fd_, -1));
    err = fd.close();
    step = "close";
    if (err != 0) {
      ::unlink(w.path_.c_str());
    }
  }
  if (err != 0) {
    w.discard();
    return fail(io_error(step, err));
  }
  fs::path staged = std::move(w.path_);
  w.path_.clear();
  w.discard();
  return staged;
}

result<void> spool::commit(envelope& env, message_writer&& body) {
  std::vector<commit_item> items;
  items.push_back(commit_item{&env, std::move(body)});
  return std::move(commit_batch(items).front());
}

std::vector<result<void>> spool::commit_batch(std::vector<commit_item>& items) {
  std::vector<result<void>> results(items.size());
  std::vector<std::pair<std::size_t, fs::path>> staged;
  staged.reserve(items.size());
  // One message: its own fdatasync is the cheapest flush. Several: one syncfs for all.
  const bool flush_each = items.size() == 1;
  for (std::size_t i = 0; i < items.size(); ++i) {
    if (items[i].env == nullptr) {
      items[i].body.discard();
      results[i] = fail(error::temp("4.3.0", "no envelope"));
      continue;
    }
    if (items[i].env->recipients.empty()) {
      // A bug upstream (alias expansion, rewriting): a message nobody receives would be
      // acknowledged and then vanish without a delivery or a bounce. Refuse it loudly.
      spdlog::critical("id={} event=commit-refused reason=\"envelope has no recipient\"",
                       items[i].env->id);
      items[i].body.discard();
      results[i] = fail(error::temp("4.3.0", "envelope has no recipient"));
      continue;
    }
    auto path = stage(*items[i].env, items[i].body, flush_each);
    if (!path) {
      results[i] = fail(std::move(path.error()));
      continue;
    }
    staged.emplace_back(i, std::move(*path));
  }
  if (!flush_each && !staged.empty()) {
    if (const int err = io::sync_filesystem(dir_ / k_incoming); err != 0) {
      // Never retried: after a failed flush the page cache may claim what the disk lacks.
      for (auto& [i, path] : staged) {
        ::unlink(path.c_str());
        results[i] = fail(io_error("flush", err));
      }
      staged.clear();
    }
  }

  const fs::path active = dir_ / k_active;
  std::vector<std::pair<std::size_t, fs::path>> renamed;
  renamed.reserve(staged.size());
  for (auto& [i, incoming] : staged) {
    fs::path target = active / items[i].env->id;
    if (const int err = rename_noreplace(incoming, target); err != 0) {
      ::unlink(incoming.c_str());
      results[i] = fail(io_error("rename", err));
      continue;
    }
    renamed.emplace_back(i, std::move(target));
  }
  // One directory flush covers every rename of the batch (DESIGN.md §4.1, §6).
  if (!renamed.empty()) {
    if (const int err = io::fsync_dir(active); err != 0) {
      for (auto& [i, path] : renamed) {
        ::unlink(path.c_str());
        results[i] = fail(io_error("directory fsync", err));
      }
    }
  }
  return results;
}

result<std::vector<envelope>> spool::recover() {
  const fs::path incoming = dir_ / k_incoming;
  const fs::path active = dir_ / k_active;
  const fs::path status = dir_ / k_status;
  const fs::path corrupt = dir_ / k_corrupt;

  std::vector<std::string> names;
  if (const int err = io::list_dir(incoming, names); err != 0) {
    return fail(io_error("list incoming", err));
  }
  // Never acknowledged: the client was not told 250, so removing them loses nothing.
  for (const std::string& name : names) {
    ::unlink((incoming / name).c_str());
  }

  std::vector<std::string> status_names;
  if (const int err = io::list_dir(status, status_names); err != 0) {
    return fail(io_error("list status", err));
  }
  std::erase_if(status_names, [&](const std::string& name) {
    if (valid_id(name)) {
      return false;
    }
    ::unlink((status / name).c_str());  // a temporary of an interrupted update()
    return true;
  });

  names.clear();
  if (const int err = io::list_dir(active, names); err != 0) {
    return fail(io_error("list active", err));
  }
  std::ranges::sort(names);
  std::vector<envelope> out;
  out.reserve(names.size());
  std::unordered_set<std::string> kept;
  for (const std::string& name : names) {
    const fs::path path = active / name;
    auto file = valid_id(name) ? read_checked(path, name, true, true)
                               : result<checked_file>(fail(corrupt_error(name)));
    if (file && file->env.recipients.empty()) {
      // Never written by commit(): delivering it would drop it without a word.
      file = fail(error::perm("", fmt::format("queue file {} has no recipient", name)));
    }
    if (!file) {
      if (file.error().temporary()) {
        return fail(std::move(file.error()));
      }
      // Out of the queue, but kept for the administrator to inspect.
      const bool kept_aside = ::rename(path.c_str(), (corrupt / name).c_str()) == 0;
      if (!kept_aside) {
        ::unlink(path.c_str());
      }
      spdlog::error("id={} event=corrupt reason=\"{}\" {}", name, file.error().message,
                    kept_aside ? "moved=" + (corrupt / name).string() : std::string("removed"));
      continue;
    }
    if (auto merged = merge_status(status / name, file->env); !merged) {
      return fail(std::move(merged.error()));
    }
    kept.insert(name);
    out.push_back(std::move(file->env));
  }
  for (const std::string& name : status_names) {
    if (!kept.contains(name)) {
      ::unlink((status / name).c_str());
    }
  }
  return out;
}

result<std::unique_ptr<message_reader>> spool::open_message(const std::string& id) const {
  if (!valid_id(id)) {
    return fail(error::perm("", "invalid queue id"));
  }
  auto file = read_checked(dir_ / k_active / id, id, false, false);
  if (!file) {
    return fail(std::move(file.error()));
  }
  const std::string_view message =
      file->map.view().substr(file->layout.message_offset, file->layout.message_size);
  if (!message.empty()) {
    ::madvise(const_cast<char*>(file->map.view().data()), file->map.view().size(), MADV_SEQUENTIAL);
  }
  return std::unique_ptr<message_reader>(new mapped_message(std::move(file->map), message));
}

result<envelope> spool::load(const std::string& id) const {
  if (!valid_id(id)) {
    return fail(error::perm("", "invalid queue id"));
  }
  auto file = read_checked(dir_ / k_active / id, id, true, false);
  if (!file) {
    return fail(std::move(file.error()));
  }
  if (auto merged = merge_status(dir_ / k_status / id, file->env); !merged) {
    return fail(std::move(merged.error()));
  }
  return std::move(file->env);
}

result<void> spool::update(const envelope& env) {
  if (!valid_id(env.id)) {
    return fail(error::temp("4.3.0", "invalid queue id"));
  }
  const fs::path dir = dir_ / k_status;
  const fs::path tmp =
      dir / fmt::format("{}.{}.tmp", env.id, g_tmp_counter.fetch_add(1, std::memory_order_relaxed));
  const std::string bytes = codec::encode_status(env);
  io::unique_fd fd(open_new(tmp));
  if (!fd) {
    return fail(io_error("status create", errno));
  }
  int err = io::write_all(fd.get(), bytes);
  const char* step = "status write";
  if (err == 0 && ::fdatasync(fd.get()) != 0) {
    err = errno;
    step = "status fsync";
  }
  if (err == 0) {
    err = fd.close();
    step = "status close";
  }
  if (err == 0 && ::rename(tmp.c_str(), (dir / env.id).c_str()) != 0) {
    err = errno;
    step = "status rename";
  }
  if (err != 0) {
    ::unlink(tmp.c_str());
    return fail(io_error(step, err));
  }
  if (err = io::fsync_dir(dir); err != 0) {
    return fail(io_error("status directory fsync", err));
  }
  return {};
}

result<void> spool::remove(const std::string& id) {
  if (!valid_id(id)) {
    return fail(error::perm("", "invalid queue id"));
  }
  // The message first: a crash in between leaves a status file without a message,
  // which recover() removes, rather than a message that forgot its deliveries.
  if (::unlink((dir_ / k_active / id).c_str()) != 0 && errno != ENOENT) {
    return fail(io_error("remove", errno));
  }
  if (::unlink((dir_ / k_status / id).c_str()) != 0 && errno != ENOENT) {
    return fail(io_error("status remove", errno));
  }
  return {};
}

std::uint64_t spool::free_space() const {
  struct statvfs st {};
  if (::statvfs(dir_.c_str(), &st) != 0) {
    return 0;  // unknown counts as full: refusing for now is safe, losing mail is not
  }
  return static_cast<std::uint64_t>(st.f_bavail) * st.f_frsize;
}

}  // namespace posthorn::queue
