#pragma once
// Private to the cluster: one streamed call to etcd's JSON gateway (a
// watch), on its own connection, on the node's I/O thread. The gateway
// answers a streamed RPC with a chunked response carrying one JSON object
// per line; each line is handed on as it completes.
#include <chrono>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>

#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/core/tcp_stream.hpp>
#include <boost/beast/http/empty_body.hpp>
#include <boost/beast/http/parser.hpp>
#include <boost/beast/http/string_body.hpp>

#include "etcd/http_channel.hpp"

namespace troupe::cluster_detail {

/// A line longer than this ends the stream (a bound on what etcd, or
/// whoever answers in its place, can make us buffer).
constexpr std::size_t max_stream_line = std::size_t{16} << 20;

class json_stream : public std::enable_shared_from_this<json_stream> {
 public:
  using line_fn = std::function<void(std::string_view)>;
  using end_fn = std::function<void(error_code)>;

  /// The I/O thread's. `on_line` runs for each complete line, `on_end` once
  /// when the stream ends for any reason (never after close()).
  json_stream(asio::io_context& io, endpoint where, std::string target, std::string body,
              std::chrono::milliseconds connect_timeout, line_fn on_line, end_fn on_end);
  void start();
  void close();

 private:
  void read_header();
  void read_more();
  void end(error_code ec);

  asio::ip::tcp::resolver resolver_;
  beast::tcp_stream stream_;
  const endpoint where_;
  const std::chrono::milliseconds timeout_;
  line_fn on_line_;
  end_fn on_end_;
  http::request<http::string_body> req_;
  std::optional<http::response_parser<http::empty_body>> parser_;
  beast::flat_buffer buf_;
  std::string line_;
  std::function<std::size_t(std::uint64_t, beast::string_view, error_code&)> on_chunk_;
  bool closed_ = false;
};

} // namespace troupe::cluster_detail
