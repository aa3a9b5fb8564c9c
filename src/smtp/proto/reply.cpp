#include "smtp/proto/reply.hpp"

#include <array>
#include <charconv>
#include <cstdint>
#include <optional>

namespace posthorn::smtp {
namespace {

struct status_entry {
  std::uint16_t subject;
  std::uint16_t detail;
  std::string_view meaning;
};

// The one table of enhanced status codes (STYLE.md 5): RFC 3463 §3 and the IANA
// registry that RFC 5248 set up, with the RFC that added each later code.
constexpr std::array k_status_table{
    status_entry{0, 0, "Other undefined Status"},
    status_entry{1, 0, "Other address status"},
    status_entry{1, 1, "Bad destination mailbox address"},
    status_entry{1, 2, "Bad destination system address"},
    status_entry{1, 3, "Bad destination mailbox address syntax"},
    status_entry{1, 4, "Destination mailbox address ambiguous"},
    status_entry{1, 5, "Destination address valid"},
    status_entry{1, 6, "Destination mailbox has moved, No forwarding address"},
    status_entry{1, 7, "Bad sender's mailbox address syntax"},
    status_entry{1, 8, "Bad sender's system address"},
    status_entry{1, 9, "Message relayed to non-compliant mailer"},  // RFC 3886
    status_entry{1, 10, "Recipient address has null MX"},           // RFC 7505
    status_entry{2, 0, "Other or undefined mailbox status"},
    status_entry{2, 1, "Mailbox disabled, not accepting messages"},
    status_entry{2, 2, "Mailbox full"},
    status_entry{2, 3, "Message length exceeds administrative limit"},
    status_entry{2, 4, "Mailing list expansion problem"},
    status_entry{3, 0, "Other or undefined mail system status"},
    status_entry{3, 1, "Mail system full"},
    status_entry{3, 2, "System not accepting network messages"},
    status_entry{3, 3, "System not capable of selected features"},
    status_entry{3, 4, "Message too big for system"},
    status_entry{3, 5, "System incorrectly configured"},
    status_entry{3, 6, "Requested priority was changed"},  // RFC 6710
    status_entry{4, 0, "Other or undefined network or routing status"},
    status_entry{4, 1, "No answer from host"},
    status_entry{4, 2, "Bad connection"},
    status_entry{4, 3, "Directory server failure"},
    status_entry{4, 4, "Unable to route"},
    status_entry{4, 5, "Mail system congestion"},
    status_entry{4, 6, "Routing loop detected"},
    status_entry{4, 7, "Delivery time expired"},
    status_entry{5, 0, "Other or undefined protocol status"},
    status_entry{5, 1, "Invalid command"},
    status_entry{5, 2, "Syntax error"},
    status_entry{5, 3, "Too many recipients"},
    status_entry{5, 4, "Invalid command arguments"},
    status_entry{5, 5, "Wrong protocol version"},
    status_entry{5, 6, "Authentication Exchange line is too long"},  // RFC 4954
    status_entry{6, 0, "Other or undefined media error"},
    status_entry{6, 1, "Media not supported"},
    status_entry{6, 2, "Conversion required and prohibited"},
    status_entry{6, 3, "Conversion required but not supported"},
    status_entry{6, 4, "Conversion with loss performed"},
    status_entry{6, 5, "Conversion Failed"},
    status_entry{6, 6, "Message content not available"},                                // RFC 4468
    status_entry{6, 7, "Non-ASCII addresses not permitted for that sender/recipient"},  // RFC 6531
    status_entry{6, 8, "UTF-8 string reply is required, but not permitted by the SMTP client"},
    status_entry{6, 9, "UTF-8 header message cannot be transferred to one or more recipients"},
    status_entry{6, 10, "UTF-8 string reply is required, but not permitted by the SMTP client"},
    status_entry{7, 0, "Other or undefined security status"},
    status_entry{7, 1, "Delivery not authorized, message refused"},
    status_entry{7, 2, "Mailing list expansion prohibited"},
    status_entry{7, 3, "Security conversion required but not possible"},
    status_entry{7, 4, "Security features not supported"},
    status_entry{7, 5, "Cryptographic failure"},
    status_entry{7, 6, "Cryptographic algorithm not supported"},
    status_entry{7, 7, "Message integrity failure"},
    status_entry{7, 8, "Authentication credentials invalid"},    // RFC 4954
    status_entry{7, 9, "Authentication mechanism is too weak"},  // RFC 4954
    status_entry{7, 10, "Encryption Needed"},                    // RFC 5248
    status_entry{7, 11, "Encryption required for requested authentication mechanism"},
    status_entry{7, 12, "A password transition is needed"},  // RFC 4954
    status_entry{7, 13, "User Account Disabled"},            // RFC 5248
    status_entry{7, 14, "Trust relationship required"},      // RFC 5248
    status_entry{7, 15, "Priority Level is too low"},        // RFC 6710
    status_entry{7, 16, "Message is too big for the specified priority"},
    status_entry{7, 17, "Mailbox owner has changed"},  // RFC 7293
    status_entry{7, 18, "Domain owner has changed"},
    status_entry{7, 19, "RRVS test cannot be completed"},
    status_entry{7, 20, "No passing DKIM signature found"},  // RFC 7372
    status_entry{7, 21, "No acceptable DKIM signature found"},
    status_entry{7, 22, "No valid author-matched DKIM signature found"},
    status_entry{7, 23, "SPF validation failed"},
    status_entry{7, 24, "SPF validation error"},
    status_entry{7, 25, "Reverse DNS validation failed"},
    status_entry{7, 26, "Multiple authentication checks failed"},
    status_entry{7, 27, "Sender address has null MX"},  // RFC 7505
    status_entry{7, 28, "Mail flood detected"},
    status_entry{7, 29, "ARC validation failure"},       // RFC 8617
    status_entry{7, 30, "REQUIRETLS support required"},  // RFC 8689
};

struct parsed_status {
  char cls;
  std::uint16_t subject;
  std::uint16_t detail;
};

// RFC 3463 §2: class "." subject "." detail; class is 2, 4 or 5, subject and detail
// 1*3digit. Leading zeros are refused so that each code has one spelling.
std::optional<std::uint16_t> parse_part(std::string_view s) {
  if (s.empty() || s.size() > 3 || (s.size() > 1 && s.front() == '0')) {
    return std::nullopt;
  }
  std::uint16_t v = 0;
  const auto [ptr, ec] = std::from_chars(s.data(), s.data() + s.size(), v);
  if (ec != std::errc{} || ptr != s.data() + s.size()) {
    return std::nullopt;
  }
  return v;
}

std::optional<parsed_status> parse_status(std::string_view s) {
  if (s.size() < 5 || (s[0] != '2' && s[0] != '4' && s[0] != '5') || s[1] != '.') {
    return std::nullopt;
  }
  const std::string_view rest = s.substr(2);
  const std::size_t dot = rest.find('.');
  if (dot == std::string_view::npos) {
    return std::nullopt;
  }
  const auto subject = parse_part(rest.substr(0, dot));
  const auto detail = parse_part(rest.substr(dot + 1));
  if (!subject || !detail) {
    return std::nullopt;
  }
  return parsed_status{s[0], *subject, *detail};
}

// Reply text must not break the line framing (RFC 5321 §4.2: textstring holds HT and
// printable characters); control characters become spaces.
void append_text(std::string& out, std::string_view text) {
  for (const char c : text) {
    const auto u = static_cast<unsigned char>(c);
    out.push_back((u < 0x20 && c != '\t') || u == 0x7f ? ' ' : c);
  }
}

}  // namespace

void reply::render(std::string& out) const {
  const std::size_t n = lines.empty() ? 1 : lines.size();
  char code_text[16];
  const auto [end, ec] = std::to_chars(code_text, code_text + sizeof code_text, code);
  const std::string_view code_view(code_text, ec == std::errc{} ? end - code_text : 0);
  for (std::size_t i = 0; i < n; ++i) {
    const std::string_view text = lines.empty() ? std::string_view{} : lines[i];
    out.append(code_view);
    // RFC 5321 §4.2.1: every line but the last has '-' after the code.
    out.push_back(i + 1 < n ? '-' : ' ');
    if (!enhanced.empty()) {
      // RFC 2034 §4: the enhanced code starts every line of the reply.
      out.append(enhanced);
      if (!text.empty()) {
        out.push_back(' ');
      }
    }
    append_text(out, text);
    if (enhanced.empty() && text.empty() && i + 1 == n) {
      out.pop_back();  // RFC 5321 §4.2: "250" alone, the SP only comes with text
    }
    out.append("\r\n");
  }
}

std::string reply::str() const {
  std::string out;
  render(out);
  return out;
}

reply make_reply(int code, std::string_view enhanced, std::string_view text) {
  reply r;
  r.code = code;
  r.enhanced = std::string(enhanced);
  r.lines.emplace_back(text);
  return r;
}

std::string_view enhanced_meaning(std::string_view enhanced) {
  const auto status = parse_status(enhanced);
  if (!status) {
    return {};
  }
  for (const status_entry& e : k_status_table) {
    if (e.subject == status->subject && e.detail == status->detail) {
      return e.meaning;
    }
  }
  return {};
}

reply reply_for(const error& e) {
  const bool temporary = e.temporary();
  std::string enhanced = e.enhanced;
  if (!parse_status(enhanced)) {
    enhanced = temporary ? "4.3.0" : "5.3.0";
  }
  // The reply class follows the error's severity even when its code disagrees.
  enhanced[0] = temporary ? '4' : '5';
  const std::string_view tail = std::string_view(enhanced).substr(1);  // ".3.1"

  int code = 0;
  if (temporary) {
    // RFC 5321 §4.2.2: 452 is "insufficient system storage" (and RFC 5321 §4.5.3.1.10
    // uses it for too many recipients).
    code = (tail == ".3.1" || tail == ".5.3") ? 452 : 451;
  } else if (tail == ".1.3" || tail == ".6.7") {
    code = 553;
  } else if (tail.starts_with(".1.") || tail.starts_with(".7.")) {
    code = 550;
  } else if (tail == ".3.4") {
    code = 552;
  } else {
    code = 554;
  }

  std::string_view text = e.message;
  if (text.empty()) {
    text = enhanced_meaning(enhanced);
  }
  return make_reply(code, enhanced, text);
}

}  // namespace posthorn::smtp
