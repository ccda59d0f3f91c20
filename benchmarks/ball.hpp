#pragma once
// The ball of the ping-pong workloads (remote-pingpong, cluster-call) as the
// answering side handles it: sent back to its sender by tell when it names
// one (its `from` actor on node `node`), so the round trip is two tells.
#include <cstdint>
#include <string>

#include "bench.pb.h"
#include "troupe/troupe.hpp"

namespace bench {

/// The sender as the answering side knows it: it accepts a Ball.
struct ball_catcher : troupe::interface {
  using remote_interface = troupe::accepts<troupe_bench::Ball>;
  void on(troupe_bench::Ball);
};

/// Sends balls back to their senders, keeping the handle to the last one.
class ball_return {
 public:
  explicit ball_return(troupe::node* n) : node_(n) {}
  void send_back(const troupe_bench::Ball& b) {
    if (b.from() == 0 || node_ == nullptr) return;  // an ask: its answer goes back instead
    if (b.from() != back_id_ || b.node() != back_node_) {
      auto p = node_->find_peer(b.node());
      if (!p) return;
      back_ = p->resolve<ball_catcher>(b.from());
      back_id_ = b.from();
      back_node_ = b.node();
    }
    back_.tell(b);
  }

 private:
  troupe::node* node_;
  troupe::actor_ref<ball_catcher> back_;
  std::uint64_t back_id_ = 0;
  std::string back_node_;
};

} // namespace bench
