// IP addresses, CIDR networks and host:port endpoints. Parsing goes through
// inet_pton so that we accept exactly what the C library does, nothing looser.

#include "common/cidr.hpp"

#include <arpa/inet.h>

#include <charconv>
#include <cstring>

namespace posthorn {

namespace {

// Longest textual IPv6 address with embedded IPv4 is 45 characters.
constexpr std::size_t k_max_address_text = 64;
constexpr std::size_t k_v4_mapped_bits = 96;

bool parse_v4(std::string_view text, ip_address& out) {
  char buf[k_max_address_text + 1];
  std::memcpy(buf, text.data(), text.size());
  buf[text.size()] = '\0';
  std::uint8_t v4[4];
  if (inet_pton(AF_INET, buf, v4) != 1) {
    return false;
  }
  out.bytes = {};
  out.bytes[10] = 0xff;
  out.bytes[11] = 0xff;
  std::memcpy(out.bytes.data() + 12, v4, 4);
  return true;
}

bool parse_v6(std::string_view text, ip_address& out) {
  char buf[k_max_address_text + 1];
  std::memcpy(buf, text.data(), text.size());
  buf[text.size()] = '\0';
  return inet_pton(AF_INET6, buf, out.bytes.data()) == 1;
}

// Decimal digits only (no sign, no spaces), at most `max_digits` of them.
std::optional<unsigned> parse_number(std::string_view text, std::size_t max_digits) {
  if (text.empty() || text.size() > max_digits) {
    return std::nullopt;
  }
  unsigned value = 0;
  const auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), value);
  if (ec != std::errc() || end != text.data() + text.size()) {
    return std::nullopt;
  }
  return value;
}

// A host name as it may appear in a config: letters, digits, '-', '.', '_'.
bool plausible_host_name(std::string_view host) {
  if (host.empty() || host.front() == '.' || host.front() == '-') {
    return false;
  }
  for (const char c : host) {
    const bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
                    c == '-' || c == '.' || c == '_';
    if (!ok) {
      return false;
    }
  }
  return true;
}

}  // namespace

bool ip_address::v4() const {
  for (std::size_t i = 0; i < 10; ++i) {
    if (bytes[i] != 0) {
      return false;
    }
  }
  return bytes[10] == 0xff && bytes[11] == 0xff;
}

std::string ip_address::str() const {
  char buf[INET6_ADDRSTRLEN];
  const char* r = v4() ? inet_ntop(AF_INET, bytes.data() + 12, buf, sizeof buf)
                       : inet_ntop(AF_INET6, bytes.data(), buf, sizeof buf);
  return r != nullptr ? std::string(r) : std::string();
}

std::optional<ip_address> ip_address::parse(std::string_view text) {
  // inet_pton stops at a NUL: text past one would otherwise ride along unchecked.
  if (text.empty() || text.size() > k_max_address_text ||
      text.find('\0') != std::string_view::npos) {
    return std::nullopt;
  }
  ip_address a;
  if (text.find(':') == std::string_view::npos ? parse_v4(text, a) : parse_v6(text, a)) {
    return a;
  }
  return std::nullopt;
}

bool cidr::contains(const ip_address& a) const {
  const unsigned full = prefix / 8;
  const unsigned rest = prefix % 8;
  for (unsigned i = 0; i < full && i < 16; ++i) {
    if (a.bytes[i] != network.bytes[i]) {
      return false;
    }
  }
  if (rest != 0 && full < 16) {
    const auto mask = static_cast<std::uint8_t>(0xff << (8 - rest));
    if ((a.bytes[full] & mask) != (network.bytes[full] & mask)) {
      return false;
    }
  }
  return true;
}

std::string cidr::str() const {
  if (network.v4() && prefix >= k_v4_mapped_bits) {
    return network.str() + "/" + std::to_string(prefix - k_v4_mapped_bits);
  }
  return network.str() + "/" + std::to_string(prefix);
}

std::optional<cidr> cidr::parse(std::string_view text) {
  const std::size_t slash = text.find('/');
  const std::string_view addr_text = text.substr(0, slash);
  const auto addr = ip_address::parse(addr_text);
  if (!addr) {
    return std::nullopt;
  }
  // Written as IPv4, the prefix counts IPv4 bits; stored in IPv6 terms.
  const bool v4_text = addr_text.find(':') == std::string_view::npos;
  const unsigned max_prefix = v4_text ? 32 : 128;
  unsigned prefix = max_prefix;
  if (slash != std::string_view::npos) {
    const auto p = parse_number(text.substr(slash + 1), 3);
    if (!p || *p > max_prefix) {
      return std::nullopt;
    }
    prefix = *p;
  }
  cidr out;
  out.prefix = v4_text ? prefix + k_v4_mapped_bits : prefix;
  out.network = *addr;
  // Host bits are cleared so that str() shows the network ("10.1.2.3/8" -> "10.0.0.0/8").
  for (unsigned bit = out.prefix; bit < 128; ++bit) {
    out.network.bytes[bit / 8] &= static_cast<std::uint8_t>(~(0x80u >> (bit % 8)));
  }
  return out;
}

std::optional<host_port> host_port::parse(std::string_view text) {
  std::string_view host;
  std::string_view port_text;
  if (text.starts_with('[')) {
    const std::size_t close = text.find(']');
    if (close == std::string_view::npos || close + 1 >= text.size() || text[close + 1] != ':') {
      return std::nullopt;
    }
    host = text.substr(1, close - 1);
    port_text = text.substr(close + 2);
    if (host.find(':') == std::string_view::npos || !ip_address::parse(host)) {
      return std::nullopt;
    }
  } else {
    const std::size_t colon = text.rfind(':');
    if (colon == std::string_view::npos) {
      return std::nullopt;
    }
    host = text.substr(0, colon);
    port_text = text.substr(colon + 1);
    // An IPv6 address must be bracketed, or its last group would read as the port.
    if (host.find(':') != std::string_view::npos || !plausible_host_name(host)) {
      return std::nullopt;
    }
  }
  const auto port = parse_number(port_text, 5);
  if (!port || *port == 0 || *port > 65535) {
    return std::nullopt;
  }
  return host_port{std::string(host), static_cast<std::uint16_t>(*port)};
}

}  // namespace posthorn
