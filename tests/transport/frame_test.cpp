// Framing and the hand-written Envelope codec, checked against protoc's.
#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "troupe/proto/troupe.pb.h"
#include "protocol/frame.hpp"

namespace {
using namespace troupe::transport;

TEST(Frame, HandWrittenEnvelopeIsWhatProtobufReads) {
  for (std::size_t payload_size : {0u, 5u, 127u, 128u, 300u, 70000u}) {
    const std::string payload(payload_size, 'p');
    std::string out;
    append_message_frame(out, 0x1122334455667788ull, 9, 3, "troupe_test.Ping", 77,
                         [&](std::string& o) { o += payload; });
    framing_error err{};
    std::vector<frame_view> frames;
    const auto used = split_frames(out, default_max_frame_bytes, err, [&](const frame_view& f) {
      frames.push_back(f);
      return true;
    });
    ASSERT_EQ(err, framing_error::none);
    ASSERT_EQ(used, out.size());
    ASSERT_EQ(frames.size(), 1u);
    EXPECT_EQ(frames[0].kind, static_cast<std::uint8_t>(frame_kind::message));
    troupe::wire::Envelope e;
    ASSERT_TRUE(e.ParseFromArray(frames[0].body.data(), static_cast<int>(frames[0].body.size())));
    EXPECT_EQ(e.receiver(), 0x1122334455667788ull);
    EXPECT_EQ(e.sender(), 9u);
    EXPECT_EQ(e.type_id(), 3u);
    EXPECT_EQ(e.type_name(), "troupe_test.Ping");
    EXPECT_EQ(e.request_id(), 77u);
    EXPECT_EQ(e.payload(), payload);
  }
}

TEST(Frame, EncodedPayloadFramesAreTheSameBytes) {
  // The stack-built header of an encoded payload matches the general writer byte for byte.
  for (std::size_t payload_size : {0u, 5u, 127u, 128u, 300u, 70000u}) {
    for (std::uint64_t sender : {0ull, 9ull}) {
      for (std::uint64_t request : {0ull, 77ull, ~0ull}) {
        for (std::string_view name : {std::string_view(), std::string_view("troupe_test.Ping")}) {
          const std::string payload(payload_size, 'p');
          std::string general = "prefix", encoded = "prefix";
          append_message_frame(general, 0x1122334455667788ull, sender, 0xFFFFFFFFu, name, request,
                               [&](std::string& o) { o += payload; });
          append_encoded_message_frame(encoded, 0x1122334455667788ull, sender, 0xFFFFFFFFu, name, request, payload);
          ASSERT_EQ(encoded, general) << payload_size << " bytes, sender " << sender << ", request " << request;
        }
      }
    }
  }
}

TEST(Frame, ProtobufEnvelopeIsWhatTheHandReaderReads) {
  troupe::wire::Envelope e;
  e.set_receiver(42);
  e.set_type_id(7);
  e.set_payload(std::string(200, 'x'));
  e.set_request_id(1u << 20);
  std::string body = e.SerializeAsString();
  body += std::string("\x78\x01", 2);  // an unknown varint field 15: skipped
  envelope_view v;
  ASSERT_TRUE(decode_envelope(body, v));
  EXPECT_EQ(v.receiver, 42u);
  EXPECT_EQ(v.sender, 0u);
  EXPECT_EQ(v.type_id, 7u);
  EXPECT_TRUE(v.type_name.empty());
  EXPECT_EQ(v.request_id, 1u << 20);
  EXPECT_EQ(v.payload, std::string(200, 'x'));
}

TEST(Frame, MalformedEnvelopesAreRejected) {
  envelope_view v;
  EXPECT_FALSE(decode_envelope(std::string("\x32\x05\x01", 3), v));          // payload longer than the body
  EXPECT_FALSE(decode_envelope(std::string("\x09\x01\x02", 3), v));          // truncated fixed64
  EXPECT_FALSE(decode_envelope(std::string("\x0b", 1), v));                  // group wire type
  EXPECT_FALSE(decode_envelope(std::string("\x18\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff\x01", 12), v));  // 11-byte varint
  EXPECT_FALSE(decode_envelope(std::string("\x08\x01", 2), v));              // field 1 with the wrong wire type
  EXPECT_FALSE(decode_envelope(std::string("\x00", 1), v));                  // field number 0
}

TEST(Frame, TheTraceFieldIsProtobufsAndItsSizeIsChecked) {
  // What the hand writer appends is what protobuf writes for field 7.
  const troupe::trace_context t = troupe::trace_context::new_trace();
  std::string frame;
  append_encoded_message_frame(frame, 42, 0, 7, {}, 0, "payload");
  append_frame_trace(frame, 0, t);
  std::string bytes;
  troupe::detail::put_trace(bytes, t);
  troupe::wire::Envelope e;
  e.set_receiver(42);
  e.set_type_id(7);
  e.set_payload("payload");
  e.set_trace(bytes);
  const std::string_view body = std::string_view(frame).substr(frame_header_bytes + seq_bytes);
  EXPECT_EQ(body, e.SerializeAsString());
  EXPECT_EQ(peek_frame_length(frame), frame.size() - 4);
  envelope_view v;
  ASSERT_TRUE(decode_envelope(body, v));
  EXPECT_EQ(v.payload, "payload");
  EXPECT_EQ(troupe::detail::get_trace(v.trace), t);
  // A trace field of another size is a malformed envelope (the frame is bad).
  e.set_trace(std::string(24, '\x01'));
  EXPECT_FALSE(decode_envelope(e.SerializeAsString(), v));
  e.set_trace(std::string(26, '\x01'));
  EXPECT_FALSE(decode_envelope(e.SerializeAsString(), v));
  // Zero ids decode (the frame is well formed) but start no trace.
  e.set_trace(std::string(25, '\0'));
  const std::string zeros = e.SerializeAsString();  // v points into it
  ASSERT_TRUE(decode_envelope(zeros, v));
  EXPECT_FALSE(troupe::detail::get_trace(v.trace).has_value());
}

TEST(Frame, SplitsManyFramesAndWaitsForTheRest) {
  std::string out;
  for (int i = 0; i < 3; ++i) append_frame(out, frame_kind::heartbeat, std::string(10, char('a' + i)));
  framing_error err{};
  int n = 0;
  // All but the last byte: two complete frames, the third waits.
  auto used = split_frames(std::string_view(out).substr(0, out.size() - 1), 1024, err, [&](const frame_view& f) {
    EXPECT_EQ(f.body, std::string(10, char('a' + n)));
    ++n;
    return true;
  });
  EXPECT_EQ(err, framing_error::none);
  EXPECT_EQ(n, 2);
  EXPECT_EQ(used, 2 * (frame_header_bytes + seq_bytes + 10));
}

TEST(Frame, TheWriterNumbersSequencedFramesOnlyAndTheSplitReadsTheNumber) {
  std::string out;
  append_frame(out, frame_kind::refuse, std::string("no"));  // a handshake frame: not numbered
  for (int i = 0; i < 3; ++i) append_frame(out, frame_kind::heartbeat, std::string(3, char('a' + i)));
  out.append("\x09\x00\x00", 3);  // the start of a frame not yet whole: left alone
  const std::string tail = out.substr(out.size() - 3);
  EXPECT_EQ(stamp_frames(out, 0, 0xFFFFFFFFull), 0x100000002ull);  // three numbers, across the low half's wrap
  EXPECT_EQ(out.substr(out.size() - 3), tail);
  framing_error err{};
  std::vector<std::uint32_t> seqs;
  split_frames(out, 1024, err, [&](const frame_view& f) {
    seqs.push_back(f.seq);
    if (f.kind == static_cast<std::uint8_t>(frame_kind::heartbeat)) {
      EXPECT_EQ(f.body.size(), 3u);
    }
    return true;
  });
  EXPECT_EQ(err, framing_error::none);
  EXPECT_EQ(seqs, (std::vector<std::uint32_t>{0, 0xFFFFFFFFu, 0, 1}));
}

TEST(Frame, ASequencedFrameTooShortForItsNumberIsAFramingError) {
  std::string out("\x02\x00\x00\x00\x1e\x01", 6);  // HEARTBEAT of length 2: no room for a number
  framing_error err{};
  split_frames(out, 1024, err, [](const frame_view&) { return true; });
  EXPECT_EQ(err, framing_error::short_frame);
}

TEST(Frame, EmptyAndOversizeLengthsAreErrors) {
  framing_error err{};
  const std::string zero("\0\0\0\0\x1e", 5);
  split_frames(zero, 1024, err, [](const frame_view&) { return true; });
  EXPECT_EQ(err, framing_error::empty_frame);
  const std::string huge("\xff\xff\xff\x7f\x0a", 5);
  split_frames(huge, 1024, err, [](const frame_view&) { return true; });
  EXPECT_EQ(err, framing_error::oversize);
  EXPECT_EQ(peek_frame_length(huge), 0x7fffffffu);
}

} // namespace
