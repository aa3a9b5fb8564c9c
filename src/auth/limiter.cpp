// The AUTH failure limiter: a sliding window of failure times per client, kept in an
// LRU list so that expired and least recently failing clients go first.

#include "auth/limiter.hpp"

#include <algorithm>
#include <utility>

namespace posthorn::auth {

namespace {

// Bytes of an IPv6 address that name its /64 network.
constexpr std::size_t k_v6_prefix_bytes = 8;

}  // namespace

failure_limiter::failure_limiter(limiter_settings settings, clock_fn now)
    : settings_(settings), now_(now ? std::move(now) : clock_fn([] { return clock::now(); })) {}

std::string failure_limiter::key_of(const ip_address& ip) {
  if (ip.v4()) {
    return ip.str();
  }
  ip_address net = ip;
  std::fill(net.bytes.begin() + k_v6_prefix_bytes, net.bytes.end(), std::uint8_t{0});
  return net.str() + "/64";
}

std::string failure_limiter::key_of(std::string_view text) {
  if (const auto ip = ip_address::parse(text)) {
    return key_of(*ip);
  }
  return std::string(text);
}

std::uint32_t failure_limiter::count_locked(const std::string& key, clock::time_point now) const {
  const auto it = entries_.find(key);
  if (it == entries_.end()) {
    return 0;
  }
  const auto& times = it->second.failures;
  const auto first_live = std::upper_bound(times.begin(), times.end(), now - settings_.window);
  return static_cast<std::uint32_t>(times.end() - first_live);
}

void failure_limiter::record_locked(std::string key, clock::time_point now) {
  prune_locked(now);
  auto it = entries_.find(key);
  if (it == entries_.end()) {
    recent_.push_front(key);
    it = entries_.emplace(std::move(key), entry{{}, recent_.begin()}).first;
  } else {
    recent_.splice(recent_.begin(), recent_, it->second.lru);
  }
  auto& times = it->second.failures;
  times.erase(times.begin(), std::upper_bound(times.begin(), times.end(), now - settings_.window));
  // A steady clock never goes back, but an injected one might: keep the list sorted.
  times.insert(std::upper_bound(times.begin(), times.end(), now), now);
  // Only the newest times decide: max_failures of them for blocking, and as many as it
  // takes the delay to reach its cap.
  const std::size_t keep = std::max<std::size_t>(settings_.max_failures, failures_to_cap());
  if (times.size() > keep) {
    times.erase(times.begin(), times.end() - static_cast<std::ptrdiff_t>(keep));
  }
  while (entries_.size() > std::max<std::size_t>(settings_.max_tracked, 1)) {
    entries_.erase(recent_.back());
    recent_.pop_back();
  }
}

std::size_t failure_limiter::failures_to_cap() const {
  std::size_t n = 2;
  for (auto d = settings_.first_delay; d < settings_.max_delay && d.count() > 0; d *= 2) {
    ++n;
  }
  return n;
}

void failure_limiter::prune_locked(clock::time_point now) {
  // recent_ is ordered by last failure, so whole entries expire from its back.
  while (!recent_.empty()) {
    const auto it = entries_.find(recent_.back());
    if (it != entries_.end() && !it->second.failures.empty() &&
        it->second.failures.back() > now - settings_.window) {
      break;
    }
    if (it != entries_.end()) {
      entries_.erase(it);
    }
    recent_.pop_back();
  }
}

void failure_limiter::record_failure(const ip_address& ip) {
  const std::lock_guard lock(mutex_);
  record_locked(key_of(ip), now_());
}

void failure_limiter::record_failure(std::string_view ip) {
  const std::lock_guard lock(mutex_);
  record_locked(key_of(ip), now_());
}

std::uint32_t failure_limiter::failures(const ip_address& ip) const {
  const std::lock_guard lock(mutex_);
  return count_locked(key_of(ip), now_());
}

std::uint32_t failure_limiter::failures(std::string_view ip) const {
  const std::lock_guard lock(mutex_);
  return count_locked(key_of(ip), now_());
}

bool failure_limiter::blocked(const ip_address& ip) const {
  const std::lock_guard lock(mutex_);
  return settings_.max_failures != 0 && count_locked(key_of(ip), now_()) >= settings_.max_failures;
}

bool failure_limiter::blocked(std::string_view ip) const {
  const std::lock_guard lock(mutex_);
  return settings_.max_failures != 0 && count_locked(key_of(ip), now_()) >= settings_.max_failures;
}

std::chrono::milliseconds failure_limiter::delay_locked(const std::string& key,
                                                        clock::time_point now) const {
  const std::uint32_t n = count_locked(key, now);
  if (n <= 1) {
    return std::chrono::milliseconds(0);
  }
  // first_delay * 2^(n-2), doubling only while below the cap so it cannot overflow.
  std::chrono::milliseconds d = settings_.first_delay;
  for (std::uint32_t i = 2; i < n && d < settings_.max_delay; ++i) {
    d *= 2;
  }
  return std::min(d, settings_.max_delay);
}

std::chrono::milliseconds failure_limiter::delay_before_reply(const ip_address& ip) const {
  const std::lock_guard lock(mutex_);
  return delay_locked(key_of(ip), now_());
}

std::chrono::milliseconds failure_limiter::delay_before_reply(std::string_view ip) const {
  const std::lock_guard lock(mutex_);
  return delay_locked(key_of(ip), now_());
}

void failure_limiter::reconfigure(limiter_settings settings) {
  const std::lock_guard lock(mutex_);
  settings_ = settings;
}

std::size_t failure_limiter::tracked() const {
  const std::lock_guard lock(mutex_);
  return entries_.size();
}

}  // namespace posthorn::auth
