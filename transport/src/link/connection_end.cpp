// How a connection ends, and what it waits for from the peer until then.
#include <algorithm>
#include <future>

#include "link/connection.hpp"
#include "link/deadline.hpp"
#include "node/node_impl.hpp"
#include "protocol/control_codec.hpp"
#include "troupe/actors/detail/demangle.hpp"
#include "troupe/actors/detail/system_core.hpp"

namespace troupe::transport {

void connection::end(close_reason why, const std::string& detail) {
  if (closed_) return;
  const close_rule& rule = rule_of(why);
  const std::string reason = detail.empty() ? std::string(rule.text) : std::string(rule.text) + ": " + detail;
  if (rule.resumes && resumable_) {
    // A transport fault: the session waits for a new carrier (a late
    // completion of the old one's changes nothing).
    if (!suspended()) suspend(why, reason);
    return;
  }
  if (rule.goodbye && established_ && !suspended()) {
    writer_.append([&](std::string& out) { control::append_goodbye(out, reason); });
  }
  closed_ = true;
  // A stranger that failed the proof: its address waits longer next time.
  // So does one whose certificate (or lack of one) TLS refused.
  const bool refused_proof = why == close_reason::auth_failed || why == close_reason::not_certified ||
                             (why == close_reason::tls_failed && !established_);
  if (refused_proof && was_accepted()) node_.penalties.failed(source_);
  // Counted before the stream closes: whoever sees the close sees the count.
  if (rule.first != counter::count_) node_.counters.add(rule.first);
  if (rule.second != counter::count_) node_.counters.add(rule.second);
  node_.closes[static_cast<std::size_t>(why)].fetch_add(1, std::memory_order_relaxed);
  // A stream that broke before the handshake ended is a stranger's (or a
  // probe's): logged at most once a second, like the other refusals.
  const bool stranger = !established_ && (why == close_reason::peer_closed || why == close_reason::read_failed ||
                                          why == close_reason::write_failed);
  // A limited reason's line may be held back (it was counted above).
  const auto suffix = rule.log == close_log::limited || stranger ? node_.log_limit.allow(static_cast<std::size_t>(why))
                                                                 : std::string();
  // Closed before a word (a node probing whether we listen, a health
  // check, a port scan): not worth a warning.
  const bool silent = why == close_reason::peer_closed && !established_ && !hs_.heard_peer();
  if (rule.log != close_log::quiet && suffix && !silent) {
    const auto level = rule.log == close_log::warn ? spdlog::level::warn : spdlog::level::info;
    log().log(level, "troupe node {}: connection {}{}{} closed: {}{}", node_.opts.name, endpoint_,
              peer_name_.empty() ? "" : " with ", peer_name_, reason, *suffix);
  }
  if (polling_) {
    polling_ = false;
    core_->pool().remove_poller(this);  // no worker reads from here on
  }
  if (timer_) timer_->cancel();
  // An interrupted link wrote nothing it could vouch for since its carrier broke.
  if (established_) count_unacknowledged(!suspended() && (why == close_reason::peer_left || rule.goodbye));
  std::vector<detail::cell_ptr> parked = writer_.close();
  lent_.end();
  if (stream_) stream_->close();
  tell_down(why, reason, established_);
  for (auto& p : parked) static_cast<detail::remote_proxy&>(*p).wake();  // to run their node_down
  // Pending operations end with operation_aborted. The connection itself
  // may outlive the node (a proxy holds it): nothing of the I/O context stays.
  stream_.reset();
  timer_.reset();
}

void connection::count_unacknowledged(bool graceful) {
  // Ending on purpose, we (or the peer) wrote everything first: what the
  // stream took was read. Otherwise what the peer did not acknowledge was
  // lost with it (with reliable delivery; without, what was written counts
  // as delivered).
  const std::uint64_t lost = writer_.settle_at_end(graceful);
  if (lost == 0) return;
  node_.counters.add(counter::unacknowledged_lost, lost);
  core_->count_drops(drop_reason::node_down, lost,
                     "message(s) sent to node " + peer_name_ + " that it did not acknowledge before it went down");
}

void connection::tell_down(close_reason why, const std::string& reason, bool was_established) {
  std::string what = "node " + peer_name_ + " is down: " + reason;
  if (worker_pid_ > 0) what = node_.worker_exit(worker_pid_, reason);
  alive_.store(false, std::memory_order_release);
  // The proxies wait for a new session with the same incarnation, unless it
  // is gone for good: this node stops, a new incarnation took its place, a
  // worker process ended.
  const bool for_good = why == close_reason::shutting_down || why == close_reason::replaced || worker_pid_ > 0;
  for (auto& p : proxies_->end(for_good)) static_cast<detail::remote_proxy&>(*p).node_down(what, &outbound_, for_good);
  end_outbox(what);
  for (auto& p : proxies_->windows().take_parked()) static_cast<detail::remote_proxy&>(*p).wake();
  requests_.end(what);
  inbound_.end();
  auto w = std::exchange(waiter_, nullptr);
  if (w && !refused_stale_) {
    auto existing = duplicate_ ? node_.find_connection(peer_name_) : nullptr;
    w->finish(existing, existing ? std::error_code() : error_of(why), reason);
    w = nullptr;
  }
  node_.connection_down(*this, was_established, reason, std::move(w));  // a dial refused_stale goes on with its waiter
  {
    std::lock_guard lock(ended_mx_);
    ended_ = true;
  }
  ended_cv_.notify_all();
}

void connection::end_soon(close_reason why, std::string detail) noexcept {
  try {
    // Under the lock the end takes: until it has run, the node (and its
    // I/O context) is there; after it, there is nothing to end.
    std::lock_guard lock(ended_mx_);
    if (ended_) return;
    asio::post(node_.io, [self = shared_from_this(), why, detail = std::move(detail)] { self->end(why, detail); });
  } catch (...) {
    // No memory to post: the heartbeat (or the peer) ends it.
  }
}

void connection::abandon() {
  closed_ = true;
  (void)writer_.close();
  if (stream_) stream_->close();
  stream_.reset();
}

bool connection::has_pending_output() {
  // Proxies first: a turn moves their messages into the buffers below.
  if (proxies_->pending_output() || writer_.pending()) return true;
  std::lock_guard lock(outbox_mx_);
  return outbox_ != nullptr && outbox_->box().depth() != 0 && !outbox_->box().is_closed();
}

void connection::wait_ended() {
  std::unique_lock lock(ended_mx_);
  ended_cv_.wait(lock, [&] { return ended_; });
}

namespace {
/// The handle a lookup answer allows, or why not.
std::optional<failure> check_lookup(const control::lookup_reply& r, std::string_view name, const std::string& peer,
                                    const std::type_info& type, const std::vector<std::string>& required) {
  const std::string where = "'" + std::string(name) + "' on " + peer;
  if (!r.found) return failure{errc::not_published, "nothing is published as " + where};
  if (required.empty() && r.actor_type != type.name()) {
    return failure{errc::interface_mismatch, where + " is not of the requested actor type " + detail::demangle(type) +
                                                 " (it is " + detail::demangle(r.actor_type.c_str()) + ")"};
  }
  for (const std::string& m : required) {
    if (std::find(r.accepts.begin(), r.accepts.end(), m) == r.accepts.end()) {
      return failure{errc::interface_mismatch, where + " does not accept " + m + " from other nodes (" +
                                                   detail::demangle(type) + " needs it)"};
    }
  }
  return std::nullopt;
}
} // namespace

result<detail::cell_ptr> connection::lookup(std::string_view name, const std::type_info& type,
                                            const std::vector<std::string>& required,
                                            std::chrono::milliseconds timeout) {
  // Down: the node may be gone too, so nothing of it is touched.
  if (!alive()) return failure{ask_error::node_down, "node " + peer_name_ + " is down"};
  node_.blocking_call("troupe::peer::lookup");
  auto answer = std::make_shared<std::promise<result<detail::cell_ptr>>>();
  auto f = answer->get_future();
  lookup_then(name, type, required, timeout, [answer](result<detail::cell_ptr> r) { answer->set_value(std::move(r)); });
  // Every path ends it (the answer, the timer, the connection's end); the
  // wait's own bound is a backstop.
  if (f.wait_for(timeout + std::chrono::seconds(1)) != std::future_status::ready) {
    return failure{ask_error::timeout, "no answer from " + peer_name_ + " within the timeout"};
  }
  return f.get();
}

void connection::lookup_then(std::string_view name, const std::type_info& type, std::vector<std::string> required,
                             std::chrono::milliseconds timeout, std::function<void(result<detail::cell_ptr>)> done) {
  auto l = std::make_shared<lookup_state>();
  l->then = [self = shared_from_this(), name = std::string(name), &type, required = std::move(required),
             done = std::move(done)](lookup_state& s) { done(self->lookup_outcome(s, name, type, required)); };
  std::uint64_t id = 0;
  if (!alive() || !requests_.add_lookup(l, id)) {
    return l->finish(std::nullopt, ask_error::node_down, "node " + peer_name_ + " is down");
  }
  {
    // Under the lock the end takes: until it has run, the node's I/O
    // context is there; after it, requests_.end() has failed the lookup.
    std::lock_guard lock(ended_mx_);
    if (!ended_) {
      expire_after(node_.io, timeout, [weak = weak_from_this(), id] {
        if (auto self = weak.lock()) {
          self->requests_.fail_lookup(id, ask_error::timeout, "no answer from " + self->peer_name_ + " within the timeout");
        }
      });
    }
  }
  std::string frame;
  control::append_lookup(frame, {id, std::string(name)});
  if (!post_frame(std::move(frame))) requests_.fail_lookup(id, ask_error::node_down, "node " + peer_name_ + " is down");
}

result<detail::cell_ptr> connection::lookup_outcome(const lookup_state& l, std::string_view name,
                                                    const std::type_info& type,
                                                    const std::vector<std::string>& required) {
  if (!l.answer) return failure{l.code ? l.code : make_error_code(ask_error::node_down), l.error};
  if (auto bad = check_lookup(*l.answer, name, peer_name_, type, required)) return std::move(*bad);
  return proxy_for(l.answer->actor, type);
}

} // namespace troupe::transport
