// The frame writer alone, over a stream the test controls: direct writes,
// the rest left to the I/O thread in pieces, the water marks that park a
// proxy and wake it, and the bounds that end a connection whose peer does
// not read.
#include <gtest/gtest.h>

#include <thread>

#include "fake_stream.hpp"
#include "link/frame_writer.hpp"
#include "support/proxy_turns.hpp"

namespace transport_test {
namespace {

using troupe::transport::close_reason;
using troupe::transport::counter;
using troupe::transport::frame_writer;

using host = recording_host;

std::string bytes_of(std::size_t n, char c) { return std::string(n, c); }

struct writer_fixture : ::testing::Test {
  fake_stream stream;
  host h;
  troupe::transport::node_counters counters;
  troupe::transport::link_counters link{counters};
  frame_writer writer{stream, h, link, 1u << 20};
  void append(const std::string& frame) {
    writer.append([&](std::string& out) { out += frame; });
  }
  /// Plays the I/O thread: writes what was left to it until nothing is.
  void write_all() {
    while (h.posts > 0) {
      --h.posts;
      writer.write_pending();
      stream.complete_write();
    }
  }
};

TEST_F(writer_fixture, WritesDirectlyWhenTheStreamTakesAll) {
  append("one");
  append("two");
  EXPECT_EQ(stream.written, "onetwo");
  EXPECT_EQ(stream.direct_writes, 2);
  EXPECT_EQ(h.posts, 0) << "nothing left for the I/O thread";
  EXPECT_EQ(counters.get(counter::writes), 2u);
  EXPECT_EQ(counters.get(counter::frames_out), 2u);
  EXPECT_EQ(counters.get(counter::bytes_out), 6u);
  EXPECT_EQ(link.own(counter::writes), 2u);  // the link's share, and the node's
  EXPECT_EQ(link.own(counter::bytes_out), 6u);
  EXPECT_FALSE(writer.pending());
}

TEST_F(writer_fixture, WhatTheStreamDidNotTakeGoesThroughTheIOThreadInOrder) {
  stream.takes = 3;
  append("abcdefghij");
  EXPECT_EQ(stream.written, "abc");
  EXPECT_EQ(h.posts, 1);
  EXPECT_TRUE(writer.pending());
  append("KLM");  // while the rest is being written: queued behind it, no direct write
  EXPECT_EQ(stream.direct_writes, 1);
  stream.takes = -1;
  write_all();
  EXPECT_EQ(stream.written, "abcdefghijKLM");
  EXPECT_FALSE(writer.pending());
  EXPECT_EQ(counters.get(counter::bytes_out), 13u);
}

TEST_F(writer_fixture, ALargeBufferIsWrittenInPiecesOfAtMostWritePiece) {
  stream.takes = 0;
  const std::size_t total = 2 * frame_writer::write_piece + 100;
  append(bytes_of(total, 'p'));
  std::vector<std::size_t> pieces;
  while (h.posts > 0) {
    --h.posts;
    writer.write_pending();
    pieces.push_back(stream.pending_size);
    stream.complete_write();
  }
  EXPECT_EQ(pieces, (std::vector<std::size_t>{frame_writer::write_piece, frame_writer::write_piece, 100}));
  EXPECT_EQ(stream.written.size(), total);
}

TEST_F(writer_fixture, UnsentOutputPastTheBoundEndsTheConnection) {
  // Output the reader makes does not wait for congestion: a peer that asks
  // and never reads must not make us hold it without bound.
  writer.locked([&] { writer.set_max_frame(1024); });
  stream.takes = 0;
  append("x");  // now writing: everything after is unsent
  const std::size_t limit = frame_writer::unsent_limit(1024);
  append(bytes_of(limit - 1, 'r'));
  EXPECT_TRUE(h.ends.empty());
  append("rr");
  ASSERT_EQ(h.ends.size(), 1u);
  EXPECT_EQ(h.ends[0].first, close_reason::write_stall);
  EXPECT_EQ(h.ends[0].second, std::to_string(limit + 2) + " bytes unsent");
  append("after");  // closed: nothing more
  EXPECT_FALSE(writer.pending());
}

TEST_F(writer_fixture, AWriteThatDoesNotMoveForTheTimeoutEndsTheConnection) {
  stream.takes = 0;
  append("stuck");
  EXPECT_FALSE(writer.check_stalled(std::chrono::hours(1)));
  const auto since = std::chrono::steady_clock::now();
  while (std::chrono::steady_clock::now() == since) std::this_thread::yield();  // the clock moved on
  EXPECT_TRUE(writer.check_stalled(std::chrono::milliseconds(0)));
  ASSERT_EQ(h.ends.size(), 1u);
  EXPECT_EQ(h.ends[0].first, close_reason::write_stall);
  EXPECT_EQ(h.ends[0].second.rfind("no write completed for ", 0), 0u) << h.ends[0].second;
}

TEST_F(writer_fixture, AFailedWriteEndsTheConnectionWithItsReason) {
  stream.fails_with = EPIPE;
  append("x");
  ASSERT_EQ(h.ends.size(), 1u);
  EXPECT_EQ(h.ends[0].first, close_reason::write_failed);
  EXPECT_EQ(h.ends[0].second, std::strerror(EPIPE));
  EXPECT_TRUE(writer.locked([&] { return writer.closed(); }));
}

TEST_F(writer_fixture, ASharedMemoryPeerMovingOurIndexIsABadFrame) {
  stream.fails_with = EPROTO;  // what the shm stream says when the peer's index is impossible
  append("x");
  ASSERT_EQ(h.ends.size(), 1u);
  EXPECT_EQ(h.ends[0].first, close_reason::bad_frame);
}

TEST_F(writer_fixture, DescriptorsAheadOfTheirFramesAreBounded) {
  stream.takes = 0;
  writer.lock();
  for (std::uint32_t i = 0; i < frame_writer::max_unwritten_fds; ++i) {
    ASSERT_TRUE(writer.may_pass_fd()) << i;
    writer.passed_fd();
    writer.out() += "t";
  }
  EXPECT_FALSE(writer.may_pass_fd()) << "the receiver stops reading its control socket at 256";
  writer.unlock_and_flush();
  stream.takes = -1;
  write_all();
  EXPECT_TRUE(writer.locked([&] { return writer.may_pass_fd(); })) << "their frames are in the stream now";
}

// -- congestion, with a real proxy that parks on the writer ----------------------------

/// A link that writes each message's payload as it is, and parks on the writer.
struct writer_link final : troupe::detail::proxy_link {
  explicit writer_link(frame_writer& w) : writer(w) {}
  void begin_turn(troupe::detail::remote_proxy&) override { writer.lock(); }
  void end_turn(troupe::detail::remote_proxy&) noexcept override { writer.unlock_and_flush(); }
  bool ready(troupe::detail::remote_proxy&) noexcept override { return !writer.congested(); }
  bool park(troupe::detail::remote_proxy& p) override {
    return writer.locked([&] { return writer.park(troupe::detail::cell_ptr(&p)); });
  }
  void forward(troupe::detail::remote_proxy&, troupe::detail::envelope* e) override {
    writer.out() += static_cast<troupe::detail::wire_envelope*>(e)->payload();
    e->ops->destroy(e);
  }
  void signal(troupe::detail::remote_proxy&, const troupe::detail::control_signal&) override {}
  void forget(troupe::detail::remote_proxy&) noexcept override {}
  frame_writer& writer;
};

struct blob {
  std::string bytes;
};
struct blob_sink : troupe::interface {
  void on(blob);
};

} // namespace
} // namespace transport_test

