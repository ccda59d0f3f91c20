// The periodic metrics line, when asked for (system_config::metrics_log_interval).
#include <gtest/gtest.h>
#include "support/captured_log.hpp"
#include "support/test_support.hpp"
#include "troupe/troupe.hpp"

namespace {

struct counter : troupe::actor<counter> {
  void on(int) {}
};

TEST(Metrics, TheSystemLogsItsCountersWhenAsked) {
  troupe::test::captured_log log;
  troupe::system_config cfg;
  cfg.threads = 1;
  cfg.metrics_log_interval = std::chrono::milliseconds(5);
  troupe::actor_system sys(cfg);
  auto c = sys.spawn<counter>();
  c.tell(1);
  EXPECT_TRUE(troupe::test::wait_until([&] { return log.contains("troupe metrics: actors live=1 spawned=1"); },
                                       troupe::test::long_wait));
}

TEST(Metrics, ANegativeIntervalIsRefused) {
  troupe::system_config cfg;
  cfg.metrics_log_interval = std::chrono::milliseconds(-1);
  EXPECT_THROW(troupe::actor_system{cfg}, std::invalid_argument);
}

} // namespace
