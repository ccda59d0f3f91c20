#include "common.hpp"
void f(troupe::actor_ref<target> r) {
#ifdef TROUPE_CF_CONTROL
  r.tell(std::make_unique<int>(1));
#else
  r.tell(new int(1));
#endif
}
