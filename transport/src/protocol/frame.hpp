#pragma once
// Private to the transport. Framing: how frames sit on a byte stream, and the hand-written
// codec of the hot frame (MESSAGE). Pure functions, no I/O: what every
// transport (TCP, Unix sockets, pipes, shared memory) shares.
//
// A frame is `u32 little-endian length L | u8 kind | L-1 bytes`. Handshake
// frames (kinds below 10) carry their body there; every later kind is
// sequenced: `u32 little-endian sequence number | body` (the low half of
// the link's frame count, stamped by the writer as frames go out, so that
// the receiver sees a lost, repeated or reordered frame). The body is the
// protobuf message of troupe.wire that the kind names (see
// proto/schema/troupe/proto/troupe.proto). The MESSAGE body (an Envelope) is
// written and read here by hand, byte for byte what protobuf would produce
// and accept, so that a frame is parsed in place without copying its payload.

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

#include "troupe/actors/trace.hpp"
#include "troupe/transport/node_options.hpp"

namespace google::protobuf {
class MessageLite;
}

namespace troupe::transport {

namespace framing {
/// The little-endian u32 at `p` (a frame's length, a sequenced frame's number).
[[nodiscard]] inline std::uint32_t load_u32(const unsigned char* p) noexcept {
  return std::uint32_t(p[0]) | std::uint32_t(p[1]) << 8 | std::uint32_t(p[2]) << 16 | std::uint32_t(p[3]) << 24;
}
/// Writes `v` at `p`, little-endian.
inline void store_u32(unsigned char* p, std::uint32_t v) noexcept {
  p[0] = static_cast<unsigned char>(v);
  p[1] = static_cast<unsigned char>(v >> 8);
  p[2] = static_cast<unsigned char>(v >> 16);
  p[3] = static_cast<unsigned char>(v >> 24);
}
} // namespace framing

/// Frame kinds: the values of troupe.wire.FrameKind.
enum class frame_kind : std::uint8_t {
  hello = 1,
  auth = 2,
  welcome = 3,
  refuse = 4,
  message = 10,
  reply = 11,
  lookup = 12,
  lookup_reply = 13,
  transfer = 14,
  give_back = 15,
  stop = 20,
  monitor = 21,
  demonitor = 22,
  down = 23,
  link = 24,
  unlink = 25,
  exit = 26,
  heartbeat = 30,
  goodbye = 31,
  flow_credit = 32,
  ack = 33,
};

/// Kinds from here on carry a sequence number (everything after the handshake).
inline constexpr std::uint8_t first_sequenced_kind = 10;
[[nodiscard]] constexpr bool sequenced(std::uint8_t kind) noexcept { return kind >= first_sequenced_kind; }
/// Bytes of a sequenced frame's number, after its kind.
inline constexpr std::size_t seq_bytes = 4;

/// Bytes before a frame's body: length (4) and kind (1).
inline constexpr std::size_t frame_header_bytes = 5;
/// Default largest frame a node accepts (length field, i.e. kind + body).
inline constexpr std::uint32_t default_max_frame_bytes = node_options::default_max_frame;

/// One frame, pointing into the buffer it was parsed from.
struct frame_view {
  std::uint8_t kind;
  std::string_view body;
  std::uint32_t seq = 0;  ///< sequenced kinds: the low half of the frame's number
};

/// Why the byte stream could not be split into frames.
enum class framing_error : std::uint8_t { none, empty_frame, oversize, short_frame };

/// Calls `on_frame(frame_view)` for each complete frame at the front of
/// `data` (which it may not keep) until `on_frame` returns false, a frame is
/// incomplete, or the stream is bad (`err` set; nothing after the bad header
/// is delivered). Returns the bytes consumed.
template <class F>
std::size_t split_frames(std::string_view data, std::uint32_t max_frame, framing_error& err, F&& on_frame) {
  err = framing_error::none;
  std::size_t at = 0;
  while (data.size() - at >= 4) {
    const auto* p = reinterpret_cast<const unsigned char*>(data.data() + at);
    const std::uint32_t len = framing::load_u32(p);
    if (len == 0) {
      err = framing_error::empty_frame;
      return at;
    }
    if (len > max_frame) {
      err = framing_error::oversize;
      return at;
    }
    if (data.size() - at - 4 < len) break;
    frame_view f{p[4], data.substr(at + frame_header_bytes, len - 1)};
    if (sequenced(f.kind)) {
      if (len < 1 + seq_bytes) {
        err = framing_error::short_frame;
        return at;
      }
      f.seq = framing::load_u32(p + frame_header_bytes);
      f.body.remove_prefix(seq_bytes);
    }
    at += 4 + std::size_t(len);
    if (!on_frame(f)) break;
  }
  return at;
}

/// The length a frame will need, read from its first 4 bytes (0 if fewer).
[[nodiscard]] std::uint32_t peek_frame_length(std::string_view data) noexcept;

/// Appends a frame whose body is `body` serialised.
void append_frame(std::string& out, frame_kind kind, const google::protobuf::MessageLite& body);
/// Appends a frame with a raw body.
void append_frame(std::string& out, frame_kind kind, std::string_view body);

/// Stamps the sequenced frames of `out` from byte `from` (a frame's start)
/// to its end with `next`, `next + 1`, ... (their low halves); returns the
/// number after the last. The writer calls it as frames go out.
std::uint64_t stamp_frames(std::string& out, std::size_t from, std::uint64_t next) noexcept;
/// The frames of `bytes` (whole frames) one by one: `f(kind, seq low half,
/// offset, size)` until it returns false. For the resend buffer (cold).
template <class F>
void walk_frames(std::string_view bytes, F&& f) {
  std::size_t at = 0;
  while (bytes.size() - at >= frame_header_bytes) {
    const auto* p = reinterpret_cast<const unsigned char*>(bytes.data() + at);
    const std::uint32_t len = framing::load_u32(p);
    if (bytes.size() - at - 4 < len) return;
    const std::uint32_t seq = sequenced(p[4]) && len >= 1 + seq_bytes ? framing::load_u32(p + frame_header_bytes) : 0;
    if (!f(p[4], seq, at, 4 + std::size_t(len))) return;
    at += 4 + std::size_t(len);
  }
}

/// Starts a frame in `out` (with room for its sequence number when the kind
/// is sequenced); returns where it starts, for `end_frame`.
std::size_t begin_frame(std::string& out, frame_kind kind);
/// Patches the length of the frame begun at `start`.
void end_frame(std::string& out, std::size_t start) noexcept;

/// The fields of an Envelope (MESSAGE body), pointing into the frame.
struct envelope_view {
  std::uint64_t receiver = 0;
  std::uint64_t sender = 0;
  std::uint32_t type_id = 0;
  std::string_view type_name;
  std::uint64_t request_id = 0;
  std::string_view payload;
  std::string_view trace;  ///< field 7: the sender's trace context (detail::trace_wire_bytes), or empty
};

/// Parses an Envelope body; false when malformed. Unknown fields are skipped
/// (as protobuf does), so a newer sender may add fields.
[[nodiscard]] bool decode_envelope(std::string_view body, envelope_view& out) noexcept;

/// True when `bytes` are well-formed protobuf wire format at the top level
/// (every field's tag, and its length, fits): checked before a protobuf
/// payload is queued, so that garbage closes the connection.
[[nodiscard]] bool well_formed_protobuf(std::string_view bytes) noexcept;

/// Appends a whole MESSAGE frame (or a TRANSFER frame: the same Envelope).
/// `type_name` is omitted when empty. The payload is produced by
/// `encode_payload(std::string&)`, which appends it.
template <class Payload>
void append_message_frame(std::string& out, std::uint64_t receiver, std::uint64_t sender, std::uint32_t type_id,
                          std::string_view type_name, std::uint64_t request_id, Payload&& encode_payload,
                          frame_kind kind = frame_kind::message);

/// The same MESSAGE frame for a payload already encoded (the usual case:
/// `tell` encodes on the sender's thread): the header is built on the stack
/// and appended with the payload in two copies.
void append_encoded_message_frame(std::string& out, std::uint64_t receiver, std::uint64_t sender,
                                  std::uint32_t type_id, std::string_view type_name, std::uint64_t request_id,
                                  std::string_view payload);

/// Appends field 7 (the trace context) to the MESSAGE or TRANSFER frame
/// begun at `start`, the last frame of `out`, and patches its length.
void append_frame_trace(std::string& out, std::size_t start, const trace_context& t);

/// Appends the Envelope fields that precede the payload (receiver, sender
/// when set, type id, type name when set, request id when set).
void append_envelope_head(std::string& out, std::uint64_t receiver, std::uint64_t sender, std::uint32_t type_id,
                          std::string_view type_name, std::uint64_t request_id);

namespace framing {
void put_varint(std::string& out, std::uint64_t v);
void put_fixed64(std::string& out, std::uint64_t v);
/// The little-endian u64 at the start of `in` (at least 8 bytes).
std::uint64_t get_fixed64(std::string_view in) noexcept;
/// Turns the 1-byte length placeholder at `at` into the varint of the bytes
/// after it (moving them when the varint needs more room).
void patch_length(std::string& out, std::size_t at);
} // namespace framing

template <class Payload>
void append_message_frame(std::string& out, std::uint64_t receiver, std::uint64_t sender, std::uint32_t type_id,
                          std::string_view type_name, std::uint64_t request_id, Payload&& encode_payload,
                          frame_kind kind) {
  const std::size_t start = begin_frame(out, kind);
  append_envelope_head(out, receiver, sender, type_id, type_name, request_id);
  out.push_back(char(0x32));  // field 6, bytes
  const std::size_t len_at = out.size();
  out.push_back('\0');
  encode_payload(out);
  framing::patch_length(out, len_at);
  end_frame(out, start);
}

} // namespace troupe::transport
