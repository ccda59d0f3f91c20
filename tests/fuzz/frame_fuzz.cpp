// libFuzzer target: a byte stream from an untrusted peer, through the frame
// splitter, the hand-written Envelope reader, the payload check and the
// protobuf bodies of every control frame. Nothing may crash, hang or leak.
#include <cstddef>
#include <cstdint>
#include <string_view>

#include "troupe/actors/remote.hpp"
#include "troupe/proto/troupe.pb.h"
#include "troupe/transport/frame.hpp"

using namespace troupe::transport;

namespace {
template <class M>
void parse_as(std::string_view body) {
  M m;
  (void)m.ParseFromArray(body.data(), static_cast<int>(body.size()));
}
} // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::string_view stream(reinterpret_cast<const char*>(data), size);
  framing_error err{};
  split_frames(stream, 1u << 16, err, [](const frame_view& f) {
    switch (static_cast<frame_kind>(f.kind)) {
      case frame_kind::message: {
        envelope_view v;
        if (decode_envelope(f.body, v)) (void)well_formed_protobuf(v.payload);
        break;
      }
      case frame_kind::hello: parse_as<troupe::wire::Hello>(f.body); break;
      case frame_kind::reply: parse_as<troupe::wire::Reply>(f.body); break;
      case frame_kind::lookup: parse_as<troupe::wire::Lookup>(f.body); break;
      case frame_kind::lookup_reply: parse_as<troupe::wire::LookupReply>(f.body); break;
      case frame_kind::down: parse_as<troupe::wire::Down>(f.body); break;
      case frame_kind::exit: parse_as<troupe::wire::Exit>(f.body); break;
      default: break;
    }
    return true;
  });
  (void)peek_frame_length(stream);
  return 0;
}
