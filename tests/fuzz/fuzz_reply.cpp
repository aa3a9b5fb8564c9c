// Fuzz target: the SMTP client's reply reader (smtp::reply_reader), which frames a peer's
// replies (RFC 5321 §4.2.1) out of its byte stream, and what is made of a reply: the EHLO
// keywords (parse_ehlo), the RFC 3463 status (status_of) and the one-line form for logs
// and DSNs (one_line). Every byte here comes from a remote server.
//
// Input layout: [4 chunk sizes] payload. The payload is fed in chunks to one reader and
// whole to another: both must produce the same replies and the same verdict.
// Invariants: reply codes are three digits 2xx-5xx; status_of is "d.d.d" of the reply's
// class; one_line has no control characters; a reply's lines stay within the bounds.

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "fuzz_util.hpp"
#include "smtp/client/reply_reader.hpp"

namespace {

using namespace posthorn;

struct outcome {
  std::vector<std::string> replies;  // one_line() of each
  bool failed = false;
};

void check_reply(const smtp::reply& r) {
  FUZZ_CHECK(r.code >= 200 && r.code <= 599);
  const std::string status = smtp::status_of(r);
  FUZZ_CHECK(status.size() >= 5 && status[1] == '.');
  FUZZ_CHECK(status[0] == static_cast<char>('0' + r.code / 100));
  const std::string line = smtp::one_line(r);
  for (const char c : line) {
    FUZZ_CHECK(static_cast<unsigned char>(c) >= 32 && c != 127);
  }
  const smtp::peer_extensions ext = smtp::parse_ehlo(r);
  for (const std::string& m : ext.auth) {
    FUZZ_CHECK(!m.empty());
    for (const char c : m) {
      FUZZ_CHECK(!(c >= 'a' && c <= 'z'));
    }
  }
}

// Feeds `chunks` in order; stops at the first error, as the client does.
template <class Next>
outcome run(Next next) {
  outcome out;
  smtp::reply_reader reader;
  std::string_view chunk;
  while (next(chunk)) {
    while (!chunk.empty()) {
      const std::size_t before = chunk.size();
      auto r = reader.feed(chunk);
      if (!r) {
        FUZZ_CHECK(!r.error().empty());
        out.failed = true;
        return out;
      }
      if (!r->has_value()) {
        FUZZ_CHECK(chunk.empty());  // an incomplete reply takes everything offered
        break;
      }
      FUZZ_CHECK(chunk.size() < before);  // a whole reply took at least its own line
      check_reply(**r);
      out.replies.push_back(smtp::one_line(**r));
    }
  }
  return out;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  fuzz::input in(data, size);
  fuzz::chunker chunks(in);
  const std::string_view payload = chunks.payload();
  const outcome cut = run([&](std::string_view& c) { return chunks.next(c); });
  bool given = false;
  const outcome whole = run([&](std::string_view& c) {
    if (given) {
      return false;
    }
    given = true;
    c = payload;
    return true;
  });
  FUZZ_CHECK(cut.failed == whole.failed);
  FUZZ_CHECK(cut.replies == whole.replies);
  return 0;
}
