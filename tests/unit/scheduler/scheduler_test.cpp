// The scheduler with a real spool, a fake delivery and a clock the test moves.

#include "queue/scheduler.hpp"

#include <gtest/gtest.h>

#include <atomic>
#include <filesystem>
#include <mutex>
#include <random>
#include <thread>

namespace posthorn::queue {
namespace {

namespace fs = std::filesystem;
using namespace std::chrono_literals;

class SchedulerTest : public testing::Test {
 protected:
  void SetUp() override {
    std::random_device rd;
    dir_ = fs::temp_directory_path() / ("posthorn-sched-" + std::to_string(rd()));
    spool_ = std::move(*spool::open(dir_));
    cfg_.retry = {std::chrono::seconds(60), std::chrono::seconds(600)};
  }
  void TearDown() override {
    sched_.reset();
    fs::remove_all(dir_);
  }

  envelope commit_one(std::size_t recipients) {
    envelope env;
    env.id = spool_->new_id();
    env.sender = {"a", "remote.test"};
    env.arrival = now_.load();
    for (std::size_t i = 0; i < recipients; ++i) {
      env.recipients.push_back(recipient{.address = {"u" + std::to_string(i), "example.test"}});
    }
    auto w = spool_->begin(env.id);
    w.append("Subject: x\r\n\r\nbody\r\n");
    EXPECT_TRUE(spool_->commit(env, std::move(w)).has_value());
    return env;
  }

  void start(scheduler::deliver_fn fn) {
    sched_ = std::make_unique<scheduler>(
        *spool_, cfg_, std::move(fn), 2, [this] { return now_.load(); }, scheduler::remote_fn{},
        [this](const envelope& env, const message_reader&, report_kind kind,
               const std::vector<std::size_t>& rcpts) {
          std::lock_guard lock(reports_mu_);
          if (fail_reports_ > 0) {
            --fail_reports_;
            return result<void>(fail(error::temp("4.3.0", "disk full")));
          }
          reports_.push_back({env.id, kind, rcpts});
          return result<void>();
        });
  }

  struct report {
    std::string id;
    report_kind kind;
    std::vector<std::size_t> rcpts;
  };
  std::mutex reports_mu_;
  std::vector<report> reports_;
  int fail_reports_ = 0;  // the next reports that cannot be queued
  std::size_t report_count() {
    std::lock_guard lock(reports_mu_);
    return reports_.size();
  }

  // Waits (bounded) until `pred` holds; the scheduler works on its own threads.
  template <class P>
  bool eventually(P pred) {
    for (int i = 0; i < 500; ++i) {
      if (pred()) {
        return true;
      }
      std::this_thread::sleep_for(10ms);
    }
    return pred();
  }

