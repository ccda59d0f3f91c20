#pragma once
/// @file CRC-32C (Castagnoli), the checksum of every spill record.

#include <cstddef>
#include <cstdint>
#include <string_view>

namespace troupe::spill {

/// CRC-32C (reflected polynomial 0x82F63B78, as in iSCSI and ext4) of `n`
/// bytes at `data`, continuing from `crc`: pass 0 to start, or the value
/// returned for the bytes before, so `crc32c(b, crc32c(a)) == crc32c(a + b)`.
/// Table-driven, eight bytes per step (slicing-by-8); no CPU instruction.
/// @threadsafe (a pure function).
[[nodiscard]] std::uint32_t crc32c(const void* data, std::size_t n, std::uint32_t crc = 0) noexcept;

/// CRC-32C of the bytes of `s`, continuing from `crc`. @threadsafe
[[nodiscard]] inline std::uint32_t crc32c(std::string_view s, std::uint32_t crc = 0) noexcept {
  return crc32c(s.data(), s.size(), crc);
}

} // namespace troupe::spill
