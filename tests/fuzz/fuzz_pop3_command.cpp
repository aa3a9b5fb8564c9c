// Fuzz target: the POP3 command path (pop3::session over smtp::line_reader, parse_command,
// message numbers, the SASL exchanges) and the RETR encoder.
//
// Input layout: [flags] [4 chunk sizes] payload.
// flags bit 0: allow_plaintext_auth; bit 1: TLS available; bit 2: the canned password
// check succeeds; bit 3: the maildrop is in use; bits 4-5: messages in the maildrop.
// The payload is fed in chunks as a client's commands; every action gets a canned
// answer. Invariants: its pending output stays bounded, a Retrieve names an existing
// message, an Update covers the whole maildrop, and fed whole the same input gives the
// same replies (unless STLS dropped input, which depends on where reads end). The
// payload is also encoded as a RETR body: its unstuffed size equals the CRLF size
// LIST gives (mail/crlf_size.hpp), whatever the chunks.

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "fuzz_util.hpp"
#include "mail/crlf_size.hpp"
#include "pop3/encoder.hpp"
#include "pop3/session.hpp"

namespace {

using namespace posthorn;
using fuzz::chunker;

struct options {
  bool plaintext = false, tls = false, password_ok = false, in_use = false;
  unsigned messages = 0;
};

// The replies to `chunks`; `tls` is set when STLS dropped input (then the replies depend on
// where the chunks end, as they do for a real client).
std::string run_session(const options& o, const std::vector<std::string_view>& chunks, bool& tls) {
  pop3::session_settings st;
  st.allow_plaintext_auth = o.plaintext;
  st.tls_available = o.tls;
  st.output_limit = 512;
  pop3::session s(st);
  s.greet();
  std::vector<pop3::message_info> box;
  for (unsigned i = 0; i < o.messages; ++i) {
    box.push_back({"m" + std::to_string(i), false, 10 + i, "u" + std::to_string(i)});
  }
  std::string out = s.output();
  s.output().clear();
  std::string pending;
  for (std::string_view c : chunks) {
    pending.append(c);
    std::string_view in = pending;
    bool closed = false;
    while (!closed) {
      const pop3::action a = s.feed(in);
      FUZZ_CHECK(s.output().size() < st.output_limit + 16 * 1024);
      out += s.output();
      s.output().clear();
      switch (a) {
        case pop3::action::Read:
          break;
        case pop3::action::Flush:
          continue;
        case pop3::action::AuthVerify: {
          const auth::sasl_verify& v = s.auth_credentials();
          const bool ok = v.verified ? *v.verified : o.password_ok;
          s.auth_done(ok ? std::optional(mail::address{"a", "example.test"}) : std::nullopt);
          continue;
        }
        case pop3::action::OpenMailbox:
          if (o.in_use) {
            s.mailbox_failed(true);
          } else {
            s.mailbox_opened(box);
          }
          continue;
        case pop3::action::Retrieve:
          FUZZ_CHECK(s.retrieval().index < box.size());
          s.retrieve_started();
          out += s.output();
          s.output().clear();
          out += "body\r\n.\r\n";
          s.retrieve_done();
          continue;
        case pop3::action::StartTls:
          tls = true;
          in = {};
          s.tls_started({});
          continue;
        case pop3::action::Update: {
          FUZZ_CHECK(s.deleted().size() == box.size());
          pop3::update_result r;
          for (bool d : s.deleted()) {
            r.deleted += d ? 1 : 0;
          }
          s.update_done(r);
          continue;
        }
        case pop3::action::Close:
          closed = true;
          break;
      }
      break;
    }
    pending = std::string(in);
    if (closed) {
      break;
    }
  }
  return out;
}

void check_encoder(std::string_view payload, const std::vector<std::string_view>& chunks) {
  mail::crlf_size_counter counter;
  pop3::message_encoder enc;
  std::string out;
  for (std::string_view c : chunks) {
    counter.feed(c);
    enc.feed(c, out);
  }
  enc.finish(out);
  FUZZ_CHECK(out.size() >= 3 && out.ends_with(".\r\n"));
  // Unstuff and drop the terminator: the CRLF size.
  std::size_t stuffed = 0;
  bool start = true;
  for (std::size_t i = 0; i + 3 < out.size(); ++i) {
    if (start && out[i] == '.') {
      ++stuffed;
    }
    start = out[i] == '\n';
  }
  FUZZ_CHECK(out.size() - 3 - stuffed == counter.total());
  mail::crlf_size_counter whole;
  whole.feed(payload);
  FUZZ_CHECK(whole.total() == counter.total());
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  fuzz::input in(data, size);
  const std::uint8_t f = in.byte();
  options o{(f & 1) != 0, (f & 2) != 0, (f & 4) != 0, (f & 8) != 0, (f >> 4) & 3u};
  chunker ch(in);
  const std::string_view payload = in.rest();
  std::vector<std::string_view> chunks;
  for (std::string_view c; ch.next(c);) {
    chunks.push_back(c);
  }
  bool tls_pieces = false, tls_whole = false;
  const std::string pieces = run_session(o, chunks, tls_pieces);
  const std::string whole = run_session(o, {payload}, tls_whole);
  FUZZ_CHECK(tls_pieces || tls_whole || pieces == whole);
  check_encoder(payload, chunks);
  return 0;
}
