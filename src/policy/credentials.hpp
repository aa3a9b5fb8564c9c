#pragma once
// Who may log in, and as whom they may then send: SMTP AUTH credentials checked
// against the users file, and the [submission] sender_policy.
//
// Here rather than in auth/ because it needs policy::accounts, and ph_policy links
// ph_auth (the reverse would be a cycle).

#include <memory>
#include <optional>
#include <string_view>

#include "config/config.hpp"
#include "mail/address.hpp"
#include "policy/accounts.hpp"

namespace posthorn::policy {

// The user a login name refers to (an address compared as the users file is, or a bare
// local part naming the one user of a local domain with it); nullptr when none or
// ambiguous. Cheap: SCRAM looks its secrets up with it on the event loop.
const user* find_login(const accounts& accounts, std::string_view authcid);

// Checks login names and passwords against the users of one accounts snapshot.
// Immutable and shareable between threads; build a new one when the accounts reload.
class credential_checker {
 public:
  // Computes the dummy hash once per process (one crypt(3) run) if not done yet.
  explicit credential_checker(std::shared_ptr<const accounts> accounts);

  // The user `authcid` names, when `password` is theirs. BLOCKING (crypt(3) is slow by
  // design): call it off the event loop. An unknown user, a user who may not log in and
  // a wrong password all cost one hash verification, so the time taken does not tell
  // which accounts exist.
  //
  // `authcid` is an address (compared as the users file is: case-insensitively) or a
  // bare local part, which names the one user of a local domain with that local part
  // and nobody when several local domains have it.
  std::optional<mail::address> authenticate(std::string_view authcid,
                                            std::string_view password) const;
  // The same, when only the answer matters.
  bool check(std::string_view authcid, std::string_view password) const {
    return authenticate(authcid, password).has_value();
  }

  // The user a login name refers to, without checking any password; nullptr when none.
  // Cheap; for logs and tests, never to decide a login.
  const user* find_login(std::string_view authcid) const;

 private:
  std::shared_ptr<const accounts> accounts_;
};

// RFC 6409 §6.1: may the user logged in as `login` use `sender` in MAIL FROM? The null
// sender is always allowed (bounces and auto-replies a client sends). `own` also admits
// the user's "+tag" forms and aliases whose expansion reaches the user.
bool sender_allowed(const accounts& accounts, config::sender_rule rule, const mail::address& login,
                    const mail::address& sender);

}  // namespace posthorn::policy
