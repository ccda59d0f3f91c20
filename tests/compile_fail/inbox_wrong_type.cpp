#include "common.hpp"
// An inbox hands its owner exactly M: a message of another type, even one
// convertible to M, would be read as an M (an int read as an int64_t).
void f(troupe::actor_ref<troupe::inbox<std::int64_t>::actor_type> r) {
#ifdef TROUPE_CF_CONTROL
  r.tell(std::int64_t{-1});
#else
  r.tell(-1);
#endif
}