  fs::path dir_;
  std::unique_ptr<spool> spool_;
  config::queue_config cfg_;
  std::atomic<std::int64_t> now_{1'000'000};
  std::unique_ptr<scheduler> sched_;
};

TEST_F(SchedulerTest, RetryDelayRepeatsTheLastInterval) {
  EXPECT_EQ(scheduler::retry_delay(cfg_, 1), 60);
  EXPECT_EQ(scheduler::retry_delay(cfg_, 2), 600);
  EXPECT_EQ(scheduler::retry_delay(cfg_, 7), 600);
}

TEST_F(SchedulerTest, DeliveredMessageLeavesTheSpoolAfterRecord) {
  envelope env = commit_one(2);
  std::atomic<int> calls{0};
  start([&](std::vector<scheduler::attempt>& batch, const std::function<void()>& record) {
    ++calls;
    for (auto& a : batch) {
      EXPECT_EQ(a.message->contents().substr(0, 10), "Subject: x");
      for (recipient& r : a.env->recipients) {
        r.status = rcpt_status::Delivered;
      }
    }
    // Until record() the queue file must still be there (the outcome is not durable).
    EXPECT_TRUE(fs::exists(dir_ / "active" / batch.front().env->id));
    record();
    EXPECT_FALSE(fs::exists(dir_ / "active" / batch.front().env->id));
  });
  sched_->submit(env);
  ASSERT_TRUE(eventually([&] { return sched_->size() == 0; }));
  EXPECT_EQ(calls.load(), 1);
  auto left = spool_->recover();
  ASSERT_TRUE(left.has_value());
  EXPECT_TRUE(left->empty());
}

TEST_F(SchedulerTest, DeferredRecipientIsRetriedOnScheduleAndStateIsPersisted) {
  envelope env = commit_one(2);
  std::atomic<int> calls{0};
  start([&](std::vector<scheduler::attempt>& batch, const std::function<void()>& record) {
    int n = ++calls;
    for (auto& a : batch) {
      a.env->recipients[0].status = rcpt_status::Delivered;
      a.env->recipients[1].attempts++;
      a.env->recipients[1].status = n < 3 ? rcpt_status::Deferred : rcpt_status::Delivered;
      a.env->recipients[1].last_reply = "451 4.3.0 try later";
    }
    record();
  });
  sched_->submit(env);
  ASSERT_TRUE(eventually([&] { return calls.load() == 1; }));
  // The partial outcome is on disk: a restart would not deliver recipient 0 again.
  ASSERT_TRUE(eventually([&] {
    auto e = spool_->load(env.id);
    return e && e->recipients[0].status == rcpt_status::Delivered &&
           e->recipients[1].status == rcpt_status::Deferred &&
           e->recipients[1].next_attempt == 1'000'060;
  }));
  now_ += 59;
  sched_->poke();
  std::this_thread::sleep_for(50ms);
  EXPECT_EQ(calls.load(), 1);  // not due yet
  now_ += 1;
  sched_->poke();
  ASSERT_TRUE(eventually([&] { return calls.load() == 2; }));
  now_ += 600;  // second retry waits the second interval
  sched_->poke();
  ASSERT_TRUE(eventually([&] { return calls.load() == 3; }));
  ASSERT_TRUE(eventually([&] { return sched_->size() == 0; }));
}

TEST_F(SchedulerTest, DueMessagesAreAttemptedInBatches) {
  std::mutex mu;
  std::vector<std::size_t> sizes;
  std::vector<envelope> envs;
  for (int i = 0; i < 20; ++i) {
    envs.push_back(commit_one(1));
  }
  std::atomic<bool> release{false};
  start([&](std::vector<scheduler::attempt>& batch, const std::function<void()>& record) {
    while (!release.load()) {
      std::this_thread::sleep_for(1ms);
    }
    {
      std::lock_guard lock(mu);
      sizes.push_back(batch.size());
    }
    for (auto& a : batch) {
      a.env->recipients[0].status = rcpt_status::Delivered;
    }
    record();
  });
  for (envelope& e : envs) {
    sched_->submit(e);
  }
  release = true;
  ASSERT_TRUE(eventually([&] { return sched_->size() == 0; }));
  std::lock_guard lock(mu);
  std::size_t total = 0;
  for (std::size_t s : sizes) {
    total += s;
  }
  EXPECT_EQ(total, 20u);
  EXPECT_LT(sizes.size(), 20u);  // at least one batch carried several messages
}

TEST_F(SchedulerTest, FailureIsReportedOnceAndExpiryFailsWith447) {
  cfg_.max_lifetime = std::chrono::seconds(100);
  cfg_.delay_warning = std::chrono::seconds(50);
  envelope env = commit_one(2);
  std::atomic<int> calls{0};
  start([&](std::vector<scheduler::attempt>& batch, const std::function<void()>& record) {
    ++calls;
    for (auto& a : batch) {
      a.env->recipients[0].status = rcpt_status::Failed;  // stays failed, reported once
      a.env->recipients[0].last_reply = "550 5.1.1 no such user";
      a.env->recipients[1].attempts++;
      a.env->recipients[1].status = rcpt_status::Deferred;
      a.env->recipients[1].last_reply = "451 4.3.0 later";
    }
    record();
  });
  sched_->submit(env);
  ASSERT_TRUE(eventually([&] { return report_count() == 1; }));
  now_ += 60;  // past delay_warning: one delay report at the next attempt
  sched_->poke();
  ASSERT_TRUE(eventually([&] { return report_count() == 2; }));
  now_ += 60;  // past max_lifetime: recipient 1 fails with 4.4.7 and is reported
  sched_->poke();
  ASSERT_TRUE(eventually([&] { return sched_->size() == 0; }));
  std::lock_guard lock(reports_mu_);
  ASSERT_EQ(reports_.size(), 3u);
  EXPECT_EQ(reports_[0].kind, report_kind::Failure);
  EXPECT_EQ(reports_[0].rcpts, std::vector<std::size_t>{0});
  EXPECT_EQ(reports_[1].kind, report_kind::Delay);
  EXPECT_EQ(reports_[1].rcpts, std::vector<std::size_t>{1});
  EXPECT_EQ(reports_[2].kind, report_kind::Failure);
  EXPECT_EQ(reports_[2].rcpts, std::vector<std::size_t>{1});
}

// The bounce-loss bug (issue 13): a report that cannot be queued (disk full, I/O error)
// leaves the recipient unreported and the original queued, on disk too; the report is
// tried again after the first retry interval, and only then does the message leave.
TEST_F(SchedulerTest, ReportThatCannotBeQueuedKeepsTheMessageAndIsRetried) {
  envelope env = commit_one(1);
  fail_reports_ = 1;
  std::atomic<int> calls{0};
  start([&](std::vector<scheduler::attempt>& batch, const std::function<void()>& record) {
    ++calls;
    for (auto& a : batch) {
      if (a.env->recipients[0].status == rcpt_status::Pending) {
        a.env->recipients[0].status = rcpt_status::Failed;
        a.env->recipients[0].last_reply = "550 5.1.1 no such user";
      }
    }
    record();
  });
  sched_->submit(env);
  ASSERT_TRUE(eventually([&] {
    std::lock_guard lock(reports_mu_);
    return fail_reports_ == 0;
  }));
  // The failed try is over once the recipient's outcome is on disk, still unreported.
  ASSERT_TRUE(eventually([&] {
    auto e = spool_->load(env.id);
    return e && e->recipients[0].status == rcpt_status::Failed;
  }));
  auto kept = spool_->load(env.id);
  ASSERT_TRUE(kept.has_value());
  EXPECT_FALSE(kept->recipients[0].reported);
  EXPECT_EQ(sched_->size(), 1u);
  EXPECT_EQ(report_count(), 0u);
  now_ += 60;  // the first retry interval: the report is queued, the message leaves
  sched_->poke();
  ASSERT_TRUE(eventually([&] { return sched_->size() == 0; }));
  EXPECT_EQ(calls.load(), 2);  // the report's retry is an attempt with nothing to deliver
  std::lock_guard lock(reports_mu_);
  ASSERT_EQ(reports_.size(), 1u);
  EXPECT_EQ(reports_[0].kind, report_kind::Failure);
  EXPECT_FALSE(fs::exists(dir_ / "active" / env.id));
}

TEST_F(SchedulerTest, HeldMessageIsNotDelivered) {
  envelope env = commit_one(1);
  env.held = true;
  std::atomic<int> calls{0};
  start([&](std::vector<scheduler::attempt>&, const std::function<void()>& record) {
    ++calls;
    record();
  });
  sched_->submit(env);
  std::this_thread::sleep_for(100ms);
  EXPECT_EQ(calls.load(), 0);
  EXPECT_TRUE(fs::exists(dir_ / "active" / env.id));
}

}  // namespace
}  // namespace posthorn::queue
