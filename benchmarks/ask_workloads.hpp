#pragma once
// troupe-bench's ask workloads: one actor asks another N times, one ask in
// flight, with a continuation (ask) or with co_await (coro-ask).

#include <troupe/troupe.hpp>

#include "bench_common.hpp"

namespace bench {

/// `ask --n N`: each reply's continuation makes the next ask (round trip).
outcome run_ask(troupe::actor_system& sys, u64 n);
/// `coro-ask --n N`: one coroutine handler co_awaits N asks in a loop (round trip).
outcome run_coro_ask(troupe::actor_system& sys, u64 n);

} // namespace bench
