// The metrics endpoint: an acceptor and one short-lived session per client,
// all on the server's own I/O thread. Boost.Beast parses the request (with
// header and body limits); every answer closes its connection, so a client
// holds a slot for one request at most `request_timeout` long.
#include "troupe/observe/metrics_server.hpp"

#include <atomic>
#include <stdexcept>
#include <system_error>
#include <thread>
#include <vector>
#include <utility>  // Boost 1.74 Asio uses std::exchange without it

#include <boost/asio.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>

#include "troupe/actors/actor_system.hpp"
#include "troupe/detail/logger.hpp"

namespace troupe {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
using tcp = asio::ip::tcp;

void metrics_endpoint_options::validate() const {
  auto bad = [](const std::string& what) { throw std::invalid_argument("metrics_endpoint_options: " + what); };
  boost::system::error_code ec;
  (void)asio::ip::make_address(address, ec);
  if (ec) bad("address '" + address + "' is not an IP address");
  if (max_connections == 0) bad("max_connections must be at least 1");
  if (request_timeout.count() <= 0) bad("request_timeout must be positive");
}

struct metrics_server::impl : std::enable_shared_from_this<impl> {
  impl(actor_system& s, metrics_endpoint_options o) : sys(s), opts(std::move(o)), acceptor(io) {}

  /// A client in flight; the server closes it when it stops.
  struct client {
    virtual ~client() = default;
    virtual void close() noexcept = 0;
  };

  actor_system& sys;
  metrics_endpoint_options opts;
  asio::io_context io;
  tcp::acceptor acceptor;
  asio::steady_timer backoff{io};
  std::thread thread;
  std::atomic<std::uint16_t> port{0};
  std::atomic<std::size_t> open{0};
  std::atomic<std::uint64_t> requests{0}, bad_requests{0}, refused{0}, timeouts{0};
  std::int64_t last_accept_log_ns = 0;
  std::vector<std::weak_ptr<client>> clients;  // the I/O thread's
  std::uint64_t source = 0;                    // this server's own counters, in sys's metrics

  void listen();
  void accept();
  void on_accept_error(const boost::system::error_code& ec);
  metrics_endpoint_stats stats() const noexcept {
    return {requests.load(std::memory_order_relaxed), bad_requests.load(std::memory_order_relaxed),
            refused.load(std::memory_order_relaxed), timeouts.load(std::memory_order_relaxed)};
  }
};

namespace {

constexpr std::uint32_t header_limit = 8 * 1024;  // a scrape's request is a few hundred bytes

/// One client: read one request, write one answer, close.
class session final : public metrics_server::impl::client, public std::enable_shared_from_this<session> {
 public:
  session(std::shared_ptr<metrics_server::impl> srv, tcp::socket s) : srv_(std::move(srv)), stream_(std::move(s)) {}
  ~session() override { srv_->open.fetch_sub(1, std::memory_order_relaxed); }
  void close() noexcept override {
    beast::error_code ignored;
    stream_.socket().close(ignored);
  }

  void start() {
    parser_.header_limit(header_limit);
    parser_.body_limit(0);  // GET has no body; anything more is refused
    stream_.expires_after(srv_->opts.request_timeout);
    http::async_read(stream_, buffer_, parser_,
                     [self = shared_from_this()](beast::error_code ec, std::size_t) { self->on_read(ec); });
  }

 private:
  void on_read(beast::error_code ec) {
    if (ec == asio::error::operation_aborted) return;  // the server is stopping
    if (ec == beast::error::timeout) {
      srv_->timeouts.fetch_add(1, std::memory_order_relaxed);
      return;  // a client that sends nothing whole in time gets nothing
    }
    if (ec == http::error::end_of_stream) return;  // connected and left
    if (ec == http::error::header_limit) return answer(http::status::request_header_fields_too_large, "header too large\n");
    if (ec) return answer(http::status::bad_request, "malformed request\n");
    const auto& req = parser_.get();
    if (req.method() != http::verb::get && req.method() != http::verb::head) {
      return answer(http::status::method_not_allowed, "only GET\n");
    }
    const std::string_view target(req.target().data(), req.target().size());
    const std::string_view path = target.substr(0, target.find('?'));
    if (path != "/metrics") return answer(http::status::not_found, "not found; metrics are at /metrics\n");
    std::string body;
    try {
      body = srv_->sys.metrics_text();
    } catch (const std::exception& ex) {
      detail::logger().error("troupe metrics endpoint: rendering failed: {}", ex.what());
      return answer(http::status::internal_server_error, "rendering failed\n");
    }
    answer(http::status::ok, std::move(body), req.method() == http::verb::head);
  }

