// posthorn's command line (DESIGN.md §4.4): argument parsing and dispatch only; the
// subcommands live in cli_*.cpp and serve.cpp.

#include <CLI/CLI.hpp>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "app/cli_commands.hpp"
#include "app/serve.hpp"

namespace {

// Kept equal to project(VERSION) in CMakeLists.txt.
constexpr const char* k_version = "0.1.0";
constexpr const char* k_default_config = "posthorn.toml";

// sendmail's options are not CLI11's (-t, -oi, -f '' ...), so sendmail mode is routed
// before CLI11 parses: by the program name (sendmail, mailq, newaliases: DESIGN.md
// §4.4), or by `posthorn [-c FILE] sendmail ARGS...`.
std::optional<int> route_sendmail(int argc, char** argv) {
  std::string_view program = argc > 0 ? argv[0] : "posthorn";
  if (const auto slash = program.find_last_of('/'); slash != std::string_view::npos) {
    program.remove_prefix(slash + 1);
  }
  std::vector<std::string_view> args(argv + (argc > 0 ? 1 : 0), argv + argc);
  if (program == "sendmail" || program == "mailq" || program == "newaliases") {
    return posthorn::app::sendmail_command(program, args);
  }
  std::vector<std::string_view> forwarded;
  std::size_t i = 0;
  while (i < args.size()) {
    if ((args[i] == "-c" || args[i] == "--config") && i + 1 < args.size()) {
      forwarded.insert(forwarded.end(), {"-c", args[i + 1]});
      i += 2;
    } else if (args[i].starts_with("--config=")) {
      forwarded.push_back(args[i]);
      ++i;
    } else {
      break;
    }
  }
  if (i >= args.size() || args[i] != "sendmail") {
    return std::nullopt;
  }
  forwarded.insert(forwarded.end(), args.begin() + static_cast<std::ptrdiff_t>(i) + 1,
                   args.end());
  return posthorn::app::sendmail_command("sendmail", forwarded);
}

}  // namespace

int main(int argc, char** argv) {
  using namespace posthorn::app;
  if (const auto code = route_sendmail(argc, argv)) {
    return *code;
  }

  CLI::App app{"posthorn: a mail server (MTA)", "posthorn"};
  app.set_version_flag("--version", std::string("posthorn ") + k_version);
  app.require_subcommand(1);

  std::string config_file = k_default_config;
  std::string address;
  serve_options serve_opts;

  // Every subcommand takes -c; it is also accepted before the subcommand.
  const auto add_config_option = [&](CLI::App* where) {
    where->add_option("-c,--config", config_file, "config file")
        ->capture_default_str()
        ->type_name("FILE");
  };
  add_config_option(&app);
  app.add_option("--log-level", serve_opts.log_level, "log level for serve")
      ->capture_default_str()
      ->check(CLI::IsMember({"trace", "debug", "info", "warn", "error", "critical", "off"}));

  CLI::App* serve = app.add_subcommand(
      "serve", "run in the foreground; logs to stderr; SIGTERM stops, SIGHUP reloads");
  add_config_option(serve);
  serve->fallthrough();  // `serve --log-level debug`

  CLI::App* check = app.add_subcommand("check-config",
                                       "validate the config; errors name the "
                                       "file, line and key");
  add_config_option(check);

  CLI::App* user = app.add_subcommand("user", "manage the users file ([accounts] users_file)");
  user->require_subcommand(1);
  add_config_option(user);
  struct user_subcommand {
    const char* name;
    const char* help;
    user_action action;
    CLI::App* app = nullptr;
  };
  user_subcommand user_subcommands[] = {
      {"add", "add a user; password from stdin when it is not a terminal", user_action::Add},
      {"passwd", "change a user's password; from stdin when it is not a terminal",
       user_action::Passwd},
      {"del", "delete a user", user_action::Del},
      {"list", "list users, all or of one address or domain", user_action::List},
  };
  for (auto& sub : user_subcommands) {
    sub.app = user->add_subcommand(sub.name, sub.help);
    add_config_option(sub.app);
    auto* opt = sub.app->add_option("address", address,
                                    "the user's address, e.g. "
                                    "alice@example.test");
    if (sub.action == user_action::List) {
      opt->description("only this address or domain");
    } else {
      opt->required();
    }
  }

  CLI::App* queue = app.add_subcommand("queue", "the mail queue of the running server");
  queue->require_subcommand(1);
  add_config_option(queue);
  queue_request queue_req;
  struct queue_subcommand {
    const char* name;
    const char* help;
    queue_action action;
    CLI::App* app = nullptr;
  };
  queue_subcommand queue_subcommands[] = {
      {"list", "list queued messages with each recipient's state (like mailq)",
       queue_action::List},
      {"show", "print a message's envelope (JSON) and then the message", queue_action::Show},
      {"flush", "attempt deferred mail now: every message, or one", queue_action::Flush},
      {"delete", "remove a message from the queue, or every message with ALL",
       queue_action::Delete},
      {"hold", "keep a message from delivery until it is released", queue_action::Hold},
      {"release", "release a held message; it is attempted at once", queue_action::Release},
  };
  for (auto& sub : queue_subcommands) {
    sub.app = queue->add_subcommand(sub.name, sub.help);
    add_config_option(sub.app);
    if (sub.action == queue_action::List) {
      sub.app->add_flag("--json", queue_req.json, "one JSON array (DESIGN.md §4.4)");
      continue;
    }
    auto* opt = sub.app->add_option("id", queue_req.id, "queue id");
    if (sub.action == queue_action::Delete) {
      opt->description("queue id, or ALL");
    }
    if (sub.action == queue_action::Flush) {
      opt->description("only this queue id");
    } else {
      opt->required();
    }
  }

  // Listed for --help only: route_sendmail() has taken `sendmail` before CLI11 parses.
  app.add_subcommand("sendmail",
                     "sendmail-compatible submission to the running server "
                     "(`posthorn sendmail --help`)");

  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    // --help and --version are "errors" with code 0; everything else is a usage error.
    return app.exit(e) == 0 ? k_exit_ok : k_exit_usage;
  }

  if (serve->parsed()) {
    const auto cfg = load_config_or_report(config_file);
    if (!cfg) {
      return k_exit_usage;
    }
    serve_opts.config_file = config_file;  // read again on SIGHUP
    return run_serve(*cfg, serve_opts);
  }
  if (check->parsed()) {
    return check_config(config_file);
  }
  for (const auto& sub : user_subcommands) {
    if (sub.app->parsed()) {
      return user_command(sub.action, config_file, address);
    }
  }
  for (const auto& sub : queue_subcommands) {
    if (sub.app->parsed()) {
      queue_req.action = sub.action;
      return queue_command(config_file, queue_req);
    }
  }
  return k_exit_usage;
}
