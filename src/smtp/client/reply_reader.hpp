#pragma once
// The client's view of the server's replies: multi-line replies assembled from their
// lines (RFC 5321 §4.2.1), enhanced status codes taken apart (RFC 2034, RFC 3463), and
// the EHLO keywords (RFC 5321 §4.1.1.1). No I/O: bytes in, replies out, memory bounded.

#include <cstddef>
#include <cstdint>
#include <expected>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "smtp/proto/command.hpp"
#include "smtp/proto/reply.hpp"

namespace posthorn::smtp {

// RFC 5321 §4.5.3.1.5 allows a reply line 512 octets; peers exceed it, so we accept
// twice that and keep the start of anything longer.
inline constexpr std::size_t k_reply_line_limit = 1024;
// More lines than any EHLO reply or banner carries; a peer sending more is broken.
inline constexpr std::size_t k_reply_max_lines = 100;

// Frames whole replies out of the server's byte stream.
class reply_reader {
 public:
  // Consumes from the front of `in` up to the end of one reply and returns it; returns
  // nullopt after consuming all of `in` when the reply is not complete yet; an error
  // (the reason, for the log) when the peer does not speak SMTP replies.
  std::expected<std::optional<reply>, std::string> feed(std::string_view& in);

  // Forgets a partial reply (after STARTTLS, RFC 3207 §4.2).
  void reset();
  // True when part of a reply has been read.
  bool partial() const { return !lines_.empty() || lines_reader_.buffered() > 0; }

 private:
  line_reader lines_reader_{k_reply_line_limit};
  int code_ = 0;
  std::vector<std::string> lines_;  // the text of each line after "ddd-" / "ddd "
};

// "550 5.1.1 first line second line": the reply on one line for logs and DSNs, control
// characters replaced by spaces.
std::string one_line(const reply& r);

// The RFC 3463 status a reply stands for: its enhanced code when it carries one of the
// right class, else "2.0.0", "4.0.0" or "5.0.0" from the reply code.
std::string status_of(const reply& r);

// What the peer announced in its EHLO reply (RFC 5321 §4.1.1.1); all false after HELO.
struct peer_extensions {
  bool esmtp = false;                  // EHLO was accepted
  bool pipelining = false;             // RFC 2920
  bool size = false;                   // RFC 1870
  std::uint64_t size_limit = 0;        // SIZE n; 0 = no fixed limit (RFC 1870 §4)
  bool eightbitmime = false;           // RFC 6152
  bool smtputf8 = false;               // RFC 6531
  bool dsn = false;                    // RFC 3461
  bool starttls = false;               // RFC 3207
  bool chunking = false;               // RFC 3030
  bool binarymime = false;             // RFC 3030
  bool enhanced_status_codes = false;  // RFC 2034
  std::vector<std::string> auth;       // AUTH mechanisms, upper case (RFC 4954 §3)
};

// Reads the keywords from the lines of a 250 reply to EHLO; the first line (the
// server's name and greeting) is skipped. Keywords are case-insensitive.
peer_extensions parse_ehlo(const reply& r);

}  // namespace posthorn::smtp
