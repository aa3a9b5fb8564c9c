#pragma once
// When to try what (STYLE.md 7): a due-time heap of queued messages and a pool of
// workers. Acceptance never waits on it, and it never scans the spool: a message enters
// by submit() (after commit, or at recovery) and leaves when every recipient is done.
//
// An attempt runs in two halves. Local recipients are delivered on a worker thread
// (blocking file I/O, batched flushes); remote recipients are handed to an asynchronous
// agent (DNS and SMTP on the event loop) whose completion comes back to a worker. After
// each half the outcomes are recorded in the spool; expired recipients fail (4.4.7), and
// delivery status notifications are requested for what failed, was delayed too long, or
// asked for success notices (RFC 3461).

#include <condition_variable>
#include <cstdint>
#include <deque>
#include <functional>
#include <memory>
#include <mutex>
#include <queue>
#include <thread>
#include <unordered_map>
#include <vector>

#include "config/config.hpp"
#include "queue/envelope.hpp"
#include "queue/spool.hpp"

namespace posthorn::queue {

// Which report a notify_fn call asks for.
enum class report_kind { Failure, Delay, Delivered, Relayed };

class scheduler {
 public:
  // One message of a batch being attempted.
  struct attempt {
    envelope* env;
    const message_reader* message;
  };
  // Attempts the local recipients (blocking, on a worker thread), a batch of due messages
  // at once, and records each one's outcome in the envelopes: Delivered, Failed, or
  // Deferred with last_reply. It calls `record` once, when the outcomes are durable at
  // their destination: the scheduler then makes them durable in the spool.
  using deliver_fn =
      std::function<void(std::vector<attempt>& batch, const std::function<void()>& record)>;
  // The remote recipients of a batch: `rcpts` index env->recipients.
  struct remote_attempt {
    envelope* env;
    const message_reader* message;
    std::vector<std::size_t> rcpts;
  };
  // Starts remote delivery and returns at once; calls `done` (from any thread) once every
  // listed recipient's outcome is in its envelope. The envelopes and readers stay valid
  // until then.
  using remote_fn =
      std::function<void(std::vector<remote_attempt>& batch, std::function<void()> done)>;
  // Queues a delivery status notification about `rcpts` of `env` (blocking: it commits a
  // new message). Called on a worker thread.
  using notify_fn = std::function<void(const envelope& env, const message_reader& message,
                                       report_kind kind, const std::vector<std::size_t>& rcpts)>;
  using clock_fn = std::function<std::int64_t()>;  // unix seconds

  scheduler(spool& s, config::queue_config cfg, deliver_fn deliver, unsigned workers,
            clock_fn now, remote_fn remote = {}, notify_fn notify = {});
  ~scheduler();

  // Thread-safe, never blocks: the message is due at once (or at its recipients'
  // next_attempt when recovered).
  void submit(envelope env);
  // Stops the workers after the attempts under way.
  void stop();
  // Wakes the workers to look at the clock again (after it moved, or a flush).
  void poke();

  // Messages known to the scheduler (queued or being attempted).
  std::size_t size() const;

  // The wait before attempt number `attempts + 1` (RFC 5321 §4.5.4.1: the last
  // interval repeats).
  static std::int64_t retry_delay(const config::queue_config& cfg, std::uint32_t attempts);

 private:
  struct due_item {
    std::int64_t due;
    std::uint64_t seq;
    std::string id;
    bool operator>(const due_item& o) const {
      return due != o.due ? due > o.due : seq > o.seq;
    }
  };
  // A batch out for remote delivery.
  struct flight {
    std::vector<std::unique_ptr<envelope>> envs;
    std::vector<std::unique_ptr<message_reader>> readers;
    std::vector<remote_attempt> attempts;
  };
  void run();
  // Local half; returns the messages that go on to remote delivery.
  std::shared_ptr<flight> attempt_batch(std::vector<std::unique_ptr<envelope>>& batch);
  // Records outcomes after the local (remote_half false) or remote half of an attempt.
  void record(envelope& env, const message_reader* message, bool remote_half, bool changed);
  void finish_locked(std::vector<std::unique_ptr<envelope>>& envs);
  void schedule_locked(std::int64_t due, const std::string& id);
  bool remote_due(const envelope& env, std::int64_t now) const;

  spool& spool_;
  config::queue_config cfg_;
  deliver_fn deliver_;
  remote_fn remote_;
  notify_fn notify_;
  clock_fn now_;
  mutable std::mutex mu_;
  std::condition_variable cv_;
  std::priority_queue<due_item, std::vector<due_item>, std::greater<>> heap_;
  std::unordered_map<std::string, std::unique_ptr<envelope>> messages_;
  std::deque<std::shared_ptr<flight>> landed_;  // remote halves done, to be recorded
  std::uint64_t seq_ = 0;
  bool stopping_ = false;
  std::vector<std::thread> threads_;
  static constexpr std::size_t k_batch = 64;  // messages attempted together
};

}  // namespace posthorn::queue
