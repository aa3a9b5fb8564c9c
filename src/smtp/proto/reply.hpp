#pragma once
// SMTP replies and the table of enhanced status codes (RFC 3463, RFC 5248).

#include <string>
#include <string_view>
#include <vector>

#include "common/error.hpp"

namespace posthorn::smtp {

struct reply {
  int code = 250;
  std::string enhanced;            // "2.1.0"; empty for 220/221/354 and the like
  std::vector<std::string> lines;  // one or more text lines

  // Appends the wire form: "250-2.1.0 first\r\n250 2.1.0 last\r\n".
  void render(std::string& out) const;
  std::string str() const;
  bool positive() const { return code < 400; }
  bool temporary() const { return code >= 400 && code < 500; }
};

reply make_reply(int code, std::string_view enhanced, std::string_view text);

// The meaning of an enhanced status code's subject.detail from RFC 3463 / RFC 5248
// ("X.1.1" -> "Bad destination mailbox address"); "" when unknown.
std::string_view enhanced_meaning(std::string_view enhanced);

// Maps a data-plane error onto a reply: temporary -> 451 (or 452 for 4.3.1/4.5.3),
// permanent -> 554 (550 for 5.1.x and 5.7.x, 552 for 5.3.4, 553 for 5.1.3/5.6.7);
// the enhanced code defaults to 4.3.0 / 5.3.0 when the error has none.
reply reply_for(const error& e);

}  // namespace posthorn::smtp
