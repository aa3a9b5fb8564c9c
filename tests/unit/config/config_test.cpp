// The loader: every key of DESIGN.md §4.3 read back, defaults, relative paths, and one
// test per kind of mistake asserting the file, line and key it names.

#include "config/config.hpp"

#include <gtest/gtest.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <string>

namespace posthorn::config {
namespace {

using std::chrono::hours;
using std::chrono::minutes;

const fs::path k_origin = "/etc/posthorn/posthorn.toml";

config load_ok(std::string_view text) {
  auto cfg = load_string(text, k_origin);
  EXPECT_TRUE(cfg.has_value()) << (cfg ? "" : cfg.error().str());
  return cfg ? *cfg : config{};
}

config_error load_bad(std::string_view text) {
  auto cfg = load_string(text, k_origin);
  EXPECT_FALSE(cfg.has_value()) << "accepted:\n" << text;
  return cfg ? config_error{} : cfg.error();
}

// Asserts where an error points; the message is checked separately where it matters.
void expect_at(const config_error& e, std::size_t line, std::string_view key) {
  EXPECT_EQ(e.file, k_origin.string()) << e.str();
  EXPECT_EQ(e.line, line) << e.str();
  EXPECT_EQ(e.key, key) << e.str();
}

TEST(ConfigLoad, EmptyFileGivesDefaults) {
  const config cfg = load_ok("");
  EXPECT_EQ(cfg.source, k_origin);
  EXPECT_EQ(cfg.hostname, "localhost");
  EXPECT_EQ(cfg.state_dir, "/etc/posthorn/var");
  EXPECT_EQ(cfg.spool_dir(), "/etc/posthorn/var/spool");
  ASSERT_EQ(cfg.listen.size(), 1u);
  EXPECT_EQ(cfg.listen[0].address, "127.0.0.1:2525");
  EXPECT_EQ(cfg.listen[0].endpoint.host, "127.0.0.1");
  EXPECT_EQ(cfg.listen[0].endpoint.port, 2525);
  EXPECT_EQ(cfg.listen[0].role, listener_role::Mx);
  EXPECT_EQ(cfg.tls.cert, "/etc/posthorn/var/tls/cert.pem");
  EXPECT_EQ(cfg.tls.key, "/etc/posthorn/var/tls/key.pem");
  EXPECT_FALSE(cfg.tls.self_signed);
  EXPECT_TRUE(cfg.domains.local.empty());
  EXPECT_EQ(cfg.accounts.users_file, "/etc/posthorn/users");
  EXPECT_EQ(cfg.accounts.aliases_file, "/etc/posthorn/aliases");
  EXPECT_TRUE(cfg.accounts.relocated_file.empty());
  EXPECT_EQ(cfg.accounts.recipient_delimiter, "+");
  EXPECT_EQ(cfg.mailbox.maildir_root, "/etc/posthorn/var/mail");
  ASSERT_EQ(cfg.relay.trusted_networks.size(), 2u);
  EXPECT_EQ(cfg.relay.trusted_networks[0].str(), "127.0.0.0/8");
  EXPECT_EQ(cfg.relay.trusted_networks[1].str(), "::1/128");
  EXPECT_EQ(cfg.relay.smarthost, "");
  EXPECT_EQ(cfg.relay.outbound_port, 25);
  EXPECT_TRUE(cfg.dns.nameservers.empty());
  const std::vector<seconds> retry{minutes(5),  minutes(10), minutes(20),
                                   minutes(40), minutes(80), hours(2)};
  EXPECT_EQ(cfg.queue.retry, retry);
  EXPECT_EQ(cfg.queue.delay_warning, hours(4));
  EXPECT_EQ(cfg.queue.max_lifetime, hours(120));
  EXPECT_EQ(cfg.limits.message_size, 35'000'000u);
  EXPECT_EQ(cfg.limits.recipients, 1000u);
  EXPECT_EQ(cfg.limits.connections, 10000u);
  EXPECT_EQ(cfg.limits.connections_per_ip, 100u);
  EXPECT_EQ(cfg.limits.command_timeout, minutes(5));
  EXPECT_EQ(cfg.limits.data_timeout, minutes(10));
  EXPECT_EQ(cfg.limits.errors, 10u);
  EXPECT_EQ(cfg.limits.min_free_space, 100'000'000u);
  EXPECT_TRUE(cfg.smtp.vrfy);
  EXPECT_FALSE(cfg.smtp.expn);
}

TEST(ConfigLoad, EveryKeyIsRead) {
  const config cfg = load_ok(R"(
hostname = "mx1.example.test"
state_dir = "state"

[[listen]]
address = "0.0.0.0:25"
role = "mx"

[[listen]]
address = "[::1]:587"
role = "submission"

[[listen]]
address = "localhost:465"
role = "submissions"

[tls]
cert = "/srv/tls/cert.pem"
key = "tls/key.pem"
self_signed = true

[domains]
local = ["Example.TEST", "example.org.", "example.test"]

[accounts]
users_file = "/srv/users"
aliases_file = "../aliases"
relocated_file = "relocated"
recipient_delimiter = "+-"

[mailbox]
maildir_root = "/srv/mail"

[relay]
trusted_networks = ["10.0.0.0/8", "2001:db8::/32", "192.0.2.1"]
smarthost = "[2001:db8::25]:2525"
outbound_port = 2525

[dns]
nameservers = ["127.0.0.1:5353", "::1", "[::1]:53"]

[queue]
retry = ["1s", "2s", "1h20m"]
delay_warning = "0s"
max_lifetime = "2d"

[limits]
message_size = "10M"
recipients = 50
connections = 20
connections_per_ip = 5
command_timeout = "30s"
data_timeout = "1m"
errors = 3
min_free_space = 0

[smtp]
vrfy = false
expn = true
)");
  EXPECT_EQ(cfg.hostname, "mx1.example.test");
  EXPECT_EQ(cfg.state_dir, "/etc/posthorn/state");
  ASSERT_EQ(cfg.listen.size(), 3u);
  EXPECT_EQ(cfg.listen[0].endpoint.host, "0.0.0.0");
  EXPECT_EQ(cfg.listen[0].endpoint.port, 25);
  EXPECT_EQ(cfg.listen[1].address, "[::1]:587");
  EXPECT_EQ(cfg.listen[1].endpoint.host, "::1");
  EXPECT_EQ(cfg.listen[1].role, listener_role::Submission);
  EXPECT_EQ(cfg.listen[2].endpoint.host, "localhost");
  EXPECT_EQ(cfg.listen[2].role, listener_role::Submissions);
  EXPECT_EQ(cfg.tls.cert, "/srv/tls/cert.pem");
  EXPECT_EQ(cfg.tls.key, "/etc/posthorn/tls/key.pem");
  EXPECT_TRUE(cfg.tls.self_signed);
  EXPECT_EQ(cfg.domains.local, (std::vector<std::string>{"example.test", "example.org"}));
  EXPECT_EQ(cfg.accounts.users_file, "/srv/users");
  EXPECT_EQ(cfg.accounts.aliases_file, "/etc/aliases");
  EXPECT_EQ(cfg.accounts.relocated_file, "/etc/posthorn/relocated");
  EXPECT_EQ(cfg.accounts.recipient_delimiter, "+-");
  EXPECT_EQ(cfg.mailbox.maildir_root, "/srv/mail");
  ASSERT_EQ(cfg.relay.trusted_networks.size(), 3u);
  EXPECT_EQ(cfg.relay.trusted_networks[0].str(), "10.0.0.0/8");
  EXPECT_EQ(cfg.relay.trusted_networks[1].str(), "2001:db8::/32");
  EXPECT_EQ(cfg.relay.trusted_networks[2].str(), "192.0.2.1/32");
  EXPECT_EQ(cfg.relay.smarthost, "[2001:db8::25]:2525");
  EXPECT_EQ(cfg.relay.outbound_port, 2525);
  EXPECT_EQ(cfg.dns.nameservers, (std::vector<std::string>{"127.0.0.1:5353", "::1", "[::1]:53"}));
  EXPECT_EQ(cfg.queue.retry, (std::vector<seconds>{seconds(1), seconds(2), minutes(80)}));
  EXPECT_EQ(cfg.queue.delay_warning, seconds(0));
  EXPECT_EQ(cfg.queue.max_lifetime, hours(48));
  EXPECT_EQ(cfg.limits.message_size, 10'000'000u);
  EXPECT_EQ(cfg.limits.recipients, 50u);
  EXPECT_EQ(cfg.limits.connections, 20u);
  EXPECT_EQ(cfg.limits.connections_per_ip, 5u);
  EXPECT_EQ(cfg.limits.command_timeout, seconds(30));
  EXPECT_EQ(cfg.limits.data_timeout, minutes(1));
  EXPECT_EQ(cfg.limits.errors, 3u);
  EXPECT_EQ(cfg.limits.min_free_space, 0u);
  EXPECT_FALSE(cfg.smtp.vrfy);
  EXPECT_TRUE(cfg.smtp.expn);
}

TEST(ConfigLoad, StateDirMovesGeneratedFilesAndMailUnlessSet) {
  const config cfg = load_ok("state_dir = \"/var/lib/posthorn\"\n");
  EXPECT_EQ(cfg.tls.cert, "/var/lib/posthorn/tls/cert.pem");
  EXPECT_EQ(cfg.tls.key, "/var/lib/posthorn/tls/key.pem");
  EXPECT_EQ(cfg.mailbox.maildir_root, "/var/lib/posthorn/mail");
  EXPECT_EQ(cfg.spool_dir(), "/var/lib/posthorn/spool");
}

TEST(ConfigLoad, EmptyTrustedNetworksStayEmpty) {
  const config cfg = load_ok("[relay]\ntrusted_networks = []\n");
  EXPECT_TRUE(cfg.relay.trusted_networks.empty());
}

TEST(ConfigLoad, EmptyListenArrayMeansTheDefaultListener) {
  const config cfg = load_ok("listen = []\n");
  ASSERT_EQ(cfg.listen.size(), 1u);
  EXPECT_EQ(cfg.listen[0].address, "127.0.0.1:2525");
}

TEST(ConfigLoad, ListenRoleDefaultsToMx) {
  const config cfg = load_ok("[[listen]]\naddress = \"127.0.0.1:25\"\n");
  ASSERT_EQ(cfg.listen.size(), 1u);
  EXPECT_EQ(cfg.listen[0].role, listener_role::Mx);
}

TEST(ConfigLoad, BareSmarthostGetsPort25) {
  EXPECT_EQ(load_ok("[relay]\nsmarthost = \"relay.example.net\"\n").relay.smarthost,
            "relay.example.net:25");
}

TEST(ConfigLoad, SizesMayBePlainIntegers) {
  EXPECT_EQ(load_ok("[limits]\nmessage_size = 1000\n").limits.message_size, 1000u);
  EXPECT_EQ(load_ok("[limits]\nmessage_size = \"1000\"\n").limits.message_size, 1000u);
}

TEST(ConfigLoad, DottedKeysAndInlineTablesWork) {
  const config cfg = load_ok("limits.recipients = 7\nsmtp = { expn = true }\n");
  EXPECT_EQ(cfg.limits.recipients, 7u);
  EXPECT_TRUE(cfg.smtp.expn);
}

TEST(ConfigLoad, RelativeOriginAnchorsAtItsFolder) {
  auto cfg = load_string("state_dir = \"../var\"\n", "config/dev.toml");
  ASSERT_TRUE(cfg) << cfg.error().str();
  EXPECT_EQ(cfg->state_dir, (fs::current_path() / "var").lexically_normal());
  EXPECT_EQ(cfg->source, "config/dev.toml");
}

TEST(ConfigLoad, FileIsReadAndNamedInErrors) {
  const fs::path dir =
      fs::path(::testing::TempDir()) / ("posthorn_config_file_test." + std::to_string(::getpid()));
  fs::create_directories(dir);
  const fs::path file = dir / "posthorn.toml";
  {
    std::ofstream out(file);
    out << "hostname = \"mx.example.test\"\nstate_dir = \"state\"\n";
  }
  auto cfg = load_file(file);
  ASSERT_TRUE(cfg) << cfg.error().str();
  EXPECT_EQ(cfg->hostname, "mx.example.test");
  EXPECT_EQ(cfg->state_dir, (fs::absolute(dir) / "state").lexically_normal());
  {
    std::ofstream out(file);
    out << "# comment\n\n[limits]\nmessage_size = \"big\"\n";
  }
  auto bad = load_file(file);
  ASSERT_FALSE(bad);
  EXPECT_EQ(bad.error().str(),
            file.string() + ":4: limits.message_size: expected a size like \"35M\"");
  fs::remove_all(dir);
}

TEST(ConfigLoad, MissingFileIsAnError) {
  auto cfg = load_file("/nonexistent/posthorn.toml");
  ASSERT_FALSE(cfg);
  EXPECT_EQ(cfg.error().file, "/nonexistent/posthorn.toml");
  EXPECT_EQ(cfg.error().line, 0u);
  EXPECT_NE(cfg.error().message.find("cannot read"), std::string::npos);
}

TEST(ConfigLoad, DevConfigOfTheRepositoryLoads) {
  auto cfg = load_file(fs::path(POSTHORN_SOURCE_DIR) / "config" / "dev.toml");
  ASSERT_TRUE(cfg) << cfg.error().str();
  EXPECT_EQ(cfg->hostname, "mx.example.test");
  EXPECT_EQ(cfg->state_dir, (fs::path(POSTHORN_SOURCE_DIR) / "var").lexically_normal());
  EXPECT_EQ(cfg->domains.local, std::vector<std::string>{"example.test"});
}

TEST(ConfigLoad, ExampleConfigOfTheRepositoryLoadsWithTheDefaults) {
  auto example = load_file(fs::path(POSTHORN_SOURCE_DIR) / "config" / "example.toml");
  ASSERT_TRUE(example) << example.error().str();
  // Every value in example.toml is the default, so only the local domain differs.
  auto defaults = load_string("[domains]\nlocal = [\"example.test\"]\n",
                              fs::path(POSTHORN_SOURCE_DIR) / "config" / "example.toml");
  ASSERT_TRUE(defaults);
  EXPECT_EQ(example->hostname, "mx.example.test");
  EXPECT_EQ(example->state_dir, defaults->state_dir);
  EXPECT_EQ(example->tls.cert, defaults->tls.cert);
  EXPECT_EQ(example->mailbox.maildir_root, defaults->mailbox.maildir_root);
  EXPECT_EQ(example->queue.retry, defaults->queue.retry);
  EXPECT_EQ(example->limits.message_size, defaults->limits.message_size);
  EXPECT_EQ(example->limits.min_free_space, defaults->limits.min_free_space);
  EXPECT_EQ(example->relay.trusted_networks.size(), defaults->relay.trusted_networks.size());
}

// Bad configs: the error points at the offending line and key.

TEST(ConfigErrors, SyntaxErrorNamesTheLine) {
  const auto e = load_bad("hostname = \"mx.example.test\"\n\n[limits\nrecipients = 5\n");
  EXPECT_EQ(e.file, k_origin.string());
  EXPECT_EQ(e.line, 3u);
  EXPECT_EQ(e.key, "");
  EXPECT_EQ(e.str().rfind(k_origin.string() + ":3: ", 0), 0u) << e.str();
}

TEST(ConfigErrors, DuplicateKeyIsASyntaxError) {
  const auto e = load_bad("hostname = \"a.example\"\nhostname = \"b.example\"\n");
  EXPECT_EQ(e.line, 2u);
}

TEST(ConfigErrors, UnknownTopLevelKey) {
  const auto e = load_bad("hostname = \"mx.example.test\"\nhost_name = \"x\"\n");
  expect_at(e, 2, "host_name");
  EXPECT_EQ(e.message, "unknown key");
}

TEST(ConfigErrors, UnknownSection) {
  const auto e = load_bad("\n[limit]\nrecipients = 5\n");
  expect_at(e, 2, "limit");
  EXPECT_EQ(e.message, "unknown section");
}

TEST(ConfigErrors, UnknownKeyInSection) {
  expect_at(load_bad("[limits]\nrecipients = 5\nmessage_sise = \"1M\"\n"), 3,
            "limits.message_sise");
  expect_at(load_bad("[smtp]\nvrfy = true\netrn = true\n"), 3, "smtp.etrn");
  expect_at(load_bad("[[listen]]\naddress = \"127.0.0.1:25\"\nrole = \"mx\"\ntls = true\n"), 4,
            "listen[0].tls");
}

TEST(ConfigErrors, WrongTypes) {
  auto e = load_bad("[limits]\nrecipients = \"1000\"\n");
  expect_at(e, 2, "limits.recipients");
  EXPECT_EQ(e.message, "expected an integer");
  e = load_bad("[smtp]\nvrfy = \"yes\"\n");
  expect_at(e, 2, "smtp.vrfy");
  EXPECT_EQ(e.message, "expected true or false");
  e = load_bad("hostname = 5\n");
  expect_at(e, 1, "hostname");
  EXPECT_EQ(e.message, "expected a string");
  expect_at(load_bad("[domains]\nlocal = \"example.test\"\n"), 2, "domains.local");
  expect_at(load_bad("[domains]\nlocal = [\"a.test\",\n  5]\n"), 3, "domains.local[1]");
  expect_at(load_bad("limits = 5\n"), 1, "limits");
  expect_at(load_bad("[listen]\naddress = \"127.0.0.1:25\"\n"), 1, "listen");
  expect_at(load_bad("[tls]\ncert = [\"a\"]\n"), 2, "tls.cert");
  expect_at(load_bad("[relay]\noutbound_port = 70000\n"), 2, "relay.outbound_port");
  expect_at(load_bad("[relay]\noutbound_port = 0\n"), 2, "relay.outbound_port");
  expect_at(load_bad("[limits]\nerrors = -1\n"), 2, "limits.errors");
  expect_at(load_bad("[limits]\nconnections = 5000000000\n"), 2, "limits.connections");
}

TEST(ConfigErrors, BadDuration) {
  auto e = load_bad("[queue]\nmax_lifetime = \"5 days\"\n");
  expect_at(e, 2, "queue.max_lifetime");
  EXPECT_EQ(e.message, "expected a duration like \"30s\", \"15m\", \"4h\", \"5d\"");
  expect_at(load_bad("[limits]\ncommand_timeout = 300\n"), 2, "limits.command_timeout");
  expect_at(load_bad("[limits]\ndata_timeout = \"0s\"\n"), 2, "limits.data_timeout");
  expect_at(load_bad("[queue]\nretry = [\"5m\",\n  \"10x\"]\n"), 3, "queue.retry[1]");
  expect_at(load_bad("[queue]\nretry = [\"0s\"]\n"), 2, "queue.retry[0]");
}

TEST(ConfigErrors, EmptyRetry) {
  const auto e = load_bad("[queue]\nretry = []\n");
  expect_at(e, 2, "queue.retry");
}

TEST(ConfigErrors, BadSize) {
  auto e = load_bad("[limits]\nmessage_size = \"35MB\"\n");
  expect_at(e, 2, "limits.message_size");
  EXPECT_EQ(e.str(), k_origin.string() + ":2: limits.message_size: expected a size like \"35M\"");
  expect_at(load_bad("[limits]\nmin_free_space = -5\n"), 2, "limits.min_free_space");
  expect_at(load_bad("[limits]\nmessage_size = true\n"), 2, "limits.message_size");
}

TEST(ConfigErrors, BadListenAddress) {
  for (const char* bad : {"127.0.0.1", "127.0.0.1:", ":25", "127.0.0.1:99999", "[::1:25", "::1:25",
                          "127.0.0.1:0", "127.0.0.1:port"}) {
    const std::string text = std::string("[[listen]]\nrole = \"mx\"\naddress = \"") + bad + "\"\n";
    expect_at(load_bad(text), 3, "listen[0].address");
  }
  expect_at(load_bad("[[listen]]\nrole = \"mx\"\n"), 1, "listen[0].address");
}

TEST(ConfigErrors, DuplicateListenAddress) {
  const auto e = load_bad(
      "[[listen]]\naddress = \"[::1]:25\"\n[[listen]]\naddress = \"127.0.0.1:26\"\n"
      "[[listen]]\naddress = \"[0:0::1]:25\"\nrole = \"submission\"\n");
  expect_at(e, 6, "listen[2].address");
}

TEST(ConfigErrors, UnknownRole) {
  const auto e = load_bad("[[listen]]\naddress = \"127.0.0.1:25\"\nrole = \"smtp\"\n");
  expect_at(e, 3, "listen[0].role");
  EXPECT_NE(e.message.find("smtp"), std::string::npos);
  expect_at(load_bad("[[listen]]\naddress = \"127.0.0.1:25\"\nrole = \"MX\"\n"), 3,
            "listen[0].role");
}

TEST(ConfigPop3, RolesAndTimeout) {
  auto cfg = load_string(
      "[[listen]]\naddress = \"127.0.0.1:110\"\nrole = \"pop3\"\nallow_plaintext_auth = true\n"
      "[[listen]]\naddress = \"127.0.0.1:995\"\nrole = \"pop3s\"\n"
      "[limits]\npop3_timeout = \"15m\"\n",
      k_origin);
  ASSERT_TRUE(cfg) << cfg.error().str();
  EXPECT_EQ(cfg->listen[0].role, listener_role::Pop3);
  EXPECT_TRUE(cfg->listen[0].allow_plaintext_auth);
  EXPECT_EQ(cfg->listen[1].role, listener_role::Pop3s);
  EXPECT_TRUE(is_pop3(cfg->listen[1].role));
  EXPECT_STREQ(role_name(cfg->listen[1].role), "pop3s");
  EXPECT_EQ(cfg->limits.pop3_timeout, std::chrono::minutes(15));
  auto dflt = load_string("", k_origin);
  ASSERT_TRUE(dflt);
  EXPECT_EQ(dflt->limits.pop3_timeout, std::chrono::minutes(10));
}

TEST(ConfigErrors, Pop3TimeoutBelowTenMinutesAndProxyOnPop3) {
  auto e = load_bad("[limits]\npop3_timeout = \"9m\"\n");
  expect_at(e, 2, "limits.pop3_timeout");
  EXPECT_EQ(e.message, "must be at least \"10m\" (RFC 1939 §3)");
  expect_at(load_bad("[[listen]]\naddress = \"127.0.0.1:110\"\nrole = \"pop3\"\n"
                     "proxy_protocol = true\n"),
            1, "listen[0].proxy_protocol");
}

TEST(ConfigErrors, BadCidr) {
  for (const char* bad : {"10.0.0.0/33", "::1/129", "10.0.0", "example.test", "10.0.0.0/", ""}) {
    const std::string text =
        std::string("[relay]\ntrusted_networks = [\n  \"127.0.0.0/8\",\n  \"") + bad + "\"]\n";
    expect_at(load_bad(text), 4, "relay.trusted_networks[1]");
  }
}

TEST(ConfigErrors, BadHostname) {
  auto e = load_bad("hostname = \"\"\n");
  expect_at(e, 1, "hostname");
  EXPECT_EQ(e.message, "must not be empty");
  expect_at(load_bad("hostname = \"mx example\"\n"), 1, "hostname");
  expect_at(load_bad("hostname = \"mx..example\"\n"), 1, "hostname");
}

TEST(ConfigErrors, BadDomainsAndOthers) {
  expect_at(load_bad("[domains]\nlocal = [\"user@example.test\"]\n"), 2, "domains.local[0]");
  expect_at(load_bad("[domains]\nlocal = [\"\"]\n"), 2, "domains.local[0]");
  expect_at(load_bad("[relay]\nsmarthost = \"relay:smtp\"\n"), 2, "relay.smarthost");
  expect_at(load_bad("[dns]\nnameservers = [\"ns.example.test\"]\n"), 2, "dns.nameservers[0]");
  expect_at(load_bad("[accounts]\nrecipient_delimiter = \"@\"\n"), 2,
            "accounts.recipient_delimiter");
  expect_at(load_bad("state_dir = \"\"\n"), 1, "state_dir");
  expect_at(load_bad("[mailbox]\nmaildir_root = \"\"\n"), 2, "mailbox.maildir_root");
  expect_at(load_bad("[tls]\nkey = \"\"\n"), 2, "tls.key");
}

// DESIGN.md §4.6: [domains] relay, the domains we are a backup MX for.
TEST(ConfigDomains, RelayDomainsAreLowerCasedAndMayNameSubdomains) {
  auto cfg = load_string(
      "[domains]\nlocal = [\"example.test\"]\nrelay = [\"Relay.TEST.\", \".backup.test\", "
      "\"relay.test\"]\n",
      "/etc/posthorn/posthorn.toml");
  ASSERT_TRUE(cfg.has_value()) << cfg.error().str();
  EXPECT_EQ(cfg->domains.relay, (std::vector<std::string>{"relay.test", ".backup.test"}));
  auto defaults = load_string("", "/etc/posthorn/posthorn.toml");
  ASSERT_TRUE(defaults.has_value());
  EXPECT_TRUE(defaults->domains.relay.empty());
}

TEST(ConfigErrors, BadRelayDomains) {
  expect_at(load_bad("[domains]\nrelay = [\"a b.test\"]\n"), 2, "domains.relay[0]");
  expect_at(load_bad("[domains]\nrelay = [\".\"]\n"), 2, "domains.relay[0]");
  expect_at(load_bad("[domains]\nrelay = [\"..x.test\"]\n"), 2, "domains.relay[0]");
  // A domain is delivered here or relayed, never both.
  auto e = load_bad("[domains]\nlocal = [\"example.test\"]\nrelay = [\"EXAMPLE.test\"]\n");
  expect_at(e, 3, "domains.relay[0]");
  EXPECT_NE(e.message.find("both"), std::string::npos) << e.message;
  // (toml++ hands the keys over sorted: the relay entry is the one named.)
  expect_at(load_bad("[domains]\nrelay = [\"example.test\"]\nlocal = [\"example.test\"]\n"), 2,
            "domains.relay[0]");
  expect_at(load_bad("[domains]\nlocal = [\".example.test\"]\n"), 2, "domains.local[0]");
}

}  // namespace
}  // namespace posthorn::config
