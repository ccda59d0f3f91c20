#include "etcd/http_channel.hpp"

#include <charconv>

#include <boost/asio/post.hpp>
#include <boost/beast/http/read.hpp>
#include <boost/beast/http/write.hpp>

namespace troupe::cluster_detail {

std::optional<endpoint> parse_endpoint(std::string_view text) {
  if (text.starts_with("http://")) text.remove_prefix(7);
  if (!text.empty() && text.back() == '/') text.remove_suffix(1);
  const auto colon = text.rfind(':');
  if (colon == std::string_view::npos || colon == 0 || colon + 1 == text.size()) return std::nullopt;
  unsigned port = 0;
  const char* first = text.data() + colon + 1;
  const char* last = text.data() + text.size();
  const auto [end, ec] = std::from_chars(first, last, port);
  if (ec != std::errc{} || end != last || port == 0 || port > 65535) return std::nullopt;
  std::string host(text.substr(0, colon));
  if (host.size() > 2 && host.front() == '[' && host.back() == ']') host = host.substr(1, host.size() - 2);
  return endpoint{std::move(host), static_cast<std::uint16_t>(port)};
}

http_channel::http_channel(asio::io_context& io, std::vector<endpoint> endpoints, std::chrono::milliseconds timeout)
    : io_(io), resolver_(io), stream_(io), endpoints_(std::move(endpoints)), timeout_(timeout) {}

void http_channel::post(std::string target, std::string body, done_fn done) {
  if (closed_) {
    asio::post(io_, [done = std::move(done)] { done({asio::error::operation_aborted, 0, {}}); });
    return;
  }
  calls_.push_back({std::move(target), std::move(body), std::move(done)});
  if (!busy_) asio::post(io_, [self = shared_from_this()] { self->next(); });
  busy_ = true;
}

void http_channel::close() {
  closed_ = true;
  error_code ignored;
  resolver_.cancel();
  stream_.socket().close(ignored);
  connected_ = false;
  auto calls = std::move(calls_);
  calls_.clear();
  for (auto& c : calls) {
    asio::post(io_, [done = std::move(c.done)] { done({asio::error::operation_aborted, 0, {}}); });
  }
}

void http_channel::next() {
  if (calls_.empty() || closed_) {
    busy_ = false;
    return;
  }
  busy_ = true;
  if (connected_) return send();
  connect();
}

void http_channel::connect() {
  // The timeout covers the whole call: resolving and connecting included.
  stream_.expires_after(timeout_);
  dial(resolver_, stream_, endpoints_[at_], [self = shared_from_this()](const error_code& ec) {
    if (self->closed_) return;
    if (ec) return self->fail_connection(ec);
    self->connected_ = true;
    self->send();
  });
}

void http_channel::send() {
  const call& c = calls_.front();
  req_ = {};
  req_.method(http::verb::post);
  req_.target(c.target);
  req_.version(11);
  req_.set(http::field::host, endpoints_[at_].text());
  req_.set(http::field::content_type, "application/json");
  req_.keep_alive(true);
  req_.body() = c.body;
  req_.prepare_payload();
  res_ = {};
  stream_.expires_after(timeout_);
  http::async_write(stream_, req_, [self = shared_from_this()](const error_code& ec, std::size_t) {
    if (self->closed_) return;
    if (ec) return self->fail_connection(ec);
    http::async_read(self->stream_, self->buf_, self->res_, [self](const error_code& ec2, std::size_t) {
      if (self->closed_) return;
      if (ec2) return self->fail_connection(ec2);
      self->stream_.expires_never();
      if (!self->res_.keep_alive()) {
        error_code ignored;
        self->stream_.socket().close(ignored);
        self->connected_ = false;
      }
      self->finish({{}, self->res_.result_int(), std::move(self->res_.body())});
    });
  });
}

void http_channel::fail_connection(const error_code& ec) {
  error_code ignored;
  stream_.socket().close(ignored);
  connected_ = false;
  buf_.clear();
  at_ = (at_ + 1) % endpoints_.size();  // the next call tries the next etcd
  // beast reports its own expiry as beast::error::timeout.
  finish({ec == beast::error::timeout ? error_code(asio::error::timed_out) : ec, 0, {}});
}

void http_channel::finish(http_reply r) {
  call c = std::move(calls_.front());
  calls_.pop_front();
  c.done(std::move(r));
  next();
}

} // namespace troupe::cluster_detail
