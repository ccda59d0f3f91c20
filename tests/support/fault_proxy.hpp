#pragma once
// A TCP proxy for fault-injection tests, in the test process, on 127.0.0.1:
// a node dials the proxy, the proxy dials the real node, and bytes are
// forwarded both ways until the test cuts or freezes them. A cut may be
// one-sided: the socket toward one node closes while the other stays open
// and silent, as when a reset reaches only one end, or one end is frozen.
//
// A framed proxy (constructed with `framed`) also splits each direction
// into troupe frames (`u32 little-endian length | kind | ...`), so that a
// test can drop, repeat or reorder one frame of a kind: what a faulty
// network path or middlebox does, which the link's numbering must catch.
// Every chunk may also be delayed.
//
// Every control call returns once the proxy's thread has carried it out.

#include <array>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <future>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <thread>
#include <utility>  // Boost 1.74 Asio uses std::exchange without it
#include <vector>
#include <boost/asio.hpp>

namespace troupe::test {

/// What a framed proxy does to one frame.
enum class frame_fault {
  drop,       ///< it never arrives
  duplicate,  ///< it arrives twice in a row
  reorder,    ///< it arrives after the frame that followed it
};
/// A direction through the proxy.
enum class toward {
  listener,  ///< what the dialling node sends
  dialler,   ///< what the listening node sends
};

class fault_proxy {
 public:
  /// Forwards each connection made to port() to 127.0.0.1:`upstream_port`;
  /// `framed`: splits the streams into frames (see inject()).
  explicit fault_proxy(std::uint16_t upstream_port, bool framed = false)
      : framed_(framed),
        upstream_(boost::asio::ip::make_address("127.0.0.1"), upstream_port),
        acceptor_(io_, {boost::asio::ip::make_address("127.0.0.1"), 0}),
        port_(acceptor_.local_endpoint().port()) {
    accept();
    thread_ = std::thread([this] { io_.run(); });
  }
  ~fault_proxy() {
    run([this] {
      acceptor_.close();
      for (auto& p : pairs_) p->close_both();
      for (auto& p : held_) p->close_both();
      pairs_.clear();
      held_.clear();
    });
    work_.reset();
    io_.stop();
    thread_.join();
  }
  fault_proxy(const fault_proxy&) = delete;
  fault_proxy& operator=(const fault_proxy&) = delete;

  [[nodiscard]] std::uint16_t port() const noexcept { return port_; }

  /// Closes both sides of every open connection: both nodes see it end.
  void cut() {
    run([this] {
      for (auto& p : pairs_) p->close_both();
      pairs_.clear();
    });
  }
  /// Closes the side toward the dialling node only: it sees its connection
  /// end, while the listening node's socket stays open and hears nothing.
  void cut_dialler_side() { cut_one(&pair::down); }
  /// Closes the side toward the listening node only; the dialling node's
  /// socket stays open and hears nothing.
  void cut_listener_side() { cut_one(&pair::up); }
  /// Stops forwarding in both directions (nothing is closed; a chunk read
  /// meanwhile is held), or resumes.
  void freeze(bool on) {
    run([this, on] {
      frozen_ = on;
      if (!on) {
        for (auto& p : pairs_) {
          for (int dir = 0; dir < 2; ++dir) {
            if (p->held[dir] > 0) forward(p, dir, std::exchange(p->held[dir], 0));
          }
          start(p);
        }
      }
    });
  }
  /// (framed) The next frame of `kind` going `way` (on any connection)
  /// suffers `f`, once.
  void inject(toward way, frame_fault f, std::uint8_t kind) {
    run([&] { armed_.push_back({way == toward::listener ? 0 : 1, kind, f}); });
  }
  /// Faults inject() armed that have happened.
  [[nodiscard]] std::size_t injected() {
    std::size_t n = 0;
    run([&] { n = injected_; });
    return n;
  }
  /// Holds every chunk `d` before forwarding it (zero: none), both ways, in order.
  void delay(std::chrono::milliseconds d) {
    run([&] { delay_ = d; });
  }
  /// From now on keeps a copy of every byte forwarded, both ways (see captured()).
  void record() {
    run([&] { recording_ = true; });
  }
  /// What record() kept: [0] what the dialling node sent, [1] what the listening node sent.
  [[nodiscard]] std::array<std::string, 2> captured() {
    std::array<std::string, 2> out;
    run([&] { out = captured_; });
    return out;
  }
  /// The next chunk going `way` has one byte in its middle flipped, once.
  void flip_next(toward way) {
    run([&] { flip_[way == toward::listener ? 0 : 1] = true; });
  }
  /// Bytes flipped (flip_next) so far.
  [[nodiscard]] std::size_t flipped() {
    std::size_t n = 0;
    run([&] { n = flipped_; });
    return n;
  }
  /// Connections accepted so far.
  [[nodiscard]] std::size_t accepted() {
    std::size_t n = 0;
    run([&] { n = accepted_; });
    return n;
  }

