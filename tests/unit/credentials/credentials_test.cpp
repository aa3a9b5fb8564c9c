// SMTP AUTH credential checks against the users file, and the submission sender rule.

#include "policy/credentials.hpp"

#include <crypt.h>
#include <dlfcn.h>
#include <gtest/gtest.h>

#include <mutex>
#include <string>
#include <vector>

#include "auth/password.hpp"

// Every crypt_rn the password code makes in this binary passes through here (the
// executable's definition comes before libxcrypt's), is recorded, and goes on to the real
// one.
namespace {
std::vector<std::string> crypt_settings;
std::mutex crypt_record_mutex;
}  // namespace

extern "C" char* crypt_rn(const char* phrase, const char* setting, void* data, int size) noexcept {
  using real_fn = char* (*)(const char*, const char*, void*, int);
  static const auto real = reinterpret_cast<real_fn>(::dlsym(RTLD_NEXT, "crypt_rn"));
  {
    const std::lock_guard lock(crypt_record_mutex);
    crypt_settings.emplace_back(setting != nullptr ? setting : "");
  }
  return real(phrase, setting, data, size);
}

namespace posthorn::policy {
namespace {

std::string hash_of(std::string_view password) {
  const auto h = auth::hash_password(password);
  EXPECT_TRUE(h.has_value());
  return h.value_or("");
}

mail::address addr(std::string_view text) {
  const auto a = mail::parse_address(text);
  EXPECT_TRUE(a.has_value()) << text;
  return a.value_or(mail::address{});
}

// One set of users for every test: hashing is slow by design, so it is done once.
class Credentials : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    const std::string users = "Alice@Example.TEST:" + hash_of("alice-pw") + "\n" +
                              "bob@example.test:" + hash_of("bob-pw") + "\n" +
                              "carol@example.test:\n" +  // receives mail, no login
                              "dave@example.test:*\n" +  // locked
                              "erin@example.test:!" + hash_of("erin-pw") + "\n" +  // locked
                              "bob@example.org:" + hash_of("bob-org-pw") + "\n" +
                              "frank@elsewhere.test:" + hash_of("frank-pw") + "\n";
    const std::string aliases =
        "postmaster: alice\n"
        "team: alice, bob\n"
        "outside: someone@remote.test\n";
    auto a = accounts::from_text({"example.test", "example.org"}, users, aliases, "");
    ASSERT_TRUE(a.has_value()) << a.error().message;
    accounts_ = *a;
  }
  static void TearDownTestSuite() { accounts_.reset(); }

  static std::shared_ptr<const accounts> accounts_;
};

std::shared_ptr<const accounts> Credentials::accounts_;

TEST_F(Credentials, KnownUserWithTheRightPassword) {
  const credential_checker checker(accounts_);
  const auto who = checker.authenticate("alice@example.test", "alice-pw");
  ASSERT_TRUE(who.has_value());
  EXPECT_EQ(who->str(), "Alice@Example.TEST");  // the spelling of the users file
  EXPECT_TRUE(checker.check("bob@example.test", "bob-pw"));
  EXPECT_TRUE(checker.check("bob@example.org", "bob-org-pw"));
}

TEST_F(Credentials, NamesAreCaseInsensitive) {
  const credential_checker checker(accounts_);
  EXPECT_TRUE(checker.check("ALICE@example.TEST", "alice-pw"));
  EXPECT_TRUE(checker.check("Bob@Example.Test", "bob-pw"));
}

TEST_F(Credentials, WrongPassword) {
  const credential_checker checker(accounts_);
  EXPECT_FALSE(checker.check("alice@example.test", "Alice-pw"));
  EXPECT_FALSE(checker.check("alice@example.test", ""));
  EXPECT_FALSE(checker.check("bob@example.test", "alice-pw"));
  EXPECT_FALSE(checker.check("bob@example.org", "bob-pw"));
}

TEST_F(Credentials, UnknownUser) {
  const credential_checker checker(accounts_);
  EXPECT_FALSE(checker.check("zed@example.test", "alice-pw"));
  EXPECT_FALSE(checker.check("alice@example.net", "alice-pw"));
  EXPECT_FALSE(checker.check("", "alice-pw"));
  EXPECT_FALSE(checker.check("@example.test", "alice-pw"));
  EXPECT_FALSE(checker.check("alice@", "alice-pw"));
  EXPECT_FALSE(checker.check("not an address", "alice-pw"));
}

