// Maildir delivery (DESIGN.md §4.1, §4.2): the exact octets of the file, its name,
// the folders, hard links for alias fan-out, and mailbox names that cannot escape.

#include "delivery/maildir.hpp"
#include "mail/crlf_size.hpp"

#include <gtest/gtest.h>
#include <stdlib.h>
#include <sys/stat.h>

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <random>
#include <regex>

namespace posthorn::delivery {
namespace {

// The ",W=" of a file holding `lf` (mail/crlf_size.hpp).
std::uint64_t crlf_of(std::string_view lf) {
  posthorn::mail::crlf_size_counter c;
  c.feed(lf);
  return c.total();
}

using queue::envelope;
using queue::recipient;

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
  const fs::path& path() const { return path_; }

 private:
  fs::path path_;
};

std::string read_all(const fs::path& p) {
  std::ifstream in(p, std::ios::binary);
  return {std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
}

std::vector<fs::path> files_in(const fs::path& dir) {
  std::vector<fs::path> out;
  std::error_code ec;
  for (const auto& e : fs::directory_iterator(dir, ec)) {
    out.push_back(e.path());
  }
  std::ranges::sort(out);
  return out;
}

recipient rcpt(mail::address address, mail::address original = {}) {
  recipient r;
  r.address = std::move(address);
  r.original = original.empty() ? r.address : std::move(original);
  return r;
}

std::vector<outcome> deliver(maildir& box, const envelope& env, std::string_view message) {
  box.begin(env);
  for (std::size_t i = 0; i < env.recipients.size(); ++i) {
    box.add_recipient(i);
  }
  box.body(message);
  return box.commit();
}

mode_t mode_of(const fs::path& p) {
  struct stat st {};
  EXPECT_EQ(::stat(p.c_str(), &st), 0) << p;
  return st.st_mode & 07777;
}

struct stat stat_of(const fs::path& p) {
  struct stat st {};
  EXPECT_EQ(::stat(p.c_str(), &st), 0) << p;
  return st;
}

class maildir_test : public ::testing::Test {
 protected:
  temp_dir tmp_;
  fs::path root_ = tmp_.path() / "mail";
  maildir box_{root_, "mx.example.test"};
};

TEST_F(maildir_test, file_holds_return_path_delivered_to_and_the_message_with_lf_ends) {
  envelope env;
  env.id = "0123456789AB";
  env.sender = {"someone", "example.net"};
  env.recipients = {rcpt({"alice", "Example.TEST"}, {"Alice", "example.test"})};
  const std::string message =
      "Received: from client.example.net by mx.example.test with ESMTP id 0123456789AB\r\n"
      "\tfor <Alice@example.test>; Mon, 1 Jan 2024 00:00:00 +0000\r\n"
      "Subject: hi\r\n"
      "\r\n"
      "line one\r\n"
      "a lone \r carriage return and a lone \n line feed stay\r\n"
      "\r\n"
      "last line without end";
  auto out = deliver(box_, env, message);
  ASSERT_EQ(out.size(), 1u);
  EXPECT_EQ(out[0].rcpt, 0u);
  ASSERT_TRUE(out[0].status.has_value()) << out[0].status.error().message;

  const fs::path mailbox = root_ / "example.test" / "alice";
  auto files = files_in(mailbox / "new");
  ASSERT_EQ(files.size(), 1u);
  const std::string expected =
      "Return-Path: <someone@example.net>\n"
      "Delivered-To: Alice@example.test\n"
      "Received: from client.example.net by mx.example.test with ESMTP id 0123456789AB\n"
      "\tfor <Alice@example.test>; Mon, 1 Jan 2024 00:00:00 +0000\n"
      "Subject: hi\n"
      "\n"
      "line one\n"
      "a lone \r carriage return and a lone \n line feed stay\n"
      "\n"
      "last line without end";
  EXPECT_EQ(read_all(files[0]), expected);

  // <queue id>.R<recipient>.<host>,S=<size>, the size of the file as written (known
  // before it is written: lone CR and LF count, only CRLF shrinks).
  EXPECT_EQ(files[0].filename().string(),
            "0123456789AB.R0.mx.example.test,S=" + std::to_string(expected.size()) +
                ",W=" + std::to_string(crlf_of(expected)));

  for (const char* sub : {"tmp", "new", "cur"}) {
    EXPECT_TRUE(fs::is_directory(mailbox / sub)) << sub;
    EXPECT_EQ(mode_of(mailbox / sub), 0700u) << sub;
  }
  EXPECT_TRUE(files_in(mailbox / "tmp").empty());
  EXPECT_EQ(mode_of(mailbox), 0700u);
  EXPECT_EQ(mode_of(root_ / "example.test"), 0700u);
  EXPECT_EQ(mode_of(files[0]), 0600u);
}

TEST_F(maildir_test, without_a_queue_id_names_are_unique_per_delivery) {
  envelope env;
  env.recipients = {rcpt({"alice", "example.test"})};
  ASSERT_TRUE(deliver(box_, env, "x\r\n").at(0).status.has_value());
  ASSERT_TRUE(deliver(box_, env, "x\r\n").at(0).status.has_value());
  auto files = files_in(root_ / "example.test" / "alice" / "new");
  ASSERT_EQ(files.size(), 2u);
  const std::size_t size =
      std::string("Return-Path: <>\nDelivered-To: alice@example.test\nx\n").size();
  for (const fs::path& f : files) {
    // <secs>.M<usecs>P<pid>Q<n>.<host>,S=<size>
    const std::string name = f.filename().string();
    std::smatch m;
    ASSERT_TRUE(std::regex_match(
        name, m, std::regex(R"((\d+)\.M(\d+)P(\d+)Q(\d+)\.mx\.example\.test,S=(\d+),W=(\d+))")))
        << name;
    EXPECT_EQ(std::stoull(m[5].str()), size);
    EXPECT_EQ(std::stoull(m[3].str()), static_cast<unsigned long long>(::getpid()));
    EXPECT_LT(std::stoull(m[2].str()), 1'000'000u);
  }
}

TEST_F(maildir_test, null_sender_is_an_empty_return_path) {
  envelope env;
  env.recipients = {rcpt({"bob", "example.test"})};
  auto out = deliver(box_, env, "Subject: bounce\r\n\r\nx\r\n");
  ASSERT_TRUE(out.at(0).status.has_value());
  auto files = files_in(root_ / "example.test" / "bob" / "new");
  ASSERT_EQ(files.size(), 1u);
  EXPECT_EQ(read_all(files[0]),
            "Return-Path: <>\nDelivered-To: bob@example.test\nSubject: bounce\n\nx\n");
}

TEST_F(maildir_test, utf8_addresses_are_written_as_they_are) {
  envelope env;
  env.sender = {"grüße", "example.net"};
  env.recipients = {rcpt({"jörg", "example.test"})};
  auto out = deliver(box_, env, "Subject: Grüße\r\n\r\nHallo\r\n");
  ASSERT_TRUE(out.at(0).status.has_value());
  auto files = files_in(root_ / "example.test" / "jörg" / "new");
  ASSERT_EQ(files.size(), 1u);
  EXPECT_EQ(read_all(files[0]),
            "Return-Path: <grüße@example.net>\nDelivered-To: jörg@example.test\n"
            "Subject: Grüße\n\nHallo\n");
}

TEST_F(maildir_test, big_message_is_converted_across_buffer_boundaries) {
  std::mt19937 rng(3);
  std::string message;
  while (message.size() < 3'000'000) {
    const std::size_t len = rng() % 3000;
    message.append(len, static_cast<char>('a' + rng() % 26));
    message += (rng() % 50 == 0) ? "\r" : "\r\n";
  }
  std::string expected = "Return-Path: <a@example.net>\nDelivered-To: big@example.test\n";
  for (std::size_t i = 0; i < message.size(); ++i) {
    if (message[i] == '\r' && i + 1 < message.size() && message[i + 1] == '\n') {
      continue;
    }
    expected += message[i];
  }
  envelope env;
  env.sender = {"a", "example.net"};
  env.recipients = {rcpt({"big", "example.test"})};
  auto out = deliver(box_, env, message);
  ASSERT_TRUE(out.at(0).status.has_value());
  auto files = files_in(root_ / "example.test" / "big" / "new");
  ASSERT_EQ(files.size(), 1u);
  const std::string got = read_all(files[0]);
  EXPECT_EQ(got.size(), expected.size());
  EXPECT_TRUE(got == expected);
  EXPECT_NE(files[0].filename().string().find(",S=" + std::to_string(expected.size())),
            std::string::npos);
}

TEST_F(maildir_test, alias_members_share_one_file_through_hard_links) {
  envelope env;
  env.sender = {"someone", "example.net"};
  const mail::address team{"team", "example.test"};
  env.recipients = {rcpt({"alice", "example.test"}, team), rcpt({"bob", "example.test"}, team),
                    rcpt({"carol", "other.test"}, team),
                    rcpt({"alice", "example.test"}, {"alice", "example.test"})};
  auto out = deliver(box_, env, "Subject: team\r\n\r\nhello team\r\n");
  ASSERT_EQ(out.size(), 4u);
  for (std::size_t i = 0; i < out.size(); ++i) {
    EXPECT_EQ(out[i].rcpt, i);
    EXPECT_TRUE(out[i].status.has_value()) << i;
  }
  const std::string team_file =
      "Return-Path: <someone@example.net>\nDelivered-To: team@example.test\n"
      "Subject: team\n\nhello team\n";
  std::vector<fs::path> shared;
  for (const fs::path& box : {root_ / "example.test" / "alice", root_ / "example.test" / "bob",
                              root_ / "other.test" / "carol"}) {
    for (const fs::path& f : files_in(box / "new")) {
      if (read_all(f) == team_file) {
        shared.push_back(f);
      }
    }
  }
  ASSERT_EQ(shared.size(), 3u);
  const struct stat first = stat_of(shared[0]);
  EXPECT_EQ(first.st_nlink, 3u);
  for (const fs::path& f : shared) {
    EXPECT_EQ(stat_of(f).st_ino, first.st_ino) << f;
    EXPECT_NE(f.filename().string().find(",S=" + std::to_string(team_file.size())),
              std::string::npos);
  }
  EXPECT_NE(shared[0].filename(), shared[1].filename());
  // alice also got her own copy, addressed to her directly: another Delivered-To.
  auto alice = files_in(root_ / "example.test" / "alice" / "new");
  ASSERT_EQ(alice.size(), 2u);
  EXPECT_NE(stat_of(alice[0]).st_ino, stat_of(alice[1]).st_ino);
}

TEST_F(maildir_test, the_same_mailbox_twice_in_one_group_gets_one_copy) {
  envelope env;
  env.recipients = {rcpt({"alice", "example.test"}), rcpt({"alice", "example.test"})};
  auto out = deliver(box_, env, "x\r\n");
  ASSERT_EQ(out.size(), 2u);
  EXPECT_TRUE(out[0].status.has_value());
  EXPECT_TRUE(out[1].status.has_value());
  EXPECT_EQ(files_in(root_ / "example.test" / "alice" / "new").size(), 1u);
}

TEST_F(maildir_test, links_across_file_systems_fall_back_to_writing) {
  const fs::path shm = "/dev/shm";
  std::string pattern = (shm / "posthorn-unit-XXXXXX").string();
  if (!fs::is_directory(shm) || ::mkdtemp(pattern.data()) == nullptr) {
    GTEST_SKIP() << "no /dev/shm";
  }
  const fs::path other = pattern;
  fs::create_directories(root_);
  if (stat_of(other).st_dev == stat_of(root_).st_dev) {
    fs::remove_all(other);
    GTEST_SKIP() << "/dev/shm is on the same file system as the temp folder";
  }
  fs::create_directory_symlink(other, root_ / "far.test");
  envelope env;
  const mail::address list{"list", "example.test"};
  env.recipients = {rcpt({"alice", "example.test"}, list), rcpt({"bob", "far.test"}, list)};
  auto out = deliver(box_, env, "Subject: far\r\n\r\nbody\r\n");
  ASSERT_EQ(out.size(), 2u);
  EXPECT_TRUE(out[0].status.has_value());
  EXPECT_TRUE(out[1].status.has_value());
  auto near = files_in(root_ / "example.test" / "alice" / "new");
  auto far = files_in(other / "bob" / "new");
  ASSERT_EQ(near.size(), 1u);
  ASSERT_EQ(far.size(), 1u);
  EXPECT_EQ(read_all(near[0]), read_all(far[0]));
  EXPECT_EQ(stat_of(far[0]).st_nlink, 1u);
  fs::remove_all(other);
}

TEST_F(maildir_test, mailbox_names_cannot_escape_their_folder) {
  EXPECT_EQ(box_.mailbox_path({"alice", "Example.Test"}), root_ / "example.test" / "alice");
  EXPECT_EQ(box_.mailbox_path({"Alice", "example.test"}), root_ / "example.test" / "Alice");
  EXPECT_EQ(box_.mailbox_path({"a/b", "example.test"}), root_ / "example.test" / "a%2Fb");
  EXPECT_EQ(box_.mailbox_path({"..", "example.test"}), root_ / "example.test" / "%2E.");
  EXPECT_EQ(box_.mailbox_path({".", "example.test"}), root_ / "example.test" / "%2E");
  EXPECT_EQ(box_.mailbox_path({".hidden", "example.test"}), root_ / "example.test" / "%2Ehidden");
  EXPECT_EQ(box_.mailbox_path({"../../etc", "example.test"}),
            root_ / "example.test" / "%2E.%2F..%2Fetc");
  EXPECT_EQ(box_.mailbox_path({"100%", "example.test"}), root_ / "example.test" / "100%25");
  EXPECT_EQ(box_.mailbox_path({std::string("nul\0x", 5), "example.test"}),
            root_ / "example.test" / "nul%00x");
  EXPECT_EQ(box_.mailbox_path({"a.b", "../x"}), root_ / "%2E.%2Fx" / "a.b");
  EXPECT_EQ(box_.mailbox_path({"x", "/etc"}), root_ / "%2Fetc" / "x");
  EXPECT_TRUE(box_.mailbox_path({"", "example.test"}).empty());
  EXPECT_TRUE(box_.mailbox_path({"x", ""}).empty());
  EXPECT_TRUE(box_.mailbox_path({std::string(200, '/'), "example.test"}).empty());
}

TEST_F(maildir_test, unsafe_local_parts_are_delivered_inside_the_root) {
  envelope env;
  env.recipients = {rcpt({"../../escape", "example.test"}), rcpt({"", "example.test"}),
                    rcpt({"ok", "example.test"})};
  auto out = deliver(box_, env, "x\r\n");
  ASSERT_EQ(out.size(), 3u);
  EXPECT_TRUE(out[0].status.has_value());
  ASSERT_FALSE(out[1].status.has_value());
  EXPECT_TRUE(out[1].status.error().permanent());
  EXPECT_EQ(out[1].status.error().enhanced, "5.1.1");
  EXPECT_TRUE(out[2].status.has_value());
  EXPECT_EQ(files_in(root_ / "example.test" / "%2E.%2F..%2Fescape" / "new").size(), 1u);
  EXPECT_FALSE(fs::exists(tmp_.path() / "escape"));
  EXPECT_FALSE(fs::exists(root_ / "escape"));
}

TEST_F(maildir_test, disk_errors_are_temporary_per_recipient) {
  fs::create_directories(root_);
  std::ofstream(root_ / "blocked.test") << "a file where a domain folder should be";
  envelope env;
  env.recipients = {rcpt({"alice", "blocked.test"}), rcpt({"bob", "example.test"})};
  auto out = deliver(box_, env, "x\r\n");
  ASSERT_EQ(out.size(), 2u);
  ASSERT_FALSE(out[0].status.has_value());
  EXPECT_TRUE(out[0].status.error().temporary());
  EXPECT_EQ(out[0].status.error().enhanced, "4.3.0");
  EXPECT_TRUE(out[1].status.has_value());
}

TEST_F(maildir_test, an_existing_maildir_is_reused_and_a_missing_new_is_recreated) {
  const fs::path mailbox = root_ / "example.test" / "alice";
  fs::create_directories(mailbox / "tmp");  // half a Maildir: no new/, no cur/
  envelope env;
  env.recipients = {rcpt({"alice", "example.test"})};
  auto out = deliver(box_, env, "one\r\n");
  ASSERT_TRUE(out.at(0).status.has_value()) << out.at(0).status.error().message;
  out = deliver(box_, env, "two\r\n");
  ASSERT_TRUE(out.at(0).status.has_value());
  EXPECT_EQ(files_in(mailbox / "new").size(), 2u);
  EXPECT_TRUE(fs::is_directory(mailbox / "cur"));
}

TEST_F(maildir_test, a_queued_message_gets_the_same_name_in_new_at_every_attempt) {
  envelope env;
  env.id = "0ABCDEFGHIJK";
  env.recipients = {rcpt({"alice", "example.test"}), rcpt({"bob", "example.test"})};
  auto out = deliver(box_, env, "hello\r\n");
  ASSERT_EQ(out.size(), 2u);
  const std::string body = "Return-Path: <>\nDelivered-To: bob@example.test\nhello\n";
  auto files = files_in(root_ / "example.test" / "bob" / "new");
  ASSERT_EQ(files.size(), 1u);
  EXPECT_EQ(files[0].filename().string(),
            "0ABCDEFGHIJK.R1.mx.example.test,S=" + std::to_string(body.size()) +
                ",W=" + std::to_string(crlf_of(body)));
  EXPECT_EQ(read_all(files[0]), body);
  EXPECT_TRUE(files_in(root_ / "example.test" / "bob" / "tmp").empty());
}

// The on-disk state a kill leaves is made by running prepare() and publish() (no
// outcomes, no cleanup: the process "dies" there) and then undoing the last steps
// publish() took; a new attempt of the same envelope must then give every member
// exactly one copy (at most a duplicate is allowed; this design needs none).
class maildir_crash_test : public maildir_test, public ::testing::WithParamInterface<flush_mode> {
 protected:
  envelope fan_out() const {
    envelope env;
    env.id = "0FANOUT00042";
    env.sender = {"someone", "example.net"};
    const mail::address fan{"fan", "example.test"};
    env.recipients = {rcpt({"u1", "example.test"}, fan), rcpt({"u2", "example.test"}, fan),
                      rcpt({"u3", "example.test"}, fan)};
    return env;
  }
  void attempt(maildir& m, const envelope& env, bool finish) {
    m.begin(env);
    for (std::size_t i = 0; i < env.recipients.size(); ++i) {
      m.add_recipient(i);
    }
    m.body(message_);
    m.prepare(GetParam());
    m.publish(GetParam());
    if (finish) {
      for (const outcome& o : m.outcomes()) {
        EXPECT_TRUE(o.status.has_value()) << o.rcpt << ": " << o.status.error().message;
      }
      m.cleanup();
    }
  }
  fs::path box(const char* user) const { return root_ / "example.test" / user; }

  const std::string message_ = "Subject: fan\r\n\r\nto all of you\r\n";
  const std::string file_ =
      "Return-Path: <someone@example.net>\nDelivered-To: fan@example.test\n"
      "Subject: fan\n\nto all of you\n";
};

TEST_P(maildir_crash_test, a_kill_at_any_step_of_a_fan_out_loses_no_member) {
  const envelope env = fan_out();
  const char* users[] = {"u1", "u2", "u3"};
  // publish() takes these steps in this order (u1 wrote the marker in prepare()):
  // u1 into new/; u2's marker from u1's, u2 into new/; u3's marker, u3 into new/.
  for (int undo = 0; undo <= 5; ++undo) {
    SCOPED_TRACE("steps undone: " + std::to_string(undo));
    fs::remove_all(root_);
    {
      maildir first(root_, "mx.example.test");
      attempt(first, env, /*finish=*/false);
    }
    std::vector<fs::path> steps;
    for (std::size_t i = 0; i < std::size(users); ++i) {
      if (i > 0) {
        steps.push_back(box(users[i]) / "tmp" /
                        ("0FANOUT00042.R" + std::to_string(i) + ".mx.example.test"));
      }
      auto got = files_in(box(users[i]) / "new");
      ASSERT_EQ(got.size(), 1u) << users[i];
      steps.push_back(got[0]);
    }
    ASSERT_EQ(steps.size(), 5u);
    for (int k = 0; k < undo; ++k) {
      ASSERT_TRUE(fs::remove(steps[steps.size() - 1 - k])) << steps[steps.size() - 1 - k];
    }
    maildir retry(root_, "mx.example.test");
    attempt(retry, env, /*finish=*/true);
    for (const char* u : users) {
      auto got = files_in(box(u) / "new");
      ASSERT_EQ(got.size(), 1u) << u;
      EXPECT_EQ(read_all(got[0]), file_) << u;
      EXPECT_TRUE(files_in(box(u) / "tmp").empty()) << u;
    }
  }
}

TEST_P(maildir_crash_test, a_kill_while_the_marker_is_written_leaves_nothing_delivered) {
  const envelope env = fan_out();
  fs::create_directories(box("u1") / "tmp");
  std::ofstream(box("u1") / "tmp" / "0FANOUT00042.R0.mx.example.test") << "half a mes";
  maildir retry(root_, "mx.example.test");
  attempt(retry, env, /*finish=*/true);
  for (const char* u : {"u1", "u2", "u3"}) {
    auto got = files_in(box(u) / "new");
    ASSERT_EQ(got.size(), 1u) << u;
    EXPECT_EQ(read_all(got[0]), file_) << u;
    EXPECT_TRUE(files_in(box(u) / "tmp").empty()) << u;
  }
}

TEST_P(maildir_crash_test, a_kill_after_every_link_before_the_spool_update_delivers_nothing_again) {
  const envelope env = fan_out();
  {
    maildir first(root_, "mx.example.test");
    attempt(first, env, /*finish=*/false);  // every link made, the spool never told
  }
  // The markers share one inode with the new/ files: its link count proves nothing.
  EXPECT_EQ(stat_of(box("u2") / "tmp" / "0FANOUT00042.R1.mx.example.test").st_nlink, 6u);
  maildir retry(root_, "mx.example.test");
  attempt(retry, env, /*finish=*/true);
  for (const char* u : {"u1", "u2", "u3"}) {
    EXPECT_EQ(files_in(box(u) / "new").size(), 1u) << u;
    EXPECT_TRUE(files_in(box(u) / "tmp").empty()) << u;
  }
}

TEST_P(maildir_crash_test, a_new_name_made_between_prepare_and_publish_counts_as_delivered) {
  const envelope env = fan_out();
  maildir m(root_, "mx.example.test");
  m.begin(env);
  m.add_recipient(0);
  m.body(message_);
  m.prepare(GetParam());
  const fs::path marker = box("u1") / "tmp" / "0FANOUT00042.R0.mx.example.test";
  const fs::path target =
      box("u1") / "new" /
      ("0FANOUT00042.R0.mx.example.test,S=" + std::to_string(file_.size()) +
       ",W=" + std::to_string(crlf_of(file_)));
  fs::create_hard_link(marker, target);  // link(2) will answer EEXIST
  m.publish(GetParam());
  auto out = m.outcomes();
  ASSERT_EQ(out.size(), 1u);
  EXPECT_TRUE(out[0].status.has_value());
  m.cleanup();
  EXPECT_EQ(files_in(box("u1") / "new"), std::vector<fs::path>{target});
  EXPECT_TRUE(files_in(box("u1") / "tmp").empty());
}

INSTANTIATE_TEST_SUITE_P(flush_modes, maildir_crash_test,
                         ::testing::Values(flush_mode::PerFile, flush_mode::Deferred),
                         [](const auto& info) {
                           return info.param == flush_mode::PerFile ? std::string("per_file")
                                                                    : std::string("deferred");
                         });

TEST_F(maildir_test, the_same_mailbox_twice_shares_the_outcome_of_its_one_copy) {
  fs::create_directories(root_);
  std::ofstream(root_ / "blocked.test") << "a file where a domain folder should be";
  envelope env;
  env.recipients = {rcpt({"alice", "blocked.test"}), rcpt({"alice", "blocked.test"})};
  auto out = deliver(box_, env, "x\r\n");
  ASSERT_EQ(out.size(), 2u);
  ASSERT_FALSE(out[0].status.has_value());
  ASSERT_FALSE(out[1].status.has_value());
  EXPECT_TRUE(out[1].status.error().temporary());
}

TEST_F(maildir_test, host_name_is_escaped_in_file_names) {
  maildir odd(root_, "odd/host:name,x");
  envelope env;
  env.recipients = {rcpt({"alice", "example.test"})};
  auto out = deliver(odd, env, "x\r\n");
  ASSERT_TRUE(out.at(0).status.has_value());
  auto files = files_in(root_ / "example.test" / "alice" / "new");
  ASSERT_EQ(files.size(), 1u);
  const std::string name = files[0].filename().string();
  EXPECT_NE(name.find(".odd\\057host\\072name\\054x,S="), std::string::npos) << name;
}

TEST_F(maildir_test, abort_and_empty_transactions_write_nothing) {
  envelope env;
  env.recipients = {rcpt({"alice", "example.test"})};
  box_.begin(env);
  box_.add_recipient(0);
  box_.body("x\r\n");
  box_.abort();
  EXPECT_TRUE(box_.commit().empty());
  box_.begin(env);
  box_.body("x\r\n");
  EXPECT_TRUE(box_.commit().empty());
  EXPECT_FALSE(fs::exists(root_ / "example.test"));
}

}  // namespace
}  // namespace posthorn::delivery
