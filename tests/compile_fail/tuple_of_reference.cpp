#include "common.hpp"
void f(troupe::actor_ref<target> r, int& x) {
#ifdef TROUPE_CF_CONTROL
  r.tell(std::tuple<int>(x));
#else
  r.tell(std::tuple<int&>(x));
#endif
}