 private:
  using tcp = boost::asio::ip::tcp;

  struct pair {
    explicit pair(boost::asio::io_context& io) : down(io), up(io), wait{boost::asio::steady_timer(io), boost::asio::steady_timer(io)} {}
    tcp::socket down;  // toward the dialling node
    tcp::socket up;    // toward the listening node
    std::array<boost::asio::steady_timer, 2> wait;  // a delayed chunk, each way
    std::array<std::string, 2> partial;  // framed: the start of a frame not yet whole
    std::array<std::optional<std::string>, 2> later;  // framed: a frame held back to follow the next
    std::array<std::array<char, 65536>, 2> buf{};
    std::array<bool, 2> reading{};  // [0] down -> up, [1] up -> down
    std::array<std::size_t, 2> held{};  // bytes read while frozen, not yet forwarded
    bool silent = false;            // one side cut: the other is held open, unread
    void close_both() {
      boost::system::error_code ignored;
      down.close(ignored);
      up.close(ignored);
      wait[0].cancel();
      wait[1].cancel();
    }
  };
  struct armed_fault {
    int dir;
    std::uint8_t kind;
    frame_fault what;
  };

  template <typename F>
  void run(F f) {
    std::promise<void> done;
    boost::asio::post(io_, [&] {
      f();
      done.set_value();
    });
    done.get_future().wait();
  }

  void cut_one(tcp::socket pair::*side) {
    run([this, side] {
      for (auto& p : pairs_) {
        p->silent = true;
        boost::system::error_code ignored;
        ((*p).*side).close(ignored);
        held_.push_back(p);  // the other socket stays open until the proxy goes
      }
      pairs_.clear();
    });
  }

  void accept() {
    auto p = std::make_shared<pair>(io_);
    acceptor_.async_accept(p->down, [this, p](const boost::system::error_code& ec) {
      if (ec) return;
      ++accepted_;
      p->up.async_connect(upstream_, [this, p](const boost::system::error_code& cec) {
        if (cec) return p->close_both();
        pairs_.push_back(p);
        start(p);
      });
      accept();
    });
  }

  void start(const std::shared_ptr<pair>& p) {
    pump(p, 0);
    pump(p, 1);
  }

  void pump(const std::shared_ptr<pair>& p, int dir) {
    if (frozen_ || p->silent || p->reading[dir]) return;
    tcp::socket& from = dir == 0 ? p->down : p->up;
    p->reading[dir] = true;
    from.async_read_some(boost::asio::buffer(p->buf[dir]), [this, p, dir](const boost::system::error_code& ec,
                                                                        std::size_t n) {
      if (p->silent) return;
      if (ec) {
        // One node closed: the other sees it, as without a proxy.
        p->close_both();
        return;
      }
      if (frozen_) {
        p->held[dir] = n;  // forwarded when the proxy thaws
        return;
      }
      forward(p, dir, n);
    });
  }

