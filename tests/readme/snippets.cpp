// The README's code, compiled: each region between "snippet: <name>" and
// "end snippet" is a code block of the README, word for word (the
// readme.snippets test checks that they agree); around the regions is only
// what a reader would already have (the types and variables they use).
#include <chrono>
#include <cstdio>
#include <optional>
#include <string>
#include <utility>
#include <variant>

#include <troupe/cluster/cluster.hpp>
#include <troupe/troupe.hpp>

#include "readme.pb.h"

namespace readme {
using namespace std::chrono_literals;

template <class... Args>
void log(const Args&...) {}

struct add {
  int n;
};
struct total {};
struct counter : troupe::actor<counter> {
  int sum = 0;
  void on(add a) { sum += a.n; }
  int on(total) { return sum; }
};

void mailbox_policy(troupe::actor_system& sys) {
  // snippet: mailbox-policy
  sys.spawn_with<counter>({.mailbox = {.capacity = 1024, .policy = troupe::overflow::fail}});
  // end snippet
}

struct item {
  int n;
};
struct go {};
struct sink : troupe::actor<sink> {
  void on(item) {}
};
struct producer : troupe::actor<producer> {
  troupe::actor_ref<sink> sink_;
  int left_ = 1000;
  // snippet: backpressure-loop
  void on(go) {
    while (left_ > 0)
      if (sink_.tell(item{left_--}) == troupe::send_result::muted) break;
    if (left_ > 0) defer(go{});   // resumes once the sink has drained
  }
  // end snippet
};

struct asker : troupe::actor<asker> {
  troupe::actor_ref<counter> other;
  int sum = 0;
  void on(go) {
  // snippet: ask-continuation
  ask(other, total{}, 500ms, [this](troupe::result<int> r) {
    if (r) sum += *r; else log(r.message());
  });
  // end snippet
  }
};

struct quote {
  int amount;
};
struct pricer : troupe::actor<pricer> {
  int on(quote q) { return q.amount; }
};
struct broker : troupe::actor<broker> {
  troupe::actor_ref<pricer> pricer_;
  // snippet: coro-ask
  troupe::task<int> on(quote q) {                       // take the message by value
    troupe::result<int> price = co_await ask(pricer_, q, 500ms);
    co_return price ? *price * 2 : -1;
  }
  // end snippet
};

struct reply {};
struct job {
  troupe::actor_ref<troupe::inbox<reply, troupe::down>::actor_type> to;
};
struct worker_actor : troupe::actor<worker_actor> {
  void on(job j) { j.to.tell(reply{}); }
};

void outside(troupe::actor_system& sys, troupe::actor_ref<worker_actor> worker, troupe::actor_ref<counter> c) {
  // snippet: outside
  troupe::inbox<reply, troupe::down> in(sys);
  in.monitor(worker);
  worker.tell(job{in.ref()});
  auto m = in.receive(1s);               // std::optional<std::variant<reply, troupe::down>>
  c.ask(total{}, 1s).then([](troupe::result<int> r) { /* on the settling thread */ });
  std::optional<troupe::down> d = sys.await_stopped(worker, 5s);
  // end snippet
  (void)m;
  (void)d;
}

struct token {
  int n;
};
struct name_q {};
struct ring_master : troupe::actor<ring_master> {
  void on(token) {}
  std::string on(name_q) { return "master"; }
};
struct ring_link : troupe::actor<ring_link> {
  explicit ring_link(troupe::ref<token, std::string(name_q)> next) : next_(std::move(next)) {}
  void on(token t) { next_.tell(t); }
  std::string on(name_q) { return "link"; }
  troupe::ref<token, std::string(name_q)> next_;
};

void typed_ref(troupe::actor_system& sys, troupe::actor_ref<ring_master> master) {
  // snippet: typed-ref
  using next_hop = troupe::ref<token, std::string(name_q)>;  // takes a token, answers name_q
  next_hop n = sys.spawn<ring_link>(master);                 // a link, the master: any that fits
  n.tell(token{3});
  troupe::result<std::string> who = n.ask(name_q{}, 1s).get();
  // end snippet
  (void)who;
}

// snippet: guard
struct guard : troupe::actor<guard> {
  void on(troupe::any_ref who) { monitor(who); }      // exactly one `down` when it stops
  void on(troupe::down d) { log(d.actor.id(), troupe::to_string(d.reason), d.what); }
};
// end snippet

struct db_writer : troupe::actor<db_writer> {
  explicit db_writer(std::string) {}
  void on(add) {}
};
struct cache : troupe::actor<cache> {
  void on(add) {}
};

void supervisor(troupe::actor_system& sys, const std::string& dsn) {
  // snippet: supervisor
  auto sup = troupe::spawn_supervisor(sys,
      {.how = troupe::strategy::one_for_one, .max_restarts = 5, .window = 10s,
       .delay = {.initial = 10ms, .max = 1s, .jitter = 0.2}},     // exponential backoff
      {troupe::child_spec::of<db_writer>("db", troupe::restart::permanent, dsn).registered(),
       troupe::child_spec::of<cache>("cache", troupe::restart::transient)});
  auto db = sup.child<db_writer>("db");          // stable across restarts
  auto same = sys.registry().get<db_writer>("db");
  // end snippet
  (void)db;
  (void)same;
}

// snippet: remote-room
// chat.proto: message Say { string room = 1; string text = 2; }  (protoc runs from CMake)
struct room : troupe::actor<room> {
  using remote_interface = troupe::accepts<chat::Say>;   // what other nodes may send it
  void on(chat::Say s) { /* ... */ }
};
// end snippet

void remote_server() {
  // snippet: remote-server
  // process 1
  troupe::actor_system sys;
  troupe::node node(sys, {.name = "server", .listen_port = 7000});
  node.publish("room", sys.spawn<room>());        // others may tell and monitor it; stop or link only if
                                                 // allowed: publish(name, ref, troupe::remote_control::stop)
  // end snippet
}

void remote_client(troupe::actor_system& sys, const chat::Say& say) {
  // snippet: remote-client
  // process 2 (same cookie: TROUPE_COOKIE, or ~/.troupe/cookie made on first use)
  troupe::node node(sys, {.name = "client", .listen = false});
  auto server = node.connect("10.0.0.5", 7000, 5s);             // authenticated, or why not:
  if (!server && server.error() == troupe::errc::auth_failed) { /* the cookies differ */ }
  auto r = server.value().lookup<room>("room", 5s);            // result<actor_ref<room>>
  r.value().tell(say);                                         // the same tell, ask, monitor
  // outside actors, without blocking: node.connect_async(...), peer.lookup_async<room>(...) return futures
  // end snippet
}

void remote_tls() {
  // snippet: remote-tls
  // between machines, turn on TLS 1.3 (mutual; each node's certificate names it troupe://prod/<name>):
  //   scripts/troupe-certs ca certs prod && scripts/troupe-certs node certs server
  troupe::node_options o{.name = "server", .listen_host = "0.0.0.0", .listen_port = 7000};
  o.tls = troupe::tls_options{.certificate_file = "certs/server.pem", .private_key_file = "certs/server.key",
                              .ca_file = "certs/ca.pem", .cluster = "prod"};
  // end snippet
  (void)o;
}

struct dial {};
struct dialler : troupe::actor<dialler> {
  explicit dialler(troupe::node& n) : node_(n) {}
  troupe::node& node_;
  // snippet: remote-connect-in-handler
  // inside a handler, never block a worker: the continuation runs on this actor's turn
  void on(dial) {
    node_.connect("10.0.0.5", 7000, 5s, [this](troupe::result<troupe::peer> p) { /* ... */ });
  }
  // end snippet
};

struct user_session : troupe::actor<user_session> {
  using remote_interface = troupe::accepts<chat::Say>;
  void on(chat::Say) {}
};
struct login_counter : troupe::actor<login_counter> {
  using remote_interface = troupe::accepts<chat::Say>;
  void on(chat::Say) {}
};
struct ledger : troupe::actor<ledger> {
  using remote_interface = troupe::accepts<chat::Say>;
  void on(chat::Say) {}
};
struct watcher : troupe::actor<watcher> {
  void on(troupe::member_up) {}
  void on(troupe::member_down) {}
  void on(troupe::member_left) {}
};
using login = chat::Say;

void cluster(troupe::actor_system& sys, troupe::node& node) {
  // snippet: cluster
  troupe::cluster cluster(sys, node, {.etcd = {"127.0.0.1:2379"}, .name = "shop"});
  cluster.kind<user_session>("session");                    // sessions may live on this member
  auto s = cluster.get<user_session>("session", "user-42");  // valid before the actor exists
  s.tell(login{});                                           // activates user-42 on its owner
  auto total = cluster.singleton<login_counter>("logins");   // one in the cluster, on the oldest member
  cluster.put("ledger", sys.spawn<ledger>());               // any member: cluster.get<ledger>("ledger")
  cluster.subscribe(sys.spawn<watcher>());                  // member_up / member_down / member_left
  // end snippet
  (void)total;
}

struct writer : troupe::actor<writer> {
  using remote_interface = troupe::accepts<chat::Say>;
  void on(chat::Say) {}
};

void spill(troupe::actor_system& sys, const chat::Say& event) {
  // snippet: spill
  troupe::spawn_options o;
  o.mailbox = {.capacity = 1024, .policy = troupe::overflow::spill,
               .spill = {.dir = "/var/spool/app/writer", .durable = true}};
  auto w = sys.spawn_with<writer>(o);    // writer lists its messages in remote_interface
  w.tell(event);                         // past 1024 in memory: to disk, never dropped, never reordered
  auto m = w.metrics();                  // depth, muted senders, spilled, on disk, disk high-water mark
  // end snippet
  (void)m;
}

void metrics() {
  // snippet: metrics
  troupe::actor_system sys(troupe::system_config{.actor_metrics = {"frontdoor", "worker"}});
  troupe::node_options opts;
  opts.metrics = troupe::metrics_endpoint_options{.port = 9464};  // GET http://127.0.0.1:9464/metrics
  troupe::node n(sys, opts);
  sys.add_metrics_source([](troupe::metrics_writer& w) {    // the application's own families
    w.gauge("app_orders_open", "Orders not yet shipped", 17);
  });
  std::string text = sys.metrics_text();                   // the same text, without HTTP
  // end snippet
  (void)text;
}

struct checkout : troupe::actor<checkout> {
  void on(int) {}
};

void tracing(const std::string& header, const troupe::actor_ref<checkout>& ref) {
  // snippet: trace
  troupe::system_config cfg;
  cfg.on_message_span = [](const troupe::message_span& s) {  // export to your tracer
    std::printf("%s\n", s.context.traceparent().c_str());
  };
  // In a request handler outside actors, with the caller's `traceparent` header:
  if (auto ctx = troupe::trace_context::parse(header)) {
    troupe::trace_scope scope(*ctx);
    ref.tell(42);  // carries ctx; what its handler sends (and asks) carries it on, across nodes too
  }
  // end snippet
}

} // namespace readme
