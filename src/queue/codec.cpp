#include "queue/codec.hpp"

#include <cstring>
#include <utility>
#include <vector>

#include "queue/crc32c.hpp"

namespace posthorn::queue::codec {
namespace {

// Little-endian, fixed width, whatever the host (docs/queue-format.md).
template <class T>
void put_int(std::string& out, T value) {
  auto v = static_cast<std::uint64_t>(value);
  for (std::size_t i = 0; i < sizeof(T); ++i) {
    out.push_back(static_cast<char>(v & 0xFF));
    v >>= 8;
  }
}

void put_str(std::string& out, std::string_view s) {
  put_int<std::uint32_t>(out, static_cast<std::uint32_t>(s.size()));
  out.append(s);
}

void put_address(std::string& out, const mail::address& a) {
  put_str(out, a.local);
  put_str(out, a.domain);
}

template <class T>
T get_int_at(std::string_view s, std::size_t pos) {
  std::uint64_t v = 0;
  for (std::size_t i = sizeof(T); i-- > 0;) {
    v = (v << 8) | static_cast<unsigned char>(s[pos + i]);
  }
  return static_cast<T>(v);
}

// Bounds-checked reading; the first failure sticks and every later read yields zero.
class reader {
 public:
  explicit reader(std::string_view in) : in_(in) {}

  template <class T>
  T get_int() {
    if (!ok_ || in_.size() - pos_ < sizeof(T)) {
      ok_ = false;
      return T{};
    }
    const T v = get_int_at<T>(in_, pos_);
    pos_ += sizeof(T);
    return v;
  }
  // An enumerator stored as one octet, valid when at most `last`.
  template <class E>
  E get_enum(E last) {
    const auto v = get_int<std::uint8_t>();
    if (v > static_cast<std::uint8_t>(last)) {
      ok_ = false;
    }
    return ok_ ? static_cast<E>(v) : E{};
  }
  bool get_bool() {
    const auto v = get_int<std::uint8_t>();
    if (v > 1) {
      ok_ = false;
    }
    return v == 1;
  }
  std::string get_str() {
    const auto n = get_int<std::uint32_t>();
    if (!ok_ || in_.size() - pos_ < n) {
      ok_ = false;
      return {};
    }
    std::string s(in_.substr(pos_, n));
    pos_ += n;
    return s;
  }
  mail::address get_address() {
    mail::address a;
    a.local = get_str();
    a.domain = get_str();
    return a;
  }
  std::size_t left() const { return ok_ ? in_.size() - pos_ : 0; }
  bool ok() const { return ok_; }
  bool at_end() const { return ok_ && pos_ == in_.size(); }
  std::size_t pos() const { return pos_; }

