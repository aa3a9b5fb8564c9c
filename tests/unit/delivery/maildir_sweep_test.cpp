// The tmp/ sweep (docs/flow.md, "Maildir delivery"): crash markers of messages gone from
// the spool go, those of queued messages stay; other files go after 36 hours.

#include "delivery/maildir_sweep.hpp"

#include <gtest/gtest.h>
#include <stdlib.h>

#include <ctime>
#include <fstream>
#include <set>

#include "delivery/maildir.hpp"

namespace posthorn::delivery {
namespace {

class maildir_sweep_test : public ::testing::Test {
 protected:
  maildir_sweep_test() {
    std::string pattern = (fs::temp_directory_path() / "posthorn-unit-XXXXXX").string();
    if (::mkdtemp(pattern.data()) == nullptr) {
      ADD_FAILURE() << "mkdtemp failed";
    }
    dir_ = pattern;
    root_ = dir_ / "mail";
  }
  ~maildir_sweep_test() override {
    std::error_code ec;
    fs::remove_all(dir_, ec);
  }
  fs::path put(const std::string& box, const std::string& name) {
    const fs::path tmp = root_ / "example.test" / box / "tmp";
    fs::create_directories(tmp);
    std::ofstream(tmp / name) << "x";
    return tmp / name;
  }
  sweep_stats sweep(std::int64_t now) {
    sweep_options o;
    o.root = root_;
    o.hostname = "mx.example.test";
    o.queued = [this](const std::string& id) { return queued_.contains(id); };
    o.now = now;
    return sweep_maildir_tmp(o);
  }

