#pragma once
// The CLI's side of the control socket: connect, send one request, read the reply.
// Blocking, plain POSIX sockets (no event loop in a one-shot command).

#include <filesystem>
#include <nlohmann/json.hpp>
#include <string>

#include "admin/control_protocol.hpp"
#include "common/error.hpp"

namespace posthorn::admin {

struct control_reply {
  nlohmann::ordered_json head;  // the reply line; "ok" says whether the request succeeded
  std::string body;             // the message octets after a `show` reply
};

// Fails with "posthorn is not running (no control socket at PATH)" when nobody listens
// on `socket`; other failures name the socket and the reason.
result<control_reply> control_call(const std::filesystem::path& socket, const control_request& req);

}  // namespace posthorn::admin
