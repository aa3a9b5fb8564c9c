#pragma once
// The configuration schema (DESIGN.md §4.3): one struct per TOML section, each
// default written once, here. docs/config.md documents every key.

#include <chrono>
#include <cstdint>
#include <expected>
#include <filesystem>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "common/cidr.hpp"

namespace posthorn::config {

using seconds = std::chrono::seconds;
namespace fs = std::filesystem;

// pop3 and pop3s serve the Maildirs over POP3 (docs/pop3.md); pop3s with implicit TLS.
enum class listener_role { Mx, Submission, Submissions, Lmtp, Pop3, Pop3s };

// "mx", "submission", "submissions", "lmtp", "pop3", "pop3s".
inline const char* role_name(listener_role r) {
  switch (r) {
    case listener_role::Mx:
      return "mx";
    case listener_role::Submission:
      return "submission";
    case listener_role::Submissions:
      return "submissions";
    case listener_role::Lmtp:
      return "lmtp";
    case listener_role::Pop3:
      return "pop3";
    case listener_role::Pop3s:
      return "pop3s";
  }
  return "mx";
}

// The listener speaks POP3 rather than SMTP.
inline bool is_pop3(listener_role r) {
  return r == listener_role::Pop3 || r == listener_role::Pop3s;
}

struct listen_config {
  std::string address = "127.0.0.1:2525";  // as written
  host_port endpoint{"127.0.0.1", 2525};   // parsed
  listener_role role = listener_role::Mx;
  // Offer AUTH without TLS (PLAIN and LOGIN then send passwords in the clear); for
  // clients that cannot do TLS on a trusted network only. Moot on submissions and pop3s
  // (TLS first). On pop3 it allows USER/PASS and AUTH before STLS.
  bool allow_plaintext_auth = false;
  // A PROXY protocol header (HAProxy, v1 or v2) comes first on every connection and names
  // the client; a connection without a valid one is closed without a greeting.
  bool proxy_protocol = false;
};

struct tls_config {
  fs::path cert = "var/tls/cert.pem";
  fs::path key = "var/tls/key.pem";
  bool self_signed = false;
  bool session_tickets = true;  // false: no RFC 5077 / TLS 1.3 tickets (session cache only)
};

struct domains_config {
  std::vector<std::string> local;  // lower-case, U-labels
  // We are a backup MX / gateway for these (DESIGN.md §4.6): mail for them is accepted
  // from anyone and relayed to their MX hosts; ETRN starts their queue. Lower-case;
  // ".example.test" stands for every subdomain of example.test.
  std::vector<std::string> relay;
};

struct accounts_config {
  fs::path users_file = "users";
  fs::path aliases_file = "aliases";
  fs::path relocated_file;                // empty = none
  std::string recipient_delimiter = "+";  // "user+tag" -> "user"; "" = off
};

struct mailbox_config {
  fs::path maildir_root = "var/mail";
  // "" = write the Maildirs ourselves; "unix:/path" or "host:port" = hand local mail to
  // that LMTP server (RFC 2033), such as Dovecot's lmtp, instead (as written).
  std::string lmtp;
  fs::path lmtp_socket;             // parsed from "unix:/path" (resolved); empty otherwise
  host_port lmtp_endpoint{"", 0};  // parsed from "host:port"; port 0 otherwise
  // The Maildir++ folder (<mailbox>/.<name>/) for mail judged spam; "" = the inbox.
  std::string junk_folder = "Junk";
};

struct relay_config {
  std::vector<cidr> trusted_networks;  // default 127.0.0.0/8 and ::1/128, set by the loader
  std::string smarthost;               // "" = MX lookup
  std::uint16_t outbound_port = 25;
  // AUTH at the smarthost (only there, and only over TLS); "" = no AUTH.
  std::string smarthost_user;
  // The password: smarthost_password as written, or the first line of
  // smarthost_password_file (read when the config is loaded). Never logged.
  std::string smarthost_password;
  fs::path smarthost_password_file;  // resolved; empty = none
  // Simultaneous outbound connections per destination domain (or to the smarthost).
  std::uint32_t destination_concurrency = 20;
};

struct dns_config {
  std::vector<std::string> nameservers;  // [] = system resolver
};

struct queue_config {
  std::vector<seconds> retry{std::chrono::minutes(5),  std::chrono::minutes(10),
                             std::chrono::minutes(20), std::chrono::minutes(40),
                             std::chrono::minutes(80), std::chrono::hours(2)};
  seconds delay_warning = std::chrono::hours(4);  // 0 = never
  seconds max_lifetime = std::chrono::hours(24 * 5);
};

struct limits_config {
  std::uint64_t message_size = 35'000'000;  // octets after dot-unstuffing; 0 = no limit
  std::uint32_t recipients = 1000;
  std::uint32_t connections = 10000;
  std::uint32_t connections_per_ip = 100;
  seconds command_timeout = std::chrono::minutes(5);
  seconds data_timeout = std::chrono::minutes(10);
  // SIGTERM: transactions under way may finish for this long; then 421 and exit.
  seconds shutdown_timeout = std::chrono::seconds(30);
  std::uint32_t errors = 10;
  std::uint64_t min_free_space = 100'000'000;  // below this, 452 4.3.1 before DATA
  // POP3's autologout timer (RFC 1939 §3: at least 10 minutes), idle time between commands.
  seconds pop3_timeout = std::chrono::minutes(10);
};

struct smtp_config {
  bool vrfy = true;
  bool expn = false;
  // Clients that may send XCLIENT (Postfix's smtpd_authorized_xclient_hosts).
  std::vector<cidr> xclient_networks;
};

struct auth_config {
  std::uint32_t max_failures = 5;                     // per client in failure_window; 0 = no block
  seconds failure_window = std::chrono::minutes(15);  // sliding window for max_failures
  // Dovecot's auth-client socket: passwords are checked by Dovecot (its passdb) instead
  // of the users file; empty = the users file. SASL then offers PLAIN and LOGIN only.
  fs::path dovecot_socket;
};

// Which envelope senders an authenticated client may use on submission.
enum class sender_rule {
  Own,     // the user's address, its +tag forms and aliases that deliver to the user
  Domain,  // any address in the user's domain
  Any,     // anything
};

struct submission_config {
  sender_rule sender_policy = sender_rule::Own;
};

// Prometheus metrics over HTTP (DESIGN.md §4.5).
struct metrics_config {
  std::string address;        // "127.0.0.1:9464"; empty = no metrics listener
  host_port endpoint{"", 0};  // parsed from address
};

struct config {
  fs::path source;  // the file this was loaded from; relative paths below are already resolved
  std::string hostname = "localhost";
  fs::path state_dir = "var";
  // Started as root: the user to run as once the listeners are bound ("" = stay).
  std::string user;
  std::vector<listen_config> listen;
  tls_config tls;
  domains_config domains;
  accounts_config accounts;
  mailbox_config mailbox;
  relay_config relay;
  dns_config dns;
  queue_config queue;
  limits_config limits;
  smtp_config smtp;
  auth_config auth;
  submission_config submission;
  metrics_config metrics;

