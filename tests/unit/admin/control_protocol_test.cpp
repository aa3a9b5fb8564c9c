// The control socket's protocol without a socket: request parsing (good and bad lines),
// the envelope as `queue list --json` shows it, and the RFC 3339 times.

#include "admin/control_protocol.hpp"

#include <gtest/gtest.h>

namespace posthorn::admin {
namespace {

using json = nlohmann::ordered_json;

TEST(ControlProtocol, RequestsRoundTrip) {
  for (control_request req :
       {control_request{control_op::List, ""}, control_request{control_op::Show, "08DnQJm7nWnP"},
        control_request{control_op::Flush, ""}, control_request{control_op::Flush, "08DnQJm7nWnP"},
        control_request{control_op::Delete, "ALL"}, control_request{control_op::Hold, "abc"},
        control_request{control_op::Release, "abc"}}) {
    std::string line = encode_request(req);
    EXPECT_EQ(line.find('\n'), std::string::npos);
    auto back = parse_request(line);
    ASSERT_TRUE(back.has_value()) << line << ": " << back.error().message;
    EXPECT_EQ(back->op, req.op) << line;
    EXPECT_EQ(back->id, req.id) << line;
  }
}

TEST(ControlProtocol, BadRequestsAreRefusedWithAReason) {
  for (std::string_view line :
       {"", "not json", "[]", "42", "{}", R"({"op": 1})", R"({"op": "explode"})",
        R"({"op": "show"})", R"({"op": "hold", "id": ""})", R"({"op": "hold", "id": 7})",
        R"({"op": "hold", "id": "../x"})", R"({"op": "hold", "id": "a b"})",
        R"({"op": "hold", "id": "ALL"})", R"({"op": "flush", "id": "ALL"})", "{\"op\": \"list\"",
        "\xff\xfe"}) {
    auto r = parse_request(line);
    EXPECT_FALSE(r.has_value()) << line;
    if (!r) {
      EXPECT_FALSE(r.error().message.empty());
    }
  }
  std::string long_id(65, 'a');
  EXPECT_FALSE(parse_request(R"({"op": "hold", "id": ")" + long_id + "\"}").has_value());
  std::string huge = R"({"op": "list", "pad": ")" + std::string(k_max_request, 'x') + "\"}";
  auto r = parse_request(huge);
  ASSERT_FALSE(r.has_value());
  EXPECT_NE(r.error().message.find("too long"), std::string::npos);
}

TEST(ControlProtocol, UnknownFieldsAndANullIdAreIgnored) {
  auto r = parse_request(R"({"op": "flush", "id": null, "verbose": true})");
  ASSERT_TRUE(r.has_value());
  EXPECT_EQ(r->op, control_op::Flush);
  EXPECT_TRUE(r->id.empty());
}

TEST(ControlProtocol, EnvelopeHasTheFieldsOfDesign44InOrder) {
  queue::envelope env;
  env.id = "08DnQJm7nWnP";
  env.size = 1234;
  env.arrival = 1'700'000'000;
  env.sender = {"someone", "example.net"};
  env.held = true;
  queue::recipient a{.address = {"alice", "example.test"}};
  a.status = queue::rcpt_status::Delivered;
  a.attempts = 1;
  a.last_reply = "250 2.0.0 delivered to maildir";
  queue::recipient b{.address = {"bob", "remote.test"}};
  b.status = queue::rcpt_status::Deferred;
  b.attempts = 2;
  b.last_reply = "451 4.3.0 Try again later";
  env.recipients = {a, b};

  json j = envelope_json(env);
  std::vector<std::string> keys;
  for (auto it = j.begin(); it != j.end(); ++it) {
    keys.push_back(it.key());
  }
  EXPECT_EQ(keys,
            (std::vector<std::string>{"id", "size", "arrival", "sender", "held", "recipients"}));
  EXPECT_EQ(j["id"], "08DnQJm7nWnP");
  EXPECT_EQ(j["size"], 1234);
  EXPECT_EQ(j["arrival"], "2023-11-14T22:13:20Z");
  EXPECT_EQ(j["sender"], "someone@example.net");
  EXPECT_EQ(j["held"], true);
  ASSERT_EQ(j["recipients"].size(), 2u);
  EXPECT_EQ(j["recipients"][0], json({{"address", "alice@example.test"},
                                      {"status", "delivered"},
                                      {"attempts", 1},
                                      {"last_reply", "250 2.0.0 delivered to maildir"}}));
  EXPECT_EQ(j["recipients"][1]["status"], "deferred");
  EXPECT_EQ(j["recipients"][1]["attempts"], 2);

  env.sender = {};
  EXPECT_EQ(envelope_json(env)["sender"], "");  // the null sender <>
}

TEST(ControlProtocol, OctetsThatAreNotUtf8DoNotBreakTheReply) {
  queue::envelope env;
  env.id = "x";
  queue::recipient r{.address = {"bob", "remote.test"}};
  r.last_reply = "550 \xff\xfe bad octets from a peer";
  env.recipients = {r};
  std::string line = dump_line(json{{"ok", true}, {"messages", {envelope_json(env)}}});
  ASSERT_FALSE(line.empty());
  EXPECT_EQ(line.back(), '\n');
  EXPECT_EQ(line.find('\n'), line.size() - 1);
  json back = json::parse(line);
  EXPECT_NE(
      back["messages"][0]["recipients"][0]["last_reply"].get<std::string>().find("bad octets"),
      std::string::npos);
}

TEST(ControlProtocol, Rfc3339RoundTrips) {
  EXPECT_EQ(rfc3339_utc(0), "1970-01-01T00:00:00Z");
  for (std::int64_t t : {0LL, 951'782'400LL, 1'700'000'000LL, 4'102'444'799LL}) {
    auto back = parse_rfc3339_utc(rfc3339_utc(t));
    ASSERT_TRUE(back.has_value()) << t;
    EXPECT_EQ(*back, t);
  }
  EXPECT_FALSE(parse_rfc3339_utc("2023-11-14 22:13:20").has_value());
  EXPECT_FALSE(parse_rfc3339_utc("2023-11-14T22:13:20+01:00").has_value());
  EXPECT_FALSE(parse_rfc3339_utc("").has_value());
}

TEST(ControlProtocol, ErrorReplyIsOneJsonLine) {
  std::string line = error_reply("not_found", "no message x in the queue");
  json j = json::parse(line);
  EXPECT_EQ(j["ok"], false);
  EXPECT_EQ(j["code"], "not_found");
  EXPECT_EQ(j["error"], "no message x in the queue");
}

}  // namespace
}  // namespace posthorn::admin
