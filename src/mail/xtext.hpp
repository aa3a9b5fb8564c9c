#pragma once
// xtext (RFC 3461 §4), the encoding of ENVID and ORCPT values: "+XX" hex escapes, other
// octets 33..126 except '+' and '='.

#include <optional>
#include <string>
#include <string_view>

namespace posthorn::mail {

// Decodes xtext; lower-case hex digits are accepted too. nullopt when not valid xtext.
std::optional<std::string> xtext_decode(std::string_view text);

// Encodes any octets as xtext: '+', '=' and octets outside 33..126 become "+XX".
std::string xtext_encode(std::string_view text);

}  // namespace posthorn::mail
