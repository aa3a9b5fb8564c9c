#include "queue/delivery_metrics.hpp"

#include <algorithm>
#include <array>
#include <cctype>
#include <string>

#include <spdlog/spdlog.h>

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

// The RFC 3463 status in a reply ("250 2.0.0 ..." or "4.4.7 ..."), else one that fits
// the outcome.
std::string dsn_of(std::string_view reply, delivery_outcome o) {
  std::string_view rest = reply;
  if (rest.size() > 4 && rest[3] == ' ' && std::isdigit(static_cast<unsigned char>(rest[0]))) {
    rest.remove_prefix(4);
  }
  std::size_t end = rest.find(' ');
  std::string_view word = rest.substr(0, end);
  int dots = 0;
  bool shape = word.size() >= 5 && (word[0] == '2' || word[0] == '4' || word[0] == '5') &&
               word[1] == '.';
  for (char c : word) {
    if (c == '.') {
      ++dots;
    } else if (!std::isdigit(static_cast<unsigned char>(c))) {
      shape = false;
    }
  }
  if (shape && dots == 2) {
    return std::string(word);
  }
  switch (o) {
    case delivery_outcome::Sent:
      return "2.0.0";
    case delivery_outcome::Deferred:
      return "4.0.0";
    case delivery_outcome::Expired:
      return "4.4.7";
    case delivery_outcome::Bounced:
      return "5.0.0";
  }
  return "5.0.0";
}

// A reply inside reply="...": quotes and backslashes escaped, controls dropped.
std::string log_escape(std::string_view text) {
  std::string out;
  out.reserve(text.size());
  for (char c : text) {
    if (c == '"' || c == '\\') {
      out.push_back('\\');
    }
    if (static_cast<unsigned char>(c) >= 0x20) {
      out.push_back(c);
    }
  }
  return out;
}

}  // namespace

delivery_outcome outcome_of(rcpt_status s) {
  switch (s) {
    case rcpt_status::Delivered:
      return delivery_outcome::Sent;
    case rcpt_status::Failed:
      return delivery_outcome::Bounced;
    default:
      return delivery_outcome::Deferred;
  }
}

void note_delivery(const envelope& env, const recipient& r, delivery_outcome o,
                   std::string_view relay, std::int64_t now) {
  static constexpr std::array<const char*, 4> k_status = {"sent", "deferred", "bounced",
                                                          "expired"};
  const std::int64_t delay = std::max<std::int64_t>(now - env.arrival, 0);
  m_outcome[static_cast<std::size_t>(o)]->inc();
  if (o == delivery_outcome::Sent) {
    m_delay.observe(static_cast<double>(delay));
  }
  // orig_to only when an alias or +tag made the two differ, as in Postfix's log.
  std::string orig;
  if (!(r.original == r.address) && !r.original.str().empty()) {
    orig = " orig_to=<" + r.original.str() + ">";
  }
  spdlog::info("id={} from=<{}> to=<{}>{} relay={} delay={} dsn={} status={} reply=\"{}\"",
               env.id, env.sender.str(), r.address.str(), orig, relay.empty() ? "none" : relay,
               delay, dsn_of(r.last_reply, o), k_status[static_cast<std::size_t>(o)],
               log_escape(r.last_reply));
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
