// The octet formats: CRC-32C vectors, envelope and status encodings, and that every
// truncation or change of an encoding is refused.

#include "queue/codec.hpp"

#include <gtest/gtest.h>

#include <random>

#include "queue/crc32c.hpp"
#include "test_util.hpp"

namespace posthorn::queue {
namespace {

TEST(crc32c, matches_the_rfc_3720_vectors) {
  // RFC 3720 §B.4.
  const std::string zeros(32, '\0');
  const std::string ones(32, '\xff');
  std::string up;
  std::string down;
  for (int i = 0; i < 32; ++i) {
    up += static_cast<char>(i);
    down += static_cast<char>(31 - i);
  }
  EXPECT_EQ(crc32c(0, zeros), 0x8A9136AAu);
  EXPECT_EQ(crc32c(0, ones), 0x62A8AB43u);
  EXPECT_EQ(crc32c(0, up), 0x46DD794Eu);
  EXPECT_EQ(crc32c(0, down), 0x113FDB5Cu);
  EXPECT_EQ(crc32c(0, std::string_view("123456789")), 0xE3069283u);
  EXPECT_EQ(crc32c_portable(0, "123456789", 9), 0xE3069283u);
  EXPECT_EQ(crc32c(0, std::string_view()), 0u);
}

TEST(crc32c, hardware_and_table_agree_at_every_length_alignment_and_split) {
  std::mt19937 rng(7);
  std::string data(4096 + 16, '\0');
  for (char& c : data) {
    c = static_cast<char>(rng());
  }
  for (std::size_t start = 0; start < 16; ++start) {
    for (std::size_t len : {0, 1, 7, 8, 9, 15, 16, 17, 63, 64, 65, 1000, 4096}) {
      const char* p = data.data() + start;
      const std::uint32_t whole = crc32c_portable(0, p, len);
      EXPECT_EQ(crc32c(0, p, len), whole) << start << " " << len;
      const std::size_t split = len / 3;
      EXPECT_EQ(crc32c(crc32c(0, p, split), p + split, len - split), whole);
    }
  }
}

TEST(codec, envelope_round_trips) {
  const envelope env = test::full_envelope("0123456789AB");
  const std::string bytes = codec::encode_envelope(env);
  auto back = codec::decode_envelope(bytes);
  ASSERT_TRUE(back.has_value());
  test::expect_same(*back, env);
}

TEST(codec, every_truncation_or_extension_of_an_envelope_is_refused) {
  const std::string bytes = codec::encode_envelope(test::full_envelope("0123456789AB"));
  for (std::size_t n = 0; n < bytes.size(); ++n) {
    EXPECT_FALSE(codec::decode_envelope(std::string_view(bytes).substr(0, n)).has_value()) << n;
  }
  EXPECT_FALSE(codec::decode_envelope(bytes + '\0').has_value());
}

TEST(codec, out_of_range_enumerators_are_refused) {
  envelope env = test::full_envelope("0123456789AB");
  env.recipients.resize(1);
  std::string bytes = codec::encode_envelope(env);
  // The recipient's status octet sits 4 + last_reply + 8 + 4 + 1 octets from the end.
  const std::size_t status_at = bytes.size() - 8 - env.recipients[0].last_reply.size() - 4 - 4 - 1;
  ASSERT_EQ(bytes[status_at], static_cast<char>(env.recipients[0].status));
  bytes[status_at] = 4;
  EXPECT_FALSE(codec::decode_envelope(bytes).has_value());
}

TEST(codec, a_huge_recipient_count_is_refused_without_allocating) {
  envelope env = test::full_envelope("0123456789AB");
  env.recipients.clear();
  std::string bytes = codec::encode_envelope(env);
  bytes.replace(bytes.size() - 4, 4, "\xff\xff\xff\xff");
  EXPECT_FALSE(codec::decode_envelope(bytes).has_value());
}

TEST(codec, layout_checks_sizes_and_markers) {
  const std::string header = codec::encode_header();
  ASSERT_EQ(header.size(), codec::k_header_size);
  const std::string env_bytes = codec::encode_envelope(test::full_envelope("0123456789AB"));
  codec::trailer t;
  t.message_size = 1000;
  t.envelope_offset = codec::k_header_size + 1000;
  t.envelope_size = env_bytes.size();
  t.message_crc = 0xDEADBEEF;
  const std::string trailer = codec::encode_trailer(t, header, env_bytes);
  ASSERT_EQ(trailer.size(), codec::k_trailer_size);
  const std::uint64_t size = codec::k_header_size + 1000 + env_bytes.size() + trailer.size();
  auto back = codec::decode_layout(size, header, trailer);
  ASSERT_TRUE(back.has_value());
  EXPECT_EQ(back->message_size, 1000u);
  EXPECT_EQ(back->message_crc, 0xDEADBEEFu);
  EXPECT_TRUE(codec::meta_crc_ok(*back, header, env_bytes, trailer));
  EXPECT_FALSE(codec::decode_layout(size - 1, header, trailer).has_value());
  EXPECT_FALSE(codec::decode_layout(size + 1, header, trailer).has_value());
  for (std::size_t i = 0; i < header.size(); ++i) {
    std::string h = header;
    h[i] ^= 0x10;
    EXPECT_FALSE(codec::decode_layout(size, h, trailer).has_value()) << i;
  }
  for (std::size_t i = 0; i < trailer.size(); ++i) {
    std::string tr = trailer;
    tr[i] ^= 0x10;
    auto layout = codec::decode_layout(size, header, tr);
    EXPECT_FALSE(layout && codec::meta_crc_ok(*layout, header, env_bytes, tr)) << i;
  }
}

TEST(codec, status_applies_only_to_its_own_envelope) {
  envelope env = test::full_envelope("0123456789AB");
  envelope changed = env;
  changed.held = false;
  changed.recipients[2].status = rcpt_status::Delivered;
  changed.recipients[2].attempts = 9;
  changed.recipients[2].last_reply = "ok";
  changed.recipients[2].next_attempt = 77;
  const std::string bytes = codec::encode_status(changed);

  envelope target = env;
  ASSERT_TRUE(codec::apply_status(bytes, target));
  test::expect_same(target, changed);

  envelope other = env;
  other.id = "0123456789AC";
  EXPECT_FALSE(codec::apply_status(bytes, other));
  envelope fewer = env;
  fewer.recipients.pop_back();
  EXPECT_FALSE(codec::apply_status(bytes, fewer));
  for (std::size_t n = 0; n < bytes.size(); ++n) {
    envelope e = env;
    EXPECT_FALSE(codec::apply_status(std::string_view(bytes).substr(0, n), e)) << n;
    test::expect_same(e, env);
  }
}

}  // namespace
}  // namespace posthorn::queue
