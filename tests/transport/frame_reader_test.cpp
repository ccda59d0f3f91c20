// The frame reader alone, over bytes the test hands it: how it splits,
// where the limit switches from the handshake's to the connection's, what
// a bad length does, how its buffer grows and shrinks, and the read token
// of a polled stream.
#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "fake_stream.hpp"
#include "link/frame_reader.hpp"

namespace transport_test {
namespace {

using troupe::transport::frame_kind;
using troupe::transport::frame_reader;
using troupe::transport::frame_view;

std::string frame(std::uint8_t kind, const std::string& body) {
  std::string f;
  troupe::transport::append_frame(f, static_cast<frame_kind>(kind), body);
  return f;
}

/// Records frames; the test says when the handshake ends and the connection stops.
struct sink {
  std::vector<std::pair<std::uint8_t, std::string>> frames;
  std::vector<std::string> failures;
  int reads_done = 0;
  bool is_established = false;
  bool is_stopped = false;
  /// The frame (by count) after which the handshake ends.
  std::size_t establish_after = ~std::size_t{0};
  std::function<void()> during_frame;

  bool on_frame(const frame_view& f) {
    frames.emplace_back(f.kind, std::string(f.body));
    if (during_frame) during_frame();
    if (frames.size() == establish_after) {
      is_established = true;
      return false;  // as a connection does: the split starts again with the new limit
    }
    return !is_stopped;
  }
  bool established() const noexcept { return is_established; }
  bool stopped() const noexcept { return is_stopped; }
  void framing_failed(std::string detail) {
    failures.push_back(std::move(detail));
    is_stopped = true;
  }
  void read_failed(const boost::system::error_code& ec) {
    failures.push_back("read: " + ec.message());
    is_stopped = true;
  }
  void read_done() noexcept { ++reads_done; }
};
static_assert(troupe::transport::frame_sink<sink>);

struct reader_fixture : ::testing::Test {
  fake_stream stream;
  sink s;
  troupe::transport::node_counters counters;
  troupe::transport::link_counters link{counters};
  frame_reader reader{stream, link, 1u << 20};
  /// Hands `bytes` to the reader as one read (as the I/O thread does).
  bool arrive(const std::string& bytes) {
    EXPECT_LE(bytes.size(), reader.room());
    bytes.copy(reader.space(), bytes.size());
    return reader.consume(bytes.size(), s);
  }
  /// `bytes` in reads as large as the buffer takes each time.
  bool arrive_in_reads(std::string_view bytes) {
    while (!bytes.empty()) {
      const std::size_t n = std::min(bytes.size(), reader.room());
      if (!arrive(std::string(bytes.substr(0, n)))) return false;
      bytes.remove_prefix(n);
    }
    return true;
  }
};

TEST_F(reader_fixture, SplitsFramesWhateverTheReadBoundaries) {
  s.is_established = true;
  const std::string bytes = frame(10, "first") + frame(30, "") + frame(11, std::string(300, 'x'));
  for (char c : bytes) ASSERT_TRUE(arrive(std::string(1, c)));  // a byte per read
  ASSERT_EQ(s.frames.size(), 3u);
  EXPECT_EQ(s.frames[0], std::make_pair(std::uint8_t{10}, std::string("first")));
  EXPECT_EQ(s.frames[1], std::make_pair(std::uint8_t{30}, std::string()));
  EXPECT_EQ(s.frames[2].second, std::string(300, 'x'));
  EXPECT_EQ(counters.get(troupe::transport::counter::frames_in), 3u);
  EXPECT_EQ(counters.get(troupe::transport::counter::bytes_in), bytes.size());
  EXPECT_EQ(link.own(troupe::transport::counter::bytes_in), bytes.size());  // the link's share, and the node's
  EXPECT_EQ(link.own(troupe::transport::counter::frames_in), 3u);
  EXPECT_EQ(s.reads_done, static_cast<int>(bytes.size())) << "every read ends with read_done";
}

TEST_F(reader_fixture, BeforeTheHandshakeALargeLengthIsRefused) {
  const std::string big = frame(1, std::string(frame_reader::handshake_max_frame, 'h'));  // one byte over
  EXPECT_FALSE(arrive(big.substr(0, 4)));
  ASSERT_EQ(s.failures.size(), 1u);
  EXPECT_EQ(s.failures[0], "frame length 4097 exceeds the maximum of 4096 bytes before the handshake");
  EXPECT_TRUE(s.frames.empty());
}

TEST_F(reader_fixture, TheLimitGrowsWhereTheHandshakeEndsWithinOneRead) {
  s.establish_after = 2;  // HELLO, then WELCOME: established
  const std::string after = std::string(64 << 10, 'm');  // far over the handshake's limit
  // The first read holds both handshake frames and the next one's length.
  ASSERT_TRUE(arrive_in_reads(frame(1, "hello") + frame(3, "") + frame(10, after)));
  ASSERT_EQ(s.frames.size(), 3u) << "the split went on past the switch, with the larger limit";
  EXPECT_EQ(s.frames[2].second.size(), after.size());
  EXPECT_TRUE(s.failures.empty());
}

TEST_F(reader_fixture, AStrangerCostsAFewHundredBytesUntilTheHandshakeEnds) {
  s.establish_after = 2;
  EXPECT_EQ(reader.capacity(), frame_reader::handshake_chunk);
  ASSERT_TRUE(arrive(frame(1, "hello")));
  EXPECT_EQ(reader.capacity(), frame_reader::handshake_chunk);
  ASSERT_TRUE(arrive(frame(3, "")));
  reader.open_up();  // what the connection does as it is established
  ASSERT_TRUE(arrive(frame(10, "x")));
  EXPECT_EQ(reader.capacity(), frame_reader::read_chunk) << "an established session reads in large chunks";
}

TEST_F(reader_fixture, AfterTheHandshakeTheConnectionsLimitHolds) {
  s.is_established = true;
  std::string header(4, '\0');
  const std::uint32_t len = (1u << 20) + 1;
  for (int i = 0; i < 4; ++i) header[i] = static_cast<char>(len >> (8 * i));
  EXPECT_FALSE(arrive(frame(10, "ok") + header));
  ASSERT_EQ(s.frames.size(), 1u) << "what came before the bad length is handled";
  ASSERT_EQ(s.failures.size(), 1u);
  EXPECT_EQ(s.failures[0], "frame length 1048577 exceeds the maximum of 1048576 bytes");
}

TEST_F(reader_fixture, AZeroLengthIsRefused) {
  s.is_established = true;
  EXPECT_FALSE(arrive(std::string(4, '\0')));
  ASSERT_EQ(s.failures.size(), 1u);
  EXPECT_EQ(s.failures[0], "frame of length 0");
}

TEST_F(reader_fixture, TheBufferGrowsForOneLargeFrameAndShrinksAfterIt) {
  s.is_established = true;
  const std::size_t normal = reader.capacity();
  const std::string big = frame(10, std::string(3 * normal, 'b'));
  std::size_t at = 0;
  while (at < big.size()) {
    const std::size_t n = std::min(reader.room(), big.size() - at);
    ASSERT_TRUE(arrive(big.substr(at, n)));
    at += n;
  }
  ASSERT_EQ(s.frames.size(), 1u);
  EXPECT_EQ(s.frames[0].second.size(), 3 * normal);
  ASSERT_TRUE(arrive(frame(10, "small")));
  EXPECT_EQ(reader.capacity(), normal) << "one huge frame pins no memory after it";
}

TEST_F(reader_fixture, AFrameAnnouncedLargeCostsWhatHasArrivedNotWhatItAnnounced) {
  // Before, the buffer took the announced length at once: twenty peers
  // announcing 16 MiB frames and trickling them made a node hold 340 MB.
  s.is_established = true;
  reader.open_up();
  ASSERT_TRUE(arrive(frame(10, "x")));  // the session's reads are large now
  const std::string big = frame(10, std::string((1u << 20) - 8, 'b'));  // just under the limit
  const std::size_t sent = 300u << 10;
  std::size_t at = 0;
  while (at < sent) {
    const std::size_t n = std::min(reader.room(), sent - at);
    ASSERT_TRUE(arrive(big.substr(at, n)));
    at += n;
  }
  EXPECT_LE(reader.capacity(), 2 * sent) << "the buffer holds at most twice what arrived";
  EXPECT_LT(reader.capacity(), big.size());
}

TEST_F(reader_fixture, AStoppedConnectionHandlesNoMoreFrames) {
  s.is_established = true;
  s.during_frame = [&] { s.is_stopped = s.frames.size() == 2; };
  EXPECT_FALSE(arrive(frame(10, "1") + frame(10, "2") + frame(10, "3")));
  EXPECT_EQ(s.frames.size(), 2u);
}

TEST_F(reader_fixture, APolledStreamIsDrainedUnderOneReadToken) {
  s.is_established = true;
  stream.polled = true;
  stream.arriving = {frame(10, "a"), frame(10, "b") + frame(10, "c")};
  // A second reader arriving while the first holds the token backs off.
  frame_reader::drained nested = frame_reader::drained::nothing;
  s.during_frame = [&] {
    if (s.frames.size() == 1) nested = reader.drain(s);
  };
  EXPECT_EQ(reader.drain(s), frame_reader::drained::some);
  EXPECT_EQ(nested, frame_reader::drained::busy);
  EXPECT_EQ(s.frames.size(), 3u);
  EXPECT_EQ(reader.drain(s), frame_reader::drained::nothing) << "the token was let go";
  stream.read_error = boost::asio::error::eof;
  EXPECT_EQ(reader.drain(s), frame_reader::drained::nothing);
  ASSERT_EQ(s.failures.size(), 1u);
  EXPECT_EQ(s.failures[0], "read: " + boost::system::error_code(boost::asio::error::eof).message());
}

} // namespace
} // namespace transport_test
