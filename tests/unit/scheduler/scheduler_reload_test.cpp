// scheduler::set_config (a SIGHUP reload): the next retry, delay warning and expiry are
// reckoned with the new [queue] values.

#include "queue/scheduler.hpp"
#include "spool_fixture.hpp"

#include <gtest/gtest.h>

#include <atomic>
#include <filesystem>
#include <mutex>
#include <random>
#include <thread>
#include <vector>

namespace posthorn::queue {
namespace {

namespace fs = std::filesystem;
using namespace std::chrono_literals;

class SchedulerReloadTest : public testing_support::spool_fixture {
 protected:
  SchedulerReloadTest() : spool_fixture("sched-reload") { cfg_.retry = {std::chrono::seconds(60)}; }

  // Every attempt defers the recipient.
  void start() {
    sched_ = std::make_unique<scheduler>(
        *spool_, cfg_,
        [this](std::vector<scheduler::attempt>& batch, const std::function<void()>& record) {
          ++attempts_;
          for (auto& a : batch) {
            a.env->recipients[0].attempts++;
            a.env->recipients[0].status = rcpt_status::Deferred;
            a.env->recipients[0].last_reply = "451 4.3.0 try later";
          }
          record();
        },
        2, [this] { return now_.load(); }, scheduler::remote_fn{},
        [this](const envelope& env, const message_reader&, report_kind kind,
               const std::vector<std::size_t>& rcpts) -> result<void> {
          std::lock_guard lock(mu_);
          reports_.push_back(report{env, kind, rcpts});
          return {};
        });
  }

  // A delivery status notification the scheduler asked for.
  struct report {
    envelope env;
    report_kind kind;
    std::vector<std::size_t> rcpts;
  };
  std::vector<report> reports() {
    std::lock_guard lock(mu_);
    return reports_;
  }

  std::optional<recipient> stored(const std::string& id) {
    auto e = spool_->load(id);
    return e ? std::optional<recipient>(e->recipients[0]) : std::nullopt;
  }

  std::atomic<int> attempts_{0};
  std::mutex mu_;
  std::vector<report> reports_;
};

TEST_F(SchedulerReloadTest, NextRetryUsesTheReloadedIntervals) {
  envelope env = commit_one();
  start();
  sched_->submit(env);
  ASSERT_TRUE(eventually([&] {
    auto r = stored(env.id);
    return r && r->status == rcpt_status::Deferred && r->next_attempt == 1'000'060;
  }));
  config::queue_config reloaded = cfg_;
  reloaded.retry = {std::chrono::seconds(300)};
  sched_->set_config(reloaded);
  now_ += 60;
  sched_->poke();
  // The wait already scheduled stands; the one after it is the new interval.
  ASSERT_TRUE(eventually([&] {
    auto r = stored(env.id);
    return attempts_.load() == 2 && r && r->next_attempt == 1'000'060 + 300;
  }));
}

TEST_F(SchedulerReloadTest, AShorterMaxLifetimeExpiresAtTheNextAttempt) {
  envelope env = commit_one();
  start();
  sched_->submit(env);
  ASSERT_TRUE(eventually([&] { return attempts_.load() == 1; }));
  config::queue_config reloaded = cfg_;
  reloaded.max_lifetime = std::chrono::seconds(30);
  sched_->set_config(reloaded);
  now_ += 60;
  sched_->poke();
  ASSERT_TRUE(eventually([&] { return sched_->size() == 0; }));
  EXPECT_FALSE(stored(env.id).has_value());  // gone from the spool
  // Given up as 4.4.7 (RFC 3463 §3.5), and the sender is told: one failure report about
  // this recipient, asked for before the message left the spool.
  const auto r = reports();
  ASSERT_EQ(r.size(), 1u);
  EXPECT_EQ(r[0].kind, report_kind::Failure);
  EXPECT_EQ(r[0].env.id, env.id);
  EXPECT_EQ(r[0].rcpts, std::vector<std::size_t>{0});
  ASSERT_EQ(r[0].env.recipients.size(), 1u);
  EXPECT_EQ(r[0].env.recipients[0].status, rcpt_status::Failed);
  EXPECT_TRUE(r[0].env.recipients[0].last_reply.starts_with("4.4.7 message expired"))
      << r[0].env.recipients[0].last_reply;
}

}  // namespace
}  // namespace posthorn::queue
