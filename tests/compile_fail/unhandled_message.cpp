#include "common.hpp"
void f(troupe::actor_ref<target> r) {
#ifdef TROUPE_CF_CONTROL
  r.tell(1);
#else
  r.tell(unrelated{});
#endif
}
