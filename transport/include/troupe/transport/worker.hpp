#pragma once
/// @file Worker processes (the Worker / postMessage pattern): a child
/// process running actors, connected to its parent's node over shared
/// memory (or a socketpair or pipe pair when asked), reached through a handle to its root actor. Messages to it
/// are copied by serialisation, like any remote message.
///
/// The same executable serves as the worker: call `run_worker_if_asked`
/// first thing in `main`.
/// ```
/// int main(int argc, char** argv) {
///   if (auto rc = troupe::run_worker_if_asked(argc, argv, [](troupe::actor_system& sys, troupe::node& n,
///                                                         const std::vector<std::string>& args) {
///         n.publish("root", sys.spawn<cruncher>());
///       }))
///     return *rc;
///   troupe::actor_system sys;
///   troupe::node node(sys, {.name = "parent", .listen = false});
///   auto w = troupe::spawn_worker<cruncher>(node);   // result<troupe::worker<cruncher>>
///   auto answer = w.value().root.ask(job, 5s).get();
/// }
/// ```
/// The child dies with its parent (PR_SET_PDEATHSIG, tied to the parent
/// node's I/O thread, which lives as long as the node). The child's death
/// reaches the parent's monitors of its actors as `down{node_down}` whose
/// `what` gives the exit code or the signal.

#include <chrono>
#include <functional>
#include <future>
#include <memory>
#include <optional>
#include <stdexcept>
#include <string>
#include <vector>

#include "troupe/actors/actor_ref.hpp"
#include "troupe/transport/node.hpp"

namespace troupe {

/// How a worker is connected to its parent.
enum class worker_link : unsigned char {
  /// Two rings in a shared segment (the default: the fastest on one host).
  shared_memory,
  /// A socketpair (when shared memory is unavailable, e.g. a sandbox without memfd).
  socketpair,
  /// A pipe each way.
  pipes,
};

struct worker_options {
  /// The worker node's name (default "<parent>-worker-<pid>").
  std::string name{};
  /// The name the worker's init publishes its root actor under.
  std::string root = "root";
  /// Handed to the worker's init.
  std::vector<std::string> args{};
  /// The program to run (default: this one, /proc/self/exe).
  std::string executable{};
  /// The connection to the worker.
  worker_link link = worker_link::shared_memory;
  /// Until the worker's root actor answers the lookup.
  std::chrono::milliseconds start_timeout{10000};
};

/// A running worker process.
template <class A>
struct worker {
  actor_ref<A> root;  ///< its root actor (a remote handle)
  int pid = -1;       ///< its process id
  peer link;          ///< the connection with it: `link.close()` ends the worker
};

/// Starts a worker process and returns a handle to its root actor of type A
/// (its actor type, or an interface it satisfies). Blocks until the worker
/// answered or `start_timeout` passed (then the worker is killed): call it
/// from outside the actor system. @threadsafe
template <class A>
result<worker<A>> spawn_worker(node& n, const worker_options& opts = {}) {
  auto started = n.start_worker(opts);
  if (!started.ok()) return failure{started.error(), std::string(started.message())};
  auto [link, pid] = started.value();
  auto root = link.template lookup<A>(opts.root, opts.start_timeout);
  if (!root.ok()) {
    link.close("the worker's root actor was not found");
    return failure{root.error(), std::string(root.message())};
  }
  return worker<A>{root.value(), pid, link};
}

/// spawn_worker with its outcome handed to `done`, once, on a transport
/// thread (keep it short, never block in it): what the future and the
/// continuation forms are built on. @threadsafe
template <class A>
void spawn_worker_then(node& n, const worker_options& opts, std::function<void(result<worker<A>>)> done) {
  n.start_worker_then(opts, [opts, done = std::move(done)](result<std::pair<peer, int>> started) mutable {
    if (!started.ok()) return done(failure{started.error(), std::string(started.message())});
    peer link = started.value().first;  // (not a structured binding: clang 14 cannot capture one)
    const int pid = started.value().second;
    link.template lookup_then<A>(opts.root, opts.start_timeout,
                                 [link, pid, done = std::move(done)](result<actor_ref<A>> root) {
                                   if (!root.ok()) {
                                     link.close("the worker's root actor was not found");
                                     return done(failure{root.error(), std::string(root.message())});
                                   }
                                   done(worker<A>{root.value(), pid, link});
                                 });
  });
}

/// spawn_worker without blocking: the outcome arrives in the future. @threadsafe
template <class A>
[[nodiscard]] std::future<result<worker<A>>> spawn_worker_async(node& n, const worker_options& opts = {}) {
  auto p = std::make_shared<std::promise<result<worker<A>>>>();
  auto f = p->get_future();
  spawn_worker_then<A>(n, opts, [p](result<worker<A>> w) { p->set_value(std::move(w)); });
  return f;
}

/// spawn_worker from an actor's handler, never blocking its worker thread:
/// `on_done(result<worker<A>>)` runs later on this actor's turn (exactly
/// once, unless the actor stops first). @throws std::logic_error outside an
/// actor's turn.
template <class A, class F>
void spawn_worker(node& n, const worker_options& opts, F&& on_done) {
  static_assert(std::is_invocable_v<F&, result<worker<A>>>,
                "troupe: the continuation must be callable with troupe::result<troupe::worker<A>>.");
  if (opts.start_timeout.count() < 0) {
    throw std::invalid_argument("troupe::worker_options: start_timeout must not be negative");
  }
  spawn_worker_then<A>(n, opts, detail::continuation_here<worker<A>>(std::forward<F>(on_done), "spawn_worker"));
}

/// What a worker runs at start, before its parent connects: publish the
/// root actor (under worker_options::root) on `n`.
using worker_init = std::function<void(actor_system& sys, node& n, const std::vector<std::string>& args)>;

/// In a process started by spawn_worker: runs the worker (an actor system,
/// a node connected to the parent, `init`) until the parent goes away or
/// closes the link, and returns the exit code (0, or 3 when the parent
/// could not be reached). Otherwise std::nullopt: this is not a worker.
std::optional<int> run_worker_if_asked(int argc, char** argv, const worker_init& init);

} // namespace troupe
