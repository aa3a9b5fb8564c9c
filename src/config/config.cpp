// The config loader: TOML (toml++) into the schema of config.hpp, every mistake
// reported with file, line and key (STYLE.md 9). Unknown keys are errors, so a typo
// never silently falls back to a default.

#include "config/config.hpp"

#include <toml++/toml.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <fstream>
#include <functional>
#include <limits>
#include <optional>
#include <set>
#include <sstream>
#include <utility>

#include "common/domain_name.hpp"

namespace posthorn::config {

namespace {

using status = std::expected<void, config_error>;

constexpr std::string_view k_duration_hint =
    "expected a duration like \"30s\", \"15m\", \"4h\", \"5d\"";
constexpr std::string_view k_size_hint = "expected a size like \"35M\"";

char ascii_lower(char c) { return (c >= 'A' && c <= 'Z') ? static_cast<char>(c - 'A' + 'a') : c; }

std::string lower(std::string_view s) {
  std::string out(s);
  for (char& c : out) {
    c = ascii_lower(c);
  }
  return out;
}

// Reads one parsed TOML document into a config. Holds what every error needs:
// the file name and the folder relative paths are anchored to.
class loader {
 public:
  loader(std::string file, fs::path base) : file_(std::move(file)), base_(std::move(base)) {}

  std::expected<config, config_error> run(const toml::table& root, const fs::path& source);

 private:
  std::unexpected<config_error> fail(const toml::source_region& at, std::string key,
                                     std::string_view message) const {
    return std::unexpected(config_error{file_, static_cast<std::size_t>(at.begin.line),
                                        std::move(key), std::string(message)});
  }
  std::unexpected<config_error> unknown_key(const toml::key& k, const std::string& key,
                                            const toml::node& value) const {
    return fail(k.source(), key, value.is_table() ? "unknown section" : "unknown key");
  }

  fs::path resolve(const fs::path& p) const {
    if (p.empty() || p.is_absolute()) {
      return p.lexically_normal();
    }
    return (base_ / p).lexically_normal();
  }

  // Field readers: each checks the TOML type and the value, then stores it.
  status read_string(const toml::node& v, const std::string& key, std::string& out) const;
  status read_path(const toml::node& v, const std::string& key, fs::path& out) const;
  status read_bool(const toml::node& v, const std::string& key, bool& out) const;
  template <class Int>
  status read_int(const toml::node& v, const std::string& key, Int& out, std::int64_t min) const;
  status read_duration(const toml::node& v, const std::string& key, seconds& out,
                       bool allow_zero) const;
  status read_size(const toml::node& v, const std::string& key, std::uint64_t& out) const;
  status read_strings(const toml::node& v, const std::string& key,
                      const std::function<status(const toml::node&, const std::string&,
                                                 std::string_view)>& each) const;
  // A list of networks ("192.0.2.0/24", "::1/128", single addresses); replaces `out`.
  status read_networks(const toml::node& v, const std::string& key, std::vector<cidr>& out) const;
  // Calls `each` for every key of the table `v` (the section `name`).
  status read_section(const toml::node& v, const std::string& name,
                      const std::function<status(const toml::key&, const toml::node&,
                                                 const std::string&)>& each) const;

  status read_listen(const toml::node& v, config& cfg) const;
  status read_tls(const toml::node& v, config& cfg);
  status read_domains(const toml::node& v, config& cfg) const;
  status read_accounts(const toml::node& v, config& cfg) const;
  status read_mailbox(const toml::node& v, config& cfg);
  status read_lmtp(const toml::node& v, const std::string& key, mailbox_config& m) const;
  status read_relay(const toml::node& v, config& cfg);
  status read_dns(const toml::node& v, config& cfg) const;
  status read_queue(const toml::node& v, config& cfg) const;
  status read_limits(const toml::node& v, config& cfg) const;
  status read_smtp(const toml::node& v, config& cfg) const;
  status read_auth(const toml::node& v, config& cfg) const;
  status read_submission(const toml::node& v, config& cfg) const;
  status read_metrics(const toml::node& v, config& cfg) const;

