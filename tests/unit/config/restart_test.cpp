// Which settings a SIGHUP cannot change (config/restart.hpp), and that the reloaded
// config keeps the running values of exactly those.

#include "config/restart.hpp"

#include <gtest/gtest.h>

#include <string>
#include <vector>

namespace posthorn::config {
namespace {

const fs::path k_origin = "/etc/posthorn/posthorn.toml";

config load(std::string_view text) {
  auto cfg = load_string(text, k_origin);
  EXPECT_TRUE(cfg.has_value()) << (cfg ? "" : cfg.error().str());
  return cfg ? *cfg : config{};
}

constexpr std::string_view k_base = R"(
hostname = "mx.example.test"
state_dir = "/var/lib/posthorn"
[[listen]]
address = "127.0.0.1:2525"
[limits]
message_size = "10M"
)";

TEST(ConfigRestart, SameFileNeedsNoRestart) {
  EXPECT_TRUE(restart_needed(load(k_base), load(k_base)).empty());
}

TEST(ConfigRestart, ReloadableKeysNeedNoRestart) {
  const config fresh = load(R"(
hostname = "mx2.example.test"
state_dir = "/var/lib/posthorn"
[[listen]]
address = "127.0.0.1:2525"
[limits]
message_size = "20M"
connections = 5
[queue]
retry = ["1m"]
)");
  EXPECT_TRUE(restart_needed(load(k_base), fresh).empty());
}

TEST(ConfigRestart, NamesEverySettingBoundAtStart) {
  const config fresh = load(R"(
hostname = "mx.example.test"
state_dir = "/srv/posthorn"
user = "posthorn"
[[listen]]
address = "127.0.0.1:2526"
[metrics]
address = "127.0.0.1:9464"
[dns]
nameservers = ["127.0.0.1:5353"]
)");
  EXPECT_EQ(restart_needed(load(k_base), fresh),
            (std::vector<std::string>{"listen", "state_dir", "user", "metrics.address",
                                      "dns.nameservers"}));
}

TEST(ConfigRestart, ListenerRoleAndPlaintextAuthCount) {
  const config role = load(R"(
state_dir = "/var/lib/posthorn"
[[listen]]
address = "127.0.0.1:2525"
role = "submission"
)");
  const config plain = load(R"(
state_dir = "/var/lib/posthorn"
[[listen]]
address = "127.0.0.1:2525"
allow_plaintext_auth = true
)");
  const config more = load(R"(
state_dir = "/var/lib/posthorn"
[[listen]]
address = "127.0.0.1:2525"
[[listen]]
address = "127.0.0.1:2587"
)");
  for (const config* c : {&role, &plain, &more}) {
    EXPECT_EQ(restart_needed(load(k_base), *c), std::vector<std::string>{"listen"});
  }
}

TEST(ConfigRestart, KeepsRunningValuesOfRestartSettingsOnly) {
  const config running = load(k_base);
  config fresh = load(R"(
hostname = "mx2.example.test"
state_dir = "/srv/posthorn"
user = "posthorn"
[[listen]]
address = "127.0.0.1:2526"
[metrics]
address = "127.0.0.1:9464"
[dns]
nameservers = ["127.0.0.1:5353"]
[limits]
message_size = "20M"
)");
  keep_restart_settings(running, fresh);
  EXPECT_TRUE(restart_needed(running, fresh).empty());
  EXPECT_EQ(fresh.state_dir, running.state_dir);
  EXPECT_EQ(fresh.listen[0].address, "127.0.0.1:2525");
  EXPECT_EQ(fresh.user, "");
  EXPECT_EQ(fresh.metrics.address, "");
  EXPECT_TRUE(fresh.dns.nameservers.empty());
  // Everything else is the new file's.
  EXPECT_EQ(fresh.hostname, "mx2.example.test");
  EXPECT_EQ(fresh.limits.message_size, 20'000'000u);
}

}  // namespace
}  // namespace posthorn::config
