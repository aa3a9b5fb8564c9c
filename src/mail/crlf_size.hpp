#pragma once
// The size of a stored message in its CRLF form: what POP3 counts (RFC 1939 §11: sizes
// are given with CRLF line ends) and what Dovecot calls the virtual size (the ",W=" of a
// Maildir file name). Maildir files hold LF line ends; every LF not preceded by CR counts
// two octets, and a last line without a line end gets a CRLF (a POP3 multi-line reply
// must end its last line before the terminating ".").

#include <cstdint>
#include <string_view>

namespace posthorn::mail {

class crlf_size_counter {
 public:
  // The next octets of the file, in order; any split.
  void feed(std::string_view bytes) {
    for (char c : bytes) {
      if (c == '\n' && last_ != '\r') {
        ++added_;
      }
      last_ = c;
    }
    size_ += bytes.size();
  }
  // The CRLF size of everything fed.
  std::uint64_t total() const { return size_ + added_ + (size_ > 0 && last_ != '\n' ? 2 : 0); }

 private:
  std::uint64_t size_ = 0;
  std::uint64_t added_ = 0;
  char last_ = '\n';
};

}  // namespace posthorn::mail
