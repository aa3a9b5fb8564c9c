#pragma once
// The syntax check shared by the config loader (hostnames, domains) and the protocol
// (ETRN's argument): no DNS, no IDNA conversion.

#include <string_view>

namespace posthorn {

// Dot-separated labels of letters, digits, '-' and '_', 63 octets a label and 253 in all
// (RFC 1035 §2.3.4); octets above 127 are let through for U-labels (RFC 6531).
bool plausible_domain_name(std::string_view name);

}  // namespace posthorn
