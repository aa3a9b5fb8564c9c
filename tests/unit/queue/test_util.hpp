#pragma once
// Shared by the queue unit tests: a private temporary folder per test, file helpers,
// and a field-by-field envelope comparison.

#include <gtest/gtest.h>
#include <stdlib.h>

#include <filesystem>
#include <fstream>
#include <iterator>
#include <string>
#include <system_error>

#include "queue/envelope.hpp"

namespace posthorn::queue::test {

namespace fs = std::filesystem;

class temp_dir {
 public:
  temp_dir() {
    std::string pattern = (fs::temp_directory_path() / "posthorn-unit-XXXXXX").string();
    if (::mkdtemp(pattern.data()) == nullptr) {
      ADD_FAILURE() << "mkdtemp failed";
    }
    path_ = pattern;
  }
  ~temp_dir() {
    std::error_code ec;
    fs::remove_all(path_, ec);
  }
  temp_dir(const temp_dir&) = delete;
  temp_dir& operator=(const temp_dir&) = delete;
  const fs::path& path() const { return path_; }

 private:
  fs::path path_;
};

inline std::string read_all(const fs::path& p) {
  std::ifstream in(p, std::ios::binary);
  return {std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
}

inline void write_all(const fs::path& p, std::string_view data) {
  std::ofstream out(p, std::ios::binary | std::ios::trunc);
  out.write(data.data(), static_cast<std::streamsize>(data.size()));
}

inline void expect_same(const envelope& a, const envelope& b) {
  EXPECT_EQ(a.id, b.id);
  EXPECT_EQ(a.sender, b.sender);
  EXPECT_EQ(a.arrival, b.arrival);
  EXPECT_EQ(a.body, b.body);
  EXPECT_EQ(a.smtputf8, b.smtputf8);
  EXPECT_EQ(a.envid, b.envid);
  EXPECT_EQ(a.ret, b.ret);
  EXPECT_EQ(a.client_addr, b.client_addr);
  EXPECT_EQ(a.client_name, b.client_name);
  EXPECT_EQ(a.helo, b.helo);
  EXPECT_EQ(a.protocol, b.protocol);
  EXPECT_EQ(a.auth_user, b.auth_user);
  EXPECT_EQ(a.held, b.held);
  EXPECT_EQ(a.size, b.size);
  ASSERT_EQ(a.recipients.size(), b.recipients.size());
  for (std::size_t i = 0; i < a.recipients.size(); ++i) {
    SCOPED_TRACE("recipient " + std::to_string(i));
    const recipient& x = a.recipients[i];
    const recipient& y = b.recipients[i];
    EXPECT_EQ(x.address, y.address);
    EXPECT_EQ(x.original, y.original);
    EXPECT_EQ(x.orcpt, y.orcpt);
    EXPECT_EQ(x.notify, y.notify);
    EXPECT_EQ(x.local, y.local);
    EXPECT_EQ(x.status, y.status);
    EXPECT_EQ(x.attempts, y.attempts);
    EXPECT_EQ(x.last_reply, y.last_reply);
    EXPECT_EQ(x.next_attempt, y.next_attempt);
  }
}

// An envelope with every field set to something other than its default.
inline envelope full_envelope(std::string id) {
  envelope env;
  env.id = std::move(id);
  env.sender = {"jörg.müller", "bücher.example"};
  env.arrival = 1'700'000'123;
  env.body = body_type::EightBitMime;
  env.smtputf8 = true;
  env.envid = "ENV-ID+2B42";
  env.ret = dsn_ret::Hdrs;
  env.client_addr = "2001:db8::17";
  env.client_name = "mail.bücher.example";
  env.helo = "[2001:db8::17]";
  env.protocol = "ESMTPSA";
  env.auth_user = "jörg@bücher.example";
  env.held = true;

  recipient a;
  a.address = {"alice", "example.test"};
  a.original = {"team", "example.test"};
  a.orcpt = "rfc822;team@example.test";
  a.notify = notify::Success | notify::Failure;
  a.local = true;
  recipient b = a;
  b.address = {"日本", "例え.テスト"};
  b.original = {"日本", "例え.テスト"};
  b.orcpt = "utf-8;日本@例え.テスト";
  b.notify = notify::Never;
  b.local = false;
  b.status = rcpt_status::Deferred;
  b.attempts = 3;
  b.last_reply = "451 4.7.1 greylisted, try later";
  b.next_attempt = 1'700'000'999;
  recipient c;
  c.address = {"with space", "example.test"};
  c.original = c.address;
  c.status = rcpt_status::Failed;
  c.last_reply = "550 5.1.1 no such user";
  env.recipients = {a, b, c};
  return env;
}

}  // namespace posthorn::queue::test
