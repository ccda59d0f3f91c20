#pragma once
/// @file Forward declarations for the scheduler component.

namespace troupe {
class resumable;
class thread_pool;
struct pool_options;
class timer_service;
class timer_handle;
class dedicated_thread;
} // namespace troupe
