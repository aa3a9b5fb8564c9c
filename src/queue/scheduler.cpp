#include "queue/scheduler.hpp"

#include <spdlog/spdlog.h>

#include <algorithm>
#include <chrono>

namespace posthorn::queue {

namespace {
// Retry soon after a spool read error, which is usually a passing condition.
constexpr std::int64_t k_io_retry = 60;
}  // namespace

scheduler::scheduler(spool& s, config::queue_config cfg, deliver_fn deliver, unsigned workers,
                     clock_fn now)
    : spool_(s), cfg_(std::move(cfg)), deliver_(std::move(deliver)), now_(std::move(now)) {
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

void scheduler::schedule_locked(std::int64_t due, const std::string& id) {
  heap_.push(due_item{due, seq_++, id});
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
  {
    std::lock_guard lock(mu_);
    messages_[id] = std::make_unique<envelope>(std::move(env));
    schedule_locked(due, id);
  }
  cv_.notify_one();
}

void scheduler::run() {
  std::unique_lock lock(mu_);
  std::vector<std::unique_ptr<envelope>> batch;
  while (true) {
    if (stopping_) {
      return;
    }
    if (heap_.empty()) {
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
      if (it == messages_.end() || !it->second) {
        continue;  // removed, or already being attempted by another worker
      }
      batch.push_back(std::move(it->second));
    }
    if (batch.empty()) {
      continue;
    }
    lock.unlock();
    attempt_batch(batch);
    lock.lock();
    for (std::unique_ptr<envelope>& env : batch) {
      if (env->done()) {
        messages_.erase(env->id);
        continue;
      }
      std::int64_t next = 0;
      bool deferred = false;
      for (const recipient& r : env->recipients) {
        if (r.status == rcpt_status::Deferred) {
          next = deferred ? std::min(next, r.next_attempt) : r.next_attempt;
          deferred = true;
        }
      }
      std::string id = env->id;
      messages_[id] = std::move(env);
      // Recipients still Pending have no transport yet (remote delivery arrives with
      // the outbound client); they wait in the spool and are picked up at the next start.
      if (deferred) {
        schedule_locked(next, id);
      }
    }
  }
}

void scheduler::attempt_batch(std::vector<std::unique_ptr<envelope>>& batch) {
  std::vector<std::unique_ptr<message_reader>> readers;
  std::vector<attempt> attempts;
  for (std::unique_ptr<envelope>& env : batch) {
    if (env->held) {
      continue;
    }
    auto message = spool_.open_message(env->id);
    if (!message) {
      spdlog::error("id={} cannot read queue file: {}", env->id, message.error().message);
      for (recipient& r : env->recipients) {
        if (r.status == rcpt_status::Pending || r.status == rcpt_status::Deferred) {
          r.status = rcpt_status::Deferred;
          r.next_attempt = now_() + k_io_retry;
        }
      }
      continue;
    }
    attempts.push_back(attempt{env.get(), message->get()});
    readers.push_back(std::move(*message));
  }
  bool recorded = false;
  auto record_all = [&] {
    if (recorded) {
      return;
    }
    recorded = true;
    for (attempt& a : attempts) {
      record(*a.env);
    }
  };
  if (!attempts.empty()) {
    deliver_(attempts, record_all);
  }
  record_all();
}

void scheduler::record(envelope& env) {
  std::int64_t now = now_();
  for (recipient& r : env.recipients) {
    if (r.status == rcpt_status::Deferred && r.next_attempt <= now) {
      r.next_attempt = now + retry_delay(cfg_, r.attempts);
    }
  }
  if (env.done()) {
    if (auto r = spool_.remove(env.id); !r) {
      spdlog::error("id={} cannot remove queue file: {}", env.id, r.error().message);
    } else {
      spdlog::info("id={} status=removed", env.id);
    }
    return;
  }
  if (auto r = spool_.update(env); !r) {
    spdlog::error("id={} cannot record delivery state: {}", env.id, r.error().message);
  }
}

}  // namespace posthorn::queue
