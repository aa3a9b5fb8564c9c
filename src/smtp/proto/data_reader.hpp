#pragma once
// The DATA phase reader (RFC 5321 §4.1.1.4, §4.5.2): finds the end of data and
// undoes dot-stuffing while streaming. Only <CRLF>.<CRLF> ends the data; every other
// sequence (<LF>.<LF>, <CR>.<CR>, <CRLF>.<LF>, <LF>.<CRLF>, ...) is message content
// and marks the message as holding a bare CR or LF (SMTP smuggling defence).

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

#include "smtp/proto/content_scanner.hpp"

namespace posthorn::smtp {

class data_reader {
 public:
  // `limit`: octets after unstuffing beyond which output stops (0 = none); the
  // data is still read to its end so the session stays in step.
  explicit data_reader(std::uint64_t limit = 0) : scan_(limit) {}

  // Consumes from the front of `in`, appending message octets (CRLF line ends kept,
  // dot-stuffing removed, the final CRLF.CRLF excluded except the CRLF that ends the
  // last line) to `out`. Returns true once the end of data was consumed; `in` then
  // holds whatever followed it (pipelined commands).
  bool feed(std::string_view& in, std::string& out);

  // What the content showed: size, header fields, bare CR or LF (content_scanner).
  const content_scanner& content() const { return scan_; }
  std::uint64_t size() const { return scan_.size(); }
  bool over_limit() const { return scan_.over_limit(); }
  bool bare_cr_or_lf() const { return scan_.bare_cr_or_lf(); }
  unsigned received_headers() const { return scan_.received_headers(); }
  bool in_headers() const { return scan_.in_headers(); }
  static constexpr unsigned k_seen_message_id = content_scanner::k_seen_message_id,
                            k_seen_date = content_scanner::k_seen_date,
                            k_seen_from = content_scanner::k_seen_from;
  unsigned seen_headers() const { return scan_.seen_headers(); }
  std::uint64_t header_end() const { return scan_.header_end(); }
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

  content_scanner scan_;
  at state_ = at::LineStart;
};

}  // namespace posthorn::smtp
