#include "smtp/client/data_encoder.hpp"

#include <algorithm>
#include <cstring>

namespace posthorn::smtp {
namespace {

// Offset of the first CR or LF in `s`, or s.size(). memchr keeps large bodies fast; the
// LF search stops at the first CR, so the scans stay within one line.
std::size_t find_line_octet(std::string_view s) {
  if (s.empty()) {
    return 0;
  }
  const char* base = s.data();
  const void* cr = std::memchr(base, '\r', s.size());
  const std::size_t until =
      cr ? static_cast<std::size_t>(static_cast<const char*>(cr) - base) : s.size();
  const void* lf = until == 0 ? nullptr : std::memchr(base, '\n', until);
  return lf ? static_cast<std::size_t>(static_cast<const char*>(lf) - base) : until;
}

bool any_high_octet(std::string_view s) {
  unsigned char acc = 0;
  for (const char c : s) {
    acc |= static_cast<unsigned char>(c);
  }
  return (acc & 0x80) != 0;
}

}  // namespace

void data_encoder::feed(std::string_view in, std::string& out) {
  if (mode_ == mode::Binary) {
    out.append(in);
    return;
  }
  while (!in.empty()) {
    if (pending_cr_) {
      pending_cr_ = false;
      if (in.front() == '\n') {
        in.remove_prefix(1);
        out.append("\r\n");
        line_start_ = true;
        continue;
      }
      out.push_back(' ');  // a bare CR
      line_start_ = false;
      continue;
    }
    if (line_start_ && in.front() == '.' && mode_ == mode::Data) {
      out.push_back('.');  // RFC 5321 §4.5.2: the receiver removes the first dot again
    }
    const std::size_t i = find_line_octet(in);
    out.append(in.substr(0, i));
    if (i > 0) {
      line_start_ = false;
    }
    if (i == in.size()) {
      break;
    }
    const char end = in[i];
    in.remove_prefix(i + 1);
    if (end == '\n') {
      out.append("\r\n");  // a bare LF
      line_start_ = true;
    } else {
      pending_cr_ = true;
    }
  }
}

void data_encoder::finish(std::string& out) {
  if (mode_ == mode::Binary) {
    return;
  }
  if (pending_cr_) {
    pending_cr_ = false;
    out.push_back(' ');
    line_start_ = false;
  }
  if (!line_start_) {
    out.append("\r\n");
  }
  if (mode_ == mode::Data) {
    out.append(".\r\n");
  }
  line_start_ = true;
}

message_traits scan_message(std::string_view message) {
  message_traits t;
  // The header section ends at the first empty line (RFC 5322 §2.1).
  std::size_t header_end = message.size();
  if (message.starts_with("\r\n") || message.starts_with("\n")) {
    header_end = 0;
  } else {
    const std::size_t crlf = message.find("\n\r\n");
    const std::size_t lf = message.find("\n\n");
    header_end = std::min(crlf, lf);
    header_end = header_end == std::string_view::npos ? message.size() : header_end;
  }
  t.header_utf8 = any_high_octet(message.substr(0, header_end));
  t.body_8bit = any_high_octet(message.substr(header_end));
  t.eight_bit = t.header_utf8 || t.body_8bit;
  return t;
}

}  // namespace posthorn::smtp
