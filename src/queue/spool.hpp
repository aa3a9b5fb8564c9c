#pragma once
// The on-disk queue (DESIGN.md §4.1): stores and recovers messages; knows nothing of
// when to deliver them (that is the scheduler's job, STYLE.md 7).
//
// Layout under <state_dir>/spool/:
//   incoming/  files being received or committed (never acknowledged)
//   active/    committed queue files, one per message, named by queue id
//   status/    per-recipient delivery state of partly delivered messages
//   corrupt/   committed files that failed their checks at recover(), kept for the
//              administrator (like Postfix's corrupt queue), never read again
//
// The file formats are in docs/queue-format.md.
// All functions here may block on disk I/O: call them off the event loop, except
// where a comment says otherwise.

#include <cstdint>
#include <filesystem>
#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "common/error.hpp"
#include "queue/envelope.hpp"

namespace posthorn::queue {

namespace fs = std::filesystem;

// A message being received. Holds octets in memory up to a threshold; past it, the
// caller spills them to a file in incoming/ (blocking, so off the event loop).
class message_writer {
 public:
  message_writer() = default;
  message_writer(fs::path incoming_file, std::size_t memory_limit);
  message_writer(message_writer&&) noexcept;
  message_writer& operator=(message_writer&&) noexcept;
  ~message_writer();  // removes an uncommitted file

  void append(std::string_view octets);  // memory only: never blocks
  // Inserts octets at `offset` of the message while that part is still in memory
  // (header fields a submission lacks); false once it has been spilled.
  bool insert(std::uint64_t offset, std::string_view octets);
  // Puts `octets` in front of the whole message (header fields the checks add at the
  // end of the message: Authentication-Results, DKIM-Signature, ...). In memory when
  // nothing was spilled yet; else blocking: the file is rewritten once with the new
  // octets first (another file in incoming/, renamed over it). On failure the message
  // is as it was.
  result<void> prepend(std::string_view octets);
  bool spilled() const { return spilled_ > 0; }
  bool wants_spill() const;    // memory part at or past the threshold
  result<void> spill();        // blocking: memory part appended to the file
  std::uint64_t size() const;  // octets appended so far
  void discard();              // drop everything (RSET, refused message)

 private:
  friend class spool;
  friend result<void> read_message(const message_writer&,
                                   const std::function<void(std::string_view)>&);
  fs::path path_;
  int fd_ = -1;
  std::string mem_;
  std::size_t limit_ = 0;
  std::uint64_t size_ = 0;
  std::uint64_t spilled_ = 0;  // octets in the file after its header
  std::uint32_t crc_ = 0;      // CRC-32C of the spilled octets
  bool failed_ = false;        // a spill failed: the file is unusable, commit must fail
};

// Every octet of a message being received, in order, in chunks of at most 64 KiB
// (the spilled part read back from its file, then the part in memory). Blocking when
// the message was spilled: call it off the event loop then.
result<void> read_message(const message_writer& w,
                          const std::function<void(std::string_view)>& chunk);

// Read access to a committed message's octets (CRLF line ends, as received, with our
// Received: header first).
class message_reader {
 public:
  virtual ~message_reader() = default;
  virtual std::uint64_t size() const = 0;
  // The whole message when it fits in memory cheaply (mmap); views stay valid while
  // the reader lives.
  virtual std::string_view contents() const = 0;
};

class spool {
 public:
  // Creates the folders when missing.
  static result<std::unique_ptr<spool>> open(const fs::path& dir);

  // A new unique queue id: sortable by time, safe as a file name. Never blocks.
  std::string new_id();
  // Starts receiving a message under `id`. Never blocks (no file until spill()).
  message_writer begin(const std::string& id, std::size_t memory_limit = 256 * 1024);

  // Blocking. Makes message and envelope durable: write, fsync, rename into active/,
  // fsync active/. On any failure nothing is left behind and the error is temporary
  // 4.3.0. env.size is set from the writer.
  result<void> commit(envelope& env, message_writer&& body);

  // One commit for many messages: every file written, one flush of the file system
  // (syncfs) for all their data, renamed, then one fsync of active/. Each entry gets
  // its own result; a failed flush fails them all (never retried, DESIGN.md §4.1).
  struct commit_item {
    envelope* env;
    message_writer body;
  };
  std::vector<result<void>> commit_batch(std::vector<commit_item>& items);

  // Blocking. At start: removes incomplete files (incoming/, stale status temporaries),
  // moves torn or corrupt queue files out of active/ into corrupt/, removes status
  // files without a message, and returns the envelopes of complete messages with their
  // recipients' state, oldest id first. Fails only on I/O errors.
  result<std::vector<envelope>> recover();

  // Blocking. The message octets of a committed message.
  result<std::unique_ptr<message_reader>> open_message(const std::string& id) const;
  // Blocking. Reads one envelope (with current recipient state).
  result<envelope> load(const std::string& id) const;

  // Blocking. Persists the recipients' state (status, attempts, last_reply,
  // next_attempt) and `held` durably.
  result<void> update(const envelope& env);
  // Blocking. Removes a message whose recipients are all done.
  result<void> remove(const std::string& id);

  // Free octets on the spool's file system (statvfs).
  std::uint64_t free_space() const;
  const fs::path& dir() const { return dir_; }

 private:
  explicit spool(fs::path dir);
  // Writes one queue file in incoming/ (and fdatasyncs it when `sync`); returns its
  // path. On failure nothing is left behind.
  result<fs::path> stage(envelope& env, message_writer& body, bool sync);
  fs::path dir_;
  std::string pid_tag_;  // two id characters from the process id (ids across processes)
};

}  // namespace posthorn::queue
