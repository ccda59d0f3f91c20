// chat_server: a message-driven chat service. Every room is an actor; the
// lobby (published as "lobby") creates rooms on demand and routes to them.
// A member whose node goes away leaves its rooms (the room monitors it).
//
//   chat_server [--port P]     prints "PORT <p>", serves until killed
#include <cstdio>
#include <map>
#include <string>

#include "chat_protocol.hpp"

namespace {

using troupe::actor_ref;

struct enter {
  std::string user;
  actor_ref<chat::member> who;
};
struct speak {
  std::string user;
  std::string text;
};
struct depart {
  std::string user;
};

struct room : troupe::actor<room> {
  explicit room(std::string name) : name_(std::move(name)) {}

  int on(enter e) {
    members_[e.user] = e.who;
    watching_[monitor(e.who)] = e.user;
    announce(e.user + " joined");
    return static_cast<int>(members_.size());
  }
  void on(speak s) {
    if (members_.contains(s.user)) broadcast(s.user, s.text);
  }
  void on(depart d) {
    if (members_.erase(d.user) != 0) announce(d.user + " left");
  }
  void on(troupe::down d) {
    auto it = watching_.find(d.monitor);
    if (it == watching_.end()) return;
    const std::string user = it->second;
    watching_.erase(it);
    if (members_.erase(user) != 0) announce(user + " is gone (" + std::string(troupe::to_string(d.reason)) + ")");
  }

  void announce(const std::string& text) { broadcast("*", text); }
  void broadcast(const std::string& user, const std::string& text) {
    chat::Line l;
    l.set_room(name_);
    l.set_user(user);
    l.set_text(text);
    l.set_members(static_cast<int>(members_.size()));
    for (auto& [name, m] : members_) m.tell(l);
  }

  std::string name_;
  std::map<std::string, actor_ref<chat::member>> members_;
  std::map<std::uint64_t, std::string> watching_;
};

struct lobby : troupe::actor<lobby> {
  using remote_interface = troupe::accepts<chat::Join, chat::Say, chat::Leave>;
  lobby(troupe::actor_system& sys, troupe::node& n) : sys_(&sys), node_(&n) {}

  troupe::promise<chat::Joined> on(chat::Join j) {
    auto answer = troupe::make_promise<chat::Joined>();
    auto peer = node_->find_peer(j.node());
    if (!peer || j.user().empty() || j.user() == "*") {
      chat::Joined no;
      no.set_ok(false);
      no.set_error(peer ? "bad user name" : "unknown node " + j.node());
      answer.deliver(std::move(no));
      return {};
    }
    auto who = peer->resolve<chat::member>(j.member());
    ask(room_for(j.room()), enter{j.user(), who}, std::chrono::seconds(5),
        [answer = std::move(answer)](troupe::result<int> r) mutable {
          chat::Joined ok;
          ok.set_ok(r.ok());
          if (r.ok()) ok.set_members(r.value());
          answer.deliver(std::move(ok));
        });
    return {};
  }
  void on(chat::Say s) { room_for(s.room()).tell(speak{s.user(), s.text()}); }
  void on(chat::Leave l) { room_for(l.room()).tell(depart{l.user()}); }

  actor_ref<room> room_for(const std::string& name) {
    auto& r = rooms_[name];
    if (!r) r = sys_->spawn<room>(name);
    return r;
  }

  troupe::actor_system* sys_;
  troupe::node* node_;
  std::map<std::string, actor_ref<room>> rooms_;
};

} // namespace

int main(int argc, char** argv) {
  troupe::node_options opts;
  opts.name = "chat-server";
  if (argc == 3 && std::string(argv[1]) == "--port") opts.listen_port = static_cast<std::uint16_t>(std::stoi(argv[2]));
  troupe::actor_system sys;
  troupe::node node(sys, opts);
  node.publish("lobby", sys.spawn<lobby>(sys, node));
  std::printf("PORT %u\n", static_cast<unsigned>(node.port()));
  std::fflush(stdout);
  sys.await_shutdown();  // until killed
}
