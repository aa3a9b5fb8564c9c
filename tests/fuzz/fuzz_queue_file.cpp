// Fuzz target: a hostile or torn queue file meeting recovery (queue::spool::recover) and
// the codec underneath it (queue/codec.hpp). A queue file on disk is outside input once
// the disk, a crash or an administrator has been at it: recovery must set aside what does
// not check out (spool/corrupt/), keep what does, and never crash.
//
// Input layout: [mode] payload.
//   mode bit 0 clear: the payload is the queue file as it stands.
//   mode bit 0 set:   the payload is [2-octet envelope length][envelope section][message],
//                     framed into a well-formed file (header, trailer, checksums), then
//                     damaged as bits 1-2 say: 0 intact, 1 torn at an offset, 2 one octet
//                     flipped, 3 a status file made of the envelope section beside it.
// Invariants: recover() succeeds; the file is either recovered (then it has recipients
// and its message and envelope load) or moved to corrupt/; a decoded envelope section
// encodes and decodes again to the same octets.

#include <spdlog/spdlog.h>
#include <unistd.h>

#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <string>
#include <string_view>

#include "fuzz_util.hpp"
#include "queue/codec.hpp"
#include "queue/crc32c.hpp"
#include "queue/spool.hpp"

namespace {

namespace fs = std::filesystem;
using namespace posthorn;

fs::path spool_dir;
std::unique_ptr<queue::spool> the_spool;
std::string file_id;

void write_file(const fs::path& p, std::string_view bytes) {
  std::ofstream out(p, std::ios::binary | std::ios::trunc);
  out.write(bytes.data(), static_cast<std::streamsize>(bytes.size()));
}

void clear(const fs::path& dir) {
  std::error_code ec;
  for (const auto& e : fs::directory_iterator(dir, ec)) {
    fs::remove(e.path(), ec);
  }
}

// header, message, envelope section, trailer: what spool::commit writes.
std::string frame(std::string_view env_bytes, std::string_view message) {
  const std::string header = queue::codec::encode_header();
  queue::codec::trailer t;
  t.message_offset = header.size();
  t.message_size = message.size();
  t.envelope_offset = header.size() + message.size();
  t.envelope_size = env_bytes.size();
  t.message_crc = queue::crc32c(0, message);
  const std::string trailer = queue::codec::encode_trailer(t, header, env_bytes);
  return header + std::string(message) + std::string(env_bytes) + trailer;
}

void check_codec(std::string_view env_bytes) {
  auto env = queue::codec::decode_envelope(env_bytes);
  if (!env) {
    return;
  }
  const std::string again = queue::codec::encode_envelope(*env);
  auto env2 = queue::codec::decode_envelope(again);
  FUZZ_CHECK(env2.has_value());
  FUZZ_CHECK(queue::codec::encode_envelope(*env2) == again);
  // A status file made from it applies to it, and one made of junk changes nothing.
  const std::string status = queue::codec::encode_status(*env);
  queue::envelope copy = *env;
  FUZZ_CHECK(queue::codec::apply_status(status, copy));
  FUZZ_CHECK(queue::codec::encode_envelope(copy) == queue::codec::encode_envelope(*env));
  (void)queue::codec::apply_status(env_bytes, copy);
}

}  // namespace

extern "C" int LLVMFuzzerInitialize(int*, char***) {
  spdlog::set_level(spdlog::level::off);  // recovery logs every corrupt file
  char tmpl[] = "/tmp/posthorn-fuzz-spool-XXXXXX";
  const char* made = ::mkdtemp(tmpl);
  if (made == nullptr) {
    std::perror("mkdtemp");
    std::abort();
  }
  spool_dir = made;
  auto s = queue::spool::open(spool_dir);
  if (!s) {
    std::fprintf(stderr, "spool::open: %s\n", s.error().message.c_str());
    std::abort();
  }
  the_spool = std::move(*s);
  file_id = "0000000000fuzz";  // the seeds' envelopes name this id
  std::atexit([] {
    the_spool.reset();
    std::error_code ec;
    fs::remove_all(spool_dir, ec);
  });
  return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  fuzz::input in(data, size);
  const std::uint8_t mode = in.byte();
  std::string_view payload = in.rest();
  std::string file;
  std::string status;
  bool with_status = false;
  if ((mode & 1) == 0) {
    file.assign(payload);
    check_codec(payload);
  } else {
    std::size_t env_len = 0;
    if (payload.size() >= 2) {
      env_len =
          (static_cast<std::uint8_t>(payload[0]) << 8) | static_cast<std::uint8_t>(payload[1]);
      payload.remove_prefix(2);
    }
    env_len = std::min(env_len, payload.size());
    const std::string_view env_bytes = payload.substr(0, env_len);
    const std::string_view message = payload.substr(env_len);
    check_codec(env_bytes);
    file = frame(env_bytes, message);
    const std::size_t at = file.empty() ? 0 : (mode >> 3) * 7919 % file.size();
    switch ((mode >> 1) & 3) {
      case 1:
        file.resize(at);  // torn: a crash before the write finished
        break;
      case 2:
        if (!file.empty()) {
          file[at] = static_cast<char>(file[at] ^ 0x5a);
        }
        break;
      case 3:
        with_status = true;
        status.assign(env_bytes);
        break;
      default:
        break;
    }
  }

  const fs::path active = spool_dir / "active" / file_id;
  write_file(active, file);
  if (with_status) {
    write_file(spool_dir / "status" / file_id, status);
  }
  auto recovered = the_spool->recover();
  FUZZ_CHECK(recovered.has_value());
  const bool kept = fs::exists(active);
  const bool set_aside = fs::exists(spool_dir / "corrupt" / file_id);
  FUZZ_CHECK(kept != set_aside);
  FUZZ_CHECK(recovered->size() == (kept ? 1u : 0u));
  if (kept) {
    const queue::envelope& env = recovered->front();
    FUZZ_CHECK(env.id == file_id);
    FUZZ_CHECK(!env.recipients.empty());
    auto reader = the_spool->open_message(file_id);
    FUZZ_CHECK(reader.has_value());
    FUZZ_CHECK((*reader)->contents().size() == (*reader)->size());
    auto loaded = the_spool->load(file_id);
    FUZZ_CHECK(loaded.has_value());
    FUZZ_CHECK(loaded->recipients.size() == env.recipients.size());
  }
  for (const char* sub : {"active", "status", "corrupt", "incoming"}) {
    clear(spool_dir / sub);
  }
  return 0;
}
