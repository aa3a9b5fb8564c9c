// The Maildir as a POP3 maildrop: sizes from ",W=" or counted once, unique ids, locking,
// and the UPDATE changes (removal, seen marks Dovecot reads).

#include "pop3/maildrop.hpp"

#include <gtest/gtest.h>
#include <stdlib.h>

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <iterator>

namespace posthorn::pop3 {
namespace {

namespace fs = std::filesystem;

class Pop3MaildropTest : public ::testing::Test {
 protected:
  void SetUp() override {
    char tmpl[] = "/tmp/pop3-maildrop-XXXXXX";
    ASSERT_NE(::mkdtemp(tmpl), nullptr);
    root_ = tmpl;
    box_ = root_ / "example.test" / "alice";
    for (const char* sub : {"tmp", "new", "cur"}) {
      fs::create_directories(box_ / sub);
    }
  }
  void TearDown() override { fs::remove_all(root_); }

  void write(const fs::path& p, std::string_view text) {
    std::ofstream(p, std::ios::binary) << text;
  }
  std::vector<std::string> names(const char* sub) {
    std::vector<std::string> out;
    for (const auto& e : fs::directory_iterator(box_ / sub)) {
      out.push_back(e.path().filename().string());
    }
    std::ranges::sort(out);
    return out;
  }

