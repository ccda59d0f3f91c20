#include "common.hpp"
// A ref promises its holder a reply type: an actor that answers `query`
// with an int does not convert to a ref that expects a std::string.
struct query {};
struct answers_int : troupe::actor<answers_int> {
  int on(query) { return 1; }
};
#ifdef TROUPE_CF_CONTROL
using wanted = troupe::ref<int(query)>;
#else
using wanted = troupe::ref<std::string(query)>;
#endif
void f(troupe::actor_ref<answers_int> r) {
  wanted w = r;
  (void)w;
}
