#include "common.hpp"
// A ref sends only what it lists, even when the actor behind it takes more.
void f(troupe::actor_ref<target> r) {
  troupe::ref<int> only_ints = r;
#ifdef TROUPE_CF_CONTROL
  only_ints.tell(1);
#else
  only_ints.tell(std::string("not listed"));
#endif
}
