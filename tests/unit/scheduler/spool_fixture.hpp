#pragma once
// What the scheduler tests share: a real spool in a temp folder, a clock the test moves,
// a committed message, and a bounded wait for what other threads do.

#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <filesystem>
#include <random>
#include <string>
#include <thread>

#include "queue/scheduler.hpp"

namespace posthorn::queue::testing_support {

class spool_fixture : public testing::Test {
 protected:
  explicit spool_fixture(std::string name) : name_(std::move(name)) {}

  void SetUp() override {
    std::random_device rd;
    dir_ = std::filesystem::temp_directory_path() /
           ("posthorn-" + name_ + "-" + std::to_string(rd()));
    spool_ = std::move(*spool::open(dir_));
  }
  void TearDown() override {
    sched_.reset();
    std::filesystem::remove_all(dir_);
  }

  // A committed message from a@remote.test to one recipient (local unless `remote`).
  envelope commit_one(bool remote = false) {
    envelope env;
    env.id = spool_->new_id();
    env.sender = {"a", "remote.test"};
    env.arrival = now_.load();
    env.recipients.push_back(recipient{.address = remote ? mail::address{"u", "remote.test"}
                                                          : mail::address{"u", "example.test"},
                                       .local = !remote});
    auto w = spool_->begin(env.id);
    w.append("Subject: x\r\n\r\nbody\r\n");
    EXPECT_TRUE(spool_->commit(env, std::move(w)).has_value());
    return env;
  }

  // Polls `pred` for up to 5 s (what another thread does is waited for, never timed).
  template <class P>
  bool eventually(P pred) {
    for (int i = 0; i < 500; ++i) {
      if (pred()) {
        return true;
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(10));
    }
    return pred();
  }

  std::string name_;
  std::filesystem::path dir_;
  std::unique_ptr<spool> spool_;
  config::queue_config cfg_;
  std::atomic<std::int64_t> now_{1'000'000};
  std::unique_ptr<scheduler> sched_;
};

}  // namespace posthorn::queue::testing_support
