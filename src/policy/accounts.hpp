#pragma once
// Who receives mail here: local domains, users, aliases (aliases(5) style) and
// relocated users. Loaded from the files [accounts] names; immutable once loaded,
// so a reload swaps in a new instance (shared_ptr) while sessions keep the old one.

#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "auth/scram.hpp"
#include "common/error.hpp"
#include "config/config.hpp"
#include "mail/address.hpp"
#include "policy/relay_domains.hpp"

namespace posthorn::policy {

struct user {
  mail::address address;  // as written in the users file (its spelling names the Maildir)
  std::string hash;       // crypt(3) hash; "" for an account that cannot log in
  // SCRAM-SHA-256 secrets from a "scram-sha-256=" field after the hash; without them the
  // account logs in with PLAIN and LOGIN only.
  std::optional<auth::scram_secrets> scram;
};

// What an address given in RCPT TO / VRFY is, before expansion.
enum class recipient_kind {
  User,       // a local user
  Alias,      // an alias or list in a local domain
  Relocated,  // moved: 551 5.1.6 with `relocated_to`
  Unknown,    // local domain, no such user: 550 5.1.1
  Remote,     // not one of our domains
  Relay,      // a domain in [domains] relay: accepted from anyone, relayed to its MX
};

struct lookup {
  recipient_kind kind = recipient_kind::Unknown;
  mail::address canonical;   // User: the user's address; Alias: the alias; else the input
  std::string relocated_to;  // Relocated only
};

// One final destination of an expanded recipient.
struct target {
  enum class kind { Local, Remote, Unknown, Relocated };
  kind k = kind::Local;
  mail::address address;     // Local: the user's address as in the users file
  std::string relocated_to;  // Relocated only: the new address
};

// Why an expansion leaves nobody to deliver to (the reply at RCPT, DESIGN.md §4.2).
enum class undeliverable {
  No,            // at least one local or remote target
  Loop,          // an alias cycle (or nesting past the limit) and nothing else: 550 5.4.6
  Unknown,       // every member unknown (some may be relocated): 550 5.1.1
  AllRelocated,  // every member relocated: 550 5.1.6
};

struct expansion {
  std::vector<target> targets;  // deduplicated, in file order
  bool loop = false;            // an alias cycle was met (its members still expanded once)

  // True when some target can receive the message (local user or remote address).
  bool deliverable() const;
  // Why nothing can receive it; undeliverable::No when deliverable(). A loop wins over
  // unknown members: it is what the administrator has to fix.
  undeliverable why_undeliverable() const;
};

class accounts {
 public:
  // Reads users_file, aliases_file and relocated_file (missing files = empty, except
  // when a path is set explicitly and unreadable: error naming file and line).
  static std::expected<std::shared_ptr<const accounts>, config::config_error> load(
      const config::config& cfg);
  // For tests: the contents given as text.
  static std::expected<std::shared_ptr<const accounts>, config::config_error> from_text(
      std::vector<std::string> local_domains, std::string_view users, std::string_view aliases,
      std::string_view relocated, std::string recipient_delimiter = "+",
      const std::vector<std::string>& relay_domains = {});

  bool is_local_domain(std::string_view domain) const;
  // Classifies an address; "user+tag" falls back to "user" when "user+tag" itself is unknown.
  // Order: alias by full address, bare-name alias (local domains only), user, relocated.
  // Entries written with a full address match in any domain; the rest of a local domain is
  // Unknown, of a [domains] relay domain Relay, of any other domain Remote.
  lookup find(const mail::address& a) const;
  // Expands aliases recursively to final targets (users, remote addresses, unknowns).
  // An alias listing its own address delivers to the user of that address when there is
  // one; other cycles, and nesting deeper than 20, set `loop`. Unknown and relocated members
  // are targets of their own kind: they bounce while the others are delivered.
  expansion expand(const mail::address& a) const;
  // Direct members of an alias (EXPN); empty when `a` is not an alias.
  std::vector<mail::address> members(const mail::address& a) const;
  // VRFY/EXPN with a bare local part or partial name: every match among users and aliases
  // of every local domain (more than one = ambiguous, 553 5.1.4).
  std::vector<mail::address> match_name(std::string_view name) const;
  const user* find_user(const mail::address& a) const;
  const std::vector<user>& users() const { return users_; }
  const std::vector<std::string>& local_domains() const { return domains_; }
  const policy::relay_domains& relay() const { return relay_; }

 private:
  struct alias_entry {
    mail::address name;                  // as written; domain "" = in every local domain
    std::vector<mail::address> members;  // domain "" = the domain of the address expanded
    std::size_t line = 0;
  };
  // What an address resolves to without the recipient-delimiter fallback.
  struct resolved {
    recipient_kind kind = recipient_kind::Unknown;
    mail::address canonical;
    const alias_entry* alias = nullptr;
    const std::string* relocated_to = nullptr;
  };

  std::optional<config::config_error> parse_users(std::string_view text, const std::string& file);
  std::optional<config::config_error> parse_aliases(std::string_view text, const std::string& file);
  std::optional<config::config_error> parse_relocated(std::string_view text,
                                                      const std::string& file);
  bool is_local_normalized(std::string_view normalized_domain) const;
  std::optional<resolved> resolve_exact(const mail::address& a, const std::string& local_key,
                                        const std::string& domain_key) const;
  resolved resolve(const mail::address& a) const;
  struct expand_state;  // accounts.cpp
  void expand_into(const mail::address& a, unsigned depth, expand_state& st) const;

  std::vector<std::string> domains_;  // normalize_domain() of each local domain
  policy::relay_domains relay_;
  std::vector<user> users_;
  std::string delimiter_;  // a set of characters, any of which starts an extension
  std::unordered_map<std::string, std::size_t> user_index_;  // mail::address_key()
  // mail::address_key() of the name; a bare local part has the key "local@".
  std::unordered_map<std::string, alias_entry> aliases_;
  std::unordered_map<std::string, std::string> relocated_;  // address_key() -> new address
};

}  // namespace posthorn::policy
