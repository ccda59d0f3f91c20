#pragma once
// Private to the cluster: HTTP/1.1 to etcd's JSON gateway, on the node's
// I/O thread (Boost.Beast on the node's Asio; no thread of its own).
//
// http_channel carries unary calls (POST /v3/..., a JSON body each way)
// over one kept-alive connection, one call at a time, in the order they
// were posted. A call that fails on the connection or outlives its timeout
// closes the connection, fails, and moves the channel to the next endpoint,
// so the next call tries another etcd member: one etcd down costs a call,
// not the cluster.
//
// Threads: every member function is the I/O thread's (post from elsewhere
// with asio::post).
#include <chrono>
#include <cstdint>
#include <deque>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/core/tcp_stream.hpp>
#include <boost/beast/http/string_body.hpp>
#include <boost/beast/http/message.hpp>

namespace troupe::cluster_detail {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
using error_code = boost::system::error_code;

/// An etcd client endpoint, host and port (http).
struct endpoint {
  std::string host;
  std::uint16_t port = 0;
  [[nodiscard]] std::string text() const { return host + ":" + std::to_string(port); }
};

/// "host:port" as an endpoint; nothing when it is not one (no port, a port
/// of 0 or past 65535, an empty host). A leading "http://" is allowed.
[[nodiscard]] std::optional<endpoint> parse_endpoint(std::string_view text);

/// Resolves `to` and connects `stream` (TCP_NODELAY once connected); `then`
/// gets the outcome, on the I/O thread. The caller keeps `resolver` and
/// `stream` alive until then (its handler holds their owner).
template <class Then>
void dial(asio::ip::tcp::resolver& resolver, beast::tcp_stream& stream, const endpoint& to, Then then) {
  resolver.async_resolve(to.host, std::to_string(to.port),
                         [&stream, then = std::move(then)](const error_code& ec,
                                                           asio::ip::tcp::resolver::results_type rs) mutable {
                           if (ec) return then(ec);
                           stream.async_connect(rs, [&stream, then = std::move(then)](const error_code& ec2,
                                                                                     const auto&) mutable {
                             error_code ignored;  // the option is a latency nicety: never worth failing for
                             if (!ec2) stream.socket().set_option(asio::ip::tcp::no_delay(true), ignored);
                             then(ec2);
                           });
                         });
}

/// What a call came back with: the HTTP status and body, or why there is none.
struct http_reply {
  error_code ec;        ///< set when no answer came (connect, write, read, timeout)
  unsigned status = 0;  ///< the HTTP status when one came
  std::string body;
};

class http_channel : public std::enable_shared_from_this<http_channel> {
 public:
  using done_fn = std::function<void(http_reply)>;

  http_channel(asio::io_context& io, std::vector<endpoint> endpoints, std::chrono::milliseconds timeout);

  /// Queues POST `target` with the JSON `body`; `done` runs once on the I/O
  /// thread with what came back (never inside this call).
  void post(std::string target, std::string body, done_fn done);
  /// Fails what is queued (operation_aborted) and closes the connection;
  /// later posts fail at once.
  void close();
  /// The endpoint the channel uses now (for logs).
  [[nodiscard]] const endpoint& current() const noexcept { return endpoints_[at_]; }

 private:
  struct call {
    std::string target;
    std::string body;
    done_fn done;
  };
  void next();
  void connect();
  void send();
  void finish(http_reply r);
  void fail_connection(const error_code& ec);

  asio::io_context& io_;
  asio::ip::tcp::resolver resolver_;
  beast::tcp_stream stream_;
  const std::vector<endpoint> endpoints_;
  const std::chrono::milliseconds timeout_;
  std::size_t at_ = 0;
  bool connected_ = false;
  bool busy_ = false;
  bool closed_ = false;
  std::deque<call> calls_;
  http::request<http::string_body> req_;
  http::response<http::string_body> res_;
  beast::flat_buffer buf_;
};

} // namespace troupe::cluster_detail
