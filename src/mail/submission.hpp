#pragma once
// A message handed to `sendmail` on standard input, made ready for SMTP submission:
// the input rules of sendmail (line ends, the lone dot), the header section taken
// apart, recipients from To/Cc/Bcc for -t, Bcc removed, and Date, Message-ID and From
// added when missing (RFC 5322 §3.6). No I/O: the caller reads stdin, asks the clock
// and the password database, and talks to the server.

#include <cstddef>
#include <cstdint>
#include <ctime>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "common/error.hpp"
#include "mail/address.hpp"

namespace posthorn::mail {

// Collects sendmail's input a piece at a time. Every line end becomes CRLF (Unix
// programs write LF; RFC 5321 §2.3.8 allows only CRLF on the wire); a CR that does not
// end a line becomes a space, as the SMTP client does, so it can neither end nor join
// lines. Unless the lone-dot rule is off (-i, -oi), a line holding only "." ends the
// input and is not part of the message (sendmail(1)); other lines are kept as they
// are (no dot-unstuffing: that belongs to SMTP's DATA).
class input_collector {
 public:
  explicit input_collector(bool dot_ends_input) : dot_ends_(dot_ends_input) {}

  // Takes the next piece of input; returns true once the input has ended at a lone
  // dot (the rest of `in` and anything after it is not part of the message).
  bool feed(std::string_view in);
  // End of file: completes a last line that has no line end.
  void finish();

  bool ended() const { return ended_; }
  // Octets held so far, the unfinished line included (for a size limit).
  std::size_t size() const { return out_.size() + line_.size(); }
  // The message so far, CRLF line ends; complete after feed() returned true or finish().
  const std::string& message() const { return out_; }
  std::string take_message() { return std::move(out_); }

 private:
  void end_line();

  bool dot_ends_;
  bool ended_ = false;
  bool pending_cr_ = false;   // the last octet fed was a CR: an LF may follow
  std::string line_;          // the current line, without its line end
  std::string out_;
};

// One header field as it stands in the message.
struct header_field {
  std::string_view name;   // as written ("Subject"), without white space before ':'
  std::string_view value;  // after ':', folding kept, without the final CRLF
  std::size_t begin = 0;   // offset of the field in the message
  std::size_t end = 0;     // offset just after its final CRLF
};

// The header section and where the body starts (RFC 5322 §2.1).
struct message_layout {
  std::vector<header_field> fields;
  std::size_t header_end = 0;  // just after the last field (or its continuation lines)
  std::size_t body_begin = 0;  // the first body octet: after the empty line, if any
  bool separator = false;      // an empty line separated header and body
};

// Splits a CRLF message. The header section ends at the first empty line, or at the
// first line that is neither a field ("name:" with a name of printable ASCII, RFC 5322
// §2.2, also "name :" of §4.5) nor a continuation line: a message that starts with
// its text and has no header at all still works (Postfix's habit). A trailing field
// without CRLF at the end of the message counts as a field.
message_layout split_message(std::string_view message);

// True when `name` is `want`, ASCII case-insensitively (RFC 5322 §1.2.2).
bool field_name_is(std::string_view name, std::string_view want);

// "Thu, 13 Feb 2025 14:03:05 +0100" (RFC 5322 §3.3): `local` is the local time and
// `utc_offset` its offset from UTC in seconds (tm_gmtoff).
std::string rfc5322_date(const std::tm& local, long utc_offset);

// "<20250213140305.4242.5f3a9c1e2b7d8a60@mx.example.test>": time, process and random
// make it unique (RFC 5322 §3.6.4).
std::string make_message_id(const std::tm& utc, std::uint64_t pid, std::uint64_t random,
                            std::string_view hostname);

// A display name as a phrase (RFC 5322 §3.2.5): as it is when it is atoms and spaces,
// else a quoted string; non-ASCII is an RFC 2047 encoded word (B, UTF-8) so that the
// message needs no SMTPUTF8. Empty when the name is empty or only white space.
std::string display_name(std::string_view name);

// What the sender and the system say about a submission.
struct submission_options {
  bool extract_recipients = false;       // -t
  std::vector<address> recipients;       // from the command line (added to -t's, Postfix)
  std::optional<address> sender;         // -f/-r; an empty address is the null sender <>
  std::string login;                     // the submitting user's login name
  std::string hostname;                  // [hostname]: qualifies addresses, From, Message-ID
  std::string full_name;                 // -F or $NAME; for a generated From: only
  std::string date;                      // the Date: value to add when missing
  std::string message_id;                // the Message-ID: value to add when missing
};

// A message ready for MAIL, RCPT and DATA.
struct submission {
  address sender;                  // empty = <>
  std::vector<address> recipients; // in order, duplicates removed
  std::string message;             // CRLF lines, not dot-stuffed
  bool eight_bit = false;          // octets above 127: BODY=8BITMIME (RFC 6152)
  bool smtputf8 = false;           // a non-ASCII address in the envelope (RFC 6531)
};

// Builds the submission from a collected message (input_collector) and the options:
// recipients from To, Cc and Bcc with -t (from Resent-To, Resent-Cc and Resent-Bcc
// instead when the message has any of those, RFC 5322 §3.6.6) plus the command line's;
// every Bcc and Resent-Bcc field removed (the blind recipients must stay blind); a
// leading mbox "From " line dropped; Date, Message-ID and From appended to the header
// section when missing, and an empty line before a body that had none.
// Fails (permanent, for EX_DATAERR) when an address header cannot be parsed or there is
// no recipient at all.
result<submission> prepare_submission(std::string_view message, const submission_options& o);

}  // namespace posthorn::mail