  fs::path dir_;
  fs::path root_;
  std::set<std::string> queued_;
  const std::int64_t now_ = static_cast<std::int64_t>(std::time(nullptr));
};

TEST(marker_queue_id, reads_only_markers_of_this_host) {
  EXPECT_EQ(marker_queue_id("0ABCdef12345.R0.mx.example.test", "mx.example.test"), "0ABCdef12345");
  EXPECT_EQ(marker_queue_id("0ABC.R17.mx.example.test", "mx.example.test"), "0ABC");
  EXPECT_EQ(marker_queue_id("0ABC.R1.other.example.test", "mx.example.test"), "");
  EXPECT_EQ(marker_queue_id("0ABC.R.mx.example.test", "mx.example.test"), "");
  EXPECT_EQ(marker_queue_id("0ABC.Rx.mx.example.test", "mx.example.test"), "");
  EXPECT_EQ(marker_queue_id(".R1.mx.example.test", "mx.example.test"), "");
  EXPECT_EQ(marker_queue_id("1700000000.M1P2Q3.mx.example.test", "mx.example.test"), "");
  EXPECT_EQ(marker_queue_id("0A-C.R1.mx.example.test", "mx.example.test"), "");
  EXPECT_EQ(marker_queue_id("0ABC.R1.mx.example.test,S=5", "mx.example.test"), "");
  EXPECT_EQ(marker_queue_id("0ABC.R1.odd\\057host", maildir_host_name("odd/host")), "0ABC");
}

TEST_F(maildir_sweep_test, markers_of_messages_gone_from_the_spool_are_removed) {
  queued_ = {"0QUEUED00001"};
  const fs::path gone1 = put("u1", "0GONE0000001.R0.mx.example.test");
  const fs::path gone2 = put("u2", "0GONE0000001.R1.mx.example.test");
  const fs::path live = put("u1", "0QUEUED00001.R0.mx.example.test");
  const fs::path other_host = put("u2", "0GONE0000001.R1.mx2.example.test");
  const fs::path writing = put("u3", "1700000000.M1P2Q3.mx.example.test");
  const sweep_stats s = sweep(now_);
  EXPECT_EQ(s.markers, 2u);
  EXPECT_EQ(s.stale, 0u);
  EXPECT_EQ(s.mailboxes, 3u);
  EXPECT_EQ(s.errors, 0u);
  EXPECT_FALSE(fs::exists(gone1));
  EXPECT_FALSE(fs::exists(gone2));
  EXPECT_TRUE(fs::exists(live));        // its delivery is still to come
  EXPECT_TRUE(fs::exists(other_host));  // another host's, sharing the Maildirs
  EXPECT_TRUE(fs::exists(writing));     // a delivery may be writing it right now
}

TEST_F(maildir_sweep_test, files_older_than_36_hours_are_removed_whatever_their_name) {
  queued_ = {"0QUEUED00001"};
  const fs::path other_host = put("u1", "0GONE0000001.R1.mx2.example.test");
  const fs::path odd = put("u1", "something else");
  const fs::path live = put("u2", "0QUEUED00001.R0.mx.example.test");
  fs::create_directories(root_ / "example.test" / "u2" / "tmp" / "a folder");
  // 35 hours on: young enough.
  sweep_stats s = sweep(now_ + 35 * 3600);
  EXPECT_EQ(s.stale, 0u);
  EXPECT_TRUE(fs::exists(odd));
  // 36 hours and a minute on: old (its change time is as old as the rest).
  s = sweep(now_ + 36 * 3600 + 60);
  EXPECT_EQ(s.stale, 2u);
  EXPECT_FALSE(fs::exists(other_host));
  EXPECT_FALSE(fs::exists(odd));
  EXPECT_TRUE(fs::exists(live));  // a queued message's marker waits for its delivery
  EXPECT_TRUE(fs::is_directory(root_ / "example.test" / "u2" / "tmp" / "a folder"));
}

TEST_F(maildir_sweep_test, odd_layouts_and_a_missing_root_are_no_errors) {
  EXPECT_EQ(sweep(now_).mailboxes, 0u);  // no root yet
  fs::create_directories(root_ / "example.test" / "no-tmp" / "new");
  std::ofstream(root_ / "a file") << "x";
  std::ofstream(root_ / "example.test" / "another file") << "x";
  const fs::path gone = put("u1", "0GONE0000001.R0.mx.example.test");
  const sweep_stats s = sweep(now_);
  EXPECT_EQ(s.errors, 0u);
  EXPECT_EQ(s.mailboxes, 1u);
  EXPECT_EQ(s.markers, 1u);
  EXPECT_FALSE(fs::exists(gone));
}

TEST_F(maildir_sweep_test, a_stop_request_ends_the_sweep) {
  const fs::path gone = put("u1", "0GONE0000001.R0.mx.example.test");
  std::atomic<bool> stop{true};
  sweep_options o;
  o.root = root_;
  o.hostname = "mx.example.test";
  o.now = now_;
  o.stop = &stop;
  EXPECT_EQ(sweep_maildir_tmp(o).markers, 0u);
  EXPECT_TRUE(fs::exists(gone));
}

TEST_F(maildir_sweep_test, a_marker_a_killed_delivery_left_is_swept_and_the_mail_stays) {
  queue::envelope env;
  env.id = "0ABCDEFGHIJK";
  queue::recipient r;
  r.address = {"u1", "example.test"};
  r.original = r.address;
  env.recipients = {r};
  maildir m(root_, "mx.example.test");
  m.begin(env);
  m.add_recipient(0);
  m.body("x\r\n");
  m.prepare(flush_mode::PerFile);
  m.publish(flush_mode::PerFile);
  // Killed here: delivered and recorded, the marker never dropped.
  const sweep_stats s = sweep(now_);
  EXPECT_EQ(s.markers, 1u);
  EXPECT_TRUE(fs::is_empty(root_ / "example.test" / "u1" / "tmp"));
  EXPECT_EQ(std::distance(fs::directory_iterator(root_ / "example.test" / "u1" / "new"),
                          fs::directory_iterator()),
            1);
}

}  // namespace
}  // namespace posthorn::delivery
