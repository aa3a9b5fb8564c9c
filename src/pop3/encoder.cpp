#include "pop3/encoder.hpp"

namespace posthorn::pop3 {

void message_encoder::end_line(bool empty) {
  if (!in_body_) {
    if (empty) {
      in_body_ = true;  // the blank line between header and body (RFC 5322 §2.1)
      if (top_ && *top_ == 0) {
        done_ = true;
      }
    }
  } else if (top_) {
    ++body_lines_;
    if (body_lines_ >= *top_) {
      done_ = true;
    }
  }
  at_line_start_ = true;
  line_octets_ = 0;
}

bool message_encoder::feed(std::string_view file, std::string& out) {
  if (done_) {
    return false;
  }
  out.reserve(out.size() + file.size() + file.size() / 32 + 8);
  std::size_t i = 0;
  while (i < file.size()) {
    if (at_line_start_ && file[i] == '.') {
      out += '.';  // RFC 1939 §3: byte-stuff a line that starts with the termination octet
    }
    // Up to the next LF in one go.
    const std::size_t lf = file.find('\n', i);
    const std::size_t stop = lf == std::string_view::npos ? file.size() : lf;
    if (stop > i) {
      out.append(file.data() + i, stop - i);
      any_ = true;
      last_cr_ = file[stop - 1] == '\r';
      line_octets_ += stop - i;
      at_line_start_ = false;
      i = stop;
    }
    if (lf == std::string_view::npos) {
      break;
    }
    if (!last_cr_) {
      out += '\r';
    }
    out += '\n';
    any_ = true;
    // A line of a lone CR (a CRLF stored as such) is empty too.
    const bool empty = line_octets_ == 0 || (line_octets_ == 1 && last_cr_);
    last_cr_ = false;
    ++i;
    end_line(empty);
    if (done_) {
      return false;
    }
  }
  return true;
}

void message_encoder::finish(std::string& out) {
  if (any_ && !at_line_start_) {
    out += "\r\n";
  }
  out += ".\r\n";
}

}  // namespace posthorn::pop3
