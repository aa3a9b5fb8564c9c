#pragma once
// The domains we are a backup MX or gateway for ([domains] relay, DESIGN.md §4.6): mail
// for them is accepted from any client and relayed to their MX hosts, and ETRN
// (RFC 1985) may start their queue. Entries match exactly; an entry ".example.test"
// matches every name below example.test, but not example.test itself (Postfix's
// relay_domains without parent_domain_matches_subdomains).

#include <string>
#include <string_view>
#include <vector>

namespace posthorn::policy {

class relay_domains {
 public:
  relay_domains() = default;
  // Entries as [domains] relay holds them.
  explicit relay_domains(const std::vector<std::string>& entries);

  bool empty() const { return exact_.empty() && below_.empty(); }
  // Mail for `domain` is ours to relay.
  bool contains(std::string_view domain) const;
  // `domain` or some name below it is ours to relay (what "ETRN @domain" may ask for).
  bool covers_subtree(std::string_view domain) const;

 private:
  std::vector<std::string> exact_;  // mail::normalize_domain() of each plain entry
  std::vector<std::string> below_;  // the same of each ".parent" entry, without its dot
};

// `name` is `parent` or a name below it; both already normalized.
bool at_or_below(std::string_view name, std::string_view parent);

}  // namespace posthorn::policy