template <>
struct troupe::codec<transport_test::blob> {
  static constexpr std::string_view name = "transport_test.blob";
  static void encode(const transport_test::blob& b, std::string& out) { out += b.bytes; }
  static bool decode(std::string_view in, transport_test::blob& b) {
    b.bytes = std::string(in);
    return true;
  }
};

namespace transport_test {
namespace {

TEST_F(writer_fixture, ACongestedWriterParksAProxyAndWakesItBelowTheLowWaterMark) {
  troupe::actor_system sys(troupe::system_config{.threads = 1});
  auto [turns, cell] = troupe::test::proxy_turns::make<blob_sink>(sys, std::make_shared<writer_link>(writer), 7);
  auto to = troupe::actor_ref<blob_sink>::from_cell(cell.get());
  stream.takes = 0;  // the peer reads nothing for now
  const std::size_t piece = frame_writer::write_piece;
  ASSERT_EQ(to.tell(blob{bytes_of(frame_writer::high_water + piece, 'a')}), troupe::send_result::ok);
  turns->run();
  EXPECT_TRUE(writer.locked([&] { return writer.congested(); }));
  ASSERT_EQ(to.tell(blob{"second"}), troupe::send_result::ok);
  turns->run();
  EXPECT_EQ(turns->scheduled(), 0) << "parked on the writer";
  // The I/O thread writes piece by piece; the proxy wakes once less than
  // the low-water mark is left, not before (and not only at the buffer's end).
  stream.takes = -1;
  std::size_t left = frame_writer::high_water + piece;
  while (h.posts > 0 && turns->scheduled() == 0) {
    --h.posts;
    writer.write_pending();
    left -= stream.pending_size;
    stream.complete_write();
    if (turns->scheduled() == 0) {
      EXPECT_GE(left, frame_writer::low_water);
    }
  }
  ASSERT_EQ(turns->scheduled(), 1);
  EXPECT_LT(left, frame_writer::low_water);
  EXPECT_GT(left, 0u) << "woken while the buffer's last pieces are still being written";
  write_all();
  turns->run();
  EXPECT_EQ(stream.written.substr(stream.written.size() - 6), "second");
  static_cast<troupe::detail::remote_proxy&>(*cell).node_down("test over");
  turns->run();
}

TEST_F(writer_fixture, ClosingWritesNothingMoreAndHandsBackTheParked) {
  troupe::actor_system sys(troupe::system_config{.threads = 1});
  auto [turns, cell] = troupe::test::proxy_turns::make<blob_sink>(sys, std::make_shared<writer_link>(writer), 7);
  stream.takes = 0;
  writer.lock();
  writer.out() += bytes_of(frame_writer::high_water + 1, 'c');
  writer.unlock_and_flush();
  ASSERT_TRUE(writer.locked([&] { return writer.park(cell); }));
  auto parked = writer.close();
  ASSERT_EQ(parked.size(), 1u);
  EXPECT_EQ(parked[0], cell);
  append("late");
  writer.write_pending();  // the I/O thread finds it closed: no write
  EXPECT_EQ(stream.pending_done, nullptr);
  EXPECT_EQ(stream.written, "");
  static_cast<troupe::detail::remote_proxy&>(*cell).node_down("test over");
  turns->run();
}

} // namespace
} // namespace transport_test
