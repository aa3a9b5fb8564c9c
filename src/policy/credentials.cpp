// Credential checks for SMTP AUTH and the submission sender rule.

#include "policy/credentials.hpp"

#include <openssl/rand.h>

#include <array>
#include <string>
#include <utility>

#include "auth/password.hpp"
#include "auth/sasl.hpp"

namespace posthorn::policy {

namespace {

// A yescrypt hash of a random password nobody knows, made once per process with the
// same cost as new hashes. Verifying against it makes a miss (unknown user, account
// without a password) take as long as a wrong password for a real user.
const std::string& dummy_hash() {
  static const std::string hash = [] {
    std::array<unsigned char, 24> random{};
    if (RAND_bytes(random.data(), static_cast<int>(random.size())) != 1) {
      random.fill(0x5a);  // still a valid hash to spend time on; its result is ignored
    }
    // Not a secret: whatever it matches, a miss stays a miss.
    const std::string password = auth::base64_encode(
        std::string_view(reinterpret_cast<const char*>(random.data()), random.size()));
    auto made = auth::hash_password(password);
    // Should hashing fail, a fixed yescrypt setting (salt, no hash) still costs a full
    // crypt(3) run and never matches.
    return made ? std::move(*made) : std::string("$y$j9T$3rtVfQ0ss5R/rIWqDhLxA.");
  }();
  return hash;
}

}  // namespace

credential_checker::credential_checker(std::shared_ptr<const accounts> accounts)
    : accounts_(std::move(accounts)) {
  (void)dummy_hash();
}

const user* credential_checker::find_login(std::string_view authcid) const {
  return accounts_ ? policy::find_login(*accounts_, authcid) : nullptr;
}

const user* find_login(const accounts& accounts, std::string_view authcid) {
  if (authcid.empty()) {
    return nullptr;
  }
  if (authcid.find('@') != std::string_view::npos) {
    const auto a = mail::parse_address(authcid, false);
    if (!a || a->local.empty() || a->domain.empty()) {
      return nullptr;
    }
    return accounts.find_user(*a);
  }
  // A bare local part: the one user of a local domain with it, or nobody.
  const auto local = mail::parse_local_part(authcid);
  if (!local) {
    return nullptr;
  }
  const std::string wanted = mail::ascii_lower(*local);
  const user* found = nullptr;
  for (const user& u : accounts.users()) {
    if (mail::ascii_lower(u.address.local) != wanted ||
        !accounts.is_local_domain(u.address.domain)) {
      continue;
    }
    if (found != nullptr) {
      return nullptr;  // ambiguous: the full address is needed
    }
    found = &u;
  }
  return found;
}

std::optional<mail::address> credential_checker::authenticate(std::string_view authcid,
                                                              std::string_view password) const {
  const user* u = find_login(authcid);
  // auth::verify_password refuses locked and empty hashes without running crypt(3);
  // those accounts, like unknown users, are checked against the dummy instead.
  const bool can_log_in =
      u != nullptr && !u->hash.empty() && u->hash.front() != '*' && u->hash.front() != '!';
  if (!can_log_in) {
    (void)auth::verify_password(password, dummy_hash());
    return std::nullopt;
  }
  if (!auth::verify_password(password, u->hash)) {
    return std::nullopt;
  }
  return u->address;
}

bool sender_allowed(const accounts& accounts, config::sender_rule rule, const mail::address& login,
                    const mail::address& sender) {
  if (rule == config::sender_rule::Any || sender.empty()) {
    return true;
  }
  if (rule == config::sender_rule::Domain && mail::same_domain(sender.domain, login.domain)) {
    return true;
  }
  const std::string login_key = mail::address_key(login);
  if (mail::address_key(sender) == login_key) {
    return true;
  }
  // The user's "+tag" forms, and aliases whose mail reaches the user.
  const lookup found = accounts.find(sender);
  if (found.kind == recipient_kind::User) {
    return mail::address_key(found.canonical) == login_key;
  }
  if (found.kind == recipient_kind::Alias) {
    for (const target& t : accounts.expand(sender).targets) {
      if (t.k == target::kind::Local && mail::address_key(t.address) == login_key) {
        return true;
      }
    }
  }
  return false;
}

}  // namespace posthorn::policy
