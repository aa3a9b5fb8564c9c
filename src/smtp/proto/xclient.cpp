// XCLIENT attributes, after Postfix's XCLIENT_README: attribute names, the xtext
// encoding of values, and the special values [UNAVAILABLE] and [TEMPUNAVAIL].

#include "smtp/proto/xclient.hpp"

#include <array>
#include <utility>

#include "common/cidr.hpp"
#include "mail/xtext.hpp"

namespace posthorn::smtp {

namespace {

// XCLIENT_README: host names and HELO arguments up to 255 octets; Postfix's login
// names are bounded the same way here.
constexpr std::size_t k_max_value = 255;

std::string upper(std::string_view s) {
  std::string out(s);
  for (char& c : out) {
    if (c >= 'a' && c <= 'z') {
      c = static_cast<char>(c - 'a' + 'A');
    }
  }
  return out;
}

bool printable(std::string_view s) {
  for (const char c : s) {
    const auto u = static_cast<unsigned char>(c);
    if (u < 33 || u > 126) {
      return false;
    }
  }
  return true;
}

// A DNS name: labels of letters, digits, '-' and '_' between dots.
bool host_name(std::string_view s) {
  if (s.empty() || s.size() > k_max_value || s.front() == '.' || s.front() == '-') {
    return false;
  }
  char prev = 0;
  for (const char c : s) {
    const bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
                    c == '-' || c == '_' || c == '.';
    if (!ok || (c == '.' && prev == '.')) {
      return false;
    }
    prev = c;
  }
  return true;
}

// "192.0.2.1", "IPV6:2001:db8::1" (the form XCLIENT_README gives) or a bare IPv6 address.
bool ip_value(std::string& v) {
  std::string_view text = v;
  bool v6_tag = false;
  if (text.size() > 5 && upper(text.substr(0, 5)) == "IPV6:") {
    text.remove_prefix(5);
    v6_tag = true;
  }
  const auto a = ip_address::parse(text);
  if (!a || (v6_tag && text.find(':') == std::string_view::npos)) {
    return false;
  }
  v = a->str();
  return true;
}

bool port_value(std::string_view v) {
  if (v.empty() || v.size() > 5) {
    return false;
  }
  unsigned n = 0;
  for (const char c : v) {
    if (c < '0' || c > '9') {
      return false;
    }
    n = n * 10 + static_cast<unsigned>(c - '0');
  }
  return n <= 65535;
}

std::unexpected<xclient_error> bad(std::string text) {
  return std::unexpected(xclient_error{std::move(text)});
}

}  // namespace

std::expected<xclient_request, xclient_error> parse_xclient(std::string_view arg) {
  xclient_request req;
  bool any = false;
  while (true) {
    while (!arg.empty() && arg.front() == ' ') {
      arg.remove_prefix(1);
    }
    if (arg.empty()) {
      break;
    }
    const std::size_t end = arg.find(' ');
    const std::string_view item = arg.substr(0, end);
    arg = end == std::string_view::npos ? std::string_view() : arg.substr(end);
    const std::size_t eq = item.find('=');
    if (eq == std::string_view::npos || eq == 0) {
      return bad("Syntax: XCLIENT attribute=value...");
    }
    const std::string name = upper(item.substr(0, eq));
    const std::pair<std::string_view, xclient_attr*> k_attrs[] = {
        {"ADDR", &req.addr},         {"NAME", &req.name},         {"HELO", &req.helo},
        {"PROTO", &req.proto},       {"LOGIN", &req.login},       {"PORT", &req.port},
        {"DESTADDR", &req.destaddr}, {"DESTPORT", &req.destport},
    };
    xclient_attr* target = nullptr;
    for (const auto& [n, a] : k_attrs) {
      if (n == name) {
        target = a;
      }
    }
    if (target == nullptr) {
      return bad("Bad XCLIENT attribute name: " + (printable(name) ? name : std::string("?")));
    }
    const auto decoded = mail::xtext_decode(item.substr(eq + 1));
    if (!decoded) {
      return bad("Bad " + name + " syntax: not xtext");
    }
    xclient_attr value;
    if (*decoded == "[UNAVAILABLE]") {
      value.k = xclient_attr::kind::Unavailable;
    } else if (*decoded == "[TEMPUNAVAIL]") {
      value.k = xclient_attr::kind::TempUnavail;
    } else {
      value.k = xclient_attr::kind::Value;
      value.value = *decoded;
      bool ok = !value.value.empty() && value.value.size() <= k_max_value && printable(value.value);
      if (ok) {
        if (name == "ADDR" || name == "DESTADDR") {
          ok = ip_value(value.value);
        } else if (name == "NAME") {
          ok = host_name(value.value);
        } else if (name == "PROTO") {
          value.value = upper(value.value);
          ok = value.value == "SMTP" || value.value == "ESMTP";
        } else if (name == "PORT" || name == "DESTPORT") {
          ok = port_value(value.value);
        }
      }
      if (!ok) {
        return bad("Bad " + name + " syntax");
      }
    }
    *target = std::move(value);
    any = true;
  }
  if (!any) {
    return bad("Syntax: XCLIENT attribute=value...");
  }
  return req;
}

}  // namespace posthorn::smtp
