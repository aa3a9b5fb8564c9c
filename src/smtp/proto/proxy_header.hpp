#pragma once
// The PROXY protocol header (HAProxy's proxy-protocol.txt, versions 1 and 2) that a
// load balancer sends before anything else on a connection, naming the client it
// accepted. No I/O: octets in, the client's address (or an error) out. The parser never
// consumes an octet past the header's end, so what follows (SMTP, or a TLS handshake on
// an implicit-TLS listener) stays on the socket untouched.

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

namespace posthorn::smtp {

// What a complete header says.
struct proxy_info {
  int version = 0;  // 1 or 2
  // No client address to use: v1 UNKNOWN, v2 LOCAL (a health check from the proxy
  // itself), an unspecified or Unix-socket family. The socket's own peer stands.
  bool local = true;
  std::string src_addr;  // textual IP of the client ("192.0.2.1", "2001:db8::1"); IPv4-mapped
  std::string dst_addr;  // IPv6 addresses are written as IPv4; empty when `local`
  std::uint16_t src_port = 0;
  std::uint16_t dst_port = 0;
};

enum class proxy_status { NeedMore, Done, Invalid };

class proxy_header_parser {
 public:
  // v1: "PROXY TCP4 192.0.2.1 192.0.2.2 56324 25\r\n" is at most 107 octets with CRLF.
  static constexpr std::size_t k_v1_max = 107;
  // v2: the fixed part before the address block: signature, version/command, family,
  // length.
  static constexpr std::size_t k_v2_fixed = 16;
  static constexpr std::string_view k_v2_signature{"\r\n\r\n\0\r\nQUIT\n", 12};

  // Consumes octets of the header from the front of `in` (never beyond its end) and
  // says whether the header is complete, broken, or needs more octets. Once Done or
  // Invalid, further calls consume nothing and return the same.
  proxy_status feed(std::string_view& in);

  proxy_status status() const { return status_; }
  // Valid once Done.
  const proxy_info& info() const { return info_; }
  // Why the header was refused (for the log); valid once Invalid.
  std::string_view error() const { return error_; }
  // Octets consumed so far.
  std::size_t consumed() const { return consumed_; }

 private:
  proxy_status fail(std::string_view why);
  proxy_status feed_v1(std::string_view& in);
  proxy_status feed_v2(std::string_view& in);
  proxy_status finish_v1();
  proxy_status finish_v2();

  proxy_status status_ = proxy_status::NeedMore;
  int version_ = 0;          // 0 until the first octet tells
  std::string buf_;          // v1: the line so far; v2: the fixed part, then the address block
  std::size_t v2_len_ = 0;   // v2: the length field (address block + TLVs)
  std::size_t v2_left_ = 0;  // v2: octets of the block still to come
  std::size_t consumed_ = 0;
  proxy_info info_;
  std::string error_;
};

}  // namespace posthorn::smtp
