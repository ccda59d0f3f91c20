#pragma once
/// @file An ask from outside the actor system, awaited the Asio way: with
/// any completion token (`use_awaitable` in a `co_spawn`ed coroutine, a
/// callback, `use_future`).
///
/// ```
/// boost::asio::co_spawn(io, [&]() -> boost::asio::awaitable<void> {
///   troupe::result<int> r = co_await troupe::async_get(counter.ask(get{}, 1s), boost::asio::use_awaitable);
/// }, boost::asio::detached);
/// ```
///
/// The completion runs on the handler's associated executor (posted, never
/// on an actor's thread), and the pending ask counts as outstanding work,
/// so `io_context::run` does not return before it completes. Needs
/// Boost.Asio's headers (which the troupe package depends on). Debian 12's
/// Boost 1.74 offers `co_spawn` and `use_awaitable` to g++ in C++20 but not
/// to clang 14 with libstdc++ (`BOOST_ASIO_HAS_CO_AWAIT` is unset there):
/// with that compiler, complete with a callback or `use_future`.

#include <utility>

#include <boost/asio/associated_executor.hpp>
#include <boost/asio/async_result.hpp>
#include <boost/asio/execution/outstanding_work.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/prefer.hpp>

#include "troupe/actors/ask_future.hpp"

namespace troupe {

/// Completes `token` with the `result<R>` of `f` (the reply, a failure, or
/// `ask_error::timeout` at the ask's deadline). Consumes `f`.
template <class R, class CompletionToken>
auto async_get(ask_future<R> f, CompletionToken&& token) {
  return boost::asio::async_initiate<CompletionToken, void(result<R>)>(
      [](auto handler, ask_future<R> fut) {
        auto ex = boost::asio::prefer(boost::asio::get_associated_executor(handler),
                                      boost::asio::execution::outstanding_work.tracked);
        fut.then([h = std::move(handler), ex = std::move(ex)](result<R> r) mutable {
          boost::asio::post(ex, [h = std::move(h), r = std::move(r)]() mutable { std::move(h)(std::move(r)); });
        });
      },
      token, std::move(f));
}

} // namespace troupe
