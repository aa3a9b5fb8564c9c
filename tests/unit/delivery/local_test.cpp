#include "delivery/local.hpp"

#include <gtest/gtest.h>
#include <stdlib.h>

#include <filesystem>

namespace posthorn::delivery {
namespace {

TEST(deliver_local, tries_local_recipients_that_are_pending_or_deferred) {
  std::string pattern = (fs::temp_directory_path() / "posthorn-unit-XXXXXX").string();
  ASSERT_NE(::mkdtemp(pattern.data()), nullptr);
  const fs::path root = fs::path(pattern) / "mail";
  maildir box(root, "mx.example.test");

  queue::envelope env;
  env.sender = {"someone", "example.net"};
  auto add = [&](std::string local, bool is_local, queue::rcpt_status status) {
    queue::recipient r;
    r.address = {std::move(local), "example.test"};
    r.original = r.address;
    r.local = is_local;
    r.status = status;
    env.recipients.push_back(r);
  };
  add("pending", true, queue::rcpt_status::Pending);
  add("remote", false, queue::rcpt_status::Pending);
  add("deferred", true, queue::rcpt_status::Deferred);
  add("delivered", true, queue::rcpt_status::Delivered);
  add("failed", true, queue::rcpt_status::Failed);

  auto out = deliver_local(box, env, "Subject: x\r\n\r\nbody\r\n");
  ASSERT_EQ(out.size(), 2u);
  EXPECT_EQ(out[0].rcpt, 0u);
  EXPECT_EQ(out[1].rcpt, 2u);
  EXPECT_TRUE(out[0].status.has_value());
  EXPECT_TRUE(out[1].status.has_value());
  EXPECT_TRUE(fs::is_directory(root / "example.test" / "pending" / "new"));
  EXPECT_TRUE(fs::is_directory(root / "example.test" / "deferred" / "new"));
  EXPECT_FALSE(fs::exists(root / "example.test" / "remote"));
  EXPECT_FALSE(fs::exists(root / "example.test" / "delivered"));
  EXPECT_FALSE(fs::exists(root / "example.test" / "failed"));

  for (auto& r : env.recipients) {
    r.status = queue::rcpt_status::Delivered;
  }
  EXPECT_TRUE(deliver_local(box, env, "x").empty());
  fs::remove_all(pattern);
}

}  // namespace
}  // namespace posthorn::delivery
