// Users, aliases(5) and relocated files: parsing, lookup, expansion, errors.

#include "policy/accounts.hpp"

#include <gtest/gtest.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

namespace posthorn::policy {
namespace {

namespace fs = std::filesystem;

constexpr std::string_view k_users =
    "# users of the test domains\n"
    "\n"
    "Alice@Example.TEST:$y$j9T$salt$hash\n"
    "bob@example.test:\n"
    "  carol@example.test : $6$x$y  \n"
    "dave@other.test:$2b$05$abc:1000:1000::/home/dave::\n"
    "bob+special@example.test:\n";

mail::address addr(std::string_view text) {
  const auto a = mail::parse_address(text);
  EXPECT_TRUE(a.has_value()) << text;
  return a.value_or(mail::address{});
}

std::shared_ptr<const accounts> make(std::string_view users, std::string_view aliases = "",
                                     std::string_view relocated = "", std::string delimiter = "+") {
  auto r = accounts::from_text({"example.test", "Other.Test."}, users, aliases, relocated,
                               std::move(delimiter));
  EXPECT_TRUE(r.has_value()) << (r ? ""
                                   : r.error().file + ":" + std::to_string(r.error().line) + ": " +
                                         r.error().message);
  return r.value_or(nullptr);
}

config::config_error error_of(std::string_view users, std::string_view aliases = "",
                              std::string_view relocated = "") {
  auto r = accounts::from_text({"example.test"}, users, aliases, relocated);
  EXPECT_FALSE(r.has_value());
  return r ? config::config_error{} : r.error();
}

std::vector<std::string> targets_of(const expansion& e) {
  std::vector<std::string> out;
  for (const auto& t : e.targets) {
    const char* k = t.k == target::kind::Local       ? "L:"
                    : t.k == target::kind::Remote    ? "R:"
                    : t.k == target::kind::Relocated ? "M:"
                                                     : "U:";
    out.push_back(k + t.address.str() + (t.relocated_to.empty() ? "" : ">" + t.relocated_to));
  }
  return out;
}

std::vector<std::string> strs(const std::vector<mail::address>& v) {
  std::vector<std::string> out;
  for (const auto& a : v) {
    out.push_back(a.str());
  }
  return out;
}

using strings = std::vector<std::string>;

TEST(Users, ParsedAndFoundCaseInsensitively) {
  const auto acc = make(k_users);
  ASSERT_TRUE(acc);
  ASSERT_EQ(acc->users().size(), 5u);
  EXPECT_EQ(acc->users()[0].address.str(), "Alice@Example.TEST");
  EXPECT_EQ(acc->users()[0].hash, "$y$j9T$salt$hash");
  EXPECT_EQ(acc->users()[1].hash, "");
  EXPECT_EQ(acc->users()[2].hash, "$6$x$y");
  EXPECT_EQ(acc->users()[3].hash, "$2b$05$abc");  // passwd-file fields after it ignored

  const lookup l = acc->find(addr("ALICE@example.test"));
  EXPECT_EQ(l.kind, recipient_kind::User);
  EXPECT_EQ(l.canonical.str(), "Alice@Example.TEST");

  const user* u = acc->find_user(mail::address{"alice", "EXAMPLE.test."});
  ASSERT_NE(u, nullptr);
  EXPECT_EQ(u->hash, "$y$j9T$salt$hash");
  EXPECT_EQ(acc->find_user(addr("alice+tag@example.test")), nullptr);
  EXPECT_EQ(acc->find_user(addr("nobody@example.test")), nullptr);

  EXPECT_EQ(acc->find(addr("nobody@example.test")).kind, recipient_kind::Unknown);
  EXPECT_EQ(acc->find(addr("nobody@other.test")).kind, recipient_kind::Unknown);
  const lookup remote = acc->find(addr("alice@elsewhere.test"));
  EXPECT_EQ(remote.kind, recipient_kind::Remote);
  EXPECT_EQ(remote.canonical.str(), "alice@elsewhere.test");
}

TEST(Users, CrLfAndQuotedLocalParts) {
  const auto acc = make("\"john doe\"@example.test:$y$a\r\nbob@example.test:\r\n");
  ASSERT_TRUE(acc);
  EXPECT_EQ(acc->find(addr("\"John Doe\"@example.test")).kind, recipient_kind::User);
  EXPECT_EQ(acc->find(addr("\"bob\"@example.test")).canonical.str(), "bob@example.test");
  EXPECT_EQ(acc->users()[0].hash, "$y$a");
}

TEST(Users, Errors) {
  auto e = error_of("alice@example.test:x\nbob@example.test\n");
  EXPECT_EQ(e.file, "users");
  EXPECT_EQ(e.line, 2u);
  EXPECT_NE(e.message.find("address:hash"), std::string::npos) << e.message;

  e = error_of("# comment\nnot an address:x\n");
  EXPECT_EQ(e.line, 2u);
  EXPECT_NE(e.message.find("not an address"), std::string::npos) << e.message;

  e = error_of("alice:x\n");
  EXPECT_EQ(e.line, 1u);

  e = error_of("alice@example.test:x\n\nALICE@Example.Test:y\n");
  EXPECT_EQ(e.line, 3u);
  EXPECT_NE(e.message.find("duplicate"), std::string::npos) << e.message;
}

TEST(Tags, DelimiterFallsBackToTheUser) {
  const auto acc = make(k_users, "staff: alice\n");
  ASSERT_TRUE(acc);
  lookup l = acc->find(addr("alice+news@example.test"));
  EXPECT_EQ(l.kind, recipient_kind::User);
  EXPECT_EQ(l.canonical.str(), "Alice@Example.TEST");

  // An exact entry wins over stripping.
  l = acc->find(addr("bob+special@example.test"));
  EXPECT_EQ(l.kind, recipient_kind::User);
  EXPECT_EQ(l.canonical.str(), "bob+special@example.test");
  EXPECT_EQ(acc->find(addr("bob+other@example.test")).canonical.str(), "bob@example.test");

  l = acc->find(addr("Staff+x@Example.Test"));
  EXPECT_EQ(l.kind, recipient_kind::Alias);
  EXPECT_EQ(l.canonical.str(), "staff@example.test");
  EXPECT_EQ(targets_of(acc->expand(addr("staff+x@example.test"))),
            (strings{"L:Alice@Example.TEST"}));

  // Only from the first delimiter, never from the start.
  EXPECT_EQ(acc->find(addr("alice+a+b@example.test")).kind, recipient_kind::User);
  EXPECT_EQ(acc->find(addr("+alice@example.test")).kind, recipient_kind::Unknown);
  EXPECT_EQ(acc->find(addr("nobody+x@example.test")).kind, recipient_kind::Unknown);
  EXPECT_EQ(acc->find(addr("alice+x@elsewhere.test")).kind, recipient_kind::Remote);
}

TEST(Tags, DelimiterSetAndOff) {
  const auto dash = make(k_users, "", "", "+-");
  ASSERT_TRUE(dash);
  EXPECT_EQ(dash->find(addr("alice-list@example.test")).kind, recipient_kind::User);
  EXPECT_EQ(dash->find(addr("alice+x@example.test")).kind, recipient_kind::User);

  const auto off = make(k_users, "", "", "");
  ASSERT_TRUE(off);
  EXPECT_EQ(off->find(addr("alice+x@example.test")).kind, recipient_kind::Unknown);
}

TEST(Domains, LocalDomainsAreNormalized) {
  const auto acc = make("");
  ASSERT_TRUE(acc);
  EXPECT_EQ(acc->local_domains(), (strings{"example.test", "other.test"}));
  EXPECT_TRUE(acc->is_local_domain("EXAMPLE.test."));
  EXPECT_TRUE(acc->is_local_domain("other.test"));
  EXPECT_FALSE(acc->is_local_domain("example.test.invalid"));

  auto idn = accounts::from_text({"xn--bcher-kva.test"}, "jörg@Bücher.test:\n", "", "");
  ASSERT_TRUE(idn.has_value());
  EXPECT_TRUE((*idn)->is_local_domain("BÜCHER.test"));
  EXPECT_EQ((*idn)->find(addr("jörg@xn--bcher-kva.test")).kind, recipient_kind::User);
}

constexpr std::string_view k_aliases =
    "# aliases(5)\n"
    "postmaster: alice\n"
    "staff: alice, bob,\n"
    "  carol@example.test,\n"
    "\tfriend@remote.test\n"
    "\n"
    "all: staff, dave@other.test, Alice@example.test, staff\n"
    "sales@other.test: bob, <partner@remote.test>\n"
    "list: alice, nobody, \"john doe\"@remote.test\n";

TEST(Aliases, FanOutNestedAndDeduplicated) {
  const auto acc = make(k_users, k_aliases);
  ASSERT_TRUE(acc);
  EXPECT_EQ(acc->find(addr("STAFF@example.test")).kind, recipient_kind::Alias);
  EXPECT_EQ(targets_of(acc->expand(addr("staff@example.test"))),
            (strings{"L:Alice@Example.TEST", "L:bob@example.test", "L:carol@example.test",
                     "R:friend@remote.test"}));
  const expansion all = acc->expand(addr("all@example.test"));
  EXPECT_FALSE(all.loop);
  EXPECT_EQ(targets_of(all),
            (strings{"L:Alice@Example.TEST", "L:bob@example.test", "L:carol@example.test",
                     "R:friend@remote.test", "L:dave@other.test"}));
}

TEST(Aliases, BareNamesApplyInEveryLocalDomain) {
  const auto acc = make(k_users, k_aliases);
  ASSERT_TRUE(acc);
  // "postmaster: alice" in other.test means alice@other.test, who does not exist.
  lookup l = acc->find(addr("Postmaster@Other.Test"));
  EXPECT_EQ(l.kind, recipient_kind::Alias);
  EXPECT_EQ(l.canonical.str(), "postmaster@other.test");
  EXPECT_EQ(targets_of(acc->expand(addr("postmaster@other.test"))),
            (strings{"U:alice@other.test"}));
  EXPECT_EQ(targets_of(acc->expand(addr("postmaster@example.test"))),
            (strings{"L:Alice@Example.TEST"}));
  // Never in a remote domain.
  EXPECT_EQ(acc->find(addr("postmaster@remote.test")).kind, recipient_kind::Remote);
}

TEST(Aliases, FullAddressAliasUsesItsOwnDomain) {
  const auto acc = make(k_users, k_aliases);
  ASSERT_TRUE(acc);
  EXPECT_EQ(acc->find(addr("sales@example.test")).kind, recipient_kind::Unknown);
  EXPECT_EQ(targets_of(acc->expand(addr("SALES@other.test"))),
            (strings{"U:bob@other.test", "R:partner@remote.test"}));
  EXPECT_EQ(strs(acc->members(addr("sales@other.test"))),
            (strings{"bob@other.test", "partner@remote.test"}));
}

TEST(Aliases, UnknownMembersAndMembersList) {
  const auto acc = make(k_users, k_aliases);
  ASSERT_TRUE(acc);
  EXPECT_EQ(
      targets_of(acc->expand(addr("list@example.test"))),
      (strings{"L:Alice@Example.TEST", "U:nobody@example.test", "R:\"john doe\"@remote.test"}));
  EXPECT_EQ(strs(acc->members(addr("staff@example.test"))),
            (strings{"alice@example.test", "bob@example.test", "carol@example.test",
                     "friend@remote.test"}));
  EXPECT_TRUE(acc->members(addr("alice@example.test")).empty());
  EXPECT_TRUE(acc->members(addr("nobody@example.test")).empty());
}

TEST(Aliases, NonAliasExpansion) {
  const auto acc = make(k_users, k_aliases);
  ASSERT_TRUE(acc);
  EXPECT_EQ(targets_of(acc->expand(addr("bob@example.test"))), (strings{"L:bob@example.test"}));
  EXPECT_EQ(targets_of(acc->expand(addr("x@remote.test"))), (strings{"R:x@remote.test"}));
  EXPECT_EQ(targets_of(acc->expand(addr("x@example.test"))), (strings{"U:x@example.test"}));
}

TEST(Aliases, AliasShadowsUserAndMayListIt) {
  const auto acc = make(k_users, "alice: alice, archive@backup.test\n");
  ASSERT_TRUE(acc);
  const lookup l = acc->find(addr("alice@example.test"));
  EXPECT_EQ(l.kind, recipient_kind::Alias);
  const expansion e = acc->expand(addr("alice@example.test"));
  EXPECT_FALSE(e.loop);
  EXPECT_EQ(targets_of(e), (strings{"L:Alice@Example.TEST", "R:archive@backup.test"}));
}

TEST(Aliases, LoopsAreDetected) {
  const auto acc = make(k_users,
                        "a: b, carol\n"
                        "b: a, bob\n"
                        "self: self\n"
                        "x: y\n"
                        "y: x\n");
  ASSERT_TRUE(acc);
  const expansion e = acc->expand(addr("a@example.test"));
  EXPECT_TRUE(e.loop);
  EXPECT_EQ(targets_of(e), (strings{"L:bob@example.test", "L:carol@example.test"}));

  const expansion s = acc->expand(addr("self@example.test"));
  EXPECT_TRUE(s.loop);
  EXPECT_TRUE(s.targets.empty());

  const expansion xy = acc->expand(addr("x@other.test"));
  EXPECT_TRUE(xy.loop);
  EXPECT_TRUE(xy.targets.empty());

  EXPECT_FALSE(acc->expand(addr("bob@example.test")).loop);
}

TEST(Aliases, DepthIsLimited) {
  std::string text;
  for (int i = 0; i < 40; ++i) {
    text += "a" + std::to_string(i) + ": a" + std::to_string(i + 1) + "\n";
  }
  text += "a40: bob\n";
  const auto acc = make(k_users, text);
  ASSERT_TRUE(acc);
  const expansion deep = acc->expand(addr("a0@example.test"));
  EXPECT_TRUE(deep.loop);
  EXPECT_TRUE(deep.targets.empty());
  const expansion shallow = acc->expand(addr("a35@example.test"));
  EXPECT_FALSE(shallow.loop);
  EXPECT_EQ(targets_of(shallow), (strings{"L:bob@example.test"}));
}

TEST(Aliases, SharedSublistsAreExpandedOnce) {
  // 18 levels of two aliases that both list both aliases of the next level: without
  // remembering finished aliases this would take 2^18 expansions.
  std::string text;
  for (int i = 0; i < 18; ++i) {
    const std::string next = std::to_string(i + 1);
    text += "l" + std::to_string(i) + "a: l" + next + "a, l" + next + "b\n";
    text += "l" + std::to_string(i) + "b: l" + next + "b, l" + next + "a\n";
  }
  text += "l18a: alice\nl18b: bob\n";
  const auto acc = make(k_users, text);
  ASSERT_TRUE(acc);
  const expansion e = acc->expand(addr("l0a@example.test"));
  EXPECT_FALSE(e.loop);
  EXPECT_EQ(targets_of(e), (strings{"L:Alice@Example.TEST", "L:bob@example.test"}));
}

TEST(Aliases, Errors) {
  const struct {
    const char* text;
    std::size_t line;
    const char* message;
  } cases[] = {
      {"ok: alice\nbad: |/usr/bin/procmail\n", 2, "not supported"},
      {"bad: alice, /var/mail/bad\n", 1, "not supported"},
      {"bad: :include:/etc/mail/list\n", 1, "not supported"},
      {"bad: :INCLUDE:/etc/mail/list\n", 1, "not supported"},
      {"bad: \"|cmd arg\"\n", 1, "not supported"},
      {"big: alice,\n  bob,\n  |evil\n", 3, "not supported"},
      {"staff: alice\n# again\nStaff: bob\n", 3, "duplicate"},
      {"staff@example.test: alice\nstaff@EXAMPLE.test: bob\n", 2, "duplicate"},
      {"no colon here\n", 1, "expected"},
      {"  bob\n", 1, "continuation"},
      {"empty:\n", 1, "no targets"},
      {"empty: , ,\n", 1, "no targets"},
      {"a b: alice\n", 1, "not a local part"},
      {"x: alice,\n\tnot valid\n", 2, "not a local part"},
      {"x: bob@\n", 1, "not a local part"},
  };
  for (const auto& c : cases) {
    const auto e = error_of(k_users, c.text);
    EXPECT_EQ(e.file, "aliases") << c.text;
    EXPECT_EQ(e.line, c.line) << c.text << e.message;
    EXPECT_NE(e.message.find(c.message), std::string::npos) << c.text << " -> " << e.message;
  }
}

TEST(Aliases, QuotedAndBracketedForms) {
  const auto acc = make(k_users, "\"info desk\": <alice@example.test>, \"bob\"\n");
  ASSERT_TRUE(acc);
  EXPECT_EQ(targets_of(acc->expand(addr("\"Info Desk\"@example.test"))),
            (strings{"L:Alice@Example.TEST", "L:bob@example.test"}));
}

TEST(Relocated, BothForms) {
  const auto acc = make(k_users, "",
                        "# moved away\n"
                        "old@example.test: new@elsewhere.test\n"
                        "Gone@Example.Test\tgone@new.test\n"
                        "alice@example.test: alice@new.test\n");
  ASSERT_TRUE(acc);
  lookup l = acc->find(addr("OLD@example.test"));
  EXPECT_EQ(l.kind, recipient_kind::Relocated);
  EXPECT_EQ(l.relocated_to, "new@elsewhere.test");
  EXPECT_EQ(l.canonical.str(), "OLD@example.test");
  l = acc->find(addr("gone+x@example.test"));
  EXPECT_EQ(l.kind, recipient_kind::Relocated);
  EXPECT_EQ(l.relocated_to, "gone@new.test");
  // A user still present is found as a user.
  EXPECT_EQ(acc->find(addr("alice@example.test")).kind, recipient_kind::User);
  // Relocated members of an alias cannot be delivered here: they bounce with the new address.
  const auto with_alias = make(k_users, "team: old, bob\n", "old@example.test: x@y.test\n");
  ASSERT_TRUE(with_alias);
  const expansion e = with_alias->expand(addr("team@example.test"));
  EXPECT_EQ(targets_of(e), (strings{"M:old@example.test>x@y.test", "L:bob@example.test"}));
  EXPECT_TRUE(e.deliverable());
  EXPECT_EQ(e.why_undeliverable(), undeliverable::No);
}

// A 250 at RCPT must end in a delivery or a bounce: every way an alias can leave nobody to
// deliver to is named, so that RCPT refuses it (DESIGN.md §4.2).
TEST(Aliases, WhyUndeliverable) {
  const auto acc = make(k_users,
                        "loop1: loop2\n"
                        "loop2: loop1\n"
                        "self: self\n"
                        "ghosts: ghost, spook\n"
                        "moved: old, gone\n"
                        "mixed: old, ghost\n"
                        "half: ghost, loop1\n"
                        "lst: bob, ghost\n"
                        "outside: friend@remote.test\n"
                        "twice: bob, bob, alice\n",
                        "old@example.test: x@y.test\ngone@example.test: z@y.test\n");
  ASSERT_TRUE(acc);
  const auto why = [&](std::string_view a) { return acc->expand(addr(a)).why_undeliverable(); };
  EXPECT_EQ(why("loop1@example.test"), undeliverable::Loop);
  EXPECT_EQ(why("self@example.test"), undeliverable::Loop);
  EXPECT_EQ(why("half@example.test"), undeliverable::Loop);  // the loop is what to fix
  EXPECT_EQ(why("ghosts@example.test"), undeliverable::Unknown);
  EXPECT_EQ(why("mixed@example.test"), undeliverable::Unknown);
  EXPECT_EQ(why("moved@example.test"), undeliverable::AllRelocated);
  EXPECT_EQ(why("lst@example.test"), undeliverable::No);
  EXPECT_EQ(why("outside@example.test"), undeliverable::No);
  EXPECT_EQ(why("twice@example.test"), undeliverable::No);
  EXPECT_EQ(targets_of(acc->expand(addr("lst@example.test"))),
            (strings{"L:bob@example.test", "U:ghost@example.test"}));
  EXPECT_EQ(targets_of(acc->expand(addr("twice@example.test"))),
            (strings{"L:bob@example.test", "L:Alice@Example.TEST"}));
  EXPECT_EQ(why("bob@example.test"), undeliverable::No);
  EXPECT_EQ(why("nobody@example.test"), undeliverable::Unknown);
}

TEST(Relocated, Errors) {
  auto e = error_of("", "", "old@example.test:\n");
  EXPECT_EQ(e.file, "relocated");
  EXPECT_EQ(e.line, 1u);
  e = error_of("", "", "\nold@example.test\n");
  EXPECT_EQ(e.line, 2u);
  e = error_of("", "", "old: new@x.test\n");
  EXPECT_EQ(e.line, 1u);
  EXPECT_NE(e.message.find("not an address"), std::string::npos) << e.message;
  e = error_of("", "", "a@example.test b@x.test\nA@example.test c@x.test\n");
  EXPECT_EQ(e.line, 2u);
  EXPECT_NE(e.message.find("duplicate"), std::string::npos) << e.message;
}

TEST(MatchName, AcrossLocalDomains) {
  const auto acc = make(std::string(k_users) + "alice@other.test:\n", k_aliases);
  ASSERT_TRUE(acc);
  EXPECT_EQ(strs(acc->match_name("alice")), (strings{"Alice@Example.TEST", "alice@other.test"}));
  EXPECT_EQ(strs(acc->match_name("ALICE")), strs(acc->match_name("\"alice\"")));
  EXPECT_EQ(strs(acc->match_name("carol")), (strings{"carol@example.test"}));
  EXPECT_EQ(strs(acc->match_name("staff")), (strings{"staff@example.test", "staff@other.test"}));
  EXPECT_EQ(strs(acc->match_name("sales")), (strings{"sales@other.test"}));
  EXPECT_TRUE(acc->match_name("nobody").empty());
  EXPECT_TRUE(acc->match_name("").empty());
}

class Load : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = fs::temp_directory_path() /
           ("posthorn-accounts-" + std::to_string(::getpid()) + "-" +
            ::testing::UnitTest::GetInstance()->current_test_info()->name());
    fs::remove_all(dir_);
    fs::create_directories(dir_);
    cfg_.source = dir_ / "posthorn.toml";
    cfg_.domains.local = {"example.test"};
    cfg_.accounts.users_file = dir_ / "users";
    cfg_.accounts.aliases_file = dir_ / "aliases";
  }
  void TearDown() override { fs::remove_all(dir_); }
  void write(const std::string& name, std::string_view text) {
    std::ofstream(dir_ / name, std::ios::binary) << text;
  }

