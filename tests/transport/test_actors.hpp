#pragma once
// Actors and helpers shared by the transport tests and their child node.

#include <chrono>
#include <stdexcept>

#include "test_messages.pb.h"
#include "troupe/troupe.hpp"

namespace troupe_test {

/// Counts pings and whether their sequence numbers came in order.
struct ping_counter {
  std::int64_t n = 0;
  std::int64_t last = -1;
  bool in_order = true;
  void saw(const Ping& p) {
    if (p.seq() != last + 1) in_order = false;
    last = p.seq();
    ++n;
  }
  [[nodiscard]] Counted counted() const {
    Counted c;
    c.set_n(n);
    c.set_last_seq(last);
    c.set_in_order(in_order);
    return c;
  }
};

/// Answers pings and sums, counts what it got (and whether in order), and
/// fails on request.
struct echo : troupe::actor<echo>, ping_counter {
  using remote_interface = troupe::accepts<Ping, Add, Crash, Count, Blob>;

  Pong on(Ping p) {
    saw(p);
    Pong r;
    r.set_seq(p.seq());
    return r;
  }
  Sum on(Add a) {
    Sum s;
    s.set_value(a.a() + a.b());
    return s;
  }
  void on(Crash) { throw std::runtime_error("crash requested"); }
  Counted on(Count) { return counted(); }
  void on(Blob) { ++n; }
};

/// Spends `work` on every ping (a CPU-bound receiver), counts them and
/// checks their order.
struct slow_sink : troupe::actor<slow_sink>, ping_counter {
  using remote_interface = troupe::accepts<Ping, Count>;
  explicit slow_sink(std::chrono::microseconds work) : work_(work) {}
  void on(Ping p) {
    const auto until = std::chrono::steady_clock::now() + work_;
    while (std::chrono::steady_clock::now() < until) {
    }
    saw(p);
  }
  Counted on(Count) { return counted(); }
  std::chrono::microseconds work_;
};

} // namespace troupe_test
