// `posthorn queue ...`: one request over the control socket, the reply printed the way
// Postfix's postqueue/postsuper print theirs.

#include <fmt/format.h>

#include <algorithm>
#include <ctime>
#include <iostream>

#include "admin/control_client.hpp"
#include "admin/control_protocol.hpp"
#include "app/cli_commands.hpp"

namespace posthorn::app {

namespace {

using json = nlohmann::ordered_json;

admin::control_op op_for(queue_action a) {
  switch (a) {
    case queue_action::List:
      return admin::control_op::List;
    case queue_action::Show:
      return admin::control_op::Show;
    case queue_action::Flush:
      return admin::control_op::Flush;
    case queue_action::Delete:
      return admin::control_op::Delete;
    case queue_action::Hold:
      return admin::control_op::Hold;
    case queue_action::Release:
      return admin::control_op::Release;
  }
  return admin::control_op::List;
}

bool looks_like_id(const std::string& id) {
  return !id.empty() && id.size() <= 64 && std::all_of(id.begin(), id.end(), [](char c) {
    return (c >= '0' && c <= '9') || (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z');
  });
}

std::string str(const json& j, const char* key) {
  auto it = j.find(key);
  return it != j.end() && it->is_string() ? it->get<std::string>() : std::string();
}

std::uint64_t num(const json& j, const char* key) {
  auto it = j.find(key);
  return it != j.end() && it->is_number_unsigned() ? it->get<std::uint64_t>() : 0;
}

// "Tue Mar 12 10:00:00" in local time, as mailq shows it.
std::string arrival_text(const std::string& rfc3339) {
  auto t = admin::parse_rfc3339_utc(rfc3339);
  if (!t) {
    return rfc3339;
  }
  std::time_t tt = static_cast<std::time_t>(*t);
  std::tm tm{};
  ::localtime_r(&tt, &tm);
  char buf[32];
  std::strftime(buf, sizeof buf, "%a %b %e %H:%M:%S", &tm);
  return buf;
}

// postqueue -p: a header, one block per message (the id marked '*' while it is out for
// delivery, '!' when held), each recipient with its state, and a summary.
void print_list(const json& messages, const json& attempting) {
  if (messages.empty()) {
    std::cout << "Mail queue is empty\n";
    return;
  }
  std::size_t id_width = 10;
  for (const json& m : messages) {
    id_width = std::max(id_width, str(m, "id").size() + 1);
  }
  std::cout << fmt::format("{:<{}} {:>8} {:<20}  {}\n", "-Queue ID-", id_width, "--Size--",
                           "----Arrival Time----", "-Sender/Recipient-------");
  const std::string indent(id_width + 1 + 8 + 1 + 20 + 2, ' ');
  std::uint64_t total = 0;
  for (const json& m : messages) {
    const std::string id = str(m, "id");
    std::string mark;
    if (m.value("held", false)) {
      mark = "!";
    } else if (std::find(attempting.begin(), attempting.end(), json(id)) != attempting.end()) {
      mark = "*";
    }
    const std::uint64_t size = num(m, "size");
    total += size;
    const std::string sender = str(m, "sender");
    std::cout << fmt::format("{:<{}} {:>8} {:<20}  {}\n", id + mark, id_width, size,
                             arrival_text(str(m, "arrival")),
                             sender.empty() ? "MAILER-DAEMON" : sender);
    for (const json& r : m.value("recipients", json::array())) {
      const std::uint64_t attempts = num(r, "attempts");
      std::cout << indent << str(r, "address") << "  " << str(r, "status");
      if (attempts > 0) {
        std::cout << ", " << attempts << (attempts == 1 ? " attempt" : " attempts");
      }
      std::cout << '\n';
      if (const std::string reply = str(r, "last_reply"); !reply.empty()) {
        std::cout << indent << "  (" << reply << ")\n";
      }
    }
    std::cout << '\n';
  }
  const std::size_t n = messages.size();
  std::cout << fmt::format("-- {} KiB in {} {}\n", (total + 1023) / 1024, n,
                           n == 1 ? "request" : "requests");
}

// What a change did to one message, for the operator.
std::string outcome_text(queue_action a, const std::string& id, const std::string& result) {
  if (result == "later") {
    return id + ": out for delivery now; " +
           (a == queue_action::Flush ? "attempted again right after"
                                     : "done when the attempt ends");
  }
  switch (a) {
    case queue_action::Flush:
      return result == "unchanged" ? id + ": held, not flushed (release it)" : id + ": flushed";
    case queue_action::Delete:
      return id + ": deleted";
    case queue_action::Hold:
      return result == "unchanged" ? id + ": already held" : id + ": held";
    case queue_action::Release:
      return result == "unchanged" ? id + ": not held" : id + ": released";
    default:
      return id + ": " + result;
  }
}

}  // namespace

int queue_command(const std::string& config_file, const queue_request& req) {
  const std::string prog = "posthorn queue";
  if (req.action != queue_action::List && !(req.action == queue_action::Flush && req.id.empty())) {
    if (req.id == "ALL" && req.action != queue_action::Delete) {
      std::cerr << prog << ": ALL is for delete only\n";
      return k_exit_usage;
    }
    if (!looks_like_id(req.id)) {
      std::cerr << prog << ": no message " << req.id << " in the queue (not a queue id)\n";
      return k_exit_failure;
    }
  }
  const auto cfg = load_config_or_report(config_file);
  if (!cfg) {
    return k_exit_usage;
  }
  auto reply = admin::control_call(cfg->control_socket(),
                                   admin::control_request{op_for(req.action), req.id});
  if (!reply) {
    std::cerr << prog << ": " << reply.error().message << '\n';
    return k_exit_failure;
  }
  const json& head = reply->head;
  if (!head.value("ok", false)) {
    const std::string code = str(head, "code");
    std::cerr << prog << ": " << str(head, "error") << '\n';
    return code == "bad_request" ? k_exit_usage : k_exit_failure;
  }
  switch (req.action) {
    case queue_action::List: {
      const json messages = head.value("messages", json::array());
      if (req.json) {
        std::cout << messages.dump(2, ' ', false, json::error_handler_t::replace) << '\n';
      } else {
        print_list(messages, head.value("attempting", json::array()));
      }
      return k_exit_ok;
    }
    case queue_action::Show: {
      std::cout << head.value("envelope", json::object())
                       .dump(2, ' ', false, json::error_handler_t::replace)
                << '\n';
      std::cout.write(reply->body.data(), static_cast<std::streamsize>(reply->body.size()));
      std::cout.flush();
      return std::cout ? k_exit_ok : k_exit_failure;
    }
    case queue_action::Flush:
      if (req.id.empty()) {
        std::cout << "flushed " << num(head, "flushed") << " message(s)\n";
        return k_exit_ok;
      }
      break;
    case queue_action::Delete:
      if (req.id == "ALL") {
        std::cout << "deleted " << num(head, "deleted") << " message(s)";
        if (const auto later = num(head, "later"); later > 0) {
          std::cout << "; " << later << " out for delivery, deleted when the attempt ends";
        }
        std::cout << '\n';
        if (const auto failed = num(head, "failed"); failed > 0) {
          std::cerr << prog << ": " << failed << " message(s) could not be deleted (see the log)\n";
          return k_exit_failure;
        }
        return k_exit_ok;
      }
      break;
    default:
      break;
  }
  std::cout << outcome_text(req.action, req.id, str(head, "result")) << '\n';
  return k_exit_ok;
}

}  // namespace posthorn::app