  void forward(const std::shared_ptr<pair>& p, int dir, std::size_t n) {
    if (flip_[dir] && n > 0) {
      flip_[dir] = false;
      p->buf[dir][n / 2] ^= 0x20;
      ++flipped_;
    }
    if (recording_) captured_[dir].append(p->buf[dir].data(), n);
    std::shared_ptr<std::string> frames;  // framed: what goes on, after the faults
    boost::asio::const_buffer bytes(p->buf[dir].data(), n);
    if (framed_) {
      frames = std::make_shared<std::string>(refit(*p, dir, n));
      bytes = boost::asio::buffer(*frames);
      if (frames->empty()) {  // no whole frame yet (or one dropped): read on
        p->reading[dir] = false;
        return pump(p, dir);
      }
    }
    auto write = [this, p, dir, bytes, frames] {
      tcp::socket& to = dir == 0 ? p->up : p->down;
      boost::asio::async_write(to, bytes, [this, p, dir, frames](const boost::system::error_code& wec, std::size_t) {
        p->reading[dir] = false;
        if (wec) return p->close_both();
        pump(p, dir);
      });
    };
    if (delay_.count() == 0) return write();
    p->wait[dir].expires_after(delay_);
    p->wait[dir].async_wait([write](const boost::system::error_code&) { write(); });  // a cancel: the write fails
  }

  /// (framed) The whole frames of what was read, after the armed faults.
  std::string refit(pair& p, int dir, std::size_t n) {
    std::string& in = p.partial[dir];
    in.append(p.buf[dir].data(), n);
    std::string out;
    std::size_t at = 0;
    while (in.size() - at >= 5) {
      const auto* b = reinterpret_cast<const unsigned char*>(in.data() + at);
      const std::size_t len = std::size_t(b[0]) | std::size_t(b[1]) << 8 | std::size_t(b[2]) << 16 | std::size_t(b[3]) << 24;
      if (in.size() - at - 4 < len) break;
      const std::string_view frame(in.data() + at, 4 + len);
      at += 4 + len;
      if (p.later[dir]) {  // the frame held back goes after this one
        out.append(frame);
        out.append(*p.later[dir]);
        p.later[dir].reset();
        continue;
      }
      const auto f = take_fault(dir, b[4]);
      if (!f) {
        out.append(frame);
        continue;
      }
      ++injected_;
      switch (*f) {
        case frame_fault::drop: break;
        case frame_fault::duplicate: out.append(frame).append(frame); break;
        case frame_fault::reorder: p.later[dir].emplace(frame); break;
      }
    }
    in.erase(0, at);
    return out;
  }

  std::optional<frame_fault> take_fault(int dir, std::uint8_t kind) {
    for (auto it = armed_.begin(); it != armed_.end(); ++it) {
      if (it->dir == dir && it->kind == kind) {
        const frame_fault f = it->what;
        armed_.erase(it);
        return f;
      }
    }
    return std::nullopt;
  }

  const bool framed_;
  boost::asio::io_context io_;
  std::optional<boost::asio::executor_work_guard<boost::asio::io_context::executor_type>> work_{io_.get_executor()};
  tcp::endpoint upstream_;
  tcp::acceptor acceptor_;
  std::uint16_t port_;
  std::vector<std::shared_ptr<pair>> pairs_;
  std::vector<std::shared_ptr<pair>> held_;
  std::size_t accepted_ = 0;
  std::vector<armed_fault> armed_;
  std::size_t injected_ = 0;
  std::chrono::milliseconds delay_{0};
  bool frozen_ = false;
  bool recording_ = false;
  std::array<std::string, 2> captured_;
  std::array<bool, 2> flip_{};
  std::size_t flipped_ = 0;
  std::thread thread_;
};

} // namespace troupe::test
