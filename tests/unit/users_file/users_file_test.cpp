// Editing the users file on a temp dir: add, set_password, remove, list; comments and
// unrelated lines survive; the file is replaced atomically with mode 0640.

#include "policy/users_file.hpp"

#include <gtest/gtest.h>
#include <sys/stat.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>

#include "auth/password.hpp"

namespace posthorn::policy::users_file {
namespace {

namespace fs = std::filesystem;

class UsersFile : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = fs::path(::testing::TempDir()) /
           ("posthorn_users_" + std::to_string(::getpid()) + "_" +
            ::testing::UnitTest::GetInstance()->current_test_info()->name());
    fs::remove_all(dir_);
    fs::create_directories(dir_);
    path_ = dir_ / "users";
  }
  void TearDown() override { fs::remove_all(dir_); }

  void write(std::string_view text) {
    std::ofstream out(path_, std::ios::binary);
    out << text;
  }
  std::string read() const {
    std::ifstream in(path_, std::ios::binary);
    std::ostringstream s;
    s << in.rdbuf();
    return s.str();
  }
  std::size_t files_in_dir() const {
    return static_cast<std::size_t>(std::distance(fs::directory_iterator(dir_), {}));
  }

  fs::path dir_;
  fs::path path_;
};

TEST_F(UsersFile, MissingFileListsNoUsers) {
  const auto users = list(path_);
  ASSERT_TRUE(users) << users.error().message;
  EXPECT_TRUE(users->empty());
}

