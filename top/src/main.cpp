// troupe-top: a live view of a running troupe process, read from its
// metrics endpoint (node_options::metrics or a metrics_server) once a
// second: the busiest actors, the links, dead letters, the scheduler.
//
//   troupe-top HOST:PORT [--interval MS] [--once]
//
// Keys: m, d, p, n sort by messages/s, mailbox depth, p99 processing time,
// name; / types a filter (Enter keeps it, Esc clears it); q quits.
// --once prints one refresh (two scrapes an interval apart) and exits.
#include <poll.h>
#include <sys/ioctl.h>
#include <termios.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <csignal>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
#include <vector>

#include "exposition.hpp"
#include "scrape.hpp"
#include "view.hpp"

namespace {

using namespace troupe::top;
using clock_type = std::chrono::steady_clock;

[[noreturn]] void usage(const std::string& why) {
  std::fprintf(stderr, "troupe-top: %s\nusage: troupe-top HOST:PORT [--interval MS] [--once]\n", why.c_str());
  std::exit(2);
}

/// Raw keys while it lives (when stdin is a terminal).
class raw_terminal {
 public:
  raw_terminal() {
    if (!::isatty(0) || ::tcgetattr(0, &saved_) != 0) return;
    termios raw = saved_;
    raw.c_lflag &= ~static_cast<tcflag_t>(ICANON | ECHO);
    raw.c_cc[VMIN] = 0;
    raw.c_cc[VTIME] = 0;
    active_ = ::tcsetattr(0, TCSANOW, &raw) == 0;
    std::fputs("\033[?25l", stdout);  // hide the cursor
  }
  ~raw_terminal() {
    if (!active_) return;
    ::tcsetattr(0, TCSANOW, &saved_);
    std::fputs("\033[?25h\n", stdout);
  }

 private:
  termios saved_{};
  bool active_ = false;
};

std::pair<int, int> screen_size() {
  winsize ws{};
  if (::ioctl(1, TIOCGWINSZ, &ws) == 0 && ws.ws_col > 0 && ws.ws_row > 0) return {ws.ws_col, ws.ws_row};
  return {120, 40};
}

void draw(const frame& f, const view_state& v, bool clear) {
  const auto [w, h] = screen_size();
  std::string out = clear ? "\033[H\033[2J" : "";
  for (const auto& line : render(f, v, w, h)) out += line + (clear ? "\033[K\n" : "\n");
  std::fwrite(out.data(), 1, out.size(), stdout);
  std::fflush(stdout);
}

/// A key: changes the view; false to quit.
bool on_key(char c, view_state& v) {
  if (v.typing) {
    if (c == '\n' || c == '\r') v.typing = false;
    else if (c == 27) v.typing = false, v.filter.clear();
    else if (c == 127 || c == 8) {
      if (!v.filter.empty()) v.filter.pop_back();
    } else if (c >= 32 && c < 127) v.filter += c;
    return true;
  }
  switch (c) {
    case 'q': return false;
    case 'm': v.key = sort_key::rate; break;
    case 'd': v.key = sort_key::depth; break;
    case 'p': v.key = sort_key::p99; break;
    case 'n': v.key = sort_key::name; break;
    case '/': v.typing = true, v.filter.clear(); break;
    case 27: v.filter.clear(); break;
    default: break;
  }
  return true;
}

struct args {
  std::string host, port;
  std::chrono::milliseconds interval{1000};
  bool once = false;
};

args parse(int argc, char** argv) {
  if (argc < 2) usage("missing HOST:PORT");
  args a;
  const std::string where = argv[1];
  const auto colon = where.rfind(':');
  if (colon == std::string::npos || colon == 0 || colon + 1 == where.size()) usage("need HOST:PORT, not '" + where + "'");
  a.host = where.substr(0, colon);
  a.port = where.substr(colon + 1);
  for (int i = 2; i < argc; ++i) {
    const std::string arg = argv[i];
    if (arg == "--once") a.once = true;
    else if (arg == "--interval") {
      if (i + 1 == argc) usage("--interval needs a value");
      const char* v = argv[++i];
      char* end = nullptr;
      const long ms = std::strtol(v, &end, 10);
      if (end == v || *end != '\0' || ms < 50 || ms > 60000) usage("--interval needs 50..60000 ms, not '" + std::string(v) + "'");
      a.interval = std::chrono::milliseconds(ms);
    } else usage("unknown argument " + arg);
  }
  return a;
}

/// Refreshes every interval and answers keys until `q`.
int interactive(const args& a, std::vector<sample> before, clock_type::time_point before_at, view_state v) {
  raw_terminal term;
  frame f = compute(before, {}, 0);
  draw(f, v, true);
  auto next = clock_type::now() + a.interval;
  bool keys = true;  // stdin open
  std::string error;
  for (;;) {
    const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(next - clock_type::now());
    pollfd p{keys ? 0 : -1, POLLIN, 0};
    if (::poll(&p, 1, static_cast<int>(std::max<long>(0, left.count()))) > 0) {
      char buf[64];
      const ssize_t n = ::read(0, buf, sizeof buf);
      if (n <= 0) keys = false;  // stdin closed: refresh only
      for (ssize_t i = 0; i < n; ++i) {
        if (!on_key(buf[i], v)) return 0;
      }
      draw(f, v, true);
      continue;
    }
    next = clock_type::now() + a.interval;
    auto text = scrape(a.host, a.port, std::chrono::seconds(2), error);
    v.status = text ? std::string() : error;
    if (text) {
      auto now = parse_exposition(*text);
      f = compute(now, before, std::chrono::duration<double>(clock_type::now() - before_at).count());
      before = std::move(now);
      before_at = clock_type::now();
    }
    draw(f, v, true);
  }
}

/// The samples of one scrape; exits with the reason when there is none.
std::vector<sample> scrape_or_exit(const args& a) {
  std::string error;
  auto text = scrape(a.host, a.port, std::chrono::seconds(2), error);
  if (!text) {
    std::fprintf(stderr, "troupe-top: %s\n", error.c_str());
    std::exit(1);
  }
  return parse_exposition(*text);
}

} // namespace

int main(int argc, char** argv) {
  const args a = parse(argc, argv);
  std::signal(SIGPIPE, SIG_IGN);
  view_state v;
  v.source = a.host + ":" + a.port;
  const auto first_at = clock_type::now();
  auto before = scrape_or_exit(a);
  if (!a.once) return interactive(a, std::move(before), first_at, v);
  ::poll(nullptr, 0, static_cast<int>(a.interval.count()));
  auto now = scrape_or_exit(a);
  const double dt = std::chrono::duration<double>(clock_type::now() - first_at).count();
  draw(compute(now, before, dt), v, false);
  return 0;
}
