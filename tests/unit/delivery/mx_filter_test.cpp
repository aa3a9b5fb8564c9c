// RFC 5321 §5.1: an MTA in a domain's MX list drops itself and every MX no better than it.

#include "delivery/mx_filter.hpp"

#include <gtest/gtest.h>

namespace posthorn::delivery {
namespace {

using idx = std::vector<std::size_t>;

TEST(SelectMx, WithoutUsEveryHostStaysInOrder) {
  mx_selection s = select_mx({{10, false}, {20, false}, {20, false}, {30, false}});
  EXPECT_FALSE(s.self_listed);
  EXPECT_EQ(s.usable, (idx{0, 1, 2, 3}));
  EXPECT_TRUE(select_mx({}).usable.empty());
}

TEST(SelectMx, UsAtTwentyLeavesOnlyTheBetterOnes) {
  mx_selection s = select_mx({{10, false}, {20, true}, {30, false}});
  EXPECT_TRUE(s.self_listed);
  EXPECT_EQ(s.usable, idx{0});
}

TEST(SelectMx, HostsOfOurOwnPreferenceGoToo) {
  mx_selection s = select_mx({{5, false}, {10, false}, {20, false}, {20, true}, {30, false}});
  EXPECT_EQ(s.usable, (idx{0, 1}));
}

TEST(SelectMx, OurBestPreferenceCountsWhenWeAreListedTwice) {
  mx_selection s = select_mx({{10, false}, {20, true}, {30, false}, {40, true}});
  EXPECT_EQ(s.usable, idx{0});
  s = select_mx({{40, true}, {10, false}, {20, true}});  // in any order
  EXPECT_EQ(s.usable, idx{1});
}

TEST(SelectMx, WhenWeAreTheBestNothingIsLeft) {
  mx_selection s = select_mx({{10, true}, {20, false}, {30, false}});
  EXPECT_TRUE(s.self_listed);
  EXPECT_TRUE(s.usable.empty());
  s = select_mx({{10, false}, {10, true}});  // an equal preference is no better
  EXPECT_TRUE(s.usable.empty());
  s = select_mx({{0, true}});  // the implicit MX (the domain's own address) is us
  EXPECT_TRUE(s.usable.empty());
}

}  // namespace
}  // namespace posthorn::delivery
