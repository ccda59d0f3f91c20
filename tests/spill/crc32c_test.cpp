// Tests of troupe/spill/crc32c.hpp: published check values, chaining.
#include "troupe/spill/crc32c.hpp"

#include <gtest/gtest.h>

#include <array>
#include <cstdint>
#include <string>

namespace {

using troupe::spill::crc32c;

TEST(Crc32c, CheckValue) { EXPECT_EQ(crc32c(std::string_view("123456789")), 0xE3069283u); }

TEST(Crc32c, EmptyInputIsZero) { EXPECT_EQ(crc32c(std::string_view()), 0u); }

// RFC 3720 (iSCSI), appendix B.4.
TEST(Crc32c, Rfc3720Vectors) {
  std::array<unsigned char, 32> b{};
  EXPECT_EQ(crc32c(b.data(), b.size()), 0x8A9136AAu);
  b.fill(0xFF);
  EXPECT_EQ(crc32c(b.data(), b.size()), 0x62A8AB43u);
  for (std::size_t i = 0; i < b.size(); ++i) b[i] = static_cast<unsigned char>(i);
  EXPECT_EQ(crc32c(b.data(), b.size()), 0x46DD794Eu);
  for (std::size_t i = 0; i < b.size(); ++i) b[i] = static_cast<unsigned char>(31 - i);
  EXPECT_EQ(crc32c(b.data(), b.size()), 0x113FDB5Cu);
}

TEST(Crc32c, ChainingEqualsOneCall) {
  std::string s;
  for (int i = 0; i < 1000; ++i) s += static_cast<char>(i * 7 + 3);
  const std::uint32_t whole = crc32c(s);
  for (std::size_t cut : {0u, 1u, 3u, 8u, 13u, 500u, 999u, 1000u}) {
    const std::string_view v(s);
    EXPECT_EQ(crc32c(v.substr(cut), crc32c(v.substr(0, cut))), whole) << cut;
  }
}

TEST(Crc32c, EveryByteOffsetAndAlignmentAgreesWithBitwise) {
  // Slicing-by-8 against a plain bit-at-a-time loop, for every length 0..64
  // and every start offset 0..7.
  auto bitwise = [](const unsigned char* p, std::size_t n) {
    std::uint32_t c = 0xFFFFFFFFu;
    for (std::size_t i = 0; i < n; ++i) {
      c ^= p[i];
      for (int k = 0; k < 8; ++k) c = (c & 1u) != 0 ? (c >> 1) ^ 0x82F63B78u : c >> 1;
    }
    return ~c;
  };
  std::array<unsigned char, 80> buf{};
  for (std::size_t i = 0; i < buf.size(); ++i) buf[i] = static_cast<unsigned char>(i * 37 + 11);
  for (std::size_t start = 0; start < 8; ++start) {
    for (std::size_t n = 0; n <= 64; ++n) EXPECT_EQ(crc32c(buf.data() + start, n), bitwise(buf.data() + start, n));
  }
}

TEST(Crc32c, DetectsASingleFlippedBit) {
  std::string s(100, 'x');
  const std::uint32_t before = crc32c(s);
  s[50] ^= 0x10;
  EXPECT_NE(crc32c(s), before);
}

} // namespace
