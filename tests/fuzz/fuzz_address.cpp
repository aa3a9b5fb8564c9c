// Fuzz target: RFC 5321 paths and mailboxes (mail::parse_path with every allow_null /
// utf8 combination, parse_address, parse_postmaster_path, parse_local_part).
//
// Input layout: the whole input is the text after "MAIL FROM:" / "RCPT TO:" (or a
// bare address). Main invariant: an address that parsed prints (address::str()) to a
// form that parses back to the same address.

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

#include "fuzz_util.hpp"
#include "mail/address.hpp"

namespace {

using namespace posthorn;

constexpr std::size_t k_max_local = 64;    // RFC 5321 §4.5.3.1.1
constexpr std::size_t k_max_domain = 255;  // RFC 5321 §4.5.3.1.2

bool within(std::string_view whole, std::string_view part) {
  if (part.empty()) {
    return true;
  }
  return part.data() >= whole.data() && part.data() + part.size() <= whole.data() + whole.size();
}

bool same_path(const std::expected<mail::parsed_path, mail::path_error>& a,
               const std::expected<mail::parsed_path, mail::path_error>& b) {
  return a.has_value() && b.has_value() && a->addr == b->addr && a->params == b->params;
}

// Facts about any address the parsers hand out, and the round trip through str().
void check_address(const mail::address& a) {
  FUZZ_CHECK(!a.empty());
  FUZZ_CHECK(!a.domain.empty());
  FUZZ_CHECK(a.local.size() <= k_max_local);
  FUZZ_CHECK(a.domain.size() <= k_max_domain);
  FUZZ_CHECK(mail::valid_utf8(a.local));
  FUZZ_CHECK(mail::valid_utf8(a.domain));
  FUZZ_CHECK(a.needs_utf8() == (!mail::is_ascii(a.local) || !mail::is_ascii(a.domain)));
  if (!mail::is_ascii(a.domain)) {
    FUZZ_CHECK(mail::domain_to_ascii(a.domain).has_value());  // the parser checked IDNA
  }
  FUZZ_CHECK(mail::same_domain(a.domain, a.domain));
  (void)mail::address_key(a);

  const std::string printed = a.str();
  const std::string bracketed = "<" + printed + ">";
  const auto back = mail::parse_address(bracketed);
  FUZZ_CHECK(back.has_value());
  FUZZ_CHECK(*back == a);
  const auto bare = mail::parse_address(printed, /*allow_brackets=*/false);
  FUZZ_CHECK(bare.has_value() && *bare == a);
  const auto path = mail::parse_path(bracketed, /*allow_null=*/false, /*utf8=*/true);
  FUZZ_CHECK(path.has_value() && path->addr == a && path->params.empty());
  if (!a.needs_utf8()) {
    const auto ascii = mail::parse_path(bracketed, false, /*utf8=*/false);
    FUZZ_CHECK(ascii.has_value() && ascii->addr == a);
  }
  // The local part alone, quoted when needed, parses back to itself.
  const std::string local_only = mail::address{a.local, ""}.str();
  if (!local_only.empty()) {
    const auto local = mail::parse_local_part(local_only);
    FUZZ_CHECK(local.has_value() && *local == a.local);
  }
}

void check_paths(std::string_view text) {
  std::expected<mail::parsed_path, mail::path_error> r[2][2];  // [allow_null][utf8]
  for (int null_ok = 0; null_ok < 2; ++null_ok) {
    for (int utf8 = 0; utf8 < 2; ++utf8) {
      r[null_ok][utf8] = mail::parse_path(text, null_ok != 0, utf8 != 0);
      const auto& p = r[null_ok][utf8];
      if (!p) {
        // Utf8 is the "well-formed but needs SMTPUTF8" error only.
        FUZZ_CHECK(utf8 == 0 || p.error() != mail::path_error::Utf8);
        continue;
      }
      FUZZ_CHECK(text.starts_with('<'));
      FUZZ_CHECK(within(text, p->params));
      FUZZ_CHECK(p->params.empty() || p->params.front() != ' ');
      if (!p->params.empty()) {
        // RFC 5321 §4.1.2: parameters are separated from the path by a space.
        const auto at = static_cast<std::size_t>(p->params.data() - text.data());
        FUZZ_CHECK(at > 0 && text[at - 1] == ' ');
      }
      if (p->addr.empty()) {
        FUZZ_CHECK(null_ok != 0 && text.starts_with("<>"));
        continue;
      }
      FUZZ_CHECK(utf8 != 0 || !p->addr.needs_utf8());
      check_address(p->addr);
    }
  }
  // Allowing more (the null path, UTF-8) never refuses what was accepted before.
  for (int utf8 = 0; utf8 < 2; ++utf8) {
    FUZZ_CHECK(!r[0][utf8] || same_path(r[0][utf8], r[1][utf8]));
  }
  for (int null_ok = 0; null_ok < 2; ++null_ok) {
    FUZZ_CHECK(!r[null_ok][0] || same_path(r[null_ok][0], r[null_ok][1]));
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::string_view text(reinterpret_cast<const char*>(data), size);
  check_paths(text);

  if (const auto pm = mail::parse_postmaster_path(text)) {
    FUZZ_CHECK(within(text, *pm));
    FUZZ_CHECK(mail::ascii_lower(text.substr(0, 12)) == "<postmaster>");
  }

  const auto with_brackets = mail::parse_address(text, true);
  if (with_brackets) {
    check_address(*with_brackets);
  }
  const auto without = mail::parse_address(text, false);
  if (without) {
    check_address(*without);
    FUZZ_CHECK(with_brackets.has_value() && *with_brackets == *without);
  }

  if (const auto local = mail::parse_local_part(text)) {
    FUZZ_CHECK(local->size() <= k_max_local);
    FUZZ_CHECK(mail::valid_utf8(*local));
  }
  (void)mail::is_dot_string(text);
  (void)mail::normalize_domain(text);
  (void)mail::domain_to_ascii(text);
  return 0;
}