  std::string file_;
  fs::path base_;
  // Defaults that depend on other keys are filled in once everything is read.
  bool tls_cert_set_ = false;
  bool tls_key_set_ = false;
  bool maildir_root_set_ = false;
  bool trusted_networks_set_ = false;
  // Where the smarthost credentials were written, for errors found after reading.
  std::optional<toml::source_region> smarthost_user_at_;
  std::optional<toml::source_region> smarthost_password_at_;
  std::optional<toml::source_region> smarthost_password_file_at_;
  std::optional<toml::source_region> relay_at_;
  status check_smarthost_auth(config& cfg) const;
};

status loader::read_string(const toml::node& v, const std::string& key, std::string& out) const {
  const auto* s = v.as_string();
  if (s == nullptr) {
    return fail(v.source(), key, "expected a string");
  }
  out = s->get();
  return {};
}

status loader::read_path(const toml::node& v, const std::string& key, fs::path& out) const {
  std::string text;
  if (auto s = read_string(v, key, text); !s) {
    return s;
  }
  out = resolve(fs::path(text));
  return {};
}

status loader::read_bool(const toml::node& v, const std::string& key, bool& out) const {
  const auto* b = v.as_boolean();
  if (b == nullptr) {
    return fail(v.source(), key, "expected true or false");
  }
  out = b->get();
  return {};
}

template <class Int>
status loader::read_int(const toml::node& v, const std::string& key, Int& out,
                        std::int64_t min) const {
  const auto* i = v.as_integer();
  if (i == nullptr) {
    return fail(v.source(), key, "expected an integer");
  }
  const std::int64_t value = i->get();
  constexpr auto max = static_cast<std::uint64_t>(std::numeric_limits<Int>::max());
  if (value < min || static_cast<std::uint64_t>(value) > max) {
    return fail(v.source(), key,
                "expected an integer from " + std::to_string(min) + " to " + std::to_string(max));
  }
  out = static_cast<Int>(value);
  return {};
}

status loader::read_duration(const toml::node& v, const std::string& key, seconds& out,
                             bool allow_zero) const {
  const auto* s = v.as_string();
  const auto parsed = s != nullptr ? parse_duration(s->get()) : std::nullopt;
  if (!parsed) {
    return fail(v.source(), key, k_duration_hint);
  }
  if (!allow_zero && parsed->count() == 0) {
    return fail(v.source(), key, "must be longer than \"0s\"");
  }
  out = *parsed;
  return {};
}

status loader::read_size(const toml::node& v, const std::string& key, std::uint64_t& out) const {
  // A plain TOML integer is a number of octets, as a size string without a suffix is.
  if (const auto* i = v.as_integer(); i != nullptr && i->get() >= 0) {
    out = static_cast<std::uint64_t>(i->get());
    return {};
  }
  const auto* s = v.as_string();
  const auto parsed = s != nullptr ? parse_size(s->get()) : std::nullopt;
  if (!parsed) {
    return fail(v.source(), key, k_size_hint);
  }
  out = *parsed;
  return {};
}

status loader::read_networks(const toml::node& v, const std::string& key,
                             std::vector<cidr>& out) const {
  out.clear();
  return read_strings(
      v, key,
      [&](const toml::node& item, const std::string& item_key, std::string_view text) -> status {
        const auto net = cidr::parse(text);
        if (!net) {
          return fail(item.source(), item_key,
                      "\"" + std::string(text) + "\" is not a network like \"192.0.2.0/24\"");
        }
        out.push_back(*net);
        return {};
      });
}

status loader::read_strings(const toml::node& v, const std::string& key,
                            const std::function<status(const toml::node&, const std::string&,
                                                       std::string_view)>& each) const {
  const auto* arr = v.as_array();
  if (arr == nullptr) {
    return fail(v.source(), key, "expected an array of strings");
  }
  for (std::size_t i = 0; i < arr->size(); ++i) {
    const toml::node& item = *arr->get(i);
    const std::string item_key = key + "[" + std::to_string(i) + "]";
    const auto* s = item.as_string();
    if (s == nullptr) {
      return fail(item.source(), item_key, "expected a string");
    }
    if (auto st = each(item, item_key, s->get()); !st) {
      return st;
    }
  }
  return {};
}

status loader::read_section(const toml::node& v, const std::string& name,
                            const std::function<status(const toml::key&, const toml::node&,
                                                       const std::string&)>& each) const {
  const auto* table = v.as_table();
  if (table == nullptr) {
    return fail(v.source(), name, "expected a table ([" + name + "])");
  }
  for (auto&& [k, value] : *table) {
    if (auto st = each(k, value, name + "." + std::string(k.str())); !st) {
      return st;
    }
  }
  return {};
}

status loader::read_listen(const toml::node& v, config& cfg) const {
  const auto* arr = v.as_array();
  // An empty array is let through: it means the default listener, as no key does.
  if (arr == nullptr || (!arr->empty() && !arr->is_array_of_tables())) {
    return fail(v.source(), "listen", "expected [[listen]] tables");
  }
  // Keyed by the canonical address, so "[::1]:25" and "[0:0::1]:25" collide.
  std::set<std::pair<std::string, std::uint16_t>> seen;
  for (std::size_t i = 0; i < arr->size(); ++i) {
    const toml::node& item = *arr->get(i);
    const std::string name = "listen[" + std::to_string(i) + "]";
    listen_config l;
    bool have_address = false;
    const toml::node* address_node = nullptr;
    auto st = read_section(
        item, name,
        [&](const toml::key& k, const toml::node& value, const std::string& key) -> status {
          if (k == "address") {
            if (auto s = read_string(value, key, l.address); !s) {
              return s;
            }
            const auto hp = host_port::parse(l.address);
            if (!hp || hp->host.empty()) {
              return fail(value.source(), key, "expected \"host:port\" or \"[v6]:port\"");
            }
            if (hp->port == 0) {
              return fail(value.source(), key, "port must be from 1 to 65535");
            }
            l.endpoint = *hp;
            have_address = true;
            address_node = &value;
            return {};
          }
          if (k == "role") {
            std::string role;
            if (auto s = read_string(value, key, role); !s) {
              return s;
            }
            if (role == "mx") {
              l.role = listener_role::Mx;
            } else if (role == "submission") {
              l.role = listener_role::Submission;
            } else if (role == "submissions") {
              l.role = listener_role::Submissions;
            } else if (role == "lmtp") {
              l.role = listener_role::Lmtp;
            } else if (role == "pop3") {
              l.role = listener_role::Pop3;
            } else if (role == "pop3s") {
              l.role = listener_role::Pop3s;
            } else {
              return fail(value.source(), key,
                          "unknown role \"" + role +
                              "\" (expected mx, submission, submissions, lmtp, pop3 or pop3s)");
            }
            return {};
          }
          if (k == "allow_plaintext_auth") {
            return read_bool(value, key, l.allow_plaintext_auth);
          }
          if (k == "proxy_protocol") {
            return read_bool(value, key, l.proxy_protocol);
          }
          return unknown_key(k, key, value);
        });
    if (!st) {
      return st;
    }
    if (!have_address) {
      return fail(item.source(), name + ".address", "missing (every [[listen]] needs an address)");
    }
    if (l.proxy_protocol && is_pop3(l.role)) {
      return fail(item.source(), name + ".proxy_protocol", "not supported on pop3 and pop3s listeners");
    }
    const auto ip = ip_address::parse(l.endpoint.host);
    std::string canonical = ip ? ip->str() : lower(l.endpoint.host);
    if (!seen.emplace(std::move(canonical), l.endpoint.port).second) {
      return fail(address_node->source(), name + ".address",
                  "\"" + l.address + "\" is already listed");
    }
    cfg.listen.push_back(std::move(l));
  }
  return {};
}

status loader::read_tls(const toml::node& v, config& cfg) {
  return read_section(
      v, "tls", [&](const toml::key& k, const toml::node& value, const std::string& key) -> status {
        if (k == "cert" || k == "key") {
          fs::path& out = k == "cert" ? cfg.tls.cert : cfg.tls.key;
          (k == "cert" ? tls_cert_set_ : tls_key_set_) = true;
          if (auto s = read_path(value, key, out); !s) {
            return s;
          }
          if (out.empty()) {
            return fail(value.source(), key, "must not be empty");
          }
          return {};
        }
        if (k == "self_signed") {
          return read_bool(value, key, cfg.tls.self_signed);
        }
        if (k == "session_tickets") {
          return read_bool(value, key, cfg.tls.session_tickets);
        }
        return unknown_key(k, key, value);
      });
}

status loader::read_domains(const toml::node& v, config& cfg) const {
  return read_section(
      v, "domains",
      [&](const toml::key& k, const toml::node& value, const std::string& key) -> status {
        if (k != "local" && k != "relay") {
          return unknown_key(k, key, value);
        }
        const bool relay = k == "relay";
        auto& list = relay ? cfg.domains.relay : cfg.domains.local;
        auto& other = relay ? cfg.domains.local : cfg.domains.relay;
        list.clear();
        return read_strings(
            value, key,
            [&](const toml::node& item, const std::string& item_key,
                std::string_view text) -> status {
              std::string domain = lower(text);
              if (!domain.empty() && domain.back() == '.') {
                domain.pop_back();  // an absolute name is the same domain
              }
              // domains.relay: ".example.test" names every subdomain
              // (Postfix's relay_domains with a leading dot).
              const bool subdomains = relay && domain.size() > 1 && domain.front() == '.';
              if (!plausible_domain_name(subdomains ? std::string_view(domain).substr(1)
                                                    : std::string_view(domain))) {
                return fail(item.source(), item_key,
                            "\"" + std::string(text) + "\" is not a domain name");
              }
              if (std::find(other.begin(), other.end(), domain) != other.end()) {
                return fail(item.source(), item_key,
                            "\"" + domain + "\" is in both domains.local and domains.relay");
              }
              if (std::find(list.begin(), list.end(), domain) == list.end()) {
                list.push_back(std::move(domain));
              }
              return {};
            });
      });
}

status loader::read_accounts(const toml::node& v, config& cfg) const {
  return read_section(
      v, "accounts",
      [&](const toml::key& k, const toml::node& value, const std::string& key) -> status {
        if (k == "users_file") {
          return read_path(value, key, cfg.accounts.users_file);
        }
        if (k == "aliases_file") {
          return read_path(value, key, cfg.accounts.aliases_file);
        }
        if (k == "relocated_file") {
          return read_path(value, key, cfg.accounts.relocated_file);
        }
        if (k == "recipient_delimiter") {
          std::string& d = cfg.accounts.recipient_delimiter;
          if (auto s = read_string(value, key, d); !s) {
            return s;
          }
          // Each character is a delimiter (as Postfix's recipient_delimiter); none
          // may be part of the address syntax around a local part.
          for (const char c : d) {
            const auto u = static_cast<unsigned char>(c);
            if (c == '@' || c == '"' || c == '\\' || c == '.' || u <= ' ' || u >= 0x7f) {
              return fail(value.source(), key,
                          "delimiter characters must be printable ASCII "
                          "other than '@', '.', '\"' and '\\'");
            }
          }
          return {};
        }
        return unknown_key(k, key, value);
      });
}

status loader::read_mailbox(const toml::node& v, config& cfg) {
  return read_section(
      v, "mailbox",
      [&](const toml::key& k, const toml::node& value, const std::string& key) -> status {
        if (k == "maildir_root") {
          maildir_root_set_ = true;
          if (auto s = read_path(value, key, cfg.mailbox.maildir_root); !s) {
            return s;
          }
          if (cfg.mailbox.maildir_root.empty()) {
            return fail(value.source(), key, "must not be empty");
          }
          return {};
        }
        if (k == "lmtp") {
          return read_lmtp(value, key, cfg.mailbox);
        }
        if (k == "junk_folder") {
          if (auto s = read_string(value, key, cfg.mailbox.junk_folder); !s) {
            return s;
          }
          // One Maildir++ folder name: no path, no dot (the hierarchy separator).
          const std::string& f = cfg.mailbox.junk_folder;
          if (f.find_first_of("/.") != std::string::npos ||
              std::ranges::any_of(f, [](char c) { return static_cast<unsigned char>(c) < 0x20; })) {
            return fail(value.source(), key, "must be a folder name without '/' or '.'");
          }
          return {};
        }
        return unknown_key(k, key, value);
      });
}

status loader::read_lmtp(const toml::node& v, const std::string& key, mailbox_config& m) const {
  if (auto s = read_string(v, key, m.lmtp); !s) {
    return s;
  }
  m.lmtp_socket.clear();
  m.lmtp_endpoint = host_port{"", 0};
  if (m.lmtp.empty()) {
    return {};
  }
  if (m.lmtp.starts_with("unix:")) {
    const std::string path = m.lmtp.substr(5);
    if (path.empty()) {
      return fail(v.source(), key, "expected \"unix:/path\" with a path");
    }
    m.lmtp_socket = resolve(fs::path(path));
    return {};
  }
  const auto hp = host_port::parse(m.lmtp);
  if (!hp || hp->host.empty() || hp->port == 0) {
    return fail(v.source(), key, "expected \"unix:/path\", \"host:port\" or \"\"");
  }
  m.lmtp_endpoint = *hp;
  return {};
}

status loader::read_relay(const toml::node& v, config& cfg) {
  return read_section(
      v, "relay",
      [&](const toml::key& k, const toml::node& value, const std::string& key) -> status {
        if (k == "trusted_networks") {
          trusted_networks_set_ = true;
          return read_networks(value, key, cfg.relay.trusted_networks);
        }
        if (k == "smarthost") {
          std::string& host = cfg.relay.smarthost;
          if (auto s = read_string(value, key, host); !s) {
            return s;
          }
          if (host.empty()) {
            return {};
          }
          // A bare host name means port 25, as Postfix's relayhost does.
          if (host.find(':') == std::string::npos && plausible_domain_name(host)) {
            host += ":25";
          }
          const auto hp = host_port::parse(host);
          if (!hp || hp->host.empty() || hp->port == 0) {
            return fail(value.source(), key, "expected \"host:port\", \"[v6]:port\" or \"\"");
          }
          return {};
        }
        if (k == "outbound_port") {
          return read_int(value, key, cfg.relay.outbound_port, 1);
        }
        if (k == "destination_concurrency") {
          return read_int(value, key, cfg.relay.destination_concurrency, 1);
        }
        if (k == "smarthost_user" || k == "smarthost_password") {
          const bool user = k == "smarthost_user";
          std::string& out = user ? cfg.relay.smarthost_user : cfg.relay.smarthost_password;
          (user ? smarthost_user_at_ : smarthost_password_at_) = value.source();
          if (auto s = read_string(value, key, out); !s) {
            return s;
          }
          // PLAIN separates its fields with NUL; LOGIN and PLAIN send one line each.
          if (out.find_first_of(std::string_view("\0\r\n", 3)) != std::string::npos) {
            return fail(value.source(), key, "must not hold NUL, CR or LF");
          }
          return {};
        }
        if (k == "smarthost_password_file") {
          smarthost_password_file_at_ = value.source();
          return read_path(value, key, cfg.relay.smarthost_password_file);
        }
        return unknown_key(k, key, value);
      });
}

status loader::read_dns(const toml::node& v, config& cfg) const {
  return read_section(
      v, "dns", [&](const toml::key& k, const toml::node& value, const std::string& key) -> status {
        if (k != "nameservers") {
          return unknown_key(k, key, value);
        }
        cfg.dns.nameservers.clear();
        return read_strings(value, key,
                            [&](const toml::node& item, const std::string& item_key,
                                std::string_view text) -> status {
                              const auto hp = host_port::parse(text);
                              const bool ok = ip_address::parse(text).has_value() ||
                                              (hp && ip_address::parse(hp->host) && hp->port != 0);
                              if (!ok) {
                                return fail(item.source(), item_key,
                                            "\"" + std::string(text) +
                                                "\" is not an IP address, \"ip:port\" or "
                                                "\"[v6]:port\"");
                              }
                              cfg.dns.nameservers.emplace_back(text);
                              return {};
                            });
      });
}

status loader::read_queue(const toml::node& v, config& cfg) const {
  return read_section(
      v, "queue",
      [&](const toml::key& k, const toml::node& value, const std::string& key) -> status {
        if (k == "retry") {
          cfg.queue.retry.clear();
          const auto* arr = value.as_array();
          if (arr == nullptr) {
            return fail(value.source(), key,
                        "expected an array of durations like [\"5m\", \"1h\"]");
          }
          for (std::size_t i = 0; i < arr->size(); ++i) {
            seconds wait{};
            if (auto s =
                    read_duration(*arr->get(i), key + "[" + std::to_string(i) + "]", wait, false);
                !s) {
              return s;
            }
            cfg.queue.retry.push_back(wait);
          }
          if (cfg.queue.retry.empty()) {
            return fail(value.source(), key, "needs at least one wait (the last one repeats)");
          }
          return {};
        }
        if (k == "delay_warning") {
          return read_duration(value, key, cfg.queue.delay_warning, true);
        }
        if (k == "max_lifetime") {
          return read_duration(value, key, cfg.queue.max_lifetime, false);
        }
        return unknown_key(k, key, value);
      });
}

status loader::read_limits(const toml::node& v, config& cfg) const {
  auto& l = cfg.limits;
  return read_section(
      v, "limits",
      [&](const toml::key& k, const toml::node& value, const std::string& key) -> status {
        if (k == "message_size") {
          return read_size(value, key, l.message_size);
        }
        if (k == "min_free_space") {
          return read_size(value, key, l.min_free_space);
        }
        if (k == "recipients") {
          return read_int(value, key, l.recipients, 1);
        }
        if (k == "connections") {
          return read_int(value, key, l.connections, 1);
        }
        if (k == "connections_per_ip") {
          return read_int(value, key, l.connections_per_ip, 1);
        }
        if (k == "errors") {
          return read_int(value, key, l.errors, 1);
        }
        if (k == "command_timeout") {
          return read_duration(value, key, l.command_timeout, false);
        }
        if (k == "data_timeout") {
          return read_duration(value, key, l.data_timeout, false);
        }
        if (k == "shutdown_timeout") {
          return read_duration(value, key, l.shutdown_timeout, true);
        }
        if (k == "pop3_timeout") {
          if (auto st = read_duration(value, key, l.pop3_timeout, false); !st) {
            return st;
          }
          // RFC 1939 §3: the autologout timer MUST be of at least 10 minutes.
          if (l.pop3_timeout < std::chrono::minutes(10)) {
            return fail(value.source(), key, "must be at least \"10m\" (RFC 1939 §3)");
          }
          return {};
        }
        return unknown_key(k, key, value);
      });
}

status loader::read_smtp(const toml::node& v, config& cfg) const {
  return read_section(
      v, "smtp",
      [&](const toml::key& k, const toml::node& value, const std::string& key) -> status {
        if (k == "vrfy") {
          return read_bool(value, key, cfg.smtp.vrfy);
        }
        if (k == "expn") {
          return read_bool(value, key, cfg.smtp.expn);
        }
        if (k == "xclient_networks") {
          return read_networks(value, key, cfg.smtp.xclient_networks);
        }
        return unknown_key(k, key, value);
      });
}

status loader::read_auth(const toml::node& v, config& cfg) const {
  return read_section(
      v, "auth",
      [&](const toml::key& k, const toml::node& value, const std::string& key) -> status {
        if (k == "max_failures") {
          return read_int(value, key, cfg.auth.max_failures, 0);
        }
        if (k == "failure_window") {
          return read_duration(value, key, cfg.auth.failure_window, false);
        }
        if (k == "dovecot_socket") {
          return read_path(value, key, cfg.auth.dovecot_socket);
        }
        return unknown_key(k, key, value);
      });
}

status loader::read_metrics(const toml::node& v, config& cfg) const {
  return read_section(
      v, "metrics",
      [&](const toml::key& k, const toml::node& value, const std::string& key) -> status {
        if (k == "address") {
          if (auto s = read_string(value, key, cfg.metrics.address); !s) {
            return s;
          }
          if (cfg.metrics.address.empty()) {
            return {};
          }
          const auto hp = host_port::parse(cfg.metrics.address);
          if (!hp || hp->host.empty() || hp->port == 0) {
            return fail(value.source(), key, "expected \"host:port\" or \"[v6]:port\"");
          }
          cfg.metrics.endpoint = *hp;
          return {};
        }
        return unknown_key(k, key, value);
      });
}

status loader::read_submission(const toml::node& v, config& cfg) const {
  return read_section(
      v, "submission",
      [&](const toml::key& k, const toml::node& value, const std::string& key) -> status {
        if (k == "sender_policy") {
          std::string rule;
          if (auto s = read_string(value, key, rule); !s) {
            return s;
          }
          if (rule == "own") {
            cfg.submission.sender_policy = sender_rule::Own;
          } else if (rule == "domain") {
            cfg.submission.sender_policy = sender_rule::Domain;
          } else if (rule == "any") {
            cfg.submission.sender_policy = sender_rule::Any;
          } else {
            return fail(value.source(), key,
                        "unknown policy \"" + rule + "\" (expected own, domain or any)");
          }
          return {};
        }
        return unknown_key(k, key, value);
      });
}

std::expected<config, config_error> loader::run(const toml::table& root, const fs::path& source) {
  config cfg;
  cfg.source = source;
  // Defaults that are paths are relative to the config file's folder too.
  cfg.state_dir = resolve(cfg.state_dir);
  cfg.accounts.users_file = resolve(cfg.accounts.users_file);
  cfg.accounts.aliases_file = resolve(cfg.accounts.aliases_file);
  cfg.accounts.relocated_file = resolve(cfg.accounts.relocated_file);

  for (auto&& [k, value] : root) {
    const std::string key(k.str());
    status st;
    if (k == "hostname") {
      st = read_string(value, key, cfg.hostname);
      if (st && !plausible_domain_name(cfg.hostname)) {
        st = fail(value.source(), key,
                  cfg.hostname.empty() ? "must not be empty"
                                       : "\"" + cfg.hostname + "\" is not a host name");
      }
    } else if (k == "state_dir") {
      st = read_path(value, key, cfg.state_dir);
      if (st && cfg.state_dir.empty()) {
        st = fail(value.source(), key, "must not be empty");
      }
    } else if (k == "listen") {
      st = read_listen(value, cfg);
    } else if (k == "tls") {
      st = read_tls(value, cfg);
    } else if (k == "domains") {
      st = read_domains(value, cfg);
    } else if (k == "accounts") {
      st = read_accounts(value, cfg);
    } else if (k == "mailbox") {
      st = read_mailbox(value, cfg);
    } else if (k == "relay") {
      relay_at_ = value.source();
      st = read_relay(value, cfg);
    } else if (k == "dns") {
      st = read_dns(value, cfg);
    } else if (k == "queue") {
      st = read_queue(value, cfg);
    } else if (k == "limits") {
      st = read_limits(value, cfg);
    } else if (k == "smtp") {
      st = read_smtp(value, cfg);
    } else if (k == "auth") {
      st = read_auth(value, cfg);
    } else if (k == "submission") {
      st = read_submission(value, cfg);
    } else if (k == "metrics") {
      st = read_metrics(value, cfg);
    } else if (k == "user") {
      st = read_string(value, key, cfg.user);
    } else {
      st = unknown_key(k, key, value);
    }
    if (!st) {
      return std::unexpected(st.error());
    }
  }

  // Generated TLS files and mail live under state_dir unless placed elsewhere.
  if (!tls_cert_set_) {
    cfg.tls.cert = cfg.state_dir / "tls" / "cert.pem";
  }
  if (!tls_key_set_) {
    cfg.tls.key = cfg.state_dir / "tls" / "key.pem";
  }
  if (!maildir_root_set_) {
    cfg.mailbox.maildir_root = cfg.state_dir / "mail";
  }
  if (!trusted_networks_set_) {
    for (const char* net : {"127.0.0.0/8", "::1/128"}) {
      if (auto parsed = cidr::parse(net)) {
        cfg.relay.trusted_networks.push_back(*parsed);
      }
    }
  }
  if (cfg.listen.empty()) {
    cfg.listen.push_back(listen_config{});
  }
  if (auto st = check_smarthost_auth(cfg); !st) {
    return std::unexpected(st.error());
  }
  return cfg;
}

status loader::check_smarthost_auth(config& cfg) const {
  relay_config& r = cfg.relay;
  const toml::source_region none{};
  const auto at = [&](const std::optional<toml::source_region>& where) -> const auto& {
    return where ? *where : (relay_at_ ? *relay_at_ : none);
  };
  if (!r.smarthost_password.empty() && !r.smarthost_password_file.empty()) {
    return fail(at(smarthost_password_file_at_), "relay.smarthost_password_file",
                "give smarthost_password or smarthost_password_file, not both");
  }
  if (!r.smarthost_password_file.empty()) {
    std::ifstream in(r.smarthost_password_file, std::ios::binary);
    std::error_code ec;
    if (!in || fs::is_directory(r.smarthost_password_file, ec)) {
      const int err = errno;
      return fail(at(smarthost_password_file_at_), "relay.smarthost_password_file",
                  "cannot read " + r.smarthost_password_file.string() + ": " +
                      (in ? std::string("is a directory") : std::string(std::strerror(err))));
    }
    std::string line;
    std::getline(in, line);
    if (!line.empty() && line.back() == '\r') {
      line.pop_back();
    }
    if (line.empty() || line.find('\0') != std::string::npos) {
      return fail(at(smarthost_password_file_at_), "relay.smarthost_password_file",
                  r.smarthost_password_file.string() + " must hold the password on its first line");
    }
    r.smarthost_password = std::move(line);
  }
  const bool user = !r.smarthost_user.empty();
  const bool password = !r.smarthost_password.empty();
  if (user && !password) {
    return fail(at(smarthost_user_at_), "relay.smarthost_user",
                "needs smarthost_password_file (or smarthost_password)");
  }
  if (password && !user) {
    return fail(
        at(smarthost_password_file_at_ ? smarthost_password_file_at_ : smarthost_password_at_),
        smarthost_password_file_at_ ? "relay.smarthost_password_file" : "relay.smarthost_password",
        "needs smarthost_user");
  }
  if (user && r.smarthost.empty()) {
    // Credentials go to the smarthost only, never to a domain's MX hosts.
    return fail(at(smarthost_user_at_), "relay.smarthost_user", "needs relay.smarthost");
  }
  return {};
}

}  // namespace

std::expected<config, config_error> load_string(std::string_view text, const fs::path& origin) {
  const std::string file = origin.string();
  std::error_code ec;
  fs::path absolute = fs::absolute(origin, ec);
  if (ec) {
    absolute = origin;
  }
  toml::table root;
  try {
    root = toml::parse(text, file);
  } catch (const toml::parse_error& e) {
    return std::unexpected(config_error{file, static_cast<std::size_t>(e.source().begin.line), "",
                                        std::string(e.description())});
  }
  loader l(file, absolute.parent_path());
  return l.run(root, origin);
}

std::expected<config, config_error> load_file(const fs::path& path) {
  std::error_code ec;
  if (fs::is_directory(path, ec)) {
    return std::unexpected(config_error{path.string(), 0, "", "is a directory, not a file"});
  }
  std::ifstream in(path, std::ios::binary);
  if (!in) {
    const int err = errno;
    return std::unexpected(
        config_error{path.string(), 0, "", std::string("cannot read: ") + std::strerror(err)});
  }
  std::ostringstream text;
  text << in.rdbuf();
  if (in.bad()) {
    return std::unexpected(config_error{path.string(), 0, "", "read error"});
  }
  return load_string(text.str(), path);
}

}  // namespace posthorn::config
