#pragma once
// The command line's subcommands other than `serve` (DESIGN.md §4.4). Each returns the
// process exit code; main.cpp only parses arguments and dispatches.

#include <filesystem>
#include <optional>
#include <span>
#include <string>
#include <string_view>

#include "config/config.hpp"

namespace posthorn::app {

// DESIGN.md §4.4 exit codes.
inline constexpr int k_exit_ok = 0;
inline constexpr int k_exit_failure = 1;  // runtime failure
inline constexpr int k_exit_usage = 2;    // usage or config error

// Loads the config file; on a mistake prints "file:line: key: message" to stderr and
// returns nullopt (the caller exits with k_exit_usage).
std::optional<config::config> load_config_or_report(const std::filesystem::path& file);

// `check-config`: the config file and the users, aliases and relocated files it names.
int check_config(const std::filesystem::path& file);

enum class user_action { Add, Passwd, Del, List };

// `user add|passwd|del ADDRESS` and `user list [ADDRESS|DOMAIN]` on [accounts] users_file.
// add and passwd read the new password from stdin (one line) when it is not a terminal,
// else prompt twice without echo.
int user_command(user_action action, const std::filesystem::path& config_file,
                 std::string_view address);

// `queue list [--json] | show ID | flush [ID] | delete ID|ALL | hold ID | release ID`:
// one request over the control socket of the server that `config_file` describes.
enum class queue_action { List, Show, Flush, Delete, Hold, Release };
struct queue_request { queue_action action = queue_action::List; std::string id; bool json = false; };
int queue_command(const std::string& config_file, const queue_request& req);  // exit code 0/1/2

// `posthorn sendmail ARGS...` and the program run as sendmail, mailq or newaliases
// (`program`, the basename of argv[0]): sendmail-compatible options (DESIGN.md §4.4).
// Returns a sysexits(3) code, as sendmail's callers expect.
int sendmail_command(std::string_view program, std::span<const std::string_view> args);

}  // namespace posthorn::app
