#pragma once
// SIGHUP reloads the config, but a few settings belong to what the process set up at
// start (bound sockets, the folder holding the spool, the user it runs as, the DNS
// resolver's upstreams): those wait for a restart. docs/config.md lists them.

#include <string>
#include <vector>

#include "config/config.hpp"

namespace posthorn::config {

// The settings that differ between `running` and `fresh` but cannot change without a
// restart, by the names docs/config.md uses ("listen", "state_dir", "user",
// "metrics.address", "dns.nameservers"); empty when there are none.
std::vector<std::string> restart_needed(const config& running, const config& fresh);

// Gives `fresh` the running values of those settings, so that everything reading the
// reloaded config sees what the process actually does.
void keep_restart_settings(const config& running, config& fresh);

}  // namespace posthorn::config
