#pragma once
// Prometheus metrics of our own (DESIGN.md §4.5): counters, gauges and histograms,
// optionally in labelled families, plus values computed at scrape time, rendered in the
// text exposition format 0.0.4.
//
// The hot path is an atomic add: a module declares its metrics at its top (STYLE.md 10),
// resolves the label sets it uses once, and keeps the references. Families take a lock
// only to find or make a child; rendering takes the registry's lock.

#include <atomic>
#include <cstdint>
#include <functional>
#include <initializer_list>
#include <map>
#include <memory>
#include <mutex>
#include <span>
#include <string>
#include <string_view>
#include <vector>

namespace posthorn::metrics {

// Only ever goes up (events, octets).
class counter {
 public:
  void inc(std::uint64_t n = 1) noexcept { value_.fetch_add(n, std::memory_order_relaxed); }
  std::uint64_t value() const noexcept { return value_.load(std::memory_order_relaxed); }

 private:
  std::atomic<std::uint64_t> value_{0};
};

// Goes up and down (connections open now).
class gauge {
 public:
  void inc(std::int64_t n = 1) noexcept { value_.fetch_add(n, std::memory_order_relaxed); }
  void dec(std::int64_t n = 1) noexcept { value_.fetch_sub(n, std::memory_order_relaxed); }
  void set(std::int64_t v) noexcept { value_.store(v, std::memory_order_relaxed); }
  std::int64_t value() const noexcept { return value_.load(std::memory_order_relaxed); }

 private:
  std::atomic<std::int64_t> value_{0};
};

// Holds a gauge up by one while it lives (a connection open now), whichever way the
// scope ends; a null gauge counts nothing.
class gauge_hold {
 public:
  explicit gauge_hold(gauge* g) noexcept : gauge_(g) {
    if (gauge_ != nullptr) {
      gauge_->inc();
    }
  }
  ~gauge_hold() {
    if (gauge_ != nullptr) {
      gauge_->dec();
    }
  }
  gauge_hold(const gauge_hold&) = delete;
  gauge_hold& operator=(const gauge_hold&) = delete;

 private:
  gauge* gauge_;
};

// Observations counted into buckets with fixed upper bounds, plus their sum.
class histogram {
 public:
  // `bounds`: the buckets' upper bounds, ascending; +Inf is implied.
  explicit histogram(std::span<const double> bounds);

  void observe(double v) noexcept;

  // Bucket counts as Prometheus wants them: cumulative, the last one being +Inf (the
  // count of all observations).
  std::vector<std::uint64_t> cumulative() const;
  double sum() const noexcept { return sum_.load(std::memory_order_relaxed); }
  const std::vector<double>& bounds() const { return bounds_; }

 private:
  std::vector<double> bounds_;
  std::unique_ptr<std::atomic<std::uint64_t>[]> buckets_;  // bounds_.size() + 1 (the +Inf one)
  std::atomic<double> sum_{0.0};
};

enum class metric_type { Counter, Gauge, Histogram };

// Boundaries for durations from a fraction of a second to days (delivery delays).
std::vector<double> delay_buckets();

class registry;

// One metric name with label names; a child per distinct set of label values.
template <class M>
class family {
 public:
  // The child for these label values (one per label name, in order), made on first use.
  // The reference stays valid as long as the registry: resolve once, keep it.
  M& with(std::initializer_list<std::string_view> values);
  M& with(std::span<const std::string> values);

  const std::vector<std::string>& label_names() const { return labels_; }

 private:
  friend class registry;
  family(std::vector<std::string> labels, std::vector<double> bounds)
      : labels_(std::move(labels)), bounds_(std::move(bounds)) {}
  M& find_or_make(std::vector<std::string> key);
  void render(std::string_view name, std::string& out) const;

  std::vector<std::string> labels_;
  std::vector<double> bounds_;  // histograms only
  mutable std::mutex mu_;
  std::map<std::vector<std::string>, std::unique_ptr<M>> children_;  // sorted: stable output
};

// A value computed at scrape time: label values (one per label name) and the value.
struct sample {
  std::vector<std::string> label_values;
  double value = 0;
};
using collect_fn = std::function<std::vector<sample>()>;

// Keeps a scrape-time metric registered; unregisters it when destroyed, so the callback
// never outlives what it reads.
class registration {
 public:
  registration() = default;
  registration(registration&& o) noexcept;
  registration& operator=(registration&& o) noexcept;
  registration(const registration&) = delete;
  registration& operator=(const registration&) = delete;
  ~registration();

 private:
  friend class registry;
  registration(registry* r, std::string name) : registry_(r), name_(std::move(name)) {}
  registry* registry_ = nullptr;
  std::string name_;
};

// All metrics of a process, by name. Registering a name twice with the same type and
// label names yields the same metric; anything else is a programming error
// (std::logic_error), as is a name or label name Prometheus would not accept.
class registry {
 public:
  registry();
  ~registry();
  registry(const registry&) = delete;
  registry& operator=(const registry&) = delete;

  counter& add_counter(std::string_view name, std::string_view help);
  gauge& add_gauge(std::string_view name, std::string_view help);
  histogram& add_histogram(std::string_view name, std::string_view help,
                           std::span<const double> bounds);

  family<counter>& add_counter_family(std::string_view name, std::string_view help,
                                      std::vector<std::string> label_names);
  family<gauge>& add_gauge_family(std::string_view name, std::string_view help,
                                  std::vector<std::string> label_names);
  family<histogram>& add_histogram_family(std::string_view name, std::string_view help,
                                          std::vector<std::string> label_names,
                                          std::span<const double> bounds);

  // A counter or gauge whose samples `fn` computes at each scrape (under the registry's
  // lock, so it must be quick and must not touch the registry).
  [[nodiscard]] registration add_callback(std::string_view name, std::string_view help,
                                          metric_type type, std::vector<std::string> label_names,
                                          collect_fn fn);

  // The text exposition format (version 0.0.4), metrics sorted by name.
  std::string render() const;
  void render(std::string& out) const;

 private:
  friend class registration;
  struct entry;
  entry& add(std::string_view name, std::string_view help, metric_type type,
             std::vector<std::string>& label_names, std::span<const double> bounds);
  void remove(const std::string& name);

  mutable std::mutex mu_;
  std::map<std::string, std::unique_ptr<entry>, std::less<>> entries_;
};

// The process-wide registry that modules declare their metrics in and /metrics serves.
registry& default_registry();

// Text format helpers (exposed for tests).
void escape_label_value(std::string_view v, std::string& out);
void format_value(double v, std::string& out);

extern template class family<counter>;
extern template class family<gauge>;
extern template class family<histogram>;

}  // namespace posthorn::metrics
