#pragma once
// The message on its way out through DATA: dot-stuffing and line ends (RFC 5321
// §4.5.2, §2.3.8), and the scan that tells which extensions a message needs. No I/O.

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

namespace posthorn::smtp {

// Turns message octets into the wire form of DATA, in as many pieces as the caller
// likes (state is carried across calls):
// * a line starting with "." gets another "." in front (RFC 5321 §4.5.2);
// * only CRLF ever ends a line on the wire (RFC 5321 §2.3.8): a bare LF becomes CRLF,
//   since whatever wrote it meant a line end (Unix tools, sendmail input); a bare CR
//   becomes a space, so that it can neither join nor split lines (CR CR LF must not turn
//   into an empty line that ends the header section, and "a<CR>Bcc: x" must not turn
//   into a header field);
// * finish() ends the last line if it has no line end and adds ".\r\n".
// Queued messages are CRLF already (the server refuses bare CR and LF in DATA), so the
// conversions only matter for mail that came another way.
//
// For BDAT (RFC 3030 §2) the same line-end rules apply without dot-stuffing and without
// the final dot; a BINARYMIME body (RFC 3030 §3) goes out verbatim.
class data_encoder {
 public:
  enum class mode : std::uint8_t {
    Data,    // DATA: dot-stuffing, CRLF line ends, ".\r\n" at the end
    Chunks,  // BDAT of a 7bit/8bitmime message: CRLF line ends only
    Binary,  // BDAT of a BINARYMIME message: every octet as it is
  };

  void feed(std::string_view in, std::string& out);
  void finish(std::string& out);
  void reset(mode m = mode::Data) {
    *this = data_encoder{};
    mode_ = m;
  }

 private:
  mode mode_ = mode::Data;
  bool line_start_ = true;
  bool pending_cr_ = false;  // the last octet fed was a CR: LF may follow in the next piece
};

// What a message needs from the peer, found by one pass over it.
struct message_traits {
  bool eight_bit = false;    // any octet above 127 (needs 8BITMIME, RFC 6152)
  bool header_utf8 = false;  // such an octet in the header section (RFC 6532)
  bool body_8bit = false;    // such an octet after the header section
};

// Scans a message (headers end at the first empty line, CRLF or LF).
message_traits scan_message(std::string_view message);

}  // namespace posthorn::smtp
