#pragma once
// The session's world for tests: a real spool, a fixed clock, adjustable free space and
// memory limit, and a count of botched SASL exchanges.

#include <cstdint>
#include <string>

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

}  // namespace posthorn::smtp::testing_support
