// Uses the installed package: spawn an actor, ask it, print the answer.
#include <troupe/troupe.hpp>

#include <chrono>
#include <cstdio>

struct square {
  int x;
};
struct squarer : troupe::actor<squarer> {
  int on(square s) { return s.x * s.x; }
};

int main() {
  troupe::actor_system sys;
  auto a = sys.spawn<squarer>();
  auto r = a.ask(square{12}, std::chrono::seconds(10)).get();
  if (!r || *r != 144) {
    std::fprintf(stderr, "consumer: wrong answer\n");
    return 1;
  }
  std::printf("consumer: 12^2 = %d via an installed troupe\n", *r);
  return 0;
}
