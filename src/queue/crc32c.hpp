#pragma once
// CRC-32C (Castagnoli polynomial, RFC 3720 §B.4), the checksum of queue and status
// files. The SSE4.2 instruction computes it at memory speed; a table version covers
// other CPUs.

#include <cstddef>
#include <cstdint>
#include <string_view>

namespace posthorn::queue {

// Continues a CRC: `crc` is the value for the octets before `data` (0 to start).
std::uint32_t crc32c(std::uint32_t crc, const void* data, std::size_t size);
inline std::uint32_t crc32c(std::uint32_t crc, std::string_view data) {
  return crc32c(crc, data.data(), data.size());
}
// The table version, always; exposed so tests can compare both.
std::uint32_t crc32c_portable(std::uint32_t crc, const void* data, std::size_t size);

}  // namespace posthorn::queue
