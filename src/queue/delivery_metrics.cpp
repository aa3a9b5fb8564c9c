#include "queue/delivery_metrics.hpp"

#include <algorithm>
#include <array>

#include "queue/scheduler.hpp"

namespace posthorn::queue {

namespace {

// --- Metrics (docs/operations.md lists them) ------------------------------------------

metrics::family<metrics::counter>& m_deliveries = metrics::default_registry().add_counter_family(
    "posthorn_deliveries_total",
    "Recipient delivery attempts by outcome (sent, deferred, bounced, expired).", {"outcome"});
// Resolved once: counting is one atomic add. Indexed by delivery_outcome.
const std::array<metrics::counter*, 4> m_outcome = {
    &m_deliveries.with({"sent"}), &m_deliveries.with({"deferred"}),
    &m_deliveries.with({"bounced"}), &m_deliveries.with({"expired"})};
metrics::histogram& m_delay = metrics::default_registry().add_histogram(
    "posthorn_delivery_delay_seconds",
    "Seconds from a message's arrival to the delivery of each of its recipients.",
    metrics::delay_buckets());

}  // namespace

void count_delivery(delivery_outcome o, std::int64_t delay) {
  m_outcome[static_cast<std::size_t>(o)]->inc();
  if (o == delivery_outcome::Sent) {
    m_delay.observe(static_cast<double>(std::max<std::int64_t>(delay, 0)));
  }
}

metrics::registration expose_queue_size(const scheduler& s) {
  return metrics::default_registry().add_callback(
      "posthorn_queue_messages",
      "Messages in the queue by state: active (due or being attempted), deferred (waiting "
      "for a retry), held (by the administrator).",
      metrics::metric_type::Gauge, {"state"}, [&s] {
        scheduler::queue_counts c = s.counts();
        return std::vector<metrics::sample>{{{"active"}, static_cast<double>(c.active)},
                                            {{"deferred"}, static_cast<double>(c.deferred)},
                                            {{"held"}, static_cast<double>(c.held)}};
      });
}

}  // namespace posthorn::queue
