// The scheduler's administration (posthorn queue): flush, hold, release, delete, the
// listing and the counts, with a real spool, a fake delivery and a clock the test moves.

#include <gtest/gtest.h>

#include <algorithm>
#include <atomic>
#include <filesystem>
#include <mutex>
#include <random>
#include <string>
#include <thread>
#include <vector>

#include "queue/scheduler.hpp"
#include "spool_fixture.hpp"

namespace posthorn::queue {
namespace {

namespace fs = std::filesystem;
using namespace std::chrono_literals;
using outcome = scheduler::admin_outcome;

class SchedulerAdminTest : public testing_support::spool_fixture {
 protected:
  SchedulerAdminTest() : spool_fixture("sched-admin") { cfg_.retry = {std::chrono::seconds(3600)}; }
  void TearDown() override {
    gate_ = true;
    spool_fixture::TearDown();
  }

  // Delivery that defers every recipient until `accept_` is set, and waits for `gate_`
  // (so a test can act while a message is out for delivery).
  void start() {
    sched_ = std::make_unique<scheduler>(
        *spool_, cfg_,
        [this](std::vector<scheduler::attempt>& batch, const std::function<void()>& record) {
          ++in_flight_;
          while (!gate_.load()) {
            std::this_thread::sleep_for(1ms);
          }
          for (auto& a : batch) {
            ++attempts_;
            {
              std::lock_guard lock(attempted_mu_);
              attempted_.push_back(a.env->id);
            }
            for (recipient& r : a.env->recipients) {
              ++r.attempts;
              if (accept_.load()) {
                r.status = rcpt_status::Delivered;
              } else {
                r.status = rcpt_status::Deferred;
                r.last_reply = "451 4.3.0 try later";
              }
            }
          }
          record();
          --in_flight_;
        },
        2, [this] { return now_.load(); });
  }

  // Submits a message and waits until its first attempt deferred it and it is back.
  envelope deferred_message() {
    envelope env = commit_one();
    int before = attempts_.load();
    sched_->submit(env);
    EXPECT_TRUE(eventually([&] { return attempts_.load() == before + 1 && in_flight_ == 0; }));
    EXPECT_TRUE(eventually([&] {
      auto c = sched_->counts();
      return c.active == 0;
    }));
    return env;
  }

  // How many attempts the message had in this run.
  int attempts_of(const std::string& id) {
    std::lock_guard lock(attempted_mu_);
    return static_cast<int>(std::ranges::count(attempted_, id));
  }

  // Proves a negative ("nothing more was attempted") without sleeping: a new message,
  // due now, goes through one attempt. The scheduler takes everything due at once, up to
  // a batch, in order of due time; so anything due by now (a message wrongly made due, a
  // stale heap item) has been attempted by the time the sentinel's attempt is over. The
  // sentinel is then deleted, so that sizes and counts stay as they were.
  void settle() {
    const std::size_t size_before = sched_->size();
    envelope sentinel = commit_one();
    for (recipient& r : sentinel.recipients) {
      r.next_attempt = now_.load();
    }
    sched_->submit(sentinel);
    ASSERT_TRUE(eventually([&] { return attempts_of(sentinel.id) == 1 && in_flight_ == 0; }));
    ASSERT_TRUE(eventually([&] {
      auto l = sched_->find(sentinel.id);
      return !l || !l->attempting;
    }));
    (void)sched_->delete_message(sentinel.id);
    ASSERT_TRUE(eventually([&] { return !sched_->find(sentinel.id).has_value(); }));
    ASSERT_TRUE(eventually([&] { return sched_->size() == size_before; }));
  }

  bool held_on_disk(const std::string& id) {
    auto e = spool_->load(id);
    return e && e->held;
  }

