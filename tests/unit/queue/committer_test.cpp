// The group committer: many sessions submit at once; each learns its own result and
// every acknowledged message is in the spool.

#include "queue/committer.hpp"

#include <gtest/gtest.h>

#include <atomic>
#include <latch>
#include <optional>
#include <set>
#include <thread>

#include "test_util.hpp"

namespace posthorn::queue {
namespace {

using test::temp_dir;

TEST(committer, many_threads_submitting_all_get_committed) {
  temp_dir tmp;
  auto s = spool::open(tmp.path());
  ASSERT_TRUE(s.has_value());
  constexpr int k_threads = 8;
  constexpr int k_each = 40;
  std::vector<envelope> envs(k_threads * k_each);
  std::atomic<int> ok{0};
  std::atomic<int> failed{0};
  std::latch done(k_threads * k_each);
  {
    committer c(**s);
    std::vector<std::thread> threads;
    for (int t = 0; t < k_threads; ++t) {
      threads.emplace_back([&, t] {
        for (int i = 0; i < k_each; ++i) {
          envelope& env = envs[static_cast<std::size_t>(t * k_each + i)];
          env = test::full_envelope((*s)->new_id());
          message_writer w = (*s)->begin(env.id, i % 3 == 0 ? 16 : 4096);
          w.append("Subject: thread " + std::to_string(t) + " message " + std::to_string(i) +
                   "\r\n\r\nbody\r\n");
          if (w.wants_spill()) {
            ASSERT_TRUE(w.spill().has_value());
          }
          c.submit(&env, std::move(w), [&](result<void> r) {
            (r ? ok : failed).fetch_add(1);
            done.count_down();
          });
        }
      });
    }
    for (auto& t : threads) {
      t.join();
    }
    done.wait();
  }
  EXPECT_EQ(ok.load(), k_threads * k_each);
  EXPECT_EQ(failed.load(), 0);
  auto recovered = (*s)->recover();
  ASSERT_TRUE(recovered.has_value());
  ASSERT_EQ(recovered->size(), envs.size());
  std::set<std::string> ids;
  for (const envelope& env : *recovered) {
    ids.insert(env.id);
  }
  for (const envelope& env : envs) {
    EXPECT_TRUE(ids.contains(env.id)) << env.id;
  }
}

TEST(committer, stop_commits_what_is_pending_then_refuses) {
  temp_dir tmp;
  auto s = spool::open(tmp.path());
  ASSERT_TRUE(s.has_value());
  std::vector<envelope> envs(100);
  std::atomic<int> ok{0};
  committer c(**s);
  for (envelope& env : envs) {
    env = test::full_envelope((*s)->new_id());
    message_writer w = (*s)->begin(env.id);
    w.append("x\r\n");
    c.submit(&env, std::move(w), [&](result<void> r) { ok += r ? 1 : 0; });
  }
  c.stop();
  EXPECT_EQ(ok.load(), 100);

  envelope late = test::full_envelope((*s)->new_id());
  message_writer w = (*s)->begin(late.id, 1);
  w.append("late");
  ASSERT_TRUE(w.spill().has_value());
  bool called = false;
  c.submit(&late, std::move(w), [&](result<void> r) {
    called = true;
    ASSERT_FALSE(r.has_value());
    EXPECT_EQ(r.error().enhanced, "4.3.0");
  });
  EXPECT_TRUE(called);
  EXPECT_TRUE(fs::is_empty(tmp.path() / "incoming"));
  c.stop();  // twice is fine
  auto recovered = (*s)->recover();
  ASSERT_TRUE(recovered.has_value());
  EXPECT_EQ(recovered->size(), 100u);
}

TEST(committer, each_submitter_gets_its_own_failure) {
  temp_dir tmp;
  auto s = spool::open(tmp.path());
  ASSERT_TRUE(s.has_value());
  envelope good = test::full_envelope((*s)->new_id());
  envelope bad = test::full_envelope("no/slashes");
  std::atomic<int> results{0};
  bool good_ok = false;
  bool bad_ok = true;
  std::latch done(2);
  committer c(**s);
  message_writer w1 = (*s)->begin(good.id);
  w1.append("good");
  message_writer w2;
  w2.append("bad");
  c.submit(&good, std::move(w1), [&](result<void> r) {
    good_ok = r.has_value();
    done.count_down();
  });
  c.submit(&bad, std::move(w2), [&](result<void> r) {
    bad_ok = r.has_value();
    done.count_down();
  });
  done.wait();
  EXPECT_TRUE(good_ok);
  EXPECT_FALSE(bad_ok);
}

// The session's path to the disk: an envelope without a recipient is refused with a temporary
// 4.3.0 (the client hears 451, never 250) and nothing reaches active/.
TEST(committer, an_envelope_without_recipients_is_refused) {
  temp_dir tmp;
  auto s = spool::open(tmp.path());
  ASSERT_TRUE(s.has_value());
  envelope empty = test::full_envelope((*s)->new_id());
  empty.recipients.clear();
  std::optional<result<void>> got;
  std::latch done(1);
  committer c(**s);
  message_writer w = (*s)->begin(empty.id);
  w.append("Subject: to nobody\r\n\r\nbody\r\n");
  c.submit(&empty, std::move(w), [&](result<void> r) {
    got = std::move(r);
    done.count_down();
  });
  done.wait();
  ASSERT_TRUE(got.has_value());
  ASSERT_FALSE(got->has_value());
  EXPECT_TRUE(got->error().temporary());
  EXPECT_EQ(got->error().enhanced, "4.3.0");
  EXPECT_TRUE(fs::is_empty(tmp.path() / "active"));
  EXPECT_TRUE(fs::is_empty(tmp.path() / "incoming"));
}

}  // namespace
}  // namespace posthorn::queue
