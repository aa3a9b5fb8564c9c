#pragma once
// Local delivery into Maildir (DESIGN.md §4.1, §4.2): <root>/<domain>/<local part>/
// {tmp,new,cur}, created when missing. Each file is written in tmp/, made durable, linked
// into new/, and new/ made durable; only then is the recipient delivered. The file holds
// LF line ends and starts with Return-Path:, Delivered-To:, then the queued message
// (which begins with our Received:).
//
// Crash safety (docs/flow.md, "Maildir delivery"): for a queued message the names are
// the same at every attempt, so a retry knows what an attempt cut short did:
//   tmp/<id>.R<n>.<host>            the crash marker: recipient n's octets being written
//   new/<id>.R<n>.<host>,S=<size>   recipient n delivered
// A retry rewrites the marker; link() into new/ answering EEXIST means an earlier attempt
// delivered (the retry only makes new/ durable), success means it had not. A kill at any point
// therefore costs at most a duplicate (when the reader moved the file to cur/ in between), never a
// loss. Without a queue id (tests) names are <secs>.M<usecs>P<pid>Q<n>.<host>. Names are
// Dovecot-readable: no '/' or ':' in them, and ",S=<size>" after the base.
//
// A transactional target (STYLE.md 8): begin -> add_recipient -> body -> commit.
// Recipients whose file would be identical (same Return-Path and Delivered-To,
// e.g. the members of one alias) share one inode through hard links.

#include <cstddef>
#include <filesystem>
#include <string>
#include <string_view>
#include <vector>

#include "common/error.hpp"
#include "queue/envelope.hpp"

namespace posthorn::delivery {

namespace fs = std::filesystem;

// The result for one recipient (index into envelope.recipients).
struct outcome {
  std::size_t rcpt = 0;
  result<void> status;  // error: temporary (defer) or permanent (bounce) with reason
};

// How a phase makes what it wrote durable.
enum class flush_mode {
  PerFile,   // fsync each file and each new/ folder itself
  Deferred,  // the caller flushes the whole file system (syncfs) after the phase
};

class maildir {
 public:
  maildir(fs::path root, std::string hostname);
  maildir(maildir&&) noexcept;
  ~maildir();

  // Blocking from here on: run off the event loop.
  void begin(const queue::envelope& env);
  // `rcpt` indexes env.recipients; the mailbox is that recipient's address; the
  // Delivered-To: header names the recipient's original address (RCPT TO).
  void add_recipient(std::size_t rcpt);
  // The queued message octets (CRLF line ends); converted to LF while written.
  void body(std::string_view message);

  // One message, flushed file by file: prepare, publish, outcomes, cleanup.
  std::vector<outcome> commit();
  void abort();

  // The same in phases, so that many messages share two flushes (DESIGN.md §6):
  // 1. prepare(): writes one tmp/ file per distinct Delivered-To (the marker of its
  //    first recipient), replacing one an attempt cut short left;
  // 2. publish(): after the data is durable, links each recipient's marker (from the
  //    shared one) and then links it into new/; a new/ name that exists already was
  //    made by an attempt that died before the spool learnt of it: delivered;
  // 3. outcomes(): after the links are durable;
  // 4. cleanup(): after the outcomes are recorded in the spool, drops the markers
  //    (markers a kill leaves behind are swept at start, maildir_sweep.hpp).
  void prepare(flush_mode mode);
  void publish(flush_mode mode);
  std::vector<outcome> outcomes() const;
  void cleanup();
  // A flush between phases failed: nothing written is known durable; every recipient
  // still in flight fails with `e` and its files are removed.
  void fail_all(const error& e);

  // The folder for a mailbox address: root / lower(domain) / local part (unsafe
  // characters such as '/' and a leading '.' made safe). In each part '%', '/', control
  // octets and a leading '.' become %XX (upper-case hex). Empty when no safe name
  // exists (empty part, or longer than a file name may be).
  fs::path mailbox_path(const mail::address& a) const;

  // The Maildir++ folder that messages judged spam (envelope::junk) go to:
  // <mailbox>/.<name>/, made with its `maildirfolder` file as Dovecot expects. ""
  // delivers them to the inbox like any other.
  void set_junk_folder(std::string name) { junk_folder_ = std::move(name); }

 private:
  struct item;
  result<std::uint64_t> write_file(const fs::path& path, std::string_view headers, flush_mode mode);
  std::string unique_name() const;
  fs::path marker_path(const fs::path& box, std::size_t rcpt) const;
  fs::path target_path(const item& it) const;
  void publish_one(item& it);

  fs::path root_;
  std::string hostname_;
  std::string name_host_;  // hostname_ escaped for Maildir file names
  std::string junk_folder_;
  const queue::envelope* env_ = nullptr;
  std::vector<std::size_t> rcpts_;
  std::vector<item> items_;
  std::string_view message_;
  std::string buffer_;  // one buffer for the CRLF -> LF conversion, reused
};

// A host name as Maildir file names carry it: '/', ':' and ',' escaped as \ooo.
std::string maildir_host_name(std::string_view hostname);

}  // namespace posthorn::delivery
