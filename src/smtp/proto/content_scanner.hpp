#pragma once
// What the session learns from a message's content however it arrived: after DATA's
// dot-unstuffing or verbatim from BDAT chunks (RFC 3030). One place counts the size
// against the limit, reads the header fields that matter (loop detection, missing
// Date/Message-ID), finds where the header section ends and notices bare CR or LF.

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

namespace posthorn::smtp {

class content_scanner {
 public:
  // `limit`: octets beyond which output stops (0 = none); counting goes on.
  explicit content_scanner(std::uint64_t limit = 0) : limit_(limit) {}
  void reset(std::uint64_t limit);

  // Content already framed by the caller (DATA): octets inside one line, then the CRLF
  // that ends it. A bare CR or LF the caller found is passed as text and reported
  // with mark_bare().
  void text(std::string_view octets, std::string& out);
  void line_end(std::string& out);
  void mark_bare() { bare_ = true; }

  // Unframed content (BDAT): lines end at CRLF only; a CR not followed by LF and an LF
  // not preceded by CR are content, and flagged. A trailing CR is held back until the
  // next octet, or finish().
  void raw(std::string_view octets, std::string& out);
  // The content is complete: a held-back CR is content, and a header section that
  // never ended ends here.
  void finish(std::string& out);

  std::uint64_t size() const { return size_; }  // octets seen so far, even past the limit
  bool over_limit() const { return limit_ != 0 && size_ > limit_; }
  bool bare_cr_or_lf() const { return bare_; }
  // "Received:" header fields seen in the header section (loop detection, §4.2).
  unsigned received_headers() const { return received_; }
  bool in_headers() const { return in_headers_; }
  // Header fields seen in the header section, as k_seen_* bits.
  static constexpr unsigned k_seen_message_id = 1, k_seen_date = 2, k_seen_from = 4;
  unsigned seen_headers() const { return seen_; }
  // Output octets before the empty line that ends the header section: where fields can
  // be added (valid once in_headers() is false, or after finish()).
  std::uint64_t header_end() const { return header_end_; }

 private:
  void track_header(std::string_view octets);

  std::uint64_t limit_;
  std::uint64_t size_ = 0;
  bool bare_ = false;
  unsigned received_ = 0;
  unsigned seen_ = 0;
  std::uint64_t header_end_ = 0;
  bool in_headers_ = true;
  bool line_empty_ = true;    // nothing but the line end on the current line so far
  bool name_open_ = true;     // still reading the current header line's field name
  bool held_cr_ = false;      // raw(): a CR whose next octet has not come yet
  std::string header_start_;  // first octets of the current header line (bounded)
};

}  // namespace posthorn::smtp
