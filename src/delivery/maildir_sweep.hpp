#pragma once
// Cleaning what deliveries cut short leave in the Maildirs' tmp/ folders (docs/flow.md,
// "Maildir delivery"): crash markers <id>.R<n>.<host> of messages the spool no longer
// holds, and any file in tmp/ older than 36 hours, as the Maildir convention asks
// (https://cr.yp.to/proto/maildir.html). Blocking: run it off the event loop.

#include <atomic>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <functional>
#include <string>
#include <string_view>

namespace posthorn::delivery {

namespace fs = std::filesystem;

// What one sweep found and removed.
struct sweep_stats {
  std::size_t mailboxes = 0;  // tmp/ folders read
  std::size_t markers = 0;    // crash markers removed (their message left the spool)
  std::size_t stale = 0;      // other files removed for their age
  std::size_t errors = 0;     // folders or files that could not be read or removed
};

struct sweep_options {
  fs::path root;         // [mailbox] maildir_root: <root>/<domain>/<local part>/tmp
  std::string hostname;  // markers name this host; other hosts' markers are only aged out
  // Whether the spool still holds a message with this queue id. Its markers stay: its
  // own delivery rewrites or drops them.
  std::function<bool(const std::string& id)> queued;
  std::int64_t now = 0;  // unix seconds
  std::chrono::seconds stale_after = std::chrono::hours(36);
  const std::atomic<bool>* stop = nullptr;  // set: the sweep ends at the next mailbox
};

// Reads every <root>/<domain>/<local part>/tmp/ once. A file is old when its last
// access, modification and change are all older than `stale_after`.
sweep_stats sweep_maildir_tmp(const sweep_options& options);

// The queue id of a crash marker name made for `host_name` (maildir_host_name()), or
// empty when `name` is not such a marker.
std::string marker_queue_id(std::string_view name, std::string_view host_name);

}  // namespace posthorn::delivery
