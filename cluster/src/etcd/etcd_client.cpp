#include "etcd/etcd_client.hpp"

#include <google/protobuf/util/json_util.h>

#include "troupe/actors/error.hpp"

namespace troupe::cluster_detail {

std::string to_json(const google::protobuf::Message& m) {
  std::string out;
  google::protobuf::util::JsonPrintOptions o;
  o.preserve_proto_field_names = true;  // etcd's names (create_revision, range_end)
  (void)google::protobuf::util::MessageToJsonString(m, &out, o);  // fails only for Any without a resolver
  return out;
}

bool from_json(std::string_view json, google::protobuf::Message* m) {
  google::protobuf::util::JsonParseOptions o;
  o.ignore_unknown_fields = true;  // newer etcds add fields
  if (google::protobuf::util::JsonStringToMessage(std::string(json), m, o).ok()) return true;
  m->Clear();
  return false;
}

std::string prefix_end(std::string prefix) {
  // The first key past every key with the prefix: its last byte that is not
  // 0xff, plus one, with what follows dropped ("\0" when every byte is
  // 0xff: to the end of the key space, etcd's convention).
  while (!prefix.empty()) {
    auto& last = reinterpret_cast<unsigned char&>(prefix.back());
    if (last < 0xff) {
      ++last;
      return prefix;
    }
    prefix.pop_back();
  }
  return std::string(1, '\0');
}

etcd_client::etcd_client(asio::io_context& io, std::vector<endpoint> endpoints, std::chrono::milliseconds timeout)
    : io_(io), channel_(std::make_shared<http_channel>(io, std::move(endpoints), timeout)), timeout_(timeout) {}

void etcd_client::grant(std::int64_t ttl_seconds, done_fn<etcd::LeaseGrantResponse> done) {
  etcd::LeaseGrantRequest req;
  req.set_ttl(ttl_seconds);
  call<etcd::LeaseGrantResponse>("/v3/lease/grant", req, false, std::move(done));
}

void etcd_client::keep_alive(std::int64_t lease, done_fn<etcd::LeaseKeepAliveResponse> done) {
  etcd::LeaseKeepAliveRequest req;
  req.set_id(lease);
  call<etcd::LeaseKeepAliveResponse>("/v3/lease/keepalive", req, true, std::move(done));
}

void etcd_client::revoke(std::int64_t lease, done_fn<etcd::LeaseRevokeResponse> done) {
  etcd::LeaseRevokeRequest req;
  req.set_id(lease);
  call<etcd::LeaseRevokeResponse>("/v3/lease/revoke", req, false, std::move(done));
}

void etcd_client::put(const etcd::PutRequest& req, done_fn<etcd::PutResponse> done) {
  call<etcd::PutResponse>("/v3/kv/put", req, false, std::move(done));
}

void etcd_client::range(const etcd::RangeRequest& req, done_fn<etcd::RangeResponse> done) {
  call<etcd::RangeResponse>("/v3/kv/range", req, false, std::move(done));
}

void etcd_client::remove(const etcd::DeleteRangeRequest& req, done_fn<etcd::DeleteRangeResponse> done) {
  call<etcd::DeleteRangeResponse>("/v3/kv/deleterange", req, false, std::move(done));
}

void etcd_client::txn(const etcd::TxnRequest& req, done_fn<etcd::TxnResponse> done) {
  call<etcd::TxnResponse>("/v3/kv/txn", req, false, std::move(done));
}

std::shared_ptr<json_stream> etcd_client::watch(const etcd::WatchCreateRequest& req,
                                                std::function<void(const etcd::WatchResponse&)> on_response,
                                                std::function<void(const std::string& why)> on_end) {
  etcd::WatchRequest w;
  *w.mutable_create_request() = req;
  const std::string where = channel_->current().text();
  auto s = std::make_shared<json_stream>(
      io_, channel_->current(), "/v3/watch", to_json(w), timeout_,
      [on_response, on_end, where](std::string_view line) {
        etcd::WatchStreamItem item;
        if (!from_json(line, &item)) return on_end("etcd " + where + ": a watch line that is not etcd's");
        if (item.has_error()) return on_end("etcd " + where + ": " + item.error().message());
        on_response(item.result());
      },
      [on_end, where](error_code ec) { on_end("etcd " + where + ": watch ended: " + ec.message()); });
  s->start();
  return s;
}

failure etcd_client::failure_of(const http_reply& r, const std::string& where) {
  if (r.ec == asio::error::timed_out) return {ask_error::timeout, "etcd " + where + ": no answer in time"};
  if (r.ec) return {errc::io_error, "etcd " + where + ": " + r.ec.message()};
  etcd::UnaryError e;
  if (from_json(r.body, &e) && !e.message().empty()) return {errc::refused, "etcd " + where + ": " + e.message()};
  return {errc::refused, "etcd " + where + ": HTTP " + std::to_string(r.status)};
}

bool etcd_client::parse_streamed(const std::string& body, google::protobuf::Message* result, std::string& error) {
  // One JSON object per line; the first one answers.
  const auto nl = body.find('\n');
  const std::string_view first = std::string_view(body).substr(0, nl);
  etcd::KeepAliveStreamItem item;
  if (!from_json(first, &item)) return false;
  if (item.has_error()) {
    error = item.error().message();
    return false;
  }
  result->CopyFrom(item.result());
  return true;
}

} // namespace troupe::cluster_detail
