#pragma once
// Private to the transport: a byte_stream that is TLS 1.3 over a connected
// TCP socket (node_options::tls).
//
// OpenSSL runs on memory, not on the socket: what it writes lands in the
// stream's ciphertext buffer, which goes out in one send, and what the
// socket delivers is handed to it from the stream's input buffer. So a
// proxy's turn that batched a thousand frames still costs one system call,
// and the stream, not OpenSSL, decides when to touch the socket (Asio waits
// for readiness). The handshake runs inside the first reads and writes; a
// stranger's SSL keeps no record buffers while it waits
// (SSL_MODE_RELEASE_BUFFERS, dropped once the handshake is over).
//
// Unwritten ciphertext is bounded (`out_limit`): past it, try_write takes
// nothing and the connection's writer waits for the I/O thread, as on a
// full socket, so the writer's stall detection and backpressure still see
// a peer that does not read.
//
// A TLS failure (a bad certificate, a plaintext or TLS 1.2 peer, a record
// that does not authenticate) completes the pending read with an error of
// tls_category(), whose message says what OpenSSL found.

#include <memory>
#include <string>
#include <system_error>
#include <vector>

#include <utility>  // Boost 1.74 Asio uses std::exchange without it
#include <boost/asio.hpp>

#include "streams/byte_stream.hpp"
#include "streams/tls_context.hpp"

namespace troupe::transport {

/// The category of a TLS failure's error code (tls_stream's reads).
[[nodiscard]] const boost::system::error_category& tls_category() noexcept;

/// A TLS stream over `sock` (connected): the connecting side when
/// `connector`, resuming the session kept for `session_key` (the dial
/// address) when there is one. `on_handshake(resumed)` runs once, on the
/// I/O thread, when the handshake is over. @throws std::runtime_error when
/// OpenSSL cannot make the session.
std::unique_ptr<byte_stream> make_tls_stream(boost::asio::ip::tcp::socket sock, std::shared_ptr<tls_context> ctx,
                                             bool connector, std::string session_key,
                                             std::function<void(bool resumed)> on_handshake = {});

} // namespace troupe::transport
