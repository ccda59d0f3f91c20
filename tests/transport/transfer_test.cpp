// shared_bytes: a large buffer sent to a same-host peer over shared memory
// is handed over (the receiver maps the sender's memfd: no byte is copied);
// over TCP, and when small, it is copied like any message. Either way the
// receiver gets exactly the bytes the sender wrote.
#include <sys/stat.h>

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
    if (b.fd() >= 0 && ::fstat(b.fd(), &st) == 0) r.inode = st.st_ino;
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
  return b.fd() >= 0 && ::fstat(b.fd(), &st) == 0 ? st.st_ino : 0;
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

TEST_F(transfer, ABufferTheReceiverDroppedComesBackAndIsReused) {
  auto sink = sink_over(a->connect_shm(path_, 10s));
  ASSERT_TRUE(sink);
  auto first = pattern(std::size_t{256} << 10);
  const ino_t lent = inode_of(first);
  ASSERT_EQ(sink.tell(std::move(first)), troupe::send_result::ok);
  ASSERT_TRUE(in.receive(10s).has_value());  // the sink dropped it after its handler
  ASSERT_TRUE(troupe::test::wait_until([&] { return a->stats().transfers_back == 1; }, troupe::test::long_wait));
  auto second = troupe::shared_bytes(std::size_t{256} << 10);
  EXPECT_EQ(inode_of(second), lent) << "the same memory, given back: no new pages";
  EXPECT_EQ(second.data()[0], 0) << "a reused buffer starts zeroed like a new one";
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

} // namespace
} // namespace transport_test
