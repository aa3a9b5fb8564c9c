// Names, RDATA and MX ordering: pure functions, tested without a DNS server.

#include "dns/records.hpp"

#include <algorithm>
#include <unordered_map>
#include <utility>

#include "mail/address.hpp"

namespace posthorn::dns {

namespace {

// RFC 1035 §2.3.4: labels of 63 octets; 255 octets on the wire, which is 253
// characters of text without the trailing dot.
constexpr std::size_t k_max_label = 63;
constexpr std::size_t k_max_name_text = 253;
constexpr std::size_t k_max_name_wire = 255;
constexpr std::size_t k_a_size = 4;
constexpr std::size_t k_aaaa_size = 16;
constexpr std::size_t k_v4_offset = 12;  // IPv4 in the last 4 octets of ::ffff:a.b.c.d

bool name_char(char c) {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '-' ||
         c == '_';
}

char lower(char c) { return (c >= 'A' && c <= 'Z') ? static_cast<char>(c - 'A' + 'a') : c; }

// Any printable ASCII but '\\' (raw query names: SPF macro expansions, DNS lists).
bool raw_name_char(char c) { return c > ' ' && c < 0x7f && c != '\\'; }

// Checks the labels of a text name without its trailing dot and lower-cases it; each
// octet must satisfy `allowed`.
std::optional<std::string> checked_name(std::string_view name, bool (*allowed)(char) = name_char) {
  if (name.empty() || name.size() > k_max_name_text) {
    return std::nullopt;
  }
  std::string out;
  out.reserve(name.size());
  std::size_t label = 0;
  for (const char c : name) {
    if (c == '.') {
      if (label == 0) {
        return std::nullopt;
      }
      label = 0;
    } else if (allowed(c)) {
      if (++label > k_max_label) {
        return std::nullopt;
      }
    } else {
      return std::nullopt;
    }
    out.push_back(lower(c));
  }
  if (label == 0) {
    return std::nullopt;
  }
  return out;
}

// A name in uncompressed wire format (RFC 1035 §3.1) filling `wire` exactly, as
// text without the trailing dot; "" for the root. Compression pointers cannot occur
// in RDATA handed over by libunbound and are refused.
std::optional<std::string> decode_name(std::string_view wire) {
  if (wire.size() > k_max_name_wire) {
    return std::nullopt;
  }
  std::string text;
  std::size_t pos = 0;
  while (pos < wire.size()) {
    const auto len = static_cast<unsigned char>(wire[pos]);
    ++pos;
    if (len == 0) {
      if (pos != wire.size()) {
        return std::nullopt;
      }
      if (text.empty()) {
        return text;
      }
      return checked_name(text);
    }
    if (len > k_max_label || pos + len > wire.size()) {
      return std::nullopt;
    }
    const std::string_view label = wire.substr(pos, len);
    if (label.find('.') != std::string_view::npos) {
      return std::nullopt;  // a dot inside a label has no unambiguous text form
    }
    if (!text.empty()) {
      text.push_back('.');
    }
    text.append(label);
    pos += len;
  }
  return std::nullopt;  // no terminating root label
}

std::optional<std::string> encode_name(std::string_view text) {
  if (text.ends_with('.')) {
    text.remove_suffix(1);
  }
  std::string wire;
  if (text.empty()) {
    wire.push_back('\0');
    return wire;
  }
  const auto name = checked_name(text);
  if (!name) {
    return std::nullopt;
  }
  std::size_t start = 0;
  while (start <= name->size()) {
    std::size_t dot = name->find('.', start);
    if (dot == std::string::npos) {
      dot = name->size();
    }
    wire.push_back(static_cast<char>(dot - start));
    wire.append(*name, start, dot - start);
    start = dot + 1;
  }
  wire.push_back('\0');
  return wire;
}

}  // namespace

std::string_view to_string(record_type t) {
  switch (t) {
    case record_type::A:
      return "A";
    case record_type::Ptr:
      return "PTR";
    case record_type::Mx:
      return "MX";
    case record_type::Txt:
      return "TXT";
    case record_type::Aaaa:
      return "AAAA";
  }
  return "?";
}

std::optional<std::string> query_name(std::string_view domain) {
  if (domain.ends_with('.')) {
    domain.remove_suffix(1);
  }
  if (domain.empty() || domain.starts_with('[')) {
    return std::nullopt;
  }
  const auto ascii = mail::domain_to_ascii(domain);
  if (!ascii) {
    return std::nullopt;
  }
  return checked_name(*ascii);
}

std::optional<std::string> raw_query_name(std::string_view name) {
  if (name.ends_with('.')) {
    name.remove_suffix(1);
  }
  return checked_name(name, raw_name_char);
}

std::string reverse_name(const ip_address& a, std::string_view zone) {
  std::string out;
  if (a.v4()) {
    for (int i = 15; i >= 12; --i) {
      out += std::to_string(a.bytes[static_cast<std::size_t>(i)]);
      out += '.';
    }
    out += zone.empty() ? std::string_view("in-addr.arpa") : zone;
    return out;
  }
  static constexpr char k_hex[] = "0123456789abcdef";
  for (int i = 15; i >= 0; --i) {
    const std::uint8_t b = a.bytes[static_cast<std::size_t>(i)];
    out += k_hex[b & 0xf];
    out += '.';
    out += k_hex[b >> 4];
    out += '.';
  }
  out += zone.empty() ? std::string_view("ip6.arpa") : zone;
  return out;
}

std::optional<std::string> parse_txt_rdata(std::string_view rdata) {
  if (rdata.empty()) {
    return std::nullopt;
  }
  std::string out;
  std::size_t pos = 0;
  while (pos < rdata.size()) {
    const std::size_t len = static_cast<unsigned char>(rdata[pos]);
    if (pos + 1 + len > rdata.size()) {
      return std::nullopt;
    }
    out.append(rdata.substr(pos + 1, len));
    pos += 1 + len;
  }
  return out;
}

std::optional<std::string> parse_ptr_rdata(std::string_view rdata) {
  auto name = decode_name(rdata);
  if (!name || name->empty()) {
    return std::nullopt;
  }
  return name;
}

std::string encode_txt_rdata(std::string_view text) {
  std::string wire;
  do {
    const std::size_t n = std::min<std::size_t>(text.size(), 255);
    wire.push_back(static_cast<char>(n));
    wire.append(text.substr(0, n));
    text.remove_prefix(n);
  } while (!text.empty());
  return wire;
}

std::optional<std::string> encode_ptr_rdata(std::string_view name) {
  if (name.empty() || name == ".") {
    return std::nullopt;
  }
  return encode_name(name);
}

std::optional<ip_address> address_literal(std::string_view host) {
  if (host.size() >= 2 && host.front() == '[' && host.back() == ']') {
    host = host.substr(1, host.size() - 2);
    // RFC 5321 §4.1.3: "IPv6:" tags an IPv6 literal; the tag is case-insensitive.
    if (host.size() > 5 && mail::ascii_lower(host.substr(0, 5)) == "ipv6:") {
      host.remove_prefix(5);
      if (host.find(':') == std::string_view::npos) {
        return std::nullopt;
      }
    } else if (host.find(':') != std::string_view::npos) {
      return std::nullopt;
    }
  }
  return ip_address::parse(host);
}

std::optional<mx_record> parse_mx_rdata(std::string_view rdata) {
  if (rdata.size() < 3) {
    return std::nullopt;
  }
  const auto preference = static_cast<std::uint16_t>((static_cast<unsigned char>(rdata[0]) << 8) |
                                                     static_cast<unsigned char>(rdata[1]));
  auto exchange = decode_name(rdata.substr(2));
  if (!exchange) {
    return std::nullopt;
  }
  return mx_record{preference, std::move(*exchange)};
}

std::optional<ip_address> parse_address_rdata(record_type type, std::string_view rdata) {
  ip_address a;
  if (type == record_type::A && rdata.size() == k_a_size) {
    a.bytes[10] = 0xff;
    a.bytes[11] = 0xff;
    std::copy(rdata.begin(), rdata.end(), a.bytes.begin() + k_v4_offset);
    return a;
  }
  if (type == record_type::Aaaa && rdata.size() == k_aaaa_size) {
    std::copy(rdata.begin(), rdata.end(), a.bytes.begin());
    return a;
  }
  return std::nullopt;
}

std::optional<std::string> encode_mx_rdata(std::uint16_t preference, std::string_view exchange) {
  auto name = encode_name(exchange);
  if (!name) {
    return std::nullopt;
  }
  std::string rdata;
  rdata.push_back(static_cast<char>(preference >> 8));
  rdata.push_back(static_cast<char>(preference & 0xff));
  rdata += *name;
  return rdata;
}

std::string encode_address_rdata(const ip_address& a) {
  if (a.v4()) {
    return std::string(a.bytes.begin() + k_v4_offset, a.bytes.end());
  }
  return std::string(a.bytes.begin(), a.bytes.end());
}

mx_result order_mx(std::string_view domain, std::vector<mx_record> records, std::mt19937_64& rng) {
  mx_result out;
  if (records.empty()) {
    out.status = dns_status::NoData;
    out.detail = std::string(domain) + ": no MX records";
    return out;
  }
  // Each host once, at its lowest preference; the root is not a host.
  std::unordered_map<std::string, std::uint16_t> best;
  std::vector<std::string> order;
  for (auto& r : records) {
    if (r.exchange.empty()) {
      continue;
    }
    const auto [it, inserted] = best.try_emplace(r.exchange, r.preference);
    if (inserted) {
      order.push_back(r.exchange);
    } else {
      it->second = std::min(it->second, r.preference);
    }
  }
  if (order.empty()) {
    // RFC 7505 §3: MX 0 "." says the domain accepts no mail. A root exchange with
    // another preference names no host either (RFC 5321 §5.1: no usable MX is an
    // error), and bounces the same way.
    out.status = dns_status::NullMx;
    out.detail = std::string(domain) + " has a null MX (RFC 7505): it accepts no mail";
    return out;
  }
  out.targets.reserve(order.size());
  for (auto& host : order) {
    const std::uint16_t preference = best[host];
    out.targets.push_back(mx_target{std::move(host), preference, false});
  }
  std::stable_sort(
      out.targets.begin(), out.targets.end(),
      [](const mx_target& a, const mx_target& b) { return a.preference < b.preference; });
  // RFC 5321 §5.1: hosts of equal preference are tried in random order, which
  // spreads the load across them.
  auto run = out.targets.begin();
  while (run != out.targets.end()) {
    auto end = std::find_if(run, out.targets.end(),
                            [&](const mx_target& t) { return t.preference != run->preference; });
    std::shuffle(run, end, rng);
    run = end;
  }
  out.status = dns_status::Ok;
  return out;
}

}  // namespace posthorn::dns
