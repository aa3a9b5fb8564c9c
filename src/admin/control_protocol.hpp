#pragma once
// The control socket's protocol (docs/control.md), shared by the server and the CLI; no
// I/O here. A request is one JSON object on one line; the reply is one JSON line, and
// for `show` the message octets follow it (their length is in the reply).

#include <cstddef>
#include <cstdint>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <string_view>

#include "common/error.hpp"
#include "queue/envelope.hpp"

namespace posthorn::admin {

// A request line longer than this is refused (the longest real one is ~100 octets).
inline constexpr std::size_t k_max_request = 4096;

enum class control_op { List, Show, Flush, Delete, Hold, Release };

struct control_request {
  control_op op = control_op::List;
  std::string id;  // empty: flush everything; "ALL" for delete: every message
};

// Parses and checks one request line; the error text is for the client.
result<control_request> parse_request(std::string_view line);
// The request as it goes on the wire (without the newline).
std::string encode_request(const control_request& req);

// One message as DESIGN.md §4.4 lists it: id, size, arrival (RFC 3339 UTC), sender,
// held, recipients [{address, status, attempts, last_reply}].
nlohmann::ordered_json envelope_json(const queue::envelope& env);

// 2024-03-12T10:00:00Z
std::string rfc3339_utc(std::int64_t unix_seconds);
// The inverse for the form above; nullopt when it is not one.
std::optional<std::int64_t> parse_rfc3339_utc(std::string_view text);

// Replies. `code` is one of "bad_request", "not_found", "failed".
std::string error_reply(std::string_view code, std::string_view message);
// One line of JSON; octets that are not UTF-8 (a peer's reply may hold any) are
// replaced rather than failing the whole reply.
std::string dump_line(const nlohmann::ordered_json& j);

}  // namespace posthorn::admin
