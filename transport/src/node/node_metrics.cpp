// A node's metrics families: every node_stats counter (from the one counter
// table), the gauges, connections ended by reason, and each established
// link's traffic labelled with its peer. Called by a scrape (any thread).
#include <string>

#include "node/node_impl.hpp"

namespace troupe::transport {

void node_impl::write_metrics(metrics_writer& w) const {
  const std::string& me = opts.name;
  const node_stats s = counters.snapshot();
  for (const counter_row& row : counter_table()) {
    const std::string family = std::string("troupe_node_") + row.name + "_total";
    w.counter(family, std::string("The node's ") + row.name + " (node_stats::" + row.name + ")", s.*row.field,
              {{"node", me}});
  }
  for (std::size_t r = 0; r < close_reason_count; ++r) {
    const std::uint64_t n = closes[r].load(std::memory_order_relaxed);
    if (n == 0) continue;  // two dozen reasons; most never happen
    w.counter("troupe_link_closes_total", "Connections ended, by why", n,
              {{"node", me}, {"reason", label_of(static_cast<close_reason>(r))}});
  }

  std::vector<std::pair<std::string, std::shared_ptr<connection>>> links;
  {
    std::lock_guard lock(mx_);
    links.reserve(connections_.size());
    for (const auto& [name, c] : connections_) links.emplace_back(name, c);
  }
  w.gauge("troupe_links_up", "Peers this node has an established link with", static_cast<double>(links.size()),
          {{"node", me}});
  for (const auto& [peer, c] : links) {
    const link_counters& k = c->counters();
    const metrics_writer::labels l{{"node", me}, {"peer", peer}};
    w.counter("troupe_link_bytes_sent_total", "Bytes written to the link", k.own(counter::bytes_out), l);
    w.counter("troupe_link_bytes_received_total", "Bytes read from the link", k.own(counter::bytes_in), l);
    w.counter("troupe_link_frames_sent_total", "Frames queued for the peer", k.own(counter::frames_out), l);
    w.counter("troupe_link_frames_received_total", "Frames read from the peer", k.own(counter::frames_in), l);
    w.counter("troupe_link_messages_sent_total", "Messages sent to actors on the peer", k.own(counter::messages_out), l);
    w.counter("troupe_link_messages_received_total", "Messages from the peer delivered here",
              k.own(counter::messages_in), l);
    w.counter("troupe_link_messages_acknowledged_total", "Messages the peer acknowledged",
              k.own(counter::messages_acknowledged), l);
    w.counter("troupe_link_writes_total", "Writes handed to the stream (one syscall each for sockets)",
              k.own(counter::writes), l);
    if (const std::int64_t rtt = c->rtt_ns(); rtt >= 0) {
      w.gauge("troupe_link_rtt_seconds", "The last heartbeat round trip (sent, answered by the peer's reader)",
              static_cast<double>(rtt) / 1e9, l);
    }
    w.counter("troupe_link_credit_stalls_total",
              "Remote actors whose senders waited for flow credit longer than heartbeat_timeout",
              k.own(counter::credit_stalls), l);
  }
}

} // namespace troupe::transport
