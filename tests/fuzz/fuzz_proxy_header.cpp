// Fuzz target: the PROXY protocol header (smtp::proxy_header_parser, v1 and v2) and the
// XCLIENT attribute parser (smtp::parse_xclient), the two ways a connection learns
// about a client other than its socket peer.
//
// Input layout: [4 chunk sizes] payload. The payload is fed to one parser in chunks and
// to another whole; both must agree, neither may take an octet past the header's end,
// and a v1 header never runs past 107 octets. The payload is also parsed as an XCLIENT
// argument.

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

#include "common/cidr.hpp"
#include "fuzz_util.hpp"
#include "smtp/proto/proxy_header.hpp"
#include "smtp/proto/xclient.hpp"

namespace {

using namespace posthorn;
using fuzz::chunker;

bool same(const smtp::proxy_info& a, const smtp::proxy_info& b) {
  return a.version == b.version && a.local == b.local && a.src_addr == b.src_addr &&
         a.dst_addr == b.dst_addr && a.src_port == b.src_port && a.dst_port == b.dst_port;
}

// An address the parser reports must be one the rest of the server can parse back.
void check_address(const std::string& text) {
  const auto a = ip_address::parse(text);
  FUZZ_CHECK(a.has_value() && a->str() == text);
}

void check_attr(const smtp::xclient_attr& a) {
  if (!a.has_value()) {
    FUZZ_CHECK(a.value.empty());
    return;
  }
  FUZZ_CHECK(!a.value.empty() && a.value.size() <= 255);
  for (const char c : a.value) {
    FUZZ_CHECK(c > 32 && c < 127);  // safe for a log line, a reply, Received:
  }
}

void check_xclient(std::string_view arg) {
  const auto r = smtp::parse_xclient(arg);
  if (!r) {
    FUZZ_CHECK(!r.error().text.empty());
    FUZZ_CHECK(r.error().text.find_first_of("\r\n") == std::string::npos);
    return;
  }
  for (const smtp::xclient_attr* a :
       {&r->addr, &r->name, &r->helo, &r->proto, &r->login, &r->port, &r->destaddr, &r->destport}) {
    check_attr(*a);
  }
  if (r->addr.has_value()) {
    check_address(r->addr.value);
  }
  if (r->destaddr.has_value()) {
    check_address(r->destaddr.value);
  }
  FUZZ_CHECK(!r->proto.has_value() || r->proto.value == "SMTP" || r->proto.value == "ESMTP");
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  fuzz::input in(data, size);
  chunker chunks(in);
  const std::string_view payload = chunks.payload();

  smtp::proxy_header_parser whole;
  std::string_view all = payload;
  const smtp::proxy_status want = whole.feed(all);
  FUZZ_CHECK(all.size() + whole.consumed() == payload.size());
  if (want == smtp::proxy_status::NeedMore) {
    FUZZ_CHECK(all.empty());
  }

  smtp::proxy_header_parser parser;
  std::string_view chunk;
  std::size_t taken = 0;  // octets of the payload the chunked parser consumed
  while (chunks.next(chunk)) {
    const std::size_t before = parser.consumed();
    const smtp::proxy_status st = parser.feed(chunk);
    taken += parser.consumed() - before;
    FUZZ_CHECK(parser.consumed() == taken);
    if (st != smtp::proxy_status::NeedMore) {
      break;
    }
    FUZZ_CHECK(chunk.empty());  // while more is needed, every octet offered is taken
  }
  FUZZ_CHECK(taken <= payload.size());
  const smtp::proxy_status got = parser.status();
  if (got == smtp::proxy_status::Done) {
    FUZZ_CHECK(want == smtp::proxy_status::Done);
    FUZZ_CHECK(same(parser.info(), whole.info()));
    FUZZ_CHECK(parser.consumed() == whole.consumed());
    const smtp::proxy_info& info = parser.info();
    FUZZ_CHECK(info.version == 1 || info.version == 2);
    if (info.version == 1) {
      FUZZ_CHECK(parser.consumed() <= smtp::proxy_header_parser::k_v1_max);
      FUZZ_CHECK(payload.substr(parser.consumed() - 2, 2) == "\r\n");
    }
    if (info.local) {
      FUZZ_CHECK(info.src_addr.empty() && info.dst_addr.empty());
    } else {
      check_address(info.src_addr);
      check_address(info.dst_addr);
    }
  } else if (got == smtp::proxy_status::Invalid) {
    FUZZ_CHECK(want == smtp::proxy_status::Invalid);
    FUZZ_CHECK(!parser.error().empty());
  } else {
    // Ran out of input: the whole-payload parser needed more too, and took it all.
    FUZZ_CHECK(want == smtp::proxy_status::NeedMore);
    FUZZ_CHECK(taken == payload.size());
  }

  check_xclient(payload.substr(0, 2048));
  return 0;
}
