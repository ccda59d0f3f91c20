#include "common.hpp"
// A coroutine handler taking its message by reference: the reference would
// dangle once the handler waits.
struct coro : troupe::actor<coro> {
#ifdef TROUPE_CF_CONTROL
  troupe::task<int> on(int x) { co_return x; }
#else
  troupe::task<int> on(const int& x) { co_return x; }
#endif
};
void f(troupe::actor_ref<coro> r) { r.tell(1); }
