#include "common.hpp"
void f(troupe::actor_ref<target> r) {
#ifdef TROUPE_CF_CONTROL
  r.tell(std::vector<int>{1, 2});
#else
  r.tell(std::vector<int*>{});
#endif
}
