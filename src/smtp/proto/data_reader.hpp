#pragma once
// The DATA phase reader (RFC 5321 §4.1.1.4, §4.5.2): finds the end of data and
// undoes dot-stuffing while streaming. Only <CRLF>.<CRLF> ends the data; every other
// sequence (<LF>.<LF>, <CR>.<CR>, <CRLF>.<LF>, <LF>.<CRLF>, ...) is message content
// and marks the message as holding a bare CR or LF (SMTP smuggling defence).

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

namespace posthorn::smtp {

class data_reader {
 public:
  // `limit`: octets after unstuffing beyond which output stops (0 = none); the
  // data is still read to its end so the session stays in step.
  explicit data_reader(std::uint64_t limit = 0) : limit_(limit) {}

  // Consumes from the front of `in`, appending message octets (CRLF line ends kept,
  // dot-stuffing removed, the final CRLF.CRLF excluded except the CRLF that ends the
  // last line) to `out`. Returns true once the end of data was consumed; `in` then
  // holds whatever followed it (pipelined commands).
  bool feed(std::string_view& in, std::string& out);

  std::uint64_t size() const { return size_; }  // message octets seen so far, even past limit
  bool over_limit() const { return limit_ != 0 && size_ > limit_; }
  bool bare_cr_or_lf() const { return bare_; }
  // "Received:" header fields seen in the header section (loop detection, §4.2).
  unsigned received_headers() const { return received_; }
  bool in_headers() const { return in_headers_; }
  // Header fields seen in the header section, as k_seen_* bits.
  static constexpr unsigned k_seen_message_id = 1, k_seen_date = 2, k_seen_from = 4;
  unsigned seen_headers() const { return seen_; }
  // Output octets before the empty line that ends the header section: where fields can
  // be added (valid once in_headers() is false).
  std::uint64_t header_end() const { return header_end_; }
  void reset(std::uint64_t limit);

 private:
  // Where the reader stands in the octet stream (RFC 5321 §4.5.2).
  enum class at : std::uint8_t {
    LineStart,  // just after CRLF (or at the very start): a '.' here is special
    Middle,     // inside a line
    Cr,         // a CR held back until the next octet shows whether it ends the line
    Dot,        // a '.' at a line start, held back
    DotCr,      // CRLF "." CR seen: an LF now ends the data
    Done,       // CRLF.CRLF consumed
  };

  void emit(std::string_view octets, std::string& out);
  void end_line(std::string& out);
  void track_header(std::string_view octets);

  std::uint64_t limit_;
  std::uint64_t size_ = 0;
  bool bare_ = false;
  unsigned received_ = 0;
  unsigned seen_ = 0;
  std::uint64_t header_end_ = 0;
  bool in_headers_ = true;
  at state_ = at::LineStart;
  bool line_empty_ = true;    // nothing but the line end on the current line so far
  bool name_open_ = true;     // still reading the current header line's field name
  std::string header_start_;  // first octets of the current header line (bounded)
};

}  // namespace posthorn::smtp
