#include "common.hpp"
void f(troupe::actor_ref<target> r) {
#ifdef TROUPE_CF_CONTROL
  r.tell(std::string("owned"));
#else
  r.tell(std::string_view("borrowed"));
#endif
}
