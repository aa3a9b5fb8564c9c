#include "smtp/proto/params.hpp"

#include <limits>
#include <utility>

namespace posthorn::smtp {
namespace {

// RFC 3461 §4.4 and §4.2 bound the ENVID and ORCPT values.
constexpr std::size_t k_envid_max = 100;
constexpr std::size_t k_orcpt_max = 500;

enum class keyword : std::uint8_t { Size, Body, Smtputf8, Ret, Envid, Auth, Notify, Orcpt };

struct keyword_entry {
  std::string_view name;
  keyword k;
};

constexpr keyword_entry k_keywords[] = {
    {"SIZE", keyword::Size},     {"BODY", keyword::Body},   {"SMTPUTF8", keyword::Smtputf8},
    {"RET", keyword::Ret},       {"ENVID", keyword::Envid}, {"AUTH", keyword::Auth},
    {"NOTIFY", keyword::Notify}, {"ORCPT", keyword::Orcpt},
};

char upper(char c) { return (c >= 'a' && c <= 'z') ? static_cast<char>(c - 'a' + 'A') : c; }

bool is_alnum(char c) {
  return (c >= '0' && c <= '9') || (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z');
}

bool iequals(std::string_view a, std::string_view upper_b) {
  if (a.size() != upper_b.size()) {
    return false;
  }
  for (std::size_t i = 0; i < a.size(); ++i) {
    if (upper(a[i]) != upper_b[i]) {
      return false;
    }
  }
  return true;
}

// RFC 5321 §4.1.2: esmtp-keyword = (ALPHA / DIGIT) *(ALPHA / DIGIT / "-").
bool valid_keyword(std::string_view k) {
  if (k.empty() || !is_alnum(k.front())) {
    return false;
  }
  for (const char c : k) {
    if (!is_alnum(c) && c != '-') {
      return false;
    }
  }
  return true;
}

// RFC 5321 §4.1.2: esmtp-value = 1*(%d33-60 / %d62-126), widened to UTF-8 by RFC 6531
// §3.3; the parameters that know their syntax check more.
bool valid_value(std::string_view v) {
  if (v.empty()) {
    return false;
  }
  for (const char c : v) {
    const auto u = static_cast<unsigned char>(c);
    if (u < 33 || u == '=' || u == 127) {
      return false;
    }
  }
  return true;
}

bool printable_ascii(std::string_view s) {
  for (const char c : s) {
    const auto u = static_cast<unsigned char>(c);
    if (u > 126 || (u < 32 && u != '\t')) {
      return false;
    }
  }
  return true;
}


std::unexpected<param_error> fault(param_fault f, std::string_view kw) {
  return std::unexpected(param_error{f, std::string(kw)});
}

// RFC 1870 §3: size-value = 1*20DIGIT. A declared size beyond what we can count is
// still syntactically fine; it saturates so the session refuses it as too big.
std::optional<std::uint64_t> parse_size(std::string_view v) {
  if (v.empty() || v.size() > 20) {
    return std::nullopt;
  }
  std::uint64_t n = 0;
  constexpr std::uint64_t k_max = std::numeric_limits<std::uint64_t>::max();
  for (const char c : v) {
    if (c < '0' || c > '9') {
      return std::nullopt;
    }
    const auto d = static_cast<std::uint64_t>(c - '0');
    n = (n > (k_max - d) / 10) ? k_max : n * 10 + d;
  }
  return n;
}

// RFC 3461 §4.1: "NEVER" alone, or a comma list of SUCCESS, FAILURE, DELAY.
std::optional<std::uint8_t> parse_notify(std::string_view v) {
  if (iequals(v, "NEVER")) {
    return notify_bits::k_never;
  }
  std::uint8_t bits = 0;
  while (true) {
    const std::size_t comma = v.find(',');
    const std::string_view item = v.substr(0, comma);
    if (iequals(item, "SUCCESS")) {
      bits |= notify_bits::k_success;
    } else if (iequals(item, "FAILURE")) {
      bits |= notify_bits::k_failure;
    } else if (iequals(item, "DELAY")) {
      bits |= notify_bits::k_delay;
    } else {
      return std::nullopt;  // also NEVER in a list, and empty items
    }
    if (comma == std::string_view::npos) {
      return bits;
    }
    v.remove_prefix(comma + 1);
  }
}

// RFC 822 atom characters: no specials, space or controls.
bool valid_atom(std::string_view s) {
  constexpr std::string_view k_specials = "()<>@,;:\\\".[]";
  if (s.empty()) {
    return false;
  }
  for (const char c : s) {
    const auto u = static_cast<unsigned char>(c);
    if (u <= 32 || u >= 127 || k_specials.find(c) != std::string_view::npos) {
      return false;
    }
  }
  return true;
}

// RFC 3461 §4.2: orcpt-parameter = "ORCPT=" addr-type ";" xtext.
bool valid_orcpt(std::string_view v) {
  if (v.size() > k_orcpt_max) {
    return false;
  }
  const std::size_t semi = v.find(';');
  if (semi == std::string_view::npos || !valid_atom(v.substr(0, semi))) {
    return false;
  }
  const std::string_view addr = v.substr(semi + 1);
  if (addr.empty()) {
    return false;
  }
  if (iequals(v.substr(0, semi), "UTF-8")) {
    // RFC 6533 §3.3: utf-8-addr-xtext carries UTF-8 as is; its escapes are
    // "\x{HEX}", not "+XX", so only the esmtp-value syntax (checked already) applies.
    return true;
  }
  const auto decoded = xtext_decode(addr);
  return decoded && !decoded->empty() && printable_ascii(*decoded);
}

}  // namespace

std::string param_error::text() const {
  switch (fault) {
    case param_fault::Unknown:
      return "Unsupported parameter " + keyword;
    case param_fault::Duplicate:
      return "Duplicate " + keyword + " parameter";
    case param_fault::Malformed:
      break;
  }
  return keyword.empty() ? std::string("Bad parameter syntax") : "Bad " + keyword + " parameter";
}

reply reply_for(const param_error& e) { return make_reply(e.code(), e.enhanced(), e.text()); }


namespace {

// One "keyword[=value]" item, checked for syntax.
struct param_item {
  std::string name;  // upper case
  std::optional<std::string_view> value;
};

// Walks the space-separated items of `text`, calling `apply(item)` for each until it
// returns an error.
template <class Apply>
std::expected<void, param_error> for_each_param(std::string_view text, Apply&& apply) {
  while (true) {
    while (!text.empty() && text.front() == ' ') {
      text.remove_prefix(1);
    }
    if (text.empty()) {
      return {};
    }
    const std::size_t space = text.find(' ');
    const std::string_view token = text.substr(0, space);
    text.remove_prefix(space == std::string_view::npos ? text.size() : space);

    const std::size_t eq = token.find('=');
    const std::string_view name = token.substr(0, eq);
    if (!valid_keyword(name)) {
      return fault(param_fault::Malformed, "");
    }
    param_item item;
    item.name.reserve(name.size());
    for (const char c : name) {
      item.name.push_back(upper(c));
    }
    if (eq != std::string_view::npos) {
      item.value = token.substr(eq + 1);
    }
    if (auto r = apply(item); !r) {
      return r;
    }
  }
}

// Finds a keyword the session supports for this command; nullopt = unknown (555).
std::optional<keyword> lookup(std::string_view name, bool rcpt, const param_support& s) {
  for (const keyword_entry& e : k_keywords) {
    if (e.name != name) {
      continue;
    }
    switch (e.k) {
      case keyword::Size:
        return (!rcpt && s.size) ? std::optional(e.k) : std::nullopt;
      case keyword::Body:
        return (!rcpt && (s.eightbitmime || s.binarymime)) ? std::optional(e.k) : std::nullopt;
      case keyword::Smtputf8:
        return (!rcpt && s.smtputf8) ? std::optional(e.k) : std::nullopt;
      case keyword::Ret:
      case keyword::Envid:
        return (!rcpt && s.dsn) ? std::optional(e.k) : std::nullopt;
      case keyword::Auth:
        return (!rcpt && s.auth) ? std::optional(e.k) : std::nullopt;
      case keyword::Notify:
      case keyword::Orcpt:
        return (rcpt && s.dsn) ? std::optional(e.k) : std::nullopt;
    }
  }
  return std::nullopt;
}

// A known, advertised keyword seen for the first time in this list (RFC 5321 §4.1.1.11:
// unknown 555, RFC 3461 §4: each parameter at most once).
std::expected<keyword, param_error> claim(const param_item& item, bool rcpt,
                                          const param_support& support, unsigned& seen) {
  const auto k = lookup(item.name, rcpt, support);
  if (!k) {
    return fault(param_fault::Unknown, item.name);
  }
  const unsigned bit = 1u << static_cast<unsigned>(*k);
  if (seen & bit) {
    return fault(param_fault::Duplicate, item.name);
  }
  seen |= bit;
  return *k;
}

}  // namespace

std::expected<mail_params, param_error> parse_mail_params(std::string_view text,
                                                          const param_support& support) {
  mail_params p;
  unsigned seen = 0;
  auto apply = [&](const param_item& item) -> std::expected<void, param_error> {
    const auto k = claim(item, false, support, seen);
    if (!k) {
      return std::unexpected(k.error());
    }
    if (*k == keyword::Smtputf8) {
      // RFC 6531 §3.4: SMTPUTF8 takes no value.
      if (item.value) {
        return fault(param_fault::Malformed, item.name);
      }
      p.smtputf8 = true;
      return {};
    }
    if (!item.value || !valid_value(*item.value)) {
      return fault(param_fault::Malformed, item.name);
    }
    const std::string_view v = *item.value;
    switch (*k) {
      case keyword::Size:
        p.size = parse_size(v);
        if (!p.size) {
          return fault(param_fault::Malformed, item.name);
        }
        break;
      case keyword::Body:
        if (iequals(v, "7BIT")) {
          p.body = body_kind::SevenBit;
        } else if (iequals(v, "8BITMIME") && support.eightbitmime) {
          p.body = body_kind::EightBitMime;
        } else if (iequals(v, "BINARYMIME") && support.binarymime) {
          p.body = body_kind::BinaryMime;
        } else {
          return fault(param_fault::Malformed, item.name);
        }
        break;
      case keyword::Ret:
        if (iequals(v, "FULL")) {
          p.ret = "FULL";
        } else if (iequals(v, "HDRS")) {
          p.ret = "HDRS";
        } else {
          return fault(param_fault::Malformed, item.name);
        }
        break;
      case keyword::Envid: {
        // RFC 3461 §4.4: printable US-ASCII before xtext encoding, at most 100.
        auto decoded = xtext_decode(v);
        if (!decoded || decoded->size() > k_envid_max || !printable_ascii(*decoded)) {
          return fault(param_fault::Malformed, item.name);
        }
        p.envid = std::move(*decoded);
        break;
      }
      case keyword::Auth: {
        // RFC 4954 §5: AUTH=<> or AUTH=xtext-encoded mailbox.
        auto decoded = xtext_decode(v);
        if (!decoded || decoded->empty() || !printable_ascii(*decoded)) {
          return fault(param_fault::Malformed, item.name);
        }
        p.auth = std::move(*decoded);
        break;
      }
      case keyword::Smtputf8:
      case keyword::Notify:
      case keyword::Orcpt:
        break;  // handled above or not reachable for MAIL (lookup refuses them)
    }
    return {};
  };
  if (auto r = for_each_param(text, apply); !r) {
    return std::unexpected(std::move(r.error()));
  }
  return p;
}

std::expected<rcpt_params, param_error> parse_rcpt_params(std::string_view text,
                                                          const param_support& support) {
  rcpt_params p;
  unsigned seen = 0;
  auto apply = [&](const param_item& item) -> std::expected<void, param_error> {
    const auto k = claim(item, true, support, seen);
    if (!k) {
      return std::unexpected(k.error());
    }
    if (!item.value || !valid_value(*item.value)) {
      return fault(param_fault::Malformed, item.name);
    }
    const std::string_view v = *item.value;
    if (*k == keyword::Notify) {
      const auto bits = parse_notify(v);
      if (!bits) {
        return fault(param_fault::Malformed, item.name);
      }
      p.notify = *bits;
    } else {
      if (!valid_orcpt(v)) {
        return fault(param_fault::Malformed, item.name);
      }
      p.orcpt = std::string(v);
    }
    return {};
  };
  if (auto r = for_each_param(text, apply); !r) {
    return std::unexpected(std::move(r.error()));
  }
  return p;
}

}  // namespace posthorn::smtp
