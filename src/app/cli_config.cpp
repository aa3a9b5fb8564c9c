// `posthorn check-config` and the config loading every subcommand shares.

#include <iostream>

#include "app/cli_commands.hpp"
#include "app/privileges.hpp"
#include "policy/accounts.hpp"

namespace posthorn::app {

std::optional<config::config> load_config_or_report(const std::filesystem::path& file) {
  auto cfg = config::load_file(file);
  if (!cfg) {
    std::cerr << cfg.error().str() << '\n';
    return std::nullopt;
  }
  return std::move(*cfg);
}

int check_config(const std::filesystem::path& file) {
  const auto cfg = load_config_or_report(file);
  if (!cfg) {
    return k_exit_usage;
  }
  // The files [accounts] names are part of the configuration: a bad alias line
  // should surface here, not at the first SIGHUP.
  const auto accounts = policy::accounts::load(*cfg);
  if (!accounts) {
    std::cerr << accounts.error().str() << '\n';
    return k_exit_usage;
  }
  // `serve` would refuse to start (as root) with an unknown user; say it here first.
  if (!cfg->user.empty()) {
    if (auto who = lookup_user(cfg->user); !who) {
      std::cerr << file.string() << ": " << who.error().message << '\n';
      return k_exit_usage;
    }
  }
  std::cout << file.string() << ": config ok\n";
  return k_exit_ok;
}

}  // namespace posthorn::app
