// shared_bytes: a large buffer sent to a same-host peer over shared memory
// is handed over (the receiver maps the sender's memfd: no byte is copied);
// over TCP, and when small, it is copied like any message. Either way the
// receiver gets exactly the bytes the sender wrote.
#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <filesystem>

#include "transport_fixture.hpp"

namespace transport_test {
namespace {

struct received {
  std::string head;       // the first bytes
  std::size_t size = 0;
  bool intact = false;    // every byte is what the sender wrote
  ino_t inode = 0;        // of the memfd behind it (0: a heap buffer)
};

/// Checks each buffer against the pattern the test writes, and tells where its memory lives.
struct buffer_sink : troupe::actor<buffer_sink> {
  using remote_interface = troupe::accepts<troupe::shared_bytes>;
  explicit buffer_sink(troupe::actor_ref<troupe::inbox<received>::actor_type> out) : out_(std::move(out)) {}
  void on(troupe::shared_bytes b) {
    received r;
    r.size = b.size();
    r.head.assign(b.data(), std::min<std::size_t>(b.size(), 8));
    r.intact = true;
    for (std::size_t i = 0; i < b.size(); ++i) r.intact = r.intact && b.data()[i] == static_cast<char>('a' + i % 23);
    struct stat st {};
    const int fd = troupe::detail::shared_bytes_access::fd(b);
    if (fd >= 0 && ::fstat(fd, &st) == 0) r.inode = st.st_ino;
    out_.tell(std::move(r));
  }
  troupe::actor_ref<troupe::inbox<received>::actor_type> out_;
};

troupe::shared_bytes pattern(std::size_t n) {
  troupe::shared_bytes b(n);
  for (std::size_t i = 0; i < n; ++i) b.data()[i] = static_cast<char>('a' + i % 23);
  return b;
}

ino_t inode_of(const troupe::shared_bytes& b) {
  struct stat st {};
  const int fd = troupe::detail::shared_bytes_access::fd(b);
  return fd >= 0 && ::fstat(fd, &st) == 0 ? st.st_ino : 0;
}

class transfer : public ::testing::Test {
 protected:
  void SetUp() override {
    path_ = (std::filesystem::temp_directory_path() / ("troupe-transfer-" + std::to_string(::getpid()) + ".sock")).string();
    auto ob = node_opts("beta");
    ob.listen_shm = path_;
    a = std::make_unique<troupe::node>(sys_a, node_opts("alpha"));
    b = std::make_unique<troupe::node>(sys_b, ob);
    b->publish("sink", sys_b.spawn<buffer_sink>(in.ref()));
  }
  void TearDown() override {
    a.reset();
    b.reset();
  }
  troupe::actor_ref<buffer_sink> sink_over(troupe::result<troupe::peer> p) {
    EXPECT_TRUE(p.ok()) << p.message();
    if (!p.ok()) return {};
    auto s = p.value().lookup<buffer_sink>("sink", 10s);
    EXPECT_TRUE(s.ok()) << s.message();
    return s.ok() ? s.value() : troupe::actor_ref<buffer_sink>{};
  }
  /// Sends the sink a buffer of `size` bytes (over `from`'s connection),
  /// waits until it was handled and given back; the inode it lived in.
  ino_t lend_until_back(const troupe::actor_ref<buffer_sink>& sink, const troupe::node& from, std::size_t size) {
    auto b = pattern(size);
    const ino_t lent = inode_of(b);
    const auto back = from.stats().transfers_back;
    EXPECT_EQ(sink.tell(std::move(b)), troupe::send_result::ok);
    EXPECT_TRUE(in.receive(10s).has_value());  // the sink dropped it after its handler
    EXPECT_TRUE(
        troupe::test::wait_until([&] { return from.stats().transfers_back == back + 1; }, troupe::test::long_wait));
    return lent;
  }
  troupe::actor_system sys_a{two_threads()};
  troupe::actor_system sys_b{two_threads()};
  troupe::inbox<received> in{sys_b};
  std::unique_ptr<troupe::node> a;
  std::unique_ptr<troupe::node> b;
  std::string path_;
};

TEST_F(transfer, ALargeBufferOverSharedMemoryIsHandedOverNotCopied) {
  auto sink = sink_over(a->connect_shm(path_, 10s));
  ASSERT_TRUE(sink);
  for (std::size_t size : {std::size_t{64} << 10, std::size_t{1} << 20, (std::size_t{3} << 20) + 7}) {
    auto buf = pattern(size);
    const ino_t sent = inode_of(buf);
    ASSERT_NE(sent, 0u) << "a large buffer lives in a memfd";
    ASSERT_EQ(sink.tell(std::move(buf)), troupe::send_result::ok);
    EXPECT_EQ(buf.size(), 0u) << "the sender gave it up";
    auto r = in.receive(10s);
    ASSERT_TRUE(r.has_value());
    EXPECT_EQ(r->size, size);
    EXPECT_TRUE(r->intact);
    EXPECT_EQ(r->inode, sent) << "the receiver maps the sender's memory: no copy";
  }
  EXPECT_EQ(a->stats().transfers_out, 3u);
}

TEST_F(transfer, ABufferTheReceiverDroppedComesBackAndIsReusedButNoPeerCanWriteIt) {
  auto sink = sink_over(a->connect_shm(path_, 10s));
  ASSERT_TRUE(sink);
  const ino_t lent = lend_until_back(sink, *a, std::size_t{256} << 10);
  auto second = troupe::shared_bytes(std::size_t{256} << 10);
  EXPECT_EQ(inode_of(second), lent) << "the same memory, given back: no new pages";
  EXPECT_EQ(second.data()[0], 0) << "a reused buffer starts zeroed like a new one";
  second.data()[0] = 'x';  // still ours to write
  // What a peer holding the descriptor can do with it: map it read-only or
  // privately, never writable and shared.
  const int fd = troupe::detail::shared_bytes_access::fd(second);
  void* shared_rw = ::mmap(nullptr, 4096, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
  EXPECT_EQ(shared_rw, MAP_FAILED) << "a peer could write into memory this process reuses";
  if (shared_rw != MAP_FAILED) ::munmap(shared_rw, 4096);
  void* shared_ro = ::mmap(nullptr, 4096, PROT_READ, MAP_SHARED, fd, 0);
  ASSERT_NE(shared_ro, MAP_FAILED);
  EXPECT_EQ(static_cast<const char*>(shared_ro)[0], 'x');
  ::munmap(shared_ro, 4096);
}

TEST_F(transfer, WithoutReuseAReturnedBufferIsFreed) {
  auto oc = node_opts("gamma");
  oc.reuse_returned_buffers = false;
  troupe::actor_system sys_c{two_threads()};
  troupe::node c(sys_c, oc);
  auto sink = sink_over(c.connect_shm(path_, 10s));
  ASSERT_TRUE(sink);
  const ino_t lent = lend_until_back(sink, c, std::size_t{320} << 10);  // a size no other test returns
  auto second = troupe::shared_bytes(std::size_t{320} << 10);
  EXPECT_NE(inode_of(second), lent) << "memory a peer mapped was reused";
}

/// A memfd of `size` bytes, sealed against resizing; `fill`: its pages written.
int sealed_memfd(std::size_t size, bool fill) {
  const int fd = ::memfd_create("troupe-test", MFD_CLOEXEC | MFD_ALLOW_SEALING);
  if (fd < 0 || ::ftruncate(fd, static_cast<off_t>(size)) != 0) return -1;
  if (fill) {
    const std::string page(4096, 'p');
    for (std::size_t at = 0; at < size; at += page.size()) {
      if (::pwrite(fd, page.data(), page.size(), static_cast<off_t>(at)) != static_cast<ssize_t>(page.size())) return -1;
    }
  }
  return ::fcntl(fd, F_ADD_SEALS, F_SEAL_SHRINK | F_SEAL_GROW) == 0 ? fd : -1;
}

TEST(adopt, ASparseBufferIsRefusedAFilledOneIsMappedPrivately) {
  // A peer's sparse memfd costs it nothing; mapping it populated would cost
  // us a page for every page of a size it chose.
  const int sparse = sealed_memfd(std::size_t{64} << 20, false);
  ASSERT_GE(sparse, 0);
  try {
    (void)troupe::detail::shared_bytes_access::adopt(sparse, std::size_t{64} << 20);
    ADD_FAILURE() << "a sparse buffer was adopted";
  } catch (const std::runtime_error& e) {
    EXPECT_NE(std::string(e.what()).find("sparse"), std::string::npos) << e.what();
  }
  const int filled = sealed_memfd(std::size_t{256} << 10, true);
  ASSERT_GE(filled, 0);
  const int peer_view = ::dup(filled);
  auto b = troupe::detail::shared_bytes_access::adopt(filled, std::size_t{256} << 10);
  ASSERT_EQ(b.size(), std::size_t{256} << 10);
  EXPECT_EQ(b.data()[0], 'p');
  b.data()[0] = 'q';  // the receiver's writes are its own
  char first = 0;
  ASSERT_EQ(::pread(peer_view, &first, 1, 0), 1);
  EXPECT_EQ(first, 'p') << "a receiver's write reached the sender's memory";
  ::close(peer_view);
}

TEST_F(transfer, OverTcpOrWhenSmallTheBytesAreCopied) {
  auto sink = sink_over(a->connect("127.0.0.1", b->port(), 10s));
  ASSERT_TRUE(sink);
  ASSERT_EQ(sink.tell(pattern(std::size_t{1} << 20)), troupe::send_result::ok);
  auto r = in.receive(10s);
  ASSERT_TRUE(r.has_value());
  EXPECT_EQ(r->size, std::size_t{1} << 20);
  EXPECT_TRUE(r->intact);
  EXPECT_EQ(a->stats().transfers_out, 0u) << "over TCP it is a copy";
  // Counted when the write completes, which the receiver may beat.
  EXPECT_TRUE(troupe::test::wait_until([&] { return a->stats().bytes_out > (std::uint64_t{1} << 20); },
                                       troupe::test::long_wait))
      << "bytes_out " << a->stats().bytes_out;
}

TEST_F(transfer, ASmallBufferOverSharedMemoryIsCopied) {
  auto sink = sink_over(a->connect_shm(path_, 10s));
  ASSERT_TRUE(sink);
  ASSERT_EQ(sink.tell(pattern(1000)), troupe::send_result::ok);
  auto r = in.receive(10s);
  ASSERT_TRUE(r.has_value());
  EXPECT_EQ(r->size, 1000u);
  EXPECT_TRUE(r->intact);
  EXPECT_EQ(r->inode, 0u) << "small buffers live on the heap";
  EXPECT_EQ(a->stats().transfers_out, 0u);
}

TEST_F(transfer, ManyTransfersInARowAllArriveInOrderAndKeepTheirCredit) {
  auto sink = sink_over(a->connect_shm(path_, 10s));
  ASSERT_TRUE(sink);
  // More than the initial flow credit (8192) would be slow here; what
  // matters is that credit comes back for transfers as for copies.
  const int n = static_cast<int>(troupe::test::scaled(300, 60));
  for (int i = 0; i < n; ++i) {
    auto buf = pattern(std::size_t{64} << 10);
    buf.data()[0] = static_cast<char>('A' + i % 26);
    buf.data()[1] = static_cast<char>('A' + i / 26 % 26);
    ASSERT_NE(sink.tell(std::move(buf)), troupe::send_result::dead);
  }
  for (int i = 0; i < n; ++i) {
    auto r = in.receive(10s);
    ASSERT_TRUE(r.has_value()) << i;
    EXPECT_EQ(r->head[0], static_cast<char>('A' + i % 26)) << i;
    EXPECT_EQ(r->head[1], static_cast<char>('A' + i / 26 % 26)) << i;
  }
  EXPECT_EQ(a->stats().transfers_out, static_cast<std::uint64_t>(n));
}

TEST_F(transfer, ABufferNoActorTakesIsGivenBackAtOnce) {
  auto p = a->connect_shm(path_, 10s);
  ASSERT_TRUE(p.ok()) << p.message();
  // Nothing published under this id; and an actor that takes no shared_bytes.
  auto plain = sys_b.spawn<echo>();
  b->expose(plain);
  auto nobody = p.value().resolve<buffer_sink>(std::uint64_t{1} << 60);
  auto wrong = p.value().resolve<buffer_sink>(plain.id());
  const std::uint64_t each = 4;
  // (The first to nobody brings back word that there is no such actor:
  // that handle then says dead, and lends nothing more.)
  ASSERT_EQ(nobody.tell(pattern(std::size_t{256} << 10)), troupe::send_result::ok);
  for (std::uint64_t i = 0; i < each; ++i) {
    ASSERT_EQ(wrong.tell(pattern(std::size_t{256} << 10)), troupe::send_result::ok);
  }
  // Each is a dead letter there, and its loan comes back with it: the sender
  // holds none of them afterwards (it would until the connection closed).
  EXPECT_TRUE(troupe::test::wait_until(
      [&] { return a->stats().transfers_out == each + 1 && a->stats().transfers_back == each + 1; },
      troupe::test::long_wait))
      << a->stats().transfers_out << " lent, " << a->stats().transfers_back << " back";
  EXPECT_TRUE(troupe::test::wait_until(
      [&] { return nobody.tell(pattern(std::size_t{1} << 10)) == troupe::send_result::dead; }, 10s));
  EXPECT_EQ(b->stats().bad_frames, 0u);
  // The connection goes on: the sink still gets what it is sent.
  auto sink = sink_over(p);
  ASSERT_TRUE(sink);
  ASSERT_EQ(sink.tell(pattern(std::size_t{1} << 20)), troupe::send_result::ok);
  auto r = in.receive(10s);
  ASSERT_TRUE(r.has_value());
  EXPECT_TRUE(r->intact);
  EXPECT_TRUE(troupe::test::wait_until([&] { return a->stats().transfers_back == each + 2; },
                                       troupe::test::long_wait));
}

TEST_F(transfer, ABufferAboveTheReceiversTransferLimitClosesTheConnection) {
  // beta takes loans of up to 1 MiB; alpha (1 GiB, the default) lends 2 MiB.
  b.reset();
  auto ob = node_opts("beta");
  ob.listen_shm = path_;
  ob.max_transfer_bytes = std::size_t{1} << 20;
  b = std::make_unique<troupe::node>(sys_b, ob);
  b->publish("sink", sys_b.spawn<buffer_sink>(in.ref()));
  auto first = a->connect_shm(path_, 10s);
  auto sink = sink_over(first);
  ASSERT_TRUE(sink);
  ASSERT_EQ(sink.tell(pattern(std::size_t{2} << 20)), troupe::send_result::ok);
  EXPECT_TRUE(troupe::test::wait_until([&] { return b->stats().bad_frames == 1; }, troupe::test::long_wait));
  EXPECT_TRUE(troupe::test::wait_until([&] { return !first.value().alive(); }, troupe::test::long_wait));
  EXPECT_EQ(a->stats().transfers_out, 1u);
  // Only that connection ended: beta serves a new one (or alpha's redial),
  // and a loan within its limit goes through.
  auto again = sink_over(a->connect_shm(path_, 10s));
  ASSERT_TRUE(again);
  ASSERT_EQ(again.tell(pattern(std::size_t{1} << 20)), troupe::send_result::ok);
  auto r = in.receive(10s);
  ASSERT_TRUE(r.has_value());
  EXPECT_EQ(r->size, std::size_t{1} << 20);
  EXPECT_TRUE(r->intact);
  EXPECT_EQ(b->stats().bad_frames, 1u);
}

} // namespace
} // namespace transport_test
