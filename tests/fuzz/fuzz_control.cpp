// Fuzz target: the control socket's protocol (src/admin/control_protocol): the request
// line the server parses (parse_request), the RFC 3339 dates the CLI reads back, and the
// JSON the server writes about a message whose fields hold whatever a peer sent (a
// last_reply of any octets).
//
// Input layout: the whole input, used three ways.
// Invariants: a request that parses encodes to a line that parses to the same request;
// a parsed date prints back as the same date; dump_line() gives one line of valid JSON (ending in
// its newline) for any octets in any field, and never throws.

#include <cstddef>
#include <cstdint>
#include <nlohmann/json.hpp>
#include <string>
#include <string_view>

#include "admin/control_protocol.hpp"
#include "fuzz_util.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  using namespace posthorn;
  const std::string_view text(reinterpret_cast<const char*>(data), size);

  if (auto req = admin::parse_request(text)) {
    const std::string line = admin::encode_request(*req);
    FUZZ_CHECK(line.find('\n') == std::string::npos);
    auto again = admin::parse_request(line);
    FUZZ_CHECK(again.has_value());
    FUZZ_CHECK(again->op == req->op && again->id == req->id);
  } else {
    FUZZ_CHECK(!req.error().message.empty());
  }

  if (size <= 64) {
    if (auto t = admin::parse_rfc3339_utc(text)) {
      const std::string printed = admin::rfc3339_utc(*t);
      FUZZ_CHECK(admin::parse_rfc3339_utc(printed) == t);
    }
  }

  queue::envelope env;
  env.id = "0000000000fuzz";
  env.envid = std::string(text.substr(0, 100));
  queue::recipient r;
  r.address = mail::address{std::string(text.substr(0, 64)), "example.test"};
  r.last_reply = std::string(text);
  env.recipients.push_back(r);
  const std::string line = admin::dump_line(admin::envelope_json(env));
  FUZZ_CHECK(!line.empty() && line.find('\n') == line.size() - 1);
  const auto parsed = nlohmann::json::parse(line, nullptr, /*allow_exceptions=*/false);
  FUZZ_CHECK(!parsed.is_discarded());
  const std::string err = admin::error_reply("bad_request", text);
  FUZZ_CHECK(!err.empty() && err.find('\n') == err.size() - 1);
  return 0;
}
