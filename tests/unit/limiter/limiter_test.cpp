// The AUTH failure limiter with a fake clock: delays, blocking, the sliding window,
// IPv6 /64 grouping, the memory bound and concurrent use.

#include "auth/limiter.hpp"

#include <gtest/gtest.h>

#include <atomic>
#include <thread>
#include <vector>

namespace posthorn::auth {
namespace {

using std::chrono::milliseconds;
using std::chrono::minutes;
using std::chrono::seconds;

class fake_clock {
 public:
  failure_limiter::clock_fn fn() {
    return [this] { return failure_limiter::clock::time_point(now_.load()); };
  }
  void advance(failure_limiter::clock::duration d) { now_ = now_.load() + d; }

 private:
  std::atomic<failure_limiter::clock::duration> now_{std::chrono::hours(1000)};
};

ip_address ip(std::string_view text) {
  const auto a = ip_address::parse(text);
  EXPECT_TRUE(a.has_value()) << text;
  return a.value_or(ip_address{});
}

TEST(FailureLimiter, NewClientIsNeitherDelayedNorBlocked) {
  fake_clock clock;
  const failure_limiter limiter({}, clock.fn());
  EXPECT_EQ(limiter.failures("192.0.2.1"), 0u);
  EXPECT_EQ(limiter.delay_before_reply("192.0.2.1"), milliseconds(0));
  EXPECT_FALSE(limiter.blocked("192.0.2.1"));
  EXPECT_EQ(limiter.tracked(), 0u);
}

TEST(FailureLimiter, DelayGrowsAndIsCapped) {
  fake_clock clock;
  failure_limiter limiter({.max_failures = 100}, clock.fn());
  const std::vector<milliseconds> expected{milliseconds(0), seconds(1), seconds(2), seconds(4),
                                           seconds(8),      seconds(8), seconds(8)};
  for (std::size_t i = 0; i < expected.size(); ++i) {
    limiter.record_failure("192.0.2.1");
    EXPECT_EQ(limiter.delay_before_reply("192.0.2.1"), expected[i]) << "failure " << i + 1;
  }
  EXPECT_EQ(limiter.delay_before_reply("192.0.2.2"), milliseconds(0));
}

TEST(FailureLimiter, BlockedAtMaxFailures) {
  fake_clock clock;
  failure_limiter limiter({.max_failures = 5}, clock.fn());
  for (int i = 0; i < 4; ++i) {
    limiter.record_failure("192.0.2.1");
    clock.advance(seconds(10));
  }
  EXPECT_FALSE(limiter.blocked("192.0.2.1"));
  limiter.record_failure("192.0.2.1");
  EXPECT_TRUE(limiter.blocked("192.0.2.1"));
  EXPECT_EQ(limiter.failures("192.0.2.1"), 5u);
  EXPECT_FALSE(limiter.blocked("192.0.2.10"));
}

TEST(FailureLimiter, WindowSlides) {
  fake_clock clock;
  failure_limiter limiter({.max_failures = 3, .window = minutes(15)}, clock.fn());
  limiter.record_failure("192.0.2.1");  // t = 0
  clock.advance(minutes(5));
  limiter.record_failure("192.0.2.1");  // t = 5m
  clock.advance(minutes(5));
  limiter.record_failure("192.0.2.1");  // t = 10m
  EXPECT_TRUE(limiter.blocked("192.0.2.1"));
  clock.advance(minutes(5));  // t = 15m: the first one has aged out
  EXPECT_FALSE(limiter.blocked("192.0.2.1"));
  EXPECT_EQ(limiter.failures("192.0.2.1"), 2u);
  EXPECT_EQ(limiter.delay_before_reply("192.0.2.1"), seconds(1));
  clock.advance(minutes(10));  // t = 25m: all gone
  EXPECT_EQ(limiter.failures("192.0.2.1"), 0u);
  EXPECT_EQ(limiter.delay_before_reply("192.0.2.1"), milliseconds(0));
}

TEST(FailureLimiter, ZeroMaxFailuresNeverBlocksButStillDelays) {
  fake_clock clock;
  failure_limiter limiter({.max_failures = 0}, clock.fn());
  for (int i = 0; i < 50; ++i) {
    limiter.record_failure("192.0.2.1");
  }
  EXPECT_FALSE(limiter.blocked("192.0.2.1"));
  EXPECT_EQ(limiter.delay_before_reply("192.0.2.1"), seconds(8));
}

TEST(FailureLimiter, KeepsFewTimesPerClient) {
  // Five failures are enough to know a client is blocked and at the 8s cap: more are
  // dropped, so a flood from one address costs no memory.
  fake_clock clock;
  failure_limiter limiter({.max_failures = 3}, clock.fn());
  for (int i = 0; i < 1000; ++i) {
    limiter.record_failure("192.0.2.1");
  }
  EXPECT_EQ(limiter.failures("192.0.2.1"), 5u);
  EXPECT_TRUE(limiter.blocked("192.0.2.1"));
  EXPECT_EQ(limiter.delay_before_reply("192.0.2.1"), seconds(8));
}

TEST(FailureLimiter, Ipv6CountsPerSlash64) {
  fake_clock clock;
  failure_limiter limiter({.max_failures = 3}, clock.fn());
  limiter.record_failure("2001:db8:1:2::1");
  limiter.record_failure(ip("2001:db8:1:2:ffff::9"));
  limiter.record_failure("2001:db8:1:2:abcd:ef01:2345:6789");
  EXPECT_TRUE(limiter.blocked("2001:db8:1:2::77"));
  EXPECT_TRUE(limiter.blocked(ip("2001:db8:1:2::78")));
  EXPECT_FALSE(limiter.blocked("2001:db8:1:3::1"));
  EXPECT_EQ(limiter.tracked(), 1u);
}

TEST(FailureLimiter, Ipv4IsPerAddressAndMappedFormsAgree) {
  fake_clock clock;
  failure_limiter limiter({.max_failures = 2}, clock.fn());
  limiter.record_failure("192.0.2.1");
  limiter.record_failure(ip("::ffff:192.0.2.1"));
  EXPECT_TRUE(limiter.blocked("192.0.2.1"));
  EXPECT_FALSE(limiter.blocked("192.0.2.2"));
}

TEST(FailureLimiter, MemoryIsBoundedOldestForgottenFirst) {
  fake_clock clock;
  failure_limiter limiter({.max_failures = 2, .max_tracked = 3}, clock.fn());
  for (const char* a : {"192.0.2.1", "192.0.2.2", "192.0.2.3"}) {
    limiter.record_failure(a);
    limiter.record_failure(a);
    clock.advance(seconds(1));
  }
  limiter.record_failure("192.0.2.1");  // now the most recent; .2 is the oldest
  limiter.record_failure("192.0.2.4");
  EXPECT_EQ(limiter.tracked(), 3u);
  EXPECT_TRUE(limiter.blocked("192.0.2.1"));
  EXPECT_FALSE(limiter.blocked("192.0.2.2"));
  EXPECT_TRUE(limiter.blocked("192.0.2.3"));
  EXPECT_EQ(limiter.failures("192.0.2.4"), 1u);
}

TEST(FailureLimiter, ExpiredClientsArePruned) {
  fake_clock clock;
  failure_limiter limiter({.window = minutes(15)}, clock.fn());
  limiter.record_failure("192.0.2.1");
  limiter.record_failure("192.0.2.2");
  clock.advance(minutes(16));
  limiter.record_failure("192.0.2.3");
  EXPECT_EQ(limiter.tracked(), 1u);
}

TEST(FailureLimiter, ReconfigureKeepsCounts) {
  fake_clock clock;
  failure_limiter limiter({.max_failures = 5}, clock.fn());
  limiter.record_failure("192.0.2.1");
  limiter.record_failure("192.0.2.1");
  EXPECT_FALSE(limiter.blocked("192.0.2.1"));
  limiter.reconfigure({.max_failures = 2});
  EXPECT_TRUE(limiter.blocked("192.0.2.1"));
}

TEST(FailureLimiter, TextThatIsNotAnAddressIsItsOwnKey) {
  fake_clock clock;
  failure_limiter limiter({.max_failures = 1}, clock.fn());
  limiter.record_failure("unix-socket");
  EXPECT_TRUE(limiter.blocked("unix-socket"));
  EXPECT_FALSE(limiter.blocked("192.0.2.1"));
}

TEST(FailureLimiter, DefaultClockWorks) {
  failure_limiter limiter({.max_failures = 1});
  limiter.record_failure("192.0.2.1");
  EXPECT_TRUE(limiter.blocked("192.0.2.1"));
}

TEST(FailureLimiter, ConcurrentUseCountsEveryFailure) {
  fake_clock clock;
  failure_limiter limiter({.max_failures = 100000, .max_tracked = 64}, clock.fn());
  std::vector<std::thread> threads;
  for (int t = 0; t < 4; ++t) {
    threads.emplace_back([&limiter, t] {
      for (int i = 0; i < 1000; ++i) {
        limiter.record_failure("192.0.2.1");
        limiter.record_failure("198.51.100." + std::to_string(t * 50 + i % 50));
        (void)limiter.blocked("192.0.2.1");
        (void)limiter.delay_before_reply("192.0.2.1");
      }
    });
  }
  for (auto& t : threads) {
    t.join();
  }
  EXPECT_EQ(limiter.failures("192.0.2.1"), 4000u);
  EXPECT_LE(limiter.tracked(), 64u);
}

}  // namespace
}  // namespace posthorn::auth
