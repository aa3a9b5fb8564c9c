#pragma once
// The BDAT reader (RFC 3030 §2): a chunk is exactly the number of octets its command
// announced, taken verbatim: no dot-stuffing, no end-of-data search, so whatever the
// octets hold they never desynchronise the session. Chunks of one message go through
// one content_scanner, which counts the size against the limit and reads the header.

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include "smtp/proto/content_scanner.hpp"

namespace posthorn::smtp {

// The arguments of "BDAT <chunk-size> [LAST]".
struct bdat_args {
  std::uint64_t size = 0;
  bool last = false;
  friend bool operator==(const bdat_args&, const bdat_args&) = default;
};

// RFC 3030 §2: bdat-cmd = "BDAT" SP chunk-size [ SP end-marker ] CR LF, chunk-size =
// 1*DIGIT, end-marker = "LAST" (case-insensitive). nullopt for anything else, and for
// a size beyond 20 digits or 2^64 - 1: the octet count is then unknown.
std::optional<bdat_args> parse_bdat_args(std::string_view arg);

class bdat_reader {
 public:
  // A new message: chunks until the LAST one belong to it.
  void reset(std::uint64_t limit);

  // Announces the next chunk. Octets of a chunk not kept (a refused BDAT) are read and
  // dropped without touching the message.
  void start_chunk(std::uint64_t size, bool keep);

  // Consumes up to the chunk's remaining octets from the front of `in`; kept octets go
  // to `out` (up to the limit). True once the whole chunk has been consumed.
  bool feed(std::string_view& in, std::string& out);

  // The message is complete (after its LAST chunk): see content_scanner::finish.
  void finish(std::string& out) { scan_.finish(out); }

  std::uint64_t left() const { return left_; }  // octets of the chunk still to come
  // Octets of the kept chunks so far (content().size() lags by a CR held back at the
  // end of a chunk until the next octet shows whether it ends a line).
  std::uint64_t received() const { return received_; }
  const content_scanner& content() const { return scan_; }

 private:
  content_scanner scan_;
  std::uint64_t left_ = 0;
  std::uint64_t received_ = 0;
  bool keep_ = false;
};

}  // namespace posthorn::smtp
