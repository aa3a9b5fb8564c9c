#include "delivery/maildir_sweep.hpp"

#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <string>
#include <vector>

#include "delivery/maildir.hpp"
#include "queue/file_io.hpp"

namespace posthorn::delivery {
namespace {

namespace io = queue::io;

bool is_alnum(char c) {
  return (c >= '0' && c <= '9') || (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z');
}

bool stopped(const sweep_options& o) {
  return o.stop != nullptr && o.stop->load(std::memory_order_relaxed);
}

// Removes `name` from `tmp` when it is our marker of a message gone from the spool, or
// any other file old enough; directories are left alone.
void sweep_file(const sweep_options& o, const std::string& host_name, const fs::path& tmp,
                const std::string& name, sweep_stats& stats) {
  const fs::path path = tmp / name;
  const std::string id = marker_queue_id(name, host_name);
  if (!id.empty()) {
    // Whatever its age: a queued message's delivery rewrites or drops its own markers.
    if (o.queued && o.queued(id)) {
      return;
    }
    if (::unlink(path.c_str()) == 0) {
      ++stats.markers;
    } else if (errno != ENOENT) {  // ENOENT: its delivery's cleanup came first
      ++stats.errors;
    }
    return;
  }
  struct stat st {};
  if (::lstat(path.c_str(), &st) != 0) {
    if (errno != ENOENT) {
      ++stats.errors;
    }
    return;
  }
  if (S_ISDIR(st.st_mode)) {
    return;
  }
  // Read, written and changed (a link count change too) longer ago than the limit: a
  // delivery in progress touches its file, whatever the mount's atime policy.
  const std::int64_t newest =
      std::max({static_cast<std::int64_t>(st.st_atime), static_cast<std::int64_t>(st.st_mtime),
                static_cast<std::int64_t>(st.st_ctime)});
  if (newest + o.stale_after.count() > o.now) {
    return;
  }
  if (::unlink(path.c_str()) == 0) {
    ++stats.stale;
  } else if (errno != ENOENT) {
    ++stats.errors;
  }
}

}  // namespace

std::string marker_queue_id(std::string_view name, std::string_view host_name) {
  // <id>.R<n>.<host>: the id is base62 (spool::new_id), n decimal.
  const std::size_t dot = name.find('.');
  if (dot == 0 || dot == std::string_view::npos) {
    return {};
  }
  const std::string_view id = name.substr(0, dot);
  if (!std::ranges::all_of(id, is_alnum)) {
    return {};
  }
  std::string_view rest = name.substr(dot + 1);
  if (rest.size() < 2 || rest[0] != 'R') {
    return {};
  }
  rest.remove_prefix(1);
  std::size_t digits = 0;
  while (digits < rest.size() && rest[digits] >= '0' && rest[digits] <= '9') {
    ++digits;
  }
  if (digits == 0 || digits >= rest.size() || rest[digits] != '.' ||
      rest.substr(digits + 1) != host_name) {
    return {};
  }
  return std::string(id);
}

sweep_stats sweep_maildir_tmp(const sweep_options& o) {
  sweep_stats stats;
  const std::string host_name = maildir_host_name(o.hostname);
  std::vector<std::string> domains;
  if (const int err = io::list_dir(o.root, domains); err != 0) {
    if (err != ENOENT) {
      ++stats.errors;
    }
    return stats;
  }
  std::ranges::sort(domains);
  std::vector<std::string> boxes;
  std::vector<std::string> files;
  std::vector<std::string> folders;
  for (const std::string& domain : domains) {
    boxes.clear();
    if (io::list_dir(o.root / domain, boxes) != 0) {
      continue;  // not a folder (ENOTDIR), or gone meanwhile
    }
    for (const std::string& box : boxes) {
      if (stopped(o)) {
        return stats;
      }
      const fs::path tmp = o.root / domain / box / "tmp";
      files.clear();
      if (const int err = io::list_dir(tmp, files); err != 0) {
        if (err != ENOENT && err != ENOTDIR) {
          ++stats.errors;
        }
        continue;
      }
      ++stats.mailboxes;
      for (const std::string& name : files) {
        sweep_file(o, host_name, tmp, name, stats);
      }
      // Maildir++ folders of the mailbox (<box>/.Junk/tmp): spam deliveries leave their
      // markers there.
      folders.clear();
      if (io::list_dir(o.root / domain / box, folders) == 0) {
        for (const std::string& folder : folders) {
          if (!folder.starts_with('.') || folder == "." || folder == "..") {
            continue;
          }
          const fs::path ftmp = o.root / domain / box / folder / "tmp";
          files.clear();
          if (io::list_dir(ftmp, files) != 0) {
            continue;
          }
          for (const std::string& name : files) {
            sweep_file(o, host_name, ftmp, name, stats);
          }
        }
      }
    }
  }
  return stats;
}

}  // namespace posthorn::delivery
