#pragma once
// The queue's observability (STYLE.md 10): the mail-log line and the metrics for what
// became of each recipient's delivery attempt, how long delivered mail waited, and how
// many messages the queue holds by state.
// Outcomes are counted where they are decided (local delivery, the remote agent, expiry
// in the scheduler), once per recipient and attempt.

#include <cstdint>
#include <string_view>

#include "common/metrics.hpp"
#include "queue/envelope.hpp"

namespace posthorn::queue {

class scheduler;

enum class delivery_outcome { Sent, Deferred, Bounced, Expired };

// The outcome a recipient's status stands for (after an attempt).
delivery_outcome outcome_of(rcpt_status s);

// One recipient's outcome, recorded once where it is decided: the mail-log line of
// DESIGN.md §4.5 (`id=... from=<...> to=<...> relay=... delay=... dsn=... status=...
// reply="..."`) and the deliveries counter; `now - env.arrival` goes into the delay
// histogram for delivered recipients. `relay` is "local", "host[addr]:port" or "".
void note_delivery(const envelope& env, const recipient& r, delivery_outcome o,
                   std::string_view relay, std::int64_t now);

// Shows the scheduler's message counts by state (active, deferred, held) at scrape time
// for as long as the returned handle lives; destroy it before the scheduler.
[[nodiscard]] metrics::registration expose_queue_size(const scheduler& s);

}  // namespace posthorn::queue
