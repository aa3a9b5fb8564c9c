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

namespace posthorn::delivery {
namespace {

std::size_t files_in(const fs::path& dir) {
  std::size_t n = 0;
  if (fs::is_directory(dir)) {
    for ([[maybe_unused]] const auto& e : fs::directory_iterator(dir)) {
      ++n;
    }
  }
  return n;
}

// Many messages share two flushes; the crash markers in tmp/ outlive record(), and an
// attempt cut short before the spool learned the outcome finds the fixed new/ names.
TEST(deliver_local_batch, delivers_every_message_and_keeps_markers_until_recorded) {
  std::string pattern = (fs::temp_directory_path() / "posthorn-unit-XXXXXX").string();
  ASSERT_NE(::mkdtemp(pattern.data()), nullptr);
  const fs::path root = fs::path(pattern) / "mail";
  std::vector<queue::envelope> envs(3);
  for (std::size_t i = 0; i < envs.size(); ++i) {
    envs[i].id = "0ABCDEFGHIJ" + std::to_string(i);
    envs[i].sender = {"someone", "example.net"};
    for (const char* user : {"alice", "bob"}) {
      queue::recipient r;
      r.address = {user, "example.test"};
      r.original = {"team", "example.test"};  // fan-out: one file, hard links
      envs[i].recipients.push_back(r);
    }
  }
  std::vector<local_job> jobs;
  for (const auto& e : envs) {
    jobs.push_back(local_job{&e, "Subject: x\r\n\r\nbody\r\n", {}});
  }
  bool recorded = false;
  deliver_local_batch(jobs, root, "mx.example.test", 0, [&] {
    recorded = true;
    // Durable in new/, markers still in tmp/.
    EXPECT_EQ(files_in(root / "example.test" / "alice" / "new"), 3u);
    EXPECT_EQ(files_in(root / "example.test" / "bob" / "new"), 3u);
    EXPECT_EQ(files_in(root / "example.test" / "alice" / "tmp"), 3u);
    for (const local_job& j : jobs) {
      ASSERT_EQ(j.outcomes.size(), 2u);
      EXPECT_TRUE(j.outcomes[0].status.has_value());
      EXPECT_TRUE(j.outcomes[1].status.has_value());
    }
  });
  EXPECT_TRUE(recorded);
  EXPECT_EQ(files_in(root / "example.test" / "alice" / "tmp"), 0u);
  EXPECT_EQ(files_in(root / "example.test" / "bob" / "tmp"), 0u);
  // A second attempt after a crash before record() would have found the markers; now
  // that they are gone, the files in new/ are what the users have.
  for (const auto& e : fs::directory_iterator(root / "example.test" / "alice" / "new")) {
    EXPECT_EQ(fs::hard_link_count(e.path()), 2u);  // alice's and bob's copy
  }
  fs::remove_all(pattern);
}

TEST(deliver_local_batch, a_retry_that_finds_a_marker_does_not_deliver_again) {
  std::string pattern = (fs::temp_directory_path() / "posthorn-unit-XXXXXX").string();
  ASSERT_NE(::mkdtemp(pattern.data()), nullptr);
  const fs::path root = fs::path(pattern) / "mail";
  queue::envelope env;
  env.id = "0ABCDEFGHIJK";
  env.sender = {"someone", "example.net"};
  queue::recipient r;
  r.address = {"alice", "example.test"};
  r.original = r.address;
  env.recipients.push_back(r);
  std::vector<local_job> jobs{local_job{&env, "Subject: x\r\n\r\nbody\r\n", {}}};
  // First attempt "crashes" inside record(): the markers stay behind.
  struct crash {};
  try {
    deliver_local_batch(jobs, root, "mx.example.test", 0, [] { throw crash{}; });
  } catch (const crash&) {
  }
  ASSERT_EQ(files_in(root / "example.test" / "alice" / "new"), 1u);
  ASSERT_EQ(files_in(root / "example.test" / "alice" / "tmp"), 1u);
  jobs[0].outcomes.clear();
  deliver_local_batch(jobs, root, "mx.example.test", 0, [] {});
  ASSERT_EQ(jobs[0].outcomes.size(), 1u);
  EXPECT_TRUE(jobs[0].outcomes[0].status.has_value());
  EXPECT_EQ(files_in(root / "example.test" / "alice" / "new"), 1u);  // not twice
  EXPECT_EQ(files_in(root / "example.test" / "alice" / "tmp"), 0u);
  fs::remove_all(pattern);
}

}  // namespace
}  // namespace posthorn::delivery