TEST_F(Credentials, AccountsWithoutALoginNeverMatch) {
  const credential_checker checker(accounts_);
  EXPECT_FALSE(checker.check("carol@example.test", ""));
  EXPECT_FALSE(checker.check("dave@example.test", "*"));
  EXPECT_FALSE(checker.check("erin@example.test", "erin-pw"));
}

TEST_F(Credentials, BareLocalPartNamesTheOneLocalUser) {
  const credential_checker checker(accounts_);
  const auto who = checker.authenticate("ALICE", "alice-pw");
  ASSERT_TRUE(who.has_value());
  EXPECT_EQ(who->str(), "Alice@Example.TEST");
  // bob is in two local domains: ambiguous, so the full address is needed.
  EXPECT_FALSE(checker.check("bob", "bob-pw"));
  EXPECT_FALSE(checker.check("bob", "bob-org-pw"));
  // frank's domain is not local.
  EXPECT_FALSE(checker.check("frank", "frank-pw"));
  EXPECT_TRUE(checker.check("frank@elsewhere.test", "frank-pw"));
}

TEST_F(Credentials, FindLoginResolvesWithoutAPassword) {
  const credential_checker checker(accounts_);
  ASSERT_NE(checker.find_login("alice"), nullptr);
  EXPECT_EQ(checker.find_login("alice")->address.str(), "Alice@Example.TEST");
  EXPECT_EQ(checker.find_login("bob"), nullptr);
  EXPECT_EQ(checker.find_login("nobody@example.test"), nullptr);
  EXPECT_EQ(credential_checker(nullptr).find_login("alice"), nullptr);
}

// An unknown user must cost one crypt(3) run like a known one with a wrong password, so
// that the time taken does not tell which accounts exist. Counted, not timed: the test
// binary interposes libxcrypt's crypt_rn (above), which the password code calls.
TEST_F(Credentials, UnknownUserCostsAHashLikeAWrongPassword) {
  const credential_checker checker(accounts_);
  const auto hashes_for = [&](std::string_view user) {
    {
      const std::lock_guard lock(crypt_record_mutex);
      crypt_settings.clear();
    }
    (void)checker.check(user, "wrong");
    const std::lock_guard lock(crypt_record_mutex);
    return crypt_settings;
  };
  // The method and cost of a setting: "$y$j9T$salt..." -> "$y$j9T$".
  const auto method = [](const std::string& setting) {
    std::size_t pos = 0;
    for (int i = 0; i < 3 && pos != std::string::npos; ++i) {
      pos = setting.find('$', i == 0 ? 0 : pos + 1);
    }
    return pos == std::string::npos ? setting : setting.substr(0, pos + 1);
  };
  const auto known = hashes_for("alice@example.test");
  ASSERT_EQ(known.size(), 1u);
  for (const std::string_view user : {"nobody@example.test", "carol@example.test",
                                      "dave@example.test", "erin@example.test", "bob"}) {
    const auto got = hashes_for(user);
    ASSERT_EQ(got.size(), 1u) << user << ": one hash verification, like a wrong password";
    EXPECT_EQ(method(got[0]), method(known[0])) << user << ": the same method and cost";
  }
}

// sender_allowed: RFC 6409 §6.1.

TEST_F(Credentials, OwnSenderRule) {
  const auto alice = addr("Alice@Example.TEST");
  const auto own = config::sender_rule::Own;
  EXPECT_TRUE(sender_allowed(*accounts_, own, alice, addr("alice@example.test")));
  EXPECT_TRUE(sender_allowed(*accounts_, own, alice, addr("ALICE@EXAMPLE.test")));
  EXPECT_TRUE(sender_allowed(*accounts_, own, alice, addr("alice+lists@example.test")));
  EXPECT_TRUE(sender_allowed(*accounts_, own, alice, addr("postmaster@example.test")));
  EXPECT_TRUE(sender_allowed(*accounts_, own, alice, addr("team@example.test")));
  // A bare alias is in every local domain, its bare members in the alias's domain:
  // team@example.org reaches alice@example.org, who does not exist.
  EXPECT_FALSE(sender_allowed(*accounts_, own, alice, addr("team@example.org")));
  EXPECT_TRUE(sender_allowed(*accounts_, own, alice, mail::address{}));  // <>
  EXPECT_FALSE(sender_allowed(*accounts_, own, alice, addr("bob@example.test")));
  EXPECT_FALSE(sender_allowed(*accounts_, own, alice, addr("bob+x@example.test")));
  EXPECT_FALSE(sender_allowed(*accounts_, own, alice, addr("outside@example.test")));
  EXPECT_FALSE(sender_allowed(*accounts_, own, alice, addr("nobody@example.test")));
  EXPECT_FALSE(sender_allowed(*accounts_, own, alice, addr("alice@example.org")));
  EXPECT_FALSE(sender_allowed(*accounts_, own, alice, addr("alice@gmail.test")));
}

