#include "common.hpp"
struct answers : troupe::actor<answers> {
  int on(int x) { return x; }
  void on(unrelated) {}
};
void f(troupe::actor_ref<answers> r) {
  using namespace std::chrono_literals;
#ifdef TROUPE_CF_CONTROL
  (void)r.ask(1, 1s);
#else
  (void)r.ask(unrelated{}, 1s);
#endif
}
