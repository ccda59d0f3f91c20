#pragma once
/// @file The on-disk format of a spill directory (see spill/README.md).
///
/// A directory holds segment files named by the sequence number of their
/// first record (`00000000000000000042.seg`, 20 digits) and one `cursor`
/// file. All integers are little-endian.
///
/// Segment file: an 8-byte header (u32 magic "TSPL", u32 version 1), then
/// records back to back:
///
///     u32 length   bytes after the crc field: 8 + 2 + type-name length + payload length
///     u32 crc32c   of the length field and of the `length` bytes after the crc field
///     u64 sequence first record = file name, then +1 per record
///     u16 type-name length
///     type name, payload
///
/// Cursor file: two 32-byte slots at offsets 0 and 512, written in turn:
///     u32 magic "TCUR", u32 version 1, u64 generation, u64 next sequence
///     to deliver, u32 zero, u32 crc32c of the 28 bytes before.
/// The valid slot with the higher generation counts.

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace troupe::spill::format {

/// "TSPL" read as a little-endian u32: first word of a segment file.
inline constexpr std::uint32_t segment_magic = 0x4C505354u;
/// "TCUR" read as a little-endian u32: first word of a cursor slot.
inline constexpr std::uint32_t cursor_magic = 0x52554354u;
/// Format version of segment files and cursor slots.
inline constexpr std::uint32_t version = 1;

/// Bytes of the segment header (magic, version).
inline constexpr std::size_t segment_header_bytes = 8;
/// Bytes of a record before its type name (length, crc, sequence, type-name length).
inline constexpr std::size_t record_header_bytes = 18;
/// Bytes counted by the length field besides the type name and payload.
inline constexpr std::uint32_t min_record_length = 10;
/// Largest type name.
inline constexpr std::size_t max_type_name_bytes = 0xFFFF;
/// Largest type name + payload (the length field is a u32).
inline constexpr std::uint64_t max_record_data_bytes = 0xFFFF'FFFFull - min_record_length;

/// Bytes a record takes in a segment file.
[[nodiscard]] constexpr std::uint64_t record_bytes(std::uint64_t type_name_bytes, std::uint64_t payload_bytes) noexcept {
  return record_header_bytes + type_name_bytes + payload_bytes;
}

/// Name of the cursor file.
inline constexpr std::string_view cursor_file_name = "cursor";
/// Bytes of one cursor slot, and where the second one starts.
inline constexpr std::size_t cursor_slot_bytes = 32;
inline constexpr std::size_t cursor_second_slot_offset = 512;

/// File name of the segment whose first record has `first_sequence`.
[[nodiscard]] std::string segment_file_name(std::uint64_t first_sequence);

/// The first sequence named by a segment file name, or nullopt when `name`
/// is not one (exactly 20 digits then ".seg").
[[nodiscard]] std::optional<std::uint64_t> parse_segment_file_name(std::string_view name) noexcept;

} // namespace troupe::spill::format
