#pragma once
// Private to the transport: a one-shot deadline on the node's I/O context,
// for operations whose outcome may come first (a connect, a lookup, a
// worker's start): they end exactly once, so a late deadline does nothing.

#include <chrono>
#include <memory>
#include <utility>  // Boost 1.74 Asio uses std::exchange without it
#include <boost/asio.hpp>

namespace troupe::transport {

/// Runs `expire` on `io`'s thread once `after` has passed (unless the
/// context stops first). The timer keeps itself until then: `expire`
/// should hold what it needs weakly, so that an operation that ended first
/// (its caller's continuation, its connection) is not kept until then.
template <class F>
void expire_after(boost::asio::io_context& io, std::chrono::milliseconds after, F expire) {
  auto timer = std::make_shared<boost::asio::steady_timer>(io, after);
  timer->async_wait([timer, expire = std::move(expire)](const boost::system::error_code& ec) mutable {
    if (!ec) expire();
  });
}

} // namespace troupe::transport
