#pragma once
// Private to the transport: its logger (troupe's, see troupe/detail/logger.hpp).

#include <spdlog/spdlog.h>

namespace troupe::transport {

spdlog::logger& log();

} // namespace troupe::transport
