// parse_duration / parse_size vectors (DESIGN.md §4.3: k, M, G are powers of 1000).

#include <gtest/gtest.h>

#include "config/config.hpp"

namespace posthorn::config {
namespace {

using std::chrono::hours;
using std::chrono::minutes;

TEST(ParseDuration, AcceptsEachUnit) {
  EXPECT_EQ(parse_duration("30s"), seconds(30));
  EXPECT_EQ(parse_duration("15m"), minutes(15));
  EXPECT_EQ(parse_duration("4h"), hours(4));
  EXPECT_EQ(parse_duration("5d"), hours(5 * 24));
  EXPECT_EQ(parse_duration("0s"), seconds(0));
}

TEST(ParseDuration, AcceptsCombinationsLargestUnitFirst) {
  EXPECT_EQ(parse_duration("1h20m"), minutes(80));
  EXPECT_EQ(parse_duration("1d2h3m4s"), seconds(86400 + 7200 + 180 + 4));
  EXPECT_EQ(parse_duration("90m"), minutes(90));
  EXPECT_EQ(parse_duration("1h5s"), seconds(3605));
}

TEST(ParseDuration, RejectsMalformed) {
  for (const char* bad :
       {"", "30", "s", "m5", "5x", "5 m", " 5m", "5m ", "-5m", "+5m", "5M", "1.5h", "20m1h", "5m5m",
        "1h20", "h1", "5ms", "99999999999999999999s", "9999999999999d"}) {
    EXPECT_FALSE(parse_duration(bad).has_value()) << '"' << bad << '"';
  }
}

TEST(ParseSize, PowersOfThousand) {
  EXPECT_EQ(parse_size("35M"), 35'000'000u);
  EXPECT_EQ(parse_size("10k"), 10'000u);
  EXPECT_EQ(parse_size("10K"), 10'000u);
  EXPECT_EQ(parse_size("1G"), 1'000'000'000u);
  EXPECT_EQ(parse_size("1234"), 1234u);
  EXPECT_EQ(parse_size("0"), 0u);
  EXPECT_EQ(parse_size("18446744073709551615"), 18446744073709551615u);
}

TEST(ParseSize, RejectsMalformed) {
  for (const char* bad : {"", "M", "35MB", "35 M", "-1", "1.5M", "35m", "3T", "0x10",
                          "18446744073709551616", "18446744073709552G", " 1"}) {
    EXPECT_FALSE(parse_size(bad).has_value()) << '"' << bad << '"';
  }
}

TEST(ConfigError, StrNamesFileLineAndKey) {
  const config_error e{"posthorn.toml", 12, "limits.message_size", "expected a size like \"35M\""};
  EXPECT_EQ(e.str(), "posthorn.toml:12: limits.message_size: expected a size like \"35M\"");
  EXPECT_EQ((config_error{"a.toml", 0, "", "cannot read"}).str(), "a.toml: cannot read");
  EXPECT_EQ((config_error{"a.toml", 3, "", "bad"}).str(), "a.toml:3: bad");
}

}  // namespace
}  // namespace posthorn::config
