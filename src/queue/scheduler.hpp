#pragma once
// When to try what (STYLE.md 7): a due-time heap of queued messages and a pool of
// delivery workers. Acceptance never waits on it, and it never scans the spool: a
// message enters by submit() (after commit, or at recovery) and leaves when every
// recipient is done.

#include <condition_variable>
#include <cstdint>
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

class scheduler {
 public:
  // One message of a batch being attempted.
  struct attempt {
    envelope* env;
    const message_reader* message;
  };
  // Attempts the recipients it can (blocking, on a worker thread), a batch of due
  // messages at once, and records each one's outcome in the envelopes: Delivered,
  // Failed, or Deferred with last_reply. It calls `record` once, when the outcomes are
  // durable at their destination: the scheduler then makes them durable in the spool.
  using deliver_fn =
      std::function<void(std::vector<attempt>& batch, const std::function<void()>& record)>;
  using clock_fn = std::function<std::int64_t()>;  // unix seconds

  scheduler(spool& s, config::queue_config cfg, deliver_fn deliver, unsigned workers,
            clock_fn now);
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
  void run();
  void attempt_batch(std::vector<std::unique_ptr<envelope>>& batch);
  void record(envelope& env);
  static constexpr std::size_t k_batch = 64;  // messages attempted together
  void schedule_locked(std::int64_t due, const std::string& id);

  spool& spool_;
  config::queue_config cfg_;
  deliver_fn deliver_;
  clock_fn now_;
  mutable std::mutex mu_;
  std::condition_variable cv_;
  std::priority_queue<due_item, std::vector<due_item>, std::greater<>> heap_;
  std::unordered_map<std::string, std::unique_ptr<envelope>> messages_;
  std::uint64_t seq_ = 0;
  bool stopping_ = false;
  std::vector<std::thread> threads_;
};

}  // namespace posthorn::queue
