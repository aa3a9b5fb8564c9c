#include "admin/control_protocol.hpp"

#include <cstdio>
#include <ctime>

namespace posthorn::admin {

namespace {

struct op_name {
  control_op op;
  const char* name;
  bool needs_id;
};
constexpr op_name k_ops[] = {
    {control_op::List, "list", false},   {control_op::Show, "show", true},
    {control_op::Flush, "flush", false}, {control_op::Delete, "delete", true},
    {control_op::Hold, "hold", true},    {control_op::Release, "release", true},
};

// Queue ids are short and alphanumeric (spool.cpp); "ALL" is one of them by shape.
bool plausible_id(std::string_view id) {
  if (id.empty() || id.size() > 64) {
    return false;
  }
  for (char c : id) {
    if (!((c >= '0' && c <= '9') || (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z'))) {
      return false;
    }
  }
  return true;
}

}  // namespace

result<control_request> parse_request(std::string_view line) {
  if (line.size() > k_max_request) {
    return fail(error::perm("", "request too long"));
  }
  nlohmann::ordered_json j =
      nlohmann::ordered_json::parse(line, nullptr, /*allow_exceptions=*/false);
  if (j.is_discarded() || !j.is_object()) {
    return fail(error::perm("", "a request is one JSON object on one line"));
  }
  auto op_it = j.find("op");
  if (op_it == j.end() || !op_it->is_string()) {
    return fail(error::perm("", "missing \"op\""));
  }
  const std::string& op = op_it->get_ref<const std::string&>();
  const op_name* found = nullptr;
  for (const op_name& o : k_ops) {
    if (op == o.name) {
      found = &o;
    }
  }
  if (found == nullptr) {
    return fail(error::perm("", "unknown op \"" + op + "\""));
  }
  control_request req{found->op, {}};
  if (auto id_it = j.find("id"); id_it != j.end() && !id_it->is_null()) {
    if (!id_it->is_string()) {
      return fail(error::perm("", "\"id\" must be a string"));
    }
    req.id = id_it->get<std::string>();
    if (!plausible_id(req.id)) {
      return fail(error::perm("", "not a queue id: " + req.id.substr(0, 80)));
    }
  }
  if (found->needs_id && req.id.empty()) {
    return fail(error::perm("", std::string(found->name) + " needs an \"id\""));
  }
  if (req.id == "ALL" && req.op != control_op::Delete) {
    return fail(error::perm("", "ALL is for delete only"));
  }
  return req;
}

std::string encode_request(const control_request& req) {
  nlohmann::ordered_json j;
  for (const op_name& o : k_ops) {
    if (o.op == req.op) {
      j["op"] = o.name;
    }
  }
  if (!req.id.empty()) {
    j["id"] = req.id;
  }
  return j.dump();
}

std::string rfc3339_utc(std::int64_t unix_seconds) {
  std::time_t t = static_cast<std::time_t>(unix_seconds);
  std::tm tm{};
  ::gmtime_r(&t, &tm);
  char buf[32];
  std::strftime(buf, sizeof buf, "%Y-%m-%dT%H:%M:%SZ", &tm);
  return buf;
}

std::optional<std::int64_t> parse_rfc3339_utc(std::string_view text) {
  if (text.size() != 20 || text[4] != '-' || text[7] != '-' || text[10] != 'T' || text[13] != ':' ||
      text[16] != ':' || text[19] != 'Z') {
    return std::nullopt;
  }
  std::tm tm{};
  const std::string s(text);
  if (std::sscanf(s.c_str(), "%4d-%2d-%2dT%2d:%2d:%2dZ", &tm.tm_year, &tm.tm_mon, &tm.tm_mday,
                  &tm.tm_hour, &tm.tm_min, &tm.tm_sec) != 6) {
    return std::nullopt;
  }
  tm.tm_year -= 1900;
  tm.tm_mon -= 1;
  return static_cast<std::int64_t>(::timegm(&tm));
}

nlohmann::ordered_json envelope_json(const queue::envelope& env) {
  nlohmann::ordered_json rcpts = nlohmann::ordered_json::array();
  for (const queue::recipient& r : env.recipients) {
    rcpts.push_back({{"address", r.address.str()},
                     {"status", queue::status_name(r.status)},
                     {"attempts", r.attempts},
                     {"last_reply", r.last_reply}});
  }
  return nlohmann::ordered_json{{"id", env.id},
                                {"size", env.size},
                                {"arrival", rfc3339_utc(env.arrival)},
                                {"sender", env.sender.empty() ? std::string() : env.sender.str()},
                                {"held", env.held},
                                {"recipients", std::move(rcpts)}};
}

std::string error_reply(std::string_view code, std::string_view message) {
  return dump_line(nlohmann::ordered_json{{"ok", false}, {"code", code}, {"error", message}});
}

std::string dump_line(const nlohmann::ordered_json& j) {
  return j.dump(-1, ' ', false, nlohmann::ordered_json::error_handler_t::replace) + "\n";
}

}  // namespace posthorn::admin
