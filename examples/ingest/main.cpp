// Ingest without loss: a bursty producer and a slow writer, with the
// Hopper pattern between them. The writer's mailbox keeps 1,000 events in
// memory; past that, events go to append-only files on disk (overflow::spill)
// and come back, in order, when the writer catches up. Nothing is dropped,
// nobody blocks, and memory stays flat however large the burst.
//
//   ingest [SPILL_DIR]      (default: a fresh directory under /tmp)
//
// It prints the writer's backlog in memory and on disk as it goes, then the
// high-water marks.
#include <troupe/troupe.hpp>

#include <unistd.h>

#include <cstring>
#include <optional>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <filesystem>
#include <string>
#include <thread>

namespace ingest {
/// One event from a sensor. To spill, a message must be serialisable: a
/// protobuf message, or (as here) a type with a troupe::codec.
struct event {
  std::uint64_t seq = 0;
  std::uint32_t sensor = 0;
  double value = 0;
};
} // namespace ingest

template <>
struct troupe::codec<ingest::event> {
  static constexpr std::string_view name = "ingest.event";
  static void encode(const ingest::event& e, std::string& out) {
    out.append(reinterpret_cast<const char*>(&e.seq), sizeof e.seq);
    out.append(reinterpret_cast<const char*>(&e.sensor), sizeof e.sensor);
    out.append(reinterpret_cast<const char*>(&e.value), sizeof e.value);
  }
  static bool decode(std::string_view in, ingest::event& e) {
    if (in.size() != sizeof e.seq + sizeof e.sensor + sizeof e.value) return false;  // untrusted bytes
    std::memcpy(&e.seq, in.data(), sizeof e.seq);
    std::memcpy(&e.sensor, in.data() + sizeof e.seq, sizeof e.sensor);
    std::memcpy(&e.value, in.data() + sizeof e.seq + sizeof e.sensor, sizeof e.value);
    return true;
  }
};

namespace ingest {
namespace {

using namespace std::chrono_literals;

std::uint64_t rss_bytes() {
  unsigned long size = 0, resident = 0;
  if (FILE* f = std::fopen("/proc/self/statm", "r")) {
    if (std::fscanf(f, "%lu %lu", &size, &resident) != 2) resident = 0;
    std::fclose(f);
  }
  return resident * static_cast<std::uint64_t>(::sysconf(_SC_PAGESIZE));
}

struct written {
  std::uint64_t count;
  bool in_order;
};
using report_ref = troupe::actor_ref<troupe::inbox<written>::actor_type>;

/// Writes events somewhere slow (a database, a remote API): 20 us or more each.
struct writer : troupe::actor<writer> {
  using remote_interface = troupe::accepts<event>;  // the types that may be spilled
  writer(std::uint64_t total, report_ref report) : total_(total), report_(std::move(report)) {}
  void on(event e) {
    std::this_thread::sleep_for(20us);  // the slow write (this actor has a thread of its own)
    if (e.seq != next_) in_order_ = false;
    next_ = e.seq + 1;
    if (++count_ == total_) report_.tell(written{count_, in_order_});
  }
  std::uint64_t total_;
  report_ref report_;
  std::uint64_t next_ = 0;
  std::uint64_t count_ = 0;
  bool in_order_ = true;
};

int run(int argc, char** argv) {
  const std::filesystem::path dir =
      argc > 1 ? std::filesystem::path(argv[1])
               : std::filesystem::temp_directory_path() / ("troupe-ingest-" + std::to_string(::getpid()));
  constexpr std::uint64_t bursts = 5, per_burst = 12'000, total = bursts * per_burst;

  troupe::actor_system sys;
  troupe::inbox<written> done(sys);
  troupe::spawn_options opts;
  opts.dedicated_thread = true;              // it blocks on its slow writes
  opts.mailbox.capacity = 1000;              // in memory
  opts.mailbox.policy = troupe::overflow::spill;
  opts.mailbox.spill.dir = dir.string();     // then on disk
  opts.mailbox.spill.disk_capacity_bytes = 256u << 20;
  opts.mailbox.spill.on_disk_full = troupe::overflow::mute_sender;  // and then the producer waits
  auto w = sys.spawn_with<writer>(opts, total, done.ref());

  std::uint64_t max_depth = 0, max_disk = 0, max_rss = 0;
  auto sample = [&](const char* what) {
    const auto m = w.metrics();
    max_depth = std::max(max_depth, m.depth);
    max_disk = std::max(max_disk, m.spill.disk_bytes);
    max_rss = std::max(max_rss, rss_bytes());
    std::printf("%-10s memory %5llu events | disk %7llu events, %6.1f MiB | process %5.1f MiB\n", what,
                static_cast<unsigned long long>(m.depth), static_cast<unsigned long long>(m.spill.on_disk),
                static_cast<double>(m.spill.disk_bytes) / (1 << 20), static_cast<double>(rss_bytes()) / (1 << 20));
  };

  // The producer: bursts as fast as it can send, with quiet spells between.
  std::uint64_t seq = 0;
  for (std::uint64_t b = 0; b < bursts; ++b) {
    for (std::uint64_t i = 0; i < per_burst; ++i) w.tell(event{seq++, static_cast<std::uint32_t>(i % 16), 0.5 * static_cast<double>(i)});
    sample(("burst " + std::to_string(b + 1)).c_str());
    std::this_thread::sleep_for(200ms);  // a quiet spell (the writer catches up meanwhile)
    sample("quiet");
  }
  std::optional<written> r;
  while (!(r = done.receive(500ms))) sample("draining");
  sample("done");
  const auto m = w.metrics();
  std::error_code ec;
  bool files_left = false;
  for (const auto& f : std::filesystem::directory_iterator(dir, ec)) files_left = files_left || f.path().extension() == ".seg";
  std::printf("\nhigh-water marks: %llu events in memory (capacity 1000), %.1f MiB on disk, process %.1f MiB\n",
              static_cast<unsigned long long>(max_depth), static_cast<double>(std::max(max_disk, m.spill.max_disk_bytes)) / (1 << 20),
              static_cast<double>(max_rss) / (1 << 20));
  std::printf("%llu of %llu events written, %s; %llu went through the disk; spill files left: %s\n",
              static_cast<unsigned long long>(r->count), static_cast<unsigned long long>(total),
              r->in_order ? "in order" : "OUT OF ORDER", static_cast<unsigned long long>(m.spill.spilled),
              files_left ? "yes" : "none");
  if (argc <= 1) std::filesystem::remove_all(dir, ec);
  return r->count == total && r->in_order && !files_left ? 0 : 1;
}

} // namespace
} // namespace ingest

int main(int argc, char** argv) { return ingest::run(argc, argv); }
