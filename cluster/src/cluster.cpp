#include "troupe/cluster/cluster.hpp"

#include <algorithm>

#include "membership.hpp"

namespace troupe {

namespace {

using cluster_detail::endpoint;

[[noreturn]] void refuse(const std::string& what) { throw std::invalid_argument("troupe::cluster_options: " + what); }

bool name_ok(const std::string& s) {
  return !s.empty() && s.size() <= 128 && std::all_of(s.begin(), s.end(), [](unsigned char c) {
           return std::isalnum(c) != 0 || c == '-' || c == '_' || c == '.';
         });
}

std::vector<endpoint> checked_endpoints(const cluster_options& o) {
  if (o.etcd.empty()) refuse("etcd: at least one endpoint (host:port) is needed");
  std::vector<endpoint> out;
  for (const auto& e : o.etcd) {
    auto p = cluster_detail::parse_endpoint(e);
    if (!p) refuse("etcd: '" + e + "' is not host:port");
    out.push_back(std::move(*p));
  }
  return out;
}

std::string checked_advertise(const cluster_options& o, const node& n) {
  if (n.port() == 0) refuse("the node does not listen: the other members could not connect to it");
  std::string host = o.advertise_host.empty() ? n.listen_host() : o.advertise_host;
  if (host.empty() || host == "0.0.0.0" || host == "::" || host == "[::]") {
    refuse("advertise_host: the node listens on every address; say which one the other members reach it at");
  }
  return host;
}

void check(const cluster_options& o) {
  using std::chrono::milliseconds;
  if (!name_ok(o.name)) refuse("name: '" + o.name + "' (letters, digits, '-', '_', '.'; 1 to 128)");
  if (o.ttl < std::chrono::seconds(1) || o.ttl.count() % 1000 != 0) {
    refuse("ttl: " + std::to_string(o.ttl.count()) + " ms (whole seconds, at least 1 s: etcd leases count seconds)");
  }
  if (o.request_timeout < milliseconds(10) || o.request_timeout >= o.ttl / 3) {
    refuse("request_timeout: " + std::to_string(o.request_timeout.count()) +
           " ms (at least 10 ms, under ttl/3 so a renewal ends before the next is due)");
  }
  for (const auto& k : o.kinds) {
    if (!name_ok(k)) refuse("kinds: '" + k + "' (letters, digits, '-', '_', '.'; 1 to 128)");
  }
}

} // namespace

cluster::cluster(node& n, cluster_options opts) {
  check(opts);
  auto eps = checked_endpoints(opts);
  auto host = checked_advertise(opts, n);
  m_ = std::make_shared<cluster_detail::membership>(n, std::move(opts), std::move(eps), std::move(host));
  m_->start();
}

cluster::~cluster() { m_->stop(true); }

bool cluster::wait_joined(std::chrono::milliseconds timeout) const { return m_->wait_joined(timeout); }
std::vector<member> cluster::members() const { return m_->members(); }
bool cluster::fenced() const noexcept { return m_->fenced(); }
std::uint64_t cluster::epoch() const noexcept { return m_->epoch(); }
void cluster::leave() { m_->stop(true); }
cluster_stats cluster::stats() const noexcept { return m_->stats(); }

void cluster::subscribe_cell(detail::cell_ptr who, std::function<void(const member_up&)> up,
                             std::function<void(const member_down&)> down,
                             std::function<void(const member_left&)> left) {
  m_->subscribe(std::move(who), [up = std::move(up), down = std::move(down),
                                 left = std::move(left)](const cluster_detail::member_event& e) {
    if (const auto* u = std::get_if<member_up>(&e)) return up(*u);
    if (const auto* d = std::get_if<member_down>(&e)) return down(*d);
    left(std::get<member_left>(e));
  });
}

} // namespace troupe
