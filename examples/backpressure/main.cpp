// A fast producer floods a slow consumer through a small bounded mailbox.
// With the default policy (mute_sender) the producer is paused whenever the
// consumer's mailbox is full, so memory stays flat however long it runs and
// no message is lost. The program prints the consumer's mailbox depth and
// the process's memory as it goes.
#include <troupe/troupe.hpp>

#include <unistd.h>

#include <chrono>
#include <cstdint>
#include <cstdio>

namespace {

std::uint64_t rss_kib() {
  unsigned long size = 0, resident = 0;
  if (FILE* f = std::fopen("/proc/self/statm", "r")) {
    if (std::fscanf(f, "%lu %lu", &size, &resident) != 2) resident = 0;
    std::fclose(f);
  }
  return resident * static_cast<std::uint64_t>(sysconf(_SC_PAGESIZE)) / 1024;
}

struct progress {
  std::uint64_t received;
  std::uint64_t max_depth;
  bool finished;
};
using report_ref = troupe::actor_ref<troupe::inbox<progress>::actor_type>;

struct item {
  std::uint64_t seq;
  std::uint64_t payload[8];  // 64 bytes of data per message
};

/// Spends about 2 us on each message and checks they arrive in order.
struct slow_consumer : troupe::actor<slow_consumer> {
  slow_consumer(report_ref report, std::uint64_t total) : report_(std::move(report)), total_(total) {}
  void on(item it) {
    if (it.seq != received_) throw std::runtime_error("out of order");
    ++received_;
    max_depth_ = std::max<std::uint64_t>(max_depth_, self().mailbox_depth());
    const auto until = std::chrono::steady_clock::now() + std::chrono::microseconds(2);
    while (std::chrono::steady_clock::now() < until) {
    }
    if (received_ % 50'000 == 0 || received_ == total_) report_.tell(progress{received_, max_depth_, received_ == total_});
  }
  report_ref report_;
  std::uint64_t total_, received_ = 0, max_depth_ = 0;
};

struct next {};

/// Sends as fast as it can; stops its loop when told it is muted and
/// resumes (via a deferred `next`) once the consumer has drained.
struct fast_producer : troupe::actor<fast_producer> {
  fast_producer(troupe::actor_ref<slow_consumer> to, std::uint64_t total) : to_(std::move(to)), total_(total) {}
  void on(next) {
    while (sent_ < total_) {
      if (to_.tell(item{sent_++, {}}) == troupe::send_result::muted) {
        ++mutes_;
        break;
      }
    }
    if (sent_ < total_) defer(next{});
  }
  troupe::actor_ref<slow_consumer> to_;
  std::uint64_t total_, sent_ = 0, mutes_ = 0;
};

} // namespace

int main() {
  constexpr std::uint64_t total = 400'000;
  constexpr std::size_t capacity = 256;
  troupe::actor_system sys;
  troupe::inbox<progress> reports(sys);
  auto consumer = sys.spawn_with<slow_consumer>(
      {.mailbox = {.capacity = capacity, .policy = troupe::overflow::mute_sender}}, reports.ref(), total);
  auto producer = sys.spawn<fast_producer>(consumer, total);
  std::printf("backpressure: producer sends %llu messages of %zu bytes to a consumer that takes ~2 us each;\n"
              "              the consumer's mailbox holds %zu (policy mute_sender)\n",
              static_cast<unsigned long long>(total), sizeof(item), capacity);
  const std::uint64_t rss_start = rss_kib();
  std::uint64_t rss_max = rss_start;
  producer.tell(next{});
  for (;;) {
    auto p = reports.receive(std::chrono::seconds(30));
    if (!p) {
      std::fprintf(stderr, "backpressure: no progress for 30 s\n");
      return 1;
    }
    rss_max = std::max(rss_max, rss_kib());
    std::printf("  received %7llu   max mailbox depth %4llu   memory %6llu KiB\n",
                static_cast<unsigned long long>(p->received), static_cast<unsigned long long>(p->max_depth),
                static_cast<unsigned long long>(rss_kib()));
    if (p->finished) {
      const bool flat = p->max_depth <= capacity + 1;
      std::printf("backpressure: all %llu delivered in order; mailbox never held more than %llu (bound %zu); "
                  "memory grew by %llu KiB at most: %s\n",
                  static_cast<unsigned long long>(p->received), static_cast<unsigned long long>(p->max_depth),
                  capacity, static_cast<unsigned long long>(rss_max - rss_start),
                  flat ? "flat, as promised" : "NOT flat");
      return flat ? 0 : 1;
    }
  }
}
