// The metrics registry and its Prometheus text rendering (exposition format 0.0.4).

#include "common/metrics.hpp"

#include <gtest/gtest.h>

#include <array>
#include <limits>
#include <stdexcept>
#include <thread>
#include <vector>

namespace posthorn::metrics {
namespace {

TEST(Metrics, EmptyRegistryRendersNothing) {
  registry r;
  EXPECT_EQ(r.render(), "");
}

TEST(Metrics, CounterAndGaugeWithHelpAndType) {
  registry r;
  counter& c = r.add_counter("posthorn_things_total", "Things seen.");
  gauge& g = r.add_gauge("posthorn_open", "Open now.");
  c.inc();
  c.inc(41);
  g.inc(3);
  g.dec();
  EXPECT_EQ(r.render(),
            "# HELP posthorn_open Open now.\n"
            "# TYPE posthorn_open gauge\n"
            "posthorn_open 2\n"
            "# HELP posthorn_things_total Things seen.\n"
            "# TYPE posthorn_things_total counter\n"
            "posthorn_things_total 42\n");
  g.set(-5);
  EXPECT_EQ(g.value(), -5);
}

TEST(Metrics, FamilyChildrenSortedByLabelValues) {
  registry r;
  auto& f = r.add_counter_family("posthorn_commands_total", "Commands by verb and class.",
                                 {"verb", "class"});
  f.with({"MAIL", "2xx"}).inc(2);
  f.with({"EHLO", "2xx"}).inc();
  f.with({"MAIL", "5xx"}).inc();
  counter& again = f.with({"EHLO", "2xx"});
  again.inc();
  EXPECT_EQ(&again, &f.with({"EHLO", "2xx"}));  // the same child, stable reference
  EXPECT_EQ(r.render(),
            "# HELP posthorn_commands_total Commands by verb and class.\n"
            "# TYPE posthorn_commands_total counter\n"
            "posthorn_commands_total{verb=\"EHLO\",class=\"2xx\"} 2\n"
            "posthorn_commands_total{verb=\"MAIL\",class=\"2xx\"} 2\n"
            "posthorn_commands_total{verb=\"MAIL\",class=\"5xx\"} 1\n");
}

TEST(Metrics, FamilyWithoutChildrenRendersOnlyHelpAndType) {
  registry r;
  r.add_gauge_family("posthorn_x", "X.", {"listener"});
  EXPECT_EQ(r.render(), "# HELP posthorn_x X.\n# TYPE posthorn_x gauge\n");
}

TEST(Metrics, LabelValuesAndHelpAreEscaped) {
  registry r;
  auto& f = r.add_counter_family("posthorn_odd_total", "Back\\slash and\nnewline \"kept\".",
                                 {"v"});
  f.with({"a\"b\\c\nd"}).inc();
  EXPECT_EQ(r.render(),
            "# HELP posthorn_odd_total Back\\\\slash and\\nnewline \"kept\".\n"
            "# TYPE posthorn_odd_total counter\n"
            "posthorn_odd_total{v=\"a\\\"b\\\\c\\nd\"} 1\n");
}

TEST(Metrics, HistogramBucketsAreCumulativeWithSumAndCount) {
  registry r;
  const std::array<double, 3> bounds{0.5, 1, 60};
  histogram& h = r.add_histogram("posthorn_delay_seconds", "Delay.", bounds);
  h.observe(0.25);
  h.observe(0.5);  // on a bound: counts in that bucket (le = less or equal)
  h.observe(2);
  h.observe(1000);
  EXPECT_EQ(r.render(),
            "# HELP posthorn_delay_seconds Delay.\n"
            "# TYPE posthorn_delay_seconds histogram\n"
            "posthorn_delay_seconds_bucket{le=\"0.5\"} 2\n"
            "posthorn_delay_seconds_bucket{le=\"1\"} 2\n"
            "posthorn_delay_seconds_bucket{le=\"60\"} 3\n"
            "posthorn_delay_seconds_bucket{le=\"+Inf\"} 4\n"
            "posthorn_delay_seconds_sum 1002.75\n"
            "posthorn_delay_seconds_count 4\n");
}

TEST(Metrics, LabelledHistogramPutsLeLast) {
  registry r;
  const std::array<double, 1> bounds{10};
  auto& f = r.add_histogram_family("posthorn_h", "H.", {"outcome"}, bounds);
  f.with({"sent"}).observe(3);
  EXPECT_EQ(r.render(),
            "# HELP posthorn_h H.\n"
            "# TYPE posthorn_h histogram\n"
            "posthorn_h_bucket{outcome=\"sent\",le=\"10\"} 1\n"
            "posthorn_h_bucket{outcome=\"sent\",le=\"+Inf\"} 1\n"
            "posthorn_h_sum{outcome=\"sent\"} 3\n"
            "posthorn_h_count{outcome=\"sent\"} 1\n");
}

TEST(Metrics, CallbackIsComputedAtScrapeTimeAndUnregistered) {
  registry r;
  int active = 1;
  {
    registration reg = r.add_callback(
        "posthorn_queue_messages", "Messages by state.", metric_type::Gauge, {"state"},
        [&] {
          return std::vector<sample>{{{"active"}, double(active)}, {{"held"}, 0.5}};
        });
    active = 7;
    EXPECT_EQ(r.render(),
              "# HELP posthorn_queue_messages Messages by state.\n"
              "# TYPE posthorn_queue_messages gauge\n"
              "posthorn_queue_messages{state=\"active\"} 7\n"
              "posthorn_queue_messages{state=\"held\"} 0.5\n");
    registration moved = std::move(reg);
    EXPECT_NE(r.render(), "");
  }
  EXPECT_EQ(r.render(), "");
  // The name is free again once its registration is gone.
  registration again = r.add_callback("posthorn_queue_messages", "M.", metric_type::Gauge, {},
                                      [] { return std::vector<sample>{{{}, 1}}; });
  EXPECT_EQ(r.render(),
            "# HELP posthorn_queue_messages M.\n# TYPE posthorn_queue_messages gauge\n"
            "posthorn_queue_messages 1\n");
}

TEST(Metrics, SameNameSameShapeIsTheSameMetric) {
  registry r;
  counter& a = r.add_counter("posthorn_a_total", "A.");
  counter& b = r.add_counter("posthorn_a_total", "A.");
  EXPECT_EQ(&a, &b);
  EXPECT_THROW(r.add_gauge("posthorn_a_total", "A."), std::logic_error);
  EXPECT_THROW(r.add_counter_family("posthorn_a_total", "A.", {"x"}), std::logic_error);
}

TEST(Metrics, BadNamesAreProgrammingErrors) {
  registry r;
  EXPECT_THROW(r.add_counter("1abc", "x"), std::logic_error);
  EXPECT_THROW(r.add_counter("a-b", "x"), std::logic_error);
  EXPECT_THROW(r.add_counter_family("ok_total", "x", {"__reserved"}), std::logic_error);
  const std::array<double, 1> b{1};
  EXPECT_THROW(r.add_histogram_family("ok_seconds", "x", {"le"}, b), std::logic_error);
  const std::array<double, 2> unsorted{2, 1};
  EXPECT_THROW(r.add_histogram("ok2_seconds", "x", unsorted), std::logic_error);
  auto& f = r.add_counter_family("ok3_total", "x", {"a", "b"});
  EXPECT_THROW(f.with({"only-one"}), std::logic_error);
  EXPECT_EQ(r.render().find("ok2_seconds"), std::string::npos);  // nothing half-registered
}

TEST(Metrics, ValueFormatting) {
  std::string out;
  format_value(0.1, out);
  out += ' ';
  format_value(3600, out);
  out += ' ';
  format_value(1e21, out);
  out += ' ';
  format_value(std::numeric_limits<double>::infinity(), out);
  out += ' ';
  format_value(std::numeric_limits<double>::quiet_NaN(), out);
  EXPECT_EQ(out, "0.1 3600 1e+21 +Inf NaN");
}

TEST(Metrics, ConcurrentIncrementsAreAllCounted) {
  registry r;
  counter& c = r.add_counter("posthorn_c_total", "C.");
  const std::array<double, 2> bounds{1, 2};
  histogram& h = r.add_histogram("posthorn_h_seconds", "H.", bounds);
  std::vector<std::thread> threads;
  for (int t = 0; t < 4; ++t) {
    threads.emplace_back([&] {
      for (int i = 0; i < 10000; ++i) {
        c.inc();
        h.observe(1.5);
      }
    });
  }
  for (auto& t : threads) {
    t.join();
  }
  EXPECT_EQ(c.value(), 40000u);
  EXPECT_EQ(h.cumulative().back(), 40000u);
  EXPECT_EQ(h.sum(), 60000.0);
}

TEST(Metrics, DefaultRegistryIsOneObject) {
  EXPECT_EQ(&default_registry(), &default_registry());
}

}  // namespace
}  // namespace posthorn::metrics
