// The README's first example, exactly as it is printed there (the
// readme.snippets test checks that the two agree); run by readme.tour.
// snippet: tour
#include <troupe/troupe.hpp>
using namespace std::chrono_literals;

struct add { int n; };
struct total {};

// An actor is a class: its state is its members, its handlers are `on`
// overloads chosen by message type at compile time. A handler's return
// value is the reply to an ask.
struct counter : troupe::actor<counter> {
  int sum = 0;
  void on(add a) { sum += a.n; }
  int on(total) { return sum; }
  void on_start() {}  // optional hooks
  void on_stop() {}
};

int main() {
  troupe::actor_system sys;                     // one worker per core
  troupe::actor_ref<counter> c = sys.spawn<counter>();

  c.tell(add{2});                               // fire and forget
  c.tell(add{40});
  troupe::result<int> r = c.ask(total{}, 1s).get();   // from outside: a future
  std::printf("%d\n", r.value());               // 42
}                                               // shutdown: every actor stopped and destroyed
// end snippet