  fs::path dir_;
  config::config cfg_;
};

TEST_F(Load, MissingDefaultFilesAreEmpty) {
  const auto r = accounts::load(cfg_);
  ASSERT_TRUE(r.has_value()) << r.error().message;
  EXPECT_TRUE((*r)->users().empty());
  EXPECT_EQ((*r)->find(addr("a@example.test")).kind, recipient_kind::Unknown);
}

TEST_F(Load, ReadsTheFiles) {
  write("users", "alice@example.test:$y$h\n");
  write("aliases", "staff: alice\n");
  write("moved", "old@example.test new@x.test\n");
  cfg_.accounts.relocated_file = dir_ / "moved";
  const auto r = accounts::load(cfg_);
  ASSERT_TRUE(r.has_value()) << r.error().message;
  EXPECT_EQ((*r)->find(addr("alice@example.test")).kind, recipient_kind::User);
  EXPECT_EQ((*r)->find(addr("staff@example.test")).kind, recipient_kind::Alias);
  EXPECT_EQ((*r)->find(addr("old@example.test")).kind, recipient_kind::Relocated);
}

TEST_F(Load, ExplicitMissingFileIsAnError) {
  cfg_.accounts.aliases_file = dir_ / "my-aliases";
  auto r = accounts::load(cfg_);
  ASSERT_FALSE(r.has_value());
  EXPECT_EQ(r.error().file, (dir_ / "my-aliases").string());
  EXPECT_EQ(r.error().key, "accounts.aliases_file");

  cfg_.accounts.aliases_file = dir_ / "aliases";
  cfg_.accounts.relocated_file = dir_ / "relocated";
  r = accounts::load(cfg_);
  ASSERT_FALSE(r.has_value());
  EXPECT_EQ(r.error().key, "accounts.relocated_file");
}

TEST_F(Load, ErrorsNameTheFileAndLine) {
  write("aliases", "ok: alice\n\nbad: |/bin/sh\n");
  const auto r = accounts::load(cfg_);
  ASSERT_FALSE(r.has_value());
  EXPECT_EQ(r.error().file, (dir_ / "aliases").string());
  EXPECT_EQ(r.error().line, 3u);
}

TEST_F(Load, DirectoryIsAnError) {
  fs::create_directories(dir_ / "users");
  const auto r = accounts::load(cfg_);
  ASSERT_FALSE(r.has_value());
  EXPECT_EQ(r.error().key, "accounts.users_file");
}

}  // namespace
}  // namespace posthorn::policy
