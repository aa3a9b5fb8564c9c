// The PROXY protocol header, versions 1 (text) and 2 (binary), after HAProxy's
// proxy-protocol.txt.

#include "smtp/proto/proxy_header.hpp"

#include <algorithm>
#include <array>
#include <cstring>
#include <vector>

#include "common/cidr.hpp"

namespace posthorn::smtp {

namespace {

constexpr std::string_view k_v1_prefix = "PROXY ";

// proxy-protocol.txt §2.2: the address block of each v2 family, in octets.
constexpr std::size_t k_v2_inet_len = 12;   // 2 x 4 address octets, 2 x 2 port octets
constexpr std::size_t k_v2_inet6_len = 36;  // 2 x 16, 2 x 2

// Ports in v1 are decimal, 0 to 65535, without leading zeros.
bool parse_port(std::string_view text, std::uint16_t& out) {
  if (text.empty() || text.size() > 5 || (text.size() > 1 && text.front() == '0')) {
    return false;
  }
  unsigned v = 0;
  for (const char c : text) {
    if (c < '0' || c > '9') {
      return false;
    }
    v = v * 10 + static_cast<unsigned>(c - '0');
  }
  if (v > 65535) {
    return false;
  }
  out = static_cast<std::uint16_t>(v);
  return true;
}

std::vector<std::string_view> split_spaces(std::string_view s) {
  std::vector<std::string_view> out;
  while (true) {
    const std::size_t sp = s.find(' ');
    out.push_back(s.substr(0, sp));
    if (sp == std::string_view::npos) {
      return out;
    }
    s.remove_prefix(sp + 1);
  }
}

std::uint16_t be16(const char* p) {
  return static_cast<std::uint16_t>((static_cast<unsigned char>(p[0]) << 8) |
                                    static_cast<unsigned char>(p[1]));
}

// The textual form of 4 or 16 address octets; IPv4-mapped IPv6 comes out as IPv4, as the
// socket's own peer address does.
std::string address_text(const char* p, std::size_t n) {
  ip_address a;
  if (n == 4) {
    a.bytes[10] = 0xff;
    a.bytes[11] = 0xff;
    std::memcpy(a.bytes.data() + 12, p, 4);
  } else {
    std::memcpy(a.bytes.data(), p, 16);
  }
  return a.str();
}

}  // namespace

proxy_status proxy_header_parser::fail(std::string_view why) {
  status_ = proxy_status::Invalid;
  error_ = why;
  buf_.clear();
  buf_.shrink_to_fit();
  return status_;
}

proxy_status proxy_header_parser::feed(std::string_view& in) {
  if (status_ != proxy_status::NeedMore || in.empty()) {
    return status_;
  }
  if (version_ == 0) {
    if (in.front() == 'P') {
      version_ = 1;
    } else if (in.front() == '\r') {
      version_ = 2;
    } else {
      return fail("no PROXY header");
    }
  }
  return version_ == 1 ? feed_v1(in) : feed_v2(in);
}

proxy_status proxy_header_parser::feed_v1(std::string_view& in) {
  while (!in.empty()) {
    const char c = in.front();
    in.remove_prefix(1);
    ++consumed_;
    buf_.push_back(c);
    const std::size_t n = buf_.size();
    if (n <= k_v1_prefix.size()) {
      if (c != k_v1_prefix[n - 1]) {
        return fail("no PROXY header");
      }
      continue;
    }
    if (n >= 2 && buf_[n - 2] == '\r' && c != '\n') {
      return fail("v1: CR without LF");
    }
    if (c == '\n') {
      if (buf_[n - 2] != '\r') {
        return fail("v1: bare LF");
      }
      return finish_v1();
    }
    if (n >= k_v1_max) {
      return fail("v1: header longer than 107 octets");
    }
  }
  return status_;
}

proxy_status proxy_header_parser::finish_v1() {
  std::string_view line(buf_);
  line.remove_prefix(k_v1_prefix.size());
  line.remove_suffix(2);  // CRLF
  const std::vector<std::string_view> f = split_spaces(line);
  info_ = proxy_info{};
  info_.version = 1;
  if (f[0] == "UNKNOWN") {
    // The rest of the line is to be ignored: the proxy could not tell (or would not).
    status_ = proxy_status::Done;
    buf_.clear();
    return status_;
  }
  const bool v4 = f[0] == "TCP4";
  if (!v4 && f[0] != "TCP6") {
    return fail("v1: protocol is not TCP4, TCP6 or UNKNOWN");
  }
  if (f.size() != 5) {
    return fail("v1: expected source, destination and two ports");
  }
  for (int i = 1; i <= 2; ++i) {
    const bool colon = f[i].find(':') != std::string_view::npos;
    const auto a = colon == !v4 ? ip_address::parse(f[i]) : std::nullopt;
    if (!a) {
      return fail(v4 ? "v1: bad IPv4 address" : "v1: bad IPv6 address");
    }
    (i == 1 ? info_.src_addr : info_.dst_addr) = a->str();
  }
  if (!parse_port(f[3], info_.src_port) || !parse_port(f[4], info_.dst_port)) {
    return fail("v1: bad port");
  }
  info_.local = false;
  status_ = proxy_status::Done;
  buf_.clear();
  return status_;
}

proxy_status proxy_header_parser::feed_v2(std::string_view& in) {
  while (!in.empty() && buf_.size() < k_v2_fixed) {
    const char c = in.front();
    const std::size_t n = buf_.size();
    if (n < k_v2_signature.size() && c != k_v2_signature[n]) {
      return fail(n < 5 ? "no PROXY header" : "v2: bad signature");
    }
    in.remove_prefix(1);
    ++consumed_;
    buf_.push_back(c);
    if (buf_.size() == 13) {
      const auto vc = static_cast<unsigned char>(c);
      if ((vc >> 4) != 2) {
        return fail("v2: version is not 2");
      }
      if ((vc & 0x0f) > 1) {
        return fail("v2: command is neither LOCAL nor PROXY");
      }
    }
    if (buf_.size() == k_v2_fixed) {
      v2_len_ = be16(buf_.data() + 14);
      v2_left_ = v2_len_;
    }
  }
  if (buf_.size() < k_v2_fixed) {
    return status_;
  }
  // The address block: the part that names the endpoints is kept, TLVs are skipped.
  const std::size_t keep = k_v2_fixed + std::min(v2_len_, k_v2_inet6_len);
  const std::size_t take = std::min(in.size(), v2_left_);
  const std::size_t store = std::min(take, keep > buf_.size() ? keep - buf_.size() : 0);
  buf_.append(in.substr(0, store));
  in.remove_prefix(take);
  consumed_ += take;
  v2_left_ -= take;
  if (v2_left_ != 0) {
    return status_;
  }
  return finish_v2();
}

proxy_status proxy_header_parser::finish_v2() {
  const auto command = static_cast<unsigned char>(buf_[12]) & 0x0f;
  const auto family = static_cast<unsigned char>(buf_[13]);
  info_ = proxy_info{};
  info_.version = 2;
  const char* block = buf_.data() + k_v2_fixed;
  if (command == 0) {
    // LOCAL: the proxy's own connection (a health check); the block is ignored.
  } else if (family == 0x11 || family == 0x21) {  // TCP over IPv4, TCP over IPv6
    const std::size_t alen = family == 0x11 ? 4 : 16;
    if (v2_len_ < (family == 0x11 ? k_v2_inet_len : k_v2_inet6_len)) {
      return fail("v2: address block too short for its family");
    }
    info_.src_addr = address_text(block, alen);
    info_.dst_addr = address_text(block + alen, alen);
    info_.src_port = be16(block + 2 * alen);
    info_.dst_port = be16(block + 2 * alen + 2);
    info_.local = false;
  } else if ((family >> 4) == 0 || family == 0x31) {
    // UNSPEC, or a Unix stream socket at the proxy: no client address to take.
  } else {
    return fail("v2: not a TCP or Unix stream connection");
  }
  status_ = proxy_status::Done;
  buf_.clear();
  buf_.shrink_to_fit();
  return status_;
}

}  // namespace posthorn::smtp
