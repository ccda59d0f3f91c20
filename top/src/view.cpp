#include "view.hpp"

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <map>

namespace troupe::top {
namespace {

using series_key = std::pair<std::string, std::map<std::string, std::string>>;

/// Samples by (name, labels), for looking up the previous scrape's value.
std::map<series_key, double> index(const std::vector<sample>& v) {
  std::map<series_key, double> m;
  for (const auto& s : v) m[{s.name, s.labels}] = s.value;
  return m;
}

double rate(const sample& s, const std::map<series_key, double>& before, double dt) {
  if (dt <= 0) return 0;
  auto it = before.find({s.name, s.labels});
  if (it == before.end() || it->second > s.value) return 0;  // new, or reset
  return (s.value - it->second) / dt;
}

/// One actor's histogram buckets as (upper bound, cumulative count): over
/// everything so far, and over the window since the previous scrape.
struct buckets {
  std::vector<std::pair<double, double>> total, window;
  void add(const sample& s, const std::map<series_key, double>& before) {
    const std::string le = s.label("le");
    const double bound = le == "+Inf" ? 1e308 : std::strtod(le.c_str(), nullptr);
    auto it = before.find({s.name, s.labels});
    total.emplace_back(bound, s.value);
    window.emplace_back(bound, s.value - (it == before.end() ? 0 : it->second));
  }
  /// The 99th percentile bound in ms, over the window when it saw samples,
  /// else over everything (0 when none at all).
  [[nodiscard]] double p99_ms() const {
    const double w = pick(window);
    return w >= 0 ? w : std::max(0.0, pick(total));
  }

