#pragma once
// `posthorn serve`: runs the server in the foreground until SIGTERM.

#include <string>

#include "config/config.hpp"

namespace posthorn::app {

struct serve_options {
  std::string log_level = "info";
};

// Returns the process exit code: 0 after a clean stop, 1 on a runtime failure.
int run_serve(const config::config& cfg, const serve_options& opts);

}  // namespace posthorn::app