TEST_F(Credentials, DomainSenderRule) {
  const auto bob = addr("bob@example.test");
  const auto domain = config::sender_rule::Domain;
  EXPECT_TRUE(sender_allowed(*accounts_, domain, bob, addr("bob@example.test")));
  EXPECT_TRUE(sender_allowed(*accounts_, domain, bob, addr("anyone@EXAMPLE.TEST")));
  // An alias in another domain, reaching another bob (bob@example.org).
  EXPECT_FALSE(sender_allowed(*accounts_, domain, bob, addr("team@example.org")));
  EXPECT_FALSE(sender_allowed(*accounts_, domain, bob, addr("anyone@example.org")));
  EXPECT_FALSE(sender_allowed(*accounts_, domain, bob, addr("bob@remote.test")));
}

TEST_F(Credentials, AnySenderRule) {
  const auto bob = addr("bob@example.test");
  EXPECT_TRUE(sender_allowed(*accounts_, config::sender_rule::Any, bob, addr("x@remote.test")));
}

}  // namespace
}  // namespace posthorn::policy

// The users file's scram-sha-256= field (RFC 7677 secrets beside the crypt hash).
namespace posthorn::policy {
namespace {

constexpr std::string_view k_rfc_scram =
    "4096,W22ZaJ0SNY7soEsUEjb6gQ==,WG5d8oPm3OtcPnkdi4Uo7BkeZkBFzpcXkuLmtbsT4qY=,"
    "wfPLwcE6nTWhTAmQ7tl2KeoiWGPlZqQxSrmfPwDl2dU=";

TEST(UsersScram, FieldIsParsedWhereverItIsAndOldEntriesHaveNone) {
  const std::string users = "alice@example.test:$y$x:scram-sha-256=" + std::string(k_rfc_scram) +
                            "\n" +
                            "bob@example.test:$y$y:1000:SCRAM-SHA-256=" + std::string(k_rfc_scram) +
                            ":/home/bob\n" + "carol@example.test:$y$z\n";
  auto a = accounts::from_text({"example.test"}, users, "", "");
  ASSERT_TRUE(a.has_value()) << a.error().message;
  const user* alice = find_login(**a, "alice@example.test");
  ASSERT_NE(alice, nullptr);
  EXPECT_EQ(alice->hash, "$y$x");
  ASSERT_TRUE(alice->scram.has_value());
  EXPECT_EQ(auth::scram_format(*alice->scram), k_rfc_scram);
  const user* bob = find_login(**a, "bob");
  ASSERT_NE(bob, nullptr);
  EXPECT_EQ(bob->hash, "$y$y");
  EXPECT_TRUE(bob->scram.has_value());
  const user* carol = find_login(**a, "carol@example.test");
  ASSERT_NE(carol, nullptr);
  EXPECT_FALSE(carol->scram.has_value());
}

TEST(UsersScram, BadFieldIsAnErrorNamingTheLine) {
  for (const std::string bad : {"scram-sha-256=", "scram-sha-256=1000,AAAA,AAAA,AAAA",
                                "scram-sha-256=4096,W22ZaJ0SNY7soEsUEjb6gQ==,AAAA,AAAA"}) {
    auto a =
        accounts::from_text({"example.test"}, "# c\nalice@example.test:$y$x:" + bad + "\n", "", "");
    ASSERT_FALSE(a.has_value()) << bad;
    EXPECT_EQ(a.error().line, 2u);
    EXPECT_NE(a.error().message.find("scram-sha-256"), std::string::npos);
  }
}

}  // namespace
}  // namespace posthorn::policy