  fs::path root_, box_;
};

TEST_F(Pop3MaildropTest, EmptyAndMissingMailboxes) {
  auto m = open_maildrop(box_);
  ASSERT_TRUE(m);
  EXPECT_TRUE(m->messages.empty());
  auto missing = open_maildrop(root_ / "example.test" / "nobody");
  ASSERT_TRUE(missing);
  EXPECT_TRUE(missing->messages.empty());
}

TEST_F(Pop3MaildropTest, SizesComeFromTheNameOrAreCountedOnceAndCached) {
  // ",W=" is trusted as Dovecot trusts it (deliberately not the file's real size here).
  write(box_ / "new" / "0A.R0.host,S=4,W=999", "a\nb\n");
  write(box_ / "new" / "0B.R0.host,S=4", "a\nb\n");
  write(box_ / "cur" / "0C.M1.host:2,S", "x\r\ny");
  auto m = open_maildrop(box_);
  ASSERT_TRUE(m);
  ASSERT_EQ(m->messages.size(), 3u);
  EXPECT_EQ(m->messages[0].size, 999u);
  EXPECT_EQ(m->messages[1].size, 6u);
  EXPECT_EQ(m->messages[2].size, 6u);  // "x\r\ny\r\n"
  EXPECT_EQ(m->files_read, 2u);
  m = {};
  auto again = open_maildrop(box_);
  ASSERT_TRUE(again);
  EXPECT_EQ(again->files_read, 0u);  // both from the cache
  EXPECT_EQ(again->messages[1].size, 6u);
}

TEST_F(Pop3MaildropTest, UniqueIdsKeepAcrossMovesAndAreUnique) {
  write(box_ / "new" / "0B.R0.host,S=1,W=2", "x");
  write(box_ / "cur" / "0A.R0.host,S=1,W=2:2,FS", "x");
  write(box_ / "new" / "0A.R0.host,S=1,W=2", "x");  // a duplicate of an interrupted delivery
  write(box_ / "new" / ".hidden", "x");
  auto m = open_maildrop(box_);
  ASSERT_TRUE(m);
  ASSERT_EQ(m->messages.size(), 3u);
  EXPECT_EQ(m->messages[0].uid, "0A.R0.host");
  EXPECT_TRUE(m->messages[0].in_cur);
  EXPECT_EQ(m->messages[1].uid, "0A.R0.host-2");
  EXPECT_EQ(m->messages[2].uid, "0B.R0.host");
}

TEST_F(Pop3MaildropTest, UniqueIdsOutsideTheRfcRangeAreHashed) {
  EXPECT_EQ(unique_id_for("abc"), "abc");
  const std::string long_id = unique_id_for(std::string(71, 'a'));
  EXPECT_EQ(long_id.size(), 41u);
  EXPECT_EQ(long_id, unique_id_for(std::string(71, 'a')));
  EXPECT_NE(unique_id_for("a b"), "a b");
}

TEST_F(Pop3MaildropTest, SeenFlagKeepsOtherFlagsInOrder) {
  EXPECT_EQ(with_seen_flag("x,S=1"), "x,S=1:2,S");
  EXPECT_EQ(with_seen_flag("x:2,"), "x:2,S");
  EXPECT_EQ(with_seen_flag("x:2,FR"), "x:2,FRS");
  EXPECT_EQ(with_seen_flag("x:2,FT"), "x:2,FST");
  EXPECT_EQ(with_seen_flag("x:2,S"), "x:2,S");
  EXPECT_EQ(with_seen_flag("x:1,abc"), "x:1,abc");
}

TEST_F(Pop3MaildropTest, SecondOpenIsInUseUntilTheFirstEnds) {
  auto first = open_maildrop(box_);
  ASSERT_TRUE(first);
  auto second = open_maildrop(box_);
  ASSERT_FALSE(second);
  EXPECT_TRUE(second.error().in_use);
  // Another spelling of the same path is the same mailbox.
  auto third = open_maildrop(box_ / "." / "");
  ASSERT_FALSE(third);
  EXPECT_TRUE(third.error().in_use);
  EXPECT_TRUE(fs::exists(box_ / k_lock_file));
  first = std::unexpected(open_failure{});
  EXPECT_TRUE(open_maildrop(box_));
}

TEST_F(Pop3MaildropTest, UpdateRemovesDeletedAndMarksRetrievedSeen) {
  write(box_ / "new" / "0A.R0.host,S=2,W=3", "a\n");
  write(box_ / "new" / "0B.R0.host,S=2,W=3", "b\n");
  write(box_ / "cur" / "0C.R0.host,S=2,W=3:2,F", "c\n");
  write(box_ / "new" / "0D.R0.host,S=2,W=3", "d\n");
  auto m = open_maildrop(box_);
  ASSERT_TRUE(m);
  ASSERT_EQ(m->messages.size(), 4u);
  update_result r =
      apply_update(box_, m->messages, {true, false, false, false}, {true, true, true, false});
  EXPECT_EQ(r.deleted, 1u);
  EXPECT_EQ(r.failed, 0u);
  EXPECT_EQ(names("new"), (std::vector<std::string>{"0D.R0.host,S=2,W=3"}));
  EXPECT_EQ(names("cur"),
            (std::vector<std::string>{"0B.R0.host,S=2,W=3:2,S", "0C.R0.host,S=2,W=3:2,FS"}));
}

TEST_F(Pop3MaildropTest, MessagesMovedByAnotherReaderAreFound) {
  write(box_ / "new" / "0A.R0.host,S=2,W=3", "a\n");
  write(box_ / "new" / "0B.R0.host,S=2,W=3", "b\n");
  auto m = open_maildrop(box_);
  ASSERT_TRUE(m);
  // Dovecot saw them meanwhile: moved to cur/ with flags.
  fs::rename(box_ / "new" / "0A.R0.host,S=2,W=3", box_ / "cur" / "0A.R0.host,S=2,W=3:2,");
  fs::rename(box_ / "new" / "0B.R0.host,S=2,W=3", box_ / "cur" / "0B.R0.host,S=2,W=3:2,R");
  auto p = locate_message(box_, m->messages[0]);
  ASSERT_TRUE(p);
  EXPECT_EQ(p->filename(), "0A.R0.host,S=2,W=3:2,");
  update_result r = apply_update(box_, m->messages, {true, false}, {false, true});
  EXPECT_EQ(r.deleted, 1u);
  EXPECT_EQ(names("cur"), (std::vector<std::string>{"0B.R0.host,S=2,W=3:2,RS"}));
  // Gone altogether: a deletion is what was asked; nothing fails.
  fs::remove(box_ / "cur" / "0B.R0.host,S=2,W=3:2,RS");
  EXPECT_FALSE(locate_message(box_, m->messages[1]));
  r = apply_update(box_, m->messages, {false, true}, {false, false});
  EXPECT_EQ(r.deleted, 1u);
  EXPECT_EQ(r.failed, 0u);
}

}  // namespace
}  // namespace posthorn::pop3