  std::atomic<bool> gate_{true};
  std::atomic<bool> accept_{false};
  std::atomic<int> attempts_{0};
  std::atomic<int> in_flight_{0};
  std::mutex attempted_mu_;
  std::vector<std::string> attempted_;  // ids, in the order attempted
};

TEST_F(SchedulerAdminTest, FlushMakesADeferredMessageDueNow) {
  start();
  envelope env = deferred_message();
  settle();
  EXPECT_EQ(attempts_of(env.id), 1);  // the retry is an hour away
  accept_ = true;
  EXPECT_EQ(sched_->flush(env.id), outcome::Done);
  ASSERT_TRUE(eventually([&] { return sched_->size() == 0; }));
  EXPECT_EQ(attempts_of(env.id), 2);
  EXPECT_FALSE(fs::exists(dir_ / "active" / env.id));
}

TEST_F(SchedulerAdminTest, FlushAllTakesEveryMessageButHeldOnes) {
  start();
  envelope a = deferred_message();
  envelope b = deferred_message();
  envelope c = deferred_message();
  ASSERT_EQ(sched_->hold(c.id), outcome::Done);
  accept_ = true;
  EXPECT_EQ(sched_->flush_all(), 2u);
  ASSERT_TRUE(eventually([&] { return sched_->size() == 1; }));
  EXPECT_EQ(sched_->flush(c.id), outcome::Unchanged);
  EXPECT_EQ(sched_->flush("nosuchid"), outcome::NotFound);
  settle();
  EXPECT_EQ(attempts_of(c.id), 1);
  EXPECT_EQ(sched_->size(), 1u);
  EXPECT_TRUE(fs::exists(dir_ / "active" / c.id));
}

TEST_F(SchedulerAdminTest, HeldMessageIsNeverAttemptedAndTheHoldIsDurable) {
  start();
  envelope env = deferred_message();
  ASSERT_EQ(sched_->hold(env.id), outcome::Done);
  EXPECT_TRUE(held_on_disk(env.id));
  EXPECT_EQ(sched_->hold(env.id), outcome::Unchanged);
  auto c = sched_->counts();
  EXPECT_EQ(c.held, 1u);
  EXPECT_EQ(c.deferred, 0u);
  // Past its retry time, past the expiry even: a held message waits.
  now_ += 7200;
  sched_->poke();
  settle();
  EXPECT_EQ(attempts_of(env.id), 1);
  auto listed = sched_->find(env.id);
  ASSERT_TRUE(listed.has_value());
  EXPECT_TRUE(listed->env.held);
  EXPECT_FALSE(listed->attempting);
}

TEST_F(SchedulerAdminTest, HeldMessageWithADueRecipientIsNotBusyLooped) {
  // A recovered held message whose deferred recipient is overdue: it must stay off the
  // heap, not be taken up and put back over and over.
  envelope env = commit_one();
  env.recipients[0].status = rcpt_status::Deferred;
  env.recipients[0].next_attempt = now_.load() - 10;
  env.held = true;
  ASSERT_TRUE(spool_->update(env).has_value());
  start();
  sched_->submit(env);
  settle();
  EXPECT_EQ(attempts_of(env.id), 0);
  EXPECT_EQ(sched_->counts().held, 1u);
}

TEST_F(SchedulerAdminTest, ReleaseMakesTheMessageDueNow) {
  start();
  envelope env = deferred_message();
  ASSERT_EQ(sched_->hold(env.id), outcome::Done);
  EXPECT_EQ(sched_->release("nosuchid").value(), outcome::NotFound);
  accept_ = true;
  ASSERT_EQ(sched_->release(env.id), outcome::Done);
  ASSERT_TRUE(eventually([&] { return sched_->size() == 0; }));
  EXPECT_EQ(attempts_.load(), 2);
  EXPECT_EQ(sched_->release(env.id).value(), outcome::NotFound);
}

TEST_F(SchedulerAdminTest, ReleaseOfAMessageNotHeldChangesNothing) {
  start();
  envelope env = deferred_message();
  EXPECT_EQ(sched_->release(env.id).value(), outcome::Unchanged);
  EXPECT_FALSE(held_on_disk(env.id));
  settle();
  EXPECT_EQ(attempts_of(env.id), 1);
}

TEST_F(SchedulerAdminTest, HoldSurvivesARestart) {
  start();
  envelope env = deferred_message();
  ASSERT_EQ(sched_->hold(env.id), outcome::Done);
  sched_.reset();

  auto recovered = spool_->recover();
  ASSERT_TRUE(recovered.has_value());
  ASSERT_EQ(recovered->size(), 1u);
  EXPECT_TRUE((*recovered)[0].held);
  start();
  sched_->submit(std::move((*recovered)[0]));
  now_ += 7200;
  sched_->poke();
  settle();
  EXPECT_EQ(attempts_of(env.id), 1);  // the one before the restart only
  EXPECT_EQ(sched_->counts().held, 1u);
  accept_ = true;
  ASSERT_EQ(sched_->release(env.id), outcome::Done);
  ASSERT_TRUE(eventually([&] { return sched_->size() == 0; }));
}

TEST_F(SchedulerAdminTest, DeleteRemovesTheMessageForGood) {
  start();
  envelope env = deferred_message();
  ASSERT_EQ(sched_->delete_message(env.id), outcome::Done);
  EXPECT_FALSE(fs::exists(dir_ / "active" / env.id));
  EXPECT_EQ(sched_->size(), 0u);
  EXPECT_EQ(sched_->delete_message(env.id).value(), outcome::NotFound);
  now_ += 7200;
  sched_->poke();
  settle();
  EXPECT_EQ(attempts_of(env.id), 1);  // its stale heap item went nowhere
}

TEST_F(SchedulerAdminTest, DeleteAllRemovesHeldAndDeferredMessages) {
  start();
  envelope a = deferred_message();
  envelope b = deferred_message();
  ASSERT_EQ(sched_->hold(b.id), outcome::Done);
  auto c = sched_->delete_all();
  EXPECT_EQ(c.deleted, 2u);
  EXPECT_EQ(c.later, 0u);
  EXPECT_EQ(c.failed, 0u);
  EXPECT_EQ(sched_->size(), 0u);
  auto left = spool_->recover();
  ASSERT_TRUE(left.has_value());
  EXPECT_TRUE(left->empty());
}

TEST_F(SchedulerAdminTest, HoldOfAMessageOutForDeliveryIsAppliedWhenTheAttemptEnds) {
  start();
  gate_ = false;
  envelope env = commit_one();
  sched_->submit(env);
  ASSERT_TRUE(eventually([&] { return in_flight_ == 1; }));
  // While out for delivery it is listed from the spool and counted active.
  auto list = sched_->snapshot();
  ASSERT_EQ(list.size(), 1u);
  EXPECT_TRUE(list[0].attempting);
  EXPECT_EQ(list[0].env.id, env.id);
  EXPECT_EQ(sched_->counts().active, 1u);

  EXPECT_EQ(sched_->hold(env.id), outcome::Later);
  gate_ = true;
  ASSERT_TRUE(eventually([&] { return held_on_disk(env.id); }));
  ASSERT_TRUE(eventually([&] { return sched_->counts().held == 1; }));
  now_ += 7200;
  sched_->poke();
  settle();
  EXPECT_EQ(attempts_of(env.id), 1);
}

TEST_F(SchedulerAdminTest, ReleaseCancelsAHoldNotYetApplied) {
  start();
  gate_ = false;
  envelope env = commit_one();
  sched_->submit(env);
  ASSERT_TRUE(eventually([&] { return in_flight_ == 1; }));
  EXPECT_EQ(sched_->hold(env.id), outcome::Later);
  EXPECT_EQ(sched_->release(env.id), outcome::Done);
  gate_ = true;
  ASSERT_TRUE(eventually([&] { return sched_->counts().deferred == 1; }));
  EXPECT_FALSE(held_on_disk(env.id));
}

TEST_F(SchedulerAdminTest, DeleteOfAMessageOutForDeliveryIsAppliedWhenTheAttemptEnds) {
  start();
  gate_ = false;
  envelope env = commit_one();
  sched_->submit(env);
  ASSERT_TRUE(eventually([&] { return in_flight_ == 1; }));
  EXPECT_EQ(sched_->delete_message(env.id), outcome::Later);
  EXPECT_TRUE(fs::exists(dir_ / "active" / env.id));
  gate_ = true;
  ASSERT_TRUE(eventually([&] { return sched_->size() == 0; }));
  EXPECT_FALSE(fs::exists(dir_ / "active" / env.id));
  EXPECT_FALSE(fs::exists(dir_ / "status" / env.id));
}

TEST_F(SchedulerAdminTest, FlushOfAMessageOutForDeliveryRetriesItRightAfter) {
  start();
  gate_ = false;
  envelope env = commit_one();
  sched_->submit(env);
  ASSERT_TRUE(eventually([&] { return in_flight_ == 1; }));
  EXPECT_EQ(sched_->flush(env.id), outcome::Later);
  gate_ = true;
  ASSERT_TRUE(eventually([&] { return attempts_.load() == 2; }));
}

TEST_F(SchedulerAdminTest, RepeatedFlushesLeaveOneLiveSchedule) {
  // Each flush and attempt leaves the previous retry item behind in the heap (stale);
  // past ~1024 of them the heap is rebuilt. Either way, when the retry time comes the
  // message is attempted once, not once per item.
  start();
  envelope env = deferred_message();
  constexpr int k_flushes = 1100;
  for (int i = 0; i < k_flushes; ++i) {
    const int before = attempts_.load();
    ASSERT_NE(sched_->flush(env.id), outcome::NotFound);
    for (int spin = 0; spin < 20000 && attempts_.load() == before; ++spin) {
      std::this_thread::sleep_for(100us);
    }
    ASSERT_EQ(attempts_.load(), before + 1) << "flush " << i;
  }
  ASSERT_TRUE(eventually([&] { return sched_->counts().deferred == 1; }));
  const int before = attempts_.load();
  now_ += 3600;
  sched_->poke();
  ASSERT_TRUE(eventually([&] { return attempts_.load() == before + 1; }));
  settle();
  EXPECT_EQ(attempts_of(env.id), before + 1);
}

TEST_F(SchedulerAdminTest, CountsAndSnapshotShowEveryState) {
  start();
  envelope deferred = deferred_message();
  envelope held = deferred_message();
  ASSERT_EQ(sched_->hold(held.id), outcome::Done);
  gate_ = false;
  envelope active = commit_one();
  sched_->submit(active);
  ASSERT_TRUE(eventually([&] { return in_flight_ == 1; }));
  auto c = sched_->counts();
  EXPECT_EQ(c.active, 1u);
  EXPECT_EQ(c.deferred, 1u);
  EXPECT_EQ(c.held, 1u);
  auto list = sched_->snapshot();
  ASSERT_EQ(list.size(), 3u);
  EXPECT_EQ(list[0].env.id, deferred.id);  // oldest first
  EXPECT_EQ(list[0].env.recipients[0].status, rcpt_status::Deferred);
  EXPECT_EQ(list[0].env.recipients[0].last_reply, "451 4.3.0 try later");
  EXPECT_TRUE(list[1].env.held);
  EXPECT_TRUE(list[2].attempting);
  EXPECT_FALSE(sched_->find("nosuchid").has_value());
  gate_ = true;
}

}  // namespace
}  // namespace posthorn::queue
