// [domains] relay (DESIGN.md §4.6): which domains we relay for from anyone, and how the
// accounts classify their addresses.

#include "policy/relay_domains.hpp"

#include <gtest/gtest.h>

#include "policy/accounts.hpp"

namespace posthorn::policy {
namespace {

TEST(RelayDomains, ExactEntriesMatchOnlyThemselvesInAnyCase) {
  relay_domains r({"relay.test"});
  EXPECT_TRUE(r.contains("relay.test"));
  EXPECT_TRUE(r.contains("RELAY.Test."));
  EXPECT_FALSE(r.contains("sub.relay.test"));
  EXPECT_FALSE(r.contains("xrelay.test"));
  EXPECT_FALSE(r.contains("test"));
  EXPECT_FALSE(relay_domains().contains("relay.test"));
  EXPECT_TRUE(relay_domains().empty());
}

TEST(RelayDomains, ALeadingDotEntryMatchesEverySubdomainButNotTheParent) {
  relay_domains r({".backup.test"});
  EXPECT_TRUE(r.contains("a.backup.test"));
  EXPECT_TRUE(r.contains("b.a.Backup.test"));
  EXPECT_FALSE(r.contains("backup.test"));
  EXPECT_FALSE(r.contains("xbackup.test"));
}

TEST(RelayDomains, SubtreeCoverageForEtrnAtDomain) {
  relay_domains r({"relay.test", ".backup.test"});
  EXPECT_TRUE(r.covers_subtree("relay.test"));
  EXPECT_TRUE(r.covers_subtree("test"));         // relay.test is below it
  EXPECT_TRUE(r.covers_subtree("backup.test"));  // its subdomains are relayed for
  EXPECT_TRUE(r.covers_subtree("x.backup.test"));
  EXPECT_FALSE(r.covers_subtree("sub.relay.test"));
  EXPECT_FALSE(r.covers_subtree("other.test"));
}

TEST(RelayDomains, IdnEntriesMatchTheirALabels) {
  relay_domains r({"bücher.test"});
  EXPECT_TRUE(r.contains("xn--bcher-kva.test"));
  EXPECT_TRUE(r.contains("BÜCHER.test") || r.contains("bücher.test"));
}

TEST(RelayDomains, AtOrBelow) {
  EXPECT_TRUE(at_or_below("a.b.test", "b.test"));
  EXPECT_TRUE(at_or_below("b.test", "b.test"));
  EXPECT_FALSE(at_or_below("ab.test", "b.test"));
  EXPECT_FALSE(at_or_below("test", "b.test"));
  EXPECT_FALSE(at_or_below("b.test", ""));
}

TEST(RelayDomains, AccountsClassifyRelayDomainAddressesAsRelay) {
  auto acc = accounts::from_text({"example.test"}, "alice@example.test:\n",
                                 "info@relay.test: alice@example.test\n", "", "+",
                                 {"relay.test", ".backup.test"});
  ASSERT_TRUE(acc.has_value());
  const accounts& a = **acc;
  EXPECT_EQ(a.find({"bob", "relay.test"}).kind, recipient_kind::Relay);
  EXPECT_EQ(a.find({"bob", "Relay.TEST"}).kind, recipient_kind::Relay);
  EXPECT_EQ(a.find({"bob", "x.backup.test"}).kind, recipient_kind::Relay);
  EXPECT_EQ(a.find({"bob", "other.test"}).kind, recipient_kind::Remote);
  EXPECT_EQ(a.find({"nobody", "example.test"}).kind, recipient_kind::Unknown);
  // An alias written with a full address still wins, as for any domain.
  EXPECT_EQ(a.find({"info", "relay.test"}).kind, recipient_kind::Alias);
  // Expanded, a relay domain address is a remote target.
  expansion e = a.expand({"bob", "relay.test"});
  ASSERT_EQ(e.targets.size(), 1u);
  EXPECT_EQ(e.targets[0].k, target::kind::Remote);
  EXPECT_TRUE(a.relay().contains("relay.test"));
}

TEST(RelayDomains, AccountsLoadTakesThemFromTheConfig) {
  config::config cfg;
  cfg.domains.local = {"example.test"};
  cfg.domains.relay = {"relay.test"};
  cfg.accounts.users_file.clear();
  cfg.accounts.aliases_file.clear();
  auto acc = accounts::load(cfg);
  ASSERT_TRUE(acc.has_value()) << acc.error().message;
  EXPECT_EQ((*acc)->find({"bob", "relay.test"}).kind, recipient_kind::Relay);
}

}  // namespace
}  // namespace posthorn::policy