 private:
  std::string_view in_;
  std::size_t pos_ = 0;
  bool ok_ = true;
};

// The smallest encoded recipient (all strings empty), to bound a corrupt count.
constexpr std::size_t k_min_recipient = 4 * 5 + 3 + 4 + 4 + 8;
constexpr std::size_t k_min_status_recipient = 1 + 1 + 4 + 8 + 4;

}  // namespace

std::string encode_header() {
  std::string out(k_file_magic);
  put_int<std::uint32_t>(out, k_version);
  put_int<std::uint32_t>(out, k_header_size);
  return out;
}

std::string encode_envelope(const envelope& env) {
  std::string out;
  out.reserve(256 + env.recipients.size() * 96);
  put_str(out, env.id);
  put_address(out, env.sender);
  put_int<std::int64_t>(out, env.arrival);
  put_int<std::uint8_t>(out, static_cast<std::uint8_t>(env.body));
  put_int<std::uint8_t>(out, env.smtputf8 ? 1 : 0);
  put_str(out, env.envid);
  put_int<std::uint8_t>(out, static_cast<std::uint8_t>(env.ret));
  put_str(out, env.client_addr);
  put_str(out, env.client_name);
  put_str(out, env.helo);
  put_str(out, env.protocol);
  put_str(out, env.auth_user);
  put_int<std::uint8_t>(out, (env.held ? 1 : 0) | (env.junk ? 2 : 0));
  put_int<std::uint64_t>(out, env.size);
  put_int<std::uint32_t>(out, static_cast<std::uint32_t>(env.recipients.size()));
  for (const recipient& r : env.recipients) {
    put_address(out, r.address);
    put_address(out, r.original);
    put_str(out, r.orcpt);
    put_int<std::uint8_t>(out, r.notify);
    put_int<std::uint8_t>(out, r.local ? 1 : 0);
    put_int<std::uint8_t>(out, static_cast<std::uint8_t>(r.status));
    put_int<std::uint32_t>(out, r.attempts);
    put_str(out, r.last_reply);
    put_int<std::int64_t>(out, r.next_attempt);
  }
  return out;
}

std::string encode_trailer(trailer& t, std::string_view header, std::string_view envelope_bytes) {
  std::string out;
  out.reserve(k_trailer_size);
  put_int<std::uint64_t>(out, t.message_offset);
  put_int<std::uint64_t>(out, t.message_size);
  put_int<std::uint64_t>(out, t.envelope_offset);
  put_int<std::uint64_t>(out, t.envelope_size);
  put_int<std::uint32_t>(out, t.message_crc);
  std::uint32_t crc = crc32c(0, header);
  crc = crc32c(crc, envelope_bytes);
  t.meta_crc = crc32c(crc, out);
  put_int<std::uint32_t>(out, t.meta_crc);
  out.append(k_end_marker);
  return out;
}

std::optional<trailer> decode_layout(std::uint64_t file_size, std::string_view header,
                                     std::string_view trailer_bytes) {
  if (file_size < k_header_size + k_trailer_size || header.size() != k_header_size ||
      trailer_bytes.size() != k_trailer_size) {
    return std::nullopt;
  }
  if (header.substr(0, k_file_magic.size()) != k_file_magic ||
      get_int_at<std::uint32_t>(header, 8) != k_version ||
      get_int_at<std::uint32_t>(header, 12) != k_header_size ||
      trailer_bytes.substr(40) != k_end_marker) {
    return std::nullopt;
  }
  trailer t;
  t.message_offset = get_int_at<std::uint64_t>(trailer_bytes, 0);
  t.message_size = get_int_at<std::uint64_t>(trailer_bytes, 8);
  t.envelope_offset = get_int_at<std::uint64_t>(trailer_bytes, 16);
  t.envelope_size = get_int_at<std::uint64_t>(trailer_bytes, 24);
  t.message_crc = get_int_at<std::uint32_t>(trailer_bytes, 32);
  t.meta_crc = get_int_at<std::uint32_t>(trailer_bytes, 36);
  // Each bound is checked before it is added, so no sum can wrap around.
  const std::uint64_t body_room = file_size - k_header_size - k_trailer_size;
  if (t.message_offset != k_header_size || t.message_size > body_room ||
      t.envelope_offset != t.message_offset + t.message_size ||
      t.envelope_size != body_room - t.message_size) {
    return std::nullopt;
  }
  return t;
}

bool meta_crc_ok(const trailer& t, std::string_view header, std::string_view envelope_bytes,
                 std::string_view trailer_bytes) {
  if (trailer_bytes.size() != k_trailer_size) {
    return false;
  }
  std::uint32_t crc = crc32c(0, header);
  crc = crc32c(crc, envelope_bytes);
  crc = crc32c(crc, trailer_bytes.substr(0, k_trailer_checked));
  return crc == t.meta_crc;
}

std::optional<envelope> decode_envelope(std::string_view bytes) {
  reader in(bytes);
  envelope env;
  env.id = in.get_str();
  env.sender = in.get_address();
  env.arrival = in.get_int<std::int64_t>();
  env.body = in.get_enum(body_type::BinaryMime);
  env.smtputf8 = in.get_bool();
  env.envid = in.get_str();
  env.ret = in.get_enum(dsn_ret::Hdrs);
  env.client_addr = in.get_str();
  env.client_name = in.get_str();
  env.helo = in.get_str();
  env.protocol = in.get_str();
  env.auth_user = in.get_str();
  // Flags: 1 held at queueing, 2 junk (version 1 files before the junk flag hold 0/1).
  const auto flags = in.get_int<std::uint8_t>();
  if (flags > 3) {
    return std::nullopt;
  }
  env.held = (flags & 1) != 0;
  env.junk = (flags & 2) != 0;
  env.size = in.get_int<std::uint64_t>();
  const auto count = in.get_int<std::uint32_t>();
  if (!in.ok() || count > in.left() / k_min_recipient) {
    return std::nullopt;
  }
  env.recipients.resize(count);
  for (recipient& r : env.recipients) {
    r.address = in.get_address();
    r.original = in.get_address();
    r.orcpt = in.get_str();
    r.notify = in.get_int<std::uint8_t>();
    r.local = in.get_bool();
    r.status = in.get_enum(rcpt_status::Failed);
    r.attempts = in.get_int<std::uint32_t>();
    r.last_reply = in.get_str();
    r.next_attempt = in.get_int<std::int64_t>();
  }
  if (!in.at_end()) {
    return std::nullopt;
  }
  return env;
}

std::string encode_status(const envelope& env) {
  std::string out(k_status_magic);
  put_int<std::uint32_t>(out, k_version);
  put_str(out, env.id);
  put_int<std::uint8_t>(out, (env.held ? 1 : 0) | (env.delay_warned ? 2 : 0));
  put_int<std::uint32_t>(out, static_cast<std::uint32_t>(env.recipients.size()));
  for (const recipient& r : env.recipients) {
    put_int<std::uint8_t>(out, static_cast<std::uint8_t>(r.status));
    put_int<std::uint8_t>(out, r.reported ? 1 : 0);
    put_int<std::uint32_t>(out, r.attempts);
    put_int<std::int64_t>(out, r.next_attempt);
    put_str(out, r.last_reply);
  }
  put_int<std::uint32_t>(out, crc32c(0, out));
  out.append(k_end_marker);
  return out;
}

bool apply_status(std::string_view bytes, envelope& env) {
  const std::size_t fixed = k_status_magic.size() + k_end_marker.size() + 4;
  if (bytes.size() < fixed || bytes.substr(0, k_status_magic.size()) != k_status_magic ||
      bytes.substr(bytes.size() - k_end_marker.size()) != k_end_marker) {
    return false;
  }
  const std::size_t crc_pos = bytes.size() - k_end_marker.size() - 4;
  if (crc32c(0, bytes.substr(0, crc_pos)) != get_int_at<std::uint32_t>(bytes, crc_pos)) {
    return false;
  }
  reader in(bytes.substr(k_status_magic.size(), crc_pos - k_status_magic.size()));
  if (in.get_int<std::uint32_t>() != k_version || in.get_str() != env.id) {
    return false;
  }
  const auto flags = in.get_int<std::uint8_t>();
  const auto count = in.get_int<std::uint32_t>();
  if (!in.ok() || count != env.recipients.size() || count > in.left() / k_min_status_recipient) {
    return false;
  }
  struct state {
    rcpt_status status;
    bool reported;
    std::uint32_t attempts;
    std::int64_t next_attempt;
    std::string last_reply;
  };
  std::vector<state> states(count);
  for (state& s : states) {
    s.status = in.get_enum(rcpt_status::Failed);
    s.reported = in.get_bool();
    s.attempts = in.get_int<std::uint32_t>();
    s.next_attempt = in.get_int<std::int64_t>();
    s.last_reply = in.get_str();
  }
  if (!in.at_end()) {
    return false;
  }
  if (flags > 3) {
    return false;
  }
  env.held = (flags & 1) != 0;
  env.delay_warned = (flags & 2) != 0;
  for (std::size_t i = 0; i < count; ++i) {
    recipient& r = env.recipients[i];
    r.status = states[i].status;
    r.reported = states[i].reported;
    r.attempts = states[i].attempts;
    r.next_attempt = states[i].next_attempt;
    r.last_reply = std::move(states[i].last_reply);
  }
  return true;
}

}  // namespace posthorn::queue::codec
