#pragma once
// The octets of queue files and status files (docs/queue-format.md). Pure functions,
// no I/O, so every corruption case is testable without a disk.

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include "queue/envelope.hpp"

namespace posthorn::queue::codec {

inline constexpr std::string_view k_file_magic{"PHQUEUE\n", 8};
inline constexpr std::string_view k_status_magic{"PHQSTAT\n", 8};
inline constexpr std::string_view k_end_marker{"PHQ-END\n", 8};
inline constexpr std::uint32_t k_version = 1;
inline constexpr std::size_t k_header_size = 16;
inline constexpr std::size_t k_trailer_size = 48;
// The trailer octets covered by meta_crc: everything before meta_crc itself.
inline constexpr std::size_t k_trailer_checked = 36;

// Where the parts of a queue file lie, and their checksums (the file's last octets).
struct trailer {
  std::uint64_t message_offset = k_header_size;
  std::uint64_t message_size = 0;
  std::uint64_t envelope_offset = 0;
  std::uint64_t envelope_size = 0;
  std::uint32_t message_crc = 0;  // CRC-32C of the message octets
  std::uint32_t meta_crc = 0;     // CRC-32C of header, envelope and trailer octets 0..35
};

// The fixed header: magic, version, header size.
std::string encode_header();
// The envelope section: every envelope field and every recipient, length-prefixed.
std::string encode_envelope(const envelope& env);
// The trailer's octets; computes and stores t.meta_crc.
std::string encode_trailer(trailer& t, std::string_view header, std::string_view envelope_bytes);

// Checks magic, version and end marker, and that header, message, envelope and trailer
// tile a file of `file_size` octets exactly. Checksums are checked apart.
std::optional<trailer> decode_layout(std::uint64_t file_size, std::string_view header,
                                     std::string_view trailer_bytes);
bool meta_crc_ok(const trailer& t, std::string_view header, std::string_view envelope_bytes,
                 std::string_view trailer_bytes);
// nullopt unless `bytes` is exactly one well-formed envelope section.
std::optional<envelope> decode_envelope(std::string_view bytes);

// A status file: the mutable state of every recipient and the held flag.
std::string encode_status(const envelope& env);
// Applies a status file to `env` when it is intact and belongs to it (same id, same
// number of recipients); otherwise returns false and leaves `env` unchanged.
bool apply_status(std::string_view bytes, envelope& env);

}  // namespace posthorn::queue::codec
