#include "queue/scheduler.hpp"
#include "queue/delivery_metrics.hpp"

#include <spdlog/spdlog.h>

#include <algorithm>
#include <chrono>

namespace posthorn::queue {

namespace {
// Retry soon after a spool read error, which is usually a passing condition.
constexpr std::int64_t k_io_retry = 60;
}  // namespace

scheduler::scheduler(spool& s, config::queue_config cfg, deliver_fn deliver, unsigned workers,
                     clock_fn now, remote_fn remote, notify_fn notify)
    : spool_(s),
      cfg_(std::make_shared<const config::queue_config>(std::move(cfg))),
      deliver_(std::move(deliver)),
      remote_(std::move(remote)),
      notify_(std::move(notify)),
      now_(std::move(now)) {
  workers = std::max(1u, workers);
  for (unsigned i = 0; i < workers; ++i) {
    threads_.emplace_back([this] { run(); });
  }
}

scheduler::~scheduler() { stop(); }

void scheduler::stop() {
  {
    std::lock_guard lock(mu_);
    stopping_ = true;
  }
  cv_.notify_all();
  for (std::thread& t : threads_) {
    if (t.joinable()) {
      t.join();
    }
  }
  threads_.clear();
}

void scheduler::set_config(config::queue_config cfg) {
  cfg_.store(std::make_shared<const config::queue_config>(std::move(cfg)));
}

void scheduler::drain() {
  {
    std::lock_guard lock(mu_);
    draining_ = true;
  }
  cv_.notify_all();
}

std::size_t scheduler::busy() const {
  std::lock_guard lock(mu_);
  return busy_;
}

void scheduler::poke() {
  { std::lock_guard lock(mu_); }
  cv_.notify_all();
}

std::size_t scheduler::size() const {
  std::lock_guard lock(mu_);
  return messages_.size();
}

std::int64_t scheduler::retry_delay(const config::queue_config& cfg, std::uint32_t attempts) {
  if (cfg.retry.empty()) {
    return 300;
  }
  std::size_t i = attempts == 0 ? 0 : std::min<std::size_t>(attempts - 1, cfg.retry.size() - 1);
  return cfg.retry[i].count();
}

void scheduler::schedule_locked(slot& s, std::int64_t due, const std::string& id) {
  // An item the heap holds already for this message goes stale (lazy deletion: the
  // heap cannot take it out); run() drops items whose seq is not the slot's.
  s.seq = ++seq_;
  heap_.push(due_item{due, s.seq, id});
  // Stale items leave the heap only when they come due; repeated flushes of a long
  // queue (`sendmail -q` from cron) would pile them up until then. Rebuilding is
  // O(n log n), paid once per n pushes.
  if (heap_.size() > 2 * messages_.size() + 1024) {
    std::vector<due_item> live;
    live.reserve(messages_.size());
    while (!heap_.empty()) {
      const due_item& top = heap_.top();
      auto it = messages_.find(top.id);
      if (it != messages_.end() && it->second.seq == top.seq) {
        live.push_back(top);
      }
      heap_.pop();
    }
    heap_ = decltype(heap_)(std::greater<>(), std::move(live));
  }
}

void scheduler::make_due_locked(slot& s, std::int64_t now) {
  for (recipient& r : s.env->recipients) {
    if (r.status == rcpt_status::Deferred) {
      r.next_attempt = now;
    }
  }
  schedule_locked(s, now, s.env->id);
}

void scheduler::submit(envelope env) {
  std::int64_t due = 0;
  bool any = false;
  for (const recipient& r : env.recipients) {
    if (r.status == rcpt_status::Pending || r.status == rcpt_status::Deferred) {
      due = any ? std::min(due, r.next_attempt) : r.next_attempt;
      any = true;
    }
  }
  std::string id = env.id;
  const bool held = env.held;
  {
    std::lock_guard lock(mu_);
    slot& s = messages_[id];
    s.env = std::make_unique<envelope>(std::move(env));
    if (!held) {  // a held message (recovered) waits for `queue release`, off the heap
      schedule_locked(s, due, id);
    }
  }
  cv_.notify_one();
}

bool scheduler::remote_due(const envelope& env, std::int64_t now) const {
  if (!remote_ || env.held) {
    return false;
  }
  for (const recipient& r : env.recipients) {
    if (!r.local && (r.status == rcpt_status::Pending ||
                     (r.status == rcpt_status::Deferred && r.next_attempt <= now))) {
      return true;
    }
  }
  return false;
}

// Puts attempted messages back: done ones leave, the others wait for their next retry.
void scheduler::finish_locked(std::vector<std::unique_ptr<envelope>>& envs) {
  for (std::unique_ptr<envelope>& env : envs) {
    if (env) {
      checkin_locked(std::move(env), false);
    }
  }
}

void scheduler::checkin_locked(std::unique_ptr<envelope> env, bool due_now) {
  const std::string id = env->id;
  auto it = messages_.find(id);
  if (it == messages_.end()) {
    return;  // cannot happen: a checked-out message keeps its slot
  }
  slot& s = it->second;
  if (env->done() && env->report_retry == 0) {
    messages_.erase(it);
    return;
  }
  s.out_domains.clear();
  const admin_op op = std::exchange(s.pending, admin_op::None);
  const bool flush = std::exchange(s.flush, false) || due_now;
  if (op == admin_op::Delete || (op == admin_op::Hold && !env->held) ||
      (op == admin_op::Release && env->held)) {
    // Asked for during the attempt; it needs the spool, so a worker does it. The slot
    // stays checked out meanwhile.
    chores_.push_back(chore{std::move(env), op});
    cv_.notify_one();
    return;
  }
  s.env = std::move(env);
  s.seq = 0;
  if (s.env->held) {
    return;  // never attempted, so never due: off the heap until released
  }
  if (flush) {
    make_due_locked(s, now_());
    cv_.notify_one();
    return;
  }
  std::int64_t next = 0;
  bool waiting = false;
  for (const recipient& r : s.env->recipients) {
    if (r.status == rcpt_status::Deferred ||
        (r.status == rcpt_status::Pending && !r.local && remote_)) {
      next = waiting ? std::min(next, r.next_attempt) : r.next_attempt;
      waiting = true;
    }
  }
  if (s.env->report_retry != 0) {
    // A report that could not be queued is tried again then; the delay warning, due
    // already, waits for that try too.
    next = waiting ? std::min(next, s.env->report_retry) : s.env->report_retry;
    waiting = true;
  }
  if (!waiting) {
    return;
  }
  // Wake on time for the delay warning and for expiry, not at the next retry only.
  bool deferred = std::any_of(s.env->recipients.begin(), s.env->recipients.end(),
                              [](const recipient& r) { return r.status == rcpt_status::Deferred; });
  const std::shared_ptr<const config::queue_config> cfg = cfg_.load();
  if (deferred && !s.env->delay_warned && cfg->delay_warning.count() > 0 &&
      s.env->report_retry == 0) {
    next = std::min(next, s.env->arrival + cfg->delay_warning.count());
  }
  if (cfg->max_lifetime.count() > 0) {
    next = std::min(next, s.env->arrival + cfg->max_lifetime.count());
  }
  schedule_locked(s, next, id);
}

void scheduler::run() {
  std::unique_lock lock(mu_);
  std::vector<std::unique_ptr<envelope>> batch;
  while (true) {
    if (stopping_) {
      return;
    }
    if (!chores_.empty()) {
      chore c = std::move(chores_.front());
      chores_.pop_front();
      lock.unlock();
      (void)apply(std::move(c.env), c.op);  // logs its own failure
      lock.lock();
      continue;
    }
    if (!landed_.empty()) {
      std::shared_ptr<flight> f = std::move(landed_.front());
      landed_.pop_front();
      lock.unlock();
      for (remote_attempt& a : f->attempts) {
        record(*a.env, a.message, /*remote_half=*/true, /*changed=*/true);
      }
      lock.lock();
      finish_locked(f->envs);
      --busy_;
      continue;
    }
    if (heap_.empty() || draining_) {
      cv_.wait(lock);
      continue;
    }
    std::int64_t now = now_();
    if (heap_.top().due > now) {
      // The clock is in whole seconds; wake at least once a second to re-check it.
      cv_.wait_for(lock, std::chrono::seconds(std::min<std::int64_t>(heap_.top().due - now, 1)));
      continue;
    }
    // Everything due, up to a batch, shares the flushes of one attempt (DESIGN.md §6).
    batch.clear();
    while (!heap_.empty() && heap_.top().due <= now && batch.size() < k_batch) {
      due_item item = heap_.top();
      heap_.pop();
      auto it = messages_.find(item.id);
      if (it == messages_.end() || !it->second.env || it->second.seq != item.seq) {
        continue;  // removed, checked out (attempted, changed), or a stale item
      }
      it->second.seq = 0;
      it->second.out_domains = waiting_remote_domains(*it->second.env);
      batch.push_back(std::move(it->second.env));
    }
    if (batch.empty()) {
      continue;
    }
    ++busy_;
    lock.unlock();
    std::shared_ptr<flight> f = attempt_batch(batch);
    lock.lock();
    finish_locked(batch);  // those not out for remote delivery
    if (!f) {
      --busy_;
    } else {
      // The flight stays busy until its outcomes are recorded (landed_ above).
      lock.unlock();
      remote_(f->attempts, [this, f] {
        {
          std::lock_guard g(mu_);
          landed_.push_back(f);
        }
        cv_.notify_one();
      });
      lock.lock();
    }
  }
}

std::shared_ptr<scheduler::flight> scheduler::attempt_batch(
    std::vector<std::unique_ptr<envelope>>& batch) {
  std::vector<std::unique_ptr<message_reader>> readers(batch.size());
  std::vector<attempt> attempts;
  std::vector<std::size_t> index;  // attempts -> batch
  for (std::size_t i = 0; i < batch.size(); ++i) {
    envelope& env = *batch[i];
    if (env.held) {
      continue;
    }
    auto message = spool_.open_message(env.id);
    if (!message) {
      spdlog::error("id={} cannot read queue file: {}", env.id, message.error().message);
      for (recipient& r : env.recipients) {
        if (r.status == rcpt_status::Pending || r.status == rcpt_status::Deferred) {
          r.status = rcpt_status::Deferred;
          r.next_attempt = now_() + k_io_retry;
        }
      }
      continue;
    }
    readers[i] = std::move(*message);
    attempts.push_back(attempt{&env, readers[i].get()});
    index.push_back(i);
  }
  // What each message looked like before the local half: a message it did not touch
  // is not written to the spool again (one status write costs two fsyncs).
  auto signature = [](const envelope& env) {
    std::uint64_t sig = 0;
    for (const recipient& r : env.recipients) {
      sig = sig * 131 + static_cast<std::uint64_t>(r.status) * 1000003 + r.attempts;
    }
    return sig;
  };
  std::vector<std::uint64_t> before;
  before.reserve(attempts.size());
  for (const attempt& a : attempts) {
    before.push_back(signature(*a.env));
  }
  bool recorded = false;
  auto record_all = [&] {
    if (recorded) {
      return;
    }
    recorded = true;
    for (std::size_t k = 0; k < attempts.size(); ++k) {
      record(*attempts[k].env, attempts[k].message, /*remote_half=*/false,
             signature(*attempts[k].env) != before[k]);
    }
  };
  if (!attempts.empty()) {
    deliver_(attempts, record_all);
  }
  record_all();

  // The remote half: messages with remote recipients due go out as one flight.
  std::int64_t now = now_();
  std::shared_ptr<flight> f;
  for (std::size_t k = 0; k < index.size(); ++k) {
    std::size_t i = index[k];
    if (!batch[i] || !remote_due(*batch[i], now)) {
      continue;
    }
    if (!f) {
      f = std::make_shared<flight>();
    }
    remote_attempt ra{batch[i].get(), readers[i].get(), {}};
    for (std::size_t r = 0; r < batch[i]->recipients.size(); ++r) {
      const recipient& rc = batch[i]->recipients[r];
      if (!rc.local && (rc.status == rcpt_status::Pending ||
                        (rc.status == rcpt_status::Deferred && rc.next_attempt <= now))) {
        ra.rcpts.push_back(r);
      }
    }
    f->attempts.push_back(std::move(ra));
    f->envs.push_back(std::move(batch[i]));
    f->readers.push_back(std::move(readers[i]));
  }
  return f;
}

void scheduler::record(envelope& env, const message_reader* message, bool remote_half,
                       bool changed) {
  const std::shared_ptr<const config::queue_config> cfg = cfg_.load();
  std::int64_t now = now_();
  bool dirty = changed;
  const bool expired = cfg->max_lifetime.count() > 0 && now - env.arrival >= cfg->max_lifetime.count();
  std::vector<std::size_t> failed, delivered, relayed, delayed;
  for (std::size_t i = 0; i < env.recipients.size(); ++i) {
    recipient& r = env.recipients[i];
    if (r.status == rcpt_status::Deferred && expired) {
      // RFC 3464 §2.3.3 with status 4.4.7: given up after [queue] max_lifetime.
      dirty = true;
      r.status = rcpt_status::Failed;
      r.last_reply = "4.4.7 message expired after " +
                     std::to_string(cfg->max_lifetime.count()) + "s in the queue" +
                     (r.last_reply.empty() ? std::string() : "; last reply: " + r.last_reply);
      note_delivery(env, r, delivery_outcome::Expired, "", now);
    }
    // Only the half that just tried a recipient moves its next attempt on.
    if (r.status == rcpt_status::Deferred && r.next_attempt <= now &&
        (r.local != remote_half || !remote_)) {
      r.next_attempt = now + retry_delay(*cfg, r.attempts);
      dirty = true;
    }
    if (r.reported) {
      continue;
    }
    if (r.status == rcpt_status::Failed) {
      failed.push_back(i);
    } else if (r.status == rcpt_status::Delivered && (r.notify & notify::Success) != 0) {
      // RFC 3461 §6.2.1: a peer that took DSN parameters reports success itself.
      if (r.local) {
        delivered.push_back(i);
      } else if (r.relayed) {
        relayed.push_back(i);
      }
    } else if (r.status == rcpt_status::Deferred) {
      delayed.push_back(i);
    }
  }
  // A report is committed before its recipients are marked reported: when it cannot be
  // (disk full, I/O error), they stay unreported and the message stays queued for another
  // try, so neither the message nor its report is lost (a crash in between may only
  // duplicate the report).
  env.report_retry = 0;
  bool owed = false;
  const auto report = [&](report_kind kind, const std::vector<std::size_t>& rcpts) {
    if (rcpts.empty()) {
      return;
    }
    if (notify_) {  // without one (reports off) the recipients are simply done
      if (message == nullptr) {
        owed = true;
        return;
      }
      if (auto r = notify_(env, *message, kind, rcpts); !r) {
        spdlog::error("id={} event=dsn-deferred reason=\"{}\"", env.id, r.error().message);
        owed = true;
        return;
      }
    }
    dirty = true;
    for (std::size_t i : rcpts) {
      env.recipients[i].reported = true;
    }
  };
  report(report_kind::Failure, failed);
  report(report_kind::Delivered, delivered);
  report(report_kind::Relayed, relayed);
  if (notify_ && message != nullptr && !delayed.empty() && !env.delay_warned &&
      cfg->delay_warning.count() > 0 && now - env.arrival >= cfg->delay_warning.count()) {
    if (auto r = notify_(env, *message, report_kind::Delay, delayed); !r) {
      spdlog::error("id={} event=dsn-deferred kind=delayed reason=\"{}\"", env.id,
                    r.error().message);
      owed = true;
    } else {
      env.delay_warned = true;
      dirty = true;
    }
  }
  if (owed) {
    env.report_retry = now + retry_delay(*cfg, 0);
    dirty = true;  // the recipients' outcomes are kept, unreported, for a restart too
  }
  if (env.done() && env.report_retry == 0) {
    if (auto r = spool_.remove(env.id); !r) {
      spdlog::error("id={} cannot remove queue file: {}", env.id, r.error().message);
    } else {
      spdlog::info("id={} status=removed", env.id);
    }
    return;
  }
  if (!dirty) {
    return;  // nothing new to remember
  }
  if (auto r = spool_.update(env); !r) {
    spdlog::error("id={} cannot record delivery state: {}", env.id, r.error().message);
  }
}

}  // namespace posthorn::queue
