// Strangers cost almost nothing: floods of connections that never finish
// their handshake, and a listener out of descriptors. Heavy (thousands of
// sockets, a child process): the ctest label `fault`, not run under the
// sanitizers.
#include <gtest/gtest.h>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <fstream>
#include <sstream>
#include <thread>
#include <vector>

#include "child_node.hpp"
#include "raw_peers.hpp"
#include "transport_fixture.hpp"

namespace transport_test {
namespace {

/// A TCP connection to 127.0.0.1:`port` that sent `hello` and then nothing;
/// -1 when the connect failed.
int half_open(std::uint16_t port, const std::string& hello = "\x01\x02") {
  const int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_port = htons(port);
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  if (fd < 0 || ::connect(fd, reinterpret_cast<sockaddr*>(&a), sizeof a) != 0) {
    if (fd >= 0) ::close(fd);
    return -1;
  }
  (void)::send(fd, hello.data(), hello.size(), MSG_NOSIGNAL);
  return fd;
}

/// Closes every descriptor in `fds` when it goes.
struct sockets {
  std::vector<int> fds;
  ~sockets() { close_all(); }
  void close_all() {
    for (int fd : fds) ::close(fd);
    fds.clear();
  }
};

/// This process's resident memory, in bytes.
std::size_t rss() {
  std::ifstream f("/proc/self/statm");
  std::size_t pages = 0, resident = 0;
  f >> pages >> resident;
  return resident * static_cast<std::size_t>(::sysconf(_SC_PAGESIZE));
}

/// User plus system CPU time of process `pid` so far, in clock ticks.
long cpu_ticks(pid_t pid) {
  std::ifstream f("/proc/" + std::to_string(pid) + "/stat");
  std::string line;
  std::getline(f, line);
  std::istringstream rest(line.substr(line.rfind(')') + 2));
  std::string field;
  long utime = 0, stime = 0;
  for (int i = 3; i <= 15 && rest >> field; ++i) {
    if (i == 14) utime = std::stol(field);
    if (i == 15) stime = std::stol(field);
  }
  return utime + stime;
}

/// 2,000 connections from 127.0.0.1 to `port` that send two bytes and go quiet.
void flood_of_strangers(std::uint16_t port, sockets& into) {
  for (int i = 0; i < 2000; ++i) {
    if (const int fd = half_open(port); fd >= 0) into.fds.push_back(fd);
  }
  ASSERT_EQ(into.fds.size(), 2000u);
}

TEST(strangers, AFloodOfHandshakesThatNeverEndKeepsNoRealNodeOutAndNoMemory) {
  // Before, the first 1,024 of such a flood held a 256 KiB buffer each
  // until the handshake timeout (RSS 11 -> 276 MB, and it stayed there) and
  // everyone after them, a real node too, was refused.
  troupe::actor_system sys_b{two_threads()};
  troupe::node b(sys_b, node_opts("beta"));
  b.publish("echo", sys_b.spawn<echo>());
  troupe::actor_system sys_a{two_threads()};
  troupe::node a(sys_a, node_opts("alpha"));
  const std::size_t before = rss();
  {
    sockets flood;
    flood_of_strangers(b.port(), flood);
    EXPECT_LT(rss() - before, std::size_t{8} << 20) << "the flood cost more than 8 MiB";
    // Only max_handshakes_per_address (64) strangers from one address are
    // held; each newer one evicted the oldest.
    EXPECT_TRUE(troupe::test::wait_until([&] { return b.stats().handshakes_evicted >= 2000 - 64; }, 10s))
        << b.stats().handshakes_evicted;
  }
  // beta notices each close as its reader gets to it.
  EXPECT_TRUE(troupe::test::wait_until([&] { return rss() < before + before / 10; }, 5s))
      << "memory did not come back after the flood: " << rss() << " bytes, " << before << " before";
  // Again, and a real node connects from the flood's own address meanwhile.
  sockets flood;
  flood_of_strangers(b.port(), flood);
  auto p = a.connect("127.0.0.1", b.port(), 10s);
  ASSERT_TRUE(p.ok()) << "a real node was kept out by the flood: " << p.message();
  expect_echo_adds(p.value());
}

TEST(strangers, WrongCookiesFromOneAddressWaitLongerEachTimeAndNobodyElseWaits) {
  // Before, 300 wrong-cookie attempts took 0.15 s: an offline-strength
  // guessing rate. Now each failure from an address doubles the wait before
  // its next handshake starts (10 ms, 20 ms, ... at most 2 s).
  troupe::actor_system sys_b{two_threads()};
  troupe::node b(sys_b, node_opts("beta"));
  b.publish("echo", sys_b.spawn<echo>());
  const auto t0 = std::chrono::steady_clock::now();
  for (int i = 0; i < 7; ++i) {
    raw_client guess(b.port(), "127.0.0.2");
    ASSERT_TRUE(guess.connected());
    EXPECT_FALSE(guess.handshake_with("a-wrong-cookie-of-enough-bytes"));
  }
  EXPECT_GE(std::chrono::steady_clock::now() - t0, 630ms) << "waits of 10 + 20 + ... + 320 ms";
  ASSERT_TRUE(troupe::test::wait_until([&] { return b.stats().auth_failures == 7; }, 10s));
  // The eighth waits 640 ms before beta says anything; a node from another
  // address is served meanwhile.
  raw_client eighth(b.port(), "127.0.0.2");
  troupe::actor_system sys_a{two_threads()};
  troupe::node a(sys_a, node_opts("alpha"));
  auto p = a.connect("127.0.0.1", b.port(), 10s);
  ASSERT_TRUE(p.ok()) << p.message();
  expect_echo_adds(p.value());
  char byte = 0;
  EXPECT_EQ(::recv(eighth.fd(), &byte, 1, MSG_DONTWAIT), -1) << "beta spoke to the guesser before its wait was over";
}

TEST(strangers, AListenerOutOfDescriptorsShedsAndBacksOffInsteadOfSpinning) {
  // A child node with a 64-descriptor limit and 400 connections at it.
  // Before, every accept failed at once with EMFILE and was retried at
  // once: a busy loop writing hundreds of thousands of log lines.
  const std::string log = ::testing::TempDir() + "strangers-emfile-" + std::to_string(::getpid()) + ".log";
  child_node child("tight", 0, 100, false, /*nofile=*/64, log);
  sockets flood;
  for (int i = 0; i < 400; ++i) {
    if (const int fd = half_open(child.port()); fd >= 0) flood.fds.push_back(fd);
  }
  const long cpu_before = cpu_ticks(child.pid());
  std::this_thread::sleep_for(2s);  // the overload itself: the child out of descriptors for 2 s
  const long cpu_used = cpu_ticks(child.pid()) - cpu_before;
  EXPECT_LT(cpu_used, ::sysconf(_SC_CLK_TCK) / 2) << "the child spent more than half a second of CPU in 2 s";
  flood.close_all();
  // Served again once descriptors are back (the backoff is at most 1 s).
  troupe::actor_system sys{two_threads()};
  troupe::node a(sys, node_opts("alpha"));
  troupe::result<troupe::peer> p = troupe::failure{troupe::ask_error::timeout, "not tried"};
  ASSERT_TRUE(troupe::test::wait_until([&] { return (p = a.connect("127.0.0.1", child.port(), 2s)).ok(); }, 20s))
      << p.message();
  expect_echo_adds(p.value());
  child.kill();
  std::ifstream in(log);
  int lines = 0;
  int warnings = 0;
  for (std::string l; std::getline(in, l);) {
    lines += l.find("accept on") != std::string::npos ? 1 : 0;
    warnings += l.find("[warning]") != std::string::npos ? 1 : 0;
  }
  EXPECT_GE(lines, 1) << "the failures were not logged";
  EXPECT_LE(lines, 10) << "accept failures are logged at most once a second";
  EXPECT_LE(warnings, 20) << "the strangers' resets are logged at most once a second too";
  ::unlink(log.c_str());
}

} // namespace
} // namespace transport_test
