#pragma once
// Group commit (DESIGN.md §6): sessions hand finished messages to one thread that
// commits everything pending in one batch (spool::commit_batch), so one directory
// fsync covers many sessions' messages. Each caller learns its own result.

#include <condition_variable>
#include <deque>
#include <functional>
#include <mutex>
#include <thread>

#include "queue/spool.hpp"

namespace posthorn::queue {

class committer {
 public:
  // Called on the committer thread; post back to your own executor.
  using done_fn = std::function<void(result<void>)>;

  explicit committer(spool& s);
  ~committer();  // stops after committing what is pending

  // Thread-safe, never blocks. `env` must stay alive until `done` runs. After stop(),
  // `done` runs at once on the caller's thread with a temporary 4.3.0 error.
  void submit(envelope* env, message_writer&& body, done_fn done);
  // Commits what is pending, then ends the thread. Idempotent.
  void stop();

 private:
  struct item {
    envelope* env;
    message_writer body;
    done_fn done;
  };
  void run();
  spool& spool_;
  std::mutex mu_;
  std::condition_variable cv_;
  std::deque<item> pending_;
  bool stopping_ = false;
  std::thread thread_;
};

}  // namespace posthorn::queue
