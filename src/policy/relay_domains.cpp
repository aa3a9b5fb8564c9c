#include "policy/relay_domains.hpp"

#include <algorithm>

#include "mail/address.hpp"

namespace posthorn::policy {

bool at_or_below(std::string_view name, std::string_view parent) {
  if (parent.empty() || name.size() < parent.size()) {
    return false;
  }
  if (name.size() == parent.size()) {
    return name == parent;
  }
  return name.ends_with(parent) && name[name.size() - parent.size() - 1] == '.';
}

relay_domains::relay_domains(const std::vector<std::string>& entries) {
  for (const std::string& e : entries) {
    const bool below = e.size() > 1 && e.front() == '.';
    std::string n = mail::normalize_domain(below ? std::string_view(e).substr(1) : e);
    std::vector<std::string>& list = below ? below_ : exact_;
    if (!n.empty() && std::find(list.begin(), list.end(), n) == list.end()) {
      list.push_back(std::move(n));
    }
  }
}

bool relay_domains::contains(std::string_view domain) const {
  const std::string n = mail::normalize_domain(domain);
  if (std::find(exact_.begin(), exact_.end(), n) != exact_.end()) {
    return true;
  }
  return std::any_of(below_.begin(), below_.end(), [&](const std::string& p) {
    return n.size() > p.size() && at_or_below(n, p);
  });
}

bool relay_domains::covers_subtree(std::string_view domain) const {
  const std::string n = mail::normalize_domain(domain);
  return std::any_of(exact_.begin(), exact_.end(),
                     [&](const std::string& e) { return at_or_below(e, n); }) ||
         std::any_of(below_.begin(), below_.end(), [&](const std::string& p) {
           // ".example.test" covers names below example.test: asked for example.test
           // itself or anything above it, or for a name below it.
           return at_or_below(p, n) || (n.size() > p.size() && at_or_below(n, p));
         });
}

}  // namespace posthorn::policy
