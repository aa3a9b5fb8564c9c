#include "config/restart.hpp"

namespace posthorn::config {

namespace {

bool same_listeners(const std::vector<listen_config>& a, const std::vector<listen_config>& b) {
  if (a.size() != b.size()) {
    return false;
  }
  for (std::size_t i = 0; i < a.size(); ++i) {
    // The listener keeps its listen_config from start, allow_plaintext_auth and
    // proxy_protocol included.
    if (a[i].endpoint.host != b[i].endpoint.host || a[i].endpoint.port != b[i].endpoint.port ||
        a[i].role != b[i].role || a[i].allow_plaintext_auth != b[i].allow_plaintext_auth ||
        a[i].proxy_protocol != b[i].proxy_protocol) {
      return false;
    }
  }
  return true;
}

}  // namespace

std::vector<std::string> restart_needed(const config& running, const config& fresh) {
  std::vector<std::string> out;
  if (!same_listeners(running.listen, fresh.listen)) {
    out.emplace_back("listen");
  }
  if (running.state_dir != fresh.state_dir) {
    out.emplace_back("state_dir");
  }
  if (running.user != fresh.user) {
    out.emplace_back("user");
  }
  if (running.metrics.address != fresh.metrics.address) {
    out.emplace_back("metrics.address");
  }
  if (running.dns.nameservers != fresh.dns.nameservers) {
    out.emplace_back("dns.nameservers");
  }
  return out;
}

void keep_restart_settings(const config& running, config& fresh) {
  fresh.listen = running.listen;
  fresh.state_dir = running.state_dir;
  fresh.user = running.user;
  fresh.metrics = running.metrics;
  fresh.dns.nameservers = running.dns.nameservers;
}

}  // namespace posthorn::config
