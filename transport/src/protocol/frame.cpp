#include "protocol/frame.hpp"

#include <google/protobuf/message_lite.h>

#include <cstring>

namespace troupe::transport {

std::uint32_t peek_frame_length(std::string_view data) noexcept {
  if (data.size() < 4) return 0;
  return framing::load_u32(reinterpret_cast<const unsigned char*>(data.data()));
}

std::size_t begin_frame(std::string& out, frame_kind kind) {
  const std::size_t start = out.size();
  out.append(4, '\0');
  out.push_back(static_cast<char>(kind));
  if (sequenced(static_cast<std::uint8_t>(kind))) out.append(seq_bytes, '\0');
  return start;
}

std::uint64_t stamp_frames(std::string& out, std::size_t from, std::uint64_t next) noexcept {
  auto* p = reinterpret_cast<unsigned char*>(out.data());
  const std::size_t end = out.size();
  while (end - from >= frame_header_bytes + seq_bytes) {
    unsigned char* f = p + from;
    const std::uint32_t len = framing::load_u32(f);
    if (end - from - 4 < len) break;  // not a whole frame (the writer holds only whole ones)
    if (sequenced(f[4]) && len >= 1 + seq_bytes) framing::store_u32(f + frame_header_bytes, static_cast<std::uint32_t>(next++));
    from += 4 + std::size_t(len);
  }
  return next;
}

void end_frame(std::string& out, std::size_t start) noexcept {
  framing::store_u32(reinterpret_cast<unsigned char*>(out.data() + start),
                     static_cast<std::uint32_t>(out.size() - start - 4));
}

void append_frame(std::string& out, frame_kind kind, const google::protobuf::MessageLite& body) {
  const std::size_t start = begin_frame(out, kind);
  const std::size_t n = body.ByteSizeLong();
  const std::size_t at = out.size();
  out.resize(at + n);
  body.SerializeWithCachedSizesToArray(reinterpret_cast<std::uint8_t*>(out.data() + at));
  end_frame(out, start);
}

void append_frame(std::string& out, frame_kind kind, std::string_view body) {
  const std::size_t start = begin_frame(out, kind);
  out.append(body);
  end_frame(out, start);
}

namespace {
char* put_varint_at(char* p, std::uint64_t v) noexcept {
  while (v >= 0x80) {
    *p++ = static_cast<char>(v | 0x80);
    v >>= 7;
  }
  *p++ = static_cast<char>(v);
  return p;
}

char* put_fixed64_at(char* p, std::uint64_t v) noexcept {
  for (int i = 0; i < 8; ++i) *p++ = static_cast<char>(v >> (8 * i));
  return p;
}

// The Envelope's fixed-size fields, written where `p` points (room:
// fields_max bytes). Fields 1 to 3: receiver, sender when set, type id.
constexpr std::size_t fields_max = 9 + 9 + 6;
char* put_to_type(char* p, std::uint64_t receiver, std::uint64_t sender, std::uint32_t type_id) noexcept {
  *p++ = char(0x09);  // field 1, fixed64
  p = put_fixed64_at(p, receiver);
  if (sender != 0) {
    *p++ = char(0x11);  // field 2, fixed64
    p = put_fixed64_at(p, sender);
  }
  *p++ = char(0x18);  // field 3, varint
  return put_varint_at(p, type_id);
}

// Field 5, the request id, when set (room: request_max bytes).
constexpr std::size_t request_max = 11;
char* put_request(char* p, std::uint64_t request_id) noexcept {
  if (request_id == 0) return p;
  *p++ = char(0x28);  // field 5, varint
  return put_varint_at(p, request_id);
}
} // namespace

void append_envelope_head(std::string& out, std::uint64_t receiver, std::uint64_t sender, std::uint32_t type_id,
                          std::string_view type_name, std::uint64_t request_id) {
  char h[fields_max + request_max];
  char* p = put_to_type(h, receiver, sender, type_id);
  if (!type_name.empty()) {
    out.append(h, static_cast<std::size_t>(p - h));
    out.push_back(char(0x22));  // field 4, bytes
    framing::put_varint(out, type_name.size());
    out.append(type_name);
    p = h;
  }
  p = put_request(p, request_id);
  out.append(h, static_cast<std::size_t>(p - h));
}

void append_encoded_message_frame(std::string& out, std::uint64_t receiver, std::uint64_t sender,
                                  std::uint32_t type_id, std::string_view type_name, std::uint64_t request_id,
                                  std::string_view payload) {
  if (!type_name.empty()) {  // the first message of a type: rare, and a name has no fixed bound
    append_message_frame(out, receiver, sender, type_id, type_name, request_id,
                         [&](std::string& o) { o.append(payload); });
    return;
  }
  // length, kind, the fields, then the payload's tag and length: built here, appended once.
  char h[4 + 1 + seq_bytes + fields_max + request_max + 11];
  char* p = h + 4;
  *p++ = static_cast<char>(frame_kind::message);
  for (std::size_t i = 0; i < seq_bytes; ++i) *p++ = '\0';  // stamped by the writer
  p = put_request(put_to_type(p, receiver, sender, type_id), request_id);
  *p++ = char(0x32);  // field 6, bytes
  p = put_varint_at(p, payload.size());
  const auto header = static_cast<std::size_t>(p - h);
  const auto len = static_cast<std::uint32_t>(header - 4 + payload.size());
  framing::store_u32(reinterpret_cast<unsigned char*>(h), len);
  out.append(h, header);
  out.append(payload);
}

void append_frame_trace(std::string& out, std::size_t start, const trace_context& t) {
  out.push_back(char(0x3a));  // field 7, bytes
  out.push_back(static_cast<char>(detail::trace_wire_bytes));
  detail::put_trace(out, t);
  end_frame(out, start);  // the frame is longer by the field
}

namespace framing {
void put_varint(std::string& out, std::uint64_t v) {
  char buf[10];
  out.append(buf, static_cast<std::size_t>(put_varint_at(buf, v) - buf));
}

std::uint64_t get_fixed64(std::string_view in) noexcept {
  std::uint64_t v = 0;
  for (int i = 7; i >= 0; --i) v = v << 8 | static_cast<unsigned char>(in[static_cast<std::size_t>(i)]);
  return v;
}

void put_fixed64(std::string& out, std::uint64_t v) {
  char buf[8];
  put_fixed64_at(buf, v);
  out.append(buf, 8);
}

void patch_length(std::string& out, std::size_t at) {
  const std::size_t len = out.size() - at - 1;
  if (len < 0x80) {
    out[at] = static_cast<char>(len);
    return;
  }
  std::string v;
  put_varint(v, len);
  out.insert(at + 1, v.size() - 1, '\0');  // moves the payload along
  std::memcpy(out.data() + at, v.data(), v.size());
}
} // namespace framing

namespace {
struct reader {
  explicit reader(std::string_view s) noexcept
      : p(reinterpret_cast<const unsigned char*>(s.data())), end(p + s.size()) {}
  const unsigned char* p;
  const unsigned char* end;
  bool varint(std::uint64_t& v) noexcept {
    v = 0;
    for (int shift = 0; shift < 64; shift += 7) {
      if (p == end) return false;
      const unsigned char b = *p++;
      v |= std::uint64_t(b & 0x7f) << shift;
      if ((b & 0x80) == 0) return true;
    }
    return false;  // more than 10 bytes
  }
  bool fixed64(std::uint64_t& v) noexcept {
    if (end - p < 8) return false;
    v = 0;
    for (int i = 0; i < 8; ++i) v |= std::uint64_t(p[i]) << (8 * i);
    p += 8;
    return true;
  }
  bool bytes(std::string_view& s) noexcept {
    std::uint64_t n = 0;
    if (!varint(n) || n > std::uint64_t(end - p)) return false;
    s = std::string_view(reinterpret_cast<const char*>(p), n);
    p += n;
    return true;
  }
  bool skip(std::uint32_t wire_type) noexcept {
    std::uint64_t v = 0;
    std::string_view s;
    switch (wire_type) {
      case 0: return varint(v);
      case 1: return fixed64(v);
      case 2: return bytes(s);
      case 5:
        if (end - p < 4) return false;
        p += 4;
        return true;
      default: return false;  // groups (3, 4) and invalid types
    }
  }
};
} // namespace

bool well_formed_protobuf(std::string_view bytes) noexcept {
  reader r(bytes);
  while (r.p != r.end) {
    std::uint64_t key = 0;
    if (!r.varint(key) || (key >> 3) == 0 || !r.skip(static_cast<std::uint32_t>(key & 7))) return false;
  }
  return true;
}

bool decode_envelope(std::string_view body, envelope_view& out) noexcept {
  out = envelope_view{};
  reader r(body);
  while (r.p != r.end) {
    std::uint64_t key = 0;
    if (!r.varint(key)) return false;
    const auto field = key >> 3;
    const auto wt = static_cast<std::uint32_t>(key & 7);
    if (field == 0) return false;
    std::uint64_t v = 0;
    switch (field) {
      case 1:
        if (wt != 1 || !r.fixed64(out.receiver)) return false;
        break;
      case 2:
        if (wt != 1 || !r.fixed64(out.sender)) return false;
        break;
      case 3:
        if (wt != 0 || !r.varint(v)) return false;
        out.type_id = static_cast<std::uint32_t>(v);
        break;
      case 4:
        if (wt != 2 || !r.bytes(out.type_name)) return false;
        break;
      case 5:
        if (wt != 0 || !r.varint(out.request_id)) return false;
        break;
      case 6:
        if (wt != 2 || !r.bytes(out.payload)) return false;
        break;
      case 7:
        if (wt != 2 || !r.bytes(out.trace) || out.trace.size() != detail::trace_wire_bytes) return false;
        break;
      default:
        if (!r.skip(wt)) return false;
    }
  }
  return true;
}

} // namespace troupe::transport
