#pragma once
// A stored message as a POP3 multi-line response body (RFC 1939 §3) without I/O: LF line
// ends become CRLF, a line starting with "." gets another one (dot-stuffing), and the
// response ends with ".", CRLF. For TOP (RFC 1939 §7) only the header, the blank line
// after it and the first n body lines are sent.
//
// The octets before stuffing are exactly what mail/crlf_size.hpp counts, so the sizes
// LIST gives are those of what RETR sends (dot-stuffing aside, RFC 1939 §11).

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace posthorn::pop3 {

class message_encoder {
 public:
  // `top_lines`: nullopt for RETR (everything), n for TOP (header + n body lines).
  explicit message_encoder(std::optional<std::uint64_t> top_lines = std::nullopt)
      : top_(top_lines) {}

  // Encodes the next octets of the file, appending to `out`. Returns false once the
  // rest of the file is not wanted (TOP has what it needs): the caller may stop reading.
  bool feed(std::string_view file, std::string& out);
  // Ends the response: a CRLF when the last line had no line end, then ".", CRLF.
  void finish(std::string& out);

 private:
  // A line ended (its CRLF sent): counts it for TOP.
  void end_line(bool empty);

  std::optional<std::uint64_t> top_;
  bool at_line_start_ = true;
  bool last_cr_ = false;           // the last octet sent was a CR (a following LF pairs with it)
  bool in_body_ = false;           // past the blank line that ends the header
  std::uint64_t line_octets_ = 0;  // of the current line so far
  std::uint64_t body_lines_ = 0;
  bool done_ = false;  // TOP: enough sent
  bool any_ = false;   // some octet was sent
};

}  // namespace posthorn::pop3