  void answer(http::status status, std::string body, bool head = false) {
    srv_->requests.fetch_add(1, std::memory_order_relaxed);
    const auto code = static_cast<unsigned>(status);
    if (code >= 400 && code < 500) srv_->bad_requests.fetch_add(1, std::memory_order_relaxed);
    res_.result(status);
    res_.version(11);
    res_.set(http::field::server, "troupe");
    res_.set(http::field::content_type, status == http::status::ok ? "text/plain; version=0.0.4; charset=utf-8"
                                                                    : "text/plain; charset=utf-8");
    res_.keep_alive(false);
    const std::size_t length = body.size();
    if (!head) res_.body() = std::move(body);
    res_.content_length(length);
    stream_.expires_after(srv_->opts.request_timeout);
    http::async_write(stream_, res_, [self = shared_from_this()](beast::error_code ec, std::size_t) {
      if (ec == beast::error::timeout) self->srv_->timeouts.fetch_add(1, std::memory_order_relaxed);
      beast::error_code ignored;
      self->stream_.socket().shutdown(tcp::socket::shutdown_send, ignored);
    });
  }

  std::shared_ptr<metrics_server::impl> srv_;
  beast::tcp_stream stream_;
  beast::flat_buffer buffer_{header_limit};
  http::request_parser<http::empty_body> parser_;
  http::response<http::string_body> res_;
};

} // namespace

void metrics_server::impl::listen() {
  const tcp::endpoint ep(asio::ip::make_address(opts.address), opts.port);
  try {
    acceptor.open(ep.protocol());
    acceptor.set_option(tcp::acceptor::reuse_address(true));
    acceptor.bind(ep);
    acceptor.listen(asio::socket_base::max_listen_connections);
  } catch (const boost::system::system_error& e) {
    throw std::system_error(e.code().value(), std::system_category(),
                            "metrics endpoint on " + opts.address + ":" + std::to_string(opts.port));
  }
  port.store(acceptor.local_endpoint().port(), std::memory_order_relaxed);
}

void metrics_server::impl::accept() {
  acceptor.async_accept([self = shared_from_this()](boost::system::error_code ec, tcp::socket s) {
    if (ec == asio::error::operation_aborted || !self->acceptor.is_open()) return;
    if (ec) return self->on_accept_error(ec);
    if (self->open.load(std::memory_order_relaxed) >= self->opts.max_connections) {
      self->refused.fetch_add(1, std::memory_order_relaxed);
      boost::system::error_code ignored;
      s.close(ignored);  // no answer: the slot is what is short
    } else {
      self->open.fetch_add(1, std::memory_order_relaxed);
      auto c = std::make_shared<session>(self, std::move(s));
      std::erase_if(self->clients, [](const std::weak_ptr<client>& w) { return w.expired(); });
      self->clients.push_back(c);
      c->start();
    }
    self->accept();
  });
}

void metrics_server::impl::on_accept_error(const boost::system::error_code& ec) {
  // Out of descriptors (or another transient failure): back off instead of
  // spinning, and say so at most once a second.
  const std::int64_t now = std::chrono::steady_clock::now().time_since_epoch().count();
  if (now - last_accept_log_ns > 1'000'000'000) {
    last_accept_log_ns = now;
    detail::logger().warn("troupe metrics endpoint: accept failed: {}; retrying in 100 ms", ec.message());
  }
  backoff.expires_after(std::chrono::milliseconds(100));
  backoff.async_wait([self = shared_from_this()](boost::system::error_code e) {
    if (!e) self->accept();
  });
}

metrics_server::metrics_server(actor_system& sys, metrics_endpoint_options opts) {
  opts.validate();
  impl_ = std::make_shared<impl>(sys, std::move(opts));
  impl_->listen();
  impl_->source = sys.add_metrics_source([i = impl_.get()](metrics_writer& w) {
    const metrics_endpoint_stats s = i->stats();
    w.counter("troupe_metrics_http_requests_total", "Requests the metrics endpoint answered", s.requests);
    w.counter("troupe_metrics_http_bad_requests_total",
              "Requests the metrics endpoint refused with a 4xx (malformed, oversized, wrong method or path)",
              s.bad_requests);
    w.counter("troupe_metrics_http_refused_total", "Clients closed at accept: max_connections were being served",
              s.refused);
    w.counter("troupe_metrics_http_timeouts_total", "Clients cut off by request_timeout", s.timeouts);
  });
  impl_->accept();
  impl_->thread = std::thread([i = impl_.get()] { i->io.run(); });
}

metrics_server::~metrics_server() {
  impl_->sys.remove_metrics_source(impl_->source);
  // Every handler holds the impl: close what they wait on and let them
  // finish, so the thread's run() returns with nothing left.
  asio::post(impl_->io, [i = impl_.get()] {
    boost::system::error_code ignored;
    i->acceptor.close(ignored);
    i->backoff.cancel();
    for (auto& w : i->clients) {
      if (auto c = w.lock()) c->close();
    }
    i->clients.clear();
  });
  impl_->thread.join();
}

std::uint16_t metrics_server::port() const noexcept { return impl_->port.load(std::memory_order_relaxed); }

metrics_endpoint_stats metrics_server::stats() const noexcept { return impl_->stats(); }

} // namespace troupe
