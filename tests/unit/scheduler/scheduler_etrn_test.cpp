// ETRN's side of the scheduler: flush_domain() makes due now the messages whose remote
// recipients wait in one domain (or below it), and only those. Real spool, fake remote
// delivery, a clock that does not move (so no retry comes due by itself).

#include <gtest/gtest.h>

#include <map>
#include <mutex>

#include "queue/scheduler.hpp"
#include "spool_fixture.hpp"

namespace posthorn::queue {
namespace {

class SchedulerEtrnTest : public testing_support::spool_fixture {
 protected:
  SchedulerEtrnTest() : spool_fixture("sched-etrn") { cfg_.retry = {std::chrono::seconds(3600)}; }

  void start() {
    sched_ = std::make_unique<scheduler>(
        *spool_, cfg_,
        [](std::vector<scheduler::attempt>& batch, const std::function<void()>& record) {
          for (auto& a : batch) {
            for (recipient& r : a.env->recipients) {
              if (r.local && r.status == rcpt_status::Pending) {
                ++r.attempts;
                r.status = rcpt_status::Delivered;
              }
            }
          }
          record();
        },
        2, [this] { return now_.load(); },
        [this](std::vector<scheduler::remote_attempt>& batch, std::function<void()> done) {
          for (auto& a : batch) {
            for (std::size_t i : a.rcpts) {
              recipient& r = a.env->recipients[i];
              ++r.attempts;
              {
                std::lock_guard lock(mu_);
                ++tried_[r.address.str()];
              }
              if (accept_.load()) {
                r.status = rcpt_status::Delivered;
              } else {
                r.status = rcpt_status::Deferred;
                r.last_reply = "451 4.4.4 we are the best MX; waiting";
              }
            }
          }
          done();
        });
  }

  int tried(const std::string& address) {
    std::lock_guard lock(mu_);
    auto it = tried_.find(address);
    return it == tried_.end() ? 0 : it->second;
  }

  // A committed message to these recipients (remote unless in example.test), submitted
  // and back in the queue after its first attempt deferred it.
  envelope deferred_to(std::vector<mail::address> rcpts) {
    envelope env;
    env.id = spool_->new_id();
    env.sender = {"a", "sender.test"};
    env.arrival = now_.load();
    for (mail::address& a : rcpts) {
      const bool local = a.domain == "example.test";
      env.recipients.push_back(recipient{.address = std::move(a), .local = local});
    }
    auto w = spool_->begin(env.id);
    w.append("Subject: x\r\n\r\nbody\r\n");
    EXPECT_TRUE(spool_->commit(env, std::move(w)).has_value());
    sched_->submit(env);
    EXPECT_TRUE(eventually([&] {
      for (const recipient& r : env.recipients) {
        if (!r.local && tried(r.address.str()) == 0) {
          return false;
        }
      }
      return sched_->counts().active == 0;
    }));
    return env;
  }

  std::mutex mu_;
  std::map<std::string, int> tried_;
  std::atomic<bool> accept_{false};
};

TEST_F(SchedulerEtrnTest, FlushDomainStartsOnlyThatDomainsMessages) {
  start();
  deferred_to({{"a", "relay.test"}});
  deferred_to({{"b", "sub.relay.test"}});
  deferred_to({{"c", "other.test"}});
  deferred_to({{"d", "relay.test"}, {"e", "other.test"}});

  EXPECT_EQ(sched_->flush_domain("Relay.Test.", false), 2u);
  ASSERT_TRUE(eventually([&] { return tried("a@relay.test") == 2 && tried("d@relay.test") == 2; }));
  ASSERT_TRUE(eventually([&] { return sched_->counts().active == 0; }));
  EXPECT_EQ(tried("b@sub.relay.test"), 1);
  EXPECT_EQ(tried("c@other.test"), 1);
  // The whole message is due: its other deferred recipient is tried along.
  EXPECT_EQ(tried("e@other.test"), 2);

  EXPECT_EQ(sched_->flush_domain("nothing.test", false), 0u);
  EXPECT_EQ(sched_->flush_domain("lay.test", true), 0u);  // a suffix is not a parent
}

TEST_F(SchedulerEtrnTest, FlushDomainWithSubdomainsTakesTheWholeSubtree) {
  start();
  deferred_to({{"a", "relay.test"}});
  deferred_to({{"b", "deep.sub.relay.test"}});
  deferred_to({{"c", "other.test"}});
  accept_ = true;
  EXPECT_EQ(sched_->flush_domain("relay.test", true), 2u);
  ASSERT_TRUE(eventually([&] { return sched_->size() == 1; }));
  EXPECT_EQ(tried("a@relay.test"), 2);
  EXPECT_EQ(tried("b@deep.sub.relay.test"), 2);
  EXPECT_EQ(tried("c@other.test"), 1);
  EXPECT_EQ(sched_->flush_domain("relay.test", true), 0u);  // delivered: nothing waits
}

TEST_F(SchedulerEtrnTest, HeldMessagesAndLocalRecipientsAreNotStarted) {
  start();
  envelope held = deferred_to({{"a", "relay.test"}});
  ASSERT_EQ(sched_->hold(held.id), scheduler::admin_outcome::Done);
  EXPECT_EQ(sched_->flush_domain("relay.test", false), 0u);
  // A local recipient (delivered here) is not the remote queue of its domain.
  deferred_to({{"u", "example.test"}, {"f", "other.test"}});
  EXPECT_EQ(sched_->flush_domain("example.test", false), 0u);
  EXPECT_EQ(tried("a@relay.test"), 1);
}

}  // namespace
}  // namespace posthorn::queue
