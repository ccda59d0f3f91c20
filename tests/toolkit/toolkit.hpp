#pragma once
/// @file Actors shared by the toolkit tests (monitors, links, supervision,
/// registry, topics, routers, pools, stash, behaviours, timers).

#include <gtest/gtest.h>
#include <troupe/troupe.hpp>

#include <atomic>
#include <chrono>
#include <cstdint>
#include <stdexcept>
#include <string>
#include <vector>

#include "support/test_support.hpp"

namespace toolkit {

using namespace std::chrono_literals;

/// Everything a probe actor observed, reported to the test thread.
struct event {
  std::string kind;   // "down", "exit", "msg", ...
  std::string detail;
  troupe::exit_reason reason = troupe::exit_reason::normal;
  std::uint64_t id = 0;
};
using events = troupe::inbox<event>;
using events_ref = troupe::actor_ref<events::actor_type>;

/// Takes the next event or fails the test.
inline event next(events& in, std::chrono::milliseconds within = std::chrono::duration_cast<std::chrono::milliseconds>(troupe::test::long_wait)) {
  auto e = in.receive(within);
  if (!e) {
    ADD_FAILURE() << "no event within " << within.count() << " ms";
    return event{"timeout", "", troupe::exit_reason::normal, 0};
  }
  return *e;
}

struct crash {
  std::string what = "boom";
};
struct quit {};
struct ping {};
struct flush {};

/// Answers pings, throws on crash, stops on quit.
struct victim : troupe::actor<victim> {
  int on(ping) { return ++pings; }
  void on(crash c) { throw std::runtime_error(c.what); }
  void on(quit) { stop(); }
  int pings = 0;
};

/// Watches actors and reports each down to the test.
struct watcher : troupe::actor<watcher> {
  explicit watcher(events_ref out) : out_(std::move(out)) {}
  struct watch {
    troupe::any_ref who;
  };
  struct unwatch {
    std::uint64_t id;
  };
  std::uint64_t on(watch w) { return monitor(w.who); }
  void on(unwatch u) { demonitor(u.id); }
  void on(troupe::down d) { out_.tell(event{"down", d.what, d.reason, d.monitor}); }
  void on(flush) { out_.tell(event{"flushed", "", troupe::exit_reason::normal, 0}); }
  events_ref out_;
};

} // namespace toolkit
