#include "common.hpp"
void f(troupe::actor_ref<target> r) {
#ifdef TROUPE_CF_CONTROL
  r.tell(std::make_shared<const int>(1));
#else
  r.tell(std::make_shared<int>(1));
#endif
}
