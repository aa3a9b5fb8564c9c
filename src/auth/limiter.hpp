#pragma once
// Brute-force defence for AUTH: failed attempts are counted per client address in a
// sliding window. Each failure makes the next failure reply wait longer (0, 1s, 2s, 4s,
// then 8s), and a client with `max_failures` failures in the window is blocked: the
// session answers 421 4.7.0 and closes until the oldest of them ages out.
//
// Pure logic with an injectable clock (STYLE.md: time is injectable), safe to share
// between threads, memory bounded: beyond `max_tracked` addresses the one whose last
// failure is oldest is forgotten.
//
// IPv6 clients are counted per /64: one subscriber usually holds a whole /64 and could
// otherwise rotate addresses to get a fresh budget for every guess.

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <list>
#include <mutex>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "common/cidr.hpp"

namespace posthorn::auth {

struct limiter_settings {
  std::uint32_t max_failures = 5;                          // in `window`: blocked (0 = never)
  std::chrono::seconds window = std::chrono::minutes(15);  // [auth] failure_window
  std::size_t max_tracked = 16384;                         // addresses (IPv6: /64s) remembered
  std::chrono::milliseconds first_delay = std::chrono::seconds(1);  // after the 2nd failure
  std::chrono::milliseconds max_delay = std::chrono::seconds(8);
};

class failure_limiter {
 public:
  using clock = std::chrono::steady_clock;
  using clock_fn = std::function<clock::time_point()>;

  // `now` defaults to std::chrono::steady_clock::now.
  explicit failure_limiter(limiter_settings settings, clock_fn now = {});

  // Counts one failed AUTH (bad credentials, or an exchange the client botched).
  void record_failure(const ip_address& ip);
  // How long to hold back the reply to a failed AUTH, given the failures in the window
  // (the one just recorded included): 0 for the first, then first_delay doubling per
  // failure up to max_delay. Successful logins are answered at once.
  std::chrono::milliseconds delay_before_reply(const ip_address& ip) const;
  // True when the client has max_failures failures in the window: answer 421 4.7.0 and
  // close, before running any more AUTH exchange.
  bool blocked(const ip_address& ip) const;
  // Failures of this client inside the window, counted up to max(max_failures, the
  // failures that bring the delay to its cap): older ones are not kept.
  std::uint32_t failures(const ip_address& ip) const;

  // The same for a textual address (peer_info::addr); text that is not an IP address is
  // counted under its own spelling.
  void record_failure(std::string_view ip);
  std::chrono::milliseconds delay_before_reply(std::string_view ip) const;
  bool blocked(std::string_view ip) const;
  std::uint32_t failures(std::string_view ip) const;

  // New settings (config reload); the counts so far are kept.
  void reconfigure(limiter_settings settings);
  // Clients currently remembered (for tests and metrics).
  std::size_t tracked() const;

 private:
  struct entry {
    std::vector<clock::time_point> failures;  // ascending; only the newest few are kept
    std::list<std::string>::iterator lru;     // position in recent_
  };

  static std::string key_of(const ip_address& ip);
  static std::string key_of(std::string_view text);
  std::uint32_t count_locked(const std::string& key, clock::time_point now) const;
  std::chrono::milliseconds delay_locked(const std::string& key, clock::time_point now) const;
  void record_locked(std::string key, clock::time_point now);
  void prune_locked(clock::time_point now);
  std::size_t failures_to_cap() const;

  mutable std::mutex mutex_;
  limiter_settings settings_;
  clock_fn now_;
  std::unordered_map<std::string, entry> entries_;
  std::list<std::string> recent_;  // keys, most recent failure first
};

}  // namespace posthorn::auth
