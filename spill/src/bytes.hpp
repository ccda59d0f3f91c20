#pragma once
// Little-endian loads and stores for the on-disk format (private).

#include <cstddef>
#include <cstdint>

namespace troupe::spill::detail {

inline void store_le(unsigned char* p, std::uint64_t v, std::size_t bytes) noexcept {
  for (std::size_t i = 0; i < bytes; ++i) p[i] = static_cast<unsigned char>(v >> (8 * i));
}
inline std::uint64_t load_le(const unsigned char* p, std::size_t bytes) noexcept {
  std::uint64_t v = 0;
  for (std::size_t i = 0; i < bytes; ++i) v |= std::uint64_t{p[i]} << (8 * i);
  return v;
}
inline std::uint16_t load_le16(const unsigned char* p) noexcept { return static_cast<std::uint16_t>(load_le(p, 2)); }
inline std::uint32_t load_le32(const unsigned char* p) noexcept { return static_cast<std::uint32_t>(load_le(p, 4)); }
inline std::uint64_t load_le64(const unsigned char* p) noexcept { return load_le(p, 8); }

} // namespace troupe::spill::detail
