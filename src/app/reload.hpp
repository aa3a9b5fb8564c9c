#pragma once
// SIGHUP (DESIGN.md §4.4): the config file, the users, aliases and relocated files it
// names and the TLS certificate are read again, off the event loop. All of it is checked
// before any of it is used: a mistake anywhere keeps the running set entirely in force.
// New SMTP sessions get the new set; sessions under way keep theirs.

#include <filesystem>
#include <functional>
#include <memory>
#include <mutex>

#include "config/config.hpp"
#include "delivery/remote.hpp"
#include "queue/scheduler.hpp"
#include "smtp/server/listener.hpp"
#include "tls/context.hpp"

namespace posthorn::app {

// Whether the server offers TLS: a certificate is there or may be generated, or a
// listener needs it (implicit TLS).
bool wants_server_tls(const config::config& cfg);

// Everything a reload swaps; owned by run_serve, which outlives every reload.
struct reload_targets {
  std::filesystem::path config_file;
  smtp::server_context& ctx;  // cfg, accounts, connection limits, AUTH limiter
  queue::scheduler& scheduler;
  delivery::remote_agent& remote;
  std::shared_ptr<tls::context_store> tls;  // null: started without TLS
  std::mutex serialize;                     // one reload at a time, in signal order
  // Builds the check modules for a config (checks_setup.hpp); null: none.
  std::function<result<std::shared_ptr<const smtp::check_list>>(const config::config&)> make_checks;
};

// Runs one reload (blocking: call it on the blocking pool) and logs its outcome:
// event=reload what=config [restart_needed="..."] or event=reload-failed what=config
// reason="file:line: key: ...".
void reload_config(reload_targets& t);

}  // namespace posthorn::app
