// Fuzz target: SCRAM-SHA-256(-PLUS) messages (src/auth/scram, RFC 5802 and RFC 7677):
// the client-first and client-final messages a client sends (decoded from base64 by the
// session), the stored-secret format read from the users file (scram_parse), and SASLprep.
//
// Input layout: [flags] [length of client-first] client-first, client-final.
// flags: bit 0 the client chose -PLUS, bit 1 -PLUS was offered, bit 2 channel bindings
// exist.
// Invariants: a failed step names its RFC 5802 §7 error; server-first is
// "r=<client nonce><server nonce>,s=<salt>,i=<count>"; a verdict comes only after a
// server-first; a parsed secret formats back to the same text.

#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string>
#include <string_view>

#include "auth/scram.hpp"
#include "fuzz_util.hpp"

namespace {

using namespace posthorn;

std::optional<auth::scram_secrets> secrets;

}  // namespace

extern "C" int LLVMFuzzerInitialize(int*, char***) {
  auto s = auth::scram_derive("pencil", "fuzz-salt-16oct.", 4096);
  if (!s) {
    std::abort();
  }
  secrets = *s;
  return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  fuzz::input in(data, size);
  const std::uint8_t flags = in.byte();
  const std::size_t first_len = in.byte();
  std::string_view rest = in.rest();
  const std::string_view first = rest.substr(0, std::min(first_len, rest.size()));
  rest.remove_prefix(first.size());
  const std::string_view final_msg = rest;

  auth::scram_options opts;
  opts.plus = (flags & 1) != 0;
  opts.plus_offered = (flags & 2) != 0;
  if (flags & 4) {
    opts.bindings.tls_exporter = std::string(32, '\x42');
    opts.bindings.tls_unique = "unique-finished";
  }
  opts.lookup = [](std::string_view authcid) -> std::optional<auth::scram_secrets> {
    if (authcid == "user") {
      return secrets;
    }
    return std::nullopt;
  };
  opts.fake_salt_key = "fuzz-fake-salt-key";
  opts.server_nonce = "c2VydmVyLW5vbmNl";

  auth::scram_server server(opts);
  const auto st = server.client_first(first);
  if (st == auth::scram_server::status::Failed) {
    FUZZ_CHECK(!server.error().empty());
  } else {
    FUZZ_CHECK(st == auth::scram_server::status::Continue);
    const std::string& sf = server.server_first();
    FUZZ_CHECK(sf.starts_with("r="));
    FUZZ_CHECK(sf.find(opts.server_nonce) != std::string::npos);
    FUZZ_CHECK(sf.find(",s=") != std::string::npos && sf.find(",i=") != std::string::npos);
    const auto st2 = server.client_final(final_msg);
    if (st2 == auth::scram_server::status::Failed) {
      FUZZ_CHECK(!server.error().empty());
    } else {
      FUZZ_CHECK(st2 == auth::scram_server::status::Verdict);
      if (server.proof_ok()) {
        FUZZ_CHECK(server.server_final().starts_with("v="));
      }
    }
  }

  const std::string_view text(reinterpret_cast<const char*>(data), size);
  if (auto parsed = auth::scram_parse(text)) {
    const std::string formatted = auth::scram_format(*parsed);
    auto again = auth::scram_parse(formatted);
    FUZZ_CHECK(again.has_value());
    FUZZ_CHECK(auth::scram_format(*again) == formatted);
  }
  (void)auth::saslprep(text);
  return 0;
}
