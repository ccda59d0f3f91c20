#pragma once
// Private to the cluster: etcd's v3 API as typed calls (etcd_api.proto),
// over its JSON gateway (http_channel, json_stream), on the node's I/O
// thread. Every call ends exactly once, on the I/O thread, with the reply
// or a failure: errc::io_error (no etcd answered: refused, reset,
// unreachable), ask_error::timeout, or errc::refused with etcd's own
// message (a lease it does not know, a bad request).
#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include <google/protobuf/message.h>

#include "etcd/http_channel.hpp"
#include "etcd/json_stream.hpp"
#include "etcd_api.pb.h"
#include "provider.hpp"
#include "troupe/actors/send_result.hpp"

namespace troupe::cluster_detail {

/// `m` as the gateway's JSON (etcd's field names, bytes in base64).
[[nodiscard]] std::string to_json(const google::protobuf::Message& m);
/// Reads `json` into `m`, ignoring fields this schema does not have; false
/// (and `m` cleared) when it is not JSON of that message.
[[nodiscard]] bool from_json(std::string_view json, google::protobuf::Message* m);
/// The end of the key range that holds every key starting with `prefix`.
[[nodiscard]] std::string prefix_end(std::string prefix);

/// The etcd provider: both membership and ownership.
class etcd_client final : public provider {
 public:
  etcd_client(asio::io_context& io, std::vector<endpoint> endpoints, std::chrono::milliseconds timeout);

  void grant(std::int64_t ttl_seconds, done_fn<etcd::LeaseGrantResponse> done) override;
  /// One renewal (the gateway ends the stream after one answer).
  void keep_alive(std::int64_t lease, done_fn<etcd::LeaseKeepAliveResponse> done) override;
  void revoke(std::int64_t lease, done_fn<etcd::LeaseRevokeResponse> done) override;
  void put(const etcd::PutRequest& req, done_fn<etcd::PutResponse> done) override;
  void range(const etcd::RangeRequest& req, done_fn<etcd::RangeResponse> done) override;
  /// On the endpoint in use; the first response says created.
  std::shared_ptr<json_stream> watch(const etcd::WatchCreateRequest& req,
                                     std::function<void(const etcd::WatchResponse&)> on_response,
                                     std::function<void(const std::string& why)> on_end) override;
  [[nodiscard]] bool supports_ownership() const noexcept override { return true; }
  void txn(const etcd::TxnRequest& req, done_fn<etcd::TxnResponse> done) override;
  void remove(const etcd::DeleteRangeRequest& req, done_fn<etcd::DeleteRangeResponse> done) override;
  void close() override { channel_->close(); }
  [[nodiscard]] std::string where() const override { return channel_->current().text(); }

 private:
  /// POSTs `req` to `path`; parses the reply into R (or, for a streamed
  /// RPC, the first "result" of the stream into R).
  template <class R>
  void call(const char* path, const google::protobuf::Message& req, bool streamed, done_fn<R> done);
  static failure failure_of(const http_reply& r, const std::string& where);
  static bool parse_streamed(const std::string& body, google::protobuf::Message* result, std::string& error);

  asio::io_context& io_;
  std::shared_ptr<http_channel> channel_;
  const std::chrono::milliseconds timeout_;
};

template <class R>
void etcd_client::call(const char* path, const google::protobuf::Message& req, bool streamed, done_fn<R> done) {
  channel_->post(path, to_json(req), [where = where(), streamed, done = std::move(done)](http_reply r) {
    if (r.ec || r.status != 200) return done(failure_of(r, where));
    R reply;
    std::string error;
    const bool parsed = streamed ? parse_streamed(r.body, &reply, error) : from_json(r.body, &reply);
    if (!parsed) {
      return done(failure{errc::refused, "etcd " + where + ": " + (error.empty() ? "an answer that is not etcd's" : error)});
    }
    done(std::move(reply));
  });
}

} // namespace troupe::cluster_detail
