#pragma once
// A user's Maildir as a POP3 maildrop (RFC 1939 §4-6): the messages of new/ and cur/ at
// login (a snapshot), each with its size in CRLF form and a unique id, and the changes
// of the UPDATE state. File-system work only, no sockets: BLOCKING, the driver calls it
// on the blocking pool.
//
// Sizes: the ",W=<n>" of a file name when there is one (Dovecot's virtual size; our
// delivery writes it), else the file is read once and its size kept in a process-wide
// cache keyed by mailbox and unique name (Maildir files never change once delivered).
//
// Unique ids (UIDL, RFC 1939 §7): the file's unique name, the part before the first ','
// or ':' (Maildir keeps it when a file moves from new/ to cur/ and when flags change),
// when it is 1 to 70 octets of 0x21-0x7E; otherwise a hash of it. A unique name found
// twice (a copy in new/ and in cur/ after an interrupted delivery) gets "-2", "-3".
//
// Locking: one POP3 session per mailbox, in this process (a registry of open mailboxes)
// and across processes (flock(2) on <mailbox>/posthorn-pop3.lock, released by the kernel
// when the process dies, so a crash leaves no stale lock).

#include <cstdint>
#include <expected>
#include <filesystem>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "common/error.hpp"

namespace posthorn::pop3 {

namespace fs = std::filesystem;

struct message_info {
  std::string name;        // the file name in new/ or cur/ at login
  bool in_cur = false;     // in cur/ (else new/)
  std::uint64_t size = 0;  // octets in CRLF form (mail/crlf_size.hpp)
  std::string uid;         // the UIDL unique-id
};

// The name of the lock file in the mailbox folder.
inline constexpr std::string_view k_lock_file = "posthorn-pop3.lock";

// Holds the mailbox for one session; released when destroyed.
class mailbox_lock {
 public:
  mailbox_lock() = default;
  mailbox_lock(mailbox_lock&& other) noexcept;
  mailbox_lock& operator=(mailbox_lock&& other) noexcept;
  mailbox_lock(const mailbox_lock&) = delete;
  mailbox_lock& operator=(const mailbox_lock&) = delete;
  ~mailbox_lock();

  bool held() const { return !key_.empty(); }

 private:
  friend struct maildrop_access;
  void release();
  std::string key_;  // the mailbox path, in the registry
  int fd_ = -1;      // the lock file, flock()ed; -1 when the mailbox folder does not exist
};

// Why a maildrop could not be opened.
struct open_failure {
  bool in_use = false;  // another session holds it: "-ERR [IN-USE]" (RFC 2449 §8.1.1)
  std::string reason;   // for the log
};

struct opened_maildrop {
  mailbox_lock lock;
  std::vector<message_info> messages;  // in delivery order (by unique name)
  std::uint64_t files_read = 0;        // files read to learn their size (not in the cache)
};

// Locks the mailbox at `box` (<maildir_root>/<domain>/<local>) and lists its messages.
// A mailbox that does not exist yet is empty. BLOCKING.
std::expected<opened_maildrop, open_failure> open_maildrop(const fs::path& box);

// The path of a message now: where it was at login, or where another reader (Dovecot)
// moved it since (new/ to cur/, other flags). An error when it is gone. BLOCKING.
result<fs::path> locate_message(const fs::path& box, const message_info& m);

// The changes of the UPDATE state (RFC 1939 §6): `deleted` messages are removed;
// `retrieved` ones that stay are marked seen (moved to cur/ with the S flag, the flags
// they had kept) so that IMAP shows them read. Index i of both is message i.
struct update_result {
  std::uint32_t deleted = 0;
  std::uint32_t failed = 0;  // could not be removed (logged by the caller with `reason`)
  std::string reason;
};
update_result apply_update(const fs::path& box, const std::vector<message_info>& messages,
                           const std::vector<bool>& deleted, const std::vector<bool>& retrieved);

// The unique-id for a unique name (the rules above, before disambiguation).
std::string unique_id_for(std::string_view unique_name);
// The file name with the seen flag: "x" -> "x:2,S"; "x:2,FR" -> "x:2,FRS"; unchanged when
// already seen or the info is not of the ":2," kind.
std::string with_seen_flag(std::string_view name);
// The size cache's entries (tests, metrics).
std::size_t size_cache_entries();

}  // namespace posthorn::pop3