TEST_F(UsersFile, AddCreatesTheFileWithMode0640) {
  const mode_t old_mask = ::umask(0);  // the mode must not depend on the umask
  const auto added = add(path_, "alice@Example.TEST", "$y$hash1");
  ::umask(old_mask);
  ASSERT_TRUE(added) << added.error().message;
  EXPECT_EQ(read(), "alice@example.test:$y$hash1\n");
  struct stat st {};
  ASSERT_EQ(::stat(path_.c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 07777, 0640u);
  EXPECT_EQ(files_in_dir(), 1u);  // no temp file left behind
}

TEST_F(UsersFile, ListReadsEntriesInOrderWithLines) {
  write(
      "# users\n\nalice@example.test:$y$a\n  # indented "
      "comment\nbob@example.test:$6$b:1000:1000::/home/"
      "bob\ncarol@example.test:\nnot-a-user-line\n");
  const auto users = list(path_);
  ASSERT_TRUE(users);
  ASSERT_EQ(users->size(), 3u);
  EXPECT_EQ((*users)[0].address, "alice@example.test");
  EXPECT_EQ((*users)[0].hash, "$y$a");
  EXPECT_EQ((*users)[0].line, 3u);
  EXPECT_EQ((*users)[1].address, "bob@example.test");
  EXPECT_EQ((*users)[1].hash, "$6$b");
  EXPECT_EQ((*users)[1].line, 5u);
  EXPECT_EQ((*users)[2].address, "carol@example.test");
  EXPECT_EQ((*users)[2].hash, "");
}

TEST_F(UsersFile, AddKeepsCommentsAndAppends) {
  write("# the users\nalice@example.test:$y$a\n\n# end\n");
  ASSERT_TRUE(add(path_, "bob@example.test", "$y$b"));
  EXPECT_EQ(read(), "# the users\nalice@example.test:$y$a\n\n# end\nbob@example.test:$y$b\n");
}

TEST_F(UsersFile, AddAddsAMissingFinalNewline) {
  write("alice@example.test:$y$a");
  ASSERT_TRUE(add(path_, "bob@example.test", "$y$b"));
  EXPECT_EQ(read(), "alice@example.test:$y$a\nbob@example.test:$y$b\n");
}

TEST_F(UsersFile, AddRefusesAnExistingUserCaseInsensitively) {
  write("# x\nAlice@example.test:$y$a\n");
  const auto again = add(path_, "alice@EXAMPLE.test", "$y$other");
  ASSERT_FALSE(again);
  EXPECT_NE(again.error().message.find("already exists"), std::string::npos);
  EXPECT_NE(again.error().message.find("line 2"), std::string::npos);
  EXPECT_EQ(read(), "# x\nAlice@example.test:$y$a\n");
}

TEST_F(UsersFile, AddRefusesWhatTheFormatCannotHold) {
  for (const char* bad :
       {"alice", "@example.test", "alice@", "al ice@example.test", "alice:x@example.test",
        "#alice@example.test", "alice@exa..mple", "alice@@example.test"}) {
    EXPECT_FALSE(add(path_, bad, "$y$a")) << bad;
  }
  EXPECT_FALSE(add(path_, "alice@example.test", "$y$a:b"));
  EXPECT_FALSE(add(path_, "alice@example.test", "$y$a\nbob@example.test:x"));
  EXPECT_FALSE(fs::exists(path_));
}

TEST_F(UsersFile, SetPasswordReplacesOnlyTheHash) {
  write("# c\nalice@example.test:$y$a\nbob@example.test:$6$b:1000:1000::/home/bob\n");
  ASSERT_TRUE(set_password(path_, "BOB@example.test", "$y$new"));
  EXPECT_EQ(read(), "# c\nalice@example.test:$y$a\nbob@example.test:$y$new:1000:1000::/home/bob\n");
  ASSERT_TRUE(set_password(path_, "alice@example.test", "$y$new2"));
  EXPECT_EQ(read(),
            "# c\nalice@example.test:$y$new2\nbob@example.test:$y$new:1000:1000::/home/bob\n");
}

TEST_F(UsersFile, AddWritesTheScramFieldThirdAndListReadsIt) {
  ASSERT_TRUE(add(path_, "alice@example.test", "$y$h", "4096,c2FsdA==,a2V5,a2V5"));
  EXPECT_EQ(read(), "alice@example.test:$y$h:scram-sha-256=4096,c2FsdA==,a2V5,a2V5\n");
  const auto users = list(path_);
  ASSERT_TRUE(users);
  ASSERT_EQ(users->size(), 1u);
  EXPECT_EQ((*users)[0].hash, "$y$h");
  EXPECT_EQ((*users)[0].scram, "4096,c2FsdA==,a2V5,a2V5");
  EXPECT_FALSE(add(path_, "bob@example.test", "$y$h", "a:b"));
}

TEST_F(UsersFile, SetPasswordReplacesTheScramFieldInPlaceAndKeepsOthers) {
  write(
      "alice@example.test:$y$old:1000:SCRAM-SHA-256=4096,old:/home/alice\n"
      "bob@example.test:$y$bob:1001:1001\n"
      "carol@example.test:$y$carol\n");
  ASSERT_TRUE(set_password(path_, "alice@example.test", "$y$new", "4096,new"));
  ASSERT_TRUE(set_password(path_, "bob@example.test", "$y$bob2", "4096,bob"));
  ASSERT_TRUE(set_password(path_, "carol@example.test", "$y$carol2", "4096,carol"));
  EXPECT_EQ(read(),
            "alice@example.test:$y$new:1000:scram-sha-256=4096,new:/home/alice\n"
            "bob@example.test:$y$bob2:scram-sha-256=4096,bob:1001:1001\n"
            "carol@example.test:$y$carol2:scram-sha-256=4096,carol\n");
}

TEST_F(UsersFile, SetPasswordWithoutScramRemovesStaleSecrets) {
  write("alice@example.test:$y$old:scram-sha-256=4096,old:1000\n");
  ASSERT_TRUE(set_password(path_, "alice@example.test", "$y$new"));
  EXPECT_EQ(read(), "alice@example.test:$y$new:1000\n");
}

TEST_F(UsersFile, SetPasswordOfUnknownUserFails) {
  write("alice@example.test:$y$a\n");
  const auto r = set_password(path_, "bob@example.test", "$y$b");
  ASSERT_FALSE(r);
  EXPECT_NE(r.error().message.find("no such user"), std::string::npos);
  EXPECT_EQ(read(), "alice@example.test:$y$a\n");
  EXPECT_FALSE(set_password(dir_ / "absent", "bob@example.test", "$y$b"));
}

TEST_F(UsersFile, RemoveDeletesOnlyThatUser) {
  write(
      "# c\nalice@example.test:$y$a\r\nbob@example.test:$y$b\n# bob's "
      "friend\ncarol@example.test:$y$c\n");
  ASSERT_TRUE(remove(path_, "bob@example.test"));
  EXPECT_EQ(read(), "# c\nalice@example.test:$y$a\r\n# bob's friend\ncarol@example.test:$y$c\n");
  const auto r = remove(path_, "bob@example.test");
  ASSERT_FALSE(r);
  EXPECT_NE(r.error().message.find("no such user"), std::string::npos);
}

TEST_F(UsersFile, AddSetRemoveListRoundTrip) {
  ASSERT_TRUE(add(path_, "alice@example.test", "$y$a"));
  ASSERT_TRUE(add(path_, "bob@example.test", "$y$b"));
  ASSERT_TRUE(set_password(path_, "alice@example.test", "$y$a2"));
  ASSERT_TRUE(remove(path_, "bob@example.test"));
  const auto users = list(path_);
  ASSERT_TRUE(users);
  ASSERT_EQ(users->size(), 1u);
  EXPECT_EQ((*users)[0].address, "alice@example.test");
  EXPECT_EQ((*users)[0].hash, "$y$a2");
  EXPECT_EQ(files_in_dir(), 1u);
}

TEST_F(UsersFile, RewriteReplacesTheFileAndSetsMode0640) {
  write("alice@example.test:$y$a\n");
  fs::permissions(path_, fs::perms::owner_read | fs::perms::owner_write | fs::perms::others_read);
  struct stat before {};
  ASSERT_EQ(::stat(path_.c_str(), &before), 0);
  ASSERT_TRUE(add(path_, "bob@example.test", "$y$b"));
  struct stat after {};
  ASSERT_EQ(::stat(path_.c_str(), &after), 0);
  EXPECT_NE(before.st_ino, after.st_ino);  // a new file renamed into place, not edited in place
  EXPECT_EQ(after.st_mode & 07777, 0640u);
}

TEST_F(UsersFile, EditsTheTargetOfASymlink) {
  const fs::path real = dir_ / "real-users";
  {
    std::ofstream out(real);
    out << "alice@example.test:$y$a\n";
  }
  fs::create_symlink("real-users", path_);
  ASSERT_TRUE(add(path_, "bob@example.test", "$y$b"));
  EXPECT_TRUE(fs::is_symlink(path_));
  EXPECT_EQ(read(), "alice@example.test:$y$a\nbob@example.test:$y$b\n");
}

TEST(UsersFileAddress, Normalize) {
  EXPECT_EQ(normalize_address("Alice@Example.TEST"), "Alice@example.test");
  EXPECT_EQ(normalize_address("a.b+c@example.test"), "a.b+c@example.test");
  EXPECT_FALSE(normalize_address(""));
  EXPECT_FALSE(normalize_address("alice"));
  EXPECT_FALSE(normalize_address("alice@.example.test"));
  EXPECT_FALSE(normalize_address("alice@exa\tmple.test"));
}

// config/dev.toml promises alice and bob with the password "password" (yescrypt).
TEST(DevUsers, AliceAndBobHaveThePasswordPassword) {
  const auto users = list(fs::path(POSTHORN_SOURCE_DIR) / "config" / "dev-users");
  ASSERT_TRUE(users) << users.error().message;
  ASSERT_EQ(users->size(), 2u);
  EXPECT_EQ((*users)[0].address, "alice@example.test");
  EXPECT_EQ((*users)[1].address, "bob@example.test");
  for (const auto& u : *users) {
    EXPECT_EQ(u.hash.rfind("$y$", 0), 0u) << u.address;
    EXPECT_TRUE(auth::verify_password("password", u.hash)) << u.address;
    EXPECT_FALSE(auth::verify_password("Password", u.hash)) << u.address;
  }
}

}  // namespace
}  // namespace posthorn::policy::users_file
