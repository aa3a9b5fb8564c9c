#pragma once
// Local delivery into Maildir (DESIGN.md §4.1, §4.2): <root>/<domain>/<local part>/
// {tmp,new,cur}, created when missing. Each file is written in tmp/, fsynced, moved
// into new/ (a hard link, the tmp/ name removed once new/ is fsynced, so a retry after a
// crash in between finds the delivery already done), and new/ fsynced; only then is the
// recipient delivered. The file holds
// LF line ends and starts with Return-Path:, Delivered-To:, then the queued message
// (which begins with our Received:). Names are Dovecot-readable:
// <secs>.M<usecs>P<pid>Q<n>.<host>,S=<size>.
//
// A transactional target (STYLE.md 8): begin -> add_recipient -> body -> commit.
// Recipients whose file would be identical (same Return-Path and Delivered-To,
// e.g. the members of one alias) share one file through hard links.

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

class maildir {
 public:
  maildir(fs::path root, std::string hostname);

  // Blocking from here on: run off the event loop.
  void begin(const queue::envelope& env);
  // `rcpt` indexes env.recipients; the mailbox is that recipient's address; the
  // Delivered-To: header names the recipient's original address (RCPT TO).
  void add_recipient(std::size_t rcpt);
  // The queued message octets (CRLF line ends); converted to LF while written.
  void body(std::string_view message);
  // Writes and syncs every file; one outcome per added recipient.
  std::vector<outcome> commit();
  void abort();

  // The folder for a mailbox address: root / lower(domain) / local part (unsafe
  // characters such as '/' and a leading '.' made safe). In each part '%', '/', control
  // octets and a leading '.' become %XX (upper-case hex). Empty when no safe name
  // exists (empty part, or longer than a file name may be).
  fs::path mailbox_path(const mail::address& a) const;

 private:
  struct written;
  result<written> write_file(const fs::path& box, std::string_view headers, std::size_t rcpt);
  result<void> link_file(const fs::path& box, const written& source);
  std::string unique_name() const;

  fs::path root_;
  std::string hostname_;
  std::string name_host_;  // hostname_ escaped for Maildir file names
  const queue::envelope* env_ = nullptr;
  std::vector<std::size_t> rcpts_;
  std::string_view message_;
  std::string buffer_;  // one buffer for the CRLF -> LF conversion, reused
};

}  // namespace posthorn::delivery
