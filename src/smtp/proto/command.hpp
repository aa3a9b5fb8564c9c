#pragma once
// SMTP command lines: framing (CRLF only, bounded length) and verb splitting.
// No I/O: bytes in, lines and commands out.

#include <cstddef>
#include <optional>
#include <string>
#include <string_view>

namespace posthorn::smtp {

// clang-format off
enum class verb {
  Helo, Ehlo, Mail, Rcpt, Data, Rset, Noop, Quit, Help, Vrfy, Expn,
  Starttls, Auth, Bdat, Etrn,
  Xclient,  // Postfix's XCLIENT, for clients in [smtp] xclient_networks
  Send, Soml, Saml, Turn,  // obsolete: 502 5.5.1
  Unknown,
};
// clang-format on

struct command {
  verb v = verb::Unknown;
  std::string_view name;  // the verb as sent (for logs and HELP)
  std::string_view arg;   // after the first space, trailing spaces removed; may be empty
};

// Splits a command line (without its line end) into verb and argument. Verbs are
// case-insensitive; "MAIL FROM:" and "RCPT TO:" keep "FROM:..." / "TO:..." in arg.
command parse_command(std::string_view line);

// The verb's canonical upper-case name ("MAIL"), "" for Unknown.
std::string_view verb_name(verb v);

// One line taken off the wire.
struct line {
  std::string_view text;  // without the line end; valid until the next feed()
  bool bare_lf = false;   // ended by LF without CR before it
  bool bare_cr = false;   // holds a CR not followed by LF
  bool too_long = false;  // longer than the limit; text holds only its start
};

// Frames CRLF-terminated lines out of a byte stream. A bare LF also ends a line (so
// the session never desynchronises) but is flagged. Memory is bounded by the limit:
// the part of an over-long line beyond it is dropped, up to the line end.
class line_reader {
 public:
  // limit counts the line end: 512 for commands (RFC 5321 §4.5.3.1.4), 12288 for AUTH.
  explicit line_reader(std::size_t limit = 512) : limit_(limit) {}

  // Consumes from the front of `in` up to and including one line end and returns the
  // line, or consumes all of `in` and returns nullopt when no line end came yet.
  std::optional<line> feed(std::string_view& in);

  void set_limit(std::size_t limit) { limit_ = limit; }
  std::size_t limit() const { return limit_; }
  // Drops a partial line (after STARTTLS, RFC 3207 §4.2 / CVE-2011-0411).
  void reset();
  // Octets held of a line not yet ended.
  std::size_t buffered() const { return buf_.size(); }

 private:
  void append(std::string_view text);
  line finish(bool bare_lf);

  std::size_t limit_;
  std::string buf_;   // the line being framed, at most limit - 2 octets
  std::string line_;  // the text of the line last returned
  bool overflow_ = false;
  bool last_was_cr_ = false;
  bool saw_bare_cr_ = false;
};

}  // namespace posthorn::smtp
