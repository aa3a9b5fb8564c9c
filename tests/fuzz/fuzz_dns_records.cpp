// Fuzz target: the DNS record parsers (src/dns/records): MX, A and AAAA RDATA as a
// nameserver sends it, the names asked for (query_name), address literals, and the MX
// ordering delivery uses. Every RDATA octet comes from whoever answers DNS.
//
// Input layout: [selector] payload. Selector bits pick what the payload is also read as
// (all parsers see it; the selector only seeds the MX shuffle and cuts the payload into
// several records for order_mx).
// Invariants: a parsed MX record encodes back to RDATA that parses to the same record;
// parsed names are query names (lower case A-labels, no trailing dot); A is 4 octets and
// AAAA 16; order_mx returns each host once, in ascending preference, and never a root
// name among hosts.

#include <cstddef>
#include <cstdint>
#include <random>
#include <set>
#include <string>
#include <string_view>
#include <vector>

#include "dns/records.hpp"
#include "fuzz_util.hpp"

namespace {

using namespace posthorn;

void check_name(const std::string& name) {
  FUZZ_CHECK(name.empty() || name.back() != '.');
  for (const char c : name) {
    FUZZ_CHECK(!(c >= 'A' && c <= 'Z'));
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  fuzz::input in(data, size);
  const std::uint8_t selector = in.byte();
  const std::string_view payload = in.rest();

  std::vector<dns::mx_record> records;
  if (auto mx = dns::parse_mx_rdata(payload)) {
    check_name(mx->exchange);
    auto again = dns::encode_mx_rdata(mx->preference, mx->exchange);
    FUZZ_CHECK(again.has_value());
    auto mx2 = dns::parse_mx_rdata(*again);
    FUZZ_CHECK(mx2.has_value() && *mx2 == *mx);
    records.push_back(*mx);
  }
  // Several records back to back, each [length] rdata, for the ordering.
  std::string_view rest = payload;
  while (!rest.empty() && records.size() < 64) {
    const std::size_t n =
        std::min<std::size_t>(static_cast<std::uint8_t>(rest[0]), rest.size() - 1);
    if (auto mx = dns::parse_mx_rdata(rest.substr(1, n))) {
      records.push_back(*mx);
    }
    rest.remove_prefix(1 + n);
  }
  std::mt19937_64 rng(selector);
  const dns::mx_result ordered = dns::order_mx("fuzz.test", records, rng);
  if (ordered.status == dns::dns_status::Ok) {
    std::set<std::string> seen;
    for (std::size_t i = 0; i < ordered.targets.size(); ++i) {
      const dns::mx_target& t = ordered.targets[i];
      FUZZ_CHECK(!t.host.empty());
      FUZZ_CHECK(seen.insert(t.host).second);
      if (i > 0) {
        FUZZ_CHECK(ordered.targets[i - 1].preference <= t.preference);
      }
    }
  } else {
    FUZZ_CHECK(ordered.targets.empty());
  }

  for (const auto type : {dns::record_type::A, dns::record_type::Aaaa}) {
    if (auto a = dns::parse_address_rdata(type, payload)) {
      FUZZ_CHECK(payload.size() == (type == dns::record_type::A ? 4u : 16u));
      FUZZ_CHECK(dns::encode_address_rdata(*a).size() == (a->v4() ? 4u : 16u));
      FUZZ_CHECK(ip_address::parse(a->str()) == a);
    }
  }
  if (payload.size() <= 512) {
    if (auto q = dns::query_name(payload)) {
      check_name(*q);
      FUZZ_CHECK(!q->empty() && q->size() <= 253);
      FUZZ_CHECK(dns::query_name(*q) == q);  // already in query form
    }
    if (auto lit = dns::address_literal(payload)) {
      FUZZ_CHECK(ip_address::parse(lit->str()) == lit);
    }
  }
  return 0;
}
