// Uses the installed package: spawn an actor, ask it, print the answer;
// then connect two nodes.
#include <troupe/troupe.hpp>

#include "greeting.pb.h"

#include <chrono>
#include <cstdio>
#include <string>

struct square {
  int x;
};
struct squarer : troupe::actor<squarer> {
  int on(square s) { return s.x * s.x; }
};

/// Answers another node with a protobuf message of this project's own.
struct greeter : troupe::actor<greeter> {
  using remote_interface = troupe::accepts<consumer::Greeting>;
  consumer::Greeting on(consumer::Greeting g) {
    g.set_text("hello, " + g.text());
    return g;
  }
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

  // The transport links too: two nodes, one handshake over loopback.
  troupe::node_options o;
  o.cookie = "package-test-cookie-0123456789";
  o.name = "one";
  troupe::node one(sys, o);
  o.name = "two";
  troupe::node two(sys, o);
  auto p = two.connect("127.0.0.1", one.port(), std::chrono::seconds(10));
  if (!p.ok()) {
    std::fprintf(stderr, "consumer: %s\n", std::string(p.message()).c_str());
    return 1;
  }
  std::printf("consumer: node two connected to node %s\n", p.value().name().c_str());

  one.publish("greeter", sys.spawn<greeter>());
  auto g = p.value().lookup<greeter>("greeter", std::chrono::seconds(10));
  if (!g.ok()) {
    std::fprintf(stderr, "consumer: lookup: %s\n", std::string(g.message()).c_str());
    return 1;
  }
  consumer::Greeting hi;
  hi.set_text("two");
  auto answer = g.value().ask(hi, std::chrono::seconds(10)).get();
  if (!answer.ok()) {
    std::fprintf(stderr, "consumer: ask: %s\n", std::string(answer.message()).c_str());
    return 1;
  }
  std::printf("consumer: a Greeting crossed: %s\n", answer.value().text().c_str());
  return 0;
}
