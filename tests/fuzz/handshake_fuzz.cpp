// libFuzzer target: an untrusted peer's bytes fed to the handshake state
// machine, as acceptor or connector (the first byte chooses).
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

#include "protocol/handshake.hpp"

using namespace troupe::transport;

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  if (size == 0) return 0;
  const auto role = (data[0] & 1) != 0 ? handshake::role::acceptor : handshake::role::connector;
  handshake hs(role, "fuzz-target", 42, "fuzz-cookie", 1u << 16);
  std::string out;
  hs.start(out);
  const std::string_view stream(reinterpret_cast<const char*>(data + 1), size - 1);
  framing_error err{};
  split_frames(stream, 1u << 16, err, [&](const frame_view& f) {
    out.clear();
    const auto st = hs.on_frame(f, out);
    if (st == handshake::status::authenticated) hs.welcome(out);
    return st != handshake::status::failed;
  });
  return 0;
}
