#include "etcd/json_stream.hpp"

#include <boost/beast/http/read.hpp>
#include <boost/beast/http/write.hpp>

namespace troupe::cluster_detail {

json_stream::json_stream(asio::io_context& io, endpoint where, std::string target, std::string body,
                         std::chrono::milliseconds connect_timeout, line_fn on_line, end_fn on_end)
    : resolver_(io),
      stream_(io),
      where_(std::move(where)),
      timeout_(connect_timeout),
      on_line_(std::move(on_line)),
      on_end_(std::move(on_end)) {
  req_.method(http::verb::post);
  req_.target(target);
  req_.version(11);
  req_.set(http::field::host, where_.text());
  req_.set(http::field::content_type, "application/json");
  req_.body() = std::move(body);
  req_.prepare_payload();
  // Holds `this`, not a shared reference: it lives in this object.
  on_chunk_ = [this](std::uint64_t, beast::string_view piece, error_code& ec) -> std::size_t {
    for (char ch : piece) {
      if (ch == '\n') {
        if (!line_.empty() && !closed_) on_line_(line_);
        line_.clear();
      } else if (line_.size() < max_stream_line) {
        line_.push_back(ch);
      } else {
        ec = http::error::body_limit;
        return 0;
      }
    }
    return piece.size();
  };
}

void json_stream::start() {
  // Until the response's header came: a timeout. After it, a watch may be
  // silent for as long as nothing changes; whoever owns the stream decides
  // when it is dead (the lease keep-alive notices a lost etcd).
  stream_.expires_after(timeout_);
  dial(resolver_, stream_, where_, [self = shared_from_this()](const error_code& ec) {
    if (self->closed_) return;
    if (ec) return self->end(ec);
    http::async_write(self->stream_, self->req_, [self](const error_code& ec2, std::size_t) {
      if (self->closed_) return;
      if (ec2) return self->end(ec2);
      self->read_header();
    });
  });
}

void json_stream::read_header() {
  parser_.emplace();
  parser_->body_limit(boost::none);  // the lines are bounded instead
  parser_->on_chunk_body(on_chunk_);  // Beast keeps a reference: a member
  http::async_read_header(stream_, buf_, *parser_, [self = shared_from_this()](const error_code& ec, std::size_t) {
    if (self->closed_) return;
    if (ec) return self->end(ec);
    if (self->parser_->get().result_int() != 200) return self->end(asio::error::connection_refused);
    self->stream_.expires_never();
    self->read_more();
  });
}

void json_stream::read_more() {
  http::async_read_some(stream_, buf_, *parser_, [self = shared_from_this()](const error_code& ec, std::size_t) {
    if (self->closed_) return;
    if (ec) return self->end(ec);
    if (self->parser_->is_done()) {
      if (!self->line_.empty()) self->on_line_(self->line_);  // a last line without its newline
      self->line_.clear();
      return self->end(asio::error::eof);
    }
    self->read_more();
  });
}

void json_stream::end(error_code ec) {
  if (closed_) return;
  closed_ = true;
  error_code ignored;
  stream_.socket().close(ignored);
  auto done = std::move(on_end_);
  on_line_ = nullptr;
  if (done) done(ec == beast::error::timeout ? error_code(asio::error::timed_out) : ec);
}

void json_stream::close() {
  closed_ = true;
  on_line_ = nullptr;
  on_end_ = nullptr;
  resolver_.cancel();
  error_code ignored;
  stream_.socket().close(ignored);
}

} // namespace troupe::cluster_detail
