#pragma once
// The session's world for tests: a real spool, a fixed clock, adjustable free space and
// memory limit, and a count of botched SASL exchanges.

#include <cstdint>
#include <filesystem>
#include <memory>
#include <random>
#include <string>
#include <string_view>

#include "queue/spool.hpp"
#include "smtp/server/session.hpp"

namespace posthorn::smtp::testing_support {

class test_env final : public session_env {
 public:
  explicit test_env(queue::spool& s) : spool_(s) {}
  std::string new_queue_id() override { return spool_.new_id(); }
  queue::message_writer begin_message(const std::string& id) override {
    return spool_.begin(id, memory_limit);
  }
  std::uint64_t free_space() override { return free; }
  std::int64_t now() override { return 1'800'000'000; }
  void auth_failure() override { ++auth_failures; }
  int auth_failures = 0;
  std::uint64_t free = 1'000'000'000'000ULL;
  std::size_t memory_limit = 256 * 1024;

 private:
  queue::spool& spool_;
};

// A spool in a fresh temp folder, with the test_env on it; the folder goes with it.
// Session fixtures hold one as their first member.
class temp_spool {
 public:
  explicit temp_spool(std::string_view tag) {
    std::random_device rd;
    dir_ = std::filesystem::temp_directory_path() /
           ("posthorn-" + std::string(tag) + "-" + std::to_string(rd()));
    std::filesystem::create_directories(dir_);
    spool_ = std::move(*queue::spool::open(dir_ / "spool"));
    env_ = std::make_unique<test_env>(*spool_);
  }
  ~temp_spool() {
    std::error_code ec;
    std::filesystem::remove_all(dir_, ec);
  }
  temp_spool(const temp_spool&) = delete;
  temp_spool& operator=(const temp_spool&) = delete;

  const std::filesystem::path& dir() const { return dir_; }
  queue::spool* spool() { return spool_.get(); }
  test_env* env() { return env_.get(); }

 private:
  std::filesystem::path dir_;
  std::unique_ptr<queue::spool> spool_;
  std::unique_ptr<test_env> env_;
};

}  // namespace posthorn::smtp::testing_support