namespace posthorn::delivery {
namespace {

TEST(deliver_local, a_deferred_recipient_waits_for_its_retry_time) {
  std::string pattern = (fs::temp_directory_path() / "posthorn-unit-XXXXXX").string();
  ASSERT_NE(::mkdtemp(pattern.data()), nullptr);
  maildir box(fs::path(pattern) / "mail", "mx.example.test");
  queue::envelope env;
  env.sender = {"someone", "example.net"};
  queue::recipient r;
  r.address = {"later", "example.test"};
  r.original = r.address;
  r.status = queue::rcpt_status::Deferred;
  r.next_attempt = 100;
  env.recipients.push_back(r);
  EXPECT_TRUE(deliver_local(box, env, "Subject: x\r\n\r\nbody\r\n", 99).empty());
  EXPECT_EQ(deliver_local(box, env, "Subject: x\r\n\r\nbody\r\n", 100).size(), 1u);
  fs::remove_all(pattern);
}

}  // namespace
}  // namespace posthorn::delivery

namespace posthorn::delivery {
namespace {

// A message judged spam goes to each mailbox's Maildir++ Junk folder, made as Dovecot
// expects (the mailbox itself, <box>/.Junk/{tmp,new,cur} and the maildirfolder file);
// other messages of the same batch go to the inbox.
TEST(deliver_local_batch, junk_goes_to_the_junk_folder) {
  std::string pattern = (fs::temp_directory_path() / "posthorn-unit-XXXXXX").string();
  ASSERT_NE(::mkdtemp(pattern.data()), nullptr);
  const fs::path root = fs::path(pattern) / "mail";
  std::vector<queue::envelope> envs(2);
  for (std::size_t i = 0; i < envs.size(); ++i) {
    envs[i].id = "0JUNKJUNKJU" + std::to_string(i);
    envs[i].sender = {"someone", "example.net"};
    envs[i].junk = i == 0;
    queue::recipient r;
    r.address = {"alice", "example.test"};
    envs[i].recipients.push_back(r);
  }
  std::vector<local_job> jobs;
  for (const auto& e : envs) {
    jobs.push_back(local_job{&e, "Subject: x\r\n\r\nbody\r\n", {}});
  }
  deliver_local_batch(
      jobs, root, "mx.example.test", 0, [] {}, "Junk");
  const fs::path box = root / "example.test" / "alice";
  EXPECT_EQ(files_in(box / ".Junk" / "new"), 1u);
  EXPECT_EQ(files_in(box / "new"), 1u);
  EXPECT_TRUE(fs::is_regular_file(box / ".Junk" / "maildirfolder"));
  EXPECT_TRUE(fs::is_directory(box / ".Junk" / "cur"));
  EXPECT_TRUE(fs::is_directory(box / "cur"));
  for (const auto& e : fs::directory_iterator(box / ".Junk" / "new")) {
    EXPECT_TRUE(e.path().filename().string().starts_with("0JUNKJUNKJU0.R0."));
  }
  // Without a junk folder, junk is delivered to the inbox.
  deliver_local_batch(
      jobs, root, "mx.example.test", 0, [] {}, "");
  // The junk message now lands in the inbox; the other one's name is there already.
  EXPECT_EQ(files_in(box / "new"), 2u);
  fs::remove_all(pattern);
}

}  // namespace
}  // namespace posthorn::delivery
