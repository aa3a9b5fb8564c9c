#include "queue/committer.hpp"

#include <utility>
#include <vector>

namespace posthorn::queue {

committer::committer(spool& s) : spool_(s), thread_([this] { run(); }) {}

committer::~committer() { stop(); }

void committer::submit(envelope* env, message_writer&& body, done_fn done) {
  {
    std::lock_guard lock(mu_);
    if (!stopping_) {
      pending_.push_back(item{env, std::move(body), std::move(done)});
      cv_.notify_one();
      return;
    }
  }
  // No thread left to commit it: the writer's destructor removes any spilled file.
  body.discard();
  done(fail(error::temp("4.3.0", "queue is shutting down")));
}

void committer::stop() {
  {
    std::lock_guard lock(mu_);
    stopping_ = true;
  }
  cv_.notify_one();
  if (thread_.joinable() && thread_.get_id() != std::this_thread::get_id()) {
    thread_.join();
  }
}

void committer::run() {
  std::deque<item> batch;
  std::vector<spool::commit_item> items;
  for (;;) {
    {
      std::unique_lock lock(mu_);
      cv_.wait(lock, [this] { return stopping_ || !pending_.empty(); });
      if (pending_.empty()) {
        return;  // stopping, and everything submitted before stop() is committed
      }
      // Everything that arrived while the last batch was syncing goes in this one.
      batch.swap(pending_);
    }
    items.clear();
    items.reserve(batch.size());
    for (item& it : batch) {
      items.push_back(spool::commit_item{it.env, std::move(it.body)});
    }
    std::vector<result<void>> results = spool_.commit_batch(items);
    for (std::size_t i = 0; i < batch.size(); ++i) {
      if (batch[i].done) {
        batch[i].done(std::move(results[i]));
      }
    }
    batch.clear();
  }
}

}  // namespace posthorn::queue
