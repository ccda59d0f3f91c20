#pragma once
// Private to troupe-top: what one refresh shows (rates between two scrapes)
// and how it is drawn.

#include <string>
#include <utility>
#include <vector>

#include "exposition.hpp"

namespace troupe::top {

struct actor_row {
  std::string actor;  ///< the name or type it is metered by
  std::string id;
  double depth = 0;
  double per_s = 0;           ///< messages handled per second
  double p99_ms = 0;          ///< processing time, 99th percentile (bucket bound)
  double mailbox_p99_ms = 0;  ///< time in mailbox, 99th percentile
};

struct link_row {
  std::string node, peer;
  double out_per_s = 0, in_per_s = 0;  ///< messages
  double bytes_out_per_s = 0, bytes_in_per_s = 0;
  double credit_stalls = 0;  ///< so far
  double rtt_ms = -1;        ///< the last heartbeat round trip (-1: not measured)
};

/// One refresh.
struct frame {
  double actors_running = 0;
  double workers = 0;
  double per_s = 0;  ///< messages handled per second, all actors
  double steals_per_s = 0;
  double injection_depth = 0;
  std::vector<std::pair<std::string, double>> dead_per_s;  ///< by cause, the non-zero ones
  std::vector<actor_row> actors;
  std::vector<link_row> links;
};

/// The figures between two scrapes `dt` seconds apart (`before` may be
/// empty: then rates are 0 and percentiles are over everything so far).
frame compute(const std::vector<sample>& now, const std::vector<sample>& before, double dt);

enum class sort_key { rate, depth, p99, name };

struct view_state {
  sort_key key = sort_key::rate;
  std::string filter;      ///< shown rows contain it (actor, id or peer); empty: all
  bool typing = false;     ///< '/' pressed: keys go to `filter` until Enter or Esc
  std::string source;      ///< host:port, for the title
  std::string status;      ///< the last scrape's error, if any
};

/// The screen as lines of at most `width` characters, at most `height` lines.
std::vector<std::string> render(const frame& f, const view_state& v, int width, int height);

} // namespace troupe::top
