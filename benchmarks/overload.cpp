#include "overload.hpp"

#include <unistd.h>

#include <atomic>
#include <filesystem>
#include <thread>

#include "bench.pb.h"

namespace bench {

namespace {

namespace fs = std::filesystem;
using troupe_bench::Item;

struct finished {
  std::int64_t delivered;
  bool in_order;
};
using report_ref = troupe::actor_ref<troupe::inbox<finished>::actor_type>;

/// Spends `ns` on each item (spinning: a CPU-bound consumer) and checks the order.
struct slow_consumer : troupe::actor<slow_consumer> {
  using remote_interface = troupe::accepts<Item>;  // what may go to disk
  slow_consumer(std::int64_t n, std::chrono::nanoseconds work, report_ref report)
      : n_(n), work_(work), report_(std::move(report)) {}
  void on(Item i) {
    const auto until = steady::now() + work_;
    while (steady::now() < until) {
    }
    if (i.value() != next_ || i.tag().size() != 16) in_order_ = false;
    next_ = i.value() + 1;
    if (++delivered_ == n_) report_.tell(finished{delivered_, in_order_});
  }
  std::int64_t n_;
  std::chrono::nanoseconds work_;
  report_ref report_;
  std::int64_t next_ = 0;
  std::int64_t delivered_ = 0;
  bool in_order_ = true;
};

struct go {};
/// Sends as fast as it may, in slices so that it shares its worker.
struct fast_sender : troupe::actor<fast_sender> {
  fast_sender(troupe::actor_ref<slow_consumer> to, std::int64_t n) : to_(std::move(to)), n_(n) {}
  void on(go) {
    const std::int64_t end = std::min(n_, next_ + 4096);
    while (next_ < end) {
      Item it;
      it.set_value(next_++);
      it.set_tag("0123456789abcdef");
      if (to_.tell(std::move(it)) == troupe::send_result::muted) break;
    }
    if (next_ < n_) defer(go{});
  }
  troupe::actor_ref<slow_consumer> to_;
  std::int64_t n_;
  std::int64_t next_ = 0;
};

bool has_segments(const fs::path& dir) {
  std::error_code ec;
  for (const auto& e : fs::directory_iterator(dir, ec)) {
    if (e.path().extension() == ".seg") return true;
  }
  return false;
}

} // namespace

outcome run_overload(const overload_options& o) {
  const fs::path dir = fs::path(o.spill_dir) / ("troupe-overload-" + std::to_string(::getpid()));
  std::error_code ec;
  fs::remove_all(dir, ec);
  troupe::system_config cfg;
  cfg.threads = o.threads;
  outcome out;
  std::int64_t delivered = 0;
  bool in_order = false;
  u64 max_rss = 0, max_disk = 0, spilled = 0, syncs = 0;
  {
    troupe::actor_system sys(cfg);
    troupe::inbox<finished> done(sys);
    troupe::spawn_options so;
    so.mailbox.capacity = o.capacity;
    so.mailbox.policy = troupe::overflow::spill;
    so.mailbox.spill.dir = dir.string();
    so.mailbox.spill.disk_capacity_bytes = u64{16} << 30;
    so.mailbox.spill.durable = o.durable == "spill";
    so.mailbox.spill.write_ahead = o.durable.rfind("wal", 0) == 0;
    if (o.durable == "wal-batch") so.mailbox.spill.sync = troupe::spill_sync::per_batch;
    if (o.durable == "wal-interval") so.mailbox.spill.sync = troupe::spill_sync::interval;
    auto consumer = sys.spawn_with<slow_consumer>(so, static_cast<std::int64_t>(o.n),
                                                  std::chrono::nanoseconds(o.consumer_ns), done.ref());
    std::atomic<bool> sampling{true};
    std::thread sampler([&] {
      while (sampling.load(std::memory_order_relaxed)) {
        max_rss = std::max(max_rss, current_rss());
        max_disk = std::max<u64>(max_disk, consumer.metrics().spill.disk_bytes);
        std::this_thread::sleep_for(std::chrono::milliseconds(2));  // a sampling period, not synchronisation
      }
    });
    auto sender = sys.spawn<fast_sender>(consumer, static_cast<std::int64_t>(o.n));
    const auto t0 = steady::now();
    sender.tell(go{});
    auto r = done.receive(std::chrono::seconds(600));
    out.seconds = seconds_since(t0);
    sampling.store(false);
    sampler.join();
    max_rss = std::max(max_rss, current_rss());
    if (!r) fail("overload: the consumer did not get every message within 600 s");
    delivered = r->delivered;
    in_order = r->in_order;
    const auto m = consumer.metrics();
    max_disk = std::max<u64>(max_disk, m.spill.max_disk_bytes);
    spilled = m.spill.spilled;
    syncs = m.spill.syncs;
  }
  const bool empty = !has_segments(dir);
  fs::remove_all(dir, ec);
  out.units = o.n;
  char buf[320];
  std::snprintf(buf, sizeof buf,
                ",\"durable\":\"%s\",\"delivered\":%lld,\"in_order\":%s,\"max_rss_bytes\":%llu,"
                "\"max_disk_bytes\":%llu,\"spilled\":%llu,\"syncs\":%llu,\"spill_dir_empty\":%s",
                o.durable.c_str(), static_cast<long long>(delivered), in_order ? "true" : "false",
                static_cast<unsigned long long>(max_rss), static_cast<unsigned long long>(max_disk),
                static_cast<unsigned long long>(spilled), static_cast<unsigned long long>(syncs),
                empty ? "true" : "false");
  out.extra = buf;
  if (delivered != static_cast<std::int64_t>(o.n) || !in_order || !empty) {
    std::printf("{\"workload\":\"overload\"%s}\n", buf);
    fail("overload: lost, reordered or left messages on disk");
  }
  return out;
}

} // namespace bench
