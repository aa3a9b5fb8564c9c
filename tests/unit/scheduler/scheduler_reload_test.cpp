// scheduler::set_config (a SIGHUP reload): the next retry, delay warning and expiry are
// reckoned with the new [queue] values.

#include "queue/scheduler.hpp"

#include <gtest/gtest.h>

#include <atomic>
#include <filesystem>
#include <random>
#include <thread>

namespace posthorn::queue {
namespace {

namespace fs = std::filesystem;
using namespace std::chrono_literals;

class SchedulerReloadTest : public testing::Test {
 protected:
  void SetUp() override {
    std::random_device rd;
    dir_ = fs::temp_directory_path() / ("posthorn-sched-reload-" + std::to_string(rd()));
    spool_ = std::move(*spool::open(dir_));
    cfg_.retry = {std::chrono::seconds(60)};
  }
  void TearDown() override {
    sched_.reset();
    fs::remove_all(dir_);
  }

  envelope commit_one() {
    envelope env;
    env.id = spool_->new_id();
    env.sender = {"a", "remote.test"};
    env.arrival = now_.load();
    env.recipients.push_back(recipient{.address = {"u", "example.test"}});
    auto w = spool_->begin(env.id);
    w.append("Subject: x\r\n\r\nbody\r\n");
    EXPECT_TRUE(spool_->commit(env, std::move(w)).has_value());
    return env;
  }

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
        2, [this] { return now_.load(); });
  }

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

  std::optional<recipient> stored(const std::string& id) {
    auto e = spool_->load(id);
    return e ? std::optional<recipient>(e->recipients[0]) : std::nullopt;
  }

  fs::path dir_;
  std::unique_ptr<spool> spool_;
  config::queue_config cfg_;
  std::atomic<std::int64_t> now_{1'000'000};
  std::atomic<int> attempts_{0};
  std::unique_ptr<scheduler> sched_;
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
  EXPECT_FALSE(stored(env.id).has_value());  // failed (4.4.7) and gone from the spool
}

}  // namespace
}  // namespace posthorn::queue
