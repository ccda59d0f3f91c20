// examples/cluster: user sessions as virtual actors, and a singleton that
// counts logins, on a cluster of members that find each other through etcd.
//
//   cluster_example member NAME ETCD    a member hosting sessions and the counter
//   cluster_example client ETCD USERS   logs USERS users in, says where each session lives
//
// run.sh starts etcd, three members and the client, kills the member that
// hosts most sessions, and runs the client again: those sessions come back
// on the others (their login counts start again: a virtual actor keeps only
// what it stores).
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <map>
#include <string>

#include <spdlog/spdlog.h>
#include <troupe/cluster/cluster.hpp>
#include <troupe/troupe.hpp>

#include "sessions.pb.h"

using namespace std::chrono_literals;

namespace {

troupe::node* this_node = nullptr;

/// One user's session: activated on its owner at the first message.
struct user_session : troupe::actor<user_session> {
  using remote_interface = troupe::accepts<sessions::Login, sessions::Where>;
  explicit user_session(std::string user) : user_(std::move(user)) {}
  void on(const sessions::Login&) { ++logins_; }
  sessions::Here on(const sessions::Where&) {
    sessions::Here h;
    h.set_member(this_node->name());
    h.set_logins(logins_);
    return h;
  }
  std::string user_;
  std::int64_t logins_ = 0;
};

/// The cluster's one login counter (a singleton: on the oldest member).
struct login_counter : troupe::actor<login_counter> {
  using remote_interface = troupe::accepts<sessions::Login, sessions::Counted>;
  void on(const sessions::Login&) { ++total_; }
  sessions::Total on(const sessions::Counted&) {
    sessions::Total t;
    t.set_logins(total_);
    t.set_member(this_node->name());
    return t;
  }
  std::int64_t total_ = 0;
};

/// Prints the members coming and going.
struct watcher : troupe::actor<watcher> {
  explicit watcher(std::string me) : me_(std::move(me)) {}
  void on(troupe::member_up e) { std::printf("[%s] member up: %s\n", me_.c_str(), e.member.name.c_str()); }
  void on(troupe::member_down e) { std::printf("[%s] member down: %s (its lease expired)\n", me_.c_str(), e.member.name.c_str()); }
  void on(troupe::member_left e) { std::printf("[%s] member left: %s\n", me_.c_str(), e.member.name.c_str()); }
  std::string me_;
};

troupe::node_options options(const std::string& name) {
  troupe::node_options o;
  o.name = name;
  o.cookie = "cluster-example-cookie";  // every member shares it (and TLS between machines)
  return o;
}

int member(const std::string& name, const std::string& etcd) {
  troupe::actor_system sys;
  troupe::node node(sys, options(name));
  this_node = &node;
  troupe::cluster cluster(sys, node, {.etcd = {etcd}, .name = "example"});
  cluster.kind<user_session>("session");
  auto counter = cluster.singleton<login_counter>("logins");
  cluster.subscribe(sys.spawn<watcher>(name));
  if (!cluster.wait_joined(30s)) {
    std::fprintf(stderr, "[%s] could not join through etcd at %s\n", name.c_str(), etcd.c_str());
    return 1;
  }
  std::printf("[%s] joined; hosting sessions\n", name.c_str());
  std::fflush(stdout);
  char b;
  while (::read(0, &b, 1) > 0) {  // until our stdin closes (run.sh ends us)
  }
  return 0;
}

int client(const std::string& etcd, int users) {
  spdlog::set_level(spdlog::level::warn);  // the client's own lines only (members log to their files)
  troupe::actor_system sys;
  troupe::node node(sys, options("client-" + std::to_string(::getpid())));
  this_node = &node;
  troupe::cluster cluster(sys, node, {.etcd = {etcd}, .name = "example"});
  if (!cluster.wait_joined(30s)) return 1;
  auto counter = cluster.singleton<login_counter>("logins");  // a handle; this member is a candidate too
  std::map<std::string, int> per_member;
  for (int i = 1; i <= users; ++i) {
    const std::string user = "user-" + std::to_string(i);
    auto s = cluster.get<user_session>("session", user);
    sessions::Login login;
    login.set_user(user);
    s.tell(login);
    counter.tell(login);
    auto here = s.ask(sessions::Where{}, 10s).get();
    if (!here) {
      std::printf("  %-8s -> failed: %s\n", user.c_str(), std::string(here.message()).c_str());
      continue;
    }
    std::printf("  %-8s -> active on %s (%lld logins there)\n", user.c_str(), here->member().c_str(),
                static_cast<long long>(here->logins()));
    ++per_member[here->member()];
  }
  auto total = counter.ask(sessions::Counted{}, 10s).get();
  if (total) {
    std::printf("  login counter (a singleton) on %s: %lld logins so far\n", total->member().c_str(),
                static_cast<long long>(total->logins()));
  }
  int most = 0;
  std::string busiest;
  for (const auto& [m, n] : per_member) {
    if (n > most) most = n, busiest = m;
  }
  std::printf("busiest: %s\n", busiest.c_str());
  return 0;
}

} // namespace

int main(int argc, char** argv) {
  std::setvbuf(stdout, nullptr, _IOLBF, 0);  // run.sh reads the members' output as it comes
  const std::string mode = argc > 1 ? argv[1] : "";
  if (mode == "member" && argc == 4) return member(argv[2], argv[3]);
  if (mode == "client" && argc == 4) return client(argv[2], std::atoi(argv[3]));
  std::fprintf(stderr, "usage: cluster_example member NAME ETCD | client ETCD USERS\n");
  return 2;
}
