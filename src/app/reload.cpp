#include "app/reload.hpp"

#include <spdlog/spdlog.h>

#include <string>
#include <vector>

#include "auth/limiter.hpp"
#include "config/restart.hpp"
#include "policy/accounts.hpp"

namespace posthorn::app {

bool wants_server_tls(const config::config& cfg) {
  bool wants = cfg.tls.self_signed || std::filesystem::exists(cfg.tls.cert);
  for (const config::listen_config& l : cfg.listen) {
    wants = wants || l.role == config::listener_role::Submissions;
  }
  return wants;
}

namespace {

// A logfmt value in quotes: config errors quote what they expected (`like "35M"`).
std::string logfmt_quoted(std::string_view text) {
  std::string out = "\"";
  for (char c : text) {
    if (c == '"' || c == '\\') {
      out += '\\';
    }
    out += c == '\n' ? ' ' : c;
  }
  return out + '"';
}

void refuse(const std::string& reason) {
  spdlog::error("event=reload-failed what=config reason={}", logfmt_quoted(reason));
}

std::string joined(const std::vector<std::string>& names) {
  std::string out;
  for (const std::string& n : names) {
    out += (out.empty() ? "" : ",") + n;
  }
  return out;
}

}  // namespace

void reload_config(reload_targets& t) {
  const std::lock_guard lock(t.serialize);
  const std::shared_ptr<const config::config> running = t.ctx.cfg.load();

  // 1. Everything is read and checked; nothing running has changed yet.
  auto loaded = config::load_file(t.config_file);
  if (!loaded) {
    refuse(loaded.error().str());
    return;
  }
  config::config fresh = std::move(*loaded);
  std::vector<std::string> restart = config::restart_needed(*running, fresh);
  config::keep_restart_settings(*running, fresh);
  if (!t.tls && wants_server_tls(fresh)) {
    // The listeners were set up without TLS; turning it on means a restart.
    restart.emplace_back("tls");
  }
  auto accounts = policy::accounts::load(fresh);
  if (!accounts) {
    refuse(accounts.error().str());
    return;
  }
  std::shared_ptr<const smtp::check_list> checks;
  if (t.make_checks) {
    auto made = t.make_checks(fresh);
    if (!made) {
      refuse(made.error().message);
      return;
    }
    checks = std::move(*made);
  }
  // The last step that can fail, and the first that changes something: the store swaps
  // in the new certificate only when it loaded.
  if (t.tls) {
    if (auto r = t.tls->reload(tls::server_settings::from(fresh)); !r) {
      refuse("tls: " + r.error().message);
      return;
    }
  }

  // 2. Swap. Each holder takes the new set whole; sessions, remote batches and local
  // deliveries under way finish with what they loaded when they started.
  auto cfg = std::make_shared<const config::config>(std::move(fresh));
  t.ctx.accounts.store(*accounts);
  t.ctx.cfg.store(cfg);
  if (checks) {
    t.ctx.checks.store(std::move(checks));
  }
  t.ctx.limits.set(cfg->limits.connections, cfg->limits.connections_per_ip);
  if (t.ctx.auth_limiter) {
    t.ctx.auth_limiter->reconfigure(auth::limiter_settings{.max_failures = cfg->auth.max_failures,
                                                           .window = cfg->auth.failure_window});
  }
  t.scheduler.set_config(cfg->queue);
  t.remote.reconfigure(cfg);

  spdlog::info("event=reload what=accounts users={}", (*accounts)->users().size());
  if (t.tls) {
    spdlog::info("event=reload what=tls");
  }
  if (restart.empty()) {
    spdlog::info("event=reload what=config");
  } else {
    spdlog::warn("event=reload what=config restart_needed=\"{}\"", joined(restart));
  }
}

}  // namespace posthorn::app
