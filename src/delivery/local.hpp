#pragma once
// Local delivery of queued messages: every recipient marked local that is still
// pending or deferred goes into its Maildir (DESIGN.md §4.1).

#include <cstdint>
#include <functional>
#include <limits>
#include <string>
#include <string_view>
#include <vector>

#include "delivery/maildir.hpp"
#include "queue/envelope.hpp"

namespace posthorn::delivery {

// Blocking. One outcome per recipient tried (outcome.rcpt indexes env.recipients);
// recipients not tried (remote, delivered, failed) have none. The caller records the
// outcomes in the envelope and the spool.
// `now` (unix seconds) decides which deferred recipients are due; the default tries all.
std::vector<outcome> deliver_local(maildir& target, const queue::envelope& env,
                                   std::string_view message,
                                   std::int64_t now = std::numeric_limits<std::int64_t>::max());

// One message of a batch.
struct local_job {
  const queue::envelope* env = nullptr;
  std::string_view message;
  std::vector<outcome> outcomes;  // filled by deliver_local_batch
};

// Blocking. Delivers the local recipients of many messages with two flushes of the
// file system in all: every file written, one syncfs, every link into new/, one
// syncfs (DESIGN.md §6). `record` runs once the outcomes are known and durable in the
// Maildirs, and must make them durable in the spool; only after it returns are the
// crash markers dropped. A kill anywhere costs no copy: a retry finds the fixed new/
// name of each recipient an earlier attempt delivered (maildir.hpp).
// Messages marked junk go to each mailbox's `junk_folder` ("" = the inbox).
void deliver_local_batch(std::vector<local_job>& jobs, const fs::path& root,
                         const std::string& hostname, std::int64_t now,
                         const std::function<void()>& record, const std::string& junk_folder = {});

}  // namespace posthorn::delivery
