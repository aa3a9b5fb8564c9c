#pragma once
// SMTP command lines: framing (CRLF only, bounded length) and verb splitting.
// No I/O: bytes in, lines and commands out.

#include <cstddef>
#include <cstdint>
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
  bool bare_lf = false;   // ended by (EndsLine) or holds (InLine) an LF without CR before it
  bool bare_cr = false;   // holds a CR not followed by LF
  bool too_long = false;  // longer than the limit; text holds only its start
};

// What a bare LF (one without CR before it) does to the framing.
enum class lf_mode : std::uint8_t {
  EndsLine,  // ends the line, flagged: lenient, for reading what a peer server says
  InLine,    // stays in the line, flagged; only CRLF ends a line (RFC 5321 §2.3.8): the
             // server's command reader, so one line is one command and gets one reply
};

// Frames CRLF-terminated lines out of a byte stream; a bare CR is kept in the line and
// flagged, a bare LF as `lf_mode` says. Memory is bounded by the limit: the part of an
// over-long line beyond it is dropped, up to the line end.
class line_reader {
 public:
  // limit counts the line end: 512 for commands (RFC 5321 §4.5.3.1.4), 12288 for AUTH.
  explicit line_reader(std::size_t limit = 512, lf_mode lf = lf_mode::EndsLine)
      : limit_(limit), lf_(lf) {}

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
  line finish();

  std::size_t limit_;
  lf_mode lf_;
  std::string buf_;   // the line being framed, at most limit - 2 octets
  std::string line_;  // the text of the line last returned
  bool overflow_ = false;
  bool last_was_cr_ = false;
  bool saw_bare_lf_ = false;
  bool saw_bare_cr_ = false;
};

}  // namespace posthorn::smtp
