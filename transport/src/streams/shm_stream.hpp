#pragma once
// Private to the transport: a byte_stream over a shared-memory segment
// (see shm_segment.hpp). A busy connection costs no system call per
// message: bytes are copied into the peer's ring, and the doorbell (a byte
// on the control socket) is rung only when the peer sleeps and no worker of
// its polls (`watch`). An idle one costs no CPU: the I/O thread sleeps on
// the control socket, whose end of file is how a peer's death (or close) is
// seen at once.

#include <utility>  // Boost 1.74 Asio uses std::exchange without it
#include <boost/asio.hpp>
#include <boost/system/error_code.hpp>
#include <memory>

#include "streams/shm_segment.hpp"
#include "streams/byte_stream.hpp"

namespace troupe::transport {

/// Errors of the shared-memory transport.
enum class shm_error { bad_index = 1, stray_descriptors = 2, doorbell_flood = 3 };
const boost::system::error_category& shm_category() noexcept;

/// Takes ownership of `fds` (closed on failure too). @throws std::runtime_error
/// when the segment is not what it must be.
std::unique_ptr<byte_stream> make_shm_stream(boost::asio::io_context& io, shm::link_fds fds, std::string what);

} // namespace troupe::transport
