#include "common/metrics.hpp"

#include <algorithm>
#include <charconv>
#include <cmath>
#include <stdexcept>
#include <type_traits>
#include <utility>

namespace posthorn::metrics {

namespace {

bool valid_name(std::string_view n, bool label) {
  if (n.empty()) {
    return false;
  }
  for (std::size_t i = 0; i < n.size(); ++i) {
    char c = n[i];
    bool alpha = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_' ||
                 (c == ':' && !label);
    bool digit = c >= '0' && c <= '9';
    if (!(alpha || (digit && i > 0))) {
      return false;
    }
  }
  // Names starting with "__" are reserved for Prometheus' own use.
  return !(label && n.starts_with("__"));
}

const char* type_name(metric_type t) {
  switch (t) {
    case metric_type::Counter: return "counter";
    case metric_type::Gauge: return "gauge";
    case metric_type::Histogram: return "histogram";
  }
  return "untyped";
}

// HELP text escapes backslash and line feed only (the format's rule).
void escape_help(std::string_view v, std::string& out) {
  for (char c : v) {
    if (c == '\\') {
      out += "\\\\";
    } else if (c == '\n') {
      out += "\\n";
    } else {
      out += c;
    }
  }
}

template <class Int>
void format_int(Int v, std::string& out) {
  char buf[24];
  auto r = std::to_chars(buf, buf + sizeof buf, v);
  out.append(buf, r.ptr);
}

// `{a="x",b="y"` without the closing brace, or "" when there are no labels and no
// extra label is to follow.
void open_labels(const std::vector<std::string>& names, const std::vector<std::string>& values,
                 std::string& out) {
  for (std::size_t i = 0; i < names.size(); ++i) {
    out += i == 0 ? '{' : ',';
    out += names[i];
    out += "=\"";
    escape_label_value(i < values.size() ? values[i] : std::string(), out);
    out += '"';
  }
}

void write_labels(const std::vector<std::string>& names, const std::vector<std::string>& values,
                  std::string& out) {
  open_labels(names, values, out);
  if (!names.empty()) {
    out += '}';
  }
}

void render_child(std::string_view name, const std::vector<std::string>& names,
                  const std::vector<std::string>& values, const counter& c, std::string& out) {
  out += name;
  write_labels(names, values, out);
  out += ' ';
  format_int(c.value(), out);
  out += '\n';
}

void render_child(std::string_view name, const std::vector<std::string>& names,
                  const std::vector<std::string>& values, const gauge& g, std::string& out) {
  out += name;
  write_labels(names, values, out);
  out += ' ';
  format_int(g.value(), out);
  out += '\n';
}

void render_child(std::string_view name, const std::vector<std::string>& names,
                  const std::vector<std::string>& values, const histogram& h, std::string& out) {
  // Read the buckets once: _count is the +Inf bucket, so the two always agree.
  std::vector<std::uint64_t> cum = h.cumulative();
  const std::vector<double>& bounds = h.bounds();
  for (std::size_t i = 0; i < cum.size(); ++i) {
    out += name;
    out += "_bucket";
    open_labels(names, values, out);
    out += names.empty() ? "{le=\"" : ",le=\"";
    if (i < bounds.size()) {
      format_value(bounds[i], out);
    } else {
      out += "+Inf";
    }
    out += "\"} ";
    format_int(cum[i], out);
    out += '\n';
  }
  out += name;
  out += "_sum";
  write_labels(names, values, out);
  out += ' ';
  format_value(h.sum(), out);
  out += '\n';
  out += name;
  out += "_count";
  write_labels(names, values, out);
  out += ' ';
  format_int(cum.back(), out);
  out += '\n';
}

}  // namespace

// --- histogram ------------------------------------------------------------------------

histogram::histogram(std::span<const double> bounds)
    : bounds_(bounds.begin(), bounds.end()),
      buckets_(new std::atomic<std::uint64_t>[bounds.size() + 1]) {
  if (!std::is_sorted(bounds_.begin(), bounds_.end()) ||
      std::adjacent_find(bounds_.begin(), bounds_.end()) != bounds_.end()) {
    throw std::logic_error("histogram bounds must be strictly ascending");
  }
  for (std::size_t i = 0; i <= bounds_.size(); ++i) {
    buckets_[i].store(0, std::memory_order_relaxed);
  }
}

void histogram::observe(double v) noexcept {
  // A handful of buckets: a linear scan beats a binary search's branches.
  std::size_t i = 0;
  while (i < bounds_.size() && v > bounds_[i]) {
    ++i;
  }
  buckets_[i].fetch_add(1, std::memory_order_relaxed);
  sum_.fetch_add(v, std::memory_order_relaxed);
}

std::vector<std::uint64_t> histogram::cumulative() const {
  std::vector<std::uint64_t> out(bounds_.size() + 1);
  std::uint64_t total = 0;
  for (std::size_t i = 0; i <= bounds_.size(); ++i) {
    total += buckets_[i].load(std::memory_order_relaxed);
    out[i] = total;
  }
  return out;
}

std::vector<double> delay_buckets() {
  // 100 ms to 5 days: local delivery lands in the first buckets, retries (minutes to
  // hours apart, [queue] retry) in the later ones, up to the default max_lifetime.
  return {0.1, 0.5, 1, 5, 15, 60, 300, 900, 3600, 4 * 3600.0, 86400, 5 * 86400.0};
}

// --- family -----------------------------------------------------------------------------

template <class M>
M& family<M>::with(std::initializer_list<std::string_view> values) {
  return find_or_make(std::vector<std::string>(values.begin(), values.end()));
}

template <class M>
M& family<M>::with(std::span<const std::string> values) {
  return find_or_make(std::vector<std::string>(values.begin(), values.end()));
}

template <class M>
M& family<M>::find_or_make(std::vector<std::string> key) {
  if (key.size() != labels_.size()) {
    throw std::logic_error("metric family: wrong number of label values");
  }
  std::lock_guard lock(mu_);
  auto it = children_.find(key);
  if (it == children_.end()) {
    std::unique_ptr<M> child;
    if constexpr (std::is_same_v<M, histogram>) {
      child = std::make_unique<M>(bounds_);
    } else {
      child = std::make_unique<M>();
    }
    it = children_.emplace(std::move(key), std::move(child)).first;
  }
  return *it->second;
}

template <class M>
void family<M>::render(std::string_view name, std::string& out) const {
  std::lock_guard lock(mu_);
  for (const auto& [values, child] : children_) {
    render_child(name, labels_, values, *child, out);
  }
}

template class family<counter>;
template class family<gauge>;
template class family<histogram>;

// --- registry -------------------------------------------------------------------------

struct registry::entry {
  std::string help;
  metric_type type;
  std::vector<std::string> labels;
  std::vector<double> bounds;
  std::unique_ptr<family<counter>> counters;
  std::unique_ptr<family<gauge>> gauges;
  std::unique_ptr<family<histogram>> histograms;
  collect_fn collect;  // set for scrape-time metrics only
};

registry::registry() = default;
registry::~registry() = default;

registry::entry& registry::add(std::string_view name, std::string_view help, metric_type type,
                               std::vector<std::string>& label_names,
                               std::span<const double> bounds) {
  if (!valid_name(name, false)) {
    throw std::logic_error("invalid metric name: " + std::string(name));
  }
  for (const std::string& l : label_names) {
    if (!valid_name(l, true) || (type == metric_type::Histogram && l == "le")) {
      throw std::logic_error("invalid label name " + l + " for " + std::string(name));
    }
  }
  std::lock_guard lock(mu_);
  auto it = entries_.find(name);
  if (it != entries_.end()) {
    entry& e = *it->second;
    bool same = e.type == type && e.labels == label_names && !e.collect &&
                std::equal(e.bounds.begin(), e.bounds.end(), bounds.begin(), bounds.end());
    if (!same) {
      throw std::logic_error("metric registered twice with different shapes: " +
                             std::string(name));
    }
    return e;
  }
  auto e = std::make_unique<entry>();
  e->help = help;
  e->type = type;
  e->labels = label_names;
  e->bounds.assign(bounds.begin(), bounds.end());
  switch (type) {
    case metric_type::Counter:
      e->counters.reset(new family<counter>(label_names, {}));
      break;
    case metric_type::Gauge:
      e->gauges.reset(new family<gauge>(label_names, {}));
      break;
    case metric_type::Histogram: {
      histogram probe(bounds);  // validates the bounds before anything is registered
      e->histograms.reset(new family<histogram>(label_names, e->bounds));
      break;
    }
  }
  return *entries_.emplace(std::string(name), std::move(e)).first->second;
}

counter& registry::add_counter(std::string_view name, std::string_view help) {
  return add_counter_family(name, help, {}).find_or_make({});
}

gauge& registry::add_gauge(std::string_view name, std::string_view help) {
  return add_gauge_family(name, help, {}).find_or_make({});
}

histogram& registry::add_histogram(std::string_view name, std::string_view help,
                                   std::span<const double> bounds) {
  return add_histogram_family(name, help, {}, bounds).find_or_make({});
}

family<counter>& registry::add_counter_family(std::string_view name, std::string_view help,
                                              std::vector<std::string> label_names) {
  return *add(name, help, metric_type::Counter, label_names, {}).counters;
}

family<gauge>& registry::add_gauge_family(std::string_view name, std::string_view help,
                                          std::vector<std::string> label_names) {
  return *add(name, help, metric_type::Gauge, label_names, {}).gauges;
}

family<histogram>& registry::add_histogram_family(std::string_view name, std::string_view help,
                                                  std::vector<std::string> label_names,
                                                  std::span<const double> bounds) {
  return *add(name, help, metric_type::Histogram, label_names, bounds).histograms;
}

registration registry::add_callback(std::string_view name, std::string_view help,
                                    metric_type type, std::vector<std::string> label_names,
                                    collect_fn fn) {
  if (type == metric_type::Histogram) {
    throw std::logic_error("scrape-time histograms are not supported: " + std::string(name));
  }
  if (!valid_name(name, false)) {
    throw std::logic_error("invalid metric name: " + std::string(name));
  }
  for (const std::string& l : label_names) {
    if (!valid_name(l, true)) {
      throw std::logic_error("invalid label name " + l + " for " + std::string(name));
    }
  }
  std::lock_guard lock(mu_);
  if (entries_.contains(name)) {
    throw std::logic_error("metric registered twice: " + std::string(name));
  }
  auto e = std::make_unique<entry>();
  e->help = help;
  e->type = type;
  e->labels = std::move(label_names);
  e->collect = std::move(fn);
  entries_.emplace(std::string(name), std::move(e));
  return registration(this, std::string(name));
}

void registry::remove(const std::string& name) {
  std::lock_guard lock(mu_);
  auto it = entries_.find(name);
  if (it != entries_.end() && it->second->collect) {
    entries_.erase(it);
  }
}

std::string registry::render() const {
  std::string out;
  render(out);
  return out;
}

void registry::render(std::string& out) const {
  std::lock_guard lock(mu_);
  for (const auto& [name, e] : entries_) {
    out += "# HELP ";
    out += name;
    out += ' ';
    escape_help(e->help, out);
    out += "\n# TYPE ";
    out += name;
    out += ' ';
    out += type_name(e->type);
    out += '\n';
    if (e->collect) {
      std::vector<sample> samples = e->collect();
      for (const sample& s : samples) {
        out += name;
        write_labels(e->labels, s.label_values, out);
        out += ' ';
        format_value(s.value, out);
        out += '\n';
      }
    } else if (e->counters) {
      e->counters->render(name, out);
    } else if (e->gauges) {
      e->gauges->render(name, out);
    } else if (e->histograms) {
      e->histograms->render(name, out);
    }
  }
}

registry& default_registry() {
  // Never destroyed: modules' metric references must outlive every static destructor
  // and thread that might still count.
  static registry* r = new registry();
  return *r;
}

// --- registration -----------------------------------------------------------------------

registration::registration(registration&& o) noexcept
    : registry_(std::exchange(o.registry_, nullptr)), name_(std::move(o.name_)) {}

registration& registration::operator=(registration&& o) noexcept {
  if (this != &o) {
    if (registry_ != nullptr) {
      registry_->remove(name_);
    }
    registry_ = std::exchange(o.registry_, nullptr);
    name_ = std::move(o.name_);
  }
  return *this;
}

registration::~registration() {
  if (registry_ != nullptr) {
    registry_->remove(name_);
  }
}

// --- text format ------------------------------------------------------------------------

void escape_label_value(std::string_view v, std::string& out) {
  for (char c : v) {
    if (c == '\\') {
      out += "\\\\";
    } else if (c == '"') {
      out += "\\\"";
    } else if (c == '\n') {
      out += "\\n";
    } else {
      out += c;
    }
  }
}

void format_value(double v, std::string& out) {
  if (std::isnan(v)) {
    out += "NaN";
    return;
  }
  if (std::isinf(v)) {
    out += v > 0 ? "+Inf" : "-Inf";
    return;
  }
  // The shortest text that reads back as the same double ("0.1", "3600", "1e+21").
  char buf[32];
  auto r = std::to_chars(buf, buf + sizeof buf, v);
  out.append(buf, r.ptr);
}

}  // namespace posthorn::metrics
