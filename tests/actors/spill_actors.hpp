#pragma once
// What the spill-mailbox tests share: a message with a codec (so it can go
// to disk), a consumer that checks order and can be held or halted, and
// the spawn options of a spilling actor.
#include <unistd.h>

#include <charconv>
#include <cstdlib>
#include <filesystem>
#include <semaphore>
#include <string>

#include "support/temp_dir.hpp"
#include "troupe/troupe.hpp"

namespace spill_test {
/// A message that can go to disk (a codec, as a protobuf message would).
struct item {
  std::int64_t seq = 0;
};
} // namespace spill_test

template <>
struct troupe::codec<spill_test::item> {
  static constexpr std::string_view name = "spill_test.item";
  static void encode(const spill_test::item& m, std::string& out) { out += std::to_string(m.seq); }
  static bool decode(std::string_view in, spill_test::item& m) {
    auto [p, ec] = std::from_chars(in.data(), in.data() + in.size(), m.seq);
    return ec == std::errc() && p == in.data() + in.size();
  }
};

namespace spill_test {

using namespace std::chrono_literals;
namespace fs = std::filesystem;
using troupe::overflow;

/// Held by the first message until the test lets the consumer go.
struct gate {
  std::binary_semaphore* open;
  std::binary_semaphore* entered = nullptr;  ///< released when the handler starts waiting, if set
};
struct report {
  std::int64_t count = 0;
  std::int64_t first = -1;
  std::int64_t last = -1;
  bool in_order = true;    // each one the successor of the one before
  bool increasing = true;  // each one after the one before (gaps allowed)
};
struct get_report {};
/// The consumer stops for good inside the handler of item `seq`, after
/// writing a line to `fd` (a process about to be killed mid-delivery).
struct halt_at {
  std::int64_t seq;
  int fd;
  std::binary_semaphore* never;
};

/// Counts items and checks their order; a `gate` blocks it (own thread).
struct consumer : troupe::actor<consumer> {
  using remote_interface = troupe::accepts<item>;
  void on(gate g) {
    if (g.entered != nullptr) g.entered->release();
    g.open->acquire();
  }
  void on(halt_at h) { halt_ = h; }
  void on(item i) {
    if (halt_.never != nullptr && i.seq == halt_.seq) {
      if (::write(halt_.fd, "halted\n", 7) < 0) std::_Exit(2);
      halt_.never->acquire();
    }
    if (r_.count == 0) r_.first = i.seq;
    if (r_.count != 0 && i.seq != r_.last + 1) r_.in_order = false;
    if (r_.count != 0 && i.seq <= r_.last) r_.increasing = false;
    r_.last = i.seq;
    ++r_.count;
  }
  report on(get_report) { return r_; }
  report r_;
  halt_at halt_{-1, -1, nullptr};
};

/// Not serialisable: spill refuses it at spawn.
struct plain : troupe::actor<plain> {
  void on(int) {}
};

using troupe::test::temp_dir;

inline std::size_t segment_files(const fs::path& dir) {
  std::size_t n = 0;
  std::error_code ec;
  for (const auto& e : fs::directory_iterator(dir, ec)) n += e.path().extension() == ".seg" ? 1 : 0;
  return n;
}

inline troupe::spawn_options spilling(const fs::path& dir, std::size_t capacity = 8) {
  troupe::spawn_options o;
  o.dedicated_thread = true;  // the gate blocks it
  o.mailbox.capacity = capacity;
  o.mailbox.policy = overflow::spill;
  o.mailbox.spill.dir = dir.string();
  return o;
}

} // namespace spill_test
