#pragma once
// IP addresses and CIDR networks without any socket library, for policy checks.

#include <array>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace posthorn {

// An IPv4 or IPv6 address; IPv4 is held as an IPv4-mapped IPv6 address (::ffff:a.b.c.d).
struct ip_address {
  std::array<std::uint8_t, 16> bytes{};
  bool v4() const;
  std::string str() const;  // "127.0.0.1" or "::1"
  static std::optional<ip_address> parse(std::string_view text);  // no brackets, no port
  friend bool operator==(const ip_address&, const ip_address&) = default;
};

// "127.0.0.0/8", "::1/128", or a bare address (a /32 or /128).
struct cidr {
  ip_address network;
  unsigned prefix = 128;  // in IPv6 terms: an IPv4 /8 is stored as /104
  bool contains(const ip_address& a) const;
  std::string str() const;
  static std::optional<cidr> parse(std::string_view text);
};

// "host:port" or "[v6]:port" split into its parts; nullopt when malformed.
struct host_port {
  std::string host;
  std::uint16_t port = 0;
  static std::optional<host_port> parse(std::string_view text);
};

}  // namespace posthorn