 private:
  static double pick(std::vector<std::pair<double, double>> b) {
    std::sort(b.begin(), b.end());
    if (b.empty() || b.back().second <= 0) return -1.0;
    const double want = 0.99 * b.back().second;
    for (const auto& [le, cum] : b) {
      if (cum >= want) return le >= 1e308 ? 1e9 : le * 1e3;
    }
    return -1.0;
  }
};

/// An actor's row and the buckets its percentiles come from.
struct actor_acc {
  actor_row row;
  buckets processing, waiting;
};

bool shown(const std::string& filter, std::initializer_list<const std::string*> fields) {
  if (filter.empty()) return true;
  return std::any_of(fields.begin(), fields.end(), [&](const std::string* f) { return f->find(filter) != std::string::npos; });
}

std::string fmt(const char* f, double v) {
  char buf[64];
  std::snprintf(buf, sizeof buf, f, v);
  return buf;
}

std::string pad(std::string s, std::size_t w, bool right = false) {
  if (s.size() > w) s.resize(w);
  const std::string fill(w - s.size(), ' ');
  return right ? fill + s : s + fill;
}

} // namespace

frame compute(const std::vector<sample>& now, const std::vector<sample>& before_v, double dt) {
  const auto before = index(before_v);
  frame f;
  std::map<std::string, actor_acc> actors;  // by id
  std::map<std::string, link_row> links;    // by node/peer
  for (const auto& s : now) {
    if (s.name == "troupe_actors_running") f.actors_running += s.value;
    else if (s.name == "troupe_scheduler_workers") f.workers += s.value;
    else if (s.name == "troupe_messages_processed_total") f.per_s += rate(s, before, dt);
    else if (s.name == "troupe_scheduler_steals_total") f.steals_per_s += rate(s, before, dt);
    else if (s.name == "troupe_scheduler_injection_queue_depth") f.injection_depth += s.value;
    else if (s.name == "troupe_dead_letters_total") {
      if (const double r = rate(s, before, dt); r > 0) f.dead_per_s.emplace_back(s.label("cause"), r);
    } else if (s.name.rfind("troupe_actor_", 0) == 0 && !s.label("id").empty()) {
      actor_acc& acc = actors[s.label("id")];
      actor_row& a = acc.row;
      a.actor = s.label("actor");
      a.id = s.label("id");
      if (s.name == "troupe_actor_mailbox_depth") a.depth = s.value;
      else if (s.name == "troupe_actor_messages_processed_total") a.per_s = rate(s, before, dt);
      else if (s.name == "troupe_actor_processing_time_seconds_bucket") acc.processing.add(s, before);
      else if (s.name == "troupe_actor_mailbox_time_seconds_bucket") acc.waiting.add(s, before);
    } else if (s.name.rfind("troupe_link_", 0) == 0 && !s.label("peer").empty()) {
      link_row& l = links[s.label("node") + "/" + s.label("peer")];
      l.node = s.label("node");
      l.peer = s.label("peer");
      if (s.name == "troupe_link_messages_sent_total") l.out_per_s = rate(s, before, dt);
      else if (s.name == "troupe_link_messages_received_total") l.in_per_s = rate(s, before, dt);
      else if (s.name == "troupe_link_bytes_sent_total") l.bytes_out_per_s = rate(s, before, dt);
      else if (s.name == "troupe_link_bytes_received_total") l.bytes_in_per_s = rate(s, before, dt);
      else if (s.name == "troupe_link_credit_stalls_total") l.credit_stalls = s.value;
      else if (s.name == "troupe_link_rtt_seconds") l.rtt_ms = s.value * 1e3;
    }
  }
  for (auto& [id, acc] : actors) {
    acc.row.p99_ms = acc.processing.p99_ms();
    acc.row.mailbox_p99_ms = acc.waiting.p99_ms();
    f.actors.push_back(std::move(acc.row));
  }
  for (auto& [k, l] : links) f.links.push_back(l);
  return f;
}

std::vector<std::string> render(const frame& f, const view_state& v, int width, int height) {
  std::vector<std::string> out;
  const char* keys[] = {"msg/s", "depth", "p99", "name"};
  out.push_back("troupe-top  " + v.source + "   sorted by " + keys[static_cast<int>(v.key)] +
                (v.filter.empty() && !v.typing ? std::string() : "   filter: " + v.filter + (v.typing ? "_" : "")));
  out.push_back("actors " + fmt("%.0f", f.actors_running) + "   workers " + fmt("%.0f", f.workers) + "   messages/s " +
                fmt("%.0f", f.per_s) + "   steals/s " + fmt("%.0f", f.steals_per_s) + "   injection queue " +
                fmt("%.0f", f.injection_depth));
  std::string dead = "dead letters/s:";
  if (f.dead_per_s.empty()) dead += " none";
  for (const auto& [cause, r] : f.dead_per_s) dead += " " + cause + " " + fmt("%.1f", r);
  out.push_back(dead);
  if (!v.status.empty()) out.push_back("! " + v.status);
  out.emplace_back();

  std::vector<actor_row> actors;
  for (const auto& a : f.actors) {
    if (shown(v.filter, {&a.actor, &a.id})) actors.push_back(a);
  }
  std::stable_sort(actors.begin(), actors.end(), [&](const actor_row& x, const actor_row& y) {
    switch (v.key) {
      case sort_key::depth: return x.depth > y.depth;
      case sort_key::p99: return x.p99_ms > y.p99_ms;
      case sort_key::name: return x.actor != y.actor ? x.actor < y.actor : x.id < y.id;
      default: return x.per_s > y.per_s;
    }
  });
  out.push_back(pad("ACTOR", 24) + pad("ID", 8, true) + pad("DEPTH", 9, true) + pad("MSG/S", 11, true) +
                pad("P99 MS", 10, true) + pad("WAIT P99 MS", 13, true));
  if (actors.empty()) out.push_back("  (no actor metered: name actors in system_config::actor_metrics)");
  std::vector<std::string> link_lines;
  link_lines.push_back(pad("NODE", 16) + pad("PEER", 16) + pad("MSG/S OUT", 11, true) + pad("MSG/S IN", 11, true) +
                       pad("KB/S OUT", 10, true) + pad("KB/S IN", 10, true) + pad("STALLS", 8, true) +
                       pad("RTT MS", 9, true));
  for (const auto& l : f.links) {
    if (!shown(v.filter, {&l.node, &l.peer})) continue;
    link_lines.push_back(pad(l.node, 16) + pad(l.peer, 16) + pad(fmt("%.0f", l.out_per_s), 11, true) +
                         pad(fmt("%.0f", l.in_per_s), 11, true) + pad(fmt("%.1f", l.bytes_out_per_s / 1024), 10, true) +
                         pad(fmt("%.1f", l.bytes_in_per_s / 1024), 10, true) + pad(fmt("%.0f", l.credit_stalls), 8, true) +
                         pad(l.rtt_ms < 0 ? std::string("-") : fmt("%.3f", l.rtt_ms), 9, true));
  }
  if (link_lines.size() == 1) link_lines.push_back("  (no links)");
  // Actors take what the links and the key line leave.
  const int room = height - static_cast<int>(out.size()) - static_cast<int>(link_lines.size()) - 2;
  for (std::size_t i = 0; i < actors.size() && static_cast<int>(i) < std::max(room, 1); ++i) {
    const auto& a = actors[i];
    out.push_back(pad(a.actor, 24) + pad(a.id, 8, true) + pad(fmt("%.0f", a.depth), 9, true) +
                  pad(fmt("%.0f", a.per_s), 11, true) + pad(fmt("%.3f", a.p99_ms), 10, true) +
                  pad(fmt("%.3f", a.mailbox_p99_ms), 13, true));
  }
  out.emplace_back();
  out.insert(out.end(), link_lines.begin(), link_lines.end());
  out.push_back("keys: m msg/s  d depth  p p99  n name  / filter  q quit");
  for (auto& line : out) {
    if (static_cast<int>(line.size()) > width) line.resize(static_cast<std::size_t>(width));
  }
  if (static_cast<int>(out.size()) > height) out.resize(static_cast<std::size_t>(height));
  return out;
}

} // namespace troupe::top
