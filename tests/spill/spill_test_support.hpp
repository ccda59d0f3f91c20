#pragma once
/// @file Helpers of the spill tests: a fresh temporary directory per test,
/// fixed-size records whose bytes depend on their index, and a drain.

#include <gtest/gtest.h>
#include <stdlib.h>

#include <algorithm>
#include <cstdint>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <stdexcept>
#include <string>
#include <system_error>
#include <vector>

#include "support/temp_dir.hpp"
#include "troupe/spill/format.hpp"
#include "troupe/spill/store.hpp"

namespace troupe::spill::test {

using troupe::test::temp_dir;

/// Segment file names in `dir`, sorted (oldest first).
inline std::vector<std::string> segment_files(const std::filesystem::path& dir) {
  std::vector<std::string> out;
  for (const auto& e : std::filesystem::directory_iterator(dir)) {
    if (format::parse_segment_file_name(e.path().filename().native())) out.push_back(e.path().filename());
  }
  std::sort(out.begin(), out.end());
  return out;
}

/// Sum of the segment file sizes in `dir`.
inline std::uint64_t segment_bytes_in(const std::filesystem::path& dir) {
  std::uint64_t n = 0;
  for (const auto& f : segment_files(dir)) n += std::filesystem::file_size(dir / f);
  return n;
}

// Fixed-size records: type "msg" + 52-byte payload = 73 bytes on disk, so a
// 4096-byte segment (8-byte header) holds exactly 56 of them.
inline constexpr std::string_view fixed_type = "msg";
inline constexpr std::size_t fixed_payload_bytes = 52;
inline constexpr std::uint64_t fixed_record_bytes = 73;
inline constexpr std::uint64_t small_segment = 4096;
inline constexpr std::uint64_t records_per_segment = 56;
static_assert(format::record_bytes(fixed_type.size(), fixed_payload_bytes) == fixed_record_bytes);
static_assert(format::segment_header_bytes + records_per_segment * fixed_record_bytes == small_segment);

/// The payload of record `i`: its index, repeated to 52 bytes.
inline std::string fixed_payload(std::uint64_t i) {
  char digits[24];
  std::snprintf(digits, sizeof digits, "%010llu|", static_cast<unsigned long long>(i));
  std::string p;
  while (p.size() < fixed_payload_bytes) p += digits;
  p.resize(fixed_payload_bytes);
  return p;
}

/// Options with 4 KiB segments.
inline store_options small_options(const std::filesystem::path& dir, std::uint64_t capacity = 1 << 20) {
  return {.dir = dir, .disk_capacity_bytes = capacity, .segment_bytes = small_segment};
}

/// Appends fixed records [from, to); every append must succeed.
inline void append_fixed(store& s, std::uint64_t from, std::uint64_t to) {
  for (std::uint64_t i = from; i < to; ++i) ASSERT_EQ(s.append(fixed_type, fixed_payload(i)), append_result::ok) << i;
}

/// One record copied out of the store.
struct record {
  std::string type_name;
  std::string payload;
  std::uint64_t sequence = 0;
};

/// Pops everything left, in order.
inline std::vector<record> drain(store& s) {
  std::vector<record> out;
  while (auto r = s.front()) {
    out.push_back({std::string(r->type_name), std::string(r->payload), r->sequence});
    s.pop();
  }
  return out;
}

/// The indices of fixed records drained, checking each one's bytes match its sequence.
inline std::vector<std::uint64_t> drain_fixed(store& s) {
  std::vector<std::uint64_t> out;
  for (const record& r : drain(s)) {
    EXPECT_EQ(r.type_name, fixed_type);
    EXPECT_EQ(r.payload, fixed_payload(r.sequence)) << "record " << r.sequence << " delivered with wrong bytes";
    out.push_back(r.sequence);
  }
  return out;
}

/// [from, to) as a vector.
inline std::vector<std::uint64_t> range(std::uint64_t from, std::uint64_t to) {
  std::vector<std::uint64_t> v;
  for (std::uint64_t i = from; i < to; ++i) v.push_back(i);
  return v;
}

/// Concatenation.
inline std::vector<std::uint64_t> operator+(std::vector<std::uint64_t> a, const std::vector<std::uint64_t>& b) {
  a.insert(a.end(), b.begin(), b.end());
  return a;
}

/// The bytes of a file, and writing them back (to damage a segment on purpose).
inline std::string read_bytes(const std::filesystem::path& p) {
  std::ifstream in(p, std::ios::binary);
  return {std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
}
inline void write_bytes(const std::filesystem::path& p, const std::string& bytes) {
  std::ofstream out(p, std::ios::binary | std::ios::trunc);
  out.write(bytes.data(), static_cast<std::streamsize>(bytes.size()));
}

/// Offset of fixed record `index` (0-based) within its segment file.
constexpr std::uint64_t record_offset(std::uint64_t index) {
  return format::segment_header_bytes + index * fixed_record_bytes;
}

/// Path of the segment file whose first record is `first`.
inline std::filesystem::path segment_path(const temp_dir& t, std::uint64_t first) {
  return t.path() / format::segment_file_name(first);
}

} // namespace troupe::spill::test
