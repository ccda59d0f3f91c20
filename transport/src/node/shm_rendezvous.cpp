#include "node/shm_rendezvous.hpp"

#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <sys/stat.h>

#include <cstring>

#include "node/node_impl.hpp"
#include "streams/shm_segment.hpp"
#include "streams/shm_stream.hpp"

namespace troupe::transport {

namespace {
using local = asio::local::stream_protocol;
constexpr char segment_tag = 'S';

class rendezvous final : public std::enable_shared_from_this<rendezvous> {
 public:
  rendezvous(node_impl& node, local::socket sock, bool connector, std::string what, rendezvous_done done)
      : node_(node),
        sock_(std::move(sock)),
        hs_(connector ? handshake::role::connector : handshake::role::acceptor, node.opts.name, node.incarnation,
            node.cookie, 4096),
        what_(std::move(what)),
        done_(std::move(done)),
        timer_(node.io) {}

  void start() {
    timer_.expires_after(node_.opts.handshake_timeout);
    timer_.async_wait([self = shared_from_this()](const boost::system::error_code& ec) {
      if (!ec) self->fail("handshake not finished within " + std::to_string(self->node_.opts.handshake_timeout.count()) + " ms");
    });
    std::string out;
    hs_.start(out);
    send(std::move(out));
    read_more();
  }

 private:
  void send(std::string bytes) {
    if (bytes.empty()) return;
    auto buf = std::make_shared<std::string>(std::move(bytes));
    asio::async_write(sock_, asio::buffer(*buf), [self = shared_from_this(), buf](const boost::system::error_code& ec, std::size_t) {
      if (ec) self->fail("write failed: " + ec.message());
    });
  }

  void read_more() {
    if (finished_) return;
    if (rbuf_.size() - rlen_ < 512) rbuf_.resize(rbuf_.size() + 4096);
    sock_.async_read_some(asio::buffer(rbuf_.data() + rlen_, rbuf_.size() - rlen_),
                          [self = shared_from_this()](const boost::system::error_code& ec, std::size_t n) {
                            if (self->finished_) return;
                            if (ec) {
                              self->fail(ec == asio::error::eof ? std::string("connection closed by the peer")
                                                                : "read failed: " + ec.message());
                              return;
                            }
                            self->rlen_ += n;
                            self->on_bytes();
                          });
  }

  void on_bytes() {
    framing_error err{};
    std::string out;
    bool stop = false;
    const std::size_t used = split_frames(std::string_view(rbuf_.data(), rlen_), 4096, err, [&](const frame_view& f) {
      const auto st = hs_.on_frame(f, out);
      if (st == handshake::status::in_progress) return true;
      stop = true;
      return false;
    });
    rbuf_.erase(0, used);
    rlen_ -= used;
    if (err != framing_error::none) return fail("bad frame in the handshake");
    switch (hs_.state()) {
      case handshake::status::in_progress:
        send(std::move(out));
        return read_more();
      case handshake::status::failed:
        send(std::move(out));  // a REFUSE, when there is one
        return fail(hs_.reason(), hs_.auth_failure());
      case handshake::status::authenticated:
        // Acceptor: the peer proved the cookie; it sends nothing more until
        // our WELCOME, then exactly the descriptors.
        if (rlen_ != 0) return fail("bytes after the handshake");
        hs_.welcome(out);
        send(std::move(out));
        return await_descriptors();
      case handshake::status::established:
        if (!stop || rlen_ != 0) return fail("bytes after the handshake");
        return pass_segment();
    }
  }

  /// Connector: makes the segment and passes the acceptor its descriptors.
  void pass_segment() {
    shm::link_fds mine;
    try {
      mine.segment = shm::make_segment(node_.opts.shm_ring_bytes);
    } catch (const std::exception& ex) {
      return fail(std::string("cannot make the shared segment: ") + ex.what());
    }
    if (!shm::send_fd(sock_.native_handle(), mine.segment, segment_tag, 0)) {
      const int err = errno;
      mine.close_all();
      return fail(std::string("cannot pass the shared segment: ") + std::strerror(err));
    }
    finish_with(mine);
  }

  /// Acceptor: waits for the one byte that carries the descriptors.
  void await_descriptors() {
    sock_.async_wait(local::socket::wait_read, [self = shared_from_this()](const boost::system::error_code& ec) {
      if (self->finished_) return;
      if (ec) return self->fail("wait failed: " + ec.message());
      self->receive_descriptors();
    });
  }

  void receive_descriptors() {
    char tag = 0;
    shm::passed_fds got;  // whatever arrives is ours to close, whether or not it is what we wanted
    const ssize_t n = shm::recv_with_fds(sock_.native_handle(), &tag, 1, MSG_DONTWAIT, got);
    if (n < 0 && (errno == EAGAIN || errno == EINTR)) return await_descriptors();
    if (n == 0) {
      got.close_all();
      return fail("connection closed by the peer");
    }
    if (n != 1 || tag != segment_tag || got.count != 1 || got.truncated) {
      got.close_all();
      return fail("the peer did not pass a shared segment as agreed");
    }
    shm::link_fds mine;
    mine.segment = got.fd[0];
    mine.side = 1;
    // The connector chose the ring size; this side maps it: capped here.
    struct stat st {};
    const std::size_t cap = node_.opts.max_shm_ring_bytes;
    if (::fstat(mine.segment, &st) != 0 || static_cast<std::size_t>(st.st_size) > 2 * cap + shm::header_bytes) {
      mine.close_all();
      return fail("the peer's shared segment (" + std::to_string(st.st_size) + " bytes) has rings larger than "
                  "max_shm_ring_bytes (" + std::to_string(cap) + ")");
    }
    finish_with(mine);
  }

  /// The socket becomes the stream's control socket, beside `fds.segment`.
  void finish_with(shm::link_fds fds) {
    boost::system::error_code ec;
    fds.control = sock_.release(ec);
    if (ec) {
      fds.control = -1;
      fds.close_all();
      return fail("cannot keep the control socket");
    }
    std::unique_ptr<byte_stream> stream;
    try {
      stream = make_shm_stream(node_.io, fds, "shm:" + what_);
    } catch (const std::exception& ex) {
      return fail(std::string("unusable shared segment: ") + ex.what());
    }
    finished_ = true;
    timer_.cancel();
    done_(std::move(stream), {});
  }

  void fail(const std::string& why, bool auth = false) {
    if (finished_) return;
    finished_ = true;
    timer_.cancel();
    boost::system::error_code ec;
    sock_.close(ec);
    node_.counters.add(counter::handshake_failures);
    if (auth) node_.counters.add(counter::auth_failures);
    done_(nullptr, why);
  }

  node_impl& node_;
  local::socket sock_;
  handshake hs_;
  std::string what_;
  rendezvous_done done_;
  asio::steady_timer timer_;
  std::string rbuf_;
  std::size_t rlen_ = 0;
  bool finished_ = false;
};
} // namespace

void shm_rendezvous(node_impl& node, local::socket sock, bool connector, std::string what, rendezvous_done done) {
  std::make_shared<rendezvous>(node, std::move(sock), connector, std::move(what), std::move(done))->start();
}

} // namespace troupe::transport
