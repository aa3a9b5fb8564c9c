#pragma once
// The queue's metrics (STYLE.md 10): what became of each recipient's delivery attempt,
// how long delivered mail waited, and how many messages the queue holds by state.
// Outcomes are counted where they are decided (local delivery, the remote agent, expiry
// in the scheduler), once per recipient and attempt.

#include <cstdint>

#include "common/metrics.hpp"

namespace posthorn::queue {

class scheduler;

enum class delivery_outcome { Sent, Deferred, Bounced, Expired };

// Counts one recipient's outcome; `delay` is the time since the message arrived
// (seconds), observed in the delay histogram for delivered recipients.
void count_delivery(delivery_outcome o, std::int64_t delay);

// Shows the scheduler's message counts by state (active, deferred, held) at scrape time
// for as long as the returned handle lives; destroy it before the scheduler.
[[nodiscard]] metrics::registration expose_queue_size(const scheduler& s);

}  // namespace posthorn::queue
