#pragma once
// Test helper: whether a child process is gone (exited, or a zombie).
#include <fstream>

#include <troupe/troupe.hpp>
#include <string>

namespace transport_test {

inline bool process_gone(int pid) {
  std::ifstream stat("/proc/" + std::to_string(pid) + "/stat");
  if (!stat) return true;
  std::string line;
  std::getline(stat, line);
  const auto close = line.rfind(')');
  return close == std::string::npos || close + 2 >= line.size() || line[close + 2] == 'Z' || line[close + 2] == 'X';
}

/// What the worker processes of the process_pool tests run (process_pool_test.cpp).
void publish_pool_worker(troupe::actor_system& sys, troupe::node& n);

} // namespace transport_test
