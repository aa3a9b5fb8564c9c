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

#include <atomic>
#include <condition_variable>
#include <cstdint>
#include <deque>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <queue>
#include <string_view>
#include <thread>
#include <unordered_map>
#include <vector>

#include "common/error.hpp"
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
  // new message). Called on a worker thread. Success means the report is durable in the
  // spool (or there is deliberately nothing to send); only then are the recipients marked
  // reported. On failure (disk full, I/O error) they stay unreported, the original stays
  // queued, and the report is tried again after the first retry interval.
  using notify_fn =
      std::function<result<void>(const envelope& env, const message_reader& message,
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
  // A graceful stop: no new attempts start; those under way (local, or out for remote
  // delivery) go on and their outcomes are recorded. busy() counts them.
  void drain();
  std::size_t busy() const;
  // New [queue] settings (config reload), thread-safe. Waits already scheduled stand;
  // the next retry, delay warning and expiry are reckoned with the new values.
  void set_config(config::queue_config cfg);

  // Messages known to the scheduler (queued or being attempted).
  std::size_t size() const;

  // Messages by state for the metrics: active = not yet tried or being attempted,
  // deferred = waiting for a retry, held = kept back by the administrator.
  struct queue_counts {
    std::size_t active, deferred, held;
  };
  queue_counts counts() const;

  // --- Administration (the control socket, `posthorn queue`). These may block on the
  // spool: call them off the event loop.

  // A message as `queue list` shows it.
  struct listed {
    envelope env;
    bool attempting = false;  // out for delivery or being changed: read from the spool
  };
  // Every message the scheduler knows, oldest arrival first.
  std::vector<listed> snapshot() const;
  // One message; nullopt when the scheduler does not know it.
  std::optional<listed> find(const std::string& id) const;

  enum class admin_outcome {
    Done,       // applied (and durable where it changes the spool)
    Later,      // the message is out for delivery: applied when the attempt ends
    Unchanged,  // nothing to do (flush or hold of a held message, release of one not held)
    NotFound,
  };
  // postqueue -f / -i: deferred recipients become due now. Held messages stay.
  std::size_t flush_all();  // messages made due or marked for it
  admin_outcome flush(const std::string& id);
  // ETRN (RFC 1985): messages with a remote recipient still waiting (pending or
  // deferred) in `domain`, or also below it with `subdomains`, become due now; held
  // messages stay. Returns how many messages that is; one out for delivery counts and
  // is tried again as soon as its attempt ends. Never touches the spool.
  std::size_t flush_domain(std::string_view domain, bool subdomains);
  // postsuper -h / -H: a held message is never attempted, also after a restart.
  result<admin_outcome> hold(const std::string& id);
  result<admin_outcome> release(const std::string& id);  // due now
  // postsuper -d: removed from the spool and never attempted again.
  result<admin_outcome> delete_message(const std::string& id);
  struct delete_counts {
    std::size_t deleted = 0, later = 0, failed = 0;
  };
  delete_counts delete_all();

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
  // A change asked for while the message was checked out, applied at check-in.
  enum class admin_op : std::uint8_t { None, Hold, Release, Delete };
  // What the scheduler holds of one message.
  struct slot {
    std::unique_ptr<envelope> env;  // null while checked out: being attempted or changed
    std::uint64_t seq = 0;          // its live heap item; 0 = none (other items are stale)
    admin_op pending = admin_op::None;
    bool flush = false;  // flushed while checked out
    // While out for delivery: the domains of its waiting remote recipients (match_key()),
    // so that an ETRN can find it.
    std::vector<std::string> out_domains;
  };
  // A checked-out message whose pending change needs the spool (done by a worker).
  struct chore {
    std::unique_ptr<envelope> env;
    admin_op op;
  };
  void run();
  // Local half; returns the messages that go on to remote delivery.
  std::shared_ptr<flight> attempt_batch(std::vector<std::unique_ptr<envelope>>& batch);
  // Records outcomes after the local (remote_half false) or remote half of an attempt.
  void record(envelope& env, const message_reader* message, bool remote_half, bool changed);
  void finish_locked(std::vector<std::unique_ptr<envelope>>& envs);
  // Puts a checked-out message back (or hands it on as a chore); `due_now` schedules it
  // at once, as a flush does.
  void checkin_locked(std::unique_ptr<envelope> env, bool due_now);
  // Applies `op` to a checked-out message: the spool first, without the lock, then
  // check-in (or, once deleted, forgets it).
  result<void> apply(std::unique_ptr<envelope> env, admin_op op);
  // hold, release and delete: on the message at once, or after the attempt under way.
  result<admin_outcome> change(const std::string& id, admin_op op);
  admin_outcome defer_locked(slot& s, admin_op op);
  void make_due_locked(slot& s, std::int64_t now);
  void schedule_locked(slot& s, std::int64_t due, const std::string& id);
  bool remote_due(const envelope& env, std::int64_t now) const;
  // A domain as flush_domain() compares it: lower case, no trailing dot, U-labels.
  static std::string match_key(std::string_view domain);
  // match_key() of the domains of env's remote recipients still pending or deferred.
  static std::vector<std::string> waiting_remote_domains(const envelope& env);

  spool& spool_;
  // Swapped whole by set_config(); each use loads it once.
  std::atomic<std::shared_ptr<const config::queue_config>> cfg_;
  deliver_fn deliver_;
  remote_fn remote_;
  notify_fn notify_;
  clock_fn now_;
  mutable std::mutex mu_;
  std::condition_variable cv_;
  std::priority_queue<due_item, std::vector<due_item>, std::greater<>> heap_;
  std::unordered_map<std::string, slot> messages_;
  std::deque<std::shared_ptr<flight>> landed_;  // remote halves done, to be recorded
  std::deque<chore> chores_;
  std::uint64_t seq_ = 0;
  bool stopping_ = false;
  bool draining_ = false;
  std::size_t busy_ = 0;  // batches being attempted, and flights out for remote delivery
  std::vector<std::thread> threads_;
  static constexpr std::size_t k_batch = 64;  // messages attempted together
};

}  // namespace posthorn::queue
