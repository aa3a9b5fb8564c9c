#pragma once
// The parts of mail routing that need no I/O: names as DNS is asked for them,
// RDATA codecs, and turning an MX RRset into an ordered list of hosts.

#include <cstdint>
#include <optional>
#include <random>
#include <string>
#include <string_view>
#include <vector>

#include "common/cidr.hpp"
#include "dns/types.hpp"

namespace posthorn::dns {

// The record types mail routing and the mail checks ask for (values as on the wire,
// RFC 1035 §3.2.2, RFC 3596 §2.1).
enum class record_type : std::uint16_t { A = 1, Ptr = 12, Mx = 15, Txt = 16, Aaaa = 28 };

std::string_view to_string(record_type t);

// One MX record; `exchange` is empty for the root name ".".
struct mx_record {
  std::uint16_t preference = 0;
  std::string exchange;  // lower case, no trailing dot
  friend bool operator==(const mx_record&, const mx_record&) = default;
};

// The name to put in a query for `domain`: A-labels, lower case, without the
// trailing dot. nullopt for what cannot be a host name in DNS: empty, an address
// literal, bad IDNA, an empty label, a label over 63 octets, a name over 253, or a
// character other than letters, digits, '-' and '_'.
std::optional<std::string> query_name(std::string_view domain);

// The name to put in a raw query (resolver::lookup): lower case, without the
// trailing dot, labels of 1 to 63 octets, at most 253 in all, each octet printable
// ASCII other than '\\' (SPF macros and DNSBL names are not host names, so '_' and
// other punctuation pass). No IDNA. nullopt otherwise.
std::optional<std::string> raw_query_name(std::string_view name);

// The reverse-lookup name of an address: "4.3.2.1.in-addr.arpa" for 1.2.3.4, the
// 32 nibbles under "ip6.arpa" for IPv6 (RFC 3596 §2.5). With `zone` instead of the
// arpa suffix, the DNSBL form: "4.3.2.1.<zone>".
std::string reverse_name(const ip_address& a, std::string_view zone = {});

// `host` as an IP address when it is one: "192.0.2.1", "2001:db8::1", or an
// RFC 5321 §4.1.3 address literal "[192.0.2.1]", "[IPv6:2001:db8::1]".
std::optional<ip_address> address_literal(std::string_view host);

// RDATA as libunbound returns it (names uncompressed). MX: RFC 1035 §3.3.9;
// A: RFC 1035 §3.4.1; AAAA: RFC 3596 §2.2. nullopt when malformed.
std::optional<mx_record> parse_mx_rdata(std::string_view rdata);
std::optional<ip_address> parse_address_rdata(record_type type, std::string_view rdata);

// TXT: the character-strings of one record joined without separator (RFC 7208
// §3.3, RFC 6376 §3.6.2.2); PTR: the name, lower case, without the trailing dot.
std::optional<std::string> parse_txt_rdata(std::string_view rdata);
std::optional<std::string> parse_ptr_rdata(std::string_view rdata);

// The inverse, for test doubles. `exchange` "" or "." is the root name; nullopt when
// `exchange` is not a valid name.
std::optional<std::string> encode_mx_rdata(std::uint16_t preference, std::string_view exchange);
// One TXT record holding `text`, split into character-strings of 255 octets.
std::string encode_txt_rdata(std::string_view text);
// A PTR record naming `name`; nullopt when it is not a valid name.
std::optional<std::string> encode_ptr_rdata(std::string_view name);
// 4 octets for an IPv4 address (held IPv4-mapped), else 16.
std::string encode_address_rdata(const ip_address& a);

// An MX RRset as delivery uses it (RFC 5321 §5.1): ascending preference, shuffled
// among equal preferences with `rng`, each host once (at its lowest preference).
// Records naming the root are not hosts: when every record does, the domain has a
// null MX (RFC 7505 §3) and the result is NullMx; mixed with real hosts, they are
// dropped. An empty RRset gives NoData.
mx_result order_mx(std::string_view domain, std::vector<mx_record> records, std::mt19937_64& rng);

}  // namespace posthorn::dns
