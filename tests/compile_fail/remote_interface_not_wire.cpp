#include "common.hpp"
// A type in remote_interface must be able to cross the network.
struct money {
  long cents = 0;
};
#ifdef TROUPE_CF_CONTROL
template <>
struct troupe::codec<money> {
  static constexpr std::string_view name = "test.money";
  static void encode(const money& m, std::string& out) { out += std::to_string(m.cents); }
  static bool decode(std::string_view in, money& m) {
    m.cents = std::stol(std::string(in));
    return true;
  }
};
#endif
struct bank : troupe::actor<bank> {
  using remote_interface = troupe::accepts<money>;
  void on(money) {}
};
void f(troupe::node& n, troupe::actor_ref<bank> b) { n.publish("bank", b); }
