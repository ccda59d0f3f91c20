// libFuzzer target: a byte stream from an untrusted peer, through the frame
// splitter, the hand-written Envelope reader, the payload check and the
// control-frame parsers (protocol/control_codec.hpp). Nothing may crash, hang or leak.
#include <cstddef>
#include <cstdint>
#include <string_view>

#include "troupe/proto/troupe.pb.h"
#include "protocol/control_codec.hpp"
#include "protocol/frame.hpp"

using namespace troupe::transport;

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::string_view stream(reinterpret_cast<const char*>(data), size);
  framing_error err{};
  split_frames(stream, 1u << 16, err, [](const frame_view& f) {
    namespace control = troupe::transport::control;
    switch (static_cast<frame_kind>(f.kind)) {
      case frame_kind::message:
      case frame_kind::transfer: {
        envelope_view v;
        control::transfer t;
        if (decode_envelope(f.body, v)) (void)(well_formed_protobuf(v.payload) || control::parse_transfer(v.payload, t));
        break;
      }
      case frame_kind::hello: {
        troupe::wire::Hello h;
        (void)h.ParseFromArray(f.body.data(), static_cast<int>(f.body.size()));
        break;
      }
      case frame_kind::reply: {
        control::reply r; (void)control::parse_reply(f.body, r); break;
      }
      case frame_kind::lookup: {
        control::lookup l; (void)control::parse_lookup(f.body, l); break;
      }
      case frame_kind::lookup_reply: {
        control::lookup_reply lr; (void)control::parse_lookup_reply(f.body, lr); break;
      }
      case frame_kind::stop: {
        control::stop s; (void)control::parse_stop(f.body, s); break;
      }
      case frame_kind::monitor:
      case frame_kind::demonitor: {
        control::monitor m; (void)control::parse_monitor(f.body, m); break;
      }
      case frame_kind::link:
      case frame_kind::unlink: {
        control::link k; (void)control::parse_link(f.body, k); break;
      }
      case frame_kind::down: {
        control::down d; (void)control::parse_down(f.body, d); break;
      }
      case frame_kind::exit: {
        control::exit x; (void)control::parse_exit(f.body, x); break;
      }
      case frame_kind::flow_credit: {
        control::credit c; (void)control::parse_credit(f.body, c); break;
      }
      case frame_kind::give_back: {
        std::uint64_t loan = 0;
        (void)control::parse_return(f.body, loan);
        break;
      }
      case frame_kind::goodbye: (void)control::parse_goodbye(f.body); break;
      default: (void)control::kind_name(f.kind); break;
    }
    return true;
  });
  (void)peek_frame_length(stream);
  return 0;
}
