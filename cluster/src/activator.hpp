#pragma once
// Private to the cluster: the actor each member publishes so the others
// can ask it to activate an identity it owns ("troupe.cluster.activator").
// Its answer comes from the I/O thread, once the etcd transaction answered.
#include <memory>

#include <boost/asio/post.hpp>

#include "activations.hpp"
#include "troupe/actors/actor.hpp"
#include "troupe/actors/promise.hpp"
#include "troupe/actors/wire.hpp"
#include "troupe/transport/node_io.hpp"

namespace troupe::cluster_detail {

inline constexpr const char* activator_name = "troupe.cluster.activator";

struct activator : troupe::actor<activator> {
  using remote_interface = troupe::accepts<cluster_records::activate>;

  activator(node& n, std::weak_ptr<activations> a) : node_(n), acts_(std::move(a)) {}

  troupe::promise<cluster_records::activated> on(cluster_records::activate req) {
    using R = cluster_records::activated;
    // Answered from the I/O thread: the promise is shared with it, and the
    // handler returns an empty one (the reply comes through the shared one).
    auto p = std::make_shared<troupe::promise<R>>(troupe::make_promise<R>());
    boost::asio::post(io_context_of(node_), [acts = acts_, p, req = std::move(req)] {
      auto a = acts.lock();
      if (!a) {
        R r;
        r.set_error("the member is leaving");
        return p->deliver(std::move(r));
      }
      a->activate(req.kind(), req.identity(), [p](const activation_outcome& o) {
        R r;
        if (o.cell) {
          r.set_actor(o.cell->id());
        } else if (!o.holder.empty()) {
          r.set_holder(o.holder);
        } else {
          r.set_error(o.error);
        }
        p->deliver(std::move(r));
      });
    });
    return troupe::promise<R>();
  }

  node& node_;
  std::weak_ptr<activations> acts_;
};

} // namespace troupe::cluster_detail
