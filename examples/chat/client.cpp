// chat_client: joins a room of a chat_server and prints what is said there.
//
//   chat_client --port P --user NAME [--room ROOM] [--host H]
//       interactive: each line read from stdin is said in the room; EOF leaves
//   ... --say TEXT --members N
//       scripted: waits until N members are in the room, says TEXT, waits
//       until it has heard N members speak (itself included), leaves, exits 0
#include <chrono>
#include <cstdio>
#include <iostream>
#include <set>
#include <string>
#include <thread>

#include "chat_protocol.hpp"

namespace {

struct args {
  std::string host = "127.0.0.1";
  std::uint16_t port = 0;
  std::string user;
  std::string room = "lobby";
  std::string say;
  int members = 0;
};

[[noreturn]] void usage(const std::string& why) {
  std::fprintf(stderr, "chat_client: %s\nusage: chat_client --port P --user NAME [--room R] [--host H] [--say TEXT --members N]\n",
               why.c_str());
  std::exit(2);
}

args parse(int argc, char** argv) {
  args a;
  for (int i = 1; i < argc; i += 2) {
    const std::string f = argv[i];
    if (i + 1 >= argc) usage(f + " needs a value");
    const std::string v = argv[i + 1];
    if (f == "--host") a.host = v;
    else if (f == "--port") a.port = static_cast<std::uint16_t>(std::stoi(v));
    else if (f == "--user") a.user = v;
    else if (f == "--room") a.room = v;
    else if (f == "--say") a.say = v;
    else if (f == "--members") a.members = std::stoi(v);
    else usage("unknown flag " + f);
  }
  if (a.port == 0 || a.user.empty()) usage("--port and --user are required");
  if (!a.say.empty() && a.members <= 0) usage("--say needs --members");
  return a;
}

void print(const chat::Line& l) {
  if (l.user() == "*") {
    std::printf("[%s] %s (%d here)\n", l.room().c_str(), l.text().c_str(), l.members());
  } else {
    std::printf("[%s] %s: %s\n", l.room().c_str(), l.user().c_str(), l.text().c_str());
  }
  std::fflush(stdout);
}

} // namespace

int main(int argc, char** argv) {
  const args a = parse(argc, argv);
  troupe::actor_system sys;
  troupe::node_options opts;
  opts.name = "chat-" + a.user + "-" + std::to_string(::getpid());
  opts.listen = false;  // the server answers over the connection we open
  troupe::node node(sys, opts);

  troupe::inbox<chat::Line> lines(sys);
  auto me = sys.spawn<chat::member>(lines.ref());
  node.expose(me);  // the server may send Lines to it

  auto server = node.connect(a.host, a.port, std::chrono::seconds(10));
  if (!server.ok()) {
    std::fprintf(stderr, "chat_client: %s\n", std::string(server.message()).c_str());
    return 1;
  }
  auto found = server.value().lookup<chat::lobby_api>("lobby", std::chrono::seconds(10));
  if (!found.ok()) {
    std::fprintf(stderr, "chat_client: %s\n", std::string(found.message()).c_str());
    return 1;
  }
  troupe::actor_ref<chat::lobby_api> lobby = found.value();

  chat::Join join;
  join.set_room(a.room);
  join.set_user(a.user);
  join.set_node(node.name());
  join.set_member(me.id());
  auto joined = lobby.ask(join, std::chrono::seconds(10)).get();
  if (!joined.ok() || !joined.value().ok()) {
    std::fprintf(stderr, "chat_client: cannot join %s: %s\n", a.room.c_str(),
                 joined.ok() ? joined.value().error().c_str() : std::string(joined.message()).c_str());
    return 1;
  }
  auto say = [&](const std::string& text) {
    chat::Say s;
    s.set_room(a.room);
    s.set_user(a.user);
    s.set_text(text);
    lobby.tell(std::move(s));
  };
  auto leave = [&] {
    chat::Leave l;
    l.set_room(a.room);
    l.set_user(a.user);
    lobby.tell(std::move(l));
  };

  if (a.say.empty()) {
    // Interactive: stdin lines are said; lines of the room are printed.
    std::thread reader([&] {
      std::string text;
      while (std::getline(std::cin, text)) say(text);
      leave();
      lines.ref().tell(chat::Line{});  // wakes the printer: done
    });
    for (;;) {
      auto l = lines.receive(std::chrono::hours(24));
      if (!l || l->room().empty()) break;
      print(*l);
    }
    reader.join();
    return 0;
  }

  // Scripted: speak once everybody is here; done when everybody has spoken.
  bool said = false;
  std::set<std::string> speakers;
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(30);
  int here = joined.value().members();
  while (static_cast<int>(speakers.size()) < a.members) {
    if (!said && here >= a.members) {
      say(a.say);
      said = true;
    }
    auto l = lines.receive(deadline - std::chrono::steady_clock::now());
    if (!l) {
      std::fprintf(stderr, "chat_client %s: timed out (%zu of %d members spoke)\n", a.user.c_str(), speakers.size(),
                   a.members);
      return 1;
    }
    print(*l);
    if (l->user() == "*") {
      here = l->members();
    } else {
      speakers.insert(l->user());
    }
  }
  leave();
  return 0;
}
