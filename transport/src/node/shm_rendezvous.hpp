#pragma once
// Private to the transport: how two processes that are not parent and
// child set up a shared-memory connection. The connecting side reaches a
// node's `listen_shm` Unix socket; both run the handshake over it (so no
// segment is handed to a process that has not proved the cookie); the
// connecting side then makes the segment and passes it with SCM_RIGHTS. The
// socket stays open as the connection's control socket: its doorbell, and
// its end of file is how either side learns the other is gone.
// The connection then starts over the shared memory as over any stream.

#include <functional>
#include <memory>
#include <string>

#include <utility>  // Boost 1.74 Asio uses std::exchange without it
#include <boost/asio.hpp>

#include "streams/byte_stream.hpp"

namespace troupe::transport {

class node_impl;

/// The outcome: a stream, or why there is none.
using rendezvous_done = std::function<void(std::unique_ptr<byte_stream> stream, std::string error)>;

/// Runs the rendezvous on `sock` (I/O thread); `done` runs once, on the
/// I/O thread, within the node's handshake timeout. A failure is counted
/// in the node's handshake failures (and auth failures for a wrong cookie).
void shm_rendezvous(node_impl& node, boost::asio::local::stream_protocol::socket sock, bool connector,
                    std::string what, rendezvous_done done);

} // namespace troupe::transport
