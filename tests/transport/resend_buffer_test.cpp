// The frame writer's resend buffer alone, over a stream the test controls:
// every message queued is in flight until it is settled, acknowledged (by
// the peer, or by the stream on a link without a resend buffer) or lost,
// and a resume writes again exactly what the peer did not deliver.
#include <gtest/gtest.h>

#include <cstdint>
#include <string>

#include "fake_stream.hpp"
#include "link/frame_writer.hpp"
#include "protocol/frame.hpp"

namespace transport_test {
namespace {

using troupe::transport::counter;
using troupe::transport::frame_kind;
using troupe::transport::frame_writer;

struct resend_fixture : ::testing::Test {
  fake_stream stream;
  recording_host h;
  troupe::transport::node_counters counters;
  troupe::transport::link_counters link{counters};
  frame_writer writer{stream, h, link, 1u << 20};

  /// One turn of a proxy: `n` MESSAGE frames.
  void messages(int n) {
    writer.lock();
    for (int i = 0; i < n; ++i) {
      troupe::transport::append_encoded_message_frame(writer.out(), 7, 0, 1, {}, 0, "payload");
    }
    writer.add_messages(static_cast<std::uint64_t>(n));
    writer.unlock_and_flush();
  }
  /// A control frame (sequenced, not a message).
  void heartbeat() {
    writer.append([](std::string& out) { troupe::transport::append_frame(out, frame_kind::heartbeat, ""); });
  }
  /// Plays the I/O thread until nothing is left to write.
  void write_all() {
    while (h.posts > 0) {
      --h.posts;
      writer.write_pending();
      if (stream.pending_done) stream.complete_write();
    }
  }
  std::uint64_t acknowledged() const { return counters.get(counter::messages_acknowledged); }
  /// The numbers of the sequenced frames in `bytes`, in order.
  static std::vector<std::uint32_t> numbers(std::string_view bytes) {
    std::vector<std::uint32_t> seqs;
    troupe::transport::walk_frames(bytes, [&](std::uint8_t kind, std::uint32_t seq, std::size_t, std::size_t) {
      if (troupe::transport::sequenced(kind)) seqs.push_back(seq);
      return true;
    });
    return seqs;
  }
};

TEST_F(resend_fixture, MessagesStayInFlightUntilThePeerAcknowledgesThem) {
  writer.retain();
  messages(3);   // frames 1..3
  heartbeat();   // frame 4: not a message
  messages(2);   // frames 5, 6
  EXPECT_EQ(writer.in_flight_messages(), 5u);
  EXPECT_EQ(acknowledged(), 0u) << "written is not delivered on a link that resends";
  // Frames 1..6 went in one chunk; an acknowledgement of its first part
  // settles the messages there at once.
  ASSERT_TRUE(writer.acked(4));
  EXPECT_EQ(acknowledged(), 3u);
  EXPECT_EQ(writer.in_flight_messages(), 2u);
  ASSERT_TRUE(writer.acked(6));
  EXPECT_EQ(writer.in_flight_messages(), 0u);
  EXPECT_EQ(acknowledged(), 5u);
  EXPECT_FALSE(writer.acked(7)) << "frame 7 was never sent";
}

TEST_F(resend_fixture, FramesWrittenAfterAnAcknowledgementDoNotHoldItsMessagesInFlight) {
  // The peer acknowledges every message, but each time a heartbeat (its
  // answer, or our own) has joined the chunk since: the chunk is never
  // acknowledged whole, and its messages must not stay in flight for that.
  writer.retain();
  messages(3);  // frames 1..3
  for (std::uint64_t delivered = 3; delivered < 8; ++delivered) {
    heartbeat();  // frame delivered + 1, written into the same chunk
    ASSERT_TRUE(writer.acked(delivered));
    EXPECT_EQ(acknowledged(), 3u);
    EXPECT_EQ(writer.in_flight_messages(), 0u);
  }
  // What the peer did not deliver is still what a resume writes again.
  writer.detach();
  fake_stream next;
  const auto resent = writer.attach(next, "", 7);
  ASSERT_TRUE(resent.has_value());
  EXPECT_EQ(numbers(next.written), (std::vector<std::uint32_t>{8}));
  EXPECT_EQ(acknowledged(), 3u) << "nothing counted twice";
}

TEST_F(resend_fixture, AnAcknowledgementWhileTheLastPieceIsWrittenReleasesTheBufferOnceWritten) {
  writer.retain();
  stream.takes = 10;  // part of the batch: the rest is the I/O thread's
  messages(4);
  ASSERT_EQ(h.posts, 1);
  // The peer got the frames before the write completed here (it reads as
  // the bytes arrive): the buffer must not wait for another acknowledgement.
  stream.takes = -1;
  writer.write_pending();
  ASSERT_TRUE(writer.acked(4));
  stream.complete_write();
  EXPECT_EQ(writer.in_flight_messages(), 0u);
  EXPECT_EQ(acknowledged(), 4u);
}

TEST_F(resend_fixture, AResumeWritesAgainWhatThePeerDidNotDeliverAndSettlesTheRest) {
  writer.retain();
  messages(5);  // frames 1..5
  writer.detach();
  messages(1);  // frame 6 waits for the new carrier
  EXPECT_EQ(writer.in_flight_messages(), 6u);
  fake_stream next;
  const auto resent = writer.attach(next, "", 2);  // the peer delivered 1 and 2
  ASSERT_TRUE(resent.has_value());
  EXPECT_EQ(*resent, 3u) << "3, 4 and 5 again; 6 was never written";
  EXPECT_EQ(numbers(next.written), (std::vector<std::uint32_t>{3, 4, 5, 6}));
  EXPECT_EQ(acknowledged(), 2u);
  EXPECT_EQ(writer.in_flight_messages(), 4u);
  // The peer is gone for good before acknowledging more: the rest is lost.
  EXPECT_EQ(writer.settle_at_end(false), 4u);
  EXPECT_EQ(writer.in_flight_messages(), 0u);
  EXPECT_EQ(acknowledged(), 2u);
}

TEST_F(resend_fixture, AResumeClaimingFramesNeverSentIsRefused) {
  writer.retain();
  messages(2);
  writer.detach();
  fake_stream next;
  EXPECT_FALSE(writer.attach(next, "", 3).has_value());
}

TEST_F(resend_fixture, AGracefulEndCountsWhatTheStreamTookAsDelivered) {
  writer.retain();
  messages(3);
  ASSERT_TRUE(writer.acked(1));  // the first of the chunk's three
  EXPECT_EQ(acknowledged(), 1u);
  stream.takes = 0;
  messages(2);  // not written
  EXPECT_EQ(writer.settle_at_end(true), 2u) << "only the unwritten are lost";
  EXPECT_EQ(acknowledged(), 3u);
  EXPECT_EQ(writer.in_flight_messages(), 0u);
}

TEST_F(resend_fixture, WithoutAResendBufferWhatTheStreamTookIsDeliveredAndTheRestLost) {
  messages(2);  // taken whole at once
  EXPECT_EQ(acknowledged(), 2u);
  EXPECT_EQ(writer.in_flight_messages(), 0u);
  // Three frames, the stream takes the first and part of the second.
  std::string one;
  troupe::transport::append_encoded_message_frame(one, 7, 0, 1, {}, 0, "payload");
  stream.takes = static_cast<long>(one.size() + 3);
  messages(3);
  EXPECT_EQ(writer.in_flight_messages(), 3u);
  // The link ends: a frame begun in the stream counts as delivered (the
  // peer may have it whole), the one not begun as lost.
  EXPECT_EQ(writer.settle_at_end(false), 1u);
  EXPECT_EQ(acknowledged(), 4u);
  EXPECT_EQ(writer.in_flight_messages(), 0u);
}

} // namespace
} // namespace transport_test