  fs::path spool_dir() const { return state_dir / "spool"; }
  // The administrator's socket (queue commands; mode 0600).
  fs::path control_socket() const { return state_dir / "control.sock"; }
  // Local submission for `posthorn sendmail` (SMTP; any local user; mode 0666).
  fs::path submit_socket() const { return state_dir / "submit.sock"; }
};

// A mistake in a config file, located as precisely as the file allows.
struct config_error {
  std::string file;
  std::size_t line = 0;  // 0 when unknown
  std::string key;       // "limits.message_size"; empty when the whole file is at fault
  std::string message;
  std::string str() const;  // "posthorn.toml:12: limits.message_size: expected a size like \"35M\""
};

// Reads and validates a config file; relative paths are made relative to its folder.
std::expected<config, config_error> load_file(const fs::path& path);
// Same, from text (tests); `origin` names it in errors and anchors relative paths.
std::expected<config, config_error> load_string(std::string_view text, const fs::path& origin);

// "30s", "15m", "4h", "5d", "1h20m"; nullopt when malformed.
std::optional<seconds> parse_duration(std::string_view text);
// "35M", "10k", "1G", "1234": k, M, G are powers of 1000.
std::optional<std::uint64_t> parse_size(std::string_view text);

}  // namespace posthorn::config
