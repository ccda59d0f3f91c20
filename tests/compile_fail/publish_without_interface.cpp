#include "common.hpp"
// Publishing an actor on a node needs its remote_interface.
struct with_interface : troupe::actor<with_interface> {
  using remote_interface = troupe::accepts<>;
  void on(int) {}
};
void f(troupe::node& n, troupe::actor_ref<target> t, troupe::actor_ref<with_interface> w) {
#ifdef TROUPE_CF_CONTROL
  (void)t;
  n.publish("w", w);
#else
  (void)w;
  n.publish("t", t);
#endif
}
