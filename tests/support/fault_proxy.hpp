#pragma once
// A TCP proxy for fault-injection tests, in the test process, on 127.0.0.1:
// a node dials the proxy, the proxy dials the real node, and bytes are
// forwarded both ways until the test cuts or freezes them. A cut may be
// one-sided: the socket toward one node closes while the other stays open
// and silent, as when a reset reaches only one end, or one end is frozen.
//
// Every control call returns once the proxy's thread has carried it out.

#include <array>
#include <cstddef>
#include <cstdint>
#include <future>
#include <memory>
#include <optional>
#include <thread>
#include <utility>  // Boost 1.74 Asio uses std::exchange without it
#include <vector>
#include <boost/asio.hpp>

namespace troupe::test {

class fault_proxy {
 public:
  /// Forwards each connection made to port() to 127.0.0.1:`upstream_port`.
  explicit fault_proxy(std::uint16_t upstream_port)
      : upstream_(boost::asio::ip::make_address("127.0.0.1"), upstream_port),
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
  /// Connections accepted so far.
  [[nodiscard]] std::size_t accepted() {
    std::size_t n = 0;
    run([&] { n = accepted_; });
    return n;
  }

 private:
  using tcp = boost::asio::ip::tcp;

  struct pair {
    explicit pair(boost::asio::io_context& io) : down(io), up(io) {}
    tcp::socket down;  // toward the dialling node
    tcp::socket up;    // toward the listening node
    std::array<std::array<char, 65536>, 2> buf{};
    std::array<bool, 2> reading{};  // [0] down -> up, [1] up -> down
    std::array<std::size_t, 2> held{};  // bytes read while frozen, not yet forwarded
    bool silent = false;            // one side cut: the other is held open, unread
    void close_both() {
      boost::system::error_code ignored;
      down.close(ignored);
      up.close(ignored);
    }
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
    tcp::socket& to = dir == 0 ? p->up : p->down;
    boost::asio::async_write(to, boost::asio::buffer(p->buf[dir].data(), n),
                             [this, p, dir](const boost::system::error_code& wec, std::size_t) {
                               p->reading[dir] = false;
                               if (wec) return p->close_both();
                               pump(p, dir);
                             });
  }

  boost::asio::io_context io_;
  std::optional<boost::asio::executor_work_guard<boost::asio::io_context::executor_type>> work_{io_.get_executor()};
  tcp::endpoint upstream_;
  tcp::acceptor acceptor_;
  std::uint16_t port_;
  std::vector<std::shared_ptr<pair>> pairs_;
  std::vector<std::shared_ptr<pair>> held_;
  std::size_t accepted_ = 0;
  bool frozen_ = false;
  std::thread thread_;
};

} // namespace troupe::test
