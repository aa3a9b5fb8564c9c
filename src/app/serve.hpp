#pragma once
// `posthorn serve`: runs the server in the foreground until SIGTERM.

#include <filesystem>
#include <string>

#include "config/config.hpp"

namespace posthorn::app {

struct serve_options {
  std::string log_level = "info";
  // The file SIGHUP reads again; empty: the one `cfg` was loaded from (cfg.source).
  std::filesystem::path config_file;
};

// Returns the process exit code: 0 after a clean stop, 1 on a runtime failure.
int run_serve(const config::config& cfg, const serve_options& opts);

}  // namespace posthorn::app
